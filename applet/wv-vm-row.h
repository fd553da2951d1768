/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One VM in the applet's list: an org.winvm1.VM object's properties, kept
 * current from its PropertiesChanged signals alone, and its lifecycle
 * buttons. Errors are handed to the window as "toast" signals, its Settings
 * button as "edit".
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define WV_TYPE_VM_ROW (wv_vm_row_get_type())
G_DECLARE_FINAL_TYPE(WvVmRow, wv_vm_row, WV, VM_ROW, GtkListBoxRow)

/* @proxy: the object's org.winvm1.VM interface (from the object manager). */
WvVmRow *wv_vm_row_new(GDBusProxy *proxy);
const char *wv_vm_row_get_name(WvVmRow *row);
GDBusProxy *wv_vm_row_get_proxy(WvVmRow *row);

G_END_DECLS
