/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * load: many D-Bus clients reading winvmd while a few VMs change state.
 *
 * Each client is a thread with its own bus connection making one call at a
 * time from a fixed mix: Properties.Get/GetAll of the VMs, ListVMs,
 * GetManagedObjects, Manager properties and Check. Each lifecycle VM gets
 * a thread (own connection) that cycles it through Start, Suspend, Resume
 * and ForceOff while the clients run.
 *
 * A warm-up round comes first (every client and lifecycle thread), then the
 * daemon's VmRSS is read (--pid), then the measured round, then VmRSS again.
 * Both readings are taken with the lifecycle VMs off and the daemon idle.
 * The run is bounded by count (--calls per client) and by time
 * (--time-limit): a run that hits the limit says so ("truncated").
 *
 * Prints one JSON object: throughput, latency percentiles (overall and per
 * call), errors by D-Bus name, lifecycle figures and the two RSS readings.
 */
#include "wv-common.h"

#include <json-glib/json-glib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum
{
  CALL_GET,
  CALL_GET_ALL,
  CALL_LIST_VMS,
  CALL_MANAGED_OBJECTS,
  CALL_MANAGER_PROPERTY,
  CALL_CHECK,
  N_CALLS,
} CallKind;

static const char *const call_names[N_CALLS] = {
    [CALL_GET] = "Properties.Get",
    [CALL_GET_ALL] = "Properties.GetAll",
    [CALL_LIST_VMS] = "ListVMs",
    [CALL_MANAGED_OBJECTS] = "GetManagedObjects",
    [CALL_MANAGER_PROPERTY] = "Manager Properties.Get",
    [CALL_CHECK] = "Check",
};

/* The mix, one round of 40 calls: G Properties.Get of a VM, A GetAll, L
 * ListVMs, O GetManagedObjects, M a Manager property, C Check. Each client
 * starts at its own offset. */
static const char mix[] = "GGALGGAMGLGAGLGGAOMLGGALGCAMGLGGALMGAOML";
#define MIX_LEN (G_N_ELEMENTS(mix) - 1)

static CallKind
kind_of(char c)
{
  switch (c) {
    case 'G':
      return CALL_GET;
    case 'A':
      return CALL_GET_ALL;
    case 'L':
      return CALL_LIST_VMS;
    case 'O':
      return CALL_MANAGED_OBJECTS;
    case 'M':
      return CALL_MANAGER_PROPERTY;
    case 'C':
      return CALL_CHECK;
    default:
      g_assert_not_reached();
  }
}

static const char *const vm_properties[] = {"State", "VCPUPins", "UUID", "MemoryKiB", "Name"};
static const char *const manager_properties[] = {"LibvirtConnected", "Version", "ProfileErrors"};

static const char *const lifecycle_steps[] = {"Start", "Suspend", "Resume", "ForceOff"};
#define N_STEPS G_N_ELEMENTS(lifecycle_steps)

typedef struct
{
  char *address;
  guint n_clients;
  guint calls;
  guint warmup;
  double time_limit;
  int pid;
  guint settle_ms;
  char **lifecycle;
  char **names; /* every VM, from ListVMs */
  char **paths;
  guint n_vms;

  pthread_barrier_t warmed_up; /* every thread and main */
  pthread_barrier_t go;
  gint warming;   /* clients still in warm-up */
  gint measuring; /* clients still in the measured round */
  gint64 deadline;
  gint truncated;
} Load;

typedef struct
{
  GArray *lat[N_CALLS]; /* gint64 µs, measured round */
  GHashTable *errors;   /* D-Bus error name → count */
} Stats;

typedef struct
{
  Load *load;
  guint id;
  GDBusConnection *conn;
  GThread *thread;
  Stats stats;
  guint cycles; /* lifecycle threads */
  const char *vm_path;
} Worker;

