/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Authorization of D-Bus callers: uid 0 always, everyone else through
 * polkit; with no polkit on the bus, everyone else is denied.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define WV_ACTION_LIFECYCLE "org.winvm1.lifecycle"
#define WV_ACTION_TUNE      "org.winvm1.tune"
#define WV_ACTION_MANAGE    "org.winvm1.manage"

/* Asks whether the sender of @invocation may do @action_id (interaction
 * allowed: polkit may ask for a password). Never blocks. */
void wv_auth_check_async(GDBusMethodInvocation *invocation, const char *action_id,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data);
/* FALSE with WV_ERROR_ACCESS_DENIED (a human message naming the action)
 * when the caller may not. */
gboolean wv_auth_check_finish(GAsyncResult *result, GError **error);

/* Whether a check on @invocation found its caller to be uid 0 (root may
 * write what a polkit-authorized user may not: raw-qemu). */
gboolean wv_auth_caller_is_root(GDBusMethodInvocation *invocation);

G_END_DECLS
