/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Authorization of D-Bus callers. Each check is a small chain of async
 * steps on the caller's main context, carried by one GTask:
 *
 *   GetConnectionUnixUser(sender) ── uid 0 ──────────────────────► allowed
 *            │ other uid
 *            ▼
 *   org.freedesktop.PolicyKit1.Authority.CheckAuthorization ─► allowed / denied
 *
 * Any failure on the way (the bus cannot say who the caller is, polkit is
 * not on the bus, polkit says no) is a denial with WV_ERROR_ACCESS_DENIED.
 *
 * polkit is asked on the bus directly, as libpolkit-gobject-1 would ask it
 * (same subject, details and flags): that library brought libsystemd,
 * libgcrypt and more into winvmd for one method call (about 0.1 MiB of
 * private memory in their relocations, tests/bench/README.md).
 */
#include "config.h"

#include "wv-auth.h"
#include "wv-common.h"

#define POLKIT_NAME  "org.freedesktop.PolicyKit1"
#define POLKIT_PATH  "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorization's flags (polkit's PolkitCheckAuthorizationFlags) */
#define POLKIT_ALLOW_USER_INTERACTION 1u

typedef struct
{
  GDBusMethodInvocation *invocation;
  GDBusConnection *connection;
  char *sender;
  char *action_id;
  gboolean interactive; /* the caller allowed a password prompt */
} WvAuthCheck;

static void
wv_auth_check_free(gpointer data)
{
  WvAuthCheck *check = data;

  g_clear_object(&check->invocation);
  g_clear_object(&check->connection);
  g_free(check->sender);
  g_free(check->action_id);
  g_free(check);
}

static void
auth_allow(GTask *task, const char *why)
{
  WvAuthCheck *check = g_task_get_task_data(task);

  g_debug("auth: %s may do %s (%s)", check->sender, check->action_id, why);
  g_task_return_boolean(task, TRUE);
}

/* Ends @task with a denial. @reason, when not NULL, is why the question
 * could not be answered (not why the answer was no). Takes @reason. */
static void
auth_deny(GTask *task, char *reason)
{
  WvAuthCheck *check = g_task_get_task_data(task);
  g_autofree char *owned_reason = reason;

  if (owned_reason != NULL) {
    g_debug("auth: %s may not do %s: %s", check->sender, check->action_id, owned_reason);
    g_task_return_new_error(task, WV_ERROR, WV_ERROR_ACCESS_DENIED, "not authorized for %s: %s",
                            check->action_id, owned_reason);
  } else {
    g_debug("auth: %s may not do %s", check->sender, check->action_id);
    g_task_return_new_error(task, WV_ERROR, WV_ERROR_ACCESS_DENIED, "not authorized for %s",
                            check->action_id);
  }
}

/* Ends @task with @error when it is a cancellation, and returns TRUE. */
static gboolean
auth_return_if_cancelled(GTask *task, GError **error)
{
  if (!g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  g_task_return_error(task, g_steal_pointer(error));
  return TRUE;
}

/* The message of @error without the "GDBus.Error:org.x.Y: " prefix. */
static char *
auth_error_message(const GError *error)
{
  g_autoptr(GError) copy = g_error_copy(error);

  g_dbus_error_strip_remote_error(copy);
  return g_strdup(copy->message);
}

/* polkit could not answer: denied, unless the check was cancelled. */
static void
auth_deny_unavailable(GTask *task, GError **error)
{
  g_autofree char *message = NULL;

  if (auth_return_if_cancelled(task, error))
    return;
  message = auth_error_message(*error);
  auth_deny(task, g_strdup_printf("polkit is not available: %s", message));
}

static void
on_authorization_checked(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean authorized, challenge;

  reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
  if (reply == NULL) {
    auth_deny_unavailable(task, &error);
    return;
  }
  g_variant_get(reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
  if (authorized)
    auth_allow(task, "polkit");
  else if (challenge)
    auth_deny(task, g_strdup("authentication is required"));
  else
    auth_deny(task, NULL);
}

/* Asks polkit about the caller of @task; takes @task. */
static void
auth_check_with_polkit(GTask *task)
{
  WvAuthCheck *check = g_task_get_task_data(task);
  GVariantBuilder subject;

  /* a PolkitSystemBusName, as polkit_system_bus_name_new() makes it */
  g_variant_builder_init(&subject, G_VARIANT_TYPE("a{sv}"));
  g_variant_builder_add(&subject, "{sv}", "name", g_variant_new_string(check->sender));
  g_dbus_connection_call(
      check->connection, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, "CheckAuthorization",
      g_variant_new("((sa{sv})sa{ss}us)", "system-bus-name", &subject, check->action_id, NULL,
                    check->interactive ? POLKIT_ALLOW_USER_INTERACTION : 0u, ""),
      G_VARIANT_TYPE("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE,
      G_MAXINT, /* a password prompt may take its time */
      g_task_get_cancellable(task), on_authorization_checked, task);
}

static void
on_unix_user(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint32 uid;

  reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
  if (reply == NULL) {
    g_autofree char *message = NULL;

    if (auth_return_if_cancelled(task, &error))
      return;
    message = auth_error_message(error);
    auth_deny(task, g_strdup_printf("cannot tell who the caller is: %s", message));
    return;
  }

  g_variant_get(reply, "(u)", &uid);
  if (uid == 0) {
    WvAuthCheck *check = g_task_get_task_data(task);

    g_object_set_data(G_OBJECT(check->invocation), "wv-auth-root", GINT_TO_POINTER(TRUE));
    auth_allow(task, "uid 0");
    return;
  }

  auth_check_with_polkit(g_steal_pointer(&task));
}

void
wv_auth_check_async(GDBusMethodInvocation *invocation, const char *action_id,
                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  WvAuthCheck *check;
  const char *sender;

  g_return_if_fail(G_IS_DBUS_METHOD_INVOCATION(invocation));
  g_return_if_fail(action_id != NULL);

  task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, wv_auth_check_async);

  sender = g_dbus_method_invocation_get_sender(invocation);
  check = g_new0(WvAuthCheck, 1);
  check->invocation = g_object_ref(invocation);
  check->connection = g_object_ref(g_dbus_method_invocation_get_connection(invocation));
  check->sender = g_strdup(sender != NULL ? sender : "(no sender)");
  check->action_id = g_strdup(action_id);
  /* a password prompt only for callers that said they can wait for one */
  check->interactive = (g_dbus_message_get_flags(g_dbus_method_invocation_get_message(invocation)) &
                        G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
  g_task_set_task_data(task, check, wv_auth_check_free);

  /* A peer-to-peer connection has no bus to ask who is calling. */
  if (sender == NULL) {
    auth_deny(task, g_strdup("the caller has no bus name"));
    return;
  }

  g_dbus_connection_call(
      check->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "GetConnectionUnixUser", g_variant_new("(s)", sender), G_VARIANT_TYPE("(u)"),
      G_DBUS_CALL_FLAGS_NONE, -1, cancellable, on_unix_user, g_steal_pointer(&task));
}

gboolean
wv_auth_check_finish(GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == wv_auth_check_async, FALSE);

  return g_task_propagate_boolean(G_TASK(result), error);
}

gboolean
wv_auth_caller_is_root(GDBusMethodInvocation *invocation)
{
  return g_object_get_data(G_OBJECT(invocation), "wv-auth-root") != NULL;
}
