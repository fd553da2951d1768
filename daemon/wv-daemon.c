/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The service core: profiles become VMs (a reload keeps a VM whose profile
 * broke, and one that is busy), and libvirt's state is mirrored into them.
 * What happens is reported through WvDaemonCallbacks; the core names no
 * D-Bus object, autostart or shutdown.
 */
#include "config.h"

#include "wv-common.h"
#include "wv-worker.h"
#include "wv-daemon.h"
#include "wv-host-cache.h"
#include "wv-isolate.h"
#include "wv-template.h"
#include "wv-preflight.h"

#define REPORT(daemon, what, ...)                                                                  \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if ((daemon)->callbacks && (daemon)->callbacks->what)                                          \
      (daemon)->callbacks->what((daemon)->callbacks_data, ##__VA_ARGS__);                          \
  }                                                                                                \
  G_STMT_END

static gint
compare_names(gconstpointer a, gconstpointer b)
{
  return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
wv_daemon_vm_names(WvDaemon *daemon)
{
  GPtrArray *names = g_ptr_array_sized_new(g_hash_table_size(daemon->vms));
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init(&iter, daemon->vms);
  while (g_hash_table_iter_next(&iter, &key, NULL))
    g_ptr_array_add(names, key);
  g_ptr_array_sort(names, compare_names);
  return names;
}

WvVm *
wv_daemon_get_vm(WvDaemon *daemon, const char *name)
{
  return g_hash_table_lookup(daemon->vms, name);
}

WvVm *
wv_daemon_lookup(WvDaemon *daemon, const char *name, GError **error)
{
  WvVm *vm;

  if (!wv_name_is_valid(name)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "“%.80s%s” is not a valid VM name", name,
                strlen(name) > 80 ? "…" : "");
    return NULL;
  }
  vm = g_hash_table_lookup(daemon->vms, name);
  if (vm == NULL)
    g_set_error(error, WV_ERROR, WV_ERROR_NOT_FOUND, "no VM named “%s”", name);
  return vm;
}

/* ---- profiles ------------------------------------------------------------- */

/* ProfileErrors (anybody may read it) and Reload's answer (to a caller
 * polkit allowed to manage the service) hold at most this many messages;
 * the journal has them all. Each file says at most 20 things (wv-profile.c),
 * so both stay far below the bus's message limit. */
#define WV_MAX_PROFILE_ERRORS 64

/* The first WV_MAX_PROFILE_ERRORS of @messages, through @filter when given. */
static GPtrArray *
bounded_messages(GPtrArray *messages, char *(*filter)(const char *))
{
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; i < messages->len && i < WV_MAX_PROFILE_ERRORS; i++)
    g_ptr_array_add(out, filter ? filter(messages->pdata[i]) : g_strdup(messages->pdata[i]));
  if (messages->len > WV_MAX_PROFILE_ERRORS)
    g_ptr_array_add(out, g_strdup_printf("… and %u more (see the journal)",
                                         messages->len - WV_MAX_PROFILE_ERRORS));
  return out;
}

/* Sets ProfileErrors, with no quoted file content, and returns Reload's
 * answer. */
static GPtrArray *
set_profile_errors(WvDaemon *daemon, GPtrArray *messages)
{
  g_ptr_array_unref(daemon->profile_errors);
  daemon->profile_errors = bounded_messages(messages, wv_profile_error_public);
  REPORT(daemon, changed);
  return bounded_messages(messages, NULL);
}

static void
remove_vm(WvDaemon *daemon, WvVm *vm)
{
  g_autofree char *name = g_strdup(wv_vm_name(vm));

  g_message("%s: profile removed", name);
  REPORT(daemon, vm_removed, vm);
  g_hash_table_remove(daemon->orphans, name);
  g_hash_table_remove(daemon->vms, name); /* the domain is left alone */
}

static void drop_stopped_orphans(WvDaemon *daemon);

static gboolean
retry_orphans(gpointer data)
{
  WvDaemon *daemon = data;

  daemon->orphan_retry = 0;
  drop_stopped_orphans(daemon);
  return G_SOURCE_REMOVE;
}

/* VMs kept only because they ran when their profile went: gone once
 * stopped (and once the call that stopped them has answered). */
