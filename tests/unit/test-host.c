/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host probing against the fake sysfs trees in tests/data/hosts (made by
 * make-trees.py) and domain capabilities parsing against documents captured
 * from libvirt 9.0 in tests/data/domcaps.
 */
#include "wv-host.h"
#include "wv-common.h"
#include "wv-test.h"

#include <glib/gstdio.h>

#ifndef WV_TEST_DATA
#error "WV_TEST_DATA must point at tests/data"
#endif

static WvHost *
probe(const char *name)
{
  g_autofree char *root = g_build_filename(WV_TEST_DATA, "hosts", name, "sys", NULL);
  g_autofree char *mounts = g_build_filename(WV_TEST_DATA, "hosts", name, "proc", "mounts", NULL);
  g_autoptr(GError) error = NULL;
  WvHost *host = wv_host_probe(root, mounts, &error);

  g_assert_no_error(error);
  g_assert_nonnull(host);
  return host;
}

static void
assert_cpuset(const WvCpuset *set, const char *expected)
{
  g_autofree char *text = NULL;

  g_assert_nonnull(set);
  text = wv_cpuset_format(set);
  g_assert_cmpstr(text, ==, expected);
}

static const WvPciDevice *
pci(const WvHost *host, const char *name)
{
  g_autoptr(GError) error = NULL;
  WvPciAddress addr;
  const WvPciDevice *dev;

  g_assert_true(wv_parse_pci_address(name, &addr, &error));
  g_assert_no_error(error);
  dev = wv_host_pci(host, &addr);
  g_assert_nonnull(dev);
  g_assert_cmpstr(dev->name, ==, name);
  return dev;
}

/* The names of the devices in IOMMU group @group, comma separated. */
static char *
group_names(const WvHost *host, gint group)
{
  g_autoptr(GPtrArray) devs = wv_host_iommu_group(host, group);
  g_autoptr(GString) s = g_string_new(NULL);

  for (guint i = 0; i < devs->len; i++) {
    const WvPciDevice *dev = devs->pdata[i];

    g_assert_cmpint(dev->iommu_group, ==, group);
    if (s->len > 0)
      g_string_append_c(s, ',');
    g_string_append(s, dev->name);
  }
  return g_strdup(s->str);
}

static void
assert_pool(const WvHost *host, guint64 page_kib, gint node, guint64 total, guint64 free_pages)
{
  const WvHugepagePool *pool = wv_host_hugepages(host, page_kib, node);
  g_autofree char *expected_end = NULL;

  g_assert_nonnull(pool);
  g_assert_cmpuint(pool->page_kib, ==, page_kib);
  g_assert_cmpint(pool->node, ==, node);
  g_assert_cmpuint(pool->total, ==, total);
  g_assert_cmpuint(pool->free, ==, free_pages);
  g_assert_true(g_path_is_absolute(pool->nr_path));
  if (node < 0)
    expected_end = g_strdup_printf(
        "/kernel/mm/hugepages/hugepages-%" G_GUINT64_FORMAT "kB/nr_hugepages", page_kib);
  else
    expected_end = g_strdup_printf(
        "/devices/system/node/node%d/hugepages/hugepages-%" G_GUINT64_FORMAT "kB/nr_hugepages",
        node, page_kib);
  g_assert_true(g_str_has_prefix(pool->nr_path, host->sysfs_root));
  g_assert_true(g_str_has_suffix(pool->nr_path, expected_end));
  g_assert_true(g_file_test(pool->nr_path, G_FILE_TEST_IS_REGULAR));
}

static void
assert_cpu(const WvHost *host, guint id, gint package, gint core, gint node, gint l3,
           const char *siblings)
{
  const WvHostCpu *cpu = wv_host_cpu(host, id);

  g_assert_nonnull(cpu);
  g_assert_cmpuint(cpu->id, ==, id);
  g_assert_true(cpu->online);
  g_assert_cmpint(cpu->package, ==, package);
  g_assert_cmpint(cpu->die, ==, 0);
  g_assert_cmpint(cpu->core, ==, core);
  g_assert_cmpint(cpu->node, ==, node);
  g_assert_cmpint(cpu->l3, ==, l3);
  assert_cpuset(cpu->siblings, siblings);
}

/* Every present CPU, sorted, and each one's siblings include itself. */
static void
assert_cpus_sane(const WvHost *host, guint n)
{
  g_assert_cmpuint(host->cpus->len, ==, n);
  for (guint i = 0; i < host->cpus->len; i++) {
    const WvHostCpu *cpu = host->cpus->pdata[i];

    g_assert_cmpuint(cpu->id, ==, i);
    g_assert_true(wv_cpuset_contains(cpu->siblings, i));
    g_assert_true(cpu->online == wv_cpuset_contains(host->online, i));
  }
}

