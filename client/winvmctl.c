/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * winvmctl: the command-line client of winvmd (org.winvm1 on the system
 * bus). A thin client: each command is a D-Bus call or two, never libvirt.
 * Exit statuses are documented in winvmctl(1) and in exit_status().
 */
#include "config.h"

#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "wv-common.h"
#include "wv-last-stop.h"

#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

/* Errors of the client itself; each code is the exit status. */
typedef enum
{
  CTL_ERROR_FAILED = 1,
  CTL_ERROR_USAGE = 2,
  CTL_ERROR_UNREACHABLE = 6,
} CtlError;

#define CTL_ERROR (g_quark_from_static_string("winvmctl-error-quark"))

typedef enum
{
  OPT_WAIT = 1 << 0,
  OPT_TIMEOUT = 1 << 1,
  OPT_FORCE = 1 << 2,
  OPT_CREATE = 1 << 3,   /* --template, --memory, --vcpus, --disk, --iso */
  OPT_UNDEFINE = 1 << 4, /* --undefine */
  OPT_NAME = 1 << 5,     /* --name */
} CmdOptions;

typedef struct _Command Command;

typedef struct
{
  GDBusConnection *bus;
  GError *bus_error; /* why there is no bus (for version) */
  gboolean json, wait, force, tty;
  int timeout;      /* --timeout, -1 when not given */
  guint timeout_s;  /* the same, 0 when not given */
  const char *name; /* the VM, for commands that need one */
  char *path;
  char **args; /* what follows the command and the VM name */
  guint n_args;
  char *template_name, *memory, *vcpus, *disk, *iso; /* create */
  gboolean undefine;                                 /* delete */
  char *import_name;                                 /* import --name */
} Ctl;

struct _Command
{
  const char *name;
  gboolean (*run)(Ctl *ctl, const Command *cmd, GError **error);
  const char *usage;
  gboolean needs_vm;
  guint min_args, max_args; /* after the VM name */
  CmdOptions options;
  const char *method; /* for the plain lifecycle calls */
};

/* ---- D-Bus ------------------------------------------------------------------ */

/* Calls that change something may wait for a polkit password prompt. */
static GVariant *
call(Ctl *ctl, const char *path, const char *iface, const char *method, GVariant *params,
     const char *reply, gboolean changes, GError **error)
{
  return g_dbus_connection_call_sync(
      ctl->bus, WV_BUS_NAME, path, iface, method, params, reply ? G_VARIANT_TYPE(reply) : NULL,
      changes ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION : G_DBUS_CALL_FLAGS_NONE,
      changes ? G_MAXINT : -1, NULL, error);
}

static char *
vm_path(Ctl *ctl, const char *name, GError **error)
{
  g_autoptr(GVariant) reply =
      call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "ListVMs", NULL, "(a(so))", FALSE, error);
  g_autoptr(GVariantIter) iter = NULL;
  const char *n, *path;

  if (reply == NULL)
    return NULL;
  g_variant_get(reply, "(a(so))", &iter);
  while (g_variant_iter_next(iter, "(&s&o)", &n, &path))
    if (g_str_equal(n, name))
      return g_strdup(path);
  g_set_error(error, WV_ERROR, WV_ERROR_NOT_FOUND, "no VM named “%s”", name);
  return NULL;
}

typedef struct
{
  char *path;
  char *name;
  char *state;
  char *step;       /* ShutdownStep while a stop ladder runs, StartStep while a Start reserves */
  gboolean reached; /* a Wait's state, since the call */
  GVariant *props;  /* a{sv} */
} Vm;

static void
vm_free(Vm *vm)
{
  g_free(vm->path);
  g_free(vm->name);
  g_free(vm->state);
  g_free(vm->step);
  g_variant_unref(vm->props);
  g_free(vm);
}

static Vm *
vm_new(const char *path, const char *name, GVariant *props)
{
  Vm *vm = g_new0(Vm, 1);

  vm->path = g_strdup(path);
  vm->props = g_variant_ref_sink(props);
  if (name || !g_variant_lookup(props, "Name", "s", &vm->name))
    vm->name = g_strdup(name ? name : path);
  if (!g_variant_lookup(props, "State", "s", &vm->state))
    vm->state = g_strdup("unknown");
  return vm;
}

static int
vm_compare(gconstpointer a, gconstpointer b)
{
  return g_strcmp0((*(Vm *const *)a)->name, (*(Vm *const *)b)->name);
}

/* Every VM with its properties in one call, sorted by name. */
static GPtrArray *
list_vms(Ctl *ctl, GError **error)
{
  g_autoptr(GVariant) reply = call(ctl, WV_MANAGER_PATH, OBJECT_MANAGER_IFACE, "GetManagedObjects",
                                   NULL, "(a{oa{sa{sv}}})", FALSE, error);
  g_autoptr(GVariantIter) iter = NULL;
  GPtrArray *vms;
  const char *path;
  GVariant *ifaces;

  if (reply == NULL)
    return NULL;
  vms = g_ptr_array_new_with_free_func((GDestroyNotify)vm_free);
  g_variant_get(reply, "(a{oa{sa{sv}}})", &iter);
  while (g_variant_iter_next(iter, "{&o@a{sa{sv}}}", &path, &ifaces)) {
    g_autoptr(GVariant) props = g_variant_lookup_value(ifaces, WV_VM_INTERFACE, NULL);
    if (props)
      g_ptr_array_add(vms, vm_new(path, NULL, props));
    g_variant_unref(ifaces);
  }
  g_ptr_array_sort(vms, vm_compare);
  return vms;
}

/* A string property, or NULL with @error set. */
static char *
get_string(Ctl *ctl, const char *path, const char *iface, const char *prop, GError **error)
{
  g_autoptr(GVariant) reply = call(ctl, path, PROPERTIES_INTERFACE, "Get",
                                   g_variant_new("(ss)", iface, prop), "(v)", FALSE, error);
  g_autoptr(GVariant) value = NULL;

  if (reply == NULL)
    return NULL;
  g_variant_get(reply, "(v)", &value);
  if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string(value, NULL);
  g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "%s is not a string", prop);
  return NULL;
}

static Vm *
get_vm(Ctl *ctl, GError **error)
{
  g_autoptr(GVariant) reply = call(ctl, ctl->path, PROPERTIES_INTERFACE, "GetAll",
                                   g_variant_new("(s)", WV_VM_INTERFACE), "(a{sv})", FALSE, error);
  g_autoptr(GVariant) props = NULL;

  if (reply == NULL)
    return NULL;
  props = g_variant_get_child_value(reply, 0);
  return vm_new(ctl->path, ctl->name, props);
}

/* ---- output ----------------------------------------------------------------- */

/* D-Bus property → JSON member; a(us) pins become [{KEY: n, "cpuset": s}]. */
static const struct
{
  const char *prop, *key, *pin_key;
} json_names[] = {
    {"Name", "name"},
    {"UUID", "uuid"},
    {"State", "state"},
    {"VCPUs", "vcpus"},
    {"MemoryKiB", "memory_kib"},
    {"Hugepages", "hugepages"},
    {"HostDevices", "host_devices"},
    {"Autostart", "autostart"},
    {"ShutdownTimeout", "shutdown_timeout"},
    {"ShutdownStep", "shutdown_step"},
    {"StartStep", "start_step"},
    {"LastStop", "last_stop"},
    {"GuestAgent", "guest_agent"},
    {"OnHostSleep", "on_host_sleep"},
    {"BlockingSleep", "blocking_sleep"},
    {"VCPUPins", "vcpu_pins", "vcpu"},
    {"IOThreadPins", "iothread_pins", "iothread"},
    {"EmulatorPin", "emulator_pin"},
    {"PendingRestart", "pending_restart"},
    {"Version", "version"},
    {"LibvirtConnected", "libvirt_connected"},
    {"LibvirtURI", "libvirt_uri"},
    {"ProfileErrors", "profile_errors"},
};

static JsonNode *
json_value(GVariant *value, const char *pin_key)
{
  JsonArray *pins;
  GVariantIter iter;
  const char *cpus;
  guint32 n;

  if (!g_variant_is_of_type(value, G_VARIANT_TYPE("a(us)")))
    return json_gvariant_serialize(value);
  pins = json_array_new();
  g_variant_iter_init(&iter, value);
  while (g_variant_iter_next(&iter, "(u&s)", &n, &cpus)) {
    JsonObject *pin = json_object_new();
    json_object_set_int_member(pin, pin_key ? pin_key : "index", n);
    json_object_set_string_member(pin, "cpuset", cpus);
    json_array_add_object_element(pins, pin);
  }
  return json_node_init_array(json_node_alloc(), pins);
}

