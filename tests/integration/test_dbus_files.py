#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The files that put winvmd on the system bus: the polkit .policy and the
bus .conf validated against their DTDs, the interface XMLs well-formed and
all reachable through the bus policy, and a real dbus-daemon that accepts
(and, as root, enforces) our .conf."""

import configparser
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ET

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

SRC = os.environ["WV_SOURCE_ROOT"]
DBUS = os.path.join(SRC, "dbus")
CONF = os.path.join(DBUS, "org.winvm1.conf")
SERVICE = os.path.join(DBUS, "org.winvm1.service")
POLICY = os.path.join(DBUS, "org.winvm1.policy")
INTERFACE_XMLS = [os.path.join(DBUS, f) for f in ("org.winvm1.Manager.xml", "org.winvm1.VM.xml")]
BUS_NAME = "org.winvm1"

# Interfaces every caller needs besides ours (GDBus implements them).
STANDARD_INTERFACES = {
    "org.freedesktop.DBus.Properties": [],
    "org.freedesktop.DBus.Introspectable": [],
    "org.freedesktop.DBus.ObjectManager": [],
    "org.freedesktop.DBus.Peer": [],
}

POLKIT_DTDS = ["/usr/share/polkit-1/policyconfig-1.dtd"]
# The busconfig.dtd that libdbus-1-dev installs predates send_destination=
# and friends (dbus-daemon accepts them; the DTD was never updated), so it
# cannot judge a modern policy. What the current rules allow inside
# <policy>, checked by hand; dbus-daemon itself judges the file in
# DbusDaemon below.
POLICY_RULE_ATTRS = {
    "user", "group", "own", "own_prefix", "send_destination", "send_destination_prefix",
    "send_interface", "send_member", "send_error", "send_type", "send_path",
    "send_requested_reply", "send_broadcast", "receive_sender", "receive_interface",
    "receive_member", "receive_error", "receive_type", "receive_path",
    "receive_requested_reply", "eavesdrop", "log",
}


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed (scripts/install-deps.sh --tests)")
    return path


def first_existing(paths):
    return next((p for p in paths if os.path.exists(p)), None)


def xmllint(*args):
    return subprocess.run([tool("xmllint"), "--noout", "--nonet", *args],
                          capture_output=True, text=True, timeout=60)


def interfaces():
    """{interface name: [method names]} from our introspection XMLs."""
    found = {}
    for path in INTERFACE_XMLS:
        for iface in ET.parse(path).getroot().iter("interface"):
            found[iface.get("name")] = [m.get("name") for m in iface.iter("method")]
    return found


def header_defines(relpath, prefix):
    with open(os.path.join(SRC, relpath)) as f:
        return dict(re.findall(r'#define\s+(' + prefix + r'\w+)\s+"([^"]*)"', f.read()))


class Policy(unittest.TestCase):
    def test_valid_against_polkit_dtd(self):
        dtd = first_existing(POLKIT_DTDS)
        self.assertIsNotNone(dtd, "polkit's policyconfig-1.dtd not found (package polkitd)")
        r = xmllint("--dtdvalid", dtd, POLICY)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_actions(self):
        root = ET.parse(POLICY).getroot()
        actions = {a.get("id"): a for a in root.iter("action")}
        # the daemon asks for exactly these
        wanted = set(header_defines("daemon/wv-auth.h", "WV_ACTION_").values())
        self.assertEqual(set(actions), wanted)
        expected = {
            "org.winvm1.lifecycle": "auth_admin_keep",
            "org.winvm1.tune": "auth_admin_keep",
            "org.winvm1.manage": "auth_admin",
        }
        for action_id, active in expected.items():
            a = actions[action_id]
            self.assertTrue(a.findtext("description").strip(), action_id)
            self.assertTrue(a.findtext("message").startswith("Authentication is required"),
                            action_id)
            d = a.find("defaults")
            self.assertEqual(d.findtext("allow_any"), "no", action_id)
            self.assertEqual(d.findtext("allow_inactive"), "no", action_id)
            self.assertEqual(d.findtext("allow_active"), active, action_id)


class Interfaces(unittest.TestCase):
    def test_well_formed(self):
        for path in INTERFACE_XMLS:
            r = xmllint(path)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_names_match_common_header(self):
        names = header_defines("common/wv-common.h", "WV_")
        self.assertEqual(set(interfaces()),
                         {names["WV_MANAGER_INTERFACE"], names["WV_VM_INTERFACE"]})
        self.assertEqual(names["WV_BUS_NAME"], BUS_NAME)


class BusConf(unittest.TestCase):
    def setUp(self):
        self.root = ET.parse(CONF).getroot()

    def test_valid_busconfig(self):
        r = xmllint(CONF)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.root.tag, "busconfig")
        for policy in self.root:
            self.assertEqual(policy.tag, "policy")
            self.assertLessEqual(set(policy.attrib), {"context", "user", "group", "at_console"})
            self.assertEqual(len(policy.attrib), 1, policy.attrib)
            for rule in policy:
                self.assertIn(rule.tag, ("allow", "deny"))
                self.assertTrue(rule.attrib, "empty rule")
                self.assertLessEqual(set(rule.attrib), POLICY_RULE_ATTRS, rule.attrib)

    def test_only_root_owns(self):
        for policy in self.root.iter("policy"):
            owns = [r for r in policy.iter("allow") if r.get("own") or r.get("own_prefix")]
            if policy.get("user") == "root":
                self.assertEqual([r.get("own") for r in owns], [BUS_NAME])
            else:
                self.assertEqual(owns, [], policy.attrib)
        default = self.root.find("policy[@context='default']")
        self.assertIsNotNone(default.find(f"deny[@own='{BUS_NAME}']"))

    def test_every_interface_reachable(self):
        default = self.root.find("policy[@context='default']")
        self.assertIsNotNone(default)
        allowed = {}  # interface -> set of members, or None for all of them
        for rule in default.iter("allow"):
            if rule.get("send_destination") != BUS_NAME:
                continue
            iface = rule.get("send_interface")
            self.assertIsNotNone(iface, "allow every interface? list them")
            member = rule.get("send_member")
            if member is None:
                allowed[iface] = None
            elif allowed.get(iface, set()) is not None:
                allowed.setdefault(iface, set()).add(member)
        for iface, methods in {**interfaces(), **STANDARD_INTERFACES}.items():
            self.assertIn(iface, allowed, f"{iface} not in {CONF}")
            if allowed[iface] is not None:
                self.assertLessEqual(set(methods), allowed[iface], iface)


class Service(unittest.TestCase):
    def test_activation_file(self):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read(SERVICE)
        self.assertEqual(dict(parser["D-BUS Service"]), {
            "Name": BUS_NAME,
            "Exec": "/bin/false",
            "User": "root",
            "SystemdService": "winvmd.service",
        })


# The relevant defaults of Debian's system.conf, so our holes are the only ones.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <include>{include}</include>
</busconfig>
"""

