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

G_END_DECLS
