/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-isolate.h"
#include "wv-common.h"
#include "wv-hugepages.h"
#include "wv-ledger.h"
#include "wv-worker.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define SYSTEMD_NAME      "org.freedesktop.systemd1"
#define SYSTEMD_PATH      "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER   "org.freedesktop.systemd1.Manager"
#define SYSTEMD_TIMEOUT   10000 /* ms */
#define UNIT_PREFIX       "unit:"
#define FILE_PREFIX       "file:"
#define GOVERNOR_WANTED   "performance\n"
#define WORKQUEUE_CPUMASK "devices/virtual/workqueue/cpumask"

const char *const wv_isolate_units[] = {"system.slice", "user.slice", "init.scope", NULL};

struct _WvIsolate
{
  gint refcount;
  char *runtime_dir;
  char *sysfs_root;
  char *proc_root;
  GMutex lock;          /* serialises every change to the host and the ledger */
  WvLedger *ledger;     /* lock */
  GDBusConnection *bus; /* set under both locks: either is enough to read it */
  gboolean said_unavailable;
  GMutex snap_lock;
  GVariant *snapshot; /* snap_lock: the ledger's changes, for reads */
  GHashTable *vms;    /* snap_lock: names of VMs with needs recorded */
  /* snap_lock: name -> how many times this process recorded its needs: a
   * stop queued before a later start leaves them alone, and recovery never
   * drops what this process recorded */
  GHashTable *starts;
};

/* ---- small helpers ------------------------------------------------------ */

static gint
cmp_uint(gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *)a, y = *(const guint *)b;
  return x < y ? -1 : x > y;
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
root_path(const char *root, const char *fallback, const char *rel)
{
  return g_build_filename(root ? root : fallback, rel, NULL);
}

static GBytes *
bytes_of(const char *text)
{
  return g_bytes_new(text, strlen(text));
}

/* A whole file, as bytes. */
static GBytes *
read_bytes(const char *path, GError **error)
{
  g_autoptr(GError) local = NULL;
  char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents(path, &data, &len, &local)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not read %s: %s", path, local->message);
    return NULL;
  }
  return g_bytes_new_take(data, len);
}

/* One write(2) of @value, as sysfs and procfs want it; errno on failure. */
static int
write_bytes(const char *path, GBytes *value)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(value, &len);
  ssize_t n;
  int saved = 0;
  int fd;

  fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0)
    return errno;
  do
    n = write(fd, data, len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    saved = errno;
  else if ((gsize)n != len)
    saved = EIO;
  if (close(fd) < 0 && saved == 0)
    saved = errno;
  return saved;
}

static char *
bytes_text(GBytes *bytes)
{
  gsize len = 0;
  const char *data = g_bytes_get_data(bytes, &len);
  g_autofree char *copy = g_strndup(data ? data : "", len);

  g_strchomp(copy);
  return g_strescape(copy, NULL);
}

static WvCpuset *
read_cpu_list(const char *path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents(path, &text, NULL, NULL))
    return NULL;
  g_strstrip(text);
  return wv_cpuset_parse(text, NULL);
}

/* ---- object ------------------------------------------------------------- */

static void publish(WvIsolate *iso);

WvIsolate *
wv_isolate_new(const char *runtime_dir, const char *sysfs_root, const char *proc_root)
{
  WvIsolate *iso = g_new0(WvIsolate, 1);
  g_autoptr(GError) error = NULL;

  iso->refcount = 1;
  iso->runtime_dir = g_strdup(runtime_dir);
  iso->sysfs_root = g_strdup(sysfs_root);
  iso->proc_root = g_strdup(proc_root);
  g_mutex_init(&iso->lock);
  g_mutex_init(&iso->snap_lock);
  iso->vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  iso->starts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  iso->ledger = wv_ledger_load(runtime_dir, &error);
  if (iso->ledger == NULL) { /* corrupt: runtime_dir is set */
    g_autofree char *path = g_build_filename(runtime_dir, "host.ledger", NULL);
    g_autofree char *aside = g_strconcat(path, ".corrupt", NULL);

    g_warning("%s; set aside as %s: what it recorded must be undone by hand (winvmd(8))",
              error->message, aside);
    if (g_rename(path, aside) < 0)
      g_warning("Could not rename %s: %s", path, g_strerror(errno));
    iso->ledger = wv_ledger_load(runtime_dir, NULL);
    if (iso->ledger == NULL)
      iso->ledger = wv_ledger_load(NULL, NULL);
  }
  publish(iso);
  return iso;
}

