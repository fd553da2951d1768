#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end for hugepages that can be had (issue 15), against this
machine's kernel: winvmd on a private bus with libvirt's test driver (no
guest runs, the system libvirtd is not touched), on the fake two-node numa2s
tree in which node 0's 2M pool files are links to this machine's real node 0
pool and the fake /proc's sys/vm/compact_memory and buddyinfo are links to
the real ones. So the daemon's own node logic picks node 0, and the kernel
does the growing, the compacting and the giving back.

Needs root, and nobody else growing or shrinking node 0's 2M pool while it
runs (the other e2e tests do: run it on its own). nr_hugepages of node 0 is
put back exactly as it was: the daemon gives its pages back, and what a
failed test left recorded is given back after it."""

import configparser
import os
import shutil
import sys
import tempfile
import time
import unittest

from gi.repository import GLib

sys.path.insert(0, os.path.join(os.environ["WV_SOURCE_ROOT"], "tests", "integration"))
from daemon_fixture import (  # noqa: E402
    HOSTS, Bus, Client, Daemon, print_log, wait_until)

NODE0_2M = "/sys/devices/system/node/node0/hugepages/hugepages-2048kB"
COMPACT = "/proc/sys/vm/compact_memory"


def read_int(path):
    with open(path) as f:
        return int(f.read().strip())


def node0_free_kib():
    with open("/sys/devices/system/node/node0/meminfo") as f:
        for line in f:
            if "MemFree:" in line:
                return int(line.split()[3])
    return 0


def vmstat(key):
    with open("/proc/vmstat") as f:
        for line in f:
            k, v = line.split()
            if k == key:
                return int(v)
    return 0


def profile(name, memory, hugepages, extra=""):
    # auto pins: 2 vCPUs on numa2s land on node 0, so memory is bound there
    return f"""\
[vm]
name = {name}
template = minimal
memory = {memory}
vcpus = 2

