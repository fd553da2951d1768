/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One VM's state against stale news (issue 12, part 6): wv-vm.c driven on
 * this thread's main loop against libvirt's built-in test:///default
 * driver, with a 2 MiB-hugepage VM on a copy of the fake "ryzen" host.
 *
 * - a lifecycle event that arrives after an operation ran later (a
 *   STARTED after a ForceOff, a STOPPED after a Start) never shows through;
 * - a read begun before a Start and applied after it (the resync after a
 *   reconnect) is read again, not applied: the VM stays running and keeps
 *   its hugepage record;
 * - the pages go back once a current read says the domain stopped.
 */
#include "wv-common.h"
#include "wv-hugepages.h"
#include "wv-libvirt.h"
#include "wv-vm.h"
#include "wv-worker.h"
#include "../unit/wv-test.h"

#include <glib/gstdio.h>
#include <libvirt/libvirt.h>

#define NAME "stale"

static const char PROFILE[] = "[vm]\n"
                              "name = " NAME "\n"
                              "template = minimal\n"
                              "memory = 512MiB\n"
                              "vcpus = 2\n"
                              "\n"
                              "[cpu]\n"
                              "pin = none\n"
                              "\n"
                              "[memory]\n"
                              "hugepages = 2M\n"
                              "hugepages-allocate = true\n";

typedef struct
{
  char *tmp;
  WvConfig *config;
  WvLibvirt *libvirt;
  WvVmContext ctx;
  WvVm *vm;
  GArray *states; /* WvVmState: every state the VM showed, in order */
  gboolean connected;
} Fixture;

static void
on_connected(gpointer data)
{
  ((Fixture *)data)->connected = TRUE;
}

static void
on_disconnected(gpointer data, const char *reason)
{
}

static void
on_lifecycle(gpointer data, const char *domain, int event, int detail)
{
  Fixture *f = data;

  if (f->vm && g_str_equal(domain, NAME))
    wv_vm_lifecycle(f->vm, event, detail);
}

static void
on_tunables(gpointer data, const char *domain)
{
}

static void
vm_changed(WvVm *vm, gpointer data)
{
  Fixture *f = data;
  WvVmState state = wv_vm_state(vm);

  if (f->states->len == 0 || g_array_index(f->states, WvVmState, f->states->len - 1) != state)
    g_array_append_val(f->states, state);
}

/* Until every worker is back and its result applied (the re-reads too). */
static void
settle(void)
{
  g_assert_true(wv_workers_drain(NULL, 10000));
}

static void
done_cb(WvVm *vm, const GError *error, gpointer data)
{
  GError **out = data;

  *out = error ? g_error_copy(error) : NULL;
}

static void
run_op(Fixture *f, void (*op)(Fixture *f, GError **error))
{
  GError *error = (GError *)1; /* not answered yet */

  op(f, &error);
  while (error == (GError *)1)
    g_main_context_iteration(g_main_context_get_thread_default(), TRUE);
  g_assert_no_error(error);
  settle();
}

static void
start(Fixture *f, GError **error)
{
  wv_vm_start(f->vm, done_cb, error);
}

static void
force_off(Fixture *f, GError **error)
{
  wv_vm_act(f->vm, WV_VM_FORCE_OFF, done_cb, error);
}

static char *
record_path(Fixture *f)
{
  return g_build_filename(f->config->runtime_dir, NAME ".hugepages", NULL);
}

