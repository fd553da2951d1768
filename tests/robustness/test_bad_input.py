#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A bad-input matrix over D-Bus: unknown VMs, wrong types, out-of-range
indexes, malformed and hostile cpusets and names, 1 MiB strings, calls while
libvirtd is down, calls of an unprivileged uid. Every case must end in the
one error name the matrix expects: org.winvm1.Error.* from winvmd, or one of
the standard org.freedesktop.DBus.Error.* GDBus answers by itself for calls
that do not match the introspection data (wrong signature, unknown
method/property); the case says which.

The whole matrix runs PASSES times against one daemon, which runs on a real
libvirtd (a private one, taken down and brought back in every pass). After
every pass the daemon is alive, nothing was written, and VmRSS after the
last pass is less than 1 MiB above VmRSS after the first.

WV_MATRIX_PASSES overrides the number of passes; WV_VALGRIND=1 runs the
daemon under valgrind (then: no valgrind errors, and no RSS bound)."""

import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from robust import (  # noqa: E402
    E, MANAGER_IFACE, MANAGER_PATH, OM_IFACE, PROPS_IFACE, STD, VM_IFACE, Env, GLib,
    wait_until)
from daemon_fixture import error_message, error_name, run_as_user  # noqa: E402

PASSES = int(os.environ.get("WV_MATRIX_PASSES", "2" if os.environ.get("WV_VALGRIND") else "20"))
RSS_GROWTH_LIMIT_KIB = 1024
MIB = 1 << 20
# winvmd's own messages stay short whatever the input was
MESSAGE_LIMIT = 4096

VM = "/org/winvm1/vm/"
ALPHA = VM + "alpha"  # 4 vCPUs, 1 I/O thread
BETA = VM + "beta"    # 2 vCPUs, no I/O threads
HP = VM + "hp"        # 2 vCPUs, no I/O threads
NOPE = VM + "nope"


def V(sig, *args):
    """V("(us)", 0, "1") is a tuple; V("b", True) a single value."""
    return GLib.Variant(sig, tuple(args) if sig.startswith("(") else args[0])


def prop(name, value):
    return V("(ssv)", VM_IFACE, name, value)


class Case:
    def __init__(self, group, what, path, iface, method, args, expect):
        self.group, self.what = group, what
        self.path, self.iface, self.method, self.args = path, iface, method, args
        self.expect = expect  # an error name, or None: the call must succeed

    def __repr__(self):
        return f"[{self.group}] {self.what}"


def manager(group, what, method, args, expect):
    return Case(group, what, MANAGER_PATH, MANAGER_IFACE, method, args, expect)


def vm(group, what, path, method, args, expect):
    return Case(group, what, path, VM_IFACE, method, args, expect)


def props(group, what, path, method, args, expect):
    return Case(group, what, path, PROPS_IFACE, method, args, expect)


HOSTILE_CPUSETS = [
    ("empty", ""), ("blank", " "), ("comma", ","), ("negative", "-1"), ("reversed range", "3-1"),
    ("duplicate", "1,1"), ("hex", "0x1"), ("semicolon", "1;2"), ("huge range", "0-99999"),
    ("2^32", "4294967296"), ("20 digits", "99999999999999999999"), ("open range", "1-"),
    ("double range", "1-2-3"), ("empty item", "1,,2"), ("path", "../../etc/passwd"),
    ("format string", "%s%s%n%x"), ("non-ASCII", "\u00e9"), ("newline", "1\n2"),
    ("CPU the host lacks", "16"), ("up to NR_CPUS", "0-8191"), ("beyond NR_CPUS", "8192"),
    ("control character", "\x01"), ("space before a comma", "1 ,2"), ("plus sign", "+1"),
    ("stride", "0-3:2"), ("range and its CPU", "1-1,1"),
]

HUGE_CPUSETS = [
    ("1 MiB of x", "x" * MIB), ("1 MiB list", "1," * (MIB // 2)), ("1 MiB number", "9" * MIB),
    ("1 MiB ranges", "0-" * (MIB // 2) + "1"),
]

BAD_NAMES = [
    ("dot-dot", "../alpha"), ("absolute path", "/etc/passwd"), ("empty", ""), ("space", "a b"),
    ("newline", "alpha\n"), ("65 characters", "a" * 65), ("non-ASCII", "\u00e9t\u00e9"),
    ("leading dash", "-alpha"), ("leading dot", ".alpha"), ("format string", "%s%n"),
    ("control character", "al\x07pha"), ("1 MiB", "a" * MIB),
]


def normal_cases():
    """Cases with libvirt up; no VM is defined in libvirt."""
    c = []
    # ---- unknown VMs
    g = "unknown VM"
    for method in ("Render", "Check", "Plan"):
        c.append(manager(g, f"{method}(nope)", method, V("(s)", "nope"), E + "NotFound"))
    c.append(manager(g, "Render(ALPHA): names are case-sensitive", "Render", V("(s)", "ALPHA"),
                     E + "NotFound"))
    for method, args in (("Start", None), ("Shutdown", V("(u)", 1)), ("ForceOff", None),
                         ("Reboot", None), ("Suspend", None), ("Resume", None),
                         ("PinVCPU", V("(us)", 0, "1")), ("PinIOThread", V("(us)", 1, "1")),
                         ("PinEmulator", V("(s)", "1"))):
        c.append(vm(g, f"{method} on {NOPE}", NOPE, method, args, E + "NotFound"))
    c.append(props(g, "Get State of nope", NOPE, "Get", V("(ss)", VM_IFACE, "State"),
                   E + "NotFound"))
    c.append(props(g, "GetAll of nope", NOPE, "GetAll", V("(s)", VM_IFACE), E + "NotFound"))
    c.append(props(g, "Set Autostart of nope", NOPE, "Set", prop("Autostart", V("b", True)),
                   E + "NotFound"))
    for node in ("_2e_2e", "x_2fy", "_", "alpha_00", "a" * MIB):
        what = node if len(node) < 64 else "1 MiB node"
        c.append(vm(g, f"Start on {VM}{what}", VM + node, "Start", None, E + "NotFound"))
    # not a VM node: GDBus answers for paths nothing is registered at
    c.append(vm(g, "Start on /org/winvm1/vm/alpha/child", ALPHA + "/child", "Start", None,
                STD + "UnknownMethod"))
    c.append(vm(g, "Start on /org/winvm1/vm", "/org/winvm1/vm", "Start", None,
                STD + "UnknownMethod"))
    c.append(vm(g, "Start on /org/winvm1/nope", "/org/winvm1/nope", "Start", None,
                STD + "UnknownMethod"))

    # ---- invalid names
    g = "invalid name"
    for i, (what, name) in enumerate(BAD_NAMES):
        method = ("Render", "Check", "Plan")[i % 3]
        c.append(manager(g, f"{method}({what})", method, V("(s)", name), E + "InvalidArgs"))
    c.append(manager(g, "Check(1 MiB)", "Check", V("(s)", "a" * MIB), E + "InvalidArgs"))
    c.append(manager(g, "Render(1 MiB)", "Render", V("(s)", "b" * MIB), E + "InvalidArgs"))

    # ---- wrong types: GDBus checks the signature against dbus/*.xml
    g = "wrong type"
    bad_sig = STD + "InvalidArgs"
    for what, method, args in (("Render(u)", "Render", V("(u)", 1)),
                               ("Render()", "Render", None),
                               ("Render(ss)", "Render", V("(ss)", "alpha", "alpha")),
                               ("Check(as)", "Check", V("(as)", ["alpha"])),
                               ("Plan(i)", "Plan", V("(i)", -1)),
                               ("ListVMs(s)", "ListVMs", V("(s)", "alpha")),
                               ("Reload(b)", "Reload", V("(b)", True)),
                               ("ShutdownAll(s)", "ShutdownAll", V("(s)", "1")),
                               ("ShutdownAll(i)", "ShutdownAll", V("(i)", -1)),
                               ("ShutdownAll()", "ShutdownAll", None)):
        c.append(manager(g, what, method, args, bad_sig))
    for what, method, args in (("Start(u)", "Start", V("(u)", 1)),
                               ("ForceOff(s)", "ForceOff", V("(s)", "now")),
                               ("Shutdown(s)", "Shutdown", V("(s)", "10")),
                               ("Shutdown(i)", "Shutdown", V("(i)", -1)),
                               ("Shutdown()", "Shutdown", None),
                               ("Shutdown(t)", "Shutdown", V("(t)", 2**64 - 1)),
                               ("PinVCPU(ss)", "PinVCPU", V("(ss)", "0", "1")),
                               ("PinVCPU(is)", "PinVCPU", V("(is)", -1, "1")),
                               ("PinVCPU(u)", "PinVCPU", V("(u)", 0)),
                               ("PinVCPU(su)", "PinVCPU", V("(su)", "1", 0)),
                               ("PinIOThread(s)", "PinIOThread", V("(s)", "1")),
                               ("PinEmulator(u)", "PinEmulator", V("(u)", 1)),
                               ("PinEmulator(as)", "PinEmulator", V("(as)", ["1"])),
                               ("PinEmulator(v)", "PinEmulator", V("(v)", V("s", "1")))):
        c.append(vm(g, what, ALPHA, method, args, bad_sig))
    # for org.freedesktop.DBus.Properties GDBus says UnknownMethod instead
    c.append(props(g, "Get(s)", ALPHA, "Get", V("(s)", VM_IFACE), STD + "UnknownMethod"))
    c.append(props(g, "GetAll(u)", ALPHA, "GetAll", V("(u)", 1), STD + "UnknownMethod"))
    c.append(props(g, "Set(ss)", ALPHA, "Set", V("(ss)", VM_IFACE, "Autostart"),
                   STD + "UnknownMethod"))
    for what, value in (("s", V("s", "true")), ("u", V("u", 1)), ("as", V("as", ["true"])),
                        ("v", V("v", V("b", True))), ("a{sv}", V("a{sv}", {}))):
        c.append(props(g, f"Set Autostart to {what}", ALPHA, "Set", prop("Autostart", value),
                       bad_sig))
    c.append(Case(g, "unknown method on the Manager", MANAGER_PATH, MANAGER_IFACE, "Bogus", None,
                  STD + "UnknownMethod"))
    c.append(vm(g, "unknown method on a VM", ALPHA, "Bogus", None, STD + "UnknownMethod"))
    c.append(Case(g, "unknown interface on a VM", ALPHA, "org.winvm1.Bogus", "Start", None,
                  STD + "UnknownMethod"))
    c.append(Case(g, "ObjectManager method on a VM", ALPHA, OM_IFACE, "GetManagedObjects", None,
                  STD + "UnknownMethod"))

    # ---- properties
    g = "property"
    c.append(props(g, "Get of an unknown property", ALPHA, "Get", V("(ss)", VM_IFACE, "Bogus"),
                   STD + "InvalidArgs"))
    c.append(props(g, "Get of a 1 MiB property name", ALPHA, "Get",
                   V("(ss)", VM_IFACE, "P" * MIB), STD + "InvalidArgs"))
    c.append(props(g, "Get of an unknown interface", ALPHA, "Get",
                   V("(ss)", "org.winvm1.Bogus", "State"), STD + "InvalidArgs"))
    c.append(props(g, "GetAll of an unknown interface", ALPHA, "GetAll",
                   V("(s)", "org.winvm1.Bogus"), STD + "InvalidArgs"))
    c.append(props(g, "GetAll of a 1 MiB interface name", ALPHA, "GetAll", V("(s)", "i" * MIB),
                   STD + "InvalidArgs"))
    c.append(props(g, "Set of read-only State", ALPHA, "Set", prop("State", V("s", "running")),
                   STD + "InvalidArgs"))
    c.append(props(g, "Set of read-only VCPUs", ALPHA, "Set", prop("VCPUs", V("u", 64)),
                   STD + "InvalidArgs"))
    c.append(props(g, "Set of an unknown property", ALPHA, "Set", prop("Bogus", V("b", True)),
                   STD + "InvalidArgs"))
    c.append(props(g, "Set of a 1 MiB property name", ALPHA, "Set", prop("P" * MIB, V("b", True)),
                   STD + "InvalidArgs"))
    c.append(props(g, "Set on an unknown interface", ALPHA, "Set",
                   V("(ssv)", "org.winvm1.Bogus", "Autostart", V("b", True)),
                   STD + "InvalidArgs"))
    c.append(props(g, "Set of the Manager's Version", MANAGER_PATH, "Set",
                   V("(ssv)", MANAGER_IFACE, "Version", V("s", "9")), STD + "InvalidArgs"))
    c.append(props(g, "Get of an unknown Manager property", MANAGER_PATH, "Get",
                   V("(ss)", MANAGER_IFACE, "Bogus"), STD + "InvalidArgs"))

    # ---- out-of-range numbers
    g = "out of range"
    for n in (4, 5, 255, 2**31, 2**32 - 1):
        c.append(vm(g, f"PinVCPU({n}) of a 4-vCPU VM", ALPHA, "PinVCPU", V("(us)", n, "1"),
                    E + "InvalidArgs"))
    c.append(vm(g, "PinVCPU(2) of a 2-vCPU VM", BETA, "PinVCPU", V("(us)", 2, "1"),
                E + "InvalidArgs"))
    for n in (0, 2, 2**32 - 1):
        c.append(vm(g, f"PinIOThread({n}) of a VM with one", ALPHA, "PinIOThread",
                    V("(us)", n, "1"), E + "InvalidArgs"))
    c.append(vm(g, "PinIOThread(1) of a VM with none", HP, "PinIOThread", V("(us)", 1, "1"),
                E + "InvalidArgs"))
    for t in (86401, 2**32 - 1):
        c.append(vm(g, f"Shutdown({t})", ALPHA, "Shutdown", V("(u)", t), E + "InvalidArgs"))

    # ---- hostile cpusets
    g = "hostile cpuset"
    for i, (what, text) in enumerate(HOSTILE_CPUSETS):
        c.append(vm(g, f"PinVCPU(0, {what})", ALPHA, "PinVCPU", V("(us)", 0, text),
                    E + "InvalidArgs"))
        if i % 2 == 0:
            c.append(vm(g, f"PinEmulator({what})", BETA, "PinEmulator", V("(s)", text),
                        E + "InvalidArgs"))
        else:
            c.append(vm(g, f"PinIOThread(1, {what})", ALPHA, "PinIOThread", V("(us)", 1, text),
                        E + "InvalidArgs"))
    g = "1 MiB cpuset"
    for what, text in HUGE_CPUSETS:
        c.append(vm(g, f"PinVCPU(0, {what})", ALPHA, "PinVCPU", V("(us)", 0, text),
                    E + "InvalidArgs"))
        c.append(vm(g, f"PinEmulator({what})", BETA, "PinEmulator", V("(s)", text),
                    E + "InvalidArgs"))

    # ---- profile management (issue 16): every refusal typed, nothing written
    g = "manage: hostile name"
    text = "[vm]\ntemplate = minimal\n"
    for what, name in BAD_NAMES:
        c.append(manager(g, f"CreateVM({what})", "CreateVM", V("(ss)", name, text),
                         E + "InvalidArgs"))
        c.append(manager(g, f"CreateVMFrom({what})", "CreateVMFrom",
                         V("(ssa{sv})", name, "minimal", {}), E + "InvalidArgs"))
        if name:  # "" takes the domain's name
            c.append(manager(g, f"ImportVM({what})", "ImportVM", V("(ss)", name, "<domain/>"),
                             E + "InvalidArgs"))
    g = "manage: hostile text"
    c.append(manager(g, "CreateVM(alpha): exists", "CreateVM", V("(ss)", "alpha", text),
                     E + "Exists"))
    for what, body, err in (
            ("1 MiB + 1", "[vm]\n" + "#" * MIB, "InvalidProfile"),
            ("no group", "x" * 1000, "InvalidProfile"),
            ("odd unicode", "\u2028\ufffe\U0001f4a9" * 1000, "InvalidProfile"),
            ("[vm] name of another VM", "[vm]\nname = beta\ntemplate = minimal\n", "InvalidArgs"),
            ("every key wrong", "[vm]\nvcpus = x\nmemory = y\n[cpu]\npin = z\n[bogus]\n",
             "InvalidProfile")):
        c.append(manager(g, f"CreateVM(new, {what})", "CreateVM", V("(ss)", "new", body),
                         E + err))
        c.append(vm(g, f"SetProfile({what})", ALPHA, "SetProfile", V("(ss)", body, "x"),
                    E + err))
    c.append(vm(g, "SetProfile(valid, stale etag)", BETA, "SetProfile",
                V("(ss)", "[vm]\nname = beta\ntemplate = minimal\n", "0" * 64), E + "Conflict"))
    for what, settings in (("unknown key", {"colour": V("s", "red")}),
                           ("wrong type", {"memory": V("b", True)}),
                           ("two lines", {"memory": V("s", "1GiB\nraw-qemu = true")})):
        c.append(vm(g, f"Set({what})", ALPHA, "Set", V("(a{sv})", settings), E + "InvalidArgs"))
        c.append(manager(g, f"CreateVMFrom(new, {what})", "CreateVMFrom",
                         V("(ssa{sv})", "new", "minimal", settings), E + "InvalidArgs"))
    c.append(vm(g, "Set(vcpus = 0)", ALPHA, "Set", V("(a{sv})", {"vcpus": V("u", 0)}),
                E + "InvalidProfile"))
    for what, source, err in (("empty", "", "InvalidArgs"), ("1 MiB + 1", "<" * (MIB + 1),
                                                             "InvalidArgs"),
                              ("not XML", "<domain", "InvalidArgs"),
                              ("DOCTYPE", "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/shadow'>]>"
                               "<domain>&e;</domain>", "InvalidArgs"),
                              ("no such domain", "nope", "NotFound")):
        c.append(manager(g, f"ImportVM(new, {what})", "ImportVM", V("(ss)", "new", source),
                         E + err))
    for method, args in (("GetProfile", None), ("SetProfile", V("(ss)", text, "x")),
                         ("Set", V("(a{sv})", {})), ("Delete", V("(b)", True))):
        c.append(vm(g, f"{method} on {NOPE}", NOPE, method, args, E + "NotFound"))

    # ---- calls that do not fit the VM's state (no domain defined yet)
    g = "wrong state"
    for method in ("Suspend", "Resume", "Reboot"):
        c.append(vm(g, f"{method} of a VM that never ran", BETA, method, None, E + "Failed"))
    return c


def downtime_cases():
    """Cases while libvirtd is down."""
    g = "libvirtd down"
    c = []
    for method, args in (("Start", None), ("Shutdown", V("(u)", 5)), ("ForceOff", None),
                         ("Reboot", None), ("Suspend", None), ("Resume", None),
                         ("PinVCPU", V("(us)", 0, "1")), ("PinIOThread", V("(us)", 1, "2")),
                         ("PinEmulator", V("(s)", "3"))):
        c.append(vm(g, method, ALPHA, method, args, E + "LibvirtUnavailable"))
    c.append(manager(g, "ShutdownAll(1)", "ShutdownAll", V("(u)", 1), E + "LibvirtUnavailable"))
    c.append(manager(g, "ImportVM(new, a domain name)", "ImportVM", V("(ss)", "new", "x"),
                     E + "LibvirtUnavailable"))
    c.append(vm(g, "Delete(undefine)", ALPHA, "Delete", V("(b)", True), E + "LibvirtUnavailable"))
    c.append(vm(g, "GetProfile", ALPHA, "GetProfile", None, None))
    # input is checked before libvirt is needed
    c.append(vm(g, "PinVCPU(0, garbage)", ALPHA, "PinVCPU", V("(us)", 0, "garbage"),
                E + "InvalidArgs"))
    c.append(vm(g, "PinVCPU(4) of a 4-vCPU VM", ALPHA, "PinVCPU", V("(us)", 4, "1"),
                E + "InvalidArgs"))
    c.append(vm(g, "Start of nope", NOPE, "Start", None, E + "NotFound"))
    c.append(manager(g, "Render(../x)", "Render", V("(s)", "../x"), E + "InvalidArgs"))
    # reads and plans keep working
    c.append(manager(g, "ListVMs", "ListVMs", None, None))
    c.append(manager(g, "Check(alpha)", "Check", V("(s)", "alpha"), None))
    c.append(manager(g, "Render(alpha)", "Render", V("(s)", "alpha"), None))
    c.append(props(g, "GetAll(alpha)", ALPHA, "GetAll", V("(s)", VM_IFACE), None))
    return c


# Calls of uid nobody with no polkit on the bus: (what, call, expected)
UNPRIVILEGED = [
    ("Start", (ALPHA, VM_IFACE, "Start", None, []), E + "AccessDenied"),
    ("ForceOff", (ALPHA, VM_IFACE, "ForceOff", None, []), E + "AccessDenied"),
    ("Shutdown(1)", (ALPHA, VM_IFACE, "Shutdown", "(u)", [1]), E + "AccessDenied"),
    ("PinVCPU(0, 1)", (ALPHA, VM_IFACE, "PinVCPU", "(us)", [0, "1"]), E + "AccessDenied"),
    ("PinEmulator(2)", (ALPHA, VM_IFACE, "PinEmulator", "(s)", ["2"]), E + "AccessDenied"),
    ("Set Autostart", (ALPHA, PROPS_IFACE, "Set", "(ssv)", [VM_IFACE, "Autostart", ["b", True]]),
     E + "AccessDenied"),
    ("Reload", (MANAGER_PATH, MANAGER_IFACE, "Reload", None, []), E + "AccessDenied"),
    ("ShutdownAll(1)", (MANAGER_PATH, MANAGER_IFACE, "ShutdownAll", "(u)", [1]),
     E + "AccessDenied"),
    ("PinVCPU(0, garbage): input first", (ALPHA, VM_IFACE, "PinVCPU", "(us)", [0, "x,y"]),
     E + "InvalidArgs"),
    ("Start of nope", (NOPE, VM_IFACE, "Start", None, []), E + "NotFound"),
    ("CreateVM", (MANAGER_PATH, MANAGER_IFACE, "CreateVM", "(ss)", ["new", "[vm]\n"]),
     E + "AccessDenied"),
    ("CreateVM(../x): input first", (MANAGER_PATH, MANAGER_IFACE, "CreateVM", "(ss)",
                                     ["../x", "[vm]\n"]), E + "InvalidArgs"),
    ("ImportVM", (MANAGER_PATH, MANAGER_IFACE, "ImportVM", "(ss)", ["new", "x"]),
     E + "AccessDenied"),
    ("GetProfile", (ALPHA, VM_IFACE, "GetProfile", None, []), E + "AccessDenied"),
    ("SetProfile", (ALPHA, VM_IFACE, "SetProfile", "(ss)", ["[vm]\n", "x"]), E + "AccessDenied"),
    ("Delete", (ALPHA, VM_IFACE, "Delete", "(b)", [False]), E + "AccessDenied"),
    ("ListVMs", (MANAGER_PATH, MANAGER_IFACE, "ListVMs", None, []), None),
    ("Get State", (ALPHA, PROPS_IFACE, "Get", "(ss)", [VM_IFACE, "State"]), None),
]


def call_case(env, case):
    """The error name of @case (None when it succeeded) and its message."""
    try:
        env.client.call(case.path, case.iface, case.method, case.args, timeout=120)
        return None, ""
    except GLib.Error as e:
        return error_name(e), error_message(e)


def run_cases(env, cases, table):
    """Runs @cases, appends (case, error name, message length) to @table;
    returns what went wrong."""
    bad = []
    for case in cases:
        name, message = call_case(env, case)
        table.append((case, name, len(message)))
        if name != case.expect:
            bad.append(f"{case}: expected {case.expect}, got {name or 'a reply'}"
                       f"{': ' + message[:300] if message else ''}")
        elif name and not message:
            bad.append(f"{case}: {name} without a message")
    return bad


def run_unprivileged(env, table):
    calls = [("org.winvm1", path, iface, method, sig, args)
             for what, (path, iface, method, sig, args), expect in UNPRIVILEGED]
    results = run_as_user(env.bus.address, calls)
    bad = []
    for (what, call, expect), r in zip(UNPRIVILEGED, results):
        got = r.get("error")
        table.append((f"[unprivileged uid] {what}", got, len(r.get("message", ""))))
        if got != expect:
            bad.append(f"[unprivileged uid] {what}: expected {expect}, got {r}")
    return bad


def matrix_pass(env, n, normal, downtime):
    """One pass of the whole matrix on @env (an Env with a private libvirtd
    and no VM defined): (table, what went wrong)."""
    table = []
    bad = run_cases(env, normal, table)
    # libvirtd goes away (by turns killed and stopped cleanly), comes back
    env.libvirt_down(signal.SIGKILL if n % 2 == 0 else signal.SIGTERM)
    bad += run_cases(env, downtime, table)
    env.libvirt_up()
    bad += run_unprivileged(env, table)
    # alive, answering, and nothing was written
    if not env.daemon.alive():
        return table, bad + ["winvmd died"]
    names = [name for name, path in env.client.list_vms()]
    if names != ["alpha", "beta", "delta", "gamma", "hp"]:
        bad.append(f"ListVMs says {names}")
    try:  # the resync after the reconnect
        wait_until(lambda: env.client.get(ALPHA, "State") == "undefined", 60,
                   "alpha's State to be undefined again")
    except AssertionError as e:
        bad.append(f"{e} (it is {env.client.get(ALPHA, 'State')})")
    profiles = sorted(os.listdir(env.config_dir))
    if profiles != ["alpha.conf", "beta.conf", "delta.conf", "gamma.conf", "hp.conf"]:
        bad.append(f"refused calls changed the profile directory: {profiles}")
    written = os.listdir(env.daemon.state_dir) if os.path.isdir(env.daemon.state_dir) else []
    if written:
        bad.append(f"refused calls wrote tuning state: {written}")
        shutil.rmtree(env.daemon.state_dir)
    return table, bad


def print_table(table):
    out = ["", "the matrix: case -> error name (message length)"]
    for case, name, length in table:
        out.append(f"  {case}  ->  {name or 'reply'} ({length})")
    print("\n".join(out), file=sys.stderr)


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.env = Env(private_libvirtd=True)
        self.addCleanup(self.env.close)

    def test_matrix(self):
        env = self.env
        normal, downtime = normal_cases(), downtime_cases()
        n_cases = len(normal) + len(downtime) + len(UNPRIVILEGED)
        rss = []
        failures = []
        t0 = time.monotonic()
        for n in range(PASSES):
            table, bad = matrix_pass(env, n, normal, downtime)
            rss.append(env.rss_kib())
            if n == 0:
                print_table(table)
            failures += [f"pass {n + 1}: {b}" for b in bad]
            if not env.daemon.alive():
                break
        print(f"\n{n_cases} cases x {PASSES} passes in {time.monotonic() - t0:.1f} s; "
              f"VmRSS after each pass (KiB): {rss}", file=sys.stderr)
        self.assertEqual(failures, [], f"{len(failures)} cases did not end as expected")
        self.assertGreaterEqual(n_cases, 50)
        if env.valgrind:
            env.check_valgrind(self)
        elif PASSES > 1:
            growth = rss[-1] - rss[0]
            print(f"VmRSS after pass 1: {rss[0]} KiB, after pass {PASSES}: {rss[-1]} KiB: "
                  f"growth {growth} KiB", file=sys.stderr)
            self.assertLess(growth, RSS_GROWTH_LIMIT_KIB,
                            f"winvmd's VmRSS grew by {growth} KiB over {PASSES} passes: {rss}")

    def test_error_messages_stay_short(self):
        """winvmd's messages quote what was wrong, not megabytes of it."""
        long = []
        for case in normal_cases():
            name, message = call_case(self.env, case)
            if name and name.startswith(E) and len(message) > MESSAGE_LIMIT:
                long.append(f"{case}: {name} with a {len(message)}-character message: "
                            f"{message[:60]}...")
        self.assertTrue(self.env.daemon.alive())
        if self.env.valgrind:
            self.env.check_valgrind(self)
        self.assertEqual(long, [], f"messages longer than {MESSAGE_LIMIT} characters")


if __name__ == "__main__":
    unittest.main(verbosity=2)
