#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Profiles managed over D-Bus (issue 16): Manager.CreateVM, CreateVMFrom,
ImportVM; VM.GetProfile, SetProfile, Set, Delete and PendingRestart, on the
private bus with libvirt's test:///default driver (as test_daemon.py).

Every write must pass what a file in the configuration directory passes,
land atomically or not at all, and make the object appear, change or
vanish with its signals."""

import glob
import hashlib
import os
import stat
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon_fixture import (  # noqa: E402
    BUS_NAME, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, VM_IFACE, Client, GLib, run_as_user,
    wait_until)
from test_daemon import ALPHA, DaemonTest, v  # noqa: E402

E = "org.winvm1.Error."

NEW = """\
# beta: made over D-Bus
[vm]
name = beta
template = minimal
memory = 1GiB
vcpus = 2

[cpu]
pin = none
"""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def read(path):
    with open(path, "rb") as f:
        return f.read()


class ManageTest(DaemonTest):
    PROFILES = {"alpha.conf": ALPHA}

    def create(self, name, text):
        return self.client.manager("CreateVM", v("(ss)", name, text), "(o)")[0]

    def get_profile(self, path):
        return self.client.vm(path, "GetProfile")

    def conf(self, name):
        return os.path.join(self.config_dir, name + ".conf")

    def files(self):
        return sorted(os.listdir(self.config_dir))

    # ---- the life of a managed VM -------------------------------------------

    def test_create_render_start_edit_restart_delete(self):
        c = self.client
        path = self.create("beta", NEW)
        self.assertEqual(path, "/org/winvm1/vm/beta")
        # the object appeared with InterfacesAdded
        c.wait_signal("InterfacesAdded", lambda a: a[0] == path)
        st = os.stat(self.conf("beta"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o644)
        self.assertEqual(st.st_uid, os.geteuid())
        self.assertEqual(read(self.conf("beta")), NEW.encode())
        self.assertIn("<memory unit='KiB'>1048576</memory>".replace("'", '"'),
                      self.render("beta").replace("'", '"'))
        self.assertIs(c.get(path, "PendingRestart"), False)

        self.start_vm(path)
        text, etag = self.get_profile(path)
        self.assertEqual(text, NEW)
        self.assertEqual(etag, sha256(self.conf("beta")))
        changed = text.replace("memory = 1GiB", "memory = 2GiB")
        c.vm(path, "SetProfile", v("(ss)", changed, etag))
        c.wait_property(path, "PendingRestart", True)
        self.assertEqual(read(self.conf("beta")), changed.encode())
        self.assertEqual(c.get(path, "MemoryKiB"), 1048576)  # what runs

        self.force_off(path)
        wait_until(lambda: c.get(path, "PendingRestart") is False, what="PendingRestart false")
        self.start_vm(path)
        wait_until(lambda: c.get(path, "MemoryKiB") == 2 * 1048576, what="the new memory")
        self.assertIs(c.get(path, "PendingRestart"), False)

        # a running VM is not deleted
        self.assert_error(E + "Busy", path, VM_IFACE, "Delete", v("(b)", True))
        self.assertTrue(os.path.exists(self.conf("beta")))
        self.force_off(path)
        c.vm(path, "Delete", v("(b)", True))
        c.wait_signal("InterfacesRemoved", lambda a: a[0] == path)
        self.assertNotIn("beta", [n for n, p in c.list_vms()])
        aside = glob.glob(self.conf("beta") + ".deleted-*")
        self.assertEqual(len(aside), 1, self.files())
        self.assertEqual(read(aside[0]), changed.encode())
        self.assertFalse(os.path.exists(self.conf("beta")))
        # the domain was undefined: the same name can come back, as a new VM
        path = self.create("beta", NEW)
        self.assertEqual(self.state(path), "undefined")

    def test_create_from_template(self):
        c = self.client
        settings = {"memory": GLib.Variant("s", "2GiB"), "vcpus": GLib.Variant("u", 4),
                    "autostart": GLib.Variant("b", True),
                    "shutdown-timeout": GLib.Variant("u", 30),
                    "on-host-shutdown": GLib.Variant("s", "destroy"),
                    "on-host-sleep": GLib.Variant("s", "pause"),
                    "pin": GLib.Variant("s", "none")}
        path = c.manager("CreateVMFrom", v("(ssa{sv})", "gamma", "minimal", settings), "(o)")[0]
        self.assertEqual(c.get(path, "VCPUs"), 4)
        self.assertEqual(c.get(path, "MemoryKiB"), 2 * 1048576)
        self.assertIs(c.get(path, "Autostart"), True)
        self.assertEqual(c.get(path, "ShutdownTimeout"), 30)
        self.assertEqual(c.get(path, "OnHostSleep"), "pause")
        text = read(self.conf("gamma")).decode()
        self.assertIn("template = minimal", text)
        self.assertIn("memory = 2GiB", text)
        # an unknown setting, a wrong type: nothing written
        for bad in ({"colour": GLib.Variant("s", "red")}, {"memory": GLib.Variant("b", True)}):
            self.assert_error(E + "InvalidArgs", MANAGER_PATH, MANAGER_IFACE, "CreateVMFrom",
                              v("(ssa{sv})", "delta", "minimal", bad))
        # a value cannot smuggle a second line in
        msg = self.assert_error(E + "InvalidArgs", MANAGER_PATH, MANAGER_IFACE, "CreateVMFrom",
                                v("(ssa{sv})", "delta", "minimal",
                                  {"memory": GLib.Variant("s", "1GiB\nraw-qemu = true")}))
        self.assertIn("control characters", msg)
        self.assertFalse(os.path.exists(self.conf("delta")))

    def test_set_keeps_comments_and_order(self):
        c = self.client
        path = self.path("alpha")
        before = read(self.conf("alpha")).decode()
        c.vm(path, "Set", v("(a{sv})", {"memory": GLib.Variant("u", 1536),
                                        "autostart": GLib.Variant("b", True),
                                        "hugepages": GLib.Variant("s", "none")}))
        after = read(self.conf("alpha")).decode()
        self.assertTrue(after.startswith("# alpha: the everyday test VM\n[vm]\nname = alpha\n"),
                        after)
        self.assertTrue(after.endswith("[memory]\nhugepages = none\n"), after)
        self.assertIn("memory = 1536MiB", after)
        self.assertIn("autostart = true", after)
        self.assertIn("[memory]\nhugepages = none", after)
        self.assertEqual(len(after.splitlines()), len(before.splitlines()) + 4)
        c.wait_property(path, "MemoryKiB", 1536 * 1024)
        c.wait_property(path, "Autostart", True)
        # invalid: every error, the file untouched
        self.assert_error(E + "InvalidProfile", path, VM_IFACE, "Set",
                          v("(a{sv})", {"vcpus": GLib.Variant("u", 0)}))
        self.assertEqual(read(self.conf("alpha")).decode(), after)
        self.assert_error(E + "InvalidArgs", path, VM_IFACE, "Set",
                          v("(a{sv})", {"nope": GLib.Variant("u", 0)}))
        # on-host-sleep: the property follows; a bad value is the profile's error
        c.vm(path, "Set", v("(a{sv})", {"on-host-sleep": GLib.Variant("s", "save")}))
        c.wait_property(path, "OnHostSleep", "save")
        msg = self.assert_error(E + "InvalidProfile", path, VM_IFACE, "Set",
                                v("(a{sv})", {"on-host-sleep": GLib.Variant("s", "hibernate")}))
        self.assertIn("on-host-sleep", msg)
        self.assertEqual(c.get(path, "OnHostSleep"), "save")

    # ---- etags, validation, concurrency -------------------------------------

    def test_etag_conflict(self):
        c = self.client
        path = self.path("alpha")
        text, etag = self.get_profile(path)
        # somebody edits the file by hand meanwhile
        with open(self.conf("alpha"), "a") as f:
            f.write("# edited by hand\n")
        hand = read(self.conf("alpha"))
        self.assert_error(E + "Conflict", path, VM_IFACE, "SetProfile",
                          v("(ss)", text.replace("vcpus = 4", "vcpus = 2"), etag))
        self.assertEqual(read(self.conf("alpha")), hand)
        self.assert_error(E + "Conflict", path, VM_IFACE, "SetProfile", v("(ss)", text, "0" * 64))
        text, etag = self.get_profile(path)
        c.vm(path, "SetProfile", v("(ss)", text.replace("vcpus = 4", "vcpus = 2"), etag))
        c.wait_property(path, "VCPUs", 2)

    def test_invalid_text_leaves_the_file_and_says_everything(self):
        path = self.path("alpha")
        text, etag = self.get_profile(path)
        before = read(self.conf("alpha"))
        bad = text.replace("vcpus = 4", "vcpus = many\nmemory-typo = 3") + "\n[nonsense]\nx = 1\n"
        msg = self.assert_error(E + "InvalidProfile", path, VM_IFACE, "SetProfile",
                                v("(ss)", bad, etag))
        lines = msg.splitlines()
        self.assertGreaterEqual(len(lines), 3, msg)
        for line in lines:
            self.assertRegex(line, r"alpha\.conf:\d+: ", msg)
        self.assertEqual(read(self.conf("alpha")), before)
        self.assertEqual([f for f in self.files() if f.startswith(".")], [])
        # the name cannot change through SetProfile
        self.assert_error(E + "InvalidArgs", path, VM_IFACE, "SetProfile",
                          v("(ss)", text.replace("name = alpha", "name = other"), etag))
        self.assertEqual(read(self.conf("alpha")), before)

    def test_concurrent_set_profile_one_wins(self):
        path = self.path("alpha")
        text, etag = self.get_profile(path)
        clients = [Client(self.bus.address) for _ in range(2)]
        for cl in clients:
            self.addCleanup(cl.close)
        texts = [text.replace("vcpus = 4", f"vcpus = {n}") for n in (1, 3)]
        results = [cl.call_async(path, VM_IFACE, "SetProfile", v("(ss)", t, etag))
                   for cl, t in zip(clients, texts)]
        wait_until(lambda: all(results), what="both answers")
        outcomes = sorted("reply" if "reply" in r else r["error"][0] for r in results)
        self.assertEqual(outcomes, [E + "Conflict", "reply"], results)
        won = texts[0 if "reply" in results[0] else 1]
        self.assertEqual(read(self.conf("alpha")), won.encode())

    def test_hostile_names_and_texts(self):
        before = self.files()
        parent = os.listdir(os.path.dirname(self.config_dir))
        for name in ("../x", "", "a" * 300, "x/y", ".hidden", "-rf", "caf\u00e9", "\u202ex",
                     "a\u0301b", "con:1"):
            self.assert_error(E + "InvalidArgs", MANAGER_PATH, MANAGER_IFACE, "CreateVM",
                              v("(ss)", name, NEW.replace("name = beta\n", "")))
        self.assert_error(E + "Exists", MANAGER_PATH, MANAGER_IFACE, "CreateVM",
                          v("(ss)", "alpha", ALPHA))
        for text, err in ((NEW + "#" * (1024 * 1024), "InvalidProfile"),
                          ("[vm]\nname = beta\n\x01\x02\xff", "InvalidProfile"),
                          (NEW.replace("name = beta", "name = alpha"), "InvalidArgs"),
                          ("just words", "InvalidProfile"),
                          # a D-Bus string is UTF-8 without NUL: the nearest to binary
                          ("\u2028\ufffe\U0001f4a9" * 100, "InvalidProfile")):
            self.assert_error(E + err, MANAGER_PATH, MANAGER_IFACE, "CreateVM",
                              v("(ss)", "beta", text))
        self.assertEqual(self.files(), before)
        self.assertEqual(os.listdir(os.path.dirname(self.config_dir)), parent)
        # root may write raw-qemu (the test client is root); see test_polkit for others
        self.create("beta", NEW.replace("vcpus = 2", "vcpus = 2\nraw-qemu = true"))

    def test_untrusted_directory_gets_nothing(self):
        os.chmod(self.config_dir, 0o777)
        self.addCleanup(os.chmod, self.config_dir, 0o755)
        msg = self.assert_error(E + "InvalidProfile", MANAGER_PATH, MANAGER_IFACE, "CreateVM",
                                v("(ss)", "beta", NEW))
        self.assertIn("writable by nobody else", msg)
        self.assertEqual(self.files(), ["alpha.conf"])

    def test_duplicate_uuid_refused(self):
        c = self.client
        path = self.path("alpha")
        self.start_vm(path)
        uuid = c.get(path, "UUID")
        text, etag = self.get_profile(path)
        c.vm(path, "SetProfile", v("(ss)", text.replace("[vm]\n", f"[vm]\nuuid = {uuid}\n"),
                                   etag))
        self.assert_error(E + "InvalidProfile", MANAGER_PATH, MANAGER_IFACE, "CreateVM",
                          v("(ss)", "beta", NEW.replace("[vm]\n", f"[vm]\nuuid = {uuid}\n")))
        self.assertFalse(os.path.exists(self.conf("beta")))

    # ---- import ----------------------------------------------------------------

    def test_import_from_xml_text(self):
        c = self.client
        xml = """<domain type='kvm'>
  <name>imported</name>
  <uuid>3f1c2a4e-8b1d-4c6e-9f0a-1234567890ab</uuid>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <panic model='hyperv'/></devices>
