/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The service manager's notification protocol (sd_notify(3)), without
 * libsystemd: one datagram to $NOTIFY_SOCKET per message. Linking
 * libsystemd only for this cost winvmd about 0.1 MiB of private memory
 * (its relocations and those of libgcrypt, liblz4, libcap, libgpg-error).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sends @state ("READY=1", "STATUS=...", newline-separated assignments) to
 * $NOTIFY_SOCKET. TRUE when sent; FALSE with @error when it could not be
 * (the variable is unset: WV_ERROR_NOT_FOUND; a bad address:
 * WV_ERROR_INVALID_ARGS; the send failed: WV_ERROR_FAILED). */
gboolean wv_notify(const char *state, GError **error);

/* The watchdog interval the service manager asks for in µs
 * ($WATCHDOG_USEC, for this process when $WATCHDOG_PID is set), or 0 for
 * none or an unreadable value. */
guint64 wv_notify_watchdog_usec(void);

G_END_DECLS