/* Unknown properties (a newer daemon) keep their D-Bus name. */
static JsonObject *
json_props(GVariant *props)
{
  JsonObject *obj = json_object_new();
  GVariantIter iter;
  const char *prop;
  GVariant *value;

  g_variant_iter_init(&iter, props);
  while (g_variant_iter_next(&iter, "{&sv}", &prop, &value)) {
    const char *key = prop, *pin_key = NULL;
    for (guint i = 0; i < G_N_ELEMENTS(json_names); i++)
      if (g_str_equal(prop, json_names[i].prop)) {
        key = json_names[i].key;
        pin_key = json_names[i].pin_key;
      }
    json_object_set_member(obj, key, json_value(value, pin_key));
    g_variant_unref(value);
  }
  return obj;
}

/* Prints one JSON document; takes @root. Pretty unless it is a stream. */
static void
print_json(JsonNode *root, gboolean pretty)
{
  g_autoptr(JsonNode) owned = root;
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autofree char *text = NULL;

  json_generator_set_pretty(gen, pretty);
  json_generator_set_root(gen, owned);
  text = json_generator_to_data(gen, NULL);
  g_print("%s\n", text);
  fflush(stdout);
}

static void
print_json_object(JsonObject *obj, gboolean pretty)
{
  print_json(json_node_init_object(json_node_alloc(), obj), pretty);
  json_object_unref(obj);
}

/* Human form of a property value. */
static char *
format_value(const char *prop, GVariant *v)
{
  if (g_str_equal(prop, "MemoryKiB") && g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64)) {
    g_autofree char *size =
        g_format_size_full(g_variant_get_uint64(v) * 1024, G_FORMAT_SIZE_IEC_UNITS);
    GString *s = g_string_new(size);
    g_string_replace(s, "\u00a0", " ", 0); /* a plain space, for scripts */
    return g_string_free(s, FALSE);
  }
  if (g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN))
    return g_strdup(g_variant_get_boolean(v) ? "yes" : "no");
  if (g_str_equal(prop, "LastStop") && g_variant_is_of_type(v, G_VARIANT_TYPE("(sud)"))) {
    const char *how;
    guint32 presses;
    double secs;

    g_variant_get(v, "(&sud)", &how, &presses, &secs);
    return *how ? wv_last_stop_describe(how, presses, secs) : g_strdup("-");
  }
  if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) {
    const char *s = g_variant_get_string(v, NULL);
    return g_strdup(*s ? s : "-");
  }
  if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING_ARRAY)) {
    g_autofree const char **strv = g_variant_get_strv(v, NULL);
    return strv[0] ? g_strjoinv(", ", (char **)strv) : g_strdup("-");
  }
  if (g_variant_is_of_type(v, G_VARIANT_TYPE("a(us)"))) {
    g_autoptr(GString) s = g_string_new(NULL);
    GVariantIter iter;
    const char *cpus;
    guint32 n;

    g_variant_iter_init(&iter, v);
    while (g_variant_iter_next(&iter, "(u&s)", &n, &cpus))
      g_string_append_printf(s, "%s%u:%s", s->len ? " " : "", n, cpus);
    return g_strdup(s->len ? s->str : "-");
  }
  return g_variant_print(v, FALSE);
}

static char *
prop_text(GVariant *props, const char *prop)
{
  g_autoptr(GVariant) v = g_variant_lookup_value(props, prop, NULL);
  return v ? format_value(prop, v) : g_strdup("?");
}

/* A row of strings for print_table(); takes the strings, NULL ends. */
static void
row_add(GPtrArray *rows, ...)
{
  GPtrArray *row = g_ptr_array_new();
  va_list ap;
  char *s;

  va_start(ap, rows);
  while ((s = va_arg(ap, char *)) != NULL)
    g_ptr_array_add(row, s);
  va_end(ap);
  g_ptr_array_add(row, NULL);
  g_ptr_array_add(rows, g_ptr_array_free(row, FALSE));
}

/* Columns padded to their widest cell; the last one is not padded. */
static void
print_table(GPtrArray *rows, const char *indent)
{
  guint widths[8] = {0};

  for (guint r = 0; r < rows->len; r++) {
    char **row = rows->pdata[r];
    for (guint c = 0; row[c] && c < G_N_ELEMENTS(widths); c++)
      widths[c] = MAX(widths[c], g_utf8_strlen(row[c], -1));
  }
  for (guint r = 0; r < rows->len; r++) {
    char **row = rows->pdata[r];
    g_autoptr(GString) line = g_string_new(indent);
    for (guint c = 0; row[c]; c++) {
      g_string_append(line, row[c]);
      if (row[c + 1] != NULL)
        for (guint pad = g_utf8_strlen(row[c], -1); pad < widths[c] + 2; pad++)
          g_string_append_c(line, ' ');
    }
    g_print("%s\n", line->str);
  }
}

static GPtrArray *
table_new(void)
{
  return g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
}

/* ---- waiting, with progress on a TTY -----------------------------------------
 *
 * A Wait runs one asynchronous call while following the VMs it affects
 * through PropertiesChanged; on a TTY it redraws one line per VM each second
 * ("win11: shutting-down, 37 s left"). With @until, it also waits until every
 * VM reached that state after the call returned.
 */

typedef struct
{
  Ctl *ctl;
  GPtrArray *vms; /* Vm */
  const char *until;
  guint timeout_s; /* 0: no deadline known */
  gint64 started;
  gboolean pending;
  GError *error;
  guint drawn;
  GMainLoop *loop;
  GCancellable *cancellable;
} Wait;

static void
wait_draw(Wait *w, gboolean final)
{
  guint s = (guint)((g_get_monotonic_time() - w->started) / G_USEC_PER_SEC);

  if (!w->ctl->tty || w->ctl->json)
    return;
  if (w->drawn)
    g_print("\033[%uA", w->drawn);
  for (guint i = 0; i < w->vms->len; i++) {
    Vm *vm = w->vms->pdata[i];
    g_autofree char *when =
        final          ? g_strdup("")
        : w->timeout_s ? g_strdup_printf(", %u s left", w->timeout_s > s ? w->timeout_s - s : 0)
                       : g_strdup_printf(" (%u s)", s);
    g_print("\r\033[K%s: %s%s%s%s%s\n", vm->name, vm->state, vm->step && *vm->step ? " (" : "",
            vm->step ? vm->step : "", vm->step && *vm->step ? ")" : "", when);
  }
  w->drawn = w->vms->len;
  fflush(stdout);
}

/* Done when the call returned and, with @until, every VM has been in that
 * state since (it may have moved on: a guest can power off at once). Whether
 * the VM started is the call's answer, not a guess from intermediate states. */
static void
wait_check(Wait *w)
{
  if (w->pending)
    return;
  for (guint i = 0; w->error == NULL && w->until && i < w->vms->len; i++)
    if (!((Vm *)w->vms->pdata[i])->reached)
      return;
  g_main_loop_quit(w->loop);
}

static void
wait_properties_changed(GDBusConnection *bus, const char *sender, const char *path,
                        const char *iface, const char *signal, GVariant *params, gpointer data)
{
  Wait *w = data;
  g_autoptr(GVariant) changed = NULL;
  const char *changed_iface, *state = NULL, *step = NULL;

  g_variant_get(params, "(&s@a{sv}@as)", &changed_iface, &changed, NULL);
  if (!g_str_equal(changed_iface, WV_VM_INTERFACE))
    return;
  g_variant_lookup(changed, "State", "&s", &state);
  if (!g_variant_lookup(changed, "ShutdownStep", "&s", &step))
    g_variant_lookup(changed, "StartStep", "&s", &step);
  if (state == NULL && step == NULL)
    return;
  for (guint i = 0; i < w->vms->len; i++) {
    Vm *vm = w->vms->pdata[i];
    if (!g_str_equal(vm->path, path))
      continue;
    if (step) {
      g_free(vm->step);
      vm->step = g_strdup(step);
    }
    if (state) {
      g_free(vm->state);
      vm->state = g_strdup(state);
      vm->reached |= g_strcmp0(state, w->until) == 0;
    }
  }
  wait_draw(w, FALSE);
  wait_check(w);
}

static void
wait_call_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(w->ctl->bus, result, &error);

  w->pending = FALSE;
  if (w->error == NULL)
    w->error = g_steal_pointer(&error);
  wait_check(w);
}

