/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <malloc.h>

#include "wv-plan-cache.h"
#include "wv-common.h"
#include "wv-preflight.h"
#include "wv-render.h"
#include "wv-worker.h"

typedef struct
{
  WvPlanCacheDone done;
  gpointer data;
} Waiter;

/* One VM's plan: being computed (waiters queue on it), or made. */
typedef struct
{
  WvPlanCache *cache;
  char *name;
  WvProfile *profile;   /* what it is (being) computed from */
  guint generation;     /* the cache's, when the computation started */
  gint64 made;          /* monotonic time of the result */
  WvPlanResult *result; /* NULL while computing */
  GArray *waiters;      /* Waiter */
  gboolean in_table;    /* the current entry for its name (else: stale, running) */
} Entry;

struct _WvPlanCache
{
  GHashTable *entries; /* name -> Entry* */
  guint generation;
  guint computed;
  guint holds;    /* computations running: the cache outlives them */
  guint sweep_id; /* drops results past their TTL: none outlives its use */
  gboolean freed;
};

static void
result_free(WvPlanResult *r)
{
  if (r == NULL)
    return;
  wv_plan_free(r->plan);
  g_free(r->xml);
  g_clear_error(&r->render_error);
  g_free(r);
}

static void
entry_free(Entry *e)
{
  g_free(e->name);
  wv_profile_unref(e->profile);
  result_free(e->result);
  g_array_unref(e->waiters);
  g_free(e);
}

/* The table drops only entries that are not computing: a computation owns
 * its entry until it has answered. */
static gboolean
drop_idle(gpointer key, gpointer value, gpointer data)
{
  Entry *e = value;

  if (e->result == NULL) {
    e->in_table = FALSE;
    return TRUE; /* stolen: the computation frees it */
  }
  entry_free(e);
  return TRUE;
}

WvPlanCache *
wv_plan_cache_new(void)
{
  WvPlanCache *cache = g_new0(WvPlanCache, 1);

  cache->entries = g_hash_table_new(g_str_hash, g_str_equal);
  return cache;
}

static void
cache_release(WvPlanCache *cache)
{
  if (cache->holds > 0 || !cache->freed)
    return;
  g_hash_table_unref(cache->entries);
  g_free(cache);
}

void
wv_plan_cache_free(WvPlanCache *cache)
{
  if (cache == NULL)
    return;
  g_clear_handle_id(&cache->sweep_id, g_source_remove);
  g_hash_table_foreach_remove(cache->entries, drop_idle, NULL);
  cache->freed = TRUE;
  cache_release(cache);
}

void
wv_plan_cache_invalidate(WvPlanCache *cache)
{
  wv_assert_main_thread("wv_plan_cache_invalidate");
  cache->generation++;
  g_hash_table_foreach_remove(cache->entries, drop_idle, NULL);
}

guint
wv_plan_cache_computed(WvPlanCache *cache)
{
  return cache->computed;
}

guint
wv_plan_cache_size(WvPlanCache *cache)
{
  return g_hash_table_size(cache->entries);
}

/* ---- computing ---------------------------------------------------------------- */

typedef struct
{
  Entry *entry;
  WvConfig *config;
  WvProfile *profile;
  WvLibvirtLease *lease; /* none: planned offline */
} Job;

static void
job_free(Job *job)
{
  wv_config_unref(job->config);
  wv_profile_unref(job->profile);
  wv_libvirt_lease_free(job->lease);
  g_free(job);
}

/* worker (read lane): the one preflight, and its render */
static void
compute_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Job *job = data;
  WvPlanResult *r = g_new0(WvPlanResult, 1);
  virConnectPtr conn = job->lease ? wv_libvirt_lease_conn(job->lease, NULL) : NULL;

  r->plan = wv_preflight(job->config, job->profile, conn, WV_PREFLIGHT_DEFAULT, NULL);
  if (wv_plan_check(r->plan, &r->render_error))
    r->xml = wv_render_to_string(job->profile, r->plan, &r->render_error);
  g_task_return_pointer(task, r, (GDestroyNotify)result_free);
}

static gboolean
drop_expired(gpointer key, gpointer value, gpointer data)
{
  Entry *e = value;
  gint64 now = *(const gint64 *)data;

  if (e->result == NULL || now - e->made < (gint64)WV_PLAN_CACHE_TTL_MS * 1000)
    return FALSE;
  entry_free(e);
  return TRUE;
}

static gboolean
sweep(gpointer data)
{
  WvPlanCache *cache = data;
  gint64 now = g_get_monotonic_time();

  g_hash_table_foreach_remove(cache->entries, drop_expired, &now);
  if (g_hash_table_size(cache->entries) > 0)
    return G_SOURCE_CONTINUE;
  cache->sweep_id = 0;
  /* the burst of plans is over: the pages its renders and results freed
   * go back to the system (50 VMs after 150 plans: RssAnon -60 KiB,
   * tests/bench/README.md); at most once per TTL */
  malloc_trim(0);
  return G_SOURCE_REMOVE;
}