</domain>"""
        path, not_carried = c.manager("ImportVM", v("(ss)", "", xml), "(oas)")
        self.assertEqual(path, "/org/winvm1/vm/imported")
        self.assertEqual(c.get(path, "MemoryKiB"), 2097152)
        self.assertIn("uuid = 3f1c2a4e-8b1d-4c6e-9f0a-1234567890ab",
                      read(self.conf("imported")).decode())
        self.assertIsInstance(not_carried, list)
        # again: the name is taken
        self.assert_error(E + "Exists", MANAGER_PATH, MANAGER_IFACE, "ImportVM",
                          v("(ss)", "imported", xml))
        self.assert_error(E + "InvalidArgs", MANAGER_PATH, MANAGER_IFACE, "ImportVM",
                          v("(ss)", "x2", "<notadomain/>"))

    def test_import_from_libvirt_domain(self):
        c = self.client
        # test:///default's "test" is not winvm's, but a <domain type="test">,
        # which no QEMU runs: refused, saying why
        msg = self.assert_error(E + "InvalidArgs", MANAGER_PATH, MANAGER_IFACE, "ImportVM",
                                v("(ss)", "from-test", "test"))
        self.assertIn("QEMU/KVM", msg)
        self.assertFalse(os.path.exists(self.conf("from-test")))
        self.assert_error(E + "NotFound", MANAGER_PATH, MANAGER_IFACE, "ImportVM",
                          v("(ss)", "x3", "no-such-domain"))
        # one of ours is not imported again
        self.start_vm(self.path("alpha"))
        self.assert_error(E + "Exists", MANAGER_PATH, MANAGER_IFACE, "ImportVM",
                          v("(ss)", "alpha2", "alpha"))
        self.assertEqual(self.files(), ["alpha.conf"])

    # ---- polkit ----------------------------------------------------------------

    def test_polkit(self):
        polkit = self.start_polkit()
        path = self.path("alpha")
        calls = [
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "CreateVM", "(ss)", ["beta", NEW]),
            (BUS_NAME, path, VM_IFACE, "GetProfile", None, []),
            (BUS_NAME, path, VM_IFACE, "SetProfile", "(ss)", [ALPHA, "0" * 64]),
            (BUS_NAME, path, VM_IFACE, "Delete", "(b)", [False]),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ImportVM", "(ss)", ["x", "test"]),
        ]
        for r in run_as_user(self.bus.address, [list(x) for x in calls]):
            self.assertEqual(r.get("error"), E + "AccessDenied", r)
        self.assertFalse(os.path.exists(self.conf("beta")))
        polkit.set_allowed(["org.winvm1.manage"])
        r = run_as_user(self.bus.address, [list(x) for x in calls[:3]])
        self.assertEqual(r[0], {"reply": ["/org/winvm1/vm/beta"]})
        self.assertEqual(r[1]["reply"][1], sha256(self.conf("alpha")))
        self.assertEqual(r[2].get("error"), E + "Conflict")
        # a polkit-authorized user (the winvm group) may not pass options to QEMU
        raw = NEW.replace("beta", "raw").replace("vcpus = 2", "vcpus = 2\nraw-qemu = true")
        r = run_as_user(self.bus.address, [[BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "CreateVM",
                                            "(ss)", ["raw", raw]]])
        self.assertEqual(r[0].get("error"), E + "AccessDenied", r)
        self.assertFalse(os.path.exists(self.conf("raw")))
        r = run_as_user(self.bus.address, [list(calls[3])])
        self.assertIn("reply", r[0], r)
        wait_until(lambda: "alpha" not in [n for n, p in self.client.list_vms()],
                   what="alpha gone")


if __name__ == "__main__":
    unittest.main()
