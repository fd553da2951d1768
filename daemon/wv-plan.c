/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-plan.h"
#include "wv-template.h"
#include "wv-common.h"

#include <unistd.h>

const char *
wv_severity_name(WvSeverity s)
{
  switch (s) {
    case WV_SEVERITY_ERROR:
      return "error";
    case WV_SEVERITY_WARNING:
      return "warning";
    case WV_SEVERITY_INFO:
      return "info";
    default:
      return "unknown";
  }
}

static void
finding_free(gpointer p)
{
  WvFinding *f = p;
  g_free(f->code);
  g_free(f->message);
  g_free(f->hint);
  g_free(f);
}

void
wv_plan_add_finding(WvPlan *plan, WvSeverity severity, const char *code, const char *hint,
                    const char *fmt, ...)
{
  WvFinding *f = g_new0(WvFinding, 1);
  va_list ap;

  va_start(ap, fmt);
  f->message = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  f->severity = severity;
  f->code = g_strdup(code);
  f->hint = g_strdup(hint);
  g_ptr_array_add(plan->findings, f);
}

void
wv_plan_free(WvPlan *plan)
{
  if (plan == NULL)
    return;
  g_free(plan->domcaps_error);
  g_ptr_array_unref(plan->vcpu_pins);
  wv_cpuset_free(plan->emulator_pin);
  wv_cpuset_free(plan->vm_cpus);
  wv_cpuset_free(plan->host_cpus);
  g_ptr_array_unref(plan->iothread_pins);
  g_ptr_array_unref(plan->findings);
  g_free(plan->cpu_model);
  g_free(plan->template_path);
  wv_templates_unref(plan->templates);
  g_free(plan);
}

gboolean
wv_plan_has_errors(const WvPlan *plan)
{
  for (guint i = 0; i < plan->findings->len; i++)
    if (((WvFinding *)plan->findings->pdata[i])->severity == WV_SEVERITY_ERROR)
      return TRUE;
  return FALSE;
}

gboolean
wv_plan_check(const WvPlan *plan, GError **error)
{
  g_autoptr(GString) msg = g_string_new(NULL);

  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    if (f->severity != WV_SEVERITY_ERROR)
      continue;
    g_string_append_printf(msg, "%s%s: %s", msg->len ? "; " : "", f->code, f->message);
  }
  if (msg->len == 0)
    return TRUE;
  g_set_error_literal(error, WV_ERROR, WV_ERROR_PREFLIGHT_FAILED, msg->str);
  return FALSE;
}

const char *
wv_default_template_dir(void)
{
  const char *dir = g_getenv("WINVM_TEMPLATE_DIR");
  return dir && *dir ? dir : WV_TEMPLATE_DIR;
}

char *
wv_template_path(const char *name, const char *template_dir)
{
  if (g_path_is_absolute(name))
    return g_strdup(name);
  if (g_str_has_suffix(name, ".xml"))
    return g_build_filename(template_dir, name, NULL);
  {
    g_autofree char *file = g_strconcat(name, ".xml", NULL);
    return g_build_filename(template_dir, file, NULL);
  }
}

/* ---- CPUs ---------------------------------------------------------------- */

/* One physical core: its online CPUs (SMT siblings) and where it sits. */
typedef struct
{
  WvCpuset *cpus;
  gint node;
  gint l3;
} Core;

static void
core_free(gpointer p)
{
  Core *c = p;
  wv_cpuset_free(c->cpus);
  g_free(c);
}

static WvCpuset *
default_reserved(const WvHost *host)
{
  const WvHostCpu *first;

  if (host->online->n == 0)
    return wv_cpuset_new(NULL, 0);
  first = wv_host_cpu(host, host->online->cpus[0]);
  return first && first->siblings ? wv_cpuset_copy(first->siblings)
                                  : wv_cpuset_new(host->online->cpus, 1);
}

/* Whole cores, all of whose online threads are free. */
static GPtrArray *
free_cores(const WvHost *host, const WvCpuset *reserved)
{
  GPtrArray *cores = g_ptr_array_new_with_free_func(core_free);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);

  for (guint i = 0; i < host->online->n; i++) {
    guint id = host->online->cpus[i];
    const WvHostCpu *cpu = wv_host_cpu(host, id);
    g_autoptr(GArray) threads = g_array_new(FALSE, FALSE, sizeof(guint));
    gboolean usable = TRUE;
    Core *core;

    if (cpu == NULL || g_hash_table_contains(seen, GUINT_TO_POINTER(id)))
      continue;
    for (guint j = 0; cpu->siblings && j < cpu->siblings->n; j++) {
      guint s = cpu->siblings->cpus[j];
      g_hash_table_add(seen, GUINT_TO_POINTER(s));
      if (!wv_cpuset_contains(host->online, s))
        continue;
      if (wv_cpuset_contains(reserved, s))
        usable = FALSE;
      g_array_append_val(threads, s);
    }
    if (threads->len == 0) {
      g_hash_table_add(seen, GUINT_TO_POINTER(id));
      g_array_append_val(threads, id);
      usable = !wv_cpuset_contains(reserved, id);
    }
    if (!usable)
      continue;
    core = g_new0(Core, 1);
    core->cpus = wv_cpuset_new((guint *)(gpointer)threads->data, threads->len);
    core->node = cpu->node;
    core->l3 = cpu->l3;
    g_ptr_array_add(cores, core);
  }
  return cores;
}

static guint
count_threads(GPtrArray *cores, guint threads_per_core)
{
  guint n = 0;
  for (guint i = 0; i < cores->len; i++)
    n += MIN(((Core *)cores->pdata[i])->cpus->n, threads_per_core);
  return n;
}

/* Cores matching @node / @l3 (-2: any). */
static GPtrArray *
filter_cores(GPtrArray *cores, gint node, gint l3)
{
  GPtrArray *out = g_ptr_array_new();
  for (guint i = 0; i < cores->len; i++) {
    Core *c = cores->pdata[i];
    if ((node == -2 || c->node == node) && (l3 == -2 || c->l3 == l3))
      g_ptr_array_add(out, c);
  }
  return out;
}

/* Of the groups (distinct values of node or l3 among @cores) that can hold
 * @need threads alone, the smallest one: best fit keeps bigger groups whole
 * for other guests. Returns -2 when no single group fits. */
