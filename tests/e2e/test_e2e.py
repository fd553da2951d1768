#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: documents rendered by winvmd defined and run by a real
libvirtd on qemu:///system, booting the tiny busybox guest under TCG."""

import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture as fx  # noqa: E402

WINVMD = os.environ["WINVMD"]
RNG = "/usr/share/libvirt/schemas/domain.rng"
HOST = os.path.join(fx.SRC, "tests", "data", "hosts", "ryzen")
READY = "WINVM-GUEST-READY"
PAGES = 128  # the test guest's 256 MiB in 2M pages

PROFILE = """\
[vm]
name = {name}
hypervisor = qemu
template = {template}
vcpus = 2
memory = 256MiB

[cpu]
pin = 0,1
iothreads = 1
iothread-pin = 0
emulator-pin = 1

[memory]
hugepages = 2M

[hyperv]
enlightenments = none

[graphics]
type = none
"""


def setUpModule():
    fx.setup(hugepages=PAGES)


def tearDownModule():
    fx.teardown()


def render(profile, *args):
    return fx.run(WINVMD, "--render", profile, *args)


def table(text):
    """virsh's two-column tables (vcpupin, iothreadinfo) as a dict."""
    return dict(line.split() for line in text.splitlines() if line.strip())


def pins(xml):
    cputune = ET.fromstring(xml).find("cputune")
    return sorted((e.tag, sorted(e.attrib.items())) for e in cputune) if cputune is not None else []


class E2ETestCase(unittest.TestCase):
    def define(self, xml):
        name = ET.fromstring(xml).findtext("name")
        self.addCleanup(fx.remove_domain, name)
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
            f.write(xml)
            f.flush()
            fx.run("xmllint", "--noout", "--relaxng", RNG, f.name)
            fx.virsh("define", f.name)
        return name

    def define_guest(self, name, acpi=True):
        fx.remove_domain(name)  # left over by an interrupted run
        template = fx.write_template(name, acpi=acpi)
        profile = fx.write_profile(name, PROFILE.format(name=name, template=template))
        return self.define(render(profile))

    def boot(self, name):
        start = time.monotonic()
        fx.virsh("start", name)
        try:
            fx.wait_for(lambda: READY in fx.read_serial(name), 60, what=READY)
        except TimeoutError:
            self.fail(f"{name} did not boot; serial console:\n{fx.read_serial(name)}")
        return time.monotonic() - start


class Guest(E2ETestCase):
    def test_pinned_hugepage_guest_powers_off_on_acpi(self):
        name = self.define_guest("winvm-e2e-acpi")
        free = fx.free_hugepages()
        boot = self.boot(name)

        self.assertEqual(table(fx.virsh("vcpupin", name)), {"0": "0", "1": "1"})
        self.assertEqual(table(fx.virsh("iothreadinfo", name)), {"1": "0"})
        self.assertEqual(fx.virsh("emulatorpin", name).split()[-1], "1")
        self.assertEqual(free - fx.free_hugepages(), PAGES)

        start = time.monotonic()
        fx.virsh("shutdown", name)
        fx.wait_for(lambda: fx.domstate(name) == "shut off", 30, what="ACPI power-off")
        poweroff = time.monotonic() - start
        self.assertEqual(fx.virsh("domstate", "--reason", name).strip(), "shut off (shutdown)")
        self.assertEqual(fx.free_hugepages(), free)
        print(f"\nboot {boot:.1f} s, ACPI power-off {poweroff:.1f} s", file=sys.stderr)

    def test_guest_without_button_ignores_acpi(self):
        name = self.define_guest("winvm-e2e-noacpi", acpi=False)
        self.boot(name)
        fx.virsh("shutdown", name)
        time.sleep(5)
        self.assertEqual(fx.domstate(name), "running")
        fx.virsh("destroy", name)
        self.assertEqual(fx.virsh("domstate", "--reason", name).strip(), "shut off (destroyed)")


class Check(E2ETestCase):
    def test_check_reads_real_capabilities(self):
        template = fx.write_template("winvm-e2e-check")
        text = PROFILE.format(name="winvm-e2e-check", template=template)
        auto = text.replace("enlightenments = none", "enlightenments = auto")
        auto = auto.replace("hypervisor = qemu", "hypervisor = kvm")
        r = subprocess.run([WINVMD, "--check", fx.write_profile("winvm-e2e-check", auto),
                            "--libvirt-uri", fx.URI], capture_output=True, text=True, timeout=60)
        self.assertNotIn("checks skipped", r.stderr)
        kvm = fx.kvm_offered()
        # a kvm profile on a host without KVM: refused, and says why
        self.assertEqual("kvm-unavailable" in r.stdout, not kvm, r.stdout)
        if not kvm:
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertRegex(r.stdout, r"error   kvm-unavailable: hypervisor = kvm, but "
                             r"(this host has no /dev/kvm|/dev/kvm|the kvm module|libvirt offers)")
        # whatever this host's QEMU offers (KVM's, or TCG's when there is
        # none), the plan only keeps what it offers
        caps = fx.virsh("domcapabilities", "--virttype", "kvm" if kvm else "qemu")
        offered = set(re.findall(r"<value>([a-z_-]+)</value>",
                                 caps.split("<hyperv")[1].split("</hyperv>")[0]))
        planned = r.stdout.split("hyper-v: ")[1].split("\n")[0].split(", ") \
            if "hyper-v: " in r.stdout else []
        for feature in planned:
            self.assertIn(feature.replace("stimer-direct", "stimer"), offered)
        if offered != set(["relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic",
                           "stimer", "reset", "vendor_id", "frequencies", "reenlightenment",
                           "tlbflush", "ipi", "evmcs", "avic"]):
            self.assertIn("hyperv-unsupported", r.stdout)