NOBODY = 65534


class DbusDaemon(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="wv-bus-")
        os.chmod(self.tmp, 0o755)  # so nobody can reach the socket
        self.proc = None

    def tearDown(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate()
        shutil.rmtree(self.tmp)

    def start_bus(self, include):
        config = os.path.join(self.tmp, "bus.conf")
        with open(config, "w") as f:
            f.write(BUS_CONFIG.format(socket=os.path.join(self.tmp, "bus"), include=include))
        self.proc = subprocess.Popen(
            [tool("dbus-daemon"), "--nofork", "--nopidfile", "--print-address",
             "--config-file=" + config],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        address = self.proc.stdout.readline().strip()
        if not address:
            _, err = self.proc.communicate(timeout=30)
            self.proc = None
            return None, err
        return address, ""

    def test_accepts_conf(self):
        address, err = self.start_bus(CONF)
        self.assertTrue(address.startswith("unix:"), err)
        self.assertIsNone(self.proc.poll())

    def test_rejects_broken_conf(self):
        # the harness above notices a .conf dbus-daemon does not like
        broken = os.path.join(self.tmp, "broken.conf")
        with open(broken, "w") as f:
            f.write('<busconfig><policy context="default">'
                    '<allow send_bogus="x"/></policy></busconfig>')
        address, err = self.start_bus(broken)
        self.assertIsNone(address)
        self.assertTrue(err)

    def send_as_nobody(self, address, dest, path, method, *args):
        def drop():
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        return subprocess.run(
            [tool("dbus-send"), "--bus=" + address, "--print-reply", "--reply-timeout=10000",
             "--dest=" + dest, path, method, *args],
            capture_output=True, text=True, timeout=30, preexec_fn=drop)

    def test_policy_enforced(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to act as root and as nobody on the bus")
        address, err = self.start_bus(CONF)
        self.assertTrue(address, err)

        # root may own the name; this connection then answers every call
        # with an error of its own (no objects), which tells "delivered"
        # apart from the bus's AccessDenied
        conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        try:
            reply = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", "RequestName",
                                   GLib.Variant("(su)", (BUS_NAME, 4)), GLib.VariantType("(u)"),
                                   Gio.DBusCallFlags.NONE, 10000, None)
            self.assertEqual(reply.unpack(), (1,))  # primary owner

            r = self.send_as_nobody(address, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus.RequestName",
                                    "string:" + BUS_NAME, "uint32:0")
            self.assertIn("AccessDenied", r.stderr)

            for iface, methods in {**interfaces(), **STANDARD_INTERFACES}.items():
                method = methods[0] if methods else "Ping"
                r = self.send_as_nobody(address, BUS_NAME, "/org/winvm1", f"{iface}.{method}")
                self.assertNotIn("AccessDenied", r.stderr, iface)
                self.assertNotIn("NoReply", r.stderr, iface)

            r = self.send_as_nobody(address, BUS_NAME, "/org/winvm1", "org.example.Other.Do")
            self.assertIn("AccessDenied", r.stderr)
        finally:
            conn.close_sync(None)


if __name__ == "__main__":
    unittest.main()
