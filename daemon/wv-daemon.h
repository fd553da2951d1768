/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * winvmd's core: profiles become VMs, libvirt's state is mirrored into
 * them. It owns the main thread's state and names no face of it: what
 * happens is reported through WvDaemonCallbacks, which winvmd.c connects to
 * the D-Bus objects, autostart and the host shutdown watcher.
 */
#pragma once

#include <gio/gio.h>

#include "wv-config.h"
#include "wv-libvirt.h"
#include "wv-plan-cache.h"
#include "wv-vm.h"

G_BEGIN_DECLS

typedef struct
{
  void (*vm_added)(gpointer data, WvVm *vm);   /* after a reload added it */
  void (*vm_removed)(gpointer data, WvVm *vm); /* before it is freed */
  void (*changed)(gpointer data);              /* libvirt or the profile errors changed */
  void (*ready)(gpointer data);                /* the first resync, or libvirt is away */
  void (*status)(gpointer data);               /* libvirt came or went, after ready */
  void (*resynced)(gpointer data);             /* the first resync is applied */
  void (*vm_changed)(gpointer data, WvVm *vm); /* its state or profile, perhaps */
} WvDaemonCallbacks;

typedef struct
{
  WvConfig *config;
  WvLibvirt *libvirt;
  WvVmContext vm_ctx;
  GHashTable *vms;            /* name -> WvVm*, sorted view via wv_daemon_vm_names() */
  GHashTable *orphans;        /* names of running VMs whose profile is gone */
  guint orphan_retry;         /* a stopped orphan waits for its last call */
  guint reread_source;        /* the running VMs read again after a connect */
  guint rereads;              /* how many of those are done */
  GPtrArray *resyncs_delayed; /* GTask*: read, held back by the test seam */
  GPtrArray *profile_errors;  /* char* */
  WvPlanCache *plans;         /* Plan, Check, Render: what nothing changed since */
  gboolean ready;             /* ready was reported */
  gboolean resynced;          /* resynced was reported */
  const WvDaemonCallbacks *callbacks;
  gpointer callbacks_data;
} WvDaemon;

WvDaemon *wv_daemon_new(const WvConfig *config, const WvDaemonCallbacks *callbacks, gpointer data);
void wv_daemon_free(WvDaemon *daemon);
/* Reads the profiles and connects to libvirt. */
void wv_daemon_start(WvDaemon *daemon);
/* Reads the profiles again; returns the error messages (transfer full). */
GPtrArray *wv_daemon_reload(WvDaemon *daemon);
/* Names of every VM, sorted (the strings belong to the VMs). */
GPtrArray *wv_daemon_vm_names(WvDaemon *daemon);
/* The VM named @name, or NULL. */
WvVm *wv_daemon_get_vm(WvDaemon *daemon, const char *name);
/* The same, or InvalidArgs / NotFound for a caller. */
WvVm *wv_daemon_lookup(WvDaemon *daemon, const char *name, GError **error);

G_END_DECLS
