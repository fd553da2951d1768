/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "wv-common.h"
#include "wv-applet-button.h"
#include "wv-applet-window.h"
#include "wv-vm-form.h"
#include "wv-vm-row.h"

struct _WvAppletWindow
{
  AdwApplicationWindow parent;

  AdwToastOverlay *toasts;
  GtkStack *stack;
  GtkListBox *list;
  AdwStatusPage *error_page;
  WvVmForm *form;
  GtkWidget *new_button;
  gboolean form_open;

  GCancellable *cancellable;
  GDBusObjectManager *manager;
  GHashTable *rows; /* object path → WvVmRow (the list holds the reference) */
  gboolean had_owner;
};

G_DEFINE_FINAL_TYPE(WvAppletWindow, wv_applet_window, ADW_TYPE_APPLICATION_WINDOW)

static void
toast(WvAppletWindow *self, const char *message)
{
  AdwToast *t = adw_toast_new(message);

  adw_toast_set_timeout(t, 8);
  adw_toast_overlay_add_toast(self->toasts, t);
}

static void
on_row_toast(WvVmRow *row, const char *message, WvAppletWindow *self)
{
  toast(self, message);
}

/* Shows page @name alone: the others are hidden too, not only unmapped, so
 * that the accessibility tree holds just the page on screen. */
static void
show_page(WvAppletWindow *self, const char *name)
{
  GtkWidget *page = gtk_stack_get_child_by_name(self->stack, name);

  gtk_widget_set_visible(page, TRUE);
  gtk_stack_set_visible_child(self->stack, page);
  for (GtkWidget *child = gtk_widget_get_first_child(GTK_WIDGET(self->stack)); child != NULL;
       child = gtk_widget_get_next_sibling(child))
    if (child != page)
      gtk_widget_set_visible(child, FALSE);
}

/* The page that says what there is: the VMs, none, or no daemon. */
static void
update_page(WvAppletWindow *self)
{
  g_autofree char *owner = NULL;

  if (self->manager == NULL) {
    show_page(self, "error");
    return;
  }
  owner = g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(self->manager));
  gtk_widget_set_sensitive(self->new_button, owner != NULL && !self->form_open);
  if (owner == NULL)
    show_page(self, "gone");
  else if (self->form_open)
    show_page(self, "form");
  else if (g_hash_table_size(self->rows) == 0)
    show_page(self, "empty");
  else
    show_page(self, "vms");
}

static void
on_form_done(WvVmForm *form, WvAppletWindow *self)
{
  self->form_open = FALSE;
  update_page(self);
}

static void
on_form_toast(WvVmForm *form, const char *message, WvAppletWindow *self)
{
  toast(self, message);
}

static void
on_new_vm(WvAppletWindow *self)
{
  if (self->manager == NULL)
    return;
  wv_vm_form_create(self->form, g_dbus_object_manager_client_get_connection(
                                    G_DBUS_OBJECT_MANAGER_CLIENT(self->manager)));
  self->form_open = TRUE;
  update_page(self);
}

static void
on_row_edit(WvVmRow *row, WvAppletWindow *self)
{
  wv_vm_form_edit(self->form, wv_vm_row_get_proxy(row));
  self->form_open = TRUE;
  update_page(self);
}

static void
add_object(WvAppletWindow *self, GDBusObject *object)
{
  g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface(object, WV_VM_INTERFACE);
  const char *path = g_dbus_object_get_object_path(object);
  WvVmRow *row;

  if (iface == NULL || !G_IS_DBUS_PROXY(iface) || g_hash_table_contains(self->rows, path))
    return;
  row = wv_vm_row_new(G_DBUS_PROXY(iface));
  g_signal_connect_object(row, "toast", G_CALLBACK(on_row_toast), self, 0);
  g_signal_connect_object(row, "edit", G_CALLBACK(on_row_edit), self, 0);
  g_hash_table_insert(self->rows, g_strdup(path), row);
  gtk_list_box_append(self->list, GTK_WIDGET(row));
}

static void
remove_object(WvAppletWindow *self, const char *path)
{
  WvVmRow *row = g_hash_table_lookup(self->rows, path);

  if (row == NULL)
    return;
  g_hash_table_remove(self->rows, path);
  gtk_list_box_remove(self->list, GTK_WIDGET(row));
}