static void
test_laptop(void)
{
  g_autoptr(WvHost) host = probe("laptop");
  g_autofree char *group = NULL;
  const WvPciDevice *igpu, *dev;
  const WvHugetlbfsMount *m;
  static const char *const order[] = {
      "0000:00:00.0", "0000:00:02.0", "0000:00:14.0",
      "0000:00:1f.0", "0000:00:1f.3", "0000:00:1f.4",
  };

  g_assert_true(g_path_is_absolute(host->sysfs_root));
  g_assert_true(g_str_has_suffix(host->sysfs_root, "/hosts/laptop/sys"));
  /* a described host's KVM comes from its tree, never from this /dev/kvm */
  g_assert_cmpint(host->kvm, ==, WV_KVM_AVAILABLE);
  g_assert_cmpstr(host->cpu_virt_flag, ==, "vmx");

  assert_cpus_sane(host, 8);
  assert_cpuset(host->online, "0-7");
  for (guint i = 0; i < 4; i++) {
    g_autofree char *sib = g_strdup_printf("%u,%u", i, i + 4);

    assert_cpu(host, i, 0, (gint)i, 0, 0, sib);
    assert_cpu(host, i + 4, 0, (gint)i, 0, 0, sib);
  }
  g_assert_cmpuint(host->l3_groups->len, ==, 1);
  assert_cpuset(host->l3_groups->pdata[0], "0-7");
  g_assert_cmpuint(host->nodes->len, ==, 1);
  assert_cpuset(host->nodes->pdata[0], "0-7");

  g_assert_true(host->iommu);
  g_assert_cmpuint(host->pci->len, ==, G_N_ELEMENTS(order));
  for (guint i = 0; i < G_N_ELEMENTS(order); i++)
    g_assert_cmpstr(((WvPciDevice *)host->pci->pdata[i])->name, ==, order[i]);

  igpu = pci(host, "0000:00:02.0");
  g_assert_cmpuint(igpu->addr.domain, ==, 0);
  g_assert_cmpuint(igpu->addr.bus, ==, 0);
  g_assert_cmpuint(igpu->addr.slot, ==, 2);
  g_assert_cmpuint(igpu->addr.function, ==, 0);
  g_assert_cmphex(igpu->class, ==, 0x030000);
  g_assert_cmphex(igpu->vendor, ==, 0x8086);
  g_assert_cmphex(igpu->device, ==, 0x3ea0);
  g_assert_cmpstr(igpu->driver, ==, "i915");
  g_assert_cmpint(igpu->iommu_group, ==, 1);
  g_assert_cmpint(igpu->node, ==, -1);
  g_assert_false(wv_pci_device_is_bridge(igpu));
  group = group_names(host, 1);
  g_assert_cmpstr(group, ==, "0000:00:02.0");
  g_clear_pointer(&group, g_free);
  group = group_names(host, 3);
  g_assert_cmpstr(group, ==, "0000:00:1f.0,0000:00:1f.3,0000:00:1f.4");

  dev = pci(host, "0000:00:00.0"); /* host bridge */
  g_assert_true(wv_pci_device_is_bridge(dev));
  g_assert_cmpint(dev->iommu_group, ==, 0);
  dev = pci(host, "0000:00:1f.0"); /* ISA bridge, no driver */
  g_assert_true(wv_pci_device_is_bridge(dev));
  g_assert_null(dev->driver);
  dev = pci(host, "0000:00:14.0");
  g_assert_false(wv_pci_device_is_bridge(dev));
  g_assert_cmpstr(dev->driver, ==, "xhci_hcd");
  g_assert_cmpint(dev->iommu_group, ==, 2);

  g_assert_cmpuint(host->hugepages->len, ==, 2);
  assert_pool(host, 2048, -1, 0, 0);
  assert_pool(host, 2048, 0, 0, 0);
  g_assert_null(wv_host_hugepages(host, 1048576, -1));
  g_assert_null(wv_host_hugepages(host, 2048, 1));

  /* No pagesize option: the size comes from meminfo. */
  g_assert_cmpuint(host->default_hugepage_kib, ==, 2048);
  g_assert_cmpuint(host->mem_available_kib, >, 0);
  g_assert_cmpuint(host->hugetlbfs->len, ==, 1);
  m = wv_host_hugetlbfs(host, 2048);
  g_assert_nonnull(m);
  g_assert_cmpstr(m->path, ==, "/dev/hugepages");
  g_assert_null(wv_host_hugetlbfs(host, 1048576));
}

