/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A button with a mnemonic label whose accessible name is its text: GTK 4.8
 * names a button by its label property and its child's text both
 * ("_Start Start"), which screen readers read out and tests cannot match.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

GtkWidget *wv_applet_button_new(const char *mnemonic_label);

G_END_DECLS
