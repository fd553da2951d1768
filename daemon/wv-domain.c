/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-domain.h"
#include "wv-common.h"
#include "wv-render.h"
#include "wv-xml.h"

#include <libvirt/virterror.h>

static const char *const state_names[] = {
    [WV_VM_STATE_UNKNOWN] = "unknown",
    [WV_VM_STATE_UNDEFINED] = "undefined",
    [WV_VM_STATE_SHUT_OFF] = "shut-off",
    [WV_VM_STATE_STARTING] = "starting",
    [WV_VM_STATE_RUNNING] = "running",
    [WV_VM_STATE_PAUSED] = "paused",
    [WV_VM_STATE_SHUTTING_DOWN] = "shutting-down",
    [WV_VM_STATE_SAVED] = "saved",
    [WV_VM_STATE_CRASHED] = "crashed",
    [WV_VM_STATE_SUSPENDED] = "suspended",
};

const char *
wv_vm_state_name(WvVmState state)
{
  return (guint)state < G_N_ELEMENTS(state_names) ? state_names[state] : "unknown";
}

gboolean
wv_vm_state_is_active(WvVmState state)
{
  return state == WV_VM_STATE_RUNNING || state == WV_VM_STATE_PAUSED ||
         state == WV_VM_STATE_SHUTTING_DOWN;
}

static WvVmState
state_from_libvirt(int state, int reason, gboolean saved)
{
  switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
      return WV_VM_STATE_RUNNING;
    case VIR_DOMAIN_PAUSED:
      return WV_VM_STATE_PAUSED;
    case VIR_DOMAIN_SHUTDOWN:
      return WV_VM_STATE_SHUTTING_DOWN;
    case VIR_DOMAIN_SHUTOFF:
      if (saved || reason == VIR_DOMAIN_SHUTOFF_SAVED)
        return WV_VM_STATE_SAVED;
      return reason == VIR_DOMAIN_SHUTOFF_CRASHED ? WV_VM_STATE_CRASHED : WV_VM_STATE_SHUT_OFF;
    case VIR_DOMAIN_CRASHED:
      return WV_VM_STATE_CRASHED;
    case VIR_DOMAIN_PMSUSPENDED:
      return WV_VM_STATE_SUSPENDED;
    default:
      return WV_VM_STATE_UNKNOWN;
  }
}

/* ---- the definition -------------------------------------------------------- */

void
wv_domain_info_clear(WvDomainInfo *info)
{
  g_clear_pointer(&info->uuid, g_free);
  g_clear_pointer(&info->vcpu_pins, g_variant_unref);
  g_clear_pointer(&info->iothread_pins, g_variant_unref);
  g_clear_pointer(&info->emulator_pin, g_free);
  g_clear_pointer(&info->hostdevs, g_strfreev);
  info->hugepages = NULL;
  info->agent_connected = FALSE;
  info->state = WV_VM_STATE_UNKNOWN;
  info->exists = FALSE;
  info->foreign = FALSE;
}

void
wv_domain_info_free(WvDomainInfo *info)
{
  if (info == NULL)
    return;
  wv_domain_info_clear(info);
  g_free(info);
}

/* (number attribute, cpuset) pairs of @expr's elements, as a(us) */
static GVariant *
xpath_pins(xmlXPathContext *ctx, const char *expr, const char *id_attr)
{
  GVariantBuilder b;
  xmlXPathObject *obj = xmlXPathEvalExpression(BAD_CAST expr, ctx);

  g_variant_builder_init(&b, G_VARIANT_TYPE("a(us)"));
  for (int i = 0; obj && obj->nodesetval && i < obj->nodesetval->nodeNr; i++) {
    xmlNode *n = obj->nodesetval->nodeTab[i];
    g_autofree xmlChar *id = xmlGetProp(n, BAD_CAST id_attr);
    g_autofree xmlChar *set = xmlGetProp(n, BAD_CAST "cpuset");
    if (id && set)
      g_variant_builder_add(&b, "(us)", (guint32)g_ascii_strtoull((char *)id, NULL, 10),
                            (const char *)set);
  }
  xmlXPathFreeObject(obj);
  return g_variant_ref_sink(g_variant_builder_end(&b));
}