static void
test_ryzen(void)
{
  g_autoptr(WvHost) host = probe("ryzen");
  g_autofree char *group = NULL;
  const WvPciDevice *gpu, *audio, *bridge, *nvme;
  const WvHugepagePool *pool;
  const WvHugetlbfsMount *m;

  assert_cpus_sane(host, 16);
  assert_cpuset(host->online, "0-15");
  g_assert_cmpuint(host->mem_available_kib, ==, 16 * 1024 * 1024);
  for (guint i = 0; i < 8; i++) {
    g_autofree char *sib = g_strdup_printf("%u,%u", i, i + 8);
    gint ccx = i < 4 ? 0 : 1;

    assert_cpu(host, i, 0, (gint)i, 0, ccx, sib);
    assert_cpu(host, i + 8, 0, (gint)i, 0, ccx, sib);
  }
  g_assert_cmpuint(host->l3_groups->len, ==, 2);
  assert_cpuset(host->l3_groups->pdata[0], "0-3,8-11");
  assert_cpuset(host->l3_groups->pdata[1], "4-7,12-15");
  g_assert_cmpuint(host->nodes->len, ==, 1);
  assert_cpuset(host->nodes->pdata[0], "0-15");

  g_assert_true(host->iommu);
  g_assert_cmpuint(host->pci->len, ==, 6);
  gpu = pci(host, "0000:0f:00.0");
  g_assert_cmpuint(gpu->addr.bus, ==, 0x0f);
  g_assert_cmphex(gpu->class, ==, 0x030000);
  g_assert_cmphex(gpu->vendor, ==, 0x10de);
  g_assert_cmphex(gpu->device, ==, 0x1b80);
  g_assert_cmpstr(gpu->driver, ==, "vfio-pci");
  g_assert_cmpint(gpu->iommu_group, ==, 16);
  g_assert_cmpint(gpu->node, ==, 0);
  audio = pci(host, "0000:0f:00.1");
  g_assert_cmpuint(audio->addr.function, ==, 1);
  g_assert_cmphex(audio->class, ==, 0x040300);
  g_assert_cmphex(audio->device, ==, 0x10f0);
  g_assert_cmpstr(audio->driver, ==, "vfio-pci");
  g_assert_cmpint(audio->iommu_group, ==, 16);
  bridge = pci(host, "0000:00:03.1");
  g_assert_cmphex(bridge->class, ==, 0x060400);
  g_assert_cmpstr(bridge->driver, ==, "pcieport");
  g_assert_true(wv_pci_device_is_bridge(bridge));
  g_assert_false(wv_pci_device_is_bridge(gpu));
  g_assert_false(wv_pci_device_is_bridge(audio));

  /* Sorted by address: the bridge first. */
  group = group_names(host, 16);
  g_assert_cmpstr(group, ==, "0000:00:03.1,0000:0f:00.0,0000:0f:00.1");
  g_clear_pointer(&group, g_free);

  nvme = pci(host, "0000:01:00.0");
  g_assert_cmphex(nvme->class, ==, 0x010802);
  g_assert_cmpstr(nvme->driver, ==, "nvme");
  group = group_names(host, nvme->iommu_group);
  g_assert_cmpstr(group, ==, "0000:01:00.0");

  /* Global pools first, by size, then per node. */
  g_assert_cmpuint(host->hugepages->len, ==, 4);
  pool = host->hugepages->pdata[0];
  g_assert_cmpuint(pool->page_kib, ==, 2048);
  g_assert_cmpint(pool->node, ==, -1);
  pool = host->hugepages->pdata[1];
  g_assert_cmpuint(pool->page_kib, ==, 1048576);
  g_assert_cmpint(pool->node, ==, -1);
  pool = host->hugepages->pdata[2];
  g_assert_cmpint(pool->node, ==, 0);
  assert_pool(host, 1048576, -1, 16, 16);
  assert_pool(host, 2048, -1, 0, 0);
  assert_pool(host, 1048576, 0, 16, 16);
  assert_pool(host, 2048, 0, 0, 0);

  g_assert_cmpuint(host->hugetlbfs->len, ==, 2);
  m = wv_host_hugetlbfs(host, 1048576); /* "pagesize=1024M" */
  g_assert_nonnull(m);
  g_assert_cmpstr(m->path, ==, "/dev/hugepages1G");
  m = wv_host_hugetlbfs(host, 2048);
  g_assert_nonnull(m);
  g_assert_cmpstr(m->path, ==, "/dev/hugepages");
}

