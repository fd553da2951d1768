#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvmctl as users and scripts run it: the real CLI (a subprocess, no TTY
unless said) against the real winvmd on a private system bus with libvirt's
test:///default driver and a copy of the fake "ryzen" sysfs tree. Checks
output, --json documents and every documented exit status.

Exit status 5 needs a VM that ignores ACPI, which the test driver cannot
give (its domains stop at once): those tests put a python-dbusmock stand-in
for winvmd on the bus that answers with org.winvm1.Error.Timeout."""

import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import unittest

SRC = os.environ["WV_SOURCE_ROOT"]
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

from daemon_fixture import (  # noqa: E402
    BUS_NAME, NOBODY, PYTHON, Bus, Client, Daemon, GLib, copy_host, new_workdir, require,
    stop_process, wait_until)

WINVMCTL = os.environ["WINVMCTL"]

TINY = """[vm]
name = tiny
template = minimal
hypervisor = qemu
vcpus = 2
memory = 512MiB
on-host-sleep = block
[cpu]
pin = 2,3
[hyperv]
enlightenments = none
[host]
governor = performance
"""

# 16 vCPUs on a 16-thread host that reserves 0,8: pin-no-room
BIG = TINY.replace("name = tiny", "name = big").replace("vcpus = 2", "vcpus = 16") \
          .replace("pin = 2,3", "pin = auto")

VM_NAMES = ["big", "gaming", "tiny", "win11-install", "work"]


def start_daemon(bus, client, workdir):
    """winvmd on @bus with the example profiles, tiny and big."""
    conf = os.path.join(workdir, "vms")
    os.makedirs(conf)
    for ex in ("gaming", "work", "install"):
        with open(os.path.join(SRC, "examples", ex + ".conf")) as f:
            text = f.read()
        # no autostart: the tests decide what runs
        with open(os.path.join(conf, ex + ".conf"), "w") as f:
            f.write(re.sub(r"(?m)^autostart = true$", "autostart = false", text))
    for name, text in (("tiny", TINY), ("big", BIG)):
        with open(os.path.join(conf, name + ".conf"), "w") as f:
            f.write(text)
    # the daemon writes hugepage pools: a copy, not the source tree
    sysfs, procfs = copy_host("ryzen", workdir)
    for cpu in range(16):  # cpufreq, for tiny's governor
        gov = os.path.join(sysfs, f"devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
        os.makedirs(os.path.dirname(gov), exist_ok=True)
        with open(gov, "w") as f:
            f.write("powersave\n")
    daemon = Daemon(bus, workdir, conf, sysfs, procfs)
    daemon.start(client)
    return daemon


def run(address, *args, user=None, timeout=60):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, LC_ALL="C.UTF-8")
    cmd = [WINVMCTL, *args]
    if user is not None:
        require("/usr/bin/setpriv", "setpriv (util-linux)")
        cmd = ["/usr/bin/setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def on_a_tty(address, command):
    """@command in a pseudo-terminal (util-linux script); its output with
    the \r and escape sequences kept."""
    require("/usr/bin/script", "script (util-linux)")
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, LC_ALL="C.UTF-8")
    r = subprocess.run(["/usr/bin/script", "-qec", command, "/dev/null"],
                       capture_output=True, env=env, timeout=60)
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    return r


class Monitor:
    """`winvmctl monitor` in the background, its lines read as they come."""

    def __init__(self, test, address, json_lines=False):
        self.test = test
        self.address = address
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
        self.proc = subprocess.Popen([WINVMCTL, "monitor"] + (["--json"] if json_lines else []),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines = []  # complete lines so far
        self.seen = 0  # how many of them saw() looked at
        self.partial = b""

    def saw(self, pattern, toggle=None, timeout=20):
        """The next line matching @pattern; calls @toggle while waiting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.seen < len(self.lines):
                self.seen += 1
                if re.search(pattern, self.lines[self.seen - 1]):
                    return self.lines[self.seen - 1]
            if toggle:
                toggle()
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                data = os.read(self.proc.stdout.fileno(), 65536)
                self.test.assertNotEqual(data, b"", "monitor exited")
                *done, self.partial = (self.partial + data).split(b"\n")
                self.lines.extend(line.decode() + "\n" for line in done)
        self.test.fail(f"monitor printed no line matching {pattern!r}: {self.lines}")

    def wait_subscribed(self):
        """Flips tiny's autostart until the monitor reports it."""
        flip = iter(["on", "off"] * 100)
        self.saw(r"tiny.*[Aa]utostart",
                 toggle=lambda: run(self.address, "autostart", "tiny", next(flip)))
        self.test.assertEqual(run(self.address, "autostart", "tiny", "off").returncode, 0)

    def stop(self, sig):
        """Signals it; returns all its lines and its stderr."""
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=10)
        rest = (self.partial + out).decode().splitlines(keepends=True)
        return self.lines + rest, err.decode()


