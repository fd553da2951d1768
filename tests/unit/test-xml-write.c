/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wv_xml_write() against libxml2's own xmlSaveDoc() (wv_xml_save()): the
 * same bytes for every template, every XML file of the test data and trees
 * built from hostile strings (test-render compares them on every example
 * rendered, fuzz-render on fuzzed profiles).
 */
#include "wv-common.h"
#include "wv-test.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

static void
assert_same(xmlDoc *doc, const char *what)
{
  g_autofree char *ours = wv_xml_write(doc);
  g_autofree char *theirs = wv_xml_save(doc);

  if (ours == NULL)
    g_error("%s: wv_xml_write() refused a tree libxml2 writes", what);
  if (!g_str_equal(ours, theirs))
    g_error("%s: wv_xml_write() wrote\n%s\nlibxml2 wrote\n%s", what, ours, theirs);
}

static void
check_file(const char *path, guint *count)
{
  static const int options[] = {XML_PARSE_NONET | XML_PARSE_NOBLANKS, XML_PARSE_NONET};

  for (guint i = 0; i < G_N_ELEMENTS(options); i++) {
    g_autoptr(xmlDoc) doc = xmlReadFile(path, NULL, options[i] | XML_PARSE_NOERROR);

    g_assert_nonnull(doc);
    assert_same(doc, path);
    (*count)++;
  }
}

static void
check_dir(const char *dir, guint *count)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;

  g_assert_nonnull(d);
  while ((name = g_dir_read_name(d)) != NULL) {
    g_autofree char *path = g_build_filename(dir, name, NULL);

    if (g_file_test(path, G_FILE_TEST_IS_SYMLINK))
      continue; /* the fake sysfs trees link in circles */
    if (g_file_test(path, G_FILE_TEST_IS_DIR))
      check_dir(path, count);
    else if (g_str_has_suffix(name, ".xml"))
      check_file(path, count);
  }
}

/* The templates, the golden renders, libvirt's capabilities and the
 * imported domains of tests/data, with and without blank text nodes. */
static void
test_files(void)
{
  g_autofree char *templates = g_build_filename(WV_SOURCE_ROOT, "xml-templates", NULL);
  guint count = 0;

  check_dir(templates, &count);
  check_dir(WV_TEST_DATA, &count);
  g_assert_cmpuint(count, >=, 2 * 10);
}

static const char *const hostile[] = {
    "",
    "plain",
    "quote \" apostrophe ' both",
    "<tag> & &amp; ]]> &lt;",
    "new\nline\r\ncarriage\ttab",
    "  leading and trailing  ",
    "Windows 11 für Spiele — ✓ 🎮",
    "\xc3\xa9t\xc3\xa9",
    "a]]b]]>c]]]>",
    "--",
};

/* Attributes, text, mixed content, comments, processing instructions,
 * CDATA, namespaces (prefixed, default, xml:), empty elements, and nesting
 * past libxml2's 30 levels of indent, built from the strings above. */
