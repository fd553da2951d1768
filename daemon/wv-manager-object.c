/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /org/winvm1: org.winvm1.Manager and org.freedesktop.DBus.ObjectManager,
 * and the subtree of VM objects.
 */
#include "config.h"

#include "wv-auth.h"
#include "wv-common.h"
#include "wv-dbus.h"
#include "wv-import.h"
#include "wv-isolate.h"
#include "wv-limits.h"
#include "wv-manage.h"
#include "wv-manager-object.h"
#include "wv-plan-cache.h"
#include "wv-resources.h"
#include "wv-shutdown.h"
#include "wv-vm-object.h"

struct _WvManager
{
  WvDaemon *daemon;
  WvAutostart *autostart;
  GDBusConnection *bus;
  GDBusNodeInfo *manager_info, *object_manager_info, *vm_info;
  guint manager_id, object_manager_id, vms_id;
  GHashTable *objects; /* WvVm* -> WvVmObject*: the VMs' faces */
  WvDBusProperties properties;
  WvLimits *limits; /* every caller's, on @bus */
  /* GetManagedObjects' reply, kept while no VM comes or goes and no
   * property dictionary changes (wv_dbus_properties_generation()) */
  GVariant *managed;
  guint managed_generation;
  GVariant *listed; /* ListVMs' reply, kept while no VM comes or goes */
};

static GVariant *
get_version(gpointer object)
{
  return g_variant_new_string(WV_VERSION);
}

static GVariant *
get_libvirt_connected(gpointer object)
{
  WvManager *manager = object;

  return g_variant_new_boolean(wv_libvirt_is_connected(manager->daemon->libvirt));
}

static GVariant *
get_libvirt_uri(gpointer object)
{
  WvManager *manager = object;

  return g_variant_new_string(wv_libvirt_uri(manager->daemon->libvirt));
}

static GVariant *
get_profile_errors(gpointer object)
{
  WvManager *manager = object;
  GPtrArray *errors = manager->daemon->profile_errors;

  return g_variant_new_strv((const char *const *)errors->pdata, errors->len);
}

static const WvDBusProperty manager_properties[] = {
    {"Version", get_version},
    {"LibvirtConnected", get_libvirt_connected},
    {"LibvirtURI", get_libvirt_uri},
    {"ProfileErrors", get_profile_errors},
    {NULL, NULL},
};

void
wv_manager_changed(WvManager *manager)
{
  wv_dbus_properties_update(&manager->properties, manager, manager->bus, WV_MANAGER_PATH,
                            WV_MANAGER_INTERFACE);
}

/* {"org.winvm1.VM": {property: value}} */
static GVariant *
vm_interfaces(WvVmObject *obj)
{
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a{sa{sv}}"));
  g_variant_builder_add(&b, "{s@a{sv}}", WV_VM_INTERFACE, wv_vm_object_get_all(obj));
  return g_variant_builder_end(&b);
}

/* ---- methods ---------------------------------------------------------------- */

/* Plan, Check, Render: one cached preflight (wv-plan-cache.h), shown three
 * ways. The row's data says which. */
typedef enum
{
  SHOW_PLAN,
  SHOW_CHECK,
  SHOW_RENDER,
} Show;

typedef struct
{
  WvManager *manager;
  GDBusMethodInvocation *invocation;
  WvProfile *profile;
  Show show;
} PlanCall;

static void
plan_call_free(PlanCall *c)
{
  g_object_unref(c->invocation);
  wv_profile_unref(c->profile);
  g_free(c);
}

/* The VMs' faces, sorted by name. */
static GPtrArray *
vm_objects(WvManager *manager)
{
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(manager->daemon);
  GPtrArray *objects = g_ptr_array_sized_new(names->len);

  for (guint i = 0; i < names->len; i++) {
    WvVmObject *obj =
        g_hash_table_lookup(manager->objects, wv_daemon_get_vm(manager->daemon, names->pdata[i]));
    if (obj)
      g_ptr_array_add(objects, obj);
  }
  return objects;
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
  g_variant_builder_add(&b, "{sv}", "hugepage-fallback",
                        g_variant_new_string(wv_page_size_name(plan->hugepage_fallback_kib)));
  g_variant_builder_add(&b, "{sv}", "hyperv", g_variant_builder_end(&hv));
  g_variant_builder_add(&b, "{sv}", "isolate", g_variant_new_boolean(plan->isolate));
  g_variant_builder_add(&b, "{sv}", "governor",
                        g_variant_new_string(plan->governor ? "performance" : "keep"));
  g_variant_builder_add(&b, "{sv}", "irq",
                        g_variant_new_string(plan->irq_steer ? "steer" : "keep"));
  g_variant_builder_add(
      &b, "{sv}", "vm-cpus",
      g_variant_new_take_string(plan->vm_cpus ? wv_cpuset_format(plan->vm_cpus) : g_strdup("")));
  g_variant_builder_add(&b, "{sv}", "host-cpus",
                        g_variant_new_take_string(
                            plan->host_cpus ? wv_cpuset_format(plan->host_cpus) : g_strdup("")));
  return g_variant_builder_end(&b);
}

