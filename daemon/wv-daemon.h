/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * winvmd's service: the state every D-Bus object needs, owned by the main
 * thread. Worker threads get copies of what they need, never this struct.
 */
#pragma once

#include <gio/gio.h>

#include "wv-config.h"
#include "wv-libvirt.h"
#include "wv-plan.h"
#include "wv-profile.h"

G_BEGIN_DECLS

typedef struct _WvVm WvVm;
typedef struct _WvLogind WvLogind;

typedef struct
{
  WvConfig *config;
  GDBusConnection *bus;
  GDBusNodeInfo *manager_info;
  GDBusNodeInfo *vm_info;
  WvLibvirt *libvirt;
  GHashTable *vms;           /* name -> WvVm*, sorted view via wv_daemon_vm_names() */
  GPtrArray *profile_errors; /* char* */
  guint manager_id, object_manager_id, vms_id;
  gboolean ready;       /* READY=1 sent */
  gboolean autostarted; /* boot autostart was run */
  WvLogind *logind;
  gpointer autostart; /* the running boot autostart, if any */
  void (*on_ready)(gpointer data);
  void (*on_status)(gpointer data); /* libvirt came or went, after ready */
  gpointer on_ready_data;
} WvDaemon;

WvDaemon *wv_daemon_new(const WvConfig *config);
void wv_daemon_free(WvDaemon *daemon);
/* Exports the objects on @bus and connects to libvirt. */
gboolean wv_daemon_export(WvDaemon *daemon, GDBusConnection *bus, GError **error);
/* Reads the profiles again; returns the error messages (transfer full). */
GPtrArray *wv_daemon_reload(WvDaemon *daemon);
/* Names of every VM, sorted (the strings belong to the VMs). */
GPtrArray *wv_daemon_vm_names(WvDaemon *daemon);
WvVm *wv_daemon_lookup(WvDaemon *daemon, const char *name, GError **error);
void wv_daemon_emit_properties_changed(WvDaemon *daemon, const char *path, const char *iface,
                                       GVariant *changed);

/* ---- Manager (wv-manager-object.c) --------------------------------------- */

typedef void (*WvShutdownAllDone)(WvDaemon *daemon, const GError *error, gpointer data);
/* Every running VM at once, each by its on-host-shutdown policy and
 * timeout (capped by @cap_s when not 0); @done once all are off, with
 * WV_ERROR_TIMEOUT naming those that had to be forced. */
void wv_manager_shutdown_all(WvDaemon *daemon, guint cap_s, WvShutdownAllDone done, gpointer data);

/* ---- host integration (wv-shutdown.c, wv-autostart.c) --------------------- */

WvLogind *wv_logind_new(WvDaemon *daemon);
void wv_logind_free(WvLogind *logind);
void wv_autostart_run(WvDaemon *daemon);
/* The host is going down: start nothing more. */
void wv_autostart_cancel(WvDaemon *daemon);

/* ---- VM objects (wv-vm-object.c) ---------------------------------------- */

WvVm *wv_vm_new(WvDaemon *daemon, WvProfile *profile);
void wv_vm_free(WvVm *vm);
guint wv_vm_register_subtree(WvDaemon *daemon, GError **error);
gboolean wv_vm_export(WvVm *vm, GError **error);
void wv_vm_unexport(WvVm *vm);
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
/* Resync: read (worker), apply (main), free. */
gpointer wv_vm_info_read(virConnectPtr conn, const char *name, GError **error);
void wv_vm_info_apply(WvVm *vm, gpointer info);
void wv_vm_info_free(gpointer info);

/* Shuts @vm down by @policy-style graceful ACPI with @timeout_s, forcing it
 * off at the deadline; calls @done on the main thread with NULL error, or
 * WV_ERROR_TIMEOUT when it had to be forced. Used by Shutdown and
 * ShutdownAll. */
typedef void (*WvVmDone)(WvVm *vm, const GError *error, gpointer data);
/* Start without a D-Bus caller (autostart); Busy when a call runs. */
void wv_vm_start(WvVm *vm, WvVmDone done, gpointer data);
void wv_vm_shutdown(WvVm *vm, WvHostShutdownPolicy policy, guint timeout_s, WvVmDone done,
                    gpointer data);

G_END_DECLS
