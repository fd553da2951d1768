/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "wv-applet-button.h"
#include "wv-applet-call.h"
#include "wv-common.h"
#include "wv-vm-form.h"

/* the installed templates (org.winvm1.Manager.CreateVMFrom) */
static const char *const templates[] = {"windows11", "windows10", "minimal", NULL};

struct _WvVmForm
{
  GtkBox parent;

  GtkLabel *title;
  AdwEntryRow *name;
  AdwComboRow *template;
  GtkSpinButton *memory; /* MiB */
  GtkSpinButton *vcpus;
  AdwEntryRow *disk;
  AdwEntryRow *iso;
  GtkWidget *save;

  GDBusConnection *conn;
  char *path; /* the VM edited, NULL for a new one */
  gboolean busy;
};

enum
{
  SIGNAL_DONE,
  SIGNAL_TOAST,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(WvVmForm, wv_vm_form, GTK_TYPE_BOX)

static void
set_busy(WvVmForm *form, gboolean busy)
{
  form->busy = busy;
  gtk_widget_set_sensitive(form->save, !busy);
}

static void
call_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(WvVmForm) form = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

  set_busy(form, FALSE);
  if (reply == NULL) {
    g_autofree char *message = wv_applet_error_message(error);

    g_signal_emit(form, signals[SIGNAL_TOAST], 0, message);
    return; /* the form stays, to be corrected */
  }
  g_signal_emit(form, signals[SIGNAL_DONE], 0);
}

/* The settings as org.winvm1.VM.Set takes them: memory in the profile's
 * syntax, vCPUs as a number; disk and ISO only for a new VM, when given. */
static GVariant *
settings(WvVmForm *form)
{
  GVariantBuilder b;
  g_autofree char *memory = NULL;

  gtk_spin_button_update(form->memory);
  gtk_spin_button_update(form->vcpus);
  memory = g_strdup_printf("%dMiB", gtk_spin_button_get_value_as_int(form->memory));
  g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add(&b, "{sv}", "memory", g_variant_new_string(memory));
  g_variant_builder_add(
      &b, "{sv}", "vcpus",
      g_variant_new_uint32((guint32)gtk_spin_button_get_value_as_int(form->vcpus)));
  if (form->path == NULL) {
    const char *disk = gtk_editable_get_text(GTK_EDITABLE(form->disk));
    const char *iso = gtk_editable_get_text(GTK_EDITABLE(form->iso));

    if (disk[0] != '\0')
      g_variant_builder_add(&b, "{sv}", "disk", g_variant_new_string(disk));
    if (iso[0] != '\0')
      g_variant_builder_add(&b, "{sv}", "iso", g_variant_new_string(iso));
  }
  return g_variant_builder_end(&b);
}

static void
on_save(WvVmForm *form)
{
  if (form->busy || form->conn == NULL)
    return;
  set_busy(form, TRUE);
  if (form->path != NULL) {
    wv_applet_call(form->conn, form->path, WV_VM_INTERFACE, "Set",
                   g_variant_new("(@a{sv})", settings(form)), NULL, call_done, g_object_ref(form));
  } else {
    guint t = adw_combo_row_get_selected(form->template);

    wv_applet_call(form->conn, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, "CreateVMFrom",
                   g_variant_new("(ss@a{sv})", gtk_editable_get_text(GTK_EDITABLE(form->name)),
                                 templates[MIN(t, G_N_ELEMENTS(templates) - 2)], settings(form)),
                   G_VARIANT_TYPE("(o)"), call_done, g_object_ref(form));
  }
}

static void
on_cancel(WvVmForm *form)
{
  g_signal_emit(form, signals[SIGNAL_DONE], 0);
}

static void
set_save_label(WvVmForm *form, const char *mnemonic_label)
{
  GtkLabel *label = GTK_LABEL(gtk_button_get_child(GTK_BUTTON(form->save)));

  gtk_label_set_text_with_mnemonic(label, mnemonic_label);
  gtk_accessible_update_property(GTK_ACCESSIBLE(form->save), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 gtk_label_get_text(label), -1);
}

static void
reset(WvVmForm *form, GDBusConnection *conn, const char *path)
{
  g_set_object(&form->conn, conn);
  g_free(form->path);
  form->path = g_strdup(path);
  set_busy(form, FALSE);
  gtk_widget_set_visible(GTK_WIDGET(form->name), path == NULL);
  gtk_widget_set_visible(GTK_WIDGET(form->template), path == NULL);
  gtk_widget_set_visible(GTK_WIDGET(form->disk), path == NULL);
  gtk_widget_set_visible(GTK_WIDGET(form->iso), path == NULL);
}

void
wv_vm_form_create(WvVmForm *form, GDBusConnection *conn)
{
  reset(form, conn, NULL);
  gtk_label_set_text(form->title, _("New VM"));
  set_save_label(form, _("_Create"));
  gtk_editable_set_text(GTK_EDITABLE(form->name), "");
  gtk_editable_set_text(GTK_EDITABLE(form->disk), "");
  gtk_editable_set_text(GTK_EDITABLE(form->iso), "");
  adw_combo_row_set_selected(form->template, 0);
  gtk_spin_button_set_value(form->memory, 8192);
  gtk_spin_button_set_value(form->vcpus, 4);
  gtk_widget_grab_focus(GTK_WIDGET(form->name));
}