static GVariant *
findings_variant(const WvPlan *plan)
{
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a(ssss)"));
  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    g_variant_builder_add(&b, "(ssss)", wv_severity_name(f->severity), f->code, f->message,
                          f->hint ? f->hint : "");
  }
  return g_variant_builder_end(&b);
}

/* the plan is made (or was cached): the answer, as the call asked */
static void
plan_answered(const WvPlanResult *r, gpointer data)
{
  PlanCall *c = data;

  if (r->error) {
    g_dbus_method_invocation_return_gerror(c->invocation, r->error);
    plan_call_free(c);
    return;
  }
  switch (c->show) {
    case SHOW_PLAN:
      g_dbus_method_invocation_return_value(c->invocation,
                                            g_variant_new("(@a{sv})", plan_dict(r->plan)));
      break;
    case SHOW_CHECK:
      g_dbus_method_invocation_return_value(c->invocation,
                                            g_variant_new("(@a(ssss))", findings_variant(r->plan)));
      break;
    case SHOW_RENDER:
      /* Render gives exactly what the profile says, or the reasons it cannot */
      if (r->xml)
        g_dbus_method_invocation_return_value(c->invocation, g_variant_new("(s)", r->xml));
      else
        g_dbus_method_invocation_return_gerror(c->invocation, r->render_error);
      break;
    default:
      g_assert_not_reached();
  }
  plan_call_free(c);
}

static gpointer
plan_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
             GDBusMethodInvocation *invocation, GError **error)
{
  WvManager *manager = object;
  const char *name;
  WvVm *vm;
  PlanCall *c;

  g_variant_get(params, "(&s)", &name);
  if ((vm = wv_daemon_lookup(manager->daemon, name, error)) == NULL)
    return NULL;
  c = g_new0(PlanCall, 1);
  c->manager = manager;
  c->invocation = g_object_ref(invocation);
  c->profile = wv_profile_ref((WvProfile *)wv_vm_profile(vm));
  c->show = *(const Show *)method->data;
  return c;
}

static void
plan_start(gpointer call)
{
  PlanCall *c = call;
  WvDaemon *daemon = c->manager->daemon;

  wv_plan_cache_get(daemon->plans, daemon->config, c->profile, daemon->libvirt, plan_answered, c);
}

static void
plan_refuse(gpointer call, GError *error)
{
  PlanCall *c = call;

  g_dbus_method_invocation_take_error(c->invocation, error);
  plan_call_free(c);
}

/* The calls answered on the main thread. */
typedef struct
{
  WvManager *manager;
  GDBusMethodInvocation *invocation;
  guint32 timeout;
} ManagerCall;

static void
manager_call_free(ManagerCall *c)
{
  g_object_unref(c->invocation);
  g_free(c);
}

static gpointer
manager_call_new(gpointer object, const WvDBusMethod *method, GVariant *params,
                 GDBusMethodInvocation *invocation, GError **error)
{
  ManagerCall *c = g_new0(ManagerCall, 1);

  c->manager = object;
  c->invocation = g_object_ref(invocation);
  return c;
}

static void
manager_call_refuse(gpointer call, GError *error)
{
  ManagerCall *c = call;

  g_dbus_method_invocation_take_error(c->invocation, error);
  manager_call_free(c);
}

static void
manager_call_reply(ManagerCall *c, GVariant *value)
{
  g_dbus_method_invocation_return_value(c->invocation, value);
  manager_call_free(c);
}

static void
list_vms_start(gpointer call)
{
  ManagerCall *c = call;
  WvManager *manager = c->manager;

  if (manager->listed == NULL) {
    g_autoptr(GPtrArray) objects = vm_objects(manager);
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a(so)"));
    for (guint i = 0; i < objects->len; i++)
      g_variant_builder_add(&b, "(so)", wv_vm_name(wv_vm_object_vm(objects->pdata[i])),
                            wv_vm_object_path(objects->pdata[i]));
    manager->listed = g_variant_ref_sink(g_variant_new("(a(so))", &b));
  }
  manager_call_reply(c, manager->listed);
}