static void
stats_init(Stats *s)
{
  for (guint k = 0; k < N_CALLS; k++)
    s->lat[k] = g_array_new(FALSE, FALSE, sizeof(gint64));
  s->errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static void
stats_clear(Stats *s)
{
  for (guint k = 0; k < N_CALLS; k++)
    g_array_unref(s->lat[k]);
  g_hash_table_unref(s->errors);
}

/* Counts @error by its D-Bus name; the first of each name per thread is
 * printed with the call it answered. */
static void
count_error(GHashTable *errors, const GError *error, const char *method, const char *path)
{
  g_autofree char *name = g_dbus_error_get_remote_error(error);
  const char *key = name                                                       ? name
                    : g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ? "(client timeout)"
                                                                               : "(local error)";
  guint n = GPOINTER_TO_UINT(g_hash_table_lookup(errors, key));

  if (n == 0)
    g_printerr("load: %s on %s: %s\n", method, path, error->message);
  g_hash_table_replace(errors, g_strdup(key), GUINT_TO_POINTER(n + 1));
}

/* One call; returns its latency in µs, or -1 on error (counted).
 *
 * The call is asynchronous and waited for on the calling thread's own
 * main context (each thread has one for its whole life): a synchronous
 * GDBus call would create and destroy a main context, and its eventfd, for
 * every call, which costs more CPU than the daemon spends answering. */
typedef struct
{
  GVariant *reply;
  GError *error;
  gboolean done;
} Reply;

static void
call_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Reply *r = data;

  r->reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &r->error);
  r->done = TRUE;
}

static gint64
timed_call(GDBusConnection *conn, const char *path, const char *iface, const char *method,
           GVariant *params, GHashTable *errors)
{
  GMainContext *ctx = g_main_context_get_thread_default();
  Reply r = {0};
  gint64 t0 = g_get_monotonic_time(), us;

  g_dbus_connection_call(conn, WV_BUS_NAME, path, iface, method, params, NULL,
                         G_DBUS_CALL_FLAGS_NONE, 60000, NULL, call_done, &r);
  while (!r.done)
    g_main_context_iteration(ctx, TRUE);
  us = g_get_monotonic_time() - t0;
  if (r.reply == NULL) {
    count_error(errors, r.error, method, path);
    g_error_free(r.error);
    return -1;
  }
  g_variant_unref(r.reply);
  return us;
}

static gint64
client_call(Worker *w, guint i, CallKind *kind)
{
  Load *load = w->load;
  guint slot = i + w->id * 7;
  guint vm = (slot / MIX_LEN + w->id) % load->n_vms;

  *kind = kind_of(mix[slot % MIX_LEN]);
  switch (*kind) {
    case CALL_GET:
      return timed_call(
          w->conn, load->paths[vm], "org.freedesktop.DBus.Properties", "Get",
          g_variant_new("(ss)", WV_VM_INTERFACE, vm_properties[slot % G_N_ELEMENTS(vm_properties)]),
          w->stats.errors);
    case CALL_GET_ALL:
      return timed_call(w->conn, load->paths[vm], "org.freedesktop.DBus.Properties", "GetAll",
                        g_variant_new("(s)", WV_VM_INTERFACE), w->stats.errors);
    case CALL_LIST_VMS:
      return timed_call(w->conn, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "ListVMs", NULL,
                        w->stats.errors);
    case CALL_MANAGED_OBJECTS:
      return timed_call(w->conn, WV_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                        "GetManagedObjects", NULL, w->stats.errors);
    case CALL_MANAGER_PROPERTY:
      return timed_call(w->conn, WV_MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get",
                        g_variant_new("(ss)", WV_MANAGER_INTERFACE,
                                      manager_properties[slot % G_N_ELEMENTS(manager_properties)]),
                        w->stats.errors);
    case CALL_CHECK:
      return timed_call(w->conn, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "Check",
                        g_variant_new("(s)", load->names[vm]), w->stats.errors);
    case N_CALLS:
    default:
      g_assert_not_reached();
  }
}

static gpointer
client_thread(gpointer data)
{
  Worker *w = data;
  Load *load = w->load;
  g_autoptr(GMainContext) ctx = g_main_context_new();
  CallKind kind;

  g_main_context_push_thread_default(ctx);

  for (guint i = 0; i < load->warmup; i++)
    client_call(w, i, &kind);
  g_atomic_int_dec_and_test(&load->warming);
  pthread_barrier_wait(&load->warmed_up);
  pthread_barrier_wait(&load->go);

  for (guint i = 0; i < load->calls; i++) {
    gint64 us;

    if (g_get_monotonic_time() > load->deadline) {
      g_atomic_int_set(&load->truncated, 1);
      break;
    }
    us = client_call(w, i, &kind);
    if (us >= 0)
      g_array_append_val(w->stats.lat[kind], us);
  }
  g_atomic_int_dec_and_test(&load->measuring);
  g_main_context_pop_thread_default(ctx);
  return NULL;
}

/* Start, Suspend, Resume, ForceOff; the latency of each step is kept with
 * the GET slot of its own stats (one kind is enough here). */
static void
lifecycle_cycle(Worker *w, gboolean measured)
{
  for (guint s = 0; s < N_STEPS; s++) {
    gint64 us =
        timed_call(w->conn, w->vm_path, WV_VM_INTERFACE, lifecycle_steps[s], NULL, w->stats.errors);
    if (measured && us >= 0)
      g_array_append_val(w->stats.lat[CALL_GET], us);
  }
  if (measured)
    w->cycles++;
}

