/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-worker.h"

#include <malloc.h>

/* how long an idle worker thread stays for the next job */
#define WV_WORKER_IDLE_MS 1000

static gint running;
static GThread *main_thread;

void
wv_main_thread_init(void)
{
  main_thread = g_thread_self();
}

void
wv_malloc_init(void)
{
  /* One malloc arena for every thread: each worker thread otherwise keeps
   * its own, holding what its renders freed (50 VMs: 0.15-0.25 MiB of
   * private memory). The workers spend little of their time in malloc. */
  mallopt(M_ARENA_MAX, 1);
  /* glibc gives the heap's top back whenever a free leaves more than the
   * trim threshold there (128 KiB at first): with some heap layouts that
   * is after every render, whose next one grows it again, and each time
   * the small blocks kept for reuse are merged first (preflight + render
   * 0.58 -> 0.73 M instructions). The trims after a burst give it back. */
  mallopt(M_TRIM_THRESHOLD, 512 * 1024);
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

/* After a burst of jobs the pages their renders, replies and libvirt
 * messages freed go back to the system: once soon after the last job is
 * over, and once more after the idle workers have ended, when their
 * threads' malloc caches have gone back to the heap. 50 VMs, after the 50
 * renders and domain definitions of tests/bench/run: RssAnon about -70 KiB
 * at the bench's idle point. */
#define WV_TRIM_SOON_MS 100
static GSource *trim_source; /* the main thread's */

static gboolean trim_idle_heap(gpointer data);

/* trim_idle_heap() on @context in @ms; @again: once more after the idle
 * workers have ended */
static void
arm_trim(GMainContext *context, guint ms, gboolean again)
{
  trim_source = g_timeout_source_new(ms);
  g_source_set_priority(trim_source, G_PRIORITY_LOW);
  g_source_set_callback(trim_source, trim_idle_heap, GINT_TO_POINTER(again), NULL);
  g_source_attach(trim_source, context);
}

static gboolean
trim_idle_heap(gpointer data)
{
  gboolean again = GPOINTER_TO_INT(data);
  GMainContext *context = g_source_get_context(g_main_current_source());

  g_clear_pointer(&trim_source, g_source_unref); /* destroyed as it returns */
  if (g_atomic_int_get(&running) > 0)
    return G_SOURCE_REMOVE; /* the burst goes on: its end trims */
  malloc_trim(0);
  if (again)
    arm_trim(context, WV_WORKER_IDLE_MS + 200, FALSE);
  return G_SOURCE_REMOVE;
}

static void
schedule_trim(GMainContext *context)
{
  if (trim_source) {
    g_source_destroy(trim_source);
    g_source_unref(trim_source);
  }
  arm_trim(context, WV_TRIM_SOON_MS, TRUE);
}

/* Main thread, after the job's result (queued before) has been dispatched
 * or is about to be: the job is over. The pool thread's reference to the
 * task ends here, so the task and its data (a VM's hold, a libvirt lease:
 * main-thread state) are never freed on a worker, and wv_workers_drain()
 * never returns with a completion still to come. */
static gboolean
job_over(gpointer data)
{
  GMainContext *context = g_task_get_context(data);

  if (g_atomic_int_dec_and_test(&running))
    schedule_trim(context);
  g_object_unref(data);
  return G_SOURCE_REMOVE;
}

static void
pool_thread(gpointer data, gpointer pool_data)
{
  GTask *task = data; /* the ref wv_worker_run_lane() took */
  const Job *job = g_object_get_data(G_OBJECT(task), "wv-worker-job");
  g_autoptr(GSource) over = g_idle_source_new();

  job->func(task, g_task_get_source_object(task), g_task_get_task_data(task),
            g_task_get_cancellable(task));
  /* the result is queued on the task's context by now (GTask does so at
   * once from a thread of its own): the reference goes there after it */
  g_source_set_priority(over, g_task_get_priority(task));
  g_source_set_callback(over, job_over, task, NULL);
  g_source_attach(over, g_task_get_context(task));
}

/* Two pools of our own, so that the read lane's queue is not the lifecycle
 * lane's. Made on first use and kept (idle threads end by themselves). */
static GThreadPool *pools[2];

static GThreadPool *
get_pool(WvLane lane)
{
  static gsize once = 0;

  if (g_once_init_enter(&once)) {
    /* an idle worker ends after a second (GLib's default: 15 s), its
     * stack and malloc cache with it */
    g_thread_pool_set_max_idle_time(WV_WORKER_IDLE_MS);
    pools[WV_LANE_LIFECYCLE] =
        g_thread_pool_new(pool_thread, NULL, WV_LIFECYCLE_THREADS, FALSE, NULL);
    pools[WV_LANE_READ] = g_thread_pool_new(pool_thread, NULL, WV_READ_THREADS, FALSE, NULL);
    g_once_init_leave(&once, 1);
  }
  return pools[lane];
}

void
wv_worker_run_lane(GTask *task, GTaskThreadFunc func, WvLane lane)
{
  Job *job = g_new0(Job, 1);

  job->func = func;
  g_object_set_data_full(G_OBJECT(task), "wv-worker-job", job, g_free);
  g_atomic_int_inc(&running);
  g_thread_pool_push(get_pool(lane), g_object_ref(task), NULL);
}

void
wv_worker_run(GTask *task, GTaskThreadFunc func)
{
  wv_worker_run_lane(task, func, WV_LANE_LIFECYCLE);
}

guint
wv_workers_queued_reads(void)
{
  return pools[WV_LANE_READ] ? g_thread_pool_unprocessed(pools[WV_LANE_READ]) : 0;
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
