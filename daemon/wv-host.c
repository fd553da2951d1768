/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-host.h"
#include "wv-common.h"

#include <string.h>
#include <unistd.h>

#include "wv-xml.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)

/* ---- small sysfs readers ------------------------------------------------ */

/* The stripped contents of @path, NULL when it cannot be read. */
static char *
read_text(const char *path, GError **error)
{
  char *text = NULL;

  if (!g_file_get_contents(path, &text, NULL, error))
    return NULL;
  return g_strstrip(text);
}

static gint
read_int(const char *path, gint fallback)
{
  g_autofree char *text = read_text(path, NULL);
  gint64 v;

  if (text == NULL || !g_ascii_string_to_signed(text, 10, G_MININT, G_MAXINT, &v, NULL))
    return fallback;
  return (gint)v;
}

static guint64
read_u64(const char *path)
{
  g_autofree char *text = read_text(path, NULL);
  guint64 v;

  if (text == NULL || !g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &v, NULL))
    return 0;
  return v;
}

/* A "0x030000" attribute as sysfs prints PCI ids and classes; 0 if unreadable. */
static guint
read_hex(const char *path)
{
  g_autofree char *text = read_text(path, NULL);
  const char *digits;
  guint64 v;

  if (text == NULL)
    return 0;
  digits = g_str_has_prefix(text, "0x") ? text + 2 : text;
  if (!g_ascii_string_to_unsigned(digits, 16, 0, G_MAXUINT, &v, NULL))
    return 0;
  return (guint)v;
}

/* The basename of what the symlink @path points to ("i915" for a driver
 * link), NULL when there is no such link. */
static char *
read_link_name(const char *path)
{
  g_autofree char *target = g_file_read_link(path, NULL);

  if (target == NULL)
    return NULL;
  return g_path_get_basename(target);
}

/* Parses a file in the kernel's CPU list syntax; an empty file (a node
 * without CPUs) is an empty set. */
static WvCpuset *
read_cpuset(const char *path, GError **error)
{
  g_autofree char *text = read_text(path, error);
  g_autoptr(GError) local = NULL;
  WvCpuset *set;

  if (text == NULL)
    return NULL;
  if (text[0] == '\0')
    return wv_cpuset_new(NULL, 0);
  set = wv_cpuset_parse(text, &local);
  if (set == NULL)
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "%s: %s", path, local->message);
  return set;
}

/* Matches "<prefix><decimal><suffix>" names such as "node1", "cpu12" or
 * "hugepages-2048kB". */
static gboolean
parse_numbered_name(const char *name, const char *prefix, const char *suffix, guint64 *out)
{
  gsize plen = strlen(prefix), slen = strlen(suffix), len = strlen(name);
  g_autofree char *digits = NULL;

  if (len <= plen + slen || !g_str_has_prefix(name, prefix) || !g_str_has_suffix(name, suffix))
    return FALSE;
  digits = g_strndup(name + plen, len - plen - slen);
  return g_ascii_string_to_unsigned(digits, 10, 0, G_MAXINT, out, NULL);
}

static gint
cmp_u64(gconstpointer a, gconstpointer b)
{
  guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;

  return x < y ? -1 : x > y;
}

/* The numbers N of the entries named "<prefix>N<suffix>" in @dir, sorted;
 * empty when @dir cannot be read. */
static GArray *
list_numbered(const char *dir, const char *prefix, const char *suffix)
{
  g_autoptr(GArray) out = g_array_new(FALSE, FALSE, sizeof(guint64));
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;

  if (d == NULL)
    return g_steal_pointer(&out);
  while ((name = g_dir_read_name(d)) != NULL) {
    guint64 n;

    if (parse_numbered_name(name, prefix, suffix, &n))
      g_array_append_val(out, n);
  }
  g_array_sort(out, cmp_u64);
  return g_steal_pointer(&out);
}

/* ---- freeing ------------------------------------------------------------ */

static void
host_cpu_free(gpointer p)
{
  WvHostCpu *cpu = p;

  wv_cpuset_free(cpu->siblings);
  g_free(cpu);
}

static void
pci_device_free(gpointer p)
{
  WvPciDevice *dev = p;

  g_free(dev->name);
  g_free(dev->driver);
  g_free(dev);
}

static void
hugepage_pool_free(gpointer p)
{
  WvHugepagePool *pool = p;

  g_free(pool->nr_path);
  g_free(pool->free_path);
  g_free(pool);
}

static void
hugetlbfs_mount_free(gpointer p)
{
  WvHugetlbfsMount *m = p;

  g_free(m->path);
  g_free(m);
}

static void
cpuset_free(gpointer p)
{
  wv_cpuset_free(p);
}

