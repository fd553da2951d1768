/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Profile + plan + template -> libvirt domain XML, through libxml2's tree API
 * (never by pasting strings). Same input, same bytes.
 */
#pragma once

#include "wv-plan.h"
#include "wv-profile.h"
#include "wv-xml.h"

G_BEGIN_DECLS

xmlDoc *wv_render(const WvProfile *profile, const WvPlan *plan, GError **error);
char *wv_render_to_string(const WvProfile *profile, const WvPlan *plan, GError **error);
char *wv_xml_doc_to_string(xmlDoc *doc);
/* Carries the UUID and (unless @doc names one) the NVRAM file of the
 * existing definition @existing_xml over into @doc, so re-defining a VM never
 * changes its identity or loses its UEFI variables. */
gboolean wv_render_keep_identity(xmlDoc *doc, const char *existing_xml, GError **error);

G_END_DECLS
