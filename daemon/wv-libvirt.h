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

/* The machine type the template at @template_path asks for, NULL: none. */
char *wv_libvirt_template_machine(const char *template_path);

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

/* ---- the daemon's connections --------------------------------------------
 *
 * A control connection, opened and re-opened with backoff off the main
 * thread, carries libvirt's events and its keepalive tells when libvirtd is
 * gone or stalled; it is never used for calls. Jobs call libvirt through a
 * lease: a connection of their own, taken from a small pool (or opened by the
 * worker), used by one thread at a time. libvirt 9.0's client misbehaves when
 * several threads wait on one connection that stalls (a thread waiting for
 * its reply can poll forever after the keepalive gave up, and a socket watch
 * it leaves behind fires later on another thread's stack), so no two jobs
 * share one. libvirt's event loop runs in its own thread; events and the loss
 * of the connection reach the main thread through its GMainContext.
 */

typedef struct _WvLibvirt WvLibvirt;
typedef struct _WvLibvirtLease WvLibvirtLease;

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
  /* main thread: a domain's guest agent connected or went away; may be NULL */
  void (*agent)(gpointer user_data, const char *domain, gboolean connected);
} WvLibvirtCallbacks;

/* Starts the event thread; call before any connection is opened. */
WvLibvirt *wv_libvirt_new(const char *uri, const WvLibvirtCallbacks *callbacks, gpointer user_data);
/* How soon a silent libvirtd counts as gone: a keepalive probe after
 * @interval seconds of silence, given up after @count unanswered ones
 * (WV_KEEPALIVE_*_DEFAULT unless set before wv_libvirt_start()). */
void wv_libvirt_set_keepalive(WvLibvirt *lv, guint interval, guint count);
/* Starts connecting (now, then with backoff until it succeeds). */
void wv_libvirt_start(WvLibvirt *lv);
void wv_libvirt_free(WvLibvirt *lv);
const char *wv_libvirt_uri(WvLibvirt *lv);
gboolean wv_libvirt_is_connected(WvLibvirt *lv);
/* Changes whenever the control connection comes or goes (any thread). */
guint wv_libvirt_generation(WvLibvirt *lv);

/* Main thread: a lease for one job, or NULL with WV_ERROR_LIBVIRT_UNAVAILABLE
 * when libvirt is not connected. */
WvLibvirtLease *wv_libvirt_lease(WvLibvirt *lv, GError **error);
/* Main thread: @lost runs (once, on the main thread) if the control
 * connection is lost while the lease is out, so that whoever waits for the
 * job gets an answer now although the worker may stay blocked in libvirt
 * until libvirtd answers again. */
void wv_libvirt_lease_on_lost(WvLibvirtLease *lease, GFunc lost, gpointer data);
/* The worker: the lease's connection (opened on first use; blocking), or
 * NULL with WV_ERROR_LIBVIRT_UNAVAILABLE. Borrowed: the lease owns it. */
virConnectPtr wv_libvirt_lease_conn(WvLibvirtLease *lease, GError **error);
/* Main thread, once the worker is done: the connection goes back to the
 * pool, or is closed (in a worker) when it is dead or from before a loss. */
void wv_libvirt_lease_free(WvLibvirtLease *lease);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvLibvirtLease, wv_libvirt_lease_free)

G_END_DECLS
