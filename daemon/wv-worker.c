/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-worker.h"

static gint running;
static GThread *main_thread;

void
wv_main_thread_init(void)
{
  main_thread = g_thread_self();
}

void
wv_assert_main_thread(const char *what)
{
  if (main_thread && g_thread_self() != main_thread)
    g_critical("%s ran on a thread other than the main one", what);
}

typedef struct
{
  GTaskThreadFunc func;
} Job;

static void
job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  const Job *job = g_object_get_data(G_OBJECT(task), "wv-worker-job");

  job->func(task, source, data, cancellable);
}

/* Main thread, once the task's callback has run: the job is over. GTask
 * hands the result over only after the thread function has returned, and
 * GLib's pool thread may drop the last reference after the callback ran:
 * the job's data (a VM's hold, a libvirt lease: main-thread state) is freed
 * here instead, and the job counted out only now, so that
 * wv_workers_drain() never returns with a completion still to come. */
static void
job_completed(GObject *task, GParamSpec *pspec, gpointer unused)
{
  g_signal_handlers_disconnect_by_func(task, job_completed, unused);
  g_task_set_task_data(G_TASK(task), NULL, NULL);
  g_atomic_int_add(&running, -1);
}

/* The read lane: its own pool, so that its queue is not GTask's. Made on
 * first use and kept (its idle threads end by themselves). */
static GThreadPool *read_pool;

static void
read_thread(gpointer data, gpointer pool_data)
{
  g_autoptr(GTask) task = data; /* the ref wv_worker_run_lane() took */

  job_thread(task, g_task_get_source_object(task), g_task_get_task_data(task),
             g_task_get_cancellable(task));
}

static GThreadPool *
get_read_pool(void)
{
  static gsize once = 0;

  if (g_once_init_enter(&once)) {
    read_pool = g_thread_pool_new(read_thread, NULL, WV_READ_THREADS, FALSE, NULL);
    g_once_init_leave(&once, 1);
  }
  return read_pool;
}

void
wv_worker_run_lane(GTask *task, GTaskThreadFunc func, WvLane lane)
{
  Job *job = g_new0(Job, 1);

  job->func = func;
  g_object_set_data_full(G_OBJECT(task), "wv-worker-job", job, g_free);
  g_signal_connect(task, "notify::completed", G_CALLBACK(job_completed), NULL);
  g_atomic_int_inc(&running);
  if (lane == WV_LANE_READ)
    g_thread_pool_push(get_read_pool(), g_object_ref(task), NULL);
  else
    g_task_run_in_thread(task, job_thread);
}

void
wv_worker_run(GTask *task, GTaskThreadFunc func)
{
  wv_worker_run_lane(task, func, WV_LANE_LIFECYCLE);
}

guint
wv_workers_queued_reads(void)
{
  return read_pool ? g_thread_pool_unprocessed(read_pool) : 0;
}

guint
wv_timeout_add(guint interval_ms, GSourceFunc func, gpointer data)
{
  g_autoptr(GSource) source = g_timeout_source_new(interval_ms);

  g_source_set_callback(source, func, data, NULL);
  return g_source_attach(source, g_main_context_get_thread_default());
}

void
wv_source_remove(guint id)
{
  GSource *source = g_main_context_find_source_by_id(g_main_context_get_thread_default(), id);

  if (source)
    g_source_destroy(source);
  else
    g_critical("no source %u to remove", id);
}

guint
wv_workers_running(void)
{
  return (guint)g_atomic_int_get(&running);
}

gboolean
wv_workers_drain(GMainContext *context, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

  if (context == NULL)
    context = g_main_context_get_thread_default();
  for (;;) {
    gboolean dispatched = FALSE;

    while (g_main_context_iteration(context, FALSE))
      dispatched = TRUE;
    if (!dispatched && wv_workers_running() == 0)
      return TRUE;
    if (g_get_monotonic_time() > deadline)
      return FALSE;
    g_usleep(2000);
  }
}
