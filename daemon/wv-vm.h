/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One VM's life: its state (mirrored from libvirt on the main thread) and
 * its operations (run in worker threads), behind typed entry points. It
 * knows nothing of D-Bus: its face (wv-vm-object.c) watches it.
 */
#pragma once

#include <gio/gio.h>

#include "wv-config.h"
#include "wv-domain.h"
#include "wv-hugepages.h"
#include "wv-libvirt.h"
#include "wv-plan-cache.h"
#include "wv-profile.h"
#include "wv-stop.h"
#include "wv-tuning.h"

G_BEGIN_DECLS

typedef struct _WvVm WvVm;

/* What every VM needs from the service; owned by whoever creates the VMs
 * and outliving them. */
typedef struct
{
  WvConfig *config;
  WvLibvirt *libvirt;
  /* main thread: a current read found the domain stopped (after its
   * waiters and hugepages were seen to); @vm may be freed in it */
  void (*stopped)(gpointer data, WvVm *vm);
  /* main thread: anything @vm shows may have changed (state, profile);
   * may be NULL */
  void (*changed)(gpointer data, WvVm *vm);
  gpointer data;
  WvPlanCache *plans; /* told when a VM changes; may be NULL */
} WvVmContext;

WvVm *wv_vm_new(const WvVmContext *ctx, WvProfile *profile);
/* Ends the VM; a refresh still in flight finds it gone. */
void wv_vm_free(WvVm *vm);
const char *wv_vm_name(WvVm *vm);
const WvProfile *wv_vm_profile(WvVm *vm);
/* The state to show: a transition (starting, shutting-down) over libvirt's. */
WvVmState wv_vm_state(WvVm *vm);
/* What libvirt last said about the domain. */
const WvDomainInfo *wv_vm_domain(WvVm *vm);
/* Takes @profile; refreshes the properties it decides. */
void wv_vm_set_profile(WvVm *vm, WvProfile *profile);
gboolean wv_vm_is_running(WvVm *vm);
/* It runs, and its profile changed since it started: the change applies at
 * its next start. */
gboolean wv_vm_pending_restart(WvVm *vm);
/* What the stop ladder of a Shutdown under way does (ShutdownStep). */
WvStopStep wv_vm_stop_step(WvVm *vm);
/* What a Start under way does with hugepages (StartStep). */
WvHugepagesStep wv_vm_start_step(WvVm *vm);
/* How the last stop ended, and in how long (LastStop). */
const WvStopResult *wv_vm_last_stop(WvVm *vm);
/* A Start is under way (a shutdown asked for now waits for it). */
gboolean wv_vm_is_starting(WvVm *vm);

/* @changed runs (main thread) after anything its face shows may have
 * changed; NULL stops it. */
typedef void (*WvVmChanged)(WvVm *vm, gpointer data);
void wv_vm_watch(WvVm *vm, WvVmChanged changed, gpointer data);

/* libvirt told us something about this VM's domain. Events carry no
 * generation and may arrive after an operation that ran later settled the
 * state, so an event never sets the state itself: it makes reads begun
 * before it stale and reads the domain again. */
void wv_vm_lifecycle(WvVm *vm, int event, int detail);
/* Re-reads state, UUID, pins... from libvirt (async). */
void wv_vm_refresh(WvVm *vm);
/* libvirt is gone: the state is unknown until it is back. */
void wv_vm_set_unknown(WvVm *vm);

/* ---- reads ---------------------------------------------------------------------
 *
 * What libvirt says is read in a worker and applied on the main thread.
 * Meanwhile an operation or an event may have changed the VM: what the read
 * saw is then older than what they left. So every read is stamped when it
 * begins, and applied only when nothing happened to the VM since and no
 * newer read is on its way; a stale read is read again, never applied. The
 * state shown is never older than the latest completed operation or read,
 * and hugepages are given back only when a current read says the domain is
 * stopped. */
typedef struct
{
  guint64 generation; /* the VM's generation when the read began */
  guint serial;       /* which read */
} WvVmReadStamp;

/* Stamps a read about to begin (main thread): call it before reading. */
WvVmReadStamp wv_vm_read_begin(WvVm *vm);
/* Applies @info (emptied when applied) read under @stamp, or reads again
 * when it is stale. */
void wv_vm_read_apply(WvVm *vm, WvVmReadStamp stamp, WvDomainInfo *info);
/* A lifecycle call, a D-Bus call or a Shutdown wait is running: Reload
 * keeps the VM. */
gboolean wv_vm_busy(WvVm *vm);
/* A caller is on its way (waiting for polkit): the VM stays until
 * wv_vm_call_end(). */
void wv_vm_call_begin(WvVm *vm);
void wv_vm_call_end(WvVm *vm);

/* ---- operations --------------------------------------------------------------
 *
 * @done runs on the main thread with NULL or the error, after the state the
 * operation leaves was told to the watcher. Lifecycle operations (start,
 * stop, actions) take the VM's lock and fail with Busy while another runs. */

typedef void (*WvVmDone)(WvVm *vm, const GError *error, gpointer data);

void wv_vm_start(WvVm *vm, WvVmDone done, gpointer data);
/* The stop ladder within @timeout_s (0: the profile's): the guest agent,
 * ACPI pressed again every acpi-repeat, then at the deadline forced off
 * (WV_ERROR_TIMEOUT) or saved, by the profile's on-timeout. */
void wv_vm_stop(WvVm *vm, guint timeout_s, WvVmDone done, gpointer data);
void wv_vm_act(WvVm *vm, WvVmAction action, WvVmDone done, gpointer data);
/* Host shutdown: by @policy within @timeout_s (0: the profile's), without
 * the lock (it waits for a Start under way). */
void wv_vm_shutdown(WvVm *vm, WvHostShutdownPolicy policy, guint timeout_s, WvVmDone done,
                    gpointer data);
/* InvalidArgs when @index names no vCPU or I/O thread of @vm. */
gboolean wv_vm_check_pin(WvVm *vm, WvTuneTarget target, guint index, GError **error);
/* Pins live (when running) and for every later start. */
void wv_vm_pin(WvVm *vm, WvTuneTarget target, guint index, const WvCpuset *set, WvVmDone done,
               gpointer data);
/* Changes the profile's autostart line. */
void wv_vm_set_autostart(WvVm *vm, gboolean autostart, WvVmDone done, gpointer data);

G_END_DECLS