static void
drop_stopped_orphans(WvDaemon *daemon)
{
  guint n = 0;
  g_autofree char **names = NULL;

  if (g_hash_table_size(daemon->orphans) == 0)
    return;
  /* copies: removing a VM removes its name from the set */
  names = (char **)g_hash_table_get_keys_as_array(daemon->orphans, &n);
  for (guint i = 0; i < n; i++)
    names[i] = g_strdup(names[i]);
  for (guint i = 0; i < n; i++) {
    g_autofree char *name = names[i];
    WvVm *vm = g_hash_table_lookup(daemon->vms, name);

    if (vm == NULL)
      g_hash_table_remove(daemon->orphans, name);
    else if (!wv_vm_is_running(vm) && !wv_vm_busy(vm))
      remove_vm(daemon, vm);
    else if (!wv_vm_is_running(vm) && daemon->orphan_retry == 0)
      daemon->orphan_retry = wv_timeout_add(100, retry_orphans, daemon);
  }
}

GPtrArray *
wv_daemon_reload(WvDaemon *daemon)
{
  g_autoptr(GPtrArray) errors = NULL;
  g_autoptr(GHashTable) profiles = wv_profile_load_dir(daemon->config->config_dir, &errors);
  g_autoptr(GHashTable) broken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);
  GHashTableIter iter;
  gpointer key, value;

  wv_plan_cache_invalidate(daemon->plans);                   /* templates, winvm.conf: read again */
  wv_host_cache_forget_topology(daemon->config->host_cache); /* and the hardware */
  wv_templates_forget(daemon->config->templates);
  if (profiles == NULL) {
    /* The directory is gone or untrusted: a rename or an unmounted disk must
     * not drop every VM (running ones would no longer be shut down with the
     * host, nor their hugepages given back). Keep them all and say why. */
    const GError *e = errors->pdata[0];

    g_warning("%s; keeping the %u VMs already known", e->message, g_hash_table_size(daemon->vms));
    g_ptr_array_add(messages, g_strdup(e->message));
    return set_profile_errors(daemon, messages);
  }

  /* A profile that broke keeps its VM and last good settings: a typo in an
   * edit must not make a running VM vanish. Its file name is its key. */
  for (guint i = 0; i < errors->len; i++) {
    const GError *e = errors->pdata[i];
    const char *colon = strstr(e->message, ".conf:");

    g_ptr_array_add(messages, g_strdup(e->message));
    g_warning("%s", e->message);
    if (colon) {
      g_autofree char *path = g_strndup(e->message, (gsize)(colon - e->message) + 5);
      g_hash_table_add(broken, g_path_get_basename(path));
    }
  }

  for (guint i = 0; i < names->len; i++) {
    WvVm *vm = g_hash_table_lookup(daemon->vms, names->pdata[i]);
    g_autofree char *file = g_path_get_basename(wv_vm_profile(vm)->path);

    if (g_hash_table_contains(profiles, names->pdata[i]) || g_hash_table_contains(broken, file))
      continue;
    if (wv_vm_busy(vm)) {
      g_warning("%s: profile removed, but a call is running; it goes on the next reload",
                wv_vm_name(vm));
      continue;
    }
    if (wv_vm_is_running(vm)) {
      /* still shut down with the host, its hugepages still given back */
      if (g_hash_table_add(daemon->orphans, g_strdup(wv_vm_name(vm))))
        g_warning("%s: profile removed while the VM runs; it stays until it stops", wv_vm_name(vm));
      continue;
    }
    remove_vm(daemon, vm);
  }

  g_hash_table_iter_init(&iter, profiles);
  while (g_hash_table_iter_next(&iter, &key, &value)) {
    WvProfile *profile = value;
    WvVm *vm = g_hash_table_lookup(daemon->vms, key);

    g_hash_table_iter_steal(&iter);
    if (vm) {
      g_hash_table_remove(daemon->orphans, key);
      wv_vm_set_profile(vm, profile);
      continue;
    }
    vm = wv_vm_new(&daemon->vm_ctx, profile);
    g_hash_table_insert(daemon->vms, (gpointer)wv_vm_name(vm), vm);
    REPORT(daemon, vm_added, vm);
    wv_vm_refresh(vm);
  }

  g_info("%u VM profiles, %u broken", g_hash_table_size(daemon->vms), messages->len);
  return set_profile_errors(daemon, messages);
}

