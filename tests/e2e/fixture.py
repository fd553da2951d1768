# SPDX-License-Identifier: LGPL-2.1-or-later
"""The real machine the e2e tests run on: libvirtd on qemu:///system,
hugetlbfs with reserved 2M pages, and the tiny busybox test guest.

setup() is idempotent and teardown() gives back the hugepages it took.
Needs root."""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

URI = "qemu:///system"
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WV_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
# under /var/lib/libvirt/images so the qemu user can read kernel and initrds
CACHE = "/var/lib/libvirt/images/winvm-e2e"
GUEST = os.path.join(CACHE, "guest")
SERIAL_DIR = "/var/log/libvirt/qemu"
HUGEPAGES_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB"
LIBVIRTD_PID = "/run/libvirtd.pid"
VIRTLOGD_PID = "/run/virtlogd.pid"

_saved_nr_hugepages = None
_workdir = None


def run(*cmd, timeout=120):
    """Runs @cmd; returns its stdout, raises with its stderr on failure."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def virsh(*args, timeout=120):
    return run("virsh", "-q", "-c", URI, *args, timeout=timeout)


def virt_admin(*args, timeout=30):
    """libvirtd's admin interface (its clients and their processes)."""
    return run("virt-admin", "-q", *args, timeout=timeout)


def wait_for(predicate, timeout, interval=0.2, what="condition"):
    """Polls @predicate until it returns something true and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _libvirt_answers():
    r = subprocess.run(["virsh", "-c", URI, "version"], capture_output=True, timeout=30)
    return r.returncode == 0


def _pid_alive(pidfile):
    try:
        with open(pidfile) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def _start_libvirtd():
    if not _pid_alive(VIRTLOGD_PID):
        run("virtlogd", "-d")
    if not _pid_alive(LIBVIRTD_PID):
        run("libvirtd", "-d")
    wait_for(_libvirt_answers, 30, interval=0.5, what="libvirtd to answer on " + URI)


def _restart_libvirtd():
    with open(LIBVIRTD_PID) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, what="libvirtd to exit")
    _start_libvirtd()


def kvm_offered():
    """Whether this machine's libvirt offers kvm guests for x86_64: nested
    KVM on some build machines, none on others. Tests that need KVM adapt
    and assert the kvm-unavailable finding where it is absent."""
    caps = ET.fromstring(virsh("capabilities"))
    return any(d.get("type") == "kvm"
               for d in caps.findall("guest/arch[@name='x86_64']/domain"))


def ensure_libvirtd():
    if not _libvirt_answers():
        _start_libvirtd()


def ensure_hugetlbfs():
    """Mounts hugetlbfs on /dev/hugepages; libvirtd only looks for it when
    it starts, so a fresh mount restarts a running libvirtd."""
    with open("/proc/mounts") as f:
        if any(line.split()[2] == "hugetlbfs" for line in f):
            return
    os.makedirs("/dev/hugepages", exist_ok=True)
    run("mount", "-t", "hugetlbfs", "none", "/dev/hugepages")
    if _pid_alive(LIBVIRTD_PID):
        _restart_libvirtd()


def free_hugepages():
    with open(os.path.join(HUGEPAGES_2M, "free_hugepages")) as f:
        return int(f.read())


def reserve_hugepages(count):
    """Makes sure @count 2M pages are free, growing the pool only as needed."""
    global _saved_nr_hugepages
    path = "/proc/sys/vm/nr_hugepages"
    with open(path) as f:
        total = int(f.read())
    missing = count - free_hugepages()
    if missing <= 0:
        return
    if _saved_nr_hugepages is None:
        _saved_nr_hugepages = total
    with open(path, "w") as f:
        f.write(str(total + missing))
    if free_hugepages() < count:
        raise RuntimeError(f"could not reserve {count} 2M hugepages, "
                           f"{free_hugepages()} free")


def nr_hugepages():
    with open(os.path.join(HUGEPAGES_2M, "nr_hugepages")) as f:
        return int(f.read())


def set_nr_hugepages(count):
    with open(os.path.join(HUGEPAGES_2M, "nr_hugepages"), "w") as f:
        f.write(str(count))


def set_free_hugepages(count):
    """Sizes the 2M pool so that exactly @count pages are free: pages in use
    stay, free ones beyond @count go back (0: whoever needs pages must grow
    the pool). teardown() restores the size the pool had before."""
    global _saved_nr_hugepages
    total = nr_hugepages()
    if _saved_nr_hugepages is None:
        _saved_nr_hugepages = total
    set_nr_hugepages(total - free_hugepages() + count)
    if free_hugepages() != count:
        raise RuntimeError(f"could not leave exactly {count} 2M hugepages free, "
                           f"{free_hugepages()} are")


def start_libvirtd():
    """Starts virtlogd and libvirtd if they are not running; returns once
    libvirtd answers."""
    _start_libvirtd()


def stop_libvirtd():
    """SIGTERMs libvirtd and waits until it is gone (its QEMU guests keep
    running). Returns its pid."""
    with open(LIBVIRTD_PID) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, what="libvirtd to exit")
    return pid


class PoolWatcher:
    """Records every value the 2M pool's nr_hugepages takes (polled every
    20 ms), to tell on failure who changed it when."""

    def __init__(self):
        self.history = [(time.monotonic(), nr_hugepages())]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            value = nr_hugepages()
            if value != self.history[-1][1]:
                self.history.append((time.monotonic(), value))

    def stop(self):
        self._stop.set()
        self._thread.join()

    def format(self, since):
        return ", ".join(f"{t - since:+.2f} s: {v}" for t, v in self.history)


def real_pool_users(mine=()):
    """Command lines of winvmd processes other than @mine that act on the
    real /sys (no --sysfs-root) and so may grow or shrink the real pools."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in mine:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]) == "winvmd" and "--sysfs-root" not in args \
                and "--render" not in args and "--check" not in args:
            found.append(f"{pid}: {' '.join(args).strip()}")
    return found


