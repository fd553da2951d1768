/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wv-common.h"
#include "wv-test.h"

typedef struct
{
  const char *host;    /* fake tree */
  const char *domcaps; /* NULL: unknown */
  const char *profile;
  const char *pins;     /* vCPU pins in vCPU order, "" unpinned */
  const char *emulator; /* NULL: not pinned */
  guint cores, threads;
  gint node;
  const char *errors; /* comma list of error codes expected, "" none */
} PinCase;

static WvPlan *
plan_for(const char *host_name, const char *caps_name, const char *text, GHashTable *in_use)
{
  g_autoptr(WvHost) host = host_name ? wv_test_host(host_name) : NULL;
  g_autoptr(WvDomcaps) caps = caps_name ? wv_test_domcaps(caps_name) : NULL;
  g_autoptr(WvProfile) p = wv_test_profile(text);
  WvPlanContext ctx = {
      .host = host,
      .domcaps = caps,
      .devices_in_use = in_use,
      .template_dir = wv_test_template_dir(),
  };
  return wv_plan_build(p, &ctx);
}

static char *
codes(const WvPlan *plan, WvSeverity severity)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    if (f->severity == severity)
      g_string_append_printf(s, "%s%s", s->len ? "," : "", f->code);
  }
  return g_string_free(s, FALSE);
}

static const PinCase pin_cases[] = {
    /* laptop: 4c/8t, siblings n,n+4; core 0 (0,4) kept for the host */
    {"laptop", NULL, "[vm]\nvcpus = 4\n", "1,5,2,6", "0,4", 2, 2, -1, ""},
    {"laptop", NULL, "[vm]\nvcpus = 6\n", "1,5,2,6,3,7", "0,4", 3, 2, -1, ""},
    {"laptop", NULL, "[vm]\nvcpus = 8\n", "", NULL, 8, 1, -1, "pin-no-room"},
    {"laptop", NULL, "[vm]\nvcpus = 8\n[cpu]\npin = none\n", "", NULL, 8, 1, -1, ""},
    {"laptop", NULL, "[vm]\nvcpus = 2\n[cpu]\nhost-reserved = 0-1,4-5\n", "2,6", "0-1,4-5", 1, 2,
     -1, ""},
    /* ryzen 1800X: CCX0 = 0-3,8-11, CCX1 = 4-7,12-15; best fit per L3 */
    {"ryzen", NULL, "[vm]\nvcpus = 8\n", "4,12,5,13,6,14,7,15", "0,8", 4, 2, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 6\n", "1,9,2,10,3,11", "0,8", 3, 2, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 2\n", "1,9", "0,8", 1, 2, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 12\n", "1,9,2,10,3,11,4,12,5,13,6,14", "0,8", 6, 2, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 5\n", "1,2,3,9,10", "0,8", 5, 1, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 16\n", "", NULL, 16, 1, -1, "pin-no-room"},
    {"ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\npin = 2,10,3,11\n", "2,10,3,11", "0,8", 2, 2, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\npin = 2,3,10,11\n", "2,3,10,11", "0,8", 4, 1, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\npin = 2,3,4,99\n", "", NULL, 4, 1, -1, "cpu-unknown"},
    {"ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\ntopology = 1,1,4,1\n", "1,9,2,10", "0,8", 4, 1, -1,
     ""},
    {"ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\nemulator-pin = 0\niothreads = 2\n", "1,9,2,10", "0", 2,
     2, -1, ""},
    {"ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\nhost-reserved = 0,8,64\n", "1,9,2,10", "0,8,64", 2, 2,
     -1, "cpu-unknown"},
    /* 2-socket server: node0 = 0-7,16-23, node1 = 8-15,24-30 (31 offline) */
    {"numa2s", NULL, "[vm]\nvcpus = 8\n", "1,17,2,18,3,19,4,20", "0,16", 4, 2, 0, ""},
    {"numa2s", NULL, "[vm]\nvcpus = 16\n", "1,17,2,18,3,19,4,20,5,21,6,22,7,23,8,24", "0,16", 8, 2,
     -1, ""},
    {"numa2s", NULL, "[vm]\nvcpus = 2\n[cpu]\npin = 30,31\n", "", NULL, 2, 1, -1, "cpu-offline"},
    {"numa2s", NULL, "[vm]\nvcpus = 4\n[cpu]\npin = 8,24,9,25\n", "8,24,9,25", "0,16", 2, 2, 1, ""},
    /* without host facts nothing is pinned and the plan says so */
    {NULL, NULL, "[vm]\nvcpus = 4\n", "", NULL, 4, 1, -1, ""},
};

static void
test_pins(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(pin_cases); i++) {
    const PinCase *c = &pin_cases[i];
    g_autoptr(WvPlan) plan = plan_for(c->host, c->domcaps, c->profile, NULL);
    g_autofree char *pins = wv_test_pins(plan);
    g_autofree char *emu = plan->emulator_pin ? wv_cpuset_format(plan->emulator_pin) : NULL;
    g_autofree char *errors = codes(plan, WV_SEVERITY_ERROR);

    if (g_strcmp0(pins, c->pins) != 0 || g_strcmp0(emu, c->emulator) != 0 ||
        plan->cores != c->cores || plan->threads != c->threads || plan->numa_node != c->node ||
        g_strcmp0(errors, c->errors) != 0)
      g_error("case %u (%s, %s): pins “%s” emulator “%s” cores %u threads %u node %d errors "
              "“%s”; expected “%s” “%s” %u %u %d “%s”",
              i, c->host, c->profile, pins, emu, plan->cores, plan->threads, plan->numa_node,
              errors, c->pins, c->emulator, c->cores, c->threads, c->node, c->errors);
    g_assert_cmpuint(plan->sockets * plan->dies * plan->cores * plan->threads, ==, plan->vcpus);
  }
}