static gboolean
has_record(Fixture *f)
{
  g_autofree char *path = record_path(f);

  return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* nr_hugepages of both 2 MiB pools of the copied host */
static guint64
pages(Fixture *f)
{
  static const char *const pools[] = {
      "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
      "devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages",
  };
  guint64 total = 0;

  for (guint i = 0; i < G_N_ELEMENTS(pools); i++) {
    g_autofree char *path = g_build_filename(f->config->sysfs_root, pools[i], NULL);
    g_autofree char *text = NULL;

    if (g_file_get_contents(path, &text, NULL, NULL))
      total += g_ascii_strtoull(text, NULL, 10);
  }
  return total;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  static const WvLibvirtCallbacks callbacks = {
      .connected = on_connected,
      .disconnected = on_disconnected,
      .lifecycle = on_lifecycle,
      .tunables = on_tunables,
  };
  g_autoptr(GError) error = NULL;
  g_autofree char *hosts = g_build_filename(WV_TEST_DATA, "hosts", "ryzen", NULL);
  g_autofree char *sys = NULL, *proc = NULL, *run = NULL, *state = NULL;
  const char *cp[] = {"cp", "-a", hosts, NULL, NULL};
  WvConfig config = {0};
  int status = 0;

  f->tmp = g_dir_make_tmp("winvm-vm-state-XXXXXX", &error);
  g_assert_no_error(error);
  /* a copy: the pools are written */
  cp[3] = f->tmp;
  g_assert_true(g_spawn_sync(NULL, (char **)cp, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                             &status, &error));
  g_assert_no_error(error);
  g_assert_true(g_spawn_check_wait_status(status, &error));
  sys = g_build_filename(f->tmp, "ryzen", "sys", NULL);
  proc = g_build_filename(f->tmp, "ryzen", "proc", NULL);
  run = g_build_filename(f->tmp, "run", NULL);
  state = g_build_filename(f->tmp, "state", NULL);
  config.libvirt_uri = (char *)"test:///default";
  config.sysfs_root = sys;
  config.proc_root = proc;
  config.runtime_dir = run;
  config.state_dir = state;
  config.template_dir = (char *)wv_test_template_dir();
  f->config = wv_config_copy(&config);
  f->states = g_array_new(FALSE, FALSE, sizeof(WvVmState));

  f->libvirt = wv_libvirt_new(f->config->libvirt_uri, &callbacks, f);
  wv_libvirt_start(f->libvirt);
  while (!f->connected)
    g_main_context_iteration(g_main_context_get_thread_default(), TRUE);
  f->ctx.config = f->config;
  f->ctx.libvirt = f->libvirt;
  f->vm = wv_vm_new(&f->ctx, wv_test_profile(PROFILE));
  wv_vm_watch(f->vm, vm_changed, f);
  wv_vm_refresh(f->vm);
  settle();
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_UNDEFINED);
}

/* test:///default is one host for the whole process: the next test
 * starts without the domain */
static void
undefine(Fixture *f)
{
  g_autoptr(WvLibvirtLease) lease = wv_libvirt_lease(f->libvirt, NULL);
  virConnectPtr conn = lease ? wv_libvirt_lease_conn(lease, NULL) : NULL;
  g_autoptr(virDomain) dom = conn ? virDomainLookupByName(conn, NAME) : NULL;

  if (dom == NULL)
    return;
  if (virDomainIsActive(dom) == 1)
    virDomainDestroy(dom);
  virDomainUndefine(dom);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  const char *rm[] = {"rm", "-rf", f->tmp, NULL};

  undefine(f);
  settle();
  wv_vm_free(f->vm);
  f->vm = NULL;
  settle();
  wv_libvirt_free(f->libvirt);
  wv_config_unref(f->config);
  g_array_unref(f->states);
  g_assert_true(g_spawn_sync(NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                             NULL, NULL));
  g_free(f->tmp);
}

static gboolean
showed(Fixture *f, guint from, WvVmState state)
{
  for (guint i = from; i < f->states->len; i++)
    if (g_array_index(f->states, WvVmState, i) == state)
      return TRUE;
  return FALSE;
}

/* The flake of test_start_announces_starting_then_running: the STARTED
 * event of a Start, delivered after a ForceOff had made the VM off, showed
 * it running again. */
static void
test_late_started_after_force_off(Fixture *f, gconstpointer data)
{
  guint mark;

  run_op(f, start);
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_RUNNING);
  g_assert_true(has_record(f));
  run_op(f, force_off);
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_SHUT_OFF);
  g_assert_false(has_record(f));
  g_assert_cmpuint(pages(f), ==, 0);

  mark = f->states->len;
  wv_vm_lifecycle(f->vm, VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED);
  wv_vm_lifecycle(f->vm, VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_SHUT_OFF);
  settle();
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_SHUT_OFF);
  g_assert_false(showed(f, mark, WV_VM_STATE_RUNNING));
}

/* A STOPPED event of an earlier run, delivered after the next Start: the
 * VM stays running and keeps its pages. */
static void
test_late_stopped_after_start(Fixture *f, gconstpointer data)
{
  guint mark;

  run_op(f, start);
  run_op(f, force_off);
  run_op(f, start);
  g_assert_cmpuint(pages(f), ==, 256);

  mark = f->states->len;
  wv_vm_lifecycle(f->vm, VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
  wv_vm_lifecycle(f->vm, VIR_DOMAIN_EVENT_UNDEFINED, VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_RUNNING);
  g_assert_true(has_record(f));
  settle();
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_RUNNING);
  g_assert_false(showed(f, mark, WV_VM_STATE_SHUT_OFF));
  g_assert_false(showed(f, mark, WV_VM_STATE_UNDEFINED));
  g_assert_true(has_record(f));
  g_assert_cmpuint(pages(f), ==, 256);
  run_op(f, force_off);
  g_assert_false(has_record(f));
  g_assert_cmpuint(pages(f), ==, 0);
}

