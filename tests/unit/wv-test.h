/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Helpers shared by the unit tests: fake host trees, profiles from strings,
 * and validation against libvirt's own RelaxNG schema.
 */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <libxml/relaxng.h>

#include "wv-host.h"
#include "wv-plan.h"
#include "wv-profile.h"
#include "wv-render.h"

#define WV_DOMAIN_RNG "/usr/share/libvirt/schemas/domain.rng"

static inline WvHost *
wv_test_host(const char *name)
{
  g_autofree char *sys = g_build_filename(WV_TEST_DATA, "hosts", name, "sys", NULL);
  g_autofree char *mounts = g_build_filename(WV_TEST_DATA, "hosts", name, "proc", "mounts", NULL);
  g_autoptr(GError) error = NULL;
  WvHost *host = wv_host_probe(sys, mounts, &error);

  g_assert_no_error(error);
  g_assert_nonnull(host);
  return host;
}

static inline WvDomcaps *
wv_test_domcaps(const char *name)
{
  g_autofree char *path = g_build_filename(WV_TEST_DATA, "domcaps", name, NULL);
  g_autofree char *xml = NULL;
  g_autoptr(GError) error = NULL;
  WvDomcaps *caps;

  g_assert_true(g_file_get_contents(path, &xml, NULL, &error));
  caps = wv_domcaps_parse(xml, &error);
  g_assert_no_error(error);
  return caps;
}

static inline WvProfile *
wv_test_profile(const char *text)
{
  g_autoptr(GError) error = NULL;
  WvProfile *p = wv_profile_parse(text, strlen(text), "test.conf", &error);

  g_assert_no_error(error);
  g_assert_nonnull(p);
  return p;
}

static inline char *
wv_test_profile_error(const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) p = wv_profile_parse(text, strlen(text), "test.conf", &error);

  g_assert_null(p);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
  return g_strdup(error->message);
}

static inline const char *
wv_test_template_dir(void)
{
  return WV_SOURCE_ROOT "/xml-templates";
}

/* Fails the test unless @doc is valid against libvirt's domain schema. */
static inline void
wv_test_assert_schema_valid(xmlDoc *doc)
{
  static xmlRelaxNG *schema = NULL;
  xmlRelaxNGValidCtxt *vctx;
  int rc;

  if (schema == NULL) {
    xmlRelaxNGParserCtxt *pctx = xmlRelaxNGNewParserCtxt(WV_DOMAIN_RNG);
    g_assert_nonnull(pctx);
    schema = xmlRelaxNGParse(pctx);
    xmlRelaxNGFreeParserCtxt(pctx);
    g_assert_nonnull(schema);
  }
  vctx = xmlRelaxNGNewValidCtxt(schema);
  rc = xmlRelaxNGValidateDoc(vctx, doc);
  xmlRelaxNGFreeValidCtxt(vctx);
  if (rc != 0) {
    g_autofree char *xml = wv_xml_doc_to_string(doc);
    g_printerr("%s\n", xml);
  }
  g_assert_cmpint(rc, ==, 0);
}

/* First finding with @code, or NULL. */
static inline const WvFinding *
wv_test_finding(const WvPlan *plan, const char *code)
{
  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *f = plan->findings->pdata[i];
    if (g_str_equal(f->code, code))
      return f;
  }
  return NULL;
}

/* "4,12,5,13" from a plan's vCPU pins */
static inline char *
wv_test_pins(const WvPlan *plan)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < plan->vcpu_pins->len; i++) {
    g_autofree char *set = wv_cpuset_format(plan->vcpu_pins->pdata[i]);
    g_string_append_printf(s, "%s%s", i ? "," : "", set);
  }
  return g_string_free(s, FALSE);
}

/* Removes @path and everything below it (a test's temporary tree); links
 * are removed, never followed. */
static inline void
wv_test_remove_tree(const char *path)
{
  g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(path, name, NULL);

    if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
      wv_test_remove_tree(child);
    else
      g_assert_cmpint(g_unlink(child), ==, 0);
  }
  g_assert_cmpint(g_rmdir(path), ==, 0);
}