static void
host_changes_start(gpointer call)
{
  ManagerCall *c = call;
  WvIsolate *iso = c->manager->daemon->config->isolate;

  manager_call_reply(
      c, g_variant_new("(@a(sssssas))",
                       iso ? wv_isolate_describe(iso)
                           : g_variant_new_array(G_VARIANT_TYPE("(sssssas)"), NULL, 0)));
}

/* Built again only after a change: GDBus still walks the whole tree for
 * each reply, but the 50-VM build is not repeated per call (about 100 us of
 * winvmd's 640, tests/bench/README.md). */
static GVariant *
managed_objects(WvManager *manager)
{
  g_autoptr(GPtrArray) objects = NULL;
  GVariantBuilder b;

  if (manager->managed && manager->managed_generation == wv_dbus_properties_generation())
    return manager->managed;
  g_clear_pointer(&manager->managed, g_variant_unref);
  objects = vm_objects(manager);
  g_variant_builder_init(&b, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
  for (guint i = 0; i < objects->len; i++)
    g_variant_builder_add(&b, "{o@a{sa{sv}}}", wv_vm_object_path(objects->pdata[i]),
                          vm_interfaces(objects->pdata[i]));
  manager->managed = g_variant_ref_sink(g_variant_new("(a{oa{sa{sv}}})", &b));
  /* taken after the build, which may read a dictionary for the first time */
  manager->managed_generation = wv_dbus_properties_generation();
  return manager->managed;
}

static void
get_managed_objects_start(gpointer call)
{
  ManagerCall *c = call;

  manager_call_reply(c, managed_objects(c->manager));
}

static void
reload_start(gpointer call)
{
  ManagerCall *c = call;
  g_autoptr(GPtrArray) errors = wv_daemon_reload(c->manager->daemon);

  g_ptr_array_add(errors, NULL);
  manager_call_reply(c, g_variant_new("(^as)", (char **)errors->pdata));
}

static gpointer
shutdown_all_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
                     GDBusMethodInvocation *invocation, GError **error)
{
  ManagerCall *c = manager_call_new(object, method, params, invocation, error);

  g_variant_get(params, "(u)", &c->timeout);
  return c;
}

static void
shutdown_all_replied(const GError *error, gpointer data)
{
  ManagerCall *c = data;

  if (error) {
    g_dbus_method_invocation_return_gerror(c->invocation, error);
    manager_call_free(c);
  } else {
    manager_call_reply(c, NULL);
  }
}

static void
shutdown_all_start(gpointer call)
{
  ManagerCall *c = call;
  WvDaemon *daemon = c->manager->daemon;

  if (!wv_libvirt_is_connected(daemon->libvirt)) {
    manager_call_refuse(c, g_error_new(WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE,
                                       "libvirt (%s) is not reachable",
                                       wv_libvirt_uri(daemon->libvirt)));
    return;
  }
  g_message("shutting down every running VM%s", c->timeout ? " (timeout capped)" : "");
  wv_shutdown_all(daemon, c->manager->autostart, c->timeout, shutdown_all_replied, c);
}

/* CreateVM, CreateVMFrom, ImportVM: a profile written (wv-manage.h), and
 * the new VM's object path in the answer. */
typedef struct
{
  WvManager *manager;
  GDBusMethodInvocation *invocation;
  const char *method;
  char *name, *text, *template_name, *source;
  GVariant *settings;
} CreateCall;

static void
create_call_free(CreateCall *c)
{
  g_object_unref(c->invocation);
  g_free(c->name);
  g_free(c->text);
  g_free(c->template_name);
  g_free(c->source);
  g_clear_pointer(&c->settings, g_variant_unref);
  g_free(c);
}

static gboolean
check_name_arg(const char *name, gboolean empty_ok, GError **error)
{
  g_autofree char *shown = NULL;

  if ((empty_ok && name[0] == '\0') || wv_name_is_valid(name))
    return TRUE;
  shown = g_utf8_make_valid(name, MIN(strlen(name), 80));
  g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
              "“%s%s” is not a valid VM name (letters, digits and “_.-”, at most %d, not "
              "starting with “.” or “-”)",
              shown, strlen(name) > 80 ? "…" : "", WV_NAME_MAX);
  return FALSE;
}

