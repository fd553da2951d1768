#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvmd's start-up and exit under fire (run under ASan too):

- calls that arrive while winvmd starts (before its VMs are known, while
  libvirt connects and the boot autostart starts a VM) get answers, never
  a crash: D-Bus is dispatched on winvmd's own main context only, never on
  libvirt's event thread;
- SIGTERM while a Start, a Plan and a reconnect to an unreachable libvirt
  are in flight: winvmd waits for its workers and exits 0, every time."""

import os
import random
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon_fixture import (  # noqa: E402
    BUS_NAME, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, Bus, Client, Daemon, GLib, copy_host,
    iterate, new_workdir, print_log, wait_until)

ROUNDS = int(os.environ.get("WV_LIFETIME_ROUNDS", "10"))

PROFILE = """[vm]
name = {name}
template = minimal
hypervisor = qemu
memory = 512MiB
vcpus = 2
autostart = {autostart}
[cpu]
pin = auto
"""


class Lifetime(unittest.TestCase):
    def setUp(self):
        self.workdir = new_workdir("winvm-life-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.sysfs, self.procfs = copy_host("ryzen", self.workdir)
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir)
        for i in range(8):
            with open(os.path.join(self.config_dir, f"vm{i}.conf"), "w") as f:
                f.write(PROFILE.format(name=f"vm{i}", autostart="true" if i == 0 else "false"))
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)

    def daemon(self, uri="test:///default"):
        d = Daemon(self.bus, self.workdir, self.config_dir, self.sysfs, self.procfs,
                   libvirt_uri=uri, env={"G_DEBUG": "fatal-criticals"})
        self.addCleanup(d.stop)
        return d

    def storm(self, until):
        """Keeps ~40 calls in flight until @until() is true; the replies."""
        calls, answered = [], 0
        kinds = [(MANAGER_PATH, MANAGER_IFACE, "ListVMs", None),
                 (MANAGER_PATH, MANAGER_IFACE, "Check", GLib.Variant("(s)", ("vm1",))),
                 (MANAGER_PATH, MANAGER_IFACE, "Plan", GLib.Variant("(s)", ("vm2",))),
                 (MANAGER_PATH, OM_IFACE, "GetManagedObjects", None),
                 ("/org/winvm1/vm/vm3", "org.freedesktop.DBus.Properties", "GetAll",
                  GLib.Variant("(s)", ("org.winvm1.VM",)))]
        deadline = time.monotonic() + 20
        while not until():
            iterate()
            calls = [c for c in calls if not c]
            while len(calls) < 40:
                path, iface, method, args = random.choice(kinds)
                calls.append(self.client.call_async(path, iface, method, args, timeout=10))
                answered += 1
            time.sleep(0.001)
            self.assertLess(time.monotonic(), deadline, "the storm never ended")
        return answered

    def assert_clean_exit(self, d, what):
        d.signal(signal.SIGTERM)
        try:
            code = d.proc.wait(timeout=30)
        except Exception:
            print_log("winvmd log", d.log())
            raise
        if code != 0:
            print_log("winvmd log", d.log())
        self.assertEqual(code, 0, f"{what}: winvmd exited with {code}")

    def test_calls_while_starting(self):
        total = 0
        for r in range(ROUNDS * 2):
            d = self.daemon()
            d.spawn()
            seen = {}

            def ready():
                seen.setdefault("owner", self.client.name_has_owner(BUS_NAME))
                return (d.proc.poll() is not None
                        or "ready:" in d.log().split("winvmd start #")[-1])

            total += self.storm(ready)
            self.assertIsNone(d.proc.poll(), f"round {r}: winvmd died\n{d.log()}")
            # and while the boot autostart's Start runs
            total += self.storm(lambda: "started at boot" in d.log().split("winvmd start #")[-1]
                                or d.proc.poll() is not None)
            self.assertIsNone(d.proc.poll(), f"round {r}: winvmd died\n{d.log()}")
            self.assert_clean_exit(d, f"round {r}")
            os.unlink(os.path.join(d.runtime_dir, "autostart-done"))
        print(f"\nFIGURE {ROUNDS * 2} start-ups under {total} calls: 0 crashes", file=sys.stderr)

    def test_exit_with_work_in_flight(self):
        for r in range(ROUNDS):
            d = self.daemon()
            d.start(self.client)
            vm = self.client.vm_path(f"vm{1 + r % 7}")
            pending = [self.client.call_async(vm, "org.winvm1.VM", "Start", None),
                       self.client.call_async(MANAGER_PATH, MANAGER_IFACE, "Plan",
                                              GLib.Variant("(s)", ("vm2",)))]
            time.sleep(random.uniform(0, 0.01))
            iterate()
            self.assert_clean_exit(d, f"round {r}")
            self.assertTrue(pending)

    def test_exit_during_reconnect(self):
        # libvirt unreachable: the reconnect thread runs again and again
        uri = "qemu+unix:///system?socket=" + os.path.join(self.workdir, "no-libvirt.sock")
        for r in range(ROUNDS * 2):
            d = self.daemon(uri)
            d.start(self.client)
            wait_until(lambda: "retrying in" in d.log().split("winvmd start #")[-1],
                       what="a failed connect")
            time.sleep(random.uniform(0, 0.6))  # the next attempt is due 0.5 s later
            self.assert_clean_exit(d, f"round {r}")
        print(f"\nFIGURE {ROUNDS * 2} stops during a reconnect: 0 crashes", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
