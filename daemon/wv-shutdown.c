/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host shutdown: a logind delay inhibitor held while the host runs; on
 * PrepareForShutdown(true) every running VM is shut down in parallel by its
 * policy (wv_shutdown_all), then the inhibitor is released so the
 * host goes on. A cancelled shutdown takes the inhibitor again.
 */
#include "config.h"

#include "wv-common.h"
#include "wv-inhibitor.h"
#include "wv-shutdown.h"

/* ---- shutdown-all ---------------------------------------------------------- */

typedef struct
{
  guint pending;
  GPtrArray *forced; /* names */
  GPtrArray *failed; /* messages */
  WvShutdownAllDone done;
  gpointer data;
} ShutdownAll;

typedef struct
{
  ShutdownAll *all;
  gint64 started;
  WvHostShutdownPolicy policy;
} ShutdownOne;

static const char *
policy_name(WvHostShutdownPolicy p)
{
  return p == WV_HOST_SHUTDOWN_SAVE      ? "save"
         : p == WV_HOST_SHUTDOWN_DESTROY ? "destroy"
                                         : "shutdown";
}

static void
shutdown_all_finish(ShutdownAll *all)
{
  g_autoptr(GError) error = NULL;

  if (all->failed->len > 0) {
    g_ptr_array_add(all->failed, NULL);
    g_autofree char *msgs = g_strjoinv("; ", (char **)all->failed->pdata);
    error = g_error_new(WV_ERROR, WV_ERROR_FAILED, "%s", msgs);
  } else if (all->forced->len > 0) {
    g_ptr_array_add(all->forced, NULL);
    g_autofree char *names = g_strjoinv(", ", (char **)all->forced->pdata);
    error = g_error_new(WV_ERROR, WV_ERROR_TIMEOUT, "forced off at the deadline: %s", names);
  }
  all->done(error, all->data);
  g_ptr_array_unref(all->forced);
  g_ptr_array_unref(all->failed);
  g_free(all);
}

static void
one_done(WvVm *vm, const GError *error, gpointer data)
{
  ShutdownOne *one = data;
  ShutdownAll *all = one->all;
  double secs = (double)(g_get_monotonic_time() - one->started) / G_USEC_PER_SEC;
  gboolean forced = g_error_matches(error, WV_ERROR, WV_ERROR_TIMEOUT);
  g_autofree char *took = g_strdup_printf("%.1f", secs);
  const WvStopResult *stop = wv_vm_last_stop(vm);
  g_autofree char *how =
      error && !forced ? g_strdup(error->message) : wv_stop_result_describe(stop);

  /* wv-vm.c logged how it stopped; this one says it was the host's shutdown */
  g_log_structured(
      G_LOG_DOMAIN, error && !forced ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE, "WINVM_VM",
      wv_vm_name(vm), "WINVM_POLICY", policy_name(one->policy), "WINVM_RESULT",
      error ? (forced ? "forced" : "failed") : "ok", "WINVM_STOP", wv_stop_end_name(stop->end),
      "WINVM_SECONDS", took, "WINVM_FORCED", forced ? "yes" : "no", "MESSAGE",
      "%s: host shutdown by %s: %s after %s s%s%s", wv_vm_name(vm), policy_name(one->policy),
      error ? (forced ? "forced off" : "failed") : "done", took, *how ? ": " : "", how);
  if (forced)
    g_ptr_array_add(all->forced, g_strdup(wv_vm_name(vm)));
  else if (error)
    g_ptr_array_add(all->failed, g_strdup_printf("%s: %s", wv_vm_name(vm), error->message));
  g_free(one);
  if (--all->pending == 0)
    shutdown_all_finish(all);
}

void
wv_shutdown_all(WvDaemon *daemon, WvAutostart *autostart, guint cap_s, WvShutdownAllDone done,
                gpointer data)
{
  ShutdownAll *all = g_new0(ShutdownAll, 1);
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);

  all->forced = g_ptr_array_new_with_free_func(g_free);
  all->failed = g_ptr_array_new_with_free_func(g_free);
  all->done = done;
  all->data = data;
  all->pending = 1; /* held until every VM was asked */
  if (autostart)
    wv_autostart_cancel(autostart);
  for (guint i = 0; i < names->len; i++) {
    WvVm *vm = wv_daemon_get_vm(daemon, names->pdata[i]);
    const WvProfile *p = wv_vm_profile(vm);
    ShutdownOne *one;
    guint timeout = p->shutdown_timeout_s;

    if (!wv_vm_is_running(vm) && !wv_vm_is_starting(vm))
      continue;
    if (cap_s && cap_s < timeout)
      timeout = cap_s;
    one = g_new0(ShutdownOne, 1);
    one->all = all;
    one->started = g_get_monotonic_time();
    one->policy = p->on_host_shutdown;
    all->pending++;
    wv_vm_shutdown(vm, p->on_host_shutdown, timeout, one_done, one);
  }
  if (--all->pending == 0)
    shutdown_all_finish(all);
}

