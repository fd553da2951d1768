/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The applet's window: winvmd's VMs from a GDBusObjectManagerClient on the
 * system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured), one WvVmRow each, a
 * status page while winvmd is away, errors as toasts.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define WV_TYPE_APPLET_WINDOW (wv_applet_window_get_type())
G_DECLARE_FINAL_TYPE(WvAppletWindow, wv_applet_window, WV, APPLET_WINDOW, AdwApplicationWindow)

WvAppletWindow *wv_applet_window_new(AdwApplication *app);

G_END_DECLS
