#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvmd's host integration on a private system bus with python-dbusmock's
logind: the shutdown delay inhibitor (taken at start, again when logind
restarts or a shutdown is cancelled, released once every VM is off),
PrepareForShutdown(true) acting on each running VM by its on-host-shutdown
policy, InhibitDelayMaxUSec, Manager.ShutdownAll without logind, host sleep
(the sleep block and delay inhibitors following the running VMs by their
on-host-sleep, pause/save on PrepareForSleep(true) and back on (false),
capped by InhibitDelayMaxUSec), and boot autostart (order, delays,
failures, once per boot).

libvirt is the test:///default driver, whose state lives inside winvmd: VMs
exist only as winvmd defines them, and a guest shuts down at once."""

import os
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gi.repository import Gio, GLib  # noqa: E402

from daemon_fixture import (  # noqa: E402
    PROPS_IFACE, VM_IFACE, Bus, Client, Daemon, MockService, PrivateLibvirtd, copy_host, iterate,
    new_workdir, print_log, test_driver_with_domain, wait_until)

LOGIND_NAME = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
LOGIND_IFACE = "org.freedesktop.login1.Manager"


def v(sig, *args):
    return GLib.Variant(sig, tuple(args))


def profile(name, cpu, **vm):
    """A small VM the test driver runs: one vCPU pinned to its own host CPU
    (so preflight never finds two of them on one CPU)."""
    keys = dict(name=name, template="minimal", hypervisor="qemu", memory="128MiB", vcpus=1)
    keys.update({k.replace("_", "-"): val for k, val in vm.items()})
    lines = ["[vm]"] + [f"{k} = {str(val).lower() if isinstance(val, bool) else val}"
                        for k, val in keys.items()]
    lines += ["", "[cpu]", f"pin = {cpu}", "", "[hyperv]", "enlightenments = none", ""]
    return "\n".join(lines)


class Logind(MockService):
    """python-dbusmock's logind template on the private bus."""

    def __init__(self, address, logfile, delay_max_usec=None):
        super().__init__(address, logfile, "logind", LOGIND_NAME, LOGIND_PATH, mode="a")
        if delay_max_usec is not None:
            try:
                self._mock("AddProperty", v("(ssv)", LOGIND_IFACE, "InhibitDelayMaxUSec",
                                            GLib.Variant("t", delay_max_usec)))
            except Exception:
                self.stop()
                raise

    def inhibitors(self):
        """(what, who, why, mode, uid, pid) of every inhibitor logind holds."""
        return self.client.call(LOGIND_PATH, LOGIND_IFACE, "ListInhibitors", None,
                                "(a(ssssuu))", dest=LOGIND_NAME)[0]

    def ours(self):
        return [i for i in self.inhibitors() if i[1] == "winvm"]

    def prepare_for_shutdown(self, start):
        self._mock("EmitSignal", v("(sssav)", LOGIND_IFACE, "PrepareForShutdown", "b",
                                   [GLib.Variant("b", start)]))

    def prepare_for_sleep(self, start):
        self._mock("EmitSignal", v("(sssav)", LOGIND_IFACE, "PrepareForSleep", "b",
                                   [GLib.Variant("b", start)]))

    def sleep_locks(self):
        """(mode, count) of the sleep inhibitors winvm holds, sorted."""
        modes = [i[3] for i in self.ours() if i[0] == "sleep"]
        return sorted((m, modes.count(m)) for m in set(modes))

    def inhibit_calls(self, what):
        """(mode, why) of every Inhibit(@what, ...) winvm made, in order (the
        mock's own call log)."""
        calls = self.client.call(LOGIND_PATH, "org.freedesktop.DBus.Mock", "GetCalls", None,
                                 "(a(tsav))", dest=LOGIND_NAME)[0]
        return [(args[3], args[2]) for _, method, args in calls
                if method == "Inhibit" and args[0] == what and args[1] == "winvm"]


