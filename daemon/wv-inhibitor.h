/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One logind inhibitor lock (Inhibit(what, "winvm", why, mode)), taken and
 * released as its owner decides, and what logind says about how long it
 * waits for delay locks. Both the host shutdown and the host sleep watchers
 * hold theirs through it.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define WV_LOGIND_NAME  "org.freedesktop.login1"
#define WV_LOGIND_PATH  "/org/freedesktop/login1"
#define WV_LOGIND_IFACE "org.freedesktop.login1.Manager"

typedef struct _WvInhibitor WvInhibitor;

/* Holds nothing until wv_inhibitor_take(). */
WvInhibitor *wv_inhibitor_new(GDBusConnection *bus, const char *what, const char *mode,
                              const char *why);
void wv_inhibitor_free(WvInhibitor *inhibitor);
/* Asks logind for the lock (async) unless it is held or asked for. */
void wv_inhibitor_take(WvInhibitor *inhibitor);
/* Closes the lock; one still on its way is closed when it comes. */
void wv_inhibitor_release(WvInhibitor *inhibitor);
/* logind left the bus: what it gave is void, and an answer still on its
 * way is ignored. */
void wv_inhibitor_reset(WvInhibitor *inhibitor);
gboolean wv_inhibitor_held(WvInhibitor *inhibitor);

/* Reads logind's InhibitDelayMaxUSec into *@usec (async; it stays as it is
 * when logind does not say). @usec must outlive @cancellable's use. */
void wv_logind_read_delay_max(GDBusConnection *bus, GCancellable *cancellable, guint64 *usec);
/* How many seconds winvm's work under a delay lock may last so that it ends
 * before logind stops waiting: 0 when @delay_max_usec is unknown (0). */
guint wv_logind_delay_cap(guint64 delay_max_usec);

G_END_DECLS
