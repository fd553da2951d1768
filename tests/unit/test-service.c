/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The host policies without a bus or libvirt: boot autostart (order, delay,
 * once per boot, cancel) and shutdown-all (clean, forced, failed), run
 * against fake VMs. wv-autostart.c and wv-shutdown.c are built into this
 * test as they are; the registry (wv_daemon_*) and the VM entry points
 * (wv_vm_*) they call are the fakes below.
 */
#include "config.h"

#include <glib/gstdio.h>

#include "wv-autostart.h"
#include "wv-common.h"
#include "wv-daemon.h"
#include "wv-shutdown.h"

typedef enum
{
  OUTCOME_OK,
  OUTCOME_FORCED,
  OUTCOME_FAILED,
} Outcome;

struct _WvVm
{
  char *name;
  WvProfile *profile;
  gboolean running;
  Outcome outcome; /* of the next start or shutdown */
  gint64 started_at;
  WvStopResult last_stop;
};

/* what the fakes were asked, in order: "start a", "shutdown a save 30" */
static GPtrArray *calls;

/* ---- the fake registry ------------------------------------------------------ */

static gint
by_name(gconstpointer a, gconstpointer b)
{
  return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
wv_daemon_vm_names(WvDaemon *daemon)
{
  GPtrArray *names = g_ptr_array_new();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init(&iter, daemon->vms);
  while (g_hash_table_iter_next(&iter, &key, NULL))
    g_ptr_array_add(names, key);
  g_ptr_array_sort(names, by_name);
  return names;
}

WvVm *
wv_daemon_get_vm(WvDaemon *daemon, const char *name)
{
  return g_hash_table_lookup(daemon->vms, name);
}

/* ---- the fake VMs ------------------------------------------------------------ */

const char *
wv_vm_name(WvVm *vm)
{
  return vm->name;
}

const WvProfile *
wv_vm_profile(WvVm *vm)
{
  return vm->profile;
}

gboolean
wv_vm_is_running(WvVm *vm)
{
  return vm->running;
}

const WvStopResult *
wv_vm_last_stop(WvVm *vm)
{
  return &vm->last_stop;
}

gboolean
wv_vm_is_starting(WvVm *vm)
{
  return FALSE;
}

typedef struct
{
  WvVm *vm;
  WvVmDone done;
  gpointer data;
  gboolean starting;
} Pending;

static gboolean
report(gpointer user_data)
{
  Pending *p = user_data;
  g_autoptr(GError) error = NULL;

  if (p->vm->outcome == OUTCOME_FAILED)
    error = g_error_new(WV_ERROR, WV_ERROR_FAILED, "it broke");
  else if (p->vm->outcome == OUTCOME_FORCED)
    error = g_error_new(WV_ERROR, WV_ERROR_TIMEOUT, "forced off");
  if (p->starting && error == NULL) {
    p->vm->running = TRUE;
    p->vm->started_at = g_get_monotonic_time();
  } else if (!p->starting && (error == NULL || p->vm->outcome == OUTCOME_FORCED)) {
    p->vm->running = FALSE;
  }
  p->done(p->vm, error, p->data);
  g_free(p);
  return G_SOURCE_REMOVE;
}

static void
later(WvVm *vm, gboolean starting, WvVmDone done, gpointer data)
{
  Pending *p = g_new0(Pending, 1);

  p->vm = vm;
  p->done = done;
  p->data = data;
  p->starting = starting;
  g_idle_add(report, p);
}

void
wv_vm_start(WvVm *vm, WvVmDone done, gpointer data)
{
  g_ptr_array_add(calls, g_strdup_printf("start %s", vm->name));
  later(vm, TRUE, done, data);
}

void
wv_vm_shutdown(WvVm *vm, WvHostShutdownPolicy policy, guint timeout_s, WvVmDone done, gpointer data)
{
  g_ptr_array_add(calls, g_strdup_printf("shutdown %s %s %u", vm->name,
                                         policy == WV_HOST_SHUTDOWN_SAVE      ? "save"
                                         : policy == WV_HOST_SHUTDOWN_DESTROY ? "destroy"
                                                                              : "shutdown",
                                         timeout_s));
  later(vm, FALSE, done, data);
}

/* ---- fixture ------------------------------------------------------------------ */

typedef struct
{
  WvConfig config;
  WvDaemon daemon;
  char *runtime_dir;
} Fixture;

static void
vm_free(WvVm *vm)
{
  g_free(vm->profile->name);
  g_free(vm->profile);
  g_free(vm->name);
  g_free(vm);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  f->runtime_dir = g_dir_make_tmp("winvm-test-service-XXXXXX", NULL);
  g_assert_nonnull(f->runtime_dir);
  f->config.runtime_dir = f->runtime_dir;
  f->daemon.config = &f->config;
  f->daemon.vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)vm_free);
  calls = g_ptr_array_new_with_free_func(g_free);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  g_autofree char *marker = g_build_filename(f->runtime_dir, "autostart-done", NULL);

  /* what is still queued reports to nobody */
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_unlink(marker);
  g_rmdir(f->runtime_dir);
  g_free(f->runtime_dir);
  g_hash_table_unref(f->daemon.vms);
  g_clear_pointer(&calls, g_ptr_array_unref);
}

