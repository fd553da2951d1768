#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The read flood of issue 12, part 3: a local user (nobody) opens 64 bus
connections and keeps 100 Plan calls in flight on each (tests/robustness/
flood.c, $WV_FLOOD), while root starts and forces off a VM and shuts every
VM down, as the host would.

Issue 12's goals, each asserted and printed:
- root's ForceOff p99 under the flood <= max(2 x its idle p99, idle p99 +
  50 ms). On test:/// the idle p99 is a few milliseconds, so 2x alone
  would be a bound of a few ms on a 2-core machine that also runs the
  flood, dbus-daemon and this test: one scheduler time slice of any of
  them is more than that. 50 ms is far below anything a user notices and
  three orders of magnitude below what the flood did before (49 s);
- winvmd's VmRSS grows by at most 16 MiB (the highest reading during the
  flood and the one after it, against the one before; +231 MiB before);
- root never gets AccessDenied or LimitsExceeded (nor Busy: it makes one
  call at a time); ShutdownAll under the flood answers within 5 s;
- the flood's calls are answered, and only with a plan or the typed
  org.winvm1.Error.LimitsExceeded (no NoReply, no timeout);

WV_FLOOD_CONNECTIONS, WV_FLOOD_IN_FLIGHT and WV_FLOOD_CYCLES override the
figures."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from robust import (  # noqa: E402
    E, MANAGER_PATH, MANAGER_IFACE, NOBODY, Env, GLib, build_dir, print_log, wait_until)
from daemon_fixture import error_name  # noqa: E402

FLOOD = os.environ.get("WV_FLOOD", os.path.join(build_dir(), "tests", "robustness", "flood"))
CONNECTIONS = int(os.environ.get("WV_FLOOD_CONNECTIONS", "64"))
IN_FLIGHT = int(os.environ.get("WV_FLOOD_IN_FLIGHT", "100"))
# enough that p99 is not simply the slowest call: of 150, the second slowest
CYCLES = int(os.environ.get("WV_FLOOD_CYCLES", "150"))
FLOOR_S = 0.050
RSS_GROWTH_LIMIT_KIB = 16 * 1024
VM = "beta"


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