WvIsolate *
wv_isolate_ref(WvIsolate *iso)
{
  g_atomic_int_inc(&iso->refcount);
  return iso;
}

void
wv_isolate_unref(WvIsolate *iso)
{
  if (iso == NULL || !g_atomic_int_dec_and_test(&iso->refcount))
    return;
  wv_ledger_free(iso->ledger);
  g_clear_object(&iso->bus);
  g_clear_pointer(&iso->snapshot, g_variant_unref);
  g_hash_table_unref(iso->vms);
  g_hash_table_unref(iso->starts);
  g_mutex_clear(&iso->lock);
  g_mutex_clear(&iso->snap_lock);
  g_free(iso->runtime_dir);
  g_free(iso->sysfs_root);
  g_free(iso->proc_root);
  g_free(iso);
}

void
wv_isolate_set_bus(WvIsolate *iso, GDBusConnection *bus)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&iso->lock);

  g_mutex_lock(&iso->snap_lock);
  g_clear_object(&iso->bus);
  iso->bus = bus ? g_object_ref(bus) : NULL;
  g_mutex_unlock(&iso->snap_lock);
}

/* ---- what the ledger shows ----------------------------------------------- */

static const char *
change_kind(const char *key)
{
  if (g_str_has_prefix(key, UNIT_PREFIX))
    return "isolation";
  if (g_str_has_suffix(key, "/scaling_governor"))
    return "governor";
  if (g_str_has_suffix(key, "/smp_affinity_list"))
    return "irq";
  return "workqueue";
}

static char *
value_text(const char *key, GBytes *bytes)
{
  if (g_str_has_prefix(key, UNIT_PREFIX)) {
    gsize len = 0;
    const guint8 *data = g_bytes_get_data(bytes, &len);
    g_autoptr(WvCpuset) set = wv_cpuset_from_bitmask(data, len);

    return set->n ? wv_cpuset_format(set) : g_strdup("all");
  }
  return bytes_text(bytes);
}

/* lock held: what readers see becomes what the ledger says */
static void
publish(WvIsolate *iso)
{
  GPtrArray *changes = wv_ledger_changes(iso->ledger);
  GPtrArray *vms = wv_ledger_vms(iso->ledger);
  GVariantBuilder b;
  GVariant *snap;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a(sssssas)"));
  for (guint i = 0; i < changes->len; i++) {
    const WvLedgerChange *c = changes->pdata[i];
    const char *target = strchr(c->key, ':') + 1;
    g_autofree char *previous = value_text(c->key, c->previous);
    g_autofree char *value = value_text(c->key, c->value);

    g_variant_builder_add(&b, "(sssss^as)", change_kind(c->key), target, previous, value,
                          wv_ledger_state_name(c->state), c->vms);
  }
  snap = g_variant_ref_sink(g_variant_builder_end(&b));

  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&iso->snap_lock);
  g_clear_pointer(&iso->snapshot, g_variant_unref);
  iso->snapshot = snap;
  g_hash_table_remove_all(iso->vms);
  for (guint i = 0; i < vms->len; i++)
    g_hash_table_add(iso->vms, g_strdup(((WvLedgerVm *)vms->pdata[i])->vm));
}

gboolean
wv_isolate_has_vm(WvIsolate *iso, const char *vm)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&iso->snap_lock);

  return g_hash_table_contains(iso->vms, vm);
}

/* The hugepage reservations in the runtime directory, as changes. */
static void
add_hugepages(WvIsolate *iso, GVariantBuilder *b)
{
  g_autoptr(GDir) dir = g_dir_open(iso->runtime_dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  const char *entry;

  while (dir && (entry = g_dir_read_name(dir)) != NULL)
    if (g_str_has_suffix(entry, ".hugepages"))
      g_ptr_array_add(names, g_strndup(entry, strlen(entry) - strlen(".hugepages")));
  g_ptr_array_sort(names, cmp_str);
  for (guint i = 0; i < names->len; i++) {
    g_autoptr(WvReservation) r = wv_hugepages_lookup(iso->runtime_dir, names->pdata[i]);
    g_autofree char *before = NULL;
    g_autofree char *now = NULL;
    const char *vms[] = {names->pdata[i], NULL};

    if (r == NULL)
      continue;
    before = g_strdup_printf("%" G_GUINT64_FORMAT, r->before);
    now = g_strdup_printf("%" G_GUINT64_FORMAT, r->before + r->added);
    g_variant_builder_add(b, "(sssss^as)", "hugepages", r->nr_path, before, now,
                          r->complete ? "applied" : "intent", vms);
  }
}

GVariant *
wv_isolate_describe(WvIsolate *iso)
{
  GVariantBuilder b;
  GVariantIter iter;
  GVariant *child;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a(sssssas)"));
  {
    G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&iso->snap_lock);
    g_variant_iter_init(&iter, iso->snapshot);
    while ((child = g_variant_iter_next_value(&iter)) != NULL) {
      g_variant_builder_add_value(&b, child);
      g_variant_unref(child);
    }
  }
  add_hugepages(iso, &b);
  return g_variant_builder_end(&b);
}

