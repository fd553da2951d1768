/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A libvirt domain definition -> the profile text that says the same VM
 * (winvm.conf(5)): what the profile format can say is carried over, the
 * UUID kept, and everything else named in a list with the reason, never
 * dropped in silence.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The largest domain XML taken (libvirt's own are a few KiB). */
#define WV_IMPORT_MAX_SIZE (1024 * 1024)

/* Reads @xml (a <domain> document, as `virsh dumpxml` prints it) and returns
 * profile text that wv_profile_parse() accepts, named @name_or_NULL (NULL:
 * the domain's name, made valid when it is not). @not_carried (may be NULL)
 * receives one human string per thing left behind, saying what and why.
 * Errors (WV_ERROR_INVALID_ARGS): not XML, not a domain, a DOCTYPE, too
 * large, not a QEMU/KVM domain, an invalid @name_or_NULL. */
char *wv_import_domain_xml(const char *xml, const char *name_or_NULL, GPtrArray **not_carried,
                           GError **error);

G_END_DECLS