static void
test_warnings(void)
{
  g_autoptr(WvPlan) odd = plan_for("ryzen", NULL, "[vm]\nvcpus = 5\n", NULL);
  g_autoptr(WvPlan) spans = plan_for("numa2s", NULL, "[vm]\nvcpus = 16\n", NULL);
  g_autoptr(WvPlan) overlap = plan_for("ryzen", NULL, "[vm]\nvcpus = 2\n[cpu]\npin = 0,8\n", NULL);
  g_autoptr(WvPlan) nohost = plan_for(NULL, NULL, "[vm]\nvcpus = 2\n", NULL);
  g_autoptr(WvPlan) over = plan_for("laptop", NULL, "[vm]\nvcpus = 12\n[cpu]\npin = none\n", NULL);
  g_autoptr(WvPlan) io = plan_for("ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\niothreads = 2\n", NULL);
  g_autoptr(WvPlan) iopin =
      plan_for("ryzen", NULL, "[vm]\nvcpus = 2\n[cpu]\niothreads = 2\niothread-pin = 0;8\n", NULL);

  g_assert_nonnull(wv_test_finding(odd, "pin-odd-vcpus"));
  g_assert_nonnull(wv_test_finding(spans, "pin-spans-nodes"));
  g_assert_null(wv_test_finding(odd, "pin-spans-nodes"));
  g_assert_nonnull(wv_test_finding(overlap, "pin-overlaps-reserved"));
  g_assert_nonnull(wv_test_finding(nohost, "pin-no-host-facts"));
  g_assert_nonnull(wv_test_finding(over, "vcpus-overcommit"));
  g_assert_false(wv_plan_has_errors(odd));
  g_assert_false(wv_plan_has_errors(spans));

  /* I/O threads share the host's reserved core unless pinned explicitly */
  g_assert_cmpuint(io->iothread_pins->len, ==, 2);
  {
    g_autofree char *a = wv_cpuset_format(io->iothread_pins->pdata[0]);
    g_autofree char *b = wv_cpuset_format(iopin->iothread_pins->pdata[1]);
    g_assert_cmpstr(a, ==, "0,8");
    g_assert_cmpstr(b, ==, "8");
  }
}

typedef struct
{
  const char *host;
  const char *profile;
  const char *code;
  WvSeverity severity;
  const char *in_message; /* must appear in the finding's message */
} FindingCase;

#define GPU_RYZEN  "[hostdev:gpu]\npci = 0000:0f:00.0,0000:0f:00.1\n"
#define GPU_SHARED "[hostdev:gpu]\npci = 0000:0a:00.0,0000:0a:00.1\n"