static gint
best_fit_group(GPtrArray *cores, gboolean by_node, guint need, guint tpc)
{
  g_autoptr(GHashTable) sizes = g_hash_table_new(g_direct_hash, g_direct_equal);
  gint best = -2;
  guint best_size = G_MAXUINT;

  for (guint i = 0; i < cores->len; i++) {
    Core *c = cores->pdata[i];
    gint key = by_node ? c->node : c->l3;
    guint size = GPOINTER_TO_UINT(g_hash_table_lookup(sizes, GINT_TO_POINTER(key)));
    g_hash_table_insert(sizes, GINT_TO_POINTER(key), GUINT_TO_POINTER(size + MIN(c->cpus->n, tpc)));
  }
  /* walk in core order so ties go to the lowest-numbered group */
  for (guint i = 0; i < cores->len; i++) {
    Core *c = cores->pdata[i];
    gint key = by_node ? c->node : c->l3;
    guint size = GPOINTER_TO_UINT(g_hash_table_lookup(sizes, GINT_TO_POINTER(key)));
    if (key >= 0 && size >= need && size < best_size) {
      best = key;
      best_size = size;
    }
  }
  return best;
}

/* Picks cores for @vcpus threads, most local first. Returns the chosen
 * cores (borrowed) or NULL when they do not fit. */
static GPtrArray *
choose_cores(GPtrArray *cores, guint vcpus, guint tpc, gboolean *spans_nodes)
{
  gint node, l3;

  *spans_nodes = FALSE;
  if (count_threads(cores, tpc) < vcpus)
    return NULL;
  l3 = best_fit_group(cores, FALSE, vcpus, tpc);
  if (l3 != -2)
    return filter_cores(cores, -2, l3);
  node = best_fit_group(cores, TRUE, vcpus, tpc);
  if (node != -2)
    return filter_cores(cores, node, -2);
  *spans_nodes = TRUE;
  return filter_cores(cores, -2, -2);
}

/* Whether @cpu is an online CPU of @host. */
static gboolean
cpu_usable(const WvHost *host, guint cpu)
{
  return wv_host_cpu(host, cpu) != NULL && wv_cpuset_contains(host->online, cpu);
}

/* One finding per kind for everything @what names that the host lacks:
 * "names CPUs 64-67", not four findings. */
static gboolean
validate_cpus(WvPlan *plan, const WvHost *host, const char *what, const guint *cpus, guint n)
{
  g_autoptr(GArray) unknown = g_array_new(FALSE, FALSE, sizeof(guint));
  g_autoptr(GArray) offline = g_array_new(FALSE, FALSE, sizeof(guint));

  for (guint i = 0; i < n; i++)
    if (!cpu_usable(host, cpus[i]))
      g_array_append_val(wv_host_cpu(host, cpus[i]) ? offline : unknown, cpus[i]);
  if (unknown->len > 0) {
    g_autoptr(WvCpuset) set = wv_cpuset_new((const guint *)(gpointer)unknown->data, unknown->len);
    g_autofree char *list = wv_cpuset_format(set);
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "cpu-unknown", "see lscpu -e for the host's CPUs",
                        "%s names CPU%s %s, which this host does not have", what,
                        set->n > 1 ? "s" : "", list);
  }
  if (offline->len > 0) {
    g_autoptr(WvCpuset) set = wv_cpuset_new((const guint *)(gpointer)offline->data, offline->len);
    g_autofree char *list = wv_cpuset_format(set);
    wv_plan_add_finding(
        plan, WV_SEVERITY_ERROR, "cpu-offline",
        "bring it online (echo 1 > /sys/devices/system/cpu/cpuN/online) or pin elsewhere",
        "%s names CPU%s %s, which %s offline", what, set->n > 1 ? "s" : "", list,
        set->n > 1 ? "are" : "is");
  }
  return unknown->len == 0 && offline->len == 0;
}

static void
set_auto_topology(WvPlan *plan, guint threads)
{
  plan->sockets = 1;
  plan->dies = 1;
  plan->threads = threads;
  plan->cores = plan->vcpus / threads;
}

static void
plan_auto_pins(WvPlan *plan, const WvProfile *p, const WvHost *host, const WvCpuset *reserved)
{
  g_autoptr(GPtrArray) cores = free_cores(host, reserved);
  g_autoptr(GPtrArray) chosen = NULL;
  guint tpc = 1, pinned = 0;
  gboolean spans = FALSE;
  g_autofree char *res = wv_cpuset_format(reserved);

  for (guint i = 0; i < cores->len; i++)
    tpc = MAX(tpc, ((Core *)cores->pdata[i])->cpus->n);
  /* Sibling pairs only make sense to the guest with an even count. */
  if (tpc > 1 && p->vcpus % tpc != 0) {
    wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "pin-odd-vcpus",
                        "use an even vCPU count to give the guest whole SMT cores",
                        "%u vCPUs do not fill whole %u-thread cores; the guest sees no SMT",
                        p->vcpus, tpc);
  }
  chosen = choose_cores(cores, p->vcpus, tpc, &spans);
  if (chosen == NULL) {
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "pin-no-room",
                        "lower vcpus, shrink host-reserved, or set pin = none",
                        "%u vCPUs need %u host CPUs outside host-reserved (%s); only %u are free",
                        p->vcpus, p->vcpus, res, count_threads(cores, tpc));
    return;
  }

  for (guint i = 0; i < chosen->len && pinned < p->vcpus; i++) {
    Core *c = chosen->pdata[i];
    for (guint t = 0; t < c->cpus->n && pinned < p->vcpus; t++) {
      if (p->vcpus % tpc != 0 && t > 0)
        break; /* odd count: one thread per core, siblings left to the host */
      g_ptr_array_add(plan->vcpu_pins, wv_cpuset_new(&c->cpus->cpus[t], 1));
      pinned++;
    }
  }
  if (pinned < p->vcpus) {
    /* odd counts take one thread per core and may run out of cores */
    for (guint i = 0; i < chosen->len && pinned < p->vcpus; i++) {
      Core *c = chosen->pdata[i];
      for (guint t = 1; t < c->cpus->n && pinned < p->vcpus; t++) {
        g_ptr_array_add(plan->vcpu_pins, wv_cpuset_new(&c->cpus->cpus[t], 1));
        pinned++;
      }
    }
  }
  if (spans) {
    g_autoptr(GHashTable) nodes = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint i = 0; i < plan->vcpu_pins->len; i++) {
      const WvHostCpu *c = wv_host_cpu(host, ((WvCpuset *)plan->vcpu_pins->pdata[i])->cpus[0]);
      if (c && c->node >= 0)
        g_hash_table_add(nodes, GINT_TO_POINTER(c->node));
    }
    if (g_hash_table_size(nodes) > 1)
      wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "pin-spans-nodes",
                          "fewer vCPUs fit on one NUMA node, which is faster for memory access",
                          "%u vCPUs do not fit on one NUMA node; pins span %u nodes", p->vcpus,
                          g_hash_table_size(nodes));
  }
  if (p->topology_auto)
    set_auto_topology(plan, p->vcpus % tpc == 0 ? tpc : 1);
}

