/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Boot autostart: VMs with autostart = true start in autostart-order (then
 * name), each waiting its autostart-delay after the previous one is
 * running. A VM that fails is logged and skipped; one already running is
 * left alone. It happens once per boot: a marker in the runtime directory
 * (a tmpfs) keeps a restarted daemon from starting VMs the user stopped.
 */
#include "config.h"

#include <glib/gstdio.h>

#include "wv-common.h"
#include "wv-worker.h"
#include "wv-autostart.h"

typedef struct _Run Run;

struct _WvAutostart
{
  WvDaemon *daemon;
  Run *running; /* the run under way, if any */
};

/* One run through the queue. A run cancelled while a start is in flight
 * outlives its WvAutostart until that start reports. */
struct _Run
{
  WvAutostart *owner; /* NULL once cancelled */
  WvDaemon *daemon;
  GPtrArray *queue; /* names */
  guint next;
  gboolean previous_started;
  gboolean cancelled; /* the host is shutting down */
  guint timer;
  guint started, failed;
};

static void run_next(Run *a);

static gint
by_order(gconstpointer pa, gconstpointer pb, gpointer data)
{
  WvDaemon *daemon = data;
  const char *na = *(const char *const *)pa, *nb = *(const char *const *)pb;
  const WvProfile *a = wv_vm_profile(wv_daemon_get_vm(daemon, na));
  const WvProfile *b = wv_vm_profile(wv_daemon_get_vm(daemon, nb));

  if (a->autostart_order != b->autostart_order)
    return a->autostart_order < b->autostart_order ? -1 : 1;
  return g_strcmp0(na, nb);
}

static void
run_free(Run *a)
{
  g_message("autostart done: %u started, %u failed", a->started, a->failed);
  g_ptr_array_unref(a->queue);
  g_free(a);
}

static void
started(WvVm *vm, const GError *error, gpointer data)
{
  Run *a = data;

  if (a->cancelled) { /* its shutdown was queued behind this start */
    run_free(a);
    return;
  }
  if (error) {
    a->failed++;
    a->previous_started = FALSE;
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "WINVM_VM", wv_vm_name(vm),
                     "WINVM_AUTOSTART", "failed", "MESSAGE", "%s: autostart failed: %s",
                     wv_vm_name(vm), error->message);
  } else {
    a->started++;
    a->previous_started = TRUE;
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "WINVM_VM", wv_vm_name(vm),
                     "WINVM_AUTOSTART", "started", "MESSAGE", "%s: started at boot",
                     wv_vm_name(vm));
  }
  run_next(a);
}

static gboolean
start_now(gpointer data)
{
  Run *a = data;

  a->timer = 0;
  WvVm *vm = wv_daemon_get_vm(a->daemon, a->queue->pdata[a->next - 1]);

  if (vm == NULL) /* removed by a reload meanwhile */
    run_next(a);
  else
    wv_vm_start(vm, started, a);
  return G_SOURCE_REMOVE;
}

static void
run_next(Run *a)
{
  while (a->next < a->queue->len) {
    WvVm *vm = wv_daemon_get_vm(a->daemon, a->queue->pdata[a->next++]);
    guint delay;

    if (vm == NULL)
      continue;
    if (wv_vm_is_running(vm)) {
      g_info("%s: already running; autostart leaves it alone", wv_vm_name(vm));
      continue;
    }
    delay = a->previous_started ? wv_vm_profile(vm)->autostart_delay_s : 0;
    if (delay > 0) {
      g_info("%s: starting in %u s", wv_vm_name(vm), delay);
      a->timer = wv_timeout_add(delay * 1000, start_now, a);
    } else {
      start_now(a);
    }
    return;
  }
  if (a->owner)
    a->owner->running = NULL;
  run_free(a);
}

/* The run stops; a start in flight frees it when it reports. */
static void
run_abandon(WvAutostart *autostart)
{
  Run *a = autostart->running;

  autostart->running = NULL;
  a->owner = NULL;
  a->cancelled = TRUE;
  if (a->timer) { /* waiting for a delay: nothing in flight */
    g_clear_handle_id(&a->timer, wv_source_remove);
    run_free(a);
  }
}

void
wv_autostart_cancel(WvAutostart *autostart)
{
  Run *a = autostart->running;

  if (a == NULL)
    return;
  g_message("autostart stopped (host shutdown or winvmd exit) with %u VMs left",
            a->queue->len - a->next);
  run_abandon(autostart);
}

void
wv_autostart_run(WvAutostart *autostart)
{
  WvDaemon *daemon = autostart->daemon;
  g_autofree char *marker = g_build_filename(daemon->config->runtime_dir, "autostart-done", NULL);
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);
  Run *a;

  if (autostart->running)
    return;
  if (g_file_test(marker, G_FILE_TEST_EXISTS)) {
    g_info("autostart already ran since boot (%s)", marker);
    return;
  }
  if (g_mkdir_with_parents(daemon->config->runtime_dir, 0755) < 0 ||
      !g_file_set_contents(marker, "", 0, NULL))
    g_warning("cannot write %s: autostart may run again after a daemon restart", marker);

  a = g_new0(Run, 1);
  a->owner = autostart;
  a->daemon = daemon;
  a->queue = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < names->len; i++)
    if (wv_vm_profile(wv_daemon_get_vm(daemon, names->pdata[i]))->autostart)
      g_ptr_array_add(a->queue, g_strdup(names->pdata[i]));
  g_ptr_array_sort_with_data(a->queue, by_order, daemon);
  g_message("autostart: %u VMs", a->queue->len);
  autostart->running = a;
  run_next(a);
}

WvAutostart *
wv_autostart_new(WvDaemon *daemon)
{
  WvAutostart *autostart = g_new0(WvAutostart, 1);

  autostart->daemon = daemon;
  return autostart;
}

void
wv_autostart_free(WvAutostart *autostart)
{
  if (autostart == NULL)
    return;
  if (autostart->running)
    run_abandon(autostart);
  g_free(autostart);
}
