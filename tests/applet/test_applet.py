#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""winvm-applet on a real (virtual) display, driven through its accessibility
tree: Xvfb, a private session bus with the AT-SPI bus, winvmd on a private
system bus with libvirt's test driver and the fake "ryzen" host
(tests/integration/daemon_fixture.py), and the applet between them.

One scripted session: the window shows every VM (names read from the
accessibility tree), the autostart switch writes Autostart, Start turns a
VM's row to Running, a start that would fail shows the check findings with
their hints, a new VM from the form appears as a row, an error is a toast
with the daemon's message, a VM's settings change its vCPUs, Suspend,
Resume and Force Off turn its row, Shut Down shows the stop's step and
countdown and then how it ended, the daemon killed and started again turns
the window to its "not running" page and back to the rows. A
screenshot of each state is saved in $WV_ARTEFACT_DIR (the build dir).

In an ASan build (WV_SANITIZE) the applet runs under AddressSanitizer and
LeakSanitizer: it must quit cleanly with no leak of its own
(tests/applet/lsan-gtk.supp holds GTK's and its libraries' own, by name)."""

import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)

from daemon_fixture import (  # noqa: E402
    Bus, Client, Daemon, copy_host, new_workdir, print_log, require, stop_process)
from desktop_fixture import Desktop  # noqa: E402

SRC = os.environ.get("WV_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
APPLET = os.environ.get("WINVM_APPLET", os.path.join(SRC, "build", "applet", "winvm-applet"))
ARTEFACTS = os.environ.get("WV_ARTEFACT_DIR", os.path.join(SRC, "build", "tests", "applet"))
SANITIZE = os.environ.get("WV_SANITIZE", "none")
LSAN_SUPP = os.path.join(HERE, "lsan-gtk.supp")
TIMEOUT = 30.0 if SANITIZE in ("", "none") else 90.0

PROFILES = {
    "alpha": "[vm]\nname = alpha\ntemplate = minimal\nmemory = 1GiB\nvcpus = 4\n"
             "shutdown-timeout = 2min\n",
    "beta": "[vm]\nname = beta\ntemplate = minimal\nmemory = 512MiB\nvcpus = 2\n\n"
            "[cpu]\npin = none\n\n[hostdev:gpu]\npci = 0f:00.0,0f:00.1\n",
    # the ryzen host has 16 CPUs; pin = auto keeps some for the host
    "big": "[vm]\nname = big\ntemplate = minimal\nmemory = 1GiB\nvcpus = 16\n\n"
           "[cpu]\npin = auto\n",
}


class Timeout(AssertionError):
    pass


class AppletTest(unittest.TestCase):

    def setUp(self):
        require(APPLET, "winvm-applet (set $WINVM_APPLET)")
        self.workdir = new_workdir("winvm-applet-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        os.makedirs(ARTEFACTS, exist_ok=True)
        sysfs, procfs = copy_host("ryzen", self.workdir)
        config_dir = os.path.join(self.workdir, "vms")
        os.makedirs(config_dir)
        for name, text in PROFILES.items():
            with open(os.path.join(config_dir, name + ".conf"), "w") as f:
                f.write(text)

        self.bus = Bus(self.workdir)
        self.addCleanup(self.bus.stop)
        self.client = Client(self.bus.address)
        self.addCleanup(self.client.close)
        self.daemon = Daemon(self.bus, self.workdir, config_dir, sysfs, procfs)
        self.addCleanup(self.daemon.stop)
        self.daemon.start(self.client)

        self.desktop = Desktop(self.workdir)
        self.addCleanup(self.desktop.stop)
        self.desktop.start()
        # pyatspi finds the a11y bus through this desktop's session bus
        for key, value in self.desktop.env().items():
            os.environ[key] = value
        import pyatspi
        self.atspi = pyatspi
        self.names_seen = []
        self.atspi.Registry.registerEventListener(self.on_name_changed,
                                                  "object:property-change:accessible-name")
        self.addCleanup(self.atspi.Registry.deregisterEventListener, self.on_name_changed,
                        "object:property-change:accessible-name")

        self.applet_log = os.path.join(self.workdir, "applet.log")
        self.applet = None
        self.applet_exit = None

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for title, path in (("winvmd log", "winvmd.log"), ("applet log", "applet.log")):
                try:
                    with open(os.path.join(self.workdir, path), errors="replace") as f:
                        print_log(title, f.read()[-20000:])
                except (FileNotFoundError, AttributeError):
                    pass
        return result

    # ---- the applet ---------------------------------------------------------

    def start_applet(self):
        env = self.desktop.env()
        env.update(DBUS_SYSTEM_BUS_ADDRESS=self.bus.address, GSK_RENDERER="cairo",
                   G_DEBUG="fatal-criticals",
                   G_MESSAGES_DEBUG="winvm-applet")
        if SANITIZE not in ("", "none"):
            env.update(ASAN_OPTIONS="detect_leaks=1:exitcode=23:fast_unwind_on_malloc=0",
                       UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
                       LSAN_OPTIONS=f"suppressions={LSAN_SUPP}:print_suppressions=0")
        with open(self.applet_log, "w") as log:
            self.applet = subprocess.Popen([APPLET], env=env, stdout=subprocess.DEVNULL,
                                           stderr=log)
        self.addCleanup(stop_process, self.applet)

    def quit_applet(self):
        """SIGTERM: the applet quits its GApplication and returns from main."""
        self.applet.send_signal(signal.SIGTERM)
        self.applet_exit = self.applet.wait(timeout=TIMEOUT)
        with open(self.applet_log, errors="replace") as f:
            return f.read()

    # ---- the accessibility tree --------------------------------------------

    def on_name_changed(self, event):
        # the name the event carries: the source's name now may be a later one
        if isinstance(event.any_data, str):
            self.names_seen.append(event.any_data)

    def wait(self, predicate, what, timeout=None):
        """Polls @predicate (with AT-SPI's events dispatched) until it is
        truthy. @what, for the timeout's message, may be a function (it is
        called then, never before: the tree may be in flux until the wait
        is over)."""
        from gi.repository import GLib
        deadline = time.monotonic() + (timeout or TIMEOUT)
        ctx = GLib.MainContext.default()
        while True:
            while ctx.iteration(False):
                pass
            if self.applet is not None and self.applet.poll() is not None:
                raise AssertionError(f"winvm-applet exited with {self.applet.returncode} "
                                     f"while waiting for {what}")
            try:
                value = predicate()
            except Exception:  # a tree in flux: objects vanish under a walk
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                if callable(what):  # a message read from the tree: only now
                    try:
                        what = what()
                    except Exception as e:
                        what = f"(the tree could not be read: {e})"
                raise Timeout(f"timed out waiting for {what}")
            time.sleep(0.05)

    def app(self):
        desktop = self.atspi.Registry.getDesktop(0)
        for i in range(desktop.childCount):
            a = desktop.getChildAtIndex(i)
            if a is not None and a.name == "winvm-applet":
                return a
        return None

    def find(self, root, role, name=None):
        """Descendants of @root with @role (and @name). GTK 4.8 leaves hidden
        widgets out of the tree (and sets no SHOWING state)."""
        def match(acc):
            if acc is None or acc.getRoleName() != role:
                return False
            if name is not None and acc.name != name:
                return False
            return acc.getState().contains(self.atspi.STATE_VISIBLE)
        return self.atspi.utils.findAllDescendants(root, match) if root is not None else []

    def rows(self):
        """{VM name: list item} of the rows on screen."""
        return {r.name: r for r in self.find(self.app(), "list item")}

    def row(self, vm):
        return self.rows().get(vm)

    def labels(self, vm):
        row = self.row(vm)
        return [label.name for label in self.find(row, "label")] if row else []

    def press(self, vm, button):
        def pressable():
            found = self.find(self.row(vm), "push button", button)
            return found and found[0].getState().contains(self.atspi.STATE_SENSITIVE) and found[0]
        target = self.wait(pressable, f"the {button} button of {vm}")
        target.queryAction().doAction(0)

    def press_in_window(self, button):
        """Presses the button named @button outside the rows (header, form)."""
        def pressable():
            found = [b for b in self.find(self.app(), "push button", button)
                     if b.getState().contains(self.atspi.STATE_SENSITIVE)]
            return found and found[0]
        self.wait(pressable, f"the {button} button").queryAction().doAction(0)

    def fill(self, role, name, text):
        """Types @text into the form's field @name (AT-SPI EditableText)."""
        field = self.wait(lambda: self.find(self.app(), role, name), f"the {name} field")[0]
        # answered once the applet has set it (AdwEntryRow's Text reads
        # empty in GTK 4.8: what the field says is checked by the outcome)
        self.assertTrue(field.queryEditableText().setTextContents(text))

    def wait_label(self, vm, text, what=None):
        return self.wait(lambda: any(text in label for label in self.labels(vm)),
                         what or (lambda: f"{vm}'s row to say {text!r} "
                                          f"(it says {self.labels(vm)!r})"))

    def page_showing(self, title):
        return self.find(self.app(), "label", title)

    def screenshot(self, name):
        """$WV_ARTEFACT_DIR/NAME.png, once the screen shows a new state."""
        path = os.path.join(ARTEFACTS, name + ".png")
        self.last_capture = self.desktop.screenshot(path, getattr(self, "last_capture", None))
        self.assertGreater(os.path.getsize(path), 1000)
        return path

    # ---- the session ---------------------------------------------------------

    def test_session(self):
        self.start_applet()
        self.wait(self.app, "winvm-applet on the accessibility bus")

        # every VM winvmd has is a row, by name, and says what the daemon says
        vms = sorted(name for name, _ in self.client.list_vms())
        self.assertEqual(vms, sorted(PROFILES))
        self.wait(lambda: sorted(self.rows()) == vms, f"one row per VM {vms}")
        self.wait_label("alpha", "Not defined yet")
        self.wait_label("alpha", "4 vCPUs · 1.0\u00a0GiB")
        self.wait_label("beta", "devices 0000:0f:00.0, 0000:0f:00.1")
        self.screenshot("applet-1-list")

        # the autostart switch writes the Autostart property; the switch
        # follows the property as the daemon announces it
        path = self.client.vm_path("beta")
        switch = self.wait(lambda: self.find(self.row("beta"), "check box", "Start beta at boot"),
                           "beta's autostart switch")[0]
        self.assertFalse(self.wait(lambda: [switch.getState()], "the switch's state")[0]
                         .contains(self.atspi.STATE_CHECKED))
        switch.queryAction().doAction(0)
        self.wait(lambda: self.client.get(path, "Autostart") is True, "beta's Autostart true")
        self.wait(lambda: self.find(self.row("beta"), "check box", "Start beta at boot")[0]
                  .getState().contains(self.atspi.STATE_CHECKED), "beta's switch on")

        # Start: the row turns to Running from the daemon's PropertiesChanged
        path = self.client.vm_path("alpha")
        self.press("alpha", "Start")
        self.wait_label("alpha", "Running")
        self.assertEqual(self.client.get(path, "State"), "running")
        self.wait_label("alpha", "no guest agent")
        self.wait(lambda: self.find(self.row("alpha"), "push button", "Shut Down"),
                  "alpha's Shut Down button")
        self.wait(lambda: self.row("alpha") and not self.find(self.row("alpha"), "push button",
                                                              "Start"), "no Start for alpha")
        self.screenshot("applet-2-running")

        # a start that would fail: the check's findings and hints, no Start
        findings = self.client.manager("Check", self.v("(s)", "big"), "(a(ssss))")[0]
        errors = [f for f in findings if f[0] == "error"]
        self.assertTrue(errors, findings)
        self.press("big", "Start")
        body = self.wait_label("big", "big cannot start:")
        body = self.wait(lambda: [label for label in self.labels("big")
                                  if label.startswith("big cannot start:")], "the findings")[0]
        for severity, code, message, hint in errors:
            self.assertIn(f"• {message}", body)
            if hint:
                self.assertIn(f"Hint: {hint}", body)
        self.screenshot("applet-3-findings")
        self.press("big", "Dismiss")
        self.wait(lambda: not any(label.startswith("big cannot start:")
                                  for label in self.labels("big")), "the findings to go")
        self.assertEqual(self.client.get(self.client.vm_path("big"), "State"), "undefined")

        # a new VM from the form (CreateVMFrom): its row appears from
        # InterfacesAdded, with the memory and vCPUs given
        self.press_in_window("New VM")
        self.fill("text", "Name", "gamma")
        self.fill("spin button", "Memory (MiB)", "2048")
        self.fill("spin button", "vCPUs", "2")
        self.screenshot("applet-4-new-vm")
        self.press_in_window("Create")
        self.wait(lambda: "gamma" in self.rows(), "gamma's row")
        self.wait_label("gamma", "2 vCPUs · 2.0\u00a0GiB")
        gamma = self.client.vm_path("gamma")
        self.assertEqual(self.client.get(gamma, "VCPUs"), 2)
        self.assertEqual(self.client.get(gamma, "MemoryKiB"), 2048 * 1024)
        vms = sorted(name for name, _ in self.client.list_vms())

        # an error is a toast with the daemon's message, without the D-Bus
        # prefix; the form stays for a correction
        self.press_in_window("New VM")
        self.fill("text", "Name", "alpha")
        self.press_in_window("Create")
        name, message = self.client.call_error(
            "/org/winvm1", "org.winvm1.Manager", "CreateVMFrom",
            self.v("(ssa{sv})", "alpha", "windows11", {}))
        self.assertEqual(name, "org.winvm1.Error.Exists")
        self.wait(lambda: self.find(self.app(), "label", message), f"the toast {message!r}")
        self.wait(lambda: not [label for label in self.find(self.app(), "label")
                               if "GDBus.Error" in label.name], "no D-Bus prefix in a label")
        self.press_in_window("Cancel")
        self.wait(lambda: sorted(self.rows()) == vms, "the list again")

        # the settings of a VM (Set): big with 4 vCPUs starts
        self.press("big", "Settings")
        self.fill("spin button", "vCPUs", "4")
        self.press_in_window("Save")
        self.wait_label("big", "4 vCPUs · 1.0\u00a0GiB")
        self.assertEqual(self.client.get(self.client.vm_path("big"), "VCPUs"), 4)
        self.press("big", "Start")
        self.wait_label("big", "Running")

        # Suspend, Resume, Force Off: each turns the row as the daemon says
        big = self.client.vm_path("big")
        self.press("big", "Suspend")
        self.wait_label("big", "Paused")
        self.assertEqual(self.client.get(big, "State"), "paused")
        self.press("big", "Resume")
        self.wait_label("big", "Running")
        self.press("big", "Force Off")
        self.wait_label("big", "Shut off")
        self.assertEqual(self.client.get(big, "State"), "shut-off")

        # Shut Down: the step and the countdown while it runs (the test
        # driver obeys the first ACPI press at once: seen in the name-change
        # events of the row's stop line), then how it ended
        self.names_seen.clear()
        self.press("alpha", "Shut Down")
        self.wait_label("alpha", "Shut off")
        self.wait_label("alpha", "Last stop: shut down on ACPI after 1 press")
        steps = [n for n in self.names_seen if n.startswith("Shutting down: ")]
        self.assertTrue(steps, f"no stop step shown; names seen: {self.names_seen!r}")
        self.assertTrue(any(n.startswith("Shutting down: pressing the power button, ")
                            for n in steps), self.names_seen)
        # the countdown starts at the VM's shutdown-timeout (2 min)
        left = [int(n.rsplit(", ", 1)[1].split()[0]) for n in steps]
        self.assertTrue(all(90 <= s <= 120 for s in left), steps)
        self.assertEqual(self.client.get(path, "State"), "shut-off")
        self.screenshot("applet-5-stopped")

        # winvmd goes away: the window says so; it comes back: the rows too
        self.daemon.kill9()
        self.wait(lambda: self.page_showing("winvmd is not running"),
                  "the 'winvmd is not running' page")
        self.wait(lambda: self.find(self.app(), "label", "winvmd stopped"), "the toast")
        self.wait(lambda: self.rows() == {}, "no rows while winvmd is away")
        self.screenshot("applet-6-daemon-gone")
        self.daemon.start(self.client)
        self.wait(lambda: sorted(self.rows()) == vms, "the rows back after the restart")
        self.wait(lambda: not self.page_showing("winvmd is not running"), "the page gone")
        # a fresh test driver: nothing defined; the rows show the new daemon's state
        self.wait_label("alpha", "Not defined yet")
        self.press("alpha", "Start")
        self.wait_label("alpha", "Running")
        self.screenshot("applet-7-back")

        log = self.quit_applet()
        self.assertEqual(self.applet_exit, 0, f"winvm-applet exit status; its log:\n{log}")
        self.assertNotIn("LeakSanitizer", log)
        self.assertNotIn("runtime error", log)  # UBSan
        self.assertNotIn("CRITICAL", log)

    @staticmethod
    def v(sig, *args):
        from gi.repository import GLib
        return GLib.Variant(sig, tuple(args))