static gboolean
wait_tick(gpointer data)
{
  Wait *w = data;

  wait_draw(w, FALSE);
  if (w->until && w->timeout_s &&
      g_get_monotonic_time() - w->started >= (gint64)w->timeout_s * G_USEC_PER_SEC) {
    g_set_error(&w->error, WV_ERROR, WV_ERROR_TIMEOUT, "“%s” is not %s after %u s",
                ((Vm *)w->vms->pdata[0])->name, w->until, w->timeout_s);
    g_cancellable_cancel(w->cancellable);
    g_main_loop_quit(w->loop);
  }
  return G_SOURCE_CONTINUE;
}

/* Takes @vms; calls @method on @path and waits as described above. */
static gboolean
wait_run(Ctl *ctl, GPtrArray *vms, const char *path, const char *iface, const char *method,
         GVariant *params, const char *until, guint timeout_s, GError **error)
{
  Wait w = {.ctl = ctl, .vms = vms, .until = until, .timeout_s = timeout_s, .pending = TRUE};
  guint sub, tick;

  w.loop = g_main_loop_new(NULL, FALSE);
  w.cancellable = g_cancellable_new();
  sub = g_dbus_connection_signal_subscribe(
      ctl->bus, WV_BUS_NAME, PROPERTIES_INTERFACE, "PropertiesChanged", NULL, WV_VM_INTERFACE,
      G_DBUS_SIGNAL_FLAGS_NONE, wait_properties_changed, &w, NULL);
  /* the state as of now: changes from here on arrive as signals */
  for (guint i = 0; i < vms->len; i++) {
    Vm *vm = vms->pdata[i];
    char *state = get_string(ctl, vm->path, WV_VM_INTERFACE, "State", NULL);
    if (state) {
      g_free(vm->state);
      vm->state = state;
    }
  }
  w.started = g_get_monotonic_time();
  g_dbus_connection_call(ctl->bus, WV_BUS_NAME, path, iface, method, params, NULL,
                         G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT, w.cancellable,
                         wait_call_done, &w);
  wait_draw(&w, FALSE);
  tick = g_timeout_add_seconds(1, wait_tick, &w);
  g_main_loop_run(w.loop);
  wait_draw(&w, TRUE);

  g_source_remove(tick);
  g_dbus_connection_signal_unsubscribe(ctl->bus, sub);
  /* a call still pending (start --wait timed out) must not call back into w */
  g_cancellable_cancel(w.cancellable);
  while (w.pending)
    g_main_context_iteration(NULL, TRUE);
  g_object_unref(w.cancellable);
  g_main_loop_unref(w.loop);
  g_ptr_array_unref(vms);
  if (w.error) {
    g_propagate_error(error, w.error);
    return FALSE;
  }
  return TRUE;
}

static GPtrArray *
one_vm(Ctl *ctl)
{
  GPtrArray *vms = g_ptr_array_new_with_free_func((GDestroyNotify)vm_free);

  g_ptr_array_add(vms, vm_new(ctl->path, ctl->name, g_variant_new("a{sv}", NULL)));
  return vms;
}

/* ---- commands --------------------------------------------------------------- */

static gboolean
cmd_list(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GPtrArray) vms = list_vms(ctl, error);
  g_autoptr(GPtrArray) rows = table_new();

  if (vms == NULL)
    return FALSE;
  if (ctl->json) {
    JsonArray *array = json_array_new();
    for (guint i = 0; i < vms->len; i++)
      json_array_add_object_element(array, json_props(((Vm *)vms->pdata[i])->props));
    print_json(json_node_init_array(json_node_alloc(), array), TRUE);
    json_array_unref(array);
    return TRUE;
  }
  row_add(rows, g_strdup("NAME"), g_strdup("STATE"), g_strdup("VCPUS"), g_strdup("MEMORY"),
          g_strdup("HUGEPAGES"), g_strdup("DEVICES"), g_strdup("AUTOSTART"), NULL);
  for (guint i = 0; i < vms->len; i++) {
    Vm *vm = vms->pdata[i];
    row_add(rows, g_strdup(vm->name), g_strdup(vm->state), prop_text(vm->props, "VCPUs"),
            prop_text(vm->props, "MemoryKiB"), prop_text(vm->props, "Hugepages"),
            prop_text(vm->props, "HostDevices"), prop_text(vm->props, "Autostart"), NULL);
  }
  print_table(rows, "");
  return TRUE;
}

static void
add_pin_rows(GPtrArray *rows, GVariant *props, const char *prop, const char *label)
{
  g_autoptr(GVariant) pins = g_variant_lookup_value(props, prop, G_VARIANT_TYPE("a(us)"));
  GVariantIter iter;
  const char *cpus;
  guint32 n;

  if (pins == NULL)
    return;
  g_variant_iter_init(&iter, pins);
  while (g_variant_iter_next(&iter, "(u&s)", &n, &cpus))
    row_add(rows, g_strdup_printf("%s %u", label, n), g_strdup(cpus), NULL);
}

/* "pause", or "block: blocking host sleep" while the VM holds the host awake */
static char *
host_sleep_text(GVariant *props)
{
  const char *policy = NULL;
  gboolean blocking = FALSE;

  if (!g_variant_lookup(props, "OnHostSleep", "&s", &policy))
    return g_strdup("?");
  g_variant_lookup(props, "BlockingSleep", "b", &blocking);
  return blocking ? g_strdup_printf("%s: blocking host sleep", policy) : g_strdup(policy);
}

static gboolean
cmd_status(Ctl *ctl, const Command *cmd, GError **error)
{
  static const struct
  {
    const char *prop, *label;
  } fields[] = {
      {"Name", "Name:"},           {"State", "State:"},         {"UUID", "UUID:"},
      {"VCPUs", "vCPUs:"},         {"MemoryKiB", "Memory:"},    {"Hugepages", "Hugepages:"},
      {"HostDevices", "Devices:"}, {"Autostart", "Autostart:"}, {"GuestAgent", "Guest agent:"},
      {"LastStop", "Last stop:"},
  };
  g_autoptr(GPtrArray) rows = table_new();
  g_autoptr(GPtrArray) pins = table_new();
  Vm *vm = get_vm(ctl, error);
  const char *emulator = NULL;

  if (vm == NULL)
    return FALSE;
  if (ctl->json) {
    print_json_object(json_props(vm->props), TRUE);
    vm_free(vm);
    return TRUE;
  }
  row_add(pins, g_strdup("PIN"), g_strdup("HOST CPUS"), NULL);
  add_pin_rows(pins, vm->props, "VCPUPins", "vcpu");
  add_pin_rows(pins, vm->props, "IOThreadPins", "iothread");
  if (g_variant_lookup(vm->props, "EmulatorPin", "&s", &emulator) && *emulator)
    row_add(pins, g_strdup("emulator"), g_strdup(emulator), NULL);
  for (guint i = 0; i < G_N_ELEMENTS(fields); i++)
    row_add(rows, g_strdup(fields[i].label), prop_text(vm->props, fields[i].prop), NULL);
  row_add(rows, g_strdup("Host sleep:"), host_sleep_text(vm->props), NULL);
  if (pins->len == 1)
    row_add(rows, g_strdup("Pins:"), g_strdup("none"), NULL);
  print_table(rows, "");
  if (pins->len > 1) {
    g_print("\n");
    print_table(pins, "");
  }
  vm_free(vm);
  return TRUE;
}

/* Adds the hints of the error findings under a PreflightFailed message. */
static void
add_hints(Ctl *ctl, GError *error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariantIter) iter = NULL;
  g_autoptr(GString) msg = NULL;
  const char *severity, *hint;

  if (!g_error_matches(error, WV_ERROR, WV_ERROR_PREFLIGHT_FAILED))
    return;
  reply = call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "Check", g_variant_new("(s)", ctl->name),
               "(a(ssss))", FALSE, NULL);
  if (reply == NULL)
    return;
  g_dbus_error_strip_remote_error(error);
  msg = g_string_new(error->message);
  g_variant_get(reply, "(a(ssss))", &iter);
  while (g_variant_iter_next(iter, "(&s&s&s&s)", &severity, NULL, NULL, &hint))
    if (g_str_equal(severity, "error") && *hint)
      g_string_append_printf(msg, "\n  hint: %s", hint);
  g_free(error->message);
  error->message = g_string_free(g_steal_pointer(&msg), FALSE);
}

