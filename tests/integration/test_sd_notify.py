#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvmd speaks systemd's notify protocol: READY=1 after the first resync
with libvirt (STATUS= says what it serves), WATCHDOG=1 when asked for,
STOPPING=1 on SIGTERM, and it leaves the bus cleanly."""

import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import unittest

SRC = os.environ["WV_SOURCE_ROOT"]
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

from daemon_fixture import Bus, Daemon, copy_host  # noqa: E402


class Notify(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="winvm-notify-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.bus = Bus(self.tmp)
        self.addCleanup(self.bus.stop)
        self.sock_path = os.path.join(self.tmp, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(10)
        self.addCleanup(self.sock.close)
        os.makedirs(os.path.join(self.tmp, "vms"))
        shutil.copy(os.path.join(SRC, "examples", "work.conf"), os.path.join(self.tmp, "vms"))

    def start(self, uri="test:///default", watchdog_usec=None):
        env = {"NOTIFY_SOCKET": self.sock_path}
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        # a copy of a fake host: work.conf autostarts and would otherwise grow
        # the real host's hugepage pool
        sysfs, proc = copy_host("ryzen", self.tmp)
        daemon = Daemon(self.bus, self.tmp, os.path.join(self.tmp, "vms"), libvirt_uri=uri,
                        sysfs_root=sysfs, proc_root=proc, env=env)
        self.addCleanup(daemon.stop)
        return daemon.spawn()

    def messages(self, until, timeout=10):
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got += self.sock.recv(4096).decode().split("\n")
            except socket.timeout:
                break
            if until in got:
                return got
        self.fail(f"no {until} in {got}")

    def test_ready_status_stopping(self):
        d = self.start()
        got = self.messages("READY=1")
        status = [m for m in self.messages("STATUS=Serving 1 VMs; libvirt connected", 2)]
        self.assertIn("STATUS=Serving 1 VMs; libvirt connected", got + status)
        d.send_signal(signal.SIGTERM)
        self.assertIn("STOPPING=1", self.messages("STOPPING=1"))
        self.assertEqual(d.wait(10), 0)

    def test_ready_without_libvirt(self):
        # serving what it can beats hanging the boot: ready, and it says so
        self.start(uri="qemu+unix:///system?socket=/nonexistent/sock")
        got = self.messages("READY=1")
        got += self.messages("STATUS=Serving 1 VMs; libvirt unreachable", 2)
        self.assertIn("STATUS=Serving 1 VMs; libvirt unreachable", got)

    def test_watchdog(self):
        self.start(watchdog_usec=400000)  # pings every 200 ms
        self.messages("READY=1")
        pings = 0
        deadline = time.monotonic() + 3
        while pings < 3 and time.monotonic() < deadline:
            if "WATCHDOG=1" in self.sock.recv(4096).decode().split("\n"):
                pings += 1
        self.assertGreaterEqual(pings, 3)


if __name__ == "__main__":
    unittest.main()