static void
plan_list_pins(WvPlan *plan, const WvProfile *p, const WvHost *host, const WvCpuset *reserved)
{
  const guint *cpus = (const guint *)(gpointer)p->pin_cpus->data;
  gboolean pairs = p->vcpus % 2 == 0;

  if (host && !validate_cpus(plan, host, "[cpu] pin", cpus, p->pin_cpus->len))
    return;
  for (guint i = 0; i < p->pin_cpus->len; i++) {
    g_ptr_array_add(plan->vcpu_pins, wv_cpuset_new(&cpus[i], 1));
    if (reserved && wv_cpuset_contains(reserved, cpus[i]))
      wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "pin-overlaps-reserved",
                          "pin vCPUs outside host-reserved so the host keeps its own CPUs",
                          "vCPU %u is pinned to CPU %u, which is in host-reserved", i, cpus[i]);
  }
  /* consecutive vCPUs on SMT siblings: tell the guest they are threads */
  for (guint i = 0; pairs && i + 1 < p->pin_cpus->len; i += 2) {
    const WvHostCpu *a = host ? wv_host_cpu(host, cpus[i]) : NULL;
    if (a == NULL || a->siblings == NULL || a->siblings->n != 2 ||
        !wv_cpuset_contains(a->siblings, cpus[i + 1]))
      pairs = FALSE;
  }
  if (p->topology_auto)
    set_auto_topology(plan, pairs ? 2 : 1);
}

static WvCpuset *
validated_set(WvPlan *plan, const WvHost *host, const char *what, const WvCpuset *set)
{
  if (host && !validate_cpus(plan, host, what, set->cpus, set->n))
    return NULL;
  return wv_cpuset_copy(set);
}

/* How many vCPUs, and the topology the guest is told. */
static void
plan_topology(WvPlan *plan, const WvProfile *p)
{
  plan->vcpus = p->vcpus;
  if (!p->topology_auto) {
    plan->sockets = p->sockets;
    plan->dies = p->dies;
    plan->cores = p->cores;
    plan->threads = p->threads;
  } else {
    set_auto_topology(plan, 1);
  }
}

/* The host CPUs kept for the host: [cpu] host-reserved, or the default. */
static WvCpuset *
plan_reserved(WvPlan *plan, const WvProfile *p, const WvHost *host)
{
  WvCpuset *reserved = NULL;

  if (p->host_reserved) {
    if (host)
      validate_cpus(plan, host, "[cpu] host-reserved", p->host_reserved->cpus, p->host_reserved->n);
    reserved = wv_cpuset_copy(p->host_reserved);
  } else if (host) {
    reserved = default_reserved(host);
  }
  return reserved;
}

/* Where each vCPU runs, and what the host cannot give them. */
static void
plan_vcpu_pins(WvPlan *plan, const WvProfile *p, const WvHost *host, const WvCpuset *reserved)
{
  switch (p->pin) {
    case WV_PIN_NONE:
      break;
    case WV_PIN_LIST:
      plan_list_pins(plan, p, host, reserved);
      break;
    case WV_PIN_AUTO:
      if (host == NULL) {
        wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "pin-no-host-facts",
                            "run on the host itself, or point --sysfs-root at its /sys",
                            "host CPU topology unknown; vCPUs are left unpinned");
        break;
      }
      plan_auto_pins(plan, p, host, reserved);
      break;
    default:
      g_assert_not_reached();
  }

  if (host && p->pin == WV_PIN_NONE && p->vcpus > host->online->n)
    wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "vcpus-overcommit", NULL,
                        "%u vCPUs on a host with %u online CPUs", p->vcpus, host->online->n);
  if (host && !p->topology_auto && p->threads > 1) {
    const WvHostCpu *c = host->online->n ? wv_host_cpu(host, host->online->cpus[0]) : NULL;
    if (c && c->siblings && c->siblings->n < 2)
      wv_plan_add_finding(
          plan, WV_SEVERITY_WARNING, "topology-smt-mismatch", "set topology = auto or threads = 1",
          "the guest is told it has %u threads per core; the host has no SMT", p->threads);
  }
}

static void
plan_thread_pins(WvPlan *plan, const WvProfile *p, const WvHost *host, const WvCpuset *reserved)
{
  gboolean by_reserved = plan->vcpu_pins->len > 0 && reserved && reserved->n > 0;

  /* Emulator and I/O threads: explicit sets, or the host's reserved CPUs
   * once vCPUs are pinned (so they never steal a vCPU's core). */
  if (p->emulator_pin)
    plan->emulator_pin = validated_set(plan, host, "[cpu] emulator-pin", p->emulator_pin);
  else if (!p->emulator_unpinned && by_reserved)
    plan->emulator_pin = wv_cpuset_copy(reserved);

  if (p->iothread_pins) {
    /* every bad set, in one finding per kind */
    g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(guint));
    g_autoptr(GString) bad = g_string_new(NULL);
    guint n_bad = 0;

    for (guint i = 0; i < p->iothreads; i++) {
      const WvCpuset *set = p->iothread_pins->pdata[i];
      gboolean ok = TRUE;

      g_array_append_vals(all, set->cpus, set->n);
      for (guint c = 0; host && c < set->n; c++)
        ok &= cpu_usable(host, set->cpus[c]);
      if (!ok)
        g_string_append_printf(bad, "%s%u", n_bad++ ? ", " : "", i + 1);
      g_ptr_array_add(plan->iothread_pins, wv_cpuset_copy(set));
    }
    if (n_bad > 0) {
      g_autofree char *what =
          g_strdup_printf("[cpu] iothread-pin (I/O thread%s %s)", n_bad > 1 ? "s" : "", bad->str);
      validate_cpus(plan, host, what, (const guint *)(gpointer)all->data, all->len);
      g_ptr_array_set_size(plan->iothread_pins, 0);
    }
  } else if (by_reserved) {
    for (guint i = 0; i < p->iothreads; i++)
      g_ptr_array_add(plan->iothread_pins, wv_cpuset_copy(reserved));
  }
}

