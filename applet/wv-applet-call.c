/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "wv-applet-call.h"
#include "wv-common.h"

void
wv_applet_call(GDBusConnection *conn, const char *path, const char *iface, const char *method,
               GVariant *args, const GVariantType *reply_type, GAsyncReadyCallback callback,
               gpointer user_data)
{
  g_dbus_connection_call(conn, WV_BUS_NAME, path, iface, method, args, reply_type,
                         G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION |
                             G_DBUS_CALL_FLAGS_NO_AUTO_START,
                         WV_APPLET_CALL_TIMEOUT, NULL, callback, user_data);
}

void
wv_applet_set_property(GDBusConnection *conn, const char *path, const char *prop, GVariant *value,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  wv_applet_call(conn, path, "org.freedesktop.DBus.Properties", "Set",
                 g_variant_new("(ssv)", WV_VM_INTERFACE, prop, value), NULL, callback, user_data);
}

char *
wv_applet_error_message(const GError *error)
{
  g_autoptr(GError) copy = g_error_copy(error);

  (void)wv_error_quark(); /* org.winvm1.Error.* map to WV_ERROR */
  if (g_error_matches(copy, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
      g_error_matches(copy, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
      g_error_matches(copy, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
    return g_strdup(_("winvmd is not running"));
  g_dbus_error_strip_remote_error(copy);
  return g_strdup(copy->message);
}
