/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * org.winvm1.VM: one object per profile. State lives here, on the main
 * thread; libvirt calls run in GTask threads on copies of what they need.
 */
#include "config.h"

#include "wv-auth.h"
#include "wv-common.h"
#include "wv-dbus.h"
#include "wv-domain.h"
#include "wv-vm-object.h"
#include "wv-hugepages.h"
#include "wv-preflight.h"
#include "wv-render.h"
#include "wv-tuning.h"
#include "wv-xml.h"

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

struct _WvVm
{
  const WvVmContext *ctx;
  guint holds;      /* refreshes in flight: the struct outlives wv_vm_free() */
  gboolean removed; /* wv_vm_free() was called */
  WvProfile *profile;
  char *name;
  char *path;
  gboolean exported;
  WvDomainInfo info;
  WvDBusProperties props; /* what was last announced */
  gboolean busy;          /* a lifecycle call is running */
  WvVmState transition;   /* STARTING, SHUTTING_DOWN over libvirt's state; UNKNOWN: none */
  GPtrArray *after_start; /* Op*: shutdowns asked for while starting */
  guint calls;            /* Ops in flight: the object must outlive them */
  guint stopped_serial;   /* counts stop events */
  guint refresh_serial;   /* newest refresh asked for */
  GPtrArray *waiters;     /* StopWaiter*: Shutdown calls waiting for the stop */
};

const char *
wv_vm_name(WvVm *vm)
{
  return vm->name;
}

const char *
wv_vm_path(WvVm *vm)
{
  return vm->path;
}

const WvProfile *
wv_vm_profile(WvVm *vm)
{
  return vm->profile;
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

static GVariant *
profile_hostdevs(const WvProfile *p)
{
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
  for (guint i = 0; i < p->hostdevs->len; i++) {
    const WvHostdev *h = p->hostdevs->pdata[i];
    for (guint f = 0; f < h->functions->len; f++) {
      const WvPciAddress *a = &g_array_index(h->functions, WvPciAddress, f);
      g_autofree char *s = wv_pci_address_to_string(a);
      g_variant_builder_add(&b, "s", s);
    }
  }
  return g_variant_builder_end(&b);
}

static GVariant *
get_name(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_string(vm->name);
}

static GVariant *
get_uuid(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_string(vm->info.uuid ? vm->info.uuid : "");
}

static GVariant *
get_state(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_string(wv_vm_state_name(vm->transition ? vm->transition : vm->info.state));
}

static GVariant *
get_vcpus(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_uint32(vm->info.exists ? vm->info.vcpus : vm->profile->vcpus);
}

static GVariant *
get_memory_kib(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_uint64(vm->info.exists ? vm->info.memory_kib : vm->profile->memory_kib);
}

static GVariant *
get_vcpu_pins(gpointer object)
{
  WvVm *vm = object;

  return vm->info.vcpu_pins ? g_variant_ref(vm->info.vcpu_pins) : g_variant_new("a(us)", NULL);
}

static GVariant *
get_iothread_pins(gpointer object)
{
  WvVm *vm = object;

  return vm->info.iothread_pins ? g_variant_ref(vm->info.iothread_pins)
                                : g_variant_new("a(us)", NULL);
}

static GVariant *
get_emulator_pin(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_string(vm->info.emulator_pin ? vm->info.emulator_pin : "");
}

static GVariant *
get_hugepages(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_string(vm->info.exists ? vm->info.hugepages
                                              : wv_page_size_name(vm->profile->hugepage_kib));
}

static GVariant *
get_host_devices(gpointer object)
{
  WvVm *vm = object;

  return vm->info.exists ? g_variant_new_strv((const char *const *)vm->info.hostdevs, -1)
                         : profile_hostdevs(vm->profile);
}

static GVariant *
get_autostart(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_boolean(vm->profile->autostart);
}

static GVariant *
get_shutdown_timeout(gpointer object)
{
  WvVm *vm = object;

  return g_variant_new_uint32(vm->profile->shutdown_timeout_s);
}

static const WvDBusProperty vm_properties[] = {
    {"Name", get_name},
    {"UUID", get_uuid},
    {"State", get_state},
    {"VCPUs", get_vcpus},
    {"MemoryKiB", get_memory_kib},
    {"VCPUPins", get_vcpu_pins},
    {"IOThreadPins", get_iothread_pins},
    {"EmulatorPin", get_emulator_pin},
    {"Hugepages", get_hugepages},
    {"HostDevices", get_host_devices},
    {"Autostart", get_autostart},
    {"ShutdownTimeout", get_shutdown_timeout},
    {NULL, NULL},
};

/* Borrowed: valid until the VM changes. */
GVariant *
wv_vm_get_all(WvVm *vm)
{
  return wv_dbus_properties_get_all(&vm->props, vm);
}

/* A property may have changed: announce what did. */
static void
changed(WvVm *vm)
{
  wv_dbus_properties_update(&vm->props, vm, vm->exported ? vm->ctx->bus : NULL, vm->path,
                            WV_VM_INTERFACE);
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

  wv_profile_free(vm->profile);
  vm->profile = profile;
  changed(vm);
}

void
wv_vm_set_unknown(WvVm *vm)
{
  set_state(vm, WV_VM_STATE_UNKNOWN);
}

/* ---- refresh -------------------------------------------------------------- */

typedef struct
{
  WvVm *vm; /* held: Reload may have removed it meanwhile */
  char *name;
  virConnectPtr conn;
  guint serial;
} RefreshData;

static void vm_release(WvVm *vm);

static void
refresh_data_free(RefreshData *d)
{
  vm_release(d->vm);
  virConnectClose(d->conn);
  g_free(d->name);
  g_free(d);
}

static void
refresh_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  RefreshData *d = data;
  GError *error = NULL;
  WvDomainInfo *info = wv_domain_info_read(d->conn, d->name, &error);

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

  if (vm->removed) {
    g_clear_pointer(&info, wv_domain_info_free);
    return;
  }
  if (info == NULL) {
    g_debug("%s: refresh failed: %s", d->name, error->message);
    return;
  }
  /* only the newest refresh counts; older ones may carry older state */
  if (d->serial == vm->refresh_serial)
    apply_info(vm, info);
  wv_domain_info_free(info);
}

