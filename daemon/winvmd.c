/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * winvmd: the service that owns the VMs' lives on the system bus
 * (org.winvm1). `--render` and `--check` work on one profile offline: the
 * domain XML it becomes on this host, and the preflight findings and plan;
 * `--import` turns a libvirt domain's XML into a profile.
 */
#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

#include "wv-autostart.h"
#include "wv-common.h"
#include "wv-daemon.h"
#include "wv-host.h"
#include "wv-import.h"
#include "wv-libvirt.h"
#include "wv-manager-object.h"
#include "wv-notify.h"
#include "wv-plan.h"
#include "wv-preflight.h"
#include "wv-profile.h"
#include "wv-render.h"
#include "wv-worker.h"

/* How long exit waits for running jobs (libvirt calls time out by then). */
#define WV_EXIT_DRAIN_MS 15000
#include "wv-shutdown.h"
#include "wv-sleep.h"
#include "wv-isolate.h"

typedef struct
{
  char *render;
  char *check;
  char *import;
  char *import_name;
  char *sysfs_root;
  char *proc_root;
  char *host_root;
  char *libvirt_uri;
  char *config_dir;
  char *runtime_dir;
  char *state_dir;
  char *bus_address;
  char *host_config;
  gboolean no_host_checks;
  gboolean session;
  gboolean verbose;
  gboolean version;
} Options;

/* Where things are, from the options and the defaults (borrowed strings).
 * The libvirt URI stays NULL when none was given: --check and --render then
 * ask no libvirt; the service uses qemu:///system. */
static WvConfig
config_of(const Options *opt)
{
  WvConfig config = {
      .config_dir = opt->config_dir ? opt->config_dir : (char *)WV_CONFIG_DIR,
      .libvirt_uri = opt->libvirt_uri,
      .sysfs_root = opt->sysfs_root,
      .proc_root = opt->proc_root,
      .host_root = opt->host_root,
      .runtime_dir = opt->runtime_dir ? opt->runtime_dir : (char *)"/run/winvm",
      .state_dir = opt->state_dir ? opt->state_dir : (char *)"/var/lib/winvm",
      .template_dir = (char *)wv_default_template_dir(),
      .host_config = opt->host_config ? opt->host_config : (char *)WV_HOST_CONFIG,
  };
  return config;
}

/* `--render` and `--check`: the same preflight as the service's start and
 * Check (host facts, libvirt when --libvirt-uri is given, the tuning saved
 * over D-Bus). A render is exactly what the profile says, or nothing: with
 * an error finding it prints the findings and fails, unless
 * --no-host-checks asks for XML made for some other host. */
static int
run_offline(const Options *opt, const char *path, gboolean render)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) profile = wv_profile_load(path, &error);
  g_autoptr(virConnect) conn = NULL;
  g_autoptr(WvPlan) plan = NULL;
  g_autofree char *xml = NULL;
  WvConfig config = config_of(opt);
  g_autoptr(WvIsolate) isolate = NULL;
  g_autoptr(GDBusConnection) bus = NULL;

  if (profile == NULL) {
    g_printerr("%s\n", error->message);
    return 1;
  }
  if (!opt->no_host_checks) {
    /* what the service would find: is systemd on the bus, for isolation? */
    bus = opt->bus_address
              ? g_dbus_connection_new_for_address_sync(
                    opt->bus_address,
                    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                    NULL, NULL, NULL)
              : g_bus_get_sync(opt->session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, NULL);
    isolate = wv_isolate_new(NULL, opt->sysfs_root, opt->proc_root);
    wv_isolate_set_bus(isolate, bus);
    config.isolate = isolate;
  }
  if (opt->libvirt_uri && !opt->no_host_checks) {
    /* read-only connections may not read domain capabilities */
    conn = wv_libvirt_open(opt->libvirt_uri, FALSE, &error);
    if (conn == NULL) {
      g_printerr("winvmd: warning: %s; planning without libvirt\n", error->message);
      g_clear_error(&error);
    }
  }
  plan =
      wv_preflight(&config, profile, conn,
                   opt->no_host_checks ? WV_PREFLIGHT_NO_HOST_CHECKS : WV_PREFLIGHT_DEFAULT, NULL);
  if (plan->domcaps_error)
    g_printerr("winvmd: warning: Hyper-V, firmware and TPM checks skipped: %s\n",
               plan->domcaps_error);

  if (!render) {
    g_autofree char *text = wv_plan_to_string(plan, profile);
    fputs(text, stdout);
    return wv_plan_has_errors(plan) ? 1 : 0;
  }

  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    if (f->severity != WV_SEVERITY_INFO)
      g_printerr("winvmd: %s: %s: %s\n", wv_severity_name(f->severity), f->code, f->message);
  }
  if (wv_plan_has_errors(plan)) {
    g_printerr("winvmd: %s: not rendered: the profile cannot run as written on this host "
               "(--no-host-checks renders it for another host)\n",
               profile->name);
    return 1;
  }
  xml = wv_render_to_string(profile, plan, &error);
  if (xml == NULL) {
    g_printerr("winvmd: %s\n", error->message);
    return 1;
  }
  fputs(xml, stdout);
  return 0;
}

