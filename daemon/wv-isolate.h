/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The host steps aside while pinned VMs run: systemd's system.slice,
 * user.slice and init.scope kept on the CPUs no running isolated VM uses
 * (AllowedCPUs, over systemd's D-Bus API), the performance governor on the
 * VMs' CPUs, movable IRQs and unbound workqueues kept off them. What every
 * running VM needs is recorded, and the host's state worked out from all of
 * them at each start and stop, so with several VMs each change is made
 * once and undone when the last VM needing it stops. Every change goes
 * through the ledger (wv-ledger.h): a restarted daemon finishes or undoes
 * what a crash interrupted and never takes a value it set for the host's.
 *
 * The calls that change the host block (sysfs writes, systemd calls): run
 * them in a worker. One lock serialises them.
 */
#pragma once

#include <gio/gio.h>

#include "wv-plan.h"

G_BEGIN_DECLS

typedef struct _WvIsolate WvIsolate;

/* The units whose AllowedCPUs are kept off the VMs' CPUs. */
extern const char *const wv_isolate_units[];

/* Reads the ledger in @runtime_dir (a corrupt one is set aside, with a
 * warning; NULL: none, for `winvmd --check`, which changes nothing);
 * @sysfs_root, @proc_root NULL: the real /sys and /proc. */
WvIsolate *wv_isolate_new(const char *runtime_dir, const char *sysfs_root, const char *proc_root);
WvIsolate *wv_isolate_ref(WvIsolate *iso);
void wv_isolate_unref(WvIsolate *iso);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvIsolate, wv_isolate_unref)
/* The bus systemd is on (NULL: none, isolation is unavailable). */
void wv_isolate_set_bus(WvIsolate *iso, GDBusConnection *bus);

/* Worker: records what @vm's @plan asks of the host (vm_cpus, isolate,
 * governor, irq_steer) and makes the host so. What cannot be done is a
 * warning in the journal, never an error: the VM starts regardless. */
void wv_isolate_vm_start(WvIsolate *iso, const char *vm, const WvPlan *plan);
/* Worker: forgets @vm's needs and puts back what no running VM needs. */
void wv_isolate_vm_stop(WvIsolate *iso, const char *vm);
/* The same in a worker (from the main thread); nothing when @vm has no
 * needs recorded. */
void wv_isolate_vm_stop_async(WvIsolate *iso, const char *vm);
/* @vm's needs are recorded (a quick look, any thread). */
gboolean wv_isolate_has_vm(WvIsolate *iso, const char *vm);
/* Worker: after a restart, forgets the needs of VMs not in @running and
 * makes the host what the rest need: unfinished changes are finished or
 * undone, nothing applied is applied again. */
void wv_isolate_recover(WvIsolate *iso, const char *const *running);
void wv_isolate_recover_async(WvIsolate *iso, const char *const *running);

/* What is applied on the host now, and for whom: a(sssssas)
 * (what: isolation | governor | irq | workqueue | hugepages, target: unit
 * or file, previous, value, state: intent | applied | restoring, vms),
 * hugepage reservations included (any thread). */
GVariant *wv_isolate_describe(WvIsolate *iso);

/* Findings for what @plan asks of the host, before anything is applied
 * (blocking reads; @iso may be NULL: systemd not asked):
 * isolation-unavailable, governor-unavailable, irqbalance-running. */
void wv_isolate_check(WvIsolate *iso, WvPlan *plan, const char *sysfs_root, const char *proc_root);

G_END_DECLS