class Fixture(unittest.TestCase):
    """One bus and one daemon for the class."""

    @classmethod
    def setUpClass(cls):
        require(WINVMCTL, "winvmctl")
        cls.workdir = new_workdir("winvmctl-test-")
        cls.bus = Bus(cls.workdir)
        cls.client = Client(cls.bus.address)
        cls.daemon = start_daemon(cls.bus, cls.client, cls.workdir)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.client.close()
        cls.bus.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def ctl(self, *args, status=0, **kw):
        r = run(self.bus.address, *args, **kw)
        self.assertEqual(r.returncode, status,
                         f"winvmctl {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}")
        if status == 0:
            self.assertEqual(r.stderr, "")
        else:
            self.assertTrue(r.stderr.startswith("winvmctl: error: "), r.stderr)
            self.assertNotIn("GDBus.Error", r.stderr)
        return r

    def json(self, *args, status=0):
        return json.loads(self.ctl("--json", *args, status=status).stdout)

    def state(self, name):
        return self.json("status", name)["state"]

    def ensure_off(self, *names):
        for name in names:
            if self.state(name) not in ("shut-off", "undefined"):
                self.ctl("stop", name, "--force")
            self.assertIn(self.state(name), ("shut-off", "undefined"))


class Read(Fixture):
    def test_list_is_the_default_and_aligned(self):
        out = self.ctl("list").stdout
        self.assertEqual(self.ctl().stdout, out)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "STATE", "VCPUS", "MEMORY", "HUGEPAGES",
                                            "DEVICES", "AUTOSTART"])
        self.assertEqual([line.split()[0] for line in lines[1:]], VM_NAMES)
        # every column starts where its heading does
        for heading in ("STATE", "VCPUS", "MEMORY", "HUGEPAGES", "DEVICES", "AUTOSTART"):
            col = lines[0].index(heading)
            for line in lines[1:]:
                self.assertNotEqual(line[col], " ", f"{heading} in {line!r}")
                self.assertEqual(line[col - 1], " ", f"{heading} in {line!r}")
        gaming = next(line for line in lines if line.startswith("gaming "))
        self.assertRegex(gaming, r"^gaming +\S+ +8 +16\.0 GiB +1G +0000:0f:00\.0, 0000:0f:00\.1 +no$")
        tiny = next(line for line in lines if line.startswith("tiny "))
        self.assertRegex(tiny, r"^tiny +\S+ +2 +512\.0 MiB +none +- +no$")

    def test_list_json(self):
        vms = self.json("list")
        self.assertIsInstance(vms, list)
        self.assertEqual([vm["name"] for vm in vms], VM_NAMES)
        gaming = vms[1]
        self.assertEqual(gaming["vcpus"], 8)
        self.assertEqual(gaming["memory_kib"], 16 * 1024 * 1024)
        self.assertEqual(gaming["hugepages"], "1G")
        self.assertEqual(gaming["host_devices"], ["0000:0f:00.0", "0000:0f:00.1"])
        self.assertIs(gaming["autostart"], False)
        for vm in vms:
            self.assertEqual(set(vm), {"name", "uuid", "state", "vcpus", "memory_kib",
                                       "vcpu_pins", "iothread_pins", "emulator_pin", "hugepages",
                                       "host_devices", "autostart", "shutdown_timeout",
                                       "pending_restart", "shutdown_step", "start_step",
                                       "last_stop", "guest_agent", "on_host_sleep",
                                       "blocking_sleep"})

    def test_status(self):
        self.ctl("start", "tiny")
        try:
            out = self.ctl("status", "tiny").stdout
            self.assertRegex(out, r"(?m)^Name: +tiny$")
            self.assertRegex(out, r"(?m)^State: +running$")
            self.assertRegex(out, r"(?m)^Memory: +512\.0 MiB$")
            self.assertRegex(out, r"(?m)^UUID: +[0-9a-f-]{36}$")
            self.assertRegex(out, r"(?m)^PIN +HOST CPUS$")
            self.assertRegex(out, r"(?m)^vcpu 0 +2$")
            self.assertRegex(out, r"(?m)^vcpu 1 +3$")
            self.assertRegex(out, r"(?m)^emulator +0,8$")
            vm = self.json("status", "tiny")
            self.assertEqual(vm["state"], "running")
            self.assertEqual(vm["vcpu_pins"], [{"vcpu": 0, "cpuset": "2"},
                                               {"vcpu": 1, "cpuset": "3"}])
            self.assertEqual(vm["emulator_pin"], "0,8")
            self.assertRegex(out, r"(?m)^Host sleep: +block: blocking host sleep$")
            self.assertEqual((vm["on_host_sleep"], vm["blocking_sleep"]), ("block", True))
        finally:
            self.ensure_off("tiny")
        out = self.ctl("status", "tiny").stdout
        self.assertRegex(out, r"(?m)^Host sleep: +block$")
        out = self.ctl("status", "gaming").stdout
        self.assertRegex(out, r"(?m)^Devices: +0000:0f:00\.0, 0000:0f:00\.1$")
        self.assertRegex(out, r"(?m)^Host sleep: +block$")  # the default with a hostdev
        out = self.ctl("status", "work").stdout
        self.assertRegex(out, r"(?m)^Host sleep: +ignore$")  # no hostdev

    def test_render(self):
        out = self.ctl("render", "tiny").stdout
        self.assertTrue(out.startswith('<domain type="qemu">'), out[:80])
        self.assertIn("<name>tiny</name>", out)
        self.assertIn('<vcpupin vcpu="1" cpuset="3"/>', out)
        self.assertTrue(out.endswith("</domain>\n"))

    def test_render_refuses_what_cannot_run(self):
        # big cannot be pinned on this host: no XML that silently differs
        r = self.ctl("render", "big", status=4)
        self.assertEqual(r.stdout, "")
        self.assertIn("pin-no-room", r.stderr)

    def test_check(self):
        out = self.ctl("check", "tiny").stdout
        self.assertRegex(out, r"^SEVERITY +CODE +MESSAGE\n")
        self.assertRegex(out, r"(?m)^info +cpu-mode-emulated +hypervisor = qemu")
        # and the plan: tiny pins vCPUs 0 and 1 to host CPUs 2 and 3
        self.assertRegex(out, r"(?m)^plan:\n  topology +1 socket\(s\), 1 die\(s\), 2 core\(s\)")
        self.assertRegex(out, r"(?m)^  vcpu 0 +2$")
        self.assertRegex(out, r"(?m)^  vcpu 1 +3$")
        # what the host gives up while it runs, before anything is applied
        self.assertRegex(out, r"(?m)^  isolation +system\.slice, user\.slice, init\.scope -> "
                              r"0-1,4-15$")
        self.assertRegex(out, r"(?m)^  governor +performance on 2-3$")
        self.assertRegex(out, r"(?m)^warning +isolation-unavailable +")
        doc = self.json("check", "tiny")
        self.assertEqual(doc["plan"]["vcpu-pins"], [[0, "2"], [1, "3"]])
        self.assertEqual(doc["name"], "tiny")
        self.assertIs(doc["ok"], True)
        self.assertIn("cpu-mode-emulated", [f["code"] for f in doc["findings"]])

    def test_check_errors(self):
        r = self.ctl("check", "big", status=4)
        self.assertRegex(r.stdout, r"(?m)^error +pin-no-room +16 vCPUs need 16 host CPUs")
        self.assertRegex(r.stdout, r"(?m)^ +hint: lower vcpus")
        self.assertEqual(r.stderr, "winvmctl: error: “big” would not start: 1 error\n")
        doc = self.json("check", "big", status=4)
        self.assertIs(doc["ok"], False)
        err = [f for f in doc["findings"] if f["severity"] == "error"]
        self.assertEqual([f["code"] for f in err], ["pin-no-room"])
        self.assertTrue(err[0]["hint"].startswith("lower vcpus"))

    def test_version(self):
        out = self.ctl("version").stdout
        self.assertRegex(out, r"^winvmctl \d+\.\d+\.\d+\nwinvmd +\d+\.\d+\.\d+\n$")
        doc = self.json("version")
        self.assertEqual(doc["client"], doc["daemon"])

    def test_unknown_vm(self):
        for args in (["status"], ["start"], ["stop"], ["stop", "--force"], ["reboot"],
                     ["suspend"], ["resume"], ["render"], ["check"], ["autostart", "nope", "on"],
                     ["pin", "nope", "emulator", "0"]):
            cmd = [args[0], "nope", *args[1:]] if "nope" not in args else args
            r = self.ctl(*cmd, status=3)
            self.assertEqual(r.stderr, "winvmctl: error: no VM named “nope”\n")
            self.assertEqual(r.stdout, "")

    def test_usage_errors(self):
        for args in (["bogus"], ["--bogus"], ["start"], ["status", "tiny", "extra"],
                     ["stop", "tiny", "--wait"], ["list", "--force"], ["stop", "tiny", "-t", "x"],
                     ["stop", "tiny", "--timeout", "-3"], ["start", "tiny", "--timeout", "5"],
                     ["pin", "tiny", "vcpu", "x", "4"], ["pin", "tiny", "vcpu", "1"],
                     ["pin", "tiny", "disk", "1", "4"], ["pin", "tiny"],
                     ["autostart", "tiny", "maybe"], ["autostart", "tiny"], ["reload", "x"]):
            r = self.ctl(*args, status=2)
            self.assertEqual(r.stdout, "", args)
            self.assertRegex(r.stderr, r"\n(usage: winvmctl |Try “winvmctl --help”)", args)
        r = self.ctl("pin", "tiny", "vcpu", "x", "4", status=2)
        self.assertEqual(r.stderr, "winvmctl: error: “x” is not a number\n"
                         "usage: winvmctl pin NAME vcpu N CPUSET | iothread N CPUSET"
                         " | emulator CPUSET\n")

    def test_help(self):
        r = self.ctl("--help")
        for cmd in ("list", "status NAME", "start NAME", "stop NAME", "pin NAME vcpu N CPUSET",
                    "shutdown-all", "monitor", "host", "version", "--json", "--timeout"):
            self.assertIn(cmd, r.stdout)

    def test_access_denied(self):
        """No polkit on this bus: the daemon denies every caller but root."""
        for args in (["start", "tiny"], ["stop", "tiny"], ["autostart", "tiny", "on"],
                     ["pin", "tiny", "emulator", "0"], ["reload"], ["shutdown-all"]):
            r = self.ctl(*args, status=7, user=NOBODY)
            self.assertIn("not authorized for org.winvm1.", r.stderr)
        # reads are open
        self.assertEqual(self.json("list"), json.loads(
            self.ctl("--json", "list", user=NOBODY).stdout))


