/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One VM's life: its state (libvirt's, mirrored by events and refreshes, and
 * winvm's own transitions), and its operations. State lives on the main
 * thread; libvirt calls run in GTask threads on copies of what they need.
 * Its D-Bus face (wv-vm-object.c) watches it through wv_vm_watch().
 */
#include "config.h"

#include "wv-common.h"
#include "wv-worker.h"
#include "wv-domain.h"
#include "wv-vm.h"
#include "wv-hugepages.h"
#include "wv-isolate.h"
#include "wv-preflight.h"
#include "wv-stop.h"
#include "wv-tuning.h"

#include <libvirt/virterror.h>

#define wv_vm_log(vm, level, ...) wv_log_vm((vm)->name, level, __VA_ARGS__)

G_GNUC_PRINTF(3, 4)
static void
wv_log_vm(const char *vm, GLogLevelFlags level, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start(ap, fmt);
  msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  /* structured, so `journalctl WINVM_VM=name` finds every line of a VM */
  g_log_structured(G_LOG_DOMAIN, level, "WINVM_VM", vm, "MESSAGE", "%s: %s", vm, msg);
}

/* ---- the object ----------------------------------------------------------- */

typedef struct
{
  WvVm *vm;
  WvVmDone done;
  gpointer data;
  guint timeout_s;
  guint source;
} StopWaiter;

typedef struct _Op Op;

struct _WvVm
{
  const WvVmContext *ctx;
  guint holds;      /* refreshes in flight: the struct outlives wv_vm_free() */
  gboolean removed; /* wv_vm_free() was called */
  WvProfile *profile;
  char *name;
  WvDomainInfo info;
  WvVmChanged changed; /* the face watching it */
  gpointer changed_data;
  gboolean busy;        /* a lifecycle call is running */
  Op *graceful;         /* that call: a Shutdown waiting for the guest, which ForceOff overtakes */
  WvVmState transition; /* STARTING, SHUTTING_DOWN over libvirt's state; UNKNOWN: none */
  GPtrArray *after_start; /* Op*: shutdowns asked for while starting */
  guint calls;            /* Ops and D-Bus calls in flight: the VM must outlive them */
  guint stopped_serial;   /* counts current reads that found the domain stopped */
  guint read_serial;      /* newest read asked for */
  guint64 generation;     /* bumped by every operation step and event: reads begun
                           * before are stale (see wv_vm_read_begin) */
  GPtrArray *waiters;     /* StopWaiter*: Shutdown calls waiting for the stop */
  char *started_etag;     /* the profile it runs with (NULL: not known to differ) */
  Op *ladder;             /* the Shutdown whose stop ladder asks the guest; it says how it ended */
  guint ladder_serial;    /* counts ladders: a step's job tells its own from a later one */
  WvStopStep stop_step;   /* what that ladder does now */
  WvHugepagesStep start_step; /* what a Start under way does with hugepages */
  WvStopResult last_stop;     /* how the last stop ended */
};

const char *
wv_vm_name(WvVm *vm)
{
  return vm->name;
}

WvVmState
wv_vm_state(WvVm *vm)
{
  return vm->transition ? vm->transition : vm->info.state;
}

const WvDomainInfo *
wv_vm_domain(WvVm *vm)
{
  return &vm->info;
}

void
wv_vm_watch(WvVm *vm, WvVmChanged changed, gpointer data)
{
  vm->changed = changed;
  vm->changed_data = data;
}

void
wv_vm_call_begin(WvVm *vm)
{
  vm->calls++;
}

void
wv_vm_call_end(WvVm *vm)
{
  vm->calls--;
}

const WvProfile *
wv_vm_profile(WvVm *vm)
{
  return vm->profile;
}

WvStopStep
wv_vm_stop_step(WvVm *vm)
{
  return vm->stop_step;
}

WvHugepagesStep
wv_vm_start_step(WvVm *vm)
{
  return vm->start_step;
}

const WvStopResult *
wv_vm_last_stop(WvVm *vm)
{
  return &vm->last_stop;
}

gboolean
wv_vm_is_starting(WvVm *vm)
{
  return vm->transition == WV_VM_STATE_STARTING;
}

gboolean
wv_vm_is_running(WvVm *vm)
{
  return wv_vm_state_is_active(vm->info.state);
}

gboolean
wv_vm_pending_restart(WvVm *vm)
{
  return wv_vm_is_running(vm) && vm->started_etag &&
         g_strcmp0(vm->started_etag, vm->profile->etag) != 0;
}

/* Something its face shows may have changed. */
static void
changed(WvVm *vm)
{
  /* what a plan reads may be part of it (state, profile, devices held) */
  if (vm->ctx->plans)
    wv_plan_cache_invalidate(vm->ctx->plans);
  if (vm->changed)
    vm->changed(vm, vm->changed_data);
  if (vm->ctx->changed)
    vm->ctx->changed(vm->ctx->data, vm);
}

static void
set_state(WvVm *vm, WvVmState state)
{

  vm->info.state = state;
  changed(vm);
}

static void
apply_info(WvVm *vm, WvDomainInfo *info)
{

  wv_domain_info_clear(&vm->info);
  vm->info = *info;
  memset(info, 0, sizeof(*info));
  changed(vm);
}

void
wv_vm_set_profile(WvVm *vm, WvProfile *profile)
{
  /* started before winvmd did: it runs with the profile known until now */
  if (wv_vm_is_running(vm) && vm->started_etag == NULL)
    vm->started_etag = g_strdup(vm->profile->etag);
  wv_profile_unref(vm->profile);
  vm->profile = profile;
  changed(vm);
}

/* Something happened to the VM that a read begun before cannot have seen. */
static void
bump(WvVm *vm)
{
  vm->generation++;
}

void
wv_vm_set_unknown(WvVm *vm)
{
  bump(vm);
  set_state(vm, WV_VM_STATE_UNKNOWN);
}

/* ---- reads ------------------------------------------------------------------ */

static void vm_stopped(WvVm *vm);

WvVmReadStamp
wv_vm_read_begin(WvVm *vm)
{
  WvVmReadStamp stamp = {vm->generation, ++vm->read_serial};

  return stamp;
}