/* The guest schedules threads of one core as siblings: vCPUs the profile's
 * topology puts on one guest core should share one host core too. */
static void
plan_sibling_check(WvPlan *plan, const WvHost *host)
{
  g_autoptr(GString) bad = g_string_new(NULL);
  const WvHostCpu *first;
  guint n_bad = 0;

  if (host == NULL || plan->threads < 2 || plan->vcpu_pins->len != plan->vcpus)
    return;
  first = host->online->n ? wv_host_cpu(host, host->online->cpus[0]) : NULL;
  if (first == NULL || first->siblings == NULL || first->siblings->n < 2)
    return; /* no SMT on the host: topology-smt-mismatch says so */
  for (guint core = 0; (core + 1) * plan->threads <= plan->vcpus; core++) {
    guint v0 = core * plan->threads;
    const WvCpuset *pin0 = plan->vcpu_pins->pdata[v0];
    const WvHostCpu *hc = pin0 && pin0->n ? wv_host_cpu(host, pin0->cpus[0]) : NULL;
    g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));
    gboolean same = hc != NULL && hc->siblings != NULL;

    for (guint t = 0; t < plan->threads; t++) {
      const WvCpuset *pin = plan->vcpu_pins->pdata[v0 + t];
      for (guint c = 0; pin && c < pin->n; c++) {
        g_array_append_val(cpus, pin->cpus[c]);
        same &= wv_cpuset_contains(hc->siblings, pin->cpus[c]);
      }
    }
    if (!same) {
      g_autoptr(WvCpuset) set = wv_cpuset_new((const guint *)(gpointer)cpus->data, cpus->len);
      g_autofree char *list = wv_cpuset_format(set);
      g_string_append_printf(bad, "%svCPUs %u-%u on host CPUs %s", n_bad++ ? "; " : "", v0,
                             v0 + plan->threads - 1, list);
    }
  }
  if (n_bad > 0)
    wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "topology-sibling-mismatch",
                        "pin the threads of each guest core to SMT siblings of one host core "
                        "(lscpu -e: one CORE), use pin = auto, or set topology threads to 1",
                        "the guest sees %u threads per core, but %u of its cores run on "
                        "different host cores: %s",
                        plan->threads, n_bad, bad->str);
}

static void
plan_numa_node(WvPlan *plan, const WvHost *host)
{
  /* Memory follows the vCPUs when they all sit on one node of several. */
  plan->numa_node = -1;
  if (host && plan->vcpu_pins->len > 0) {
    guint n_nodes = 0;
    for (guint i = 0; i < host->nodes->len; i++)
      n_nodes += host->nodes->pdata[i] != NULL;
    if (n_nodes > 1) {
      gint node = -2;
      for (guint i = 0; i < plan->vcpu_pins->len; i++) {
        const WvCpuset *set = plan->vcpu_pins->pdata[i];
        const WvHostCpu *c = wv_host_cpu(host, set->cpus[0]);
        gint n = c ? c->node : -1;
        node = node == -2 || node == n ? n : -1;
      }
      plan->numa_node = node >= 0 ? node : -1;
    }
  }
}

/* ---- memory -------------------------------------------------------------- */

/* "on node 1" or "on the host". */
static char *
where_pool(gint node)
{
  return node >= 0 ? g_strdup_printf("on node %d", node) : g_strdup("on the host");
}

/* The pool @pool must grow by plan->hugepages_reserve pages at start: whether
 * the memory is there (the node's MemFree, else the host's MemAvailable)
 * and, from /proc/buddyinfo, whether the kernel can find pages that large
 * without compacting. */
static void
plan_pool_growth(WvPlan *plan, const WvProfile *p, const WvHost *host, const WvHugepagePool *pool,
                 guint64 avail)
{
  const char *size = wv_page_size_name(p->hugepage_kib);
  g_autofree char *where = where_pool(pool->node);
  guint64 want_kib = plan->hugepages_reserve * p->hugepage_kib;
  guint64 free_kib = host->mem_available_kib;
  gboolean node_free = FALSE; /* free_kib is the node's MemFree */
  guint64 blocks;
  long base = sysconf(_SC_PAGESIZE);

  if (pool->node >= 0 && wv_host_node_free_kib(host, pool->node) > 0) {
    free_kib = wv_host_node_free_kib(host, pool->node);
    node_free = TRUE;
  }
  if (free_kib && want_kib > free_kib) {
    wv_plan_add_finding(
        plan, WV_SEVERITY_ERROR, "hugepages-cannot-grow",
        "free memory on the host, lower memory, or reserve the pages at boot",
        "growing the %s pool by %" G_GUINT64_FORMAT " pages needs %" G_GUINT64_FORMAT
        " MiB; %s has %" G_GUINT64_FORMAT " MiB %s",
        size, plan->hugepages_reserve, want_kib / 1024, node_free ? "the node" : "the host",
        free_kib / 1024, node_free ? "free" : "available");
    return;
  }
  if (host->buddyinfo_error != NULL)
    wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "buddyinfo-unreadable", NULL,
                        "cannot predict whether %s pages can be found: %s", size,
                        host->buddyinfo_error);
  if (host->buddyinfo == NULL || base <= 0) {
    wv_plan_add_finding(
        plan, p->hugepage_kib > 2048 ? WV_SEVERITY_WARNING : WV_SEVERITY_INFO, "hugepages-reserve",
        p->hugepage_kib > 2048
            ? "1G pages are hard to find once memory is fragmented; reserve them at "
              "boot (hugepagesz=1G hugepages=N) to be sure"
            : NULL,
        "the %s pool%s will grow by %" G_GUINT64_FORMAT " pages at start (%" G_GUINT64_FORMAT
        " free, %" G_GUINT64_FORMAT " needed)",
        size, pool->node >= 0 ? " of the VM's node" : "", plan->hugepages_reserve, avail,
        plan->hugepages_needed);
    return;
  }
  blocks = wv_buddyinfo_pages(host->buddyinfo, pool->node, p->hugepage_kib, (guint64)base / 1024);
  if (blocks >= plan->hugepages_reserve) {
    wv_plan_add_finding(plan, WV_SEVERITY_INFO, "hugepages-reserve", NULL,
                        "the %s pool%s will grow by %" G_GUINT64_FORMAT
                        " pages at start (%" G_GUINT64_FORMAT " free, %" G_GUINT64_FORMAT
                        " needed); %" G_GUINT64_FORMAT " free %s-sized blocks %s",
                        size, pool->node >= 0 ? " of the VM's node" : "", plan->hugepages_reserve,
                        avail, plan->hugepages_needed, blocks, size, where);
    return;
  }
  wv_plan_add_finding(
      plan, WV_SEVERITY_WARNING, "hugepages-fragmented",
      plan->hugepage_fallback_kib
          ? "start compacts memory first, then falls back to 2M pages (hugepages-fallback)"
          : "start compacts memory first; set [memory] hugepages-fallback = 2M, or reserve "
            "the pages at boot (hugepagesz=1G hugepages=N)",
      "only %" G_GUINT64_FORMAT
      " free %s-sized blocks %s; compaction may or may not find %" G_GUINT64_FORMAT,
      blocks, size, where, plan->hugepages_reserve);
}