static const FindingCase finding_cases[] = {
    /* IOMMU and VFIO */
    {"ryzen", GPU_RYZEN, NULL, 0, NULL},
    {"gpu-alone", GPU_SHARED, NULL, 0, NULL},
    {"gpu-shared", GPU_SHARED, "iommu-group-shared", WV_SEVERITY_ERROR,
     "shares IOMMU group 20 with 0000:0a:00.2 (class 010601, driver ahci)"},
    {"gpu-shared", "[hostdev:gpu]\npci = 0000:0a:00.0,0000:0a:00.1,0000:0a:00.2\n",
     "hostdev-host-driver", WV_SEVERITY_WARNING, "0000:0a:00.2 is bound to ahci"},
    {"noiommu", "[hostdev:gpu]\npci = 01:00.0\n", "iommu-missing", WV_SEVERITY_ERROR,
     "no IOMMU groups"},
    {"noiommu", "[hostdev:gpu]\npci = 01:00.0\n", "hostdev-host-driver", WV_SEVERITY_WARNING,
     "bound to nouveau"},
    {"laptop", GPU_RYZEN, "hostdev-missing", WV_SEVERITY_ERROR,
     "[hostdev:gpu] 0000:0f:00.0: no such PCI device"},
    /* hugepages */
    {"ryzen", "[vm]\nmemory = 16GiB\n[memory]\nhugepages = 1G\n", "hugepages-ok", WV_SEVERITY_INFO,
     "16 of 16 free 1G pages"},
    {"ryzen", "[vm]\nmemory = 32GiB\n[memory]\nhugepages = 1G\n", "hugepages-short",
     WV_SEVERITY_ERROR, "32 free 1G pages needed, 16 free"},
    {"ryzen", "[vm]\nmemory = 32GiB\n[memory]\nhugepages = 1G\nhugepages-allocate = true\n",
     "hugepages-reserve", WV_SEVERITY_WARNING, "grow by 16 pages"},
    {"laptop", "[vm]\nmemory = 4GiB\n[memory]\nhugepages = 2M\nhugepages-allocate = true\n",
     "hugepages-reserve", WV_SEVERITY_INFO, "grow by 2048 pages"},
    {"ryzen", "[vm]\nmemory = 48GiB\n[memory]\nhugepages = 1G\nhugepages-allocate = true\n",
     "hugepages-cannot-grow", WV_SEVERITY_ERROR,
     "growing the 1G pool by 32 pages needs 32768 MiB; the host has 16384 MiB available"},
    {"laptop", "[vm]\nmemory = 4GiB\n[memory]\nhugepages = 1G\n", "hugepages-unsupported",
     WV_SEVERITY_ERROR, "no 1G hugepages"},
    {"noiommu", "[vm]\nmemory = 4GiB\n[memory]\nhugepages = 2M\n", "hugetlbfs-missing",
     WV_SEVERITY_ERROR, "no hugetlbfs is mounted for 2M pages"},
    /* node-local: vCPUs on node 1 take node 1's pool (1024 total, 512 free) */
    {"numa2s", "[vm]\nvcpus = 4\nmemory = 2GiB\n[cpu]\npin = 8,24,9,25\n[memory]\nhugepages = 2M\n",
     "hugepages-short", WV_SEVERITY_ERROR, "1024 free 2M pages needed, 512 free on the VM's node"},
    {"numa2s", "[vm]\nvcpus = 4\nmemory = 2GiB\n[memory]\nhugepages = 2M\n", "hugepages-ok",
     WV_SEVERITY_INFO, "1024 of 2048 free 2M pages on node 0"},
    /* templates */
    {"ryzen", "[vm]\ntemplate = windows95\n", "template-missing", WV_SEVERITY_ERROR,
     "template “windows95” not found"},
    /* devices */
    {"ryzen", "[looking-glass]\nresolution = 2560x1440\ndevice = kvmfr\n", "looking-glass-kvmfr",
     WV_SEVERITY_ERROR, "libvirt cannot back a shared-memory device with /dev/kvmfr0"},
    {"ryzen", "[looking-glass]\nresolution = 2560x1440\n", NULL, 0, NULL},
    {"ryzen", "[sound]\nmodel = ich9\nbackend = pipewire\n", "sound-pipewire-pulse",
     WV_SEVERITY_INFO, "PipeWire's PulseAudio server"},
    /* Hyper-V: what QEMU refuses to start without */
    {"ryzen", "[hyperv]\nenlightenments = relaxed,synic\n", "hyperv-dependency", WV_SEVERITY_ERROR,
     "Hyper-V synic needs vpindex, which is not enabled"},
    {"ryzen",
     "[hyperv]\nenlightenments = vapic,vpindex,synic,stimer\n[clock]\ntimers = -hypervclock\n",
     "hyperv-dependency", WV_SEVERITY_ERROR, "stimer needs the hypervclock timer (hv-time)"},
    {"ryzen", "[hyperv]\nenlightenments = relaxed,evmcs\n", "hyperv-dependency", WV_SEVERITY_ERROR,
     "Hyper-V evmcs needs vapic"},
    {"ryzen", "[hyperv]\nenlightenments = stimer-direct\n", "hyperv-dependency", WV_SEVERITY_ERROR,
     "Hyper-V stimer-direct needs stimer"},
    {"ryzen", "[hyperv]\nenlightenments = vpindex,synic,stimer,stimer-direct,ipi,tlbflush\n", NULL,
     0, NULL},
    {"ryzen", "[clock]\ntimers = -hypervclock\n", "hyperv-dependency", WV_SEVERITY_WARNING,
     "Hyper-V stimer, stimer-direct left out"},
};