void
wv_vm_refresh(WvVm *vm)
{
  g_autoptr(GTask) task = NULL;
  RefreshData *d;
  virConnectPtr conn = wv_libvirt_get(vm->ctx->libvirt, NULL);

  if (conn == NULL)
    return;
  d = g_new0(RefreshData, 1);
  d->vm = vm;
  vm->holds++;
  d->name = g_strdup(vm->name);
  d->conn = conn;
  d->serial = ++vm->refresh_serial;
  task = g_task_new(NULL, NULL, refresh_done, NULL);
  g_task_set_task_data(task, d, (GDestroyNotify)refresh_data_free);
  g_task_run_in_thread(task, refresh_thread);
}

/* ---- operations ------------------------------------------------------------
 *
 * An Op carries one call through validation (main thread), authorization
 * (async polkit), the libvirt work (a worker thread: it only touches the
 * Op's own copies) and the reply (main thread).
 */

typedef struct _Op Op;
typedef void (*OpRun)(Op *op, GError **error);

/* What one operation does; a WvDBusMethod's data. */
typedef struct
{
  gboolean lifecycle; /* one at a time per VM */
  gboolean (*prepare)(Op *op, GVariant *params, GError **error);
  void (*start)(Op *op); /* main thread, after authorization */
  OpRun run;             /* worker thread, for the default start */
  WvVmState final_state; /* libvirt's state once the default start succeeded */
} Method;