class HostTest(unittest.TestCase):
    """A bus, (optionally) logind, winvmd with PROFILES, a root client that
    records every State change with the time it arrived."""

    PROFILES = {}
    LOGIND = True
    DELAY_MAX_USEC = None

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before and getattr(self, "daemon", None):
            print_log(f"winvmd log of {self.id()}", self.daemon.log())
        if getattr(self, "workdir", None):
            shutil.rmtree(self.workdir, ignore_errors=True)
        return result

    def setUp(self):
        self.workdir = new_workdir()
        self.sysfs, self.procfs = copy_host("ryzen", self.workdir)
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir)
        for name, text in self.PROFILES.items():
            with open(os.path.join(self.config_dir, name + ".conf"), "w") as f:
                f.write(text)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.client.subscribe()
        self.states = []  # (monotonic time, VM object path, State)
        self.client.conn.signal_subscribe(
            "org.winvm1", PROPS_IFACE, "PropertiesChanged", None, VM_IFACE,
            Gio.DBusSignalFlags.NONE, self._on_properties_changed)
        self.logind_log = os.path.join(self.workdir, "logind.log")
        self.logind = None
        if self.LOGIND:
            self.start_logind()
        self.daemon = Daemon(self.bus, self.workdir, self.config_dir, self.sysfs, self.procfs,
                             libvirt_uri=self.libvirt_uri())
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)

    def libvirt_uri(self):
        return "test:///default"

    def tearDown(self):
        self.assertTrue(self.daemon.alive(), "winvmd died")
        self.assertIsInstance(self.client.list_vms(), list)

    def _on_properties_changed(self, conn, sender, path, iface, member, params):
        changed = params.unpack()[1]
        if "State" in changed:
            self.states.append((time.monotonic(), path, changed["State"]))

    # ---- helpers ------------------------------------------------------------

    def start_logind(self):
        self.logind = Logind(self.bus.address, self.logind_log, self.DELAY_MAX_USEC)
        self.addCleanup(self.logind.stop)

    def path(self, name):
        return self.client.vm_path(name)

    def state(self, name):
        return self.client.get(self.path(name), "State")

    def wait_state(self, name, state, timeout=15):
        wait_until(lambda: self.state(name) == state, timeout, f"{name} to be {state}")

    def start_vm(self, name):
        self.client.vm(self.path(name), "Start")
        self.wait_state(name, "running")

    def wait_inhibitor(self):
        """Waits until logind lists winvm's shutdown delay inhibitor, exactly one."""
        wait_until(lambda: self.logind.ours(), what="winvm's inhibitor in ListInhibitors")
        ours = self.logind.ours()
        self.assertEqual(len(ours), 1, ours)
        what, who, why, mode, uid, pid = ours[0]
        self.assertEqual((what, who, mode), ("shutdown", "winvm", "delay"))
        self.assertTrue(why)

    def wait_released(self):
        wait_until(lambda: not self.logind.ours(), what="winvm to release its inhibitor")

    def log_since(self, marker):
        log = self.daemon.log()
        return log[log.rindex(marker):] if marker in log else ""

    def first_running(self, name):
        """When the first PropertiesChanged State=running of @name arrived."""
        path = self.path(name)
        times = [t for t, p, s in self.states if p == path and s == "running"]
        return times[0] if times else None

    def wait_running(self, *names, timeout=20):
        wait_until(lambda: all(self.first_running(n) is not None for n in names), timeout,
                   f"{', '.join(names)} to announce State=running (seen {self.states})")


# ---- the inhibitor ---------------------------------------------------------------

class InhibitorTest(HostTest):
    PROFILES = {"one": profile("one", 2)}

    def test_taken_at_start(self):
        self.wait_inhibitor()

    def test_taken_again_when_logind_restarts(self):
        self.wait_inhibitor()
        self.logind.stop()
        wait_until(lambda: not self.client.name_has_owner("org.freedesktop.login1"),
                   what="the logind mock to leave the bus")
        self.start_logind()  # a new logind knows no inhibitors
        self.wait_inhibitor()
        # and it still acts on a shutdown from the new logind
        self.start_vm("one")
        self.logind.prepare_for_shutdown(True)
        self.wait_state("one", "shut-off")
        self.wait_released()

    def test_nothing_running(self):
        self.wait_inhibitor()
        self.logind.prepare_for_shutdown(True)
        self.wait_released()
        self.assertEqual(self.state("one"), "undefined")
        self.logind.prepare_for_shutdown(False)
        self.wait_inhibitor()

    def test_serves_without_logind(self):
        self.logind.stop()
        wait_until(lambda: not self.client.name_has_owner("org.freedesktop.login1"),
                   what="the logind mock to leave the bus")
        # the daemon keeps serving without logind
        self.start_vm("one")
        self.client.manager("ShutdownAll", v("(u)", 0))
        self.assertEqual(self.state("one"), "shut-off")


