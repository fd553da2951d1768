/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The host ledger and what the host gives up while VMs run, on fake sysfs
 * and /proc trees: governors, IRQ affinities and the workqueue mask set at
 * start, recomputed for a second VM, restored byte for byte at stop, and
 * after a crash at each step. systemd's units are left to the integration
 * test (a mock systemd on a private bus); here there is no bus.
 */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <utime.h>

#include <glib/gstdio.h>

#include "wv-common.h"
#include "wv-isolate.h"
#include "wv-ledger.h"
#include "wv-test.h"
#include "wv-worker.h"

/* ---- encodings ------------------------------------------------------------ */

static WvCpuset *
set_of(const char *text)
{
  g_autoptr(GError) error = NULL;
  WvCpuset *set = *text ? wv_cpuset_parse(text, &error) : wv_cpuset_new(NULL, 0);

  g_assert_no_error(error);
  return set;
}

static char *
hex_of(GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data(bytes, &len);
  GString *s = g_string_new(NULL);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf(s, "%s%02x", i ? " " : "", data[i]);
  return g_string_free(s, FALSE);
}

static void
test_bitmask(void)
{
  static const struct
  {
    const char *set;
    const char *bytes;
  } cases[] = {
      {"", ""},
      {"0", "01"},
      {"0-1,8-9", "03 03"},
      {"15", "00 80"},
      {"0-7", "ff"},
      {"2-7,10-15", "fc fc"},
      {"64", "00 00 00 00 00 00 00 00 01"},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(WvCpuset) set = set_of(cases[i].set);
    g_autoptr(GBytes) mask = wv_cpuset_to_bitmask(set);
    g_autofree char *hex = hex_of(mask);
    g_autoptr(WvCpuset) back =
        wv_cpuset_from_bitmask(g_bytes_get_data(mask, NULL), g_bytes_get_size(mask));

    g_assert_cmpstr(hex, ==, cases[i].bytes);
    g_assert_true(wv_cpuset_equal(set, back));
  }
  /* trailing zero bytes and high bits: what systemd may hand back */
  {
    static const guint8 bytes[] = {0x00, 0x81, 0x00};
    g_autoptr(WvCpuset) set = wv_cpuset_from_bitmask(bytes, sizeof bytes);
    g_autofree char *text = wv_cpuset_format(set);
    g_assert_cmpstr(text, ==, "8,15");
  }
}

static void
test_hexmask(void)
{
  static const struct
  {
    const char *set;
    const char *mask;
  } cases[] = {
      {"0-7", "ff"}, {"0-1,4-7", "f3"}, {"", "0"}, {"32", "1,00000000"}, {"0,32-33", "3,00000001"},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(WvCpuset) set = set_of(cases[i].set);
    g_autofree char *mask = wv_cpuset_format_mask(set);
    g_autoptr(GError) error = NULL;
    g_autoptr(WvCpuset) back = wv_cpuset_parse_mask(cases[i].mask, &error);

    g_assert_cmpstr(mask, ==, cases[i].mask);
    g_assert_no_error(error);
    g_assert_true(wv_cpuset_equal(set, back));
  }
  {
    /* what the kernel prints: zero-padded groups, a newline */
    g_autoptr(WvCpuset) set = wv_cpuset_parse_mask("00000000,0000ffff\n", NULL);
    g_autofree char *text = wv_cpuset_format(set);
    g_assert_cmpstr(text, ==, "0-15");
  }
  for (guint i = 0; i < 4; i++) {
    static const char *const bad[] = {"", "xyz", "1,,2", "123456789"};
    g_autoptr(GError) error = NULL;
    g_autoptr(WvCpuset) set = wv_cpuset_parse_mask(bad[i], &error);
    g_assert_null(set);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
  }
}

/* ---- the ledger ------------------------------------------------------------ */

static char *
tmpdir(void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp("wv-isolate-XXXXXX", &error);

  g_assert_no_error(error);
  return dir;
}

static void
rm_rf(const char *path)
{
  g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
      rm_rf(child);
    else
      g_unlink(child);
  }
  g_rmdir(path);
}

