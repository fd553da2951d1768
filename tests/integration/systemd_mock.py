# SPDX-License-Identifier: LGPL-2.1-or-later
"""A python-dbusmock template for the part of systemd's manager winvmd uses
for CPU isolation: GetUnit, LoadUnit, SetUnitProperties, and the units'
AllowedCPUs (org.freedesktop.systemd1.Slice / .Scope, ay). Every
SetUnitProperties call is logged, in order, for SetCalls().

Parameters: {"units": {name: [byte, ...]}} the units and their AllowedCPUs
at start (default: system.slice, user.slice, init.scope, unrestricted)."""

import dbus

from dbusmock import MOCK_IFACE, mockobject

BUS_NAME = "org.freedesktop.systemd1"
MAIN_OBJ = "/org/freedesktop/systemd1"
MAIN_IFACE = "org.freedesktop.systemd1.Manager"
SYSTEM_BUS = True
UNIT_IFACE = "org.freedesktop.systemd1.Unit"


def unit_path(name):
    return MAIN_OBJ + "/unit/" + "".join(c if c.isalnum() else "_%02x" % ord(c) for c in name)


def kind(name):
    return "org.freedesktop.systemd1." + ("Scope" if name.endswith(".scope") else "Slice")


def load(mock, parameters):
    mock.AddProperties(MAIN_IFACE, {"Version": "252"})
    mock.units = {}
    mock.set_calls = []
    units = parameters.get("units", {"system.slice": [], "user.slice": [], "init.scope": []})
    for name, cpus in units.items():
        path = unit_path(name)
        mock.AddObject(path, UNIT_IFACE, {"Id": name, "LoadState": "loaded"}, [])
        mockobject.objects[path].AddProperties(
            kind(name), {"AllowedCPUs": dbus.Array([dbus.Byte(b) for b in cpus], signature="y")})
        mock.units[name] = path


def _path(self, name):
    if str(name) not in self.units:
        raise dbus.exceptions.DBusException(f"Unit {name} not loaded.",
                                            name="org.freedesktop.systemd1.NoSuchUnit")
    return dbus.ObjectPath(self.units[str(name)])


@dbus.service.method(MAIN_IFACE, in_signature="s", out_signature="o")
def GetUnit(self, name):
    return _path(self, name)


@dbus.service.method(MAIN_IFACE, in_signature="s", out_signature="o")
def LoadUnit(self, name):
    return _path(self, name)


@dbus.service.method(MAIN_IFACE, in_signature="sba(sv)", out_signature="")
def SetUnitProperties(self, name, runtime, properties):
    path = _path(self, name)
    for key, value in properties:
        if key != "AllowedCPUs":
            raise dbus.exceptions.DBusException(f"Cannot set property {key}",
                                                name="org.freedesktop.DBus.Error.InvalidArgs")
        data = [int(b) for b in value]
        self.set_calls.append((str(name), bool(runtime), data))
        mockobject.objects[path].UpdateProperties(
            kind(str(name)),
            {"AllowedCPUs": dbus.Array([dbus.Byte(b) for b in data], signature="y")})


@dbus.service.method(MOCK_IFACE, in_signature="", out_signature="a(sbay)")
def SetCalls(self):
    return [(n, r, dbus.Array([dbus.Byte(b) for b in d], signature="y"))
            for n, r, d in self.set_calls]
