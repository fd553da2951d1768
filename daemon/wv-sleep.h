/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host sleep: each running VM's [vm] on-host-sleep. logind's sleep *block*
 * inhibitor is held while a VM with `block` runs, its sleep *delay*
 * inhibitor while one with `save` or `pause` runs; on PrepareForSleep(true)
 * those are paused or managed-saved, and on PrepareForSleep(false) what
 * winvm paused is resumed and what it saved started again.
 */
#pragma once

#include "wv-daemon.h"
#include "wv-sleep-policy.h"

G_BEGIN_DECLS

typedef struct _WvSleep WvSleep;

WvSleep *wv_sleep_new(WvDaemon *daemon, GDBusConnection *bus);
void wv_sleep_free(WvSleep *sleep);
/* A VM changed or went: the inhibitors are decided again (soon, once for
 * many changes). */
void wv_sleep_update(WvSleep *sleep);

G_END_DECLS