# ---- PrepareForShutdown ---------------------------------------------------------------

POLICY_PROFILES = {
    "acpi": profile("acpi", 2, on_host_shutdown="shutdown", shutdown_timeout="10s"),
    "saver": profile("saver", 3, on_host_shutdown="save", shutdown_timeout="10s"),
    "killer": profile("killer", 4, on_host_shutdown="destroy", shutdown_timeout="10s"),
    "idle": profile("idle", 5, on_host_shutdown="destroy"),
    "stopped": profile("stopped", 6, on_host_shutdown="save"),
}
FINAL = {"acpi": "shut-off", "saver": "saved", "killer": "shut-off"}


class PrepareForShutdownTest(HostTest):
    PROFILES = POLICY_PROFILES

    def setUp(self):
        super().setUp()
        self.wait_inhibitor()
        for name in FINAL:
            self.start_vm(name)
        # "stopped" was defined and ran once, "idle" never was
        self.start_vm("stopped")
        self.client.vm(self.path("stopped"), "ForceOff")
        self.wait_state("stopped", "shut-off")

    def test_every_running_vm_by_its_policy_then_released(self):
        marker = f"==== winvmd start #{self.daemon.starts}"
        self.logind.prepare_for_shutdown(True)
        self.wait_released()
        # the lock went only after every VM was done
        log = self.log_since(marker)
        released = log.index("released the shutdown inhibitor")
        for name, policy in (("acpi", "shutdown"), ("saver", "save"), ("killer", "destroy")):
            line = f"{name}: host shutdown by {policy}: done after "
            self.assertIn(line, log)
            self.assertLess(log.index(line), released, name)
        for name, state in FINAL.items():
            self.wait_state(name, state)
        # VMs that were not running are left alone
        self.assertNotIn("idle: host shutdown", log)
        self.assertNotIn("stopped: host shutdown", log)
        self.assertEqual(self.state("idle"), "undefined")
        self.assertEqual(self.state("stopped"), "shut-off")
        # no InhibitDelayMaxUSec from this logind: nothing to warn about
        self.assertNotIn("InhibitDelayMaxSec", log)

    def test_cancelled_shutdown_takes_it_again(self):
        self.logind.prepare_for_shutdown(True)
        self.wait_released()
        for name, state in FINAL.items():
            self.wait_state(name, state)
        self.logind.prepare_for_shutdown(False)
        self.wait_inhibitor()
        # a second shutdown works like the first
        self.start_vm("killer")
        self.start_vm("saver")  # restored from its managed save
        self.logind.prepare_for_shutdown(True)
        self.wait_released()
        self.wait_state("killer", "shut-off")
        self.wait_state("saver", "saved")

    def test_shutdown_all_without_logind(self):
        self.logind.stop()
        wait_until(lambda: not self.client.name_has_owner("org.freedesktop.login1"),
                   what="the logind mock to leave the bus")
        marker = f"==== winvmd start #{self.daemon.starts}"
        self.client.manager("ShutdownAll", v("(u)", 0))
        log = self.log_since(marker)
        for name, policy in (("acpi", "shutdown"), ("saver", "save"), ("killer", "destroy")):
            self.assertIn(f"{name}: host shutdown by {policy}: done after ", log)
        for name, state in FINAL.items():
            self.wait_state(name, state)
        self.assertEqual(self.state("idle"), "undefined")
        self.assertEqual(self.state("stopped"), "shut-off")
        # nothing running any more: returns at once
        self.client.manager("ShutdownAll", v("(u)", 0))


