/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The stop ladder's decisions (see wv-stop.h).
 */
#include "config.h"

#include "wv-last-stop.h"
#include "wv-stop.h"

static const char *const step_names[] = {
    [WV_STOP_STEP_NONE] = "",         [WV_STOP_STEP_AGENT] = "agent",
    [WV_STOP_STEP_ACPI] = "acpi",     [WV_STOP_STEP_FORCING] = "forcing",
    [WV_STOP_STEP_SAVING] = "saving",
};

static const char *const end_names[] = {
    [WV_STOP_END_NONE] = "",
    [WV_STOP_END_AGENT] = "agent",
    [WV_STOP_END_ACPI] = "acpi",
    [WV_STOP_END_OFF] = "off",
    [WV_STOP_END_SAVED] = "saved",
    [WV_STOP_END_DESTROYED] = "destroyed",
    [WV_STOP_END_OVERTAKEN] = "overtaken",
    [WV_STOP_END_FAILED] = "failed",
};

const char *
wv_stop_step_name(WvStopStep step)
{
  return (guint)step < G_N_ELEMENTS(step_names) ? step_names[step] : "";
}

const char *
wv_stop_end_name(WvStopEnd end)
{
  return (guint)end < G_N_ELEMENTS(end_names) ? end_names[end] : "";
}

void
wv_stop_ladder_init(WvStopLadder *l, const WvProfile *p, guint timeout_s, gint64 now_us)
{
  memset(l, 0, sizeof(*l));
  l->n_methods = MIN(p->n_shutdown_methods, WV_STOP_N_METHODS);
  memcpy(l->methods, p->shutdown_methods, l->n_methods * sizeof(l->methods[0]));
  l->acpi_repeat_s = MAX(p->acpi_repeat_s, 1);
  l->agent_timeout_s = MAX(p->agent_timeout_s, 1);
  l->on_timeout = p->on_timeout;
  l->started_us = now_us;
  l->deadline_us = now_us + (gint64)timeout_s * G_USEC_PER_SEC;
}

WvStopAction
wv_stop_ladder_next(WvStopLadder *l, gboolean agent_connected, gint64 now_us, gint64 *wake_us)
{
  *wake_us = l->deadline_us;
  if (now_us >= l->deadline_us) {
    l->step = l->on_timeout == WV_ON_TIMEOUT_SAVE ? WV_STOP_STEP_SAVING : WV_STOP_STEP_FORCING;
    return l->on_timeout == WV_ON_TIMEOUT_SAVE ? WV_STOP_SAVE : WV_STOP_FORCE;
  }
  while (l->next < l->n_methods) {
    switch (l->methods[l->next]) {
      case WV_STOP_METHOD_AGENT:
        l->next++; /* asked once */
        if (!agent_connected)
          continue;
        l->step = WV_STOP_STEP_AGENT;
        l->agent_asked = TRUE;
        *wake_us = MIN(now_us + (gint64)l->agent_timeout_s * G_USEC_PER_SEC, l->deadline_us);
        return WV_STOP_ASK_AGENT;
      case WV_STOP_METHOD_ACPI: /* stays: pressed again until the deadline */
      case WV_STOP_N_METHODS:
        l->step = WV_STOP_STEP_ACPI;
        l->presses++;
        *wake_us = MIN(now_us + (gint64)l->acpi_repeat_s * G_USEC_PER_SEC, l->deadline_us);
        return WV_STOP_PRESS_ACPI;
      default:
        g_assert_not_reached();
    }
  }
  /* the agent was all there was (asked, or not connected) */
  if (l->step == WV_STOP_STEP_NONE)
    l->step = WV_STOP_STEP_AGENT;
  return WV_STOP_WAIT;
}

WvStopEnd
wv_stop_ladder_end(const WvStopLadder *l)
{
  switch (l->step) {
    case WV_STOP_STEP_AGENT:
      return l->agent_asked ? WV_STOP_END_AGENT : WV_STOP_END_OFF;
    case WV_STOP_STEP_ACPI:
      return WV_STOP_END_ACPI;
    case WV_STOP_STEP_FORCING:
      return WV_STOP_END_DESTROYED;
    case WV_STOP_STEP_SAVING:
      return WV_STOP_END_SAVED;
    case WV_STOP_STEP_NONE:
    default:
      return WV_STOP_END_OFF;
  }
}

char *
wv_stop_result_describe(const WvStopResult *r)
{
  return wv_last_stop_describe(wv_stop_end_name(r->end), r->presses, r->seconds);
}
