/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wv-host-cache: a cached host plans exactly as a fresh probe, what a
 * decision reads is never stale, and libvirt's answers go with the
 * connection generation.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "wv-common.h"
#include "wv-host-cache.h"
#include "wv-test.h"

static void
write_file(const char *root, const char *rel, const char *content)
{
  g_autofree char *path = g_build_filename(root, rel, NULL);
  g_autofree char *dir = g_path_get_dirname(path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_file_set_contents(path, content, -1, &error);
  g_assert_no_error(error);
}

static void
symlink_at(const char *root, const char *rel, const char *target)
{
  g_autofree char *path = g_build_filename(root, rel, NULL);

  g_unlink(path);
  g_assert_cmpint(symlink(target, path), ==, 0);
}

/* The plan and render of @profile_text on @host, as one comparable text. */
static char *
plan_text(const WvHost *host, const WvDomcaps *caps, const char *profile_text)
{
  g_autoptr(WvProfile) profile = wv_test_profile(profile_text);
  WvPlanContext ctx = {
      .host = host, .domcaps = caps, .template_dir = WV_SOURCE_ROOT "/xml-templates"};
  g_autoptr(WvPlan) plan = wv_plan_build(profile, &ctx);
  g_autoptr(GError) error = NULL;
  g_autofree char *xml = wv_render_to_string(profile, plan, &error);
  GString *out = g_string_new(xml ? xml : error->message);

  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];

    g_string_append_printf(out, "\n%s: %s", f->code, f->message);
  }
  return g_string_free(out, FALSE);
}

static void
test_same_plan_as_probe(void)
{
  const char *hosts[] = {"ryzen", "numa2s", "gpu-shared", "laptop"};
  g_autofree char *gaming = NULL;
  g_autoptr(WvDomcaps) caps = wv_test_domcaps("kvm.xml");

  g_assert_true(g_file_get_contents(WV_SOURCE_ROOT "/examples/gaming.conf", &gaming, NULL, NULL));
  for (guint h = 0; h < G_N_ELEMENTS(hosts); h++) {
    g_autofree char *sys = g_build_filename(WV_TEST_DATA, "hosts", hosts[h], "sys", NULL);
    g_autofree char *mounts =
        g_build_filename(WV_TEST_DATA, "hosts", hosts[h], "proc", "mounts", NULL);
    g_autoptr(WvHostCache) cache = wv_host_cache_new(sys, mounts);
    g_autoptr(WvHost) fresh = wv_test_host(hosts[h]);
    g_autofree char *want = plan_text(fresh, caps, gaming);

    for (guint round = 0; round < 3; round++) {
      g_autoptr(GError) error = NULL;
      g_autoptr(WvHost) cached = wv_host_cache_host(cache, &error);
      g_autofree char *got = NULL;

      g_assert_no_error(error);
      g_assert_cmpuint(cached->cpus->len, ==, fresh->cpus->len);
      g_assert_true(wv_cpuset_equal(cached->online, fresh->online));
      g_assert_cmpuint(cached->pci->len, ==, fresh->pci->len);
      g_assert_cmpuint(cached->hugepages->len, ==, fresh->hugepages->len);
      g_assert_cmpuint(cached->hugetlbfs->len, ==, fresh->hugetlbfs->len);
      g_assert_cmpuint(cached->mem_available_kib, ==, fresh->mem_available_kib);
      g_assert_cmpint(cached->kvm, ==, fresh->kvm);
      g_assert_cmpstr(cached->cpu_virt_flag, ==, fresh->cpu_virt_flag);
      got = plan_text(cached, caps, gaming);
      g_assert_cmpstr(got, ==, want);
    }
    g_assert_cmpuint(wv_host_cache_probes(cache), ==, 1);
  }
}

/* A small host: 4 CPUs (2 cores with 2 threads), one node with a 2M pool,
 * a GPU bound to its host driver. */
