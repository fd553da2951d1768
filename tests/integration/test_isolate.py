#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The host steps aside while pinned VMs run: winvmd on a private system bus
with a mock systemd manager (tests/integration/systemd_mock.py), the fake
ryzen host (16 CPUs) with cpufreq, IRQ and workqueue files added, libvirt's
test driver. Asserts the exact SetUnitProperties calls and file contents on
start, on a second VM, on each stop, and after winvmd is SIGKILLed between
start and stop and started again; and that without systemd a start goes on
with one isolation-unavailable warning."""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gi.repository import GLib  # noqa: E402

from daemon_fixture import (  # noqa: E402
    Bus, Client, Daemon, MockService, PrivateLibvirtd, copy_host, new_workdir, print_log,
    wait_until)

SYSTEMD_NAME = "org.freedesktop.systemd1"
SYSTEMD_PATH = "/org/freedesktop/systemd1"
MOCK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "systemd_mock.py")
UNITS = ["system.slice", "user.slice", "init.scope"]
# user.slice starts restricted to CPUs 0-15 (so its restore is not "empty")
START_UNITS = {"system.slice": [], "user.slice": [0xff, 0xff], "init.scope": []}


def bitmask(cpus):
    """systemd's AllowedCPUs bytes: bit i of byte i / 8 is CPU i."""
    if not cpus:
        return []
    out = [0] * (max(cpus) // 8 + 1)
    for c in cpus:
        out[c // 8] |= 1 << (c % 8)
    return out


def cpus(text):
    out = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


ALL = set(range(16))


def profile(name, pin, **host):
    lines = ["[vm]", f"name = {name}", "template = minimal", "hypervisor = qemu",
             "memory = 128MiB", f"vcpus = {len(pin.split(','))}", "", "[cpu]", f"pin = {pin}",
             "", "[hyperv]", "enlightenments = none", ""]
    if host:
        lines += ["[host]"] + [f"{k} = {v}" for k, v in host.items()] + [""]
    return "\n".join(lines)


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class Systemd(MockService):
    def __init__(self, address, logfile):
        super().__init__(address, logfile, MOCK, SYSTEMD_NAME, SYSTEMD_PATH, mode="a",
                         parameters={"units": START_UNITS})

    def set_calls(self):
        calls = self.client.call(SYSTEMD_PATH, "org.freedesktop.DBus.Mock", "SetCalls", None,
                                 "(a(sbay))", dest=SYSTEMD_NAME)[0]
        return [(n, r, list(d)) for n, r, d in calls]

    def allowed(self, unit):
        path = SYSTEMD_PATH + "/unit/" + "".join(
            c if c.isalnum() else "_%02x" % ord(c) for c in unit)
        iface = "org.freedesktop.systemd1." + ("Scope" if unit.endswith(".scope") else "Slice")
        return list(self.client.call(path, "org.freedesktop.DBus.Properties", "Get",
                                     GLib.Variant("(ss)", (iface, "AllowedCPUs")), "(v)",
                                     dest=SYSTEMD_NAME)[0])


class IsolateTest(unittest.TestCase):
    PROFILES = {
        # pinned, isolated by default, governor and IRQs too
        "one": profile("one", "2,3", governor="performance", irq="steer"),
        # pinned, isolated by default only
        "two": profile("two", "4,5"),
        # pinned, told not to
        "free": profile("free", "6", isolate="false"),
    }
    SYSTEMD = True

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            if getattr(self, "daemon", None):
                print_log(f"winvmd log of {self.id()}", self.daemon.log())
            if getattr(self, "systemd", None):
                print_log("systemd mock log", read(os.path.join(self.workdir, "systemd.log")))
        if getattr(self, "workdir", None):
            shutil.rmtree(self.workdir, ignore_errors=True)
        return result

    def setUp(self):
        self.workdir = new_workdir()
        self.sysfs, self.procfs = copy_host("ryzen", self.workdir)
        for cpu in range(16):
            write(self.gov(cpu), "schedutil\n")
        write(self.irq(0), "0-15\n")
        write(self.irq(24), "3\n")
        write(self.wq(), "ffff\n")
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir)
        for name, text in self.PROFILES.items():
            write(os.path.join(self.config_dir, name + ".conf"), text)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.systemd = None
        if self.SYSTEMD:
            self.systemd = Systemd(self.bus.address, os.path.join(self.workdir, "systemd.log"))
            self.addCleanup(self.systemd.stop)
        self.libvirt_uri = self.libvirt()
        self.daemon = Daemon(self.bus, self.workdir, self.config_dir, self.sysfs, self.procfs,
                             libvirt_uri=self.libvirt_uri)
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)

    def libvirt(self):
        return "test:///default"

    # ---- helpers ----------------------------------------------------------

    def gov(self, cpu):
        return os.path.join(self.sysfs, f"devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")

    def irq(self, n):
        return os.path.join(self.procfs, f"irq/{n}/smp_affinity_list")

    def wq(self):
        return os.path.join(self.sysfs, "devices/virtual/workqueue/cpumask")

    def path(self, name):
        return self.client.vm_path(name)

    def state(self, name):
        return self.client.get(self.path(name), "State")

    def start(self, name):
        self.client.vm(self.path(name), "Start")
        wait_until(lambda: self.state(name) == "running", what=f"{name} running")

    def force_off(self, name):
        self.client.vm(self.path(name), "ForceOff")
        wait_until(lambda: self.state(name) == "shut-off", what=f"{name} shut off")

    def host_changes(self):
        return self.client.manager("HostChanges", reply_type="(a(sssssas))")[0]

    def changes_of(self, what):
        return [c for c in self.host_changes() if c[0] == what]

    def calls_since(self, n):
        return self.systemd.set_calls()[n:]

    def wait_calls(self, n, count):
        wait_until(lambda: len(self.systemd.set_calls()) >= n + count,
                   what=f"{count} SetUnitProperties calls")
        return self.calls_since(n)

    def expect_units(self, allowed, n):
        """The next three calls set every unit to @allowed; returns the count."""
        calls = self.wait_calls(n, 3)
        self.assertEqual(calls, [(u, True, bitmask(allowed)) for u in UNITS])
        return n + 3

    def expect_restored(self, n):
        calls = self.wait_calls(n, 3)
        self.assertEqual(sorted(calls), sorted((u, True, START_UNITS[u]) for u in UNITS))
        for u in UNITS:
            self.assertEqual(self.systemd.allowed(u), START_UNITS[u])
        return n + 3

    def wait_ledger_empty(self):
        wait_until(lambda: self.host_changes() == [], what="every host change put back")
        self.assertFalse(os.path.exists(os.path.join(self.daemon.runtime_dir, "host.ledger")))

    def assert_pristine(self):
        for cpu in range(16):
            self.assertEqual(read(self.gov(cpu)), "schedutil\n")
        self.assertEqual(read(self.irq(0)), "0-15\n")
        self.assertEqual(read(self.irq(24)), "3\n")
        self.assertEqual(read(self.wq()), "ffff\n")