static void
test_findings(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(finding_cases); i++) {
    const FindingCase *c = &finding_cases[i];
    g_autoptr(WvPlan) plan = plan_for(c->host, NULL, c->profile, NULL);
    const WvFinding *f;

    if (c->code == NULL) {
      if (wv_plan_has_errors(plan)) {
        g_autofree char *errors = codes(plan, WV_SEVERITY_ERROR);
        g_error("case %u (%s): unexpected errors %s", i, c->host, errors);
      }
      continue;
    }
    f = wv_test_finding(plan, c->code);
    if (f == NULL) {
      g_autofree char *all = codes(plan, c->severity);
      g_error("case %u (%s): no %s finding (have: %s)", i, c->host, c->code, all);
    }
    g_assert_cmpint(f->severity, ==, c->severity);
    if (strstr(f->message, c->in_message) == NULL)
      g_error("case %u: “%s” does not contain “%s”", i, f->message, c->in_message);
    if (f->severity == WV_SEVERITY_ERROR)
      g_assert_nonnull(f->hint);
  }
}

/* The first finding with @code; fails the test when there is none. */
static const WvFinding *
must_find(const WvPlan *plan, const char *code)
{
  const WvFinding *f = wv_test_finding(plan, code);

  if (f == NULL)
    g_error("no %s finding", code);
  return f;
}

static guint
count_findings(const WvPlan *plan, const char *code)
{
  guint n = 0;
  for (guint i = 0; i < plan->findings->len; i++)
    n += g_str_equal(((WvFinding *)plan->findings->pdata[i])->code, code);
  return n;
}

/* One finding per dependent feature, with the fix; with auto, what
 * depends on a missing feature is left out. */
static void
test_hyperv_dependencies(void)
{
  g_autoptr(WvPlan) two =
      plan_for("ryzen", "kvm.xml", "[hyperv]\nenlightenments = ipi,tlbflush\n", NULL);
  g_autoptr(WvPlan) chain =
      plan_for("ryzen", "kvm.xml", "[hyperv]\nenlightenments = stimer,stimer-direct\n", NULL);
  g_autoptr(WvHost) host = wv_test_host("ryzen");
  g_autoptr(WvDomcaps) caps = wv_test_domcaps("kvm.xml");
  g_autoptr(WvProfile) p = wv_test_profile("[vm]\n");
  WvPlanContext ctx = {.host = host, .domcaps = caps, .template_dir = wv_test_template_dir()};
  g_autoptr(WvPlan) no_vpindex = NULL;
  const WvFinding *f;
  guint gone = (1u << WV_HV_SYNIC) | (1u << WV_HV_STIMER) | (1u << WV_HV_STIMER_DIRECT) |
               (1u << WV_HV_IPI) | (1u << WV_HV_TLBFLUSH) | (1u << WV_HV_VPINDEX);

  g_assert_cmpuint(count_findings(two, "hyperv-dependency"), ==, 2);
  f = must_find(two, "hyperv-dependency");
  g_assert_cmpstr(f->message, ==, "Hyper-V ipi needs vpindex, which is not enabled");
  g_assert_cmpstr(f->hint, ==,
                  "add vpindex to [hyperv] enlightenments, or remove ipi (QEMU refuses to "
                  "start otherwise)");
  /* stimer needs synic; stimer-direct's stimer is there */
  g_assert_cmpuint(count_findings(chain, "hyperv-dependency"), ==, 1);
  g_assert_nonnull(strstr(must_find(chain, "hyperv-dependency")->message, "stimer needs synic"));

  /* a host without vpindex: auto leaves out everything built on it */
  caps->hyperv_supported &= ~(1u << WV_HV_VPINDEX);
  no_vpindex = wv_plan_build(p, &ctx);
  g_assert_cmphex(no_vpindex->hyperv_features & gone, ==, 0);
  g_assert_true(no_vpindex->hyperv_features & (1u << WV_HV_RELAXED));
  g_assert_false(wv_plan_has_errors(no_vpindex));
  f = must_find(no_vpindex, "hyperv-dependency");
  g_assert_cmpint(f->severity, ==, WV_SEVERITY_WARNING);
  g_assert_cmpstr(f->message, ==,
                  "Hyper-V synic, stimer, stimer-direct, tlbflush, ipi left out: what they need "
                  "is unavailable on this host");
}

/* Every CPU a key names that the host lacks, in one finding per key; every
 * bad I/O thread set, not only the first. */