void
wv_host_free(WvHost *host)
{
  if (host == NULL)
    return;
  g_free(host->sysfs_root);
  g_clear_pointer(&host->cpus, g_ptr_array_unref);
  wv_cpuset_free(host->online);
  g_clear_pointer(&host->nodes, g_ptr_array_unref);
  g_clear_pointer(&host->l3_groups, g_ptr_array_unref);
  g_clear_pointer(&host->pci, g_ptr_array_unref);
  g_clear_pointer(&host->hugepages, g_ptr_array_unref);
  g_clear_pointer(&host->hugetlbfs, g_ptr_array_unref);
  g_clear_pointer(&host->node_free_kib, g_array_unref);
  g_clear_pointer(&host->buddyinfo, g_array_unref);
  g_free(host->buddyinfo_error);
  g_free(host->cpu_virt_flag);
  g_free(host);
}

/* ---- CPUs and NUMA nodes ------------------------------------------------ */

static gint
cmp_cpuset_first(gconstpointer a, gconstpointer b)
{
  const WvCpuset *x = *(WvCpuset *const *)a, *y = *(WvCpuset *const *)b;
  guint fx = x->n > 0 ? x->cpus[0] : G_MAXUINT, fy = y->n > 0 ? y->cpus[0] : G_MAXUINT;

  return fx < fy ? -1 : fx > fy;
}

/* nodeN/cpulist for every node; a node whose list cannot be read stays a
 * hole. */
static void
probe_nodes(WvHost *host)
{
  g_autofree char *dir = g_build_filename(host->sysfs_root, "devices/system/node", NULL);
  g_autoptr(GArray) ids = list_numbered(dir, "node", "");

  for (guint i = 0; i < ids->len; i++) {
    guint node = (guint)g_array_index(ids, guint64, i);
    g_autofree char *name = g_strdup_printf("node%u", node);
    g_autofree char *path = g_build_filename(dir, name, "cpulist", NULL);
    g_autoptr(GError) local = NULL;
    WvCpuset *cpus = read_cpuset(path, &local);

    if (cpus == NULL) {
      g_debug("NUMA node %u ignored: %s", node, local->message);
      continue;
    }
    if (host->nodes->len <= node)
      g_ptr_array_set_size(host->nodes, (gint)node + 1);
    host->nodes->pdata[node] = cpus;
  }
}

static gint
cpu_node(const WvHost *host, guint cpu)
{
  for (guint n = 0; n < host->nodes->len; n++) {
    const WvCpuset *set = host->nodes->pdata[n];

    if (set != NULL && wv_cpuset_contains(set, cpu))
      return (gint)n;
  }
  return -1;
}

/* Whether @cpu is online: the global list decides when it could be read,
 * else cpuN/online, whose absence (cpu0) means online. */
static gboolean
cpu_online(const WvCpuset *global, const char *cpu_dir, guint cpu)
{
  g_autofree char *path = NULL;

  if (global != NULL)
    return wv_cpuset_contains(global, cpu);
  path = g_build_filename(cpu_dir, "online", NULL);
  return read_int(path, 1) != 0;
}

