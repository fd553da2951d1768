/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wv-dbus.c alone, on a private bus: a method table dispatches to prepare
 * and start (or InvalidArgs), a worker replies, and the property table
 * answers Get/GetAll and announces exactly what changed.
 */
#include "config.h"

#include "wv-common.h"
#include "wv-dbus.h"

static const char introspection[] =
    "<node><interface name='org.winvm1.Test'>"
    "<method name='Echo'><arg direction='in' type='s'/><arg direction='out' type='s'/></method>"
    "<method name='Work'><arg direction='in' type='b'/><arg direction='out' type='s'/></method>"
    "<method name='Missing'/>"
    "<property name='Count' type='u' access='read'/>"
    "<property name='Label' type='s' access='read'/>"
    "</interface></node>";

typedef struct
{
  guint count;
  const char *label;
  WvDBusProperties properties;
} Thing;

typedef struct
{
  GDBusMethodInvocation *invocation;
  char *text;
  gboolean fail;
} Call;

static void
call_free(Call *c)
{
  g_object_unref(c->invocation);
  g_free(c->text);
  g_free(c);
}

static gpointer
echo_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
             GDBusMethodInvocation *invocation, GError **error)
{
  const char *text;
  Call *c;

  g_variant_get(params, "(&s)", &text);
  if (text[0] == '\0') {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "say something");
    return NULL;
  }
  c = g_new0(Call, 1);
  c->invocation = g_object_ref(invocation);
  c->text = g_strdup(text);
  return c;
}

static void
echo_start(gpointer call)
{
  Call *c = call;

  g_dbus_method_invocation_return_value(c->invocation, g_variant_new("(s)", c->text));
  call_free(c);
}

static gpointer
work_prepare(gpointer object, const WvDBusMethod *method, GVariant *params,
             GDBusMethodInvocation *invocation, GError **error)
{
  Call *c = g_new0(Call, 1);

  g_variant_get(params, "(b)", &c->fail);
  c->invocation = g_object_ref(invocation);
  return c;
}

static GVariant *
work(gpointer data, GError **error)
{
  Call *c = data;

  g_assert_false(g_main_context_is_owner(g_main_context_default()));
  if (c->fail) {
    g_set_error(error, WV_ERROR, WV_ERROR_BUSY, "too busy");
    return NULL;
  }
  return g_variant_new("(s)", "worked");
}

static void
work_start(gpointer call)
{
  Call *c = call;

  wv_dbus_reply_from_thread(c->invocation, work, c, (GDestroyNotify)call_free);
}

static const WvDBusMethod methods[] = {
    {"Echo", NULL, echo_prepare, echo_start, NULL, NULL},
    {"Work", NULL, work_prepare, work_start, NULL, NULL},
};

static GVariant *
get_count(gpointer object)
{
  return g_variant_new_uint32(((Thing *)object)->count);
}

static GVariant *
get_label(gpointer object)
{
  return g_variant_new_string(((Thing *)object)->label);
}

static const WvDBusProperty properties[] = {
    {"Count", get_count},
    {"Label", get_label},
    {NULL, NULL},
};

static void
method_call(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
            const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  wv_dbus_dispatch(methods, G_N_ELEMENTS(methods), data, method, params, invocation);
}

static GVariant *
get_property(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *name, GError **error, gpointer data)
{
  return wv_dbus_property_get(properties, data, name, error);
}

static const GDBusInterfaceVTable vtable = {
    .method_call = method_call,
    .get_property = get_property,
};

typedef struct
{
  GTestDBus *dbus;
  GDBusConnection *server, *client;
  GDBusNodeInfo *info;
  guint id, subscription;
  Thing thing;
  GPtrArray *signals; /* GVariant*: the changed a{sv} of each PropertiesChanged */
} Fixture;

static void
on_properties_changed(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                      const char *signal, GVariant *params, gpointer data)
{
  Fixture *f = data;

  g_ptr_array_add(f->signals, g_variant_get_child_value(params, 1));
}

static GDBusConnection *
connect_to(const char *address)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *c =
      g_dbus_connection_new_for_address_sync(address,
                                             G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                             NULL, NULL, &error);

  g_assert_no_error(error);
  return c;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  wv_error_quark(); /* the error names */
  f->dbus = g_test_dbus_new(G_TEST_DBUS_NONE);
  g_test_dbus_up(f->dbus);
  f->server = connect_to(g_test_dbus_get_bus_address(f->dbus));
  f->client = connect_to(g_test_dbus_get_bus_address(f->dbus));
  f->info = g_dbus_node_info_new_for_xml(introspection, &error);
  g_assert_no_error(error);
  f->thing.label = "one";
  f->thing.properties.table = properties;
  wv_dbus_properties_get_all(&f->thing.properties, &f->thing);
  f->id = g_dbus_connection_register_object(f->server, "/test", f->info->interfaces[0], &vtable,
                                            &f->thing, NULL, &error);
  g_assert_no_error(error);
  f->signals = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
  f->subscription = g_dbus_connection_signal_subscribe(
      f->client, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged", "/test", NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, f, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_dbus_connection_signal_unsubscribe(f->client, f->subscription);
  g_dbus_connection_unregister_object(f->server, f->id);
  wv_dbus_properties_clear(&f->thing.properties);
  g_ptr_array_unref(f->signals);
  g_dbus_node_info_unref(f->info);
  g_object_unref(f->client);
  g_object_unref(f->server);
  g_test_dbus_down(f->dbus);
  g_object_unref(f->dbus);
}

