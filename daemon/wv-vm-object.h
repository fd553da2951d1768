/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One VM: its state (mirrored from libvirt on the main thread), its
 * operations (run in worker threads) and its org.winvm1.VM face.
 */
#pragma once

#include <gio/gio.h>

#include "wv-config.h"
#include "wv-domain.h"
#include "wv-libvirt.h"
#include "wv-profile.h"

G_BEGIN_DECLS

typedef struct _WvVm WvVm;

/* What every VM needs from the service; owned by whoever creates the VMs
 * and outliving them. @bus is NULL until the VMs are exported. */
typedef struct
{
  WvConfig *config;
  WvLibvirt *libvirt;
  GDBusConnection *bus;
} WvVmContext;

WvVm *wv_vm_new(const WvVmContext *ctx, WvProfile *profile);
/* Ends the VM; a refresh still in flight finds it gone. */
void wv_vm_free(WvVm *vm);
void wv_vm_export(WvVm *vm);
void wv_vm_unexport(WvVm *vm);
gboolean wv_vm_is_exported(WvVm *vm);
/* The org.winvm1.VM vtable; its user data is the WvVm. */
const GDBusInterfaceVTable *wv_vm_vtable(void);
const char *wv_vm_name(WvVm *vm);
const char *wv_vm_path(WvVm *vm);
const WvProfile *wv_vm_profile(WvVm *vm);
/* Takes @profile; refreshes the properties it decides. */
void wv_vm_set_profile(WvVm *vm, WvProfile *profile);
/* All properties, for GetManagedObjects and InterfacesAdded (borrowed:
 * valid until the VM changes). */
GVariant *wv_vm_get_all(WvVm *vm);
gboolean wv_vm_is_running(WvVm *vm);
/* A Start is under way (a shutdown asked for now waits for it). */
gboolean wv_vm_is_starting(WvVm *vm);
/* libvirt told us something about this VM's domain. */
void wv_vm_lifecycle(WvVm *vm, int event, int detail);
/* Re-reads state, UUID, pins... from libvirt (async). */
void wv_vm_refresh(WvVm *vm);
/* libvirt is gone: the state is unknown until it is back. */
void wv_vm_set_unknown(WvVm *vm);
/* A lifecycle call or a Shutdown wait is running: Reload keeps the object. */
gboolean wv_vm_busy(WvVm *vm);

/* Resync: what wv_domain_info_read() said in a worker, applied on the main
 * thread (@info is emptied). */
void wv_vm_info_apply(WvVm *vm, WvDomainInfo *info);

/* @done runs on the main thread with NULL, or the error; for a shutdown
 * WV_ERROR_TIMEOUT when the VM had to be forced off. */
typedef void (*WvVmDone)(WvVm *vm, const GError *error, gpointer data);
/* Start without a D-Bus caller (autostart); Busy when a call runs. */
void wv_vm_start(WvVm *vm, WvVmDone done, gpointer data);
/* Shuts @vm down by @policy with @timeout_s (0: the profile's), forcing it
 * off at the deadline. Used by Shutdown and shutdown-all. */
void wv_vm_shutdown(WvVm *vm, WvHostShutdownPolicy policy, guint timeout_s, WvVmDone done,
                    gpointer data);

G_END_DECLS
