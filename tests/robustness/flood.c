/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * flood: the hostile local user of issue 12. Opens --connections bus
 * connections and keeps --in-flight calls of --method (Plan, Check or
 * Render) of --vm in flight on each, sending the next one as soon as one
 * is answered, for --seconds. One thread, one main loop: the load is the
 * calls, not this program.
 *
 * SIGTERM ends it early. Prints one JSON object: connections opened, calls answered, answers by
 * kind ("ok" or the D-Bus error name), and calls still in flight at the
 * end (not waited for).
 */
#include "wv-common.h"

#include <glib-unix.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct
{
  GDBusConnection *bus;
  guint in_flight;
} Conn;

static const char *method = "Plan";
static const char *vm = "alpha";
static gboolean stopping;
static guint64 answered;
static GHashTable *kinds; /* name -> count */
static GMainLoop *loop;
static guint open_calls;

static void send_one(Conn *c);

static void
count(const char *kind)
{
  gpointer n = g_hash_table_lookup(kinds, kind);

  g_hash_table_insert(kinds, g_strdup(kind), GSIZE_TO_POINTER(GPOINTER_TO_SIZE(n) + 1));
}

static void
replied(GObject *source, GAsyncResult *result, gpointer data)
{
  Conn *c = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(c->bus, result, &error);

  c->in_flight--;
  open_calls--;
  answered++;
  if (reply) {
    count("ok");
  } else {
    g_autofree char *name = g_dbus_error_get_remote_error(error);
    count(name ? name : error->message);
  }
  if (!stopping)
    send_one(c);
  else if (open_calls == 0)
    g_main_loop_quit(loop);
}

static void
send_one(Conn *c)
{
  c->in_flight++;
  open_calls++;
  g_dbus_connection_call(c->bus, WV_BUS_NAME, WV_MANAGER_PATH, WV_MANAGER_INTERFACE, method,
                         g_variant_new("(s)", vm), NULL, G_DBUS_CALL_FLAGS_NONE, 120000, NULL,
                         replied, c);
}

static gboolean
quit(gpointer data)
{
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

static gboolean
stop(gpointer data)
{
  if (stopping)
    return G_SOURCE_REMOVE;
  stopping = TRUE;
  /* answers still coming are counted (winvmd holds its refusals back for
   * up to WV_LIMITS' hold time); then we leave */
  if (open_calls == 0)
    g_main_loop_quit(loop);
  g_timeout_add(30000, quit, NULL);
  return G_SOURCE_REMOVE;
}

int
main(int argc, char **argv)
{
  g_autofree char *address = NULL;
  gint connections = 64, in_flight = 100;
  gdouble seconds = 10;
  g_autoptr(GOptionContext) octx = g_option_context_new("- flood winvmd with reads");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) conns = g_ptr_array_new();
  const GOptionEntry entries[] = {
      {"address", 0, 0, G_OPTION_ARG_STRING, &address, "Bus address", "ADDRESS"},
      {"connections", 0, 0, G_OPTION_ARG_INT, &connections, "Bus connections (64)", "N"},
      {"in-flight", 0, 0, G_OPTION_ARG_INT, &in_flight, "Calls in flight on each (100)", "N"},
      {"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "How long (10)", "S"},
      {"method", 0, 0, G_OPTION_ARG_STRING, &method, "Plan, Check or Render", "NAME"},
      {"vm", 0, 0, G_OPTION_ARG_STRING, &vm, "The VM (alpha)", "NAME"},
      G_OPTION_ENTRY_NULL,
  };
  GHashTableIter iter;
  gpointer key, value;
  gboolean first = TRUE;

  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, &error) || address == NULL) {
    g_printerr("flood: %s\n", error ? error->message : "--address is needed");
    return 2;
  }
  kinds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  loop = g_main_loop_new(NULL, FALSE);
  for (gint i = 0; i < connections; i++) {
    GDBusConnection *bus =
        g_dbus_connection_new_for_address_sync(address,
                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                               NULL, NULL, &error);
    Conn *c;

    if (bus == NULL) {
      g_printerr("flood: connection %d: %s\n", i, error->message);
      g_clear_error(&error);
      break;
    }
    c = g_new0(Conn, 1);
    c->bus = bus;
    g_ptr_array_add(conns, c);
  }
  for (guint i = 0; i < conns->len; i++)
    for (gint j = 0; j < in_flight; j++)
      send_one(conns->pdata[i]);
  g_timeout_add((guint)(seconds * 1000), stop, NULL);
  g_unix_signal_add(SIGTERM, stop, NULL);
  g_main_loop_run(loop);

  printf("{\"connections\": %u, \"in_flight_per_connection\": %d, \"answered\": %" G_GUINT64_FORMAT
         ", \"unanswered\": %u, \"answers\": {",
         conns->len, in_flight, answered, open_calls);
  g_hash_table_iter_init(&iter, kinds);
  while (g_hash_table_iter_next(&iter, &key, &value)) {
    printf("%s\"%s\": %" G_GSIZE_FORMAT, first ? "" : ", ", (const char *)key,
           GPOINTER_TO_SIZE(value));
    first = FALSE;
  }
  printf("}}\n");
  fflush(stdout);
  _exit(0); /* the connections go with the process */
}
