/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host sleep, by each VM's [vm] on-host-sleep:
 *  - block: logind's sleep *block* inhibitor is held while such a VM runs
 *    (suspending the host under a passed-through device breaks it);
 *  - pause, save: logind's sleep *delay* inhibitor is held while such a VM
 *    runs; on PrepareForSleep(true) they are suspended or managed-saved at
 *    once, in parallel (each a VM operation, in a worker), and the delay
 *    inhibitor is released when all are done, or when logind's
 *    InhibitDelayMaxSec is about to run out;
 *  - on PrepareForSleep(false) only what winvm paused is resumed and only
 *    what it saved is started again (restored from its managed save);
 *  - ignore: left alone.
 * The inhibitors are decided again after any VM changes.
 */
#include "config.h"

#include "wv-common.h"
#include "wv-inhibitor.h"
#include "wv-sleep.h"
#include "wv-worker.h"

/* ---- the watcher ---------------------------------------------------------- */

struct _WvSleep
{
  WvDaemon *daemon;
  GDBusConnection *bus;
  guint watch;
  guint subscription;
  gboolean present;       /* logind is on the bus */
  WvInhibitor *block;     /* while a VM with `block` runs */
  WvInhibitor *delay;     /* while a VM with `pause` or `save` runs */
  guint64 delay_max_usec; /* logind's InhibitDelayMaxUSec, 0 unknown */
  gboolean sleeping;      /* between PrepareForSleep(true) and (false) */
  guint round;            /* counts PrepareForSleep signals: a late answer is told apart */
  guint pending;          /* this sleep's pauses and saves still under way */
  guint cap_source;       /* logind stops waiting soon after it */
  guint update_source;
  GHashTable *acted; /* name -> WvSleepAction: what winvm did to it for this sleep */
  GPtrArray *jobs;   /* Job*: operations under way */
  GCancellable *cancellable;
};

typedef struct
{
  WvSleep *sleep; /* NULL once it is freed */
  char *name;
  WvSleepAction action; /* what is done before the sleep (or undone after) */
  gboolean wake;        /* undoing it after the sleep */
  guint round;
  gint64 started;
} Job;

static void update_now(WvSleep *s);

static void
ready_to_sleep(WvSleep *s)
{
  g_clear_handle_id(&s->cap_source, wv_source_remove);
  g_message("host sleep: every VM is ready; letting the host sleep");
  wv_inhibitor_release(s->delay);
}

/* One structured record per VM and step, like the host shutdown's. */
static void
job_log(Job *j, const GError *error)
{
  gboolean pause = j->action == WV_SLEEP_PAUSE;
  const char *done = !j->wake ? wv_sleep_action_name(j->action) : pause ? "resumed" : "restored";
  const char *verb = !j->wake ? (pause ? "pause" : "save") : pause ? "resume" : "restore";
  const char *when = j->wake ? "wake" : "sleep";
  double secs = (double)(g_get_monotonic_time() - j->started) / G_USEC_PER_SEC;
  g_autofree char *took = g_strdup_printf("%.1f", secs);

  if (error)
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "WINVM_VM", j->name, "WINVM_SLEEP", done,
                     "WINVM_RESULT", "failed", "WINVM_SECONDS", took, "MESSAGE",
                     "%s: host %s: cannot %s it: %s", j->name, when, verb, error->message);
  else
    g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "WINVM_VM", j->name, "WINVM_SLEEP", done,
                     "WINVM_RESULT", "ok", "WINVM_SECONDS", took, "MESSAGE",
                     "%s: host %s: %s after %s s", j->name, when, done, took);
}

static void job_start(WvSleep *s, WvVm *vm, WvSleepAction action, gboolean wake);

static void
job_done(WvVm *vm, const GError *error, gpointer data)
{
  Job *j = data;
  WvSleep *s = j->sleep;

  job_log(j, error);
  if (s)
    g_ptr_array_remove_fast(s->jobs, j);
  if (s && !j->wake) {
    gboolean current = s->sleeping && j->round == s->round;

    if (error == NULL && current)
      g_hash_table_insert(s->acted, g_strdup(j->name), GINT_TO_POINTER(j->action));
    else if (error == NULL) /* the host woke before it was done */
      job_start(s, vm, j->action, TRUE);
    if (current && --s->pending == 0)
      ready_to_sleep(s);
  }
  g_free(j->name);
  g_free(j);
}

