/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-xml.h"
#include "wv-profile.h"

#include <string.h>

#define NAME(n) ((const char *)(n)->name)

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

/* ---- editing a tree -------------------------------------------------------- */

gboolean
wv_xml_is_element(xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && (name == NULL || g_str_equal(NAME(n), name));
}

xmlNode *
wv_xml_find_child(xmlNode *parent, const char *name)
{
  for (xmlNode *c = parent->children; c; c = c->next)
    if (wv_xml_is_element(c, name))
      return c;
  return NULL;
}

void
wv_xml_remove_children(xmlNode *parent, const char *name)
{
  xmlNode *c = parent->children;

  while (c) {
    xmlNode *next = c->next;
    if (wv_xml_is_element(c, name)) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
    c = next;
  }
}

static int
order_index(const char *const *order, const char *name)
{
  for (int i = 0; order[i]; i++)
    if (g_str_equal(order[i], name))
      return i;
  return G_MAXINT;
}

/* Adds a new <name> under @parent at its place in @order (after every
 * sibling that sorts before or with it). */
xmlNode *
wv_xml_insert_ordered(xmlNode *parent, xmlNode *node, const char *const *order)
{
  int idx = order_index(order, NAME(node));

  for (xmlNode *c = parent->children; c; c = c->next) {
    if (wv_xml_is_element(c, NULL) && order_index(order, NAME(c)) > idx)
      return xmlAddPrevSibling(c, node);
  }
  return xmlAddChild(parent, node);
}

xmlNode *
wv_xml_add_child(xmlNode *parent, const char *name, const char *const *order)
{
  return wv_xml_insert_ordered(parent, xmlNewNode(NULL, BAD_CAST name), order);
}

xmlNode *
wv_xml_ensure_child(xmlNode *parent, const char *name, const char *const *order)
{
  xmlNode *c = wv_xml_find_child(parent, name);
  return c ? c : wv_xml_add_child(parent, name, order);
}

/* Replaces every <name> under @parent with one fresh, empty element. */
xmlNode *
wv_xml_replace_child(xmlNode *parent, const char *name, const char *const *order)
{
  wv_xml_remove_children(parent, name);
  return wv_xml_add_child(parent, name, order);
}

xmlNode *
wv_xml_append(xmlNode *parent, const char *name)
{
  return xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

void
wv_xml_set_prop(xmlNode *node, const char *name, const char *value)
{
  xmlSetProp(node, BAD_CAST name, BAD_CAST value);
}

void
wv_xml_set_propf(xmlNode *node, const char *name, const char *fmt, ...)
{
  g_autofree char *value = NULL;
  va_list ap;

  va_start(ap, fmt);
  value = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  wv_xml_set_prop(node, name, value);
}

void
wv_xml_set_text(xmlNode *node, const char *text)
{
  xmlNodeSetContent(node, NULL);
  xmlNodeAddContent(node, BAD_CAST text);
}

void
wv_xml_remove_if_empty(xmlNode *node)
{
  if (node && wv_xml_find_child(node, NULL) == NULL && node->properties == NULL) {
    xmlUnlinkNode(node);
    xmlFreeNode(node);
  }
}
