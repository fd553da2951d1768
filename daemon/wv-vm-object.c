/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * org.winvm1.VM: the D-Bus face of one VM. Properties come from the VM's
 * state; a method is checked here, authorized, then handed to the VM's
 * typed entry point, and replied to when that reports.
 */
#include "config.h"

#include "wv-vm-object.h"
#include "wv-auth.h"
#include "wv-common.h"
#include "wv-dbus.h"
#include "wv-manage.h"
#include "wv-sleep-policy.h"

struct _WvVmObject
{
  WvVm *vm;
  WvDaemon *daemon;
  GDBusConnection *bus;
  char *path;
  WvDBusProperties properties; /* what was last announced */
};

/* ---- properties ------------------------------------------------------------ */

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
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_vm_name(vm));
}

static GVariant *
get_uuid(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_vm_domain(vm)->uuid ? wv_vm_domain(vm)->uuid : "");
}

static GVariant *
get_state(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_vm_state_name(wv_vm_state(vm)));
}

static GVariant *
get_vcpus(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_uint32(wv_vm_domain(vm)->exists ? wv_vm_domain(vm)->vcpus
                                                       : wv_vm_profile(vm)->vcpus);
}

static GVariant *
get_memory_kib(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_uint64(wv_vm_domain(vm)->exists ? wv_vm_domain(vm)->memory_kib
                                                       : wv_vm_profile(vm)->memory_kib);
}

static GVariant *
get_vcpu_pins(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return wv_vm_domain(vm)->vcpu_pins ? g_variant_ref(wv_vm_domain(vm)->vcpu_pins)
                                     : g_variant_new("a(us)", NULL);
}

static GVariant *
get_iothread_pins(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return wv_vm_domain(vm)->iothread_pins ? g_variant_ref(wv_vm_domain(vm)->iothread_pins)
                                         : g_variant_new("a(us)", NULL);
}

static GVariant *
get_emulator_pin(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_vm_domain(vm)->emulator_pin ? wv_vm_domain(vm)->emulator_pin : "");
}

static GVariant *
get_hugepages(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_vm_domain(vm)->exists
                                  ? wv_vm_domain(vm)->hugepages
                                  : wv_page_size_name(wv_vm_profile(vm)->hugepage_kib));
}

static GVariant *
get_host_devices(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return wv_vm_domain(vm)->exists
             ? g_variant_new_strv((const char *const *)wv_vm_domain(vm)->hostdevs, -1)
             : profile_hostdevs(wv_vm_profile(vm));
}

static GVariant *
get_autostart(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_boolean(wv_vm_profile(vm)->autostart);
}

static GVariant *
get_shutdown_timeout(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_uint32(wv_vm_profile(vm)->shutdown_timeout_s);
}

static GVariant *
get_pending_restart(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_boolean(wv_vm_pending_restart(vm));
}

static GVariant *
get_shutdown_step(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_stop_step_name(wv_vm_stop_step(vm)));
}

static GVariant *
get_start_step(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_hugepages_step_name(wv_vm_start_step(vm)));
}

static GVariant *
get_last_stop(gpointer object)
{
  const WvStopResult *r = wv_vm_last_stop(((WvVmObject *)object)->vm);

  return g_variant_new("(sud)", wv_stop_end_name(r->end), r->presses, r->seconds);
}

static GVariant *
get_guest_agent(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_boolean(wv_vm_domain(vm)->agent_connected);
}

static GVariant *
get_on_host_sleep(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_string(wv_host_sleep_name(wv_vm_profile(vm)->on_host_sleep));
}

static GVariant *
get_blocking_sleep(gpointer object)
{
  WvVm *vm = ((WvVmObject *)object)->vm;

  return g_variant_new_boolean(wv_sleep_need(wv_vm_profile(vm)->on_host_sleep, wv_vm_state(vm)) ==
                               WV_SLEEP_NEED_BLOCK);
}

static const WvDBusProperty vm_properties[] = {
    {"Name", get_name, TRUE},
    {"UUID", get_uuid, TRUE},
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
    {"PendingRestart", get_pending_restart},
    {"ShutdownStep", get_shutdown_step},
    {"StartStep", get_start_step},
    {"LastStop", get_last_stop},
    {"GuestAgent", get_guest_agent},
    {"OnHostSleep", get_on_host_sleep},
    {"BlockingSleep", get_blocking_sleep},
    {NULL, NULL},
};