static gboolean
probe_cpus(WvHost *host, GError **error)
{
  g_autofree char *dir = g_build_filename(host->sysfs_root, "devices/system/cpu", NULL);
  g_autofree char *present_path = g_build_filename(dir, "present", NULL);
  g_autofree char *online_path = g_build_filename(dir, "online", NULL);
  g_autoptr(WvCpuset) present = NULL;
  g_autoptr(WvCpuset) online = NULL;
  g_autoptr(GPtrArray) l3_of_cpu = g_ptr_array_new_with_free_func(cpuset_free);
  g_autoptr(GError) local = NULL;
  g_autofree guint *online_ids = NULL;
  guint n_online = 0;

  present = read_cpuset(present_path, &local);
  if (present == NULL) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "cannot read the host CPUs: %s", local->message);
    return FALSE;
  }
  if (g_file_test(online_path, G_FILE_TEST_EXISTS)) {
    online = read_cpuset(online_path, &local);
    if (online == NULL) {
      g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "cannot read the online CPUs: %s",
                  local->message);
      return FALSE;
    }
  }

  online_ids = g_new(guint, MAX(present->n, 1));
  for (guint i = 0; i < present->n; i++) {
    guint id = present->cpus[i];
    g_autofree char *name = g_strdup_printf("cpu%u", id);
    g_autofree char *cpu_dir = g_build_filename(dir, name, NULL);
    g_autofree char *topo = g_build_filename(cpu_dir, "topology", NULL);
    g_autofree char *pkg_path = g_build_filename(topo, "physical_package_id", NULL);
    g_autofree char *die_path = g_build_filename(topo, "die_id", NULL);
    g_autofree char *core_path = g_build_filename(topo, "core_id", NULL);
    g_autofree char *sib_path = g_build_filename(topo, "thread_siblings_list", NULL);
    g_autofree char *l3_path =
        g_build_filename(cpu_dir, "cache", "index3", "shared_cpu_list", NULL);
    WvHostCpu *cpu = g_new0(WvHostCpu, 1);

    cpu->id = id;
    cpu->online = cpu_online(online, cpu_dir, id);
    cpu->package = read_int(pkg_path, -1);
    cpu->die = read_int(die_path, -1);
    cpu->core = read_int(core_path, -1);
    cpu->siblings = read_cpuset(sib_path, NULL);
    if (cpu->siblings == NULL || !wv_cpuset_contains(cpu->siblings, id)) {
      g_autoptr(WvCpuset) self = wv_cpuset_new(&id, 1);

      if (cpu->siblings == NULL) {
        cpu->siblings = g_steal_pointer(&self);
      } else {
        WvCpuset *both = wv_cpuset_union(cpu->siblings, self);

        wv_cpuset_free(cpu->siblings);
        cpu->siblings = both;
      }
    }
    cpu->node = cpu_node(host, id);
    cpu->l3 = -1;
    g_ptr_array_add(l3_of_cpu, read_cpuset(l3_path, NULL));
    if (cpu->online)
      online_ids[n_online++] = id;
    g_ptr_array_add(host->cpus, cpu);
  }
  host->online = wv_cpuset_new(online_ids, n_online);

  /* Distinct L3 groups, ordered by their lowest CPU. */
  for (guint i = 0; i < l3_of_cpu->len; i++) {
    const WvCpuset *set = l3_of_cpu->pdata[i];
    gboolean known = FALSE;

    if (set == NULL || set->n == 0)
      continue;
    for (guint g = 0; g < host->l3_groups->len && !known; g++)
      known = wv_cpuset_equal(host->l3_groups->pdata[g], set);
    if (!known)
      g_ptr_array_add(host->l3_groups, wv_cpuset_copy(set));
  }
  g_ptr_array_sort(host->l3_groups, cmp_cpuset_first);
  for (guint i = 0; i < l3_of_cpu->len; i++) {
    const WvCpuset *set = l3_of_cpu->pdata[i];
    WvHostCpu *cpu = host->cpus->pdata[i];

    for (guint g = 0; set != NULL && g < host->l3_groups->len; g++) {
      if (wv_cpuset_equal(host->l3_groups->pdata[g], set)) {
        cpu->l3 = (gint)g;
        break;
      }
    }
  }
  return TRUE;
}

/* ---- PCI devices and IOMMU groups --------------------------------------- */

static gint
cmp_pci_address(const WvPciAddress *a, const WvPciAddress *b)
{
  if (a->domain != b->domain)
    return a->domain < b->domain ? -1 : 1;
  if (a->bus != b->bus)
    return a->bus < b->bus ? -1 : 1;
  if (a->slot != b->slot)
    return a->slot < b->slot ? -1 : 1;
  if (a->function != b->function)
    return a->function < b->function ? -1 : 1;
  return 0;
}

static gint
cmp_pci_device(gconstpointer a, gconstpointer b)
{
  const WvPciDevice *x = *(WvPciDevice *const *)a, *y = *(WvPciDevice *const *)b;

  return cmp_pci_address(&x->addr, &y->addr);
}

static void
probe_pci(WvHost *host)
{
  g_autofree char *dir = g_build_filename(host->sysfs_root, "bus/pci/devices", NULL);
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;

  if (d == NULL)
    return;
  while ((name = g_dir_read_name(d)) != NULL) {
    g_autofree char *dev_dir = g_build_filename(dir, name, NULL);
    g_autofree char *class_path = g_build_filename(dev_dir, "class", NULL);
    g_autofree char *vendor_path = g_build_filename(dev_dir, "vendor", NULL);
    g_autofree char *device_path = g_build_filename(dev_dir, "device", NULL);
    g_autofree char *driver_path = g_build_filename(dev_dir, "driver", NULL);
    g_autofree char *group_path = g_build_filename(dev_dir, "iommu_group", NULL);
    g_autofree char *node_path = g_build_filename(dev_dir, "numa_node", NULL);
    g_autofree char *group = NULL;
    g_autoptr(GError) local = NULL; /* wv-profile.c's parsers need a GError */
    WvPciDevice *dev;
    WvPciAddress addr;
    guint64 group_nr;

    if (!wv_parse_pci_address(name, &addr, &local)) {
      g_debug("%s skipped: %s", dev_dir, local->message);
      continue;
    }
    dev = g_new0(WvPciDevice, 1);
    dev->addr = addr;
    dev->name = g_strdup(name);
    dev->class = read_hex(class_path) & 0xffffff;
    dev->vendor = read_hex(vendor_path);
    dev->device = read_hex(device_path);
    dev->driver = read_link_name(driver_path);
    group = read_link_name(group_path);
    if (group != NULL && g_ascii_string_to_unsigned(group, 10, 0, G_MAXINT, &group_nr, NULL))
      dev->iommu_group = (gint)group_nr;
    else
      dev->iommu_group = -1;
    dev->node = read_int(node_path, -1);
    g_ptr_array_add(host->pci, dev);
  }
  g_ptr_array_sort(host->pci, cmp_pci_device);
}

