/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /org/winvm1: org.winvm1.Manager and org.freedesktop.DBus.ObjectManager,
 * and the subtree of VM objects.
 */
#include "config.h"

#include "wv-auth.h"
#include "wv-common.h"
#include "wv-manager-object.h"
#include "wv-preflight.h"
#include "wv-render.h"
#include "wv-resources.h"
#include "wv-shutdown.h"

struct _WvManager
{
  WvDaemon *daemon;
  WvAutostart *autostart;
  GDBusConnection *bus;
  GDBusNodeInfo *manager_info, *object_manager_info, *vm_info;
  guint manager_id, object_manager_id, vms_id;
  GVariant *last_properties; /* what was last announced */
};

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
wv_manager_changed(WvManager *manager)
{
  g_autoptr(GVariant) now = all_properties(manager->daemon);
  GVariantBuilder b;
  GVariantIter iter;
  const char *name;
  GVariant *value;
  gboolean any = FALSE;

  if (manager->manager_id == 0)
    return;
  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
  g_variant_iter_init(&iter, now);
  while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
    g_autoptr(GVariant) old = manager->last_properties
                                  ? g_variant_lookup_value(manager->last_properties, name, NULL)
                                  : NULL;
    if (old == NULL || !g_variant_equal(old, value)) {
      g_variant_builder_add(&b, "{sv}", name, value);
      any = TRUE;
    }
    g_variant_unref(value);
  }
  g_clear_pointer(&manager->last_properties, g_variant_unref);
  manager->last_properties = g_variant_ref(now);
  if (any)
    g_dbus_connection_emit_signal(
        manager->bus, NULL, WV_MANAGER_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged",
        g_variant_new("(s@a{sv}as)", WV_MANAGER_INTERFACE, g_variant_builder_end(&b), NULL), NULL);
  else
    g_variant_builder_clear(&b);
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
  WvManager *manager;
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
shutdown_all_replied(const GError *error, gpointer data)
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
    g_autoptr(GPtrArray) errors = wv_daemon_reload(c->manager->daemon);

    g_ptr_array_add(errors, NULL);
    g_dbus_method_invocation_return_value(c->invocation,
                                          g_variant_new("(^as)", (char **)errors->pdata));
    manage_call_free(c);
    return;
  }
  if (!wv_libvirt_is_connected(c->manager->daemon->libvirt)) {
    g_dbus_method_invocation_return_error(c->invocation, WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE,
                                          "libvirt (%s) is not reachable",
                                          wv_libvirt_uri(c->manager->daemon->libvirt));
    manage_call_free(c);
    return;
  }
  g_message("shutting down every running VM%s", c->timeout ? " (timeout capped)" : "");
  wv_shutdown_all(c->manager->daemon, c->manager->autostart, c->timeout, shutdown_all_replied, c);
}

