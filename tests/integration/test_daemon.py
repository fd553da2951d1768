#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvmd on a private system bus with libvirt's test:///default driver and
the fake "ryzen" host: every method and property of org.winvm1.Manager and
org.winvm1.VM, PropertiesChanged, every error name reachable here, polkit
(python-dbusmock), Reload, hugepage reservations, concurrent calls.

Each test gets its own bus and daemon (the test driver's state lives in the
daemon's process), and ends by checking the daemon still answers."""

import configparser
import json
import os
import re
import shutil
import signal
import time
import subprocess
import sys
import textwrap
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon_fixture import (  # noqa: E402
    BUS_NAME, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, POLKIT_PATH, PROPS_IFACE, SRC, TEMPLATE_DIR,
    VM_IFACE,
    WINVMD, Bus, Client, test_driver_with_domain,
    NOBODY, Daemon, GLib, Polkit, copy_host, finish_user_client, new_workdir, print_log,
    run_as_user,
    spawn_as_user, wait_until)

E = "org.winvm1.Error."
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
INTROSPECT = "org.freedesktop.DBus.Introspectable"

# ---- profiles ---------------------------------------------------------------

ALPHA = """\
# alpha: the everyday test VM
[vm]
name = alpha
template = minimal
memory = 1GiB
vcpus = 4

[cpu]
pin = auto
iothreads = 1
"""

# a name that needs escaping in an object path, and a GPU
GPU = """\
[vm]
name = my-vm.2
template = minimal
memory = 512MiB
vcpus = 2

[cpu]
pin = none

[hostdev:gpu]
pci = 0f:00.0,0f:00.1
"""

HUGEPAGES = """\
[vm]
name = hp
template = minimal
memory = 1GiB
vcpus = 2

[memory]
hugepages = 2M
hugepages-allocate = true
"""

# the ryzen host has 16 CPUs; pin = auto keeps some for the host
TOO_BIG = """\
[vm]
name = big
template = minimal
memory = 1GiB
vcpus = 16

[cpu]
pin = auto
"""

# 48 more 1G pages than the pool has free: more than the host has available
HUGE_1G = """\
[vm]
name = huge
template = minimal
memory = 64GiB
vcpus = 2

[memory]
hugepages = 1G
hugepages-allocate = true
"""

# on_reboot = restart
WINDOWS = """\
[vm]
name = win
template = windows11
memory = 1GiB
vcpus = 2
"""

# UEFI without secure boot, as the windows10 template is
NO_SECURE_BOOT = """\
[vm]
name = nosb
template = windows11
memory = 1GiB
vcpus = 2

[firmware]
secure-boot = off
"""

WINDOWS10 = """\
[vm]
name = win10
template = windows10
memory = 1GiB
vcpus = 2
"""

VM_PROPERTIES = {
    "Name": "s", "UUID": "s", "State": "s", "VCPUs": "u", "MemoryKiB": "t", "VCPUPins": "a(us)",
    "IOThreadPins": "a(us)", "EmulatorPin": "s", "Hugepages": "s", "HostDevices": "as",
    "Autostart": "b", "ShutdownTimeout": "u", "PendingRestart": "b", "ShutdownStep": "s",
    "StartStep": "s", "LastStop": "(sud)", "GuestAgent": "b", "OnHostSleep": "s",
    "BlockingSleep": "b",
}
MANAGER_PROPERTIES = {"Version": "s", "LibvirtConnected": "b", "LibvirtURI": "s",
                      "ProfileErrors": "as"}

HOSTILE_CPUSETS = [
    "0-99999", "a,b", "../", "-1", "", " ", ",", "1-", "-", "3-1", "1,1", "0x1", "1.5", "1;2",
    "1 2", "1,,2", "4294967296", "99999999999999999999", "1-2-3", "../../etc/passwd",
    "%s%s%n", "\u00e9", "\n",
    "x" * 10240, "1," * 5120, "9" * 10240, "0-" * 5000 + "1",
]


def v(sig, *args):
    return GLib.Variant(sig, tuple(args))


def parse_interface(name):
    """Methods and properties of dbus/NAME.xml: the contract."""
    root = ET.parse(os.path.join(SRC, "dbus", name + ".xml")).getroot()
    iface = root.find(f"interface[@name='{name}']")
    methods = {m.get("name"): [(a.get("type"), a.get("direction", "in")) for a in m.findall("arg")]
               for m in iface.findall("method")}
    props = {p.get("name"): (p.get("type"), p.get("access")) for p in iface.findall("property")}
    return methods, props


def read_int(path):
    # winvmd rewrites the fake tree's pool files (truncate, then write): a
    # read in between sees nothing; -1 lets a wait_until() poll again
    with open(path) as f:
        text = f.read().strip()
    return int(text) if text else -1


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


class DaemonTest(unittest.TestCase):
    """A bus, a daemon with PROFILES in its config dir, a root client."""

    PROFILES = {"alpha.conf": ALPHA, "my-vm.2.conf": GPU, "hp.conf": HUGEPAGES}
    LIBVIRT_URI = "test:///default"
    HOST = "ryzen"

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before and getattr(self, "daemon", None):
            print_log(f"winvmd log of {self.id()}", self.daemon.log())
        if getattr(self, "workdir", None):
            shutil.rmtree(self.workdir, ignore_errors=True)
        return result

    def setUp(self):
        self.workdir = new_workdir()
        self.sysfs, self.procfs = copy_host(self.HOST, self.workdir)
        # the 2M pool starts empty, whatever the checked-in tree says
        for pool in self.pools_2m():
            write_file(pool, "0\n")
            write_file(os.path.join(os.path.dirname(pool), "free_hugepages"), "0\n")
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir)
        for name, text in self.PROFILES.items():
            write_file(os.path.join(self.config_dir, name), text)
        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.client.subscribe()
        self.daemon = self.new_daemon()
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)

    def new_daemon(self, **kw):
        kw.setdefault("libvirt_uri", self.LIBVIRT_URI)
        return Daemon(self.bus, self.workdir, self.config_dir, self.sysfs, self.procfs, **kw)

    def tearDown(self):
        # the daemon survives everything the test did
        if self.daemon.proc is not None:
            self.assertTrue(self.daemon.alive(), "winvmd died")
            self.assertIsInstance(self.client.list_vms(), list)

    # ---- helpers ----------------------------------------------------------

    def pools_2m(self):
        return [os.path.join(self.sysfs, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
                os.path.join(self.sysfs,
                             "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages")]

    def pool_pages(self):
        """Pages in the 2M pools: (global, node 0)."""
        return tuple(read_int(p) for p in self.pools_2m())

    def start_polkit(self):
        polkit = Polkit(self.bus.address, os.path.join(self.workdir, "polkitd.log"))
        self.addCleanup(polkit.stop)
        return polkit

    def path(self, name):
        return self.client.vm_path(name)

    def state(self, path):
        return self.client.get(path, "State")

    def assert_error(self, expected, path, iface, method, args=None):
        name, message = self.client.call_error(path, iface, method, args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        self.assertIn(name, expected, f"{method}: {message}")
        self.assertTrue(message, f"{method}: {name} without a message")
        return message

    def start_vm(self, path):
        self.client.vm(path, "Start")
        self.client.wait_property(path, "State", "running")
        self.assertEqual(self.state(path), "running")
        self.settle(path)

    def settle(self, path):
        """Waits for the refresh that follows a state change: State comes
        from the lifecycle event at once, UUID and pins a moment later."""
        wait_until(lambda: self.client.get(path, "UUID"), what="the UUID")
        self.client.wait_idle(path)

    def force_off(self, path):
        self.client.vm(path, "ForceOff")
        wait_until(lambda: self.state(path) == "shut-off", what="State shut-off")

    def render(self, name):
        return self.client.manager("Render", v("(s)", name), "(s)")[0]

    def check(self, name):
        return self.client.manager("Check", v("(s)", name), "(a(ssss))")[0]

    def reload(self):
        return self.client.manager("Reload", None, "(as)")[0]

    def wait_state(self, path, state):
        wait_until(lambda: self.state(path) == state,
                   what=f"State {state} (is {self.state(path)})")


# ---- Manager ------------------------------------------------------------------

class ManagerTest(DaemonTest):
    def test_properties(self):
        c = self.client
        props = c.get_all(MANAGER_PATH, MANAGER_IFACE)
        self.assertEqual(set(props), set(MANAGER_PROPERTIES))
        self.assertRegex(props["Version"], r"^\d+\.\d+\.\d+$")
        self.assertIs(props["LibvirtConnected"], True)
        self.assertEqual(props["LibvirtURI"], "test:///default")
        self.assertEqual(props["ProfileErrors"], [])
        for name in MANAGER_PROPERTIES:
            self.assertEqual(c.get(MANAGER_PATH, name, MANAGER_IFACE), props[name])

    def test_properties_are_read_only(self):
        for name, value in [("Version", GLib.Variant("s", "9")),
                            ("LibvirtConnected", GLib.Variant("b", False)),
                            ("LibvirtURI", GLib.Variant("s", "qemu:///system")),
                            ("ProfileErrors", GLib.Variant("as", []))]:
            self.assert_error(("org.freedesktop.DBus.Error.InvalidArgs", E + "InvalidArgs",
                               "org.freedesktop.DBus.Error.PropertyReadOnly"),
                              MANAGER_PATH, PROPS_IFACE, "Set",
                              GLib.Variant("(ssv)", (MANAGER_IFACE, name, value)))
        self.assertEqual(self.client.get(MANAGER_PATH, "LibvirtURI", MANAGER_IFACE),
                         "test:///default")

    def test_introspection_matches_contract(self):
        for iface, path in [(MANAGER_IFACE, MANAGER_PATH), (VM_IFACE, self.path("alpha"))]:
            methods, props = parse_interface(iface)
            xml = self.client.call(path, INTROSPECT, "Introspect", None, "(s)")[0]
            node = ET.fromstring(xml)
            served = node.find(f"interface[@name='{iface}']")
            self.assertIsNotNone(served, f"{path} does not serve {iface}")
            got_methods = {m.get("name"): [(a.get("type"), a.get("direction", "in"))
                                           for a in m.findall("arg")]
                           for m in served.findall("method")}
            got_props = {p.get("name"): (p.get("type"), p.get("access"))
                         for p in served.findall("property")}
            self.assertEqual(got_methods, methods)
            self.assertEqual(got_props, props)
        root = ET.fromstring(self.client.call(MANAGER_PATH, INTROSPECT, "Introspect", None,
                                              "(s)")[0])
        self.assertIsNotNone(root.find(f"interface[@name='{OM_IFACE}']"))
        # the VM objects are children of /org/winvm1/vm
        vms = ET.fromstring(self.client.call("/org/winvm1/vm", INTROSPECT, "Introspect", None,
                                             "(s)")[0])
        self.assertEqual(sorted(n.get("name") for n in vms.findall("node")),
                         ["alpha", "hp", "my_2dvm_2e2"])

    def test_contract_lists_every_property_tested(self):
        self.assertEqual({k: t for k, (t, _) in parse_interface(VM_IFACE)[1].items()},
                         VM_PROPERTIES)
        self.assertEqual({k: t for k, (t, _) in parse_interface(MANAGER_IFACE)[1].items()},
                         MANAGER_PROPERTIES)

    def test_list_vms(self):
        self.assertEqual(self.client.list_vms(),
                         [("alpha", "/org/winvm1/vm/alpha"), ("hp", "/org/winvm1/vm/hp"),
                          ("my-vm.2", "/org/winvm1/vm/my_2dvm_2e2")])

    def test_get_managed_objects(self):
        objects = self.client.call(MANAGER_PATH, OM_IFACE, "GetManagedObjects", None,
                                   "(a{oa{sa{sv}}})")[0]
        self.assertEqual(sorted(objects), ["/org/winvm1/vm/alpha", "/org/winvm1/vm/hp",
                                           "/org/winvm1/vm/my_2dvm_2e2"])
        for path, ifaces in objects.items():
            self.assertEqual(list(ifaces), [VM_IFACE])
            self.assertEqual(ifaces[VM_IFACE], self.client.get_all(path))

    def test_render(self):
        xml = self.render("alpha")
        self.assertEqual(xml, self.render("alpha"), "Render is not deterministic")
        dom = ET.fromstring(xml)
        self.assertEqual(dom.tag, "domain")
        self.assertEqual(dom.findtext("name"), "alpha")
        self.assertEqual(dom.findtext("vcpu"), "4")
        self.assertEqual(int(dom.findtext("memory")), 1024 * 1024)
        self.assertEqual(len(dom.findall("cputune/vcpupin")), 4)
        gpu = ET.fromstring(self.render("my-vm.2"))
        self.assertEqual(len(gpu.findall("devices/hostdev")), 2)
        hp = ET.fromstring(self.render("hp"))
        self.assertEqual(hp.find("memoryBacking/hugepages/page").get("size"), "2048")

    def test_check(self):
        findings = self.check("alpha")
        for severity, code, message, hint in findings:
            self.assertIn(severity, ("error", "warning", "info"))
            self.assertRegex(code, r"^[a-z0-9-]+$")
            self.assertTrue(message)
        self.assertNotIn("error", [f[0] for f in findings])
        codes = {f[1]: f for f in self.check("hp")}
        self.assertIn("hugepages-reserve", codes)
        self.assertIn("512 pages", codes["hugepages-reserve"][2])

    def test_plan(self):
        # alpha on the Ryzen tree: 4 vCPUs best fit on CCX0 (6 free threads),
        # sibling pairs, the host's core 0 for the emulator and I/O thread
        plan = self.client.manager("Plan", v("(s)", "alpha"), "(a{sv})")[0]
        self.assertEqual((plan["sockets"], plan["dies"], plan["cores"], plan["threads"]),
                         (1, 1, 2, 2))
        self.assertEqual(plan["vcpu-pins"], [(0, "1"), (1, "9"), (2, "2"), (3, "10")])
        self.assertEqual(plan["iothread-pins"], [(1, "0,8")])
        self.assertEqual(plan["emulator-pin"], "0,8")
        self.assertEqual(plan["numa-node"], -1)
        self.assertEqual(plan["hugepage-size"], "none")
        self.assertIn("relaxed", plan["hyperv"])
        hp = self.client.manager("Plan", v("(s)", "hp"), "(a{sv})")[0]
        self.assertEqual((hp["hugepage-size"], hp["hugepages-needed"], hp["hugepages-reserve"]),
                         ("2M", 512, 512))
        # the plan follows pins set over D-Bus, like the next start will
        self.client.call(self.path("alpha"), VM_IFACE, "PinVCPU", v("(us)", 3, "7"))
        plan = self.client.manager("Plan", v("(s)", "alpha"), "(a{sv})")[0]
        self.assertEqual(plan["vcpu-pins"][3], (3, "7"))
        self.assert_error(E + "NotFound", MANAGER_PATH, MANAGER_IFACE, "Plan", v("(s)", "nope"))
        self.assert_error(E + "InvalidArgs", MANAGER_PATH, MANAGER_IFACE, "Plan", v("(s)", "x/y"))

    def test_check_reports_preflight_errors(self):
        write_file(os.path.join(self.config_dir, "big.conf"), TOO_BIG)
        write_file(os.path.join(self.config_dir, "huge.conf"), HUGE_1G)
        self.assertEqual(self.reload(), [])
        big = [f for f in self.check("big") if f[0] == "error"]
        self.assertEqual([f[1] for f in big], ["pin-no-room"])
        huge = [f for f in self.check("huge") if f[0] == "error"]
        self.assertEqual([f[1] for f in huge], ["hugepages-cannot-grow"])
        self.assertTrue(huge[0][3], "no hint")

    def test_render_is_exact_or_fails(self):
        # pins to CPUs the Ryzen does not have: Render never drops them
        write_file(os.path.join(self.config_dir, "far.conf"),
                   "[vm]\nname = far\ntemplate = minimal\nmemory = 512MiB\nvcpus = 2\n"
                   "[cpu]\npin = 40,41\n")
        self.assertEqual(self.reload(), [])
        msg = self.assert_error(E + "PreflightFailed", MANAGER_PATH, MANAGER_IFACE, "Render",
                                v("(s)", "far"))
        # one finding per key, naming every absent CPU
        self.assertIn("cpu-unknown: [cpu] pin names CPUs 40-41", msg)
        self.assertEqual([f[1] for f in self.check("far") if f[0] == "error"],
                         ["cpu-unknown"])
        msg = self.assert_error(E + "PreflightFailed", self.path("far"), VM_IFACE, "Start")
        self.assertIn("cpu-unknown", msg)

    def test_check_agrees_with_winvmd_check(self):
        # pins saved over D-Bus count in both: one preflight path
        path = self.path("alpha")
        self.start_vm(path)
        self.client.vm(path, "PinVCPU", v("(us)", 2, "13"))
        self.client.vm(path, "PinEmulator", v("(s)", "6-7"))
        self.force_off(path)
        r = subprocess.run([WINVMD, "--check", os.path.join(self.config_dir, "alpha.conf"),
                            "--sysfs-root", self.sysfs, "--proc-root", self.procfs,
                            "--state-dir", self.daemon.state_dir,
                            "--libvirt-uri", "test:///default"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, WINVM_TEMPLATE_DIR=TEMPLATE_DIR,
                                    DBUS_SYSTEM_BUS_ADDRESS=self.bus.address))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        offline, pins, emulator = [], [], None
        for line in r.stdout.splitlines():
            m = re.match(r"^  (error|warning|info)\s+([a-z0-9-]+): (.*)$", line)
            if m:
                offline.append([m.group(1), m.group(2), m.group(3), ""])
            elif line.startswith("          hint: "):
                offline[-1][3] = line[len("          hint: "):]
            elif (m := re.match(r"^  vcpu (\d+)\s+-> host CPU (\S+)$", line)):
                pins.append((int(m.group(1)), m.group(2)))
            elif (m := re.match(r"^  emulator -> host CPU (\S+)$", line)):
                emulator = m.group(1)
        self.assertEqual([tuple(f) for f in offline], [tuple(f) for f in self.check("alpha")])
        plan = self.client.manager("Plan", v("(s)", "alpha"), "(a{sv})")[0]
        self.assertEqual(pins, plan["vcpu-pins"])
        self.assertEqual((2, "13"), pins[2])
        self.assertEqual(emulator, plan["emulator-pin"])
        self.assertEqual(emulator, "6-7")

    def test_render_check_unknown_name(self):
        for method in ("Render", "Check"):
            msg = self.assert_error(E + "NotFound", MANAGER_PATH, MANAGER_IFACE, method,
                                    v("(s)", "nope"))
            self.assertIn("nope", msg)

    def test_render_check_invalid_names(self):
        for method in ("Render", "Check"):
            for name in ("x/../y", "../alpha", "/etc/passwd", "", ".alpha", "-alpha", "a b",
                         "alpha\n", "a" * 65, "a" * 10240, "\u00e9t\u00e9"):
                msg = self.assert_error(E + "InvalidArgs", MANAGER_PATH, MANAGER_IFACE, method,
                                        v("(s)", name))
                self.assertLess(len(msg), 400, "the message repeats a long name in full")

    def test_render_broken_template(self):
        broken = os.path.join(self.workdir, "broken.xml")
        write_file(broken, "<domain type='kvm'><name>x</name>")  # not well-formed
        write_file(os.path.join(self.workdir, "notdomain.xml"), "<network/>")
        write_file(os.path.join(self.config_dir, "b1.conf"),
                   f"[vm]\nname = b1\nmemory = 1GiB\ntemplate = {broken}\n")
        write_file(os.path.join(self.config_dir, "b2.conf"),
                   "[vm]\nname = b2\nmemory = 1GiB\ntemplate = "
                   + os.path.join(self.workdir, "notdomain.xml") + "\n")
        write_file(os.path.join(self.config_dir, "b3.conf"),
                   "[vm]\nname = b3\nmemory = 1GiB\ntemplate = nonexistent\n")
        self.assertEqual(self.reload(), [])
        msg = self.assert_error(E + "InvalidProfile", MANAGER_PATH, MANAGER_IFACE, "Render",
                                v("(s)", "b1"))
        self.assertIn(broken, msg)
        self.assert_error(E + "InvalidProfile", MANAGER_PATH, MANAGER_IFACE, "Render",
                          v("(s)", "b2"))
        # a missing template is a preflight error: Render fails as Start does
        msg = self.assert_error(E + "PreflightFailed", MANAGER_PATH, MANAGER_IFACE, "Render",
                                v("(s)", "b3"))
        self.assertIn("template-missing", msg)
        self.assertIn("template-missing", [f[1] for f in self.check("b3") if f[0] == "error"])
        # Start refuses them cleanly and the VM is not left "starting"
        b1 = self.path("b1")
        self.assert_error(E + "InvalidProfile", b1, VM_IFACE, "Start")
        b3 = self.path("b3")
        msg = self.assert_error(E + "PreflightFailed", b3, VM_IFACE, "Start")
        self.assertIn("template-missing", msg)
        self.wait_state(b1, "undefined")
        self.wait_state(b3, "undefined")
        # mended in place, then edited without a Reload: the render shows the
        # file as it is now once the plan cache's 2 s are over (the daemon
        # keeps parsed templates only while their file stays the same)
        with open(os.path.join(TEMPLATE_DIR, "minimal.xml")) as f:
            minimal = f.read()
        for word in ("first", "second"):
            write_file(broken, minimal.replace("</domain>",
                                               f"<description>{word}</description></domain>"))
            wait_until(lambda: f"<description>{word}</description>" in self.render("b1"), 5,
                       f"the template's edit “{word}” in Render", poll=0.2)

    def test_shutdown_all(self):
        a, g = self.path("alpha"), self.path("my-vm.2")
        self.start_vm(a)
        self.start_vm(g)
        self.client.manager("ShutdownAll", v("(u)", 5))
        self.wait_state(a, "shut-off")
        self.wait_state(g, "shut-off")
        self.assertIn("shut-off", self.client.values_of(a, "State"))
        # nothing running: returns at once
        self.client.manager("ShutdownAll", v("(u)", 0))

    def test_shutdown_all_by_policy(self):
        write_file(os.path.join(self.config_dir, "saver.conf"),
                   "[vm]\nname = saver\ntemplate = minimal\nmemory = 256MiB\n"
                   "on-host-shutdown = save\n")
        write_file(os.path.join(self.config_dir, "killer.conf"),
                   "[vm]\nname = killer\ntemplate = minimal\nmemory = 256MiB\n"
                   "on-host-shutdown = destroy\n")
        self.assertEqual(self.reload(), [])
        s, k = self.path("saver"), self.path("killer")
        self.start_vm(s)
        self.start_vm(k)
        self.client.manager("ShutdownAll", v("(u)", 5))
        self.wait_state(s, "saved")
        self.wait_state(k, "shut-off")
        # a saved VM starts again
        self.start_vm(s)


# ---- VM properties -------------------------------------------------------------

class NoKvmTest(DaemonTest):
    """A host without KVM (the fake "nokvm" cloud VM, whatever this machine
    is): kvm profiles are refused with kvm-unavailable by Check, Render and
    Start alike; emulated ones run."""

    HOST = "nokvm"
    PROFILES = {"kvm.conf": "[vm]\nname = kvm\ntemplate = minimal\nmemory = 512MiB\nvcpus = 1\n",
                "tcg.conf": "[vm]\nname = tcg\ntemplate = minimal\nmemory = 512MiB\nvcpus = 1\n"
                            "hypervisor = qemu\n"}

    def pools_2m(self):
        return [os.path.join(self.sysfs, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")]

    def test_kvm_profile_refused(self):
        errors = [f for f in self.check("kvm") if f[0] == "error"]
        self.assertEqual([f[1] for f in errors], ["kvm-unavailable"])
        self.assertIn("its CPU offers no VT-x/AMD-V", errors[0][2])
        self.assertIn("hypervisor = qemu", errors[0][3])
        msg = self.assert_error(E + "PreflightFailed", MANAGER_PATH, MANAGER_IFACE, "Render",
                                v("(s)", "kvm"))
        self.assertIn("kvm-unavailable", msg)
        path = self.path("kvm")
        msg = self.assert_error(E + "PreflightFailed", path, VM_IFACE, "Start")
        self.assertIn("kvm-unavailable", msg)
        self.wait_state(path, "undefined")

    def test_emulated_profile_runs(self):
        findings = self.check("tcg")
        self.assertNotIn("error", [f[0] for f in findings])
        self.assertIn(("info", "hypervisor-emulated"), [(f[0], f[1]) for f in findings])
        self.assertEqual(ET.fromstring(self.render("tcg")).get("type"), "qemu")
        self.start_vm(self.path("tcg"))


class VmPropertiesTest(DaemonTest):
    def test_properties_before_definition(self):
        alpha = self.client.get_all(self.path("alpha"))
        self.assertEqual(alpha, {
            "Name": "alpha", "UUID": "", "State": "undefined", "VCPUs": 4,
            "MemoryKiB": 1024 * 1024, "VCPUPins": [], "IOThreadPins": [], "EmulatorPin": "",
            "Hugepages": "none", "HostDevices": [], "Autostart": False, "ShutdownTimeout": 120,
            "PendingRestart": False, "ShutdownStep": "", "StartStep": "",
            "LastStop": ("", 0, 0.0), "GuestAgent": False, "OnHostSleep": "ignore",
            "BlockingSleep": False})
        gpu = self.client.get_all(self.path("my-vm.2"))
        self.assertEqual(gpu["Name"], "my-vm.2")
        self.assertEqual(gpu["MemoryKiB"], 512 * 1024)
        self.assertEqual(gpu["HostDevices"], ["0000:0f:00.0", "0000:0f:00.1"])
        self.assertEqual(self.client.get(self.path("hp"), "Hugepages"), "2M")

    def test_every_property_by_get(self):
        path = self.path("alpha")
        self.start_vm(path)
        props = self.client.get_all(path)
        self.assertEqual(set(props), set(VM_PROPERTIES))
        for name, sig in VM_PROPERTIES.items():
            reply = self.client.call(path, PROPS_IFACE, "Get", v("(ss)", VM_IFACE, name), "(v)")
            self.assertEqual(reply[0], props[name], name)
            raw = self.client.conn.call_sync(BUS_NAME, path, PROPS_IFACE, "Get",
                                             v("(ss)", VM_IFACE, name), None, 0, 5000, None)
            self.assertEqual(raw.get_child_value(0).get_variant().get_type_string(), sig, name)

    def test_properties_while_running(self):
        path = self.path("alpha")
        self.start_vm(path)
        p = self.client.get_all(path)
        self.assertRegex(p["UUID"], UUID_RE)
        self.assertEqual(p["State"], "running")
        self.assertEqual(p["VCPUs"], 4)
        self.assertEqual(p["MemoryKiB"], 1024 * 1024)
        dom = ET.fromstring(self.render("alpha"))
        self.assertEqual(p["VCPUPins"], [(int(e.get("vcpu")), e.get("cpuset"))
                                         for e in dom.findall("cputune/vcpupin")])
        self.assertEqual(p["IOThreadPins"], [(int(e.get("iothread")), e.get("cpuset"))
                                             for e in dom.findall("cputune/iothreadpin")])
        self.assertEqual(p["EmulatorPin"], dom.find("cputune/emulatorpin").get("cpuset"))
        self.assertEqual(len(p["VCPUPins"]), 4)
        self.assertEqual(p["Hugepages"], "none")
        self.assertEqual(p["HostDevices"], [])
        self.assertIs(p["Autostart"], False)
        # the UUID stays across a stop and the next start (the definition is kept)
        self.force_off(path)
        self.start_vm(path)
        self.assertEqual(self.client.get(path, "UUID"), p["UUID"])

    def test_running_properties_of_gpu_and_hugepages(self):
        g, h = self.path("my-vm.2"), self.path("hp")
        self.start_vm(g)
        self.start_vm(h)
        self.assertEqual(self.client.get(g, "HostDevices"), ["0000:0f:00.0", "0000:0f:00.1"])
        self.assertEqual(self.client.get(g, "VCPUPins"), [])  # pin = none
        self.assertEqual(self.client.get(h, "Hugepages"), "2M")

    def test_blocking_sleep(self):
        """A VM with a passed-through device blocks host sleep by default,
        only while it runs; PropertiesChanged says when it starts and ends."""
        g, a = self.path("my-vm.2"), self.path("alpha")
        self.assertEqual(self.client.get(g, "OnHostSleep"), "block")
        self.assertEqual(self.client.get(a, "OnHostSleep"), "ignore")
        self.assertIs(self.client.get(g, "BlockingSleep"), False)
        self.start_vm(g)
        self.start_vm(a)
        self.assertIs(self.client.get(g, "BlockingSleep"), True)
        self.assertIs(self.client.get(a, "BlockingSleep"), False)
        self.client.wait_property(g, "BlockingSleep", True)
        self.client.vm(g, "Suspend")  # paused, it still holds the device
        self.client.wait_property(g, "State", "paused")
        self.assertIs(self.client.get(g, "BlockingSleep"), True)
        self.force_off(g)
        self.client.wait_property(g, "BlockingSleep", False)
        self.assertEqual(self.client.values_of(g, "BlockingSleep"), [True, False])
        self.assertNotIn(True, self.client.values_of(a, "BlockingSleep"))

    def test_unknown_property(self):
        path = self.path("alpha")
        self.assert_error(("org.freedesktop.DBus.Error.InvalidArgs", E + "InvalidArgs",
                           "org.freedesktop.DBus.Error.UnknownProperty"),
                          path, PROPS_IFACE, "Get", v("(ss)", VM_IFACE, "Bogus"))
        self.assert_error(("org.freedesktop.DBus.Error.InvalidArgs", E + "InvalidArgs",
                           "org.freedesktop.DBus.Error.UnknownInterface"),
                          path, PROPS_IFACE, "GetAll", v("(s)", "org.winvm1.Bogus"))

    def test_profile_for_someone_elses_domain(self):
        # test:///default always runs a domain "test" that winvm did not
        # define: a profile of that name neither mirrors, stops nor
        # redefines it
        write_file(os.path.join(self.config_dir, "test.conf"),
                   "[vm]\nname = test\ntemplate = minimal\nmemory = 1GiB\n")
        self.assertEqual(self.reload(), [])
        path = self.path("test")
        self.client.wait_idle(path)
        self.assertEqual(self.state(path), "undefined")
        self.assertEqual(self.client.get(path, "UUID"), "")
        errors = [f for f in self.check("test") if f[0] == "error"]
        self.assertEqual([f[1] for f in errors], ["domain-not-winvm"])
        self.assertIn("virsh metadata test --config --uri urn:x-winvm:domain:1", errors[0][3])
        for _ in range(2):  # the second Start proves ForceOff left it there
            msg = self.assert_error(E + "PreflightFailed", path, VM_IFACE, "Start")
            self.assertIn("domain-not-winvm", msg)
            self.client.vm(path, "ForceOff")  # winvm's VM is off: nothing to do
            self.assertEqual(self.state(path), "undefined")
        for method in ("Reboot", "Suspend"):
            msg = self.assert_error(E + "Failed", path, VM_IFACE, method)
            self.assertIn("not winvm's", msg)
        self.assert_error(E + "InvalidArgs", path, VM_IFACE, "PinVCPU", v("(us)", 5, "1"))
        self.client.vm(path, "PinVCPU", v("(us)", 0, "1"))  # saved for a start, nothing pinned

    def test_profile_for_existing_domain(self):
        # a host that runs winvm's domain "test": a profile of that name
        # mirrors it
        self.daemon.stop()
        self.daemon = self.new_daemon(libvirt_uri=test_driver_with_domain(self.workdir))
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)
        write_file(os.path.join(self.config_dir, "test.conf"),
                   "[vm]\nname = test\ntemplate = minimal\nmemory = 1GiB\n")
        self.assertEqual(self.reload(), [])
        path = self.path("test")
        self.wait_state(path, "running")
        self.settle(path)
        self.assertRegex(self.client.get(path, "UUID"), UUID_RE)
        msg = self.assert_error(E + "Failed", path, VM_IFACE, "Start")
        self.assertIn("already running", msg)
        self.wait_state(path, "running")  # at once: test_state_after_a_failed_start
        self.force_off(path)


# ---- lifecycle -------------------------------------------------------------------

class LifecycleTest(DaemonTest):
    PROFILES = dict(DaemonTest.PROFILES, **{"win.conf": WINDOWS, "big.conf": TOO_BIG,
                                            "huge.conf": HUGE_1G, "nosb.conf": NO_SECURE_BOOT,
                                            "win10.conf": WINDOWS10})

    def test_start_and_force_off(self):
        path = self.path("alpha")
        self.assertEqual(self.client.vm(path, "Start"), ())
        self.client.wait_property(path, "State", "running")
        self.assertEqual(self.state(path), "running")
        self.assertEqual(self.client.vm(path, "ForceOff"), ())
        self.client.wait_property(path, "State", "shut-off")
        states = self.client.values_of(path, "State")
        self.assertLess(states.index("running"), len(states) - 1 - states[::-1].index("shut-off"))

    def test_start_announces_starting_then_running(self):
        # what a client watching State sees during one Start: no shut-off in
        # between (the definition step must not show through)
        path = self.path("alpha")
        # the first resync (unknown -> undefined) may still be under way on a
        # slow (sanitized) build; it is not part of what is tested here
        wait_until(lambda: self.state(path) == "undefined", what="the first resync")
        self.client.wait_idle(path)  # its PropertiesChanged, if any, is collected
        for attempt in range(10):
            before = len(self.client.values_of(path, "State"))
            self.client.vm(path, "Start")
            self.client.wait_property(path, "State", "running")
            self.client.wait_idle(path)
            seen = self.client.values_of(path, "State")[before:]
            self.assertEqual(seen, ["starting", "running"], f"attempt {attempt}")
            self.force_off(path)

    def test_suspend_resume(self):
        path = self.path("alpha")
        self.start_vm(path)
        self.client.vm(path, "Suspend")
        self.client.wait_property(path, "State", "paused")
        self.assertEqual(self.state(path), "paused")
        self.client.vm(path, "Resume")
        wait_until(lambda: self.client.values_of(path, "State")[-1:] == ["running"],
                   what="State running after Resume")
        self.assertEqual(self.state(path), "running")
        # ForceOff from paused
        self.client.vm(path, "Suspend")
        self.wait_state(path, "paused")
        self.force_off(path)

    def test_reboot(self):
        path = self.path("win")  # on_reboot = restart
        self.start_vm(path)
        self.assertEqual(self.client.vm(path, "Reboot"), ())
        self.client.wait_idle(path)
        self.wait_state(path, "running")
        # minimal.xml: on_reboot = destroy
        alpha = self.path("alpha")
        self.start_vm(alpha)
        self.client.vm(alpha, "Reboot")
        self.wait_state(alpha, "shut-off")

    def test_shutdown(self):
        path = self.path("alpha")
        self.start_vm(path)
        self.assertEqual(self.client.vm(path, "Shutdown", v("(u)", 5)), ())
        self.client.wait_property(path, "State", "shut-off")
        # 0: the profile's shutdown-timeout
        self.start_vm(path)
        self.client.vm(path, "Shutdown", v("(u)", 0))
        self.wait_state(path, "shut-off")
        # already off: nothing to do
        self.client.vm(path, "Shutdown", v("(u)", 1))
        self.assertEqual(self.state(path), "shut-off")

    def test_shutdown_step_and_last_stop(self):
        # libvirt's test driver has no guest agent (GuestAgent stays false,
        # so the Windows ladder's agent step is skipped) and obeys the first
        # ACPI press at once; the ladder's timing is unit-tested (test-stop)
        # and run against real guests in the e2e suite
        for name in ("alpha", "win"):  # acpi; agent,acpi (Windows template)
            path = self.path(name)
            self.assertEqual(self.client.get(path, "LastStop"), ("", 0, 0.0))
            self.start_vm(path)
            self.assertIs(self.client.get(path, "GuestAgent"), False)
            before = len(self.client.values_of(path, "ShutdownStep"))
            self.client.vm(path, "Shutdown", v("(u)", 5))
            self.client.wait_property(path, "LastStop", self.client.get(path, "LastStop"))
            self.assertEqual(self.client.values_of(path, "ShutdownStep")[before:], ["acpi", ""])
            how, presses, secs = self.client.get(path, "LastStop")
            self.assertEqual((how, presses), ("acpi", 1), name)
            self.assertLess(secs, 5)
            self.assertEqual(self.client.get(path, "ShutdownStep"), "")
            self.assertIn(f"{name}: shut down on ACPI after 1 press in ", self.daemon.log())
        # overtaken by ForceOff? Not here: the test driver's ACPI is instant;
        # ForceOff alone leaves LastStop as it was
        path = self.path("alpha")
        last = self.client.get(path, "LastStop")
        self.start_vm(path)
        self.force_off(path)
        self.assertEqual(self.client.get(path, "LastStop"), last)

    def test_shutdown_timeout_out_of_range(self):
        path = self.path("alpha")
        self.start_vm(path)
        for t in (86401, 2**32 - 1):
            self.assert_error(E + "InvalidArgs", path, VM_IFACE, "Shutdown", v("(u)", t))
        self.assertEqual(self.state(path), "running")
        # the refused call did not keep the VM busy
        self.force_off(path)

    def test_calls_on_a_vm_that_is_not_running(self):
        path = self.path("alpha")
        for method in ("Suspend", "Resume", "Reboot"):
            self.assert_error(E + "Failed", path, VM_IFACE, method)
        self.assertEqual(self.state(path), "undefined")
        self.start_vm(path)
        self.force_off(path)
        for method in ("Suspend", "Resume", "Reboot"):
            msg = self.assert_error(E + "Failed", path, VM_IFACE, method)
            self.assertTrue(msg)
        self.assertEqual(self.state(path), "shut-off")
        # ForceOff of a VM that is off is not an error
        self.client.vm(path, "ForceOff")
        self.assertEqual(self.state(path), "shut-off")

    def test_resume_running_vm_fails(self):
        path = self.path("alpha")
        self.start_vm(path)
        self.assert_error(E + "Failed", path, VM_IFACE, "Resume")
        self.assertEqual(self.state(path), "running")

    def test_start_running_vm_fails(self):
        path = self.path("alpha")
        self.start_vm(path)
        msg = self.assert_error(E + "Failed", path, VM_IFACE, "Start")
        self.assertIn("already running", msg)
        self.wait_state(path, "running")  # at once: test_state_after_a_failed_start

    def test_preflight_failed_no_room(self):
        path = self.path("big")
        msg = self.assert_error(E + "PreflightFailed", path, VM_IFACE, "Start")
        self.assertIn("pin-no-room", msg)
        self.wait_state(path, "undefined")
        self.assertEqual(self.client.get(path, "UUID"), "")

    def test_state_after_a_failed_start(self):
        # once Start has answered with an error, State is what it was, not
        # "starting": the caller reads it right after the reply
        path = self.path("big")
        seen = []
        for attempt in range(50):
            self.assert_error(E + "PreflightFailed", path, VM_IFACE, "Start")
            seen.append(self.state(path))
        self.assertEqual(seen, ["undefined"] * 50)
        # and for a VM that runs
        alpha = self.path("alpha")
        self.start_vm(alpha)
        seen = []
        for attempt in range(50):
            self.assert_error(E + "Failed", alpha, VM_IFACE, "Start")
            seen.append(self.state(alpha))
        self.assertEqual(seen, ["running"] * 50)

    def test_preflight_failed_hugepages(self):
        pool = os.path.join(self.sysfs, "kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")
        before = read_int(pool)
        path = self.path("huge")
        msg = self.assert_error(E + "PreflightFailed", path, VM_IFACE, "Start")
        self.assertIn("hugepages-cannot-grow", msg)
        self.assertEqual(read_int(pool), before)
        self.assertEqual([f for f in (os.listdir(self.daemon.runtime_dir)
                                      if os.path.isdir(self.daemon.runtime_dir) else [])
                          if f.endswith(".hugepages")], [])
        self.wait_state(path, "undefined")

    def test_unknown_vm_path(self):
        for path in ("/org/winvm1/vm/nope", "/org/winvm1/vm/_2e_2e", "/org/winvm1/vm/x_2fy"):
            for method, args in (("Start", None), ("ForceOff", None),
                                 ("Shutdown", v("(u)", 1)), ("PinVCPU", v("(us)", 0, "1")),
                                 ("PinEmulator", v("(s)", "1"))):
                self.assert_error(E + "NotFound", path, VM_IFACE, method, args)
            self.assert_error(E + "NotFound", path, PROPS_IFACE, "Get",
                              v("(ss)", VM_IFACE, "State"))
            self.assert_error(E + "NotFound", path, PROPS_IFACE, "GetAll", v("(s)", VM_IFACE))
            self.assert_error(E + "NotFound", path, PROPS_IFACE, "Set",
                              GLib.Variant("(ssv)", (VM_IFACE, "Autostart",
                                                     GLib.Variant("b", True))))

    def test_two_starts_back_to_back(self):
        path = self.path("alpha")
        for attempt in range(3):
            calls = [self.client.call_async(path, VM_IFACE, "Start") for _ in range(2)]
            wait_until(lambda: all(calls), what="both Start calls to return")
            self.assertEqual(len([c for c in calls if "reply" in c]), 1, calls)
            # the other one either found the VM busy or found it running
            loser = [c["error"] for c in calls if "error" in c][0]
            self.assertTrue(loser[0] == E + "Busy"
                            or (loser[0] == E + "Failed" and "already running" in loser[1]),
                            calls)
            self.wait_state(path, "running")
            self.client.wait_idle(path)
            self.assertEqual(self.client.values_of(path, "State")[-1], "running")
            # the loser left nothing behind: the VM is not busy any more
            self.force_off(path)

    def block_start(self, path):
        """Sends Start and keeps it in its worker: the profile's tuning file
        is a FIFO that the worker opens and waits on. Returns the pending
        call and a function that lets the worker go on."""
        os.makedirs(self.daemon.state_dir, exist_ok=True)
        fifo = os.path.join(self.daemon.state_dir, "alpha.tuning")
        os.mkfifo(fifo)
        start = self.client.call_async(path, VM_IFACE, "Start")

        def release():
            def open_writer():  # ENXIO until the worker opened it for reading
                try:
                    return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    return None
            os.close(wait_until(open_writer, what="Start's worker to open the tuning file"))
            wait_until(lambda: start, what="Start to return")
            os.unlink(fifo)
        return start, release

    def test_lifecycle_calls_on_a_busy_vm(self):
        path = self.path("alpha")
        start, release = self.block_start(path)
        self.client.wait_property(path, "State", "starting")
        calls = [self.client.call_async(path, VM_IFACE, m, a)
                 for m, a in (("Start", None), ("ForceOff", None), ("Shutdown", v("(u)", 5)),
                              ("Suspend", None), ("Resume", None), ("Reboot", None))]
        wait_until(lambda: all(calls), what="every call on the busy VM to return")
        for c in calls:
            self.assertEqual(c.get("error", (None,))[0], E + "Busy", calls)
        self.assertEqual(start, {})  # still starting
        release()
        self.assertIn("reply", start, start)
        self.wait_state(path, "running")
        # once done, the next call runs
        self.force_off(path)

    def test_state_stays_starting_until_start_ends(self):
        # a client watching State sees starting, then running: nothing that
        # happens meanwhile (a refused call, a refresh) shows anything else
        path = self.path("alpha")
        start, release = self.block_start(path)
        self.client.wait_property(path, "State", "starting")
        first = len(self.client.values_of(path, "State")) - 1
        busy = self.client.call_async(path, VM_IFACE, "ForceOff")
        wait_until(lambda: busy, what="ForceOff to return")
        self.assertEqual(busy.get("error", (None,))[0], E + "Busy")
        self.client.wait_idle(path)
        self.assertEqual(self.state(path), "starting")
        release()
        self.wait_state(path, "running")
        self.client.wait_idle(path)
        self.assertEqual(self.client.values_of(path, "State")[first:], ["starting", "running"])

    def test_main_loop_answers_while_a_start_waits(self):
        path, other = self.path("alpha"), self.path("my-vm.2")
        start, release = self.block_start(path)
        self.client.wait_property(path, "State", "starting")
        calls = []
        for i in range(20):
            calls.append(self.client.call_async(*[
                (path, PROPS_IFACE, "GetAll", v("(s)", VM_IFACE)),
                (MANAGER_PATH, MANAGER_IFACE, "ListVMs", None),
                (MANAGER_PATH, MANAGER_IFACE, "Check", v("(s)", "hp")),
                (MANAGER_PATH, MANAGER_IFACE, "Render", v("(s)", "my-vm.2")),
                (MANAGER_PATH, OM_IFACE, "GetManagedObjects", None),
            ][i % 5]))
        calls.append(self.client.call_async(other, VM_IFACE, "Start"))
        calls.append(self.client.call_async(MANAGER_PATH, MANAGER_IFACE, "Reload"))
        wait_until(lambda: all(calls), what="calls while a Start waits")
        self.assertEqual([c for c in calls if "error" in c], [])
        self.wait_state(other, "running")
        # Reload kept the object whose call runs
        self.assertIn(("alpha", path), self.client.list_vms())
        self.assertEqual(start, {})
        release()
        self.assertIn("reply", start, start)
        self.wait_state(path, "running")

    def test_start_without_secure_boot(self):
        # [firmware] secure-boot = off on an UEFI template, and the windows10
        # template (UEFI without secure boot): libvirt must accept the domain
        for name in ("nosb", "win10"):
            path = self.path(name)
            try:
                self.client.vm(path, "Start")
            except GLib.Error as e:
                self.fail(f"Start {name}: {e.message}")
            self.wait_state(path, "running")

    def test_client_vanishing_mid_call(self):
        path = self.path("alpha")
        script = textwrap.dedent(f"""
            import sys
            from gi.repository import Gio
            c = Gio.DBusConnection.new_for_address_sync(sys.argv[1],
                Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
            c.call("{BUS_NAME}", "{path}", "{VM_IFACE}", "Start", None, None, 0, -1, None,
                   None)
            c.flush_sync(None)
        """)
        subprocess.run(["/usr/bin/python3", "-c", script, self.bus.address], check=True,
                       timeout=30)
        # whether its Start ran depends on whether winvmd learnt the caller's
        # uid before it left; either way the VM ends up free for the next call
        def start_again():
            r = self.client.call_async(path, VM_IFACE, "Start")
            wait_until(lambda: r, what="Start")
            if r.get("error", ("",))[0] == E + "Busy":
                return False
            self.assertTrue("reply" in r or "already running" in r["error"][1], r)
            return True
        wait_until(start_again, what="the VM to be free again")
        self.wait_state(path, "running")
        self.force_off(path)


# ---- pinning -------------------------------------------------------------------------

class PinTest(DaemonTest):
    def tuning(self, name):
        kf = configparser.ConfigParser()
        kf.optionxform = str
        kf.read(os.path.join(self.daemon.state_dir, name + ".tuning"))
        return {s: dict(kf[s]) for s in kf.sections()}

    def test_pin_running_vm(self):
        path = self.path("alpha")
        self.start_vm(path)
        pins = self.client.get(path, "VCPUPins")
        self.assertEqual(self.client.vm(path, "PinVCPU", v("(us)", 1, "3")), ())
        want = [(i, "3" if i == 1 else s) for i, s in pins]
        self.client.wait_property(path, "VCPUPins", want)
        self.assertEqual(self.client.get(path, "VCPUPins"), want)
        self.client.vm(path, "PinIOThread", v("(us)", 1, "4,5"))
        self.client.wait_property(path, "IOThreadPins", [(1, "4-5")])
        self.client.vm(path, "PinEmulator", v("(s)", "6-7"))
        self.client.wait_property(path, "EmulatorPin", "6-7")
        self.assertEqual(self.tuning("alpha"), {"vcpupin": {"1": "3"}, "iothreadpin": {"1": "4-5"},
                                                "emulatorpin": {"cpuset": "6-7"}})
        # the plan follows: Render and the next start
        dom = ET.fromstring(self.render("alpha"))
        self.assertEqual(dom.find("cputune/vcpupin[@vcpu='1']").get("cpuset"), "3")
        self.assertEqual(dom.find("cputune/iothreadpin[@iothread='1']").get("cpuset"), "4-5")
        self.assertEqual(dom.find("cputune/emulatorpin").get("cpuset"), "6-7")
        self.force_off(path)
        self.start_vm(path)
        for prop, value in (("VCPUPins", want), ("IOThreadPins", [(1, "4-5")]),
                            ("EmulatorPin", "6-7")):
            wait_until(lambda: self.client.get(path, prop) == value,
                       what=f"{prop} {value} after the next start")

    def test_pin_defined_vm_that_is_off(self):
        # the test driver cannot pin an inactive domain; whatever the daemon
        # does about it, a pin is either done (and kept) or refused (and not
        # kept): never refused but applied at the next start
        path = self.path("alpha")
        self.start_vm(path)
        self.force_off(path)
        results = {}
        for method, args in (("PinVCPU", v("(us)", 0, "5")), ("PinEmulator", v("(s)", "7"))):
            try:
                self.client.vm(path, method, args)
                results[method] = "ok"
            except GLib.Error as e:
                results[method] = e.message
        tuning = self.tuning("alpha")
        self.assertEqual(tuning.get("vcpupin") == {"0": "5"}, results["PinVCPU"] == "ok",
                         f"replies {results}, saved {tuning}")
        self.assertEqual(tuning.get("emulatorpin") == {"cpuset": "7"},
                         results["PinEmulator"] == "ok", f"replies {results}, saved {tuning}")
        self.start_vm(path)
        # what was accepted is used by the next start
        if results["PinVCPU"] == "ok":
            wait_until(lambda: (0, "5") in self.client.get(path, "VCPUPins"),
                       what="VCPUPins with (0, '5')")
        if results["PinEmulator"] == "ok":
            wait_until(lambda: self.client.get(path, "EmulatorPin") == "7",
                       what="EmulatorPin 7")

    def test_concurrent_pins_are_all_kept(self):
        path = self.path("alpha")
        self.start_vm(path)
        for round in range(3):
            calls = [self.client.call_async(path, VM_IFACE, "PinVCPU",
                                            v("(us)", vcpu, str(vcpu + 4 * round)))
                     for vcpu in range(4)]
            calls.append(self.client.call_async(path, VM_IFACE, "PinIOThread",
                                                v("(us)", 1, str(12 + round))))
            calls.append(self.client.call_async(path, VM_IFACE, "PinEmulator",
                                                v("(s)", str(13 + round))))
            wait_until(lambda: all(calls), what="every pin to return")
            self.assertEqual([c for c in calls if "error" in c], [])
            self.assertEqual(self.tuning("alpha"), {
                "vcpupin": {str(i): str(i + 4 * round) for i in range(4)},
                "iothreadpin": {"1": str(12 + round)},
                "emulatorpin": {"cpuset": str(13 + round)}}, f"round {round}")

    def test_pin_before_first_start(self):
        path = self.path("my-vm.2")  # pin = none: nothing pinned by the plan
        self.client.vm(path, "PinVCPU", v("(us)", 1, "2,10"))
        self.assertEqual(self.tuning("my-vm.2"), {"vcpupin": {"1": "2,10"}})
        dom = ET.fromstring(self.render("my-vm.2"))
        self.assertEqual([(e.get("vcpu"), e.get("cpuset")) for e in dom.findall("cputune/vcpupin")],
                         [("1", "2,10")])
        self.start_vm(path)
        wait_until(lambda: self.client.get(path, "VCPUPins") == [(1, "2,10")],
                   what="VCPUPins [(1, '2,10')]")

    def test_pins_survive_daemon_restart(self):
        path = self.path("alpha")
        self.client.vm(path, "PinVCPU", v("(us)", 3, "12"))
        self.daemon.stop()
        self.daemon.start(self.client)
        dom = ET.fromstring(self.render("alpha"))
        self.assertEqual(dom.find("cputune/vcpupin[@vcpu='3']").get("cpuset"), "12")

    def test_hostile_cpusets(self):
        path = self.path("alpha")
        self.start_vm(path)
        pins = self.client.get(path, "VCPUPins")
        for text in HOSTILE_CPUSETS:
            for method, args in (("PinVCPU", v("(us)", 0, text)),
                                 ("PinIOThread", v("(us)", 1, text)),
                                 ("PinEmulator", v("(s)", text))):
                msg = self.assert_error(E + "InvalidArgs", path, VM_IFACE, method, args)
                self.assertLess(len(msg), 20000)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.state_dir, "alpha.tuning")))
        self.assertEqual(self.client.get(path, "VCPUPins"), pins)

    def test_cpus_the_host_does_not_have(self):
        path = self.path("alpha")
        for text in ("16", "0-8191", "8191", "15-16"):
            msg = self.assert_error(E + "InvalidArgs", path, VM_IFACE, "PinVCPU",
                                    v("(us)", 0, text))
            self.assertIn("not an online CPU", msg)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.state_dir, "alpha.tuning")))
        # the last online CPU is fine
        self.client.vm(path, "PinVCPU", v("(us)", 0, "15"))

    def test_out_of_range_indexes(self):
        path = self.path("alpha")  # 4 vCPUs, 1 I/O thread
        for vcpu in (4, 5, 255, 2**31, 2**32 - 1):
            self.assert_error(E + "InvalidArgs", path, VM_IFACE, "PinVCPU", v("(us)", vcpu, "1"))
        for thread in (0, 2, 2**32 - 1):
            self.assert_error(E + "InvalidArgs", path, VM_IFACE, "PinIOThread",
                              v("(us)", thread, "1"))
        msg = self.assert_error(E + "InvalidArgs", self.path("hp"), VM_IFACE, "PinIOThread",
                                v("(us)", 1, "1"))
        self.assertIn("no I/O threads", msg)
        self.assertFalse(os.path.exists(self.daemon.state_dir)
                         and os.listdir(self.daemon.state_dir))

    def test_pin_while_paused(self):
        path = self.path("alpha")
        self.start_vm(path)
        self.client.vm(path, "Suspend")
        self.wait_state(path, "paused")
        self.client.vm(path, "PinVCPU", v("(us)", 2, "11"))
        wait_until(lambda: (2, "11") in self.client.get(path, "VCPUPins"),
                   what="VCPUPins with (2, '11')")