static void
computed(GObject *source, GAsyncResult *res, gpointer data)
{
  Job *job = g_task_get_task_data(G_TASK(res));
  Entry *e = job->entry;
  WvPlanCache *cache = e->cache;
  g_autoptr(GArray) waiters = g_steal_pointer(&e->waiters);

  /* here, on the main thread, so that job_lost() never races its end */
  g_clear_pointer(&job->lease, wv_libvirt_lease_free);
  e->result = g_task_propagate_pointer(G_TASK(res), NULL);
  e->made = g_get_monotonic_time();
  e->waiters = g_array_new(FALSE, FALSE, sizeof(Waiter));
  g_debug("%s: planned for %u callers", e->name, waiters->len);
  for (guint i = 0; i < waiters->len; i++) {
    const Waiter *w = &g_array_index(waiters, Waiter, i);
    w->done(e->result, w->data);
  }
  /* kept only while nothing changed since it started */
  if (e->in_table && e->generation != cache->generation) {
    g_hash_table_remove(cache->entries, e->name);
    e->in_table = FALSE;
  }
  if (!e->in_table)
    entry_free(e);
  else if (cache->sweep_id == 0 && !cache->freed)
    cache->sweep_id = g_timeout_add(WV_PLAN_CACHE_TTL_MS, sweep, cache);
  cache->holds--;
  cache_release(cache);
}

static gboolean
entry_is_fresh(const WvPlanCache *cache, const Entry *e, const WvProfile *profile)
{
  if (e->generation != cache->generation || e->profile != profile)
    return FALSE;
  /* what winvmd cannot hear of changing is read again now and then */
  return e->result == NULL ||
         g_get_monotonic_time() - e->made < (gint64)WV_PLAN_CACHE_TTL_MS * 1000;
}

/* libvirt went while the preflight waited for it: its waiters hear so now;
 * the computation, blocked in libvirt until libvirtd answers, answers no one
 * and is not kept. */
static void
job_lost(gpointer data, gpointer unused)
{
  Job *job = data;
  Entry *e = job->entry;
  g_autoptr(GArray) waiters = g_steal_pointer(&e->waiters);
  WvPlanResult lost = {
      .error = g_error_new(WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE,
                           "the connection to libvirt was lost during the plan of “%s”", e->name),
  };

  e->waiters = g_array_new(FALSE, FALSE, sizeof(Waiter));
  if (e->in_table) {
    g_hash_table_steal(e->cache->entries, e->name);
    e->in_table = FALSE;
  }
  for (guint i = 0; i < waiters->len; i++) {
    const Waiter *w = &g_array_index(waiters, Waiter, i);
    w->done(&lost, w->data);
  }
  g_error_free(lost.error);
}

void
wv_plan_cache_get(WvPlanCache *cache, WvConfig *config, WvProfile *profile, WvLibvirt *libvirt,
                  WvPlanCacheDone done, gpointer data)
{
  Entry *e = g_hash_table_lookup(cache->entries, profile->name);
  Waiter w = {done, data};
  g_autoptr(GTask) task = NULL;
  Job *job;

  wv_assert_main_thread("wv_plan_cache_get");
  if (e && entry_is_fresh(cache, e, profile)) {
    if (e->result)
      done(e->result, data);
    else
      g_array_append_val(e->waiters, w); /* joins the computation running */
    return;
  }
  if (e) { /* stale: a running computation answers its own waiters */
    g_hash_table_steal(cache->entries, profile->name);
    e->in_table = FALSE;
    if (e->result)
      entry_free(e);
  }
  e = g_new0(Entry, 1);
  e->cache = cache;
  e->name = g_strdup(profile->name);
  e->profile = wv_profile_ref(profile);
  e->generation = cache->generation;
  e->waiters = g_array_new(FALSE, FALSE, sizeof(Waiter));
  e->in_table = TRUE;
  g_array_append_val(e->waiters, w);
  g_hash_table_insert(cache->entries, e->name, e);

  job = g_new0(Job, 1);
  job->entry = e;
  job->config = wv_config_ref(config);
  job->profile = wv_profile_ref(profile);
  /* optional: plans work offline */
  job->lease = libvirt ? wv_libvirt_lease(libvirt, NULL) : NULL;
  if (job->lease)
    wv_libvirt_lease_on_lost(job->lease, job_lost, job);
  cache->holds++;
  cache->computed++;
  task = g_task_new(NULL, NULL, computed, NULL);
  g_task_set_task_data(task, job, (GDestroyNotify)job_free);
  wv_worker_run_lane(task, compute_thread, WV_LANE_READ);
}