static void
method_call(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
            const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  WvManager *manager = data;
  WvDaemon *daemon = manager->daemon;

  if (g_str_equal(iface, "org.freedesktop.DBus.ObjectManager")) {
    GVariantBuilder b;
    g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);

    g_variant_builder_init(&b, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
    for (guint i = 0; i < names->len; i++) {
      WvVm *vm = wv_daemon_get_vm(daemon, names->pdata[i]);
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
      WvVm *vm = wv_daemon_get_vm(daemon, names->pdata[i]);
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

    c->manager = manager;
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
  WvManager *manager = data;
  GVariant *v = get_property_value(manager->daemon, name);

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

/* ---- the VM subtree --------------------------------------------------------
 *
 * One registration serves every VM, and a call to a VM that does not exist
 * gets org.winvm1.Error.NotFound, not a generic error. */

static WvVm *
vm_for_node(WvDaemon *daemon, const char *node)
{
  g_autofree char *name = node ? (char *)g_dbus_unescape_object_path(node) : NULL;
  WvVm *vm = name ? wv_daemon_get_vm(daemon, name) : NULL;

  return vm && wv_vm_is_exported(vm) ? vm : NULL;
}

static char **
subtree_enumerate(GDBusConnection *bus, const char *sender, const char *path, gpointer data)
{
  WvManager *manager = data;
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(manager->daemon);
  GPtrArray *nodes = g_ptr_array_new();

  for (guint i = 0; i < names->len; i++)
    g_ptr_array_add(nodes, g_dbus_escape_object_path(names->pdata[i]));
  g_ptr_array_add(nodes, NULL);
  return (char **)g_ptr_array_free(nodes, FALSE);
}

static GDBusInterfaceInfo **
subtree_introspect(GDBusConnection *bus, const char *sender, const char *path, const char *node,
                   gpointer data)
{
  WvManager *manager = data;
  GDBusInterfaceInfo **ifaces;

  if (node == NULL)
    return NULL;
  /* unknown nodes too, so that their calls reach dispatch and NotFound */
  ifaces = g_new0(GDBusInterfaceInfo *, 2);
  ifaces[0] = g_dbus_interface_info_ref(manager->vm_info->interfaces[0]);
  return ifaces;
}

static void
missing_call(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  g_dbus_method_invocation_return_error(invocation, WV_ERROR, WV_ERROR_NOT_FOUND,
                                        "no VM at %.120s%s", path, strlen(path) > 120 ? "…" : "");
}

static const GDBusInterfaceVTable missing_vtable = {
    .method_call = missing_call,
};

static const GDBusInterfaceVTable *
subtree_dispatch(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                 const char *node, gpointer *out_data, gpointer data)
{
  WvManager *manager = data;
  WvVm *vm = vm_for_node(manager->daemon, node);

  *out_data = vm;
  return vm ? wv_vm_vtable() : &missing_vtable;
}

static const GDBusSubtreeVTable subtree_vtable = {
    .enumerate = subtree_enumerate,
    .introspect = subtree_introspect,
    .dispatch = subtree_dispatch,
};

/* ---- life ------------------------------------------------------------------ */

static GDBusNodeInfo *
load_interface(const char *resource, GError **error)
{
  g_autoptr(GBytes) data = g_resources_lookup_data(resource, G_RESOURCE_LOOKUP_FLAGS_NONE, error);

  return data ? g_dbus_node_info_new_for_xml(g_bytes_get_data(data, NULL), error) : NULL;
}

WvManager *
wv_manager_new(WvDaemon *daemon, WvAutostart *autostart, GDBusConnection *bus, GError **error)
{
  WvManager *manager = g_new0(WvManager, 1);

  wv_register_resource();
  manager->daemon = daemon;
  manager->autostart = autostart;
  manager->bus = g_object_ref(bus);
  if ((manager->manager_info = load_interface("/org/winvm1/org.winvm1.Manager.xml", error)) ==
          NULL ||
      (manager->vm_info = load_interface("/org/winvm1/org.winvm1.VM.xml", error)) == NULL ||
      (manager->object_manager_info =
           load_interface("/org/winvm1/org.freedesktop.DBus.ObjectManager.xml", error)) == NULL ||
      (manager->manager_id = g_dbus_connection_register_object(
           bus, WV_MANAGER_PATH, manager->manager_info->interfaces[0], &manager_vtable, manager,
           NULL, error)) == 0 ||
      (manager->object_manager_id = g_dbus_connection_register_object(
           bus, WV_MANAGER_PATH, manager->object_manager_info->interfaces[0],
           &object_manager_vtable, manager, NULL, error)) == 0 ||
      (manager->vms_id = g_dbus_connection_register_subtree(
           bus, WV_VM_PATH_PREFIX, &subtree_vtable,
           G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES, manager, NULL, error)) == 0) {
    wv_manager_free(manager);
    return NULL;
  }
  manager->last_properties = all_properties(daemon);
  return manager;
}

void
wv_manager_free(WvManager *manager)
{
  if (manager == NULL)
    return;
  if (manager->manager_id)
    g_dbus_connection_unregister_object(manager->bus, manager->manager_id);
  if (manager->object_manager_id)
    g_dbus_connection_unregister_object(manager->bus, manager->object_manager_id);
  if (manager->vms_id)
    g_dbus_connection_unregister_subtree(manager->bus, manager->vms_id);
  g_clear_pointer(&manager->manager_info, g_dbus_node_info_unref);
  g_clear_pointer(&manager->object_manager_info, g_dbus_node_info_unref);
  g_clear_pointer(&manager->vm_info, g_dbus_node_info_unref);
  g_clear_pointer(&manager->last_properties, g_variant_unref);
  g_object_unref(manager->bus);
  g_free(manager);
  wv_unregister_resource();
}

void
wv_manager_vm_added(WvManager *manager, WvVm *vm)
{
  g_dbus_connection_emit_signal(
      manager->bus, NULL, WV_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
      g_variant_new("(o@a{sa{sv}})", wv_vm_path(vm), vm_interfaces(vm)), NULL);
}

void
wv_manager_vm_removed(WvManager *manager, WvVm *vm)
{
  const char *ifaces[] = {WV_VM_INTERFACE, NULL};

  g_dbus_connection_emit_signal(manager->bus, NULL, WV_MANAGER_PATH,
                                "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                g_variant_new("(o^as)", wv_vm_path(vm), ifaces), NULL);
}
