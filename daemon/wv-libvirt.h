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

/* Domain capabilities for @virt_type ("kvm", "qemu") and the template's
 * machine type. NULL with an error when the driver cannot say (the test
 * driver cannot). */
WvDomcaps *wv_libvirt_domcaps(virConnectPtr conn, const char *virt_type, const char *template_path,
                              GError **error);

/* Whether libvirt offers kvm guests for x86_64 (its capabilities list a
 * kvm domain type): ON or OFF for the QEMU driver, UNSET for a driver that
 * runs no real guests (test:///) or when it cannot say. */
WvTristate wv_libvirt_kvm_offered(virConnectPtr conn);

/* Whether @dom carries winvm's mark (WV_DOMAIN_NS) for profile @name. */
gboolean wv_libvirt_domain_is_ours(virDomainPtr dom, const char *name);

/* The domain @name when it exists and is winvm's; NULL otherwise. A domain
 * of that name that winvm did not define sets @foreign and is treated as
 * none: winvm never reports, stops or redefines somebody else's domain.
 * NULL with an error only when libvirt cannot tell. */
virDomainPtr wv_libvirt_lookup_ours(virConnectPtr conn, const char *name, gboolean *foreign,
                                    GError **error);

/* PCI address -> name of the running domain using it, skipping @except. */
GHashTable *wv_libvirt_devices_in_use(virConnectPtr conn, const char *except, GError **error);

G_END_DECLS

G_BEGIN_DECLS

/* ---- the daemon's connection ---------------------------------------------
 *
 * One connection shared by every worker thread (libvirt connections are
 * thread-safe), opened and re-opened with backoff off the main thread.
 * libvirt's event loop runs in its own thread; lifecycle events and the loss
 * of the connection reach the main thread through its GMainContext.
 */

typedef struct _WvLibvirt WvLibvirt;

typedef struct
{
  /* main thread: the connection came up (after every reconnect) */
  void (*connected)(gpointer user_data);
  /* main thread: the connection is gone; a reconnect is scheduled */
  void (*disconnected)(gpointer user_data, const char *reason);
  /* main thread: a domain lifecycle event (virDomainEventType, detail) */
  void (*lifecycle)(gpointer user_data, const char *domain, int event, int detail);
  /* main thread: a domain's tunables (pins) changed */
  void (*tunables)(gpointer user_data, const char *domain);
} WvLibvirtCallbacks;

/* Starts the event thread; call before any connection is opened. */
WvLibvirt *wv_libvirt_new(const char *uri, const WvLibvirtCallbacks *callbacks, gpointer user_data);
/* Starts connecting (now, then with backoff until it succeeds). */
void wv_libvirt_start(WvLibvirt *lv);
void wv_libvirt_free(WvLibvirt *lv);
const char *wv_libvirt_uri(WvLibvirt *lv);
gboolean wv_libvirt_is_connected(WvLibvirt *lv);
/* A reference to the connection for a worker thread (virConnectClose it
 * when done), or NULL with WV_ERROR_LIBVIRT_UNAVAILABLE. Any thread. */
virConnectPtr wv_libvirt_get(WvLibvirt *lv, GError **error);

G_END_DECLS
