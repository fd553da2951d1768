/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host sleep's decisions (wv-sleep-policy.c) on plain values: which inhibitor a
 * VM needs in each state, and what PrepareForSleep(true) does to it. The
 * logind side is tested against python-dbusmock's logind (integration).
 */
#include "wv-common.h"
#include "wv-inhibitor.h"
#include "wv-sleep-policy.h"
#include "wv-test.h"

static const WvVmState all_states[] = {
    WV_VM_STATE_UNKNOWN, WV_VM_STATE_UNDEFINED, WV_VM_STATE_SHUT_OFF,      WV_VM_STATE_STARTING,
    WV_VM_STATE_RUNNING, WV_VM_STATE_PAUSED,    WV_VM_STATE_SHUTTING_DOWN, WV_VM_STATE_SAVED,
    WV_VM_STATE_CRASHED, WV_VM_STATE_SUSPENDED,
};

static const WvHostSleep all_policies[] = {
    WV_HOST_SLEEP_BLOCK,
    WV_HOST_SLEEP_SAVE,
    WV_HOST_SLEEP_PAUSE,
    WV_HOST_SLEEP_IGNORE,
};

/* An inhibitor only while the VM runs (or is paused, or shutting down):
 * block for `block`, delay for `save` and `pause`, none for `ignore`. */
static void
test_need(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(all_policies); i++) {
    WvHostSleep p = all_policies[i];
    WvSleepNeed when_running = p == WV_HOST_SLEEP_BLOCK    ? WV_SLEEP_NEED_BLOCK
                               : p == WV_HOST_SLEEP_IGNORE ? WV_SLEEP_NEED_NOTHING
                                                           : WV_SLEEP_NEED_DELAY;

    for (guint j = 0; j < G_N_ELEMENTS(all_states); j++) {
      WvVmState s = all_states[j];
      gboolean runs =
          s == WV_VM_STATE_RUNNING || s == WV_VM_STATE_PAUSED || s == WV_VM_STATE_SHUTTING_DOWN;

      g_test_message("%s, %s", wv_host_sleep_name(p), wv_vm_state_name(s));
      g_assert_cmpint(wv_sleep_need(p, s), ==, runs ? when_running : WV_SLEEP_NEED_NOTHING);
    }
  }
}

/* `pause` pauses a running VM only (one the user paused is left, and so
 * not resumed on wake); `save` saves a running or paused one; nothing
 * else is touched, nor a VM starting or shutting down. */
static void
test_action(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(all_policies); i++) {
    WvHostSleep p = all_policies[i];

    for (guint j = 0; j < G_N_ELEMENTS(all_states); j++) {
      WvVmState s = all_states[j];
      WvSleepAction want = WV_SLEEP_LEAVE;

      if (p == WV_HOST_SLEEP_PAUSE && s == WV_VM_STATE_RUNNING)
        want = WV_SLEEP_PAUSE;
      if (p == WV_HOST_SLEEP_SAVE && (s == WV_VM_STATE_RUNNING || s == WV_VM_STATE_PAUSED))
        want = WV_SLEEP_SAVE;
      g_test_message("%s, %s", wv_host_sleep_name(p), wv_vm_state_name(s));
      g_assert_cmpint(wv_sleep_action(p, s), ==, want);
    }
  }
  g_assert_cmpstr(wv_sleep_action_name(WV_SLEEP_PAUSE), ==, "paused");
  g_assert_cmpstr(wv_sleep_action_name(WV_SLEEP_SAVE), ==, "saved");
  g_assert_cmpstr(wv_sleep_action_name(WV_SLEEP_LEAVE), ==, "");
}

/* A profile's on-host-sleep reaches the decisions as written, and by
 * default blocks only with a passed-through device. */
static void
test_profiles(void)
{
  g_autoptr(WvProfile) plain = wv_test_profile("[vm]\nname = p\n");
  g_autoptr(WvProfile) gpu = wv_test_profile("[vm]\nname = g\n[hostdev:gpu]\npci = 0f:00.0\n");

  g_assert_cmpint(wv_sleep_need(plain->on_host_sleep, WV_VM_STATE_RUNNING), ==,
                  WV_SLEEP_NEED_NOTHING);
  g_assert_cmpint(wv_sleep_action(plain->on_host_sleep, WV_VM_STATE_RUNNING), ==, WV_SLEEP_LEAVE);
  g_assert_cmpint(wv_sleep_need(gpu->on_host_sleep, WV_VM_STATE_RUNNING), ==, WV_SLEEP_NEED_BLOCK);
  g_assert_cmpint(wv_sleep_need(gpu->on_host_sleep, WV_VM_STATE_SHUT_OFF), ==,
                  WV_SLEEP_NEED_NOTHING);
  g_assert_cmpint(wv_sleep_action(gpu->on_host_sleep, WV_VM_STATE_RUNNING), ==, WV_SLEEP_LEAVE);
}

/* Work under a delay lock ends a second before logind stops waiting. */
static void
test_delay_cap(void)
{
  g_assert_cmpuint(wv_logind_delay_cap(0), ==, 0);
  g_assert_cmpuint(wv_logind_delay_cap(5 * G_USEC_PER_SEC), ==, 4);
  g_assert_cmpuint(wv_logind_delay_cap(3 * G_USEC_PER_SEC), ==, 2);
  g_assert_cmpuint(wv_logind_delay_cap(2 * G_USEC_PER_SEC), ==, 2);
  g_assert_cmpuint(wv_logind_delay_cap(1 * G_USEC_PER_SEC), ==, 1);
  g_assert_cmpuint(wv_logind_delay_cap(G_USEC_PER_SEC / 2), ==, 1);
  g_assert_cmpuint(wv_logind_delay_cap(G_MAXUINT64), ==, G_MAXUINT - 1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sleep/need", test_need);
  g_test_add_func("/sleep/action", test_action);
  g_test_add_func("/sleep/profiles", test_profiles);
  g_test_add_func("/sleep/delay-cap", test_delay_cap);
  return g_test_run();
}