static gboolean
cmd_start(Ctl *ctl, const Command *cmd, GError **error)
{
  GError *local = NULL;
  g_autoptr(GVariant) reply = NULL;

  if (ctl->timeout >= 0 && !ctl->wait) {
    g_set_error_literal(error, CTL_ERROR, CTL_ERROR_USAGE, "--timeout needs --wait");
    return FALSE;
  }
  if (ctl->wait)
    wait_run(ctl, one_vm(ctl), ctl->path, WV_VM_INTERFACE, "Start", NULL, "running", ctl->timeout_s,
             &local);
  else if (ctl->tty && !ctl->json) /* shows its StartStep (compacting) while it runs */
    wait_run(ctl, one_vm(ctl), ctl->path, WV_VM_INTERFACE, "Start", NULL, NULL, 0, &local);
  else
    reply = call(ctl, ctl->path, WV_VM_INTERFACE, "Start", NULL, NULL, TRUE, &local);
  if (local == NULL)
    return TRUE;
  add_hints(ctl, local);
  g_propagate_error(error, local);
  return FALSE;
}

/* How each of @vms (Vm*) ended its stop: "NAME: shut down on ACPI after 2
 * presses in 16.2 s", or a JSON array. */
static void
report_stops(Ctl *ctl, GPtrArray *vms)
{
  JsonArray *array = ctl->json ? json_array_new() : NULL;

  for (guint i = 0; i < vms->len; i++) {
    Vm *vm = vms->pdata[i];
    g_autoptr(GVariant) reply =
        call(ctl, vm->path, PROPERTIES_INTERFACE, "Get",
             g_variant_new("(ss)", WV_VM_INTERFACE, "LastStop"), "(v)", FALSE, NULL);
    g_autoptr(GVariant) value = NULL;
    g_autofree char *text = NULL;
    const char *how;
    guint32 presses;
    double secs;

    if (reply == NULL)
      continue;
    g_variant_get(reply, "(v)", &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE("(sud)")))
      continue;
    g_variant_get(value, "(&sud)", &how, &presses, &secs);
    if (array) {
      JsonObject *o = json_object_new();
      json_object_set_string_member(o, "name", vm->name);
      json_object_set_string_member(o, "how", how);
      json_object_set_int_member(o, "presses", presses);
      json_object_set_double_member(o, "seconds", secs);
      json_array_add_object_element(array, o);
    } else if (*how) {
      text = wv_last_stop_describe(how, presses, secs);
      g_print("%s: %s\n", vm->name, text);
    }
  }
  if (array) {
    print_json(json_node_init_array(json_node_alloc(), array), TRUE);
    json_array_unref(array);
  }
}

static GPtrArray *
vms_copy(GPtrArray *vms)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func((GDestroyNotify)vm_free);

  for (guint i = 0; i < vms->len; i++) {
    Vm *vm = vms->pdata[i];
    g_ptr_array_add(copy, vm_new(vm->path, vm->name, vm->props));
  }
  return copy;
}

static gboolean
cmd_stop(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  guint timeout;

  if (ctl->force) {
    reply = call(ctl, ctl->path, WV_VM_INTERFACE, "ForceOff", NULL, NULL, TRUE, error);
    return reply != NULL;
  }
  timeout = ctl->timeout_s;
  if (timeout == 0) { /* the VM's own: then progress can count down */
    g_autoptr(GVariant) value =
        call(ctl, ctl->path, PROPERTIES_INTERFACE, "Get",
             g_variant_new("(ss)", WV_VM_INTERFACE, "ShutdownTimeout"), "(v)", FALSE, NULL);
    g_autoptr(GVariant) inner = NULL;
    if (value) {
      g_variant_get(value, "(v)", &inner);
      if (g_variant_is_of_type(inner, G_VARIANT_TYPE_UINT32))
        timeout = g_variant_get_uint32(inner);
    }
  }
  {
    g_autoptr(GPtrArray) vms = one_vm(ctl);
    GError *local = NULL;
    gboolean ok = wait_run(ctl, vms_copy(vms), ctl->path, WV_VM_INTERFACE, "Shutdown",
                           g_variant_new("(u)", ctl->timeout_s), NULL, timeout, &local);

    /* forced off at the deadline: still say how it ended */
    if (ok || g_error_matches(local, WV_ERROR, WV_ERROR_TIMEOUT))
      report_stops(ctl, vms);
    if (local)
      g_propagate_error(error, local);
    return ok;
  }
}

static gboolean
cmd_lifecycle(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply =
      call(ctl, ctl->path, WV_VM_INTERFACE, cmd->method, NULL, NULL, TRUE, error);
  return reply != NULL;
}

static gboolean
parse_number(const char *text, guint *n, GError **error)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT32, &v, NULL)) {
    g_set_error(error, CTL_ERROR, CTL_ERROR_USAGE, "“%s” is not a number", text);
    return FALSE;
  }
  *n = (guint)v;
  return TRUE;
}

static gboolean
cmd_pin(Ctl *ctl, const Command *cmd, GError **error)
{
  const char *what = ctl->args[0];
  g_autoptr(GVariant) reply = NULL;
  GVariant *params;
  const char *method;
  guint n;

  if (g_str_equal(what, "emulator") && ctl->n_args == 2) {
    method = "PinEmulator";
    params = g_variant_new("(s)", ctl->args[1]);
  } else if ((g_str_equal(what, "vcpu") || g_str_equal(what, "iothread")) && ctl->n_args == 3) {
    if (!parse_number(ctl->args[1], &n, error))
      return FALSE;
    method = g_str_equal(what, "vcpu") ? "PinVCPU" : "PinIOThread";
    params = g_variant_new("(us)", n, ctl->args[2]);
  } else {
    g_set_error_literal(error, CTL_ERROR, CTL_ERROR_USAGE,
                        "pin what: vcpu N CPUSET, iothread N CPUSET or emulator CPUSET");
    return FALSE;
  }
  reply = call(ctl, ctl->path, WV_VM_INTERFACE, method, params, NULL, TRUE, error);
  return reply != NULL;
}

static gboolean
cmd_autostart(Ctl *ctl, const Command *cmd, GError **error)
{
  const char *value = ctl->args[0];
  g_autoptr(GVariant) reply = NULL;

  if (!g_str_equal(value, "on") && !g_str_equal(value, "off")) {
    g_set_error(error, CTL_ERROR, CTL_ERROR_USAGE, "“%s” is neither on nor off", value);
    return FALSE;
  }
  reply = call(ctl, ctl->path, PROPERTIES_INTERFACE, "Set",
               g_variant_new("(ssv)", WV_VM_INTERFACE, "Autostart",
                             g_variant_new_boolean(g_str_equal(value, "on"))),
               NULL, TRUE, error);
  return reply != NULL;
}

static gboolean
cmd_render(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply = call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "Render",
                                   g_variant_new("(s)", ctl->name), "(s)", FALSE, error);
  const char *xml;

  if (reply == NULL)
    return FALSE;
  g_variant_get(reply, "(&s)", &xml);
  g_print("%s%s", xml, g_str_has_suffix(xml, "\n") ? "" : "\n");
  return TRUE;
}