void
wv_vm_read_apply(WvVm *vm, WvVmReadStamp stamp, WvDomainInfo *info)
{
  if (vm->removed)
    return;
  if (stamp.serial != vm->read_serial)
    return; /* a newer read is on its way: it decides */
  if (stamp.generation != vm->generation) {
    /* an operation or an event since the read began: what it saw may be
     * older than what they left */
    g_debug("%s: read %u is stale; reading again", vm->name, stamp.serial);
    wv_vm_refresh(vm);
    return;
  }
  apply_info(vm, info);
  if (!wv_vm_state_is_active(vm->info.state) && vm->info.state != WV_VM_STATE_UNKNOWN)
    vm_stopped(vm); /* may free vm: last */
}

/* ---- refresh -------------------------------------------------------------- */

typedef struct
{
  WvVm *vm; /* held: Reload may have removed it meanwhile */
  char *name;
  WvLibvirtLease *lease;
  WvVmReadStamp stamp;
} RefreshData;

static void vm_release(WvVm *vm);

static void
refresh_data_free(RefreshData *d)
{
  vm_release(d->vm);
  wv_libvirt_lease_free(d->lease);
  g_free(d->name);
  g_free(d);
}

static void
refresh_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  RefreshData *d = data;
  GError *error = NULL;
  virConnectPtr conn = wv_libvirt_lease_conn(d->lease, &error);
  WvDomainInfo *info = conn ? wv_domain_info_read(conn, d->name, &error) : NULL;

  if (info)
    g_task_return_pointer(task, info, (GDestroyNotify)wv_domain_info_free);
  else
    g_task_return_error(task, error);
}

static void
refresh_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  RefreshData *d = g_task_get_task_data(G_TASK(result));
  g_autoptr(GError) error = NULL;
  WvDomainInfo *info = g_task_propagate_pointer(G_TASK(result), &error);
  WvVm *vm = d->vm;

  if (info == NULL) {
    if (!vm->removed)
      g_debug("%s: refresh failed: %s", d->name, error->message);
    return;
  }
  wv_vm_read_apply(vm, d->stamp, info);
  wv_domain_info_free(info);
}

void
wv_vm_refresh(WvVm *vm)
{
  g_autoptr(GTask) task = NULL;
  RefreshData *d;
  WvLibvirtLease *lease = wv_libvirt_lease(vm->ctx->libvirt, NULL);

  if (lease == NULL)
    return;
  d = g_new0(RefreshData, 1);
  d->vm = vm;
  vm->holds++;
  d->name = g_strdup(vm->name);
  d->lease = lease;
  d->stamp = wv_vm_read_begin(vm);
  task = g_task_new(NULL, NULL, refresh_done, NULL);
  g_task_set_task_data(task, d, (GDestroyNotify)refresh_data_free);
  wv_worker_run(task, refresh_thread);
}

/* ---- operations ------------------------------------------------------------
 *
 * An Op carries one operation from its entry point (main thread, after the
 * face validated and authorized the call) through the libvirt work (a
 * worker thread: it only touches the Op's own copies) to @done (main
 * thread).
 */

typedef void (*OpRun)(Op *op, GError **error);

/* What one operation does. */
typedef struct
{
  gboolean lifecycle;    /* one at a time per VM */
  void (*begin)(Op *op); /* main thread, once the lock is taken */
  OpRun run;             /* worker thread, for begin_in_worker */
  WvVmState final_state; /* libvirt's state once begin_in_worker succeeded */
} Method;

struct _Op
{
  WvVm *vm;
  const Method *method;
  /* for the worker */
  char *name;
  WvProfile *profile;
  WvConfig *config;
  WvLibvirtLease *lease;
  virConnectPtr conn; /* the lease's, in the worker */
  guint index;
  guint timeout_s;
  WvVmAction action;   /* for wv_vm_act */
  WvTuneTarget target; /* for a pin */
  gboolean autostart;  /* for set-autostart */
  WvCpuset *set;
  WvHostShutdownPolicy policy;
  guint stopped_serial;
  gboolean stopped;           /* the worker saw the domain stop */
  gboolean locked;            /* holds the VM's lifecycle lock */
  gboolean ran;               /* got past validation and authorization */
  WvVmState transition;       /* set while this Op runs; UNKNOWN: none */
  WvVmState final_state;      /* libvirt's state once it succeeded; UNKNOWN: as libvirt says */
  WvStopLadder stop;          /* a Shutdown's ladder */
  guint ladder_serial;        /* its number, when it is the VM's ladder */
  guint step_source;          /* the ladder's next step */
  GMainContext *main_context; /* a Start's: where its progress goes */
  WvVmDone done;
  gpointer done_data;
};

static Op *
op_new(WvVm *vm, const Method *method, WvVmDone done, gpointer data)
{
  Op *op = g_new0(Op, 1);

  op->vm = vm;
  op->method = method;
  op->done = done;
  op->done_data = data;
  op->name = g_strdup(vm->name);
  op->profile = wv_profile_ref(vm->profile);
  op->config = wv_config_ref(vm->ctx->config);
  vm->calls++;
  return op;
}

static void
op_free(Op *op)
{
  op->vm->calls--;
  g_free(op->name);
  wv_profile_unref(op->profile);
  wv_config_unref(op->config);
  wv_libvirt_lease_free(op->lease);
  wv_cpuset_free(op->set);
  if (op->main_context)
    g_main_context_unref(op->main_context);
  g_free(op);
}

/* Takes the VM's lifecycle lock, or fails with Busy. */
static gboolean
take_lock(Op *op, GError **error)
{
  if (op->vm->busy) {
    g_set_error(error, WV_ERROR, WV_ERROR_BUSY, "“%s” is busy with another call", op->name);
    return FALSE;
  }
  op->vm->busy = op->locked = TRUE;
  return TRUE;
}

static void shutdown_begin(Op *op);