static gpointer
lifecycle_thread(gpointer data)
{
  Worker *w = data;
  Load *load = w->load;
  g_autoptr(GMainContext) ctx = g_main_context_new();

  g_main_context_push_thread_default(ctx);

  /* at least one cycle in each round, every cycle ends with the VM off */
  do
    lifecycle_cycle(w, FALSE);
  while (g_atomic_int_get(&load->warming) > 0);
  pthread_barrier_wait(&load->warmed_up);
  pthread_barrier_wait(&load->go);
  do
    lifecycle_cycle(w, TRUE);
  while (g_atomic_int_get(&load->measuring) > 0);
  g_main_context_pop_thread_default(ctx);
  return NULL;
}

static GDBusConnection *
connect_bus(const char *address)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *conn =
      g_dbus_connection_new_for_address_sync(address,
                                             G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                             NULL, NULL, &error);

  if (conn == NULL) {
    g_printerr("load: cannot connect to %s: %s\n", address, error->message);
    exit(2);
  }
  return conn;
}

static gint64
read_rss_kib(int pid)
{
  g_autofree char *file = g_strdup_printf("/proc/%d/status", pid);
  g_autofree char *text = NULL;
  const char *line;

  if (pid <= 0 || !g_file_get_contents(file, &text, NULL, NULL))
    return -1;
  line = strstr(text, "VmRSS:");
  return line ? g_ascii_strtoll(line + 6, NULL, 10) : -1;
}

/* Lets the daemon go idle (the refreshes that follow the last lifecycle
 * changes), then makes sure it answers. */
static void
settle(GDBusConnection *conn, guint ms)
{
  g_autoptr(GHashTable) ignored = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

  g_usleep((gulong)ms * 1000);
  timed_call(conn, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "ListVMs", NULL, ignored);
}

static gint64
percentile(GArray *sorted, double p)
{
  if (sorted->len == 0)
    return 0;
  return g_array_index(sorted, gint64, MIN(sorted->len - 1, (guint)(p * sorted->len)));
}

static gint
cmp_gint64(gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

  return x < y ? -1 : x > y;
}

static void
add_latency(JsonBuilder *b, GArray *lat)
{
  g_array_sort(lat, cmp_gint64);
  json_builder_set_member_name(b, "calls");
  json_builder_add_int_value(b, lat->len);
  json_builder_set_member_name(b, "p50_us");
  json_builder_add_int_value(b, percentile(lat, 0.50));
  json_builder_set_member_name(b, "p90_us");
  json_builder_add_int_value(b, percentile(lat, 0.90));
  json_builder_set_member_name(b, "p99_us");
  json_builder_add_int_value(b, percentile(lat, 0.99));
  json_builder_set_member_name(b, "max_us");
  json_builder_add_int_value(b, lat->len ? g_array_index(lat, gint64, lat->len - 1) : 0);
}

static void
add_errors(JsonBuilder *b, GHashTable *errors)
{
  GHashTableIter it;
  gpointer key, value;

  json_builder_begin_object(b);
  g_hash_table_iter_init(&it, errors);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    json_builder_set_member_name(b, key);
    json_builder_add_int_value(b, GPOINTER_TO_UINT(value));
  }
  json_builder_end_object(b);
}

static void
merge_errors(GHashTable *into, GHashTable *from)
{
  GHashTableIter it;
  gpointer key, value;

  g_hash_table_iter_init(&it, from);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(into, key));
    g_hash_table_replace(into, g_strdup(key), GUINT_TO_POINTER(n + GPOINTER_TO_UINT(value)));
  }
}

