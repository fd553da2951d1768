/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The libvirt side of host facts. These calls block: the daemon runs them in
 * a GTask thread, `winvmd --check` calls them directly.
 */
#pragma once

#include <libvirt/libvirt.h>

#include "wv-host.h"
#include "wv-profile.h"

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

/* Silences libvirt's default printing of errors to stderr; errors reach the
 * user through GError with libvirt's own message. */
void wv_libvirt_init(void);

/* A GError carrying libvirt's last error message, prefixed with @what. */
void wv_libvirt_set_error(GError **error, gint code, const char *what);

virConnectPtr wv_libvirt_open(const char *uri, gboolean read_only, GError **error);

/* Domain capabilities for @profile's hypervisor and template machine type. NULL
 * with an error when the driver cannot say (the test driver cannot). */
WvDomcaps *wv_libvirt_domcaps(virConnectPtr conn, const WvProfile *profile,
                              const char *template_path, GError **error);

/* PCI address -> name of the running domain using it, skipping @except. */
GHashTable *wv_libvirt_devices_in_use(virConnectPtr conn, const char *except, GError **error);

G_END_DECLS