static void
on_object_added(GDBusObjectManager *manager, GDBusObject *object, WvAppletWindow *self)
{
  add_object(self, object);
  update_page(self);
}

static void
on_object_removed(GDBusObjectManager *manager, GDBusObject *object, WvAppletWindow *self)
{
  remove_object(self, g_dbus_object_get_object_path(object));
  update_page(self);
}

/* An object that gains org.winvm1.VM later than it appeared. */
static void
on_interface_added(GDBusObjectManager *manager, GDBusObject *object, GDBusInterface *iface,
                   WvAppletWindow *self)
{
  add_object(self, object);
  update_page(self);
}

static void
on_interface_removed(GDBusObjectManager *manager, GDBusObject *object, GDBusInterface *iface,
                     WvAppletWindow *self)
{
  GDBusInterfaceInfo *info = g_dbus_interface_get_info(iface);

  if (info == NULL || g_str_equal(info->name, WV_VM_INTERFACE))
    remove_object(self, g_dbus_object_get_object_path(object));
  update_page(self);
}

/* winvmd went away or came back: GDBusObjectManagerClient removes every
 * object when the name loses its owner and adds them again from the new
 * owner; the rows follow those signals. */
static void
on_name_owner(GObject *manager, GParamSpec *pspec, WvAppletWindow *self)
{
  g_autofree char *owner =
      g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(manager));

  if (owner == NULL && self->had_owner)
    toast(self, _("winvmd stopped"));
  else if (owner != NULL && !self->had_owner)
    g_debug("winvmd is %s", owner);
  self->had_owner = owner != NULL;
  update_page(self);
}

static int
compare_rows(GtkListBoxRow *a, GtkListBoxRow *b, gpointer data)
{
  return g_strcmp0(wv_vm_row_get_name(WV_VM_ROW(a)), wv_vm_row_get_name(WV_VM_ROW(b)));
}

static void
manager_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(GError) error = NULL;
  GDBusObjectManager *manager = g_dbus_object_manager_client_new_for_bus_finish(res, &error);
  WvAppletWindow *self;
  GList *objects;

  if (manager == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* the window is gone */
  self = WV_APPLET_WINDOW(data);
  if (manager == NULL) {
    adw_status_page_set_description(self->error_page, error->message);
    update_page(self);
    return;
  }
  self->manager = manager;
  g_signal_connect_object(manager, "object-added", G_CALLBACK(on_object_added), self, 0);
  g_signal_connect_object(manager, "object-removed", G_CALLBACK(on_object_removed), self, 0);
  g_signal_connect_object(manager, "interface-added", G_CALLBACK(on_interface_added), self, 0);
  g_signal_connect_object(manager, "interface-removed", G_CALLBACK(on_interface_removed), self, 0);
  g_signal_connect_object(manager, "notify::name-owner", G_CALLBACK(on_name_owner), self, 0);
  objects = g_dbus_object_manager_get_objects(manager);
  for (GList *l = objects; l != NULL; l = l->next)
    add_object(self, l->data);
  g_list_free_full(objects, g_object_unref);
  on_name_owner(G_OBJECT(manager), NULL, self);
}

static GtkWidget *
status_page(const char *icon, const char *title, const char *description)
{
  GtkWidget *page = adw_status_page_new();

  adw_status_page_set_icon_name(ADW_STATUS_PAGE(page), icon);
  adw_status_page_set_title(ADW_STATUS_PAGE(page), title);
  adw_status_page_set_description(ADW_STATUS_PAGE(page), description);
  return page;
}

