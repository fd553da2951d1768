#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A Start racing the resync after libvirt reconnects (issue 12, part 6).

Each round kills the private libvirtd (SIGKILL), starts it again and, as
soon as it answers, Starts "hp", a VM backed by 2 MiB hugepages (on the
fake ryzen host's sysfs). The resync that follows the reconnect reads every
VM before the Start defines its domain; the test seam
WV_TEST_RESYNC_DELAY_MS holds that read back until after the Start has
answered, so the stale read ("undefined") lands after the Start's own newer
state every round. After it has landed the VM must still read "running",
its hugepage record must be kept, and ShutdownAll (the host power-off path)
must stop it and give the pages back.

WV_RESYNC_ROUNDS overrides the number of rounds (20)."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from robust import E, Env, GLib, print_log, wait_until  # noqa: E402
from daemon_fixture import error_name  # noqa: E402

ROUNDS = int(os.environ.get("WV_RESYNC_ROUNDS", "20"))
DELAY_MS = 800

HP = """\
[vm]
name = hp
template = minimal
memory = 512MiB
vcpus = 2

[cpu]
pin = none

[memory]
hugepages = 2M
hugepages-allocate = true
"""

OTHER = """\
[vm]
name = other
template = minimal
memory = 256MiB
vcpus = 2

[cpu]
pin = none
"""


class ResyncRaceTest(unittest.TestCase):
    def setUp(self):
        saved = os.environ.get("WV_TEST_RESYNC_DELAY_MS")
        os.environ["WV_TEST_RESYNC_DELAY_MS"] = str(DELAY_MS)
        try:
            self.env = Env(profiles={"hp.conf": HP, "other.conf": OTHER}, private_libvirtd=True,
                           valgrind=False)
        finally:
            if saved is None:
                del os.environ["WV_TEST_RESYNC_DELAY_MS"]
            else:
                os.environ["WV_TEST_RESYNC_DELAY_MS"] = saved
        self.addCleanup(self.env.close)
        self.client = self.env.client
        self.path = dict(self.client.list_vms())["hp"]
        self.record = os.path.join(self.env.daemon.runtime_dir, "hp.hugepages")

    def pools(self):
        sysfs = self.env.daemon.args[self.env.daemon.args.index("--sysfs-root") + 1]
        return [os.path.join(sysfs, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
                os.path.join(sysfs, "devices/system/node/node0/hugepages/hugepages-2048kB/"
                             "nr_hugepages")]

    def pages(self):
        total = 0
        for p in self.pools():
            with open(p) as f:
                total += int(f.read().split()[0])
        return total

    def resyncs(self):
        return self.env.daemon.log().count("resynced ")

    def state(self):
        return self.client.get(self.path, "State")

    def start_as_soon_as_it_answers(self):
        deadline = time.monotonic() + 60
        while True:
            try:
                return self.client.vm(self.path, "Start")
            except GLib.Error as e:
                if error_name(e) != E + "LibvirtUnavailable" or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def round(self, n):
        """What went wrong in round @n (empty: nothing)."""
        problems = []
        resyncs = self.resyncs()
        self.env.libvirt_down(signal.SIGKILL)
        self.client.wait_idle(self.path)
        if self.state() != "unknown":
            # a read begun before libvirtd died must not be applied after
            problems.append(f"State {self.state()!r} while libvirtd is down, not 'unknown'")
        self.env.libvirtd.start()
        self.start_as_soon_as_it_answers()
        started = time.monotonic()
        # the resync's read was held back; wait until it has been applied
        wait_until(lambda: self.resyncs() > resyncs, timeout=30,
                   what=f"round {n}: the resync applied")
        if time.monotonic() - started < DELAY_MS / 1000 / 4:
            problems.append("the resync was applied before the Start could race it")
        self.client.wait_idle(self.path)
        # anything the stale read set off (a re-read) has settled
        time.sleep(0.2)
        self.client.wait_idle(self.path)
        state = self.state()
        if state != "running":
            problems.append(f"State {state!r} after the resync, not 'running'")
        if not os.path.exists(self.record):
            problems.append("the hugepage record was released while the VM runs")
        if self.pages() != 256:
            problems.append(f"{self.pages()} pages in the 2 MiB pools while it runs, not 256")
        try:
            self.client.manager("ShutdownAll", GLib.Variant("(u)", (5,)))
        except GLib.Error as e:
            problems.append(f"ShutdownAll: {e.message}")
        state = self.state()
        if state != "shut-off":
            problems.append(f"ShutdownAll left it {state!r}")
            # what ShutdownAll did not stop, ForceOff does, so that the next
            # round starts from a stopped VM either way
            self.client.vm(self.path, "ForceOff")
        try:
            wait_until(lambda: not os.path.exists(self.record) and self.pages() == 0, timeout=10,
                       what="the pages given back")
        except AssertionError as e:
            problems.append(str(e))
        return problems

    def test_start_racing_the_resync(self):
        failed = {}
        for n in range(ROUNDS):
            problems = self.round(n)
            if problems:
                failed[n] = problems
        print(f"\n{ROUNDS} rounds (resync applied {DELAY_MS} ms after its read): "
              f"{len(failed)} failed", file=sys.stderr)
        for n, problems in failed.items():
            print(f"  round {n}: {'; '.join(problems)}", file=sys.stderr)
        # a clean exit (under ASan: no report)
        rc = self.env.stop_daemon()
        if failed or rc != 0:
            print_log("winvmd", self.env.daemon.log()[-20000:])
        self.assertEqual(failed, {})
        self.assertEqual(rc, 0, "winvmd did not exit cleanly")


if __name__ == "__main__":
    unittest.main()