static void
test_hostile_tree(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(hostile); i++) {
    const char *s = hostile[i];
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "domain");
    xmlNs *ns = xmlNewNs(root, BAD_CAST "http://example.org/\"q'", BAD_CAST "q");
    xmlNode *n, *deep;
    g_autofree char *what = g_strdup_printf("hostile string %u", i);

    xmlDocSetRootElement(doc, root);
    xmlNewNs(root, BAD_CAST "http://example.org/default", NULL);
    xmlAddPrevSibling(root, xmlNewDocComment(doc, BAD_CAST "top comment"));
    xmlAddNextSibling(root, xmlNewDocPI(doc, BAD_CAST "after", BAD_CAST "root"));
    xmlSetProp(root, BAD_CAST "type", BAD_CAST s);
    xmlSetNsProp(root, ns, BAD_CAST "attr", BAD_CAST s);
    xmlNodeSetLang(root, BAD_CAST "en");
    xmlNewTextChild(root, NULL, BAD_CAST "name", BAD_CAST s);
    xmlNewChild(root, ns, BAD_CAST "empty", NULL);
    n = xmlNewChild(root, NULL, BAD_CAST "mixed", NULL);
    xmlNodeAddContent(n, BAD_CAST s);
    xmlAddChild(xmlNewChild(n, NULL, BAD_CAST "inner", NULL), xmlNewText(BAD_CAST s));
    xmlNodeAddContent(n, BAD_CAST "tail");
    xmlAddChild(root, xmlNewDocComment(doc, BAD_CAST s));
    xmlAddChild(root, xmlNewDocPI(doc, BAD_CAST "pi", i % 2 ? BAD_CAST s : NULL));
    xmlAddChild(xmlNewChild(root, NULL, BAD_CAST "data", NULL),
                xmlNewCDataBlock(doc, BAD_CAST s, (int)strlen(s)));
    n = xmlNewChild(root, NULL, BAD_CAST "raw", NULL);
    xmlAddChild(n, xmlNewTextLen(BAD_CAST s, (int)strlen(s)));
    n->children->name = xmlStringTextNoenc;
    deep = root;
    for (guint level = 0; level < 40; level++)
      deep = xmlNewChild(deep, level % 3 ? NULL : ns, BAD_CAST "d", NULL);
    xmlAddChild(deep, xmlNewDocComment(doc, BAD_CAST "deep"));
    xmlSetProp(deep, BAD_CAST "s", BAD_CAST s);
    assert_same(doc, what);
  }
}

/* What it leaves to libxml2 it says so, and wv_xml_doc_to_string() still
 * writes it. */
static void
test_fallback(void)
{
  static const char xml[] = "<!DOCTYPE domain [<!ENTITY e 'x'>]><domain a='&e;'>&e;</domain>";
  g_autoptr(xmlDoc) doc = xmlReadMemory(xml, sizeof xml - 1, NULL, NULL, XML_PARSE_NONET);
  g_autofree char *ours = NULL, *out = NULL;

  g_assert_nonnull(doc);
  ours = wv_xml_write(doc);
  g_assert_null(ours);
  out = wv_xml_doc_to_string(doc);
  g_assert_nonnull(strstr(out, "<!DOCTYPE domain"));
  g_assert_nonnull(strstr(out, "&e;"));
}

/* The number writers, against printf. */
static void
test_numbers(void)
{
  static const guint64 values[] = {0,   1,    9,     10,    15,          16,         255,
                                   256, 4095, 65535, 65536, G_MAXUINT32, G_MAXINT64, G_MAXUINT64};
  g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
  xmlNode *n = xmlNewDocNode(doc, NULL, BAD_CAST "n", NULL);

  xmlDocSetRootElement(doc, n);
  for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
    g_autofree char *dec = g_strdup_printf("%" G_GUINT64_FORMAT, values[i]);
    g_autofree xmlChar *got = NULL;

    wv_xml_set_prop_uint(n, "v", values[i]);
    got = xmlGetProp(n, BAD_CAST "v");
    g_assert_cmpstr((const char *)got, ==, dec);
    for (guint width = 0; width <= 17; width++) {
      g_autofree char *hex = g_strdup_printf("0x%0*" G_GINT64_MODIFIER "x", (int)width, values[i]);
      g_autofree xmlChar *h = NULL;

      wv_xml_set_prop_hex(n, "h", values[i], width);
      h = xmlGetProp(n, BAD_CAST "h");
      if (width <= 16)
        g_assert_cmpstr((const char *)h, ==, hex);
    }
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/xml-write/files", test_files);
  g_test_add_func("/xml-write/hostile-tree", test_hostile_tree);
  g_test_add_func("/xml-write/fallback", test_fallback);
  g_test_add_func("/xml-write/numbers", test_numbers);
  return g_test_run();
}
