#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Conflict findings on a prepared fake host: other mechanisms that also
start or stop a winvm VM, as warnings from D-Bus Check, `winvmctl check`
and `winvmd --check`.

winvmd talks to a libvirtd of its own (the test driver over a socket, see
PrivateLibvirtd), so virsh sees and changes the same domains as winvmd;
the settings of libvirt-guests, systemd and qemu.conf come from a fake tree
given with $WINVM_HOST_ROOT. Check is served from a plan cache that is read
again after 2 s at most, so each change is awaited by polling."""

import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon_fixture import (  # noqa: E402
    WINVMD, Bus, Client, Daemon, GLib, PrivateLibvirtd, copy_host, new_workdir, print_log,
    require, wait_until)

WINVMCTL = os.environ.get("WINVMCTL", os.path.join(os.path.dirname(WINVMD), "..", "client",
                                                   "winvmctl"))
VIRSH = shutil.which("virsh") or "/usr/bin/virsh"
CONFLICTS = ("libvirt-autostart", "libvirt-guests", "qemu-auto-shutdown")

PROFILE = """[vm]
name = win
template = minimal
hypervisor = qemu
memory = 512MiB
vcpus = 2
[cpu]
pin = none
"""

DEBIAN_SCRIPT = """#!/bin/sh
sysconfdir="/etc"
URIS="default"
ON_BOOT="ignore"
ON_SHUTDOWN="shutdown"
test -f "$sysconfdir"/default/libvirt-guests &&
    . "$sysconfdir"/default/libvirt-guests
"""

QEMU_CONF_TEMPLATE = """# Whether to perform managed save of running VMs if a host OS
# shutdown is requested
#auto_shutdown_try_save = "persistent"
#auto_shutdown_try_shutdown = "all"
#auto_shutdown_poweroff = "all"
"""


def libvirt_version():
    """The libvirt library's version, as virsh reports it."""
    out = subprocess.run([VIRSH, "-c", "test:///default", "version"], capture_output=True,
                         text=True, timeout=30).stdout
    for line in out.splitlines():
        if line.lower().startswith("using library"):
            return tuple(int(x) for x in line.split()[-1].split(".")[:2])
    raise AssertionError(f"no library version in virsh version: {out!r}")