static void
parse_domain_xml(WvDomainInfo *info, const char *xml)
{
  g_autoptr(xmlDoc) doc = wv_xml_parse(xml);
  g_autoptr(xmlXPathContext) ctx = NULL;
  g_autofree char *vcpus = NULL, *memory = NULL, *page = NULL, *agent = NULL;
  g_autoptr(GPtrArray) devs = NULL;

  if (doc == NULL)
    return;
  ctx = xmlXPathNewContext(doc);
  vcpus = wv_xpath_string(ctx, "/domain/vcpu");
  memory = wv_xpath_string(ctx, "/domain/memory");
  page = wv_xpath_string(ctx, "/domain/memoryBacking/hugepages/page/@size");
  info->vcpus = vcpus ? (guint)g_ascii_strtoull(vcpus, NULL, 10) : 0;
  info->memory_kib = memory ? g_ascii_strtoull(memory, NULL, 10) : 0;
  /* a <page> element without a usable size still means hugepages */
  info->hugepages = wv_page_size_name(page ? MAX(g_ascii_strtoull(page, NULL, 10), 1) : 0);
  info->vcpu_pins = xpath_pins(ctx, "/domain/cputune/vcpupin", "vcpu");
  info->iothread_pins = xpath_pins(ctx, "/domain/cputune/iothreadpin", "iothread");
  info->emulator_pin = wv_xpath_string(ctx, "/domain/cputune/emulatorpin/@cpuset");
  devs = wv_xpath_hostdev_addresses(ctx);
  g_ptr_array_add(devs, NULL);
  info->hostdevs = (GStrv)g_ptr_array_steal(devs, NULL);
  agent = wv_xpath_string(ctx, "/domain/devices/channel/target[@name='" WV_GUEST_AGENT_CHANNEL
                               "']/@state");
  info->agent_connected = g_strcmp0(agent, "connected") == 0;
}

WvDomainInfo *
wv_domain_info_read(virConnectPtr conn, const char *name, GError **error)
{
  WvDomainInfo *info = g_new0(WvDomainInfo, 1);
  GError *local = NULL;
  g_autoptr(virDomain) dom = wv_libvirt_lookup_ours(conn, name, &info->foreign, &local);
  char uuid[VIR_UUID_STRING_BUFLEN];
  g_autofree char *xml = NULL;
  int state = 0, reason = 0;

  if (dom == NULL) {
    if (local) {
      g_propagate_error(error, local);
      wv_domain_info_free(info);
      return NULL;
    }
    info->state = WV_VM_STATE_UNDEFINED; /* none, or somebody else's */
    return info;
  }
  if (virDomainGetState(dom, &state, &reason, 0) < 0 ||
      (xml = virDomainGetXMLDesc(dom, 0)) == NULL) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) { /* undefined meanwhile */
      info->state = WV_VM_STATE_UNDEFINED;
      return info;
    }
    wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, "cannot read the domain");
    wv_domain_info_free(info);
    return NULL;
  }
  info->exists = TRUE;
  info->state = state_from_libvirt(state, reason, virDomainHasManagedSaveImage(dom, 0) > 0);
  if (virDomainGetUUIDString(dom, uuid) == 0)
    info->uuid = g_strdup(uuid);
  parse_domain_xml(info, xml);
  return info;
}

/* ---- acting on it ----------------------------------------------------------- */

virDomainPtr
wv_domain_lookup(virConnectPtr conn, const char *name, GError **error)
{
  GError *local = NULL;
  gboolean foreign;
  virDomainPtr dom = wv_libvirt_lookup_ours(conn, name, &foreign, &local);

  if (local)
    g_propagate_error(error, local);
  else if (dom == NULL && foreign)
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "the libvirt domain “%s” is not winvm's; winvm leaves it alone", name);
  else if (dom == NULL)
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "“%s” is not running", name);
  return dom;
}

gboolean
wv_domain_check(int rc, const char *what, GError **error)
{
  if (rc < 0) {
    wv_libvirt_set_error(error, WV_ERROR_FAILED, what);
    return FALSE;
  }
  return TRUE;
}

static int
pin_domain(virDomainPtr dom, WvTuneTarget target, guint index, unsigned char *map, int maplen,
           unsigned int flags)
{
  switch (target) {
    case WV_TUNE_VCPU:
      return virDomainPinVcpuFlags(dom, index, map, maplen, flags);
    case WV_TUNE_IOTHREAD:
      return virDomainPinIOThread(dom, index, map, maplen, flags);
    case WV_TUNE_EMULATOR:
      return virDomainPinEmulator(dom, map, maplen, flags);
    default:
      g_assert_not_reached();
  }
}