static void
test_numa2s(void)
{
  g_autoptr(WvHost) host = probe("numa2s");
  g_autoptr(GPtrArray) group = NULL;
  const WvHostCpu *cpu;
  const WvPciDevice *gpu;
  const WvHugetlbfsMount *m;

  assert_cpus_sane(host, 32);
  g_assert_cmpuint(host->online->n, ==, 31);
  assert_cpuset(host->online, "0-30");
  assert_cpu(host, 0, 0, 0, 0, 0, "0,16");
  assert_cpu(host, 7, 0, 7, 0, 0, "7,23");
  assert_cpu(host, 8, 1, 0, 1, 1, "8,24");
  assert_cpu(host, 16, 0, 0, 0, 0, "0,16");
  assert_cpu(host, 30, 1, 6, 1, 1, "14,30");
  /* The sibling of the offline CPU runs alone. */
  assert_cpu(host, 15, 1, 7, 1, 1, "15");

  cpu = wv_host_cpu(host, 31);
  g_assert_nonnull(cpu);
  g_assert_false(cpu->online);
  g_assert_cmpint(cpu->package, ==, -1);
  g_assert_cmpint(cpu->die, ==, -1);
  g_assert_cmpint(cpu->core, ==, -1);
  g_assert_cmpint(cpu->node, ==, -1);
  g_assert_cmpint(cpu->l3, ==, -1);
  assert_cpuset(cpu->siblings, "31");
  g_assert_null(wv_host_cpu(host, 32));

  g_assert_cmpuint(host->nodes->len, ==, 2);
  assert_cpuset(host->nodes->pdata[0], "0-7,16-23");
  assert_cpuset(host->nodes->pdata[1], "8-15,24-30");
  g_assert_cmpuint(host->l3_groups->len, ==, 2);
  assert_cpuset(host->l3_groups->pdata[0], "0-7,16-23");
  assert_cpuset(host->l3_groups->pdata[1], "8-15,24-30");

  g_assert_true(host->iommu);
  gpu = pci(host, "0000:81:00.0");
  g_assert_cmphex(gpu->vendor, ==, 0x10de);
  g_assert_cmpstr(gpu->driver, ==, "vfio-pci");
  g_assert_cmpint(gpu->node, ==, 1);
  group = wv_host_iommu_group(host, gpu->iommu_group);
  g_assert_cmpuint(group->len, ==, 1);
  g_assert_true(group->pdata[0] == gpu);
  g_assert_cmpint(pci(host, "0000:80:03.0")->node, ==, 1);
  g_assert_cmpint(pci(host, "0000:00:17.0")->node, ==, 0);

  assert_pool(host, 2048, -1, 3072, 2560);
  assert_pool(host, 2048, 0, 2048, 2048);
  assert_pool(host, 2048, 1, 1024, 512);
  assert_pool(host, 1048576, -1, 0, 0);
  assert_pool(host, 1048576, 1, 0, 0);
  g_assert_cmpuint(host->hugepages->len, ==, 6);

  g_assert_cmpuint(host->hugetlbfs->len, ==, 2);
  m = wv_host_hugetlbfs(host, 2048);
  g_assert_cmpstr(m->path, ==, "/dev/hugepages");
  m = host->hugetlbfs->pdata[1];
  g_assert_cmpstr(m->path, ==, "/srv/huge pages"); /* "\040" unescaped */
  g_assert_cmpuint(m->page_kib, ==, 2048);
  g_assert_null(wv_host_hugetlbfs(host, 1048576));
}

static void
test_nokvm(void)
{
  g_autoptr(WvHost) host = probe("nokvm");

  g_assert_cmpint(host->kvm, ==, WV_KVM_NO_MODULE);
  g_assert_cmpstr(host->cpu_virt_flag, ==, "");
  assert_cpus_sane(host, 2);
}

/* The real /sys: the probe agrees with what this machine has, whichever
 * kind it is (nested KVM or none). */
static void
test_real_kvm(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvHost) host = wv_host_probe(NULL, NULL, &error);
  gboolean usable = g_file_test("/sys/class/misc/kvm", G_FILE_TEST_EXISTS) &&
                    access("/dev/kvm", R_OK | W_OK) == 0;

  g_assert_no_error(error);
  g_assert_cmpint(host->kvm == WV_KVM_AVAILABLE, ==, usable);
  g_assert_nonnull(host->cpu_virt_flag);
  if (host->kvm == WV_KVM_NO_MODULE)
    g_assert_false(g_file_test("/sys/class/misc/kvm", G_FILE_TEST_EXISTS));
}