/* ---- systemd ------------------------------------------------------------ */

/* systemd answers on @bus (NULL: none) */
static gboolean
systemd_on(GDBusConnection *bus, char **why)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  gboolean has = FALSE;

  if (bus == NULL) {
    *why = g_strdup("the system bus is not reachable");
    return FALSE;
  }
  reply = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameHasOwner",
                                      g_variant_new("(s)", SYSTEMD_NAME), G_VARIANT_TYPE("(b)"),
                                      G_DBUS_CALL_FLAGS_NONE, SYSTEMD_TIMEOUT, NULL, &error);
  if (reply)
    g_variant_get(reply, "(b)", &has);
  if (!has)
    *why = g_strdup_printf("systemd (%s) is not on the bus%s%s", SYSTEMD_NAME, error ? ": " : "",
                           error ? error->message : "");
  return has;
}

/* lock held */
static gboolean
systemd_available(WvIsolate *iso, char **why)
{
  return systemd_on(iso->bus, why);
}

static const char *
unit_interface(const char *unit)
{
  return g_str_has_suffix(unit, ".scope") ? "org.freedesktop.systemd1.Scope"
                                          : "org.freedesktop.systemd1.Slice";
}

static GVariant *
manager_call(WvIsolate *iso, const char *method, GVariant *args, const char *reply_type,
             GError **error)
{
  return g_dbus_connection_call_sync(iso->bus, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER, method,
                                     args, reply_type ? G_VARIANT_TYPE(reply_type) : NULL,
                                     G_DBUS_CALL_FLAGS_NO_AUTO_START, SYSTEMD_TIMEOUT, NULL, error);
}

/* The unit's AllowedCPUs as systemd has it (the ay bitmask). */
static GBytes *
unit_read(WvIsolate *iso, const char *unit, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) local = NULL;
  const char *path;
  gsize len = 0;
  const guint8 *data;

  reply = manager_call(iso, "GetUnit", g_variant_new("(s)", unit), "(o)", &local);
  if (reply == NULL) { /* not loaded (init.scope always is; a slice may not be) */
    g_clear_error(&local);
    reply = manager_call(iso, "LoadUnit", g_variant_new("(s)", unit), "(o)", &local);
  }
  if (reply == NULL) {
    g_dbus_error_strip_remote_error(local);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "systemd has no unit %s: %s", unit,
                local->message);
    return NULL;
  }
  g_variant_get(reply, "(&o)", &path);
  g_clear_pointer(&value, g_variant_unref);
  {
    g_autoptr(GVariant) got = g_dbus_connection_call_sync(
        iso->bus, SYSTEMD_NAME, path, "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", unit_interface(unit), "AllowedCPUs"), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NO_AUTO_START, SYSTEMD_TIMEOUT, NULL, &local);
    if (got == NULL) {
      g_dbus_error_strip_remote_error(local);
      g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not read AllowedCPUs of %s: %s", unit,
                  local->message);
      return NULL;
    }
    g_variant_get(got, "(v)", &value);
  }
  if (!g_variant_is_of_type(value, G_VARIANT_TYPE_BYTESTRING)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "AllowedCPUs of %s is not a byte array (%s)",
                unit, g_variant_get_type_string(value));
    return NULL;
  }
  data = g_variant_get_fixed_array(value, &len, 1);
  return g_bytes_new(data, len);
}

static gboolean
unit_write(WvIsolate *iso, const char *unit, GBytes *value, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) local = NULL;
  GVariantBuilder props;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(value, &len);

  g_variant_builder_init(&props, G_VARIANT_TYPE("a(sv)"));
  g_variant_builder_add(
      &props, "(sv)", "AllowedCPUs",
      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data ? data : (const guint8 *)"", len, 1));
  reply = manager_call(iso, "SetUnitProperties", g_variant_new("(sba(sv))", unit, TRUE, &props),
                       NULL, &local);
  if (reply == NULL) {
    g_dbus_error_strip_remote_error(local);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not set AllowedCPUs of %s: %s", unit,
                local->message);
    return FALSE;
  }
  return TRUE;
}

