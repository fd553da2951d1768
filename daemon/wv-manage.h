/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Profiles managed through winvmd: create (from text, from a template and
 * settings, from a libvirt domain), read, replace, edit settings, delete.
 * Every write is validated like the directory's files (wv-store.h), written
 * atomically in a worker, then the registry reloads, so the VM appears,
 * changes or vanishes as after a Reload. No D-Bus here: the faces call it.
 */
#pragma once

#include <gio/gio.h>

#include "wv-daemon.h"

G_BEGIN_DECLS

typedef struct
{
  char *name;             /* the VM written or read */
  char *text, *etag;      /* get */
  GPtrArray *not_carried; /* import: char*, what the profile cannot say */
} WvManageResult;

/* Main thread. @result is NULL with @error. */
typedef void (*WvManageDone)(const WvManageResult *result, const GError *error, gpointer data);

/* Settings (a{sv}: "memory", "vcpus", ... see org.winvm1.VM.Set) are
 * checked before a call is authorized: InvalidArgs names an unknown one or
 * a value of the wrong type. */
gboolean wv_manage_check_settings(GVariant *settings, GError **error);

/* @root: the caller is uid 0 (it may write raw-qemu, wv_store_validate()). */
void wv_manage_create(WvDaemon *daemon, const char *name, const char *text, gboolean root,
                      WvManageDone done, gpointer data);
void wv_manage_create_from(WvDaemon *daemon, const char *name, const char *template_name,
                           GVariant *settings, gboolean root, WvManageDone done, gpointer data);
/* @source: a libvirt domain's name, or a domain XML document ("<..."). An
 * empty @name takes the domain's. */
void wv_manage_import(WvDaemon *daemon, const char *name, const char *source, gboolean root,
                      WvManageDone done, gpointer data);
void wv_manage_get(WvDaemon *daemon, const char *name, WvManageDone done, gpointer data);
void wv_manage_replace(WvDaemon *daemon, const char *name, const char *text, const char *etag,
                       gboolean root, WvManageDone done, gpointer data);
void wv_manage_set(WvDaemon *daemon, const char *name, GVariant *settings, gboolean root,
                   WvManageDone done, gpointer data);
/* Moves the profile aside; with @undefine also undefines its libvirt
 * domain when it is winvm's (NVRAM and disks are kept). Busy while the VM
 * runs. */
void wv_manage_delete(WvDaemon *daemon, const char *name, gboolean undefine, WvManageDone done,
                      gpointer data);

G_END_DECLS
