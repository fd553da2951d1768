/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-xml.h"
#include "wv-profile.h"

#include <string.h>

xmlDoc *
wv_xml_parse(const char *xml)
{
  return xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

gboolean
wv_xpath_bool(xmlXPathContext *ctx, const char *expr)
{
  g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

  return obj != NULL && xmlXPathCastToBoolean(obj);
}

char *
wv_xpath_string(xmlXPathContext *ctx, const char *expr)
{
  g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
  xmlChar *value;
  char *out;

  if (obj == NULL)
    return NULL;
  value = xmlXPathCastToString(obj);
  out = g_strstrip(g_strdup((const char *)value));
  xmlFree(value);
  if (out[0] == '\0')
    g_clear_pointer(&out, g_free);
  return out;
}

GPtrArray *
wv_xpath_hostdev_addresses(xmlXPathContext *ctx)
{
  g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(
      (const xmlChar *)"/domain/devices/hostdev[@type='pci']/source/address", ctx);
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

  for (int i = 0; obj && obj->nodesetval && i < obj->nodesetval->nodeNr; i++) {
    xmlNode *node = obj->nodesetval->nodeTab[i];
    const char *attrs[] = {"domain", "bus", "slot", "function"};
    guint v[4] = {0};
    WvPciAddress a;

    for (guint k = 0; k < 4; k++) {
      g_autofree xmlChar *s = xmlGetProp(node, (const xmlChar *)attrs[k]);
      v[k] = s ? (guint)g_ascii_strtoull((const char *)s, NULL, 0) : 0;
    }
    a = (WvPciAddress){v[0], v[1], v[2], v[3]};
    g_ptr_array_add(out, wv_pci_address_to_string(&a));
  }
  return out;
}