static WvVm *
add_vm(Fixture *f, const char *name, gboolean autostart, gint order, guint delay_s)
{
  WvVm *vm = g_new0(WvVm, 1);

  vm->name = g_strdup(name);
  vm->profile = g_new0(WvProfile, 1);
  vm->profile->name = g_strdup(name);
  vm->profile->autostart = autostart;
  vm->profile->autostart_order = order;
  vm->profile->autostart_delay_s = delay_s;
  vm->profile->on_host_shutdown = WV_HOST_SHUTDOWN_SHUTDOWN;
  vm->profile->shutdown_timeout_s = 120;
  g_hash_table_insert(f->daemon.vms, vm->name, vm);
  return vm;
}

/* Runs the main loop until @n calls were made and nothing is left to do
 * right now, or @timeout_ms passed. */
static void
run_until_calls(guint n, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000;

  while (g_get_monotonic_time() < deadline) {
    if (calls->len >= n && !g_main_context_pending(NULL))
      return;
    g_main_context_iteration(NULL, FALSE);
    g_usleep(1000);
  }
}

static void
assert_calls(const char *const *expected)
{
  guint n = g_strv_length((char **)expected);

  for (guint i = 0; i < MIN(n, calls->len); i++)
    g_assert_cmpstr(calls->pdata[i], ==, expected[i]);
  g_assert_cmpuint(calls->len, ==, n);
}

/* ---- autostart ------------------------------------------------------------------ */

static void
test_autostart_order(Fixture *f, gconstpointer data)
{
  g_autoptr(WvAutostart) autostart = wv_autostart_new(&f->daemon);
  const char *const expected[] = {"start early", "start a-second", "start b-second", NULL};

  add_vm(f, "b-second", TRUE, 2, 0);
  add_vm(f, "a-second", TRUE, 2, 0);
  add_vm(f, "early", TRUE, 1, 0);
  add_vm(f, "manual", FALSE, 0, 0);
  add_vm(f, "up-already", TRUE, 0, 0)->running = TRUE;
  wv_autostart_run(autostart);
  run_until_calls(3, 2000);
  assert_calls(expected);
}

static void
test_autostart_once_per_boot(Fixture *f, gconstpointer data)
{
  const char *const once[] = {"start a", NULL};

  add_vm(f, "a", TRUE, 0, 0);
  {
    g_autoptr(WvAutostart) autostart = wv_autostart_new(&f->daemon);
    wv_autostart_run(autostart);
    run_until_calls(1, 2000);
  }
  /* a restarted daemon: the marker in the runtime directory says it ran */
  ((WvVm *)wv_daemon_get_vm(&f->daemon, "a"))->running = FALSE;
  {
    g_autoptr(WvAutostart) autostart = wv_autostart_new(&f->daemon);
    wv_autostart_run(autostart);
    run_until_calls(2, 300);
  }
  assert_calls(once);
}

