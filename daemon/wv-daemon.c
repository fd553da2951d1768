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

  wv_plan_cache_invalidate(daemon->plans); /* templates, winvm.conf: read again */
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

typedef struct
{
  WvDaemon *daemon;
  GPtrArray *names; /* char* */
  GPtrArray *infos; /* per name, NULL when it could not be read */
  virConnectPtr conn;
} Resync;

static void
resync_free(Resync *r)
{
  g_ptr_array_unref(r->names);
  g_ptr_array_unref(r->infos);
  virConnectClose(r->conn);
  g_free(r);
}

static void
resync_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Resync *r = data;

  for (guint i = 0; i < r->names->len; i++)
    g_ptr_array_add(r->infos, wv_domain_info_read(r->conn, r->names->pdata[i], NULL));
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

static void
resync_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Resync *r = g_task_get_task_data(G_TASK(result));

  for (guint i = 0; i < r->names->len; i++) {
    WvVm *vm = g_hash_table_lookup(r->daemon->vms, r->names->pdata[i]);
    if (vm && r->infos->pdata[i])
      wv_vm_info_apply(vm, r->infos->pdata[i]);
  }
  g_info("resynced %u VMs with %s", r->names->len, wv_libvirt_uri(r->daemon->libvirt));
  drop_stopped_orphans(r->daemon);
  become_ready(r->daemon);
  /* once, when libvirt said what already runs (boot autostart) */
  if (!r->daemon->resynced) {
    r->daemon->resynced = TRUE;
    REPORT(r->daemon, resynced);
  }
}

static void
status_changed(WvDaemon *daemon)
{
  if (daemon->ready)
    REPORT(daemon, status);
}

static void
on_connected(gpointer data)
{
  WvDaemon *daemon = data;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);
  Resync *r = g_new0(Resync, 1);

  r->daemon = daemon;
  r->names = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < names->len; i++)
    g_ptr_array_add(r->names, g_strdup(names->pdata[i]));
  r->infos = g_ptr_array_new_with_free_func((GDestroyNotify)wv_domain_info_free);
  r->conn = wv_libvirt_get(daemon->libvirt, NULL);
  wv_plan_cache_invalidate(daemon->plans);
  REPORT(daemon, changed);
  status_changed(daemon);
  if (r->conn == NULL) {
    resync_free(r);
    return;
  }
  task = g_task_new(NULL, NULL, resync_done, NULL);
  g_task_set_task_data(task, r, (GDestroyNotify)resync_free);
  wv_worker_run(task, resync_thread);
}

static void
on_disconnected(gpointer data, const char *reason)
{
  WvDaemon *daemon = data;
  GHashTableIter iter;
  gpointer vm;

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
  if (vm) {
    wv_vm_lifecycle(vm, event, detail);
    drop_stopped_orphans(daemon);
  }
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

/* ---- life ----------------------------------------------------------------- */

WvDaemon *
wv_daemon_new(const WvConfig *config, const WvDaemonCallbacks *callbacks, gpointer data)
{
  static const WvLibvirtCallbacks libvirt_callbacks = {
      .connected = on_connected,
      .disconnected = on_disconnected,
      .lifecycle = on_lifecycle,
      .tunables = on_tunables,
  };
  WvDaemon *daemon = g_new0(WvDaemon, 1);

  daemon->config = wv_config_copy(config);
  daemon->callbacks = callbacks;
  daemon->callbacks_data = data;
  daemon->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)wv_vm_free);
  daemon->orphans = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  daemon->profile_errors = g_ptr_array_new_with_free_func(g_free);
  daemon->plans = wv_plan_cache_new();
  daemon->libvirt = wv_libvirt_new(config->libvirt_uri, &libvirt_callbacks, daemon);
  daemon->vm_ctx.config = daemon->config;
  daemon->vm_ctx.libvirt = daemon->libvirt;
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
  g_hash_table_unref(daemon->orphans);
  g_hash_table_unref(daemon->vms);
  g_ptr_array_unref(daemon->profile_errors);
  wv_plan_cache_free(daemon->plans);
  wv_config_unref(daemon->config);
  g_free(daemon);
}
