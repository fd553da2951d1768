/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host shutdown: shut every running VM down by its policy (ShutdownAll and
 * logind's PrepareForShutdown both do it), and the logind watcher that holds
 * a delay inhibitor while the host runs.
 */
#pragma once

#include "wv-autostart.h"
#include "wv-daemon.h"

G_BEGIN_DECLS

typedef void (*WvShutdownAllDone)(const GError *error, gpointer data);
/* Every running (or starting) VM at once, each by its on-host-shutdown
 * policy and timeout (capped by @cap_s when not 0), after stopping
 * @autostart (may be NULL). @done once all are off: NULL, WV_ERROR_TIMEOUT
 * naming those that had to be forced, or WV_ERROR_FAILED with every
 * failure. */
void wv_shutdown_all(WvDaemon *daemon, WvAutostart *autostart, guint cap_s, WvShutdownAllDone done,
                     gpointer data);

typedef struct _WvLogind WvLogind;

WvLogind *wv_logind_new(WvDaemon *daemon, WvAutostart *autostart, GDBusConnection *bus);
void wv_logind_free(WvLogind *logind);

G_END_DECLS