/* ---- one target: a unit's AllowedCPUs or a file ---------------------------- */

static GBytes *
target_read(WvIsolate *iso, const char *key, GError **error)
{
  if (g_str_has_prefix(key, UNIT_PREFIX))
    return unit_read(iso, key + strlen(UNIT_PREFIX), error);
  return read_bytes(key + strlen(FILE_PREFIX), error);
}

/* FALSE with @error; *@not_movable when the kernel refused with EIO (an IRQ
 * that cannot be moved). */
static gboolean
target_write(WvIsolate *iso, const char *key, GBytes *value, gboolean *not_movable, GError **error)
{
  int err;

  if (not_movable)
    *not_movable = FALSE;
  if (g_str_has_prefix(key, UNIT_PREFIX))
    return unit_write(iso, key + strlen(UNIT_PREFIX), value, error);
  err = write_bytes(key + strlen(FILE_PREFIX), value);
  if (err == 0)
    return TRUE;
  if (not_movable)
    *not_movable = err == EIO;
  {
    g_autofree char *text = bytes_text(value);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not write “%s” to %s: %s", text,
                key + strlen(FILE_PREFIX), g_strerror(err));
  }
  return FALSE;
}

/* ---- what the running VMs want ---------------------------------------------- */

typedef struct
{
  char *key;
  GBytes *value;
  GPtrArray *vms; /* char*, borrowed from the ledger's needs, NULL-terminated */
} Want;

static void
want_free(gpointer p)
{
  Want *w = p;

  g_free(w->key);
  g_bytes_unref(w->value);
  g_ptr_array_unref(w->vms);
  g_free(w);
}

typedef struct
{
  GPtrArray *list;  /* Want*, in order */
  GHashTable *keys; /* key -> Want* */
} Wants;

static void
wants_clear(Wants *w)
{
  g_hash_table_unref(w->keys);
  g_ptr_array_unref(w->list);
}

static void
wants_add(Wants *w, const char *key, GBytes *value, const char *vm)
{
  Want *want = g_hash_table_lookup(w->keys, key);

  if (want == NULL) {
    want = g_new0(Want, 1);
    want->key = g_strdup(key);
    want->value = g_bytes_ref(value);
    want->vms = g_ptr_array_new_null_terminated(2, NULL, TRUE);
    g_ptr_array_add(w->list, want);
    g_hash_table_insert(w->keys, want->key, want);
  }
  g_ptr_array_add(want->vms, (gpointer)vm);
}

/* What the host had before winvmd changed @key: the ledger's record, or
 * the value now. */
static GBytes *
original(WvIsolate *iso, const char *key, GError **error)
{
  WvLedgerChange *c = wv_ledger_lookup(iso->ledger, key);

  if (c)
    return g_bytes_ref(c->previous);
  return target_read(iso, key, error);
}

/* The CPU sets these needs keep the host off. */
static WvCpuset *
cpus_of(GPtrArray *needs, gsize flag_offset)
{
  WvCpuset *all = wv_cpuset_new(NULL, 0);

  for (guint i = 0; i < needs->len; i++) {
    const WvLedgerVm *v = needs->pdata[i];
    WvCpuset *more;

    if (!G_STRUCT_MEMBER(gboolean, v, flag_offset))
      continue;
    more = wv_cpuset_union(all, v->cpus);
    wv_cpuset_free(all);
    all = more;
  }
  return all;
}

static void
add_vms_with(Wants *w, const char *key, GBytes *value, GPtrArray *needs, gsize flag_offset)
{
  for (guint i = 0; i < needs->len; i++) {
    const WvLedgerVm *v = needs->pdata[i];
    if (G_STRUCT_MEMBER(gboolean, v, flag_offset))
      wants_add(w, key, value, v->vm);
  }
}

/* @text (a CPU list, or a hex mask with @mask) without @off; when nothing
 * would be left, @fallback. NULL when @text makes no sense; *@same when it
 * is already so (the host's own value stays, byte for byte). */
static GBytes *
steered(GBytes *text, gboolean mask, const WvCpuset *off, const WvCpuset *fallback, gboolean *same)
{
  g_autofree char *s = g_strndup(g_bytes_get_data(text, NULL), g_bytes_get_size(text));
  g_autoptr(WvCpuset) set = NULL;
  g_autoptr(WvCpuset) left = NULL;
  g_autofree char *out = NULL;

  g_strstrip(s);
  set = mask ? wv_cpuset_parse_mask(s, NULL) : wv_cpuset_parse(s, NULL);
  if (set == NULL)
    return NULL;
  left = wv_cpuset_difference(set, off);
  if (left->n == 0)
    g_clear_pointer(&left, wv_cpuset_free);
  *same = wv_cpuset_equal(left ? left : fallback, set);
  out = mask ? wv_cpuset_format_mask(left ? left : fallback)
             : wv_cpuset_format(left ? left : fallback);
  return g_bytes_new_take(g_strconcat(out, "\n", NULL), strlen(out) + 1);
}

