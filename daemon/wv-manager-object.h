/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The D-Bus face of the service: /org/winvm1 (org.winvm1.Manager and
 * org.freedesktop.DBus.ObjectManager) and the subtree of VM objects under
 * it.
 */
#pragma once

#include "wv-autostart.h"
#include "wv-daemon.h"

G_BEGIN_DECLS

typedef struct _WvManager WvManager;

/* Exports the objects on @bus; ShutdownAll stops @autostart first. */
WvManager *wv_manager_new(WvDaemon *daemon, WvAutostart *autostart, GDBusConnection *bus,
                          GError **error);
void wv_manager_free(WvManager *manager);
/* InterfacesAdded / InterfacesRemoved for @vm. */
void wv_manager_vm_added(WvManager *manager, WvVm *vm);
void wv_manager_vm_removed(WvManager *manager, WvVm *vm);
/* Announces what changed in the Manager's properties. */
void wv_manager_changed(WvManager *manager);

G_END_DECLS