static WvPciDevice *
find_pci_by_name(const WvHost *host, const char *name)
{
  for (guint i = 0; i < host->pci->len; i++) {
    WvPciDevice *dev = host->pci->pdata[i];

    if (g_strcmp0(dev->name, name) == 0)
      return dev;
  }
  return NULL;
}

static void
probe_iommu(WvHost *host)
{
  g_autofree char *dir = g_build_filename(host->sysfs_root, "kernel/iommu_groups", NULL);
  g_autoptr(GArray) groups = list_numbered(dir, "", "");

  for (guint i = 0; i < groups->len; i++) {
    guint64 group = g_array_index(groups, guint64, i);
    g_autofree char *name = g_strdup_printf("%" G_GUINT64_FORMAT, group);
    g_autofree char *group_dir = g_build_filename(dir, name, NULL);
    g_autofree char *devices_dir = g_build_filename(group_dir, "devices", NULL);
    g_autoptr(GDir) d = NULL;
    const char *dev_name;

    if (!g_file_test(group_dir, G_FILE_TEST_IS_DIR))
      continue;
    host->iommu = TRUE;
    /* The group's own listing fills in devices without an iommu_group link. */
    d = g_dir_open(devices_dir, 0, NULL);
    while (d != NULL && (dev_name = g_dir_read_name(d)) != NULL) {
      WvPciDevice *dev = find_pci_by_name(host, dev_name);

      if (dev != NULL && dev->iommu_group < 0)
        dev->iommu_group = (gint)group;
    }
  }
}

/* ---- hugepages ---------------------------------------------------------- */

static void
probe_pools(WvHost *host, const char *dir, gint node)
{
  g_autoptr(GArray) sizes = list_numbered(dir, "hugepages-", "kB");

  for (guint i = 0; i < sizes->len; i++) {
    guint64 kib = g_array_index(sizes, guint64, i);
    g_autofree char *name = g_strdup_printf("hugepages-%" G_GUINT64_FORMAT "kB", kib);
    WvHugepagePool *pool = g_new0(WvHugepagePool, 1);

    pool->page_kib = kib;
    pool->node = node;
    pool->nr_path = g_build_filename(dir, name, "nr_hugepages", NULL);
    pool->free_path = g_build_filename(dir, name, "free_hugepages", NULL);
    pool->total = read_u64(pool->nr_path);
    pool->free = read_u64(pool->free_path);
    g_ptr_array_add(host->hugepages, pool);
  }
}

static void
probe_hugepages(WvHost *host)
{
  g_autofree char *global = g_build_filename(host->sysfs_root, "kernel/mm/hugepages", NULL);

  probe_pools(host, global, -1);
  for (guint n = 0; n < host->nodes->len; n++) {
    g_autofree char *name = NULL;
    g_autofree char *dir = NULL;

    if (host->nodes->pdata[n] == NULL)
      continue;
    name = g_strdup_printf("node%u", n);
    dir = g_build_filename(host->sysfs_root, "devices/system/node", name, "hugepages", NULL);
    probe_pools(host, dir, (gint)n);
  }
}

/* The kB value of @field ("Hugepagesize:") at the start of a line of a
 * meminfo text; 0 when unknown. Read for every plan: it walks the text
 * in place. */
static guint64
meminfo_kib(const char *text, const char *field)
{
  gsize len = strlen(field);

  for (const char *line = text, *nl; line != NULL; line = nl ? nl + 1 : NULL) {
    const char *p = line + len;
    char *end;
    guint64 v;

    nl = strchr(line, '\n');
    if (strncmp(line, field, len) != 0)
      continue;
    while (*p == ' ' || *p == '\t')
      p++;
    if (!g_ascii_isdigit(*p))
      return 0;
    v = g_ascii_strtoull(p, &end, 10);
    /* the number is a whole word: "123 kB" */
    return v > 0 && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\0') ? v : 0;
  }
  return 0;
}

static void
read_meminfo(WvHost *host, const char *meminfo_path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents(meminfo_path, &text, NULL, NULL))
    return;
  host->default_hugepage_kib = meminfo_kib(text, "Hugepagesize:");
  host->mem_available_kib = meminfo_kib(text, "MemAvailable:");
}

/* Each node's MemFree from /sys/devices/system/node/nodeN/meminfo ("Node 0
 * MemFree: 123 kB"): what a pool on that node can grow into at most. */