def qemu_pid(name):
    """The pid and start time (in clock ticks since boot) of @name's QEMU
    process, or None when it does not run."""
    try:
        with open(f"/run/libvirt/qemu/{name}.pid") as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (OSError, ValueError):
        return None
    return pid, int(stat.rsplit(")", 1)[1].split()[19])


def build_guest():
    """Builds kernel + initrds into the cache, once per run."""
    if not os.path.exists(os.path.join(_workdir, "guest-built")):
        run(os.path.join(HERE, "make-guest.sh"), GUEST)
        open(os.path.join(_workdir, "guest-built"), "w").close()
    return GUEST


def serial_log(name):
    return os.path.join(SERIAL_DIR, f"{name}-serial.log")


def read_serial(name):
    try:
        with open(serial_log(name), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def write_template(name, acpi=True, guest=None):
    """A copy of xml-templates/minimal.xml that boots the test guest directly
    and logs its serial console to serial_log(@name). @guest picks the
    initrd (make-guest.sh): "acpi", "noacpi", "acpi2" (obeys the second
    press) or "agent" (qemu-ga, no ACPI); by default @acpi says. Returns its
    path."""
    with open(os.path.join(SRC, "xml-templates", "minimal.xml")) as f:
        xml = f.read()
    initrd = f"initrd-{guest or ('acpi' if acpi else 'noacpi')}.img"
    boot = (f"<kernel>{GUEST}/vmlinuz</kernel>\n"
            f"    <initrd>{GUEST}/{initrd}</initrd>\n"
            "    <cmdline>console=ttyS0 panic=-1 quiet</cmdline>")
    serial = (f"<serial type='file'>\n      <source path='{serial_log(name)}'/>\n"
              "      <target port='0'/>\n    </serial>")
    for old, new in (("<boot dev='hd'/>", boot),
                     ("<serial type='pty'>\n      <target port='0'/>\n    </serial>", serial),
                     ("<console type='pty'>", "<console type='file'>")):
        if old not in xml:
            raise RuntimeError(f"minimal.xml changed: no {old!r}")
        xml = xml.replace(old, new)
    path = os.path.join(_workdir, f"{name}.xml")
    with open(path, "w") as f:
        f.write(xml)
    return path


def write_profile(name, text):
    path = os.path.join(_workdir, f"{name}.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def domstate(name):
    return virsh("domstate", name).strip()


def remove_domain(name):
    """Destroys and undefines @name if it exists; for addCleanup."""
    if subprocess.run(["virsh", "-c", URI, "dominfo", name],
                      capture_output=True).returncode != 0:
        return
    if domstate(name) != "shut off":
        virsh("destroy", name)
    virsh("undefine", "--nvram", "--managed-save", name)
    try:
        os.unlink(serial_log(name))
    except FileNotFoundError:
        pass


def setup(hugepages=0):
    global _workdir
    if os.geteuid() != 0:
        raise RuntimeError("the e2e suite needs root: it runs libvirtd, mounts "
                           "hugetlbfs and reserves hugepages")
    if _workdir is None:
        _workdir = tempfile.mkdtemp(prefix="winvm-e2e-")
    ensure_hugetlbfs()
    ensure_libvirtd()
    if hugepages:
        reserve_hugepages(hugepages)
    build_guest()


def teardown():
    global _saved_nr_hugepages, _workdir
    if _saved_nr_hugepages is not None:
        with open("/proc/sys/vm/nr_hugepages", "w") as f:
            f.write(str(_saved_nr_hugepages))
        _saved_nr_hugepages = None
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
        _workdir = None