# ---- Autostart --------------------------------------------------------------------

class AutostartTest(DaemonTest):
    def profile_file(self):
        with open(os.path.join(self.config_dir, "alpha.conf")) as f:
            return f.read()

    def test_set_autostart_rewrites_profile(self):
        path = self.path("alpha")
        self.assertEqual(self.client.set(path, "Autostart", GLib.Variant("b", True)), ())
        self.client.wait_property(path, "Autostart", True)
        self.assertIs(self.client.get(path, "Autostart"), True)
        text = self.profile_file()
        self.assertRegex(text, r"(?m)^autostart\s*=\s*true$")
        # the rest of the file is kept
        self.assertIn("# alpha: the everyday test VM", text)
        self.assertRegex(text, r"(?m)^vcpus\s*=\s*4$")
        self.assertRegex(text, r"(?m)^iothreads\s*=\s*1$")
        # the rewritten profile still loads, with the same meaning
        self.assertEqual(self.reload(), [])
        self.assertIs(self.client.get(path, "Autostart"), True)
        self.assertEqual(self.client.get(path, "VCPUs"), 4)
        self.client.set(path, "Autostart", GLib.Variant("b", False))
        self.client.wait_property(path, "Autostart", False)
        self.assertRegex(self.profile_file(), r"(?m)^autostart\s*=\s*false$")
        # setting the value it has: no error, no change announced
        n = len(self.client.values_of(path, "Autostart"))
        self.client.set(path, "Autostart", GLib.Variant("b", False))
        self.client.wait_idle(path)
        self.assertEqual(len(self.client.values_of(path, "Autostart")), n)

    def test_read_only_properties(self):
        path = self.path("alpha")
        before = self.profile_file()
        for name, sig in VM_PROPERTIES.items():
            if name == "Autostart":
                continue
            value = GLib.Variant(sig, {"s": "running", "u": 1, "t": 1, "a(us)": [(0, "1")],
                                       "as": ["x"], "b": True, "(sud)": ("agent", 0, 1.0)}[sig])
            self.assert_error((E + "InvalidArgs", "org.freedesktop.DBus.Error.InvalidArgs",
                               "org.freedesktop.DBus.Error.PropertyReadOnly"),
                              path, PROPS_IFACE, "Set",
                              GLib.Variant("(ssv)", (VM_IFACE, name, value)))
        self.assertEqual(self.state(path), "undefined")
        self.assertEqual(self.profile_file(), before)

    def test_autostart_of_a_vanished_profile(self):
        path = self.path("alpha")
        os.unlink(os.path.join(self.config_dir, "alpha.conf"))
        msg = self.assert_error(E + "Failed", path, PROPS_IFACE, "Set",
                                GLib.Variant("(ssv)", (VM_IFACE, "Autostart",
                                                       GLib.Variant("b", True))))
        self.assertIn("alpha.conf", msg)
        self.assertIs(self.client.get(path, "Autostart"), False)
        self.assertFalse(os.path.exists(os.path.join(self.config_dir, "alpha.conf")))

    def test_wrong_type_for_autostart(self):
        path = self.path("alpha")
        before = self.profile_file()
        for value in (GLib.Variant("s", "true"), GLib.Variant("u", 1), GLib.Variant("as", []),
                      GLib.Variant("v", GLib.Variant("b", True))):
            self.assert_error((E + "InvalidArgs", "org.freedesktop.DBus.Error.InvalidArgs"),
                              path, PROPS_IFACE, "Set",
                              GLib.Variant("(ssv)", (VM_IFACE, "Autostart", value)))
        self.assert_error((E + "InvalidArgs", "org.freedesktop.DBus.Error.InvalidArgs",
                           "org.freedesktop.DBus.Error.UnknownProperty"),
                          path, PROPS_IFACE, "Set",
                          GLib.Variant("(ssv)", (VM_IFACE, "Bogus", GLib.Variant("b", True))))
        self.assertEqual(self.profile_file(), before)
        self.assertIs(self.client.get(path, "Autostart"), False)