/* ---- logind ------------------------------------------------------------- */

struct _WvLogind
{
  WvDaemon *daemon;
  WvAutostart *autostart;
  GDBusConnection *bus;
  guint watch;
  guint subscription;
  WvInhibitor *inhibitor; /* shutdown, delay: held while the host runs */
  gboolean shutting_down;
  guint64 delay_max_usec; /* logind's InhibitDelayMaxUSec, 0 unknown */
  GCancellable *cancellable;
};

static void
shutdown_done(const GError *error, gpointer data)
{
  WvLogind *l = data;

  if (error)
    g_warning("host shutdown: %s", error->message);
  else
    g_message("host shutdown: every VM is off");
  /* let the host go on; it takes it again if the shutdown is cancelled */
  if (l->shutting_down)
    wv_inhibitor_release(l->inhibitor);
}

static void
on_prepare_for_shutdown(GDBusConnection *bus, const char *sender, const char *path,
                        const char *iface, const char *signal, GVariant *params, gpointer data)
{
  WvLogind *l = data;
  gboolean start;
  guint cap = 0, longest = 0;
  g_autoptr(GPtrArray) names = NULL;

  if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(b)")))
    return;
  g_variant_get(params, "(b)", &start);
  if (!start) {
    g_message("host shutdown cancelled");
    l->shutting_down = FALSE;
    wv_inhibitor_take(l->inhibitor);
    return;
  }
  if (l->shutting_down)
    return;
  l->shutting_down = TRUE;

  names = wv_daemon_vm_names(l->daemon);
  for (guint i = 0; i < names->len; i++) {
    WvVm *vm = wv_daemon_get_vm(l->daemon, names->pdata[i]);
    if (wv_vm_is_running(vm))
      longest = MAX(longest, wv_vm_profile(vm)->shutdown_timeout_s);
  }
  /* Force off before logind stops waiting, or the VMs die uncleanly. */
  if ((cap = wv_logind_delay_cap(l->delay_max_usec)) != 0) {
    guint max_s = (guint)(l->delay_max_usec / G_USEC_PER_SEC);
    if (longest > cap)
      g_warning("a VM's shutdown-timeout (%u s) is longer than logind's InhibitDelayMaxSec "
                "(%u s); forcing off at %u s. Raise InhibitDelayMaxSec in logind.conf.",
                longest, max_s, cap);
  }
  g_message("host shutdown: shutting down every running VM");
  wv_shutdown_all(l->daemon, l->autostart, cap, shutdown_done, l);
}

static void
logind_appeared(GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  WvLogind *l = data;

  g_info("logind is on the bus");
  if (l->subscription == 0)
    l->subscription = g_dbus_connection_signal_subscribe(
        bus, WV_LOGIND_NAME, WV_LOGIND_IFACE, "PrepareForShutdown", WV_LOGIND_PATH, NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, on_prepare_for_shutdown, l, NULL);
  wv_logind_read_delay_max(bus, l->cancellable, &l->delay_max_usec);
  if (!l->shutting_down)
    wv_inhibitor_take(l->inhibitor);
}

static void
logind_vanished(GDBusConnection *bus, const char *name, gpointer data)
{
  WvLogind *l = data;

  if (wv_inhibitor_held(l->inhibitor))
    g_info("logind left the bus");
  wv_inhibitor_reset(l->inhibitor);
}

WvLogind *
wv_logind_new(WvDaemon *daemon, WvAutostart *autostart, GDBusConnection *bus)
{
  WvLogind *l = g_new0(WvLogind, 1);

  l->daemon = daemon;
  l->autostart = autostart;
  l->bus = g_object_ref(bus);
  l->inhibitor = wv_inhibitor_new(bus, "shutdown", "delay", "Shutting down virtual machines");
  l->cancellable = g_cancellable_new();
  l->watch = g_bus_watch_name_on_connection(bus, WV_LOGIND_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                            logind_appeared, logind_vanished, l, NULL);
  return l;
}

void
wv_logind_free(WvLogind *l)
{
  if (l == NULL)
    return;
  g_cancellable_cancel(l->cancellable);
  g_bus_unwatch_name(l->watch);
  if (l->subscription)
    g_dbus_connection_signal_unsubscribe(l->bus, l->subscription);
  wv_inhibitor_free(l->inhibitor);
  g_object_unref(l->cancellable);
  g_object_unref(l->bus);
  g_free(l);
}
