/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The stop ladder: how one VM is asked to stop, step by step, until its
 * deadline: the guest agent when it is connected (for agent-timeout), then
 * the ACPI power button, pressed again every acpi-repeat seconds, then the
 * profile's on-timeout (destroy or managed save). Only the decisions live
 * here, on plain numbers, so they are tested alone; wv-vm.c carries them
 * out.
 */
#pragma once

#include <glib.h>

#include "wv-profile.h"

G_BEGIN_DECLS

/* What the ladder is doing: the ShutdownStep property. */
typedef enum
{
  WV_STOP_STEP_NONE,
  WV_STOP_STEP_AGENT,
  WV_STOP_STEP_ACPI,
  WV_STOP_STEP_FORCING,
  WV_STOP_STEP_SAVING,
} WvStopStep;

/* "agent", "acpi", "forcing", "saving"; "" for none. */
const char *wv_stop_step_name(WvStopStep step);

/* What to do now. */
typedef enum
{
  WV_STOP_ASK_AGENT,  /* ask the guest agent to power off */
  WV_STOP_PRESS_ACPI, /* press the power button (again) */
  WV_STOP_WAIT,       /* nothing left to ask: wait for the deadline */
  WV_STOP_FORCE,      /* the deadline: destroy */
  WV_STOP_SAVE,       /* the deadline: managed save */
} WvStopAction;

typedef struct
{
  WvStopMethod methods[WV_STOP_N_METHODS];
  guint n_methods;
  guint next; /* the method to try next */
  guint acpi_repeat_s;
  guint agent_timeout_s;
  WvOnTimeout on_timeout;
  gint64 started_us;  /* monotonic */
  gint64 deadline_us; /* monotonic */
  WvStopStep step;
  gboolean agent_asked;
  guint presses; /* ACPI presses so far */
} WvStopLadder;

/* A ladder for @profile beginning at @now_us, forced or saved after
 * @timeout_s. */
void wv_stop_ladder_init(WvStopLadder *ladder, const WvProfile *profile, guint timeout_s,
                         gint64 now_us);
/* The next step at @now_us (when the ladder begins, when the time it asked
 * for came, or at once when the agent refused). @agent_connected: libvirt
 * says the guest agent is connected. *@wake_us: when to ask again (the
 * deadline at the latest). */
WvStopAction wv_stop_ladder_next(WvStopLadder *ladder, gboolean agent_connected, gint64 now_us,
                                 gint64 *wake_us);

/* How a stop ended: the LastStop property and the log record. */
typedef enum
{
  WV_STOP_END_NONE,      /* no stop yet */
  WV_STOP_END_AGENT,     /* clean, through the guest agent */
  WV_STOP_END_ACPI,      /* clean, after N ACPI presses */
  WV_STOP_END_OFF,       /* it went off while nothing was asked of it */
  WV_STOP_END_SAVED,     /* managed save (at the deadline or by policy) */
  WV_STOP_END_DESTROYED, /* forced off (at the deadline or by policy) */
  WV_STOP_END_OVERTAKEN, /* a ForceOff cut the shutdown short */
  WV_STOP_END_FAILED,
} WvStopEnd;

typedef struct
{
  WvStopEnd end;
  guint presses;
  double seconds;
} WvStopResult;

/* "agent", "acpi", "off", "saved", "destroyed", "overtaken", "failed"; "" for
 * none. */
const char *wv_stop_end_name(WvStopEnd end);
/* "shut down through the guest agent in 2.1 s" and so on. */
char *wv_stop_result_describe(const WvStopResult *result);
/* How a ladder at its @step ended when the VM was seen off. */
WvStopEnd wv_stop_ladder_end(const WvStopLadder *ladder);

G_END_DECLS