static void
test_ledger(void)
{
  g_autofree char *dir = tmpdir();
  g_autofree char *path = g_build_filename(dir, "host.ledger", NULL);
  /* byte for byte: no newline at the end, a byte that is no UTF-8 */
  static const guint8 odd[] = {'s', 'c', 'h', 0xff, '\n', 'x'};
  g_autoptr(GBytes) previous = g_bytes_new_static(odd, sizeof odd);
  g_autoptr(GBytes) value = g_bytes_new_static("performance\n", 12);
  g_autoptr(WvCpuset) cpus = set_of("2-3");
  const char *vms[] = {"b", "a", "b", NULL};
  WvLedgerVm need = {"a", cpus, TRUE, FALSE, TRUE};
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(WvLedger) l = wv_ledger_load(dir, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(wv_ledger_changes(l)->len, ==, 0);
    wv_ledger_set_vm(l, &need);
    wv_ledger_record(l, "file:/sys/x", previous, value, WV_LEDGER_INTENT, vms);
    g_assert_true(wv_ledger_save(l, &error));
    g_assert_no_error(error);
  }
  {
    g_autoptr(WvLedger) l = wv_ledger_load(dir, &error);
    WvLedgerChange *c;
    WvLedgerVm *v;

    g_assert_no_error(error);
    c = wv_ledger_lookup(l, "file:/sys/x");
    g_assert_nonnull(c);
    g_assert_true(g_bytes_equal(c->previous, previous));
    g_assert_true(g_bytes_equal(c->value, value));
    g_assert_cmpint(c->state, ==, WV_LEDGER_INTENT);
    g_assert_cmpuint(g_strv_length(c->vms), ==, 2); /* sorted, each once */
    g_assert_cmpstr(c->vms[0], ==, "a");
    g_assert_cmpstr(c->vms[1], ==, "b");
    v = wv_ledger_vm(l, "a");
    g_assert_nonnull(v);
    g_assert_true(wv_cpuset_equal(v->cpus, cpus));
    g_assert_true(v->isolate && !v->governor && v->irq);

    /* applied, then restoring: each state survives a reload */
    c->state = WV_LEDGER_APPLIED;
    g_assert_true(wv_ledger_save(l, &error));
    {
      g_autoptr(WvLedger) again = wv_ledger_load(dir, &error);
      g_assert_cmpint(wv_ledger_lookup(again, "file:/sys/x")->state, ==, WV_LEDGER_APPLIED);
    }
    wv_ledger_forget(l, "file:/sys/x");
    g_assert_true(wv_ledger_forget_vm(l, "a"));
    g_assert_false(wv_ledger_forget_vm(l, "a"));
    g_assert_true(wv_ledger_save(l, &error));
    /* nothing left: no file */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
  }
  /* a corrupt ledger is an error naming it */
  g_assert_true(g_file_set_contents(path, "[file:/x]\nstate=maybe\n", -1, NULL));
  {
    g_autoptr(WvLedger) l = wv_ledger_load(dir, &error);
    g_assert_null(l);
    g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, path));
    g_clear_error(&error);
  }
  g_assert_true(g_file_set_contents(path, "not a keyfile\x01", -1, NULL));
  {
    g_autoptr(WvLedger) l = wv_ledger_load(dir, &error);
    g_assert_null(l);
    g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
    g_clear_error(&error);
  }
  rm_rf(dir);
}

/* ---- a fake host -------------------------------------------------------------- */

typedef struct
{
  char *root, *sys, *proc, *run;
} Host;

static void
put(const char *path, const char *text)
{
  g_autofree char *dir = g_path_get_dirname(path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_file_set_contents(path, text, -1, &error);
  g_assert_no_error(error);
}

static char *
host_file(Host *h, const char *root, const char *rel)
{
  return g_build_filename(root, rel, NULL);
}

static char *
get(Host *h, const char *root, const char *rel)
{
  g_autofree char *path = host_file(h, root, rel);
  char *text = NULL;

  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  return text;
}

#define assert_file(h, root, rel, want)                                                            \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *got_ = get((h), (root), (rel));                                               \
    g_assert_cmpstr(got_, ==, (want));                                                             \
  }                                                                                                \
  G_STMT_END

/* 8 CPUs, schedutil everywhere, IRQ 0 anywhere, IRQ 1 on CPU 2 only, IRQ 9
 * on CPU 3 (set by hand: no newline), IRQ 25 unreadable, the workqueues
 * anywhere. */