static void
plan_hugepages(WvPlan *plan, const WvProfile *p, const WvHost *host)
{
  const WvHugepagePool *pool;
  g_autofree char *hint = NULL;
  guint64 avail;

  plan->hugepage_kib = p->hugepage_kib;
  if (p->hugepage_kib == 0)
    return;
  if (p->hugepages_allocate && p->hugepage_fallback_kib != p->hugepage_kib)
    plan->hugepage_fallback_kib = p->hugepage_fallback_kib;
  plan->hugepages_needed = p->memory_kib / p->hugepage_kib;
  if (host == NULL)
    return;

  pool = wv_host_hugepages(host, p->hugepage_kib, -1);
  if (pool == NULL) {
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "hugepages-unsupported",
                        p->hugepage_kib > 2048 ? "1G pages need a CPU with pdpe1gb; or use 2M"
                                               : NULL,
                        "this kernel offers no %s hugepages", wv_page_size_name(p->hugepage_kib));
    return;
  }
  if (wv_host_hugetlbfs(host, p->hugepage_kib) == NULL) {
    g_autofree char *h = g_strdup_printf(
        "mount one: mkdir -p /dev/hugepages%s && mount -t hugetlbfs -o pagesize=%s none "
        "/dev/hugepages%s, then restart libvirtd",
        p->hugepage_kib == 2048 ? "" : "1G", wv_page_size_name(p->hugepage_kib),
        p->hugepage_kib == 2048 ? "" : "1G");
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "hugetlbfs-missing", h,
                        "no hugetlbfs is mounted for %s pages", wv_page_size_name(p->hugepage_kib));
  }
  if (plan->numa_node >= 0) {
    const WvHugepagePool *node_pool = wv_host_hugepages(host, p->hugepage_kib, plan->numa_node);
    if (node_pool)
      pool = node_pool;
  }
  avail = pool->free;
  if (avail >= plan->hugepages_needed) {
    g_autofree char *where =
        pool->node >= 0 ? g_strdup_printf(" on node %d", pool->node) : g_strdup("");
    wv_plan_add_finding(plan, WV_SEVERITY_INFO, "hugepages-ok", NULL,
                        "%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                        " free %s pages%s will back memory",
                        plan->hugepages_needed, avail, wv_page_size_name(p->hugepage_kib), where);
    return;
  }
  if (p->hugepages_allocate) {
    plan->hugepages_reserve = plan->hugepages_needed - avail;
    plan_pool_growth(plan, p, host, pool, avail);
    return;
  }
  hint = g_strdup_printf("set [memory] hugepages-allocate = true, or reserve them at boot: "
                         "hugepagesz=%s hugepages=%" G_GUINT64_FORMAT,
                         wv_page_size_name(p->hugepage_kib),
                         pool->total + plan->hugepages_needed - avail);
  wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "hugepages-short", hint,
                      "%" G_GUINT64_FORMAT " free %s pages needed, %" G_GUINT64_FORMAT " free%s",
                      plan->hugepages_needed, wv_page_size_name(p->hugepage_kib), avail,
                      pool->node >= 0 ? " on the VM's node" : "");
}

/* ---- PCI passthrough ----------------------------------------------------- */

static gboolean
profile_passes(const WvProfile *p, const WvPciAddress *a)
{
  for (guint i = 0; i < p->hostdevs->len; i++) {
    const WvHostdev *h = p->hostdevs->pdata[i];
    for (guint f = 0; f < h->functions->len; f++) {
      const WvPciAddress *b = &g_array_index(h->functions, WvPciAddress, f);
      if (memcmp(a, b, sizeof(*a)) == 0)
        return TRUE;
    }
  }
  return FALSE;
}

static gboolean
driver_is_safe(const char *driver)
{
  return driver == NULL || g_str_equal(driver, "vfio-pci") || g_str_equal(driver, "pci-stub");
}

static void
plan_hostdevs(WvPlan *plan, const WvProfile *p, const WvPlanContext *ctx)
{
  const WvHost *host = ctx->host;

  if (p->hostdevs->len == 0)
    return;
  if (host && !host->iommu) {
    wv_plan_add_finding(
        plan, WV_SEVERITY_ERROR, "iommu-missing",
        "enable VT-d / AMD-Vi in the firmware and boot with intel_iommu=on (Intel) or "
        "amd_iommu=on (AMD)",
        "the host has no IOMMU groups; PCI devices cannot be handed to a guest");
  }
  for (guint i = 0; i < p->hostdevs->len; i++) {
    const WvHostdev *h = p->hostdevs->pdata[i];

    for (guint f = 0; f < h->functions->len; f++) {
      const WvPciAddress *a = &g_array_index(h->functions, WvPciAddress, f);
      g_autofree char *name = wv_pci_address_to_string(a);
      const char *user =
          ctx->devices_in_use ? g_hash_table_lookup(ctx->devices_in_use, name) : NULL;
      const WvPciDevice *dev;
      g_autoptr(GPtrArray) group = NULL;

      if (user)
        wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "hostdev-in-use",
                            "shut that VM down first, or remove the device from one of them",
                            "[hostdev:%s] %s is in use by running domain “%s”", h->id, name, user);
      if (host == NULL)
        continue;
      dev = wv_host_pci(host, a);
      if (dev == NULL) {
        wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "hostdev-missing",
                            "list the host's devices with lspci -D",
                            "[hostdev:%s] %s: no such PCI device on this host", h->id, name);
        continue;
      }
      if (!driver_is_safe(dev->driver))
        wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "hostdev-host-driver",
                            "bind it to vfio-pci at boot (vfio-pci.ids=) so the host never uses it",
                            "[hostdev:%s] %s is bound to %s; libvirt will detach it at start",
                            h->id, name, dev->driver);
      if (!host->iommu || dev->iommu_group < 0)
        continue;
      group = wv_host_iommu_group(host, dev->iommu_group);
      for (guint g = 0; g < group->len; g++) {
        const WvPciDevice *other = group->pdata[g];
        g_autofree char *hint = NULL;

        if (profile_passes(p, &other->addr) || wv_pci_device_is_bridge(other) ||
            driver_is_safe(other->driver))
          continue;
        hint = g_strdup_printf("hand %s over too, bind it to vfio-pci, or move the card to a "
                               "slot with its own IOMMU group",
                               other->name);
        wv_plan_add_finding(
            plan, WV_SEVERITY_ERROR, "iommu-group-shared", hint,
            "[hostdev:%s] %s shares IOMMU group %d with %s (class %06x, driver %s), "
            "which the host still uses",
            h->id, name, dev->iommu_group, other->name, other->class, other->driver);
      }
    }
  }
}