GVariant *
wv_vm_object_get_all(WvVmObject *obj)
{
  return wv_dbus_properties_get_all(&obj->properties, obj);
}

static void
vm_changed(WvVm *vm, gpointer data)
{
  WvVmObject *obj = data;

  wv_dbus_properties_update(&obj->properties, obj, obj->bus, obj->path, WV_VM_INTERFACE);
}

/* ---- methods ------------------------------------------------------------------ */

typedef struct
{
  WvVm *vm; /* held (wv_vm_call_begin) until the reply */
  GDBusMethodInvocation *invocation;
  guint32 timeout;     /* Shutdown */
  WvVmAction action;   /* ForceOff, Reboot, Suspend, Resume */
  WvTuneTarget target; /* the Pin methods */
  guint32 index;
  WvCpuset *set;
  gboolean autostart; /* Set Autostart */
} Call;

static Call *
call_new(WvVmObject *obj, GDBusMethodInvocation *invocation)
{
  Call *c = g_new0(Call, 1);

  c->vm = obj->vm;
  c->invocation = g_object_ref(invocation);
  wv_vm_call_begin(c->vm);
  return c;
}

static void
call_free(Call *c)
{
  wv_vm_call_end(c->vm);
  g_object_unref(c->invocation);
  wv_cpuset_free(c->set);
  g_free(c);
}

static void
call_refuse(gpointer call, GError *error)
{
  Call *c = call;

  g_dbus_method_invocation_take_error(c->invocation, error);
  call_free(c);
}

/* the VM's operation reported: reply */
static void
call_done(WvVm *vm, const GError *error, gpointer data)
{
  Call *c = data;

  if (error)
    g_dbus_method_invocation_return_gerror(c->invocation, error);
  else
    g_dbus_method_invocation_return_value(c->invocation, NULL);
  call_free(c);
}

static gpointer
plain_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
              GDBusMethodInvocation *invocation, GError **error)
{
  return call_new(object, invocation);
}

static void
start_call(gpointer call)
{
  Call *c = call;

  wv_vm_start(c->vm, call_done, c);
}

static gpointer
shutdown_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
                 GDBusMethodInvocation *invocation, GError **error)
{
  guint32 timeout;
  Call *c;

  g_variant_get(params, "(u)", &timeout);
  if (timeout > 86400) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "a timeout of %u s is longer than a day",
                timeout);
    return NULL;
  }
  c = call_new(object, invocation);
  c->timeout = timeout;
  return c;
}

static void
shutdown_call(gpointer call)
{
  Call *c = call;

  wv_vm_stop(c->vm, c->timeout, call_done, c);
}

/* ForceOff, Reboot, Suspend, Resume: the row's data is the action */
static void
action_call(gpointer call)
{
  Call *c = call;

  wv_vm_act(c->vm, c->action, call_done, c);
}

static gpointer
action_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
               GDBusMethodInvocation *invocation, GError **error)
{
  Call *c = call_new(object, invocation);

  c->action = *(const WvVmAction *)method->data;
  return c;
}

/* PinVCPU, PinIOThread, PinEmulator: the row's data is the target */
static gpointer
pin_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
            GDBusMethodInvocation *invocation, GError **error)
{
  WvVmObject *obj = object;
  WvTuneTarget target = *(const WvTuneTarget *)method->data;
  guint32 index = 0;
  const char *text;
  g_autoptr(WvCpuset) set = NULL;
  Call *c;

  if (target == WV_TUNE_EMULATOR)
    g_variant_get(params, "(&s)", &text);
  else
    g_variant_get(params, "(u&s)", &index, &text);
  if (!wv_vm_check_pin(obj->vm, target, index, error) ||
      (set = wv_cpuset_parse(text, error)) == NULL)
    return NULL;
  c = call_new(obj, invocation);
  c->target = target;
  c->index = index;
  c->set = g_steal_pointer(&set);
  return c;
}