class Examples(E2ETestCase):
    def test_examples_define(self):
        # planned for the Ryzen host description (which has KVM), checked
        # against this machine's libvirt: where it offers no kvm guests the
        # examples are refused with kvm-unavailable, and defined emulated
        env = ["--sysfs-root", os.path.join(HOST, "sys"), "--proc-root", os.path.join(HOST, "proc")]
        kvm = fx.kvm_offered()
        for example in ("gaming", "work", "install"):
            with self.subTest(example=example):
                with open(os.path.join(fx.SRC, "examples", example + ".conf")) as f:
                    text = re.sub(r"(?m)^name = ", "name = winvm-e2e-", f.read(), count=1)
                profile = fx.write_profile("example-" + example, text)
                r = subprocess.run([WINVMD, "--check", profile, "--libvirt-uri", fx.URI, *env],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual("kvm-unavailable" in r.stdout, not kvm, r.stdout)
                if not kvm:
                    self.assertIn("libvirt offers no kvm domain type", r.stdout)
                    r = subprocess.run([WINVMD, "--render", profile, "--libvirt-uri", fx.URI,
                                        *env], capture_output=True, text=True, timeout=60)
                    self.assertEqual((r.returncode, r.stdout), (1, ""), r.stderr)
                    self.assertIn("winvmd: error: kvm-unavailable", r.stderr)
                    text = text.replace("[vm]\n", "[vm]\nhypervisor = qemu\n", 1)
                    profile = fx.write_profile("example-" + example, text)
                xml = render(profile, *env)
                self.assertEqual(ET.fromstring(xml).get("type"), "kvm" if kvm else "qemu")
                name = self.define(xml)
                self.assertEqual(pins(fx.virsh("dumpxml", "--inactive", name)), pins(xml))



DEVICES = """\
[vm]
name = winvm-e2e-devices
hypervisor = qemu
template = minimal
machine = q35
vcpus = 1
memory = 256MiB

[cpu]
pin = none

[hyperv]
enlightenments = none

[video]
model = qxl
vram = 64MiB

[sound]
model = ich9
backend = pipewire
codec = output

[usb]
controller = ehci

[looking-glass]
resolution = 2560x1440

[input:kbd]
evdev = {evdev}
grab = all
repeat = on
grab-toggle = ctrl-ctrl
"""


class Devices(E2ETestCase):
    def test_device_keys_reach_qemu(self):
        """The sound card, video model, USB controller, Looking Glass memory
        and evdev input a profile names are in the QEMU command line
        libvirt builds for it (domxml-to-native: no guest starts)."""
        name = "winvm-e2e-devices"
        events = sorted(e for e in os.listdir("/dev/input") if e.startswith("event")) \
            if os.path.isdir("/dev/input") else []
        # libvirt does not open the device to build the command line; a real
        # one is used where the machine has it
        evdev = "/dev/input/" + events[0] if events else "/dev/input/by-id/winvm-e2e-kbd"
        conf = fx.write_profile("devices-host", "[paths]\nallow = /dev/input\n")
        os.chmod(conf, 0o644)
        profile = fx.write_profile(name, DEVICES.format(evdev=evdev))
        xml = render(profile, "--host-config", conf, "--sysfs-root", os.path.join(HOST, "sys"),
                     "--proc-root", os.path.join(HOST, "proc"))
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
            f.write(xml)
            f.flush()
            fx.run("xmllint", "--noout", "--relaxng", RNG, f.name)
            argv = fx.virsh("domxml-to-native", "qemu-argv", "--xml", f.name)
        expected = [
            (r"-machine (pc-)?q35", "q35 machine"),
            (r"qxl-vga", "QXL video"),
            (r"vram_size.{0,3}67108864", "64 MiB of VRAM"),
            (r"ich9-intel-hda", "ICH9 HDA sound card"),
            (r"hda-output", "HDA output codec"),
            (r"-audiodev .{0,40}\bpa\b", "PulseAudio backend (PipeWire through pipewire-pulse)"),
            (r"usb-ehci", "EHCI controller"),
            (r"ivshmem-plain", "Looking Glass device"),
            (r"/dev/shm/looking-glass-" + name + r"\W{1,4}size\W{1,3}67108864",
             "Looking Glass memory file, 64 MiB for 2560x1440"),
            (r"input-linux", "evdev input"),
            (re.escape(evdev), "evdev path"),
            (r"grab.all.{0,3}(true|on)", "grab all"),
            (r"grab-toggle.{0,3}ctrl-ctrl", "grab toggle"),
        ]
        for pattern, what in expected:
            with self.subTest(what=what):
                self.assertRegex(argv, pattern, f"{what} is not in QEMU's argv:\n{argv}")


if __name__ == "__main__":
    unittest.main()
