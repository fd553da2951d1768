/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What a profile may make a root daemon hand to a guest, as plan findings:
 * the template (a root-owned file; no options passed to QEMU past libvirt
 * unless the profile says raw-qemu), the host paths (wv-paths.c, against
 * winvm.conf) and the domain of the profile's name (winvm's own, or left
 * alone). Preflight runs it on every plan.
 */
#pragma once

#include "wv-plan.h"
#include "wv-profile.h"

G_BEGIN_DECLS

/* Adds the trust findings to @plan; drops @plan's template path when the
 * template cannot be trusted, so nothing renders from it. */
void wv_trust_check(WvPlan *plan, const WvProfile *profile, const WvPlanContext *ctx);

G_END_DECLS
