/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "wv-applet-button.h"
#include "wv-applet-call.h"
#include "wv-common.h"
#include "wv-last-stop.h"
#include "wv-vm-row.h"

struct _WvVmRow
{
  GtkListBoxRow parent;

  GDBusProxy *proxy;
  char *name;

  GtkImage *state_icon;
  GtkLabel *state_label;
  GtkLabel *details_label;
  GtkLabel *stop_label;
  GtkWidget *start_button;
  GtkWidget *shutdown_button;
  GtkWidget *force_off_button;
  GtkWidget *suspend_button;
  GtkWidget *resume_button;
  GtkSwitch *autostart_switch;
  GtkWidget *findings_box;
  GtkLabel *findings_label;

  guint calls;            /* lifecycle calls in flight from this row */
  gboolean shutting_down; /* our Shutdown is in flight */
  gint64 deadline_us;     /* a stop's deadline (monotonic), 0 when none is followed */
  guint countdown_source; /* redraws the countdown every second while one runs */
};

enum
{
  SIGNAL_TOAST,
  SIGNAL_EDIT,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE(WvVmRow, wv_vm_row, GTK_TYPE_LIST_BOX_ROW)

/* ---- properties ------------------------------------------------------------ */

static char *
prop_string(WvVmRow *row, const char *prop)
{
  g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(row->proxy, prop);

  if (v == NULL || !g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
    return g_strdup("");
  return g_variant_dup_string(v, NULL);
}

static guint64
prop_uint(WvVmRow *row, const char *prop)
{
  g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(row->proxy, prop);

  if (v != NULL && g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
    return g_variant_get_uint32(v);
  if (v != NULL && g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
    return g_variant_get_uint64(v);
  return 0;
}

static gboolean
prop_bool(WvVmRow *row, const char *prop)
{
  g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(row->proxy, prop);

  return v != NULL && g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean(v);
}

typedef struct
{
  const char *state;
  const char *icon;
  const char *words; /* N_() */
} StateInfo;

static const StateInfo states[] = {
    {"running", "media-playback-start-symbolic", N_("Running")},
    {"paused", "media-playback-pause-symbolic", N_("Paused")},
    {"shutting-down", "system-shutdown-symbolic", N_("Shutting down")},
    {"shut-off", "media-playback-stop-symbolic", N_("Shut off")},
    {"crashed", "dialog-error-symbolic", N_("Crashed")},
    {"suspended", "weather-clear-night-symbolic", N_("Suspended (guest sleeps)")},
    {"saved", "document-save-symbolic", N_("Saved")},
    {"starting", "content-loading-symbolic", N_("Starting")},
    {"undefined", "media-playback-stop-symbolic", N_("Not defined yet")},
    {"unknown", "dialog-question-symbolic", N_("Unknown (libvirt unreachable)")},
};

static const StateInfo *
state_info(const char *state)
{
  for (gsize i = 0; i < G_N_ELEMENTS(states); i++)
    if (g_str_equal(states[i].state, state))
      return &states[i];
  return &states[G_N_ELEMENTS(states) - 1];
}

static const char *
step_words(const char *step)
{
  if (g_str_equal(step, "agent"))
    return _("asking the guest agent");
  if (g_str_equal(step, "acpi"))
    return _("pressing the power button");
  if (g_str_equal(step, "forcing"))
    return _("forcing off");
  if (g_str_equal(step, "saving"))
    return _("saving");
  return _("requested");
}

/* A label's text, also as its accessible name (screen readers, the tests). */
static void
set_label(GtkLabel *label, const char *text)
{
  gtk_label_set_text(label, text);
  gtk_accessible_update_property(GTK_ACCESSIBLE(label), GTK_ACCESSIBLE_PROPERTY_LABEL, text, -1);
  gtk_widget_set_visible(GTK_WIDGET(label), text[0] != '\0');
}

static void update_state(WvVmRow *row);

static gboolean
countdown_tick(gpointer data)
{
  update_state(data);
  return G_SOURCE_CONTINUE;
}

/* While a stop runs (ours, or one ShutdownStep shows): its step and the
 * seconds left before the deadline, the VM's ShutdownTimeout from when the
 * stop began; redrawn every second. NULL when no stop runs. */
static char *
stop_progress(WvVmRow *row, gboolean off)
{
  g_autofree char *step = prop_string(row, "ShutdownStep");
  gint64 left;

  if (step[0] == '\0' && (!row->shutting_down || off)) {
    row->deadline_us = 0;
    g_clear_handle_id(&row->countdown_source, g_source_remove);
    return NULL;
  }
  if (row->deadline_us == 0)
    row->deadline_us =
        g_get_monotonic_time() + (gint64)prop_uint(row, "ShutdownTimeout") * G_USEC_PER_SEC;
  if (row->countdown_source == 0)
    row->countdown_source = g_timeout_add_seconds(1, countdown_tick, row);
  left = (row->deadline_us - g_get_monotonic_time() + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC;
  left = MAX(left, 0);
  return g_strdup_printf(g_dngettext(GETTEXT_PACKAGE, "Shutting down: %s, %d second left",
                                     "Shutting down: %s, %d seconds left", (gulong)left),
                         step_words(step), (int)left);
}

/* After a stop: how it ended. */
static void
update_stop(WvVmRow *row)
{
  g_autoptr(GVariant) last = g_dbus_proxy_get_cached_property(row->proxy, "LastStop");
  g_autofree char *text = NULL;
  const char *how = "";
  guint32 presses = 0;
  double seconds = 0;

  if (last != NULL && g_variant_is_of_type(last, G_VARIANT_TYPE("(sud)")))
    g_variant_get(last, "(&sud)", &how, &presses, &seconds);
  if (row->deadline_us == 0 && how[0] != '\0') {
    g_autofree char *words = wv_last_stop_describe(how, presses, seconds);

    text = g_strdup_printf(_("Last stop: %s"), words);
  }
  set_label(row->stop_label, text ? text : "");
}

/* The state line (with a running stop's progress: the line a screen reader
 * follows) and the buttons that apply to the state. */
static void
update_state(WvVmRow *row)
{
  g_autofree char *state = prop_string(row, "State");
  const StateInfo *info = state_info(state);
  gboolean idle = row->calls == 0;
  gboolean off = g_str_equal(state, "shut-off") || g_str_equal(state, "crashed") ||
                 g_str_equal(state, "undefined") || g_str_equal(state, "saved");
  gboolean running = g_str_equal(state, "running");
  gboolean paused = g_str_equal(state, "paused");
  gboolean on =
      running || paused || g_str_equal(state, "shutting-down") || g_str_equal(state, "suspended");
  g_autofree char *progress = stop_progress(row, off);
  g_autofree char *text = NULL;

  gtk_image_set_from_icon_name(row->state_icon, info->icon);
  if (progress != NULL)
    text = g_steal_pointer(&progress);
  else if (prop_bool(row, "PendingRestart"))
    text = g_strdup_printf(_("%s — changes apply at the next start"), _(info->words));
  else
    text = g_strdup(_(info->words));
  set_label(row->state_label, text);

  gtk_widget_set_visible(row->start_button, off);
  gtk_widget_set_sensitive(row->start_button, idle);
  gtk_widget_set_visible(row->shutdown_button, running);
  gtk_widget_set_sensitive(row->shutdown_button, idle);
  gtk_widget_set_visible(row->suspend_button, running);
  gtk_widget_set_sensitive(row->suspend_button, idle);
  gtk_widget_set_visible(row->resume_button, paused);
  gtk_widget_set_sensitive(row->resume_button, idle);
  /* ForceOff overtakes a Shutdown that waits for the guest: always open */
  gtk_widget_set_visible(row->force_off_button, on);
}

static void
update_details(WvVmRow *row)
{
  g_autoptr(GString) s = g_string_new(NULL);
  g_autoptr(GVariant) devices = g_dbus_proxy_get_cached_property(row->proxy, "HostDevices");
  g_autofree char *state = prop_string(row, "State");
  g_autofree char *memory =
      g_format_size_full(prop_uint(row, "MemoryKiB") * 1024, G_FORMAT_SIZE_IEC_UNITS);
  guint vcpus = (guint)prop_uint(row, "VCPUs");

  g_string_append_printf(s, g_dngettext(GETTEXT_PACKAGE, "%u vCPU", "%u vCPUs", vcpus), vcpus);
  g_string_append_printf(s, " · %s", memory);
  if (devices != NULL && g_variant_is_of_type(devices, G_VARIANT_TYPE_STRING_ARRAY) &&
      g_variant_n_children(devices) > 0) {
    g_autofree const char **list = g_variant_get_strv(devices, NULL);
    g_autofree char *joined = g_strjoinv(", ", (char **)list);

    g_string_append_printf(s, " · %s %s", _("devices"), joined);
  }
  if (g_str_equal(state, "running") || g_str_equal(state, "paused"))
    g_string_append_printf(s, " · %s",
                           prop_bool(row, "GuestAgent") ? _("guest agent connected")
                                                        : _("no guest agent"));
  set_label(row->details_label, s->str);
}

static void
update_autostart(WvVmRow *row)
{
  gboolean on = prop_bool(row, "Autostart");

  /* state, not active: no state-set, so no call back to the daemon */
  gtk_switch_set_state(row->autostart_switch, on);
  if (gtk_switch_get_active(row->autostart_switch) != on) {
    g_signal_handlers_block_matched(row->autostart_switch, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
                                    row);
    gtk_switch_set_active(row->autostart_switch, on);
    g_signal_handlers_unblock_matched(row->autostart_switch, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL,
                                      row);
  }
}

static void
update_all(WvVmRow *row)
{
  if (row->proxy == NULL)
    return; /* disposed, a call's answer came late */
  update_state(row);
  update_details(row);
  update_stop(row);
  update_autostart(row);
}

static void
on_properties_changed(GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer data)
{
  g_autofree char *text = g_variant_print(changed, FALSE);

  g_debug("%s: %s", WV_VM_ROW(data)->name, text);
  update_all(data);
}

/* ---- calls ------------------------------------------------------------------ */

static void
toast(WvVmRow *row, const char *message)
{
  g_signal_emit(row, signals[SIGNAL_TOAST], 0, message);
}

static void
toast_error(WvVmRow *row, const GError *error)
{
  g_autofree char *message = wv_applet_error_message(error);
  g_autofree char *text = g_strdup_printf("%s: %s", row->name, message);

  toast(row, text);
}

static void
lifecycle_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(WvVmRow) row = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

  row->calls--;
  if (reply == NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    toast_error(row, error);
  update_all(row);
}

static void
shutdown_done(GObject *source, GAsyncResult *res, gpointer data)
{
  WvVmRow *row = data;

  row->shutting_down = FALSE;
  lifecycle_done(source, res, data);
}

static void
lifecycle(WvVmRow *row, const char *method, GVariant *args, GAsyncReadyCallback done)
{
  row->calls++;
  wv_applet_call(g_dbus_proxy_get_connection(row->proxy), g_dbus_proxy_get_object_path(row->proxy),
                 WV_VM_INTERFACE, method, args, NULL, done, g_object_ref(row));
  update_all(row);
}

/* Start: the preflight first; a start that would fail shows its findings and
 * their hints instead. */
static void
show_findings(WvVmRow *row, GVariant *findings)
{
  g_autoptr(GString) body = g_string_new(NULL);
  GVariantIter iter;
  const char *severity, *code, *message, *hint;

  g_string_printf(body, _("%s cannot start:"), row->name);
  g_variant_iter_init(&iter, findings);
  while (g_variant_iter_next(&iter, "(&s&s&s&s)", &severity, &code, &message, &hint)) {
    if (!g_str_equal(severity, "error"))
      continue;
    g_string_append_printf(body, "\n• %s", message);
    if (hint[0] != '\0')
      g_string_append_printf(body, "\n  %s %s", _("Hint:"), hint);
  }
  set_label(row->findings_label, body->str);
  gtk_widget_set_visible(row->findings_box, TRUE);
}

static void
on_dismiss_findings(WvVmRow *row)
{
  gtk_widget_set_visible(row->findings_box, FALSE);
}

static void
check_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(WvVmRow) row = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
  g_autoptr(GVariant) findings = NULL;
  GVariantIter iter;
  const char *severity;
  gboolean fails = FALSE;

  row->calls--;
  if (row->proxy == NULL)
    return; /* the VM went away meanwhile */
  if (reply == NULL) {
    toast_error(row, error);
    update_all(row);
    return;
  }
  findings = g_variant_get_child_value(reply, 0);
  g_variant_iter_init(&iter, findings);
  while (g_variant_iter_next(&iter, "(&s&s&s&s)", &severity, NULL, NULL, NULL))
    fails = fails || g_str_equal(severity, "error");
  if (fails) {
    show_findings(row, findings);
    update_all(row);
    return;
  }
  lifecycle(row, "Start", NULL, lifecycle_done);
}

static void
on_start(WvVmRow *row)
{
  gtk_widget_set_visible(row->findings_box, FALSE);
  row->calls++;
  wv_applet_call(g_dbus_proxy_get_connection(row->proxy), WV_MANAGER_PATH, WV_MANAGER_INTERFACE,
                 "Check", g_variant_new("(s)", row->name), G_VARIANT_TYPE("(a(ssss))"), check_done,
                 g_object_ref(row));
  update_all(row);
}

static void
on_shutdown(WvVmRow *row)
{
  row->shutting_down = TRUE;
  row->deadline_us = 0; /* from now: the daemon's deadline starts with the call */
  lifecycle(row, "Shutdown", g_variant_new("(u)", 0), shutdown_done);
}

static void
on_force_off(WvVmRow *row)
{
  lifecycle(row, "ForceOff", NULL, lifecycle_done);
}

static void
on_suspend(WvVmRow *row)
{
  lifecycle(row, "Suspend", NULL, lifecycle_done);
}

static void
on_settings(WvVmRow *row)
{
  g_signal_emit(row, signals[SIGNAL_EDIT], 0);
}

static void
on_resume(WvVmRow *row)
{
  lifecycle(row, "Resume", NULL, lifecycle_done);
}

static void
autostart_done(GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr(WvVmRow) row = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

  if (reply == NULL)
    toast_error(row, error);
  /* the switch follows the property: PropertiesChanged when it was set, the
   * old value when it was not */
  if (row->proxy != NULL)
    update_autostart(row);
}

static gboolean
on_autostart_set(GtkSwitch *sw, gboolean state, WvVmRow *row)
{
  wv_applet_set_property(g_dbus_proxy_get_connection(row->proxy),
                         g_dbus_proxy_get_object_path(row->proxy), "Autostart",
                         g_variant_new_boolean(state), autostart_done, g_object_ref(row));
  return TRUE; /* the state changes when the daemon says so */
}

/* ---- widget ----------------------------------------------------------------- */

static GtkWidget *
action_button(WvVmRow *row, const char *label, char *a11y, GCallback callback, GtkBox *box)
{
  GtkWidget *button = wv_applet_button_new(label);

  gtk_widget_set_valign(button, GTK_ALIGN_CENTER);
  gtk_accessible_update_property(GTK_ACCESSIBLE(button), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, a11y,
                                 -1);
  g_signal_connect_swapped(button, "clicked", callback, row);
  gtk_box_append(box, button);
  g_free(a11y);
  return button;
}

static GtkLabel *
info_label(GtkBox *box, const char *css_class)
{
  GtkWidget *label = gtk_label_new(NULL);

  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_label_set_wrap(GTK_LABEL(label), TRUE);
  if (css_class != NULL)
    gtk_widget_add_css_class(label, css_class);
  gtk_box_append(box, label);
  return GTK_LABEL(label);
}

static void
build(WvVmRow *row)
{
  GtkWidget *outer = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *text = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *buttons = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *autostart = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *name = gtk_label_new(row->name);
  GtkWidget *sw = gtk_switch_new();
  g_autofree char *sw_a11y = g_strdup_printf(_("Start %s at boot"), row->name);

  gtk_widget_set_margin_top(box, 10);
  gtk_widget_set_margin_bottom(box, 10);
  gtk_widget_set_margin_start(box, 12);
  gtk_widget_set_margin_end(box, 12);

  row->state_icon = GTK_IMAGE(gtk_image_new());
  gtk_image_set_pixel_size(row->state_icon, 32);
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(row->state_icon));

  gtk_widget_set_hexpand(text, TRUE);
  gtk_label_set_xalign(GTK_LABEL(name), 0);
  gtk_widget_add_css_class(name, "heading");
  gtk_box_append(GTK_BOX(text), name);
  row->state_label = info_label(GTK_BOX(text), NULL);
  row->details_label = info_label(GTK_BOX(text), "dim-label");
  row->stop_label = info_label(GTK_BOX(text), "accent");
  gtk_box_append(GTK_BOX(box), text);

  row->start_button = action_button(row, _("_Start"), g_strdup_printf(_("Start %s"), row->name),
                                    G_CALLBACK(on_start), GTK_BOX(buttons));
  gtk_widget_add_css_class(row->start_button, "suggested-action");
  row->shutdown_button =
      action_button(row, _("Shut _Down"), g_strdup_printf(_("Shut down %s"), row->name),
                    G_CALLBACK(on_shutdown), GTK_BOX(buttons));
  row->suspend_button =
      action_button(row, _("S_uspend"), g_strdup_printf(_("Suspend %s"), row->name),
                    G_CALLBACK(on_suspend), GTK_BOX(buttons));
  row->resume_button = action_button(row, _("_Resume"), g_strdup_printf(_("Resume %s"), row->name),
                                     G_CALLBACK(on_resume), GTK_BOX(buttons));
  row->force_off_button =
      action_button(row, _("_Force Off"), g_strdup_printf(_("Force off %s"), row->name),
                    G_CALLBACK(on_force_off), GTK_BOX(buttons));
  gtk_widget_add_css_class(row->force_off_button, "destructive-action");
  action_button(row, _("S_ettings"), g_strdup_printf(_("Settings of %s"), row->name),
                G_CALLBACK(on_settings), GTK_BOX(buttons));
  gtk_box_append(GTK_BOX(box), buttons);

  gtk_widget_set_valign(autostart, GTK_ALIGN_CENTER);
  gtk_box_append(GTK_BOX(autostart), gtk_label_new(_("Autostart")));
  row->autostart_switch = GTK_SWITCH(sw);
  gtk_widget_set_halign(sw, GTK_ALIGN_CENTER);
  gtk_accessible_update_property(GTK_ACCESSIBLE(sw), GTK_ACCESSIBLE_PROPERTY_LABEL, sw_a11y, -1);
  g_signal_connect(sw, "state-set", G_CALLBACK(on_autostart_set), row);
  gtk_box_append(GTK_BOX(autostart), sw);
  gtk_box_append(GTK_BOX(box), autostart);

  /* a start that would fail: the check's findings, under the row */
  row->findings_box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_set_margin_start(row->findings_box, 56);
  gtk_widget_set_margin_end(row->findings_box, 12);
  gtk_widget_set_margin_bottom(row->findings_box, 10);
  row->findings_label = info_label(GTK_BOX(row->findings_box), "error");
  gtk_widget_set_hexpand(GTK_WIDGET(row->findings_label), TRUE);
  action_button(row, _("_Dismiss"), g_strdup_printf(_("Dismiss why %s cannot start"), row->name),
                G_CALLBACK(on_dismiss_findings), GTK_BOX(row->findings_box));
  gtk_widget_set_visible(row->findings_box, FALSE);
  gtk_box_append(GTK_BOX(outer), box);
  gtk_box_append(GTK_BOX(outer), row->findings_box);

  gtk_list_box_row_set_child(GTK_LIST_BOX_ROW(row), outer);
  gtk_list_box_row_set_activatable(GTK_LIST_BOX_ROW(row), FALSE);
  gtk_accessible_update_property(GTK_ACCESSIBLE(row), GTK_ACCESSIBLE_PROPERTY_LABEL, row->name, -1);
}

WvVmRow *
wv_vm_row_new(GDBusProxy *proxy)
{
  WvVmRow *row = g_object_new(WV_TYPE_VM_ROW, NULL);

  row->proxy = g_object_ref(proxy);
  row->name = prop_string(row, "Name");
  build(row);
  g_signal_connect_object(proxy, "g-properties-changed", G_CALLBACK(on_properties_changed), row, 0);
  update_all(row);
  return row;
}

GDBusProxy *
wv_vm_row_get_proxy(WvVmRow *row)
{
  return row->proxy;
}

const char *
wv_vm_row_get_name(WvVmRow *row)
{
  return row->name;
}

static void
wv_vm_row_dispose(GObject *object)
{
  WvVmRow *row = WV_VM_ROW(object);

  g_clear_handle_id(&row->countdown_source, g_source_remove);
  g_clear_object(&row->proxy);
  G_OBJECT_CLASS(wv_vm_row_parent_class)->dispose(object);
}

static void
wv_vm_row_finalize(GObject *object)
{
  WvVmRow *row = WV_VM_ROW(object);

  g_free(row->name);
  G_OBJECT_CLASS(wv_vm_row_parent_class)->finalize(object);
}

static void
wv_vm_row_class_init(WvVmRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->dispose = wv_vm_row_dispose;
  object_class->finalize = wv_vm_row_finalize;
  signals[SIGNAL_EDIT] = g_signal_new("edit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                      NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_TOAST] = g_signal_new("toast", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
wv_vm_row_init(WvVmRow *row)
{
}