static void
read_node_meminfo(WvHost *host)
{
  host->node_free_kib = g_array_new(FALSE, TRUE, sizeof(guint64));
  g_array_set_size(host->node_free_kib, host->nodes->len);
  for (guint n = 0; n < host->nodes->len; n++) {
    g_autofree char *name = g_strdup_printf("node%u", n);
    g_autofree char *path = NULL;
    g_autofree char *field = NULL;
    g_autofree char *text = NULL;

    if (host->nodes->pdata[n] == NULL)
      continue;
    path = g_build_filename(host->sysfs_root, "devices/system/node", name, "meminfo", NULL);
    if (!g_file_get_contents(path, &text, NULL, NULL))
      continue;
    field = g_strdup_printf("Node %u MemFree:", n);
    g_array_index(host->node_free_kib, guint64, n) = meminfo_kib(text, field);
  }
}

/* /proc/buddyinfo, beside meminfo: the free blocks of each size, for how
 * many large pages the kernel can find. Absent: nothing said; malformed:
 * said why. */
static void
read_buddyinfo(WvHost *host, const char *meminfo_path)
{
  g_autofree char *dir = g_path_get_dirname(meminfo_path);
  g_autofree char *path = g_build_filename(dir, "buddyinfo", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_file_get_contents(path, &text, NULL, NULL))
    return;
  host->buddyinfo = wv_buddyinfo_parse(text, &error);
  if (host->buddyinfo == NULL)
    host->buddyinfo_error = g_strdup_printf("%s: %s", path, error->message);
}

/* "vmx", "svm" or "" from the first flags line of a cpuinfo text. */
static char *
cpuinfo_virt_flag(const char *cpuinfo_path)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents(cpuinfo_path, &text, NULL, NULL))
    return NULL;
  lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_auto(GStrv) words = NULL;

    if (!g_str_has_prefix(lines[i], "flags"))
      continue;
    words = g_strsplit_set(lines[i], " \t", -1);
    for (guint w = 0; words[w] != NULL; w++)
      if (g_str_equal(words[w], "vmx") || g_str_equal(words[w], "svm"))
        return g_strdup(words[w]);
    break;
  }
  return g_strdup("");
}

static void
probe_kvm(WvHost *host)
{
  g_autofree char *misc = g_build_filename(host->sysfs_root, "class/misc/kvm", NULL);

  if (!g_file_test(misc, G_FILE_TEST_EXISTS))
    host->kvm = WV_KVM_NO_MODULE;
  else if (!g_str_equal(host->sysfs_root, "/sys"))
    host->kvm = WV_KVM_AVAILABLE; /* a described host: its tree is the truth */
  else if (!g_file_test("/dev/kvm", G_FILE_TEST_EXISTS))
    host->kvm = WV_KVM_NO_DEVICE;
  else if (access("/dev/kvm", R_OK | W_OK) < 0)
    host->kvm = WV_KVM_NO_ACCESS;
  else
    host->kvm = WV_KVM_AVAILABLE;
}

/* Undoes the octal escapes (\040 for a space) of /proc/self/mounts. */
static char *
unescape_mount_field(const char *field)
{
  GString *out = g_string_sized_new(strlen(field));

  for (const char *p = field; *p != '\0'; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
        p[3] <= '7') {
      g_string_append_c(out, (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0')));
      p += 3;
    } else {
      g_string_append_c(out, *p);
    }
  }
  return g_string_free(out, FALSE);
}

/* The page size of a hugetlbfs mount from its options ("pagesize=2M", as
 * the kernel prints it, also "1024M" or "1G"), @fallback without one. */
static guint64
mount_page_kib(const char *options, guint64 fallback)
{
  g_auto(GStrv) opts = g_strsplit(options, ",", -1);

  for (guint i = 0; opts[i] != NULL; i++) {
    g_autoptr(GError) local = NULL; /* wv-profile.c's parsers need a GError */
    guint64 kib;

    if (!g_str_has_prefix(opts[i], "pagesize="))
      continue;
    if (wv_parse_size_kib(opts[i] + strlen("pagesize="), &kib, &local))
      return kib;
    g_debug("hugetlbfs option “%s” not understood: %s", opts[i], local->message);
    return 0;
  }
  return fallback;
}

static void
probe_hugetlbfs(WvHost *host, const char *mounts_path)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents(mounts_path, &text, NULL, NULL))
    return;
  /* read for every plan, and a host has many mounts: only the lines that
   * name hugetlbfs are split into fields */
  for (char *line = text, *end; line && *line; line = end ? end + 1 : NULL) {
    g_auto(GStrv) fields = NULL;
    WvHugetlbfsMount *m;

    end = strchr(line, '\n');
    if (end)
      *end = '\0';
    if (strstr(line, "hugetlbfs") == NULL)
      continue;
    fields = g_strsplit_set(line, " \t", -1);
    if (g_strv_length(fields) < 4 || g_strcmp0(fields[2], "hugetlbfs") != 0)
      continue;
    m = g_new0(WvHugetlbfsMount, 1);
    m->path = unescape_mount_field(fields[1]);
    m->page_kib = mount_page_kib(fields[3], host->default_hugepage_kib);
    g_ptr_array_add(host->hugetlbfs, m);
  }
}