def put(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


def enable_guests(root):
    """libvirt-guests installed (Debian's script) and enabled."""
    put(root, "usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n")
    put(root, "usr/lib/libvirt/libvirt-guests.sh", DEBIAN_SCRIPT)
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    os.symlink("/usr/lib/systemd/system/libvirt-guests.service",
               os.path.join(wants, "libvirt-guests.service"))


class Conflicts(unittest.TestCase):
    def setUp(self):
        require(VIRSH, "virsh (libvirt-clients)")
        self.workdir = new_workdir("winvm-conflicts-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        sysfs, procfs = copy_host("ryzen", self.workdir)
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir)
        with open(os.path.join(self.config_dir, "win.conf"), "w") as f:
            f.write(PROFILE)
        self.root = os.path.join(self.workdir, "host-root")
        os.makedirs(self.root)
        self.libvirtd = PrivateLibvirtd(self.workdir)
        self.addCleanup(self.libvirtd.stop)
        self.libvirtd.start()
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.daemon = Daemon(self.bus, self.workdir, self.config_dir, sysfs, procfs,
                             libvirt_uri=self.libvirtd.uri,
                             env={"WINVM_HOST_ROOT": self.root})
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)
        self.path = self.client.vm_path("win")

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before and getattr(self, "daemon", None):
            print_log(f"winvmd log of {self.id()}", self.daemon.log())
            print_log("private libvirtd log", open(self.libvirtd.logfile).read())

    # ---- helpers -------------------------------------------------------------

    def exits_clean(self):
        """SIGTERM: winvmd exits 0, without a sanitizer report (ASan builds)."""
        self.daemon.signal(signal.SIGTERM)
        code = self.daemon.proc.wait(timeout=30)
        log = self.daemon.log()
        self.assertEqual(code, 0, "winvmd did not exit cleanly")
        self.assertNotIn("Sanitizer", log)

    def check(self):
        return self.client.manager("Check", GLib.Variant("(s)", ("win",)), "(a(ssss))")[0]

    def conflicts(self):
        return {code: (severity, message, hint) for severity, code, message, hint in self.check()
                if code in CONFLICTS}

    def wait_conflicts(self, codes, what):
        """Until Check's conflict codes are exactly @codes; the findings."""
        found = {}

        def done():
            found.clear()
            found.update(self.conflicts())
            return set(found) == set(codes)

        wait_until(done, timeout=10, what=what, poll=0.2)
        return found

    def virsh(self, *args):
        r = subprocess.run([VIRSH, "-c", self.libvirtd.uri, *args], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def state(self):
        return self.client.get(self.path, "State")

    def start_and_stop(self):
        self.client.vm(self.path, "Start")
        wait_until(lambda: self.state() == "running", what="State running")
        self.client.vm(self.path, "ForceOff")
        wait_until(lambda: self.state() == "shut-off", what="State shut-off")

    def winvmctl_check(self):
        require(WINVMCTL, "winvmctl")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL="C.UTF-8")
        return subprocess.run([WINVMCTL, "check", "win"], capture_output=True, text=True,
                              env=env, timeout=60)

    # ---- tests ---------------------------------------------------------------

    def test_none_on_a_clean_host(self):
        self.assertEqual(self.conflicts(), {})
        self.start_and_stop()
        self.assertEqual(self.conflicts(), {})
        self.exits_clean()

    def test_libvirt_autostart(self):
        self.start_and_stop()  # defines the domain, winvm's own
        self.assertIn("Autostart:      disable", self.virsh("dominfo", "win"))
        # somebody sets libvirt's flag on winvm's domain
        self.virsh("autostart", "win")
        found = self.wait_conflicts({"libvirt-autostart"}, "the libvirt-autostart finding")
        severity, message, hint = found["libvirt-autostart"]
        self.assertEqual(severity, "warning")
        self.assertIn("autostart flag is set on the domain “win”", message)
        self.assertIn("virsh autostart --disable win", hint)
        r = self.winvmctl_check()
        self.assertEqual(r.returncode, 0, r.stderr)  # a warning: the VM still starts
        self.assertIn("libvirt-autostart", r.stdout)
        # the next start clears it, and the finding goes
        self.start_and_stop()
        self.assertIn("Autostart:      disable", self.virsh("dominfo", "win"))
        self.wait_conflicts(set(), "the libvirt-autostart finding to go")
        self.exits_clean()

    def test_libvirt_guests(self):
        enable_guests(self.root)
        # Debian's defaults (shutdown, start nothing) and URIS=default
        # (qemu:///system): nothing to say for this libvirt
        put(self.root, "etc/default/libvirt-guests", "ON_SHUTDOWN=suspend\n")
        self.assertEqual(self.conflicts(), {})
        # this daemon's URI among URIS, suspending
        put(self.root, "etc/default/libvirt-guests",
            f"# URIs to check\nURIS='lxc:/// {self.libvirtd.uri}'\nON_SHUTDOWN=suspend\n"
            "#ON_BOOT=start\n")
        found = self.wait_conflicts({"libvirt-guests"}, "the libvirt-guests finding")
        severity, message, hint = found["libvirt-guests"]
        self.assertEqual(severity, "warning")
        self.assertIn(f"enabled for {self.libvirtd.uri}", message)
        self.assertIn("ON_SHUTDOWN=suspend:", message)
        self.assertNotIn("ON_BOOT", message)
        self.assertIn("ON_SHUTDOWN=shutdown in /etc/default/libvirt-guests", hint)
        r = self.winvmctl_check()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("libvirt-guests", r.stdout)
        self.assertIn("hint: set ON_SHUTDOWN=shutdown", r.stdout)
        # "default" resolves to libvirt.conf's uri_default; ON_BOOT=start
        put(self.root, "etc/libvirt/libvirt.conf", f'uri_default = "{self.libvirtd.uri}"\n')
        put(self.root, "etc/default/libvirt-guests", "ON_SHUTDOWN=shutdown\nON_BOOT=start\n")
        wait_until(lambda: "ON_BOOT=start" in self.conflicts().get("libvirt-guests", ("",) * 3)[1],
                   timeout=10, what="the ON_BOOT=start finding")
        # fixed as the hint says
        put(self.root, "etc/default/libvirt-guests", "ON_SHUTDOWN=shutdown\nON_BOOT=ignore\n")
        self.wait_conflicts(set(), "the libvirt-guests finding to go")
        # or the service disabled
        put(self.root, "etc/default/libvirt-guests", "ON_SHUTDOWN=suspend\n")
        self.wait_conflicts({"libvirt-guests"}, "the libvirt-guests finding again")
        os.unlink(os.path.join(self.root, "etc/systemd/system/multi-user.target.wants",
                               "libvirt-guests.service"))
        self.wait_conflicts(set(), "the libvirt-guests finding to go with the service")
        self.exits_clean()


