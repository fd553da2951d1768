/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-preflight.h"
#include "wv-conflicts.h"
#include "wv-host-cache.h"
#include "wv-isolate.h"
#include "wv-libvirt.h"
#include "wv-trust.h"
#include "wv-tuning.h"

/* The mount table under @config's /proc root, NULL: the real one. */
static char *
mounts_path(const WvConfig *config)
{
  return config->proc_root ? g_build_filename(config->proc_root, "mounts", NULL) : NULL;
}

WvHostCache *
wv_preflight_host_cache_new(const WvConfig *config)
{
  g_autofree char *mounts = mounts_path(config);

  return wv_host_cache_new(config->sysfs_root, mounts);
}

WvHost *
wv_preflight_host(const WvConfig *config, GError **error)
{
  g_autofree char *mounts = NULL;

  if (config->host_cache)
    return wv_host_cache_host(config->host_cache, error);
  mounts = mounts_path(config);
  return wv_host_probe(config->sysfs_root, mounts, error);
}

typedef struct
{
  virConnectPtr conn;
  const char *virt_type;
  const char *template_path;
} DomcapsFetch;

static WvDomcaps *
fetch_domcaps(gpointer data, GError **error)
{
  DomcapsFetch *f = data;

  return wv_libvirt_domcaps(f->conn, f->virt_type, f->template_path, error);
}

static WvTristate
fetch_kvm_offered(gpointer data)
{
  return wv_libvirt_kvm_offered(data);
}

/* libvirt's answers, from @config's cache when it has one. */
static WvTristate
kvm_offered(const WvConfig *config, virConnectPtr conn)
{
  if (config->host_cache)
    return wv_host_cache_kvm_offered(config->host_cache, fetch_kvm_offered, conn);
  return wv_libvirt_kvm_offered(conn);
}

static WvDomcaps *
domcaps(const WvConfig *config, virConnectPtr conn, const char *virt_type,
        const char *template_path, GError **error)
{
  DomcapsFetch f = {conn, virt_type, template_path};
  g_autofree char *machine = NULL;

  if (config->host_cache == NULL)
    return fetch_domcaps(&f, error);
  machine = wv_libvirt_template_machine(template_path);
  return wv_host_cache_domcaps(config->host_cache, virt_type, machine, fetch_domcaps, &f, error);
}

/* The host-path policy: winvm.conf, with the daemon's own directories
 * refused too. NULL and @error_out set when winvm.conf cannot be trusted. */
static WvPathPolicy *
load_path_policy(const WvConfig *config, char **error_out)
{
  g_autoptr(GPtrArray) own = g_ptr_array_new();
  g_autoptr(GError) error = NULL;
  WvPathPolicy *policy;

  if (config->config_dir)
    g_ptr_array_add(own, config->config_dir);
  if (config->state_dir)
    g_ptr_array_add(own, config->state_dir);
  if (config->runtime_dir)
    g_ptr_array_add(own, config->runtime_dir);
  g_ptr_array_add(own, NULL);
  policy = wv_path_policy_load(config->host_config, (const char *const *)own->pdata, &error);
  if (policy == NULL)
    *error_out = g_strdup(error->message);
  return policy;
}

WvPlan *
wv_preflight(const WvConfig *config, const WvProfile *profile, virConnectPtr conn,
             WvPreflightFlags flags, WvHost **host_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvHost) host = NULL;
  g_autoptr(WvDomcaps) caps = NULL;
  g_autoptr(GHashTable) in_use = NULL;
  g_autoptr(WvPathPolicy) paths = NULL;
  g_autofree char *paths_error = NULL;
  g_autofree char *mountinfo =
      config->proc_root ? g_build_filename(config->proc_root, "self", "mountinfo", NULL) : NULL;
  WvPlanContext ctx = {.template_dir = config->template_dir, .templates = config->templates};
  WvConflictsContext conflicts = {
      .host_root = config->host_root,
      .libvirt_uri = config->libvirt_uri,
      .domain_autostart = WV_TRI_UNSET,
  };
  WvPlan *plan;

  if (flags & WV_PREFLIGHT_NO_HOST_CHECKS) {
    plan = wv_plan_build(profile, &ctx);
    wv_trust_check(plan, profile, &ctx); /* the template, at least */
    return plan;
  }

  host = wv_preflight_host(config, &error);
  if (host == NULL)
    g_warning("host facts unavailable: %s", error->message);
  g_clear_error(&error);
  if (conn) {
    g_autofree char *tpl = wv_template_path(profile->template_name, config->template_dir);
    gboolean want_kvm = profile->hypervisor == WV_HYPERVISOR_KVM;

    /* Without kvm, still read what QEMU offers (firmware, TPM) for the
     * other findings. */
    ctx.libvirt_lacks_kvm = want_kvm && kvm_offered(config, conn) == WV_TRI_OFF;
    caps = domcaps(config, conn, want_kvm && !ctx.libvirt_lacks_kvm ? "kvm" : "qemu", tpl, &error);
    in_use = wv_libvirt_devices_in_use(conn, profile->name, NULL);
    {
      gboolean foreign = FALSE;
      g_autoptr(virDomain) ours = wv_libvirt_lookup_ours(conn, profile->name, &foreign, NULL);
      int autostart = 0;

      ctx.foreign_domain = foreign;
      if (ours && virDomainGetAutostart(ours, &autostart) == 0)
        conflicts.domain_autostart = autostart ? WV_TRI_ON : WV_TRI_OFF;
    }
    if (virConnectGetLibVersion(conn, &conflicts.libvirt_version) < 0)
      conflicts.libvirt_version = 0;
  } else if (virGetVersion(&conflicts.libvirt_version, NULL, NULL) < 0) {
    conflicts.libvirt_version = 0; /* planned without libvirt: the library's */
  }
  paths = load_path_policy(config, &paths_error);
  ctx.host = host;
  ctx.domcaps = caps;
  ctx.devices_in_use = in_use;
  ctx.paths = paths;
  ctx.paths_error = paths_error;
  ctx.mountinfo_path = mountinfo;
  plan = wv_plan_build(profile, &ctx);
  wv_trust_check(plan, profile, &ctx);
  wv_conflicts_check(plan, profile, &conflicts);
  if (conn && caps == NULL) {
    plan->domcaps_error = g_strdup(error ? error->message : "unknown error");
    g_debug("%s: no domain capabilities: %s", profile->name, plan->domcaps_error);
  }
  if (config->state_dir)
    wv_tuning_apply(plan, profile, config->state_dir);
  wv_plan_host_steps(plan, profile, host); /* on the pins the tuning left */
  wv_isolate_check(config->isolate, plan, config->sysfs_root, config->proc_root);
  if (host_out)
    *host_out = g_steal_pointer(&host);
  return plan;
}