/* Reports to @done and ends the Op. */
static void
op_finish(Op *op, GError *error)
{
  WvVm *vm = op->vm;
  GPtrArray *deferred = NULL;

  if (op->locked)
    vm->busy = FALSE;
  if (vm->graceful == op)
    vm->graceful = NULL;
  g_clear_handle_id(&op->step_source, wv_source_remove);
  if (vm->start_step != WV_HUGEPAGES_STEP_NONE && op->transition == WV_VM_STATE_STARTING) {
    vm->start_step = WV_HUGEPAGES_STEP_NONE;
    changed(vm);
  }
  if (vm->ladder == op) {
    vm->ladder = NULL;
    if (vm->stop_step != WV_STOP_STEP_NONE) {
      vm->stop_step = WV_STOP_STEP_NONE;
      changed(vm);
    }
  }
  bump(vm); /* a read begun before the operation ended is stale */
  /* the final state goes out before the reply does, so the caller's next
   * call sees it (libvirt's event may come later) */
  if ((op->transition && vm->transition == op->transition) || (error == NULL && op->final_state)) {
    if (op->transition && vm->transition == op->transition)
      vm->transition = WV_VM_STATE_UNKNOWN;
    if (error == NULL && op->final_state) {
      vm->info.state = op->final_state;
    }
    changed(vm);
  }
  if (op->transition == WV_VM_STATE_STARTING && vm->after_start->len > 0) {
    deferred = vm->after_start;
    vm->after_start = g_ptr_array_new();
  }
  /* pins saved, Autostart set, a domain defined: before the reply, so
   * the caller's next Plan sees it */
  if (op->ran && vm->ctx->plans)
    wv_plan_cache_invalidate(vm->ctx->plans);
  if (op->done)
    op->done(vm, error, op->done_data);
  if (op->ran)
    wv_vm_refresh(vm);
  op_free(op);
  for (guint i = 0; deferred && i < deferred->len; i++)
    shutdown_begin(deferred->pdata[i]);
  g_clear_pointer(&deferred, g_ptr_array_unref);
}

static void
begin_transition(Op *op, WvVmState transition)
{

  op->transition = transition;
  op->vm->transition = transition;
  changed(op->vm);
}

static void
op_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Op *op = data;
  OpRun run = g_object_get_data(G_OBJECT(task), "run");
  GError *error = NULL;

  if ((op->conn = wv_libvirt_lease_conn(op->lease, &error)) != NULL)
    run(op, &error);
  if (error)
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
}

static void
op_thread_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;

  g_task_propagate_boolean(G_TASK(result), &error);
  op_finish(op, error);
}

/* The connection to libvirt went while the Op waited for libvirt: its
 * caller hears it now; the worker may stay blocked until libvirtd answers,
 * and the Op ends (and frees the VM's lock) only then. */
static void
op_lost(gpointer data, gpointer unused)
{
  Op *op = data;
  g_autoptr(GError) error =
      g_error_new(WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE,
                  "the connection to libvirt was lost while “%s” waited for it", op->name);
  WvVmDone done = g_steal_pointer(&op->done);

  if (done)
    done(op->vm, error, op->done_data);
}

static gboolean
take_lease(Op *op, GError **error)
{
  if ((op->lease = wv_libvirt_lease(op->vm->ctx->libvirt, error)) == NULL)
    return FALSE;
  wv_libvirt_lease_on_lost(op->lease, op_lost, op);
  return TRUE;
}

/* Runs @run in a worker thread with a libvirt connection, then finishes. */
static void
op_run_in_thread(Op *op, OpRun run, GAsyncReadyCallback done)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  bump(op->vm); /* its libvirt work begins: reads begun before are stale */
  if (op->lease == NULL && !take_lease(op, &error)) {
    if (done == op_thread_done) {
      op_finish(op, error);
      g_error_free(error);
      return;
    }
    task = g_task_new(NULL, NULL, done, op);
    g_task_return_error(task, error);
    return;
  }
  task = g_task_new(NULL, NULL, done, op);
  g_task_set_task_data(task, op, NULL);
  g_object_set_data(G_OBJECT(task), "run", run);
  wv_worker_run(task, op_thread);
}

static void
begin_in_worker(Op *op)
{
  op->ran = TRUE;
  if (op->method->final_state)
    op->final_state = op->method->final_state;
  op_run_in_thread(op, op->method->run, op_thread_done);
}

/* ---- Start ---------------------------------------------------------------- */

typedef struct
{
  WvVm *vm;
  WvHugepagesStep step;
} StartStepNote;

static gboolean
start_step_apply(gpointer data)
{
  StartStepNote *n = data;

  if (n->vm->start_step != n->step) {
    n->vm->start_step = n->step;
    changed(n->vm);
  }
  return G_SOURCE_REMOVE;
}

/* worker: what the reservation does, to the main thread (StartStep). An
 * idle source, never a direct call (g_main_context_invoke() would run it
 * here whenever it could take the context). It is queued before this thread
 * queues the Op's completion, at the same priority, so it runs while the Op
 * (and so the VM) is still there. */
static void
start_progress(WvHugepagesStep step, gpointer data)
{
  Op *op = data;
  StartStepNote *n = g_new(StartStepNote, 1);
  g_autoptr(GSource) idle = g_idle_source_new();

  n->vm = op->vm;
  n->step = step;
  g_source_set_priority(idle, G_PRIORITY_DEFAULT);
  g_source_set_callback(idle, start_step_apply, n, g_free);
  g_source_set_static_name(idle, "[winvm] StartStep");
  g_source_attach(idle, op->main_context);
}

/* The pool of @page_kib pages on @node, else the global one. */
static const WvHugepagePool *
start_pool(const WvHost *host, guint64 page_kib, gint node)
{
  const WvHugepagePool *pool = NULL;

  if (node >= 0)
    pool = wv_host_hugepages(host, page_kib, node);
  return pool ? pool : wv_host_hugepages(host, page_kib, -1);
}

/* Sets @plan to back memory with @page_kib pages, @reserve of them added. */
static void
plan_pages(WvPlan *plan, const WvProfile *p, guint64 page_kib, guint64 reserve)
{
  plan->hugepage_kib = page_kib;
  plan->hugepages_needed = p->memory_kib / page_kib;
  plan->hugepages_reserve = reserve;
}

/* worker: [memory] hugepages-fallback after @why (the 1G pool fell short,
 * rolled back): the 2M pages instead, @plan changed to them. */