static gpointer
create_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
               GDBusMethodInvocation *invocation, GError **error)
{
  const char *name, *arg;
  g_autoptr(GVariant) settings = NULL;
  CreateCall *c;

  if (g_str_equal(method->name, "CreateVMFrom"))
    g_variant_get(params, "(&s&s@a{sv})", &name, &arg, &settings);
  else
    g_variant_get(params, "(&s&s)", &name, &arg);
  if (!check_name_arg(name, g_str_equal(method->name, "ImportVM"), error))
    return NULL;
  if (g_str_equal(method->name, "CreateVM") && strlen(arg) > WV_PROFILE_MAX_SIZE) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "a profile of more than %d bytes",
                WV_PROFILE_MAX_SIZE);
    return NULL;
  }
  if (g_str_equal(method->name, "ImportVM") &&
      (arg[0] == '\0' || strlen(arg) > WV_IMPORT_MAX_SIZE)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                "source: a libvirt domain name or a domain XML document of at most %d bytes",
                WV_IMPORT_MAX_SIZE);
    return NULL;
  }
  if (settings && !wv_manage_check_settings(settings, error))
    return NULL;
  c = g_new0(CreateCall, 1);
  c->manager = object;
  c->invocation = g_object_ref(invocation);
  c->method = method->name;
  c->name = g_strdup(name);
  if (settings) {
    c->template_name = g_strdup(arg);
    c->settings = g_steal_pointer(&settings);
  } else if (g_str_equal(method->name, "ImportVM")) {
    c->source = g_strdup(arg);
  } else {
    c->text = g_strdup(arg);
  }
  return c;
}

static void
create_refuse(gpointer call, GError *error)
{
  CreateCall *c = call;

  g_dbus_method_invocation_take_error(c->invocation, error);
  create_call_free(c);
}

static void
created(const WvManageResult *result, const GError *error, gpointer data)
{
  CreateCall *c = data;
  WvVmObject *obj = NULL;

  if (result)
    obj = g_hash_table_lookup(c->manager->objects,
                              wv_daemon_get_vm(c->manager->daemon, result->name));
  if (error) {
    g_dbus_method_invocation_return_gerror(c->invocation, error);
  } else if (obj == NULL) {
    g_dbus_method_invocation_return_error(c->invocation, WV_ERROR, WV_ERROR_FAILED,
                                          "“%s” was written but has no object", result->name);
  } else if (c->source) {
    GVariantBuilder notes;

    g_variant_builder_init(&notes, G_VARIANT_TYPE("as"));
    for (guint i = 0; result->not_carried && i < result->not_carried->len; i++)
      g_variant_builder_add(&notes, "s", (const char *)result->not_carried->pdata[i]);
    g_message("%s: profile imported", result->name);
    g_dbus_method_invocation_return_value(c->invocation,
                                          g_variant_new("(oas)", wv_vm_object_path(obj), &notes));
  } else {
    g_message("%s: profile created (%s)", result->name, c->method);
    g_dbus_method_invocation_return_value(c->invocation,
                                          g_variant_new("(o)", wv_vm_object_path(obj)));
  }
  create_call_free(c);
}

static void
create_start(gpointer call)
{
  CreateCall *c = call;
  WvDaemon *daemon = c->manager->daemon;
  gboolean root = wv_auth_caller_is_root(c->invocation);

  if (c->source)
    wv_manage_import(daemon, c->name, c->source, root, created, c);
  else if (c->settings)
    wv_manage_create_from(daemon, c->name, c->template_name, c->settings, root, created, c);
  else
    wv_manage_create(daemon, c->name, c->text, root, created, c);
}

static const Show show_plan = SHOW_PLAN, show_check = SHOW_CHECK, show_render = SHOW_RENDER;

static const WvDBusMethod manager_methods[] = {
    {"ListVMs", NULL, manager_call_new, list_vms_start, manager_call_refuse, NULL},
    {"HostChanges", NULL, manager_call_new, host_changes_start, manager_call_refuse, NULL},
    {"Plan", NULL, plan_prepare, plan_start, plan_refuse, &show_plan},
    {"Check", NULL, plan_prepare, plan_start, plan_refuse, &show_check},
    {"Render", NULL, plan_prepare, plan_start, plan_refuse, &show_render},
    {"Reload", WV_ACTION_MANAGE, manager_call_new, reload_start, manager_call_refuse, NULL},
    {"CreateVM", WV_ACTION_MANAGE, create_prepare, create_start, create_refuse, NULL},
    {"CreateVMFrom", WV_ACTION_MANAGE, create_prepare, create_start, create_refuse, NULL},
    {"ImportVM", WV_ACTION_MANAGE, create_prepare, create_start, create_refuse, NULL},
    /* the host-shutdown path: never limited */
    {"ShutdownAll", WV_ACTION_MANAGE, shutdown_all_prepare, shutdown_all_start, manager_call_refuse,
     NULL, TRUE},
};

