# SPDX-License-Identifier: LGPL-2.1-or-later
"""A desktop for winvm-applet's tests: Xvfb, a private session bus, the
AT-SPI accessibility bus (at-spi-bus-launcher) on it, and helpers to read the
applet's accessibility tree with pyatspi and to take screenshots.

Nothing waits a fixed time: waits poll a condition of the accessibility tree
until a deadline."""

import os
import shutil
import signal
import subprocess
import time

from daemon_fixture import require, stop_process

XVFB = "/usr/bin/Xvfb"
DBUS_DAEMON = "/usr/bin/dbus-daemon"
BUS_LAUNCHER = "/usr/libexec/at-spi-bus-launcher"
XWD = "/usr/bin/xwd"
CONVERT = "/usr/bin/convert"


class Desktop:
    """Xvfb on a free display, a session bus and the a11y bus. After
    start(), env() is the environment for programs of this desktop."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.launcher = None
        self.logs = []
        self.display = None
        self.session_address = None

    def start(self):
        for path, what in ((XVFB, "Xvfb (xvfb)"), (DBUS_DAEMON, "dbus-daemon (dbus)"),
                           (BUS_LAUNCHER, "at-spi-bus-launcher (at-spi2-core)")):
            require(path, what)
        # -displayfd: Xvfb picks a free display and says which once it is ready
        rfd, wfd = os.pipe()
        xvfb = subprocess.Popen([XVFB, "-displayfd", str(wfd), "-screen", "0", "1024x640x24",
                                 "-nolisten", "tcp", "-ac"], pass_fds=(wfd,),
                                stdout=subprocess.DEVNULL, stderr=self._log("xvfb.log"))
        self.procs.append(xvfb)
        os.close(wfd)
        with os.fdopen(rfd) as f:
            number = f.readline().strip()
        if not number:
            raise RuntimeError(f"Xvfb did not start (exit {xvfb.poll()})")
        self.display = ":" + number

        session = subprocess.Popen([DBUS_DAEMON, "--session", "--nofork", "--print-address"],
                                   stdout=subprocess.PIPE, stderr=self._log("session-bus.log"),
                                   text=True, env=self._base_env())
        self.procs.append(session)
        self.session_address = session.stdout.readline().strip()
        session.stdout.close()
        if not self.session_address:
            raise RuntimeError("the session dbus-daemon did not print its address")

        # its own process group: the a11y dbus-daemon and registryd it starts
        # go with it
        self.launcher = subprocess.Popen([BUS_LAUNCHER, "--launch-immediately", "--a11y=1"],
                                         env=self.env(), stdout=subprocess.DEVNULL,
                                         stderr=self._log("at-spi-bus-launcher.log"),
                                         start_new_session=True)

    def _log(self, name):
        f = open(os.path.join(self.workdir, name), "w")
        self.logs.append(f)
        return f

    def _base_env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY",
                            "AT_SPI_BUS_ADDRESS", "GTK_A11Y", "NO_AT_BRIDGE",
                            "XDG_RUNTIME_DIR")}
        env["XDG_RUNTIME_DIR"] = self.runtime_dir()
        return env

    def runtime_dir(self):
        d = os.path.join(self.workdir, "xdg-runtime")
        os.makedirs(d, mode=0o700, exist_ok=True)
        return d

    def env(self):
        env = self._base_env()
        env.update(DISPLAY=self.display, DBUS_SESSION_BUS_ADDRESS=self.session_address,
                   GDK_BACKEND="x11", GTK_A11Y="atspi", GSETTINGS_BACKEND="memory",
                   HOME=os.path.join(self.workdir, "home"), LANG="C.UTF-8", LC_ALL="C.UTF-8")
        os.makedirs(env["HOME"], exist_ok=True)
        return env

    def capture(self):
        """The whole screen, as xwd's bytes."""
        require(XWD, "xwd (x11-apps)")
        return subprocess.run([XWD, "-root", "-silent"], env=self.env(), check=True,
                              stdout=subprocess.PIPE, timeout=30).stdout

    def screenshot(self, png, previous=None, timeout=15.0):
        """The screen as PNG (ImageMagick's convert), once it is drawn: two
        captures in a row alike, and unlike @previous (the capture of the
        state before, when the window must have changed since). Returns the
        capture. A window in the accessibility tree may not be painted yet,
        hence this."""
        require(CONVERT, "convert (imagemagick)")
        deadline = time.monotonic() + timeout
        last = self.capture()
        while True:
            time.sleep(0.1)
            now = self.capture()
            if now == last and now != previous:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen did not settle into a new picture for {png}")
            last = now
        # the screen is black around the windows: -trim keeps the windows
        subprocess.run([CONVERT, "xwd:-", "-trim", "+repage", png], input=now, check=True,
                       timeout=60)
        return now

    def stop(self):
        if self.launcher is not None:
            try:
                os.killpg(self.launcher.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            stop_process(self.launcher)
            try:  # whatever of its group is left
                os.killpg(self.launcher.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.launcher = None
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs = []
        for f in self.logs:
            f.close()
        self.logs = []