static WvReservation *
reserve_fallback(Op *op, WvPlan *plan, const WvHost *host, const WvHugepagesHow *how,
                 const GError *why, GError **error)
{
  guint64 kib = plan->hugepage_fallback_kib;
  const char *size = wv_page_size_name(kib);
  const WvHugepagePool *pool = start_pool(host, kib, plan->numa_node);
  guint64 needed = op->profile->memory_kib / kib;
  guint64 reserve;
  WvReservation *r;

  if (pool == NULL || wv_host_hugetlbfs(host, kib) == NULL) {
    g_set_error(error, WV_ERROR, WV_ERROR_HUGEPAGES_SHORT, "%s; cannot fall back to %s pages: %s",
                why->message, size,
                pool == NULL ? "this kernel offers none" : "no hugetlbfs is mounted for them");
    return NULL;
  }
  reserve = needed > pool->free ? needed - pool->free : 0;
  wv_log_vm(op->name, G_LOG_LEVEL_WARNING,
            "%s; falling back to %s pages (hugepages-fallback), reserving %" G_GUINT64_FORMAT,
            why->message, size, reserve);
  r = wv_hugepages_reserve(op->config->runtime_dir, op->name, pool->nr_path, kib, pool->node,
                           reserve, how, error);
  if (r == NULL) {
    g_prefix_error(error, "%s; falling back to %s pages: ", why->message, size);
    return NULL;
  }
  plan_pages(plan, op->profile, kib, r->added);
  return r;
}

/* worker: the pages @plan needs, reserved (NULL without an error: none to
 * reserve). The pool compacts memory when it falls short; with [memory]
 * hugepages-fallback it may end up with 2M pages instead of 1G: @plan then
 * says so, *@changed is set and the domain must be rendered from it again. */
static WvReservation *
reserve_pages(Op *op, WvPlan *plan, const WvHost *host, gboolean *changed, GError **error)
{
  g_autofree char *compact = g_build_filename(
      op->config->proc_root ? op->config->proc_root : "/proc", "sys/vm/compact_memory", NULL);
  WvHugepagesHow how = {compact, start_progress, op};
  const WvHugepagePool *pool;
  g_autoptr(GError) local = NULL;
  WvReservation *r;

  *changed = FALSE;
  if (plan->hugepages_reserve == 0)
    return NULL;
  pool = start_pool(host, plan->hugepage_kib, plan->numa_node);
  if (pool == NULL) { /* the plan said it exists */
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "the hugepage pool vanished");
    return NULL;
  }
  wv_log_vm(op->name, G_LOG_LEVEL_INFO, "reserving %" G_GUINT64_FORMAT " %s hugepages",
            plan->hugepages_reserve, wv_page_size_name(plan->hugepage_kib));
  r = wv_hugepages_reserve(op->config->runtime_dir, op->name, pool->nr_path, plan->hugepage_kib,
                           pool->node, plan->hugepages_reserve, &how, &local);
  if (r != NULL && r->page_kib != plan->hugepage_kib) {
    /* a record a previous daemon left for this VM, of the other size */
    if (r->page_kib == plan->hugepage_fallback_kib) {
      plan_pages(plan, op->profile, r->page_kib, r->added);
      *changed = TRUE;
      return r;
    }
    wv_reservation_free(r);
    if (!wv_hugepages_release(op->config->runtime_dir, op->name, error))
      return NULL;
    r = wv_hugepages_reserve(op->config->runtime_dir, op->name, pool->nr_path, plan->hugepage_kib,
                             pool->node, plan->hugepages_reserve, &how, &local);
  }
  if (r != NULL)
    return r;
  if (g_error_matches(local, WV_ERROR, WV_ERROR_HUGEPAGES_SHORT) &&
      plan->hugepage_fallback_kib != 0) {
    r = reserve_fallback(op, plan, host, &how, local, error);
    *changed = r != NULL;
    return r;
  }
  g_propagate_error(error, g_steal_pointer(&local));
  return NULL;
}

/* worker: gives back what a Start reserved when it fails after that */
static void
start_unreserve(Op *op)
{
  g_autoptr(GError) error = NULL;

  if (!wv_hugepages_release(op->config->runtime_dir, op->name, &error))
    g_warning("%s: %s", op->name, error->message);
}

static void
start_run(Op *op, GError **error)
{
  g_autoptr(WvHost) host = NULL;
  g_autoptr(WvPlan) plan =
      wv_preflight(op->config, op->profile, op->conn, WV_PREFLIGHT_DEFAULT, &host);
  g_autoptr(WvReservation) reservation = NULL;
  g_autofree char *xml = NULL;
  GError *local = NULL;
  gboolean replanned = FALSE;

  if (!wv_plan_check(plan, error)) {
    wv_log_vm(op->name, G_LOG_LEVEL_WARNING, "preflight failed: %s", (*error)->message);
    return;
  }
  if ((xml = wv_domain_render(op->conn, op->name, op->profile, plan, error)) == NULL)
    return;

  reservation = reserve_pages(op, plan, host, &replanned, &local);
  if (local) {
    g_propagate_error(error, local);
    return;
  }
  if (replanned) { /* the domain gets the pages that were had */
    g_clear_pointer(&xml, g_free);
    if ((xml = wv_domain_render(op->conn, op->name, op->profile, plan, error)) == NULL) {
      start_unreserve(op);
      return;
    }
  }
  /* the host steps aside before the vCPUs run; never a reason not to start */
  wv_isolate_vm_start(op->config->isolate, op->name, plan);
  if (!wv_domain_define_and_start(op->conn, xml, error)) {
    if (reservation)
      start_unreserve(op);
    wv_isolate_vm_stop(op->config->isolate, op->name);
    return;
  }
  if (replanned)
    wv_log_vm(op->name, G_LOG_LEVEL_MESSAGE, "started with %s hugepages",
              wv_page_size_name(plan->hugepage_kib));
  else
    wv_log_vm(op->name, G_LOG_LEVEL_MESSAGE, "started");
}

static void
start_begin(Op *op)
{
  GError *error = NULL;

  if (!take_lease(op, &error)) {
    op_finish(op, error);
    g_error_free(error);
    return;
  }
  if (wv_vm_is_running(op->vm)) { /* the worker checks again */
    error = g_error_new(WV_ERROR, WV_ERROR_FAILED, "“%s” is already running", op->name);
    op_finish(op, error);
    g_error_free(error);
    return;
  }
  op->final_state = WV_VM_STATE_RUNNING;
  op->main_context = g_main_context_ref_thread_default();
  g_free(op->vm->started_etag);
  op->vm->started_etag = g_strdup(op->profile->etag);
  begin_transition(op, WV_VM_STATE_STARTING);
  begin_in_worker(op);
}