# ---- Reload -------------------------------------------------------------------------

class ReloadTest(DaemonTest):
    def added(self, path):
        return [a for p, i, m, a in self.client.signals
                if m == "InterfacesAdded" and a[0] == path]

    def removed(self, path):
        return [a for p, i, m, a in self.client.signals
                if m == "InterfacesRemoved" and a[0] == path]

    def test_new_profile_appears(self):
        write_file(os.path.join(self.config_dir, "new.conf"),
                   "[vm]\nname = new-one\ntemplate = minimal\nmemory = 2GiB\nvcpus = 3\n")
        self.assertEqual(self.reload(), [])
        path = "/org/winvm1/vm/new_2done"
        wait_until(lambda: self.added(path), what="InterfacesAdded")
        added = self.added(path)[0]
        self.assertEqual(list(added[1]), [VM_IFACE])
        self.assertEqual(added[1][VM_IFACE]["Name"], "new-one")
        self.assertEqual(added[1][VM_IFACE]["VCPUs"], 3)
        self.assertIn(("new-one", path), self.client.list_vms())
        self.wait_state(path, "undefined")
        self.start_vm(path)
        # a second reload changes nothing
        self.assertEqual(self.reload(), [])
        self.assertEqual(len(self.added(path)), 1)

    def test_removed_profile_vanishes(self):
        path = self.path("hp")
        os.unlink(os.path.join(self.config_dir, "hp.conf"))
        self.assertEqual(self.reload(), [])
        wait_until(lambda: self.removed(path), what="InterfacesRemoved")
        self.assertEqual(self.removed(path)[0][1], [VM_IFACE])
        self.assertNotIn("hp", [n for n, p in self.client.list_vms()])
        self.assert_error(E + "NotFound", path, VM_IFACE, "Start")
        self.assert_error(E + "NotFound", MANAGER_PATH, MANAGER_IFACE, "Render", v("(s)", "hp"))

    def managed(self):
        return self.client.call(MANAGER_PATH, OM_IFACE, "GetManagedObjects", None,
                                "(a{oa{sa{sv}}})")[0]

    def assert_managed_is_get_all(self):
        objects = self.managed()
        self.assertEqual(sorted(objects), sorted(p for n, p in self.client.list_vms()))
        for path, ifaces in objects.items():
            self.assertEqual(ifaces, {VM_IFACE: self.client.get_all(path)}, path)
        return objects

    def test_managed_objects_follow_every_change(self):
        # winvmd keeps the reply between calls: each change must show in the next
        path = self.path("alpha")
        self.wait_state(path, "undefined")
        self.client.wait_idle(path)
        first = self.assert_managed_is_get_all()
        self.assertEqual(self.managed(), first)
        self.start_vm(path)
        self.assertEqual(self.assert_managed_is_get_all()[path][VM_IFACE]["State"], "running")
        self.force_off(path)
        self.client.wait_idle(path)
        self.assertEqual(self.assert_managed_is_get_all()[path][VM_IFACE]["State"], "shut-off")
        write_file(os.path.join(self.config_dir, "new.conf"),
                   "[vm]\nname = new-one\ntemplate = minimal\nmemory = 2GiB\nvcpus = 3\n")
        self.assertEqual(self.reload(), [])
        new = "/org/winvm1/vm/new_2done"
        wait_until(lambda: self.added(new), what="InterfacesAdded")
        self.assertEqual(self.assert_managed_is_get_all()[new][VM_IFACE]["VCPUs"], 3)
        hp = self.path("hp")
        os.unlink(os.path.join(self.config_dir, "hp.conf"))
        self.assertEqual(self.reload(), [])
        wait_until(lambda: self.removed(hp), what="InterfacesRemoved")
        self.assertNotIn(hp, self.assert_managed_is_get_all())

    def test_removing_a_running_vm_keeps_it_until_it_stops(self):
        # the domain is left alone, and the VM stays while it runs: the host's
        # shutdown still stops it and its hugepages are still given back
        path = self.path("alpha")
        self.start_vm(path)
        uuid = self.client.get(path, "UUID")
        saved = os.path.join(self.workdir, "alpha.conf.saved")
        shutil.move(os.path.join(self.config_dir, "alpha.conf"), saved)
        self.assertEqual(self.reload(), [])
        self.assertIn("alpha", [n for n, p in self.client.list_vms()])
        self.assertEqual(self.removed(path), [])
        # the profile comes back while it runs: nothing changed
        shutil.move(saved, os.path.join(self.config_dir, "alpha.conf"))
        self.assertEqual(self.reload(), [])
        self.assertEqual(self.state(path), "running")
        self.assertEqual(self.client.get(path, "UUID"), uuid)
        # gone again, then stopped: the VM goes with it
        os.unlink(os.path.join(self.config_dir, "alpha.conf"))
        self.assertEqual(self.reload(), [])
        self.client.manager("ShutdownAll", v("(u)", 5), "()", timeout=30)
        wait_until(lambda: self.removed(path), what="InterfacesRemoved once it stopped")
        self.assertNotIn("alpha", [n for n, p in self.client.list_vms()])

    def test_broken_profiles(self):
        alpha = self.path("alpha")
        write_file(os.path.join(self.config_dir, "alpha.conf"),
                   ALPHA.replace("memory = 1GiB", "memory = 16").replace("vcpus = 4", "vcpus = 2"))
        write_file(os.path.join(self.config_dir, "bad.conf"), "[vm]\nname = bad\n[cpus]\n")
        errors = self.reload()
        self.assertEqual(len(errors), 2, errors)
        self.assertTrue(any("alpha.conf:" in e and "memory" in e for e in errors), errors)
        self.assertTrue(any("bad.conf:3:" in e and "[cpus]" in e for e in errors), errors)
        # anybody may read ProfileErrors: the same messages without the values
        public = [re.sub(r"“[^”]*”", "“…”", e) for e in errors]
        self.assertIn("“16”", "".join(errors))
        self.assertNotIn("“16”", "".join(public))
        self.assertEqual(self.client.get(MANAGER_PATH, "ProfileErrors", MANAGER_IFACE), public)
        self.client.wait_property(MANAGER_PATH, "ProfileErrors", public, iface=MANAGER_IFACE)
        # the broken profile keeps its VM and its last good settings
        self.assertIn(("alpha", alpha), self.client.list_vms())
        self.assertNotIn("bad", [n for n, p in self.client.list_vms()])
        self.assertEqual(self.client.get(alpha, "VCPUs"), 4)
        self.assertEqual(self.removed(alpha), [])
        self.start_vm(alpha)
        # the rest keep working
        self.start_vm(self.path("my-vm.2"))
        self.assertTrue(self.render("hp"))
        # fixed: errors gone
        write_file(os.path.join(self.config_dir, "alpha.conf"), ALPHA)
        os.unlink(os.path.join(self.config_dir, "bad.conf"))
        self.assertEqual(self.reload(), [])
        self.client.wait_property(MANAGER_PATH, "ProfileErrors", [], iface=MANAGER_IFACE)
        self.assertEqual(self.client.get(MANAGER_PATH, "ProfileErrors", MANAGER_IFACE), [])

    def test_duplicate_names(self):
        write_file(os.path.join(self.config_dir, "zeta.conf"), ALPHA)  # name = alpha too
        errors = self.reload()
        self.assertEqual(len(errors), 1, errors)
        self.assertIn("zeta.conf", errors[0])
        self.assertIn("alpha", errors[0])
        self.assertEqual([n for n, p in self.client.list_vms()], ["alpha", "hp", "my-vm.2"])

    def test_profile_edit_updates_properties(self):
        path = self.path("alpha")
        write_file(os.path.join(self.config_dir, "alpha.conf"),
                   ALPHA.replace("vcpus = 4", "vcpus = 2").replace("1GiB", "2GiB"))
        self.assertEqual(self.reload(), [])
        self.client.wait_property(path, "VCPUs", 2)
        self.client.wait_property(path, "MemoryKiB", 2 * 1024 * 1024)

    def test_sighup_reloads(self):
        write_file(os.path.join(self.config_dir, "hup.conf"),
                   "[vm]\nname = hup\ntemplate = minimal\nmemory = 1GiB\n")
        os.unlink(os.path.join(self.config_dir, "hp.conf"))
        self.daemon.signal(signal.SIGHUP)
        wait_until(lambda: self.added("/org/winvm1/vm/hup"), what="InterfacesAdded after SIGHUP")
        wait_until(lambda: self.removed("/org/winvm1/vm/hp"),
                   what="InterfacesRemoved after SIGHUP")
        self.assertEqual([n for n, p in self.client.list_vms()], ["alpha", "hup", "my-vm.2"])

    def test_missing_config_dir(self):
        # renamed or unmounted: every VM stays (running ones are still shut
        # down with the host), and ProfileErrors says why
        before = self.client.list_vms()
        moved = self.config_dir + ".away"
        os.rename(self.config_dir, moved)
        errors = self.reload()
        self.assertEqual(len(errors), 1, errors)
        self.assertIn(self.config_dir, errors[0])
        self.assertEqual(self.client.get(MANAGER_PATH, "ProfileErrors", MANAGER_IFACE), errors)
        self.assertEqual(self.client.list_vms(), before)
        os.rename(moved, self.config_dir)
        self.assertEqual(self.reload(), [])
        self.assertEqual(self.client.list_vms(), before)
        shutil.rmtree(self.config_dir)
        os.makedirs(self.config_dir, mode=0o755)
        write_file(os.path.join(self.config_dir, "alpha.conf"), ALPHA)
        self.assertEqual(self.reload(), [])
        self.assertEqual([n for n, p in self.client.list_vms()], ["alpha"])


