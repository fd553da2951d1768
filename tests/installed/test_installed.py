#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvm installed on this host the way README.md ("Install on your host")
says, and judged only by what got installed.

The Debian package is built from a copy of the source tree by an
unprivileged user (so the build cannot write outside its directory), checked
with lintian and installed with apt-get. Then a system-type dbus-daemon runs
with Debian's own /usr/share/dbus-1/system.conf (so only the installed bus
policies decide), the real polkitd (so only the installed actions and rules
decide) and the installed /usr/sbin/winvmd on libvirt's test:///default
driver with the installed templates. A test user may read but not change
anything, until it joins the winvm group; root may do everything. Finally
the package is purged, and the file lists of /usr, /etc and /var/lib must be
as before, but for the profile an administrator left in /etc/winvm/vms.

Needs root: it installs and purges the winvm package and creates (and
deletes) the user winvm-test and, unless it exists, the group winvm. Every
process it starts is stopped, and the host restored, even on failure."""

import glob
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get("WV_SOURCE_ROOT",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# The harness of the other Python suites, on the installed daemon, and with
# the templates it finds by itself (/usr/share/winvm/xml-templates).
os.environ["WINVMD"] = "/usr/sbin/winvmd"
os.environ.pop("WINVM_TEMPLATE_DIR", None)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

from daemon_fixture import (  # noqa: E402
    BUS_NAME, MANAGER_IFACE, MANAGER_PATH, PROPS_IFACE, VM_IFACE, Client, Daemon, GLib,
    print_log, run_as_user, stop_process, wait_until)

# ---- README.md's commands, run verbatim (test_00 checks they are there) ------

README_BUILD_DEPS = "scripts/install-deps.sh --package"
README_BUILD = "dpkg-buildpackage -us -uc -b"
README_INSTALL = "apt-get install ../winvm_*.deb"
README_ENABLE = "systemctl enable --now winvmd"
README_GROUP = "groupadd --system winvm"
README_JOIN = "adduser {user} winvm"
README_MESON = "meson setup --prefix=/usr --sysconfdir=/etc --localstatedir=/var"
README_PURGE = "apt-get purge winvm"
# what the test adds to an apt-get command of the README: no questions, and
# wait for another apt-get (install-deps.sh in a parallel job) to finish
APT_EXTRA = ["-y", "-o", "DPkg::Lock::Timeout=600"]

USER = "winvm-test"
GROUP = "winvm"
PACKAGE = "winvm"
E = "org.winvm1.Error."
ENV_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

INSTALLED = [
    "/usr/sbin/winvmd",
    "/usr/bin/winvmctl",
    "/lib/systemd/system/winvmd.service",
    "/usr/share/dbus-1/system.d/org.winvm1.conf",
    "/usr/share/dbus-1/system-services/org.winvm1.service",
    "/usr/share/dbus-1/interfaces/org.winvm1.Manager.xml",
    "/usr/share/dbus-1/interfaces/org.winvm1.VM.xml",
    "/usr/share/polkit-1/actions/org.winvm1.policy",
    "/usr/share/polkit-1/rules.d/60-winvm.rules",
    "/usr/share/winvm/xml-templates/minimal.xml",
    "/usr/share/winvm/xml-templates/windows10.xml",
    "/usr/share/winvm/xml-templates/windows11.xml",
    "/usr/share/man/man8/winvmd.8.gz",
    "/usr/share/man/man1/winvmctl.1.gz",
    "/usr/share/man/man5/winvm.conf.5.gz",
    "/usr/share/bash-completion/completions/winvmctl",
    "/usr/share/doc/winvm/copyright",
    "/usr/share/doc/winvm/examples/gaming.conf",
    "/etc/winvm/vms",
]
ENABLED_LINK = "/etc/systemd/system/multi-user.target.wants/winvmd.service"
ETC_DIRS = ["/etc/winvm", "/etc/winvm/vms"]
# left in place by the purge, as an administrator's profile would be
KEPT_PROFILE = "/etc/winvm/vms/winvm-installed-test.conf"

# Two small VMs cut down from examples/work.conf to what libvirt's test driver
# runs on any host: the minimal template, emulated, no pins, pages or devices.
PROFILE = """\
# {name}: examples/work.conf on the minimal template, for libvirt's test driver
[vm]
name = {name}
template = minimal
hypervisor = qemu
memory = 128MiB
vcpus = 1
on-host-shutdown = shutdown
shutdown-timeout = 30s

