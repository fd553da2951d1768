/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wv-plan-cache: callers of one VM share one preflight, a change makes it
 * stale, and no plan outlives its TTL in memory.
 */
#include <string.h>

#include "wv-common.h"
#include "wv-plan-cache.h"
#include "wv-worker.h"
#include "wv-test.h"

#define HOST WV_TEST_DATA "/hosts/ryzen"

static const char PROFILE[] = "[vm]\n"
                              "name = cached\n"
                              "hypervisor = qemu\n"
                              "template = minimal\n"
                              "vcpus = 2\n"
                              "memory = 1GiB\n"
                              "[hyperv]\n"
                              "enlightenments = none\n";

typedef struct
{
  guint answers;
  gboolean rendered;
} Answers;

static void
answered(const WvPlanResult *result, gpointer data)
{
  Answers *a = data;

  g_assert_null(result->error);
  g_assert_nonnull(result->plan);
  a->rendered = result->xml != NULL && strstr(result->xml, "<name>cached</name>") != NULL;
  a->answers++;
}

static WvConfig *
config_new(void)
{
  WvConfig c = {
      .sysfs_root = (char *)HOST "/sys",
      .proc_root = (char *)HOST "/proc",
      .template_dir = (char *)WV_SOURCE_ROOT "/xml-templates",
      .keepalive_interval = WV_KEEPALIVE_INTERVAL_DEFAULT,
      .keepalive_count = WV_KEEPALIVE_COUNT_DEFAULT,
  };

  return wv_config_copy(&c);
}

static gboolean
tick(gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static void
wait_for(Answers *a, guint n)
{
  while (a->answers < n)
    g_main_context_iteration(NULL, TRUE);
}

static void
test_shared_then_expired(void)
{
  g_autoptr(WvConfig) config = config_new();
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) profile = wv_profile_parse(PROFILE, strlen(PROFILE), "cached.conf", &error);
  WvPlanCache *cache = wv_plan_cache_new();
  Answers a = {0};
  gint64 made;
  guint tick_id;

  g_assert_no_error(error);
  /* three callers at once: one computation */
  for (guint i = 0; i < 3; i++)
    wv_plan_cache_get(cache, config, profile, NULL, answered, &a);
  wait_for(&a, 3);
  made = g_get_monotonic_time();
  g_assert_true(a.rendered);
  g_assert_cmpuint(wv_plan_cache_computed(cache), ==, 1);
  g_assert_cmpuint(wv_plan_cache_size(cache), ==, 1);

  /* served from the cache, at once */
  wv_plan_cache_get(cache, config, profile, NULL, answered, &a);
  g_assert_cmpuint(a.answers, ==, 4);
  g_assert_cmpuint(wv_plan_cache_computed(cache), ==, 1);

  /* nobody asks again: the plan is dropped after its TTL all the same */
  tick_id = g_timeout_add(50, tick, NULL);
  while (wv_plan_cache_size(cache) > 0) {
    g_assert_cmpint(g_get_monotonic_time() - made, <, 3 * WV_PLAN_CACHE_TTL_MS * 1000);
    g_main_context_iteration(NULL, TRUE);
  }
  g_assert_cmpint(g_get_monotonic_time() - made, >=, WV_PLAN_CACHE_TTL_MS * 1000 - 50000);
  g_source_remove(tick_id);

  /* and made again when asked */
  wv_plan_cache_get(cache, config, profile, NULL, answered, &a);
  wait_for(&a, 5);
  g_assert_cmpuint(wv_plan_cache_computed(cache), ==, 2);
  wv_plan_cache_free(cache);
}

static void
test_invalidate(void)
{
  g_autoptr(WvConfig) config = config_new();
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) profile = wv_profile_parse(PROFILE, strlen(PROFILE), "cached.conf", &error);
  WvPlanCache *cache = wv_plan_cache_new();
  Answers a = {0};

  g_assert_no_error(error);
  wv_plan_cache_get(cache, config, profile, NULL, answered, &a);
  /* a change while it computes: the waiter still gets the answer, the
   * result is not kept */
  wv_plan_cache_invalidate(cache);
  wait_for(&a, 1);
  g_assert_cmpuint(wv_plan_cache_size(cache), ==, 0);
  wv_plan_cache_get(cache, config, profile, NULL, answered, &a);
  wait_for(&a, 2);
  g_assert_cmpuint(wv_plan_cache_computed(cache), ==, 2);
  g_assert_cmpuint(wv_plan_cache_size(cache), ==, 1);
  wv_plan_cache_invalidate(cache);
  g_assert_cmpuint(wv_plan_cache_size(cache), ==, 0);
  wv_plan_cache_free(cache);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  wv_main_thread_init();
  g_test_add_func("/plan-cache/shared-then-expired", test_shared_then_expired);
  g_test_add_func("/plan-cache/invalidate", test_invalidate);
  return g_test_run();
}