static void
want_steered(WvIsolate *iso, Wants *w, const char *path, gboolean mask, const WvCpuset *off,
             const WvCpuset *fallback, GPtrArray *needs)
{
  g_autofree char *key = g_strconcat(FILE_PREFIX, path, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) before = original(iso, key, &error);
  g_autoptr(GBytes) value = NULL;
  gboolean same = FALSE;

  if (before == NULL) {
    g_debug("%s", error->message);
    return;
  }
  value = steered(before, mask, off, fallback, &same);
  if (value == NULL) {
    g_autofree char *text = bytes_text(before);
    g_warning("%s holds “%s”, not a CPU %s; left alone", path, text, mask ? "mask" : "list");
    return;
  }
  if (same)
    return; /* not on the VMs' CPUs: nothing to change (or to put back) */
  add_vms_with(w, key, value, needs, G_STRUCT_OFFSET(WvLedgerVm, irq));
}

/* lock held: every change the recorded needs want, with its value */
static void
wants_build(WvIsolate *iso, Wants *w)
{
  GPtrArray *needs = wv_ledger_vms(iso->ledger);
  g_autofree char *online_path = root_path(iso->sysfs_root, "/sys", "devices/system/cpu/online");
  g_autoptr(WvCpuset) online = read_cpu_list(online_path);
  g_autoptr(WvCpuset) isolated = cpus_of(needs, G_STRUCT_OFFSET(WvLedgerVm, isolate));
  g_autoptr(WvCpuset) steer = cpus_of(needs, G_STRUCT_OFFSET(WvLedgerVm, irq));
  g_autofree char *why = NULL;

  w->list = g_ptr_array_new_with_free_func(want_free);
  w->keys = g_hash_table_new(g_str_hash, g_str_equal);
  /* the governor of each VM's CPUs */
  for (guint i = 0; i < needs->len; i++) {
    const WvLedgerVm *v = needs->pdata[i];
    g_autoptr(GBytes) perf = bytes_of(GOVERNOR_WANTED);

    for (guint c = 0; v->governor && c < v->cpus->n; c++) {
      g_autofree char *rel =
          g_strdup_printf("devices/system/cpu/cpu%u/cpufreq/scaling_governor", v->cpus->cpus[c]);
      g_autofree char *path = root_path(iso->sysfs_root, "/sys", rel);
      g_autofree char *key = g_strconcat(FILE_PREFIX, path, NULL);

      if (g_file_test(path, G_FILE_TEST_EXISTS))
        wants_add(w, key, perf, v->vm);
    }
  }

  if (online == NULL && (isolated->n || steer->n)) {
    g_warning("cannot read the online CPUs (%s): host processes and IRQs are left where they are",
              online_path);
    return;
  }

  /* systemd's units: every CPU no isolated VM uses */
  if (isolated->n > 0) {
    g_autoptr(WvCpuset) allowed = wv_cpuset_difference(online, isolated);

    if (allowed->n == 0) {
      g_warning("isolation: the VMs use every online CPU; the host's units are left alone");
    } else if (!systemd_available(iso, &why)) {
      if (!iso->said_unavailable)
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "WINVM_FINDING",
                         "isolation-unavailable", "MESSAGE",
                         "isolation-unavailable: %s; host processes are not kept off the VMs' "
                         "CPUs",
                         why);
      iso->said_unavailable = TRUE;
    } else {
      g_autoptr(GBytes) mask = wv_cpuset_to_bitmask(allowed);

      iso->said_unavailable = FALSE;
      for (guint u = 0; wv_isolate_units[u]; u++) {
        g_autofree char *key = g_strconcat(UNIT_PREFIX, wv_isolate_units[u], NULL);
        add_vms_with(w, key, mask, needs, G_STRUCT_OFFSET(WvLedgerVm, isolate));
      }
    }
  }

  /* IRQs and unbound workqueues: off the steering VMs' CPUs */
  if (steer->n > 0) {
    g_autoptr(WvCpuset) fallback = wv_cpuset_difference(online, steer);
    g_autofree char *irq_dir = root_path(iso->proc_root, "/proc", "irq");
    g_autofree char *wq = root_path(iso->sysfs_root, "/sys", WORKQUEUE_CPUMASK);
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GArray) irqs = g_array_new(FALSE, FALSE, sizeof(guint));
    const char *name;

    if (fallback->n == 0) {
      g_warning("irq steering: the VMs use every online CPU; IRQs are left alone");
      return;
    }
    dir = g_dir_open(irq_dir, 0, NULL);
    while (dir && (name = g_dir_read_name(dir)) != NULL) {
      guint64 n;
      if (g_ascii_string_to_unsigned(name, 10, 0, G_MAXUINT, &n, NULL)) {
        guint irq = (guint)n;
        g_array_append_val(irqs, irq);
      }
    }
    g_array_sort(irqs, cmp_uint);
    for (guint i = 0; i < irqs->len; i++) {
      g_autofree char *rel = g_strdup_printf("%u/smp_affinity_list", g_array_index(irqs, guint, i));
      g_autofree char *path = g_build_filename(irq_dir, rel, NULL);

      if (g_file_test(path, G_FILE_TEST_EXISTS))
        want_steered(iso, w, path, FALSE, steer, fallback, needs);
    }
    if (g_file_test(wq, G_FILE_TEST_EXISTS))
      want_steered(iso, w, wq, TRUE, steer, fallback, needs);
  }
}

