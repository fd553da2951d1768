/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The stop ladder's decisions (wv-stop.c) and the profile keys that shape
 * it, on plain numbers: no libvirt, no clock.
 */
#include "wv-common.h"
#include "wv-stop.h"
#include "wv-test.h"

#define S G_USEC_PER_SEC

static WvStopLadder
ladder_for(const char *vm_keys, guint timeout_s)
{
  g_autofree char *text = g_strdup_printf("[vm]\nname = t\n%s", vm_keys);
  g_autoptr(WvProfile) p = wv_test_profile(text);
  WvStopLadder l;

  wv_stop_ladder_init(&l, p, timeout_s, 1000 * S);
  return l;
}

static void
test_defaults(void)
{
  g_autoptr(WvProfile) win = wv_test_profile("[vm]\nname = w\n");
  g_autoptr(WvProfile) minimal = wv_test_profile("[vm]\nname = m\ntemplate = minimal\n");
  g_autoptr(WvProfile) path = wv_test_profile("[vm]\nname = m\ntemplate = /x/windows10.xml\n");
  g_autoptr(WvProfile) ga =
      wv_test_profile("[vm]\nname = m\ntemplate = minimal\nguest-agent = yes\n");
  g_autoptr(WvProfile) noga = wv_test_profile("[vm]\nname = w\nguest-agent = no\n");

  g_assert_cmpuint(win->n_shutdown_methods, ==, 2);
  g_assert_cmpint(win->shutdown_methods[0], ==, WV_STOP_METHOD_AGENT);
  g_assert_cmpint(win->shutdown_methods[1], ==, WV_STOP_METHOD_ACPI);
  g_assert_cmpuint(win->acpi_repeat_s, ==, 15);
  g_assert_cmpint(win->on_timeout, ==, WV_ON_TIMEOUT_DESTROY);
  g_assert_cmpint(win->guest_agent, ==, WV_TRI_UNSET);
  g_assert_cmpuint(minimal->n_shutdown_methods, ==, 1);
  g_assert_cmpint(minimal->shutdown_methods[0], ==, WV_STOP_METHOD_ACPI);
  g_assert_cmpuint(path->n_shutdown_methods, ==, 2);
  g_assert_cmpuint(ga->n_shutdown_methods, ==, 2);
  g_assert_cmpuint(noga->n_shutdown_methods, ==, 1);
}

static void
test_keys(void)
{
  g_autoptr(WvProfile) p = wv_test_profile("[vm]\nname = k\ntemplate = minimal\n"
                                           "shutdown-method = agent, acpi\nacpi-repeat = 2s\n"
                                           "agent-timeout = 3\non-timeout = save\n");
  g_autofree char *dup = wv_test_profile_error("[vm]\nname = k\nshutdown-method = acpi,acpi\n");
  g_autofree char *order = wv_test_profile_error("[vm]\nname = k\nshutdown-method = acpi,agent\n");
  g_autofree char *bad = wv_test_profile_error("[vm]\nname = k\nshutdown-method = prayer\n");
  g_autofree char *timeout = wv_test_profile_error("[vm]\nname = k\non-timeout = pause\n");

  g_assert_cmpuint(p->n_shutdown_methods, ==, 2);
  g_assert_cmpuint(p->acpi_repeat_s, ==, 2);
  g_assert_cmpuint(p->agent_timeout_s, ==, 3);
  g_assert_cmpint(p->on_timeout, ==, WV_ON_TIMEOUT_SAVE);
  g_assert_nonnull(strstr(dup, "shutdown-method: “acpi” is listed twice"));
  g_assert_nonnull(strstr(order, "list agent first"));
  g_assert_nonnull(strstr(bad, "“prayer” is not one of: agent, acpi"));
  g_assert_nonnull(strstr(timeout, "on-timeout"));
}

/* agent connected: asked once, ACPI after agent-timeout, pressed again
 * every acpi-repeat, destroyed at the deadline */
static void
test_agent_then_acpi(void)
{
  WvStopLadder l =
      ladder_for("shutdown-method = agent,acpi\nacpi-repeat = 15\nagent-timeout = 10\n", 60);
  gint64 wake;

  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1000 * S, &wake), ==, WV_STOP_ASK_AGENT);
  g_assert_cmpint(l.step, ==, WV_STOP_STEP_AGENT);
  g_assert_cmpint(wake, ==, 1010 * S);
  g_assert_cmpint(wv_stop_ladder_end(&l), ==, WV_STOP_END_AGENT);
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1010 * S, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_cmpint(l.step, ==, WV_STOP_STEP_ACPI);
  g_assert_cmpuint(l.presses, ==, 1);
  g_assert_cmpint(wake, ==, 1025 * S);
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1025 * S, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1040 * S, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_cmpint(wake, ==, 1055 * S);
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1055 * S, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_cmpint(wake, ==, 1060 * S); /* never past the deadline */
  g_assert_cmpuint(l.presses, ==, 4);
  g_assert_cmpint(wv_stop_ladder_end(&l), ==, WV_STOP_END_ACPI);
  g_assert_true(l.agent_asked);
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1060 * S, &wake), ==, WV_STOP_FORCE);
  g_assert_cmpint(l.step, ==, WV_STOP_STEP_FORCING);
  g_assert_cmpint(wv_stop_ladder_end(&l), ==, WV_STOP_END_DESTROYED);
}

