/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Other mechanisms that also start or stop a winvm VM, as plan warnings:
 * libvirt's own autostart flag on the VM's domain (libvirt-autostart), the
 * libvirt-guests service (libvirt-guests) and libvirt's native host
 * shutdown handling in qemu.conf, libvirt 11.2 and later
 * (qemu-auto-shutdown). Their settings are read from files below a host
 * root (tests: a fake tree), never from systemd or libvirt over a bus.
 * Preflight runs it on every plan made for this host.
 */
#pragma once

#include "wv-plan.h"
#include "wv-profile.h"

G_BEGIN_DECLS

/* libvirt 11.2.0 (virConnectGetLibVersion's encoding): the first with
 * qemu.conf's auto_shutdown_* settings */
#define WV_LIBVIRT_AUTO_SHUTDOWN_VERSION 11002000UL

typedef struct
{
  /* the directory standing for / (NULL: /): /etc, /usr/lib, /lib, /run */
  const char *host_root;
  /* the libvirt URI winvmd uses; NULL: qemu:///system (the service's) */
  const char *libvirt_uri;
  /* libvirt's version (virConnectGetLibVersion); 0: unknown */
  gulong libvirt_version;
  /* libvirt's autostart flag on the VM's own domain; UNSET: no domain, or
   * not known */
  WvTristate domain_autostart;
} WvConflictsContext;

/* Adds a warning to @plan for each mechanism that will also act on
 * @profile's VM (blocking: reads files). */
void wv_conflicts_check(WvPlan *plan, const WvProfile *profile, const WvConflictsContext *ctx);

G_END_DECLS
