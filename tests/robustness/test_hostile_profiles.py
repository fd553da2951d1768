#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What a root daemon may trust in its profile directory: winvmd on a private
bus (libvirt's test driver, a fake host), its profile directory attacked as a
hostile user or a broken system would. Each case prints its figure.

- a FIFO named *.conf, present at start-up and added before a reload: READY
  and every call answered, the FIFO reported and skipped;
- a profile that is a link to /dev/zero: refused without reading, VmRSS flat;
- the directory renamed away at a reload: every VM kept, a running one still
  shut down by ShutdownAll;
- a megabyte of short bad lines in each of several profiles: Reload's answer
  and ProfileErrors stay small, the daemon stays on the bus and starts again;
- a link to a root-only file, and a root-only profile with a bad value:
  nothing of either reaches nobody through ProfileErrors;
- two profiles with one UUID: a load error naming both files;
- a template anybody may write, or one with <qemu:commandline>: refused;
- a disk on /etc/shadow: refused by Check and Start;
- a profile named like somebody else's libvirt domain: neither reported,
  stopped nor redefined."""

import os
import shutil
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from daemon_fixture import (  # noqa: E402
    MANAGER_IFACE, MANAGER_PATH, PROPS_IFACE, Bus, Client, Daemon, GLib, copy_host, new_workdir,
    print_log, run_as_user, wait_until)

ALPHA = """[vm]
name = alpha
template = minimal
hypervisor = qemu
memory = 512MiB
vcpus = 2
[cpu]
pin = none
"""
UUID = "6f1e8a3c-2b7d-4e59-9c0a-1d2e3f405162"
SECRET = "tok-4f9b2c7e1d"


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def figure(text):
    print(f"\nFIGURE {text}", file=sys.stderr, flush=True)


class HostileProfiles(unittest.TestCase):
    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before and getattr(self, "daemon", None):
            print_log(f"winvmd log of {self.id()}", self.daemon.log())
        return result

    def setUp(self):
        self.workdir = new_workdir("winvm-hostile-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.sysfs, self.procfs = copy_host("ryzen", self.workdir)
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir, mode=0o755)
        write(os.path.join(self.config_dir, "alpha.conf"), ALPHA)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.client.subscribe()
        self.daemon = Daemon(self.bus, self.workdir, self.config_dir, self.sysfs, self.procfs)
        self.addCleanup(self.daemon.stop)

    def start(self):
        self.daemon.start(self.client)

    def reload(self):
        start = time.monotonic()
        errors = self.client.manager("Reload", None, "(as)")[0]
        return errors, time.monotonic() - start

    def profile_errors(self):
        return self.client.get(MANAGER_PATH, "ProfileErrors", MANAGER_IFACE)

    def assert_serving(self):
        self.assertTrue(self.daemon.alive(), "winvmd died")
        self.assertIn("alpha", [n for n, p in self.client.list_vms()])

    def test_fifo(self):
        os.mkfifo(os.path.join(self.config_dir, "a-fifo.conf"), 0o600)
        start = time.monotonic()
        self.start()  # READY=1 comes: start-up never waits on the FIFO
        ready = time.monotonic() - start
        self.assert_serving()
        self.assertTrue(any("a-fifo.conf: a FIFO, not a regular file; skipped" in e
                            for e in self.profile_errors()), self.profile_errors())
        os.mkfifo(os.path.join(self.config_dir, "b-fifo.conf"), 0o600)
        errors, took = self.reload()
        self.assertEqual(len([e for e in errors if "a FIFO" in e]), 2, errors)
        self.assertLess(took, 2.0)
        self.assert_serving()
        figure(f"fifo: ready in {ready:.2f} s with a FIFO present; Reload with two FIFOs "
               f"answered in {took * 1000:.1f} ms")

    def test_endless_file(self):
        self.start()
        before = rss_kib(self.daemon.proc.pid)
        os.symlink("/dev/zero", os.path.join(self.config_dir, "zero.conf"))
        os.symlink("/dev/urandom", os.path.join(self.config_dir, "random.conf"))
        errors, took = self.reload()
        after = rss_kib(self.daemon.proc.pid)
        self.assertTrue(any("zero.conf: a symbolic link" in e for e in errors), errors)
        self.assertTrue(any("random.conf: a symbolic link" in e for e in errors), errors)
        self.assertLess(took, 2.0)
        self.assertLess(after - before, 4096, f"VmRSS {before} -> {after} KiB")
        self.assert_serving()
        figure(f"/dev/zero link: Reload answered in {took * 1000:.1f} ms, "
               f"VmRSS {before} -> {after} KiB")

    def test_directory_gone(self):
        self.start()
        alpha = self.client.vm_path("alpha")
        self.client.vm(alpha, "Start")
        self.client.wait_property(alpha, "State", "running")
        away = self.config_dir + ".away"
        os.rename(self.config_dir, away)
        errors, _ = self.reload()
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("profile directory", errors[0])
        self.assertIn("alpha", [n for n, p in self.client.list_vms()])
        self.assertEqual(self.client.get(alpha, "State"), "running")
        # the host powering off still finds it
        self.client.manager("ShutdownAll", GLib.Variant("(u)", (5,)), "()", timeout=30)
        wait_until(lambda: self.client.get(alpha, "State") == "shut-off", what="alpha off")
        os.rename(away, self.config_dir)
        self.assertEqual(self.reload()[0], [])
        figure("directory renamed away: 1 of 1 VM kept (running), shut down by ShutdownAll")

    def test_error_amplification(self):
        bad = "[vm]\n" + "x\n" * (1000 * 1000 // 2 - 10)
        self.assertLess(len(bad), 1 << 20)
        for i in range(8):
            write(os.path.join(self.config_dir, f"amp{i}.conf"), bad)
        start = time.monotonic()
        self.start()
        ready = time.monotonic() - start
        errors, took = self.reload()
        reply = sum(len(e.encode()) for e in errors)
        public = sum(len(e.encode()) for e in self.profile_errors())
        self.assertLess(reply, 64 * 1024)
        self.assertLess(public, 64 * 1024)
        self.assertEqual(len([e for e in errors if "more errors" in e]), 8, errors[-3:])
        self.assert_serving()
        # and it comes back after a restart, no crash loop
        self.daemon.stop()
        self.daemon.start(self.client)
        self.assert_serving()
        figure(f"8 profiles of 1 MB bad lines: ready in {ready:.2f} s, Reload {took * 1000:.0f} ms, "
               f"answer {reply} bytes, ProfileErrors {public} bytes")

    def test_no_file_content_to_nobody(self):
        secret = os.path.join(self.workdir, "secret")
        write(secret, f"[vm]\nmemory = {SECRET}\n", mode=0o600)
        os.symlink(secret, os.path.join(self.config_dir, "leak.conf"))
        write(os.path.join(self.config_dir, "own.conf"), f"[vm]\nmemory = {SECRET}\n",
              mode=0o600)
        self.start()
        seen = run_as_user(self.bus.address, [
            ["org.winvm1", MANAGER_PATH, PROPS_IFACE, "Get", "(ss)",
             [MANAGER_IFACE, "ProfileErrors"]]])
        self.assertIn("reply", seen[0], seen)
        text = "\n".join(seen[0]["reply"][0])
        self.assertIn("leak.conf: a symbolic link", text)
        self.assertIn("own.conf:2: [vm] memory: “…”", text)
        self.assertNotIn(SECRET, text)
        figure(f"ProfileErrors as nobody: {len(text)} bytes, the secret in none of them")

    def test_duplicate_uuid(self):
        write(os.path.join(self.config_dir, "alpha.conf"), ALPHA.replace(
            "[cpu]", f"uuid = {UUID}\n[cpu]"))
        write(os.path.join(self.config_dir, "beta.conf"), ALPHA.replace(
            "name = alpha", "name = beta").replace("[cpu]", f"uuid = {UUID}\n[cpu]"))
        self.start()
        self.assertEqual([n for n, p in self.client.list_vms()], ["alpha"])
        errors = self.profile_errors()
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("beta.conf: [vm] uuid: the same UUID as", errors[0])
        self.assertIn(os.path.join(self.config_dir, "alpha.conf"), errors[0])

    def refused(self, name, code):
        """Check names @code as an error and Start is refused with it."""
        findings = self.client.manager("Check", GLib.Variant("(s)", (name,)), "(a(ssss))")[0]
        codes = [f[1] for f in findings if f[0] == "error"]
        self.assertIn(code, codes, findings)
        try:
            self.client.vm(self.client.vm_path(name), "Start")
        except GLib.Error as e:
            self.assertIn("PreflightFailed", e.message)
            self.assertIn(code, e.message)
        else:
            self.fail(f"{name} started")
        self.assertEqual(self.client.get(self.client.vm_path(name), "State"), "undefined")

    def test_templates_and_paths(self):
        minimal = open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "xml-templates",
                                    "minimal.xml")).read()
        open_tpl = os.path.join(self.workdir, "open.xml")
        write(open_tpl, minimal, mode=0o666)
        raw_tpl = os.path.join(self.workdir, "raw.xml")
        write(raw_tpl, minimal.replace(
            "<domain type=", "<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' "
            "type=", 1).replace("</domain>", "<qemu:commandline><qemu:arg value='-fw_cfg'/>"
                                "<qemu:arg value='name=opt/s,file=/etc/shadow'/>"
                                "</qemu:commandline></domain>"))
        for name, body in (("open", f"template = {open_tpl}\n"),
                           ("raw", f"template = {raw_tpl}\n"),
                           ("shadow", "[disk:a]\nsource = /etc/shadow\n")):
            text = ALPHA.replace("name = alpha", f"name = {name}")
            text = text.replace("template = minimal\n", body) if "template" in body else \
                text + body
            write(os.path.join(self.config_dir, name + ".conf"), text)
        self.start()
        self.refused("open", "template-untrusted")
        self.refused("raw", "template-raw-qemu")
        self.refused("shadow", "path-refused")
        self.assert_serving()
        figure("untrusted template, <qemu:commandline>, disk on /etc/shadow: 3 of 3 refused "
               "by Check and Start")

    def test_someone_elses_domain(self):
        # test:///default runs a domain "test" that winvm did not define
        write(os.path.join(self.config_dir, "test.conf"), ALPHA.replace("name = alpha",
                                                                        "name = test"))
        self.start()
        path = self.client.vm_path("test")
        self.client.wait_idle(path)
        self.assertEqual(self.client.get(path, "State"), "undefined")
        self.client.vm(path, "ForceOff")
        self.refused("test", "domain-not-winvm")  # still there: ForceOff left it alone
        figure("somebody else's domain: not reported, not stopped, not redefined")


if __name__ == "__main__":
    unittest.main()