static void
test_cpu_findings(void)
{
  g_autoptr(WvPlan) pins =
      plan_for("ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\npin = 2,99,3,64\n", NULL);
  g_autoptr(WvPlan) io = plan_for(
      "ryzen", NULL, "[vm]\nvcpus = 2\n[cpu]\niothreads = 3\niothread-pin = 0;64;65-66\n", NULL);
  g_autoptr(WvPlan) offline =
      plan_for("numa2s", NULL, "[vm]\nvcpus = 2\n[cpu]\npin = 30,31\nhost-reserved = 0,31\n", NULL);

  g_assert_cmpuint(count_findings(pins, "cpu-unknown"), ==, 1);
  g_assert_cmpstr(must_find(pins, "cpu-unknown")->message, ==,
                  "[cpu] pin names CPUs 64,99, which this host does not have");
  g_assert_cmpuint(count_findings(io, "cpu-unknown"), ==, 1);
  g_assert_cmpstr(must_find(io, "cpu-unknown")->message, ==,
                  "[cpu] iothread-pin (I/O threads 2, 3) names CPUs 64-66, which this host does "
                  "not have");
  g_assert_cmpuint(io->iothread_pins->len, ==, 0);
  g_assert_cmpuint(count_findings(offline, "cpu-offline"), ==, 2);
  g_assert_cmpstr(must_find(offline, "cpu-offline")->message, ==,
                  "[cpu] host-reserved names CPU 31, which is offline");
}

/* Threads of one guest core belong on SMT siblings of one host core. */
static void
test_sibling_mismatch(void)
{
  g_autoptr(WvPlan) split = plan_for(
      "ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\ntopology = 1,1,2,2\npin = 2,3,10,11\n", NULL);
  g_autoptr(WvPlan) half =
      plan_for("ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\ntopology = 1,1,2,2\npin = 2,10,3,4\n", NULL);
  g_autoptr(WvPlan) pairs = plan_for(
      "ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\ntopology = 1,1,2,2\npin = 2,10,3,11\n", NULL);
  g_autoptr(WvPlan) autopin =
      plan_for("ryzen", NULL, "[vm]\nvcpus = 8\n[cpu]\ntopology = 1,1,4,2\n", NULL);
  g_autoptr(WvPlan) nosmt =
      plan_for("ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\npin = 2,3,10,11\n", NULL);
  const WvFinding *f = must_find(split, "topology-sibling-mismatch");

  g_assert_cmpint(f->severity, ==, WV_SEVERITY_WARNING);
  g_assert_cmpstr(f->message, ==,
                  "the guest sees 2 threads per core, but 2 of its cores run on different host "
                  "cores: vCPUs 0-1 on host CPUs 2-3; vCPUs 2-3 on host CPUs 10-11");
  g_assert_nonnull(f->hint);
  g_assert_nonnull(
      strstr(must_find(half, "topology-sibling-mismatch")->message,
             "1 of its cores run on different host cores: vCPUs 2-3 on host CPUs 3-4"));
  g_assert_null(wv_test_finding(pairs, "topology-sibling-mismatch"));
  g_assert_null(wv_test_finding(autopin, "topology-sibling-mismatch"));
  /* topology = auto follows the pins: no SMT claimed, nothing to mismatch */
  g_assert_cmpuint(nosmt->threads, ==, 1);
  g_assert_null(wv_test_finding(nosmt, "topology-sibling-mismatch"));
}

/* A guest that takes every host CPU: host-reserved empty, emulator-pin =
 * none, and not a word about it. */
static void
test_whole_host(void)
{
  g_autoptr(WvPlan) all = plan_for(
      "ryzen", NULL,
      "[vm]\nvcpus = 16\n[cpu]\npin = 0,8,1,9,2,10,3,11,4,12,5,13,6,14,7,15\nhost-reserved =\n"
      "emulator-pin = none\n",
      NULL);
  g_autoptr(WvPlan) autopin =
      plan_for("ryzen", NULL, "[vm]\nvcpus = 16\n[cpu]\nhost-reserved = none\n", NULL);
  g_autoptr(WvPlan) unpinned =
      plan_for("ryzen", NULL, "[vm]\nvcpus = 4\n[cpu]\nemulator-pin = none\niothreads = 1\n", NULL);
  g_autofree char *warnings = codes(all, WV_SEVERITY_WARNING);
  g_autofree char *errors = codes(autopin, WV_SEVERITY_ERROR);
  g_autofree char *io = wv_cpuset_format(unpinned->iothread_pins->pdata[0]);

  g_assert_cmpstr(warnings, ==, "");
  g_assert_false(wv_plan_has_errors(all));
  g_assert_null(all->emulator_pin);
  g_assert_cmpuint(all->threads, ==, 2);
  g_assert_cmpstr(errors, ==, "");
  g_assert_cmpuint(autopin->vcpu_pins->len, ==, 16);
  g_assert_null(autopin->emulator_pin);
  /* emulator-pin = none leaves the I/O threads on the reserved core */
  g_assert_null(unpinned->emulator_pin);
  g_assert_cmpstr(io, ==, "0,8");
}