gboolean
wv_domain_pin(virDomainPtr dom, WvTuneTarget target, guint index, const WvCpuset *set,
              GError **error)
{
  guint maplen = VIR_CPU_MAPLEN(set->cpus[set->n - 1] + 1);
  g_autofree unsigned char *map = g_malloc0(maplen);
  int rc;

  for (guint i = 0; i < set->n; i++)
    VIR_USE_CPU(map, set->cpus[i]);
  rc = pin_domain(dom, target, index, map, (int)maplen,
                  VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
  /* drivers that take no flags (the test driver) pin the current state */
  if (rc < 0 && virGetLastErrorCode() == VIR_ERR_INVALID_ARG)
    rc = pin_domain(dom, target, index, map, (int)maplen, VIR_DOMAIN_AFFECT_CURRENT);
  return wv_domain_check(rc, "cannot pin", error);
}

char *
wv_domain_render(virConnectPtr conn, const char *name, const WvProfile *profile, const WvPlan *plan,
                 GError **error)
{
  GError *local = NULL;
  gboolean foreign;
  g_autoptr(virDomain) old = wv_libvirt_lookup_ours(conn, name, &foreign, &local);
  g_autoptr(xmlDoc) doc = NULL;

  if (local) {
    g_propagate_error(error, local);
    return NULL;
  }
  if (foreign) {
    g_set_error(error, WV_ERROR, WV_ERROR_PREFLIGHT_FAILED, "domain-not-winvm: %s",
                "a libvirt domain of this name exists that winvm did not define");
    return NULL;
  }
  if (old && virDomainIsActive(old) == 1) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "“%s” is already running", name);
    return NULL;
  }
  if ((doc = wv_render(profile, plan, error)) == NULL)
    return NULL;
  if (old) {
    g_autofree char *old_xml = virDomainGetXMLDesc(old, VIR_DOMAIN_XML_INACTIVE);
    if (old_xml == NULL) {
      wv_libvirt_set_error(error, WV_ERROR_FAILED, "cannot read the existing definition");
      return NULL;
    }
    if (!wv_render_keep_identity(doc, old_xml, error))
      return NULL;
  }
  return wv_xml_doc_to_string(doc);
}

gboolean
wv_domain_define_and_start(virConnectPtr conn, const char *xml, GError **error)
{
  g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
  int autostart = 0;

  /* winvm starts its VMs at boot itself: libvirt's own autostart would
   * start it a second time, before winvm's preflight and hugepages */
  if (dom && virDomainGetAutostart(dom, &autostart) == 0 && autostart) {
    if (virDomainSetAutostart(dom, 0) == 0)
      g_message("%s: cleared libvirt's autostart flag (winvm's [vm] autostart starts it)",
                virDomainGetName(dom));
    else
      g_warning("%s: cannot clear libvirt's autostart flag: %s", virDomainGetName(dom),
                virGetLastErrorMessage());
  }
  if (dom == NULL || virDomainCreate(dom) < 0) {
    wv_libvirt_set_error(error, WV_ERROR_FAILED, dom ? "cannot start" : "cannot define");
    return FALSE;
  }
  return TRUE;
}

gboolean
wv_domain_act(virConnectPtr conn, const char *name, WvVmAction action, gboolean *acted,
              GError **error)
{
  g_autoptr(virDomain) dom = NULL;

  *acted = FALSE;
  if (action == WV_VM_FORCE_OFF) {
    GError *local = NULL;
    gboolean foreign;

    /* never defined, or somebody else's: winvm's VM is off */
    dom = wv_libvirt_lookup_ours(conn, name, &foreign, &local);
    if (dom == NULL) {
      if (local)
        g_propagate_error(error, local);
      return local == NULL;
    }
    if (virDomainIsActive(dom) != 1)
      return TRUE;
    *acted = wv_domain_check(virDomainDestroy(dom), "cannot force it off", error);
    return *acted;
  }
  if ((dom = wv_domain_lookup(conn, name, error)) == NULL)
    return FALSE;
  switch (action) {
    case WV_VM_REBOOT:
      *acted = wv_domain_check(virDomainReboot(dom, 0), "cannot reboot", error);
      break;
    case WV_VM_SUSPEND:
      *acted = wv_domain_check(virDomainSuspend(dom), "cannot suspend", error);
      break;
    case WV_VM_RESUME:
      *acted = wv_domain_check(virDomainResume(dom), "cannot resume", error);
      break;
    case WV_VM_FORCE_OFF:
    default:
      g_assert_not_reached();
  }
  return *acted;
}

gboolean
wv_domain_shutdown(virDomainPtr dom, WvHostShutdownPolicy policy, gboolean *stopped, GError **error)
{
  int rc;

  switch (policy) {
    case WV_HOST_SHUTDOWN_DESTROY:
      *stopped = TRUE;
      return wv_domain_check(virDomainDestroy(dom), "cannot force it off", error);
    case WV_HOST_SHUTDOWN_SAVE:
      *stopped = TRUE;
      return wv_domain_check(virDomainManagedSave(dom, 0), "cannot save it", error);
    case WV_HOST_SHUTDOWN_SHUTDOWN:
      rc = virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN);
      if (rc < 0 && virGetLastErrorCode() == VIR_ERR_INVALID_ARG)
        rc = virDomainShutdown(dom); /* drivers without the flag */
      if (!wv_domain_check(rc, "cannot shut it down", error))
        return FALSE;
      *stopped = virDomainIsActive(dom) == 0;
      return TRUE;
    default:
      g_assert_not_reached();
  }
}

gboolean
wv_domain_shutdown_agent(virDomainPtr dom, GError **error)
{
  return wv_domain_check(virDomainShutdownFlags(dom, VIR_DOMAIN_SHUTDOWN_GUEST_AGENT),
                         "the guest agent did not shut it down", error);
}