struct _Op
{
  WvVm *vm;
  const Method *method;
  GDBusMethodInvocation *invocation;
  /* for the worker */
  char *name;
  WvProfile *profile;
  WvConfig *config;
  virConnectPtr conn;
  guint index;
  guint timeout_s;
  gboolean flag;
  WvCpuset *set;
  WvHostShutdownPolicy policy;
  guint stopped_serial;
  gboolean stopped;      /* the worker saw the domain stop */
  gboolean locked;       /* holds the VM's lifecycle lock */
  gboolean ran;          /* got past validation and authorization */
  WvVmState transition;  /* set while this Op runs; UNKNOWN: none */
  WvVmState final_state; /* libvirt's state once it succeeded; UNKNOWN: as libvirt says */
  /* for internal callers (ShutdownAll) instead of an invocation */
  WvVmDone done;
  gpointer done_data;
};

static Op *
op_new(WvVm *vm, const Method *method, GDBusMethodInvocation *invocation)
{
  Op *op = g_new0(Op, 1);

  op->vm = vm;
  op->method = method;
  op->invocation = invocation ? g_object_ref(invocation) : NULL;
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
  g_clear_object(&op->invocation);
  g_free(op->name);
  wv_profile_free(op->profile);
  wv_config_unref(op->config);
  if (op->conn)
    virConnectClose(op->conn);
  wv_cpuset_free(op->set);
  g_free(op);
}

/* Replies (or reports to the internal caller) and ends the Op. */
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

static void shutdown_start(Op *op);

static void
op_finish(Op *op, GError *error)
{
  WvVm *vm = op->vm;
  GPtrArray *deferred = NULL;

  if (op->locked)
    vm->busy = FALSE;
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
  if (op->invocation) {
    if (error)
      g_dbus_method_invocation_return_gerror(op->invocation, error);
    else
      g_dbus_method_invocation_return_value(op->invocation, NULL);
  }
  if (op->done)
    op->done(vm, error, op->done_data);
  if (op->ran)
    wv_vm_refresh(vm);
  op_free(op);
  for (guint i = 0; deferred && i < deferred->len; i++)
    shutdown_start(deferred->pdata[i]);
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

/* Runs @run in a worker thread with a libvirt connection, then finishes. */
static void
op_run_in_thread(Op *op, OpRun run, GAsyncReadyCallback done)
{
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  if (op->conn == NULL && (op->conn = wv_libvirt_get(op->vm->ctx->libvirt, &error)) == NULL) {
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
  g_task_run_in_thread(task, op_thread);
}

static void
default_start(Op *op)
{
  op->ran = TRUE;
  if (op->method->final_state)
    op->final_state = op->method->final_state;
  op_run_in_thread(op, op->method->run, op_thread_done);
}

/* ---- Start ---------------------------------------------------------------- */

static WvReservation *
reserve_pages(Op *op, const WvPlan *plan, const WvHost *host, GError **error)
{
  const WvHugepagePool *pool = NULL;

  if (plan->hugepages_reserve == 0)
    return NULL;
  if (plan->numa_node >= 0)
    pool = wv_host_hugepages(host, plan->hugepage_kib, plan->numa_node);
  if (pool == NULL)
    pool = wv_host_hugepages(host, plan->hugepage_kib, -1);
  if (pool == NULL) { /* the plan said it exists */
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "the hugepage pool vanished");
    return NULL;
  }
  wv_log_vm(op->name, G_LOG_LEVEL_INFO, "reserving %" G_GUINT64_FORMAT " hugepages",
            plan->hugepages_reserve);
  return wv_hugepages_reserve(op->config->runtime_dir, op->name, pool->nr_path, plan->hugepage_kib,
                              pool->node, plan->hugepages_reserve, error);
}

static void
start_run(Op *op, GError **error)
{
  g_autoptr(WvHost) host = NULL;
  g_autoptr(WvPlan) plan =
      wv_preflight(op->config, op->profile, op->conn, WV_PREFLIGHT_DEFAULT, &host);
  g_autoptr(virDomain) old = NULL;
  g_autoptr(virDomain) dom = NULL;
  g_autoptr(xmlDoc) doc = NULL;
  g_autoptr(WvReservation) reservation = NULL;
  g_autofree char *xml = NULL;
  GError *local = NULL;

  if (!wv_plan_check(plan, error)) {
    wv_log_vm(op->name, G_LOG_LEVEL_WARNING, "preflight failed: %s", (*error)->message);
    return;
  }
  old = virDomainLookupByName(op->conn, op->name);
  if (old && virDomainIsActive(old) == 1) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "“%s” is already running", op->name);
    return;
  }
  doc = wv_render(op->profile, plan, error);
  if (doc == NULL)
    return;
  if (old) {
    g_autofree char *old_xml = virDomainGetXMLDesc(old, VIR_DOMAIN_XML_INACTIVE);
    if (old_xml == NULL) {
      wv_libvirt_set_error(error, WV_ERROR_FAILED, "cannot read the existing definition");
      return;
    }
    if (!wv_render_keep_identity(doc, old_xml, error))
      return;
  }
  xml = wv_xml_doc_to_string(doc);

  reservation = reserve_pages(op, plan, host, &local);
  if (local) {
    g_propagate_error(error, local);
    return;
  }
  dom = virDomainDefineXML(op->conn, xml);
  if (dom == NULL || virDomainCreate(dom) < 0) {
    wv_libvirt_set_error(error, WV_ERROR_FAILED, dom ? "cannot start" : "cannot define");
    if (reservation && !wv_hugepages_release(op->config->runtime_dir, op->name, &local)) {
      g_warning("%s: %s", op->name, local->message);
      g_clear_error(&local);
    }
    return;
  }
  wv_log_vm(op->name, G_LOG_LEVEL_MESSAGE, "started");
}