class WithSystemd(IsolateTest):
    def test_check_and_plan_before_anything_is_applied(self):
        plan = self.client.manager("Plan", GLib.Variant("(s)", ("one",)), "(a{sv})")[0]
        self.assertEqual(plan["vm-cpus"], "2-3")
        self.assertEqual(plan["host-cpus"], "0-1,4-15")
        self.assertTrue(plan["isolate"])
        self.assertEqual(plan["governor"], "performance")
        self.assertEqual(plan["irq"], "steer")
        free = self.client.manager("Plan", GLib.Variant("(s)", ("free",)), "(a{sv})")[0]
        self.assertFalse(free["isolate"])
        codes = [f[1] for f in self.client.manager("Check", GLib.Variant("(s)", ("one",)),
                                                   "(a(ssss))")[0]]
        self.assertNotIn("isolation-unavailable", codes)
        self.assertNotIn("irqbalance-running", codes)
        # irqbalance appears: check says so (a fresh plan: Reload forgets cached ones)
        write(os.path.join(self.procfs, "4242", "comm"), "irqbalance\n")
        self.client.manager("Reload", None, "(as)")
        codes = [f[1] for f in self.client.manager("Check", GLib.Variant("(s)", ("one",)),
                                                   "(a(ssss))")[0]]
        self.assertIn("irqbalance-running", codes)
        # nothing was applied by planning
        self.assertEqual(self.systemd.set_calls(), [])
        self.assertEqual(self.host_changes(), [])
        self.assert_pristine()

    def test_start_second_vm_stop_stop(self):
        n = 0
        self.start("one")
        n = self.expect_units(ALL - {2, 3}, n)
        self.assertEqual(read(self.gov(2)), "performance\n")
        self.assertEqual(read(self.gov(3)), "performance\n")
        self.assertEqual(read(self.gov(4)), "schedutil\n")
        self.assertEqual(read(self.irq(0)), "0-1,4-15\n")
        self.assertEqual(read(self.irq(24)), "0-1,4-15\n")
        self.assertEqual(read(self.wq()), "fff3\n")
        shown = {(c[0], c[1]): c for c in self.host_changes()}
        self.assertEqual(shown[("isolation", "system.slice")],
                         ("isolation", "system.slice", "all", "0-1,4-15", "applied", ["one"]))
        self.assertEqual(shown[("isolation", "user.slice")][2], "0-15")
        self.assertEqual(shown[("governor", self.gov(2))],
                         ("governor", self.gov(2), "schedutil", "performance", "applied", ["one"]))
        self.assertEqual(shown[("irq", self.irq(0))][2:4], ("0-15", "0-1,4-15"))

        # a second isolated VM: the units recomputed, IRQs stay off one's only
        self.start("two")
        n = self.expect_units(ALL - {2, 3, 4, 5}, n)
        self.assertEqual(read(self.irq(0)), "0-1,4-15\n")
        self.assertEqual(read(self.gov(4)), "schedutil\n")
        shown = {(c[0], c[1]): c for c in self.host_changes()}
        self.assertEqual(shown[("isolation", "init.scope")][5], ["one", "two"])
        # previous stays the host's own value, never one winvmd set
        self.assertEqual(shown[("isolation", "init.scope")][2], "all")

        # a VM that is not isolated changes nothing
        self.start("free")
        self.force_off("free")

        # the first stops: the units keep off two's CPUs, the rest goes back
        self.force_off("one")
        n = self.expect_units(ALL - {4, 5}, n)
        wait_until(lambda: read(self.gov(2)) == "schedutil\n", what="governor restored")
        self.assertEqual(read(self.irq(0)), "0-15\n")
        self.assertEqual(read(self.irq(24)), "3\n")
        self.assertEqual(read(self.wq()), "ffff\n")
        wait_until(lambda: all(c[5] == ["two"] for c in self.host_changes()),
                   what="only two's changes left")

        # the last: every unit exactly as before
        self.force_off("two")
        n = self.expect_restored(n)
        self.wait_ledger_empty()
        self.assert_pristine()
        self.assertEqual(len(self.systemd.set_calls()), n)

    def test_sigkill_between_start_and_stop(self):
        self.start("one")
        n = self.expect_units(ALL - {2, 3}, 0)
        self.daemon.kill9()
        # the test driver's domains died with winvmd: the restarted daemon
        # finds one stopped and puts everything back, once
        self.daemon.start(self.client)
        n = self.expect_restored(n)
        self.wait_ledger_empty()
        self.assert_pristine()
        self.assertIn(self.state("one"), ("shut-off", "undefined"))
        # and starts again cleanly from the host's own values
        self.start("one")
        n = self.expect_units(ALL - {2, 3}, n)
        self.force_off("one")
        n = self.expect_restored(n)
        self.wait_ledger_empty()
        self.assertEqual(len(self.systemd.set_calls()), n)