class DataFilesTest(unittest.TestCase):
    """The applet's desktop entries, icon and AppStream metadata."""

    DATA = os.path.join(SRC, "applet", "data")

    def test_metainfo_validates(self):
        appstreamcli = shutil.which("appstreamcli") or "/usr/bin/appstreamcli"
        require(appstreamcli, "appstreamcli (appstream)")
        r = subprocess.run([appstreamcli, "validate", "--no-net", "--pedantic",
                            os.path.join(self.DATA, "org.winvm1.Applet.metainfo.xml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_desktop_entries(self):
        from gi.repository import GLib
        for name in ("org.winvm1.Applet.desktop", "org.winvm1.Applet-autostart.desktop"):
            kf = GLib.KeyFile()
            kf.load_from_file(os.path.join(self.DATA, name), GLib.KeyFileFlags.NONE)
            self.assertEqual(kf.get_string("Desktop Entry", "Type"), "Application")
            self.assertEqual(kf.get_string("Desktop Entry", "Exec").split()[0], "winvm-applet")
            # the icon the applet installs, by the application ID
            self.assertEqual(kf.get_string("Desktop Entry", "Icon"), "org.winvm1.Applet")
        self.assertTrue(os.path.isfile(os.path.join(self.DATA, "org.winvm1.Applet.svg")))

    def test_icon_is_svg(self):
        import xml.etree.ElementTree as ET
        root = ET.parse(os.path.join(self.DATA, "org.winvm1.Applet.svg")).getroot()
        self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
        self.assertEqual((root.get("width"), root.get("height")), ("128", "128"))


if __name__ == "__main__":
    unittest.main()