static void
test_hugepage_counts(void)
{
  g_autoptr(WvPlan) plan =
      plan_for("ryzen", NULL,
               "[vm]\nmemory = 20GiB\n[memory]\nhugepages = 1G\nhugepages-allocate = yes\n", NULL);

  g_assert_cmpuint(plan->hugepage_kib, ==, 1024 * 1024);
  g_assert_cmpuint(plan->hugepages_needed, ==, 20);
  g_assert_cmpuint(plan->hugepages_reserve, ==, 4);
  g_assert_false(wv_plan_has_errors(plan));
}

static void
test_devices_in_use(void)
{
  g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(WvPlan) plan = NULL;
  const WvFinding *f;

  g_hash_table_insert(used, (gpointer) "0000:0f:00.1", (gpointer) "other-vm");
  plan = plan_for("ryzen", NULL, GPU_RYZEN, used);
  f = wv_test_finding(plan, "hostdev-in-use");
  if (f == NULL)
    g_error("no hostdev-in-use finding");
  g_assert_cmpint(f->severity, ==, WV_SEVERITY_ERROR);
  g_assert_nonnull(strstr(f->message, "0000:0f:00.1 is in use by running domain “other-vm”"));
}

static void
test_hyperv_capabilities(void)
{
  g_autoptr(WvPlan) full = plan_for("ryzen", "kvm.xml", "[vm]\n", NULL);
  g_autoptr(WvPlan) no_caps = plan_for("ryzen", NULL, "[vm]\n", NULL);
  g_autoptr(WvPlan) filtered = plan_for("ryzen", "kvm-no-evmcs.xml", "[vm]\n", NULL);
  g_autoptr(WvPlan) asked =
      plan_for("ryzen", "kvm-no-evmcs.xml", "[hyperv]\nenlightenments = relaxed,evmcs\n", NULL);
  g_autoptr(WvPlan) tcg = plan_for("ryzen", NULL, "[vm]\nhypervisor = qemu\n", NULL);
  g_autoptr(WvPlan) none = plan_for("ryzen", "kvm.xml", "[hyperv]\nenlightenments = none\n", NULL);
  const WvFinding *f;

  /* auto: everything but the vendor-specific ones; avic once caps list it */
  g_assert_cmphex(no_caps->hyperv_features, ==, wv_hyperv_auto_set());
  g_assert_cmphex(full->hyperv_features, ==, wv_hyperv_auto_set() | (1u << WV_HV_AVIC));
  g_assert_false(full->hyperv_features & (1u << WV_HV_EVMCS));
  g_assert_null(wv_test_finding(full, "hyperv-unsupported"));
  g_assert_cmphex(filtered->hyperv_features, ==, wv_hyperv_auto_set());

  f = wv_test_finding(asked, "hyperv-unsupported");
  if (f == NULL)
    g_error("no hyperv-unsupported finding");
  g_assert_cmpint(f->severity, ==, WV_SEVERITY_ERROR);
  g_assert_nonnull(strstr(f->message, "evmcs"));

  g_assert_cmpint(tcg->cpu_mode, ==, WV_CPU_MODE_CUSTOM);
  g_assert_cmpstr(tcg->cpu_model, ==, "qemu64");
  g_assert_false(tcg->hyperv_features & (1u << WV_HV_STIMER));
  g_assert_cmphex(none->hyperv_features, ==, 0);
}

static void
test_check_error(void)
{
  g_autoptr(WvPlan) plan = plan_for("gpu-shared", NULL, "[vm]\nvcpus = 24\n" GPU_SHARED, NULL);
  g_autoptr(WvPlan) good = plan_for("gpu-alone", NULL, GPU_SHARED, NULL);
  g_autoptr(WvProfile) p = wv_test_profile("[vm]\nname = shared\n");
  g_autoptr(GError) error = NULL;
  g_autofree char *text = wv_plan_to_string(plan, p);

  g_assert_false(wv_plan_check(plan, &error));
  g_assert_error(error, WV_ERROR, WV_ERROR_PREFLIGHT_FAILED);
  g_assert_nonnull(strstr(error->message, "pin-no-room"));
  g_assert_nonnull(strstr(error->message, "iommu-group-shared"));
  g_assert_true(wv_plan_check(good, NULL));

  g_assert_nonnull(strstr(text, "error   iommu-group-shared:"));
  g_assert_nonnull(strstr(text, "hint: hand 0000:0a:00.2 over too"));
}

static const char *
finding_message(const WvPlan *plan, const char *code)
{
  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    if (g_str_equal(f->code, code))
      return f->message;
  }
  return NULL;
}

/* kvm-unavailable names the reason, from the kernel's view first, then
 * libvirt's; emulated profiles are told they are slow, never refused. */
