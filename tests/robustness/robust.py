# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the robustness tests share, on top of tests/integration/daemon_fixture.py:

- Env: a private bus, winvmd with a few profiles on the fake "ryzen" host,
  optionally under valgrind memcheck, and a root client;
- PrivateLibvirtd: a real libvirtd, run as nobody in session mode in a
  scratch directory, serving its test:///default driver on its own socket
  (test+unix:///default?socket=...). It can be killed and started again
  under the daemon, which is what "libvirtd downtime" means; the system's
  libvirtd is not touched;
- vm_rss_kib() and valgrind's report.

WV_VALGRIND=1 in the environment (the "valgrind" meson test setup sets it)
runs the daemon of every robustness test under valgrind."""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import daemon_fixture  # noqa: E402
from daemon_fixture import (  # noqa: E402,F401
    BUS_NAME, MANAGER_IFACE, MANAGER_PATH, NOBODY, OM_IFACE, PROPS_IFACE, SRC, VM_IFACE, Bus,
    Client, Daemon, GLib, PrivateLibvirtd, copy_host, new_workdir, print_log, wait_until)

E = "org.winvm1.Error."
STD = "org.freedesktop.DBus.Error."

# GLib's, and the project's own if there is one (none is needed so far)
VALGRIND_SUPP = ["/usr/share/glib-2.0/valgrind/glib.supp",
                 os.path.join(SRC, "tests", "valgrind.supp")]
VALGRIND_ERROR_EXIT = 99
VALGRIND_STARTUP_S = 120
# The daemon's malloc when VmRSS is measured. By default glibc raises its
# mmap threshold to the largest block freed so far, so after one 1 MiB
# string freed 1 MiB buffers stay in the heap and VmRSS moves in 1 MiB steps
# with where they happened to land; and per-thread arenas and caches make
# VmRSS creep for a long while under load although nothing more is live
# (valgrind counts the same reachable bytes after 100 and after 600
# lifecycle cycles). A fixed threshold, one arena and no thread cache make
# VmRSS flat once warm, so that a leak of even a few hundred bytes per call
# or per lifecycle change shows.
MALLOC_TUNABLES = ("glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=1:"
                   "glibc.malloc.tcache_count=0")

# The everyday profiles: alpha pins itself (pin = auto) and has an I/O
# thread; beta, gamma and delta are small unpinned VMs that can all run at
# once; hp has no I/O threads.
PROFILES = {
    "alpha.conf": """\
[vm]
name = alpha
template = minimal
memory = 1GiB
vcpus = 4

[cpu]
pin = auto
iothreads = 1
""",
    "hp.conf": """\
[vm]
name = hp
template = minimal
memory = 512MiB
vcpus = 2

[cpu]
pin = none
""",
}
for _n in ("beta", "gamma", "delta"):
    PROFILES[_n + ".conf"] = f"""\
[vm]
name = {_n}
template = minimal
memory = 256MiB
vcpus = 2

[cpu]
pin = none
"""


@contextlib.contextmanager
def patient_fixture(timeout):
    """Daemon.start() of daemon_fixture waits DEFAULT_TIMEOUT (15 s) for the
    bus name and for "ready:"; under valgrind on a busy machine the daemon
    may need longer. Meanwhile its waits get at least @timeout."""
    plain = daemon_fixture.wait_until

    def wait(predicate, timeout_=daemon_fixture.DEFAULT_TIMEOUT, what="condition", poll=0.005):
        return plain(predicate, max(timeout, timeout_), what, poll)

    daemon_fixture.wait_until = wait
    try:
        yield
    finally:
        daemon_fixture.wait_until = plain


def want_valgrind():
    return os.environ.get("WV_VALGRIND", "") not in ("", "0")


def valgrind_command(logfile):
    valgrind = shutil.which("valgrind") or "/usr/bin/valgrind"
    if not os.access(valgrind, os.X_OK):
        raise RuntimeError("valgrind not found: install valgrind")
    cmd = [valgrind, "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
           "--errors-for-leak-kinds=definite", f"--error-exitcode={VALGRIND_ERROR_EXIT}",
           "--track-origins=yes", "--num-callers=30", f"--log-file={logfile}"]
    for supp in VALGRIND_SUPP:
        if os.path.exists(supp):
            cmd.append(f"--suppressions={supp}")
    return cmd


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def valgrind_summary(logfile):
    """(errors, definitely lost bytes, the report's text) of valgrind's log."""
    with open(logfile, errors="replace") as f:
        text = f.read()
    m = re.findall(r"ERROR SUMMARY: ([\d,]+) errors", text)
    if not m:
        raise AssertionError(f"valgrind wrote no summary:\n{text[-4000:]}")
    errors = int(m[-1].replace(",", ""))
    lost = re.findall(r"definitely lost: ([\d,]+) bytes", text)
    return errors, int(lost[-1].replace(",", "")) if lost else 0, text


class Env:
    """A bus, winvmd (under valgrind when asked) with PROFILES on the ryzen
    host, a root client. libvirt: a PrivateLibvirtd when @private_libvirtd,
    else @libvirt_uri."""

    def __init__(self, profiles=None, libvirt_uri="test:///default", private_libvirtd=False,
                 valgrind=None):
        self.workdir = new_workdir()
        self.valgrind = want_valgrind() if valgrind is None else valgrind
        self.vg_log = os.path.join(self.workdir, "valgrind.log")
        self.libvirtd = None
        self.bus = None
        self.client = None
        self.daemon = None
        try:
            self._start(profiles or PROFILES, libvirt_uri, private_libvirtd)
        except BaseException:
            self.close()
            raise

    def _start(self, profiles, libvirt_uri, private_libvirtd):
        sysfs, procfs = copy_host("ryzen", self.workdir)
        self.config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(self.config_dir)
        for name, text in profiles.items():
            with open(os.path.join(self.config_dir, name), "w") as f:
                f.write(text)
        if private_libvirtd:
            self.libvirtd = PrivateLibvirtd(self.workdir)
            self.libvirtd.start()
            libvirt_uri = self.libvirtd.uri
        self.bus = Bus(self.workdir)
        self.client = Client(self.bus.address)
        self.daemon = Daemon(self.bus, self.workdir, self.config_dir, sysfs, procfs,
                             libvirt_uri=libvirt_uri)
        if self.valgrind:
            self.daemon.args = valgrind_command(self.vg_log) + self.daemon.args
            with patient_fixture(VALGRIND_STARTUP_S):
                self.daemon.start(self.client)
        else:
            # VmRSS is to show what winvmd keeps, not how glibc caches what
            # it freed (see MALLOC_TUNABLES)
            saved = os.environ.get("GLIBC_TUNABLES")
            os.environ["GLIBC_TUNABLES"] = MALLOC_TUNABLES
            try:
                self.daemon.start(self.client)
            finally:
                if saved is None:
                    del os.environ["GLIBC_TUNABLES"]
                else:
                    os.environ["GLIBC_TUNABLES"] = saved
        if private_libvirtd:
            self.wait_connected(True)

    @property
    def pid(self):
        return self.daemon.proc.pid

    def rss_kib(self):
        return vm_rss_kib(self.pid)

    def connected(self):
        return self.client.get(MANAGER_PATH, "LibvirtConnected", MANAGER_IFACE)

    def wait_connected(self, value, timeout=60):
        wait_until(lambda: self.connected() is value, timeout,
                   what=f"LibvirtConnected {value}")

    def libvirt_down(self, sig=signal.SIGTERM):
        self.libvirtd.stop(sig)
        self.wait_connected(False)

    def libvirt_up(self):
        self.libvirtd.start()
        self.wait_connected(True)

    def stop_daemon(self):
        """SIGTERM, and the exit code (valgrind's summary comes at exit)."""
        if self.daemon is None or self.daemon.proc is None:
            return None
        if self.daemon.proc.poll() is None:
            self.daemon.proc.send_signal(signal.SIGTERM)
            try:
                self.daemon.proc.wait(timeout=180 if self.valgrind else 20)
            except subprocess.TimeoutExpired:
                self.daemon.proc.kill()
                self.daemon.proc.wait(timeout=10)
                raise AssertionError("winvmd did not exit on SIGTERM")
        return self.daemon.proc.returncode

    def check_valgrind(self, testcase):
        """Stops the daemon and asserts valgrind found nothing."""
        rc = self.stop_daemon()
        errors, lost, text = valgrind_summary(self.vg_log)
        if errors or lost or rc != 0:
            print_log("valgrind report", text)
        testcase.assertEqual(errors, 0, "valgrind found errors in winvmd")
        testcase.assertEqual(lost, 0, "winvmd leaked memory (definitely lost)")
        testcase.assertEqual(rc, 0, "winvmd under valgrind exited with an error")
        return text

    def close(self):
        try:
            if self.client is not None:
                try:
                    self.client.close()
                except GLib.Error:
                    pass
            self.stop_daemon()
        finally:
            if self.libvirtd is not None:
                self.libvirtd.stop()
            if self.bus is not None:
                self.bus.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)


def build_dir():
    return os.environ.get("WV_BUILD_ROOT", os.path.join(SRC, "build"))


def retry_until(fn, timeout=30):
    """fn() until it does not raise GLib.Error (e.g. right after a reconnect)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except GLib.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