/* ---- the host ----------------------------------------------------------- */

/* Where the mount table, meminfo and cpuinfo are: beside @mounts_path, or
 * the real /proc. */
static void
proc_paths(const char *mounts_path, char **mounts, char **meminfo, char **cpuinfo)
{
  if (mounts_path != NULL) {
    g_autofree char *proc_dir = g_path_get_dirname(mounts_path);

    *mounts = g_strdup(mounts_path);
    *meminfo = g_build_filename(proc_dir, "meminfo", NULL);
    *cpuinfo = g_build_filename(proc_dir, "cpuinfo", NULL);
  } else {
    *mounts = g_strdup("/proc/self/mounts");
    *meminfo = g_strdup("/proc/meminfo");
    *cpuinfo = g_strdup("/proc/cpuinfo");
  }
}

/* What may change at any moment and is read for every host: meminfo, the
 * hugetlbfs mounts and /dev/kvm. */
static void
probe_volatile(WvHost *host, const char *mounts, const char *meminfo)
{
  read_meminfo(host, meminfo);
  read_node_meminfo(host);
  read_buddyinfo(host, meminfo);
  probe_hugetlbfs(host, mounts);
  probe_kvm(host);
}

static WvHost *
host_new(const char *sysfs_root)
{
  WvHost *host = g_new0(WvHost, 1);

  host->sysfs_root = g_canonicalize_filename(sysfs_root != NULL ? sysfs_root : "/sys", NULL);
  host->hugetlbfs = g_ptr_array_new_with_free_func(hugetlbfs_mount_free);
  return host;
}

WvHost *
wv_host_probe(const char *sysfs_root, const char *mounts_path, GError **error)
{
  g_autoptr(WvHost) host = host_new(sysfs_root);
  g_autofree char *mounts = NULL, *meminfo = NULL, *cpuinfo = NULL;

  host->cpus = g_ptr_array_new_with_free_func(host_cpu_free);
  host->nodes = g_ptr_array_new_with_free_func(cpuset_free);
  host->l3_groups = g_ptr_array_new_with_free_func(cpuset_free);
  host->pci = g_ptr_array_new_with_free_func(pci_device_free);
  host->hugepages = g_ptr_array_new_with_free_func(hugepage_pool_free);

  probe_nodes(host);
  if (!probe_cpus(host, error))
    return NULL;
  probe_pci(host);
  probe_iommu(host);
  probe_hugepages(host);

  proc_paths(mounts_path, &mounts, &meminfo, &cpuinfo);
  probe_volatile(host, mounts, meminfo);
  host->cpu_virt_flag = cpuinfo_virt_flag(cpuinfo);

  g_debug("host %s: %u CPUs (%u online), %u NUMA nodes, %u L3 groups, %u PCI devices, "
          "IOMMU %s, %u hugepage pools, %u hugetlbfs mounts",
          host->sysfs_root, host->cpus->len, host->online->n, host->nodes->len,
          host->l3_groups->len, host->pci->len, host->iommu ? "on" : "off", host->hugepages->len,
          host->hugetlbfs->len);
  return g_steal_pointer(&host);
}

/* The online CPUs as sysfs says now: the global list, else each CPU's
 * online file, as probe_cpus() reads them; NULL when unreadable. */
static WvCpuset *
read_online_now(const WvHost *topology)
{
  g_autofree char *dir = g_build_filename(topology->sysfs_root, "devices/system/cpu", NULL);
  g_autofree char *online_path = g_build_filename(dir, "online", NULL);
  g_autofree guint *ids = NULL;
  guint n = 0;

  if (g_file_test(online_path, G_FILE_TEST_EXISTS))
    return read_cpuset(online_path, NULL);
  ids = g_new(guint, MAX(topology->cpus->len, 1));
  for (guint i = 0; i < topology->cpus->len; i++) {
    const WvHostCpu *cpu = topology->cpus->pdata[i];
    g_autofree char *name = g_strdup_printf("cpu%u", cpu->id);
    g_autofree char *cpu_dir = g_build_filename(dir, name, NULL);

    if (cpu_online(NULL, cpu_dir, cpu->id))
      ids[n++] = cpu->id;
  }
  return wv_cpuset_new(ids, n);
}

