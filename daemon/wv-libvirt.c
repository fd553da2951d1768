/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-libvirt.h"
#include "wv-common.h"

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
typedef xmlDoc WvXmlDoc;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvXmlDoc, xmlFreeDoc)

static void
silent_error(void *data, virErrorPtr err)
{
  g_debug("libvirt: %s", err && err->message ? err->message : "unknown error");
}

void
wv_libvirt_init(void)
{
  virInitialize();
  virSetErrorFunc(NULL, silent_error);
}

void
wv_libvirt_set_error(GError **error, gint code, const char *what)
{
  const char *msg = virGetLastErrorMessage();
  g_set_error(error, WV_ERROR, code, "%s: %s", what, msg ? msg : "unknown libvirt error");
}

virConnectPtr
wv_libvirt_open(const char *uri, gboolean read_only, GError **error)
{
  virConnectPtr conn = read_only ? virConnectOpenReadOnly(uri) : virConnectOpen(uri);

  if (conn == NULL) {
    g_autofree char *what = g_strdup_printf("cannot connect to %s", uri);
    wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, what);
  }
  return conn;
}

static char *
template_machine(const char *template_path)
{
  g_autoptr(WvXmlDoc) doc = NULL;
  g_autoptr(xmlXPathContext) ctx = NULL;
  g_autoptr(xmlXPathObject) obj = NULL;

  if (template_path == NULL)
    return NULL;
  doc = xmlReadFile(template_path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL)
    return NULL;
  ctx = xmlXPathNewContext(doc);
  obj = xmlXPathEvalExpression(BAD_CAST "string(/domain/os/type/@machine)", ctx);
  if (obj == NULL || obj->stringval == NULL || obj->stringval[0] == '\0')
    return NULL;
  return g_strdup((const char *)obj->stringval);
}

WvDomcaps *
wv_libvirt_domcaps(virConnectPtr conn, const WvProfile *profile, const char *template_path,
                   GError **error)
{
  g_autofree char *machine = template_machine(template_path);
  g_autofree char *xml = NULL;

  xml = virConnectGetDomainCapabilities(
      conn, NULL, "x86_64", machine, profile->hypervisor == WV_HYPERVISOR_KVM ? "kvm" : "qemu", 0);
  if (xml == NULL) {
    wv_libvirt_set_error(error, WV_ERROR_FAILED, "cannot read domain capabilities");
    return NULL;
  }
  return wv_domcaps_parse(xml, error);
}

GHashTable *
wv_libvirt_devices_in_use(virConnectPtr conn, const char *except, GError **error)
{
  g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

  if (n < 0) {
    wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, "cannot list domains");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    g_autoptr(virDomain) dom = doms[i];
    const char *name = virDomainGetName(dom);
    g_autofree char *xml = NULL;
    g_autoptr(WvXmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autoptr(xmlXPathObject) obj = NULL;

    if (name == NULL || g_strcmp0(name, except) == 0)
      continue;
    xml = virDomainGetXMLDesc(dom, 0);
    if (xml == NULL)
      continue; /* it stopped meanwhile */
    doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    if (doc == NULL)
      continue;
    ctx = xmlXPathNewContext(doc);
    obj =
        xmlXPathEvalExpression(BAD_CAST "/domain/devices/hostdev[@type='pci']/source/address", ctx);
    for (int j = 0; obj && obj->nodesetval && j < obj->nodesetval->nodeNr; j++) {
      xmlNode *a = obj->nodesetval->nodeTab[j];
      const char *attrs[] = {"domain", "bus", "slot", "function"};
      guint v[4] = {0};

      for (guint k = 0; k < 4; k++) {
        g_autofree xmlChar *s = xmlGetProp(a, BAD_CAST attrs[k]);
        v[k] = s ? (guint)g_ascii_strtoull((const char *)s, NULL, 0) : 0;
      }
      g_hash_table_insert(used, g_strdup_printf("%04x:%02x:%02x.%x", v[0], v[1], v[2], v[3]),
                          g_strdup(name));
    }
  }
  g_free(doms);
  return g_steal_pointer(&used);
}
