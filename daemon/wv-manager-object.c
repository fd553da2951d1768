/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /org/winvm1: org.winvm1.Manager and org.freedesktop.DBus.ObjectManager.
 */
#include "config.h"

#include "wv-auth.h"
#include "wv-common.h"
#include "wv-daemon.h"
#include "wv-preflight.h"
#include "wv-render.h"

void wv_manager_export(WvDaemon *daemon, GError **error);
void wv_manager_unexport(WvDaemon *daemon);
void wv_manager_vm_added(WvDaemon *daemon, WvVm *vm);
void wv_manager_vm_removed(WvDaemon *daemon, WvVm *vm);
void wv_manager_changed(WvDaemon *daemon);

static GVariant *last_properties; /* what was last announced */

static GVariant *
get_property_value(WvDaemon *daemon, const char *name)
{
  if (g_str_equal(name, "Version"))
    return g_variant_new_string(WV_VERSION);
  if (g_str_equal(name, "LibvirtConnected"))
    return g_variant_new_boolean(wv_libvirt_is_connected(daemon->libvirt));
  if (g_str_equal(name, "LibvirtURI"))
    return g_variant_new_string(wv_libvirt_uri(daemon->libvirt));
  if (g_str_equal(name, "ProfileErrors"))
    return g_variant_new_strv((const char *const *)daemon->profile_errors->pdata,
                              daemon->profile_errors->len);
  return NULL;
}

static GVariant *
all_properties(WvDaemon *daemon)
{
  static const char *const names[] = {"Version", "LibvirtConnected", "LibvirtURI", "ProfileErrors"};
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
  for (guint i = 0; i < G_N_ELEMENTS(names); i++)
    g_variant_builder_add(&b, "{sv}", names[i], get_property_value(daemon, names[i]));
  return g_variant_ref_sink(g_variant_builder_end(&b));
}

void
wv_manager_changed(WvDaemon *daemon)
{
  g_autoptr(GVariant) now = all_properties(daemon);
  GVariantBuilder b;
  GVariantIter iter;
  const char *name;
  GVariant *value;
  gboolean any = FALSE;

  if (daemon->manager_id == 0)
    return;
  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
  g_variant_iter_init(&iter, now);
  while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
    g_autoptr(GVariant) old =
        last_properties ? g_variant_lookup_value(last_properties, name, NULL) : NULL;
    if (old == NULL || !g_variant_equal(old, value)) {
      g_variant_builder_add(&b, "{sv}", name, value);
      any = TRUE;
    }
    g_variant_unref(value);
  }
  g_clear_pointer(&last_properties, g_variant_unref);
  last_properties = g_variant_ref(now);
  if (any)
    wv_daemon_emit_properties_changed(daemon, WV_MANAGER_PATH, WV_MANAGER_INTERFACE,
                                      g_variant_builder_end(&b));
  else
    g_variant_builder_clear(&b);
}

/* ---- ShutdownAll ---------------------------------------------------------- */

typedef struct
{
  WvDaemon *daemon;
  guint pending;
  GPtrArray *forced; /* names */
  GPtrArray *failed; /* messages */
  WvShutdownAllDone done;
  gpointer data;
} ShutdownAll;

typedef struct
{
  ShutdownAll *all;
  gint64 started;
  WvHostShutdownPolicy policy;
} ShutdownOne;

static const char *
policy_name(WvHostShutdownPolicy p)
{
  return p == WV_HOST_SHUTDOWN_SAVE      ? "save"
         : p == WV_HOST_SHUTDOWN_DESTROY ? "destroy"
                                         : "shutdown";
}

static void
shutdown_all_finish(ShutdownAll *all)
{
  g_autoptr(GError) error = NULL;

  if (all->failed->len > 0) {
    g_ptr_array_add(all->failed, NULL);
    g_autofree char *msgs = g_strjoinv("; ", (char **)all->failed->pdata);
    error = g_error_new(WV_ERROR, WV_ERROR_FAILED, "%s", msgs);
  } else if (all->forced->len > 0) {
    g_ptr_array_add(all->forced, NULL);
    g_autofree char *names = g_strjoinv(", ", (char **)all->forced->pdata);
    error = g_error_new(WV_ERROR, WV_ERROR_TIMEOUT, "forced off at the deadline: %s", names);
  }
  all->done(all->daemon, error, all->data);
  g_ptr_array_unref(all->forced);
  g_ptr_array_unref(all->failed);
  g_free(all);
}