/* ---- KVM ------------------------------------------------------------------ */

#define KVM_HINT                                                                                   \
  "enable VT-x/AMD-V (SVM) in the firmware setup, load kvm_intel or kvm_amd, and let libvirt's "   \
  "QEMU open /dev/kvm (group kvm); or set hypervisor = qemu to emulate the guest (slow)"

/* What the kernel says of KVM, as a sentence; NULL when it is usable. */
static char *
host_kvm_problem(const WvHost *host)
{
  const char *flag = host->cpu_virt_flag;

  switch (host->kvm) {
    case WV_KVM_AVAILABLE:
      return NULL;
    case WV_KVM_NO_MODULE:
      if (flag == NULL)
        return g_strdup("this host has no /dev/kvm: kvm_intel or kvm_amd is not loaded");
      if (flag[0] == '\0')
        return g_strdup("this host has no /dev/kvm: its CPU offers no VT-x/AMD-V (off in the "
                        "firmware setup, or a virtual machine without nested virtualization)");
      return g_strdup_printf("this host has no /dev/kvm: the CPU has %s but %s is not loaded",
                             g_str_equal(flag, "vmx") ? "VT-x" : "AMD-V",
                             g_str_equal(flag, "vmx") ? "kvm_intel" : "kvm_amd");
    case WV_KVM_NO_DEVICE:
      return g_strdup("the kvm module is loaded but /dev/kvm does not exist");
    case WV_KVM_NO_ACCESS:
      return g_strdup_printf("/dev/kvm cannot be opened read-write (uid %u)", (guint)geteuid());
  }
  return NULL;
}

static void
plan_hypervisor(WvPlan *plan, const WvProfile *p, const WvPlanContext *ctx)
{
  g_autofree char *problem = NULL;

  if (p->hypervisor == WV_HYPERVISOR_QEMU) {
    wv_plan_add_finding(
        plan, WV_SEVERITY_INFO, "hypervisor-emulated", NULL,
        "hypervisor = qemu: the guest is emulated (TCG), many times slower than with KVM");
    return;
  }
  if (ctx->host)
    problem = host_kvm_problem(ctx->host);
  if (problem == NULL && ctx->libvirt_lacks_kvm)
    problem = g_strdup("libvirt offers no kvm domain type for x86_64 guests "
                       "(`virsh capabilities` lists only qemu)");
  if (problem)
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "kvm-unavailable", KVM_HINT,
                        "hypervisor = kvm, but %s", problem);
}

/* ---- Hyper-V, firmware, capabilities -------------------------------------- */

static char *
feature_list(guint set)
{
  g_autoptr(GString) s = g_string_new(NULL);
  for (guint f = 0; f < WV_HV_N_FEATURES; f++)
    if (set & (1u << f))
      g_string_append_printf(s, "%s%s", s->len ? ", " : "", wv_hyperv_feature_name(f));
  return g_string_free(g_steal_pointer(&s), FALSE);
}

static void
plan_capabilities(WvPlan *plan, const WvProfile *p, const WvDomcaps *caps)
{
  guint wanted = p->hyperv_features;

  plan->hyperv_features = wanted;
  if (p->hypervisor == WV_HYPERVISOR_QEMU && p->cpu_mode != WV_CPU_MODE_CUSTOM) {
    g_clear_pointer(&plan->cpu_model, g_free);
    plan->cpu_mode = WV_CPU_MODE_CUSTOM;
    plan->cpu_model = g_strdup("qemu64");
    wv_plan_add_finding(
        plan, WV_SEVERITY_INFO, "cpu-mode-emulated", NULL,
        "hypervisor = qemu (TCG) cannot pass the host CPU through; the guest gets qemu64");
  }
  if (p->hypervisor == WV_HYPERVISOR_QEMU && p->hyperv_auto) {
    /* TCG implements few of the MSRs; keep only what it emulates. */
    plan->hyperv_features &= (1u << WV_HV_RELAXED) | (1u << WV_HV_VAPIC) | (1u << WV_HV_SPINLOCKS) |
                             (1u << WV_HV_VPINDEX) | (1u << WV_HV_RUNTIME) | (1u << WV_HV_RESET);
  }

  if (caps == NULL)
    return;
  if (caps->hyperv_known) {
    guint missing;

    if (p->hyperv_auto && p->hypervisor == WV_HYPERVISOR_KVM)
      plan->hyperv_features |= caps->hyperv_supported & (1u << WV_HV_AVIC);
    missing = plan->hyperv_features & ~caps->hyperv_supported;
    if (missing) {
      g_autofree char *names = feature_list(missing);
      if (p->hyperv_auto) {
        plan->hyperv_features &= caps->hyperv_supported;
        wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "hyperv-unsupported", NULL,
                            "this host's KVM/QEMU cannot provide Hyper-V %s; left out", names);
      } else {
        wv_plan_add_finding(
            plan, WV_SEVERITY_ERROR, "hyperv-unsupported",
            "remove them from [hyperv] enlightenments, or use enlightenments = auto",
            "this host's KVM/QEMU cannot provide Hyper-V %s", names);
      }
    }
  }
  if (p->firmware == WV_FIRMWARE_OVMF && !caps->efi)
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "firmware-missing", "apt install ovmf",
                        "no UEFI firmware (OVMF) is available to QEMU");
  if (p->secure_boot == WV_TRI_ON && caps->efi && !caps->secure_boot)
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "secure-boot-unsupported", "apt install ovmf",
                        "the UEFI firmware has no secure-boot build");
  if (p->tpm == WV_TRI_ON && !caps->tpm)
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "tpm-missing", "apt install swtpm swtpm-tools",
                        "no TPM emulator is available to libvirt");
  if (caps->max_vcpus && p->vcpus > caps->max_vcpus)
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "vcpus-too-many", NULL,
                        "%u vCPUs; this machine type allows %u", p->vcpus, caps->max_vcpus);
}