/* ---- making the host what they want ------------------------------------------ */

static gboolean
same_vms(char **have, GPtrArray *want)
{
  g_autoptr(GPtrArray) sorted = g_ptr_array_copy(want, NULL, NULL);

  g_ptr_array_sort(sorted, cmp_str);
  if (g_strv_length(have) != sorted->len)
    return FALSE;
  for (guint i = 0; i < sorted->len; i++)
    if (!g_str_equal(have[i], sorted->pdata[i]))
      return FALSE;
  return TRUE;
}

static gboolean
save(WvIsolate *iso)
{
  g_autoptr(GError) error = NULL;

  if (wv_ledger_save(iso->ledger, &error))
    return TRUE;
  g_warning("%s", error->message);
  return FALSE;
}

/* lock held: the previous values of what nobody wants any more go back */
static void
restore_unwanted(WvIsolate *iso, Wants *w)
{
  GPtrArray *changes = wv_ledger_changes(iso->ledger);
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; i < changes->len; i++) {
    WvLedgerChange *c = changes->pdata[i];
    if (!g_hash_table_contains(w->keys, c->key)) {
      wv_ledger_record(iso->ledger, c->key, c->previous, c->value, WV_LEDGER_RESTORING, NULL);
      g_ptr_array_add(keys, g_strdup(c->key));
    }
  }
  if (keys->len == 0)
    return;
  if (!save(iso))
    return; /* nothing is touched that the ledger does not say */
  for (guint i = 0; i < keys->len; i++) {
    WvLedgerChange *c = wv_ledger_lookup(iso->ledger, keys->pdata[i]);
    g_autoptr(GError) error = NULL;
    g_autofree char *text = value_text(c->key, c->previous);

    if (target_write(iso, c->key, c->previous, NULL, &error)) {
      g_info("restored %s to %s", strchr(c->key, ':') + 1, text);
      wv_ledger_forget(iso->ledger, c->key);
    } else {
      g_warning("%s; it stays in the ledger (%s) to be restored later", error->message,
                wv_ledger_path(iso->ledger));
    }
  }
  save(iso);
}

static const char *const *
vms_strv(Want *want)
{
  return (const char *const *)want->vms->pdata;
}