static void
host_init(Host *h)
{
  h->root = tmpdir();
  h->sys = g_build_filename(h->root, "sys", NULL);
  h->proc = g_build_filename(h->root, "proc", NULL);
  h->run = g_build_filename(h->root, "run", NULL);
  for (guint i = 0; i < 8; i++) {
    g_autofree char *rel = g_strdup_printf("devices/system/cpu/cpu%u/cpufreq/scaling_governor", i);
    g_autofree char *path = host_file(h, h->sys, rel);
    put(path, "schedutil\n");
  }
  {
    g_autofree char *online = host_file(h, h->sys, "devices/system/cpu/online");
    g_autofree char *wq = host_file(h, h->sys, "devices/virtual/workqueue/cpumask");
    g_autofree char *irq0 = host_file(h, h->proc, "irq/0/smp_affinity_list");
    g_autofree char *irq1 = host_file(h, h->proc, "irq/1/smp_affinity_list");
    g_autofree char *irq9 = host_file(h, h->proc, "irq/9/smp_affinity_list");
    g_autofree char *irq25 = host_file(h, h->proc, "irq/25/smp_affinity_list");
    g_autofree char *stat = host_file(h, h->proc, "irq/default_smp_affinity");

    put(online, "0-7\n");
    put(wq, "ff\n");
    put(irq0, "0-7\n");
    put(irq1, "2\n");
    put(irq9, "3");
    put(stat, "ff\n");
    g_assert_cmpint(g_mkdir_with_parents(irq25, 0755), ==, 0); /* unreadable: left alone */
  }
}

static void
host_clear(Host *h)
{
  rm_rf(h->root);
  g_free(h->root);
  g_free(h->sys);
  g_free(h->proc);
  g_free(h->run);
}

static void
start_vm(WvIsolate *iso, const char *vm, const char *cpus, gboolean governor, gboolean irq)
{
  WvPlan plan = {0};
  g_autoptr(WvCpuset) set = set_of(cpus);

  plan.vm_cpus = set;
  plan.governor = governor;
  plan.irq_steer = irq;
  wv_isolate_vm_start(iso, vm, &plan);
}

#define GOV(n) "devices/system/cpu/cpu" #n "/cpufreq/scaling_governor"
#define WQ     "devices/virtual/workqueue/cpumask"

static void
assert_pristine(Host *h)
{
  g_autofree char *ledger = g_build_filename(h->run, "host.ledger", NULL);

  for (guint i = 0; i < 8; i++) {
    g_autofree char *rel = g_strdup_printf("devices/system/cpu/cpu%u/cpufreq/scaling_governor", i);
    assert_file(h, h->sys, rel, "schedutil\n");
  }
  assert_file(h, h->proc, "irq/0/smp_affinity_list", "0-7\n");
  assert_file(h, h->proc, "irq/1/smp_affinity_list", "2\n");
  assert_file(h, h->proc, "irq/9/smp_affinity_list", "3");
  assert_file(h, h->sys, WQ, "ff\n");
  g_assert_false(g_file_test(ledger, G_FILE_TEST_EXISTS));
}

static guint
n_changes(WvIsolate *iso, const char *what)
{
  g_autoptr(GVariant) all = g_variant_ref_sink(wv_isolate_describe(iso));
  GVariantIter iter;
  const char *kind;
  guint n = 0;

  g_variant_iter_init(&iter, all);
  while (g_variant_iter_next(&iter, "(&s&s&s&s&s^a&s)", &kind, NULL, NULL, NULL, NULL, NULL))
    n += what == NULL || g_str_equal(kind, what);
  return n;
}

/* Start, a second VM, stop, stop: each step the host is what the running
 * VMs need, and at the end what it was, byte for byte. */