static void
job_start(WvSleep *s, WvVm *vm, WvSleepAction action, gboolean wake)
{
  Job *j = g_new0(Job, 1);

  j->sleep = s;
  j->name = g_strdup(wv_vm_name(vm));
  j->action = action;
  j->wake = wake;
  j->round = s->round;
  j->started = g_get_monotonic_time();
  g_ptr_array_add(s->jobs, j);
  if (!wake)
    s->pending++;
  if (action == WV_SLEEP_PAUSE)
    wv_vm_act(vm, wake ? WV_VM_RESUME : WV_VM_SUSPEND, job_done, j);
  else if (wake)
    wv_vm_start(vm, job_done, j); /* libvirt restores its managed save */
  else
    wv_vm_shutdown(vm, WV_HOST_SHUTDOWN_SAVE, 0, job_done, j);
}

static gboolean
cap_reached(gpointer data)
{
  WvSleep *s = data;
  g_autoptr(GString) names = g_string_new(NULL);

  s->cap_source = 0;
  for (guint i = 0; i < s->jobs->len; i++) {
    Job *j = s->jobs->pdata[i];
    if (!j->wake && j->round == s->round)
      g_string_append_printf(names, "%s%s", names->len ? ", " : "", j->name);
  }
  g_warning("host sleep: still pausing or saving %s before logind's InhibitDelayMaxSec ends; "
            "letting the host sleep. Raise InhibitDelayMaxSec in logind.conf.",
            names->str);
  wv_inhibitor_release(s->delay);
  return G_SOURCE_REMOVE;
}

static void
going_to_sleep(WvSleep *s)
{
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(s->daemon);
  guint cap = wv_logind_delay_cap(s->delay_max_usec);

  s->sleeping = TRUE;
  s->round++;
  s->pending = 1; /* held until every VM was asked: an answer may come at once */
  g_hash_table_remove_all(s->acted);
  g_message("host sleep: pausing and saving VMs by their on-host-sleep");
  for (guint i = 0; i < names->len; i++) {
    WvVm *vm = wv_daemon_get_vm(s->daemon, names->pdata[i]);
    WvHostSleep policy = wv_vm_profile(vm)->on_host_sleep;
    WvVmState state = wv_vm_state(vm);
    WvSleepAction action = wv_sleep_action(policy, state);

    if (wv_sleep_need(policy, state) == WV_SLEEP_NEED_BLOCK)
      g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "WINVM_VM", wv_vm_name(vm), "WINVM_SLEEP",
                       "blocked", "MESSAGE",
                       "%s: the host goes to sleep although it runs with on-host-sleep = block "
                       "(inhibitors ignored?)",
                       wv_vm_name(vm));
    if (action != WV_SLEEP_LEAVE)
      job_start(s, vm, action, FALSE);
    else if ((policy == WV_HOST_SLEEP_PAUSE || policy == WV_HOST_SLEEP_SAVE) &&
             state != WV_VM_STATE_SHUT_OFF && state != WV_VM_STATE_UNDEFINED &&
             state != WV_VM_STATE_SAVED)
      g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "WINVM_VM", wv_vm_name(vm), "MESSAGE",
                       "%s: host sleep: left as it is (%s)", wv_vm_name(vm),
                       wv_vm_state_name(state));
  }
  if (--s->pending == 0) {
    ready_to_sleep(s);
    return;
  }
  /* done before logind stops waiting, or the host sleeps under them */
  if (cap)
    s->cap_source = wv_timeout_add(MIN(cap, G_MAXUINT / 1000) * 1000, cap_reached, s);
}

static void
woke_up(WvSleep *s)
{
  GHashTableIter iter;
  gpointer key, value;

  s->sleeping = FALSE;
  s->round++;
  s->pending = 0;
  g_clear_handle_id(&s->cap_source, wv_source_remove);
  g_message("host woke: resuming what winvm paused, starting what it saved");
  g_hash_table_iter_init(&iter, s->acted);
  while (g_hash_table_iter_next(&iter, &key, &value)) {
    WvVm *vm = wv_daemon_get_vm(s->daemon, key);
    WvSleepAction action = GPOINTER_TO_INT(value);
    WvVmState want = action == WV_SLEEP_PAUSE ? WV_VM_STATE_PAUSED : WV_VM_STATE_SAVED;

    if (vm == NULL)
      continue;
    if (wv_vm_state(vm) != want) { /* somebody else did something to it meanwhile */
      g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "WINVM_VM", wv_vm_name(vm), "MESSAGE",
                       "%s: host wake: it is %s now, not %s; left as it is", wv_vm_name(vm),
                       wv_vm_state_name(wv_vm_state(vm)), wv_vm_state_name(want));
      continue;
    }
    job_start(s, vm, action, TRUE);
  }
  g_hash_table_remove_all(s->acted);
  update_now(s); /* the delay inhibitor again */
}