[memory]
hugepages = {hugepages}
hugepages-allocate = true
{extra}"""


@unittest.skipUnless(os.geteuid() == 0, "needs root (the real hugepage pool)")
@unittest.skipUnless(os.path.exists(os.path.join(NODE0_2M, "nr_hugepages")),
                     "no 2M pool on node 0")
@unittest.skipUnless(os.path.exists(COMPACT), "no /proc/sys/vm/compact_memory (CONFIG_COMPACTION)")
class RealPoolTest(unittest.TestCase):
    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before and getattr(self, "daemon", None):
            print_log(f"winvmd log of {self.id()}", self.daemon.log())
        return result

    def setUp(self):
        self.saved = read_int(os.path.join(NODE0_2M, "nr_hugepages"))
        self.addCleanup(self.restore_pool)
        self.workdir = tempfile.mkdtemp(prefix="winvm-e2e-hp-")
        os.chmod(self.workdir, 0o755)
        self.addCleanup(shutil.rmtree, self.workdir, True)
        root = os.path.join(self.workdir, "numa2s")
        shutil.copytree(os.path.join(HOSTS, "numa2s"), root, symlinks=True)
        self.sysfs, self.procfs = os.path.join(root, "sys"), os.path.join(root, "proc")
        # node 0's 2M pool is the real one
        fake = os.path.join(self.sysfs, "devices/system/node/node0/hugepages/hugepages-2048kB")
        for name in ("nr_hugepages", "free_hugepages"):
            os.unlink(os.path.join(fake, name))
            os.symlink(os.path.join(NODE0_2M, name), os.path.join(fake, name))
        # the fake 1G pools cannot grow at all; compaction and buddyinfo are real
        for d in ("kernel/mm/hugepages/hugepages-1048576kB",
                  "devices/system/node/node0/hugepages/hugepages-1048576kB"):
            with open(os.path.join(self.sysfs, d, "nr_hugepages.limit"), "w") as f:
                f.write("0\n")
        os.makedirs(os.path.join(self.procfs, "sys", "vm"))
        os.symlink(COMPACT, os.path.join(self.procfs, "sys", "vm", "compact_memory"))
        os.symlink("/proc/buddyinfo", os.path.join(self.procfs, "buddyinfo"))
        with open(os.path.join(self.procfs, "mounts"), "a") as f:
            f.write("hugetlbfs /dev/hugepages1G hugetlbfs rw,relatime,pagesize=1024M 0 0\n")
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.client.subscribe()

    def restore_pool(self):
        """Gives back what a failed test left reserved: only our own pages
        (the record's), so that somebody else's use of the pool in the
        meantime is never undone."""
        path = os.path.join(NODE0_2M, "nr_hugepages")
        daemon = getattr(self, "daemon", None)
        if daemon is not None:
            daemon.stop()
            for name in os.listdir(daemon.runtime_dir) if os.path.isdir(daemon.runtime_dir) else []:
                if name.endswith(".hugepages"):
                    kf = configparser.ConfigParser()
                    kf.read(os.path.join(daemon.runtime_dir, name))
                    r = kf["reservation"]
                    if os.path.realpath(r["nr-path"]) == os.path.realpath(path):
                        with open(path, "w") as f:
                            f.write(f"{max(read_int(path) - int(r['added']), 0)}\n")
        self.assertEqual(read_int(path), self.saved,
                         "node 0's pool is not where it was (another user of the pool?)")

    def start_daemon(self, profiles):
        for name, text in profiles.items():
            with open(os.path.join(self.config_dir, name + ".conf"), "w") as f:
                f.write(text)
        self.daemon = Daemon(self.bus, self.workdir, self.config_dir, self.sysfs, self.procfs)
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)

    def pool(self):
        return read_int(os.path.join(NODE0_2M, "nr_hugepages"))

    def record(self, name):
        kf = configparser.ConfigParser()
        kf.read(os.path.join(self.daemon.runtime_dir, name + ".hugepages"))
        return kf["reservation"]

    def stop_and_check_released(self, path, name):
        self.client.vm(path, "ForceOff")
        wait_until(lambda: self.client.get(path, "State") == "shut-off", what="shut-off")
        wait_until(lambda: self.pool() == self.saved, timeout=30,
                   what=f"node 0's pool back at {self.saved} (is {self.pool()})")
        wait_until(lambda: not os.path.exists(
            os.path.join(self.daemon.runtime_dir, name + ".hugepages")), what="record removed")

    def test_node0_pool_grows_and_shrinks(self):
        free = read_int(os.path.join(NODE0_2M, "free_hugepages"))
        need = 64  # 128 MiB
        if node0_free_kib() < 512 * 1024:
            self.skipTest("less than 512 MiB free on node 0")
        self.start_daemon({"small": profile("small", "128MiB", "2M")})
        path = self.client.vm_path("small")
        findings = {f[1]: f for f in self.client.manager(
            "Check", GLib.Variant("(s)", ("small",)), "(a(ssss))")[0]}
        if free < need:
            # the real /proc/buddyinfo said how many 2M blocks node 0 has
            self.assertTrue("hugepages-reserve" in findings or "hugepages-fragmented" in findings,
                            findings)
            code = "hugepages-reserve" if "hugepages-reserve" in findings else \
                "hugepages-fragmented"
            self.assertIn("2M-sized blocks on node 0", findings[code][2])
        self.client.vm(path, "Start")
        wait_until(lambda: self.client.get(path, "State") == "running", what="running")
        grown = max(need - free, 0)
        self.assertEqual(self.pool(), self.saved + grown)
        if grown:
            r = self.record("small")
            self.assertEqual(r["nr-path"],
                             os.path.join(self.sysfs, "devices/system/node/node0/hugepages/"
                                          "hugepages-2048kB/nr_hugepages"))
            self.assertEqual((r["node"], r["page-kib"], r["added"]), ("0", "2048", str(grown)))
        self.stop_and_check_released(path, "small")

    def test_real_compaction_then_fallback_to_2m(self):
        # 1 GiB: the 1G pool refuses, the kernel compacts for real, and the
        # VM starts on 512 real 2M pages of node 0
        if node0_free_kib() < 2560 * 1024:
            self.skipTest("less than 2.5 GiB free on node 0")
        self.start_daemon({"fb": profile("fb", "1GiB", "1G", "hugepages-fallback = 2M\n")})
        path = self.client.vm_path("fb")
        scanned = vmstat("compact_migrate_scanned") + vmstat("compact_free_scanned")
        free = read_int(os.path.join(NODE0_2M, "free_hugepages"))
        started = time.monotonic()
        self.client.vm(path, "Start")
        took = time.monotonic() - started
        wait_until(lambda: self.client.get(path, "State") == "running", what="running")
        log = self.daemon.log()
        self.assertIn("compacting memory", log)
        self.assertNotIn("Could not compact", log)
        self.assertIn("falling back to 2M pages", log)
        # the kernel scanned memory to compact it (a write that did nothing
        # would not count)
        after = vmstat("compact_migrate_scanned") + vmstat("compact_free_scanned")
        print(f"\nStart with compaction and fallback took {took:.2f} s; compaction scanned "
              f"{after - scanned} pages", file=sys.stderr)
        self.assertGreater(after, scanned)
        # the domain libvirt holds is backed by 2M pages (read after the start)
        wait_until(lambda: self.client.get(path, "Hugepages") == "2M",
                   what=f"Hugepages 2M (is {self.client.get(path, 'Hugepages')})")
        steps = self.client.values_of(path, "StartStep")
        self.assertEqual(steps[:2], ["reserving-hugepages", "compacting"])
        grown = max(512 - free, 0)
        self.assertEqual(self.pool(), self.saved + grown)
        if grown:
            self.assertEqual(self.record("fb")["page-kib"], "2048")
        self.stop_and_check_released(path, "fb")


if __name__ == "__main__":
    unittest.main()