/* ---- libvirt ------------------------------------------------------------- */

/* One read of every VM after (re)connecting. Each VM's read is stamped
 * when the resync begins; by the time it is applied a Start or an event may
 * have left newer state, and wv_vm_read_apply() then reads that VM again
 * instead of applying it. */
typedef struct
{
  WvDaemon *daemon;
  GPtrArray *names; /* char* */
  GArray *stamps;   /* WvVmReadStamp per name */
  GPtrArray *infos; /* per name, NULL when it could not be read */
  WvLibvirtLease *lease;
} Resync;

static void
resync_free(Resync *r)
{
  g_ptr_array_unref(r->names);
  g_array_unref(r->stamps);
  g_ptr_array_unref(r->infos);
  wv_libvirt_lease_free(r->lease);
  g_free(r);
}

static void
resync_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Resync *r = data;
  virConnectPtr conn = wv_libvirt_lease_conn(r->lease, NULL);

  for (guint i = 0; i < r->names->len; i++)
    g_ptr_array_add(r->infos, conn ? wv_domain_info_read(conn, r->names->pdata[i], NULL) : NULL);
  g_task_return_boolean(task, TRUE);
}

static void
become_ready(WvDaemon *daemon)
{
  if (daemon->ready)
    return;
  daemon->ready = TRUE;
  REPORT(daemon, ready);
}

/* Test seam: WV_TEST_RESYNC_DELAY_MS holds a resync's read back this long
 * before it is applied, so that what happened to a VM meanwhile (a Start
 * right after libvirtd came back) deterministically lands between the read
 * and its apply. Read here only; 0 (unset) in production. */
static guint
resync_delay_ms(void)
{
  static gsize once;
  static guint delay;

  if (g_once_init_enter(&once)) {
    const char *text = g_getenv("WV_TEST_RESYNC_DELAY_MS");

    delay = text ? (guint)MIN(g_ascii_strtoull(text, NULL, 10), 60000) : 0;
    if (delay)
      g_warning("test seam: each resync is applied %u ms after its read", delay);
    g_once_init_leave(&once, 1);
  }
  return delay;
}

/* After a restart: what the ledger holds for VMs that no longer run goes
 * back, what a crash left half done is finished (wv-isolate.h). */
static void
recover_host(WvDaemon *daemon)
{
  g_autoptr(GPtrArray) running = g_ptr_array_new_null_terminated(4, NULL, TRUE);
  GHashTableIter iter;
  gpointer vm;

  g_hash_table_iter_init(&iter, daemon->vms);
  while (g_hash_table_iter_next(&iter, NULL, &vm))
    if (wv_vm_is_running(vm) || wv_vm_is_starting(vm))
      g_ptr_array_add(running, (gpointer)wv_vm_name(vm));
  wv_isolate_recover_async(daemon->config->isolate, (const char *const *)running->pdata);
}

static void
resync_apply(Resync *r)
{
  for (guint i = 0; i < r->names->len; i++) {
    /* looked up each time: applying may drop a stopped orphan */
    WvVm *vm = g_hash_table_lookup(r->daemon->vms, r->names->pdata[i]);

    if (vm && r->infos->pdata[i])
      wv_vm_read_apply(vm, g_array_index(r->stamps, WvVmReadStamp, i), r->infos->pdata[i]);
    else if (vm)
      wv_vm_refresh(vm);
  }
  g_info("resynced %u VMs with %s", r->names->len, wv_libvirt_uri(r->daemon->libvirt));
  drop_stopped_orphans(r->daemon);
  become_ready(r->daemon);
  /* once, when libvirt said what already runs (boot autostart) */
  if (!r->daemon->resynced) {
    recover_host(r->daemon);
    r->daemon->resynced = TRUE;
    REPORT(r->daemon, resynced);
  }
}

static gboolean
resync_apply_later(gpointer data)
{
  GTask *task = data;
  Resync *r = g_task_get_task_data(task);

  g_ptr_array_remove_fast(r->daemon->resyncs_delayed, task);
  resync_apply(r);
  g_object_unref(task);
  return G_SOURCE_REMOVE;
}

