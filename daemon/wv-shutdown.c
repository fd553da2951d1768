/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host shutdown: a logind delay inhibitor held while the host runs; on
 * PrepareForShutdown(true) every running VM is shut down in parallel by its
 * policy (wv_manager_shutdown_all), then the inhibitor is released so the
 * host goes on. A cancelled shutdown takes the inhibitor again.
 */
#include "config.h"

#include <gio/gunixfdlist.h>
#include <unistd.h>

#include "wv-common.h"
#include "wv-daemon.h"

#define LOGIND_NAME  "org.freedesktop.login1"
#define LOGIND_PATH  "/org/freedesktop/login1"
#define LOGIND_IFACE "org.freedesktop.login1.Manager"

struct _WvLogind
{
  WvDaemon *daemon;
  guint watch;
  guint subscription;
  int fd; /* the inhibitor, -1 when not held */
  gboolean taking;
  gboolean shutting_down;
  guint64 delay_max_usec; /* logind's InhibitDelayMaxUSec, 0 unknown */
  GCancellable *cancellable;
};

static void
release(WvLogind *l)
{
  if (l->fd >= 0) {
    close(l->fd);
    l->fd = -1;
    g_info("released the shutdown inhibitor");
  }
}

static void
inhibited(GObject *source, GAsyncResult *result, gpointer data)
{
  WvLogind *l = data;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_with_unix_fd_list_finish(
      G_DBUS_CONNECTION(source), &fds, result, &error);
  gint32 index;

  if (reply == NULL) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      l->taking = FALSE;
      g_warning("cannot take a shutdown inhibitor from logind: %s", error->message);
    }
    return;
  }
  l->taking = FALSE;
  g_variant_get(reply, "(h)", &index);
  release(l);
  l->fd = fds ? g_unix_fd_list_get(fds, index, &error) : -1;
  if (l->fd < 0)
    g_warning("logind sent no inhibitor: %s", error ? error->message : "no file descriptor");
  else
    g_info("holding a shutdown delay inhibitor");
}

static void
take(WvLogind *l)
{
  if (l->fd >= 0 || l->taking)
    return;
  l->taking = TRUE;
  g_dbus_connection_call_with_unix_fd_list(
      l->daemon->bus, LOGIND_NAME, LOGIND_PATH, LOGIND_IFACE, "Inhibit",
      g_variant_new("(ssss)", "shutdown", "winvm", "Shutting down virtual machines", "delay"),
      G_VARIANT_TYPE("(h)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, l->cancellable, inhibited, l);
}

static void
got_delay_max(GObject *source, GAsyncResult *result, gpointer data)
{
  WvLogind *l = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply =
      g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
  g_autoptr(GVariant) value = NULL;

  if (reply == NULL) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_debug("logind does not say its InhibitDelayMaxUSec: %s", error->message);
    return;
  }
  g_variant_get(reply, "(v)", &value);
  if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64))
    l->delay_max_usec = g_variant_get_uint64(value);
}

static void
shutdown_done(WvDaemon *daemon, const GError *error, gpointer data)
{
  WvLogind *l = data;

  if (error)
    g_warning("host shutdown: %s", error->message);
  else
    g_message("host shutdown: every VM is off");
  /* let the host go on; it takes it again if the shutdown is cancelled */
  if (l->shutting_down)
    release(l);
}

static void
on_prepare_for_shutdown(GDBusConnection *bus, const char *sender, const char *path,
                        const char *iface, const char *signal, GVariant *params, gpointer data)
{
  WvLogind *l = data;
  gboolean start;
  guint cap = 0, longest = 0;
  g_autoptr(GPtrArray) names = NULL;

  if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(b)")))
    return;
  g_variant_get(params, "(b)", &start);
  if (!start) {
    g_message("host shutdown cancelled");
    l->shutting_down = FALSE;
    take(l);
    return;
  }
  if (l->shutting_down)
    return;
  l->shutting_down = TRUE;

  names = wv_daemon_vm_names(l->daemon);
  for (guint i = 0; i < names->len; i++) {
    WvVm *vm = g_hash_table_lookup(l->daemon->vms, names->pdata[i]);
    if (wv_vm_is_running(vm))
      longest = MAX(longest, wv_vm_profile(vm)->shutdown_timeout_s);
  }
  /* Force off before logind stops waiting, or the VMs die uncleanly. */
  if (l->delay_max_usec) {
    guint max_s = (guint)(l->delay_max_usec / G_USEC_PER_SEC);
    cap = max_s > 2 ? max_s - 1 : MAX(max_s, 1);
    if (longest > cap)
      g_warning("a VM's shutdown-timeout (%u s) is longer than logind's InhibitDelayMaxSec "
                "(%u s); forcing off at %u s. Raise InhibitDelayMaxSec in logind.conf.",
                longest, max_s, cap);
  }
  g_message("host shutdown: shutting down every running VM");
  wv_manager_shutdown_all(l->daemon, cap, shutdown_done, l);
}

static void
logind_appeared(GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  WvLogind *l = data;

  g_info("logind is on the bus");
  if (l->subscription == 0)
    l->subscription = g_dbus_connection_signal_subscribe(
        bus, LOGIND_NAME, LOGIND_IFACE, "PrepareForShutdown", LOGIND_PATH, NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, on_prepare_for_shutdown, l, NULL);
  g_dbus_connection_call(bus, LOGIND_NAME, LOGIND_PATH, "org.freedesktop.DBus.Properties", "Get",
                         g_variant_new("(ss)", LOGIND_IFACE, "InhibitDelayMaxUSec"),
                         G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, l->cancellable,
                         got_delay_max, l);
  if (!l->shutting_down)
    take(l);
}

static void
logind_vanished(GDBusConnection *bus, const char *name, gpointer data)
{
  WvLogind *l = data;

  if (l->fd >= 0)
    g_info("logind left the bus");
  release(l);
  l->taking = FALSE;
}

WvLogind *
wv_logind_new(WvDaemon *daemon)
{
  WvLogind *l = g_new0(WvLogind, 1);

  l->daemon = daemon;
  l->fd = -1;
  l->cancellable = g_cancellable_new();
  l->watch = g_bus_watch_name_on_connection(daemon->bus, LOGIND_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                            logind_appeared, logind_vanished, l, NULL);
  return l;
}

void
wv_logind_free(WvLogind *l)
{
  if (l == NULL)
    return;
  g_cancellable_cancel(l->cancellable);
  g_bus_unwatch_name(l->watch);
  if (l->subscription)
    g_dbus_connection_signal_unsubscribe(l->daemon->bus, l->subscription);
  release(l);
  g_object_unref(l->cancellable);
  g_free(l);
}
