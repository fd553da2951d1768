/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Per-caller limits on D-Bus calls in flight, so that no local user can
 * flood winvmd: a call (any method, property reads too) counts from its
 * arrival until it is answered,
 * against the bus connection that sent it (its unique name), against that
 * connection's uid (many connections of one uid share one budget) and
 * against everybody but root. Over a limit the call is answered with
 * org.winvm1.Error.LimitsExceeded, held back for a few seconds (see
 * wv-limits.c) so that a flood cannot turn its calls over fast. Root (uid 0) is never counted nor
 * refused; nor is the host-shutdown path.
 *
 * Calls are counted, or refused, in GDBus's own thread as they arrive,
 * before they queue on the main loop: a flood costs the main loop at most
 * its limits' worth of work, and its memory as much. The uid of each new
 * connection on the bus is asked for when it connects; a call that arrives
 * before the answer waits for it on the main thread, and is counted then.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define WV_LIMIT_PER_NAME 16  /* calls in flight from one bus connection */
#define WV_LIMIT_PER_UID  32  /* from every connection of one uid */
#define WV_LIMIT_TOTAL    128 /* from every uid but root */

typedef struct _WvLimits WvLimits;

/* Limits for the calls that arrive on @bus (a message bus connection),
 * until wv_limits_free(). */
WvLimits *wv_limits_new(GDBusConnection *bus);
void wv_limits_free(WvLimits *limits);

/* The limits installed on @bus, or NULL. */
WvLimits *wv_limits_get(GDBusConnection *bus);

/* Main thread. NULL: @invocation may go on, and counts until it is
 * answered (freed). Else the error (transfer full) to answer it with. */
typedef void (*WvLimitsDone)(GError *error, gpointer data);

/* Admits @invocation or refuses it, calling @done now or, the first time
 * a connection calls, once the bus said its uid. */
void wv_limits_admit(WvLimits *limits, GDBusMethodInvocation *invocation, WvLimitsDone done,
                     gpointer data);

/* Whether @name (a unique name) left the bus: its calls not started yet
 * are dropped (one of the last GONE_KEPT names to leave, root's too). */
gboolean wv_limits_caller_gone(WvLimits *limits, const char *name);

/* Calls refused so far; calls counted now. */
guint wv_limits_refused(WvLimits *limits);
guint wv_limits_in_flight(WvLimits *limits);

G_END_DECLS