static void
resync_done(GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = G_TASK(result);
  Resync *r = g_task_get_task_data(task);

  if (resync_delay_ms() == 0) {
    resync_apply(r);
    return;
  }
  g_ptr_array_add(r->daemon->resyncs_delayed, g_object_ref(task));
  g_object_set_data(G_OBJECT(task), "wv-delay",
                    GUINT_TO_POINTER(wv_timeout_add(resync_delay_ms(), resync_apply_later, task)));
}

static void
status_changed(WvDaemon *daemon)
{
  if (daemon->ready)
    REPORT(daemon, status);
}

/* A libvirtd that has just started answers before it has reconnected to
 * the guests it found running: a guest that died meanwhile reads as running
 * for a while, and libvirtd sends no event when it finds out. The running
 * VMs are read again 1, 3 and 9 s after each connect. */
static const guint reread_after_ms[] = {1000, 2000, 6000};

static gboolean
reread_running(gpointer data)
{
  WvDaemon *daemon = data;
  GHashTableIter iter;
  gpointer vm;

  daemon->reread_source = 0;
  g_hash_table_iter_init(&iter, daemon->vms);
  while (g_hash_table_iter_next(&iter, NULL, &vm))
    if (wv_vm_is_running(vm))
      wv_vm_refresh(vm);
  if (++daemon->rereads < G_N_ELEMENTS(reread_after_ms))
    daemon->reread_source =
        wv_timeout_add(reread_after_ms[daemon->rereads], reread_running, daemon);
  return G_SOURCE_REMOVE;
}

static void
schedule_rereads(WvDaemon *daemon)
{
  g_clear_handle_id(&daemon->reread_source, wv_source_remove);
  daemon->rereads = 0;
  daemon->reread_source = wv_timeout_add(reread_after_ms[0], reread_running, daemon);
}

static void
on_connected(gpointer data)
{
  WvDaemon *daemon = data;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);
  WvLibvirtLease *lease = wv_libvirt_lease(daemon->libvirt, NULL);
  Resync *r;

  wv_host_cache_set_generation(daemon->config->host_cache, wv_libvirt_generation(daemon->libvirt));
  wv_plan_cache_invalidate(daemon->plans);
  REPORT(daemon, changed);
  status_changed(daemon);
  if (lease == NULL)
    return;
  r = g_new0(Resync, 1);
  r->daemon = daemon;
  r->lease = lease;
  r->names = g_ptr_array_new_with_free_func(g_free);
  r->stamps = g_array_sized_new(FALSE, FALSE, sizeof(WvVmReadStamp), names->len);
  r->infos = g_ptr_array_new_with_free_func((GDestroyNotify)wv_domain_info_free);
  for (guint i = 0; i < names->len; i++) {
    WvVmReadStamp stamp = wv_vm_read_begin(wv_daemon_get_vm(daemon, names->pdata[i]));

    g_ptr_array_add(r->names, g_strdup(names->pdata[i]));
    g_array_append_val(r->stamps, stamp);
  }
  task = g_task_new(NULL, NULL, resync_done, NULL);
  g_task_set_task_data(task, r, (GDestroyNotify)resync_free);
  wv_worker_run(task, resync_thread);
  schedule_rereads(daemon);
}

static void
on_disconnected(gpointer data, const char *reason)
{
  WvDaemon *daemon = data;
  GHashTableIter iter;
  gpointer vm;

  g_clear_handle_id(&daemon->reread_source, wv_source_remove);

  wv_host_cache_set_generation(daemon->config->host_cache, wv_libvirt_generation(daemon->libvirt));
  wv_plan_cache_invalidate(daemon->plans);
  g_hash_table_iter_init(&iter, daemon->vms);
  while (g_hash_table_iter_next(&iter, NULL, &vm))
    wv_vm_set_unknown(vm);
  REPORT(daemon, changed);
  status_changed(daemon);
  /* serve what we can without libvirt rather than hang the boot */
  become_ready(daemon);
}

static void
on_lifecycle(gpointer data, const char *domain, int event, int detail)
{
  WvDaemon *daemon = data;
  WvVm *vm = g_hash_table_lookup(daemon->vms, domain);

  /* any domain's: the devices running domains hold are in every plan */
  wv_plan_cache_invalidate(daemon->plans);
  if (vm)
    wv_vm_lifecycle(vm, event, detail); /* a read follows: see vm_stopped() */
}