static void
on_prepare_for_sleep(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                     const char *signal, GVariant *params, gpointer data)
{
  WvSleep *s = data;
  gboolean start;

  if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(b)")))
    return;
  g_variant_get(params, "(b)", &start);
  if (start && !s->sleeping)
    going_to_sleep(s);
  else if (!start && s->sleeping)
    woke_up(s);
}

/* ---- the inhibitors --------------------------------------------------------- */

static void
update_now(WvSleep *s)
{
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(s->daemon);
  gboolean block = FALSE, delay = FALSE;

  g_clear_handle_id(&s->update_source, wv_source_remove);
  if (!s->present)
    return;
  for (guint i = 0; i < names->len; i++) {
    WvVm *vm = wv_daemon_get_vm(s->daemon, names->pdata[i]);
    WvSleepNeed need = wv_sleep_need(wv_vm_profile(vm)->on_host_sleep, wv_vm_state(vm));

    block |= need == WV_SLEEP_NEED_BLOCK;
    delay |= need == WV_SLEEP_NEED_DELAY;
  }
  if (block)
    wv_inhibitor_take(s->block);
  else
    wv_inhibitor_release(s->block);
  /* while the host goes to sleep the delay inhibitor is the sleep's */
  if (s->sleeping)
    return;
  if (delay)
    wv_inhibitor_take(s->delay);
  else
    wv_inhibitor_release(s->delay);
}

static gboolean
update_later(gpointer data)
{
  WvSleep *s = data;

  s->update_source = 0;
  update_now(s);
  return G_SOURCE_REMOVE;
}

void
wv_sleep_update(WvSleep *s)
{
  if (s && s->update_source == 0)
    s->update_source = wv_timeout_add(0, update_later, s);
}

/* ---- logind ------------------------------------------------------------------ */

static void
logind_appeared(GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  WvSleep *s = data;

  s->present = TRUE;
  if (s->sleeping) { /* a new logind: no sleep is under way */
    g_message("logind restarted while the host was going to sleep; waking the VMs");
    woke_up(s);
  }
  if (s->subscription == 0)
    s->subscription = g_dbus_connection_signal_subscribe(
        bus, WV_LOGIND_NAME, WV_LOGIND_IFACE, "PrepareForSleep", WV_LOGIND_PATH, NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, on_prepare_for_sleep, s, NULL);
  wv_logind_read_delay_max(bus, s->cancellable, &s->delay_max_usec);
  update_now(s);
}

static void
logind_vanished(GDBusConnection *bus, const char *name, gpointer data)
{
  WvSleep *s = data;

  s->present = FALSE;
  wv_inhibitor_reset(s->block);
  wv_inhibitor_reset(s->delay);
}

WvSleep *
wv_sleep_new(WvDaemon *daemon, GDBusConnection *bus)
{
  WvSleep *s = g_new0(WvSleep, 1);

  s->daemon = daemon;
  s->bus = g_object_ref(bus);
  s->block = wv_inhibitor_new(bus, "sleep", "block",
                              "A virtual machine with a passed-through device runs");
  s->delay = wv_inhibitor_new(bus, "sleep", "delay", "Pausing or saving virtual machines");
  s->acted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  s->jobs = g_ptr_array_new();
  s->cancellable = g_cancellable_new();
  s->watch = g_bus_watch_name_on_connection(bus, WV_LOGIND_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                            logind_appeared, logind_vanished, s, NULL);
  return s;
}

void
wv_sleep_free(WvSleep *s)
{
  if (s == NULL)
    return;
  g_cancellable_cancel(s->cancellable);
  g_bus_unwatch_name(s->watch);
  if (s->subscription)
    g_dbus_connection_signal_unsubscribe(s->bus, s->subscription);
  g_clear_handle_id(&s->cap_source, wv_source_remove);
  g_clear_handle_id(&s->update_source, wv_source_remove);
  for (guint i = 0; i < s->jobs->len; i++)
    ((Job *)s->jobs->pdata[i])->sleep = NULL; /* they end on their own */
  g_ptr_array_unref(s->jobs);
  g_hash_table_unref(s->acted);
  wv_inhibitor_free(s->block);
  wv_inhibitor_free(s->delay);
  g_object_unref(s->cancellable);
  g_object_unref(s->bus);
  g_free(s);
}