/* `--import`: the profile a domain's XML becomes on stdout, what it cannot
 * say on stderr. Nothing is written or asked of libvirt. */
static int
run_import(const Options *opt)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) not_carried = NULL;
  g_autofree char *xml = NULL;
  g_autofree char *profile = NULL;
  gsize len = 0;

  if (!g_file_get_contents(opt->import, &xml, &len, &error)) {
    g_printerr("winvmd: %s\n", error->message);
    return 1;
  }
  if (len > WV_IMPORT_MAX_SIZE || memchr(xml, '\0', len) != NULL) {
    g_printerr("winvmd: %s: not a domain XML file (binary, or larger than %d bytes)\n", opt->import,
               WV_IMPORT_MAX_SIZE);
    return 1;
  }
  profile = wv_import_domain_xml(xml, opt->import_name, &not_carried, &error);
  if (profile == NULL) {
    g_printerr("winvmd: %s: %s\n", opt->import, error->message);
    return 1;
  }
  fputs(profile, stdout);
  for (guint i = 0; i < not_carried->len; i++)
    g_printerr("winvmd: not carried: %s\n", (const char *)not_carried->pdata[i]);
  return 0;
}

/* ---- the service ---------------------------------------------------------- */

typedef struct
{
  GMainLoop *loop;
  WvDaemon *daemon;
  WvManager *manager; /* once on the bus */
  WvLogind *logind;   /* once on the bus */
  WvSleep *sleep;     /* once on the bus */
  WvAutostart *autostart;
  int exit_code;
  gboolean had_name;
} Service;

static void
notify(const char *state)
{
  g_autoptr(GError) error = NULL;

  if (!wv_notify(state, &error) && !g_error_matches(error, WV_ERROR, WV_ERROR_NOT_FOUND))
    g_debug("notifying %s: %s", state, error->message);
}

static char *
status_line(Service *svc)
{
  return g_strdup_printf("STATUS=Serving %u VMs; libvirt %s", g_hash_table_size(svc->daemon->vms),
                         wv_libvirt_is_connected(svc->daemon->libvirt) ? "connected"
                                                                       : "unreachable");
}

/* ---- what the core reports, to the faces --------------------------------- */

static void
on_vm_added(gpointer data, WvVm *vm)
{
  Service *svc = data;

  if (svc->manager)
    wv_manager_vm_added(svc->manager, vm);
}

static void
on_vm_removed(gpointer data, WvVm *vm)
{
  Service *svc = data;

  if (svc->manager)
    wv_manager_vm_removed(svc->manager, vm);
  wv_sleep_update(svc->sleep);
}

static void
on_vm_changed(gpointer data, WvVm *vm)
{
  Service *svc = data;

  wv_sleep_update(svc->sleep); /* the sleep inhibitors it needs */
}