/* The plan lines of `check`: what Start would do on this host. */
static void
print_plan(GVariant *plan)
{
  g_autoptr(GPtrArray) rows = table_new();
  guint32 sockets = 0, dies = 0, cores = 0, threads = 0, n;
  guint64 needed = 0, reserve = 0;
  gint32 node = -1;
  const char *emulator = "", *size = "none", *set;
  g_autoptr(GVariantIter) vcpus = NULL, iothreads = NULL;
  g_autofree const char **hyperv = NULL;
  const char *vm_cpus = "", *host_cpus = "", *governor = "keep", *irq = "keep";
  gboolean isolate = FALSE;

  g_variant_lookup(plan, "sockets", "u", &sockets);
  g_variant_lookup(plan, "dies", "u", &dies);
  g_variant_lookup(plan, "cores", "u", &cores);
  g_variant_lookup(plan, "threads", "u", &threads);
  g_variant_lookup(plan, "emulator-pin", "&s", &emulator);
  g_variant_lookup(plan, "numa-node", "i", &node);
  g_variant_lookup(plan, "hugepage-size", "&s", &size);
  g_variant_lookup(plan, "hugepages-needed", "t", &needed);
  g_variant_lookup(plan, "hugepages-reserve", "t", &reserve);
  g_variant_lookup(plan, "hyperv", "^a&s", &hyperv);
  row_add(rows, g_strdup("topology"),
          g_strdup_printf("%u socket(s), %u die(s), %u core(s), %u thread(s)", sockets, dies, cores,
                          threads),
          NULL);
  if (g_variant_lookup(plan, "vcpu-pins", "a(us)", &vcpus))
    while (g_variant_iter_next(vcpus, "(u&s)", &n, &set))
      row_add(rows, g_strdup_printf("vcpu %u", n), g_strdup(set), NULL);
  if (g_variant_lookup(plan, "iothread-pins", "a(us)", &iothreads))
    while (g_variant_iter_next(iothreads, "(u&s)", &n, &set))
      row_add(rows, g_strdup_printf("iothread %u", n), g_strdup(set), NULL);
  if (*emulator)
    row_add(rows, g_strdup("emulator"), g_strdup(emulator), NULL);
  if (node >= 0)
    row_add(rows, g_strdup("memory"), g_strdup_printf("NUMA node %d", node), NULL);
  if (!g_str_equal(size, "none"))
    row_add(rows, g_strdup("hugepages"),
            g_strdup_printf("%" G_GUINT64_FORMAT " x %s, %" G_GUINT64_FORMAT " to reserve at start",
                            needed, size, reserve),
            NULL);
  if (hyperv && hyperv[0]) {
    g_autofree char *list = g_strjoinv(", ", (char **)hyperv);
    row_add(rows, g_strdup("hyper-v"), g_steal_pointer(&list), NULL);
  }
  /* what the host gives up while it runs */
  g_variant_lookup(plan, "vm-cpus", "&s", &vm_cpus);
  g_variant_lookup(plan, "host-cpus", "&s", &host_cpus);
  g_variant_lookup(plan, "isolate", "b", &isolate);
  g_variant_lookup(plan, "governor", "&s", &governor);
  g_variant_lookup(plan, "irq", "&s", &irq);
  if (isolate)
    row_add(rows, g_strdup("isolation"),
            g_strdup_printf("system.slice, user.slice, init.scope -> %s",
                            *host_cpus ? host_cpus : "all but the VM's CPUs"),
            NULL);
  if (*vm_cpus && g_str_equal(governor, "performance"))
    row_add(rows, g_strdup("governor"), g_strdup_printf("performance on %s", vm_cpus), NULL);
  if (*vm_cpus && g_str_equal(irq, "steer"))
    row_add(rows, g_strdup("irqs"), g_strdup_printf("kept off %s, workqueues too", vm_cpus), NULL);
  g_print("\nplan:\n");
  print_table(rows, "  ");
}

static gboolean
cmd_check(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) plan_reply = NULL;
  g_autoptr(GVariant) plan = NULL;
  g_autoptr(GVariant) reply = call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "Check",
                                   g_variant_new("(s)", ctl->name), "(a(ssss))", FALSE, error);
  g_autoptr(GPtrArray) rows = table_new();
  g_autoptr(GVariantIter) iter = NULL;
  const char *severity, *code, *message, *hint;
  JsonArray *findings = json_array_new();
  guint errors = 0;

  if (reply == NULL) {
    json_array_unref(findings);
    return FALSE;
  }
  row_add(rows, g_strdup("SEVERITY"), g_strdup("CODE"), g_strdup("MESSAGE"), NULL);
  g_variant_get(reply, "(a(ssss))", &iter);
  while (g_variant_iter_next(iter, "(&s&s&s&s)", &severity, &code, &message, &hint)) {
    JsonObject *f = json_object_new();
    json_object_set_string_member(f, "severity", severity);
    json_object_set_string_member(f, "code", code);
    json_object_set_string_member(f, "message", message);
    json_object_set_string_member(f, "hint", hint);
    json_array_add_object_element(findings, f);
    row_add(rows, g_strdup(severity), g_strdup(code), g_strdup(message), NULL);
    if (*hint)
      row_add(rows, g_strdup(""), g_strdup(""), g_strdup_printf("hint: %s", hint), NULL);
    errors += g_str_equal(severity, "error");
  }
  plan_reply = call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "Plan",
                    g_variant_new("(s)", ctl->name), "(a{sv})", FALSE, error);
  if (plan_reply == NULL) {
    json_array_unref(findings);
    return FALSE;
  }
  g_variant_get(plan_reply, "(@a{sv})", &plan);
  if (ctl->json) {
    JsonObject *obj = json_object_new();
    json_object_set_string_member(obj, "name", ctl->name);
    json_object_set_boolean_member(obj, "ok", errors == 0);
    json_object_set_array_member(obj, "findings", findings);
    json_object_set_member(obj, "plan", json_gvariant_serialize(plan));
    print_json_object(obj, TRUE);
  } else {
    json_array_unref(findings);
    if (rows->len > 1)
      print_table(rows, "");
    else
      g_print("no findings\n");
    print_plan(plan);
  }
  if (errors == 0)
    return TRUE;
  g_set_error(error, WV_ERROR, WV_ERROR_PREFLIGHT_FAILED, "“%s” would not start: %u error%s",
              ctl->name, errors, errors == 1 ? "" : "s");
  return FALSE;
}

static gboolean
cmd_reload(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply =
      call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "Reload", NULL, "(as)", TRUE, error);
  g_autofree const char **errors = NULL;
  g_autofree char *joined = NULL;
  guint n;

  if (reply == NULL)
    return FALSE;
  g_variant_get(reply, "(^a&s)", &errors);
  n = g_strv_length((char **)errors);
  if (ctl->json) {
    g_autoptr(GVariant) list = g_variant_get_child_value(reply, 0);
    JsonObject *obj = json_object_new();
    json_object_set_member(obj, "errors", json_gvariant_serialize(list));
    print_json_object(obj, TRUE);
  }
  if (n == 0)
    return TRUE;
  joined = g_strjoinv("\n  ", (char **)errors);
  g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%u profile%s could not be read:\n  %s", n,
              n == 1 ? "" : "s", joined);
  return FALSE;
}

static gboolean
is_active(const char *state)
{
  static const char *const active[] = {"running",  "paused",    "shutting-down",
                                       "starting", "suspended", NULL};
  return g_strv_contains(active, state);
}

static gboolean
cmd_shutdown_all(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GPtrArray) all = list_vms(ctl, error);
  GPtrArray *active;

  if (all == NULL)
    return FALSE;
  active = g_ptr_array_new_with_free_func((GDestroyNotify)vm_free);
  for (guint i = 0; i < all->len; i++) {
    Vm *vm = all->pdata[i];
    if (is_active(vm->state))
      g_ptr_array_add(active, vm_new(vm->path, vm->name, vm->props));
  }
  {
    g_autoptr(GPtrArray) stopped = vms_copy(active);
    gboolean ok = wait_run(ctl, active, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "ShutdownAll",
                           g_variant_new("(u)", ctl->timeout_s), NULL, ctl->timeout_s, error);

    report_stops(ctl, stopped); /* each VM's own end, forced or not */
    return ok;
  }
}

/* ---- monitor ---------------------------------------------------------------- */

typedef struct
{
  Ctl *ctl;
  GHashTable *names; /* path → VM name */
  GMainLoop *loop;
  gboolean seen_daemon;
} Monitor;

/* One line per event: JSON with --json, else one line per property. */
static void
monitor_event(Monitor *m, const char *event, const char *path, GVariant *props)
{
  const char *vm = g_hash_table_lookup(m->names, path);
  const char *label = vm ? vm : g_str_equal(path, WV_MANAGER_PATH) ? "winvmd" : path;

  if (m->ctl->json) {
    JsonObject *obj = json_object_new();
    json_object_set_string_member(obj, "event", event);
    json_object_set_string_member(obj, "path", path);
    if (vm)
      json_object_set_string_member(obj, "vm", vm);
    if (props)
      json_object_set_object_member(obj, "properties", json_props(props));
    print_json_object(obj, FALSE);
    return;
  }
  if (g_str_equal(event, "changed")) {
    GVariantIter iter;
    const char *prop;
    GVariant *value;

    g_variant_iter_init(&iter, props);
    while (g_variant_iter_next(&iter, "{&sv}", &prop, &value)) {
      g_autofree char *text = format_value(prop, value);
      g_print("%s: %s %s\n", label, prop, text);
      g_variant_unref(value);
    }
  } else {
    g_print("%s: %s\n", label, event);
  }
  fflush(stdout);
}