void
wv_vm_form_edit(WvVmForm *form, GDBusProxy *proxy)
{
  g_autoptr(GVariant) name = g_dbus_proxy_get_cached_property(proxy, "Name");
  g_autoptr(GVariant) memory = g_dbus_proxy_get_cached_property(proxy, "MemoryKiB");
  g_autoptr(GVariant) vcpus = g_dbus_proxy_get_cached_property(proxy, "VCPUs");
  g_autofree char *title =
      g_strdup_printf(_("Settings of %s"), name != NULL ? g_variant_get_string(name, NULL) : "");

  reset(form, g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_object_path(proxy));
  gtk_label_set_text(form->title, title);
  set_save_label(form, _("_Save"));
  if (memory != NULL && g_variant_is_of_type(memory, G_VARIANT_TYPE_UINT64))
    gtk_spin_button_set_value(form->memory, (double)(g_variant_get_uint64(memory) / 1024));
  if (vcpus != NULL && g_variant_is_of_type(vcpus, G_VARIANT_TYPE_UINT32))
    gtk_spin_button_set_value(form->vcpus, g_variant_get_uint32(vcpus));
  gtk_widget_grab_focus(GTK_WIDGET(form->memory));
}

static GtkSpinButton *
spin_row(AdwPreferencesGroup *group, const char *title, double min, double max, double step)
{
  GtkWidget *row = adw_action_row_new();
  GtkWidget *spin = gtk_spin_button_new_with_range(min, max, step);

  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
  gtk_widget_set_valign(spin, GTK_ALIGN_CENTER);
  adw_action_row_add_suffix(ADW_ACTION_ROW(row), spin);
  adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), spin);
  adw_preferences_group_add(group, row);
  return GTK_SPIN_BUTTON(spin);
}

static AdwEntryRow *
entry_row(AdwPreferencesGroup *group, const char *title)
{
  GtkWidget *row = adw_entry_row_new();

  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), title);
  adw_preferences_group_add(group, row);
  return ADW_ENTRY_ROW(row);
}

static GtkWidget *
form_button(const char *label, GCallback callback, WvVmForm *form, GtkBox *box)
{
  GtkWidget *button = wv_applet_button_new(label);

  g_signal_connect_swapped(button, "clicked", callback, form);
  gtk_box_append(box, button);
  return button;
}

static void
wv_vm_form_init(WvVmForm *form)
{
  GtkWidget *group = adw_preferences_group_new();
  GtkWidget *buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *template = adw_combo_row_new();

  gtk_orientable_set_orientation(GTK_ORIENTABLE(form), GTK_ORIENTATION_VERTICAL);
  gtk_box_set_spacing(GTK_BOX(form), 18);
  gtk_widget_set_margin_top(GTK_WIDGET(form), 18);
  gtk_widget_set_margin_bottom(GTK_WIDGET(form), 18);
  gtk_widget_set_margin_start(GTK_WIDGET(form), 12);
  gtk_widget_set_margin_end(GTK_WIDGET(form), 12);

  form->title = GTK_LABEL(gtk_label_new(NULL));
  gtk_widget_add_css_class(GTK_WIDGET(form->title), "title-2");
  gtk_box_append(GTK_BOX(form), GTK_WIDGET(form->title));

  form->name = entry_row(ADW_PREFERENCES_GROUP(group), _("Name"));
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(template), _("Template"));
  adw_combo_row_set_model(ADW_COMBO_ROW(template),
                          G_LIST_MODEL(gtk_string_list_new((const char *const *)templates)));
  g_object_unref(adw_combo_row_get_model(ADW_COMBO_ROW(template)));
  form->template = ADW_COMBO_ROW(template);
  adw_preferences_group_add(ADW_PREFERENCES_GROUP(group), template);
  form->memory = spin_row(ADW_PREFERENCES_GROUP(group), _("Memory (MiB)"), 256, 1048576, 256);
  form->vcpus = spin_row(ADW_PREFERENCES_GROUP(group), _("vCPUs"), 1, 512, 1);
  form->disk = entry_row(ADW_PREFERENCES_GROUP(group), _("Disk (image or block device)"));
  form->iso = entry_row(ADW_PREFERENCES_GROUP(group), _("Installation ISO"));
  gtk_box_append(GTK_BOX(form), group);

  gtk_widget_set_halign(buttons, GTK_ALIGN_END);
  form_button(_("C_ancel"), G_CALLBACK(on_cancel), form, GTK_BOX(buttons));
  form->save = form_button(_("_Create"), G_CALLBACK(on_save), form, GTK_BOX(buttons));
  gtk_widget_add_css_class(form->save, "suggested-action");
  gtk_box_append(GTK_BOX(form), buttons);
}

WvVmForm *
wv_vm_form_new(void)
{
  return g_object_new(WV_TYPE_VM_FORM, NULL);
}

static void
wv_vm_form_dispose(GObject *object)
{
  g_clear_object(&WV_VM_FORM(object)->conn);
  G_OBJECT_CLASS(wv_vm_form_parent_class)->dispose(object);
}

static void
wv_vm_form_finalize(GObject *object)
{
  g_free(WV_VM_FORM(object)->path);
  G_OBJECT_CLASS(wv_vm_form_parent_class)->finalize(object);
}

static void
wv_vm_form_class_init(WvVmFormClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = wv_vm_form_dispose;
  object_class->finalize = wv_vm_form_finalize;
  signals[SIGNAL_DONE] = g_signal_new("done", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                      NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_TOAST] = g_signal_new("toast", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}