/* ---- Shutdown ------------------------------------------------------------- */

static void
waiter_finish(StopWaiter *w, const GError *error)
{
  g_clear_handle_id(&w->source, wv_source_remove);
  w->done(w->vm, error, w->data);
  g_free(w);
}

static void
set_stop_step(WvVm *vm, WvStopStep step)
{
  if (vm->stop_step == step)
    return;
  vm->stop_step = step;
  changed(vm);
}

/* How @op's stop ended: LastStop, and one structured record saying how
 * and in how many seconds. */
static void
record_stop(Op *op, WvStopEnd end)
{
  WvVm *vm = op->vm;
  WvStopResult r = {end, op->stop.presses,
                    (double)(g_get_monotonic_time() - op->stop.started_us) / G_USEC_PER_SEC};
  g_autofree char *how = wv_stop_result_describe(&r);
  g_autofree char *presses = g_strdup_printf("%u", r.presses);
  g_autofree char *secs = g_strdup_printf("%.1f", r.seconds);

  /* forced at the deadline, overtaken or failed: worth a warning */
  gboolean bad = end == WV_STOP_END_OVERTAKEN || end == WV_STOP_END_FAILED ||
                 (end == WV_STOP_END_DESTROYED && op->policy != WV_HOST_SHUTDOWN_DESTROY);

  vm->last_stop = r;
  g_log_structured(G_LOG_DOMAIN, bad ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE, "WINVM_VM",
                   vm->name, "WINVM_STOP", wv_stop_end_name(end), "WINVM_PRESSES", presses,
                   "WINVM_AGENT_ASKED", op->stop.agent_asked ? "yes" : "no", "WINVM_SECONDS", secs,
                   "MESSAGE", "%s: %s", vm->name, how);
  changed(vm);
}

/* worker */
static void
destroy_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = wv_domain_lookup(op->conn, op->name, error);

  if (dom && virDomainIsActive(dom) == 1)
    wv_domain_check(virDomainDestroy(dom), "cannot force it off", error);
}

/* worker: managed save at the deadline; the next Start resumes it */
static void
save_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = wv_domain_lookup(op->conn, op->name, error);

  if (dom && virDomainIsActive(dom) == 1)
    wv_domain_check(virDomainManagedSave(dom, 0), "cannot save it", error);
}

static void
forced_off(GObject *source, GAsyncResult *result, gpointer data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) timeout = NULL;

  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    record_stop(op, WV_STOP_END_FAILED);
    op_finish(op, error);
    return;
  }
  record_stop(op, WV_STOP_END_DESTROYED);
  timeout =
      g_error_new(WV_ERROR, WV_ERROR_TIMEOUT,
                  "“%s” did not shut down within %u s and was forced off", op->name, op->timeout_s);
  op_finish(op, timeout);
}

static void
saved_at_deadline(GObject *source, GAsyncResult *result, gpointer data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    record_stop(op, WV_STOP_END_FAILED);
    op_finish(op, error);
    return;
  }
  record_stop(op, WV_STOP_END_SAVED);
  op->final_state = WV_VM_STATE_SAVED; /* before the reply: libvirt's event may come later */
  op_finish(op, NULL);
}

/* @op no longer waits for the stop event (@from_timer: its own deadline
 * fired, so its timer is gone already). */
static void
stop_waiting(Op *op, gboolean from_timer)
{
  WvVm *vm = op->vm;

  for (guint i = 0; i < vm->waiters->len; i++) {
    StopWaiter *w = vm->waiters->pdata[i];
    if (w->data == op) {
      if (from_timer)
        w->source = 0;
      g_clear_handle_id(&w->source, wv_source_remove);
      g_ptr_array_remove_index(vm->waiters, i);
      g_free(w);
      break;
    }
  }
}

/* The deadline: the profile's on-timeout (destroy or managed save). The Op
 * acting on it says how the stop ended. */
static gboolean
shutdown_deadline(gpointer data)
{
  Op *op = data;
  WvVm *vm = op->vm;
  gboolean save = op->stop.on_timeout == WV_ON_TIMEOUT_SAVE;

  stop_waiting(op, TRUE);
  g_clear_handle_id(&op->step_source, wv_source_remove);
  if (vm->graceful == op)
    vm->graceful = NULL; /* forcing now: nothing left to overtake */
  if (vm->ladder && vm->ladder != op)
    g_clear_handle_id(&vm->ladder->step_source, wv_source_remove);
  vm->ladder = op;
  op->stop.step = save ? WV_STOP_STEP_SAVING : WV_STOP_STEP_FORCING;
  set_stop_step(vm, op->stop.step);
  wv_vm_log(vm, G_LOG_LEVEL_WARNING, "did not shut down within %u s; %s", op->timeout_s,
            save ? "saving it (managed save)" : "forcing it off");
  op_run_in_thread(op, save ? save_run : destroy_run, save ? saved_at_deadline : forced_off);
  return G_SOURCE_REMOVE;
}

/* A ForceOff overtakes a Shutdown that waits for the guest: the way out of
 * a stuck shutdown is always open. The Shutdown's caller hears so at once
 * and the lifecycle lock passes to the ForceOff. */
static void
overtake_graceful(WvVm *vm)
{
  Op *op = vm->graceful;
  g_autoptr(GError) error =
      g_error_new(WV_ERROR, WV_ERROR_CANCELLED,
                  "the shutdown of “%s” was overtaken by a forced power-off", op->name);

  wv_vm_log(vm, G_LOG_LEVEL_MESSAGE, "ForceOff overtakes the pending shutdown");
  stop_waiting(op, FALSE);
  if (vm->ladder == op)
    record_stop(op, WV_STOP_END_OVERTAKEN);
  op_finish(op, error);
}

static void
stopped_in_time(WvVm *vm, const GError *error, gpointer data)
{
  Op *op = data;

  if (vm->ladder == op)
    record_stop(op, wv_stop_ladder_end(&op->stop));
  op_finish(op, NULL);
}

/* ---- the stop ladder: one libvirt call per step, each a job of its own
 * (the agent's may block up to 60 s; the ladder goes on without it) */