/* What QEMU refuses to start without (kvm_hyperv_properties' dependencies
 * in target/i386/kvm/kvm.c). stimer also needs hv-time, which libvirt
 * turns on with the hypervclock timer. */
static const struct
{
  WvHypervFeature feature, needs;
} hyperv_deps[] = {
    {WV_HV_SYNIC, WV_HV_VPINDEX},        {WV_HV_IPI, WV_HV_VPINDEX},
    {WV_HV_TLBFLUSH, WV_HV_VPINDEX},     {WV_HV_STIMER, WV_HV_SYNIC},
    {WV_HV_STIMER_DIRECT, WV_HV_STIMER}, {WV_HV_EVMCS, WV_HV_VAPIC},
};

static gboolean
timer_turned_off(const WvProfile *p, const char *name)
{
  for (guint i = 0; i < p->timers->len; i++) {
    const WvNamedSwitch *sw = p->timers->pdata[i];
    if (g_str_equal(sw->name, name))
      return !sw->enable;
  }
  return FALSE;
}

/* What one Hyper-V feature needs of another. With enlightenments = auto
 * the dependants of what the host lacks are left out too; a list the user
 * wrote is an error QEMU would otherwise report at start. */
static void
plan_hyperv_dependencies(WvPlan *plan, const WvProfile *p)
{
  gboolean no_time = timer_turned_off(p, "hypervclock");
  guint dropped = 0;
  gboolean changed = TRUE;

  while (changed) {
    changed = FALSE;
    for (guint i = 0; i < G_N_ELEMENTS(hyperv_deps); i++) {
      guint f = 1u << hyperv_deps[i].feature, need = 1u << hyperv_deps[i].needs;
      const char *fname = wv_hyperv_feature_name(hyperv_deps[i].feature);
      const char *nname = wv_hyperv_feature_name(hyperv_deps[i].needs);

      if (!(plan->hyperv_features & f) || (plan->hyperv_features & need))
        continue;
      if (p->hyperv_auto) {
        plan->hyperv_features &= ~f;
        dropped |= f;
        changed = TRUE;
      } else if (!(dropped & f)) {
        g_autofree char *hint = g_strdup_printf(
            "add %s to [hyperv] enlightenments, or remove %s (QEMU refuses to start otherwise)",
            nname, fname);
        dropped |= f; /* reported once */
        wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "hyperv-dependency", hint,
                            "Hyper-V %s needs %s, which is not enabled", fname, nname);
      }
    }
    if (no_time && (plan->hyperv_features & (1u << WV_HV_STIMER)) && p->hyperv_auto) {
      plan->hyperv_features &= ~((1u << WV_HV_STIMER) | (1u << WV_HV_STIMER_DIRECT));
      dropped |= (1u << WV_HV_STIMER) | (1u << WV_HV_STIMER_DIRECT);
      changed = TRUE;
    }
  }
  if (no_time && (plan->hyperv_features & (1u << WV_HV_STIMER)))
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "hyperv-dependency",
                        "remove -hypervclock from [clock] timers, or stimer from [hyperv] "
                        "enlightenments",
                        "Hyper-V stimer needs the hypervclock timer (hv-time), which [clock] "
                        "timers turns off");
  if (p->hyperv_auto && dropped) {
    g_autofree char *names = feature_list(dropped);
    wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "hyperv-dependency", NULL,
                        "Hyper-V %s left out: %s", names,
                        no_time && (dropped & (1u << WV_HV_STIMER))
                            ? "what they need is unavailable or [clock] timers turns off "
                              "hypervclock"
                            : "what they need is unavailable on this host");
  }
}

/* ---- devices -------------------------------------------------------------- */

static void
plan_devices(WvPlan *plan, const WvProfile *p)
{
  if (p->audio == WV_AUDIO_PIPEWIRE)
    wv_plan_add_finding(plan, WV_SEVERITY_INFO, "sound-pipewire-pulse",
                        "the QEMU of qemu:///system must reach the sound server (qemu.conf)",
                        "[sound] backend = pipewire plays through PipeWire's PulseAudio server "
                        "(pipewire-pulse): libvirt 9.0 and QEMU 7.2 have no PipeWire backend");
  if (p->lg_width && p->lg_device == WV_LOOKING_GLASS_KVMFR)
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "looking-glass-kvmfr",
                        "use [looking-glass] device = shm (/dev/shm), or a root-written template "
                        "with raw-qemu = true that adds the kvmfr memory backend itself",
                        "[looking-glass] device = kvmfr: libvirt cannot back a shared-memory "
                        "device with /dev/kvmfr0 without passing options to QEMU past it "
                        "(<qemu:commandline>), which winvm does not write");
}

/* The host CPUs any vCPU is pinned to, NULL when none is. */
static WvCpuset *
pinned_cpus(const WvPlan *plan)
{
  WvCpuset *all = NULL;

  for (guint i = 0; i < plan->vcpu_pins->len; i++) {
    const WvCpuset *set = plan->vcpu_pins->pdata[i];
    WvCpuset *more;

    if (set == NULL)
      continue;
    more = all ? wv_cpuset_union(all, set) : wv_cpuset_copy(set);
    wv_cpuset_free(all);
    all = more;
  }
  return all;
}

static void
drop_findings(WvPlan *plan, const char *code)
{
  for (guint i = plan->findings->len; i > 0; i--)
    if (g_str_equal(((WvFinding *)plan->findings->pdata[i - 1])->code, code))
      g_ptr_array_remove_index(plan->findings, i - 1);
}