static void
one_done(WvVm *vm, const GError *error, gpointer data)
{
  ShutdownOne *one = data;
  ShutdownAll *all = one->all;
  double secs = (double)(g_get_monotonic_time() - one->started) / G_USEC_PER_SEC;
  gboolean forced = g_error_matches(error, WV_ERROR, WV_ERROR_TIMEOUT);
  g_autofree char *took = g_strdup_printf("%.1f", secs);

  g_log_structured(G_LOG_DOMAIN, error && !forced ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE,
                   "WINVM_VM", wv_vm_name(vm), "WINVM_POLICY", policy_name(one->policy),
                   "WINVM_RESULT", error ? (forced ? "forced" : "failed") : "ok", "WINVM_SECONDS",
                   took, "WINVM_FORCED", forced ? "yes" : "no", "MESSAGE",
                   "%s: host shutdown by %s: %s after %s s%s", wv_vm_name(vm),
                   policy_name(one->policy), error ? (forced ? "forced off" : "failed") : "done",
                   took, error && !forced ? "" : "");
  if (forced)
    g_ptr_array_add(all->forced, g_strdup(wv_vm_name(vm)));
  else if (error)
    g_ptr_array_add(all->failed, g_strdup_printf("%s: %s", wv_vm_name(vm), error->message));
  g_free(one);
  if (--all->pending == 0)
    shutdown_all_finish(all);
}

/* Every running VM at once, each by its on-host-shutdown policy and
 * timeout (capped by @cap_s when not 0); @done once all are off. */
void wv_manager_shutdown_all(WvDaemon *daemon, guint cap_s, WvShutdownAllDone done, gpointer data);

void
wv_manager_shutdown_all(WvDaemon *daemon, guint cap_s, WvShutdownAllDone done, gpointer data)
{
  ShutdownAll *all = g_new0(ShutdownAll, 1);
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);

  all->daemon = daemon;
  all->forced = g_ptr_array_new_with_free_func(g_free);
  all->failed = g_ptr_array_new_with_free_func(g_free);
  all->done = done;
  all->data = data;
  all->pending = 1; /* held until every VM was asked */
  wv_autostart_cancel(daemon);
  for (guint i = 0; i < names->len; i++) {
    WvVm *vm = g_hash_table_lookup(daemon->vms, names->pdata[i]);
    const WvProfile *p = wv_vm_profile(vm);
    ShutdownOne *one;
    guint timeout = p->shutdown_timeout_s;

    if (!wv_vm_is_running(vm) && !wv_vm_is_starting(vm))
      continue;
    if (cap_s && cap_s < timeout)
      timeout = cap_s;
    one = g_new0(ShutdownOne, 1);
    one->all = all;
    one->started = g_get_monotonic_time();
    one->policy = p->on_host_shutdown;
    all->pending++;
    wv_vm_shutdown(vm, p->on_host_shutdown, timeout, one_done, one);
  }
  if (--all->pending == 0)
    shutdown_all_finish(all);
}

/* {"org.winvm1.VM": {property: value}} */
static GVariant *
vm_interfaces(WvVm *vm)
{
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sa{sv}}"));
  g_variant_builder_add(&b, "{s@a{sv}}", WV_VM_INTERFACE, wv_vm_get_all(vm));
  return g_variant_builder_end(&b);
}

/* ---- methods ---------------------------------------------------------------- */

typedef struct
{
  WvDaemon *daemon;
  WvConfig *config;
  GDBusMethodInvocation *invocation;
  WvProfile *profile;
  virConnectPtr conn;
  const char *method; /* Render, Check or Plan */
} PlanCall;