/* The resync's race: a read begun before a Start, applied after it. */
static void
test_stale_read_after_start(Fixture *f, gconstpointer data)
{
  g_autoptr(WvLibvirtLease) lease = wv_libvirt_lease(f->libvirt, NULL);
  virConnectPtr conn = lease ? wv_libvirt_lease_conn(lease, NULL) : NULL;
  WvVmReadStamp stamp = wv_vm_read_begin(f->vm);
  g_autoptr(WvDomainInfo) info = wv_domain_info_read(conn, NAME, NULL);
  guint mark;

  g_assert_nonnull(info);
  g_assert_cmpint(info->state, ==, WV_VM_STATE_UNDEFINED);
  run_op(f, start);
  g_assert_true(has_record(f));

  mark = f->states->len;
  wv_vm_read_apply(f->vm, stamp, info);
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_RUNNING);
  g_assert_true(has_record(f));
  settle();
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_RUNNING);
  g_assert_false(showed(f, mark, WV_VM_STATE_UNDEFINED));
  g_assert_true(has_record(f));
  g_assert_cmpuint(pages(f), ==, 256);

  /* a current read is applied, and one that says stopped gives the pages
   * back: the domain went away behind winvm's back */
  {
    g_autoptr(virDomain) dom = virDomainLookupByName(conn, NAME);
    WvVmReadStamp now;
    g_autoptr(WvDomainInfo) off = NULL;

    g_assert_nonnull(dom);
    g_assert_cmpint(virDomainDestroy(dom), ==, 0);
    settle(); /* its own STOPPED event: a re-read */
    now = wv_vm_read_begin(f->vm);
    off = wv_domain_info_read(conn, NAME, NULL);
    wv_vm_read_apply(f->vm, now, off);
    g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_SHUT_OFF);
    g_assert_false(has_record(f));
    g_assert_cmpuint(pages(f), ==, 0);
  }
}

/* Only the newest read counts, whatever order the reads come back in. */
static void
test_older_read_after_newer(Fixture *f, gconstpointer data)
{
  g_autoptr(WvLibvirtLease) lease = wv_libvirt_lease(f->libvirt, NULL);
  virConnectPtr conn = lease ? wv_libvirt_lease_conn(lease, NULL) : NULL;
  WvVmReadStamp older, newer;
  g_autoptr(WvDomainInfo) before = NULL, after = NULL;

  older = wv_vm_read_begin(f->vm);
  before = wv_domain_info_read(conn, NAME, NULL);
  run_op(f, start);
  newer = wv_vm_read_begin(f->vm);
  after = wv_domain_info_read(conn, NAME, NULL);
  g_assert_cmpint(after->state, ==, WV_VM_STATE_RUNNING);
  wv_vm_read_apply(f->vm, newer, after);
  wv_vm_read_apply(f->vm, older, before);
  g_assert_cmpint(wv_vm_state(f->vm), ==, WV_VM_STATE_RUNNING);
  g_assert_true(has_record(f));
  run_op(f, force_off);
}

int
main(int argc, char **argv)
{
  g_autoptr(GMainContext) context = g_main_context_new();

  g_test_init(&argc, &argv, NULL);
  /* as winvmd does: libvirt's event thread iterates GLib's global default
   * context, so this thread's sources live in a context of their own */
  g_main_context_push_thread_default(context);
  wv_main_thread_init();
  wv_libvirt_init();
  g_test_add("/vm-state/late-started-after-force-off", Fixture, NULL, fixture_setup,
             test_late_started_after_force_off, fixture_teardown);
  g_test_add("/vm-state/late-stopped-after-start", Fixture, NULL, fixture_setup,
             test_late_stopped_after_start, fixture_teardown);
  g_test_add("/vm-state/stale-read-after-start", Fixture, NULL, fixture_setup,
             test_stale_read_after_start, fixture_teardown);
  g_test_add("/vm-state/older-read-after-newer", Fixture, NULL, fixture_setup,
             test_older_read_after_newer, fixture_teardown);
  return g_test_run();
}