typedef struct
{
  WvVm *vm; /* held */
  char *name;
  WvLibvirtLease *lease;
  WvStopAction action;
  guint ladder_serial;
  gboolean stopped; /* found off */
} StepJob;

static void
step_job_free(StepJob *j)
{
  vm_release(j->vm);
  wv_libvirt_lease_free(j->lease);
  g_free(j->name);
  g_free(j);
}

/* worker */
static void
step_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  StepJob *j = data;
  GError *error = NULL;
  virConnectPtr conn = wv_libvirt_lease_conn(j->lease, &error);
  g_autoptr(virDomain) dom = conn ? wv_domain_lookup(conn, j->name, &error) : NULL;

  if (dom && virDomainIsActive(dom) != 1)
    j->stopped = TRUE;
  else if (dom && j->action == WV_STOP_ASK_AGENT)
    wv_domain_shutdown_agent(dom, &error);
  else if (dom)
    wv_domain_shutdown(dom, WV_HOST_SHUTDOWN_SHUTDOWN, &j->stopped, &error);
  if (error)
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
}

static void ladder_step(Op *op);

static void
step_done(GObject *source, GAsyncResult *result, gpointer data)
{
  StepJob *j = g_task_get_task_data(G_TASK(result));
  WvVm *vm = j->vm;
  g_autoptr(GError) error = NULL;
  Op *op;

  g_task_propagate_boolean(G_TASK(result), &error);
  if (vm->removed)
    return;
  op = vm->ladder && vm->ladder->ladder_serial == j->ladder_serial ? vm->ladder : NULL;
  wv_vm_refresh(vm); /* off now, perhaps: a current read says so */
  if (error == NULL)
    return;
  if (j->action == WV_STOP_ASK_AGENT) {
    wv_vm_log(vm, G_LOG_LEVEL_INFO, "%s", error->message);
    if (op && op->stop.step == WV_STOP_STEP_AGENT)
      ladder_step(op); /* the next step now */
  } else {
    wv_vm_log(vm, G_LOG_LEVEL_WARNING, "%s", error->message);
  }
}

static void
step_job_run(Op *op, WvStopAction action)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  WvLibvirtLease *lease = wv_libvirt_lease(op->vm->ctx->libvirt, &error);
  StepJob *j;

  if (lease == NULL) {
    wv_vm_log(op->vm, G_LOG_LEVEL_WARNING, "cannot ask it to stop: %s", error->message);
    return;
  }
  j = g_new0(StepJob, 1);
  j->vm = op->vm;
  op->vm->holds++;
  j->name = g_strdup(op->name);
  j->lease = lease;
  j->action = action;
  j->ladder_serial = op->ladder_serial;
  task = g_task_new(NULL, NULL, step_done, NULL);
  g_task_set_task_data(task, j, (GDestroyNotify)step_job_free);
  wv_worker_run(task, step_thread);
}

static gboolean
ladder_timer(gpointer data)
{
  Op *op = data;

  op->step_source = 0;
  ladder_step(op);
  return G_SOURCE_REMOVE;
}

/* Takes the ladder's next step, and comes back when it says. */
static void
ladder_step(Op *op)
{
  WvVm *vm = op->vm;
  gint64 now = g_get_monotonic_time(), wake;
  WvStopAction action;

  g_clear_handle_id(&op->step_source, wv_source_remove);
  action = wv_stop_ladder_next(&op->stop, vm->info.agent_connected, now, &wake);
  if (action == WV_STOP_FORCE || action == WV_STOP_SAVE)
    return; /* the deadline's own timer acts */
  set_stop_step(vm, op->stop.step);
  switch (action) {
    case WV_STOP_ASK_AGENT:
      wv_vm_log(vm, G_LOG_LEVEL_INFO, "asking the guest agent to shut it down");
      step_job_run(op, action);
      break;
    case WV_STOP_PRESS_ACPI:
      wv_vm_log(vm, G_LOG_LEVEL_INFO, "pressing the ACPI power button (%u)", op->stop.presses);
      step_job_run(op, action);
      break;
    case WV_STOP_WAIT: /* nothing left to ask: the deadline comes */
    case WV_STOP_FORCE:
    case WV_STOP_SAVE:
    default:
      break;
  }
  if (wake < op->stop.deadline_us)
    op->step_source = wv_timeout_add((guint)((wake - now + 999) / 1000), ladder_timer, op);
}

/* The ladder of a graceful Shutdown (policy shutdown): the deadline is set
 * now; the ladder asks the guest unless another Shutdown's ladder does
 * already, in which case this one only waits (with its own deadline). */
static void
ladder_begin(Op *op)
{
  WvVm *vm = op->vm;
  GError *error = NULL;
  StopWaiter *w;

  if (op->lease == NULL && !take_lease(op, &error)) {
    op_finish(op, error);
    g_error_free(error);
    return;
  }
  bump(vm);
  wv_stop_ladder_init(&op->stop, op->profile, op->timeout_s, g_get_monotonic_time());
  if (vm->transition == WV_VM_STATE_UNKNOWN)
    begin_transition(op, WV_VM_STATE_SHUTTING_DOWN);
  w = g_new0(StopWaiter, 1);
  w->vm = vm;
  w->done = stopped_in_time;
  w->data = op;
  w->timeout_s = op->timeout_s;
  w->source = wv_timeout_add(op->timeout_s * 1000, shutdown_deadline, op);
  g_ptr_array_add(vm->waiters, w);
  if (op->locked)
    vm->graceful = op;
  if (vm->ladder == NULL) {
    vm->ladder = op;
    op->ladder_serial = ++vm->ladder_serial;
    ladder_step(op);
  }
}

/* worker: managed save or destroy, by host-shutdown policy */
static void
shutdown_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = wv_domain_lookup(op->conn, op->name, error);

  if (dom == NULL)
    return;
  if (virDomainIsActive(dom) != 1) {
    op->stopped = TRUE;
    return;
  }
  wv_domain_shutdown(dom, op->policy, &op->stopped, error);
}

static void
shutdown_sent(GObject *source, GAsyncResult *result, gpointer data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    op_finish(op, error);
    return;
  }
  /* off: say so before the reply, as libvirt's event may come later (the
   * caller's next read must not see it running) */
  op->final_state = op->policy == WV_HOST_SHUTDOWN_SAVE ? WV_VM_STATE_SAVED : WV_VM_STATE_SHUT_OFF;
  record_stop(op, op->policy == WV_HOST_SHUTDOWN_SAVE ? WV_STOP_END_SAVED : WV_STOP_END_DESTROYED);
  op_finish(op, NULL);
}