/* lock held: the host is made what @w says, each change recorded first */
static void
apply_wanted(WvIsolate *iso, Wants *w)
{
  g_autoptr(GPtrArray) todo = g_ptr_array_new(); /* Want* */
  g_autoptr(GHashTable) fresh = g_hash_table_new(g_str_hash, g_str_equal);
  gboolean dirty = FALSE;

  for (guint i = 0; i < w->list->len; i++) {
    Want *want = w->list->pdata[i];
    WvLedgerChange *c = wv_ledger_lookup(iso->ledger, want->key);
    g_autoptr(GBytes) previous = NULL;
    g_autoptr(GError) error = NULL;

    if (c && c->state == WV_LEDGER_APPLIED && g_bytes_equal(c->value, want->value)) {
      if (!same_vms(c->vms, want->vms)) { /* applied already: only who needs it changed */
        wv_ledger_record(iso->ledger, c->key, c->previous, c->value, c->state, vms_strv(want));
        dirty = TRUE;
      }
      continue;
    }
    /* the host's own value: recorded once, never one winvmd set */
    previous = c ? g_bytes_ref(c->previous) : target_read(iso, want->key, &error);
    if (previous == NULL) {
      g_warning("%s; not changed", error->message);
      continue;
    }
    if (c == NULL && g_bytes_equal(previous, want->value))
      continue; /* the host has it so already: nothing to undo later */
    if (c == NULL)
      g_hash_table_add(fresh, want->key);
    wv_ledger_record(iso->ledger, want->key, previous, want->value, WV_LEDGER_INTENT,
                     vms_strv(want));
    g_ptr_array_add(todo, want);
  }
  if (todo->len == 0) {
    if (dirty)
      save(iso);
    return;
  }
  /* the intents first: a crash from here on leaves a record to undo */
  if (!save(iso)) {
    for (guint i = 0; i < todo->len; i++) {
      Want *want = todo->pdata[i];
      if (g_hash_table_contains(fresh, want->key))
        wv_ledger_forget(iso->ledger, want->key);
    }
    return;
  }
  for (guint i = 0; i < todo->len; i++) {
    Want *want = todo->pdata[i];
    WvLedgerChange *c = wv_ledger_lookup(iso->ledger, want->key);
    g_autoptr(GError) error = NULL;
    g_autofree char *text = value_text(want->key, want->value);
    gboolean not_movable = FALSE;

    if (target_write(iso, want->key, want->value, &not_movable, &error)) {
      g_info("set %s to %s", strchr(want->key, ':') + 1, text);
      c->state = WV_LEDGER_APPLIED;
    } else if (g_hash_table_contains(fresh, want->key)) {
      /* never changed: nothing to undo (an IRQ the kernel will not move) */
      if (not_movable)
        g_debug("%s: not movable", strchr(want->key, ':') + 1);
      else
        g_warning("%s", error->message);
      wv_ledger_forget(iso->ledger, want->key);
    } else {
      g_warning("%s", error->message); /* the previous value still goes back later */
    }
  }
  save(iso);
}

/* lock held */
static void
reconcile(WvIsolate *iso)
{
  Wants w;

  wants_build(iso, &w);
  restore_unwanted(iso, &w);
  apply_wanted(iso, &w);
  wants_clear(&w);
  publish(iso);
}

/* ---- entry points -------------------------------------------------------- */

void
wv_isolate_vm_start(WvIsolate *iso, const char *vm, const WvPlan *plan)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = NULL;
  WvLedgerVm need = {(char *)vm, plan->vm_cpus, plan->isolate, plan->governor, plan->irq_steer};

  g_return_if_fail(wv_name_is_valid(vm));
  if (iso == NULL || plan->vm_cpus == NULL || !(plan->isolate || plan->governor || plan->irq_steer))
    return;
  locker = g_mutex_locker_new(&iso->lock);
  g_mutex_lock(&iso->snap_lock);
  g_hash_table_insert(iso->starts, g_strdup(vm),
                      GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(iso->starts, vm)) + 1));
  g_mutex_unlock(&iso->snap_lock);
  wv_ledger_set_vm(iso->ledger, &need);
  reconcile(iso);
}

static guint
start_serial(WvIsolate *iso, const char *vm)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&iso->snap_lock);

  return GPOINTER_TO_UINT(g_hash_table_lookup(iso->starts, vm));
}

void
wv_isolate_vm_stop(WvIsolate *iso, const char *vm)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = NULL;

  if (iso == NULL)
    return;
  locker = g_mutex_locker_new(&iso->lock);
  if (wv_ledger_forget_vm(iso->ledger, vm))
    reconcile(iso);
}

void
wv_isolate_recover(WvIsolate *iso, const char *const *running)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = NULL;
  GPtrArray *needs;

  if (iso == NULL)
    return;
  locker = g_mutex_locker_new(&iso->lock);
  needs = wv_ledger_vms(iso->ledger);
  for (guint i = needs->len; i > 0; i--) {
    const char *vm = ((WvLedgerVm *)needs->pdata[i - 1])->vm;
    if ((running == NULL || !g_strv_contains(running, vm)) && start_serial(iso, vm) == 0) {
      g_info("%s no longer runs: what it needed of the host goes back", vm);
      wv_ledger_forget_vm(iso->ledger, vm);
    }
  }
  if (wv_ledger_changes(iso->ledger)->len > 0 || needs->len > 0)
    reconcile(iso);
  g_info("host ledger recovered: %u changes for %u running VMs",
         wv_ledger_changes(iso->ledger)->len, wv_ledger_vms(iso->ledger)->len);
}