static void
test_start_stop(void)
{
  Host h;
  g_autoptr(WvIsolate) iso = NULL;

  host_init(&h);
  iso = wv_isolate_new(h.run, h.sys, h.proc);

  start_vm(iso, "a", "2-3", TRUE, TRUE);
  assert_file(&h, h.sys, GOV(2), "performance\n");
  assert_file(&h, h.sys, GOV(3), "performance\n");
  assert_file(&h, h.sys, GOV(4), "schedutil\n");
  assert_file(&h, h.proc, "irq/0/smp_affinity_list", "0-1,4-7\n");
  assert_file(&h, h.proc, "irq/1/smp_affinity_list", "0-1,4-7\n"); /* nothing left: all else */
  assert_file(&h, h.proc, "irq/9/smp_affinity_list", "0-1,4-7\n");
  assert_file(&h, h.sys, WQ, "f3\n");
  g_assert_true(wv_isolate_has_vm(iso, "a"));
  g_assert_cmpuint(n_changes(iso, "governor"), ==, 2);
  g_assert_cmpuint(n_changes(iso, "irq"), ==, 3); /* not IRQ 25 */
  g_assert_cmpuint(n_changes(iso, "workqueue"), ==, 1);
  g_assert_cmpuint(n_changes(iso, "isolation"), ==, 0); /* no systemd here */

  /* a second VM: worked out from the host's own values, not winvm's */
  start_vm(iso, "b", "4-5", FALSE, TRUE);
  assert_file(&h, h.proc, "irq/0/smp_affinity_list", "0-1,6-7\n");
  assert_file(&h, h.proc, "irq/1/smp_affinity_list", "0-1,6-7\n");
  assert_file(&h, h.sys, WQ, "c3\n");
  assert_file(&h, h.sys, GOV(4), "schedutil\n");
  {
    g_autoptr(WvLedger) l = wv_ledger_load(h.run, NULL);
    g_autofree char *key = g_strconcat("file:", h.proc, "/irq/0/smp_affinity_list", NULL);
    WvLedgerChange *c = wv_ledger_lookup(l, key);
    g_autoptr(GBytes) before = g_bytes_new_static("0-7\n", 4);

    g_assert_nonnull(c);
    g_assert_true(g_bytes_equal(c->previous, before));
    g_assert_cmpint(c->state, ==, WV_LEDGER_APPLIED);
    g_assert_cmpuint(g_strv_length(c->vms), ==, 2);
  }

  /* the first stops: its governors go back, the IRQs keep off b's CPUs */
  wv_isolate_vm_stop(iso, "a");
  assert_file(&h, h.sys, GOV(2), "schedutil\n");
  assert_file(&h, h.sys, GOV(3), "schedutil\n");
  assert_file(&h, h.proc, "irq/0/smp_affinity_list", "0-3,6-7\n");
  assert_file(&h, h.proc, "irq/1/smp_affinity_list", "2\n"); /* its own value fits again */
  assert_file(&h, h.proc, "irq/9/smp_affinity_list", "3");
  assert_file(&h, h.sys, WQ, "cf\n");
  g_assert_false(wv_isolate_has_vm(iso, "a"));

  /* the last: everything as it was */
  wv_isolate_vm_stop(iso, "b");
  assert_pristine(&h);
  g_assert_cmpuint(n_changes(iso, NULL), ==, 0);
  /* a VM with nothing recorded: nothing happens */
  wv_isolate_vm_stop(iso, "b");
  host_clear(&h);
}

static void
set_mtime_zero(Host *h, const char *root, const char *rel)
{
  g_autofree char *path = host_file(h, root, rel);
  struct utimbuf t = {0, 0};

  g_assert_cmpint(utime(path, &t), ==, 0);
}

static gboolean
written_since_zero(Host *h, const char *root, const char *rel)
{
  g_autofree char *path = host_file(h, root, rel);
  struct stat st;

  g_assert_cmpint(stat(path, &st), ==, 0);
  return st.st_mtime != 0;
}

/* The daemon dies with changes applied (the object is dropped without a
 * stop, as SIGKILL would): a new one that sees the VM still running
 * applies nothing again; once it is gone, everything goes back. */
