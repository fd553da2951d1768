/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Where winvmd finds and keeps things: profiles, libvirt, the host's sysfs
 * and /proc (fake trees in tests), its runtime and state directories and the
 * templates. Set once from the command line and shared by every thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WV_HOST_CONFIG_MAX_SIZE       (64 * 1024)
#define WV_KEEPALIVE_INTERVAL_DEFAULT 5
#define WV_KEEPALIVE_COUNT_DEFAULT    3

typedef struct
{
  char *config_dir;
  char *libvirt_uri;
  char *sysfs_root;
  char *proc_root;
  /* the directory standing for / when other programs' settings are read
   * (libvirt-guests, systemd's unit links, qemu.conf); NULL: / */
  char *host_root;
  char *runtime_dir; /* hugepage reservations, the host ledger */
  char *state_dir;   /* tuning done over D-Bus */
  char *template_dir;
  char *host_config; /* winvm.conf: which host paths a guest may get */
  /* winvm.conf [libvirt]: how soon a silent libvirtd counts as gone */
  guint keepalive_interval, keepalive_count;
  /* host facts kept between plans (wv-host-cache.h; thread-safe, shared by
   * copies), NULL: every plan probes the host afresh */
  struct _WvHostCache *host_cache;
  /* parsed domain templates (wv-template.h; thread-safe, shared by
   * copies), NULL: every render reads its template file */
  struct _WvTemplates *templates;
  /* what the host gives up while VMs run, and its ledger (wv-isolate.h;
   * thread-safe, shared by copies), NULL: the host is left alone */
  struct _WvIsolate *isolate;
} WvConfig;

/* Reads winvm.conf's [libvirt] group into @config (defaults when it is
 * absent); FALSE with @error, and the defaults kept, when it is broken. */
gboolean wv_config_load_libvirt(WvConfig *config, GError **error);

/* Shared, immutable, reference counted: worker threads keep their own
 * reference, so a task still running at exit never reads freed memory. */
WvConfig *wv_config_copy(const WvConfig *config);
WvConfig *wv_config_ref(WvConfig *config);
void wv_config_unref(WvConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvConfig, wv_config_unref)

G_END_DECLS