static void
test_kvm(void)
{
  static const struct
  {
    WvKvmState state;
    const char *flag;
    gboolean libvirt_lacks;
    const char *message; /* NULL: no finding */
  } cases[] = {
      {WV_KVM_AVAILABLE, "vmx", FALSE, NULL},
      {WV_KVM_NO_MODULE, "", FALSE, "its CPU offers no VT-x/AMD-V"},
      {WV_KVM_NO_MODULE, "vmx", FALSE, "the CPU has VT-x but kvm_intel is not loaded"},
      {WV_KVM_NO_MODULE, "svm", FALSE, "the CPU has AMD-V but kvm_amd is not loaded"},
      {WV_KVM_NO_MODULE, NULL, FALSE, "kvm_intel or kvm_amd is not loaded"},
      {WV_KVM_NO_DEVICE, "vmx", FALSE, "/dev/kvm does not exist"},
      {WV_KVM_NO_ACCESS, "vmx", FALSE, "/dev/kvm cannot be opened read-write"},
      {WV_KVM_AVAILABLE, "vmx", TRUE, "libvirt offers no kvm domain type"},
      {WV_KVM_NO_MODULE, "", TRUE, "its CPU offers no VT-x/AMD-V"},
  };
  g_autoptr(WvProfile) kvm = wv_test_profile("[vm]\ntemplate = minimal\n");
  g_autoptr(WvProfile) tcg = wv_test_profile("[vm]\ntemplate = minimal\nhypervisor = qemu\n");

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(WvHost) host = wv_test_host("laptop");
    WvPlanContext ctx = {.host = host,
                         .template_dir = wv_test_template_dir(),
                         .libvirt_lacks_kvm = cases[i].libvirt_lacks};
    g_autoptr(WvPlan) plan = NULL;
    g_autoptr(WvPlan) emulated = NULL;
    const char *msg;

    host->kvm = cases[i].state;
    g_free(host->cpu_virt_flag);
    host->cpu_virt_flag = g_strdup(cases[i].flag);
    plan = wv_plan_build(kvm, &ctx);
    msg = finding_message(plan, "kvm-unavailable");
    if (cases[i].message == NULL) {
      g_assert_null(msg);
      g_assert_false(wv_plan_has_errors(plan));
    } else {
      g_assert_nonnull(msg);
      g_assert_nonnull(strstr(msg, cases[i].message));
      g_assert_true(wv_plan_has_errors(plan));
    }
    emulated = wv_plan_build(tcg, &ctx);
    g_assert_null(finding_message(emulated, "kvm-unavailable"));
    g_assert_nonnull(finding_message(emulated, "hypervisor-emulated"));
    g_assert_false(wv_plan_has_errors(emulated));
  }
}

/* ---- hugepages: what buddyinfo and the node's free memory predict -------- */

#define NODE1_1G                                                                                   \
  "[vm]\nvcpus = 4\nmemory = 8GiB\n[cpu]\npin = 8,24,9,25\n[memory]\nhugepages = 1G\n"             \
  "hugepages-allocate = true\n"

/* numa2s with node 1's MemFree at @free_kib and @top free 4 MiB blocks on
 * node 1 (node 0 has plenty, which must not count). */
static WvPlan *
plan_fragmented(const char *profile, guint64 free_kib, guint top, const char *buddy)
{
  g_autoptr(WvHost) host = wv_test_host("numa2s");
  g_autoptr(WvProfile) p = wv_test_profile(profile);
  g_autofree char *text = buddy ? g_strdup(buddy)
                                : g_strdup_printf("Node 0, zone Normal 1 1 1 1 1 1 1 1 1 1 100000\n"
                                                  "Node 1, zone Normal 5 5 5 5 5 5 5 5 5 5 %u\n",
                                                  top);
  g_autoptr(GError) error = NULL;
  WvPlanContext ctx = {.host = host, .template_dir = wv_test_template_dir()};

  /* what the fake tree said is replaced */
  g_clear_pointer(&host->node_free_kib, g_array_unref);
  g_clear_pointer(&host->buddyinfo, g_array_unref);
  g_clear_pointer(&host->buddyinfo_error, g_free);
  host->node_free_kib = g_array_new(FALSE, TRUE, sizeof(guint64));
  g_array_set_size(host->node_free_kib, 2);
  g_array_index(host->node_free_kib, guint64, 0) = 100 * 1024 * 1024;
  g_array_index(host->node_free_kib, guint64, 1) = free_kib;
  host->buddyinfo = wv_buddyinfo_parse(text, &error);
  if (host->buddyinfo == NULL) {
    host->buddyinfo_error = g_strdup(error->message);
  }
  return wv_plan_build(p, &ctx);
}

