/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Where winvmd finds and keeps things: profiles, libvirt, the host's sysfs
 * and /proc (fake trees in tests), its runtime and state directories and the
 * templates. Set once from the command line and shared by every thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *config_dir;
  char *libvirt_uri;
  char *sysfs_root;
  char *proc_root;
  char *runtime_dir; /* hugepage reservations */
  char *state_dir;   /* tuning done over D-Bus */
  char *template_dir;
  char *host_config; /* winvm.conf: which host paths a guest may get */
} WvConfig;

/* Shared, immutable, reference counted: worker threads keep their own
 * reference, so a task still running at exit never reads freed memory. */
WvConfig *wv_config_copy(const WvConfig *config);
WvConfig *wv_config_ref(WvConfig *config);
void wv_config_unref(WvConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvConfig, wv_config_unref)

G_END_DECLS