class FloodTest(unittest.TestCase):
    def setUp(self):
        if not os.access(FLOOD, os.X_OK):
            raise RuntimeError(f"the flood generator is not built: {FLOOD} (set $WV_FLOOD)")
        self.env = Env()
        self.addCleanup(self.env.close)
        self.path = self.env.client.vm_path(VM)
        self.root_errors = {}

    def timed(self, path, method, args=None, iface="org.winvm1.VM"):
        t0 = time.monotonic()
        try:
            self.env.client.call(path, iface, method, args)
        except GLib.Error as e:
            name = error_name(e)
            self.root_errors[name] = self.root_errors.get(name, 0) + 1
        return time.monotonic() - t0

    def cycles(self, n, pause=0.0):
        """n x (Start, ForceOff) of VM as root: the latencies of each."""
        starts, offs = [], []
        for _ in range(n):
            starts.append(self.timed(self.path, "Start"))
            offs.append(self.timed(self.path, "ForceOff"))
            time.sleep(pause)
        return starts, offs

    def shutdown_all(self):
        for name in ("gamma", "delta"):
            self.env.client.vm(self.env.client.vm_path(name), "Start")
        return self.timed(MANAGER_PATH, "ShutdownAll", GLib.Variant("(u)", (5,)), MANAGER_IFACE)

    def test_flood_does_not_starve_root(self):
        env = self.env
        # idle: warm-up, then the figures to compare with
        self.cycles(5)
        idle_starts, idle_offs = self.cycles(CYCLES)
        idle_shutdown_all = self.shutdown_all()
        rss_before = env.rss_kib()

        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        cmd = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", FLOOD,
               "--address", env.bus.address, "--connections", str(CONNECTIONS),
               "--in-flight", str(IN_FLIGHT), "--method", "Plan", "--vm", "alpha",
               "--seconds", "60"]  # ended sooner: SIGTERM
        flood = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = [rss_before]
        sampling = threading.Event()

        def sample():
            while not sampling.wait(0.1):
                try:
                    peak.append(env.rss_kib())
                except (OSError, AssertionError):
                    return

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            t_flood = time.monotonic()
            time.sleep(2)  # every connection open, every call sent
            if flood.poll() is not None:
                raise AssertionError(f"the flood ended early: {flood.communicate()[1]}")
            # spread over 20 s: the refusals winvmd held back come back
            # (5 to 15 s later) and are sent again meanwhile
            flood_starts, flood_offs = self.cycles(CYCLES, pause=20 / CYCLES)
            flood_shutdown_all = self.shutdown_all()
            # root's reads are not limited either
            t0 = time.monotonic()
            env.client.manager("Plan", GLib.Variant("(s)", ("alpha",)), "(a{sv})")
            root_plan = time.monotonic() - t0
            print(f"root's calls under the flood took {time.monotonic() - t_flood:.1f} s",
                  file=sys.stderr)
        finally:
            flood.terminate()  # it stops sending, waits for its answers, prints
            out, err = flood.communicate(timeout=60)
            sampling.set()
            sampler.join()
        rss_after = env.rss_kib()
        self.assertTrue(env.daemon.alive(), "winvmd died under the flood")
        if flood.returncode != 0 or not out:
            print_log("flood's stderr", err)
        self.assertEqual(flood.returncode, 0, "the flood generator failed")
        r = json.loads(out)

        idle_p99, flood_p99 = percentile(idle_offs, 99), percentile(flood_offs, 99)
        bound = max(2 * idle_p99, idle_p99 + FLOOR_S)
        growth = max(max(peak), rss_after) - rss_before
        answers = r["answers"]
        limited = answers.get(E + "LimitsExceeded", 0)
        print("\n".join([
            "",
            f"flood (as uid {NOBODY}): {' '.join(cmd[4:])}",
            f"  {r['connections']} connections x {r['in_flight_per_connection']} Plan calls in "
            f"flight: {r['answered']} answered, {r['unanswered']} unanswered; answers {answers}",
            f"root, {CYCLES} x Start + ForceOff of {VM}:",
            f"  ForceOff idle  p50 {ms(percentile(idle_offs, 50))}  p99 {ms(idle_p99)}",
            f"  ForceOff flood p50 {ms(percentile(flood_offs, 50))}  p99 {ms(flood_p99)}"
            f"  (bound {ms(bound)} = max(2 x idle p99, idle p99 + {ms(FLOOR_S)}))",
            f"  Start    idle  p50 {ms(percentile(idle_starts, 50))}  "
            f"p99 {ms(percentile(idle_starts, 99))}",
            f"  Start    flood p50 {ms(percentile(flood_starts, 50))}  "
            f"p99 {ms(percentile(flood_starts, 99))}",
            f"  ShutdownAll (3 VMs) idle {ms(idle_shutdown_all)}, flood {ms(flood_shutdown_all)};"
            f" Plan as root under the flood {ms(root_plan)}",
            f"  errors: {self.root_errors or 'none'}",
            f"winvmd VmRSS: before {rss_before} KiB, peak during {max(peak)} KiB, after "
            f"{rss_after} KiB: growth {growth} KiB (bound {RSS_GROWTH_LIMIT_KIB} KiB)",
        ]), file=sys.stderr)

        problems = []
        if self.root_errors:
            problems.append(f"root got errors: {self.root_errors}")
        if flood_p99 > bound:
            problems.append(f"root's ForceOff p99 under the flood {ms(flood_p99)} > {ms(bound)}")
        if flood_shutdown_all > 5:
            problems.append(f"ShutdownAll took {ms(flood_shutdown_all)} under the flood")
        if limited == 0:
            problems.append("no flood call got LimitsExceeded: the limits did not bite")
        untyped = {k: n for k, n in answers.items() if k not in ("ok", E + "LimitsExceeded")}
        if untyped:
            problems.append(f"flood calls answered otherwise than a plan or LimitsExceeded: "
                            f"{untyped}")
        if r["unanswered"]:
            problems.append(f"{r['unanswered']} flood calls unanswered")
        if growth > RSS_GROWTH_LIMIT_KIB:
            problems.append(f"winvmd's VmRSS grew by {growth} KiB")
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