static void
test_noiommu(void)
{
  g_autoptr(WvHost) host = probe("noiommu");
  g_autoptr(GPtrArray) none = NULL;
  g_autofree char *kernel_dir = NULL;
  const WvPciDevice *gpu;

  assert_cpus_sane(host, 8);
  assert_cpu(host, 1, 0, 1, 0, 0, "1,5");

  kernel_dir = g_build_filename(host->sysfs_root, "kernel", "iommu_groups", NULL);
  g_assert_true(g_file_test(kernel_dir, G_FILE_TEST_IS_DIR));
  g_assert_false(host->iommu);
  g_assert_cmpuint(host->pci->len, ==, 4);
  for (guint i = 0; i < host->pci->len; i++)
    g_assert_cmpint(((WvPciDevice *)host->pci->pdata[i])->iommu_group, ==, -1);
  none = wv_host_iommu_group(host, -1);
  g_assert_cmpuint(none->len, ==, 0);

  gpu = pci(host, "0000:01:00.0");
  g_assert_cmphex(gpu->class, ==, 0x030000);
  g_assert_cmpstr(gpu->driver, ==, "nouveau");
  g_assert_cmpint(gpu->node, ==, -1); /* no numa_node file */
  g_assert_true(wv_pci_device_is_bridge(pci(host, "0000:00:01.0")));

  assert_pool(host, 2048, -1, 0, 0);
  g_assert_cmpuint(host->default_hugepage_kib, ==, 2048);
  g_assert_cmpuint(host->hugetlbfs->len, ==, 0);
  g_assert_null(wv_host_hugetlbfs(host, 2048));
}

static void
check_gpu_host(const char *name, const char *group20)
{
  g_autoptr(WvHost) host = probe(name);
  g_autoptr(GPtrArray) group = NULL;
  g_autofree char *names = NULL;

  assert_cpus_sane(host, 12);
  for (guint i = 0; i < 6; i++) {
    g_autofree char *sib = g_strdup_printf("%u,%u", i, i + 6);

    assert_cpu(host, i, 0, (gint)i, 0, 0, sib);
    assert_cpu(host, i + 6, 0, (gint)i, 0, 0, sib);
  }
  g_assert_cmpuint(host->l3_groups->len, ==, 1);
  g_assert_true(host->iommu);

  names = group_names(host, 20);
  g_assert_cmpstr(names, ==, group20);
  group = wv_host_iommu_group(host, 20);
  for (guint i = 0; i < group->len; i++)
    g_assert_false(wv_pci_device_is_bridge(group->pdata[i]));
  g_assert_cmpstr(pci(host, "0000:0a:00.0")->driver, ==, "vfio-pci");
  g_assert_cmphex(pci(host, "0000:0a:00.0")->vendor, ==, 0x1002);
  g_assert_cmpstr(pci(host, "0000:0a:00.1")->driver, ==, "vfio-pci");
  g_assert_cmpint(pci(host, "0000:00:03.1")->iommu_group, ==, 19);

  assert_pool(host, 2048, -1, 4096, 4096);
  assert_pool(host, 2048, 0, 4096, 4096);
  g_assert_nonnull(wv_host_hugetlbfs(host, 2048));
}

static void
test_gpu_alone(void)
{
  check_gpu_host("gpu-alone", "0000:0a:00.0,0000:0a:00.1");
}

static void
test_gpu_shared(void)
{
  g_autoptr(WvHost) host = probe("gpu-shared");
  const WvPciDevice *sata;

  check_gpu_host("gpu-shared", "0000:0a:00.0,0000:0a:00.1,0000:0a:00.2");
  sata = pci(host, "0000:0a:00.2");
  g_assert_cmphex(sata->class, ==, 0x010601);
  g_assert_cmpstr(sata->driver, ==, "ahci");
  g_assert_cmpint(sata->iommu_group, ==, 20);
}

static void
test_missing_root(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvHost) host = wv_host_probe("/nonexistent/winvm-test-sys", NULL, &error);

  g_assert_null(host);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(
      strstr(error->message, "/nonexistent/winvm-test-sys/devices/system/cpu/present"));
  g_test_message("%s", error->message);
}