static void
monitor_signal(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
               const char *signal, GVariant *params, gpointer data)
{
  Monitor *m = data;
  g_autoptr(GVariant) props = NULL;
  g_autoptr(GVariant) ifaces = NULL;
  const char *object, *name;

  if (g_str_equal(signal, "PropertiesChanged") &&
      g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)"))) {
    g_variant_get(params, "(&s@a{sv}@as)", &name, &props, NULL);
    if (g_str_equal(name, WV_VM_INTERFACE) || g_str_equal(name, WV_MANAGER_INTERFACE))
      monitor_event(m, "changed", path, props);
  } else if (g_str_equal(signal, "InterfacesAdded") &&
             g_variant_is_of_type(params, G_VARIANT_TYPE("(oa{sa{sv}})"))) {
    g_variant_get(params, "(&o@a{sa{sv}})", &object, &ifaces);
    props = g_variant_lookup_value(ifaces, WV_VM_INTERFACE, NULL);
    if (props == NULL)
      return;
    if (g_variant_lookup(props, "Name", "&s", &name))
      g_hash_table_insert(m->names, g_strdup(object), g_strdup(name));
    monitor_event(m, "added", object, props);
  } else if (g_str_equal(signal, "InterfacesRemoved") &&
             g_variant_is_of_type(params, G_VARIANT_TYPE("(oas)"))) {
    g_variant_get(params, "(&o@as)", &object, NULL);
    monitor_event(m, "removed", object, NULL);
    g_hash_table_remove(m->names, object);
  }
}

static gboolean
monitor_read_names(Monitor *m, GError **error)
{
  g_autoptr(GPtrArray) vms = list_vms(m->ctl, error);

  if (vms == NULL)
    return FALSE;
  for (guint i = 0; i < vms->len; i++) {
    Vm *vm = vms->pdata[i];
    g_hash_table_insert(m->names, g_strdup(vm->path), g_strdup(vm->name));
  }
  return TRUE;
}

static void
monitor_daemon(GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  Monitor *m = data;

  if (owner && m->seen_daemon)
    monitor_read_names(m, NULL); /* restarted: the objects may differ */
  if (owner == NULL || m->seen_daemon)
    monitor_event(m, owner ? "started" : "stopped", WV_MANAGER_PATH, NULL);
  m->seen_daemon = TRUE;
}

static void
monitor_daemon_vanished(GDBusConnection *bus, const char *name, gpointer data)
{
  monitor_daemon(bus, name, NULL, data);
}

static gboolean
monitor_quit(gpointer data)
{
  g_main_loop_quit(((Monitor *)data)->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
cmd_monitor(Ctl *ctl, const Command *cmd, GError **error)
{
  Monitor m = {.ctl = ctl, .names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free)};
  guint sub, watch, sigs[2];
  gboolean ok;

  /* every signal of the daemon: PropertiesChanged, InterfacesAdded/Removed */
  sub = g_dbus_connection_signal_subscribe(ctl->bus, WV_BUS_NAME, NULL, NULL, NULL, NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, monitor_signal, &m, NULL);
  /* after subscribing: no change is missed between the two */
  ok = monitor_read_names(&m, error);
  if (ok) {
    m.loop = g_main_loop_new(NULL, FALSE);
    watch = g_bus_watch_name_on_connection(ctl->bus, WV_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                           monitor_daemon, monitor_daemon_vanished, &m, NULL);
    sigs[0] = g_unix_signal_add(SIGINT, monitor_quit, &m);
    sigs[1] = g_unix_signal_add(SIGTERM, monitor_quit, &m);
    g_main_loop_run(m.loop);
    g_source_remove(sigs[0]);
    g_source_remove(sigs[1]);
    g_bus_unwatch_name(watch);
    g_main_loop_unref(m.loop);
  }
  g_dbus_connection_signal_unsubscribe(ctl->bus, sub);
  g_hash_table_unref(m.names);
  return ok;
}

/* What winvmd changed on the host, and for which VMs (HostChanges). */
static gboolean
cmd_host(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply = call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "HostChanges", NULL,
                                   "(a(sssssas))", FALSE, error);
  g_autoptr(GPtrArray) rows = table_new();
  g_autoptr(GVariantIter) iter = NULL;
  const char *what, *target, *previous, *value, *state;
  g_autofree const char **vms = NULL;
  JsonArray *array = NULL;
  guint n = 0;

  if (reply == NULL)
    return FALSE;
  g_variant_get(reply, "(a(sssssas))", &iter);
  if (ctl->json)
    array = json_array_new();
  else
    row_add(rows, g_strdup("WHAT"), g_strdup("TARGET"), g_strdup("NOW"), g_strdup("BEFORE"),
            g_strdup("STATE"), g_strdup("FOR"), NULL);
  while (g_variant_iter_next(iter, "(&s&s&s&s&s^a&s)", &what, &target, &previous, &value, &state,
                             &vms)) {
    g_autofree char *who = g_strjoinv(",", (char **)vms);

    n++;
    if (array) {
      JsonObject *obj = json_object_new();
      JsonArray *list = json_array_new();

      for (guint i = 0; vms[i]; i++)
        json_array_add_string_element(list, vms[i]);
      json_object_set_string_member(obj, "what", what);
      json_object_set_string_member(obj, "target", target);
      json_object_set_string_member(obj, "value", value);
      json_object_set_string_member(obj, "previous", previous);
      json_object_set_string_member(obj, "state", state);
      json_object_set_array_member(obj, "vms", list);
      json_array_add_object_element(array, obj);
    } else {
      row_add(rows, g_strdup(what), g_strdup(target), g_strdup(value), g_strdup(previous),
              g_strdup(state), g_strdup(who), NULL);
    }
    g_clear_pointer(&vms, g_free);
  }
  if (array) {
    print_json(json_node_init_array(json_node_alloc(), array), TRUE);
    json_array_unref(array);
  } else if (n == 0) {
    g_print("winvmd has changed nothing on the host\n");
  } else {
    print_table(rows, "");
  }
  return TRUE;
}

static gboolean
cmd_version(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autofree char *daemon = NULL;

  if (ctl->bus == NULL)
    g_propagate_error(error, g_error_copy(ctl->bus_error));
  else
    daemon = get_string(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "Version", error);
  if (ctl->json) {
    JsonObject *obj = json_object_new();
    json_object_set_string_member(obj, "client", WV_VERSION);
    json_object_set_string_member(obj, "daemon", daemon); /* null when unreachable */
    print_json_object(obj, TRUE);
  } else {
    g_print("winvmctl %s\n", WV_VERSION);
    if (daemon)
      g_print("winvmd   %s\n", daemon);
  }
  return daemon != NULL;
}

/* ---- profiles ---------------------------------------------------------------- */

static gboolean
cmd_create(Ctl *ctl, const Command *cmd, GError **error)
{
  const char *name = ctl->args[0];
  const struct
  {
    const char *setting, *value;
  } given[] = {
      {"memory", ctl->memory}, {"vcpus", ctl->vcpus}, {"disk", ctl->disk}, {"iso", ctl->iso}};
  GVariantBuilder settings;
  g_autoptr(GVariant) reply = NULL;
  const char *path;

  g_variant_builder_init(&settings, G_VARIANT_TYPE("a{sv}"));
  for (guint i = 0; i < G_N_ELEMENTS(given); i++)
    if (given[i].value) /* the profile's own syntax: the daemon checks it */
      g_variant_builder_add(&settings, "{sv}", given[i].setting,
                            g_variant_new_string(given[i].value));
  reply = call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "CreateVMFrom",
               g_variant_new("(ssa{sv})", name,
                             ctl->template_name ? ctl->template_name : "windows11", &settings),
               "(o)", TRUE, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get(reply, "(&o)", &path);
  if (ctl->json) {
    JsonObject *obj = json_object_new();
    json_object_set_string_member(obj, "name", name);
    json_object_set_string_member(obj, "path", path);
    print_json_object(obj, TRUE);
  } else {
    g_print("created %s\n", name);
  }
  return TRUE;
}

/* GetProfile: (text, etag), or NULL. */
static GVariant *
get_profile(Ctl *ctl, GError **error)
{
  return call(ctl, ctl->path, WV_VM_INTERFACE, "GetProfile", NULL, "(ss)", TRUE, error);
}

static gboolean
cmd_profile(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply = get_profile(ctl, error);
  const char *text, *etag;

  if (reply == NULL)
    return FALSE;
  g_variant_get(reply, "(&s&s)", &text, &etag);
  if (ctl->json) {
    JsonObject *obj = json_object_new();
    json_object_set_string_member(obj, "name", ctl->name);
    json_object_set_string_member(obj, "text", text);
    json_object_set_string_member(obj, "etag", etag);
    print_json_object(obj, TRUE);
  } else {
    g_print("%s", text);
  }
  return TRUE;
}