static void
plan_call_free(PlanCall *c)
{
  g_object_unref(c->invocation);
  wv_profile_free(c->profile);
  wv_config_unref(c->config);
  if (c->conn)
    virConnectClose(c->conn);
  g_free(c);
}

static GVariant *
pins_variant(GPtrArray *pins, guint first)
{
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a(us)"));
  for (guint i = 0; i < pins->len; i++) {
    g_autofree char *set = pins->pdata[i] ? wv_cpuset_format(pins->pdata[i]) : NULL;
    if (set)
      g_variant_builder_add(&b, "(us)", i + first, set);
  }
  return g_variant_builder_end(&b);
}

static GVariant *
plan_dict(const WvPlan *plan)
{
  GVariantBuilder b, hv;
  g_autofree char *emulator = plan->emulator_pin ? wv_cpuset_format(plan->emulator_pin) : NULL;

  g_variant_builder_init(&hv, G_VARIANT_TYPE("as"));
  for (guint f = 0; f < WV_HV_N_FEATURES; f++)
    if (plan->hyperv_features & (1u << f))
      g_variant_builder_add(&hv, "s", wv_hyperv_feature_name(f));
  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
  g_variant_builder_add(&b, "{sv}", "sockets", g_variant_new_uint32(plan->sockets));
  g_variant_builder_add(&b, "{sv}", "dies", g_variant_new_uint32(plan->dies));
  g_variant_builder_add(&b, "{sv}", "cores", g_variant_new_uint32(plan->cores));
  g_variant_builder_add(&b, "{sv}", "threads", g_variant_new_uint32(plan->threads));
  g_variant_builder_add(&b, "{sv}", "vcpu-pins", pins_variant(plan->vcpu_pins, 0));
  g_variant_builder_add(&b, "{sv}", "iothread-pins", pins_variant(plan->iothread_pins, 1));
  g_variant_builder_add(&b, "{sv}", "emulator-pin", g_variant_new_string(emulator ? emulator : ""));
  g_variant_builder_add(&b, "{sv}", "numa-node", g_variant_new_int32(plan->numa_node));
  g_variant_builder_add(&b, "{sv}", "hugepage-size",
                        g_variant_new_string(wv_page_size_name(plan->hugepage_kib)));
  g_variant_builder_add(&b, "{sv}", "hugepages-needed",
                        g_variant_new_uint64(plan->hugepages_needed));
  g_variant_builder_add(&b, "{sv}", "hugepages-reserve",
                        g_variant_new_uint64(plan->hugepages_reserve));
  g_variant_builder_add(&b, "{sv}", "hyperv", g_variant_builder_end(&hv));
  return g_variant_builder_end(&b);
}

static void
plan_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  PlanCall *c = data;
  g_autoptr(WvPlan) plan = wv_preflight(c->config, c->profile, c->conn, WV_PREFLIGHT_DEFAULT, NULL);
  GError *error = NULL;

  if (g_str_equal(c->method, "Plan")) {
    g_task_return_pointer(task, g_variant_ref_sink(g_variant_new("(@a{sv})", plan_dict(plan))),
                          (GDestroyNotify)g_variant_unref);
    return;
  }
  if (g_str_equal(c->method, "Check")) {
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a(ssss)"));
    for (guint i = 0; i < plan->findings->len; i++) {
      const WvFinding *f = plan->findings->pdata[i];
      g_variant_builder_add(&b, "(ssss)", wv_severity_name(f->severity), f->code, f->message,
                            f->hint ? f->hint : "");
    }
    g_task_return_pointer(task, g_variant_ref_sink(g_variant_new("(a(ssss))", &b)),
                          (GDestroyNotify)g_variant_unref);
    return;
  }
  /* Render gives exactly what the profile says, or the reasons it cannot */
  {
    g_autofree char *xml =
        wv_plan_check(plan, &error) ? wv_render_to_string(c->profile, plan, &error) : NULL;
    if (xml == NULL)
      g_task_return_error(task, error);
    else
      g_task_return_pointer(task, g_variant_ref_sink(g_variant_new("(s)", xml)),
                            (GDestroyNotify)g_variant_unref);
  }
}

