/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-dbus.h"
#include "wv-worker.h"
#include "wv-auth.h"
#include "wv-common.h"
#include "wv-limits.h"

/* ---- methods --------------------------------------------------------------- */

typedef struct
{
  const WvDBusMethod *method;
  gpointer call;
  GDBusMethodInvocation *invocation; /* borrowed: @call holds it */
} Pending;

/* A call whose caller left the bus while it waited (for its uid, for
 * polkit) is not started: nobody would hear its answer. */
static gboolean
caller_left(const WvDBusMethod *method, gpointer call, GDBusMethodInvocation *invocation)
{
  WvLimits *limits = wv_limits_get(g_dbus_method_invocation_get_connection(invocation));
  const char *sender = g_dbus_method_invocation_get_sender(invocation);

  if (limits == NULL || !wv_limits_caller_gone(limits, sender))
    return FALSE;
  g_info("not starting %s: %s left the bus", method->name, sender);
  method->refuse(call, g_error_new(WV_ERROR, WV_ERROR_CANCELLED, "%s left the bus", sender));
  return TRUE;
}

static void
authorized(GObject *source, GAsyncResult *result, gpointer data)
{
  Pending *p = data;
  const WvDBusMethod *method = p->method;
  gpointer call = p->call;
  GDBusMethodInvocation *invocation = p->invocation;
  GError *error = NULL;

  g_free(p);
  if (!wv_auth_check_finish(result, &error)) {
    method->refuse(call, error);
    return;
  }
  if (!caller_left(method, call, invocation))
    method->start(call);
}

/* Admitted (or refused) by the caller's limits: polkit, then start. */
static void
admitted(GError *error, gpointer data)
{
  Pending *p = data;

  if (error) {
    p->method->refuse(p->call, error);
    g_free(p);
    return;
  }
  if (p->method->action == NULL) {
    if (!caller_left(p->method, p->call, p->invocation))
      p->method->start(p->call);
    g_free(p);
    return;
  }
  wv_auth_check_async(p->invocation, p->method->action, NULL, authorized, p);
}

void
wv_dbus_dispatch(const WvDBusMethod *table, gsize n, gpointer object, const char *name,
                 GVariant *params, GDBusMethodInvocation *invocation)
{
  const WvDBusMethod *method = NULL;
  GError *error = NULL;
  WvLimits *limits;
  gpointer call;
  Pending *p;

  wv_assert_main_thread(name);
  for (gsize i = 0; i < n && method == NULL; i++)
    if (g_str_equal(table[i].name, name))
      method = &table[i];
  if (method == NULL) {
    g_dbus_method_invocation_return_error(invocation, WV_ERROR, WV_ERROR_INVALID_ARGS,
                                          "no method %s", name);
    return;
  }
  call = method->prepare(object, method, params, invocation, &error);
  if (call == NULL) {
    g_dbus_method_invocation_take_error(invocation, error);
    return;
  }
  p = g_new0(Pending, 1);
  p->method = method;
  p->call = call;
  p->invocation = invocation;
  limits =
      method->unlimited ? NULL : wv_limits_get(g_dbus_method_invocation_get_connection(invocation));
  if (limits)
    wv_limits_admit(limits, invocation, admitted, p);
  else
    admitted(NULL, p);
}

typedef struct
{
  GDBusMethodInvocation *invocation;
  WvDBusWork work;
  gpointer data;
  GDestroyNotify data_free;
} Work;

static void
work_free(Work *w)
{
  g_object_unref(w->invocation);
  if (w->data_free)
    w->data_free(w->data);
  g_free(w);
}

static void
work_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Work *w = data;
  GError *error = NULL;
  GVariant *reply = w->work(w->data, &error);

  if (reply)
    g_task_return_pointer(task, g_variant_ref_sink(reply), (GDestroyNotify)g_variant_unref);
  else
    g_task_return_error(task, error);
}

static void
work_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Work *w = g_task_get_task_data(G_TASK(result));
  GError *error = NULL;
  GVariant *reply = g_task_propagate_pointer(G_TASK(result), &error);

  if (reply) {
    g_dbus_method_invocation_return_value(w->invocation, reply);
    g_variant_unref(reply);
  } else {
    g_dbus_method_invocation_take_error(w->invocation, error);
  }
}

void
wv_dbus_reply_from_thread(GDBusMethodInvocation *invocation, WvDBusWork work, gpointer data,
                          GDestroyNotify data_free)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, work_done, NULL);
  Work *w = g_new0(Work, 1);

  w->invocation = g_object_ref(invocation);
  w->work = work;
  w->data = data;
  w->data_free = data_free;
  g_task_set_task_data(task, w, (GDestroyNotify)work_free);
  wv_worker_run_lane(task, work_thread, WV_LANE_READ);
}

/* ---- properties ------------------------------------------------------------ */

static const WvDBusProperty *
find_property(const WvDBusProperty *table, const char *name)
{
  for (guint i = 0; table[i].name; i++)
    if (g_str_equal(table[i].name, name))
      return &table[i];
  return NULL;
}

gboolean
wv_dbus_property_exists(const WvDBusProperty *table, const char *name)
{
  return find_property(table, name) != NULL;
}

GVariant *
wv_dbus_property_get(const WvDBusProperty *table, gpointer object, const char *name, GError **error)
{
  const WvDBusProperty *prop = find_property(table, name);

  wv_assert_main_thread(name);
  if (prop == NULL) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "no property %s", name);
    return NULL;
  }
  return prop->get(object);
}

/* ---- the pool of dictionary entries -----------------------------------------
 *
 * Each VM's a{sv} is kept as a tree (see read_all()), and most of its 19
 * entries are the same in every VM ("State": "shut-off", "Autostart":
 * false, "VCPUPins": [] ...). A tree entry is six allocations; the pool
 * makes each distinct {name: value} once and every dictionary holds a
 * reference (50 VMs: about 0.3 MiB less, tests/bench/README.md). GDBus
 * walks shared nodes as it walks its own. Main thread only. */