class OfflineCheck(unittest.TestCase):
    """`winvmd --check` without --libvirt-uri plans for the service's
    qemu:///system; this libvirt (9.0 on Debian 12) lacks the qemu.conf
    keys unless its qemu.conf template documents them."""

    def setUp(self):
        self.workdir = new_workdir("winvm-conflicts-cli-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.sysfs, self.procfs = copy_host("ryzen", self.workdir)
        self.profile = os.path.join(self.workdir, "win.conf")
        with open(self.profile, "w") as f:
            f.write(PROFILE)
        self.root = os.path.join(self.workdir, "host-root")
        os.makedirs(self.root)

    def check(self):
        env = dict(os.environ, WINVM_HOST_ROOT=self.root)
        env.pop("LIBVIRT_DEFAULT_URI", None)
        r = subprocess.run([WINVMD, "--check", self.profile, "--sysfs-root", self.sysfs,
                            "--proc-root", self.procfs, "--state-dir",
                            os.path.join(self.workdir, "state")],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_qemu_auto_shutdown(self):
        self.assertNotIn("qemu-auto-shutdown", self.check())
        put(self.root, "etc/libvirt/qemu.conf", 'auto_shutdown_try_save = "persistent"\n')
        if libvirt_version() < (11, 2):
            # this libvirt ignores the key
            self.assertNotIn("qemu-auto-shutdown", self.check())
        put(self.root, "etc/libvirt/qemu.conf",
            QEMU_CONF_TEMPLATE + 'auto_shutdown_try_save = "persistent"\n'
            'auto_shutdown_poweroff = "all"\nauto_shutdown_restore = 0\n')
        out = self.check()
        self.assertIn("warning qemu-auto-shutdown:", out)
        self.assertIn('(auto_shutdown_try_save = "persistent", auto_shutdown_poweroff = "all")',
                      out)
        self.assertNotIn("auto_shutdown_restore)", out)
        put(self.root, "etc/libvirt/qemu.conf",
            QEMU_CONF_TEMPLATE + 'auto_shutdown_try_save = "none"\n')
        self.assertNotIn("qemu-auto-shutdown", self.check())

    def test_libvirt_guests_upstream_defaults(self):
        # enabled, no script and no settings: upstream's suspend and start
        put(self.root, "usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n")
        os.makedirs(os.path.join(self.root, "etc/systemd/system/multi-user.target.wants"))
        os.symlink("/usr/lib/systemd/system/libvirt-guests.service",
                   os.path.join(self.root, "etc/systemd/system/multi-user.target.wants",
                                "libvirt-guests.service"))
        out = self.check()
        self.assertIn("warning libvirt-guests:", out)
        self.assertIn("ON_SHUTDOWN=suspend (its default)", out)
        self.assertIn("ON_BOOT=start (its default)", out)


if __name__ == "__main__":
    unittest.main()