/* $EDITOR (default vi) on @file, on this terminal. */
static gboolean
run_editor(const char *file, GError **error)
{
  const char *editor = g_getenv("EDITOR");
  g_auto(GStrv) argv = NULL;
  g_autoptr(GStrvBuilder) b = g_strv_builder_new();
  int status = 0;

  if (editor == NULL || *editor == '\0')
    editor = "vi";
  if (!g_shell_parse_argv(editor, NULL, &argv, error))
    return FALSE;
  g_strv_builder_addv(b, (const char **)argv);
  g_strv_builder_add(b, file);
  g_strfreev(argv);
  argv = g_strv_builder_end(b);
  if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN, NULL,
                    NULL, NULL, NULL, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status(status, NULL)) {
    g_set_error(error, CTL_ERROR, CTL_ERROR_FAILED, "%s failed; %s is left as it was", editor,
                file);
    return FALSE;
  }
  return TRUE;
}

/* Asks on the terminal; no answer (not a terminal, end of input) is no. */
static gboolean
ask_again(const char *question)
{
  char line[64];

  g_printerr("%s [Y/n] ", question);
  if (fgets(line, sizeof line, stdin) == NULL)
    return FALSE;
  g_strstrip(line);
  return line[0] == '\0' || line[0] == 'y' || line[0] == 'Y';
}

static gboolean
cmd_edit(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply = get_profile(ctl, error);
  g_autofree char *tmpl = NULL;
  g_autofree char *file = NULL;
  const char *text, *etag;
  int fd;

  if (reply == NULL)
    return FALSE;
  g_variant_get(reply, "(&s&s)", &text, &etag);
  tmpl = g_strdup_printf("winvmctl-%s-XXXXXX.conf", ctl->name);
  if ((fd = g_file_open_tmp(tmpl, &file, error)) < 0)
    return FALSE;
  close(fd);
  if (!g_file_set_contents(file, text, -1, error))
    return FALSE;
  for (;;) {
    g_autofree char *edited = NULL;
    g_autoptr(GVariant) set = NULL;
    g_autoptr(GError) local = NULL;

    if (!run_editor(file, error) || !g_file_get_contents(file, &edited, NULL, error))
      return FALSE;
    if (g_str_equal(edited, text)) {
      g_printerr("%s: no changes\n", ctl->name);
      g_unlink(file);
      return TRUE;
    }
    set = call(ctl, ctl->path, WV_VM_INTERFACE, "SetProfile", g_variant_new("(ss)", edited, etag),
               NULL, TRUE, &local);
    if (set) {
      g_unlink(file);
      if (!ctl->json)
        g_print("%s: profile changed\n", ctl->name);
      return TRUE;
    }
    if (g_error_matches(local, WV_ERROR, WV_ERROR_CONFLICT)) {
      g_dbus_error_strip_remote_error(local);
      g_set_error(error, WV_ERROR, WV_ERROR_CONFLICT,
                  "the profile changed while you edited it; your version is in %s "
                  "(winvmctl edit %s again, and bring your changes over)",
                  file, ctl->name);
      return FALSE;
    }
    if (!g_error_matches(local, WV_ERROR, WV_ERROR_INVALID_PROFILE) &&
        !g_error_matches(local, WV_ERROR, WV_ERROR_INVALID_ARGS)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    g_dbus_error_strip_remote_error(local);
    g_printerr("winvmctl: error: %s\n", local->message);
    if (!ask_again("Edit again?")) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                  "the profile is unchanged; your version is in %s", file);
      return FALSE;
    }
  }
}

static gboolean
cmd_set(Ctl *ctl, const Command *cmd, GError **error)
{
  GVariantBuilder settings;
  g_autoptr(GVariant) reply = NULL;

  g_variant_builder_init(&settings, G_VARIANT_TYPE("a{sv}"));
  for (guint i = 0; i < ctl->n_args; i++) {
    const char *eq = strchr(ctl->args[i], '=');
    g_autofree char *key = NULL;

    if (eq == NULL || eq == ctl->args[i]) {
      g_variant_builder_clear(&settings);
      g_set_error(error, CTL_ERROR, CTL_ERROR_USAGE, "“%s” is not KEY=VALUE", ctl->args[i]);
      return FALSE;
    }
    key = g_strndup(ctl->args[i], eq - ctl->args[i]);
    g_variant_builder_add(&settings, "{sv}", key, g_variant_new_string(eq + 1));
  }
  reply = call(ctl, ctl->path, WV_VM_INTERFACE, "Set", g_variant_new("(a{sv})", &settings), NULL,
               TRUE, error);
  return reply != NULL;
}

static gboolean
cmd_delete(Ctl *ctl, const Command *cmd, GError **error)
{
  g_autoptr(GVariant) reply = call(ctl, ctl->path, WV_VM_INTERFACE, "Delete",
                                   g_variant_new("(b)", ctl->undefine), NULL, TRUE, error);

  if (reply && !ctl->json)
    g_print("deleted %s (its profile is kept aside as %s.conf.deleted-*%s)\n", ctl->name, ctl->name,
            ctl->undefine ? "; domain undefined" : "");
  return reply != NULL;
}

/* The daemon's limit on a domain XML (WV_IMPORT_MAX_SIZE). */
#define IMPORT_MAX_SIZE (1024 * 1024)

static gboolean
cmd_import(Ctl *ctl, const Command *cmd, GError **error)
{
  const char *source = ctl->args[0];
  g_autofree char *xml = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree const char **notes = NULL;
  const char *path;
  gsize len = 0;

  /* a file is read here (the daemon reads no caller's files) */
  if (g_str_has_suffix(source, ".xml") || strchr(source, '/')) {
    if (!g_file_get_contents(source, &xml, &len, error))
      return FALSE;
    if (len > IMPORT_MAX_SIZE || memchr(xml, '\0', len) || !g_utf8_validate(xml, len, NULL)) {
      g_set_error(error, CTL_ERROR, CTL_ERROR_FAILED,
                  "%s: not a domain XML file (binary, or larger than %d bytes)", source,
                  IMPORT_MAX_SIZE);
      return FALSE;
    }
  }
  reply = call(ctl, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "ImportVM",
               g_variant_new("(ss)", ctl->import_name ? ctl->import_name : "", xml ? xml : source),
               "(oas)", TRUE, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get(reply, "(&o^a&s)", &path, &notes);
  if (ctl->json) {
    g_autoptr(GVariant) list = g_variant_get_child_value(reply, 1);
    JsonObject *obj = json_object_new();
    g_autofree char *name = (char *)g_dbus_unescape_object_path(strrchr(path, '/') + 1);
    json_object_set_string_member(obj, "name", name ? name : "");
    json_object_set_string_member(obj, "path", path);
    json_object_set_member(obj, "not_carried", json_gvariant_serialize(list));
    print_json_object(obj, TRUE);
    return TRUE;
  }
  {
    g_autofree char *name = (char *)g_dbus_unescape_object_path(strrchr(path, '/') + 1);
    g_print("imported %s\n", name ? name : path);
  }
  if (notes[0])
    g_print("not carried over:\n");
  for (guint i = 0; notes[i]; i++)
    g_print("  %s\n", notes[i]);
  return TRUE;
}

static const Command commands[] = {
    {"list", cmd_list, "", FALSE, 0, 0},
    {"status", cmd_status, "NAME", TRUE, 0, 0},
    {"start", cmd_start, "NAME [--wait [--timeout S]]", TRUE, 0, 0, OPT_WAIT | OPT_TIMEOUT},
    {"stop", cmd_stop, "NAME [--timeout S] [--force]", TRUE, 0, 0, OPT_TIMEOUT | OPT_FORCE},
    {"reboot", cmd_lifecycle, "NAME", TRUE, 0, 0, 0, "Reboot"},
    {"suspend", cmd_lifecycle, "NAME", TRUE, 0, 0, 0, "Suspend"},
    {"resume", cmd_lifecycle, "NAME", TRUE, 0, 0, 0, "Resume"},
    {"pin", cmd_pin, "NAME vcpu N CPUSET | iothread N CPUSET | emulator CPUSET", TRUE, 2, 3},
    {"autostart", cmd_autostart, "NAME on|off", TRUE, 1, 1},
    {"render", cmd_render, "NAME", TRUE, 0, 0},
    {"check", cmd_check, "NAME", TRUE, 0, 0},
    {"profile", cmd_profile, "NAME", TRUE, 0, 0},
    {"edit", cmd_edit, "NAME", TRUE, 0, 0},
    {"set", cmd_set, "NAME KEY=VALUE…", TRUE, 1, 64},
    {"create", cmd_create, "NAME [--template T] [--memory M] [--vcpus N] [--disk D] [--iso I]",
     FALSE, 1, 1, OPT_CREATE},
    {"delete", cmd_delete, "NAME [--undefine]", TRUE, 0, 0, OPT_UNDEFINE},
    {"import", cmd_import, "DOMAIN|FILE.xml [--name N]", FALSE, 1, 1, OPT_NAME},
    {"reload", cmd_reload, "", FALSE, 0, 0},
    {"shutdown-all", cmd_shutdown_all, "[--timeout S]", FALSE, 0, 0, OPT_TIMEOUT},
    {"monitor", cmd_monitor, "", FALSE, 0, 0},
    {"host", cmd_host, "", FALSE, 0, 0},
    {"version", cmd_version, "", FALSE, 0, 0},
};

/* ---- main ------------------------------------------------------------------- */

static int
exit_status(const GError *error)
{
  if (error->domain == CTL_ERROR)
    return error->code;
  if (error->domain == G_OPTION_ERROR)
    return 2;
  if (error->domain == WV_ERROR) /* the rest (Busy, LibvirtUnavailable, …) are failures */
    return error->code == WV_ERROR_NOT_FOUND          ? 3
           : error->code == WV_ERROR_PREFLIGHT_FAILED ? 4
           : error->code == WV_ERROR_TIMEOUT          ? 5
           : error->code == WV_ERROR_ACCESS_DENIED    ? 7
           : error->code == WV_ERROR_CONFLICT         ? 8
           : error->code == WV_ERROR_EXISTS           ? 9
                                                      : 1;
  if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return 6;
  if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED))
    return 7;
  return 1;
}

