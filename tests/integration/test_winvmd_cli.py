#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvmd --render / --check as a user runs them: exit codes, output, and
every rendered document validated against libvirt's RelaxNG schema."""

import os
import shutil
import subprocess
import re
import tempfile
import unittest
import xml.etree.ElementTree as ET

WINVMD = os.environ["WINVMD"]
SRC = os.environ["WV_SOURCE_ROOT"]
BUILD = os.environ["WV_BUILD_ROOT"]
HOSTS = os.path.join(SRC, "tests", "data", "hosts")
EXAMPLES = os.path.join(SRC, "examples")
RNG = "/usr/share/libvirt/schemas/domain.rng"


def host_args(name):
    return ["--sysfs-root", os.path.join(HOSTS, name, "sys"),
            "--proc-root", os.path.join(HOSTS, name, "proc")]


def run(*args, env=None):
    return subprocess.run([WINVMD, *args], capture_output=True, text=True,
                          env=env, timeout=60)


def assert_schema_valid(test, xml):
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(xml)
        f.flush()
        r = subprocess.run(["xmllint", "--noout", "--relaxng", RNG, f.name],
                           capture_output=True, text=True)
        test.assertEqual(r.returncode, 0, r.stderr + xml)


class Render(unittest.TestCase):
    def test_examples_render_valid(self):
        for ex in ("gaming", "work", "install"):
            r = run("--render", os.path.join(EXAMPLES, ex + ".conf"), *host_args("ryzen"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith('<domain type="kvm">'), r.stdout[:80])
            assert_schema_valid(self, r.stdout)

    def test_render_matches_golden(self):
        # no libvirt here, so no capabilities: only avic may differ from the
        # golden file (rendered with KVM capabilities)
        r = run("--render", os.path.join(EXAMPLES, "work.conf"), *host_args("ryzen"))
        with open(os.path.join(SRC, "tests", "data", "golden", "work.xml")) as f:
            golden = f.read()
        self.assertEqual(r.stdout, golden.replace('      <avic state="on"/>\n', ""))

    def test_error_findings_fail_the_render(self):
        # the laptop has no such GPU: XML without it would differ from the
        # profile, so there is none, and the reasons go to stderr
        r = run("--render", os.path.join(EXAMPLES, "gaming.conf"), *host_args("laptop"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("winvmd: error: hostdev-missing: [hostdev:gpu] 0000:0f:00.0", r.stderr)
        self.assertIn("not rendered", r.stderr)
        self.assertIn("--no-host-checks", r.stderr)

    def test_pins_to_absent_cpus(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[vm]\nname = pins\nvcpus = 4\ntemplate = minimal\n"
                    "[cpu]\npin = 20,21,22,23\nemulator-pin = 24\n")
            f.flush()
            r = run("--render", f.name, *host_args("laptop"))
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "")
            # one finding per key, naming every absent CPU
            self.assertIn("cpu-unknown: [cpu] pin names CPUs 20-23, which this host does not "
                          "have", r.stderr)
            self.assertIn("cpu-unknown: [cpu] emulator-pin names CPU 24,", r.stderr)
            self.assertEqual(r.stderr.count("cpu-unknown"), 2, r.stderr)
            # for another host: exactly what the profile says, no host read
            for args in ([], host_args("laptop")):
                r = run("--render", f.name, "--no-host-checks", *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                dom = ET.fromstring(r.stdout)
                self.assertEqual([(p.get("vcpu"), p.get("cpuset"))
                                  for p in dom.findall("cputune/vcpupin")],
                                 [("0", "20"), ("1", "21"), ("2", "22"), ("3", "23")])
                self.assertEqual(dom.find("cputune/emulatorpin").get("cpuset"), "24")
                assert_schema_valid(self, r.stdout)

    def test_no_host_checks_reads_no_host(self):
        # a profile needing a GPU and 1G pages renders for another host on
        # one that has neither, with no host finding
        r = run("--render", os.path.join(EXAMPLES, "gaming.conf"), "--no-host-checks",
                *host_args("laptop"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("error", r.stderr)
        dom = ET.fromstring(r.stdout)
        self.assertEqual(len(dom.findall("devices/hostdev[@type='pci']")), 2)
        self.assertEqual(dom.find("memoryBacking/hugepages/page").get("size"), "1048576")
        assert_schema_valid(self, r.stdout)

    def test_no_host_checks_goes_with_render(self):
        r = run("--check", os.path.join(EXAMPLES, "work.conf"), "--no-host-checks")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--no-host-checks goes with --render", r.stderr)

    def test_broken_profile(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[vm]\nmemory = 16\n[cpus]\n")
            f.flush()
            r = run("--render", f.name, *host_args("ryzen"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn(f.name + ":2: [vm] memory: “16” needs a unit", r.stderr)
        self.assertIn(f.name + ":3: [cpus]: unknown group", r.stderr)

    def test_missing_profile(self):
        r = run("--render", "/nonexistent/x.conf")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/x.conf", r.stderr)

    def test_env_seams(self):
        env = dict(os.environ, WINVM_SYSFS_ROOT=os.path.join(HOSTS, "ryzen", "sys"),
                   WINVM_PROC_ROOT=os.path.join(HOSTS, "ryzen", "proc"))
        a = run("--render", os.path.join(EXAMPLES, "gaming.conf"), env=env)
        b = run("--render", os.path.join(EXAMPLES, "gaming.conf"), *host_args("ryzen"))
        self.assertEqual(a.returncode, 0)
        self.assertEqual(a.stdout, b.stdout)
        self.assertIn('<vcpupin vcpu="0" cpuset="4"/>', a.stdout)

    def test_missing_sysfs_root_degrades(self):
        r = run("--render", os.path.join(EXAMPLES, "gaming.conf"), "--sysfs-root", "/nonexistent")
        self.assertEqual(r.returncode, 0)
        self.assertIn("host facts unavailable", r.stderr)
        self.assertIn("pin-no-host-facts", r.stderr)
        assert_schema_valid(self, r.stdout)

    def test_meson_devenv(self):
        env = {k: v for k, v in os.environ.items() if k != "WINVM_TEMPLATE_DIR"}
        r = subprocess.run(["meson", "devenv", "-C", BUILD, "winvmd", "--render",
                            os.path.join(EXAMPLES, "install.conf"), *host_args("ryzen")],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        assert_schema_valid(self, r.stdout)


class Check(unittest.TestCase):
    def test_gaming_on_ryzen_passes(self):
        r = run("--check", os.path.join(EXAMPLES, "gaming.conf"), *host_args("ryzen"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("topology: 1 socket(s), 1 die(s), 4 core(s), 2 thread(s)", r.stdout)
        self.assertIn("vcpu 0   -> host CPU 4", r.stdout)
        self.assertIn("vcpu 7   -> host CPU 15", r.stdout)
        self.assertIn("emulator -> host CPU 0,8", r.stdout)
        self.assertIn("iothread 1 -> host CPU 0,8", r.stdout)
        self.assertIn("hugepages: 16 x 1G, 0 to reserve at start", r.stdout)

    def test_shared_group_fails(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[vm]\nname = shared\n[hostdev:gpu]\npci = 0000:0a:00.0,0000:0a:00.1\n")
            f.flush()
            r = run("--check", f.name, *host_args("gpu-shared"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("error   iommu-group-shared:", r.stdout)
        self.assertIn("0000:0a:00.2 (class 010601, driver ahci)", r.stdout)
        self.assertIn("hint: hand 0000:0a:00.2 over too", r.stdout)

    def test_kvm_unavailable(self):
        # a cloud VM without VT-x: a kvm profile cannot start, and says why
        r = run("--check", os.path.join(EXAMPLES, "work.conf"), *host_args("nokvm"))
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("error   kvm-unavailable: hypervisor = kvm, but this host has no /dev/kvm: "
                      "its CPU offers no VT-x/AMD-V", r.stdout)
        self.assertIn("hint: enable VT-x/AMD-V", r.stdout)
        self.assertIn("kvm_intel or kvm_amd", r.stdout)
        r = run("--render", os.path.join(EXAMPLES, "work.conf"), *host_args("nokvm"))
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("winvmd: error: kvm-unavailable", r.stderr)
        # a host with KVM: no such finding
        r = run("--check", os.path.join(EXAMPLES, "work.conf"), *host_args("ryzen"))
        self.assertNotIn("kvm-unavailable", r.stdout)

    def test_kvm_module_not_loaded(self):
        with tempfile.TemporaryDirectory() as d:
            shutil.copytree(os.path.join(HOSTS, "nokvm"), d, dirs_exist_ok=True)
            with open(os.path.join(d, "proc", "cpuinfo"), "w") as f:
                f.write("processor\t: 0\nflags\t\t: fpu vme vmx sse2\n")
            r = run("--check", os.path.join(EXAMPLES, "work.conf"),
                    "--sysfs-root", os.path.join(d, "sys"), "--proc-root", os.path.join(d, "proc"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("the CPU has VT-x but kvm_intel is not loaded", r.stdout)

    def test_emulated_profile_on_a_host_without_kvm(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[vm]\nname = tcg\ntemplate = minimal\nmemory = 512MiB\nvcpus = 1\n"
                    "hypervisor = qemu\n")
            f.flush()
            r = run("--check", f.name, *host_args("nokvm"))
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertIn("info    hypervisor-emulated: hypervisor = qemu: the guest is emulated",
                          r.stdout)
            self.assertNotIn("kvm-unavailable", r.stdout)
            r = run("--render", f.name, *host_args("nokvm"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith('<domain type="qemu">'))
            assert_schema_valid(self, r.stdout)

    def test_this_host(self):
        # the real /sys and /dev/kvm, whichever this machine is: the finding
        # is there exactly when KVM cannot be used
        usable = (os.path.exists("/sys/class/misc/kvm")
                  and os.access("/dev/kvm", os.R_OK | os.W_OK))
        r = run("--check", os.path.join(EXAMPLES, "install.conf"))
        self.assertEqual("kvm-unavailable" in r.stdout, not usable, r.stdout)
        if not usable:
            self.assertEqual(r.returncode, 1)

    def test_with_test_driver(self):
        r = run("--check", os.path.join(EXAMPLES, "work.conf"), *host_args("ryzen"),
                "--libvirt-uri", "test:///default")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # the test driver has no domain capabilities: said, not hidden
        self.assertIn("Hyper-V, firmware and TPM checks skipped", r.stderr)

    def test_unreachable_libvirt_is_a_warning(self):
        r = run("--check", os.path.join(EXAMPLES, "work.conf"), *host_args("ryzen"),
                "--libvirt-uri", "qemu+unix:///system?socket=/nonexistent")
        self.assertEqual(r.returncode, 0)
        self.assertIn("warning: cannot connect to", r.stderr)


class Trust(unittest.TestCase):
    """What a profile may make a root daemon hand to a guest."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="winvm-trust-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def check(self, body, *extra):
        profile = self.write("t.conf", "[vm]\nname = t\ntemplate = minimal\nhypervisor = qemu\n"
                             "memory = 512MiB\nvcpus = 1\n" + body)
        return run("--check", profile, *host_args("ryzen"), *extra)

    def errors(self, r):
        return re.findall(r"(?m)^  error   ([a-z0-9-]+): (.*)$", r.stdout)

    def test_host_paths(self):
        cases = [
            ("[disk:a]\nsource = /etc/shadow\n", "path-refused",
             "[disk:a] source: /etc/shadow is in /etc, which winvmd never hands to a guest"),
            ("[cdrom:b]\nsource = /root/secret.iso\n", "path-refused", "is in /root"),
            ("[firmware]\ntype = ovmf\nnvram = /boot/efi/VARS.fd\n", "path-refused", "in /boot"),
            ("[hostdev:g]\npci = 0000:0f:00.0\nrom = /sys/bus/pci/rom\n", "path-refused", "in /sys"),
            ("[share:s]\nsource = /var\n", "path-refused", "/var holds /var/lib/winvm"),
            ("[disk:c]\nsource = /srv/vm/win.img\n", "path-not-allowed",
             "[disk:c] source: /srv/vm/win.img is below none of the allowed directories "
             "(/var/lib/libvirt/images, "),
            # every key typed on a handed-over keyboard reaches the guest
            ("[input:k]\nevdev = /dev/input/by-id/usb-kbd-event-kbd\n", "path-not-allowed",
             "[input:k] evdev: /dev/input/by-id/usb-kbd-event-kbd is below none of the allowed"),
        ]
        for body, code, text in cases:
            with self.subTest(code=code, body=body):
                r = self.check(body)
                self.assertEqual(r.returncode, 1, r.stdout)
                found = [m for c, m in self.errors(r) if c == code]
                self.assertTrue(found and text in found[0], r.stdout)
        # the daemon's own directories, too
        r = self.check("[disk:d]\nsource = /var/lib/winvm/x.img\n", "--state-dir",
                       "/var/lib/winvm")
        self.assertIn(("path-refused", "[disk:d] source: /var/lib/winvm/x.img is in "
                       "/var/lib/winvm, which winvmd never hands to a guest"), self.errors(r))
        # allowed by winvm.conf, and a link out of it judged by its target
        conf = self.write("winvm.conf", "[paths]\nallow = /srv/vm;%s\n" % self.dir)
        os.symlink("/etc/shadow", os.path.join(self.dir, "shadow.img"))
        r = self.check("[disk:c]\nsource = /srv/vm/win.img\n", "--host-config", conf)
        self.assertEqual((r.returncode, self.errors(r)), (0, []), r.stdout)
        r = self.check("[disk:e]\nsource = %s/shadow.img\n" % self.dir, "--host-config", conf)
        self.assertEqual([c for c, m in self.errors(r)], ["path-refused"], r.stdout)
        # evdev devices once the host's administrator allows them
        conf_input = self.write("input.conf", "[paths]\nallow = /dev/input/by-id\n")
        r = self.check("[input:k]\nevdev = /dev/input/by-id/usb-kbd-event-kbd\n", "--host-config",
                       conf_input)
        self.assertEqual((r.returncode, self.errors(r)), (0, []), r.stdout)
        # a winvm.conf others may write is no policy at all
        os.chmod(conf, 0o666)
        r = self.check("[disk:c]\nsource = /srv/vm/win.img\n", "--host-config", conf)
        self.assertEqual([c for c, m in self.errors(r)], ["host-config-invalid"], r.stdout)
        self.assertIn("writable by its group or others", r.stdout)
        # the examples pass as shipped
        for ex in ("gaming", "work", "install"):
            r = run("--check", os.path.join(EXAMPLES, ex + ".conf"), *host_args("ryzen"))
            self.assertNotIn("path-", r.stdout)

    def test_templates(self):
        minimal = open(os.path.join(SRC, "xml-templates", "minimal.xml")).read()
        raw = minimal.replace(
            "<domain type=", "<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' "
            "type=", 1).replace(
            "</domain>", "  <qemu:commandline><qemu:arg value='-fw_cfg'/>"
            "<qemu:arg value='name=opt/x,file=/etc/shadow'/></qemu:commandline>\n</domain>")
        self.assertIn("qemu:commandline", raw)
        emulator = minimal.replace("<devices>", "<devices>\n    <emulator>/tmp/evil-qemu</emulator>",
                                   1)
        self.assertIn("evil-qemu", emulator)
        writable = self.write("open.xml", minimal, mode=0o666)
        raw_path = self.write("raw.xml", raw)
        emu_path = self.write("emu.xml", emulator)

        def errors_for(template, extra=""):
            profile = self.write("t.conf", f"[vm]\nname = t\ntemplate = {template}\n"
                                 f"hypervisor = qemu\nmemory = 512MiB\n{extra}")
            r = run("--check", profile, *host_args("ryzen"))
            return self.errors(r), r

        errs, r = errors_for(writable)
        self.assertEqual([c for c, m in errs], ["template-untrusted"], r.stdout)
        self.assertIn("writable by its group or others", errs[0][1])
        errs, r = errors_for(raw_path)
        self.assertEqual([c for c, m in errs], ["template-raw-qemu"], r.stdout)
        self.assertIn("<qemu:commandline>", errs[0][1])
        errs, r = errors_for(emu_path)
        self.assertEqual([c for c, m in errs], ["template-emulator"], r.stdout)
        self.assertIn("runs its own emulator /tmp/evil-qemu", errs[0][1])
        # render refuses the same; the profile's explicit yes lets both through
        profile = self.write("t.conf", f"[vm]\nname = t\ntemplate = {raw_path}\n"
                             "hypervisor = qemu\nmemory = 512MiB\n")
        r = run("--render", profile, *host_args("ryzen"))
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        for template in (raw_path, emu_path):
            errs, r = errors_for(template, "raw-qemu = true\n")
            self.assertEqual(errs, [], r.stdout)


class Docs(unittest.TestCase):
    def test_every_finding_code_is_documented(self):
        import re
        code = ""
        for source in ("wv-plan.c", "wv-trust.c", "wv-conflicts.c"):
            with open(os.path.join(SRC, "daemon", source)) as f:
                code += f.read()
        with open(os.path.join(SRC, "docs", "winvm.conf.5")) as f:
            man = f.read().replace("\\-", "-")
        codes = set(re.findall(r'WV_SEVERITY_\w+,\s*"([a-z0-9-]+)"', code))
        self.assertGreater(len(codes), 20)
        for c in sorted(codes):
            self.assertIn(c, man, f"finding code {c} missing from winvm.conf(5)")


IMPORT = os.path.join(SRC, "tests", "data", "import")


class Import(unittest.TestCase):
    """winvmd --import: the profile on stdout, what it cannot carry on
    stderr; the profile renders again to valid XML with the same pins."""

    def test_vfio_guide_round_trip(self):
        r = run("--import", os.path.join(IMPORT, "vfio-guide.xml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("[vm]\nname = win10-gaming\n", r.stdout)
        self.assertIn("pin = 0,1,2,3,4,5,6,7\n", r.stdout)
        self.assertIn("winvmd: not carried: <cpu><cache mode='passthrough'>", r.stderr)
        for line in r.stderr.splitlines():
            self.assertTrue(line.startswith("winvmd: not carried: "), line)
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write(r.stdout)
            f.flush()
            again = run("--render", f.name, "--no-host-checks")
            self.assertEqual(again.returncode, 0, again.stderr)
            assert_schema_valid(self, again.stdout)
            dom = ET.fromstring(again.stdout)
            self.assertEqual(dom.findtext("uuid"), "6b3f1c2e-8d4a-4f5b-9c7e-2a1d0e9f8b7c")
            pins = {p.get("vcpu"): p.get("cpuset") for p in dom.iter("vcpupin")}
            self.assertEqual(pins, {str(i): str(i) for i in range(8)})
            io = [p.get("cpuset") for p in dom.iter("iothreadpin")]
            self.assertEqual(io, ["8-9", "10-11", "12-13", "14-15"])

    def test_name(self):
        r = run("--import", os.path.join(IMPORT, "virt-install-win11.xml"),
                "--import-name", "desk")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("name = desk\n", r.stdout)
        r = run("--import", os.path.join(IMPORT, "virt-install-win11.xml"),
                "--import-name", "../x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a valid VM name", r.stderr)
        self.assertEqual(run("--import-name", "x").returncode, 2)

    def test_not_a_domain(self):
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
            f.write("<network><name>default</name></network>")
            f.flush()
            r = run("--import", f.name)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "")
            self.assertIn("not a libvirt domain definition", r.stderr)
        r = run("--import", os.path.join(EXAMPLES, "work.conf"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("not an XML document", r.stderr)
        r = run("--import", "/nonexistent.xml")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(run("--import", os.path.join(IMPORT, "vfio-guide.xml"),
                             "--check", os.path.join(EXAMPLES, "work.conf")).returncode, 2)


class Usage(unittest.TestCase):
    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^winvmd \d+\.\d+\.\d+\n$")

    def test_usage_errors(self):
        ex = os.path.join(EXAMPLES, "work.conf")
        self.assertEqual(run("--render", ex, "--check", ex).returncode, 2)
        self.assertEqual(run("--bogus").returncode, 2)

    def test_service_without_a_bus(self):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/bus")
        r = run("--libvirt-uri", "test:///default", "--config-dir", EXAMPLES, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect to the bus", r.stderr)


if __name__ == "__main__":
    unittest.main()
