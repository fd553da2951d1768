/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The small dispatch helper both D-Bus faces (Manager and VM) use: a method
 * table (prepare -> the caller's limits -> polkit action -> start, which
 * replies now or from a worker) and a property table with a cached GetAll
 * and one PropertiesChanged diff.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _WvDBusMethod WvDBusMethod;

struct _WvDBusMethod
{
  const char *name;
  const char *action; /* polkit action; NULL: anyone may call it */
  /* Main thread: checks @params and returns the call's state, or NULL and
   * @error (the caller gets @error). */
  gpointer (*prepare)(gpointer object, const WvDBusMethod *method, GVariant *params,
                      GDBusMethodInvocation *invocation, GError **error);
  /* Main thread, once admitted and authorized: does it and replies, now or
   * later. */
  void (*start)(gpointer call);
  /* The caller's limits (wv-limits.h) or authorization refused it: replies
   * @error and frees @call. */
  void (*refuse)(gpointer call, GError *error);
  gconstpointer data; /* the face's own, per method */
  gboolean unlimited; /* the host-shutdown path: never counted nor refused */
};

/* Finds @name in @table (@n entries) and runs it, or replies InvalidArgs.
 * When limits are installed on the invocation's connection, the call is
 * counted against its caller's, or refused. */
void wv_dbus_dispatch(const WvDBusMethod *table, gsize n, gpointer object, const char *name,
                      GVariant *params, GDBusMethodInvocation *invocation);

/* Runs @work(@data) in a worker thread on the read lane (wv-worker.h)
 * and replies with what it returns (a tuple, or NULL and an error); then
 * frees @data. */
typedef GVariant *(*WvDBusWork)(gpointer data, GError **error);
void wv_dbus_reply_from_thread(GDBusMethodInvocation *invocation, WvDBusWork work, gpointer data,
                               GDestroyNotify data_free);

typedef struct
{
  const char *name;
  GVariant *(*get)(gpointer object); /* new (floating) or a reference */
  /* values no two objects have alike (a name, a UUID): not pooled; every
   * other {name: value} entry is one instance shared by all objects whose
   * value is the same (read_all() in wv-dbus.c) */
  gboolean unique;
} WvDBusProperty;

/* One object's properties: @table (NULL-terminated) and what was last
 * read of them. */
typedef struct
{
  const WvDBusProperty *table;
  GVariant *all; /* a{sv}, NULL until read */
} WvDBusProperties;

/* Get: the value, or InvalidArgs for an unknown name. */
GVariant *wv_dbus_property_get(const WvDBusProperty *table, gpointer object, const char *name,
                               GError **error);
gboolean wv_dbus_property_exists(const WvDBusProperty *table, const char *name);
/* GetAll as a{sv}: built once per change (borrowed; valid until the next
 * update). */
GVariant *wv_dbus_properties_get_all(WvDBusProperties *props, gpointer object);
/* Reads the properties again and, when @bus is not NULL, emits
 * PropertiesChanged on @path for those that differ. */
void wv_dbus_properties_update(WvDBusProperties *props, gpointer object, GDBusConnection *bus,
                               const char *path, const char *iface);
void wv_dbus_properties_clear(WvDBusProperties *props);
/* Changes whenever any object's dictionary is replaced or dropped: a reply
 * built from several of them stays valid while this stays the same. */
guint wv_dbus_properties_generation(void);

G_END_DECLS