WvHost *
wv_host_refresh(const WvHost *topology, const char *mounts_path)
{
  g_autoptr(WvCpuset) online = read_online_now(topology);
  g_autoptr(WvHost) host = NULL;
  g_autofree char *mounts = NULL, *meminfo = NULL, *cpuinfo = NULL;
  g_autofree char *pci_dir = NULL;

  if (online == NULL || !wv_cpuset_equal(online, topology->online))
    return NULL; /* CPUs came or went: their topology files did too */

  host = host_new(topology->sysfs_root);
  host->online = g_steal_pointer(&online);
  host->cpus = g_ptr_array_ref(topology->cpus);
  host->nodes = g_ptr_array_ref(topology->nodes);
  host->l3_groups = g_ptr_array_ref(topology->l3_groups);
  host->iommu = topology->iommu;
  host->cpu_virt_flag = g_strdup(topology->cpu_virt_flag);

  /* PCI devices: where they sit is topology, the bound driver is not */
  pci_dir = g_build_filename(topology->sysfs_root, "bus/pci/devices", NULL);
  host->pci = g_ptr_array_new_full(topology->pci->len, pci_device_free);
  for (guint i = 0; i < topology->pci->len; i++) {
    const WvPciDevice *old = topology->pci->pdata[i];
    g_autofree char *driver_path = g_build_filename(pci_dir, old->name, "driver", NULL);
    WvPciDevice *dev = g_memdup2(old, sizeof *old);

    dev->name = g_strdup(old->name);
    dev->driver = read_link_name(driver_path);
    g_ptr_array_add(host->pci, dev);
  }

  /* hugepage pools: which exist is topology, their counters are not */
  host->hugepages = g_ptr_array_new_full(topology->hugepages->len, hugepage_pool_free);
  for (guint i = 0; i < topology->hugepages->len; i++) {
    const WvHugepagePool *old = topology->hugepages->pdata[i];
    WvHugepagePool *pool = g_new0(WvHugepagePool, 1);

    pool->page_kib = old->page_kib;
    pool->node = old->node;
    pool->nr_path = g_strdup(old->nr_path);
    pool->free_path = g_strdup(old->free_path);
    pool->total = read_u64(pool->nr_path);
    pool->free = read_u64(pool->free_path);
    g_ptr_array_add(host->hugepages, pool);
  }

  proc_paths(mounts_path, &mounts, &meminfo, &cpuinfo);
  probe_volatile(host, mounts, meminfo);
  return g_steal_pointer(&host);
}

