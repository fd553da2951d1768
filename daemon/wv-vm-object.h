/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * org.winvm1.VM: the D-Bus face of one VM (property and method tables).
 */
#pragma once

#include <gio/gio.h>

#include "wv-daemon.h"
#include "wv-vm.h"

G_BEGIN_DECLS

typedef struct _WvVmObject WvVmObject;

/* Watches @vm (which must outlive it) and announces its changes on @bus;
 * its profile methods go to @daemon's registry (wv-manage.h). */
WvVmObject *wv_vm_object_new(WvVm *vm, WvDaemon *daemon, GDBusConnection *bus);
void wv_vm_object_free(WvVmObject *obj);
WvVm *wv_vm_object_vm(WvVmObject *obj);
const char *wv_vm_object_path(WvVmObject *obj);
/* All properties, for GetManagedObjects and InterfacesAdded (borrowed:
 * valid until the VM changes). */
GVariant *wv_vm_object_get_all(WvVmObject *obj);
/* The org.winvm1.VM vtable; its user data is the WvVmObject. */
const GDBusInterfaceVTable *wv_vm_object_vtable(void);

G_END_DECLS