static const WvDBusMethod object_manager_methods[] = {
    {"GetManagedObjects", NULL, manager_call_new, get_managed_objects_start, manager_call_refuse,
     NULL},
};

static void
manager_method_call(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                    const char *method, GVariant *params, GDBusMethodInvocation *invocation,
                    gpointer data)
{
  wv_dbus_dispatch(manager_methods, G_N_ELEMENTS(manager_methods), data, method, params,
                   invocation);
}

static void
object_manager_method_call(GDBusConnection *bus, const char *sender, const char *path,
                           const char *iface, const char *method, GVariant *params,
                           GDBusMethodInvocation *invocation, gpointer data)
{
  wv_dbus_dispatch(object_manager_methods, G_N_ELEMENTS(object_manager_methods), data, method,
                   params, invocation);
}

static GVariant *
get_property(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *name, GError **error, gpointer data)
{
  return wv_dbus_property_get(manager_properties, data, name, error);
}

static const GDBusInterfaceVTable manager_vtable = {
    .method_call = manager_method_call,
    .get_property = get_property,
};

static const GDBusInterfaceVTable object_manager_vtable = {
    .method_call = object_manager_method_call,
};

/* ---- the VM subtree --------------------------------------------------------
 *
 * One registration serves every VM, and a call to a VM that does not exist
 * gets org.winvm1.Error.NotFound, not a generic error. */

static WvVmObject *
object_for_node(WvManager *manager, const char *node)
{
  g_autofree char *name = node ? (char *)g_dbus_unescape_object_path(node) : NULL;
  WvVm *vm = name ? wv_daemon_get_vm(manager->daemon, name) : NULL;

  return vm ? g_hash_table_lookup(manager->objects, vm) : NULL;
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
  WvVmObject *obj = object_for_node(data, node);

  *out_data = obj;
  return obj ? wv_vm_object_vtable() : &missing_vtable;
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
  manager->properties.table = manager_properties;
  manager->objects = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)wv_vm_object_free);
  manager->bus = g_object_ref(bus);
  manager->limits = wv_limits_new(bus);
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
  wv_dbus_properties_get_all(&manager->properties, manager);
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
  wv_limits_free(manager->limits);
  g_clear_pointer(&manager->manager_info, g_dbus_node_info_unref);
  g_clear_pointer(&manager->object_manager_info, g_dbus_node_info_unref);
  g_clear_pointer(&manager->vm_info, g_dbus_node_info_unref);
  wv_dbus_properties_clear(&manager->properties);
  g_clear_pointer(&manager->managed, g_variant_unref);
  g_clear_pointer(&manager->listed, g_variant_unref);
  g_hash_table_unref(manager->objects);
  g_object_unref(manager->bus);
  g_free(manager);
  wv_unregister_resource();
}

void
wv_manager_vm_added(WvManager *manager, WvVm *vm)
{
  WvVmObject *obj = wv_vm_object_new(vm, manager->daemon, manager->bus);

  g_hash_table_insert(manager->objects, vm, obj);
  g_clear_pointer(&manager->managed, g_variant_unref);
  g_clear_pointer(&manager->listed, g_variant_unref);
  g_dbus_connection_emit_signal(
      manager->bus, NULL, WV_MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
      g_variant_new("(o@a{sa{sv}})", wv_vm_object_path(obj), vm_interfaces(obj)), NULL);
}

void
wv_manager_vm_removed(WvManager *manager, WvVm *vm)
{
  const char *ifaces[] = {WV_VM_INTERFACE, NULL};
  WvVmObject *obj = g_hash_table_lookup(manager->objects, vm);

  if (obj == NULL)
    return;
  g_dbus_connection_emit_signal(manager->bus, NULL, WV_MANAGER_PATH,
                                "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                g_variant_new("(o^as)", wv_vm_object_path(obj), ifaces), NULL);
  g_hash_table_remove(manager->objects, vm);
  g_clear_pointer(&manager->managed, g_variant_unref);
  g_clear_pointer(&manager->listed, g_variant_unref);
}
