/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host sleep's decisions for one VM, on plain values: which logind sleep
 * inhibitor its [vm] on-host-sleep needs in a state, and what the host's
 * sleep does to it. wv-sleep.c carries them out; the VM's face shows
 * BlockingSleep from them.
 */
#pragma once

#include "wv-domain.h"
#include "wv-profile.h"

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

G_END_DECLS