#define POOL_MAX 1024 /* distinct entries kept for sharing; then it starts again */

typedef struct
{
  const char *name; /* the table's */
  GVariant *value;
  GVariant *entry; /* {sv} */
  guint hash;
} Pooled;

static GHashTable *pool; /* Pooled -> itself */
static GHashTable *keys; /* name -> its "s" leaf */

static void
pooled_free(Pooled *p)
{
  g_variant_unref(p->value);
  g_variant_unref(p->entry);
  g_free(p);
}

static guint
pooled_hash(gconstpointer a)
{
  return ((const Pooled *)a)->hash;
}

static gboolean
pooled_equal(gconstpointer a, gconstpointer b)
{
  const Pooled *x = a, *y = b;

  return x->hash == y->hash && g_str_equal(x->name, y->name) && g_variant_equal(x->value, y->value);
}

static GVariant *
key_for(const char *name)
{
  GVariant *key;

  if (keys == NULL)
    keys = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)g_variant_unref);
  if ((key = g_hash_table_lookup(keys, name)) == NULL) {
    key = g_variant_ref_sink(g_variant_new_string(name));
    g_hash_table_insert(keys, (gpointer)name, key);
  }
  return key;
}

static GVariant *
new_entry(const char *name, GVariant *value)
{
  return g_variant_ref_sink(g_variant_new_dict_entry(key_for(name), g_variant_new_variant(value)));
}

/* {@name: @value}, a reference */
static GVariant *
pooled_entry(const char *name, GVariant *value)
{
  gsize size = g_variant_get_size(value);
  const guchar *data = g_variant_get_data(value);
  Pooled probe = {name, value, NULL,
                  g_str_hash(name) ^ g_str_hash(g_variant_get_type_string(value))};
  Pooled *p;

  for (gsize i = 0; i < size; i++)
    probe.hash = probe.hash * 33 + data[i];
  if (pool == NULL)
    pool = g_hash_table_new_full(pooled_hash, pooled_equal, (GDestroyNotify)pooled_free, NULL);
  if ((p = g_hash_table_lookup(pool, &probe)) != NULL)
    return g_variant_ref(p->entry);
  if (g_hash_table_size(pool) >= POOL_MAX)
    g_hash_table_remove_all(pool); /* the dictionaries keep theirs */
  p = g_memdup2(&probe, sizeof probe);
  p->value = g_variant_ref(value);
  p->entry = new_entry(name, value);
  g_hash_table_add(pool, p);
  return g_variant_ref(p->entry);
}

static GVariant *
read_all(const WvDBusProperty *table, gpointer object)
{
  GVariantBuilder b;

  wv_assert_main_thread("reading properties"); /* the pool is the main thread's */
  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
  for (guint i = 0; table[i].name; i++) {
    /* some values are shared references, others new and floating */
    g_autoptr(GVariant) value = g_variant_take_ref(table[i].get(object));
    g_autoptr(GVariant) entry =
        table[i].unique ? new_entry(table[i].name, value) : pooled_entry(table[i].name, value);

    g_variant_builder_add_value(&b, entry);
  }
  /* kept as a tree: serialising it would save ~10 KiB per VM, but GDBus
   * then makes every child anew for each reply that embeds it
   * (GetManagedObjects with 50 VMs: 2.1 -> 2.5 ms, tests/bench/README.md) */
  return g_variant_ref_sink(g_variant_builder_end(&b));
}

/* Bumped whenever any object's dictionary is replaced or dropped: what a
 * reply built from several of them (GetManagedObjects) is checked against. */
static guint generation;

guint
wv_dbus_properties_generation(void)
{
  return generation;
}

/* Built once per change and shared: GetManagedObjects and every
 * PropertiesChanged read it (the bench showed rebuilding it per call was
 * most of a 50-VM GetManagedObjects). */
GVariant *
wv_dbus_properties_get_all(WvDBusProperties *props, gpointer object)
{
  if (props->all == NULL) {
    props->all = read_all(props->table, object);
    generation++;
  }
  return props->all;
}

void
wv_dbus_properties_update(WvDBusProperties *props, gpointer object, GDBusConnection *bus,
                          const char *path, const char *iface)
{
  g_autoptr(GVariant) old = g_steal_pointer(&props->all);
  g_autoptr(GVariant) now = read_all(props->table, object);
  GVariantBuilder b;
  gboolean any = FALSE;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
  for (guint i = 0; props->table[i].name; i++) {
    const char *name = props->table[i].name;
    g_autoptr(GVariant) a = old ? g_variant_lookup_value(old, name, NULL) : NULL;
    g_autoptr(GVariant) n = g_variant_lookup_value(now, name, NULL);

    if (a == NULL || !g_variant_equal(a, n)) {
      g_variant_builder_add(&b, "{sv}", name, n);
      any = TRUE;
    }
  }
  if (!any) {
    /* the same values: the old dictionary stays, and so does what was
     * built from it (the cached GetManagedObjects reply) */
    g_variant_builder_clear(&b);
    props->all = g_steal_pointer(&old);
    return;
  }
  props->all = g_steal_pointer(&now);
  generation++;
  if (bus)
    g_dbus_connection_emit_signal(
        bus, NULL, path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
        g_variant_new("(s@a{sv}as)", iface, g_variant_builder_end(&b), NULL), NULL);
  else
    g_variant_builder_clear(&b);
}

void
wv_dbus_properties_clear(WvDBusProperties *props)
{
  if (props->all)
    generation++;
  g_clear_pointer(&props->all, g_variant_unref);
}