static void
start_start(Op *op)
{
  GError *error = NULL;

  if ((op->conn = wv_libvirt_get(op->vm->ctx->libvirt, &error)) == NULL) {
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
  begin_transition(op, WV_VM_STATE_STARTING);
  default_start(op);
}

/* ---- Shutdown ------------------------------------------------------------- */

static void
waiter_finish(StopWaiter *w, const GError *error)
{
  g_clear_handle_id(&w->source, g_source_remove);
  w->done(w->vm, error, w->data);
  g_free(w);
}

/* worker */
static void
destroy_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = wv_domain_lookup(op->conn, op->name, error);

  if (dom && virDomainIsActive(dom) == 1)
    wv_domain_check(virDomainDestroy(dom), "cannot force it off", error);
}

static void
forced_off(GObject *source, GAsyncResult *result, gpointer data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) timeout = NULL;

  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    op_finish(op, error);
    return;
  }
  wv_log_vm(op->name, G_LOG_LEVEL_WARNING, "did not shut down within %u s; forced off",
            op->timeout_s);
  timeout =
      g_error_new(WV_ERROR, WV_ERROR_TIMEOUT,
                  "“%s” did not shut down within %u s and was forced off", op->name, op->timeout_s);
  op_finish(op, timeout);
}

static gboolean
shutdown_deadline(gpointer data)
{
  Op *op = data;
  WvVm *vm = op->vm;

  /* this Op no longer waits for the stop event */
  for (guint i = 0; i < vm->waiters->len; i++) {
    StopWaiter *w = vm->waiters->pdata[i];
    if (w->data == op) {
      w->source = 0;
      g_ptr_array_remove_index(vm->waiters, i);
      g_free(w);
      break;
    }
  }
  op_run_in_thread(op, destroy_run, forced_off);
  return G_SOURCE_REMOVE;
}

static void
stopped_in_time(WvVm *vm, const GError *error, gpointer data)
{
  Op *op = data;

  wv_vm_log(vm, G_LOG_LEVEL_MESSAGE, "shut down");
  op_finish(op, NULL);
}