# ---- hugepages --------------------------------------------------------------------

class HugepagesTest(DaemonTest):
    def record(self):
        return os.path.join(self.daemon.runtime_dir, "hp.hugepages")

    def reserved(self):
        return self.pool_pages() in ((512, 0), (0, 512))

    def test_start_reserves_stop_releases(self):
        path = self.path("hp")
        self.assertEqual(self.pool_pages(), (0, 0))
        self.start_vm(path)
        self.assertTrue(self.reserved(), self.pool_pages())
        self.assertTrue(os.path.exists(self.record()))
        kf = configparser.ConfigParser()
        kf.read(self.record())
        self.assertEqual(kf["reservation"]["added"], "512")
        self.assertEqual(kf["reservation"]["before"], "0")
        self.assertIn(kf["reservation"]["nr-path"], self.pools_2m())
        self.force_off(path)
        wait_until(lambda: self.pool_pages() == (0, 0), what="the pool back at 0")
        wait_until(lambda: not os.path.exists(self.record()), what="the record removed")

    def test_shutdown_releases(self):
        path = self.path("hp")
        self.start_vm(path)
        self.client.vm(path, "Shutdown", v("(u)", 5))
        wait_until(lambda: self.pool_pages() == (0, 0), what="the pool back at 0")
        self.assertFalse(os.path.exists(self.record()))
        # and again: the second start reserves afresh
        self.start_vm(path)
        self.assertTrue(self.reserved(), self.pool_pages())
        self.force_off(path)
        wait_until(lambda: self.pool_pages() == (0, 0), what="the pool back at 0")

    def test_restarted_daemon_does_not_reserve_twice(self):
        path = self.path("hp")
        self.start_vm(path)
        self.assertTrue(self.reserved(), self.pool_pages())
        self.daemon.kill9()
        self.daemon.start(self.client)
        # the new test driver has no such domain; starting it again reuses
        # the recorded reservation instead of growing the pool a second time
        self.start_vm(path)
        self.assertTrue(self.reserved(), self.pool_pages())
        self.force_off(path)
        wait_until(lambda: self.pool_pages() == (0, 0), what="the pool back at 0")
        self.assertFalse(os.path.exists(self.record()))

    def test_restarted_daemon_releases_pages_of_a_stopped_domain(self):
        path = self.path("hp")
        self.start_vm(path)
        self.daemon.kill9()
        # while winvmd was away the domain went away (the test driver's state
        # died with the process): the reservation must not leak
        self.daemon.start(self.client)
        self.wait_state(path, "undefined")
        wait_until(lambda: self.pool_pages() == (0, 0),
                   what=f"the pool back at 0 (is {self.pool_pages()})", timeout=5)
        self.assertFalse(os.path.exists(self.record()))

    def test_restarted_daemon_keeps_pages_of_a_running_domain(self):
        # a test driver host that runs winvm's domain "test": with a profile
        # of that name and the record a previous daemon left, it is a VM that
        # kept running while winvmd restarted
        self.daemon.stop()
        self.daemon = self.new_daemon(libvirt_uri=test_driver_with_domain(self.workdir))
        self.addCleanup(self.daemon.stop)
        write_file(os.path.join(self.config_dir, "test.conf"),
                   HUGEPAGES.replace("name = hp", "name = test"))
        pool = self.pools_2m()[0]
        write_file(pool, "512\n")
        os.makedirs(self.daemon.runtime_dir, exist_ok=True)
        record = os.path.join(self.daemon.runtime_dir, "test.hugepages")
        write_file(record, "[reservation]\npage-kib=2048\nnode=-1\n"
                   f"nr-path={pool}\nbefore=0\nadded=512\n")
        self.daemon.start(self.client)
        path = self.path("test")
        self.wait_state(path, "running")
        self.client.wait_idle(path)
        self.assertEqual(self.pool_pages(), (512, 0))
        self.assertTrue(os.path.exists(record))
        self.force_off(path)
        wait_until(lambda: self.pool_pages() == (0, 0), what="the pool back at 0")
        self.assertFalse(os.path.exists(record))

    def test_failed_reservation_rolls_back(self):
        # a runtime directory that cannot be created: the record cannot be
        # written, so the pool must be put back
        self.daemon.stop()
        blocker = os.path.join(self.workdir, "not-a-dir")
        write_file(blocker, "")
        self.daemon = self.new_daemon(runtime_dir=os.path.join(blocker, "run"))
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)
        path = self.path("hp")
        self.assert_error(E + "Failed", path, VM_IFACE, "Start")
        self.assertEqual(self.pool_pages(), (0, 0))
        self.wait_state(path, "undefined")

    def test_concurrent_starts_share_the_pool(self):
        write_file(os.path.join(self.config_dir, "hp2.conf"),
                   HUGEPAGES.replace("name = hp", "name = hp2"))
        self.assertEqual(self.reload(), [])
        a, b = self.path("hp"), self.path("hp2")
        calls = [self.client.call_async(p, VM_IFACE, "Start") for p in (a, b)]
        wait_until(lambda: all(calls), what="both starts")
        self.assertTrue(all("reply" in c for c in calls), calls)
        self.assertEqual(sum(self.pool_pages()), 1024)
        for p in (a, b):
            self.force_off(p)
        wait_until(lambda: self.pool_pages() == (0, 0), what="the pool back at 0")


