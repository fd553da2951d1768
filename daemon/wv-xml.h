/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The few libxml2 helpers every reader of libvirt XML needs: cleanup
 * functions and XPath values.
 */
#pragma once

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)

/* @xml parsed as plain data (no network, no messages); NULL when it is not
 * XML. */
xmlDoc *wv_xml_parse(const char *xml);
/* Whether @expr is true (a non-empty node set, a true boolean...). */
gboolean wv_xpath_bool(xmlXPathContext *ctx, const char *expr);
/* The string value of @expr, stripped; NULL when empty. */
char *wv_xpath_string(xmlXPathContext *ctx, const char *expr);
/* The PCI addresses of a domain's <hostdev type='pci'>, as
 * "dddd:bb:ss.f" strings. */
GPtrArray *wv_xpath_hostdev_addresses(xmlXPathContext *ctx);

/* ---- editing a tree: elements kept in the order a schema wants ---------- */

/* An element named @name (any element when NULL). */
gboolean wv_xml_is_element(xmlNode *n, const char *name);
xmlNode *wv_xml_find_child(xmlNode *parent, const char *name);
void wv_xml_remove_children(xmlNode *parent, const char *name);
/* @order: the element names in the order the schema lists them, NULL
 * terminated; a new element goes after every sibling that sorts before or
 * with it. */
xmlNode *wv_xml_insert_ordered(xmlNode *parent, xmlNode *node, const char *const *order);
xmlNode *wv_xml_add_child(xmlNode *parent, const char *name, const char *const *order);
/* The first <name>, added in order when there is none. */
xmlNode *wv_xml_ensure_child(xmlNode *parent, const char *name, const char *const *order);
/* Replaces every <name> under @parent with one fresh, empty element. */
xmlNode *wv_xml_replace_child(xmlNode *parent, const char *name, const char *const *order);
/* A new last child <name>. */
xmlNode *wv_xml_append(xmlNode *parent, const char *name);
void wv_xml_set_prop(xmlNode *node, const char *name, const char *value);
/* @value in decimal */
void wv_xml_set_prop_uint(xmlNode *node, const char *name, guint64 value);
/* "0x" and @value in hexadecimal, at least @width digits ("0x%04x") */
void wv_xml_set_prop_hex(xmlNode *node, const char *name, guint64 value, guint width);
G_GNUC_PRINTF(3, 4)
void wv_xml_set_propf(xmlNode *node, const char *name, const char *fmt, ...);
void wv_xml_set_text(xmlNode *node, const char *text);
/* Removes @node when it has neither child elements nor attributes. */
void wv_xml_remove_if_empty(xmlNode *node);

/* @doc as xmlSaveDoc() writes it with XML_SAVE_FORMAT | XML_SAVE_NO_DECL in
 * UTF-8, byte for byte, in a fraction of the work; NULL for a tree with
 * nodes it leaves to libxml2 (a DTD, entity references, XInclude). */
char *wv_xml_write(const xmlDoc *doc);
/* The same through libxml2's xmlSaveDoc(), ending in a newline: what
 * wv_xml_write() must match, and its fallback. */
char *wv_xml_save(xmlDoc *doc);

G_END_DECLS