static const Command *
find_command(const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
    if (g_str_equal(commands[i].name, name))
      return &commands[i];
  return NULL;
}

/* @n: the arguments after the command */
static gboolean
check_usage(Ctl *ctl, const Command *cmd, int n, GError **error)
{
  const struct
  {
    gboolean given;
    CmdOptions flag;
    const char *name;
  } opts[] = {
      {ctl->wait, OPT_WAIT, "--wait"},
      {ctl->timeout != G_MININT, OPT_TIMEOUT, "--timeout"},
      {ctl->force, OPT_FORCE, "--force"},
      {ctl->template_name != NULL, OPT_CREATE, "--template"},
      {ctl->memory != NULL, OPT_CREATE, "--memory"},
      {ctl->vcpus != NULL, OPT_CREATE, "--vcpus"},
      {ctl->disk != NULL, OPT_CREATE, "--disk"},
      {ctl->iso != NULL, OPT_CREATE, "--iso"},
      {ctl->undefine, OPT_UNDEFINE, "--undefine"},
      {ctl->import_name != NULL, OPT_NAME, "--name"},
  };
  const char *why = NULL;

  for (guint i = 0; i < G_N_ELEMENTS(opts); i++)
    if (opts[i].given && !(cmd->options & opts[i].flag)) {
      g_set_error(error, CTL_ERROR, CTL_ERROR_USAGE, "%s does not apply to %s", opts[i].name,
                  cmd->name);
      return FALSE;
    }
  if (cmd->needs_vm && n-- < 1)
    why = "which VM?";
  else if (n < (int)cmd->min_args)
    why = "missing arguments";
  else if (n > (int)cmd->max_args)
    why = "too many arguments";
  else if (ctl->timeout != G_MININT && ctl->timeout < 0)
    why = "--timeout must be 0 or more seconds";
  if (why)
    g_set_error_literal(error, CTL_ERROR, CTL_ERROR_USAGE, why);
  if (ctl->timeout == G_MININT)
    ctl->timeout = -1;
  ctl->timeout_s = MAX(ctl->timeout, 0);
  return why == NULL;
}

static char *
summary(void)
{
  GString *s = g_string_new("Commands:");

  for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
    g_string_append_printf(s, "\n  %s%s%s", commands[i].name, *commands[i].usage ? " " : "",
                           commands[i].usage);
  return g_string_free(s, FALSE);
}

int
main(int argc, char **argv)
{
  Ctl ctl = {.timeout = G_MININT};
  g_autoptr(GOptionContext) octx = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *help = summary();
  const Command *cmd = NULL;
  const GOptionEntry entries[] = {
      {"json", 'j', 0, G_OPTION_ARG_NONE, &ctl.json, "Print JSON", NULL},
      {"wait", 'w', 0, G_OPTION_ARG_NONE, &ctl.wait, "start: wait until the VM runs", NULL},
      {"timeout", 't', 0, G_OPTION_ARG_INT, &ctl.timeout,
       "stop, shutdown-all: force off after S seconds; start --wait: give up after S seconds", "S"},
      {"force", 'f', 0, G_OPTION_ARG_NONE, &ctl.force, "stop: force off at once", NULL},
      {"template", 0, 0, G_OPTION_ARG_STRING, &ctl.template_name,
       "create: the template (default windows11)", "T"},
      {"memory", 0, 0, G_OPTION_ARG_STRING, &ctl.memory, "create: memory, e.g. 16GiB", "M"},
      {"vcpus", 0, 0, G_OPTION_ARG_STRING, &ctl.vcpus, "create: vCPUs", "N"},
      {"disk", 0, 0, G_OPTION_ARG_STRING, &ctl.disk, "create: the system disk (a path)", "D"},
      {"iso", 0, 0, G_OPTION_ARG_STRING, &ctl.iso, "create: an installer ISO (a path)", "I"},
      {"undefine", 0, 0, G_OPTION_ARG_NONE, &ctl.undefine,
       "delete: undefine the libvirt domain too", NULL},
      {"name", 'n', 0, G_OPTION_ARG_STRING, &ctl.import_name, "import: the new VM's name", "N"},
      G_OPTION_ENTRY_NULL,
  };
  int status = 0;

  setlocale(LC_ALL, "");
  wv_error_quark(); /* remote org.winvm1.Error.* become WV_ERROR codes */
  octx = g_option_context_new("[COMMAND [ARGS…]] - control the winvm daemon");
  g_option_context_set_summary(octx, help);
  g_option_context_set_description(
      octx, "Exit status: 0 success, 1 failure, 2 usage, 3 no such VM, 4 preflight failed,\n"
            "5 timeout, 6 daemon not reachable, 7 access denied, 8 conflict (the profile\n"
            "changed meanwhile), 9 exists already. See winvmctl(1).");
  g_option_context_add_main_entries(octx, entries, NULL);

  if (!g_option_context_parse(octx, &argc, &argv, &error))
    goto out;
  cmd = find_command(argc > 1 ? argv[1] : "list");
  if (cmd == NULL) {
    g_set_error(&error, CTL_ERROR, CTL_ERROR_USAGE, "unknown command “%s”", argv[1]);
    goto out;
  }
  if (!check_usage(&ctl, cmd, argc > 1 ? argc - 2 : 0, &error))
    goto out;
  ctl.tty = isatty(STDOUT_FILENO);
  if (cmd->needs_vm) {
    ctl.name = argv[2];
    ctl.args = argv + 3;
    ctl.n_args = argc - 3;
  } else if (argc > 2) {
    ctl.args = argv + 2;
    ctl.n_args = argc - 2;
  }

  ctl.bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
  if (ctl.bus == NULL) {
    ctl.bus_error = g_error_new(
        CTL_ERROR, CTL_ERROR_UNREACHABLE,
        "the winvm daemon is not running (cannot connect to the system bus: %s)", error->message);
    g_clear_error(&error);
    if (cmd->run != cmd_version) {
      error = g_steal_pointer(&ctl.bus_error);
      goto out;
    }
  }
  if (cmd->needs_vm && (ctl.path = vm_path(&ctl, ctl.name, &error)) == NULL)
    goto out;
  cmd->run(&ctl, cmd, &error);

out:
  if (error) {
    status = exit_status(error);
    g_dbus_error_strip_remote_error(error);
    if (status == 6 && error->domain != CTL_ERROR)
      g_printerr("winvmctl: error: the winvm daemon is not running (%s)\n", error->message);
    else
      g_printerr("winvmctl: error: %s\n", error->message);
    if (status == 2 && cmd)
      g_printerr("usage: winvmctl %s%s%s\n", cmd->name, *cmd->usage ? " " : "", cmd->usage);
    else if (status == 2)
      g_printerr("Try “winvmctl --help”.\n");
  }
  g_clear_error(&ctl.bus_error);
  g_clear_object(&ctl.bus);
  g_free(ctl.path);
  g_free(ctl.template_name);
  g_free(ctl.memory);
  g_free(ctl.vcpus);
  g_free(ctl.disk);
  g_free(ctl.iso);
  g_free(ctl.import_name);
  return status;
}