static void
plan_done(GObject *source, GAsyncResult *result, gpointer data)
{
  PlanCall *c = g_task_get_task_data(G_TASK(result));
  GError *error = NULL;
  GVariant *reply = g_task_propagate_pointer(G_TASK(result), &error);

  if (reply) {
    g_dbus_method_invocation_return_value(c->invocation, reply);
    g_variant_unref(reply);
  } else {
    g_dbus_method_invocation_take_error(c->invocation, error);
  }
}

static void
handle_plan(WvDaemon *daemon, GVariant *params, GDBusMethodInvocation *invocation,
            const char *method)
{
  const char *name;
  GError *error = NULL;
  WvVm *vm;
  PlanCall *c;
  g_autoptr(GTask) task = NULL;

  g_variant_get(params, "(&s)", &name);
  if ((vm = wv_daemon_lookup(daemon, name, &error)) == NULL) {
    g_dbus_method_invocation_take_error(invocation, error);
    return;
  }
  c = g_new0(PlanCall, 1);
  c->daemon = daemon;
  c->config = wv_config_ref(daemon->config);
  c->invocation = g_object_ref(invocation);
  c->profile = wv_profile_ref((WvProfile *)wv_vm_profile(vm));
  c->conn = wv_libvirt_get(daemon->libvirt, NULL); /* optional: plans work offline */
  c->method = method;                              /* static: the introspection data's own string */
  task = g_task_new(NULL, NULL, plan_done, NULL);
  g_task_set_task_data(task, c, (GDestroyNotify)plan_call_free);
  g_task_run_in_thread(task, plan_thread);
}

typedef struct
{
  WvDaemon *daemon;
  GDBusMethodInvocation *invocation;
  char *method;
  guint32 timeout;
} ManageCall;

static void
manage_call_free(ManageCall *c)
{
  g_object_unref(c->invocation);
  g_free(c->method);
  g_free(c);
}

static void
shutdown_all_replied(WvDaemon *daemon, const GError *error, gpointer data)
{
  ManageCall *c = data;

  if (error)
    g_dbus_method_invocation_return_gerror(c->invocation, error);
  else
    g_dbus_method_invocation_return_value(c->invocation, NULL);
  manage_call_free(c);
}

static void
manage_authorized(GObject *source, GAsyncResult *result, gpointer data)
{
  ManageCall *c = data;
  GError *error = NULL;

  if (!wv_auth_check_finish(result, &error)) {
    g_dbus_method_invocation_take_error(c->invocation, error);
    manage_call_free(c);
    return;
  }
  if (g_str_equal(c->method, "Reload")) {
    g_autoptr(GPtrArray) errors = wv_daemon_reload(c->daemon);

    g_ptr_array_add(errors, NULL);
    g_dbus_method_invocation_return_value(c->invocation,
                                          g_variant_new("(^as)", (char **)errors->pdata));
    manage_call_free(c);
    return;
  }
  if (!wv_libvirt_is_connected(c->daemon->libvirt)) {
    g_dbus_method_invocation_return_error(c->invocation, WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE,
                                          "libvirt (%s) is not reachable",
                                          wv_libvirt_uri(c->daemon->libvirt));
    manage_call_free(c);
    return;
  }
  g_message("shutting down every running VM%s", c->timeout ? " (timeout capped)" : "");
  wv_manager_shutdown_all(c->daemon, c->timeout, shutdown_all_replied, c);
}

