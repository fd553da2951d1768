/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The expensive reads (D-Bus Plan, Check, Render), served from one cached
 * preflight per VM. A result stays valid until anything a plan reads may
 * have changed: winvmd calls wv_plan_cache_invalidate() on a reload, a
 * lifecycle or tuning event, the end of any VM operation (pins saved,
 * Autostart set, a start or stop) and when libvirt connects or goes away.
 * What winvmd cannot hear of (sysfs, winvm.conf, a template edited in
 * place) is read again after WV_PLAN_CACHE_TTL_MS at most.
 *
 * Concurrent requests for the same VM share one computation: all of them
 * get the same result. Computations run on the read lane (wv-worker.h), so
 * they never delay a lifecycle call.
 */
#pragma once

#include "wv-config.h"
#include "wv-libvirt.h"
#include "wv-plan.h"
#include "wv-profile.h"

G_BEGIN_DECLS

#define WV_PLAN_CACHE_TTL_MS 2000

/* One preflight, shown three ways; immutable once made. */
typedef struct
{
  WvPlan *plan;         /* Plan, Check */
  char *xml;            /* Render, or NULL and: */
  GError *render_error; /* why the profile does not render on this host */
  GError *error;        /* no plan at all (libvirt lost while it waited): the answer */
} WvPlanResult;

typedef struct _WvPlanCache WvPlanCache;

/* Main thread: @result is borrowed for the call. */
typedef void (*WvPlanCacheDone)(const WvPlanResult *result, gpointer data);

WvPlanCache *wv_plan_cache_new(void);
/* Computations still running finish (and answer) first. */
void wv_plan_cache_free(WvPlanCache *cache);

/* Something a plan reads changed: every result is stale, and so is every
 * computation already running (its waiters still get its answer). */
void wv_plan_cache_invalidate(WvPlanCache *cache);

/* Main thread. Calls @done with the plan of @profile: at once from the
 * cache, or once the computation it joins or starts is done. @libvirt is
 * asked for a connection only when one is computed (NULL or none: planned
 * offline). */
void wv_plan_cache_get(WvPlanCache *cache, WvConfig *config, WvProfile *profile, WvLibvirt *libvirt,
                       WvPlanCacheDone done, gpointer data);

/* Computations started (not served from the cache or joined) so far. */
guint wv_plan_cache_computed(WvPlanCache *cache);

/* Plans held (made or being made). A made one is dropped once its TTL has
 * passed, whether or not anyone asks again: a burst of Plan calls leaves no
 * memory behind. */
guint wv_plan_cache_size(WvPlanCache *cache);

G_END_DECLS