class DelayMaxTest(HostTest):
    """logind waits at most InhibitDelayMaxSec (here 5 s) for the inhibitor."""

    PROFILES = {
        "slow": profile("slow", 2, shutdown_timeout="30s"),
        "quick": profile("quick", 3, shutdown_timeout="3s"),
    }
    DELAY_MAX_USEC = 5 * 1000 * 1000

    def test_warns_when_a_timeout_is_longer(self):
        self.wait_inhibitor()
        self.start_vm("slow")
        self.start_vm("quick")
        self.logind.prepare_for_shutdown(True)
        self.wait_released()
        self.wait_state("slow", "shut-off")
        self.wait_state("quick", "shut-off")
        log = self.daemon.log()
        self.assertRegex(log, r"shutdown-timeout \(30 s\) is longer than logind's "
                              r"InhibitDelayMaxSec \(5 s\); forcing off at [1-4] s")

    def test_no_warning_when_every_timeout_fits(self):
        self.wait_inhibitor()
        self.start_vm("quick")
        self.logind.prepare_for_shutdown(True)
        self.wait_released()
        self.wait_state("quick", "shut-off")
        self.assertNotIn("InhibitDelayMaxSec", self.daemon.log())


# ---- host sleep ----------------------------------------------------------------

SLEEP_PROFILES = {
    "blocker": profile("blocker", 2, on_host_sleep="block"),
    "pauser": profile("pauser", 3, on_host_sleep="pause"),
    "saver": profile("saver", 4, on_host_sleep="save"),
    "ignorer": profile("ignorer", 5, on_host_sleep="ignore"),
    "userpaused": profile("userpaused", 6, on_host_sleep="pause"),
}


