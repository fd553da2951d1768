/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-trust.h"
#include "wv-common.h"
#include "wv-file.h"
#include "wv-xml.h"

#define QEMU_NS              "http://libvirt.org/schemas/domain/qemu/1.0"
#define WV_TEMPLATE_MAX_SIZE (1024 * 1024)
#define RAW_QEMU_HINT                                                                              \
  "use a template without it, or, in a profile only root writes, set [vm] raw-qemu = true"

static gint
compare_strings(gconstpointer a, gconstpointer b, gpointer data)
{
  return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void
find_raw_qemu(xmlNode *node, GHashTable *seen)
{
  for (xmlNode *n = node; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE)
      continue;
    if (n->ns && n->ns->href && xmlStrEqual(n->ns->href, BAD_CAST QEMU_NS))
      g_hash_table_add(seen, g_strdup((const char *)n->name));
    else
      find_raw_qemu(n->children, seen);
  }
}

/* A template reaches a domain winvmd defines as root: an absolute path must
 * be root's own file, and what passes options to QEMU past libvirt
 * (<qemu:commandline>, <qemu:override>, another <emulator>) needs the
 * profile's explicit yes. */
static void
check_template(WvPlan *plan, const WvProfile *p, const WvPlanContext *ctx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(xmlDoc) doc = NULL;
  g_autoptr(xmlXPathContext) xpath = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = NULL;
  g_autofree char *emulator = NULL;
  gboolean by_path = g_path_is_absolute(p->template_name);
  gsize len = 0;

  text = wv_file_read(plan->template_path, WV_TEMPLATE_MAX_SIZE, by_path, &len, &error);
  if (text == NULL) {
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "template-untrusted",
                        "templates named by path must be regular files root owns and only root may "
                        "write; or name an installed template",
                        "template: %s", error->message);
    g_clear_pointer(&plan->template_path, g_free);
    return;
  }
  doc = wv_xml_parse(text);
  if (doc == NULL || xmlDocGetRootElement(doc) == NULL)
    return; /* the renderer says what is wrong with it */
  if (p->raw_qemu)
    return;
  find_raw_qemu(xmlDocGetRootElement(doc), seen);
  if (g_hash_table_size(seen) > 0) {
    g_autofree const char **names = (const char **)g_hash_table_get_keys_as_array(seen, NULL);
    g_autofree char *list = NULL;

    g_qsort_with_data(names, (gint)g_hash_table_size(seen), sizeof(char *), compare_strings, NULL);
    list = g_strjoinv(">, <qemu:", (char **)names);
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "template-raw-qemu", RAW_QEMU_HINT,
                        "template %s passes options to QEMU past libvirt (<qemu:%s>)",
                        plan->template_path, list);
  }
  xpath = xmlXPathNewContext(doc);
  emulator = wv_xpath_string(xpath, "/domain/devices/emulator");
  if (emulator && !(ctx->domcaps && g_strcmp0(ctx->domcaps->emulator, emulator) == 0))
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "template-emulator", RAW_QEMU_HINT,
                        "template %s runs its own emulator %s%s%s", plan->template_path, emulator,
                        ctx->domcaps && ctx->domcaps->emulator ? ", not libvirt's " : "",
                        ctx->domcaps && ctx->domcaps->emulator ? ctx->domcaps->emulator : "");
}

