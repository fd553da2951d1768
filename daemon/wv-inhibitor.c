/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A logind inhibitor lock is a file descriptor logind hands over: the lock
 * holds while it is open. Asking is async; an answer that comes after the
 * lock was released (or after logind left) is closed at once.
 */
#include "config.h"

#include <gio/gunixfdlist.h>
#include <unistd.h>

#include "wv-inhibitor.h"

struct _WvInhibitor
{
  GDBusConnection *bus;
  char *what, *mode, *why;
  int fd;          /* -1 when not held */
  gboolean wanted; /* taken and not released since */
  gboolean asking; /* a request is on its way */
  guint serial;    /* the request whose answer counts */
  GCancellable *cancellable;
};

typedef struct
{
  WvInhibitor *inhibitor;
  guint serial;
} Request;

static void
close_fd(WvInhibitor *i)
{
  if (i->fd < 0)
    return;
  close(i->fd);
  i->fd = -1;
  /* "released the shutdown inhibitor (delay)" */
  g_info("released the %s inhibitor (%s)", i->what, i->mode);
}

static void
inhibited(GObject *source, GAsyncResult *result, gpointer data)
{
  Request *r = data;
  WvInhibitor *i = r->inhibitor;
  guint serial = r->serial;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_with_unix_fd_list_finish(
      G_DBUS_CONNECTION(source), &fds, result, &error);
  gint32 index = -1;
  int fd = -1;

  g_free(r);
  if (reply == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* freed */
  if (reply) {
    g_variant_get(reply, "(h)", &index);
    fd = fds ? g_unix_fd_list_get(fds, index, &error) : -1;
  }
  if (serial != i->serial) { /* logind left since: nothing it gave counts */
    if (fd >= 0)
      close(fd);
    return;
  }
  i->asking = FALSE;
  if (fd < 0) {
    g_warning("cannot take a %s inhibitor (%s) from logind: %s", i->what, i->mode,
              error ? error->message : "no file descriptor");
    return;
  }
  if (!i->wanted || i->fd >= 0) { /* released meanwhile */
    close(fd);
    return;
  }
  i->fd = fd;
  g_info("holding a %s inhibitor (%s)", i->what, i->mode);
}

void
wv_inhibitor_take(WvInhibitor *i)
{
  Request *r;

  i->wanted = TRUE;
  if (i->fd >= 0 || i->asking)
    return;
  i->asking = TRUE;
  r = g_new0(Request, 1);
  r->inhibitor = i;
  r->serial = ++i->serial;
  g_dbus_connection_call_with_unix_fd_list(
      i->bus, WV_LOGIND_NAME, WV_LOGIND_PATH, WV_LOGIND_IFACE, "Inhibit",
      g_variant_new("(ssss)", i->what, "winvm", i->why, i->mode), G_VARIANT_TYPE("(h)"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, i->cancellable, inhibited, r);
}

void
wv_inhibitor_release(WvInhibitor *i)
{
  i->wanted = FALSE;
  close_fd(i);
}

void
wv_inhibitor_reset(WvInhibitor *i)
{
  wv_inhibitor_release(i);
  i->asking = FALSE;
  i->serial++;
}

gboolean
wv_inhibitor_held(WvInhibitor *i)
{
  return i->fd >= 0;
}

WvInhibitor *
wv_inhibitor_new(GDBusConnection *bus, const char *what, const char *mode, const char *why)
{
  WvInhibitor *i = g_new0(WvInhibitor, 1);

  i->bus = g_object_ref(bus);
  i->what = g_strdup(what);
  i->mode = g_strdup(mode);
  i->why = g_strdup(why);
  i->fd = -1;
  i->cancellable = g_cancellable_new();
  return i;
}

void
wv_inhibitor_free(WvInhibitor *i)
{
  if (i == NULL)
    return;
  g_cancellable_cancel(i->cancellable);
  close_fd(i);
  g_object_unref(i->cancellable);
  g_object_unref(i->bus);
  g_free(i->what);
  g_free(i->mode);
  g_free(i->why);
  g_free(i);
}

/* ---- InhibitDelayMaxUSec ------------------------------------------------- */

static void
got_delay_max(GObject *source, GAsyncResult *result, gpointer data)
{
  guint64 *usec = data;
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
    *usec = g_variant_get_uint64(value);
}

void
wv_logind_read_delay_max(GDBusConnection *bus, GCancellable *cancellable, guint64 *usec)
{
  g_dbus_connection_call(bus, WV_LOGIND_NAME, WV_LOGIND_PATH, "org.freedesktop.DBus.Properties",
                         "Get", g_variant_new("(ss)", WV_LOGIND_IFACE, "InhibitDelayMaxUSec"),
                         G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, cancellable,
                         got_delay_max, usec);
}

guint
wv_logind_delay_cap(guint64 delay_max_usec)
{
  guint max_s = (guint)MIN(delay_max_usec / G_USEC_PER_SEC, G_MAXUINT);

  if (delay_max_usec == 0)
    return 0;
  /* a second to spare, when there is one */
  return max_s > 2 ? max_s - 1 : MAX(max_s, 1);
}
