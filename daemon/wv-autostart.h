/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Boot autostart: the VMs with autostart = true, in order, once per boot.
 */
#pragma once

#include "wv-daemon.h"

G_BEGIN_DECLS

typedef struct _WvAutostart WvAutostart;

WvAutostart *wv_autostart_new(WvDaemon *daemon);
void wv_autostart_free(WvAutostart *autostart);
/* Starts the VMs, unless it already ran since boot. */
void wv_autostart_run(WvAutostart *autostart);
/* The host is going down: start nothing more. */
void wv_autostart_cancel(WvAutostart *autostart);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvAutostart, wv_autostart_free)

G_END_DECLS