static void
method_call(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
            const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  WvDaemon *daemon = data;

  if (g_str_equal(iface, "org.freedesktop.DBus.ObjectManager")) {
    GVariantBuilder b;
    g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);

    g_variant_builder_init(&b, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
    for (guint i = 0; i < names->len; i++) {
      WvVm *vm = g_hash_table_lookup(daemon->vms, names->pdata[i]);
      g_variant_builder_add(&b, "{o@a{sa{sv}}}", wv_vm_path(vm), vm_interfaces(vm));
    }
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(a{oa{sa{sv}}})", &b));
    return;
  }

  if (g_str_equal(method, "ListVMs")) {
    GVariantBuilder b;
    g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);

    g_variant_builder_init(&b, G_VARIANT_TYPE("a(so)"));
    for (guint i = 0; i < names->len; i++) {
      WvVm *vm = g_hash_table_lookup(daemon->vms, names->pdata[i]);
      g_variant_builder_add(&b, "(so)", wv_vm_name(vm), wv_vm_path(vm));
    }
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(a(so))", &b));
  } else if (g_str_equal(method, "Render") || g_str_equal(method, "Check") ||
             g_str_equal(method, "Plan")) {
    handle_plan(daemon, params, invocation,
                g_str_equal(method, "Plan")    ? "Plan"
                : g_str_equal(method, "Check") ? "Check"
                                               : "Render");
  } else if (g_str_equal(method, "Reload") || g_str_equal(method, "ShutdownAll")) {
    ManageCall *c = g_new0(ManageCall, 1);

    c->daemon = daemon;
    c->invocation = g_object_ref(invocation);
    c->method = g_strdup(method);
    if (g_str_equal(method, "ShutdownAll"))
      g_variant_get(params, "(u)", &c->timeout);
    wv_auth_check_async(invocation, WV_ACTION_MANAGE, NULL, manage_authorized, c);
  } else {
    g_dbus_method_invocation_return_error(invocation, WV_ERROR, WV_ERROR_INVALID_ARGS,
                                          "no method %s", method);
  }
}

static GVariant *
get_property(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *name, GError **error, gpointer data)
{
  GVariant *v = get_property_value(data, name);

  if (v == NULL)
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "no property %s", name);
  return v;
}

static const GDBusInterfaceVTable manager_vtable = {
    .method_call = method_call,
    .get_property = get_property,
};

static const GDBusInterfaceVTable object_manager_vtable = {
    .method_call = method_call,
};

static GDBusNodeInfo *object_manager_info;

void
wv_manager_export(WvDaemon *daemon, GError **error)
{
  g_autoptr(GBytes) om = g_resources_lookup_data(
      "/org/winvm1/org.freedesktop.DBus.ObjectManager.xml", G_RESOURCE_LOOKUP_FLAGS_NONE, error);

  if (om == NULL)
    return;
  if (object_manager_info == NULL && (object_manager_info = g_dbus_node_info_new_for_xml(
                                          g_bytes_get_data(om, NULL), error)) == NULL)
    return;
  daemon->manager_id = g_dbus_connection_register_object(daemon->bus, WV_MANAGER_PATH,
                                                         daemon->manager_info->interfaces[0],
                                                         &manager_vtable, daemon, NULL, error);
  if (daemon->manager_id == 0)
    return;
  daemon->object_manager_id = g_dbus_connection_register_object(
      daemon->bus, WV_MANAGER_PATH, object_manager_info->interfaces[0], &object_manager_vtable,
      daemon, NULL, error);
  g_clear_pointer(&last_properties, g_variant_unref);
  last_properties = all_properties(daemon);
}

void
wv_manager_unexport(WvDaemon *daemon)
{
  if (daemon->manager_id)
    g_dbus_connection_unregister_object(daemon->bus, daemon->manager_id);
  if (daemon->object_manager_id)
    g_dbus_connection_unregister_object(daemon->bus, daemon->object_manager_id);
  daemon->manager_id = daemon->object_manager_id = 0;
  g_clear_pointer(&last_properties, g_variant_unref);
}

void
wv_manager_vm_added(WvDaemon *daemon, WvVm *vm)
{
  g_dbus_connection_emit_signal(
      daemon->bus, NULL, WV_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
      g_variant_new("(o@a{sa{sv}})", wv_vm_path(vm), vm_interfaces(vm)), NULL);
}

void
wv_manager_vm_removed(WvDaemon *daemon, WvVm *vm)
{
  const char *ifaces[] = {WV_VM_INTERFACE, NULL};

  g_dbus_connection_emit_signal(daemon->bus, NULL, WV_MANAGER_PATH,
                                "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                g_variant_new("(o^as)", wv_vm_path(vm), ifaces), NULL);
}
