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

G_BEGIN_DECLS

/* What the host's sleep asks of a VM with on-host-sleep @policy whose
 * shown state is @state. */
typedef enum
{
  WV_SLEEP_NEED_NOTHING,
  WV_SLEEP_NEED_BLOCK, /* it must not sleep while this VM runs */
  WV_SLEEP_NEED_DELAY, /* it must wait until this VM is paused or saved */
} WvSleepNeed;

typedef enum
{
  WV_SLEEP_LEAVE,
  WV_SLEEP_PAUSE, /* suspend now, resume on wake */
  WV_SLEEP_SAVE,  /* managed save now, start (restore) on wake */
} WvSleepAction;

/* Which inhibitor a VM needs: only while it runs (or is paused). */
WvSleepNeed wv_sleep_need(WvHostSleep policy, WvVmState state);
/* What PrepareForSleep(true) does to it: a VM the user paused stays as it
 * is under `pause` (and is not resumed on wake); `save` saves it paused. */
WvSleepAction wv_sleep_action(WvHostSleep policy, WvVmState state);
/* "paused", "saved", "" */
const char *wv_sleep_action_name(WvSleepAction action);

typedef struct _WvSleep WvSleep;

WvSleep *wv_sleep_new(WvDaemon *daemon, GDBusConnection *bus);
void wv_sleep_free(WvSleep *sleep);
/* A VM changed or went: the inhibitors are decided again (soon, once for
 * many changes). */
void wv_sleep_update(WvSleep *sleep);

G_END_DECLS
