/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * bench-render: what `winvmctl check`/`render` and Start cost per profile,
 * through the daemon's own code (libwinvmd). Meant to run under
 * `valgrind --tool=callgrind`, which counts instructions exactly; the two
 * phases are separate noinline functions so callgrind_annotate --inclusive
 * gives each its own figure.
 *
 *   bench-render --source-root DIR --host NAME --count N [--keep DIR]
 *
 * Writes N variants of examples/gaming.conf (own names, 2-8 vCPUs, own MAC)
 * to a temporary config directory, then
 *   bench_load_all:      wv_profile_load_dir() of all N (what the daemon does at
 *                    start and on Reload);
 *   bench_preflight_all: for each profile what wv_preflight() + render do for
 *                    one Check/Render/Start in the daemon: the host from its
 *                    host cache (wv-host-cache.h: topology probed once, the
 *                    volatile figures read fresh), the domain capabilities
 *                    from the same cache (fetched once: kvm.xml parsed
 *                    stands in for libvirt's answer), wv_plan_build(),
 *                    wv_plan_check() and wv_render_to_string() from the
 *                    daemon's parsed templates (wv-template.h: parsed on
 *                    first use, then copied).
 * Prints one JSON object: counts of profiles, errors and findings, and the
 * bytes of XML rendered (so nothing can be optimised away).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "wv-host-cache.h"
#include "wv-host.h"
#include "wv-plan.h"
#include "wv-profile.h"
#include "wv-render.h"
#include "wv-template.h"
#include "wv-worker.h"

typedef struct
{
  const char *sys;
  const char *mounts;
  const char *domcaps_xml;
  const char *template_dir;
  WvHostCache *cache;
  WvTemplates *templates;
  guint64 xml_bytes;
  guint findings;
  guint preflight_errors;
  guint render_errors;
} Bench;

/* examples/gaming.conf with another name, vCPU count and MAC. */
static char *
variant(const char *base, guint i)
{
  g_autofree char *name = g_strdup_printf("name = bench-r-%04u", i);
  g_autofree char *vcpus = g_strdup_printf("vcpus = %u", 2 + 2 * (i % 4));
  g_autofree char *mac =
      g_strdup_printf("mac = 52:54:00:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
  g_auto(GStrv) lines = g_strsplit(base, "\n", -1);

  for (guint l = 0; lines[l] != NULL; l++) {
    char *repl = NULL;
    if (g_str_has_prefix(lines[l], "name ="))
      repl = name;
    else if (g_str_has_prefix(lines[l], "vcpus ="))
      repl = vcpus;
    else if (g_str_has_prefix(lines[l], "mac ="))
      repl = mac;
    if (repl) {
      g_free(lines[l]);
      lines[l] = g_strdup(repl);
    }
  }
  return g_strjoinv("\n", lines);
}

__attribute__((noinline)) static GHashTable *
bench_load_all(const char *dir, guint *errors)
{
  g_autoptr(GPtrArray) errs = NULL;
  GHashTable *profiles = wv_profile_load_dir(dir, &errs);

  *errors = errs ? errs->len : 0;
  for (guint i = 0; errs && i < errs->len; i++)
    g_printerr("bench-render: %s\n", ((GError *)errs->pdata[i])->message);
  return profiles;
}

/* libvirt's answer */
static WvDomcaps *
fetch_domcaps(gpointer data, GError **error)
{
  Bench *b = data;

  return wv_domcaps_parse(b->domcaps_xml, error);
}

__attribute__((noinline)) static void
bench_preflight_one(Bench *b, const WvProfile *profile)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvHost) host = wv_host_cache_host(b->cache, &error);
  g_autoptr(WvDomcaps) caps = NULL;
  g_autoptr(WvPlan) plan = NULL;
  g_autofree char *xml = NULL;
  WvPlanContext ctx = {.host = host, .template_dir = b->template_dir, .templates = b->templates};

  if (host == NULL)
    g_error("host probe: %s", error->message);
  caps = wv_host_cache_domcaps(b->cache, "kvm", NULL, fetch_domcaps, b, &error);
  if (caps == NULL)
    g_error("domcaps: %s", error->message);
  ctx.domcaps = caps;
  plan = wv_plan_build(profile, &ctx);
  b->findings += plan->findings->len;
  if (!wv_plan_check(plan, &error)) {
    b->preflight_errors++;
    g_clear_error(&error);
  }
  xml = wv_render_to_string(profile, plan, &error);
  if (xml == NULL) {
    b->render_errors++;
    g_printerr("bench-render: %s: %s\n", profile->name, error->message);
  } else {
    b->xml_bytes += strlen(xml);
  }
}