/* no agent connected: straight to ACPI, the agent never asked */
static void
test_no_agent(void)
{
  WvStopLadder l = ladder_for("shutdown-method = agent,acpi\nacpi-repeat = 2\n", 9);
  gint64 wake;

  g_assert_cmpint(wv_stop_ladder_next(&l, FALSE, 1000 * S, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_false(l.agent_asked);
  g_assert_cmpint(wake, ==, 1002 * S);
  /* the agent connecting later changes nothing: ACPI runs */
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1002 * S, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_cmpuint(l.presses, ==, 2);
  g_assert_cmpint(wv_stop_ladder_end(&l), ==, WV_STOP_END_ACPI);
}

/* the agent refused at once: the ladder is asked again now, and presses */
static void
test_agent_refused(void)
{
  WvStopLadder l = ladder_for("shutdown-method = agent,acpi\n", 60);
  gint64 wake;

  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1000 * S, &wake), ==, WV_STOP_ASK_AGENT);
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1000 * S + 1000, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_cmpuint(l.presses, ==, 1);
}

/* agent only: asked, then nothing but waiting; without an agent, waiting */
static void
test_agent_only(void)
{
  WvStopLadder l = ladder_for("shutdown-method = agent\n", 30);
  WvStopLadder none = ladder_for("shutdown-method = agent\n", 30);
  gint64 wake;

  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1000 * S, &wake), ==, WV_STOP_ASK_AGENT);
  g_assert_cmpint(wv_stop_ladder_next(&l, TRUE, 1010 * S, &wake), ==, WV_STOP_WAIT);
  g_assert_cmpint(wake, ==, 1030 * S);
  g_assert_cmpint(wv_stop_ladder_end(&l), ==, WV_STOP_END_AGENT);
  g_assert_cmpint(wv_stop_ladder_next(&none, FALSE, 1000 * S, &wake), ==, WV_STOP_WAIT);
  g_assert_cmpint(wv_stop_ladder_end(&none), ==, WV_STOP_END_OFF);
}

static void
test_save_at_deadline(void)
{
  WvStopLadder l = ladder_for("shutdown-method = acpi\non-timeout = save\n", 5);
  gint64 wake;

  g_assert_cmpint(wv_stop_ladder_next(&l, FALSE, 1000 * S, &wake), ==, WV_STOP_PRESS_ACPI);
  g_assert_cmpint(wake, ==, 1005 * S);
  g_assert_cmpint(wv_stop_ladder_next(&l, FALSE, 1005 * S, &wake), ==, WV_STOP_SAVE);
  g_assert_cmpint(l.step, ==, WV_STOP_STEP_SAVING);
  g_assert_cmpint(wv_stop_ladder_end(&l), ==, WV_STOP_END_SAVED);
}

static void
test_describe(void)
{
  WvStopResult acpi = {WV_STOP_END_ACPI, 2, 3.04};
  WvStopResult agent = {WV_STOP_END_AGENT, 0, 1.5};
  WvStopResult one = {WV_STOP_END_ACPI, 1, 1.0};
  g_autofree char *a = wv_stop_result_describe(&acpi);
  g_autofree char *b = wv_stop_result_describe(&agent);
  g_autofree char *c = wv_stop_result_describe(&one);

  g_assert_cmpstr(a, ==, "shut down on ACPI after 2 presses in 3.0 s");
  g_assert_cmpstr(b, ==, "shut down through the guest agent in 1.5 s");
  g_assert_cmpstr(c, ==, "shut down on ACPI after 1 press in 1.0 s");
  g_assert_cmpstr(wv_stop_step_name(WV_STOP_STEP_NONE), ==, "");
  g_assert_cmpstr(wv_stop_step_name(WV_STOP_STEP_FORCING), ==, "forcing");
  g_assert_cmpstr(wv_stop_end_name(WV_STOP_END_DESTROYED), ==, "destroyed");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/stop/defaults", test_defaults);
  g_test_add_func("/stop/keys", test_keys);
  g_test_add_func("/stop/agent-then-acpi", test_agent_then_acpi);
  g_test_add_func("/stop/no-agent", test_no_agent);
  g_test_add_func("/stop/agent-refused", test_agent_refused);
  g_test_add_func("/stop/agent-only", test_agent_only);
  g_test_add_func("/stop/save-at-deadline", test_save_at_deadline);
  g_test_add_func("/stop/describe", test_describe);
  return g_test_run();
}
