/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The one path from a profile to its plan and findings: host facts (sysfs,
 * /proc, /dev/kvm), libvirt's view (kvm offered, domain capabilities, PCI
 * devices held by running domains), the tuning saved over D-Bus and what
 * else starts or stops the VM (wv-conflicts.h, read below config->host_root).
 * Start, D-Bus Check/Plan/Render and `winvmd --check/--render` all plan
 * through here, so they can never disagree.
 */
#pragma once

#include <libvirt/libvirt.h>

#include "wv-config.h"
#include "wv-host.h"
#include "wv-host-cache.h"
#include "wv-plan.h"
#include "wv-profile.h"

G_BEGIN_DECLS

typedef enum
{
  WV_PREFLIGHT_DEFAULT = 0,
  /* Plan for some other host: no host facts, no libvirt, no saved tuning;
   * the render is exactly what the profile says. */
  WV_PREFLIGHT_NO_HOST_CHECKS = 1 << 0,
} WvPreflightFlags;

/* A cache of the host facts under @config's sysfs and /proc roots, for
 * WvConfig.host_cache. */
WvHostCache *wv_preflight_host_cache_new(const WvConfig *config);

/* The host's facts under @config's sysfs and /proc roots (blocking): from
 * its host cache when it has one (what is read fresh: wv-host-cache.h). */
WvHost *wv_preflight_host(const WvConfig *config, GError **error);

/* Blocking (sysfs reads, libvirt calls): call it from a worker thread.
 * @conn may be NULL: no libvirt facts. @host_out, when not NULL, receives
 * the host facts the plan was made against (NULL when unreadable). */
WvPlan *wv_preflight(const WvConfig *config, const WvProfile *profile, virConnectPtr conn,
                     WvPreflightFlags flags, WvHost **host_out);

G_END_DECLS