static void
check_path(WvPlan *plan, const WvPlanContext *ctx, const char *group, const char *key,
           const char *path, gboolean share)
{
  const char *dir = NULL;
  g_autofree char *mount = NULL;
  WvPathVerdict verdict;

  if (path == NULL)
    return;
  verdict = wv_path_policy_check(ctx->paths, path, share, &dir);
  if (verdict == WV_PATH_NOT_ALLOWED && ctx->host &&
      wv_path_is_lvm_volume(path, ctx->host->sysfs_root))
    verdict = WV_PATH_OK; /* an LVM volume, wherever its link is */
  switch (verdict) {
    case WV_PATH_SENSITIVE:
      wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "path-refused",
                          share ? "share a directory that holds none of the host's own"
                                : "use an image or volume below an allowed directory",
                          "[%s] %s: %s %s %s, which winvmd never hands to a guest", group, key,
                          path, share ? "holds" : "is in", dir);
      return;
    case WV_PATH_NOT_ALLOWED: {
      g_autofree char *allowed = wv_path_policy_allowed(ctx->paths);
      wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "path-not-allowed",
                          "move it below one of them, or add its directory to [paths] allow in "
                          "/etc/winvm/winvm.conf (winvm.conf(5))",
                          "[%s] %s: %s is below none of the allowed directories (%s)", group, key,
                          path, allowed);
      return;
    }
    case WV_PATH_OK:
      break;
  }
  if (ctx->host && !share &&
      (mount = wv_path_mounted_block_device(path, ctx->host->sysfs_root, ctx->mountinfo_path)))
    wv_plan_add_finding(plan, WV_SEVERITY_ERROR, "path-host-filesystem",
                        "hand the guest a disk or volume the host does not use",
                        "[%s] %s: %s holds the host's mounted filesystem %s", group, key, path,
                        mount);
}

static void
check_ownership(WvPlan *plan, const WvProfile *p, const WvPlanContext *ctx)
{
  g_autofree char *hint = NULL;

  if (!ctx->foreign_domain)
    return;
  hint = g_strdup_printf("rename the profile ([vm] name), remove that domain, or adopt it: "
                         "virsh metadata %s --config --uri " WV_DOMAIN_NS
                         " --key " WV_DOMAIN_NS_PREFIX " --set '<vm profile=\"%s\"/>'",
                         p->name, p->name);
  wv_plan_add_finding(
      plan, WV_SEVERITY_ERROR, "domain-not-winvm", hint,
      "a libvirt domain named “%s” exists that winvm did not define; winvm will not "
      "report, stop or redefine it",
      p->name);
}

static void
check_paths(WvPlan *plan, const WvProfile *p, const WvPlanContext *ctx)
{
  if (ctx->paths_error) {
    wv_plan_add_finding(
        plan, WV_SEVERITY_ERROR, "host-config-invalid",
        "fix /etc/winvm/winvm.conf (winvm.conf(5)); nothing starts while it is unreadable", "%s",
        ctx->paths_error);
    return;
  }
  if (ctx->paths == NULL)
    return;
  for (guint i = 0; i < p->disks->len; i++) {
    const WvDisk *d = p->disks->pdata[i];
    g_autofree char *group = g_strconcat("disk:", d->id, NULL);
    check_path(plan, ctx, group, "source", d->source, FALSE);
  }
  for (guint i = 0; i < p->cdroms->len; i++) {
    const WvCdrom *c = p->cdroms->pdata[i];
    g_autofree char *group = g_strconcat("cdrom:", c->id, NULL);
    check_path(plan, ctx, group, "source", c->source, FALSE);
  }
  for (guint i = 0; i < p->hostdevs->len; i++) {
    const WvHostdev *h = p->hostdevs->pdata[i];
    g_autofree char *group = g_strconcat("hostdev:", h->id, NULL);
    check_path(plan, ctx, group, "rom", h->rom, FALSE);
  }
  for (guint i = 0; i < p->shares->len; i++) {
    const WvShare *sh = p->shares->pdata[i];
    g_autofree char *group = g_strconcat("share:", sh->id, NULL);
    check_path(plan, ctx, group, "source", sh->source, TRUE);
  }
  /* a host keyboard or mouse: every key typed on it reaches the guest */
  for (guint i = 0; i < p->inputs->len; i++) {
    const WvInput *in = p->inputs->pdata[i];
    g_autofree char *group = g_strconcat("input:", in->id, NULL);
    check_path(plan, ctx, group, "evdev", in->evdev, FALSE);
  }
  check_path(plan, ctx, "firmware", "nvram", p->nvram, FALSE);
}

void
wv_trust_check(WvPlan *plan, const WvProfile *profile, const WvPlanContext *ctx)
{
  if (plan->template_path)
    check_template(plan, profile, ctx);
  check_paths(plan, profile, ctx);
  check_ownership(plan, profile, ctx);
}