static void
pin_call(gpointer call)
{
  Call *c = call;

  wv_vm_pin(c->vm, c->target, c->index, c->set, call_done, c);
}

/* org.freedesktop.DBus.Properties.Set: only Autostart is writable */
static gpointer
set_property_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
                     GDBusMethodInvocation *invocation, GError **error)
{
  const char *iface, *prop;
  g_autoptr(GVariant) value = NULL;
  Call *c;

  g_variant_get(params, "(&s&sv)", &iface, &prop, &value);
  if (!g_str_equal(iface, WV_VM_INTERFACE) || !wv_dbus_property_exists(vm_properties, prop)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "no property %s.%s", iface, prop);
    return NULL;
  }
  if (!g_str_equal(prop, "Autostart")) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "%s is read-only", prop);
    return NULL;
  }
  if (!g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "Autostart is a boolean, not %s",
                g_variant_get_type_string(value));
    return NULL;
  }
  c = call_new(object, invocation);
  c->autostart = g_variant_get_boolean(value);
  return c;
}

static void
set_autostart_call(gpointer call)
{
  Call *c = call;

  wv_vm_set_autostart(c->vm, c->autostart, call_done, c);
}

/* Delete, GetProfile, SetProfile, Set: the profile, through the registry
 * (wv-manage.h). The call holds the VM's name, not the VM: a reload may
 * remove it while polkit decides, and its job reloads the registry (which
 * keeps a VM a call holds). */
typedef struct
{
  WvDaemon *daemon;
  GDBusMethodInvocation *invocation;
  const char *method;
  char *name, *text, *etag;
  GVariant *settings;
  gboolean undefine;
} ProfileCall;

static void
profile_call_free(ProfileCall *c)
{
  g_object_unref(c->invocation);
  g_free(c->name);
  g_free(c->text);
  g_free(c->etag);
  g_clear_pointer(&c->settings, g_variant_unref);
  g_free(c);
}

static gpointer
profile_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
                GDBusMethodInvocation *invocation, GError **error)
{
  WvVmObject *obj = object;
  ProfileCall *c;

  if (g_str_equal(method->name, "SetProfile")) {
    const char *text;

    g_variant_get(params, "(&s&s)", &text, NULL);
    if (strlen(text) > WV_PROFILE_MAX_SIZE) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "a profile of more than %d bytes",
                  WV_PROFILE_MAX_SIZE);
      return NULL;
    }
  } else if (g_str_equal(method->name, "Set")) {
    g_autoptr(GVariant) settings = g_variant_get_child_value(params, 0);

    if (!wv_manage_check_settings(settings, error))
      return NULL;
  }
  c = g_new0(ProfileCall, 1);
  c->daemon = obj->daemon;
  c->invocation = g_object_ref(invocation);
  c->method = method->name;
  c->name = g_strdup(wv_vm_name(obj->vm));
  if (g_str_equal(method->name, "SetProfile"))
    g_variant_get(params, "(ss)", &c->text, &c->etag);
  else if (g_str_equal(method->name, "Set"))
    c->settings = g_variant_get_child_value(params, 0);
  else if (g_str_equal(method->name, "Delete"))
    g_variant_get(params, "(b)", &c->undefine);
  return c;
}

static void
profile_refuse(gpointer call, GError *error)
{
  ProfileCall *c = call;

  g_dbus_method_invocation_take_error(c->invocation, error);
  profile_call_free(c);
}

static void
profile_done(const WvManageResult *result, const GError *error, gpointer data)
{
  ProfileCall *c = data;

  if (error)
    g_dbus_method_invocation_return_gerror(c->invocation, error);
  else if (g_str_equal(c->method, "GetProfile"))
    g_dbus_method_invocation_return_value(c->invocation,
                                          g_variant_new("(ss)", result->text, result->etag));
  else
    g_dbus_method_invocation_return_value(c->invocation, NULL);
  if (error == NULL && !g_str_equal(c->method, "GetProfile"))
    g_message("%s: profile %s", c->name,
              g_str_equal(c->method, "Delete") ? "deleted" : "changed over D-Bus");
  profile_call_free(c);
}

