/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * winvm-applet: the desktop's view of winvmd's VMs. It talks to D-Bus only
 * (org.winvm1 on the system bus); see wv-applet-window.c.
 */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>

#include "wv-applet-window.h"
#include "wv-common.h"

#define APP_ID "org.winvm1.Applet"

static void
on_activate(GApplication *app)
{
  GtkWindow *window = gtk_application_get_active_window(GTK_APPLICATION(app));

  if (window == NULL)
    window = GTK_WINDOW(wv_applet_window_new(ADW_APPLICATION(app)));
  gtk_window_present(window);
}

static gboolean
on_quit_signal(gpointer app)
{
  g_application_quit(app);
  return G_SOURCE_CONTINUE;
}

static void
on_quit(GSimpleAction *action, GVariant *param, gpointer app)
{
  g_application_quit(app);
}

static void
on_startup(GApplication *app)
{
  static const char *const quit_accels[] = {"<Control>q", NULL};
  static const char *const close_accels[] = {"<Control>w", NULL};
  g_autoptr(GSimpleAction) quit = g_simple_action_new("quit", NULL);

  g_signal_connect(quit, "activate", G_CALLBACK(on_quit), app);
  g_action_map_add_action(G_ACTION_MAP(app), G_ACTION(quit));
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit", quit_accels);
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "window.close", close_accels);
}

int
main(int argc, char **argv)
{
  g_autoptr(AdwApplication) app = NULL;
  int status;

  setlocale(LC_ALL, "");
  bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
  textdomain(GETTEXT_PACKAGE);
  g_set_prgname("winvm-applet");
  (void)wv_error_quark(); /* org.winvm1.Error.* as WV_ERROR */

  app = adw_application_new(APP_ID, G_APPLICATION_DEFAULT_FLAGS);
  g_signal_connect(app, "startup", G_CALLBACK(on_startup), NULL);
  g_signal_connect(app, "activate", G_CALLBACK(on_activate), NULL);
  g_unix_signal_add(SIGTERM, on_quit_signal, app);
  g_unix_signal_add(SIGINT, on_quit_signal, app);
  status = g_application_run(G_APPLICATION(app), argc, argv);
  return status;
}
