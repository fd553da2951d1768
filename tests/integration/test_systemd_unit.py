#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The generated systemd/winvmd.service: systemd itself parses it cleanly,
its sandbox scores at most 4.0 in `systemd-analyze security`, and it keeps
the settings the daemon relies on (Type=notify, watchdog, the writable
hugepage pools)."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

UNIT = os.environ["WV_UNIT"]
WINVMD = os.environ["WINVMD"]
SRC = os.environ["WV_SOURCE_ROOT"]
MAX_EXPOSURE = 4.0

# `verify` follows Wants=/After= into the host's units; a host without
# libvirt (or with only one of its two layouts) lacks some of them.
LIBVIRT_UNITS = r"(libvirtd|virtqemud)\.(service|socket)"
NOISE = re.compile(rf"(Unit {LIBVIRT_UNITS} not found|{LIBVIRT_UNITS}: .*not found|"
                   rf"Failed to .*{LIBVIRT_UNITS}.*No such file or directory)")


def systemd_analyze():
    tool = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    if not os.access(tool, os.X_OK):
        raise AssertionError("systemd-analyze not found: install the systemd package "
                             "(scripts/install-deps.sh --tests)")
    return tool


def parse_unit(path):
    """{section: {key: [values]}}; a key may repeat."""
    sections, current = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], {})
                continue
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


class Unit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tool = systemd_analyze()
        cls.unit = parse_unit(UNIT)
        cls.tmp = tempfile.mkdtemp(prefix="winvm-unit-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def service(self, key):
        return self.unit.get("Service", {}).get(key, [])

    def test_verify_is_clean(self):
        # The installed ExecStart does not exist before `meson install`, so
        # verify a copy that runs the binary just built. Documentation= is
        # checked by test_documentation, not by running man(1).
        unit = os.path.join(self.tmp, "winvmd.service")
        with open(UNIT) as src, open(unit, "w") as dst:
            for line in src:
                dst.write(f"ExecStart={WINVMD}\n" if line.startswith("ExecStart=") else line)
        env = dict(os.environ, SYSTEMD_COLORS="0")
        r = subprocess.run([self.tool, "verify", "--man=no", unit], capture_output=True,
                           text=True, env=env, timeout=60)
        # verify exits 0 even for unknown keys or unparsable values: every
        # line it prints counts, except libvirt units this host lacks.
        complaints = [l for l in (r.stdout + r.stderr).splitlines()
                      if l.strip() and not NOISE.search(l)]
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(complaints, [], "systemd-analyze verify complained")

    def test_security_exposure(self):
        r = subprocess.run([self.tool, "security", "--offline=true", "--no-pager", UNIT],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, SYSTEMD_COLORS="0"))
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
        self.assertIsNotNone(m, f"no overall exposure level in:\n{r.stdout}{r.stderr}")
        exposure = float(m.group(1))
        print(f"systemd-analyze security: winvmd.service exposure {exposure}")
        self.assertLessEqual(exposure, MAX_EXPOSURE, r.stdout)

    def test_service_type_and_supervision(self):
        self.assertEqual(self.service("Type"), ["notify"])
        self.assertEqual(self.service("Restart"), ["on-failure"])
        self.assertEqual(len(self.service("WatchdogSec")), 1)
        self.assertRegex(self.service("WatchdogSec")[0], r"^[1-9][0-9]*(s|sec)?$")
        self.assertEqual(len(self.service("ExecStart")), 1)
        self.assertTrue(self.service("ExecStart")[0].startswith("/"))
        self.assertTrue(self.service("ExecStart")[0].endswith("/winvmd"))
        # QEMU runs under libvirt; nothing of the daemon's may kill it
        self.assertNotIn("KillMode", self.unit["Service"])

    def test_documentation(self):
        docs = " ".join(self.unit["Unit"].get("Documentation", [])).split()
        self.assertIn("man:winvmd(8)", docs)
        # the page it names exists (docs/meson.build installs it)
        with open(os.path.join(SRC, "docs", "winvmd.8")) as f:
            self.assertRegex(f.read(), r"(?m)^\.TH WINVMD 8 ")

    def test_ordered_after_libvirt(self):
        after = " ".join(self.unit["Unit"].get("After", [])).split()
        wants = " ".join(self.unit["Unit"].get("Wants", [])).split()
        for unit in ("libvirtd.service", "virtqemud.socket"):
            self.assertIn(unit, after)
            self.assertIn(unit, wants)
        self.assertNotIn("Requires", self.unit["Unit"])

    def test_directories(self):
        self.assertEqual(self.service("RuntimeDirectory"), ["winvm"])
        # reservations and the autostart marker outlive a daemon restart
        self.assertEqual(self.service("RuntimeDirectoryPreserve"), ["yes"])
        self.assertEqual(self.service("StateDirectory"), ["winvm"])

    def test_hugepage_pools_writable(self):
        self.assertEqual(self.service("ProtectSystem"), ["strict"])
        rw = [p.lstrip("-") for v in self.service("ReadWritePaths") for p in v.split()]
        self.assertIn("/sys/kernel/mm/hugepages", rw)
        self.assertIn("/sys/devices/system/node", rw)
        self.assertTrue(any(p.endswith("/winvm") and "/etc" in p for p in rw), rw)

    def test_dbus_activation_names_this_unit(self):
        with open(os.path.join(SRC, "dbus", "org.winvm1.service")) as f:
            self.assertIn("SystemdService=winvmd.service", f.read().split())


if __name__ == "__main__":
    unittest.main()
