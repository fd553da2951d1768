/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * winvmd: renders and checks VM profiles. `--render` prints the domain XML a
 * profile becomes on this host; `--check` prints the preflight findings and
 * the plan (pins, topology, pages).
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>

#include "wv-common.h"
#include "wv-host.h"
#include "wv-libvirt.h"
#include "wv-plan.h"
#include "wv-profile.h"
#include "wv-render.h"

typedef struct
{
  char *render;
  char *check;
  char *sysfs_root;
  char *proc_root;
  char *libvirt_uri;
  gboolean verbose;
  gboolean version;
} Options;

/* Host facts for planning: sysfs always, libvirt when a URI was given. */
static void
gather_context(const Options *opt, const WvProfile *profile, WvPlanContext *ctx, WvHost **host,
               WvDomcaps **caps, GHashTable **in_use)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *mounts =
      opt->proc_root ? g_build_filename(opt->proc_root, "mounts", NULL) : NULL;

  *host = wv_host_probe(opt->sysfs_root, mounts, &error);
  if (*host == NULL) {
    g_printerr("winvmd: warning: host facts unavailable: %s\n", error->message);
    g_clear_error(&error);
  }
  ctx->host = *host;
  ctx->template_dir = wv_default_template_dir();

  if (opt->libvirt_uri) {
    /* read-only connections may not read domain capabilities */
    g_autoptr(virConnect) conn = wv_libvirt_open(opt->libvirt_uri, FALSE, &error);
    g_autofree char *tpl = wv_template_path(profile->template_name, ctx->template_dir);

    if (conn == NULL) {
      g_printerr("winvmd: warning: %s\n", error->message);
      return;
    }
    *caps = wv_libvirt_domcaps(conn, profile, tpl, &error);
    if (*caps == NULL) {
      g_printerr("winvmd: warning: Hyper-V, firmware and TPM checks skipped: %s\n", error->message);
      g_clear_error(&error);
    }
    *in_use = wv_libvirt_devices_in_use(conn, profile->name, &error);
    if (*in_use == NULL) {
      g_printerr("winvmd: warning: %s\n", error->message);
      g_clear_error(&error);
    }
    ctx->domcaps = *caps;
    ctx->devices_in_use = *in_use;
  }
}

static int
run_offline(const Options *opt, const char *path, gboolean render)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) profile = wv_profile_load(path, &error);
  g_autoptr(WvHost) host = NULL;
  g_autoptr(WvDomcaps) caps = NULL;
  g_autoptr(GHashTable) in_use = NULL;
  g_autoptr(WvPlan) plan = NULL;
  WvPlanContext ctx = {0};

  if (profile == NULL) {
    g_printerr("%s\n", error->message);
    return 1;
  }
  gather_context(opt, profile, &ctx, &host, &caps, &in_use);
  plan = wv_plan_build(profile, &ctx);

  if (!render) {
    g_autofree char *text = wv_plan_to_string(plan, profile);
    fputs(text, stdout);
    return wv_plan_has_errors(plan) ? 1 : 0;
  }

  /* --render prints the document whatever the host lacks; the findings go
   * to stderr so the user knows what `start` would refuse. */
  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    if (f->severity != WV_SEVERITY_INFO)
      g_printerr("winvmd: %s: %s: %s\n", wv_severity_name(f->severity), f->code, f->message);
  }
  {
    g_autofree char *xml = wv_render_to_string(profile, plan, &error);
    if (xml == NULL) {
      g_printerr("winvmd: %s\n", error->message);
      return 1;
    }
    fputs(xml, stdout);
  }
  return 0;
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
      {"sysfs-root", 0, 0, G_OPTION_ARG_FILENAME, &opt.sysfs_root,
       "Read host facts from DIR instead of /sys ($WINVM_SYSFS_ROOT)", "DIR"},
      {"proc-root", 0, 0, G_OPTION_ARG_FILENAME, &opt.proc_root,
       "Read mounts and meminfo from DIR instead of /proc ($WINVM_PROC_ROOT)", "DIR"},
      {"libvirt-uri", 0, 0, G_OPTION_ARG_STRING, &opt.libvirt_uri,
       "Also ask this libvirt for capabilities and devices in use", "URI"},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt.verbose, "Print debug messages", NULL},
      {"version", 0, 0, G_OPTION_ARG_NONE, &opt.version, "Print the version and exit", NULL},
      G_OPTION_ENTRY_NULL,
  };
  int ret;

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
  wv_libvirt_init();

  if (opt.render && opt.check) {
    g_printerr("winvmd: --render and --check exclude each other\n");
    ret = 2;
  } else if (opt.render || opt.check) {
    ret = run_offline(&opt, opt.render ? opt.render : opt.check, opt.render != NULL);
  } else {
    g_printerr("winvmd: nothing to do: use --render PROFILE or --check PROFILE\n"
               "(the D-Bus service is not part of this build yet)\n");
    ret = 2;
  }

  g_free(opt.render);
  g_free(opt.check);
  g_free(opt.sysfs_root);
  g_free(opt.proc_root);
  g_free(opt.libvirt_uri);
  return ret;
}