/* worker: press the ACPI power button (or save / destroy by policy) */
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
  WvVm *vm = op->vm;
  g_autoptr(GError) error = NULL;
  StopWaiter *w;

  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    op_finish(op, error);
    return;
  }
  if (op->stopped || vm->stopped_serial != op->stopped_serial) {
    op_finish(op, NULL);
    return;
  }
  if (vm->transition == WV_VM_STATE_UNKNOWN)
    begin_transition(op, WV_VM_STATE_SHUTTING_DOWN);
  w = g_new0(StopWaiter, 1);
  w->vm = vm;
  w->done = stopped_in_time;
  w->data = op;
  w->timeout_s = op->timeout_s;
  w->source = g_timeout_add(op->timeout_s * 1000, shutdown_deadline, op);
  g_ptr_array_add(vm->waiters, w);
}

static void
shutdown_start(Op *op)
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
  wv_vm_log(op->vm, G_LOG_LEVEL_MESSAGE, "shutting down (%s, timeout %u s)",
            op->policy == WV_HOST_SHUTDOWN_SHUTDOWN ? "ACPI"
            : op->policy == WV_HOST_SHUTDOWN_SAVE   ? "managed save"
                                                    : "destroy",
            op->timeout_s);
  op_run_in_thread(op, shutdown_run, shutdown_sent);
}

static gboolean
shutdown_prepare(Op *op, GVariant *params, GError **error)
{
  guint32 timeout;

  g_variant_get(params, "(u)", &timeout);
  if (timeout > 86400) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "a timeout of %u s is longer than a day",
                timeout);
    return FALSE;
  }
  op->timeout_s = timeout ? timeout : op->profile->shutdown_timeout_s;
  op->policy = WV_HOST_SHUTDOWN_SHUTDOWN;
  return TRUE;
}

void
wv_vm_shutdown(WvVm *vm, WvHostShutdownPolicy policy, guint timeout_s, WvVmDone done, gpointer data)
{
  Op *op = op_new(vm, NULL, NULL);

  op->policy = policy;
  op->timeout_s = timeout_s ? timeout_s : vm->profile->shutdown_timeout_s;
  op->done = done;
  op->done_data = data;
  shutdown_start(op);
}

/* ---- the rest of the lifecycle -------------------------------------------- */

static void
force_off_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = virDomainLookupByName(op->conn, op->name);

  if (dom == NULL) { /* never defined: it is off, and stays "undefined" */
    op->final_state = WV_VM_STATE_UNKNOWN;
    if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
      wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, "cannot look the domain up");
    return;
  }
  if (virDomainIsActive(dom) != 1)
    op->final_state = WV_VM_STATE_UNKNOWN; /* already off: whatever libvirt says stays */
  if (virDomainIsActive(dom) == 1 &&
      wv_domain_check(virDomainDestroy(dom), "cannot force it off", error))
    wv_log_vm(op->name, G_LOG_LEVEL_MESSAGE, "forced off");
}

static void
reboot_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = wv_domain_lookup(op->conn, op->name, error);

  if (dom)
    wv_domain_check(virDomainReboot(dom, 0), "cannot reboot", error);
}

static void
suspend_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = wv_domain_lookup(op->conn, op->name, error);

  if (dom)
    wv_domain_check(virDomainSuspend(dom), "cannot suspend", error);
}

static void
resume_run(Op *op, GError **error)
{
  g_autoptr(virDomain) dom = wv_domain_lookup(op->conn, op->name, error);

  if (dom)
    wv_domain_check(virDomainResume(dom), "cannot resume", error);
}

/* ---- tuning ---------------------------------------------------------------- */

static gboolean
parse_cpuset_arg(Op *op, const char *text, GError **error)
{
  op->set = wv_cpuset_parse(text, error);
  return op->set != NULL;
}

