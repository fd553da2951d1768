/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The facts of a domain that an import must carry over (compared by XPath,
 * not bytes), and an import -> parse -> render for another host ->
 * validate helper; shared by test-import (goldens, hand-written domains)
 * and test-libvirt-define (what libvirt dumps after a define).
 */
#pragma once

#include "wv-import.h"
#include "wv-test.h"
#include "wv-xml.h"

#include <libxml/xpath.h>
#include <string.h>

/* What must survive a round trip. Guest addresses and aliases are libvirt's
 * to assign; boot orders are checked where they change form. */
static const char *const facts[] = {
    "/domain/@type",
    "/domain/name",
    "/domain/uuid",
    "/domain/memory",
    "/domain/vcpu",
    "/domain/iothreads",
    "/domain/memoryBacking/hugepages",
    "/domain/cputune/*",
    /* UEFI: by firmware autoselection or a pflash loader */
    "string(/domain/os/@firmware = 'efi' or /domain/os/loader/@type = 'pflash')",
    "/domain/os/type/@machine",
    "/domain/os/loader/@secure",
    "string(/domain/os/nvram)",
    "/domain/features/hyperv",
    "/domain/features/kvm",
    "/domain/features/smm",
    "/domain/cpu/@mode",
    "/domain/cpu/topology",
    "/domain/cpu/feature",
    "/domain/clock/@offset",
    "/domain/clock/timer[@present]",
    "/domain/devices/disk",
    "/domain/devices/interface",
    "/domain/devices/filesystem",
    "/domain/devices/hostdev/source",
    "/domain/devices/hostdev/rom",
    "/domain/devices/graphics/@type",
    "/domain/devices/video/model[@type != 'none']/@type",
    "/domain/devices/video/model/@vram",
    "/domain/devices/sound/@model",
    "/domain/devices/sound/codec",
    "/domain/devices/audio/@type",
    "/domain/devices/memballoon/@model",
    "/domain/devices/tpm/backend",
    "/domain/devices/shmem",
    "/domain/devices/input[@type='evdev']",
    "/domain/devices/controller[@type='usb']/@model",
};

static inline gint
compare_strings(gconstpointer a, gconstpointer b)
{
  return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* An element as attributes and children, in no particular order; guest
 * addresses (<address type=...>), aliases, boot orders and an interface's
 * host-side target left out. */
static inline char *
canonical(xmlNode *n)
{
  g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GString) s = g_string_new(NULL);
  g_autofree xmlChar *text = NULL;

  if (n->type == XML_ATTRIBUTE_NODE) {
    g_autofree xmlChar *v = xmlNodeGetContent(n);
    return g_strdup_printf("@%s=%s", (const char *)n->name, (const char *)v);
  }
  for (xmlAttr *a = n->properties; a; a = a->next)
    g_ptr_array_add(parts, canonical((xmlNode *)a));
  for (xmlNode *c = n->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE &&
        !(g_str_equal((const char *)c->name, "address") && xmlHasProp(c, BAD_CAST "type")) &&
        !g_str_equal((const char *)c->name, "alias") &&
        !g_str_equal((const char *)c->name, "boot") &&
        /* the host-side tap name: libvirt's to pick */
        !(g_str_equal((const char *)c->name, "target") &&
          g_str_equal((const char *)n->name, "interface")))
      g_ptr_array_add(parts, canonical(c));
  g_ptr_array_sort(parts, compare_strings);
  g_string_append_printf(s, "%s(", (const char *)n->name);
  for (guint i = 0; i < parts->len; i++)
    g_string_append_printf(s, "%s%s", i ? " " : "", (const char *)parts->pdata[i]);
  if (n->children && n->children->type == XML_TEXT_NODE && !n->children->next) {
    text = xmlNodeGetContent(n);
    g_string_append_printf(s, " \"%s\"", g_strstrip((char *)text));
  }
  g_string_append_c(s, ')');
  return g_strdup(s->str);
}

/* The values of fact @i in @doc, sorted, one line. */
static inline char *
fact_of(xmlDoc *doc, guint i)
{
  g_autoptr(xmlXPathContext) ctx = xmlXPathNewContext(doc);
  g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(BAD_CAST facts[i], ctx);
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func(g_free);
  GString *out = g_string_new(NULL);

  if (obj && obj->type == XPATH_STRING)
    g_ptr_array_add(values, g_strdup((const char *)obj->stringval));
  for (int k = 0;
       obj && obj->type == XPATH_NODESET && obj->nodesetval && k < obj->nodesetval->nodeNr; k++)
    g_ptr_array_add(values, canonical(obj->nodesetval->nodeTab[k]));
  g_ptr_array_sort(values, compare_strings);
  for (guint k = 0; k < values->len; k++)
    g_string_append_printf(out, "%s%s", k ? " | " : "", (const char *)values->pdata[k]);
  return g_string_free(out, FALSE);
}

/* @xml imported, parsed, rendered for another host (no host facts, no
 * capabilities: exactly what the profile says) and validated. */
static inline xmlDoc *
import_and_render(const char *xml, const char *name, GPtrArray **not_carried, char **profile_out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *profile = wv_import_domain_xml(xml, name, not_carried, &error);
  g_autoptr(WvProfile) p = NULL;
  g_autoptr(WvPlan) plan = NULL;
  WvPlanContext ctx = {.template_dir = wv_test_template_dir()};
  xmlDoc *doc;

  g_assert_no_error(error);
  g_assert_nonnull(profile);
  p = wv_profile_parse(profile, strlen(profile), "imported.conf", &error);
  if (error)
    g_printerr("%s\n", profile);
  g_assert_no_error(error);
  plan = wv_plan_build(p, &ctx);
  doc = wv_render(p, plan, &error);
  g_assert_no_error(error);
  wv_test_assert_schema_valid(doc);
  if (profile_out)
    *profile_out = g_steal_pointer(&profile);
  return doc;
}

/* Every fact of @original_xml is in @rendered, the same (what the template
 * adds, an RNG or a topology the original left to libvirt, may be more). */
static inline void
assert_same_facts(const char *original_xml, xmlDoc *rendered)
{
  g_autoptr(xmlDoc) original = wv_xml_parse(original_xml);

  for (guint i = 0; i < G_N_ELEMENTS(facts); i++) {
    g_autofree char *want = fact_of(original, i);
    g_autofree char *got = fact_of(rendered, i);

    if (want[0] && g_strcmp0(want, got) != 0)
      g_error("%s:\n  original: %s\n  rendered: %s", facts[i], want, got);
  }
}
