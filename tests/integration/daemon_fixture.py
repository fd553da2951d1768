# SPDX-License-Identifier: LGPL-2.1-or-later
"""A private system bus, winvmd on it (libvirt's test:///default driver and a
fake sysfs tree), python-dbusmock's polkitd, and a small Gio client.

Everything runs as root (as CI does); clients of another uid are run with
setpriv. Nothing waits a fixed time: every wait polls a condition while
iterating the GLib main context, so signals are collected meanwhile."""

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from gi.repository import Gio, GLib

PYTHON = "/usr/bin/python3"
BUS_NAME = "org.winvm1"
MANAGER_PATH = "/org/winvm1"
MANAGER_IFACE = "org.winvm1.Manager"
VM_IFACE = "org.winvm1.VM"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
OM_IFACE = "org.freedesktop.DBus.ObjectManager"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"
NOBODY = 65534

SRC = os.environ.get("WV_SOURCE_ROOT",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WINVMD = os.environ.get("WINVMD", os.path.join(SRC, "build", "daemon", "winvmd"))
TEMPLATE_DIR = os.environ.get("WINVM_TEMPLATE_DIR", os.path.join(SRC, "xml-templates"))
HOSTS = os.path.join(SRC, "tests", "data", "hosts")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow send_type="method_call"/>
  </policy>
</busconfig>
"""

DEFAULT_TIMEOUT = 15.0


def require(path, what):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(f"{what} not found at {path}: the integration suite needs it")


def iterate(ctx=None):
    ctx = ctx or GLib.MainContext.default()
    while ctx.iteration(False):
        pass


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, what="condition", poll=0.005):
    """Iterates the default main context until predicate() is truthy."""
    deadline = time.monotonic() + timeout
    ctx = GLib.MainContext.default()
    while True:
        iterate(ctx)
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def error_name(error):
    """org.winvm1.Error.X of a GLib.Error from a D-Bus call."""
    return Gio.DBusError.get_remote_error(error)


def error_message(error):
    msg = error.message
    name = Gio.DBusError.get_remote_error(error)
    prefix = f"GDBus.Error:{name}: "
    return msg[len(prefix):] if name and msg.startswith(prefix) else msg


class Bus:
    """A private dbus-daemon of type system that any uid may use."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "bus")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        conf = os.path.join(workdir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(dir=self.dir))
        dbus_daemon = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
        require(dbus_daemon, "dbus-daemon")
        self.proc = subprocess.Popen([dbus_daemon, "--config-file", conf, "--nofork",
                                      "--print-address"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError("dbus-daemon did not print its address")

    def stop(self):
        stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


def stop_process(proc, sig=signal.SIGTERM, timeout=5):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


class Client:
    """A Gio connection to the private bus, with helpers for winvmd."""

    def __init__(self, address):
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.signals = []  # (path, interface, member, unpacked args)
        self._subs = []

    def close(self):
        for s in self._subs:
            self.conn.signal_unsubscribe(s)
        self._subs = []
        self.conn.close_sync(None)

    # ---- calls -----------------------------------------------------------

    def call(self, path, iface, method, args=None, reply_type=None, dest=BUS_NAME,
             timeout=DEFAULT_TIMEOUT):
        """Calls and returns the unpacked reply tuple; raises GLib.Error."""
        reply = self.conn.call_sync(dest, path, iface, method, args,
                                    GLib.VariantType.new(reply_type) if reply_type else None,
                                    Gio.DBusCallFlags.NONE, int(timeout * 1000), None)
        return reply.unpack() if reply is not None else None

    def call_error(self, path, iface, method, args=None, **kw):
        """Calls expecting an error; returns (error name, message)."""
        try:
            reply = self.call(path, iface, method, args, **kw)
        except GLib.Error as e:
            return error_name(e), error_message(e)
        raise AssertionError(f"{method} on {path} succeeded ({reply!r}), expected an error")

    def call_async(self, path, iface, method, args=None, dest=BUS_NAME, timeout=DEFAULT_TIMEOUT):
        """Sends the call now; returns a dict that gets 'reply' or 'error'."""
        result = {}

        def done(conn, res):
            try:
                result["reply"] = conn.call_finish(res).unpack()
            except GLib.Error as e:
                result["error"] = (error_name(e), error_message(e))

        self.conn.call(dest, path, iface, method, args, None, Gio.DBusCallFlags.NONE,
                       int(timeout * 1000), None, done)
        return result

    def manager(self, method, args=None, reply_type=None, **kw):
        return self.call(MANAGER_PATH, MANAGER_IFACE, method, args, reply_type, **kw)

    def vm(self, path, method, args=None, **kw):
        return self.call(path, VM_IFACE, method, args, **kw)

    def get(self, path, prop, iface=VM_IFACE):
        return self.call(path, PROPS_IFACE, "Get", GLib.Variant("(ss)", (iface, prop)),
                         "(v)")[0]

    def get_all(self, path, iface=VM_IFACE):
        return self.call(path, PROPS_IFACE, "GetAll", GLib.Variant("(s)", (iface,)),
                         "(a{sv})")[0]

    def set(self, path, prop, value, iface=VM_IFACE):
        return self.call(path, PROPS_IFACE, "Set", GLib.Variant("(ssv)", (iface, prop, value)))

    def list_vms(self):
        return self.manager("ListVMs", reply_type="(a(so))")[0]

    def vm_path(self, name):
        for n, p in self.list_vms():
            if n == name:
                return p
        raise AssertionError(f"no VM {name} in ListVMs")

    def name_has_owner(self, name):
        return self.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
                         GLib.Variant("(s)", (name,)), "(b)", dest="org.freedesktop.DBus")[0]

    # ---- signals ---------------------------------------------------------

    def subscribe(self):
        """Records every signal winvmd sends from now on."""
        def on_signal(conn, sender, path, iface, member, params):
            self.signals.append((path, iface, member, params.unpack()))

        self._subs.append(self.conn.signal_subscribe(BUS_NAME, None, None, None, None,
                                                     Gio.DBusSignalFlags.NONE, on_signal))
        # a round trip makes sure the bus has the match rule before we go on
        self.name_has_owner(BUS_NAME)

    def properties_changed(self, path, iface=VM_IFACE):
        """Every PropertiesChanged dict for @path so far, in order."""
        return [args[1] for p, i, m, args in self.signals
                if p == path and i == PROPS_IFACE and m == "PropertiesChanged"
                and args[0] == iface]

    def values_of(self, path, prop, iface=VM_IFACE):
        """The successive values PropertiesChanged announced for @prop."""
        return [d[prop] for d in self.properties_changed(path, iface) if prop in d]

    def wait_property(self, path, prop, value, timeout=DEFAULT_TIMEOUT, iface=VM_IFACE):
        """Waits for a PropertiesChanged that sets @prop to @value."""
        wait_until(lambda: value in self.values_of(path, prop, iface), timeout,
                   f"PropertiesChanged {prop}={value!r} on {path} "
                   f"(seen {self.values_of(path, prop, iface)!r})")

    def wait_signal(self, member, predicate=lambda args: True, timeout=DEFAULT_TIMEOUT):
        def seen():
            return [a for p, i, m, a in self.signals if m == member and predicate(a)]
        return wait_until(seen, timeout, f"signal {member}")

    def wait_idle(self, path, timeout=DEFAULT_TIMEOUT):
        """Waits until winvmd has answered a round trip; collects pending signals."""
        self.get(path, "State")
        iterate()


class MockService:
    """A python-dbusmock template (polkitd, logind, ...) on the private bus,
    its output in @logfile (opened with @mode)."""

    def __init__(self, address, logfile, template, name, path, mode="w", parameters=None):
        self.name = name
        self.path = path
        self.log = open(logfile, mode)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
        args = [PYTHON, "-m", "dbusmock", "--system", "--template", template]
        if parameters is not None:
            args += ["--parameters", json.dumps(parameters)]
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.client = Client(address)
        try:
            wait_until(lambda: self.proc.poll() is not None
                       or self.client.name_has_owner(name),
                       what=f"the {template} mock on the bus")
        except Exception:
            self.stop()
            raise
        if self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"python3-dbusmock's {template} template did not start "
                               f"(exit {self.proc.returncode}): install python3-dbusmock")

    def _mock(self, method, args):
        self.client.call(self.path, "org.freedesktop.DBus.Mock", method, args, dest=self.name)

    def stop(self):
        try:
            self.client.close()
        except GLib.Error:
            pass
        stop_process(self.proc)
        self.log.close()


class Polkit(MockService):
    """python-dbusmock's polkitd template on the private bus."""

    def __init__(self, address, logfile):
        super().__init__(address, logfile, "polkitd", POLKIT_NAME, POLKIT_PATH)

    def set_allowed(self, actions):
        self._mock("SetAllowed", GLib.Variant("(as)", (list(actions),)))

    def hang_actions(self, actions):
        self._mock("SimulateHangActions", GLib.Variant("(as)", (list(actions),)))

    def release_hanging(self):
        self._mock("ReleaseHangingCalls", None)

    def have_hanging(self):
        return self.client.call(POLKIT_PATH, "org.freedesktop.DBus.Mock", "HaveHangingCalls",
                                None, "(b)", dest=POLKIT_NAME)[0]


class Daemon:
    """winvmd on the private bus. The libvirt test driver's state lives in
    this process: each start gets the default host with its running "test"
    domain and none of ours.

    Without @sysfs_root or @proc_root it reads the real /sys or /proc. @env:
    more environment for winvmd, applied last; a value of None unsets one."""

    def __init__(self, bus, workdir, config_dir, sysfs_root=None, proc_root=None,
                 libvirt_uri="test:///default", runtime_dir=None, state_dir=None, env=None):
        require(WINVMD, "winvmd (set $WINVMD)")
        self.bus = bus
        self.workdir = workdir
        self.config_dir = config_dir
        self.runtime_dir = runtime_dir or os.path.join(workdir, "run")
        self.state_dir = state_dir or os.path.join(workdir, "state")
        self.args = [WINVMD, "--config-dir", config_dir, "--libvirt-uri", libvirt_uri,
                     "--runtime-dir", self.runtime_dir, "--state-dir", self.state_dir]
        if sysfs_root is not None:
            self.args += ["--sysfs-root", sysfs_root]
        if proc_root is not None:
            self.args += ["--proc-root", proc_root]
        self.args.append("-v")
        self.env = dict(env or {})
        self.logfile = os.path.join(workdir, "winvmd.log")
        self.proc = None
        self.starts = 0

    def spawn(self):
        """Starts winvmd and returns its process, without waiting for it."""
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.bus.address,
                   WINVM_TEMPLATE_DIR=TEMPLATE_DIR, G_DEBUG="fatal-criticals")
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.pop("NOTIFY_SOCKET", None)
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        self.starts += 1
        log = open(self.logfile, "a")
        log.write(f"==== winvmd start #{self.starts}\n")
        log.flush()
        self.proc = subprocess.Popen(self.args, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self.proc

    def start(self, client):
        self.spawn()
        wait_until(lambda: self.proc.poll() is not None or client.name_has_owner(BUS_NAME),
                   what="org.winvm1 on the bus")
        if self.proc.poll() is not None:
            raise AssertionError(f"winvmd exited with {self.proc.returncode}:\n{self.log()}")
        # ready: libvirt connected (or given up for now) and the first resync applied
        wait_until(lambda: "ready:" in self.log().split(f"winvmd start #{self.starts}")[-1],
                   what="winvmd to report ready")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=5)

    def stop(self, timeout=5):
        stop_process(self.proc, timeout=timeout)

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class PrivateLibvirtd:
    """libvirtd as nobody in session mode, in @workdir/libvirtd."""

    def __init__(self, workdir):
        self.libvirtd = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
        if not os.access(self.libvirtd, os.X_OK):
            raise RuntimeError("libvirtd not found: install libvirt-daemon "
                               "(the robustness tests take it down and up again)")
        self.dir = os.path.join(workdir, "libvirtd")
        os.makedirs(os.path.join(self.dir, "run"))
        for root, dirs, files in os.walk(self.dir):
            os.chown(root, NOBODY, NOBODY)
        self.socket = os.path.join(self.dir, "run", "libvirt", "libvirt-sock")
        self.uri = "test+unix:///default?socket=" + self.socket
        self.logfile = os.path.join(self.dir, "libvirtd.log")
        self.proc = None
        self.starts = 0

    def start(self):
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        env = {"HOME": self.dir, "XDG_RUNTIME_DIR": os.path.join(self.dir, "run"),
               "XDG_CONFIG_HOME": os.path.join(self.dir, "config"),
               "XDG_CACHE_HOME": os.path.join(self.dir, "cache"),
               "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        self.starts += 1
        with open(self.logfile, "a") as log:
            log.write(f"==== libvirtd start #{self.starts}\n")
            log.flush()
            self.proc = subprocess.Popen(
                [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 self.libvirtd, "--timeout", "0"],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_until(lambda: self.proc.poll() is not None or os.path.exists(self.socket),
                   what="the private libvirtd's socket")
        if self.proc.poll() is not None:
            raise AssertionError(f"libvirtd exited with {self.proc.returncode}:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def pause(self):
        """SIGSTOP: libvirtd stalls, its socket stays open."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()


def spawn_as_user(address, calls, uid=NOBODY):
    """Starts D-Bus calls as @uid in a separate process (setpriv). Its
    stdout, once it ends, is JSON: one result per call, {"reply": ...} or
    {"error": name, "message": ...}. @calls: list of (dest, path, iface,
    method, signature or None, args[, "interactive"]): the last one sets
    ALLOW_INTERACTIVE_AUTHORIZATION on the call."""
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    require(setpriv, "setpriv (util-linux)")
    return subprocess.Popen([setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                             PYTHON, "-c", _USER_CLIENT, address, json.dumps(calls)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"PATH": "/usr/bin:/bin", "HOME": "/"})


def run_as_user(address, calls, uid=NOBODY):
    """spawn_as_user() and wait: the list of results."""
    proc = spawn_as_user(address, calls, uid)
    return finish_user_client(proc)


def finish_user_client(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"the client of another uid failed: {err}")
    return json.loads(out)


_USER_CLIENT = textwrap.dedent("""
        import json, sys
        from gi.repository import Gio, GLib
        conn = Gio.DBusConnection.new_for_address_sync(
            sys.argv[1], Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        out = []
        for call in json.loads(sys.argv[2]):
            dest, path, iface, method, sig, args = call[:6]
            flags = Gio.DBusCallFlags.NONE
            if len(call) > 6 and call[6] == "interactive":
                flags = Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
            params = None
            if sig is not None:
                if sig == "(ssv)":  # Properties.Set: the value is (type, value)
                    params = GLib.Variant(sig, (args[0], args[1], GLib.Variant(*args[2])))
                else:
                    params = GLib.Variant(sig, tuple(args))
            try:
                r = conn.call_sync(dest, path, iface, method, params, None,
                                   flags, 15000, None)
                v = r.unpack() if r is not None else None
                out.append({"reply": json.loads(json.dumps(v, default=repr))})
            except GLib.Error as e:
                name = Gio.DBusError.get_remote_error(e)
                out.append({"error": name, "message": e.message})
        print(json.dumps(out))
    """)


_pristine = {}


def _link_or_copy(src, dst):
    # only the hugepage pools are written (by winvmd and the tests): they get
    # their own inode, the rest is shared with the pristine copy
    if "hugepages" in os.path.basename(os.path.dirname(src)):
        return shutil.copyfile(src, dst)
    try:
        return os.link(src, dst)
    except OSError:
        return shutil.copyfile(src, dst)


def copy_host(name, dest):
    """A copy of a fake host tree in which winvmd may write the hugepage
    pools without touching the checked-in tree."""
    if name not in _pristine:
        d = tempfile.mkdtemp(prefix="winvm-hosts-")
        atexit.register(shutil.rmtree, d, True)
        shutil.copytree(os.path.join(HOSTS, name), os.path.join(d, name), symlinks=True,
                        copy_function=shutil.copyfile)
        _pristine[name] = os.path.join(d, name)
    target = os.path.join(dest, name)
    shutil.copytree(_pristine[name], target, symlinks=True, copy_function=_link_or_copy)
    return os.path.join(target, "sys"), os.path.join(target, "proc")


def test_driver_with_domain(workdir, name="test", marked=True):
    """A test:/// URI whose host runs one domain @name, with winvm's mark
    (a VM winvm started before, still running) or without it (somebody
    else's domain of that name)."""
    mark = (f'<metadata><winvm:vm xmlns:winvm="urn:x-winvm:domain:1" profile="{name}"/>'
            '</metadata>') if marked else ""
    path = os.path.join(workdir, "test-node.xml")
    with open(path, "w") as f:
        f.write(f"""<node>
  <domain type="test">
    <name>{name}</name>
    <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
    {mark}
    <memory>1048576</memory>
    <vcpu>2</vcpu>
    <os><type arch="x86_64">hvm</type></os>
  </domain>
</node>
""")
    return "test://" + path


def new_workdir(prefix="winvm-it-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)  # the bus socket inside must be reachable by other uids
    return d


def print_log(title, text, stream=sys.stderr):
    stream.write(f"\n----- {title} -----\n{text}\n----- end of {title} -----\n")