static void
profile_start(gpointer call)
{
  ProfileCall *c = call;
  gboolean root = wv_auth_caller_is_root(c->invocation);

  if (g_str_equal(c->method, "GetProfile"))
    wv_manage_get(c->daemon, c->name, profile_done, c);
  else if (g_str_equal(c->method, "SetProfile"))
    wv_manage_replace(c->daemon, c->name, c->text, c->etag, root, profile_done, c);
  else if (g_str_equal(c->method, "Set"))
    wv_manage_set(c->daemon, c->name, c->settings, root, profile_done, c);
  else
    wv_manage_delete(c->daemon, c->name, c->undefine, profile_done, c);
}

static const WvVmAction force_off = WV_VM_FORCE_OFF, reboot = WV_VM_REBOOT, suspend = WV_VM_SUSPEND,
                        resume = WV_VM_RESUME;
static const WvTuneTarget vcpu = WV_TUNE_VCPU, iothread = WV_TUNE_IOTHREAD,
                          emulator = WV_TUNE_EMULATOR;

static const WvDBusMethod vm_methods[] = {
    {"Start", WV_ACTION_LIFECYCLE, plain_prepare, start_call, call_refuse, NULL},
    {"Shutdown", WV_ACTION_LIFECYCLE, shutdown_prepare, shutdown_call, call_refuse, NULL},
    {"ForceOff", WV_ACTION_LIFECYCLE, action_prepare, action_call, call_refuse, &force_off},
    {"Reboot", WV_ACTION_LIFECYCLE, action_prepare, action_call, call_refuse, &reboot},
    {"Suspend", WV_ACTION_LIFECYCLE, action_prepare, action_call, call_refuse, &suspend},
    {"Resume", WV_ACTION_LIFECYCLE, action_prepare, action_call, call_refuse, &resume},
    {"PinVCPU", WV_ACTION_TUNE, pin_prepare, pin_call, call_refuse, &vcpu},
    {"PinIOThread", WV_ACTION_TUNE, pin_prepare, pin_call, call_refuse, &iothread},
    {"PinEmulator", WV_ACTION_TUNE, pin_prepare, pin_call, call_refuse, &emulator},
    {"GetProfile", WV_ACTION_MANAGE, profile_prepare, profile_start, profile_refuse, NULL},
    {"SetProfile", WV_ACTION_MANAGE, profile_prepare, profile_start, profile_refuse, NULL},
    {"Set", WV_ACTION_MANAGE, profile_prepare, profile_start, profile_refuse, NULL},
    {"Delete", WV_ACTION_MANAGE, profile_prepare, profile_start, profile_refuse, NULL},
};

/* Set is authorized asynchronously like a method, so GDBus routes it here */
static const WvDBusMethod vm_properties_methods[] = {
    {"Set", WV_ACTION_TUNE, set_property_prepare, set_autostart_call, call_refuse, NULL},
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

const GDBusInterfaceVTable *
wv_vm_object_vtable(void)
{
  return &vm_vtable;
}

/* ---- life ------------------------------------------------------------------ */

WvVmObject *
wv_vm_object_new(WvVm *vm, WvDaemon *daemon, GDBusConnection *bus)
{
  WvVmObject *obj = g_new0(WvVmObject, 1);
  g_autofree char *escaped = g_dbus_escape_object_path(wv_vm_name(vm));

  obj->vm = vm;
  obj->daemon = daemon;
  obj->bus = g_object_ref(bus);
  obj->path = g_strconcat(WV_VM_PATH_PREFIX "/", escaped, NULL);
  obj->properties.table = vm_properties;
  wv_vm_object_get_all(obj); /* what later changes are told against */
  wv_vm_watch(vm, vm_changed, obj);
  return obj;
}

void
wv_vm_object_free(WvVmObject *obj)
{
  if (obj == NULL)
    return;
  wv_vm_watch(obj->vm, NULL, NULL);
  wv_dbus_properties_clear(&obj->properties);
  g_object_unref(obj->bus);
  g_free(obj->path);
  g_free(obj);
}

WvVm *
wv_vm_object_vm(WvVmObject *obj)
{
  return obj->vm;
}

const char *
wv_vm_object_path(WvVmObject *obj)
{
  return obj->path;
}
