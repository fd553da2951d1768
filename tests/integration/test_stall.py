#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libvirtd stalls (SIGSTOP) while winvmd's calls wait for it (run under
ASan too).

winvmd talks to a libvirtd of its own (the test driver over a socket, see
PrivateLibvirtd), with a keepalive of 1 s × 2 from winvm.conf so a stall is
noticed in ~3 s instead of ~20. In each round a Start, a Plan, another
Start and a Shutdown are sent to the stopped libvirtd: every one is answered
with a typed LibvirtUnavailable once the keepalive gives up (the workers stay
blocked in libvirt until it answers again), winvmd reconnects within 5 s of
SIGCONT, the blocked calls end, and the next round goes on. Before, winvmd
died with SIGSEGV inside libvirt.so in every round (issue 12)."""

import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon_fixture import (  # noqa: E402
    MANAGER_IFACE, MANAGER_PATH, Bus, Client, Daemon, GLib, PrivateLibvirtd, copy_host,
    iterate, new_workdir, print_log, wait_until)

ROUNDS = int(os.environ.get("WV_STALL_ROUNDS", "10"))
KEEPALIVE = (1, 2)
VM = "org.winvm1.VM"
UNAVAILABLE = "org.winvm1.Error.LibvirtUnavailable"

PROFILE = """[vm]
name = {name}
template = minimal
hypervisor = qemu
memory = 512MiB
vcpus = 2
[cpu]
pin = none
"""


class Stall(unittest.TestCase):
    def setUp(self):
        self.workdir = new_workdir("winvm-stall-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        sysfs, procfs = copy_host("ryzen", self.workdir)
        config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(config_dir)
        for name in ("a", "b", "c", "d"):
            with open(os.path.join(config_dir, name + ".conf"), "w") as f:
                f.write(PROFILE.format(name=name))
        host_config = os.path.join(self.workdir, "winvm.conf")
        with open(host_config, "w") as f:
            f.write("[libvirt]\nkeepalive-interval = %d\nkeepalive-count = %d\n" % KEEPALIVE)
        self.libvirtd = PrivateLibvirtd(self.workdir)
        self.addCleanup(self.libvirtd.stop)
        self.addCleanup(self.libvirtd.resume)  # never leave it stopped
        self.libvirtd.start()
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.daemon = Daemon(self.bus, self.workdir, config_dir, sysfs, procfs,
                             libvirt_uri=self.libvirtd.uri)
        self.daemon.args += ["--host-config", host_config]
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)
        self.wait_connected(True)
        self.paths = {n: self.client.vm_path(n) for n in ("a", "b", "c", "d")}

    def connected(self):
        return self.client.get(MANAGER_PATH, "LibvirtConnected", MANAGER_IFACE)

    def wait_connected(self, value, timeout=30):
        wait_until(lambda: self.connected() is value, timeout, what=f"LibvirtConnected {value}")

    def retry(self, path, method, args=None, timeout=30):
        """@method until it is not refused as Busy (a call cut off by the
        stall still holds the VM until libvirtd answered it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.client.vm(path, method, args)
            except GLib.Error as e:
                if "Error.Busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def state(self, name):
        return self.client.get(self.paths[name], "State")

    def test_stall_with_calls_in_flight(self):
        answers = 0
        reconnects = []
        for r in range(ROUNDS):
            # d runs, a and c are off
            if self.state("d") != "running":
                self.retry(self.paths["d"], "Start")
            for n in ("a", "c"):
                if self.state(n) == "running":
                    self.retry(self.paths[n], "ForceOff")
            self.libvirtd.pause()
            t0 = time.monotonic()
            pending = {
                "Start a": self.client.call_async(self.paths["a"], VM, "Start", timeout=60),
                "Plan b": self.client.call_async(MANAGER_PATH, MANAGER_IFACE, "Plan",
                                                 GLib.Variant("(s)", ("b",)), timeout=60),
                "Start c": self.client.call_async(self.paths["c"], VM, "Start", timeout=60),
                "Shutdown d": self.client.call_async(self.paths["d"], VM, "Shutdown",
                                                     GLib.Variant("(u)", (30,)), timeout=60),
            }
            limit = KEEPALIVE[0] * (KEEPALIVE[1] + 1) + 10
            wait_until(lambda: all(pending.values()), limit, what=f"round {r}: every answer")
            took = time.monotonic() - t0
            for what, result in pending.items():
                self.assertIn("error", result, f"round {r}: {what} succeeded against a "
                              f"stopped libvirtd: {result}")
                self.assertEqual(result["error"][0], UNAVAILABLE, f"round {r}: {what}: {result}")
                answers += 1
            self.assertIs(self.connected(), False, f"round {r}: still shown connected")
            self.assertTrue(self.daemon.alive(), f"round {r}: winvmd died\n{self.daemon.log()}")

            self.libvirtd.resume()
            t1 = time.monotonic()
            self.wait_connected(True, timeout=10)
            reconnects.append(time.monotonic() - t1)
            self.assertLess(reconnects[-1], 5.0, f"round {r}: reconnect took {reconnects[-1]} s")
            # the calls blocked in libvirt end now; winvmd serves again
            self.retry(self.paths["b"], "Start")
            self.retry(self.paths["b"], "ForceOff")
            self.assertTrue(self.daemon.alive(), f"round {r}: winvmd died\n{self.daemon.log()}")
            print(f"round {r}: 4 calls answered {took:.1f} s after the stall, "
                  f"reconnected {reconnects[-1]:.2f} s after SIGCONT", file=sys.stderr)
        self.daemon.signal(signal.SIGTERM)
        code = self.daemon.proc.wait(timeout=30)
        if code != 0 or "ERROR: AddressSanitizer" in self.daemon.log():
            print_log("winvmd log", self.daemon.log())
        self.assertEqual(code, 0, "winvmd did not exit cleanly")
        print(f"\nFIGURE {ROUNDS} stall rounds: 0 crashes, {answers} calls answered "
              f"LibvirtUnavailable, reconnect after SIGCONT max {max(reconnects):.2f} s",
              file=sys.stderr)


if __name__ == "__main__":
    iterate()
    unittest.main()