static void
shutdown_begin(Op *op)
{
  op->ran = TRUE;
  if (op->vm->transition == WV_VM_STATE_STARTING) {
    g_ptr_array_add(op->vm->after_start, op); /* once it runs, or failed to */
    return;
  }
  /* "unknown" (libvirt away) goes on, to fail with LibvirtUnavailable */
  if (!wv_vm_is_running(op->vm) && op->vm->info.state != WV_VM_STATE_UNKNOWN) {
    op_finish(op, NULL); /* already off */
    return;
  }
  op->stopped_serial = op->vm->stopped_serial;
  if (op->policy != WV_HOST_SHUTDOWN_SHUTDOWN) {
    wv_vm_log(op->vm, G_LOG_LEVEL_MESSAGE, "shutting down (%s)",
              op->policy == WV_HOST_SHUTDOWN_SAVE ? "managed save" : "destroy");
    op->stop.started_us = g_get_monotonic_time();
    op_run_in_thread(op, shutdown_run, shutdown_sent);
    return;
  }
  {
    g_autoptr(GString) methods = g_string_new(NULL);

    for (guint i = 0; i < op->profile->n_shutdown_methods; i++)
      g_string_append_printf(methods, "%s%s", i ? "," : "",
                             op->profile->shutdown_methods[i] == WV_STOP_METHOD_AGENT ? "agent"
                                                                                      : "acpi");
    wv_vm_log(op->vm, G_LOG_LEVEL_MESSAGE, "shutting down (%s, then %s at %u s)", methods->str,
              op->profile->on_timeout == WV_ON_TIMEOUT_SAVE ? "managed save" : "destroy",
              op->timeout_s);
  }
  ladder_begin(op);
}

void
wv_vm_shutdown(WvVm *vm, WvHostShutdownPolicy policy, guint timeout_s, WvVmDone done, gpointer data)
{
  Op *op = op_new(vm, NULL, done, data);

  op->policy = policy;
  op->timeout_s = timeout_s ? timeout_s : vm->profile->shutdown_timeout_s;
  shutdown_begin(op);
}

/* ---- the rest of the lifecycle -------------------------------------------- */

/* worker */
static void
action_run(Op *op, GError **error)
{
  gboolean acted;

  if (!wv_domain_act(op->conn, op->name, op->action, &acted, error))
    return;
  if (op->action == WV_VM_FORCE_OFF && !acted)
    op->final_state = WV_VM_STATE_UNKNOWN; /* already off: whatever libvirt says stays */
  else if (op->action == WV_VM_FORCE_OFF)
    wv_log_vm(op->name, G_LOG_LEVEL_MESSAGE, "forced off");
}

/* ---- tuning ---------------------------------------------------------------- */

gboolean
wv_vm_check_pin(WvVm *vm, WvTuneTarget target, guint index, GError **error)
{
  guint32 vcpus = vm->info.exists ? vm->info.vcpus : vm->profile->vcpus;
  guint iothreads = vm->profile->iothreads;

  switch (target) {
    case WV_TUNE_VCPU:
      if (index >= vcpus) {
        g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "“%s” has vCPUs 0 to %u, not %u",
                    vm->name, vcpus - 1, index);
        return FALSE;
      }
      return TRUE;
    case WV_TUNE_IOTHREAD:
      if (index < 1 || index > iothreads) {
        if (iothreads == 0)
          g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "“%s” has no I/O threads", vm->name);
        else
          g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                      "“%s” has I/O threads 1 to %u, not %u", vm->name, iothreads, index);
        return FALSE;
      }
      return TRUE;
    case WV_TUNE_EMULATOR:
      return TRUE;
    default:
      g_assert_not_reached();
  }
}

/* worker: libvirt first, so a refused pin is never saved */
static void
pin_run(Op *op, GError **error)
{
  g_autoptr(WvHost) host = wv_preflight_host(op->config, NULL);
  g_autoptr(virDomain) dom = NULL;
  g_autofree char *set = wv_cpuset_format(op->set);
  WvTuneTarget target = op->target;

  for (guint i = 0; host && i < op->set->n; i++) {
    if (!wv_cpuset_contains(host->online, op->set->cpus[i])) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                  "CPU %u is not an online CPU of this host", op->set->cpus[i]);
      return;
    }
  }
  {
    GError *local = NULL;
    gboolean foreign;

    dom = wv_libvirt_lookup_ours(op->conn, op->name, &foreign, &local);
    if (local) {
      g_propagate_error(error, local);
      return;
    }
  }
  if (dom && virDomainIsActive(dom) == 1 && !wv_domain_pin(dom, target, op->index, op->set, error))
    return;
  /* every later start defines the domain with it */
  if (!wv_tuning_save(op->config->state_dir, op->name, target, op->index, op->set, error))
    return;
  wv_log_vm(op->name, G_LOG_LEVEL_INFO, "%s %u pinned to %s",
            target == WV_TUNE_VCPU       ? "vCPU"
            : target == WV_TUNE_IOTHREAD ? "I/O thread"
                                         : "emulator",
            op->index, set);
}

/* ---- Autostart ------------------------------------------------------------- */

/* worker: change the one line of [vm] autostart */
static void
set_autostart_run(Op *op, GError **error)
{
  wv_profile_set_value(op->profile->path, "vm", "autostart", op->autostart ? "true" : "false",
                       error);
}

static void
autostart_saved(GObject *source, GAsyncResult *result, gpointer data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;

  if (g_task_propagate_boolean(G_TASK(result), &error)) {
    op->vm->profile->autostart = op->autostart;
    changed(op->vm);
    wv_vm_log(op->vm, G_LOG_LEVEL_INFO, "autostart %s", op->autostart ? "on" : "off");
  }
  op_finish(op, error);
}

static void
set_autostart_begin(Op *op)
{
  op->ran = TRUE;
  op_run_in_thread(op, set_autostart_run, autostart_saved);
}

/* ---- entry points -------------------------------------------------------------- */