static void
test_crash_applied(void)
{
  Host h;

  host_init(&h);
  {
    g_autoptr(WvIsolate) iso = wv_isolate_new(h.run, h.sys, h.proc);
    start_vm(iso, "a", "2-3", TRUE, TRUE);
  }
  set_mtime_zero(&h, h.sys, GOV(2));
  set_mtime_zero(&h, h.proc, "irq/0/smp_affinity_list");
  {
    const char *running[] = {"a", NULL};
    g_autoptr(WvIsolate) iso = wv_isolate_new(h.run, h.sys, h.proc);

    g_assert_true(wv_isolate_has_vm(iso, "a"));
    wv_isolate_recover(iso, running);
    g_assert_false(written_since_zero(&h, h.sys, GOV(2)));
    g_assert_false(written_since_zero(&h, h.proc, "irq/0/smp_affinity_list"));
    assert_file(&h, h.sys, GOV(2), "performance\n");

    /* a second VM on the same CPU: the previous value stays the host's */
    start_vm(iso, "b", "2", TRUE, FALSE);
    {
      g_autoptr(WvLedger) l = wv_ledger_load(h.run, NULL);
      g_autofree char *key = g_strconcat("file:", h.sys, "/" GOV(2), NULL);
      g_autoptr(GBytes) before = g_bytes_new_static("schedutil\n", 10);
      g_assert_true(g_bytes_equal(wv_ledger_lookup(l, key)->previous, before));
    }
  }
  {
    /* died again; now neither runs */
    g_autoptr(WvIsolate) iso = wv_isolate_new(h.run, h.sys, h.proc);
    wv_isolate_recover(iso, NULL);
    assert_pristine(&h);
  }
  host_clear(&h);
}

/* A crash between the intent and the write (the ledger says intent, the
 * file was never written) and during a restore (restoring, the file still
 * holds winvm's value): each undone, or finished for a VM that runs. */
static void
test_crash_between_steps(void)
{
  Host h;
  g_autofree char *ledger = NULL;
  g_autofree char *gov2 = NULL;
  g_autofree char *gov3 = NULL;

  host_init(&h);
  ledger = g_build_filename(h.run, "host.ledger", NULL);
  gov2 = host_file(&h, h.sys, GOV(2));
  gov3 = host_file(&h, h.sys, GOV(3));
  g_assert_cmpint(g_mkdir_with_parents(h.run, 0755), ==, 0);

  /* intent recorded, the write never happened */
  {
    g_autoptr(WvLedger) l = wv_ledger_load(h.run, NULL);
    g_autoptr(WvCpuset) cpus = set_of("2");
    WvLedgerVm need = {"a", cpus, FALSE, TRUE, FALSE};
    g_autoptr(GBytes) before = g_bytes_new_static("schedutil\n", 10);
    g_autoptr(GBytes) perf = g_bytes_new_static("performance\n", 12);
    g_autofree char *key = g_strconcat("file:", gov2, NULL);
    const char *vms[] = {"a", NULL};

    wv_ledger_set_vm(l, &need);
    wv_ledger_record(l, key, before, perf, WV_LEDGER_INTENT, vms);
    g_assert_true(wv_ledger_save(l, NULL));
  }
  {
    /* the VM runs: the change is finished */
    const char *running[] = {"a", NULL};
    g_autoptr(WvIsolate) iso = wv_isolate_new(h.run, h.sys, h.proc);
    wv_isolate_recover(iso, running);
    assert_file(&h, h.sys, GOV(2), "performance\n");
    {
      g_autoptr(WvLedger) l = wv_ledger_load(h.run, NULL);
      g_autofree char *key = g_strconcat("file:", gov2, NULL);
      g_assert_cmpint(wv_ledger_lookup(l, key)->state, ==, WV_LEDGER_APPLIED);
    }
  }
  /* the same intent, the VM gone: nothing to finish, the host's value back */
  put(gov2, "schedutil\n");
  {
    g_autoptr(WvLedger) l = wv_ledger_load(h.run, NULL);
    g_autofree char *key = g_strconcat("file:", gov2, NULL);
    wv_ledger_lookup(l, key)->state = WV_LEDGER_INTENT;
    g_assert_true(wv_ledger_save(l, NULL));
  }
  {
    g_autoptr(WvIsolate) iso = wv_isolate_new(h.run, h.sys, h.proc);
    wv_isolate_recover(iso, NULL);
    assert_file(&h, h.sys, GOV(2), "schedutil\n");
    g_assert_false(g_file_test(ledger, G_FILE_TEST_EXISTS));
  }

  /* died while restoring: the file still holds winvm's value */
  put(gov3, "performance\n");
  {
    g_autoptr(WvLedger) l = wv_ledger_load(h.run, NULL);
    g_autoptr(GBytes) before = g_bytes_new_static("schedutil\n", 10);
    g_autoptr(GBytes) perf = g_bytes_new_static("performance\n", 12);
    g_autofree char *key = g_strconcat("file:", gov3, NULL);
    const char *none[] = {NULL};

    wv_ledger_record(l, key, before, perf, WV_LEDGER_RESTORING, none);
    g_assert_true(wv_ledger_save(l, NULL));
  }
  {
    g_autoptr(WvIsolate) iso = wv_isolate_new(h.run, h.sys, h.proc);
    g_assert_cmpuint(n_changes(iso, "governor"), ==, 1);
    wv_isolate_recover(iso, NULL);
    assert_pristine(&h);
  }

  /* a corrupt ledger is set aside with a warning, never trusted */
  put(ledger, "[vm a]\ncpus=banana\n");
  g_test_expect_message("winvmd", G_LOG_LEVEL_WARNING, "*corrupt*set aside*");
  {
    g_autoptr(WvIsolate) iso = wv_isolate_new(h.run, h.sys, h.proc);
    g_autofree char *aside = g_strconcat(ledger, ".corrupt", NULL);
    g_assert_false(wv_isolate_has_vm(iso, "a"));
    g_assert_true(g_file_test(aside, G_FILE_TEST_EXISTS));
  }
  host_clear(&h);
}

