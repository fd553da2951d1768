#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end through the service: the real winvmd on a private system bus
(dbus-daemon) against the real libvirtd on qemu:///system, driving the tiny
busybox TCG guests over org.winvm1: start with hugepages and pins, ACPI
shutdown, forced shutdown at the deadline, ShutdownAll in parallel,
libvirtd restarting under the daemon, the daemon killed and restarted
while a guest runs, and guests that stop while the daemon or libvirtd is
away (their hugepages must still be given back).

A failing test prints the daemon's output, the guests' serial consoles and
the history of the 2M pool; WV_E2E_SHOW_LOG=1 prints them always."""

import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import unittest

from gi.repository import Gio, GLib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.join(os.environ["WV_SOURCE_ROOT"], "tests", "integration"))
import fixture as fx  # noqa: E402
from daemon_fixture import (  # noqa: E402
    BUS_NAME, MANAGER_IFACE, VM_IFACE, Bus, Daemon, MANAGER_PATH as MANAGER)

READY = "WINVM-GUEST-READY"
PREFIX = "winvm-e2e-d-"


def profile(name, template, vcpus=2, pin="0,1", memory="256MiB", hugepages=False,
            timeout=None, vm_keys=""):
    text = f"""\
[vm]
name = {name}
hypervisor = qemu
template = {template}
vcpus = {vcpus}
memory = {memory}
{f"shutdown-timeout = {timeout}" if timeout else ""}
{vm_keys}

[cpu]
pin = {pin}
iothreads = 1
iothread-pin = 0
emulator-pin = 1

[hyperv]
enlightenments = none