/* ---- a tree built on the fly: fallbacks and broken files ---------------- */

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
test_fallbacks(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp("winvm-host-XXXXXX", &error);
  g_autofree char *mounts = NULL;
  g_autoptr(WvHost) host = NULL;
  const WvHostCpu *cpu;

  g_assert_no_error(error);
  /* No global online list: cpu0 has no online file (online), cpu1 says 0. */
  write_file(tmp, "devices/system/cpu/present", "0-2\n");
  write_file(tmp, "devices/system/cpu/cpu1/online", "0\n");
  write_file(tmp, "devices/system/cpu/cpu2/online", "1\n");
  write_file(tmp, "devices/system/cpu/cpu0/topology/thread_siblings_list", "0\n");
  write_file(tmp, "devices/system/cpu/cpu0/topology/core_id", "0\n");
  /* A memory-only node and a broken one. */
  write_file(tmp, "devices/system/node/node0/cpulist", "0-2\n");
  write_file(tmp, "devices/system/node/node2/cpulist", "\n");
  write_file(tmp, "devices/system/node/node3/cpulist", "garbage\n");
  /* A directory that is no PCI address. */
  write_file(tmp, "bus/pci/devices/not-a-device/class", "0x030000\n");
  mounts = g_build_filename(tmp, "proc", "mounts", NULL);

  host = wv_host_probe(tmp, mounts, &error);
  g_assert_no_error(error);
  g_assert_nonnull(host);
  assert_cpuset(host->online, "0,2");
  cpu = wv_host_cpu(host, 0);
  g_assert_true(cpu->online);
  g_assert_cmpint(cpu->core, ==, 0);
  g_assert_cmpint(cpu->package, ==, -1);
  g_assert_cmpint(cpu->l3, ==, -1);
  g_assert_cmpint(cpu->node, ==, 0);
  cpu = wv_host_cpu(host, 1);
  g_assert_false(cpu->online);
  assert_cpuset(cpu->siblings, "1");
  g_assert_true(wv_host_cpu(host, 2)->online);
  g_assert_cmpuint(host->l3_groups->len, ==, 0);
  g_assert_cmpuint(host->nodes->len, ==, 3);
  g_assert_nonnull(host->nodes->pdata[0]);
  g_assert_null(host->nodes->pdata[1]);
  assert_cpuset(host->nodes->pdata[2], "");
  g_assert_false(host->iommu);
  g_assert_cmpuint(host->pci->len, ==, 0);
  g_assert_cmpuint(host->hugepages->len, ==, 0);
  g_assert_cmpuint(host->hugetlbfs->len, ==, 0);
  g_assert_cmpuint(host->mem_available_kib, ==, 0);
  g_assert_cmpuint(host->default_hugepage_kib, ==, 0);
  g_clear_pointer(&host, wv_host_free);

  /* A global online list that cannot be parsed is an error naming it. */
  write_file(tmp, "devices/system/cpu/online", "0-x\n");
  host = wv_host_probe(tmp, mounts, &error);
  g_assert_null(host);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "devices/system/cpu/online"));
  g_clear_error(&error);

  /* Once readable, the global list wins over cpuN/online. */
  write_file(tmp, "devices/system/cpu/online", "0-1\n");
  write_file(tmp, "proc/mounts",
             "hugetlbfs /a hugetlbfs rw,pagesize=1G 0 0\n"
             "hugetlbfs /b\\011tab hugetlbfs rw 0 0\n"
             "tmpfs /dev/shm tmpfs rw 0 0\n"
             "short line\n");
  write_file(tmp, "proc/meminfo", "MemTotal: 100 kB\nHugepagesize:    1048576 kB\n");
  host = wv_host_probe(tmp, mounts, &error);
  g_assert_no_error(error);
  assert_cpuset(host->online, "0-1");
  g_assert_true(wv_host_cpu(host, 1)->online);
  g_assert_false(wv_host_cpu(host, 2)->online);
  g_assert_cmpuint(host->default_hugepage_kib, ==, 1048576);
  g_assert_cmpuint(host->hugetlbfs->len, ==, 2);
  g_assert_cmpstr(((WvHugetlbfsMount *)host->hugetlbfs->pdata[0])->path, ==, "/a");
  g_assert_cmpuint(((WvHugetlbfsMount *)host->hugetlbfs->pdata[0])->page_kib, ==, 1048576);
  g_assert_cmpstr(((WvHugetlbfsMount *)host->hugetlbfs->pdata[1])->path, ==, "/b\ttab");
  g_assert_cmpuint(((WvHugetlbfsMount *)host->hugetlbfs->pdata[1])->page_kib, ==, 1048576);
  /* no buddyinfo, no node meminfo: nothing known, nothing wrong */
  g_assert_null(host->buddyinfo);
  g_assert_null(host->buddyinfo_error);
  g_assert_cmpuint(wv_host_node_free_kib(host, 0), ==, 0);
  g_clear_pointer(&host, wv_host_free);

  /* per-node MemFree and /proc/buddyinfo beside meminfo */
  write_file(tmp, "devices/system/node/node0/meminfo",
             "Node 0 MemTotal:       32000000 kB\nNode 0 MemFree:        3145728 kB\n");
  write_file(tmp, "devices/system/node/node2/meminfo", "Node 2 MemFree: garbage kB\n");
  write_file(tmp, "proc/buddyinfo",
             "Node 0, zone      DMA      1      1      1      0      2      1      1      0      1"
             "      1      3\n"
             "Node 0, zone   Normal    100     50     20     10      5      4      3      2      1"
             "     16    512\n");
  host = wv_host_probe(tmp, mounts, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(wv_host_node_free_kib(host, 0), ==, 3145728);
  g_assert_cmpuint(wv_host_node_free_kib(host, 1), ==, 0); /* a hole */
  g_assert_cmpuint(wv_host_node_free_kib(host, 2), ==, 0); /* unreadable */
  g_assert_cmpuint(wv_host_node_free_kib(host, 7), ==, 0); /* no such node */
  g_assert_cmpuint(wv_host_node_free_kib(host, -1), ==, 0);
  g_assert_nonnull(host->buddyinfo);
  g_assert_cmpuint(host->buddyinfo->len, ==, 2);
  g_assert_null(host->buddyinfo_error);
  g_clear_pointer(&host, wv_host_free);

  /* a buddyinfo that makes no sense is said, and is no reason to fail */
  write_file(tmp, "proc/buddyinfo", "Node 0, zone Normal 1 2 x\n");
  host = wv_host_probe(tmp, mounts, &error);
  g_assert_no_error(error);
  g_assert_null(host->buddyinfo);
  g_assert_nonnull(strstr(host->buddyinfo_error, "proc/buddyinfo: buddyinfo line 1"));

  wv_test_remove_tree(tmp);
}