static void
build(WvAppletWindow *self)
{
  GtkWidget *content = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new();
  GtkWidget *scrolled = gtk_scrolled_window_new();
  GtkWidget *clamp = adw_clamp_new();
  GtkWidget *list = gtk_list_box_new();
  GtkWidget *error_page = status_page("dialog-error-symbolic", _("No system bus"), "");

  gtk_window_set_title(GTK_WINDOW(self), _("Windows VMs"));
  gtk_window_set_default_size(GTK_WINDOW(self), 760, 420);
  self->new_button = wv_applet_button_new(_("_New VM"));
  gtk_widget_set_sensitive(self->new_button, FALSE);
  g_signal_connect_swapped(self->new_button, "clicked", G_CALLBACK(on_new_vm), self);
  adw_header_bar_pack_start(ADW_HEADER_BAR(header), self->new_button);
  gtk_box_append(GTK_BOX(content), header);

  self->list = GTK_LIST_BOX(list);
  gtk_list_box_set_selection_mode(self->list, GTK_SELECTION_NONE);
  gtk_list_box_set_sort_func(self->list, compare_rows, NULL, NULL);
  gtk_widget_add_css_class(list, "boxed-list");
  gtk_widget_set_valign(list, GTK_ALIGN_START);
  gtk_widget_set_margin_top(list, 18);
  gtk_widget_set_margin_bottom(list, 18);
  gtk_widget_set_margin_start(list, 12);
  gtk_widget_set_margin_end(list, 12);
  gtk_accessible_update_property(GTK_ACCESSIBLE(list), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 _("Virtual machines"), -1);
  adw_clamp_set_maximum_size(ADW_CLAMP(clamp), 900);
  adw_clamp_set_child(ADW_CLAMP(clamp), list);
  gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scrolled), clamp);
  gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scrolled), GTK_POLICY_NEVER,
                                 GTK_POLICY_AUTOMATIC);

  self->stack = GTK_STACK(gtk_stack_new());
  gtk_widget_set_vexpand(GTK_WIDGET(self->stack), TRUE);
  gtk_stack_add_named(self->stack, scrolled, "vms");
  gtk_stack_add_named(self->stack,
                      status_page("content-loading-symbolic", _("Connecting to winvmd"), ""),
                      "connecting");
  gtk_stack_add_named(self->stack,
                      status_page("computer-symbolic", _("No virtual machines"),
                                  _("winvmd has no VM profiles. Create one with winvmctl "
                                    "create, or put a profile in /etc/winvm/vms.")),
                      "empty");
  gtk_stack_add_named(self->stack,
                      status_page("network-offline-symbolic", _("winvmd is not running"),
                                  _("The window reconnects by itself when it is back.")),
                      "gone");
  self->form = wv_vm_form_new();
  g_signal_connect_object(self->form, "done", G_CALLBACK(on_form_done), self, 0);
  g_signal_connect_object(self->form, "toast", G_CALLBACK(on_form_toast), self, 0);
  clamp = adw_clamp_new();
  adw_clamp_set_maximum_size(ADW_CLAMP(clamp), 600);
  adw_clamp_set_child(ADW_CLAMP(clamp), GTK_WIDGET(self->form));
  gtk_stack_add_named(self->stack, clamp, "form");
  self->error_page = ADW_STATUS_PAGE(error_page);
  gtk_stack_add_named(self->stack, error_page, "error");
  show_page(self, "connecting");
  gtk_box_append(GTK_BOX(content), GTK_WIDGET(self->stack));

  self->toasts = ADW_TOAST_OVERLAY(adw_toast_overlay_new());
  adw_toast_overlay_set_child(self->toasts, content);
  adw_application_window_set_content(ADW_APPLICATION_WINDOW(self), GTK_WIDGET(self->toasts));
}

WvAppletWindow *
wv_applet_window_new(AdwApplication *app)
{
  return g_object_new(WV_TYPE_APPLET_WINDOW, "application", app, NULL);
}

static void
wv_applet_window_dispose(GObject *object)
{
  WvAppletWindow *self = WV_APPLET_WINDOW(object);

  g_cancellable_cancel(self->cancellable);
  g_clear_object(&self->cancellable);
  if (self->manager != NULL)
    g_signal_handlers_disconnect_by_data(self->manager, self);
  g_clear_object(&self->manager);
  g_clear_pointer(&self->rows, g_hash_table_unref);
  G_OBJECT_CLASS(wv_applet_window_parent_class)->dispose(object);
}

static void
wv_applet_window_class_init(WvAppletWindowClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = wv_applet_window_dispose;
}

static void
wv_applet_window_init(WvAppletWindow *self)
{
  self->rows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  self->cancellable = g_cancellable_new();
  build(self);
  /* DO_NOT_AUTO_START: the applet follows winvmd, it never starts it */
  g_dbus_object_manager_client_new_for_bus(
      G_BUS_TYPE_SYSTEM, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, WV_BUS_NAME,
      WV_MANAGER_PATH, NULL, NULL, NULL, self->cancellable, manager_ready, self);
}