__attribute__((noinline)) static void
bench_preflight_all(Bench *b, GPtrArray *profiles)
{
  for (guint i = 0; i < profiles->len; i++)
    bench_preflight_one(b, profiles->pdata[i]);
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
  return g_strcmp0((*(WvProfile *const *)a)->name, (*(WvProfile *const *)b)->name);
}

static void
remove_tree(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *entry;

  while (d && (entry = g_dir_read_name(d)) != NULL) {
    g_autofree char *path = g_build_filename(dir, entry, NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
}

int
main(int argc, char **argv)
{
  g_autofree char *source_root = NULL;
  g_autofree char *host_name = NULL;
  gint count = 1;
  const GOptionEntry entries[] = {
      {"source-root", 0, 0, G_OPTION_ARG_FILENAME, &source_root, "winvm source tree", "DIR"},
      {"host", 0, 0, G_OPTION_ARG_STRING, &host_name, "tests/data/hosts/NAME (ryzen)", "NAME"},
      {"count", 'n', 0, G_OPTION_ARG_INT, &count, "profiles (0: only the fixed setup)", "N"},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) octx = g_option_context_new("- render + preflight cost");
  g_autoptr(GError) error = NULL;
  g_autofree char *base = NULL, *caps_xml = NULL, *dir = NULL;
  g_autofree char *sys = NULL, *mounts = NULL, *gaming = NULL, *caps_path = NULL, *tpl = NULL;
  g_autoptr(GHashTable) loaded = NULL;
  g_autoptr(GPtrArray) profiles = g_ptr_array_new();
  GHashTableIter iter;
  gpointer value;
  guint load_errors = 0;
  gint64 t0, elapsed_us;
  Bench b = {0};

  wv_malloc_init(); /* malloc as winvmd has it */
  g_option_context_add_main_entries(octx, entries, NULL);
  if (!g_option_context_parse(octx, &argc, &argv, &error) || source_root == NULL || count < 0) {
    g_printerr("bench-render: %s\n", error ? error->message : "--source-root DIR --count N");
    return 2;
  }
  if (host_name == NULL)
    host_name = g_strdup("ryzen");
  sys = g_build_filename(source_root, "tests", "data", "hosts", host_name, "sys", NULL);
  mounts =
      g_build_filename(source_root, "tests", "data", "hosts", host_name, "proc", "mounts", NULL);
  gaming = g_build_filename(source_root, "examples", "gaming.conf", NULL);
  caps_path = g_build_filename(source_root, "tests", "data", "domcaps", "kvm.xml", NULL);
  tpl = g_build_filename(source_root, "xml-templates", NULL);
  if (!g_file_get_contents(gaming, &base, NULL, &error) ||
      !g_file_get_contents(caps_path, &caps_xml, NULL, &error)) {
    g_printerr("bench-render: %s\n", error->message);
    return 1;
  }

  dir = g_dir_make_tmp("winvm-bench-render-XXXXXX", &error);
  if (dir == NULL) {
    g_printerr("bench-render: %s\n", error->message);
    return 1;
  }
  for (gint i = 0; i < count; i++) {
    g_autofree char *text = variant(base, (guint)i);
    g_autofree char *file = g_strdup_printf("bench-r-%04d.conf", i);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    if (!g_file_set_contents(path, text, -1, &error)) {
      g_printerr("bench-render: %s\n", error->message);
      remove_tree(dir);
      return 1;
    }
  }

  b.sys = sys;
  b.mounts = mounts;
  b.domcaps_xml = caps_xml;
  b.template_dir = tpl;

  t0 = g_get_monotonic_time();
  loaded = bench_load_all(dir, &load_errors);
  g_hash_table_iter_init(&iter, loaded);
  while (g_hash_table_iter_next(&iter, NULL, &value))
    g_ptr_array_add(profiles, value);
  g_ptr_array_sort(profiles, by_name);
  b.cache = wv_host_cache_new(sys, mounts);
  b.templates = wv_templates_new(NULL, 0);
  bench_preflight_all(&b, profiles);
  elapsed_us = g_get_monotonic_time() - t0;
  wv_host_cache_unref(b.cache);
  wv_templates_unref(b.templates);
  remove_tree(dir);

  g_print("{\"profiles\": %u, \"load_errors\": %u, \"findings\": %u, \"preflight_errors\": %u, "
          "\"render_errors\": %u, \"xml_bytes\": %" G_GUINT64_FORMAT
          ", \"elapsed_us\": %" G_GINT64_FORMAT "}\n",
          profiles->len, load_errors, b.findings, b.preflight_errors, b.render_errors, b.xml_bytes,
          elapsed_us);
  return (load_errors || b.render_errors || profiles->len != (guint)count) ? 1 : 0;
}