static void
test_lookups(void)
{
  g_autoptr(WvHost) host = probe("ryzen");
  g_autoptr(GPtrArray) empty = wv_host_iommu_group(host, 999);
  WvPciAddress nowhere = {0, 0x42, 0, 0};

  g_assert_cmpuint(empty->len, ==, 0);
  g_assert_null(wv_host_pci(host, &nowhere));
  g_assert_null(wv_host_cpu(host, 16));
  g_assert_nonnull(wv_host_cpu(host, 15));
  g_assert_null(wv_host_hugepages(host, 4, -1));
}

/* ---- domain capabilities ------------------------------------------------ */

static WvDomcaps *
load_domcaps(const char *name)
{
  g_autofree char *path = g_build_filename(WV_TEST_DATA, "domcaps", name, NULL);
  g_autofree char *xml = NULL;
  g_autoptr(GError) error = NULL;
  WvDomcaps *caps;

  g_file_get_contents(path, &xml, NULL, &error);
  g_assert_no_error(error);
  caps = wv_domcaps_parse(xml, &error);
  g_assert_no_error(error);
  g_assert_nonnull(caps);
  return caps;
}

#define HV(f) (1u << WV_HV_##f)

static void
test_domcaps_kvm(void)
{
  g_autoptr(WvDomcaps) caps = load_domcaps("kvm.xml");

  g_assert_true(caps->hyperv_known);
  /* Everything, stimer-direct by way of stimer; vendor_id is not a feature. */
  g_assert_cmphex(caps->hyperv_supported, ==, (1u << WV_HV_N_FEATURES) - 1);
  g_assert_true(caps->efi);
  g_assert_true(caps->secure_boot);
  g_assert_true(caps->tpm);
  g_assert_cmpuint(caps->max_vcpus, ==, 288);
  g_assert_cmpuint(caps->machines->len, ==, 1);
  g_assert_cmpstr(caps->machines->pdata[0], ==, "pc-q35-7.2");
}

static void
test_domcaps_kvm_no_evmcs(void)
{
  g_autoptr(WvDomcaps) caps = load_domcaps("kvm-no-evmcs.xml");

  g_assert_true(caps->hyperv_known);
  g_assert_cmphex(caps->hyperv_supported, ==,
                  ((1u << WV_HV_N_FEATURES) - 1) & ~(HV(EVMCS) | HV(AVIC)));
  g_assert_true(caps->hyperv_supported & HV(STIMER_DIRECT));
  g_assert_true(caps->efi);
  g_assert_true(caps->secure_boot);
}

static void
test_domcaps_qemu_tcg(void)
{
  g_autoptr(WvDomcaps) caps = load_domcaps("qemu-tcg.xml");

  /* What libvirt 9.0 really lists here: spinlocks and vendor_id. */
  g_assert_true(caps->hyperv_known);
  g_assert_cmphex(caps->hyperv_supported, ==, HV(SPINLOCKS));
  g_assert_true(caps->efi);
  g_assert_false(caps->secure_boot); /* i440fx: no SMM, no secure boot */
  g_assert_true(caps->tpm);
  g_assert_cmpuint(caps->max_vcpus, ==, 255);
  g_assert_cmpuint(caps->machines->len, ==, 1);
  g_assert_cmpstr(caps->machines->pdata[0], ==, "pc-i440fx-7.2");
}