static void
test_autostart_delay(Fixture *f, gconstpointer data)
{
  g_autoptr(WvAutostart) autostart = wv_autostart_new(&f->daemon);
  WvVm *first = add_vm(f, "a", TRUE, 1, 5); /* the first waits for nobody */
  WvVm *second = add_vm(f, "b", TRUE, 2, 1);
  const char *const expected[] = {"start a", "start b", NULL};
  gint64 t0 = g_get_monotonic_time();

  wv_autostart_run(autostart);
  run_until_calls(2, 3000);
  assert_calls(expected);
  g_assert_cmpint(first->started_at - t0, <, G_USEC_PER_SEC / 2);
  g_assert_cmpint(second->started_at - first->started_at, >=, G_USEC_PER_SEC);
}

static void
test_autostart_no_delay_after_failure(Fixture *f, gconstpointer data)
{
  g_autoptr(WvAutostart) autostart = wv_autostart_new(&f->daemon);
  const char *const expected[] = {"start a", "start b", NULL};
  gint64 t0 = g_get_monotonic_time();
  WvVm *second;

  add_vm(f, "a", TRUE, 1, 0)->outcome = OUTCOME_FAILED;
  second = add_vm(f, "b", TRUE, 2, 5);
  wv_autostart_run(autostart);
  run_until_calls(2, 2000);
  assert_calls(expected);
  /* nothing came up to wait for: the next one goes at once */
  g_assert_cmpint(second->started_at - t0, <, G_USEC_PER_SEC);
}

static void
test_autostart_cancel(Fixture *f, gconstpointer data)
{
  g_autoptr(WvAutostart) autostart = wv_autostart_new(&f->daemon);
  const char *const expected[] = {"start a", NULL};

  add_vm(f, "a", TRUE, 1, 0);
  add_vm(f, "b", TRUE, 2, 1);
  wv_autostart_run(autostart);
  run_until_calls(1, 2000);
  wv_autostart_cancel(autostart); /* b is waiting for its delay */
  run_until_calls(2, 1500);
  assert_calls(expected);
}

/* ---- shutdown-all ------------------------------------------------------------------- */

typedef struct
{
  gboolean done;
  GError *error;
} AllResult;

static void
all_done(const GError *error, gpointer data)
{
  AllResult *r = data;

  g_assert_false(r->done);
  r->done = TRUE;
  r->error = error ? g_error_copy(error) : NULL;
}

static void
run_until_done(AllResult *r)
{
  gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

  while (!r->done && g_get_monotonic_time() < deadline)
    g_main_context_iteration(NULL, FALSE);
  g_assert_true(r->done);
}

static void
test_shutdown_all_clean(Fixture *f, gconstpointer data)
{
  AllResult r = {0};
  const char *const expected[] = {"shutdown a shutdown 120", "shutdown b save 30", NULL};
  WvVm *b;

  add_vm(f, "a", FALSE, 0, 0)->running = TRUE;
  b = add_vm(f, "b", FALSE, 0, 0);
  b->running = TRUE;
  b->profile->on_host_shutdown = WV_HOST_SHUTDOWN_SAVE;
  b->profile->shutdown_timeout_s = 30;
  add_vm(f, "off", FALSE, 0, 0);
  wv_shutdown_all(&f->daemon, NULL, 0, all_done, &r);
  run_until_done(&r);
  g_assert_no_error(r.error);
  assert_calls(expected);
}

static void
test_shutdown_all_capped(Fixture *f, gconstpointer data)
{
  AllResult r = {0};
  const char *const expected[] = {"shutdown a shutdown 10", "shutdown b destroy 5", NULL};
  WvVm *b;

  add_vm(f, "a", FALSE, 0, 0)->running = TRUE;
  b = add_vm(f, "b", FALSE, 0, 0);
  b->running = TRUE;
  b->profile->on_host_shutdown = WV_HOST_SHUTDOWN_DESTROY;
  b->profile->shutdown_timeout_s = 5;
  wv_shutdown_all(&f->daemon, NULL, 10, all_done, &r);
  run_until_done(&r);
  g_assert_no_error(r.error);
  assert_calls(expected);
}