class Change(Fixture):
    def test_start_stop(self):
        self.ensure_off("tiny")
        r = self.ctl("start", "tiny", "--wait")
        self.assertEqual(r.stdout, "")  # no TTY: no progress
        self.assertEqual(self.state("tiny"), "running")
        r = self.ctl("start", "tiny", status=1)
        self.assertEqual(r.stderr, "winvmctl: error: “tiny” is already running\n")
        # how it ended (the test driver obeys the first ACPI press at once)
        self.assertRegex(self.ctl("stop", "tiny", "--timeout", "30").stdout,
                         r"^tiny: shut down on ACPI after 1 press in \d+\.\d s\n$")
        self.assertEqual(self.state("tiny"), "shut-off")
        stop = self.json("status", "tiny")["last_stop"]
        self.assertEqual(stop[:2], ["acpi", 1])
        self.ctl("start", "tiny", "--wait", "--timeout", "30")
        self.ctl("stop", "tiny", "--force")
        self.assertEqual(self.state("tiny"), "shut-off")
        self.ctl("stop", "tiny")  # already off

    def test_preflight_failure_shows_hints(self):
        r = self.ctl("start", "big", status=4)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"^winvmctl: error: pin-no-room: 16 vCPUs need 16 host CPUs"
                         r"[^\n]*\n  hint: lower vcpus, shrink host-reserved, or set pin = none\n$")
        r = self.ctl("start", "big", "--wait", status=4)
        self.assertIn("\n  hint: lower vcpus", r.stderr)
        self.assertNotEqual(self.state("big"), "running")

    def test_host(self):
        self.ensure_off("tiny")
        self.assertEqual(self.ctl("host").stdout, "winvmd has changed nothing on the host\n")
        self.assertEqual(self.json("host"), [])
        self.ctl("start", "tiny")
        try:
            gov = os.path.join(self.daemon.args[self.daemon.args.index("--sysfs-root") + 1],
                               "devices/system/cpu/cpu{}/cpufreq/scaling_governor")
            lines = self.ctl("host").stdout.splitlines()
            self.assertEqual(lines[0].split(), ["WHAT", "TARGET", "NOW", "BEFORE", "STATE", "FOR"])
            self.assertEqual([line.split() for line in lines[1:]],
                             [["governor", gov.format(c), "performance", "powersave", "applied",
                               "tiny"] for c in (2, 3)])
            self.assertEqual(self.json("host")[0],
                             {"what": "governor", "target": gov.format(2), "value": "performance",
                              "previous": "powersave", "state": "applied", "vms": ["tiny"]})
        finally:
            self.ctl("stop", "tiny", "--force")
        wait_until(lambda: self.json("host") == [], what="the governors put back")
        with open(gov.format(2)) as f:
            self.assertEqual(f.read(), "powersave\n")

    def test_suspend_resume_reboot(self):
        self.ctl("start", "win11-install")
        try:
            self.ctl("suspend", "win11-install")
            self.assertEqual(self.state("win11-install"), "paused")
            self.ctl("resume", "win11-install")
            self.assertEqual(self.state("win11-install"), "running")
            self.ctl("reboot", "win11-install")
        finally:
            self.ensure_off("win11-install")
        r = self.ctl("suspend", "win11-install", status=1)
        self.assertIn("not running", r.stderr)

    def test_pin(self):
        self.ctl("start", "work")
        try:
            self.ctl("pin", "work", "vcpu", "0", "4-5")
            self.ctl("pin", "work", "iothread", "1", "6")
            self.ctl("pin", "work", "emulator", "0")
            vm = self.json("status", "work")
            self.assertIn({"vcpu": 0, "cpuset": "4-5"}, vm["vcpu_pins"])
            self.assertEqual(vm["iothread_pins"], [{"iothread": 1, "cpuset": "6"}])
            self.assertEqual(vm["emulator_pin"], "0")
            out = self.ctl("status", "work").stdout
            self.assertRegex(out, r"(?m)^vcpu 0 +4-5$")
            self.assertRegex(out, r"(?m)^iothread 1 +6$")
            self.assertRegex(out, r"(?m)^emulator +0$")
            r = self.ctl("pin", "work", "vcpu", "9", "4", status=1)
            self.assertEqual(r.stderr, "winvmctl: error: “work” has vCPUs 0 to 3, not 9\n")
            self.ctl("pin", "work", "vcpu", "0", "banana", status=1)
        finally:
            self.ensure_off("work")

    def test_autostart(self):
        self.ctl("autostart", "tiny", "on")
        self.assertIs(self.json("status", "tiny")["autostart"], True)
        self.assertRegex(self.ctl("list").stdout, r"(?m)^tiny .* yes$")
        self.ctl("autostart", "tiny", "off")
        self.assertIs(self.json("status", "tiny")["autostart"], False)

    def test_shutdown_all(self):
        self.ctl("start", "tiny")
        self.ctl("start", "win11-install")
        r = self.ctl("shutdown-all", "--timeout", "20")
        # each VM's own end: tiny by its ladder, win11-install by its policy
        self.assertRegex(r.stdout, r"^tiny: shut down on ACPI after 1 press in \d+\.\d s\n"
                         r"win11-install: forced off after \d+\.\d s\n$")
        self.assertEqual(self.state("tiny"), "shut-off")
        self.assertEqual(self.state("win11-install"), "shut-off")
        self.ctl("shutdown-all")  # nothing runs

    def test_reload(self):
        broken = os.path.join(self.daemon.config_dir, "broken.conf")
        extra = os.path.join(self.daemon.config_dir, "extra.conf")
        with open(broken, "w") as f:
            f.write("[vm]\nname = broken\nmemory = 16\n")
        with open(extra, "w") as f:
            f.write(TINY.replace("name = tiny", "name = extra"))
        try:
            r = self.ctl("reload", status=1)
            self.assertEqual(r.stderr, "winvmctl: error: 1 profile could not be read:\n"
                             f"  {broken}:3: [vm] memory: “16” needs a unit: KiB, MiB, GiB or TiB\n")
            self.assertIn("extra", [vm["name"] for vm in self.json("list")])
            doc = self.json("reload", status=1)
            self.assertEqual(len(doc["errors"]), 1)
            self.assertTrue(doc["errors"][0].startswith(broken + ":3:"))
        finally:
            os.unlink(broken)
            os.unlink(extra)
        self.assertEqual(self.ctl("reload").stdout, "")
        self.assertEqual(self.json("reload"), {"errors": []})
        self.assertEqual([vm["name"] for vm in self.json("list")], VM_NAMES)

    def test_progress_on_a_tty(self):
        self.ctl("start", "tiny")

        def script(command):
            return on_a_tty(self.bus.address, command)

        r = script(f"{WINVMCTL} stop tiny --timeout 30")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"\r\x1b\[Ktiny: [a-z-]+, 30 s left\r?\n")
        self.assertRegex(r.stdout, r"\r\x1b\[Ktiny: shutting-down \(acpi\), 30 s left\r?\n")
        self.assertRegex(r.stdout, r"\r\x1b\[Ktiny: shut-off\r\n"
                         r"tiny: shut down on ACPI after 1 press in \d+\.\d s\r\n$")
        r = script(f"{WINVMCTL} start tiny --wait")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"tiny: [a-z-]+ \(0 s\)\r?\n")
        self.assertTrue(r.stdout.endswith("tiny: running\r\n"), repr(r.stdout))
        self.ensure_off("tiny")

    def test_start_shows_hugepage_steps_on_a_tty(self):
        # a 1G pool that cannot grow at all (the fake tree's limit file):
        # start compacts, then falls back to 2M pages, and says so on a tty
        sysfs = self.daemon.args[self.daemon.args.index("--sysfs-root") + 1]
        procfs = self.daemon.args[self.daemon.args.index("--proc-root") + 1]
        pools = [os.path.join(sysfs, d, "hugepages-1048576kB") for d in
                 ("kernel/mm/hugepages", "devices/system/node/node0/hugepages")]
        saved = {}
        for d in pools:
            for name in ("nr_hugepages", "free_hugepages"):
                with open(os.path.join(d, name)) as f:
                    saved[os.path.join(d, name)] = f.read()
                with open(os.path.join(d, name), "w") as f:
                    f.write("0\n")
            with open(os.path.join(d, "nr_hugepages.limit"), "w") as f:
                f.write("0\n")
        compact = os.path.join(procfs, "sys", "vm", "compact_memory")
        os.makedirs(os.path.dirname(compact), exist_ok=True)
        with open(compact, "w"):
            pass
        conf = os.path.join(self.daemon.config_dir, "hpfb.conf")
        with open(conf, "w") as f:
            f.write(TINY.replace("name = tiny", "name = hpfb").replace("memory = 512MiB",
                                                                       "memory = 1GiB")
                    + "[memory]\nhugepages = 1G\nhugepages-allocate = true\n")
        try:
            self.ctl("reload")
            r = on_a_tty(self.bus.address, f"{WINVMCTL} start hpfb")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("hpfb: starting (compacting)", r.stdout)
            self.assertIn("only 0 of 1 1G pages could be reserved after compacting memory",
                          r.stdout + r.stderr)
            with open(conf, "a") as f:
                f.write("hugepages-fallback = 2M\n")
            self.ctl("reload")
            r = on_a_tty(self.bus.address, f"{WINVMCTL} start hpfb")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"\r\x1b\[Khpfb: starting \(reserving-hugepages\) \(0 s\)")
            self.assertIn("hpfb: starting (compacting)", r.stdout)
            self.assertTrue(r.stdout.endswith("hpfb: running\r\n"), repr(r.stdout))
            self.assertEqual(self.json("status", "hpfb")["hugepages"], "2M")
            # without a tty, nothing is drawn
            self.ctl("stop", "hpfb", "--force")
            self.assertEqual(self.ctl("start", "hpfb").stdout, "")
            self.ctl("stop", "hpfb", "--force")
        finally:
            os.unlink(conf)
            self.ctl("reload")
            for d in pools:
                os.unlink(os.path.join(d, "nr_hugepages.limit"))
            for path, text in saved.items():
                with open(path, "w") as f:
                    f.write(text)

    def test_monitor(self):
        self.ensure_off("tiny")
        for fmt in ("text", "json"):
            with self.subTest(fmt):
                mon = Monitor(self, self.bus.address, json_lines=fmt == "json")
                try:
                    mon.wait_subscribed()
                    self.ctl("start", "tiny")
                    line = mon.saw(r"tiny.*running")
                    if fmt == "json":
                        event = json.loads(line)
                        self.assertEqual(event["event"], "changed")
                        self.assertEqual(event["vm"], "tiny")
                        self.assertEqual(event["path"], "/org/winvm1/vm/tiny")
                        self.assertEqual(event["properties"]["state"], "running")
                    else:
                        self.assertEqual(line, "tiny: State running\n")
                    self.ctl("stop", "tiny")
                    mon.saw(r"tiny.*shut-off")
                finally:
                    lines, err = mon.stop(signal.SIGINT if fmt == "text" else signal.SIGTERM)
                self.assertEqual(mon.proc.returncode, 0, err)
                self.assertEqual(err, "")
                if fmt == "json":
                    for line in lines:
                        json.loads(line)

    def test_completion(self):
        require("/bin/bash", "bash")
        script = os.path.join(SRC, "client", "winvmctl.bash")

        def complete(*words):
            env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
            quoted = " ".join(f"'{w}'" for w in words)
            r = subprocess.run(
                ["/bin/bash", "-c", f'source "{script}"; COMP_WORDS=({quoted}); '
                 f'COMP_CWORD={len(words) - 1}; _winvmctl; echo "${{COMPREPLY[@]}}"'],
                capture_output=True, text=True, env=env, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
            return r.stdout.split()

        self.assertEqual(complete("winvmctl", "st"), ["status", "start", "stop"])
        self.assertIn("shutdown-all", complete("winvmctl", ""))
        self.assertEqual(complete(WINVMCTL, "start", ""), VM_NAMES)
        self.assertEqual(complete(WINVMCTL, "--json", "status", "g"), ["gaming"])
        self.assertEqual(complete(WINVMCTL, "pin", "tiny", ""), ["vcpu", "iothread", "emulator"])
        self.assertEqual(complete(WINVMCTL, "autostart", "tiny", ""), ["on", "off"])
        self.assertEqual(complete(WINVMCTL, "stop", "tiny", "--"),
                         ["--json", "--help", "--timeout", "--force"])
        self.assertEqual(complete(WINVMCTL, "stop", "--timeout", ""), [])
        self.assertEqual(complete(WINVMCTL, "list", ""), [])


EDITOR_SCRIPT = """#!/bin/sh
# a stand-in for vi: each run applies the next of the sed scripts in $WV_EDITS
# (one per line) to the file; counts its runs in $WV_EDITS.count
n=$(cat "$WV_EDITS.count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > "$WV_EDITS.count"
script=$(sed -n "${n}p" "$WV_EDITS")
[ -n "$WV_ALSO" ] && echo "# meanwhile" >> "$WV_ALSO"
exec sed -i -e "$script" "$1"
"""


class Manage(Fixture):
    """create, profile, edit, set, delete, import (issue 16)."""

    def setUp(self):
        self.conf = os.path.join(self.workdir, "vms")
        self.editor = os.path.join(self.workdir, "fake-editor")
        with open(self.editor, "w") as f:
            f.write(EDITOR_SCRIPT)
        os.chmod(self.editor, 0o755)

    def tearDown(self):
        # the class's other tests expect the VMs they started with
        for name in ("made", "imported"):
            if os.path.exists(os.path.join(self.conf, name + ".conf")):
                self.ensure_off(name)
                self.ctl("delete", name)

    def edit(self, name, edits, answers="", also=None):
        edits_file = os.path.join(self.workdir, "edits")
        with open(edits_file, "w") as f:
            f.write("\n".join(edits) + "\n")
        if os.path.exists(edits_file + ".count"):
            os.unlink(edits_file + ".count")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, LC_ALL="C.UTF-8",
                   EDITOR=self.editor, WV_EDITS=edits_file, WV_ALSO=also or "")
        r = subprocess.run([WINVMCTL, "edit", name], input=answers, capture_output=True,
                           text=True, env=env, timeout=60)
        with open(edits_file + ".count") as f:
            runs = int(f.read())
        return r, runs

    def profile_file(self, name):
        with open(os.path.join(self.conf, name + ".conf")) as f:
            return f.read()

    def test_create_profile_set_delete(self):
        r = self.ctl("create", "made", "--template", "minimal", "--memory", "1GiB",
                     "--vcpus", "2", "--disk", "/var/lib/libvirt/images/made.qcow2")
        self.assertEqual(r.stdout, "created made\n")
        text = self.ctl("profile", "made").stdout
        self.assertEqual(text, self.profile_file("made"))
        self.assertIn("template = minimal", text)
        self.assertIn("[disk:main]\nsource = /var/lib/libvirt/images/made.qcow2", text)
        j = self.json("profile", "made")
        self.assertEqual(j["text"], text)
        self.assertRegex(j["etag"], r"^[0-9a-f]{64}$")
        self.ctl("set", "made", "memory=2GiB", "autostart=true")
        st = self.json("status", "made")
        self.assertEqual(st["memory_kib"], 2 * 1048576)
        self.assertIs(st["autostart"], True)
        r = self.ctl("set", "made", "vcpus=lots", status=1)
        self.assertRegex(r.stderr, r"made\.conf:\d+: \[vm\] vcpus")
        self.ctl("set", "made", "colour=red", status=1)
        self.ctl("set", "made", "memory", status=2)
        self.ctl("create", "made", "--template", "minimal", status=9)
        self.ctl("create", "../x", status=1)
        self.ctl("create", "x", "--undefine", status=2)
        self.ctl("delete", "made", "--undefine")
        self.ctl("status", "made", status=3)
        self.assertTrue(glob.glob(os.path.join(self.conf, "made.conf.deleted-*")))

    def test_edit(self):
        self.ctl("create", "made", "--template", "minimal", "--memory", "1GiB")
        r, runs = self.edit("made", ["s/^memory = 1GiB/memory = 3GiB/"])
        self.assertEqual((r.returncode, runs), (0, 1), r.stderr)
        self.assertIn("memory = 3GiB", self.profile_file("made"))
        self.assertEqual(self.json("status", "made")["memory_kib"], 3 * 1048576)

        # invalid, and the user does not want to try again: nothing changes
        before = self.profile_file("made")
        r, runs = self.edit("made", ["s/^memory = 3GiB/memory = lots/"], answers="n\n")
        self.assertEqual((r.returncode, runs), (1, 1), r.stderr)
        self.assertRegex(r.stderr, r"made\.conf:\d+: \[vm\] memory")
        self.assertIn("Edit again?", r.stderr)
        self.assertEqual(self.profile_file("made"), before)

        # invalid, again, then right
        r, runs = self.edit("made", ["s/^memory = 3GiB/memory = lots/",
                                     "s/^memory = lots/memory = 2GiB/"], answers="y\n")
        self.assertEqual((r.returncode, runs), (0, 2), r.stderr)
        self.assertIn("memory = 2GiB", self.profile_file("made"))

        # somebody changes the file while the editor is open
        r, runs = self.edit("made", ["s/^memory = 2GiB/memory = 1GiB/"],
                            also=os.path.join(self.conf, "made.conf"))
        self.assertEqual(r.returncode, 8, r.stderr)
        self.assertIn("changed while you edited it", r.stderr)
        self.assertIn("memory = 2GiB", self.profile_file("made"))

        # no change: nothing written
        r, runs = self.edit("made", ["s/^NOTHING//"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no changes", r.stderr)

    def test_import(self):
        xml = os.path.join(self.workdir, "dom.xml")
        with open(xml, "w") as f:
            f.write("""<domain type='kvm'><name>orig</name><memory unit='KiB'>1048576</memory>
<vcpu>2</vcpu><os><type arch='x86_64' machine='q35'>hvm</type></os>
<devices><panic model='hyperv'/></devices></domain>""")
        r = self.ctl("import", xml, "--name", "imported")
        self.assertTrue(r.stdout.startswith("imported imported\n"), r.stdout)
        self.assertIn("name = imported", self.profile_file("imported"))
        self.ctl("delete", "imported")
        j = self.json("import", xml, "--name", "imported")
        self.assertEqual(j["name"], "imported")
        self.assertIsInstance(j["not_carried"], list)
        # a domain of the test driver: not QEMU/KVM, said so
        r = self.ctl("import", "test", "--name", "x", status=1)
        self.assertIn("QEMU/KVM", r.stderr)
        self.ctl("import", "no-such-domain", status=3)
        self.ctl("import", os.path.join(self.workdir, "missing.xml"), status=1)

    def test_manage_access_denied(self):
        for args in (["create", "x", "--template", "minimal"], ["profile", "tiny"],
                     ["set", "tiny", "memory=1GiB"], ["delete", "tiny"],
                     ["import", "test", "--name", "x"]):
            r = self.ctl(*args, status=7, user=NOBODY)
            self.assertIn("org.winvm1.manage", r.stderr)


class Unreachable(unittest.TestCase):
    """Exit status 6: no daemon on the bus, a daemon that stopped, no bus."""

    def setUp(self):
        require(WINVMCTL, "winvmctl")
        self.workdir = new_workdir("winvmctl-test-")
        self.bus = Bus(self.workdir)
        self.client = Client(self.bus.address)

    def tearDown(self):
        self.client.close()
        self.bus.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def check_unreachable(self, address):
        for args in (["list"], ["status", "tiny"], ["start", "tiny"], ["monitor"], ["reload"],
                     ["shutdown-all"], ["--json", "list"]):
            r = run(address, *args)
            self.assertEqual(r.returncode, 6, f"{args}: {r.stdout}{r.stderr}")
            self.assertEqual(r.stdout, "")
            self.assertRegex(r.stderr, r"^winvmctl: error: the winvm daemon is not running \(.+\)\n$")
        r = run(address, "version")
        self.assertEqual(r.returncode, 6)
        self.assertRegex(r.stdout, r"^winvmctl \d+\.\d+\.\d+\n$")
        r = run(address, "--json", "version")
        self.assertEqual(r.returncode, 6)
        self.assertIsNone(json.loads(r.stdout)["daemon"])
        # usage errors are found before the bus is asked
        self.assertEqual(run(address, "start").returncode, 2)

    def test_daemon_stopped(self):
        daemon = start_daemon(self.bus, self.client, self.workdir)
        self.assertEqual(run(self.bus.address, "list").returncode, 0)
        mon = Monitor(self, self.bus.address, json_lines=True)
        try:
            mon.wait_subscribed()
            daemon.stop()
            # the monitor says so and stays
            self.assertEqual(json.loads(mon.saw(r"stopped")),
                             {"event": "stopped", "path": "/org/winvm1"})
            self.assertIsNone(mon.proc.poll())
        finally:
            daemon.stop()
            mon.stop(signal.SIGTERM)
        self.assertEqual(mon.proc.returncode, 0)
        wait_until(lambda: not self.client.name_has_owner(BUS_NAME), 20,
                   "winvmd to leave the bus")
        self.check_unreachable(self.bus.address)

    def test_no_bus(self):
        self.check_unreachable("unix:path=" + os.path.join(self.workdir, "nonexistent"))


class Timeout(unittest.TestCase):
    """Exit status 5, with a python-dbusmock winvmd whose VM takes 2 s to be
    forced off; the real daemon's test driver stops domains at once."""

    FORCED = ("import time; time.sleep(2); raise dbus.exceptions.DBusException("
              "'{msg}', name='org.winvm1.Error.Timeout')")

    def setUp(self):
        require(WINVMCTL, "winvmctl")
        self.workdir = new_workdir("winvmctl-test-")
        self.bus = Bus(self.workdir)
        self.client = Client(self.bus.address)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address)
        self.mock = subprocess.Popen([PYTHON, "-m", "dbusmock", "--system", "-m", "org.winvm1",
                                      "/org/winvm1", "org.winvm1.Manager"], env=env,
                                     stdout=subprocess.DEVNULL)
        wait_until(lambda: self.client.name_has_owner(BUS_NAME), 20, "the mock winvmd")
        self.mock_call("/org/winvm1", "AddMethod", "(sssss)",
                       ("org.winvm1.Manager", "ListVMs", "", "a(so)",
                        "ret = [('slow', dbus.ObjectPath('/org/winvm1/vm/slow'))]"))
        self.mock_call("/org/winvm1", "AddMethod", "(sssss)",
                       ("org.winvm1.Manager", "ShutdownAll", "u", "",
                        self.FORCED.format(msg="forced off at the deadline: slow")))
        props = {"Name": GLib.Variant("s", "slow"), "State": GLib.Variant("s", "running")}
        self.mock_call("/org/winvm1", "AddObject", "(ssa{sv}a(ssss))",
                       ("/org/winvm1/vm/slow", "org.winvm1.VM", props,
                        [("Shutdown", "u", "", self.FORCED.format(
                            msg="“slow” did not shut down within 2 s and was forced off")),
                         ("Start", "", "", "")]))  # and it never runs

    def mock_call(self, path, method, sig, args):
        self.client.call(path, "org.freedesktop.DBus.Mock", method, GLib.Variant(sig, args))

    def tearDown(self):
        stop_process(self.mock)
        self.client.close()
        self.bus.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def test_stop_forced(self):
        r = run(self.bus.address, "stop", "slow", "--timeout", "2")
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "winvmctl: error: “slow” did not shut down within 2 s and "
                         "was forced off\n")

    def test_shutdown_all_forced(self):
        r = run(self.bus.address, "shutdown-all")
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(r.stderr, "winvmctl: error: forced off at the deadline: slow\n")

    def test_start_wait_gives_up(self):
        r = run(self.bus.address, "start", "slow", "--wait", "--timeout", "1")
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(r.stderr, "winvmctl: error: “slow” is not running after 1 s\n")

    def test_countdown_on_a_tty(self):
        r = on_a_tty(self.bus.address, f"{WINVMCTL} stop slow --timeout 3")
        self.assertEqual(r.returncode, 5, r.stdout)
        self.assertIn("slow: running, 3 s left\r\n", r.stdout)
        self.assertIn("slow: running, 2 s left\r\n", r.stdout)  # redrawn each second
        self.assertTrue(r.stdout.endswith("\r\x1b[Kslow: running\r\nwinvmctl: error: “slow” did not "
                                          "shut down within 2 s and was forced off\r\n"),
                        repr(r.stdout))


if __name__ == "__main__":
    unittest.main()