static void
test_domcaps_minimal(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvDomcaps) none = NULL;
  g_autoptr(WvDomcaps) no = NULL;
  g_autoptr(WvDomcaps) loader = NULL;

  none = wv_domcaps_parse("<domainCapabilities/>", &error);
  g_assert_no_error(error);
  g_assert_false(none->hyperv_known);
  g_assert_cmphex(none->hyperv_supported, ==, 0);
  g_assert_false(none->efi);
  g_assert_false(none->secure_boot);
  g_assert_false(none->tpm);
  g_assert_cmpuint(none->max_vcpus, ==, 0);
  g_assert_cmpuint(none->machines->len, ==, 0);

  no = wv_domcaps_parse("<domainCapabilities><vcpu max='x'/><features>"
                        "<hyperv supported='no'><enum name='features'><value>relaxed</value>"
                        "</enum></hyperv></features><devices><tpm supported='no'>"
                        "<enum name='backendModel'><value>emulator</value></enum></tpm>"
                        "</devices></domainCapabilities>",
                        &error);
  g_assert_no_error(error);
  g_assert_true(no->hyperv_known);
  g_assert_cmphex(no->hyperv_supported, ==, 0);
  g_assert_false(no->tpm);
  g_assert_cmpuint(no->max_vcpus, ==, 0);

  /* Older libvirt: no firmware enum, only the loader paths. */
  loader = wv_domcaps_parse("<domainCapabilities><os supported='yes'><loader supported='yes'>"
                            "<value>/usr/share/OVMF/OVMF_CODE.fd</value>"
                            "<enum name='secure'><value>no</value></enum></loader></os>"
                            "<features><hyperv supported='yes'><enum name='features'>"
                            "<value> relaxed </value><value>stimer</value><value>xmm_input</value>"
                            "</enum></hyperv></features></domainCapabilities>",
                            &error);
  g_assert_no_error(error);
  g_assert_true(loader->efi);
  g_assert_false(loader->secure_boot);
  g_assert_cmphex(loader->hyperv_supported, ==, HV(RELAXED) | HV(STIMER) | HV(STIMER_DIRECT));
}

static void
test_domcaps_garbage(void)
{
  static const char *const bad[] = {
      "",
      "not xml at all",
      "<domainCapabilities><os>",
      "<domain type='kvm'/>",
      "<domainCapabilities></domainCapabilitie>",
  };

  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(WvDomcaps) caps = wv_domcaps_parse(bad[i], &error);

    g_assert_null(caps);
    g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "domain capabilities"));
    g_test_message("%s", error->message);
  }
}

/* External entities are never loaded or substituted. */
static void
test_domcaps_no_entities(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvDomcaps) caps = NULL;
  g_autofree char *tmp = g_dir_make_tmp("winvm-domcaps-XXXXXX", &error);
  g_autofree char *secret = NULL;
  g_autofree char *xml = NULL;

  g_assert_no_error(error);
  secret = g_build_filename(tmp, "secret", NULL);
  g_file_set_contents(secret, "pc-q35-secret", -1, &error);
  g_assert_no_error(error);
  xml = g_strdup_printf("<?xml version='1.0'?>\n"
                        "<!DOCTYPE domainCapabilities [<!ENTITY e SYSTEM 'file://%s'>]>\n"
                        "<domainCapabilities><machine>&e;</machine></domainCapabilities>",
                        secret);
  caps = wv_domcaps_parse(xml, &error);
  if (caps != NULL) {
    for (guint i = 0; i < caps->machines->len; i++)
      g_assert_null(strstr(caps->machines->pdata[i], "secret"));
  } else {
    g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  }
  g_assert_cmpint(g_unlink(secret), ==, 0);
  g_assert_cmpint(g_rmdir(tmp), ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  g_test_add_func("/host/laptop", test_laptop);
  g_test_add_func("/host/ryzen", test_ryzen);
  g_test_add_func("/host/numa2s", test_numa2s);
  g_test_add_func("/host/noiommu", test_noiommu);
  g_test_add_func("/host/nokvm", test_nokvm);
  g_test_add_func("/host/real-kvm", test_real_kvm);
  g_test_add_func("/host/gpu-alone", test_gpu_alone);
  g_test_add_func("/host/gpu-shared", test_gpu_shared);
  g_test_add_func("/host/missing-root", test_missing_root);
  g_test_add_func("/host/fallbacks", test_fallbacks);
  g_test_add_func("/host/lookups", test_lookups);
  g_test_add_func("/domcaps/kvm", test_domcaps_kvm);
  g_test_add_func("/domcaps/kvm-no-evmcs", test_domcaps_kvm_no_evmcs);
  g_test_add_func("/domcaps/qemu-tcg", test_domcaps_qemu_tcg);
  g_test_add_func("/domcaps/minimal", test_domcaps_minimal);
  g_test_add_func("/domcaps/garbage", test_domcaps_garbage);
  g_test_add_func("/domcaps/no-entities", test_domcaps_no_entities);

  return g_test_run();
}