static const Method start_method = {TRUE, start_begin, start_run, WV_VM_STATE_UNKNOWN};
static const Method stop_method = {TRUE, shutdown_begin, NULL, WV_VM_STATE_UNKNOWN};
static const Method action_methods[] = {
    [WV_VM_FORCE_OFF] = {TRUE, begin_in_worker, action_run, WV_VM_STATE_SHUT_OFF},
    [WV_VM_REBOOT] = {TRUE, begin_in_worker, action_run, WV_VM_STATE_UNKNOWN},
    [WV_VM_SUSPEND] = {TRUE, begin_in_worker, action_run, WV_VM_STATE_PAUSED},
    [WV_VM_RESUME] = {TRUE, begin_in_worker, action_run, WV_VM_STATE_RUNNING},
};
static const Method pin_method = {FALSE, begin_in_worker, pin_run, WV_VM_STATE_UNKNOWN};
static const Method set_autostart_method = {FALSE, set_autostart_begin, NULL, WV_VM_STATE_UNKNOWN};

/* Takes the lifecycle lock when the method wants it, and starts. */
static void
op_begin(Op *op)
{
  g_autoptr(GError) error = NULL;

  if (op->method == &action_methods[WV_VM_FORCE_OFF] && op->vm->graceful)
    overtake_graceful(op->vm);
  if (op->method->lifecycle && !take_lock(op, &error)) {
    op_finish(op, error);
    return;
  }
  op->method->begin(op);
}

void
wv_vm_start(WvVm *vm, WvVmDone done, gpointer data)
{
  op_begin(op_new(vm, &start_method, done, data));
}

void
wv_vm_stop(WvVm *vm, guint timeout_s, WvVmDone done, gpointer data)
{
  Op *op = op_new(vm, &stop_method, done, data);

  op->policy = WV_HOST_SHUTDOWN_SHUTDOWN;
  op->timeout_s = timeout_s ? timeout_s : vm->profile->shutdown_timeout_s;
  op_begin(op);
}

void
wv_vm_act(WvVm *vm, WvVmAction action, WvVmDone done, gpointer data)
{
  Op *op;

  g_return_if_fail((guint)action < G_N_ELEMENTS(action_methods));
  op = op_new(vm, &action_methods[action], done, data);
  op->action = action;
  op_begin(op);
}

void
wv_vm_pin(WvVm *vm, WvTuneTarget target, guint index, const WvCpuset *set, WvVmDone done,
          gpointer data)
{
  Op *op = op_new(vm, &pin_method, done, data);

  op->target = target;
  op->index = index;
  op->set = wv_cpuset_copy(set);
  op_begin(op);
}

void
wv_vm_set_autostart(WvVm *vm, gboolean autostart, WvVmDone done, gpointer data)
{
  Op *op = op_new(vm, &set_autostart_method, done, data);

  op->autostart = autostart;
  op_begin(op);
}

/* ---- libvirt events ---------------------------------------------------------- */

static void
release_pages(WvVm *vm)
{
  g_autoptr(WvReservation) r = wv_hugepages_lookup(vm->ctx->config->runtime_dir, vm->name);
  g_autoptr(GError) error = NULL;

  if (r == NULL)
    return;
  /* a quick sysfs write: shrinking never compacts memory */
  if (wv_hugepages_release(vm->ctx->config->runtime_dir, vm->name, &error))
    wv_vm_log(vm, G_LOG_LEVEL_INFO, "released %" G_GUINT64_FORMAT " hugepages", r->added);
  else
    wv_vm_log(vm, G_LOG_LEVEL_WARNING, "cannot release hugepages: %s", error->message);
}

/* A current read says the domain is stopped (shut off, saved, crashed or
 * gone): the Shutdowns waiting for it are done and, unless a lifecycle call
 * (a Start reserving them) is under way, its hugepages go back. */
static void
vm_stopped(WvVm *vm)
{
  vm->stopped_serial++;
  g_clear_pointer(&vm->started_etag, g_free);
  while (vm->waiters->len > 0)
    waiter_finish(g_ptr_array_steal_index(vm->waiters, 0), NULL);
  if (!vm->busy) {
    release_pages(vm);
    /* systemd calls and sysfs writes: in a worker */
    wv_isolate_vm_stop_async(vm->ctx->config->isolate, vm->name);
  }
  if (vm->ctx->stopped)
    vm->ctx->stopped(vm->ctx->data, vm);
}

void
wv_vm_lifecycle(WvVm *vm, int event, int detail)
{
  g_debug("%s: lifecycle event %d/%d", vm->name, event, detail);
  bump(vm);
  wv_vm_refresh(vm); /* state, UUID, pins, memory... */
}

/* ---- life of the object -------------------------------------------------------- */

WvVm *
wv_vm_new(const WvVmContext *ctx, WvProfile *profile)
{
  WvVm *vm = g_new0(WvVm, 1);

  vm->ctx = ctx;
  vm->profile = profile;
  vm->name = g_strdup(profile->name);
  vm->info.state =
      wv_libvirt_is_connected(ctx->libvirt) ? WV_VM_STATE_UNDEFINED : WV_VM_STATE_UNKNOWN;
  vm->waiters = g_ptr_array_new();
  vm->after_start = g_ptr_array_new();
  return vm;
}

gboolean
wv_vm_busy(WvVm *vm)
{
  return vm->busy || vm->calls > 0 || vm->waiters->len > 0;
}

void
wv_vm_free(WvVm *vm)
{
  if (vm == NULL)
    return;
  vm->changed = NULL;
  while (vm->waiters->len > 0) {
    StopWaiter *w = g_ptr_array_steal_index(vm->waiters, 0);
    g_clear_handle_id(&w->source, wv_source_remove);
    g_free(w);
  }
  g_ptr_array_unref(vm->waiters);
  if (vm->ladder)
    g_clear_handle_id(&vm->ladder->step_source, wv_source_remove);
  g_ptr_array_unref(vm->after_start); /* Ops in it are freed with their tasks */
  wv_domain_info_clear(&vm->info);
  wv_profile_unref(vm->profile);
  g_clear_pointer(&vm->started_etag, g_free);
  vm->removed = TRUE;
  vm->holds++;
  vm_release(vm);
}

static void
vm_release(WvVm *vm)
{
  if (--vm->holds > 0 || !vm->removed)
    return;
  g_free(vm->name);
  g_free(vm);
}