class SleepTest(HostTest):
    """[vm] on-host-sleep: the sleep inhibitors follow the running VMs;
    PrepareForSleep pauses and saves them, and the wake brings back only what
    winvm paused or saved."""

    PROFILES = SLEEP_PROFILES

    def setUp(self):
        super().setUp()
        self.wait_inhibitor()  # the shutdown one: logind is known

    def wait_locks(self, want):
        wait_until(lambda: self.logind.sleep_locks() == want,
                   what=f"winvm's sleep inhibitors to be {want} "
                        f"(they are {self.logind.sleep_locks()})")

    def test_inhibitors_only_while_vms_run(self):
        self.assertEqual(self.logind.sleep_locks(), [])
        self.start_vm("ignorer")
        self.assertEqual(self.client.get(self.path("ignorer"), "BlockingSleep"), False)
        self.start_vm("blocker")
        self.wait_locks([("block", 1)])
        self.assertIs(self.client.get(self.path("blocker"), "BlockingSleep"), True)
        self.start_vm("pauser")
        self.wait_locks([("block", 1), ("delay", 1)])
        self.start_vm("saver")  # a second VM needing the delay lock: still one lock
        self.wait_locks([("block", 1), ("delay", 1)])
        # logind was asked once for each, with a reason
        calls = self.logind.inhibit_calls("sleep")
        self.assertEqual(sorted(m for m, _ in calls), ["block", "delay"], calls)
        self.assertTrue(all(why for _, why in calls))
        # the lock's fd is closed once no VM needing it runs
        self.client.vm(self.path("blocker"), "ForceOff")
        self.wait_locks([("delay", 1)])
        self.client.vm(self.path("blocker"), "Start")
        self.wait_locks([("block", 1), ("delay", 1)])
        self.client.vm(self.path("blocker"), "ForceOff")
        self.client.vm(self.path("pauser"), "ForceOff")
        self.wait_locks([("delay", 1)])  # the saver still runs
        self.client.vm(self.path("saver"), "ForceOff")
        self.wait_locks([])
        self.assertEqual(self.state("ignorer"), "running")
        self.assertEqual([m for m, _ in self.logind.inhibit_calls("sleep")],
                         ["block", "delay", "block"])
        # the shutdown lock is untouched by all this
        self.assertEqual([(i[0], i[3]) for i in self.logind.ours()], [("shutdown", "delay")])

    def test_pause_save_and_back(self):
        for name in ("pauser", "saver", "ignorer", "userpaused"):
            self.start_vm(name)
        self.client.vm(self.path("userpaused"), "Suspend")  # the user's pause
        self.wait_state("userpaused", "paused")
        self.wait_locks([("delay", 1)])
        marker = f"==== winvmd start #{self.daemon.starts}"

        self.logind.prepare_for_sleep(True)
        self.wait_state("pauser", "paused")
        self.wait_state("saver", "saved")
        self.wait_locks([])  # released once both were done
        self.assertEqual(self.state("ignorer"), "running")
        self.assertEqual(self.state("userpaused"), "paused")
        log = self.log_since(marker)
        self.assertIn("pauser: host sleep: paused after ", log)
        self.assertIn("saver: host sleep: saved after ", log)
        released = log.index("released the sleep inhibitor (delay)")
        self.assertLess(log.index("pauser: host sleep: paused"), released)
        self.assertLess(log.index("saver: host sleep: saved"), released)
        self.assertNotIn("ignorer: host sleep", log)
        self.assertNotIn("userpaused: host sleep: paused", log)
        self.assertEqual(self.client.get(self.path("saver"), "LastStop")[0], "saved")

        self.logind.prepare_for_sleep(False)
        self.wait_state("pauser", "running")
        self.wait_state("saver", "running")  # started again from its managed save
        self.wait_locks([("delay", 1)])
        log = self.log_since(marker)
        self.assertIn("pauser: host wake: resumed after ", log)
        self.assertIn("saver: host wake: restored after ", log)
        # winvm did not pause it: it stays paused
        self.assertEqual(self.state("userpaused"), "paused")
        self.assertNotIn("userpaused: host wake", log)
        self.assertEqual(self.state("ignorer"), "running")

        # a second sleep works like the first
        self.logind.prepare_for_sleep(True)
        self.wait_state("pauser", "paused")
        self.wait_state("saver", "saved")
        self.wait_locks([])
        self.logind.prepare_for_sleep(False)
        self.wait_state("pauser", "running")
        self.wait_state("saver", "running")

    def test_a_vm_resumed_meanwhile_is_left(self):
        self.start_vm("pauser")
        self.logind.prepare_for_sleep(True)
        self.wait_state("pauser", "paused")
        self.wait_locks([])
        self.client.vm(self.path("pauser"), "Resume")  # somebody else, before the wake
        self.wait_state("pauser", "running")
        self.logind.prepare_for_sleep(False)
        self.wait_locks([("delay", 1)])
        wait_until(lambda: "pauser: host wake: it is running now, not paused; left as it is"
                   in self.daemon.log(), what="the wake to leave pauser alone")
        self.assertEqual(self.state("pauser"), "running")

    def test_nothing_to_do(self):
        self.start_vm("ignorer")
        marker = f"==== winvmd start #{self.daemon.starts}"
        self.logind.prepare_for_sleep(True)
        wait_until(lambda: "host sleep: every VM is ready" in self.log_since(marker),
                   what="winvm to be ready for the sleep")
        self.logind.prepare_for_sleep(False)
        wait_until(lambda: "host woke" in self.log_since(marker), what="winvm to see the wake")
        self.assertEqual(self.state("ignorer"), "running")
        self.assertEqual(self.logind.sleep_locks(), [])
        self.assertEqual(self.logind.inhibit_calls("sleep"), [])

    def test_blocking_vm_warned_when_the_host_sleeps_anyway(self):
        self.start_vm("blocker")
        self.wait_locks([("block", 1)])
        self.logind.prepare_for_sleep(True)  # e.g. systemctl suspend -i
        wait_until(lambda: "blocker: the host goes to sleep although it runs with "
                           "on-host-sleep = block" in self.daemon.log(),
                   what="the warning about blocker")
        self.assertEqual(self.state("blocker"), "running")  # untouched
        self.logind.prepare_for_sleep(False)
        self.assertEqual(self.logind.sleep_locks(), [("block", 1)])

    def test_taken_again_when_logind_restarts(self):
        self.start_vm("blocker")
        self.start_vm("saver")
        self.wait_locks([("block", 1), ("delay", 1)])
        self.logind.stop()
        wait_until(lambda: not self.client.name_has_owner(LOGIND_NAME),
                   what="the logind mock to leave the bus")
        self.start_logind()
        self.wait_locks([("block", 1), ("delay", 1)])

    def test_logind_restart_during_sleep_wakes_the_vms(self):
        self.start_vm("pauser")
        self.logind.prepare_for_sleep(True)
        self.wait_state("pauser", "paused")
        self.wait_locks([])
        self.logind.stop()
        wait_until(lambda: not self.client.name_has_owner(LOGIND_NAME),
                   what="the logind mock to leave the bus")
        self.start_logind()  # it knows of no sleep: none will end
        self.wait_state("pauser", "running")
        self.wait_locks([("delay", 1)])