static void
test_hugepages_prediction(void)
{
  const WvFinding *f;

  /* 12 GiB free on node 1 in 4 MiB blocks: 8 pages look findable */
  {
    g_autoptr(WvPlan) plan = plan_fragmented(NODE1_1G, 16 * 1024 * 1024, 3072, NULL);
    g_assert_cmpint(plan->numa_node, ==, 1);
    g_assert_cmpuint(plan->hugepages_reserve, ==, 8);
    f = must_find(plan, "hugepages-reserve");
    g_assert_cmpint(f->severity, ==, WV_SEVERITY_INFO);
    g_assert_nonnull(strstr(f->message, "grow by 8 pages"));
    g_assert_nonnull(strstr(f->message, "12 free 1G-sized blocks on node 1"));
    g_assert_null(wv_test_finding(plan, "hugepages-fragmented"));
  }
  /* 3 GiB of large blocks on node 1 (node 0's 390 GiB do not count) */
  {
    g_autoptr(WvPlan) plan = plan_fragmented(NODE1_1G, 16 * 1024 * 1024, 768, NULL);
    f = must_find(plan, "hugepages-fragmented");
    g_assert_cmpint(f->severity, ==, WV_SEVERITY_WARNING);
    g_assert_cmpstr(f->message, ==,
                    "only 3 free 1G-sized blocks on node 1; compaction may or may not find 8");
    g_assert_nonnull(strstr(f->hint, "hugepages-fallback = 2M"));
    g_assert_null(wv_test_finding(plan, "hugepages-reserve"));
  }
  /* the same with the fallback set: the hint says what start will do */
  {
    g_autoptr(WvPlan) plan =
        plan_fragmented(NODE1_1G "hugepages-fallback = 2M\n", 16 * 1024 * 1024, 768, NULL);
    g_autofree char *text = NULL;
    g_autoptr(WvProfile) p = wv_test_profile(NODE1_1G "hugepages-fallback = 2M\n");
    f = must_find(plan, "hugepages-fragmented");
    g_assert_nonnull(strstr(f->hint, "falls back to 2M pages"));
    text = wv_plan_to_string(plan, p);
    g_assert_nonnull(strstr(text, "hugepages: 2M pages if the pool will not grow"));
  }
  /* not even the node's free memory: an error whatever buddyinfo says */
  {
    g_autoptr(WvPlan) plan = plan_fragmented(NODE1_1G, 6 * 1024 * 1024, 3072, NULL);
    f = must_find(plan, "hugepages-cannot-grow");
    g_assert_cmpint(f->severity, ==, WV_SEVERITY_ERROR);
    g_assert_cmpstr(f->message, ==,
                    "growing the 1G pool by 8 pages needs 8192 MiB; the node has 6144 MiB free");
    g_assert_null(wv_test_finding(plan, "hugepages-fragmented"));
  }
  /* a buddyinfo that makes no sense: said, and the old warning stays */
  {
    g_autoptr(WvPlan) plan =
        plan_fragmented(NODE1_1G, 16 * 1024 * 1024, 0, "Node 1, zone Normal 1 x\n");
    f = must_find(plan, "buddyinfo-unreadable");
    g_assert_cmpint(f->severity, ==, WV_SEVERITY_WARNING);
    g_assert_nonnull(strstr(f->message, "buddyinfo line 1: a count is not a number"));
    f = must_find(plan, "hugepages-reserve");
    g_assert_cmpint(f->severity, ==, WV_SEVERITY_WARNING);
  }
  /* 2M pages: order-9 and order-10 blocks count directly */
  {
    g_autoptr(WvPlan) plan = plan_fragmented(
        "[vm]\nvcpus = 4\nmemory = 3GiB\n[cpu]\npin = 8,24,9,25\n[memory]\nhugepages = 2M\n"
        "hugepages-allocate = true\n",
        16 * 1024 * 1024, 100, NULL);
    /* node 1's 2M pool has 512 free: 1024 more, 5 + 2 * 100 blocks */
    f = must_find(plan, "hugepages-fragmented");
    g_assert_cmpstr(f->message, ==,
                    "only 205 free 2M-sized blocks on node 1; compaction may or may not find 1024");
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/plan/pins", test_pins);
  g_test_add_func("/plan/warnings", test_warnings);
  g_test_add_func("/plan/findings", test_findings);
  g_test_add_func("/plan/hugepages-prediction", test_hugepages_prediction);
  g_test_add_func("/plan/hugepage-counts", test_hugepage_counts);
  g_test_add_func("/plan/devices-in-use", test_devices_in_use);
  g_test_add_func("/plan/hyperv-capabilities", test_hyperv_capabilities);
  g_test_add_func("/plan/check-error", test_check_error);
  g_test_add_func("/plan/kvm", test_kvm);
  g_test_add_func("/plan/hyperv-dependencies", test_hyperv_dependencies);
  g_test_add_func("/plan/cpu-findings", test_cpu_findings);
  g_test_add_func("/plan/sibling-mismatch", test_sibling_mismatch);
  g_test_add_func("/plan/whole-host", test_whole_host);
  return g_test_run();
}