# 4 GiB of 1G pages the pool must grow by (the ryzen tree's 1G pool is
# emptied first); with hugepages-fallback the 2M pool instead
HP_1G = """\
[vm]
name = hp1g
template = minimal
memory = 4GiB
vcpus = 2

[memory]
hugepages = 1G
hugepages-allocate = true
"""


class FragmentedPoolTest(DaemonTest):
    """A 1G pool that cannot grow: the fake tree's nr_hugepages.limit makes
    winvmd's write come back cut, as the kernel cuts it when it finds fewer
    pages; compact_memory is a plain file under the fake /proc."""

    PROFILES = {"hp1g.conf": HP_1G,
                "fb.conf": HP_1G.replace("name = hp1g", "name = fb") + "hugepages-fallback = 2M\n"}

    def setUp(self):
        super().setUp()
        for pool in self.pools_1g():
            write_file(pool, "0\n")
            write_file(os.path.join(os.path.dirname(pool), "free_hugepages"), "0\n")
            write_file(pool + ".limit", "1\n")  # one 1G page is all the "kernel" finds
        self.compact = os.path.join(self.procfs, "sys", "vm", "compact_memory")
        os.makedirs(os.path.dirname(self.compact), exist_ok=True)
        write_file(self.compact, "")

    def pools_1g(self):
        return [os.path.join(self.sysfs, "kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"),
                os.path.join(self.sysfs,
                             "devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages")]

    def pages_1g(self):
        return tuple(read_int(p) for p in self.pools_1g())

    def records(self):
        d = self.daemon.runtime_dir
        return sorted(f for f in os.listdir(d) if f.endswith(".hugepages")) if os.path.isdir(d) else []

    def compacted(self):
        with open(self.compact) as f:
            return f.read()

    def test_clean_failure_with_numbers(self):
        path = self.path("hp1g")
        msg = self.assert_error(E + "HugepagesShort", path, VM_IFACE, "Start")
        self.assertIn("only 1 of 4 1G pages could be reserved after compacting memory", msg)
        self.assertIn("given back", msg)
        self.assertIn("hugepagesz=1G hugepages=4", msg)
        # compaction was asked for; nothing leaked, nothing defined
        self.assertEqual(self.compacted(), "1\n")
        self.assertEqual(self.pages_1g(), (0, 0))
        self.assertEqual(self.pool_pages(), (0, 0))
        self.assertEqual(self.records(), [])
        self.wait_state(path, "undefined")
        steps = self.client.values_of(path, "StartStep")
        self.assertEqual(steps, ["reserving-hugepages", "compacting", ""])
        self.assertEqual(self.client.get(path, "StartStep"), "")

    def test_fallback_to_2m(self):
        path = self.path("fb")
        self.start_vm(path)
        # the 1G pool is back where it was, the 2M pool holds the VM's pages
        self.assertEqual(self.compacted(), "1\n")
        self.assertEqual(self.pages_1g(), (0, 0))
        self.assertIn(self.pool_pages(), ((2048, 0), (0, 2048)))
        # the domain the test driver holds is backed by 2M pages
        self.assertEqual(self.client.get(path, "Hugepages"), "2M")
        self.assertEqual(self.records(), ["fb.hugepages"])
        kf = configparser.ConfigParser()
        kf.read(os.path.join(self.daemon.runtime_dir, "fb.hugepages"))
        self.assertEqual(kf["reservation"]["page-kib"], "2048")
        self.assertEqual(kf["reservation"]["added"], "2048")
        self.assertIn(kf["reservation"]["nr-path"], self.pools_2m())
        steps = self.client.values_of(path, "StartStep")
        self.assertEqual(steps[:2], ["reserving-hugepages", "compacting"])
        self.assertEqual(steps[-1], "")
        self.assertIn("falling back to 2M pages", self.daemon.log())
        # stopped: the 2M pages go back, not 1G ones
        self.force_off(path)
        wait_until(lambda: self.pool_pages() == (0, 0), what="the 2M pool back at 0")
        wait_until(lambda: self.records() == [], what="the record removed")
        self.assertEqual(self.pages_1g(), (0, 0))

    def test_sigkill_after_fallback_leaks_nothing(self):
        # started on the fallback, then winvmd SIGKILLed: the test driver's
        # domain died with it, the record of 2M pages did not; the restarted
        # daemon gives back the 2M pages it names, and the next start goes
        # through the 1G attempt and the fallback again
        path = self.path("fb")
        self.start_vm(path)
        self.assertIn(self.pool_pages(), ((2048, 0), (0, 2048)))
        self.daemon.kill9()
        self.daemon.start(self.client)
        # the domain is gone: its pages went back at the resync
        wait_until(lambda: self.pool_pages() == (0, 0), what="the 2M pool back at 0")
        self.start_vm(path)
        self.assertIn(self.pool_pages(), ((2048, 0), (0, 2048)))
        self.assertEqual(self.pages_1g(), (0, 0))
        self.assertEqual(self.client.get(path, "Hugepages"), "2M")
        self.force_off(path)
        wait_until(lambda: self.pool_pages() == (0, 0), what="the 2M pool back at 0")
        wait_until(lambda: self.records() == [], what="the record removed")

    def test_plan_says_the_fallback(self):
        plan = self.client.manager("Plan", v("(s)", "fb"), "(a{sv})")[0]
        self.assertEqual((plan["hugepage-size"], plan["hugepages-reserve"],
                          plan["hugepage-fallback"]), ("1G", 4, "2M"))
        plan = self.client.manager("Plan", v("(s)", "hp1g"), "(a{sv})")[0]
        self.assertEqual(plan["hugepage-fallback"], "none")

    def test_fallback_that_cannot_be_had_either(self):
        for pool in self.pools_2m():
            write_file(pool + ".limit", "100\n")
        path = self.path("fb")
        msg = self.assert_error(E + "HugepagesShort", path, VM_IFACE, "Start")
        self.assertIn("only 1 of 4 1G pages", msg)
        self.assertIn("falling back to 2M pages: only 100 of 2048 2M pages", msg)
        self.assertEqual(self.pages_1g(), (0, 0))
        self.assertEqual(self.pool_pages(), (0, 0))
        self.assertEqual(self.records(), [])
        self.wait_state(path, "undefined")

    def test_check_predicts_from_buddyinfo(self):
        # 8 MiB in 4 MiB blocks: no 1G page to be had without compaction
        write_file(os.path.join(self.procfs, "buddyinfo"),
                   "Node 0, zone   Normal   10 10 10 10 10 10 10 10 10 10 2\n")
        self.assertEqual(self.reload(), [])  # the cached plans go
        found = {f[1]: f for f in self.check("hp1g")}
        self.assertEqual(found["hugepages-fragmented"][0], "warning")
        self.assertEqual(found["hugepages-fragmented"][2],
                         "only 0 free 1G-sized blocks on the host; compaction may or may not find 4")
        self.assertIn("hugepages-fallback = 2M", found["hugepages-fragmented"][3])
        found = {f[1]: f for f in self.check("fb")}
        self.assertIn("falls back to 2M pages", found["hugepages-fragmented"][3])
        # plenty of large blocks: it will be fine
        write_file(os.path.join(self.procfs, "buddyinfo"),
                   "Node 0, zone   Normal   10 10 10 10 10 10 10 10 10 10 2048\n")
        self.assertEqual(self.reload(), [])
        found = {f[1]: f for f in self.check("hp1g")}
        self.assertNotIn("hugepages-fragmented", found)
        self.assertEqual(found["hugepages-reserve"][0], "info")
        self.assertIn("8 free 1G-sized blocks on the host", found["hugepages-reserve"][2])