void
wv_plan_host_steps(WvPlan *plan, const WvProfile *p, const WvHost *host)
{
  gboolean want_isolate = p->isolate == WV_TRI_ON;

  g_clear_pointer(&plan->vm_cpus, wv_cpuset_free);
  g_clear_pointer(&plan->host_cpus, wv_cpuset_free);
  drop_findings(plan, "host-steps-unpinned");
  drop_findings(plan, "isolate-no-host-cpus");
  plan->vm_cpus = pinned_cpus(plan);
  if (p->isolate == WV_TRI_UNSET)
    want_isolate = plan->vm_cpus != NULL; /* pinned: isolated unless told otherwise */
  plan->isolate = want_isolate;
  plan->governor = p->governor == WV_GOVERNOR_PERFORMANCE;
  plan->irq_steer = p->irq == WV_IRQ_STEER;
  if (plan->vm_cpus == NULL) {
    if (plan->isolate || plan->governor || plan->irq_steer)
      wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "host-steps-unpinned",
                          "pin the vCPUs ([cpu] pin = auto or a list)",
                          "[host] isolate, governor and irq act on the CPUs the vCPUs are "
                          "pinned to; they are not pinned, so the host is left as it is");
    plan->isolate = plan->governor = plan->irq_steer = FALSE;
    return;
  }
  if (host == NULL)
    return;
  plan->host_cpus = wv_cpuset_difference(host->online, plan->vm_cpus);
  /* the default isolation of a pinned VM says nothing when it cannot be */
  if (plan->host_cpus->n == 0 && (p->isolate == WV_TRI_ON || plan->irq_steer))
    wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "isolate-no-host-cpus",
                        "leave the host a CPU ([cpu] host-reserved)",
                        "the vCPUs use every online CPU: the host cannot be kept off them, "
                        "so [host] isolate and irq do nothing");
  if (plan->host_cpus->n == 0)
    plan->isolate = plan->irq_steer = FALSE;
}

WvPlan *
wv_plan_build(const WvProfile *p, const WvPlanContext *ctx)
{
  WvPlan *plan = g_new0(WvPlan, 1);
  const char *dir = ctx->template_dir ? ctx->template_dir : wv_default_template_dir();
  g_autofree char *template_path = wv_template_path(p->template_name, dir);

  plan->vcpu_pins = g_ptr_array_new_with_free_func((GDestroyNotify)wv_cpuset_free);
  plan->iothread_pins = g_ptr_array_new_with_free_func((GDestroyNotify)wv_cpuset_free);
  plan->findings = g_ptr_array_new_with_free_func(finding_free);
  plan->numa_node = -1;
  plan->cpu_mode = p->cpu_mode;
  plan->cpu_model = g_strdup(p->cpu_model);
  plan->templates = ctx->templates ? wv_templates_ref(ctx->templates) : NULL;

  if (g_file_test(template_path, G_FILE_TEST_IS_REGULAR)) {
    plan->template_path = g_steal_pointer(&template_path);
  } else {
    g_autofree char *hint = g_strdup_printf("templates live in %s", dir);
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "template-missing", hint,
                        "template “%s” not found (%s)", p->template_name, template_path);
  }

  plan_hypervisor(plan, p, ctx);
  {
    g_autoptr(WvCpuset) reserved = NULL;

    plan_topology(plan, p);
    reserved = plan_reserved(plan, p, ctx->host);
    plan_vcpu_pins(plan, p, ctx->host, reserved);
    plan_sibling_check(plan, ctx->host);
    plan_thread_pins(plan, p, ctx->host, reserved);
    plan_numa_node(plan, ctx->host);
  }
  plan_hugepages(plan, p, ctx->host);
  wv_plan_host_steps(plan, p, ctx->host);
  plan_hostdevs(plan, p, ctx);
  plan_capabilities(plan, p, ctx->domcaps);
  plan_hyperv_dependencies(plan, p);
  plan_devices(plan, p);
  return plan;
}

char *
wv_plan_to_string(const WvPlan *plan, const WvProfile *p)
{
  GString *s = g_string_new(NULL);

  g_string_append_printf(s, "%s (%s)\n", p->name, p->path);
  if (plan->findings->len == 0)
    g_string_append(s, "  no findings\n");
  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    g_string_append_printf(s, "  %-7s %s: %s\n", wv_severity_name(f->severity), f->code,
                           f->message);
    if (f->hint)
      g_string_append_printf(s, "          hint: %s\n", f->hint);
  }
  g_string_append_printf(s,
                         "plan:\n  topology: %u socket(s), %u die(s), %u core(s), %u thread(s)\n",
                         plan->sockets, plan->dies, plan->cores, plan->threads);
  for (guint i = 0; i < plan->vcpu_pins->len; i++) {
    g_autofree char *set =
        plan->vcpu_pins->pdata[i] ? wv_cpuset_format(plan->vcpu_pins->pdata[i]) : NULL;
    g_string_append_printf(s, "  vcpu %-3u -> host CPU %s\n", i, set ? set : "any");
  }
  if (plan->vcpu_pins->len == 0)
    g_string_append(s, "  vcpus: not pinned\n");
  if (plan->emulator_pin) {
    g_autofree char *set = wv_cpuset_format(plan->emulator_pin);
    g_string_append_printf(s, "  emulator -> host CPU %s\n", set);
  }
  for (guint i = 0; i < plan->iothread_pins->len; i++) {
    g_autofree char *set =
        plan->iothread_pins->pdata[i] ? wv_cpuset_format(plan->iothread_pins->pdata[i]) : NULL;
    g_string_append_printf(s, "  iothread %u -> host CPU %s\n", i + 1, set ? set : "any");
  }
  if (plan->numa_node >= 0)
    g_string_append_printf(s, "  memory: NUMA node %d\n", plan->numa_node);
  if (plan->hugepage_kib)
    g_string_append_printf(
        s, "  hugepages: %" G_GUINT64_FORMAT " x %s, %" G_GUINT64_FORMAT " to reserve at start\n",
        plan->hugepages_needed, wv_page_size_name(plan->hugepage_kib), plan->hugepages_reserve);
  if (plan->hugepage_fallback_kib)
    g_string_append_printf(s, "  hugepages: %s pages if the pool will not grow\n",
                           wv_page_size_name(plan->hugepage_fallback_kib));
  if (plan->hyperv_features) {
    g_autofree char *names = feature_list(plan->hyperv_features);
    g_string_append_printf(s, "  hyper-v: %s\n", names);
  }
  if (plan->vm_cpus) {
    g_autofree char *vm = wv_cpuset_format(plan->vm_cpus);
    g_autofree char *rest = plan->host_cpus ? wv_cpuset_format(plan->host_cpus) : NULL;

    if (plan->isolate)
      g_string_append_printf(s,
                             "  isolation: system.slice, user.slice, init.scope -> host CPU %s\n",
                             rest ? rest : "(all but the VM's: host facts unknown)");
    if (plan->governor)
      g_string_append_printf(s, "  governor: performance on host CPU %s\n", vm);
    if (plan->irq_steer)
      g_string_append_printf(s, "  irqs and workqueues: kept off host CPU %s\n", vm);
  }
  return g_string_free(s, FALSE);
}