const WvHostCpu *
wv_host_cpu(const WvHost *host, guint id)
{
  guint lo = 0, hi = host->cpus->len;

  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    const WvHostCpu *cpu = host->cpus->pdata[mid];

    if (cpu->id == id)
      return cpu;
    if (cpu->id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const WvPciDevice *
wv_host_pci(const WvHost *host, const WvPciAddress *addr)
{
  for (guint i = 0; i < host->pci->len; i++) {
    const WvPciDevice *dev = host->pci->pdata[i];

    if (cmp_pci_address(&dev->addr, addr) == 0)
      return dev;
  }
  return NULL;
}

GPtrArray *
wv_host_iommu_group(const WvHost *host, gint group)
{
  GPtrArray *out = g_ptr_array_new();

  if (group < 0)
    return out;
  for (guint i = 0; i < host->pci->len; i++) {
    WvPciDevice *dev = host->pci->pdata[i];

    if (dev->iommu_group == group)
      g_ptr_array_add(out, dev);
  }
  return out;
}

const WvHugepagePool *
wv_host_hugepages(const WvHost *host, guint64 page_kib, gint node)
{
  for (guint i = 0; i < host->hugepages->len; i++) {
    const WvHugepagePool *pool = host->hugepages->pdata[i];

    if (pool->page_kib == page_kib && pool->node == node)
      return pool;
  }
  return NULL;
}

guint64
wv_host_node_free_kib(const WvHost *host, gint node)
{
  if (node < 0 || host->node_free_kib == NULL || (guint)node >= host->node_free_kib->len)
    return 0;
  return g_array_index(host->node_free_kib, guint64, node);
}

const WvHugetlbfsMount *
wv_host_hugetlbfs(const WvHost *host, guint64 page_kib)
{
  for (guint i = 0; i < host->hugetlbfs->len; i++) {
    const WvHugetlbfsMount *m = host->hugetlbfs->pdata[i];

    if (m->page_kib == page_kib)
      return m;
  }
  return NULL;
}

gboolean
wv_pci_device_is_bridge(const WvPciDevice *dev)
{
  /* Base class 0x06: host, ISA, PCI-to-PCI (0x0604) and other bridges. */
  return (dev->class >> 16) == 0x06;
}

/* ---- libvirt domain capabilities ---------------------------------------- */

void
wv_domcaps_free(WvDomcaps *caps)
{
  if (caps == NULL)
    return;
  g_clear_pointer(&caps->machines, g_ptr_array_unref);
  g_free(caps->emulator);
  g_free(caps);
}

WvDomcaps *
wv_domcaps_copy(const WvDomcaps *caps)
{
  WvDomcaps *copy = g_memdup2(caps, sizeof *caps);

  copy->emulator = g_strdup(caps->emulator);
  copy->machines = g_ptr_array_new_full(caps->machines->len, g_free);
  for (guint i = 0; i < caps->machines->len; i++)
    g_ptr_array_add(copy->machines, g_strdup(caps->machines->pdata[i]));
  return copy;
}

static guint
hyperv_feature_bits(const char *name)
{
  for (guint f = 0; f < WV_HV_N_FEATURES; f++) {
    if (g_strcmp0(wv_hyperv_feature_name((WvHypervFeature)f), name) != 0)
      continue;
    /* libvirt has no separate name for the direct stimer mode: it comes
     * with stimer. */
    if (f == WV_HV_STIMER)
      return (1u << WV_HV_STIMER) | (1u << WV_HV_STIMER_DIRECT);
    return 1u << f;
  }
  return 0; /* vendor_id and names newer than ours */
}

static void
parse_hyperv(WvDomcaps *caps, xmlXPathContext *ctx)
{
  g_autoptr(xmlXPathObject) values = NULL;
  xmlNodeSet *nodes;

  caps->hyperv_known = wv_xpath_bool(ctx, "/domainCapabilities/features/hyperv");
  values = xmlXPathEvalExpression((const xmlChar *)"/domainCapabilities/features/"
                                                   "hyperv[@supported='yes']/"
                                                   "enum[@name='features']/value",
                                  ctx);
  if (values == NULL || values->type != XPATH_NODESET || values->nodesetval == NULL)
    return;
  nodes = values->nodesetval;
  for (int i = 0; i < nodes->nodeNr; i++) {
    xmlChar *content = xmlNodeGetContent(nodes->nodeTab[i]);
    g_autofree char *name = g_strstrip(g_strdup((const char *)content));

    xmlFree(content);
    caps->hyperv_supported |= hyperv_feature_bits(name);
  }
}

WvDomcaps *
wv_domcaps_parse(const char *xml, GError **error)
{
  g_autoptr(WvDomcaps) caps = NULL;
  g_autoptr(xmlParserCtxt) parser = NULL;
  g_autoptr(xmlDoc) doc = NULL;
  g_autoptr(xmlXPathContext) ctx = NULL;
  g_autofree char *max_vcpus = NULL;
  g_autofree char *machine = NULL;
  xmlNode *root;
  size_t len;

  g_return_val_if_fail(xml != NULL, NULL);

  len = strlen(xml);
  parser = xmlNewParserCtxt();
  if (parser == NULL || len > G_MAXINT) {
    g_set_error_literal(error, WV_ERROR, WV_ERROR_FAILED,
                        "cannot parse the domain capabilities: out of memory");
    return NULL;
  }
  /* No network, no DTD loading and no entity substitution: the document is
   * plain data. */
  doc = xmlCtxtReadMemory(parser, xml, (int)len, "domcapabilities.xml", NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL) {
    const xmlError *err = xmlCtxtGetLastError(parser);
    g_autofree char *msg =
        g_strstrip(g_strdup(err != NULL && err->message != NULL ? err->message : "not XML"));

    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "cannot parse the domain capabilities: line %d: %s", err != NULL ? err->line : 0,
                msg);
    return NULL;
  }
  root = xmlDocGetRootElement(doc);
  if (root == NULL || !xmlStrEqual(root->name, (const xmlChar *)"domainCapabilities")) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "cannot parse the domain capabilities: the root element is <%s>, not "
                "<domainCapabilities>",
                root != NULL ? (const char *)root->name : "");
    return NULL;
  }
  ctx = xmlXPathNewContext(doc);
  if (ctx == NULL) {
    g_set_error_literal(error, WV_ERROR, WV_ERROR_FAILED,
                        "cannot parse the domain capabilities: out of memory");
    return NULL;
  }

  caps = g_new0(WvDomcaps, 1);
  caps->machines = g_ptr_array_new_with_free_func(g_free);
  parse_hyperv(caps, ctx);
  caps->efi = wv_xpath_bool(ctx, "/domainCapabilities/os/enum[@name='firmware']/"
                                 "value[normalize-space()='efi']") ||
              wv_xpath_bool(ctx, "/domainCapabilities/os/loader/value[contains(., 'OVMF')]");
  caps->secure_boot = wv_xpath_bool(ctx, "/domainCapabilities/os/loader/enum[@name='secure']/"
                                         "value[normalize-space()='yes']");
  caps->tpm = wv_xpath_bool(ctx, "/domainCapabilities/devices/tpm[@supported='yes']/"
                                 "enum[@name='backendModel']/value[normalize-space()='emulator']");
  max_vcpus = wv_xpath_string(ctx, "/domainCapabilities/vcpu/@max");
  if (max_vcpus != NULL) {
    guint64 v;

    if (g_ascii_string_to_unsigned(max_vcpus, 10, 0, G_MAXUINT, &v, NULL))
      caps->max_vcpus = (guint)v;
  }
  caps->emulator = wv_xpath_string(ctx, "/domainCapabilities/path");
  machine = wv_xpath_string(ctx, "/domainCapabilities/machine");
  if (machine != NULL)
    g_ptr_array_add(caps->machines, g_steal_pointer(&machine));
  return g_steal_pointer(&caps);
}
