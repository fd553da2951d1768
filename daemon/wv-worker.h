/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The daemon's threads. winvmd's state lives on the main thread, which runs
 * its own GMainContext (pushed as thread-default): libvirt's event thread
 * iterates GLib's global default context, and nothing of winvmd may be
 * dispatched there. Blocking jobs (libvirt calls, host probes) run in
 * workers, counted, so that exit frees nothing a worker still uses:
 * wv_worker_run() starts one, wv_workers_drain() waits for them all.
 *
 * Jobs run on one of two lanes, so that reads anybody may ask for can never
 * starve what root and the host-shutdown path do: the lifecycle lane
 * (a pool without a limit: Start, ForceOff, Shutdown, the host shutdown's
 * per-VM work, autostart, refreshes, reconnects) and the read lane (a pool
 * of its own with at most WV_READ_THREADS threads: Plan, Check, Render and
 * their host probes). A flood of reads queues on the read lane only.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Marks the calling thread as the one that owns winvmd's state; from then
 * on wv_assert_main_thread() complains (g_critical) when anything that
 * touches that state runs on another thread. */
void wv_main_thread_init(void);

/* The daemon's malloc settings, before any thread starts: one arena for
 * every thread, and the heap's top given back by wv-worker's trims after a
 * burst rather than after each free (tests/bench/README.md). */
void wv_malloc_init(void);
void wv_assert_main_thread(const char *what);

/* A timeout on the calling thread's default main context (winvmd's own, not
 * GLib's global one: libvirt's event thread iterates that). */
guint wv_timeout_add(guint interval_ms, GSourceFunc func, gpointer data);

/* Removes a source wv_timeout_add() gave (g_source_remove() looks only in
 * the global default context). */
void wv_source_remove(guint id);

typedef enum
{
  WV_LANE_LIFECYCLE, /* unbounded: never waits behind a read */
  WV_LANE_READ,      /* at most WV_READ_THREADS at once, the rest queue */
} WvLane;

#define WV_READ_THREADS 2
/* -1: a thread for every lifecycle job that finds none idle */
#define WV_LIFECYCLE_THREADS (-1)

/* Runs @func for @task on a thread of the lifecycle lane, like
 * g_task_run_in_thread(); counted until the job is over (its result
 * dispatched), and the task's last reference (with its data) always
 * dropped on the context the task was made on. */
void wv_worker_run(GTask *task, GTaskThreadFunc func);

/* The same on @lane. The task's result is dispatched as with
 * g_task_run_in_thread(), on the context the task was made on. */
void wv_worker_run_lane(GTask *task, GTaskThreadFunc func, WvLane lane);

/* Read-lane jobs not started yet (queued behind WV_READ_THREADS). */
guint wv_workers_queued_reads(void);

/* Jobs not over yet: running, or their result not yet dispatched. */
guint wv_workers_running(void);

/* Waits until no worker runs and their results have been dispatched on
 * @context (the caller's thread-default one), whose callbacks may start
 * more work; FALSE when @timeout_ms passed first. */
gboolean wv_workers_drain(GMainContext *context, guint timeout_ms);

G_END_DECLS