/* A stop seen (queued to a worker) and a start of the same VM right after:
 * whichever runs first, the VM ends up with its needs and its governor. */
static void
test_stop_then_start(void)
{
  Host h;
  g_autoptr(WvIsolate) iso = NULL;

  host_init(&h);
  iso = wv_isolate_new(h.run, h.sys, h.proc);
  for (guint round = 0; round < 20; round++) {
    start_vm(iso, "a", "2", TRUE, FALSE);
    wv_isolate_vm_stop_async(iso, "a");
    start_vm(iso, "a", "2", TRUE, FALSE);
    g_assert_true(wv_workers_drain(g_main_context_get_thread_default(), 10000));
    g_assert_true(wv_isolate_has_vm(iso, "a"));
    assert_file(&h, h.sys, GOV(2), "performance\n");
    /* a stop with no start behind it does its work */
    wv_isolate_vm_stop_async(iso, "a");
    g_assert_true(wv_workers_drain(g_main_context_get_thread_default(), 10000));
    g_assert_false(wv_isolate_has_vm(iso, "a"));
    assert_pristine(&h);
  }
  host_clear(&h);
}

/* ---- what check and the plan say ---------------------------------------------- */

static WvPlan *
plan_for(const char *text)
{
  g_autoptr(WvHost) host = wv_test_host("ryzen");
  g_autoptr(WvProfile) p = wv_test_profile(text);
  WvPlanContext ctx = {.host = host, .template_dir = wv_test_template_dir()};

  return wv_plan_build(p, &ctx);
}

static gboolean
has_finding(const WvPlan *plan, const char *code)
{
  for (guint i = 0; i < plan->findings->len; i++)
    if (g_str_equal(((WvFinding *)plan->findings->pdata[i])->code, code))
      return TRUE;
  return FALSE;
}