# ---- authorization --------------------------------------------------------------------

class AuthTest(DaemonTest):
    def as_nobody(self, *calls):
        return run_as_user(self.bus.address, [list(c) for c in calls])

    def writes(self, path):
        return [
            (BUS_NAME, path, VM_IFACE, "Start", None, []),
            (BUS_NAME, path, VM_IFACE, "Shutdown", "(u)", [1]),
            (BUS_NAME, path, VM_IFACE, "ForceOff", None, []),
            (BUS_NAME, path, VM_IFACE, "Reboot", None, []),
            (BUS_NAME, path, VM_IFACE, "Suspend", None, []),
            (BUS_NAME, path, VM_IFACE, "Resume", None, []),
            (BUS_NAME, path, VM_IFACE, "PinVCPU", "(us)", [0, "1"]),
            (BUS_NAME, path, VM_IFACE, "PinIOThread", "(us)", [1, "1"]),
            (BUS_NAME, path, VM_IFACE, "PinEmulator", "(s)", ["1"]),
            (BUS_NAME, path, PROPS_IFACE, "Set", "(ssv)", [VM_IFACE, "Autostart", ["b", True]]),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reload", None, []),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ShutdownAll", "(u)", [1]),
        ]

    def reads(self, path):
        return [
            (BUS_NAME, path, PROPS_IFACE, "Get", "(ss)", [VM_IFACE, "State"]),
            (BUS_NAME, path, PROPS_IFACE, "GetAll", "(s)", [VM_IFACE]),
            (BUS_NAME, MANAGER_PATH, PROPS_IFACE, "GetAll", "(s)", [MANAGER_IFACE]),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListVMs", None, []),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Render", "(s)", ["alpha"]),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Check", "(s)", ["alpha"]),
            (BUS_NAME, MANAGER_PATH, OM_IFACE, "GetManagedObjects", None, []),
            (BUS_NAME, MANAGER_PATH, INTROSPECT, "Introspect", None, []),
            (BUS_NAME, path, INTROSPECT, "Introspect", None, []),
        ]

    def daemon_threads(self):
        names = []
        for tid in os.listdir(f"/proc/{self.daemon.proc.pid}/task"):
            with open(f"/proc/{self.daemon.proc.pid}/task/{tid}/comm") as f:
                names.append(f.read().strip())
        return names

    def test_refusals_held_back_by_a_thread_started_for_them(self):
        # more reads in flight on one connection than WV_LIMIT_PER_NAME (16):
        # the extra ones are refused, their answers held back 5-15 s by a
        # thread that exists only from the first such refusal on
        self.assertNotIn("wv-limits", self.daemon_threads())
        burst = textwrap.dedent("""
            import collections, json, sys
            from gi.repository import Gio, GLib
            conn = Gio.DBusConnection.new_for_address_sync(
                sys.argv[1], Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
            loop, kinds, left = GLib.MainLoop(), collections.Counter(), [64]
            def done(c, res):
                try:
                    c.call_finish(res)
                    kinds["ok"] += 1
                except GLib.Error as e:
                    kinds[Gio.DBusError.get_remote_error(e)] += 1
                left[0] -= 1
                if not left[0]:
                    loop.quit()
            for i in range(64):
                conn.call("org.winvm1", "/org/winvm1", "org.winvm1.Manager", "Render",
                          GLib.Variant("(s)", ("alpha",)), None, 0, 40000, None, done)
            loop.run()
            print(json.dumps(kinds))
        """)
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        proc = subprocess.Popen([setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                 "--clear-groups", "/usr/bin/python3", "-c", burst,
                                 self.bus.address],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={"PATH": "/usr/bin:/bin", "HOME": "/"})
        wait_until(lambda: "wv-limits" in self.daemon_threads(), what="the holder thread")
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err)
        kinds = json.loads(out)
        self.assertEqual(sum(kinds.values()), 64, kinds)
        self.assertGreaterEqual(kinds.get("ok", 0), 16, kinds)
        self.assertGreaterEqual(kinds.get(E + "LimitsExceeded", 0), 1, kinds)
        self.assertEqual(set(kinds), {"ok", E + "LimitsExceeded"}, kinds)
        # root is not held back meanwhile, nor after
        self.assertEqual(self.render("alpha"), self.render("alpha"))

    def test_interactive_authorization_only_when_asked(self):
        # polkit may ask for a password only when the caller said it can wait
        polkit = self.start_polkit()
        path = self.path("alpha")
        start = (BUS_NAME, path, VM_IFACE, "Start", None, [])
        self.as_nobody(start, start + ("interactive",))
        calls = self.client.call(POLKIT_PATH, "org.freedesktop.DBus.Mock", "GetCalls", None,
                                 dest=polkit.name)[0]
        flags = [c[2][3] for c in calls if c[1] == "CheckAuthorization"]
        self.assertEqual(flags, [0, 1], calls)  # 1: AllowUserInteraction

    def test_non_root_without_polkit(self):
        path = self.path("alpha")
        self.start_vm(path)
        profile = os.path.join(self.config_dir, "alpha.conf")
        with open(profile) as f:
            before = f.read()
        results = self.as_nobody(*self.writes(path))
        for call, r in zip(self.writes(path), results):
            self.assertEqual(r.get("error"), E + "AccessDenied", (call[3], r))
        self.assertEqual(self.state(path), "running")
        with open(profile) as f:
            self.assertEqual(f.read(), before)
        self.assertFalse(os.path.exists(os.path.join(self.daemon.state_dir, "alpha.tuning")))
        for call, r in zip(self.reads(path), self.as_nobody(*self.reads(path))):
            self.assertIn("reply", r, (call[3], r))
        # root is still allowed
        self.force_off(path)

    def test_polkit_allows_and_denies_by_action(self):
        polkit = self.start_polkit()
        path = self.path("alpha")
        start = (BUS_NAME, path, VM_IFACE, "Start", None, [])
        pin = (BUS_NAME, path, VM_IFACE, "PinVCPU", "(us)", [0, "3"])
        autostart = (BUS_NAME, path, PROPS_IFACE, "Set", "(ssv)",
                     [VM_IFACE, "Autostart", ["b", True]])
        reload = (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reload", None, [])
        # the mock denies everything by default
        for r in self.as_nobody(start, pin, autostart, reload):
            self.assertEqual(r.get("error"), E + "AccessDenied", r)
        self.assertEqual(self.state(path), "undefined")

        polkit.set_allowed(["org.winvm1.lifecycle"])
        r = self.as_nobody(start, pin, autostart, reload)
        self.assertIn("reply", r[0], r[0])
        self.assertEqual([x.get("error") for x in r[1:]], [E + "AccessDenied"] * 3)
        self.wait_state(path, "running")

        polkit.set_allowed(["org.winvm1.tune"])
        r = self.as_nobody((BUS_NAME, path, VM_IFACE, "ForceOff", None, []), pin, autostart,
                           reload)
        self.assertEqual(r[0].get("error"), E + "AccessDenied")
        self.assertEqual([x.get("error") for x in r[1:3]], [None, None], r)
        self.assertEqual(r[3].get("error"), E + "AccessDenied")
        self.client.wait_property(path, "Autostart", True)
        wait_until(lambda: (0, "3") in self.client.get(path, "VCPUPins"), what="the pin")
        self.assertEqual(self.state(path), "running")

        polkit.set_allowed(["org.winvm1.manage"])
        r = self.as_nobody(reload, (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ShutdownAll", "(u)",
                                    [5]))
        self.assertEqual(r[0], {"reply": [[]]})
        self.assertIn("reply", r[1], r[1])
        self.wait_state(path, "shut-off")

    def test_polkit_appearing_later(self):
        path = self.path("alpha")
        start = (BUS_NAME, path, VM_IFACE, "Start", None, [])
        self.assertEqual(self.as_nobody(start)[0].get("error"), E + "AccessDenied")
        polkit = self.start_polkit()
        polkit.set_allowed(["org.winvm1.lifecycle"])
        self.assertIn("reply", self.as_nobody(start)[0])
        self.wait_state(path, "running")

    def test_polkit_going_away_denies(self):
        polkit = self.start_polkit()
        polkit.set_allowed(["org.winvm1.lifecycle"])
        path = self.path("alpha")
        self.assertIn("reply", self.as_nobody((BUS_NAME, path, VM_IFACE, "Start", None, []))[0])
        polkit.stop()
        wait_until(lambda: not self.client.name_has_owner("org.freedesktop.PolicyKit1"),
                   what="polkitd to leave the bus")
        r = self.as_nobody((BUS_NAME, path, VM_IFACE, "ForceOff", None, []))[0]
        self.assertEqual(r.get("error"), E + "AccessDenied", r)
        self.assertEqual(self.state(path), "running")

    def test_unauthorized_caller_does_not_hold_the_vm(self):
        # a caller whose authorization is still pending (polkit waiting for
        # the user to authenticate) must not lock authorized callers out
        polkit = self.start_polkit()
        polkit.hang_actions(["org.winvm1.lifecycle"])
        path = self.path("alpha")
        nobody = spawn_as_user(self.bus.address, [(BUS_NAME, path, VM_IFACE, "ForceOff", None,
                                                    [])])
        self.addCleanup(lambda: nobody.poll() is None and nobody.kill())
        wait_until(polkit.have_hanging, what="the polkit check to be pending")
        start = self.client.call_async(path, VM_IFACE, "Start")
        wait_until(lambda: start, what="root's Start to return")
        polkit.release_hanging()
        self.assertEqual(finish_user_client(nobody)[0].get("error"), E + "AccessDenied")
        self.assertIn("reply", start, f"root's Start: {start}")
        self.wait_state(path, "running")

    def test_call_of_a_caller_that_left_is_not_started(self):
        # nobody's Start waits for polkit; nobody leaves the bus; polkit then
        # says yes: nobody would hear the answer, so nothing starts
        polkit = self.start_polkit()
        polkit.set_allowed(["org.winvm1.lifecycle"])
        polkit.hang_actions(["org.winvm1.lifecycle"])
        path = self.path("alpha")
        before = self.state(path)
        nobody = spawn_as_user(self.bus.address, [(BUS_NAME, path, VM_IFACE, "Start", None,
                                                    [])])
        self.addCleanup(lambda: nobody.poll() is None and nobody.kill())
        wait_until(polkit.have_hanging, what="the polkit check to be pending")
        nobody.kill()
        nobody.wait(timeout=10)
        time.sleep(0.5)  # the bus told winvmd that nobody left
        polkit.release_hanging()
        wait_until(lambda: "not starting Start" in self.daemon.log(),
                   what="winvmd to drop the call")
        time.sleep(0.3)
        self.assertEqual(self.state(path), before)



# ---- libvirt unavailable -----------------------------------------------------------

NODE_XML = """<node>
  <cpu>
    <nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>2</threads>
    <active>16</active><mhz>3000</mhz><model>i686</model><vendor>AMD</vendor>
  </cpu>
  <memory>8388608</memory>
</node>
"""


class LibvirtUnavailableTest(DaemonTest):
    def setUp(self):
        node_dir = new_workdir()
        self.addCleanup(shutil.rmtree, node_dir, True)
        self.node_xml = os.path.join(node_dir, "node.xml")
        self.LIBVIRT_URI = "test://" + self.node_xml
        super().setUp()

    def test_unavailable_then_back(self):
        c = self.client
        path = self.path("alpha")
        self.assertIs(c.get(MANAGER_PATH, "LibvirtConnected", MANAGER_IFACE), False)
        self.assertEqual(c.get(MANAGER_PATH, "LibvirtURI", MANAGER_IFACE),
                         "test://" + self.node_xml)
        self.assertEqual(self.state(path), "unknown")
        for method, args in (("Start", None), ("ForceOff", None), ("PinVCPU", v("(us)", 0, "1"))):
            self.assert_error(E + "LibvirtUnavailable", path, VM_IFACE, method, args)
        # plans work without libvirt
        self.assertTrue(self.render("alpha"))
        self.assertIsInstance(self.check("alpha"), list)
        # libvirt comes (back): the daemon reconnects by itself
        write_file(self.node_xml, NODE_XML)
        c.wait_property(MANAGER_PATH, "LibvirtConnected", True, timeout=40,
                        iface=MANAGER_IFACE)
        self.wait_state(path, "undefined")
        self.start_vm(path)

    def test_failed_start_does_not_leave_starting(self):
        path = self.path("alpha")
        self.assert_error(E + "LibvirtUnavailable", path, VM_IFACE, "Start")
        self.client.wait_idle(path)
        self.assertEqual(self.state(path), "unknown")
        self.assertEqual((self.client.values_of(path, "State") or ["unknown"])[-1], "unknown")

    def test_shutdown_all_needs_libvirt(self):
        self.assert_error(E + "LibvirtUnavailable", MANAGER_PATH, MANAGER_IFACE, "ShutdownAll",
                          v("(u)", 1))


# ---- concurrency -----------------------------------------------------------------------

class ConcurrencyTest(DaemonTest):
    def reads(self, paths):
        calls = []
        for i in range(20):
            p = paths[i % len(paths)]
            calls.append(self.client.call_async(*[
                (p, PROPS_IFACE, "Get", v("(ss)", VM_IFACE, "State")),
                (p, PROPS_IFACE, "GetAll", v("(s)", VM_IFACE)),
                (MANAGER_PATH, MANAGER_IFACE, "ListVMs", None),
                (MANAGER_PATH, MANAGER_IFACE, "Check", v("(s)", "alpha")),
                (MANAGER_PATH, MANAGER_IFACE, "Render", v("(s)", "hp")),
                (MANAGER_PATH, OM_IFACE, "GetManagedObjects", None),
            ][i % 6]))
        return calls

    def test_reads_during_lifecycle(self):
        paths = [self.path(n) for n in ("alpha", "my-vm.2", "hp")]
        for cycle in range(3):
            calls = []
            for p in paths:
                calls.append(self.client.call_async(p, VM_IFACE, "Start"))
                calls += self.reads(paths)
            wait_until(lambda: all(calls), what="every call to return")
            self.assertEqual([c for c in calls if "error" in c], [], f"cycle {cycle}")
            for p in paths:
                self.wait_state(p, "running")
            calls = []
            for p in paths:
                calls.append(self.client.call_async(p, VM_IFACE, "ForceOff"))
                calls += self.reads(paths)
            wait_until(lambda: all(calls), what="every call to return")
            self.assertEqual([c for c in calls if "error" in c], [], f"cycle {cycle}")
            for p in paths:
                self.wait_state(p, "shut-off")
        self.assertEqual(self.pool_pages(), (0, 0))

    def test_many_clients(self):
        clients = [Client(self.bus.address) for _ in range(5)]
        paths = [self.path(n) for n in ("alpha", "my-vm.2", "hp")]
        try:
            calls = []
            for i, c in enumerate(clients):
                calls.append(c.call_async(paths[i % 3], PROPS_IFACE, "GetAll", v("(s)", VM_IFACE)))
                calls.append(c.call_async(paths[i % 3], VM_IFACE, "Start"))
                calls.append(c.call_async(MANAGER_PATH, MANAGER_IFACE, "Reload"))
                calls.append(c.call_async(MANAGER_PATH, MANAGER_IFACE, "Check", v("(s)", "hp")))
            wait_until(lambda: all(calls), what="every call to return")
            for i, c in enumerate(calls):
                if i % 4 == 1 and "error" in c:  # a second Start of one VM
                    self.assertIn(c["error"][0], (E + "Busy", E + "Failed"), c)
                else:
                    self.assertIn("reply", c, c)
        finally:
            for c in clients:
                c.close()
        for p in paths:
            self.wait_state(p, "running")

    def test_reload_during_start(self):
        path = self.path("alpha")
        calls = [self.client.call_async(path, VM_IFACE, "Start")]
        calls += [self.client.call_async(MANAGER_PATH, MANAGER_IFACE, "Reload")
                  for _ in range(5)]
        wait_until(lambda: all(calls), what="every call to return")
        self.assertEqual([c for c in calls if "error" in c], [])
        self.wait_state(path, "running")


if __name__ == "__main__":
    unittest.main(verbosity=2)