static void
list_vms(Load *load, GDBusConnection *conn)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariantIter) iter = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new();
  g_autoptr(GPtrArray) paths = g_ptr_array_new();
  const char *name, *path;

  reply = g_dbus_connection_call_sync(conn, WV_BUS_NAME, WV_MANAGER_PATH, WV_MANAGER_INTERFACE,
                                      "ListVMs", NULL, G_VARIANT_TYPE("(a(so))"),
                                      G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
  if (reply == NULL) {
    g_printerr("load: ListVMs: %s\n", error->message);
    exit(2);
  }
  g_variant_get(reply, "(a(so))", &iter);
  while (g_variant_iter_next(iter, "(&s&o)", &name, &path)) {
    g_ptr_array_add(names, g_strdup(name));
    g_ptr_array_add(paths, g_strdup(path));
  }
  if (names->len == 0) {
    g_printerr("load: the daemon has no VMs\n");
    exit(2);
  }
  load->n_vms = names->len;
  g_ptr_array_add(names, NULL);
  g_ptr_array_add(paths, NULL);
  load->names = (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
  load->paths = (char **)g_ptr_array_free(g_steal_pointer(&paths), FALSE);
}

static const char *
path_of(Load *load, const char *name)
{
  for (guint i = 0; i < load->n_vms; i++)
    if (g_str_equal(load->names[i], name))
      return load->paths[i];
  g_printerr("load: no VM %s\n", name);
  exit(2);
}

int
main(int argc, char **argv)
{
  Load load = {.time_limit = 120};
  int n_clients = 32, calls = 10000, warmup = 500, settle_ms = 500;
  g_autofree char *lifecycle = NULL;
  g_autoptr(GOptionContext) octx = NULL;
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
      {"address", 'a', 0, G_OPTION_ARG_STRING, &load.address, "Bus address (required)", "ADDR"},
      {"clients", 'c', 0, G_OPTION_ARG_INT, &n_clients, "Client connections (32)", "N"},
      {"calls", 'n', 0, G_OPTION_ARG_INT, &calls, "Measured calls per client (10000)", "N"},
      {"warmup", 'w', 0, G_OPTION_ARG_INT, &warmup, "Warm-up calls per client (500)", "N"},
      {"time-limit", 't', 0, G_OPTION_ARG_DOUBLE, &load.time_limit,
       "Stop the measured round after this many seconds (120)", "S"},
      {"pid", 'p', 0, G_OPTION_ARG_INT, &load.pid, "Read this process's VmRSS", "PID"},
      {"settle-ms", 0, 0, G_OPTION_ARG_INT, &settle_ms, "Idle time before each RSS reading (500)",
       "MS"},
      {"lifecycle", 'l', 0, G_OPTION_ARG_STRING, &lifecycle,
       "VMs to cycle through Start/Suspend/Resume/ForceOff, comma-separated", "NAMES"},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GDBusConnection) main_conn = NULL;
  g_autofree Worker *clients = NULL;
  g_autofree Worker *cyclers = NULL;
  guint n_cyclers;
  gint64 rss_warm, rss_end, t0, t1;
  GArray *all;
  g_autoptr(GHashTable) errors = NULL;
  g_autoptr(GHashTable) lc_errors = NULL;
  g_autoptr(GArray) lc_lat = NULL;
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;
  guint lc_cycles = 0;
  double secs;

  octx = g_option_context_new("- load winvmd over D-Bus");
  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, &error)) {
    g_printerr("load: %s\n", error->message);
    return 2;
  }
  if (load.address == NULL || n_clients < 1 || calls < 0 || warmup < 0 || settle_ms < 0) {
    g_printerr("load: --address is required; counts must not be negative\n");
    return 2;
  }
  load.n_clients = (guint)n_clients;
  load.calls = (guint)calls;
  load.warmup = (guint)warmup;
  load.settle_ms = (guint)settle_ms;
  load.lifecycle = lifecycle && *lifecycle ? g_strsplit(lifecycle, ",", -1) : g_new0(char *, 1);
  n_cyclers = g_strv_length(load.lifecycle);

  main_conn = connect_bus(load.address);
  list_vms(&load, main_conn);

  pthread_barrier_init(&load.warmed_up, NULL, load.n_clients + n_cyclers + 1);
  pthread_barrier_init(&load.go, NULL, load.n_clients + n_cyclers + 1);
  load.warming = load.measuring = (gint)load.n_clients;
  load.deadline = G_MAXINT64;

  clients = g_new0(Worker, load.n_clients);
  cyclers = g_new0(Worker, n_cyclers);
  /* every connection exists before any thread calls */
  for (guint i = 0; i < load.n_clients; i++) {
    clients[i].load = &load;
    clients[i].id = i;
    clients[i].conn = connect_bus(load.address);
    stats_init(&clients[i].stats);
  }
  for (guint i = 0; i < n_cyclers; i++) {
    cyclers[i].load = &load;
    cyclers[i].id = i;
    cyclers[i].conn = connect_bus(load.address);
    cyclers[i].vm_path = path_of(&load, load.lifecycle[i]);
    stats_init(&cyclers[i].stats);
  }
  for (guint i = 0; i < load.n_clients; i++)
    clients[i].thread = g_thread_new("client", client_thread, &clients[i]);
  for (guint i = 0; i < n_cyclers; i++)
    cyclers[i].thread = g_thread_new("lifecycle", lifecycle_thread, &cyclers[i]);

  pthread_barrier_wait(&load.warmed_up);
  settle(main_conn, load.settle_ms);
  rss_warm = read_rss_kib(load.pid);
  t0 = g_get_monotonic_time();
  load.deadline = t0 + (gint64)(load.time_limit * G_USEC_PER_SEC);
  pthread_barrier_wait(&load.go);

  for (guint i = 0; i < load.n_clients; i++)
    g_thread_join(clients[i].thread);
  t1 = g_get_monotonic_time();
  for (guint i = 0; i < n_cyclers; i++)
    g_thread_join(cyclers[i].thread);
  settle(main_conn, load.settle_ms);
  rss_end = read_rss_kib(load.pid);
  secs = (double)(t1 - t0) / G_USEC_PER_SEC;

  /* ---- the report ---- */
  all = g_array_new(FALSE, FALSE, sizeof(gint64));
  errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  lc_errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  lc_lat = g_array_new(FALSE, FALSE, sizeof(gint64));
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "clients");
  json_builder_add_int_value(b, load.n_clients);
  json_builder_set_member_name(b, "calls_per_client");
  json_builder_add_int_value(b, load.calls);
  json_builder_set_member_name(b, "warmup_per_client");
  json_builder_add_int_value(b, load.warmup);
  json_builder_set_member_name(b, "by_call");
  json_builder_begin_object(b);
  for (guint k = 0; k < N_CALLS; k++) {
    g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(gint64));

    for (guint i = 0; i < load.n_clients; i++)
      g_array_append_vals(lat, clients[i].stats.lat[k]->data, clients[i].stats.lat[k]->len);
    g_array_append_vals(all, lat->data, lat->len);
    json_builder_set_member_name(b, call_names[k]);
    json_builder_begin_object(b);
    add_latency(b, lat);
    json_builder_end_object(b);
  }
  json_builder_end_object(b);
  for (guint i = 0; i < load.n_clients; i++)
    merge_errors(errors, clients[i].stats.errors);
  json_builder_set_member_name(b, "seconds");
  json_builder_add_double_value(b, secs);
  json_builder_set_member_name(b, "calls_per_second");
  json_builder_add_double_value(b, secs > 0 ? all->len / secs : 0);
  json_builder_set_member_name(b, "latency");
  json_builder_begin_object(b);
  add_latency(b, all);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "errors");
  add_errors(b, errors);
  json_builder_set_member_name(b, "completed");
  json_builder_add_int_value(b, all->len);
  json_builder_set_member_name(b, "truncated");
  json_builder_add_boolean_value(b, g_atomic_int_get(&load.truncated));

  for (guint i = 0; i < n_cyclers; i++) {
    g_array_append_vals(lc_lat, cyclers[i].stats.lat[CALL_GET]->data,
                        cyclers[i].stats.lat[CALL_GET]->len);
    merge_errors(lc_errors, cyclers[i].stats.errors);
    lc_cycles += cyclers[i].cycles;
  }
  json_builder_set_member_name(b, "lifecycle");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "vms");
  json_builder_begin_array(b);
  for (guint i = 0; i < n_cyclers; i++)
    json_builder_add_string_value(b, load.lifecycle[i]);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "cycles");
  json_builder_add_int_value(b, lc_cycles);
  add_latency(b, lc_lat);
  json_builder_set_member_name(b, "errors");
  add_errors(b, lc_errors);
  json_builder_end_object(b);

  json_builder_set_member_name(b, "rss_kib");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "after_warmup");
  json_builder_add_int_value(b, rss_warm);
  json_builder_set_member_name(b, "end");
  json_builder_add_int_value(b, rss_end);
  json_builder_set_member_name(b, "growth");
  json_builder_add_int_value(b, rss_end - rss_warm);
  json_builder_end_object(b);
  json_builder_end_object(b);

  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  json = json_generator_to_data(gen, NULL);
  g_print("%s\n", json);

  for (guint i = 0; i < load.n_clients; i++) {
    g_object_unref(clients[i].conn);
    stats_clear(&clients[i].stats);
  }
  for (guint i = 0; i < n_cyclers; i++) {
    g_object_unref(cyclers[i].conn);
    stats_clear(&cyclers[i].stats);
  }
  g_array_unref(all);
  pthread_barrier_destroy(&load.warmed_up);
  pthread_barrier_destroy(&load.go);
  g_strfreev(load.lifecycle);
  g_strfreev(load.names);
  g_strfreev(load.paths);
  g_free(load.address);
  return 0;
}