static gboolean
pin_vcpu_prepare(Op *op, GVariant *params, GError **error)
{
  const char *text;
  guint32 vcpus = op->vm->info.exists ? op->vm->info.vcpus : op->profile->vcpus;

  g_variant_get(params, "(u&s)", &op->index, &text);
  if (op->index >= vcpus) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "“%s” has vCPUs 0 to %u, not %u", op->name,
                vcpus - 1, op->index);
    return FALSE;
  }
  op->flag = WV_TUNE_VCPU;
  return parse_cpuset_arg(op, text, error);
}

static gboolean
pin_iothread_prepare(Op *op, GVariant *params, GError **error)
{
  const char *text;

  g_variant_get(params, "(u&s)", &op->index, &text);
  if (op->index < 1 || op->index > op->profile->iothreads) {
    if (op->profile->iothreads == 0)
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "“%s” has no I/O threads", op->name);
    else
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "“%s” has I/O threads 1 to %u, not %u",
                  op->name, op->profile->iothreads, op->index);
    return FALSE;
  }
  op->flag = WV_TUNE_IOTHREAD;
  return parse_cpuset_arg(op, text, error);
}

static gboolean
pin_emulator_prepare(Op *op, GVariant *params, GError **error)
{
  const char *text;

  g_variant_get(params, "(&s)", &text);
  op->flag = WV_TUNE_EMULATOR;
  return parse_cpuset_arg(op, text, error);
}

/* worker: libvirt first, so a refused pin is never saved */
static void
pin_run(Op *op, GError **error)
{
  g_autoptr(WvHost) host = wv_preflight_host(op->config, NULL);
  g_autoptr(virDomain) dom = NULL;
  g_autofree char *set = wv_cpuset_format(op->set);

  for (guint i = 0; host && i < op->set->n; i++) {
    if (!wv_cpuset_contains(host->online, op->set->cpus[i])) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                  "CPU %u is not an online CPU of this host", op->set->cpus[i]);
      return;
    }
  }
  dom = virDomainLookupByName(op->conn, op->name);
  if (dom && virDomainIsActive(dom) == 1 &&
      !wv_domain_pin(dom, (WvTuneTarget)op->flag, op->index, op->set, error))
    return;
  /* every later start defines the domain with it */
  if (!wv_tuning_save(op->config->state_dir, op->name, (WvTuneTarget)op->flag, op->index, op->set,
                      error))
    return;
  wv_log_vm(op->name, G_LOG_LEVEL_INFO, "%s %u pinned to %s",
            op->flag == WV_TUNE_VCPU       ? "vCPU"
            : op->flag == WV_TUNE_IOTHREAD ? "I/O thread"
                                           : "emulator",
            op->index, set);
}

/* ---- Autostart (org.freedesktop.DBus.Properties.Set) ---------------------- */

static gboolean
set_property_prepare(Op *op, GVariant *params, GError **error)
{
  const char *iface, *prop;
  g_autoptr(GVariant) value = NULL;

  g_variant_get(params, "(&s&sv)", &iface, &prop, &value);
  if (!g_str_equal(iface, WV_VM_INTERFACE) || !wv_dbus_property_exists(vm_properties, prop)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "no property %s.%s", iface, prop);
    return FALSE;
  }
  if (!g_str_equal(prop, "Autostart")) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "%s is read-only", prop);
    return FALSE;
  }
  if (!g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "Autostart is a boolean, not %s",
                g_variant_get_type_string(value));
    return FALSE;
  }
  op->flag = g_variant_get_boolean(value);
  return TRUE;
}

/* worker: change the one line of [vm] autostart */
static void
set_autostart_run(Op *op, GError **error)
{
  wv_profile_set_value(op->profile->path, "vm", "autostart", op->flag ? "true" : "false", error);
}

static void
autostart_saved(GObject *source, GAsyncResult *result, gpointer data)
{
  Op *op = data;
  g_autoptr(GError) error = NULL;

  if (g_task_propagate_boolean(G_TASK(result), &error)) {
    op->vm->profile->autostart = op->flag;
    changed(op->vm);
    wv_vm_log(op->vm, G_LOG_LEVEL_INFO, "autostart %s", op->flag ? "on" : "off");
  }
  op_finish(op, error);
}

