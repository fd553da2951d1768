/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The daemon's worker threads, counted, so that exit frees nothing a worker
 * still uses: every blocking job (libvirt calls, host probes) runs through
 * wv_worker_run(), and winvmd waits for them with wv_workers_drain() before
 * it tears anything down.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* g_task_run_in_thread(), counted until @func returns. */
void wv_worker_run(GTask *task, GTaskThreadFunc func);

/* Workers whose thread function has not returned yet. */
guint wv_workers_running(void);

/* Waits until no worker runs and their results have been dispatched on
 * @context (NULL: the default one), whose callbacks may start more work;
 * FALSE when @timeout_ms passed first. */
gboolean wv_workers_drain(GMainContext *context, guint timeout_ms);

G_END_DECLS