static void
test_shutdown_all_nothing_running(Fixture *f, gconstpointer data)
{
  AllResult r = {0};
  const char *const expected[] = {NULL};

  add_vm(f, "off", FALSE, 0, 0);
  wv_shutdown_all(&f->daemon, NULL, 0, all_done, &r);
  g_assert_true(r.done); /* at once */
  g_assert_no_error(r.error);
  assert_calls(expected);
}

static void
test_shutdown_all_forced(Fixture *f, gconstpointer data)
{
  AllResult r = {0};

  add_vm(f, "a", FALSE, 0, 0)->running = TRUE;
  add_vm(f, "slow", FALSE, 0, 0)->running = TRUE;
  ((WvVm *)wv_daemon_get_vm(&f->daemon, "slow"))->outcome = OUTCOME_FORCED;
  wv_shutdown_all(&f->daemon, NULL, 0, all_done, &r);
  run_until_done(&r);
  g_assert_error(r.error, WV_ERROR, WV_ERROR_TIMEOUT);
  g_assert_cmpstr(r.error->message, ==, "forced off at the deadline: slow");
  g_clear_error(&r.error);
}

static void
test_shutdown_all_failed(Fixture *f, gconstpointer data)
{
  AllResult r = {0};

  add_vm(f, "a", FALSE, 0, 0)->running = TRUE;
  add_vm(f, "broken", FALSE, 0, 0)->running = TRUE;
  add_vm(f, "slow", FALSE, 0, 0)->running = TRUE;
  ((WvVm *)wv_daemon_get_vm(&f->daemon, "broken"))->outcome = OUTCOME_FAILED;
  ((WvVm *)wv_daemon_get_vm(&f->daemon, "slow"))->outcome = OUTCOME_FORCED;
  wv_shutdown_all(&f->daemon, NULL, 0, all_done, &r);
  run_until_done(&r);
  /* a failure outweighs a forced stop */
  g_assert_error(r.error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_cmpstr(r.error->message, ==, "broken: it broke");
  g_clear_error(&r.error);
}

static void
test_shutdown_all_stops_autostart(Fixture *f, gconstpointer data)
{
  g_autoptr(WvAutostart) autostart = wv_autostart_new(&f->daemon);
  AllResult r = {0};
  const char *const expected[] = {"start a", "shutdown a shutdown 120", NULL};

  add_vm(f, "a", TRUE, 1, 0);
  add_vm(f, "b", TRUE, 2, 1);
  wv_autostart_run(autostart);
  run_until_calls(1, 2000);
  wv_shutdown_all(&f->daemon, autostart, 0, all_done, &r);
  run_until_done(&r);
  run_until_calls(3, 1500); /* b's delay passes: it must not start */
  g_assert_no_error(r.error);
  assert_calls(expected);
}

/* The policies log their failures as warnings, which tests make fatal:
 * show them with --verbose, never abort on them. */
static GLogWriterOutput
quiet_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if (g_test_verbose())
    return g_log_writer_standard_streams(level & ~G_LOG_FLAG_FATAL, fields, n_fields, data);
  return G_LOG_WRITER_HANDLED;
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_log_set_writer_func(quiet_writer, NULL, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/autostart/order", test_autostart_order);
  ADD("/autostart/once-per-boot", test_autostart_once_per_boot);
  ADD("/autostart/delay", test_autostart_delay);
  ADD("/autostart/no-delay-after-failure", test_autostart_no_delay_after_failure);
  ADD("/autostart/cancel", test_autostart_cancel);
  ADD("/shutdown-all/clean", test_shutdown_all_clean);
  ADD("/shutdown-all/capped", test_shutdown_all_capped);
  ADD("/shutdown-all/nothing-running", test_shutdown_all_nothing_running);
  ADD("/shutdown-all/forced", test_shutdown_all_forced);
  ADD("/shutdown-all/failed", test_shutdown_all_failed);
  ADD("/shutdown-all/stops-autostart", test_shutdown_all_stops_autostart);
#undef ADD
  return g_test_run();
}