class SurvivesWithLibvirtd(IsolateTest):
    """libvirtd of its own (test driver over a socket): the VM outlives a
    SIGKILLed winvmd, and the restarted one applies nothing twice."""

    def libvirt(self):
        self.libvirtd = PrivateLibvirtd(self.workdir)
        self.libvirtd.start()
        self.addCleanup(self.libvirtd.stop)
        # libvirtd frees the test driver's state with its last connection:
        # virsh holds one while winvmd is down
        virsh = shutil.which("virsh") or "/usr/bin/virsh"
        self.holder = subprocess.Popen([virsh, "-q", "-c", self.libvirtd.uri],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
        self.addCleanup(self.release_holder)
        self.holder.stdin.write("uri\n")  # needs the connection
        self.holder.stdin.flush()
        while True:
            line = self.holder.stdout.readline()
            self.assertNotEqual(line, "", "virsh could not connect to the private libvirtd")
            if line.strip() == self.libvirtd.uri:
                break
        return self.libvirtd.uri

    def release_holder(self):
        self.holder.stdin.close()
        self.holder.wait(timeout=10)
        self.holder.stdout.close()

    def test_restart_keeps_what_a_running_vm_needs(self):
        self.start("one")
        n = self.expect_units(ALL - {2, 3}, 0)
        before = self.host_changes()
        self.daemon.kill9()
        self.daemon.start(self.client)
        wait_until(lambda: self.state("one") == "running", what="one still running")
        # recovery ran (the log says so) and applied nothing again
        wait_until(lambda: "host ledger recovered" in self.daemon.log().split(
            "winvmd start #2")[-1], what="recovery")
        self.assertEqual(self.systemd.set_calls()[n:], [])
        self.assertEqual(sorted(self.host_changes()), sorted(before))
        self.assertEqual(read(self.gov(2)), "performance\n")
        # its stop puts back the host's values, not winvm's
        self.force_off("one")
        n = self.expect_restored(n)
        self.wait_ledger_empty()
        self.assert_pristine()


class WithoutSystemd(IsolateTest):
    SYSTEMD = False

    def test_start_goes_on_with_one_warning(self):
        codes = [f[1] for f in self.client.manager("Check", GLib.Variant("(s)", ("two",)),
                                                   "(a(ssss))")[0]]
        self.assertIn("isolation-unavailable", codes)
        self.start("two")
        self.force_off("two")
        self.start("one")
        wait_until(lambda: read(self.gov(2)) == "performance\n", what="governor set")
        log = self.daemon.log()
        self.assertEqual(log.count("isolation-unavailable: "), 1, log)
        self.assertEqual(self.changes_of("isolation"), [])
        self.force_off("one")
        self.wait_ledger_empty()
        self.assert_pristine()


if __name__ == "__main__":
    unittest.main()
