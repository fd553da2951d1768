/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The applet's D-Bus calls to winvmd: always asynchronous, always with
 * G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION (the desktop's polkit
 * agent asks), and errors in the daemon's own words.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* No D-Bus timeout: a Shutdown waits for the guest up to its own deadline. */
#define WV_APPLET_CALL_TIMEOUT G_MAXINT

void wv_applet_call(GDBusConnection *conn, const char *path, const char *iface, const char *method,
                    GVariant *args, const GVariantType *reply_type, GAsyncReadyCallback callback,
                    gpointer user_data);

/* Sets org.winvm1.VM property @prop of @path. */
void wv_applet_set_property(GDBusConnection *conn, const char *path, const char *prop,
                            GVariant *value, GAsyncReadyCallback callback, gpointer user_data);

/* The message to show for @error: the daemon's text, without the
 * "GDBus.Error:org.winvm1.Error.X: " prefix; a vanished daemon in words. */
char *wv_applet_error_message(const GError *error);

G_END_DECLS
