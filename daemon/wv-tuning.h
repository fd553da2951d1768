/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Tuning done over D-Bus (PinVCPU, PinIOThread, PinEmulator), kept in the
 * state directory so the next start, Render and Check plan with it.
 */
#pragma once

#include "wv-plan.h"

G_BEGIN_DECLS

typedef enum
{
  WV_TUNE_VCPU,
  WV_TUNE_IOTHREAD,
  WV_TUNE_EMULATOR,
} WvTuneTarget;

/* Records that @target @index (vCPU from 0, I/O thread from 1; ignored for
 * the emulator) runs on @set. */
gboolean wv_tuning_save(const char *state_dir, const char *vm, WvTuneTarget target, guint index,
                        const WvCpuset *set, GError **error);
/* Replaces the plan's pins with the recorded ones that still fit it; a
 * vCPU or I/O thread nobody pinned is a NULL entry. */
void wv_tuning_apply(WvPlan *plan, const WvProfile *profile, const char *state_dir);

G_END_DECLS