class SleepCapTest(HostTest):
    """A pause that hangs (its libvirtd stopped with SIGSTOP) does not hold the
    host's sleep past logind's InhibitDelayMaxSec (here 3 s: released at 2 s);
    it is resumed at the wake once it is done."""

    PROFILES = {"pauser": SLEEP_PROFILES["pauser"]}
    DELAY_MAX_USEC = 3 * 1000 * 1000

    def libvirt_uri(self):
        self.libvirtd = PrivateLibvirtd(self.workdir)
        self.addCleanup(self.libvirtd.stop)
        self.addCleanup(self.libvirtd.resume)  # never leave it stopped
        self.libvirtd.start()
        return self.libvirtd.uri

    def test_released_at_the_cap(self):
        self.wait_inhibitor()
        self.start_vm("pauser")
        wait_until(lambda: [i[3] for i in self.logind.ours() if i[0] == "sleep"] == ["delay"],
                   what="the sleep delay inhibitor")
        self.libvirtd.pause()
        began = time.monotonic()
        self.logind.prepare_for_sleep(True)
        wait_until(lambda: not [i for i in self.logind.ours() if i[0] == "sleep"],
                   timeout=10, what="the sleep delay inhibitor to go at the cap")
        took = time.monotonic() - began
        self.assertGreaterEqual(took, 1.5)
        self.assertLess(took, 3.0)  # before logind would stop waiting
        self.assertIn("host sleep: still pausing or saving pauser before logind's "
                      "InhibitDelayMaxSec ends", self.daemon.log())
        self.libvirtd.resume()
        self.wait_state("pauser", "paused", timeout=30)
        self.logind.prepare_for_sleep(False)
        self.wait_state("pauser", "running", timeout=30)
        wait_until(lambda: [i[3] for i in self.logind.ours() if i[0] == "sleep"] == ["delay"],
                   what="the sleep delay inhibitor again")


# ---- autostart ---------------------------------------------------------------

# How much earlier than its autostart-delay a VM may start, as seen here:
# signal delivery jitter, plus up to 1/4 s because winvmd times the delay
# with g_timeout_add_seconds(), which GLib rounds to whole seconds (up to
# 250 ms early). Lower it to 0.05 once winvmd uses a millisecond timeout.
EARLY = 0.3

