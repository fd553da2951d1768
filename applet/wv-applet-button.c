/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-applet-button.h"

GtkWidget *
wv_applet_button_new(const char *mnemonic_label)
{
  GtkWidget *button = gtk_button_new();
  /* the label child is presentation only; the button carries the name */
  GtkWidget *text = g_object_new(GTK_TYPE_LABEL, "label", mnemonic_label, "use-underline", TRUE,
                                 "accessible-role", GTK_ACCESSIBLE_ROLE_PRESENTATION, NULL);

  gtk_button_set_child(GTK_BUTTON(button), text);
  gtk_accessible_update_property(GTK_ACCESSIBLE(button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 gtk_label_get_text(GTK_LABEL(text)), -1);
  return button;
}