typedef struct
{
  gboolean done;
  GVariant *reply;
  GError *error;
} Reply;

static void
replied(GObject *source, GAsyncResult *result, gpointer data)
{
  Reply *r = data;

  r->reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &r->error);
  r->done = TRUE;
}

/* Calls @method on the test object and runs the main loop for the answer. */
static GVariant *
call(Fixture *f, const char *iface, const char *method, GVariant *params, GError **error)
{
  Reply r = {0};
  const char *name = g_dbus_connection_get_unique_name(f->server);

  g_dbus_connection_call(f->client, name, "/test", iface, method, params, NULL,
                         G_DBUS_CALL_FLAGS_NONE, 5000, NULL, replied, &r);
  while (!r.done)
    g_main_context_iteration(NULL, TRUE);
  if (r.error)
    g_propagate_error(error, r.error);
  return r.reply;
}

/* Lets signals in flight arrive: a round trip through the server. */
static void
sync_signals(Fixture *f)
{
  g_autoptr(GVariant) v = call(f, "org.freedesktop.DBus.Peer", "Ping", NULL, NULL);
}

static void
test_method(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) echo = call(f, "org.winvm1.Test", "Echo", g_variant_new("(s)", "hi"), &error);
  g_autoptr(GVariant) refused = NULL;
  g_autoptr(GVariant) missing = NULL;

  g_assert_no_error(error);
  g_assert_cmpstr(g_variant_get_type_string(echo), ==, "(s)");
  g_assert_true(g_variant_equal(echo, g_variant_new("(s)", "hi")));

  /* prepare refuses: its error goes back, start never runs */
  refused = call(f, "org.winvm1.Test", "Echo", g_variant_new("(s)", ""), &error);
  g_assert_null(refused);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
  g_clear_error(&error);

  /* introspected but not in the table */
  missing = call(f, "org.winvm1.Test", "Missing", NULL, &error);
  g_assert_null(missing);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
  g_assert_true(strstr(error->message, "no method Missing") != NULL);
}

static void
test_worker(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) ok = call(f, "org.winvm1.Test", "Work", g_variant_new("(b)", FALSE), &error);
  g_autoptr(GVariant) failed = NULL;

  g_assert_no_error(error);
  g_assert_true(g_variant_equal(ok, g_variant_new("(s)", "worked")));
  failed = call(f, "org.winvm1.Test", "Work", g_variant_new("(b)", TRUE), &error);
  g_assert_null(failed);
  g_assert_error(error, WV_ERROR, WV_ERROR_BUSY);
}

static void
test_properties(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) label = NULL;
  g_autoptr(GVariant) changed = NULL;
  g_autoptr(GVariant) value = NULL;

  all = call(f, "org.freedesktop.DBus.Properties", "GetAll",
             g_variant_new("(s)", "org.winvm1.Test"), &error);
  g_assert_no_error(error);
  {
    g_autoptr(GVariant) dict = g_variant_get_child_value(all, 0);
    g_assert_cmpuint(g_variant_n_children(dict), ==, 2);
  }

  /* nothing changed: nothing said */
  wv_dbus_properties_update(&f->thing.properties, &f->thing, f->server, "/test", "org.winvm1.Test");
  sync_signals(f);
  g_assert_cmpuint(f->signals->len, ==, 0);

  /* one changed: only it is said, and GetAll's cache follows */
  f->thing.label = "two";
  wv_dbus_properties_update(&f->thing.properties, &f->thing, f->server, "/test", "org.winvm1.Test");
  sync_signals(f);
  g_assert_cmpuint(f->signals->len, ==, 1);
  changed = g_variant_ref(f->signals->pdata[0]);
  g_assert_cmpuint(g_variant_n_children(changed), ==, 1);
  value = g_variant_lookup_value(changed, "Label", G_VARIANT_TYPE_STRING);
  g_assert_cmpstr(g_variant_get_string(value, NULL), ==, "two");
  {
    g_autoptr(GVariant) cached = g_variant_lookup_value(
        wv_dbus_properties_get_all(&f->thing.properties, &f->thing), "Label", NULL);
    g_assert_true(g_variant_equal(cached, value));
  }

  /* Get reads the object, and an unknown name is InvalidArgs */
  label = wv_dbus_property_get(properties, &f->thing, "Label", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(g_variant_get_string(label, NULL), ==, "two");
  g_assert_null(wv_dbus_property_get(properties, &f->thing, "Nope", &error));
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/dbus/method", Fixture, NULL, fixture_setup, test_method, fixture_teardown);
  g_test_add("/dbus/worker", Fixture, NULL, fixture_setup, test_worker, fixture_teardown);
  g_test_add("/dbus/properties", Fixture, NULL, fixture_setup, test_properties, fixture_teardown);
  return g_test_run();
}
