#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvmd under valgrind memcheck, through everything it does: the bad-input
matrix, every lifecycle call and pin on a running VM, Autostart, Reload and
SIGHUP, libvirtd dying under a running VM and coming back, a client that
vanishes mid-call, a short load run; then SIGTERM, and valgrind's report at
exit must show no errors and nothing definitely lost.

valgrind: --leak-check=full --errors-for-leak-kinds=definite with GLib's
suppressions and tests/valgrind.supp."""

import json
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from robust import (  # noqa: E402
    E, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, PROFILES, PROPS_IFACE, VM_IFACE, Client, Env,
    print_log, retry_until, valgrind_summary, wait_until)
from test_bad_input import (  # noqa: E402
    UNPRIVILEGED, V, downtime_cases, matrix_pass, normal_cases)
from test_load import LOAD  # noqa: E402

SLOW = 120  # seconds: every call is 20-50 times slower under valgrind


class ValgrindDaemonTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(private_libvirtd=True, valgrind=True)
        self.addCleanup(self.env.close)
        self.c = self.env.client

    def call(self, path, iface, method, args=None, reply=None):
        return self.c.call(path, iface, method, args, reply, timeout=SLOW)

    def vm(self, path, method, args=None):
        return self.call(path, VM_IFACE, method, args)

    def state(self, path):
        return self.call(path, PROPS_IFACE, "Get", V("(ss)", VM_IFACE, "State"), "(v)")[0]

    def wait_state(self, path, state):
        wait_until(lambda: self.state(path) == state, SLOW, f"State {state}")

    def test_everything_under_valgrind(self):
        env, c = self.env, self.c
        alpha, beta = c.vm_path("alpha"), c.vm_path("beta")

        # the bad-input matrix, once
        # (what went wrong is reported at the end, with valgrind's findings)
        table, problems = matrix_pass(env, 0, normal_cases(), downtime_cases())
        self.assertGreaterEqual(len(table), 50 + len(UNPRIVILEGED))

        # lifecycle and tuning on a running VM
        self.vm(alpha, "Start")
        self.wait_state(alpha, "running")
        self.vm(alpha, "PinVCPU", V("(us)", 0, "2-3"))
        self.vm(alpha, "PinIOThread", V("(us)", 1, "4"))
        self.vm(alpha, "PinEmulator", V("(s)", "5,6"))
        self.vm(alpha, "Suspend")
        self.wait_state(alpha, "paused")
        self.vm(alpha, "Resume")
        self.wait_state(alpha, "running")
        self.vm(alpha, "Reboot")
        for name in ("alpha", "beta", "hp"):
            self.call(MANAGER_PATH, MANAGER_IFACE, "Render", V("(s)", name))
            self.call(MANAGER_PATH, MANAGER_IFACE, "Check", V("(s)", name))
            self.call(MANAGER_PATH, MANAGER_IFACE, "Plan", V("(s)", name))
        self.call(MANAGER_PATH, OM_IFACE, "GetManagedObjects")
        self.call(alpha, PROPS_IFACE, "GetAll", V("(s)", VM_IFACE))
        self.call(alpha, PROPS_IFACE, "Set", V("(ssv)", VM_IFACE, "Autostart", V("b", True)))
        self.call(alpha, PROPS_IFACE, "Set", V("(ssv)", VM_IFACE, "Autostart", V("b", False)))
        self.vm(alpha, "Shutdown", V("(u)", 2))
        self.wait_state(alpha, "shut-off")
        self.vm(alpha, "Start")
        self.vm(beta, "Start")
        self.wait_state(beta, "running")

        # Reload (a changed, an added and a broken profile), then SIGHUP
        with open(os.path.join(env.config_dir, "hp.conf"), "w") as f:
            f.write(PROFILES["hp.conf"].replace("[cpu]", "shutdown-timeout = 30\n\n[cpu]"))
        with open(os.path.join(env.config_dir, "extra.conf"), "w") as f:
            f.write("[vm]\nname = extra\ntemplate = minimal\nmemory = 1GiB\nvcpus = 1\n")
        with open(os.path.join(env.config_dir, "broken.conf"), "w") as f:
            f.write("[vm]\nname = broken\nmemory = lots\n")
        errors = self.call(MANAGER_PATH, MANAGER_IFACE, "Reload", None, "(as)")[0]
        self.assertEqual(len(errors), 1, errors)
        os.unlink(os.path.join(env.config_dir, "extra.conf"))
        env.daemon.signal(signal.SIGHUP)
        wait_until(lambda: "extra" not in [n for n, p in c.list_vms()], SLOW, "extra to go")

        # libvirtd dies under running VMs and comes back
        env.libvirt_down(signal.SIGKILL)
        self.wait_state(alpha, "unknown")
        env.libvirt_up()
        retry_until(lambda: self.vm(alpha, "Start"), SLOW)
        self.wait_state(alpha, "running")

        # a client that goes away while its call runs (whether the call runs
        # depends on whether winvmd learnt the caller's uid before it left)
        gone = Client(env.bus.address)
        gone.call_async(alpha, VM_IFACE, "ForceOff")
        gone.conn.flush_sync(None)
        gone.close()
        retry_until(lambda: self.vm(alpha, "ForceOff"), SLOW)  # Busy meanwhile
        self.wait_state(alpha, "shut-off")

        # a little load with lifecycle changes
        proc = subprocess.run([LOAD, "--address", env.bus.address, "--clients", "4", "--calls",
                               "150", "--warmup", "10", "--time-limit", "600",
                               "--lifecycle", "gamma,delta"],
                              capture_output=True, text=True, timeout=900)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        r = json.loads(proc.stdout)
        lifecycle_errors = {k: n for k, n in r["lifecycle"]["errors"].items() if k != E + "Busy"}
        if r["errors"] or lifecycle_errors or r["completed"] != 600:
            problems.append(f"load: {r['completed']} calls, errors {r['errors']}, "
                            f"lifecycle errors {lifecycle_errors}: {proc.stderr}")

        self.assertTrue(env.daemon.alive())
        rc = env.stop_daemon()
        errors, lost, text = valgrind_summary(env.vg_log)
        summary = [line for line in text.splitlines() if "ERROR SUMMARY" in line
                   or "definitely lost:" in line or "indirectly lost:" in line]
        print("\nvalgrind: " + "\n          ".join(summary), file=sys.stderr)
        if errors or lost or rc != 0:
            print_log("valgrind's report", text)
            problems.append(f"valgrind: {errors} errors, {lost} bytes definitely lost, "
                            f"exit status {rc}")
        self.assertEqual(problems, [])

    def tearDown(self):
        if self.env.daemon.proc is not None and self.env.daemon.proc.poll() is None:
            print_log("winvmd log (it was still running)", self.env.daemon.log()[-10000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