static void
set_autostart_start(Op *op)
{
  op->ran = TRUE;
  op_run_in_thread(op, set_autostart_run, autostart_saved);
}

/* ---- dispatch --------------------------------------------------------------- */

static const Method start_method = {TRUE, NULL, start_start, start_run, WV_VM_STATE_UNKNOWN};
static const Method shutdown_method = {TRUE, shutdown_prepare, shutdown_start, NULL,
                                       WV_VM_STATE_UNKNOWN};
static const Method force_off_method = {TRUE, NULL, default_start, force_off_run,
                                        WV_VM_STATE_SHUT_OFF};
static const Method reboot_method = {TRUE, NULL, default_start, reboot_run, WV_VM_STATE_UNKNOWN};
static const Method suspend_method = {TRUE, NULL, default_start, suspend_run, WV_VM_STATE_PAUSED};
static const Method resume_method = {TRUE, NULL, default_start, resume_run, WV_VM_STATE_RUNNING};
static const Method pin_vcpu_method = {FALSE, pin_vcpu_prepare, default_start, pin_run,
                                       WV_VM_STATE_UNKNOWN};
static const Method pin_iothread_method = {FALSE, pin_iothread_prepare, default_start, pin_run,
                                           WV_VM_STATE_UNKNOWN};
static const Method pin_emulator_method = {FALSE, pin_emulator_prepare, default_start, pin_run,
                                           WV_VM_STATE_UNKNOWN};
static const Method set_property_method = {FALSE, set_property_prepare, set_autostart_start, NULL,
                                           WV_VM_STATE_UNKNOWN};

void
wv_vm_start(WvVm *vm, WvVmDone done, gpointer data)
{
  Op *op = op_new(vm, &start_method, NULL);
  g_autoptr(GError) error = NULL;

  op->done = done;
  op->done_data = data;
  if (!take_lock(op, &error)) {
    op_finish(op, error);
    return;
  }
  start_start(op);
}

/* main thread: the Op, or NULL when @params do not do */
static gpointer
op_prepare(gpointer object, const WvDBusMethod *dbus_method, GVariant *params,
           GDBusMethodInvocation *invocation, GError **error)
{
  const Method *m = dbus_method->data;
  Op *op = op_new(object, m, invocation);

  if (m->prepare && !m->prepare(op, params, error)) {
    op_free(op);
    return NULL;
  }
  return op;
}

/* main thread, authorized */
static void
op_start(gpointer call)
{
  Op *op = call;
  g_autoptr(GError) error = NULL;

  /* the lock is taken only now: a caller waiting for polkit (or for a
   * password) holds nothing */
  if (op->method->lifecycle && !take_lock(op, &error)) {
    op_finish(op, error);
    return;
  }
  op->method->start(op);
}

static void
op_refuse(gpointer call, GError *error)
{
  op_finish(call, error);
  g_error_free(error);
}

static const WvDBusMethod vm_methods[] = {
    {"Start", WV_ACTION_LIFECYCLE, op_prepare, op_start, op_refuse, &start_method},
    {"Shutdown", WV_ACTION_LIFECYCLE, op_prepare, op_start, op_refuse, &shutdown_method},
    {"ForceOff", WV_ACTION_LIFECYCLE, op_prepare, op_start, op_refuse, &force_off_method},
    {"Reboot", WV_ACTION_LIFECYCLE, op_prepare, op_start, op_refuse, &reboot_method},
    {"Suspend", WV_ACTION_LIFECYCLE, op_prepare, op_start, op_refuse, &suspend_method},
    {"Resume", WV_ACTION_LIFECYCLE, op_prepare, op_start, op_refuse, &resume_method},
    {"PinVCPU", WV_ACTION_TUNE, op_prepare, op_start, op_refuse, &pin_vcpu_method},
    {"PinIOThread", WV_ACTION_TUNE, op_prepare, op_start, op_refuse, &pin_iothread_method},
    {"PinEmulator", WV_ACTION_TUNE, op_prepare, op_start, op_refuse, &pin_emulator_method},
};