class AutostartTest(HostTest):
    LOGIND = False
    PROFILES = {
        "second": profile("second", 2, autostart=True, autostart_order=2, autostart_delay="1s"),
        "first": profile("first", 3, autostart=True, autostart_order=1),
        "third": profile("third", 4, autostart=True, autostart_order=3, autostart_delay="2s"),
        "manual": profile("manual", 5),
    }

    def test_order_and_delays(self):
        self.wait_running("first", "second", "third")
        t1, t2, t3 = (self.first_running(n) for n in ("first", "second", "third"))
        self.assertLess(t1, t2)
        self.assertLess(t2, t3)
        # each waits its autostart-delay after the previous one runs
        self.assertGreaterEqual(t2 - t1, 1.0 - EARLY, self.states)
        self.assertGreaterEqual(t3 - t2, 2.0 - EARLY, self.states)
        self.assertLess(t3 - t1, 3.0 + 5.0, self.states)
        wait_until(lambda: "autostart done: 3 started, 0 failed" in self.daemon.log(),
                   what="autostart to finish")
        self.assertEqual(self.state("manual"), "undefined")
        self.assertEqual(self.client.get(self.path("manual"), "Autostart"), False)
        self.assertEqual(self.client.get(self.path("first"), "Autostart"), True)
        self.assertTrue(os.path.exists(os.path.join(self.daemon.runtime_dir, "autostart-done")))

    def test_once_per_boot(self):
        self.wait_running("first", "second", "third")
        wait_until(lambda: "autostart done:" in self.daemon.log(), what="autostart to finish")
        # a restarted daemon (same runtime directory: same boot) starts nothing;
        # the test driver forgets every domain with the process
        self.daemon.stop()
        self.daemon.start(self.client)
        marker = f"==== winvmd start #{self.daemon.starts}"
        wait_until(lambda: "autostart already ran since boot" in self.log_since(marker),
                   what="the restarted winvmd to skip autostart")
        iterate()
        for name in ("first", "second", "third", "manual"):
            self.assertEqual(self.state(name), "undefined", name)
        self.assertNotIn("started at boot", self.log_since(marker))


class AutostartFailureTest(HostTest):
    LOGIND = False
    # the ryzen host has 16 CPUs and pin = auto keeps some for the host
    PROFILES = {
        "broken": profile("broken", "auto", vcpus=16, autostart=True, autostart_order=1),
        "after": profile("after", 2, autostart=True, autostart_order=2),
        "last": profile("last", 3, autostart=True, autostart_order=3, autostart_delay="1s"),
    }

    def test_a_failing_vm_does_not_stop_the_rest(self):
        self.wait_running("after", "last")
        wait_until(lambda: "autostart done: 2 started, 1 failed" in self.daemon.log(),
                   what="autostart to finish")
        log = self.daemon.log()
        self.assertRegex(log, r"broken: autostart failed: .*pin-no-room")
        self.assertNotEqual(self.state("broken"), "running")
        self.assertGreaterEqual(self.first_running("last") - self.first_running("after"),
                                1.0 - EARLY, self.states)


class AutostartRunningTest(HostTest):
    """A test driver host that runs winvm's domain "test" (it kept running
    while winvmd restarted): that VM already runs when winvmd starts."""

    LOGIND = False

    def libvirt_uri(self):
        return test_driver_with_domain(self.workdir, "test")
    PROFILES = {
        "test": profile("test", 2, autostart=True, autostart_order=1),
        "next": profile("next", 3, autostart=True, autostart_order=2),
    }

    def test_already_running_is_left_alone(self):
        self.wait_running("next")
        wait_until(lambda: "autostart done: 1 started, 0 failed" in self.daemon.log(),
                   what="autostart to finish")
        self.assertIn("test: already running; autostart leaves it alone", self.daemon.log())
        self.assertEqual(self.state("test"), "running")


class AutostartThenShutdownTest(HostTest):
    """The host shuts down while autostart still waits for a VM's delay."""

    PROFILES = {
        "early": profile("early", 2, autostart=True, autostart_order=1),
        "late": profile("late", 3, autostart=True, autostart_order=2, autostart_delay="2s"),
    }

    def test_no_vm_starts_after_the_host_shutdown(self):
        self.wait_running("early")
        self.wait_inhibitor()
        self.logind.prepare_for_shutdown(True)
        self.wait_released()
        self.wait_state("early", "shut-off")
        # "late" was due 2 s after "early" ran: give the queue that long to
        # end (today it logs "autostart done"; a queue dropped at shutdown
        # may end silently)
        try:
            wait_until(lambda: "autostart done:" in self.daemon.log(), timeout=6,
                       what="autostart to finish")
        except AssertionError:
            pass
        iterate()
        self.assertNotEqual(self.state("late"), "running",
                            "autostart started a VM after the host shutdown was handled")


if __name__ == "__main__":
    unittest.main()