static void
test_plan(void)
{
  g_autoptr(WvPlan) pinned = plan_for("[vm]\nvcpus = 4\n");
  g_autoptr(WvPlan) unpinned = plan_for("[vm]\nvcpus = 4\n[cpu]\npin = none\n");
  g_autoptr(WvPlan) off = plan_for("[vm]\nvcpus = 4\n[host]\nisolate = false\n");
  g_autoptr(WvPlan) all =
      plan_for("[vm]\nvcpus = 4\n[host]\ngovernor = performance\nirq = steer\n");
  g_autoptr(WvPlan) lost =
      plan_for("[vm]\nvcpus = 4\n[cpu]\npin = none\n[host]\ngovernor = performance\n");
  g_autoptr(WvProfile) p = wv_test_profile("[vm]\nvcpus = 4\n[host]\nirq = steer\n");
  g_autofree char *text = NULL;
  g_autofree char *vm = NULL;
  g_autofree char *host = NULL;
  g_autofree char *bad = NULL;

  /* isolated by default once pinned */
  g_assert_nonnull(pinned->vm_cpus);
  g_assert_true(pinned->isolate);
  g_assert_false(pinned->governor || pinned->irq_steer);
  g_assert_false(has_finding(pinned, "host-steps-unpinned"));
  vm = wv_cpuset_format(pinned->vm_cpus);
  host = wv_cpuset_format(pinned->host_cpus);
  {
    g_autoptr(WvCpuset) both = wv_cpuset_union(pinned->vm_cpus, pinned->host_cpus);
    g_assert_cmpuint(both->n, ==, 16);
    g_assert_false(wv_cpuset_intersects(pinned->vm_cpus, pinned->host_cpus));
  }
  g_assert_null(unpinned->vm_cpus);
  g_assert_false(unpinned->isolate);
  g_assert_false(has_finding(unpinned, "host-steps-unpinned"));
  g_assert_false(off->isolate);
  g_assert_true(all->isolate && all->governor && all->irq_steer);
  g_assert_false(lost->governor);
  g_assert_true(has_finding(lost, "host-steps-unpinned"));

  text = wv_plan_to_string(all, p);
  {
    g_autofree char *iso_line =
        g_strdup_printf("  isolation: system.slice, user.slice, init.scope -> host CPU %s\n", host);
    g_autofree char *gov_line = g_strdup_printf("  governor: performance on host CPU %s\n", vm);
    g_autofree char *irq_line =
        g_strdup_printf("  irqs and workqueues: kept off host CPU %s\n", vm);
    g_assert_nonnull(strstr(text, iso_line));
    g_assert_nonnull(strstr(text, gov_line));
    g_assert_nonnull(strstr(text, irq_line));
  }

  bad = wv_test_profile_error("[vm]\nvcpus = 4\n[host]\ngovernor = turbo\n");
  g_assert_nonnull(strstr(bad, "governor"));
  g_free(bad);
  bad = wv_test_profile_error("[vm]\nvcpus = 4\n[host]\nirq = elsewhere\n");
  g_assert_nonnull(strstr(bad, "irq"));
  g_free(bad);
  bad = wv_test_profile_error("[vm]\nvcpus = 4\n[host]\nisolate = maybe\n");
  g_assert_nonnull(strstr(bad, "isolate"));
}

static void
test_check(void)
{
  Host h;
  g_autoptr(WvPlan) plan =
      plan_for("[vm]\nvcpus = 4\n[host]\ngovernor = performance\nirq = steer\n");
  g_autofree char *comm = NULL;

  host_init(&h);
  /* the fake tree has cpufreq on CPUs 0-7, no irqbalance */
  wv_cpuset_free(plan->vm_cpus);
  plan->vm_cpus = set_of("2-3");
  wv_isolate_check(NULL, plan, h.sys, h.proc);
  g_assert_false(has_finding(plan, "irqbalance-running"));
  g_assert_false(has_finding(plan, "governor-unavailable"));
  comm = host_file(&h, h.proc, "812/comm");
  put(comm, "irqbalance\n");
  {
    g_autoptr(WvPlan) again =
        plan_for("[vm]\nvcpus = 4\n[host]\ngovernor = performance\nirq = steer\n");
    const WvFinding *f = NULL;

    wv_cpuset_free(again->vm_cpus);
    again->vm_cpus = set_of("6-9");
    wv_isolate_check(NULL, again, h.sys, h.proc);
    g_assert_true(has_finding(again, "irqbalance-running"));
    for (guint i = 0; i < again->findings->len; i++)
      if (g_str_equal(((WvFinding *)again->findings->pdata[i])->code, "governor-unavailable"))
        f = again->findings->pdata[i];
    g_assert_nonnull(f);
    g_assert_cmpint(f->severity, ==, WV_SEVERITY_WARNING);
    g_assert_nonnull(strstr(f->message, "CPU 8,9 ")); /* 0-7 have cpufreq */
  }
  host_clear(&h);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/isolate/bitmask", test_bitmask);
  g_test_add_func("/isolate/hexmask", test_hexmask);
  g_test_add_func("/isolate/ledger", test_ledger);
  g_test_add_func("/isolate/start-stop", test_start_stop);
  g_test_add_func("/isolate/crash-applied", test_crash_applied);
  g_test_add_func("/isolate/crash-between-steps", test_crash_between_steps);
  g_test_add_func("/isolate/stop-then-start", test_stop_then_start);
  g_test_add_func("/isolate/plan", test_plan);
  g_test_add_func("/isolate/check", test_check);
  return g_test_run();
}