typedef struct
{
  WvIsolate *iso;
  char *vm;
  guint serial; /* of @vm's starts when its stop was seen */
  char **running;
} Job;

static void
job_free(gpointer p)
{
  Job *j = p;

  wv_isolate_unref(j->iso);
  g_free(j->vm);
  g_strfreev(j->running);
  g_free(j);
}

static void
job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Job *j = data;

  if (j->vm) {
    G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&j->iso->lock);
    /* started again since the stop was seen: its needs are the new start's */
    if (start_serial(j->iso, j->vm) == j->serial && wv_ledger_forget_vm(j->iso->ledger, j->vm))
      reconcile(j->iso);
  } else
    wv_isolate_recover(j->iso, (const char *const *)j->running);
  g_task_return_boolean(task, TRUE);
}

static void
job_run(WvIsolate *iso, const char *vm, const char *const *running)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, NULL, NULL);
  Job *j = g_new0(Job, 1);

  j->iso = wv_isolate_ref(iso);
  j->vm = g_strdup(vm);
  j->serial = vm ? start_serial(iso, vm) : 0;
  j->running = g_strdupv((char **)running);
  g_task_set_task_data(task, j, job_free);
  wv_worker_run(task, job_thread);
}

void
wv_isolate_vm_stop_async(WvIsolate *iso, const char *vm)
{
  if (iso && wv_isolate_has_vm(iso, vm))
    job_run(iso, vm, NULL);
}

void
wv_isolate_recover_async(WvIsolate *iso, const char *const *running)
{
  static const char *const none[] = {NULL};
  gboolean empty;

  if (iso == NULL)
    return;
  g_mutex_lock(&iso->snap_lock);
  empty = g_hash_table_size(iso->vms) == 0 && g_variant_n_children(iso->snapshot) == 0;
  g_mutex_unlock(&iso->snap_lock);
  if (empty) /* the common start: nothing recorded, nothing to do */
    return;
  job_run(iso, NULL, running ? running : none);
}

/* ---- check ------------------------------------------------------------------ */

static gboolean
irqbalance_runs(const char *proc_root)
{
  g_autofree char *proc = g_strdup(proc_root ? proc_root : "/proc");
  g_autoptr(GDir) dir = g_dir_open(proc, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *comm = NULL;
    g_autofree char *path = NULL;

    if (!g_ascii_isdigit(name[0]))
      continue;
    path = g_build_filename(proc, name, "comm", NULL);
    if (g_file_get_contents(path, &comm, NULL, NULL) && g_str_equal(g_strchomp(comm), "irqbalance"))
      return TRUE;
  }
  return FALSE;
}

void
wv_isolate_check(WvIsolate *iso, WvPlan *plan, const char *sysfs_root, const char *proc_root)
{
  if (plan->vm_cpus == NULL)
    return;
  if (plan->isolate && iso) {
    g_autofree char *why = NULL;
    g_autoptr(GDBusConnection) bus = NULL;

    /* not under the lock: a start changing the host may hold it a while */
    g_mutex_lock(&iso->snap_lock);
    bus = iso->bus ? g_object_ref(iso->bus) : NULL;
    g_mutex_unlock(&iso->snap_lock);
    if (!systemd_on(bus, &why))
      wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "isolation-unavailable",
                          "run winvmd under systemd, or set [host] isolate = false",
                          "%s: host processes will not be kept off the VM's CPUs", why);
  }
  if (plan->governor) {
    g_autoptr(GString) missing = g_string_new(NULL);

    for (guint i = 0; i < plan->vm_cpus->n; i++) {
      g_autofree char *rel = g_strdup_printf("devices/system/cpu/cpu%u/cpufreq/scaling_governor",
                                             plan->vm_cpus->cpus[i]);
      g_autofree char *path = root_path(sysfs_root, "/sys", rel);
      if (!g_file_test(path, G_FILE_TEST_EXISTS))
        g_string_append_printf(missing, "%s%u", missing->len ? "," : "", plan->vm_cpus->cpus[i]);
    }
    if (missing->len)
      wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "governor-unavailable",
                          "load the CPU's cpufreq driver, or set [host] governor = keep",
                          "CPU %s has no cpufreq governor to set: it keeps its speed policy",
                          missing->str);
  }
  if (plan->irq_steer && irqbalance_runs(proc_root))
    wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "irqbalance-running",
                        "stop irqbalance while the VM runs (systemctl stop irqbalance), or ban "
                        "the VM's CPUs in its IRQBALANCE_BANNED_CPULIST",
                        "irqbalance runs: it moves IRQs back onto the VM's CPUs");
}