static char *
small_host(void)
{
  g_autoptr(GError) error = NULL;
  char *tmp = g_dir_make_tmp("winvm-host-cache-XXXXXX", &error);

  g_assert_no_error(error);
  write_file(tmp, "devices/system/cpu/present", "0-3\n");
  write_file(tmp, "devices/system/cpu/online", "0-3\n");
  for (guint c = 0; c < 4; c++) {
    g_autofree char *sib =
        g_strdup_printf("devices/system/cpu/cpu%u/topology/thread_siblings_list", c);
    g_autofree char *core = g_strdup_printf("devices/system/cpu/cpu%u/topology/core_id", c);
    g_autofree char *core_id = g_strdup_printf("%u\n", c / 2);

    write_file(tmp, sib, c < 2 ? "0-1\n" : "2-3\n");
    write_file(tmp, core, core_id);
  }
  write_file(tmp, "devices/system/node/node0/cpulist", "0-3\n");
  write_file(tmp, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
  write_file(tmp, "kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0\n");
  write_file(tmp, "bus/pci/devices/0000:0f:00.0/class", "0x030000\n");
  write_file(tmp, "drivers/nouveau/.keep", "");
  write_file(tmp, "drivers/vfio-pci/.keep", "");
  symlink_at(tmp, "bus/pci/devices/0000:0f:00.0/driver", "../../../drivers/nouveau");
  write_file(tmp, "proc/meminfo", "MemAvailable:    8000000 kB\nHugepagesize:       2048 kB\n");
  write_file(tmp, "proc/mounts", "");
  return tmp;
}

static void
test_fresh_figures(void)
{
  g_autofree char *tmp = small_host();
  g_autofree char *mounts = g_build_filename(tmp, "proc", "mounts", NULL);
  g_autoptr(WvHostCache) cache = wv_host_cache_new(tmp, mounts);
  g_autoptr(GError) error = NULL;
  g_autoptr(WvHost) before = wv_host_cache_host(cache, &error);
  g_autoptr(WvHost) after = NULL;
  g_autoptr(WvHost) again = NULL;
  const WvPciAddress gpu = {0, 0x0f, 0, 0};

  g_assert_no_error(error);
  g_assert_cmpuint(wv_host_hugepages(before, 2048, -1)->total, ==, 0);
  g_assert_cmpstr(wv_host_pci(before, &gpu)->driver, ==, "nouveau");
  g_assert_null(wv_host_hugetlbfs(before, 2048));

  /* the pool grows, the GPU goes to vfio-pci, hugetlbfs is mounted, memory
   * runs low: all in the very next host, without a new probe */
  write_file(tmp, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "512\n");
  write_file(tmp, "kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "500\n");
  symlink_at(tmp, "bus/pci/devices/0000:0f:00.0/driver", "../../../drivers/vfio-pci");
  write_file(tmp, "proc/mounts",
             "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n");
  write_file(tmp, "proc/meminfo", "MemAvailable:    1000 kB\nHugepagesize:       2048 kB\n");
  after = wv_host_cache_host(cache, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(wv_host_hugepages(after, 2048, -1)->total, ==, 512);
  g_assert_cmpuint(wv_host_hugepages(after, 2048, -1)->free, ==, 500);
  g_assert_cmpstr(wv_host_pci(after, &gpu)->driver, ==, "vfio-pci");
  g_assert_nonnull(wv_host_hugetlbfs(after, 2048));
  g_assert_cmpuint(after->mem_available_kib, ==, 1000);
  g_assert_cmpuint(wv_host_cache_probes(cache), ==, 1);
  /* the earlier host is the caller's and stays as it was */
  g_assert_cmpuint(wv_host_hugepages(before, 2048, -1)->total, ==, 0);

  /* a CPU goes offline: the topology is probed again */
  write_file(tmp, "devices/system/cpu/online", "0-2\n");
  again = wv_host_cache_host(cache, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(again->online->n, ==, 3);
  g_assert_false(wv_host_cpu(again, 3)->online);
  g_assert_cmpuint(wv_host_cache_probes(cache), ==, 2);

  /* told that the hardware changed (Reload) */
  wv_host_cache_forget_topology(cache);
  g_clear_pointer(&again, wv_host_free);
  again = wv_host_cache_host(cache, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(wv_host_cache_probes(cache), ==, 3);
  wv_test_remove_tree(tmp);
}

typedef struct
{
  guint calls;
  WvHostCache *cache;
  guint bump_to; /* a reconnect while libvirt answers */
} Fetcher;

static WvDomcaps *
fetch(gpointer data, GError **error)
{
  Fetcher *f = data;

  f->calls++;
  if (f->bump_to)
    wv_host_cache_set_generation(f->cache, f->bump_to);
  return wv_test_domcaps("kvm.xml");
}

static WvTristate
fetch_kvm(gpointer data)
{
  Fetcher *f = data;

  f->calls++;
  return WV_TRI_ON;
}

static void
test_domcaps_per_generation(void)
{
  g_autoptr(WvHostCache) cache = wv_host_cache_new(NULL, NULL);
  Fetcher f = {.cache = cache};
  g_autoptr(GError) error = NULL;

  wv_host_cache_set_generation(cache, 1);
  for (guint i = 0; i < 3; i++) {
    g_autoptr(WvDomcaps) caps =
        wv_host_cache_domcaps(cache, "kvm", "pc-q35-8.2", fetch, &f, &error);

    g_assert_no_error(error);
    g_assert_true(caps->hyperv_known);
  }
  g_assert_cmpuint(f.calls, ==, 1);
  /* another virt type or machine is another answer */
  wv_domcaps_free(wv_host_cache_domcaps(cache, "qemu", "pc-q35-8.2", fetch, &f, &error));
  wv_domcaps_free(wv_host_cache_domcaps(cache, "kvm", NULL, fetch, &f, &error));
  g_assert_cmpuint(f.calls, ==, 3);
  g_assert_cmpint(wv_host_cache_kvm_offered(cache, fetch_kvm, &f), ==, WV_TRI_ON);
  g_assert_cmpint(wv_host_cache_kvm_offered(cache, fetch_kvm, &f), ==, WV_TRI_ON);
  g_assert_cmpuint(f.calls, ==, 4);

  /* a reconnect drops them all */
  wv_host_cache_set_generation(cache, 2);
  wv_domcaps_free(wv_host_cache_domcaps(cache, "kvm", "pc-q35-8.2", fetch, &f, &error));
  g_assert_cmpuint(f.calls, ==, 5);
  wv_host_cache_kvm_offered(cache, fetch_kvm, &f);
  g_assert_cmpuint(f.calls, ==, 6);

  /* an answer from before a reconnect is used once, not kept */
  f.bump_to = 3;
  wv_domcaps_free(wv_host_cache_domcaps(cache, "qemu", NULL, fetch, &f, &error));
  f.bump_to = 0;
  wv_domcaps_free(wv_host_cache_domcaps(cache, "qemu", NULL, fetch, &f, &error));
  g_assert_cmpuint(f.calls, ==, 8);
  wv_domcaps_free(wv_host_cache_domcaps(cache, "qemu", NULL, fetch, &f, &error));
  g_assert_cmpuint(f.calls, ==, 8);
  g_assert_cmpuint(wv_host_cache_fetches(cache), ==, 8);
}

typedef struct
{
  WvHostCache *cache;
  WvDomcaps *caps;
} Shared;

static gpointer
hammer(gpointer data)
{
  Shared *s = data;
  Fetcher f = {.cache = s->cache};

  for (guint i = 0; i < 200; i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(WvHost) host = wv_host_cache_host(s->cache, &error);
    g_autoptr(WvDomcaps) caps = wv_host_cache_domcaps(s->cache, "kvm", NULL, fetch, &f, &error);

    g_assert_nonnull(host);
    g_assert_nonnull(caps);
    if (i % 50 == 0)
      wv_host_cache_set_generation(s->cache, i);
  }
  return NULL;
}

static void
test_threads(void)
{
  g_autofree char *sys = g_build_filename(WV_TEST_DATA, "hosts", "ryzen", "sys", NULL);
  g_autofree char *mounts =
      g_build_filename(WV_TEST_DATA, "hosts", "ryzen", "proc", "mounts", NULL);
  g_autoptr(WvHostCache) cache = wv_host_cache_new(sys, mounts);
  Shared s = {cache, NULL};
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
    threads[i] = g_thread_new("hammer", hammer, &s);
  for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
    g_thread_join(threads[i]);
  g_assert_cmpuint(wv_host_cache_probes(cache), ==, 1);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/host-cache/same-plan-as-probe", test_same_plan_as_probe);
  g_test_add_func("/host-cache/fresh-figures", test_fresh_figures);
  g_test_add_func("/host-cache/domcaps-per-generation", test_domcaps_per_generation);
  g_test_add_func("/host-cache/threads", test_threads);
  return g_test_run();
}