[cpu]
pin = none
iothreads = 1

[hyperv]
enlightenments = none
"""

# ---- what the purge check ignores -------------------------------------------

SNAPSHOT_ROOTS = ["/usr", "/etc", "/var/lib", "/lib"]
# changes on its own: package manager state, and libvirtd's own state (the
# e2e suite defines domains in it)
SNAPSHOT_IGNORED = ["/var/lib/dpkg", "/var/lib/apt", "/var/cache", "/var/log",
                    "/var/lib/libvirt", "/etc/libvirt"]
# what useradd/groupadd/userdel leave: the backups of the files they edit
ACCOUNT_BACKUPS = {f"/etc/{n}-" for n in ("passwd", "group", "shadow", "gshadow",
                                          "subuid", "subgid")}
# merged /usr: dpkg lists /lib/x, the walk finds /usr/lib/x
MERGED = {"/lib": "/usr/lib", "/lib64": "/usr/lib64", "/bin": "/usr/bin", "/sbin": "/usr/sbin"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(args, what, timeout=600, check=True, **kw):
    """Runs @args, output captured; a failure shows it."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{what} failed (exit {r.returncode}): {shlex.join(args)}\n"
                             f"--- stdout ---\n{r.stdout[-6000:]}\n--- stderr ---\n"
                             f"{r.stderr[-6000:]}")
    return r


def tool(path_or_name):
    path = shutil.which(path_or_name) or path_or_name
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError(f"{path_or_name} is not installed: scripts/install-deps.sh --tests "
                             "installs what this suite needs")
    return path


def as_user(args):
    """@args run as the test user with its groups as they are now."""
    return [tool("setpriv"), f"--reuid={USER}", f"--regid={USER}", "--init-groups"] + args


def apt_env():
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def package_status():
    r = run(["dpkg-query", "-W", "-f=${Status}", PACKAGE], "dpkg-query", check=False)
    return r.stdout.strip() if r.returncode == 0 else "not-installed"


def group_exists(name):
    return run(["getent", "group", name], "getent", check=False).returncode == 0


def user_exists(name):
    return run(["getent", "passwd", name], "getent", check=False).returncode == 0


def delete_user(check=True):
    if user_exists(USER):
        run(["userdel", USER], "userdel", check=check)


def copy_source(dest):
    """The source tree as it is (committed or not), without build output."""
    if os.path.isdir(os.path.join(SRC, ".git")):
        names = run(["git", "-c", "safe.directory=*", "-C", SRC, "ls-files", "-z", "--cached",
                     "--others", "--exclude-standard"], "git ls-files").stdout.split("\0")
        for name in filter(None, names):
            src = os.path.join(SRC, name)
            if not os.path.lexists(src):  # deleted, not yet committed
                continue
            dst = os.path.join(dest, name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)
    else:
        shutil.copytree(SRC, dest, symlinks=True, ignore=shutil.ignore_patterns(
            "build*", "obj-*", ".git", "__pycache__"))


# ---- the purge check -----------------------------------------------------------


def ignored(path):
    return (path in ACCOUNT_BACKUPS or "/__pycache__" in path
            or any(path == p or path.startswith(p + "/") for p in SNAPSHOT_IGNORED))


def snapshot():
    """Every path under SNAPSHOT_ROOTS, but the ignored ones."""
    paths = set()
    for root in sorted({os.path.realpath(r) for r in SNAPSHOT_ROOTS}):
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not ignored(os.path.join(dirpath, d))]
            paths.add(dirpath)
            paths.update(os.path.join(dirpath, n) for n in dirs + files)
    return {p for p in paths if not ignored(p)}