/* org.freedesktop.DBus.Properties.Set comes here: it is authorized
 * asynchronously like a method */
static const WvDBusMethod vm_properties_methods[] = {
    {"Set", WV_ACTION_TUNE, op_prepare, op_start, op_refuse, &set_property_method},
};

static void
method_call(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
            const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  if (g_str_equal(iface, "org.freedesktop.DBus.Properties"))
    wv_dbus_dispatch(vm_properties_methods, G_N_ELEMENTS(vm_properties_methods), data, method,
                     params, invocation);
  else
    wv_dbus_dispatch(vm_methods, G_N_ELEMENTS(vm_methods), data, method, params, invocation);
}

static GVariant *
get_property(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *name, GError **error, gpointer data)
{
  return wv_dbus_property_get(vm_properties, data, name, error);
}

static const GDBusInterfaceVTable vm_vtable = {
    .method_call = method_call,
    .get_property = get_property,
    .set_property = NULL, /* routed to method_call: Set is authorized asynchronously */
};

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

void
wv_vm_lifecycle(WvVm *vm, int event, int detail)
{
  WvVmState state;

  if (wv_domain_state_after_event(event, detail, &state)) {
    set_state(vm, state);
    if (event == VIR_DOMAIN_EVENT_STOPPED) {
      vm->stopped_serial++;
      release_pages(vm);
      while (vm->waiters->len > 0)
        waiter_finish(g_ptr_array_steal_index(vm->waiters, 0), NULL);
    }
  }
  wv_vm_refresh(vm); /* UUID, pins, memory... */
}

/* ---- life of the object -------------------------------------------------------- */

WvVm *
wv_vm_new(const WvVmContext *ctx, WvProfile *profile)
{
  WvVm *vm = g_new0(WvVm, 1);

  vm->ctx = ctx;
  vm->profile = profile;
  vm->name = g_strdup(profile->name);
  {
    g_autofree char *escaped = g_dbus_escape_object_path(profile->name);
    vm->path = g_strconcat(WV_VM_PATH_PREFIX "/", escaped, NULL);
  }
  vm->info.state =
      wv_libvirt_is_connected(ctx->libvirt) ? WV_VM_STATE_UNDEFINED : WV_VM_STATE_UNKNOWN;
  vm->waiters = g_ptr_array_new();
  vm->after_start = g_ptr_array_new();
  vm->props.table = vm_properties;
  wv_vm_get_all(vm); /* what later changes are told against */
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
  wv_vm_unexport(vm);
  while (vm->waiters->len > 0) {
    StopWaiter *w = g_ptr_array_steal_index(vm->waiters, 0);
    g_clear_handle_id(&w->source, g_source_remove);
    g_free(w);
  }
  g_ptr_array_unref(vm->waiters);
  g_ptr_array_unref(vm->after_start); /* Ops in it are freed with their tasks */
  wv_domain_info_clear(&vm->info);
  wv_dbus_properties_clear(&vm->props);
  wv_profile_free(vm->profile);
  g_free(vm->path);
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

const GDBusInterfaceVTable *
wv_vm_vtable(void)
{
  return &vm_vtable;
}

void
wv_vm_export(WvVm *vm)
{
  vm->exported = TRUE;
}

gboolean
wv_vm_is_exported(WvVm *vm)
{
  return vm->exported;
}

void
wv_vm_unexport(WvVm *vm)
{
  vm->exported = FALSE;
}

void
wv_vm_info_apply(WvVm *vm, WvDomainInfo *info)
{
  vm->refresh_serial++; /* anything older in flight is stale now */
  apply_info(vm, info);
  /* it stopped while we were not looking (daemon restart, libvirtd down) */
  if (!wv_vm_is_running(vm) && !wv_vm_busy(vm))
    release_pages(vm);
}