static void
vm_changed(gpointer data, WvVm *vm)
{
  REPORT((WvDaemon *)data, vm_changed, vm);
}

/* A current read found @vm's domain stopped. */
static void
vm_stopped(gpointer data, WvVm *vm)
{
  drop_stopped_orphans(data);
}

static void
on_tunables(gpointer data, const char *domain)
{
  WvDaemon *daemon = data;
  WvVm *vm = g_hash_table_lookup(daemon->vms, domain);

  wv_plan_cache_invalidate(daemon->plans);
  if (vm)
    wv_vm_refresh(vm);
}

static void
on_agent(gpointer data, const char *domain, gboolean connected)
{
  WvDaemon *daemon = data;
  WvVm *vm = g_hash_table_lookup(daemon->vms, domain);

  if (vm == NULL)
    return;
  g_info("%s: guest agent %s", domain, connected ? "connected" : "disconnected");
  wv_vm_refresh(vm); /* the live definition says it */
}

/* ---- life ----------------------------------------------------------------- */

WvDaemon *
wv_daemon_new(const WvConfig *config, const WvDaemonCallbacks *callbacks, gpointer data)
{
  static const WvLibvirtCallbacks libvirt_callbacks = {
      .connected = on_connected,
      .disconnected = on_disconnected,
      .lifecycle = on_lifecycle,
      .tunables = on_tunables,
      .agent = on_agent,
  };
  WvDaemon *daemon = g_new0(WvDaemon, 1);

  daemon->config = wv_config_copy(config);
  if (daemon->config->host_cache == NULL)
    daemon->config->host_cache = wv_preflight_host_cache_new(config);
  if (daemon->config->templates == NULL) {
    g_autoptr(GMainContext) context = g_main_context_ref_thread_default();

    daemon->config->templates = wv_templates_new(context, WV_TEMPLATES_TTL_MS);
  }
  if (daemon->config->isolate == NULL && config->runtime_dir)
    daemon->config->isolate =
        wv_isolate_new(config->runtime_dir, config->sysfs_root, config->proc_root);
  daemon->callbacks = callbacks;
  daemon->callbacks_data = data;
  daemon->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)wv_vm_free);
  daemon->orphans = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  daemon->profile_errors = g_ptr_array_new_with_free_func(g_free);
  daemon->resyncs_delayed = g_ptr_array_new();
  daemon->plans = wv_plan_cache_new();
  daemon->libvirt = wv_libvirt_new(config->libvirt_uri, &libvirt_callbacks, daemon);
  if (config->keepalive_interval > 0)
    wv_libvirt_set_keepalive(daemon->libvirt, config->keepalive_interval, config->keepalive_count);
  daemon->vm_ctx.config = daemon->config;
  daemon->vm_ctx.libvirt = daemon->libvirt;
  daemon->vm_ctx.stopped = vm_stopped;
  daemon->vm_ctx.changed = vm_changed;
  daemon->vm_ctx.data = daemon;
  daemon->vm_ctx.plans = daemon->plans;
  return daemon;
}

void
wv_daemon_start(WvDaemon *daemon)
{
  g_autoptr(GPtrArray) errors = NULL;

  errors = wv_daemon_reload(daemon);
  wv_libvirt_start(daemon->libvirt);
}

void
wv_daemon_free(WvDaemon *daemon)
{
  if (daemon == NULL)
    return;
  /* libvirt first: no event may reach a freed VM */
  wv_libvirt_free(daemon->libvirt);
  g_clear_handle_id(&daemon->orphan_retry, wv_source_remove);
  g_clear_handle_id(&daemon->reread_source, wv_source_remove);
  for (guint i = 0; i < daemon->resyncs_delayed->len; i++) {
    GTask *task = daemon->resyncs_delayed->pdata[i];

    wv_source_remove(GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(task), "wv-delay")));
    g_object_unref(task);
  }
  g_ptr_array_unref(daemon->resyncs_delayed);
  g_hash_table_unref(daemon->orphans);
  g_hash_table_unref(daemon->vms);
  g_ptr_array_unref(daemon->profile_errors);
  wv_plan_cache_free(daemon->plans);
  wv_templates_forget(daemon->config->templates); /* and its timer's reference */
  wv_config_unref(daemon->config);
  g_free(daemon);
}
