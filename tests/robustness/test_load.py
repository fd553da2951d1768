#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Load: 32 clients x 10,000 calls (property reads, ListVMs,
GetManagedObjects, Check) while beta, gamma and delta go through Start,
Suspend, Resume and ForceOff again and again; libvirt's test:///default
driver. The load generator is tests/robustness/load.c ($WV_LOAD).

Zero errors other than Busy (and AccessDenied never: we are root), every
call done within the time limit, and winvmd's VmRSS at the end less than
1 MiB above VmRSS after the warm-up round.

WV_LOAD_CLIENTS, WV_LOAD_CALLS, WV_LOAD_WARMUP and WV_LOAD_TIME_LIMIT
override the figures; WV_VALGRIND=1 runs the daemon under valgrind (with 4
clients x 200 calls unless overridden, and no RSS bound)."""

import json
import os
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from robust import E, Env, build_dir, print_log, want_valgrind, wait_until  # noqa: E402

LOAD = os.environ.get("WV_LOAD", os.path.join(build_dir(), "tests", "robustness", "load"))
VALGRIND = want_valgrind()
CLIENTS = int(os.environ.get("WV_LOAD_CLIENTS", "4" if VALGRIND else "32"))
CALLS = int(os.environ.get("WV_LOAD_CALLS", "200" if VALGRIND else "10000"))
WARMUP = int(os.environ.get("WV_LOAD_WARMUP", "50" if VALGRIND else "500"))
TIME_LIMIT = float(os.environ.get("WV_LOAD_TIME_LIMIT", "600" if VALGRIND else "200"))
LIFECYCLE = ["beta", "gamma", "delta"]
RSS_GROWTH_LIMIT_KIB = 1024


def summary(cmd, r):
    lat = r["latency"]
    lc = r["lifecycle"]
    lines = [
        "",
        f"command: {cmd}",
        f"{r['clients']} clients x {r['calls_per_client']} calls (after {r['warmup_per_client']}"
        f" warm-up calls each): {r['completed']} calls in {r['seconds']:.1f} s = "
        f"{r['calls_per_second']:.0f} calls/s; latency p50 {lat['p50_us'] / 1000:.2f} ms, "
        f"p90 {lat['p90_us'] / 1000:.2f} ms, p99 {lat['p99_us'] / 1000:.2f} ms, "
        f"max {lat['max_us'] / 1000:.1f} ms",
        f"errors: {r['errors'] or 'none'}",
        f"lifecycle ({', '.join(lc['vms'])}): {lc['cycles']} cycles, {lc['calls']} calls, "
        f"p50 {lc['p50_us'] / 1000:.2f} ms, p99 {lc['p99_us'] / 1000:.2f} ms; "
        f"errors: {lc['errors'] or 'none'}",
        f"VmRSS after warm-up {r['rss_kib']['after_warmup']} KiB, at the end "
        f"{r['rss_kib']['end']} KiB: growth {r['rss_kib']['growth']} KiB",
    ]
    for name, k in r["by_call"].items():
        lines.append(f"  {name:24} {k['calls']:7} calls  p50 {k['p50_us'] / 1000:6.2f} ms  "
                     f"p99 {k['p99_us'] / 1000:6.2f} ms")
    return "\n".join(lines)


class LoadTest(unittest.TestCase):
    def setUp(self):
        if not os.access(LOAD, os.X_OK):
            raise RuntimeError(f"the load generator is not built: {LOAD} (set $WV_LOAD)")
        self.env = Env()
        self.addCleanup(self.env.close)

    def test_load_with_lifecycle_changes(self):
        env = self.env
        cmd = [LOAD, "--address", env.bus.address, "--clients", str(CLIENTS), "--calls",
               str(CALLS), "--warmup", str(WARMUP), "--time-limit", str(TIME_LIMIT),
               "--pid", str(env.pid), "--lifecycle", ",".join(LIFECYCLE)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIME_LIMIT + 300)
        if proc.returncode != 0:
            print_log("load's stderr", proc.stderr)
        self.assertEqual(proc.returncode, 0, "the load generator failed")
        r = json.loads(proc.stdout)
        print(summary(shlex.join(cmd), r), file=sys.stderr)
        if proc.stderr:
            print_log("load's stderr", proc.stderr)

        # the daemon is fine and the VMs ended where the cycles leave them
        self.assertTrue(env.daemon.alive(), "winvmd died under load")
        for name in LIFECYCLE:
            path = env.client.vm_path(name)
            wait_until(lambda: env.client.get(path, "State") == "shut-off",
                       what=f"{name} to be shut off")

        # every problem at once: a leak shows even when the run was also slow
        problems = []
        if r["truncated"]:
            problems.append(f"only {r['completed']} of {CLIENTS * CALLS} calls within the "
                            f"{TIME_LIMIT} s time limit")
        if r["errors"]:
            problems.append(f"errors while reading: {r['errors']}")
        if r["lifecycle"]["cycles"] == 0:
            problems.append("no lifecycle cycle completed")
        unexpected = {k: n for k, n in r["lifecycle"]["errors"].items() if k != E + "Busy"}
        if unexpected:
            problems.append(f"lifecycle errors other than Busy: {unexpected}")
        if VALGRIND:
            env.check_valgrind(self)
        elif r["rss_kib"]["growth"] >= RSS_GROWTH_LIMIT_KIB:
            problems.append(f"winvmd's VmRSS grew from {r['rss_kib']['after_warmup']} KiB to "
                            f"{r['rss_kib']['end']} KiB ({r['rss_kib']['growth']} KiB; the "
                            f"bound is {RSS_GROWTH_LIMIT_KIB} KiB)")
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