[graphics]
type = none
"""
    if hugepages:
        text += "\n[memory]\nhugepages = 2M\nhugepages-allocate = true\n"
    return text


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the daemon ----------------------------------------------------------------

class Winvmd(Daemon):
    """winvmd on the private bus (daemon_fixture's, where everybody may do
    everything: polkit is not on it, and the daemon, uid 0, needs none) with
    the real /sys and libvirtd, READY=1 read from a NOTIFY_SOCKET of our own."""

    def __init__(self, tmp, bus, config_dir):
        super().__init__(bus, tmp, config_dir, libvirt_uri=fx.URI, env={"WATCHDOG_USEC": None})
        self.notify = None
        self.notices = []  # sd_notify lines of the current run

    def start(self, timeout=60):
        self.close_notify()
        notify_path = os.path.join(self.workdir, f"notify-{self.starts + 1}")
        self.notify = notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        self.notices = []
        self.env["NOTIFY_SOCKET"] = notify_path
        self.spawn()
        deadline = time.monotonic() + timeout
        while "READY=1" not in self.notices:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"winvmd sent no READY=1 within {timeout} s")
            if self.proc.poll() is not None:
                raise RuntimeError(f"winvmd exited with {self.proc.returncode}")
            notify.settimeout(min(remaining, 0.5))
            try:
                self.notices += notify.recv(4096).decode().split("\n")
            except socket.timeout:
                continue

    def close_notify(self):
        """Reads what is left on the notify socket, then closes it."""
        if self.notify is None:
            return
        self.notify.setblocking(False)
        try:
            while True:
                self.notices += self.notify.recv(4096).decode().split("\n")
        except BlockingIOError:
            pass
        path = self.notify.getsockname()
        self.notify.close()
        self.notify = None
        os.unlink(path)

    def kill(self, sig):
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.close_notify()

    def stop(self):
        super().stop(timeout=15)
        self.close_notify()


class DBusError(Exception):
    def __init__(self, error):
        self.name = Gio.DBusError.get_remote_error(error)
        msg = error.message
        Gio.DBusError.strip_remote_error(error)
        self.message = error.message
        super().__init__(f"{self.name}: {self.message} ({msg})")


class Client:
    """A Gio connection to the private bus. Calls are asynchronous while the
    main context is iterated, so PropertiesChanged signals are dispatched
    (and timestamped) as they arrive, during long calls too."""

    def __init__(self, address):
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.ctx = GLib.MainContext.default()
        self.events = []  # (monotonic time, path, {property: value})
        self.sub = self.conn.signal_subscribe(
            None, "org.freedesktop.DBus.Properties", "PropertiesChanged", None, None,
            Gio.DBusSignalFlags.NONE, self._on_changed)

    def _on_changed(self, conn, sender, path, iface, signal_name, params):
        _, changed, _ = params.unpack()
        self.events.append((time.monotonic(), path, changed))

    def close(self):
        self.conn.signal_unsubscribe(self.sub)
        self.conn.close_sync(None)

    def pump(self, seconds=0.0):
        deadline = time.monotonic() + seconds
        while True:
            while self.ctx.iteration(False):
                pass
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)

    def call(self, path, iface, method, args=None, timeout=120):
        result = {}

        def done(conn, res, _data):
            try:
                result["value"] = conn.call_finish(res)
            except GLib.Error as e:
                result["error"] = e

        self.conn.call(BUS_NAME, path, iface, method, args, None, Gio.DBusCallFlags.NONE,
                       int(timeout * 1000), None, done, None)
        while not result:
            if not self.ctx.iteration(False):
                time.sleep(0.01)
        if "error" in result:
            raise DBusError(result["error"])
        return result["value"].unpack() if result["value"] is not None else ()

    def vm_call(self, path, method, args=None, timeout=120):
        return self.call(path, VM_IFACE, method, args, timeout)

    def get(self, path, iface, prop):
        return self.call(path, "org.freedesktop.DBus.Properties", "Get",
                         GLib.Variant("(ss)", (iface, prop)))[0]

    def state(self, path):
        return self.get(path, VM_IFACE, "State")

    def mark(self):
        return len(self.events)

    def seen(self, path, prop, value, since=0):
        """The time of the first PropertiesChanged at or after event @since
        that set @prop of @path to @value, or None."""
        for t, p, changed in self.events[since:]:
            if p == path and prop in changed and changed[prop] == value:
                return t
        return None

    def wait_change(self, path, prop, value, timeout, since=0):
        deadline = time.monotonic() + timeout
        while True:
            t = self.seen(path, prop, value, since)
            if t is not None:
                return t
            if time.monotonic() > deadline:
                got = [(round(t, 2), c[prop]) for t, p, c in self.events[since:]
                       if p == path and prop in c]
                raise AssertionError(f"no PropertiesChanged {prop}={value!r} on {path} "
                                     f"within {timeout} s; saw {got}")
            self.pump(0.05)


# ---- the tests ---------------------------------------------------------------

def setUpModule():
    fx.setup()  # no pages reserved: the daemon grows the pool itself


def tearDownModule():
    fx.teardown()


class DaemonE2E(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="winvm-e2e-d-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.config_dir = os.path.join(self.tmp, "vms")
        os.makedirs(self.config_dir)
        self.names = []
        self.nr_before_test = fx.nr_hugepages()
        self.t_start = time.monotonic()
        self.pool = fx.PoolWatcher()
        self.addCleanup(self.pool.stop)
        # cleanups run last-in first-out: domains go before the pool shrinks
        self.addCleanup(self.restore_pool)
        self.addCleanup(self.remove_domains)
        self.bus = Bus(self.tmp)
        self.addCleanup(self.bus.stop)
        self.daemon = Winvmd(self.tmp, self.bus, self.config_dir)
        self.addCleanup(self.daemon.stop)
        self.client = None
        self.addCleanup(self.close_client)

    def tearDown(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        failed = result is not None and any(
            getattr(test, "test_case", test) is self
            for test, _ in result.failures + result.errors)
        if failed or os.environ.get("WV_E2E_SHOW_LOG"):
            log(f"\n---- winvmd output ({self.id()}) ----\n{self.daemon.log()}"
                "---- end of winvmd output ----")
            for name in self.names:
                log(f"---- serial console of {name} ----\n{fx.read_serial(name)}")
            log(f"---- 2M nr_hugepages since the test began: {self.pool.format(self.t_start)}")
            others = fx.real_pool_users(mine=[self.daemon.proc.pid] if self.daemon.proc else [])
            if others:
                log("---- other winvmd processes on the real /sys (they may have changed the "
                    "pool too):\n" + "\n".join(others))

    def close_client(self):
        if self.client:
            self.client.close()

    def remove_domains(self):
        fx.ensure_libvirtd()  # a test may have left it stopped
        for name in self.names:
            try:
                fx.remove_domain(name)
            except Exception as e:  # noqa: BLE001 - clean the others up too
                log(f"cleanup of {name}: {e}")

    def restore_pool(self):
        if fx.nr_hugepages() != self.nr_before_test:
            fx.set_nr_hugepages(self.nr_before_test)

    # -- helpers --

    def add_vm(self, short, acpi=True, guest=None, **kw):
        name = PREFIX + short
        fx.remove_domain(name)  # left over by an interrupted run
        self.names.append(name)
        template = fx.write_template(name, acpi=acpi, guest=guest)
        with open(os.path.join(self.config_dir, name + ".conf"), "w") as f:
            f.write(profile(name, template, **kw))
        return name

    def start_daemon(self):
        self.daemon.start()
        if self.client is None:
            self.client = Client(self.bus.address)
        self.assertTrue(self.client.get(MANAGER, MANAGER_IFACE, "LibvirtConnected"))
        vms = dict(self.client.call(MANAGER, MANAGER_IFACE, "ListVMs")[0])
        self.assertEqual(sorted(vms), sorted(self.names))
        return vms

    def wait_ready(self, name, timeout=90):
        try:
            fx.wait_for(lambda: READY in fx.read_serial(name), timeout, what=READY)
        except TimeoutError:
            self.fail(f"{name} did not boot; serial console:\n{fx.read_serial(name)}")

    def start_vm(self, path, name):
        """Start over D-Bus until the guest prints READY; returns the boot time."""
        mark = self.client.mark()
        t0 = time.monotonic()
        self.client.vm_call(path, "Start")
        self.client.wait_change(path, "State", "running", 60, since=mark)
        self.assertEqual(fx.domstate(name), "running")
        self.wait_ready(name)
        return time.monotonic() - t0

    def record(self, name):
        return os.path.join(self.daemon.runtime_dir, name + ".hugepages")

    def read_record(self, name):
        with open(self.record(name)) as f:
            return f.read()

    def assertDBusError(self, name, fn, *args, **kw):
        with self.assertRaises(DBusError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.name, name, str(cm.exception))
        return cm.exception

    # -- 1 --

    def test_1_hugepages_pins_acpi_shutdown(self):
        name = self.add_vm("huge", hugepages=True, timeout="60s")
        fx.set_free_hugepages(0)
        nr = fx.nr_hugepages()
        vms = self.start_daemon()
        path = vms[name]
        self.assertEqual(self.client.state(path), "undefined")

        boot = self.start_vm(path, name)
        self.assertEqual(fx.nr_hugepages(), nr + 128, "the pool grew by the guest's 128 pages")
        self.assertTrue(os.path.exists(self.record(name)), "reservation recorded")
        self.assertIn("added=128", self.read_record(name))

        self.assertEqual(table(fx.virsh("vcpupin", name)), {"0": "0", "1": "1"})
        self.assertEqual(table(fx.virsh("iothreadinfo", name)), {"1": "0"})
        self.assertEqual(fx.virsh("emulatorpin", name).split()[-1], "1")
        self.client.pump(0.5)
        self.assertEqual(self.client.get(path, VM_IFACE, "VCPUPins"), [(0, "0"), (1, "1")])
        self.assertEqual(self.client.get(path, VM_IFACE, "IOThreadPins"), [(1, "0")])
        self.assertEqual(self.client.get(path, VM_IFACE, "EmulatorPin"), "1")
        self.assertEqual(self.client.get(path, VM_IFACE, "Hugepages"), "2M")
        self.assertEqual(self.client.get(path, VM_IFACE, "MemoryKiB"), 256 * 1024)
        self.assertEqual(self.client.get(path, VM_IFACE, "UUID"),
                         fx.virsh("domuuid", name).strip())

        mark = self.client.mark()
        t0 = time.monotonic()
        self.client.vm_call(path, "Shutdown", GLib.Variant("(u)", (0,)))
        acpi_off = time.monotonic() - t0
        self.assertEqual(fx.virsh("domstate", "--reason", name).strip(), "shut off (shutdown)")
        self.client.wait_change(path, "State", "shut-off", 10, since=mark)
        self.assertEqual(self.client.state(path), "shut-off")
        self.assertEqual(fx.nr_hugepages(), nr, "the pool shrank back")
        self.assertFalse(os.path.exists(self.record(name)), "reservation record removed")
        log(f"\nboot over D-Bus {boot:.1f} s, Shutdown (ACPI) {acpi_off:.1f} s")

    # -- 2 --

    def test_2_deaf_guest_forced_at_deadline(self):
        name = self.add_vm("deaf", acpi=False, timeout="5s")
        path = self.start_daemon()[name]
        self.start_vm(path, name)

        mark = self.client.mark()
        t0 = time.monotonic()
        err = self.assertDBusError("org.winvm1.Error.Timeout", self.client.vm_call, path,
                                   "Shutdown", GLib.Variant("(u)", (0,)))
        forced = time.monotonic() - t0
        self.assertIn(name, err.message)
        self.assertGreaterEqual(forced, 4.5)
        self.assertLessEqual(forced, 15)
        self.assertEqual(fx.virsh("domstate", "--reason", name).strip(), "shut off (destroyed)")
        self.client.wait_change(path, "State", "shut-off", 10, since=mark)
        log(f"\nShutdown of the ACPI-deaf guest: Timeout after {forced:.1f} s")

    def test_2b_force_off_overtakes_a_pending_shutdown(self):
        # the way out of a stuck shutdown is always open: ForceOff at once,
        # the Shutdown's caller told so, and the VM free for a Start
        name = self.add_vm("stuck", acpi=False, timeout="600s")
        path = self.start_daemon()[name]
        self.start_vm(path, name)
        mark = self.client.mark()
        pending = {}

        def done(conn, res, _data):
            try:
                conn.call_finish(res)
                pending["ok"] = True
            except GLib.Error as e:
                pending["error"] = e

        self.client.conn.call(BUS_NAME, path, VM_IFACE, "Shutdown", GLib.Variant("(u)", (600,)),
                              None, Gio.DBusCallFlags.NONE, 700 * 1000, None, done, None)
        self.client.wait_change(path, "State", "shutting-down", 30, since=mark)
        t0 = time.monotonic()
        self.client.vm_call(path, "ForceOff")
        forced = time.monotonic() - t0
        deadline = time.monotonic() + 10
        while not pending and time.monotonic() < deadline:
            self.client.pump(0.05)
        self.assertIn("error", pending, "the Shutdown call got no answer")
        self.assertEqual(Gio.DBusError.get_remote_error(pending["error"]),
                         "org.winvm1.Error.Cancelled")
        self.assertIn("overtaken by a forced power-off", pending["error"].message)
        self.assertLess(forced, 5)
        self.assertEqual(fx.virsh("domstate", "--reason", name).strip(), "shut off (destroyed)")
        self.client.wait_change(path, "State", "shut-off", 10, since=mark)
        self.assertEqual(self.client.get(path, VM_IFACE, "LastStop")[0], "overtaken")
        self.start_vm(path, name)  # not Busy: the lock went with the Shutdown
        self.client.vm_call(path, "ForceOff")
        log(f"\nForceOff over a pending 600 s Shutdown: {forced:.2f} s")

    # -- 3 --

    def test_3_shutdown_all_in_parallel(self):
        # one ACPI guest and the deaf one with hugepages: both the graceful
        # and the forced path must give their pages back
        fx.set_free_hugepages(0)
        nr = fx.nr_hugepages()
        a1 = self.add_vm("all-a1", vcpus=1, pin="0", memory="128MiB", hugepages=True,
                         timeout="20s")
        a2 = self.add_vm("all-a2", vcpus=1, pin="1", memory="128MiB", timeout="20s")
        d = self.add_vm("all-deaf", acpi=False, vcpus=1, pin="0", memory="128MiB",
                        hugepages=True, timeout="5s")
        vms = self.start_daemon()
        for name in (a1, a2, d):
            self.start_vm(vms[name], name)
        self.assertEqual(fx.nr_hugepages(), nr + 128)

        mark = self.client.mark()
        t0 = time.monotonic()
        err = self.assertDBusError("org.winvm1.Error.Timeout", self.client.call, MANAGER,
                                   MANAGER_IFACE, "ShutdownAll", GLib.Variant("(u)", (0,)))
        total = time.monotonic() - t0
        self.client.pump(0.5)
        took = {}
        for name in (a1, a2, d):
            t = self.client.seen(vms[name], "State", "shut-off", mark)
            self.assertIsNotNone(t, f"{name}: no State shut-off")
            took[name] = t - t0
        self.assertIn(d, err.message)
        self.assertNotIn(a1, err.message)
        self.assertNotIn(a2, err.message)
        self.assertEqual(fx.virsh("domstate", "--reason", a1).strip(), "shut off (shutdown)")
        self.assertEqual(fx.virsh("domstate", "--reason", a2).strip(), "shut off (shutdown)")
        self.assertEqual(fx.virsh("domstate", "--reason", d).strip(), "shut off (destroyed)")
        self.assertGreaterEqual(took[d], 4.5)
        self.assertLess(took[a1], 5)
        self.assertLess(took[a2], 5)
        serial = sum(took.values())
        log("\nShutdownAll: " + ", ".join(f"{n[len(PREFIX):]} off after {t:.1f} s"
                                          for n, t in took.items())
            + f"; total {total:.1f} s vs {serial:.1f} s one after another")
        self.assertLess(total, serial)
        self.assertLess(total, max(took.values()) + 2)
        self.assertEqual(fx.nr_hugepages(), nr, "all reservations released")
        self.assertFalse(os.path.exists(self.record(a1)))
        self.assertFalse(os.path.exists(self.record(d)))

    # -- 3b: the stop ladder --

    def stop_ladder(self, on_timeout):
        """Three guests, one ShutdownAll: one powers off only through the
        guest agent, one ignores the first ACPI press and obeys the second,
        one ignores everything and meets its deadline's on-timeout."""
        keys = "shutdown-method = agent,acpi\nacpi-repeat = 3s\nagent-timeout = 5s\n"
        ag = self.add_vm("ladder-agent", guest="agent", vcpus=1, pin="0", memory="128MiB",
                         timeout="20s", vm_keys=keys + "guest-agent = true")
        a2 = self.add_vm("ladder-acpi2", guest="acpi2", vcpus=1, pin="1", memory="128MiB",
                         timeout="20s", vm_keys=keys)
        deaf = self.add_vm("ladder-deaf", guest="noacpi", vcpus=1, pin="0", memory="128MiB",
                           timeout="8s", vm_keys=keys + f"on-timeout = {on_timeout}")
        vms = self.start_daemon()
        for name in (ag, a2, deaf):
            self.start_vm(vms[name], name)
        # libvirt's agent-lifecycle event: qemu-ga opened its port
        self.client.wait_change(vms[ag], "GuestAgent", True, 60)
        self.assertFalse(self.client.get(vms[a2], VM_IFACE, "GuestAgent"))

        mark = self.client.mark()
        t0 = time.monotonic()
        if on_timeout == "destroy":
            err = self.assertDBusError("org.winvm1.Error.Timeout", self.client.call, MANAGER,
                                       MANAGER_IFACE, "ShutdownAll", GLib.Variant("(u)", (0,)))
            self.assertIn(deaf, err.message)
            self.assertNotIn(ag, err.message)
            self.assertNotIn(a2, err.message)
        else:  # saved: nothing was forced
            self.client.call(MANAGER, MANAGER_IFACE, "ShutdownAll", GLib.Variant("(u)", (0,)))
        total = time.monotonic() - t0
        self.client.pump(0.3)
        final = {ag: "shut-off", a2: "shut-off",
                 deaf: "shut-off" if on_timeout == "destroy" else "saved"}
        took = {}
        for name, state in final.items():
            t = self.client.seen(vms[name], "State", state, mark)
            self.assertIsNotNone(t, f"{name}: no State {state}")
            took[name] = t - t0
        stops = {name: self.client.get(vms[name], VM_IFACE, "LastStop") for name in final}
        steps = {name: [c["ShutdownStep"] for _, p, c in self.client.events[mark:]
                        if p == vms[name] and "ShutdownStep" in c] for name in final}

        self.assertEqual(stops[ag][:2], ("agent", 0), stops)
        self.assertEqual(stops[a2][:2], ("acpi", 2), stops)
        self.assertEqual(steps[ag], ["agent", ""])
        self.assertEqual(steps[a2], ["acpi", ""])
        self.assertIn("WINVM-AGENT-SHUTDOWN", fx.read_serial(ag))
        self.assertIn("WINVM-ACPI-PRESS 2", fx.read_serial(a2))
        self.assertEqual(fx.virsh("domstate", "--reason", ag).strip(), "shut off (shutdown)")
        self.assertEqual(fx.virsh("domstate", "--reason", a2).strip(), "shut off (shutdown)")
        # the deaf one: pressed every 3 s until its 8 s deadline
        self.assertEqual(stops[deaf][1], 3, stops)
        if on_timeout == "destroy":
            self.assertEqual(stops[deaf][0], "destroyed")
            self.assertEqual(steps[deaf], ["acpi", "forcing", ""])
            self.assertEqual(fx.virsh("domstate", "--reason", deaf).strip(),
                             "shut off (destroyed)")
        else:
            self.assertEqual(stops[deaf][0], "saved")
            self.assertEqual(steps[deaf], ["acpi", "saving", ""])
            self.assertEqual(fx.virsh("domstate", "--reason", deaf).strip(), "shut off (saved)")
        self.assertGreaterEqual(took[a2], 2.5)  # the second press, 3 s after the first
        self.assertLess(took[ag], 5)  # before the agent's step ran out
        self.assertGreaterEqual(took[deaf], 7.5)
        log(f"\nstop ladder ({on_timeout}): "
            + ", ".join(f"{n[len(PREFIX):]} {stops[n][0]}"
                        + (f" after {stops[n][1]} presses" if stops[n][0] == "acpi" else "")
                        + f" in {took[n]:.1f} s (LastStop {stops[n][2]:.1f} s)"
                        for n in final)
            + f"; ShutdownAll returned after {total:.1f} s")
        # in parallel: the slowest guest, plus at most a second
        self.assertLess(total, max(took.values()) + 1)

        if on_timeout == "save":
            # the next Start resumes the saved image, and clears libvirt's
            # autostart flag (winvm starts its VMs itself)
            fx.virsh("autostart", deaf)
            mark = self.client.mark()
            self.client.vm_call(vms[deaf], "Start")
            self.client.wait_change(vms[deaf], "State", "running", 60, since=mark)
            self.assertEqual(fx.virsh("domstate", "--reason", deaf).strip(),
                             "running (restored)")
            self.assertRegex(fx.virsh("dominfo", deaf), r"Autostart:\s+disable")
            self.client.vm_call(vms[deaf], "ForceOff")

    def test_3b_stop_ladder_agent_acpi2_deaf_destroyed(self):
        self.stop_ladder("destroy")

    def test_3c_stop_ladder_deaf_saved_then_resumed(self):
        self.stop_ladder("save")

    # -- 4 --

    def test_4_libvirtd_restart(self):
        name = self.add_vm("lv", timeout="30s")
        idle = self.add_vm("lv-idle", timeout="30s")
        vms = self.start_daemon()
        path, idle_path = vms[name], vms[idle]
        self.start_vm(path, name)
        qemu = fx.qemu_pid(name)
        self.assertIsNotNone(qemu)

        mark = self.client.mark()
        fx.stop_libvirtd()
        self.addCleanup(fx.ensure_libvirtd)
        self.client.wait_change(MANAGER, "LibvirtConnected", False, 20, since=mark)
        self.assertFalse(self.client.get(MANAGER, MANAGER_IFACE, "LibvirtConnected"))
        self.assertEqual(self.client.state(path), "unknown")

        # what needs libvirt says so; what does not keeps working
        self.assertDBusError("org.winvm1.Error.LibvirtUnavailable", self.client.vm_call,
                             idle_path, "Start")
        self.assertDBusError("org.winvm1.Error.LibvirtUnavailable", self.client.vm_call,
                             path, "ForceOff")
        self.assertEqual(sorted(dict(self.client.call(MANAGER, MANAGER_IFACE, "ListVMs")[0])),
                         sorted([name, idle]))
        self.assertDBusError("org.winvm1.Error.LibvirtUnavailable", self.client.call, MANAGER,
                             MANAGER_IFACE, "ShutdownAll", GLib.Variant("(u)", (0,)))
        self.assertIn("<domain", self.client.call(MANAGER, MANAGER_IFACE, "Render",
                                                  GLib.Variant("(s)", (name,)))[0])
        with self.subTest("a Start refused for want of libvirt leaves State alone"):
            self.client.pump(0.5)
            self.assertEqual(self.client.state(idle_path), "unknown")

        mark = self.client.mark()
        fx.start_libvirtd()
        up = time.monotonic()
        connected = self.client.wait_change(MANAGER, "LibvirtConnected", True, 35, since=mark)
        reconnect = connected - up
        self.client.wait_change(path, "State", "running", 10, since=mark)
        self.assertEqual(self.client.state(path), "running")
        self.assertEqual(fx.qemu_pid(name), qemu, "the guest kept running")
        self.client.pump(1)
        self.assertEqual(self.client.state(idle_path), "undefined")

        # events flow again: changes made behind the daemon's back show up
        mark = self.client.mark()
        fx.virsh("suspend", name)
        self.client.wait_change(path, "State", "paused", 10, since=mark)
        fx.virsh("resume", name)
        self.client.wait_change(path, "State", "running", 10, since=mark)
        mark = self.client.mark()
        self.client.vm_call(path, "ForceOff")
        self.client.wait_change(path, "State", "shut-off", 10, since=mark)
        self.assertEqual(fx.domstate(name), "shut off")
        log(f"\nreconnected {reconnect:.1f} s after libvirtd answered again")

    def test_4b_libvirtd_stalls_with_calls_in_flight(self):
        # libvirtd stopped (SIGSTOP), its socket open: a Start, a Shutdown
        # and a Plan waiting on it are answered LibvirtUnavailable once the
        # keepalive (1 s x 2 from winvm.conf) gives up, winvmd reconnects
        # after SIGCONT, and the calls libvirtd then finishes show up
        running = self.add_vm("stall-run", timeout="30s")
        off = self.add_vm("stall-off", timeout="30s")
        host_config = os.path.join(self.tmp, "winvm.conf")
        with open(host_config, "w") as f:
            f.write("[libvirt]\nkeepalive-interval = 1\nkeepalive-count = 2\n")
        self.daemon.args += ["--host-config", host_config]
        vms = self.start_daemon()
        self.start_vm(vms[running], running)
        with open(fx.LIBVIRTD_PID) as f:
            libvirtd = int(f.read().strip())
        answers = {}

        def call(key, path, iface, method, args=None):
            def done(conn, res, _data):
                try:
                    answers[key] = ("ok", conn.call_finish(res))
                except GLib.Error as e:
                    answers[key] = (Gio.DBusError.get_remote_error(e), e.message)
            self.client.conn.call(BUS_NAME, path, iface, method, args, None,
                                  Gio.DBusCallFlags.NONE, 120 * 1000, None, done, None)

        os.kill(libvirtd, signal.SIGSTOP)
        self.addCleanup(os.kill, libvirtd, signal.SIGCONT)
        t0 = time.monotonic()
        call("Start", vms[off], VM_IFACE, "Start")
        call("Shutdown", vms[running], VM_IFACE, "Shutdown", GLib.Variant("(u)", (30,)))
        call("Plan", MANAGER, MANAGER_IFACE, "Plan", GLib.Variant("(s)", (off,)))
        deadline = time.monotonic() + 20
        while len(answers) < 3 and time.monotonic() < deadline:
            self.client.pump(0.05)
        cut = time.monotonic() - t0
        self.assertEqual(sorted(answers), ["Plan", "Shutdown", "Start"], answers)
        for key, (name, message) in answers.items():
            self.assertEqual(name, "org.winvm1.Error.LibvirtUnavailable", f"{key}: {message}")
        self.assertFalse(self.client.get(MANAGER, MANAGER_IFACE, "LibvirtConnected"))

        mark = self.client.mark()
        os.kill(libvirtd, signal.SIGCONT)
        resumed = time.monotonic()
        connected = self.client.wait_change(MANAGER, "LibvirtConnected", True, 10, since=mark)
        self.assertLess(connected - resumed, 5)
        self.assertTrue(self.daemon.alive(), "winvmd died")
        # what libvirtd did once it went on (the Start, the ACPI press) is
        # what winvmd shows, and the VMs take calls again
        fx.wait_for(lambda: fx.domstate(off) == "running", 60, what=f"{off} to run")
        self.client.wait_change(vms[off], "State", "running", 30, since=mark)
        for name in (running, off):
            deadline = time.monotonic() + 30
            while fx.domstate(name) != "shut off":
                try:
                    self.client.vm_call(vms[name], "ForceOff")
                    break
                except DBusError as e:
                    if e.name != "org.winvm1.Error.Busy" or time.monotonic() > deadline:
                        raise
                    self.client.pump(0.1)
            self.assertEqual(fx.domstate(name), "shut off")
        log(f"\nstall: 3 calls answered LibvirtUnavailable {cut:.1f} s after SIGSTOP, "
            f"reconnected {connected - resumed:.2f} s after SIGCONT")

    # -- 5 --

    def test_5_daemon_killed_and_restarted(self):
        name = self.add_vm("kill", hugepages=True, timeout="30s")
        # a few free pages, so that a second release would show (the pool
        # would drop below them), and the daemon grows the pool by the rest
        fx.set_free_hugepages(16)
        nr = fx.nr_hugepages()
        path = self.start_daemon()[name]
        self.start_vm(path, name)
        self.assertEqual(fx.nr_hugepages(), nr + 112)
        record = self.read_record(name)
        self.assertIn("added=112", record)
        qemu = fx.qemu_pid(name)
        self.assertIsNotNone(qemu)

        self.daemon.kill(signal.SIGKILL)
        self.client.close()
        self.client = None
        self.start_daemon()
        self.assertEqual(self.client.state(path), "running")
        self.assertEqual(fx.qemu_pid(name), qemu, "the guest is untouched")
        self.assertEqual(fx.domstate(name), "running")
        self.assertEqual(fx.nr_hugepages(), nr + 112, "not reserved twice")
        self.assertEqual(self.read_record(name), record)
        self.assertEqual(fx.read_serial(name).count(READY), 1, "the guest did not reboot")

        # starting it again changes nothing
        mark = self.client.mark()
        err = self.assertDBusError("org.winvm1.Error.Failed", self.client.vm_call, path, "Start")
        self.assertIn("already running", err.message)
        self.assertEqual(fx.nr_hugepages(), nr + 112)
        self.client.pump(1)
        self.assertEqual(self.client.state(path), "running")
        with self.subTest("a refused Start announces no State change"):
            self.assertEqual([c["State"] for _, p, c in self.client.events[mark:]
                              if p == path and "State" in c], [])

        mark = self.client.mark()
        self.client.vm_call(path, "ForceOff")
        self.client.wait_change(path, "State", "shut-off", 10, since=mark)
        self.client.pump(2)
        self.assertEqual(fx.nr_hugepages(), nr, "released exactly once")
        self.assertEqual(fx.free_hugepages(), 16)
        self.assertFalse(os.path.exists(self.record(name)))

    # -- 6 --

    def test_6_guest_stops_while_daemon_is_down(self):
        """The reservation of a guest that stopped while the daemon was not
        running is released once the restarted daemon sees it stopped."""
        name = self.add_vm("gone", hugepages=True, timeout="30s")
        fx.set_free_hugepages(16)
        nr = fx.nr_hugepages()
        path = self.start_daemon()[name]
        self.start_vm(path, name)
        self.assertEqual(fx.nr_hugepages(), nr + 112)

        self.daemon.kill(signal.SIGKILL)
        self.client.close()
        self.client = None
        fx.virsh("destroy", name)
        self.start_daemon()
        self.assertEqual(self.client.state(path), "shut-off")
        self.client.pump(2)
        self.assertEqual(fx.nr_hugepages(), nr, "the stopped guest's pages were released")
        self.assertFalse(os.path.exists(self.record(name)))

    # -- 7 --

    def test_7_guest_dies_while_libvirtd_is_down(self):
        """The daemon misses the stop event while libvirtd is away; the
        resync after reconnecting puts State right and gives the pages back."""
        name = self.add_vm("lvdie", hugepages=True, timeout="30s")
        fx.set_free_hugepages(16)
        nr = fx.nr_hugepages()
        path = self.start_daemon()[name]
        self.start_vm(path, name)
        self.assertEqual(fx.nr_hugepages(), nr + 112)
        pid, _ = fx.qemu_pid(name)

        mark = self.client.mark()
        fx.stop_libvirtd()
        self.addCleanup(fx.ensure_libvirtd)
        self.client.wait_change(MANAGER, "LibvirtConnected", False, 20, since=mark)
        os.kill(pid, signal.SIGKILL)
        fx.wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, what="QEMU to die")
        self.assertEqual(fx.nr_hugepages(), nr + 112, "nothing released while nobody knows")

        mark = self.client.mark()
        fx.start_libvirtd()
        self.client.wait_change(MANAGER, "LibvirtConnected", True, 35, since=mark)
        fx.wait_for(lambda: fx.domstate(name) == "shut off", 30, what="libvirtd to notice")
        fx.wait_for(lambda: self.client.pump(0.1) or self.client.state(path) != "running", 10,
                    what="State to leave running")
        self.client.pump(1)
        self.assertIn(self.client.state(path), ("shut-off", "crashed"))
        self.assertEqual(fx.nr_hugepages(), nr, "the dead guest's pages were released")
        self.assertFalse(os.path.exists(self.record(name)))

    # -- 8 --

    def test_8_idle_call_connections_close(self):
        """Plans on the read lane lease call connections of their own; a
        second after the last went back unused, winvmd keeps only its control
        connection (libvirtd's list of clients, by process)."""
        names = [self.add_vm(f"idle-{i}") for i in range(4)]
        self.start_daemon()
        pid = self.daemon.proc.pid

        def clients():
            listed = fx.virt_admin("srv-clients-list", "libvirtd")
            mine = 0
            for line in listed.splitlines():
                if not line.split() or not line.split()[0].isdigit():
                    continue
                try:
                    info = fx.virt_admin("client-info", "libvirtd", line.split()[0])
                except RuntimeError:
                    continue  # gone since the list
                fields = {k.strip(): v.strip() for k, _, v in
                          (x.partition(":") for x in info.splitlines())}
                mine += fields.get("unix_process_id") == str(pid)
            return mine

        # what the start read on call connections has gone: the control one
        fx.wait_for(lambda: clients() == 1, 10, interval=0.1, what="the control connection only")
        answers = {}

        def done(conn, res, key):
            try:
                answers[key] = conn.call_finish(res)
            except GLib.Error as e:
                answers[key] = e
        for name in names:
            self.client.conn.call(BUS_NAME, MANAGER, MANAGER_IFACE, "Plan",
                                  GLib.Variant("(s)", (name,)), None, Gio.DBusCallFlags.NONE,
                                  60 * 1000, None, done, name)
        fx.wait_for(lambda: self.client.pump(0.01) or len(answers) == len(names), 60,
                    interval=0.01, what="the plans")
        for name, answer in answers.items():
            self.assertNotIsInstance(answer, GLib.Error, f"{name}: {answer}")
        busy = clients()  # the call connections, back idle for under a second
        self.assertGreaterEqual(busy, 2)
        t0 = time.monotonic()
        fx.wait_for(lambda: clients() == 1, 10, interval=0.1,
                    what="the idle call connections to close")
        log(f"\nidle call connections: {busy - 1} closed {time.monotonic() - t0:.1f} s after "
            "the plans")


def table(text):
    """virsh's two-column tables (vcpupin, iothreadinfo) as a dict."""
    return dict(line.split() for line in text.splitlines() if line.strip())


if __name__ == "__main__":
    unittest.main()
