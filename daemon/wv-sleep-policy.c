/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-sleep-policy.h"

WvSleepNeed
wv_sleep_need(WvHostSleep policy, WvVmState state)
{
  if (!wv_vm_state_is_active(state))
    return WV_SLEEP_NEED_NOTHING;
  switch (policy) {
    case WV_HOST_SLEEP_BLOCK:
      return WV_SLEEP_NEED_BLOCK;
    case WV_HOST_SLEEP_SAVE:
    case WV_HOST_SLEEP_PAUSE:
      return WV_SLEEP_NEED_DELAY;
    case WV_HOST_SLEEP_DEFAULT:
    case WV_HOST_SLEEP_IGNORE:
    default:
      return WV_SLEEP_NEED_NOTHING;
  }
}

WvSleepAction
wv_sleep_action(WvHostSleep policy, WvVmState state)
{
  if (policy == WV_HOST_SLEEP_PAUSE && state == WV_VM_STATE_RUNNING)
    return WV_SLEEP_PAUSE;
  /* a paused VM is saved paused, and comes back paused */
  if (policy == WV_HOST_SLEEP_SAVE && (state == WV_VM_STATE_RUNNING || state == WV_VM_STATE_PAUSED))
    return WV_SLEEP_SAVE;
  return WV_SLEEP_LEAVE;
}

const char *
wv_sleep_action_name(WvSleepAction action)
{
  return action == WV_SLEEP_PAUSE ? "paused" : action == WV_SLEEP_SAVE ? "saved" : "";
}