def dpkg_owned():
    """Every path an installed package owns: what another package installed
    or removed meanwhile (a parallel install-deps.sh) is not ours."""
    owned = set()
    for listfile in glob.glob("/var/lib/dpkg/info/*.list"):
        with open(listfile, errors="replace") as f:
            for line in f:
                p = line.rstrip("\n")
                owned.add(p)
                for old, new in MERGED.items():
                    if p == old or p.startswith(old + "/"):
                        owned.add(new + p[len(old):])
    return owned


# ---- the bus and polkitd, as the host runs them --------------------------------


class SystemBus:
    """dbus-daemon with Debian's stock system.conf: our installed policy and
    every other package's are the only holes in it. It drops to messagebus
    by itself; the socket is in @workdir, no pid file, logs to our file."""

    CONFIG = "/usr/share/dbus-1/system.conf"

    def __init__(self, workdir):
        self.logfile = os.path.join(workdir, "dbus-daemon.log")
        socket = os.path.join(workdir, "system_bus_socket")
        with open(self.logfile, "w") as err:
            self.proc = subprocess.Popen(
                [tool("dbus-daemon"), "--config-file=" + self.CONFIG, "--nofork", "--nopidfile",
                 "--nosyslog", "--address=unix:path=" + socket, "--print-address=1"],
                stdout=subprocess.PIPE, stderr=err, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            self.proc.wait(timeout=10)
            raise AssertionError(f"dbus-daemon --config-file={self.CONFIG} did not start "
                                 f"(exit {self.proc.returncode}):\n{self.log()}")

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def stop(self):
        stop_process(self.proc)
        self.proc.stdout.close()


class Polkitd:
    """The real polkitd on @bus. It starts as root and becomes polkitd, which
    its own bus policy (org.freedesktop.PolicyKit1.conf) lets own the name.
    (Without --no-debug: that would send its log to /dev/null.)"""

    PATH = "/usr/lib/polkit-1/polkitd"
    NAME = "org.freedesktop.PolicyKit1"

    def __init__(self, bus, workdir, client):
        self.logfile = os.path.join(workdir, "polkitd.log")
        env = {"PATH": ENV_PATH, "DBUS_SYSTEM_BUS_ADDRESS": bus.address, "LANG": "C.UTF-8"}
        with open(self.logfile, "w") as out:
            self.proc = subprocess.Popen([tool(self.PATH)], env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is not None or client.name_has_owner(self.NAME),
                   timeout=30, what="polkitd on the bus")
        if self.proc.poll() is not None:
            raise AssertionError(f"polkitd exited with {self.proc.returncode}:\n{self.log()}")

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def stop(self):
        stop_process(self.proc)


# ---- the suite -----------------------------------------------------------------


class Installed(unittest.TestCase):
    """One installation, checked in order (tests are numbered): the package,
    then the bus, polkit and winvmd as the test user, the group and root see
    them, then the purge."""

    @classmethod
    def setUpClass(cls):
        cls.started = time.monotonic()
        cls.bus = cls.polkitd = cls.daemon = cls.client = None
        cls.logs = {}  # title -> text, printed when a test fails
        if os.geteuid() != 0:
            raise AssertionError("the installed suite must run as root (it installs the "
                                 "package): sudo meson test --suite installed")
        for t in ("dpkg-buildpackage", "lintian", "apt-get", "dbus-daemon", "setpriv",
                  "useradd", "userdel", "groupadd", "groupdel", "adduser", "meson",
                  Polkitd.PATH):
            tool(t)
        if package_status() != "not-installed":
            raise AssertionError(f"{PACKAGE} is already on this host ({package_status()}): "
                                 f"this suite installs and purges it; '{README_PURGE}' first")
        if os.path.exists("/usr/sbin/winvmd"):
            raise AssertionError("/usr/sbin/winvmd is there but not from the package (a meson "
                                 "install?): the package would replace it, the purge remove it")
        cls.group_existed = group_exists(GROUP)
        cls.etc_existed = [d for d in ETC_DIRS if os.path.isdir(d)]
        # SIGTERM (meson's timeout) and ^C still restore the host
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, cls._interrupted)

        cls.workdir = tempfile.mkdtemp(prefix="winvm-installed-")
        os.chmod(cls.workdir, 0o755)  # the test user and messagebus reach in
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.addClassCleanup(cls._restore_host)

        # a user of our own; a leftover of an interrupted run goes first
        delete_user()
        run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin", USER], "useradd")
        cls.uid = int(run(["id", "-u", USER], "id").stdout)

        try:
            cls._build()
            cls.before = snapshot()
            cls.owned_before = dpkg_owned()
            cls._install()
            cls._start_services()
        except BaseException:
            cls._print_logs()
            raise

    @classmethod
    def _interrupted(cls, signum, frame):
        log(f"signal {signum}: restoring the host")
        cls.doClassCleanups()
        os._exit(1)

    @classmethod
    def _build(cls):
        """README_BUILD in a copy of the tree, as the test user: the .deb
        lands next to the copy, and the build can write nowhere else."""
        cls.pkgdir = os.path.join(cls.workdir, "pkg")
        cls.srcdir = os.path.join(cls.pkgdir, "winvm")
        tmp = os.path.join(cls.pkgdir, "tmp")
        copy_source(cls.srcdir)
        os.makedirs(tmp)
        run(["chown", "-R", f"{USER}:{USER}", cls.pkgdir], "chown")
        env = {"PATH": ENV_PATH, "HOME": "/nonexistent", "TMPDIR": tmp, "LANG": "C.UTF-8",
               # the package's own unit tests are the unit suite's business
               "DEB_BUILD_OPTIONS": "nocheck parallel=2"}
        t = time.monotonic()
        r = run(as_user(shlex.split(README_BUILD)), README_BUILD, cwd=cls.srcdir, env=env,
                timeout=900)
        cls.logs["dpkg-buildpackage"] = r.stdout[-4000:] + r.stderr[-4000:]
        debs = glob.glob(os.path.join(cls.pkgdir, "winvm_*.deb"))
        if len(debs) != 1:
            raise AssertionError(f"{README_BUILD} made {debs}, not one winvm_*.deb")
        cls.deb = debs[0]
        log(f"built {os.path.basename(cls.deb)} in {time.monotonic() - t:.0f} s")

        r = run(as_user(["lintian", "--fail-on", "error", cls.deb]), "lintian", cwd=cls.srcdir,
                env=env, check=False)
        cls.lintian = (r.returncode, r.stdout + r.stderr)
        log(f"lintian (exit {r.returncode}): {r.stdout.strip() or 'no tags'}")

    @classmethod
    def _install(cls):
        sim = run(["apt-get", "install", "-s", cls.deb], "apt-get install -s", env=apt_env())
        extra = [line.split()[1] for line in sim.stdout.splitlines()
                 if line.startswith("Inst ") and line.split()[1] != PACKAGE]
        if extra:  # they would stay after the purge
            raise AssertionError(f"installing {PACKAGE} would also install {extra}: "
                                 "scripts/install-deps.sh --tests should have installed them")
        args = []
        for arg in shlex.split(README_INSTALL):  # the shell's job: ../winvm_*.deb
            if "*" in arg:
                arg = os.path.relpath(glob.glob(os.path.join(cls.srcdir, arg))[0], cls.srcdir)
            args.append(arg)
        r = run(args + APT_EXTRA, README_INSTALL, cwd=cls.srcdir, env=apt_env())
        cls.logs["apt-get install"] = r.stdout[-4000:] + r.stderr[-2000:]
        log(f"installed: {package_status()}")

    @classmethod
    def _start_services(cls):
        cls.vms = os.path.join(cls.workdir, "vms")
        os.makedirs(cls.vms)
        for name in ("alpha", "beta"):
            with open(os.path.join(cls.vms, name + ".conf"), "w") as f:
                f.write(PROFILE.format(name=name))
        cls.bus = SystemBus(cls.workdir)
        cls.client = Client(cls.bus.address)
        cls.polkitd = Polkitd(cls.bus, cls.workdir, cls.client)
        cls.daemon = Daemon(cls.bus, cls.workdir, cls.vms, env={"WINVM_TEMPLATE_DIR": None})
        cls.daemon.start(cls.client)
        log(f"dbus-daemon, polkitd and winvmd up after {time.monotonic() - cls.started:.0f} s")

    @classmethod
    def _stop_services(cls):
        if cls.client is not None:
            try:
                cls.client.close()
            except GLib.Error:
                pass
            cls.client = None
        for what in ("daemon", "polkitd", "bus"):
            proc = getattr(cls, what)
            if proc is not None:
                proc.stop()

    @classmethod
    def _restore_host(cls):
        """Whatever happened: no process of ours, no package, user or group."""
        cls._stop_services()
        if package_status() != "not-installed":
            run(["apt-get", "purge", PACKAGE] + APT_EXTRA, "apt-get purge", check=False,
                env=apt_env())
        if os.path.exists(KEPT_PROFILE):
            os.remove(KEPT_PROFILE)
        for d in reversed(ETC_DIRS):  # ours only if they were not there before
            if d not in cls.etc_existed and os.path.isdir(d) and not os.listdir(d):
                os.rmdir(d)
        delete_user(check=False)
        if not cls.group_existed and group_exists(GROUP):
            run(["groupdel", GROUP], "groupdel", check=False)
        log(f"host restored; the suite took {time.monotonic() - cls.started:.0f} s")

    @classmethod
    def _print_logs(cls):
        for title, text in cls.logs.items():
            print_log(title, text)
        for what in ("bus", "polkitd", "daemon"):
            proc = getattr(cls, what)
            if proc is not None:
                print_log(f"{what} log", proc.log())

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            self._print_logs()
        return result

    # ---- helpers -------------------------------------------------------------

    def ctl(self, *args, user=True):
        """winvmctl as the test user (or root), on our bus."""
        env = {"PATH": ENV_PATH, "DBUS_SYSTEM_BUS_ADDRESS": self.bus.address,
               "LANG": "C.UTF-8", "HOME": "/nonexistent"}
        cmd = ["/usr/bin/winvmctl", *args]
        return subprocess.run(as_user(cmd) if user else cmd, env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    def assert_ctl(self, *args, status=0, user=True):
        r = self.ctl(*args, user=user)
        self.assertEqual(r.returncode, status,
                         f"winvmctl {' '.join(args)}: {r.stdout}{r.stderr}")
        return r

    def calls_as_user(self, *calls):
        return run_as_user(self.bus.address, list(calls), uid=self.uid)

    def path(self, name):
        return self.client.vm_path(name)

    def state(self, name):
        return self.client.get(self.path(name), "State")

    def wait_state(self, name, state):
        wait_until(lambda: self.state(name) == state, timeout=30,
                   what=f"{name} to be {state} (is {self.state(name)})")

    def mutations(self, path):
        """Every method and property that changes something (the D-Bus XML)."""
        return [
            (BUS_NAME, path, VM_IFACE, "Start", None, []),
            (BUS_NAME, path, VM_IFACE, "Shutdown", "(u)", [5]),
            (BUS_NAME, path, VM_IFACE, "ForceOff", None, []),
            (BUS_NAME, path, VM_IFACE, "Reboot", None, []),
            (BUS_NAME, path, VM_IFACE, "Suspend", None, []),
            (BUS_NAME, path, VM_IFACE, "Resume", None, []),
            (BUS_NAME, path, VM_IFACE, "PinVCPU", "(us)", [0, "0"]),
            (BUS_NAME, path, VM_IFACE, "PinIOThread", "(us)", [1, "0"]),
            (BUS_NAME, path, VM_IFACE, "PinEmulator", "(s)", ["0"]),
            (BUS_NAME, path, PROPS_IFACE, "Set", "(ssv)", [VM_IFACE, "Autostart", ["b", True]]),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reload", None, []),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ShutdownAll", "(u)", [5]),
        ]

    # ---- the package -------------------------------------------------------------

    def test_00_readme_has_these_commands(self):
        with open(os.path.join(SRC, "README.md")) as f:
            readme = f.read()
        for cmd in (README_BUILD_DEPS, README_BUILD, README_INSTALL, README_ENABLE, README_GROUP,
                    README_JOIN.format(user="USER"), README_MESON, README_PURGE):
            self.assertTrue(cmd in readme, f"README.md does not say '{cmd}': its install "
                            "steps and this suite differ")

    def test_01_lintian(self):
        status, output = self.lintian
        self.assertEqual(status, 0, f"lintian --fail-on error:\n{output}")
        self.assertNotRegex(output, r"(?m)^E: ", output)

    def test_02_installed_files(self):
        for path in INSTALLED:
            self.assertTrue(os.path.exists(path), path)
        self.assertFalse(os.path.exists("/usr/local/share/dbus-1/system.d/org.winvm1.conf"))
        # dh_installsystemd: enabled the Debian way (deb-systemd-helper)
        self.assertEqual(os.readlink(ENABLED_LINK), "/lib/systemd/system/winvmd.service")
        r = run(["systemctl", "is-enabled", "winvmd.service"], "systemctl", check=False)
        self.assertEqual(r.stdout.strip(), "enabled", r.stdout + r.stderr)
        # the group is the administrator's to create
        if not self.group_existed:
            self.assertFalse(group_exists(GROUP))

    def test_03_meson_prefix(self):
        """The README's meson configuration puts the bus and polkit files
        where they are read; the default prefix warns that it does not."""
        def setup(name, *opts):
            return run(["meson", "setup", *opts, "-Dtests=false",
                        os.path.join(self.workdir, name), self.srcdir], "meson setup")

        r = setup("meson-default")
        self.assertIn("WARNING:", r.stdout)
        self.assertIn("/usr/local/share/dbus-1/system.d, which is ignored", r.stdout)
        self.assertIn(README_MESON, r.stdout)

        build = os.path.join(self.workdir, "meson-host")
        r = setup("meson-host", *shlex.split(README_MESON)[2:])
        self.assertNotIn("ignored", r.stdout)
        installed = json.loads(run(["meson", "introspect", "--installed", build],
                                   "meson introspect").stdout).values()
        for path in ("/usr/share/dbus-1/system.d/org.winvm1.conf",
                     "/usr/share/polkit-1/actions/org.winvm1.policy",
                     "/usr/share/polkit-1/rules.d/60-winvm.rules",
                     "/usr/share/dbus-1/system-services/org.winvm1.service",
                     "/usr/sbin/winvmd"):
            self.assertIn(path, installed)

    # ---- the installed daemon on the bus -------------------------------------------

    def test_04_installed_daemon_and_templates(self):
        with open(f"/proc/{self.daemon.proc.pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
        self.assertFalse([e for e in env if e.startswith(b"WINVM_TEMPLATE_DIR=")])
        self.assertEqual(os.readlink(f"/proc/{self.daemon.proc.pid}/exe"), "/usr/sbin/winvmd")
        xml = self.client.manager("Render", GLib.Variant("(s)", ("alpha",)), "(s)")[0]
        self.assertIn("<domain type=\"qemu\"", xml.replace("'", '"'))

    def test_10_user_reads(self):
        r = self.assert_ctl("list")
        self.assertRegex(r.stdout, r"(?m)^alpha\s")
        self.assertRegex(r.stdout, r"(?m)^beta\s")
        r = self.assert_ctl("status", "alpha")
        self.assertIn("alpha", r.stdout)
        path = self.path("alpha")
        reads = [
            (BUS_NAME, path, PROPS_IFACE, "Get", "(ss)", [VM_IFACE, "Name"]),
            (BUS_NAME, MANAGER_PATH, PROPS_IFACE, "Get", "(ss)", [MANAGER_IFACE, "Version"]),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListVMs", None, []),
        ]
        results = self.calls_as_user(*reads)
        self.assertEqual(results[0], {"reply": ["alpha"]})
        self.assertIn("reply", results[1], results[1])
        self.assertIn("reply", results[2], results[2])

    def test_11_user_mutations_denied(self):
        path = self.path("alpha")
        profile = os.path.join(self.vms, "alpha.conf")
        with open(profile) as f:
            before = f.read()
        calls = self.mutations(path)
        for call, r in zip(calls, self.calls_as_user(*calls)):
            self.assertEqual(r.get("error"), E + "AccessDenied", (call[3], r))
        r = self.assert_ctl("start", "alpha", status=7)
        self.assertIn("not authorized", r.stderr)
        self.assertNotEqual(self.state("alpha"), "running")
        self.assertFalse(self.client.get(path, "Autostart"))
        with open(profile) as f:
            self.assertEqual(f.read(), before)

    def test_12_user_cannot_own_the_name(self):
        r = self.calls_as_user(("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "RequestName", "(su)", [BUS_NAME, 0]))
        self.assertEqual(r[0].get("error"), "org.freedesktop.DBus.Error.AccessDenied", r)

    def test_20_group_member_may(self):
        # the same polkitd that said no: it looks the groups up on each check
        if not self.group_existed:
            run(shlex.split(README_GROUP), README_GROUP)
        run(shlex.split(README_JOIN.format(user=USER)), "adduser")
        self.assert_ctl("start", "alpha")
        self.wait_state("alpha", "running")
        self.assert_ctl("stop", "alpha", "--timeout", "20")
        self.wait_state("alpha", "shut-off")

        path = self.path("beta")
        results = self.calls_as_user(
            (BUS_NAME, path, VM_IFACE, "Start", None, []),
            (BUS_NAME, path, PROPS_IFACE, "Set", "(ssv)", [VM_IFACE, "Autostart", ["b", True]]),
            (BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reload", None, []))
        for r in results:
            self.assertIn("reply", r, r)
        self.wait_state("beta", "running")
        self.assertTrue(self.client.get(path, "Autostart"))
        r = self.calls_as_user((BUS_NAME, path, VM_IFACE, "ForceOff", None, []))
        self.assertIn("reply", r[0], r)
        self.wait_state("beta", "shut-off")

    def test_30_root_may(self):
        path = self.path("alpha")
        self.client.vm(path, "Start")
        self.wait_state("alpha", "running")
        self.client.vm(path, "ForceOff")
        self.wait_state("alpha", "shut-off")
        self.assert_ctl("start", "beta", user=False)
        self.wait_state("beta", "running")
        self.assert_ctl("stop", "beta", "--force", user=False)
        self.wait_state("beta", "shut-off")
        self.client.set(path, "Autostart", GLib.Variant("b", True))
        self.assertTrue(self.client.get(path, "Autostart"))

    # ---- the purge -----------------------------------------------------------------

    def test_90_purge_leaves_only_profiles(self):
        self._stop_services()
        # a profile the administrator wrote: it is theirs, and stays
        with open(KEPT_PROFILE, "w") as f:
            f.write(PROFILE.format(name="kept"))
        cmd = shlex.split(README_PURGE) + APT_EXTRA
        r = run(cmd, README_PURGE, env=apt_env())
        self.logs["apt-get purge"] = r.stdout[-4000:] + r.stderr[-2000:]
        self.assertEqual(package_status(), "not-installed")

        after = snapshot()
        owned_after = dpkg_owned()
        added = {p for p in after - self.before if p not in owned_after}
        removed = {p for p in self.before - after if p not in self.owned_before}
        self.assertEqual(sorted(added),
                         sorted({*ETC_DIRS, KEPT_PROFILE} - set(self.etc_existed)))
        self.assertEqual(sorted(removed), [])


if __name__ == "__main__":
    unittest.main()