static void
on_changed(gpointer data)
{
  Service *svc = data;

  if (svc->manager)
    wv_manager_changed(svc->manager);
}

static void
on_resynced(gpointer data)
{
  Service *svc = data;

  /* at the first resync, once libvirt says what already runs */
  wv_autostart_run(svc->autostart);
}

static void
on_status(gpointer data)
{
  g_autofree char *status = status_line(data);

  notify(status);
}

static void
on_ready(gpointer data)
{
  Service *svc = data;
  g_autofree char *status = status_line(svc);

  notify("READY=1");
  notify(status);
  g_message("ready: %s", status + 7);
}

static gboolean
on_watchdog(gpointer data)
{
  notify("WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_quit_signal(gpointer data)
{
  Service *svc = data;

  /* running VMs stay running: shutting them down is the host's decision */
  g_message("stopping; running VMs are left running");
  notify("STOPPING=1");
  g_main_loop_quit(svc->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_hangup(gpointer data)
{
  Service *svc = data;
  g_autoptr(GPtrArray) errors = NULL;

  g_message("SIGHUP: reloading profiles");
  errors = wv_daemon_reload(svc->daemon);
  return G_SOURCE_CONTINUE;
}

static void
on_bus_acquired(GDBusConnection *bus, const char *name, gpointer data)
{
  Service *svc = data;
  g_autoptr(GError) error = NULL;

  svc->manager = wv_manager_new(svc->daemon, svc->autostart, bus, &error);
  if (svc->manager == NULL) {
    g_critical("cannot export the D-Bus objects: %s", error->message);
    svc->exit_code = 1;
    g_main_loop_quit(svc->loop);
    return;
  }
  svc->logind = wv_logind_new(svc->daemon, svc->autostart, bus);
  svc->sleep = wv_sleep_new(svc->daemon, bus);
  /* systemd, for CPU isolation, is on the same bus */
  if (svc->daemon->config->isolate)
    wv_isolate_set_bus(svc->daemon->config->isolate, bus);
  wv_daemon_start(svc->daemon);
}

static void
on_name_acquired(GDBusConnection *bus, const char *name, gpointer data)
{
  Service *svc = data;

  svc->had_name = TRUE;
  g_info("owning %s", name);
}

static void
on_name_lost(GDBusConnection *bus, const char *name, gpointer data)
{
  Service *svc = data;

  if (bus == NULL)
    g_critical("cannot connect to the bus");
  else
    g_critical("%s %s", svc->had_name ? "lost the name" : "cannot own", name);
  svc->exit_code = 1;
  g_main_loop_quit(svc->loop);
}

static void
service_clear(Service *svc)
{
  /* Nothing is freed under a worker: every running job (a start, a plan,
   * a reconnect) finishes first and its answer is dispatched; autostart
   * starts nothing more meanwhile. */
  if (svc->autostart)
    wv_autostart_cancel(svc->autostart);
  if (!wv_workers_drain(NULL, WV_EXIT_DRAIN_MS)) {
    /* blocked in libvirt (a stalled libvirtd): what they use stays */
    g_warning("%u jobs still running after %u s; exiting without them", wv_workers_running(),
              WV_EXIT_DRAIN_MS / 1000);
    return;
  }
  wv_logind_free(svc->logind);
  wv_sleep_free(g_steal_pointer(&svc->sleep));
  wv_autostart_free(svc->autostart);
  wv_manager_free(svc->manager);
  svc->manager = NULL;
  wv_daemon_free(svc->daemon);
  g_main_loop_unref(svc->loop);
}

static void
add_signal(GMainContext *context, int signum, GSourceFunc func, gpointer data)
{
  g_autoptr(GSource) source = g_unix_signal_source_new(signum);

  g_source_set_callback(source, func, data, NULL);
  g_source_attach(source, context);
}

static int
run_service(const Options *opt)
{
  static const WvDaemonCallbacks callbacks = {
      .vm_added = on_vm_added,
      .vm_removed = on_vm_removed,
      .changed = on_changed,
      .ready = on_ready,
      .status = on_status,
      .resynced = on_resynced,
      .vm_changed = on_vm_changed,
  };
  Service svc = {0};
  GMainContext *context;
  WvConfig config = config_of(opt);
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GError) error = NULL;
  guint owner, watchdog = 0;
  guint64 watchdog_usec = 0;

  if (config.libvirt_uri == NULL)
    config.libvirt_uri = (char *)"qemu:///system";
  if (!wv_config_load_libvirt(&config, &error)) {
    g_warning("%s; libvirt keepalive: the defaults", error->message);
    g_clear_error(&error);
  }
  /* winvmd's own main context: libvirt's event thread iterates GLib's
   * global default one, and no D-Bus call, timeout or task result of
   * winvmd's may ever be dispatched there */
  context = g_main_context_new();
  g_main_context_push_thread_default(context);
  wv_main_thread_init();
  svc.loop = g_main_loop_new(context, FALSE);
  svc.daemon = wv_daemon_new(&config, &callbacks, &svc);
  svc.autostart = wv_autostart_new(svc.daemon);

  if (opt->bus_address) {
    bus = g_dbus_connection_new_for_address_sync(opt->bus_address,
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, &error);
    if (bus == NULL) {
      g_printerr("winvmd: cannot connect to %s: %s\n", opt->bus_address, error->message);
      service_clear(&svc);
      g_main_context_pop_thread_default(context);
      g_main_context_unref(context);
      return 1;
    }
    owner = g_bus_own_name_on_connection(bus, WV_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                                         on_name_acquired, on_name_lost, &svc, NULL);
    on_bus_acquired(bus, WV_BUS_NAME, &svc);
  } else {
    owner = g_bus_own_name(opt->session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, WV_BUS_NAME,
                           G_BUS_NAME_OWNER_FLAGS_NONE, on_bus_acquired, on_name_acquired,
                           on_name_lost, &svc, NULL);
  }

  add_signal(context, SIGTERM, on_quit_signal, &svc);
  add_signal(context, SIGINT, on_quit_signal, &svc);
  add_signal(context, SIGHUP, on_hangup, &svc);
  if ((watchdog_usec = wv_notify_watchdog_usec()) > 0)
    watchdog = wv_timeout_add((guint)(watchdog_usec / 2 / 1000), on_watchdog, NULL);

  g_main_loop_run(svc.loop);

  g_clear_handle_id(&watchdog, wv_source_remove);
  g_bus_unown_name(owner);
  service_clear(&svc);
  g_main_context_pop_thread_default(context);
  g_main_context_unref(context);
  return svc.exit_code;
}

int
main(int argc, char **argv)
{
  Options opt = {0};
  g_autoptr(GOptionContext) octx = NULL;
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
      {"render", 0, 0, G_OPTION_ARG_FILENAME, &opt.render,
       "Print the domain XML PROFILE becomes on this host", "PROFILE"},
      {"check", 0, 0, G_OPTION_ARG_FILENAME, &opt.check,
       "Print preflight findings and the plan for PROFILE; exit 1 on errors", "PROFILE"},
      {"import", 0, 0, G_OPTION_ARG_FILENAME, &opt.import,
       "Print the profile the libvirt domain XML in FILE becomes; what it cannot say on stderr",
       "FILE"},
      {"import-name", 0, 0, G_OPTION_ARG_STRING, &opt.import_name,
       "With --import: the VM's name (default: the domain's)", "NAME"},
      {"no-host-checks", 0, 0, G_OPTION_ARG_NONE, &opt.no_host_checks,
       "With --render: XML for another host, exactly as the profile says; no host facts", NULL},
      {"sysfs-root", 0, 0, G_OPTION_ARG_FILENAME, &opt.sysfs_root,
       "Read host facts from DIR instead of /sys ($WINVM_SYSFS_ROOT)", "DIR"},
      {"proc-root", 0, 0, G_OPTION_ARG_FILENAME, &opt.proc_root,
       "Read mounts and meminfo from DIR instead of /proc ($WINVM_PROC_ROOT)", "DIR"},
      {"host-root", 0, 0, G_OPTION_ARG_FILENAME, &opt.host_root,
       "Read libvirt-guests, systemd and qemu.conf settings below DIR instead of / "
       "($WINVM_HOST_ROOT)",
       "DIR"},
      {"libvirt-uri", 0, 0, G_OPTION_ARG_STRING, &opt.libvirt_uri,
       "libvirt to use (service: qemu:///system; --check: none)", "URI"},
      {"host-config", 0, 0, G_OPTION_ARG_FILENAME, &opt.host_config,
       "Which host paths guests may get (" WV_HOST_CONFIG ")", "FILE"},
      {"config-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt.config_dir,
       "VM profiles (" WV_CONFIG_DIR ", $WINVM_CONFIG_DIR)", "DIR"},
      {"runtime-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt.runtime_dir,
       "Hugepage reservations (/run/winvm)", "DIR"},
      {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt.state_dir,
       "Tuning set over D-Bus (/var/lib/winvm; --check and --render apply it too)", "DIR"},
      {"session", 0, 0, G_OPTION_ARG_NONE, &opt.session, "Use the session bus", NULL},
      {"bus-address", 0, 0, G_OPTION_ARG_STRING, &opt.bus_address, "Use the bus at ADDRESS",
       "ADDRESS"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt.verbose, "Print debug messages", NULL},
      {"version", 0, 0, G_OPTION_ARG_NONE, &opt.version, "Print the version and exit", NULL},
      G_OPTION_ENTRY_NULL,
  };
  int ret;

  /* set before any thread starts */
  wv_malloc_init();
  setlocale(LC_ALL, "");
  octx = g_option_context_new("- the winvm daemon");
  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, &error)) {
    g_printerr("winvmd: %s\n", error->message);
    return 2;
  }
  if (opt.version) {
    g_print("winvmd %s\n", WV_VERSION);
    return 0;
  }
  if (opt.verbose)
    g_log_set_debug_enabled(TRUE);
  if (opt.sysfs_root == NULL && g_getenv("WINVM_SYSFS_ROOT"))
    opt.sysfs_root = g_strdup(g_getenv("WINVM_SYSFS_ROOT"));
  if (opt.proc_root == NULL && g_getenv("WINVM_PROC_ROOT"))
    opt.proc_root = g_strdup(g_getenv("WINVM_PROC_ROOT"));
  if (opt.host_root == NULL && g_getenv("WINVM_HOST_ROOT"))
    opt.host_root = g_strdup(g_getenv("WINVM_HOST_ROOT"));
  wv_libvirt_init();

  if (!!opt.render + !!opt.check + !!opt.import > 1) {
    g_printerr("winvmd: --render, --check and --import exclude each other\n");
    ret = 2;
  } else if (opt.import_name && opt.import == NULL) {
    g_printerr("winvmd: --import-name goes with --import\n");
    ret = 2;
  } else if (opt.no_host_checks && opt.render == NULL) {
    g_printerr("winvmd: --no-host-checks goes with --render\n");
    ret = 2;
  } else if (opt.import) {
    ret = run_import(&opt);
  } else if (opt.render || opt.check) {
    ret = run_offline(&opt, opt.render ? opt.render : opt.check, opt.render != NULL);
  } else {
    if (opt.config_dir == NULL && g_getenv("WINVM_CONFIG_DIR"))
      opt.config_dir = g_strdup(g_getenv("WINVM_CONFIG_DIR"));
    ret = run_service(&opt);
  }

  g_free(opt.render);
  g_free(opt.check);
  g_free(opt.import);
  g_free(opt.import_name);
  g_free(opt.sysfs_root);
  g_free(opt.proc_root);
  g_free(opt.host_root);
  g_free(opt.libvirt_uri);
  g_free(opt.config_dir);
  g_free(opt.host_config);
  g_free(opt.runtime_dir);
  g_free(opt.state_dir);
  g_free(opt.bus_address);
  return ret;
}
