/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The form for a new VM (CreateVMFrom: name, template, memory, vCPUs,
 * disk, ISO) and for a VM's common settings (Set: memory, vCPUs), shown as
 * a page of the window. It makes the call itself; "done" says it is over
 * (created, saved or cancelled), "toast" carries an error.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define WV_TYPE_VM_FORM (wv_vm_form_get_type())
G_DECLARE_FINAL_TYPE(WvVmForm, wv_vm_form, WV, VM_FORM, GtkBox)

WvVmForm *wv_vm_form_new(void);
/* A new VM, on @conn. */
void wv_vm_form_create(WvVmForm *form, GDBusConnection *conn);
/* The settings of the VM @proxy (org.winvm1.VM). */
void wv_vm_form_edit(WvVmForm *form, GDBusProxy *proxy);

G_END_DECLS
