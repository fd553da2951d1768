/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * wv-template.c: parsed once, copied per render, parsed again when the
 * file changes; broken templates are never kept; copies are private and
 * can be made from many threads at once.
 */
#include "wv-common.h"
#include "wv-template.h"
#include "wv-test.h"

#include <glib/gstdio.h>

static const char good[] = "<!-- about the template -->\n"
                           "<domain type='kvm'><name>t</name><memory unit='KiB'>1</memory>"
                           "<devices><emulator>/usr/bin/qemu</emulator></devices></domain>\n";

static char *
write_file(const char *dir, const char *name, const char *text)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename(dir, name, NULL);

  g_file_set_contents(path, text, -1, &error);
  g_assert_no_error(error);
  return path;
}

/* over the same inode, as `cat > file` does */
static void
write_in_place(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");

  g_assert_nonnull(f);
  g_assert_cmpint(fputs(text, f), >=, 0);
  g_assert_cmpint(fclose(f), ==, 0);
}

static char *
copy_text(WvTemplates *t, const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(xmlDoc) doc = wv_templates_copy(t, path, &error);

  g_assert_no_error(error);
  g_assert_nonnull(doc);
  return wv_xml_write(doc);
}

/* The same tree as a fresh parse, the comment around the root dropped;
 * each copy its own. */
static void
test_copy(void)
{
  g_autofree char *dir = g_dir_make_tmp("wv-template-XXXXXX", NULL);
  g_autofree char *path = write_file(dir, "a.xml", good);
  g_autoptr(WvTemplates) t = wv_templates_new(NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(xmlDoc) direct = wv_templates_copy(NULL, path, &error);
  g_autoptr(xmlDoc) one = NULL, two = NULL;
  g_autofree char *expected = NULL, *first = NULL, *second = NULL;

  g_assert_no_error(error);
  expected = wv_xml_write(direct);
  g_assert_null(strstr(expected, "about the template"));
  g_assert_cmpuint(wv_templates_size(t), ==, 0);
  one = wv_templates_copy(t, path, &error); /* the parse itself: no tree kept */
  g_assert_no_error(error);
  g_assert_cmpuint(wv_templates_size(t), ==, 0);
  two = wv_templates_copy(t, path, &error); /* used again: kept, and copied */
  g_assert_no_error(error);
  g_assert_cmpuint(wv_templates_size(t), ==, 1);
  g_assert_true(one != two && xmlDocGetRootElement(one) != xmlDocGetRootElement(two));
  xmlSetProp(xmlDocGetRootElement(one), BAD_CAST "type", BAD_CAST "qemu");
  first = wv_xml_write(one);
  second = wv_xml_write(two);
  g_assert_cmpstr(second, ==, expected);
  g_assert_cmpstr(first, !=, expected);
  wv_templates_forget(t);
  g_assert_cmpuint(wv_templates_size(t), ==, 0);
  wv_test_remove_tree(dir);
}

/* An edited template shows in the next copy, even one of the same size
 * written over the same inode within the same second. */
static void
test_changed(void)
{
  g_autofree char *dir = g_dir_make_tmp("wv-template-XXXXXX", NULL);
  g_autofree char *path = write_file(dir, "a.xml", good);
  g_autofree char *edited_text = g_strdup(good);
  g_autoptr(WvTemplates) t = wv_templates_new(NULL, 0);
  g_autofree char *first = copy_text(t, path);
  g_autofree char *before = copy_text(t, path); /* from the kept tree */
  g_autofree char *after = NULL, *again = NULL, *replaced = NULL;
  g_autofree char *other = NULL;

  g_assert_cmpuint(wv_templates_size(t), ==, 1);
  g_assert_cmpstr(before, ==, first);
  g_assert_nonnull(strstr(before, "<name>t</name>"));
  *strstr(edited_text, "<name>t<") = '\0';
  {
    g_autofree char *same_size =
        g_strconcat(edited_text, "<name>u<", strstr(good, "<name>t<") + strlen("<name>t<"), NULL);
    write_in_place(path, same_size);
  }
  after = copy_text(t, path);
  g_assert_nonnull(strstr(after, "<name>u</name>"));
  again = copy_text(t, path); /* kept anew */
  g_assert_cmpstr(again, ==, after);
  g_assert_cmpuint(wv_templates_size(t), ==, 1);

  /* replaced by a rename, as editors do */
  other = write_file(dir, "b.xml", good);
  g_assert_cmpint(g_rename(other, path), ==, 0);
  replaced = copy_text(t, path);
  g_assert_nonnull(strstr(replaced, "<name>t</name>"));
  wv_test_remove_tree(dir);
}

/* Broken or foreign templates: a typed error each time, nothing kept; once
 * mended, used. */
static void
test_broken(void)
{
  g_autofree char *dir = g_dir_make_tmp("wv-template-XXXXXX", NULL);
  g_autofree char *path = write_file(dir, "a.xml", "<domain><name>t</nam>");
  g_autofree char *foreign = write_file(dir, "b.xml", "<network/>");
  g_autofree char *missing = g_build_filename(dir, "none.xml", NULL);
  g_autoptr(WvTemplates) t = wv_templates_new(NULL, 0);

  for (guint round = 0; round < 2; round++) {
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;

    g_assert_null(wv_templates_copy(t, path, &e1));
    g_assert_error(e1, WV_ERROR, WV_ERROR_INVALID_PROFILE);
    g_assert_nonnull(strstr(e1->message, path));
    g_assert_null(wv_templates_copy(t, foreign, &e2));
    g_assert_error(e2, WV_ERROR, WV_ERROR_INVALID_PROFILE);
    g_assert_nonnull(strstr(e2->message, "not <domain>"));
    g_assert_null(wv_templates_copy(t, missing, &e3));
    g_assert_error(e3, WV_ERROR, WV_ERROR_INVALID_PROFILE);
    g_assert_cmpuint(wv_templates_size(t), ==, 0);
  }
  {
    g_autofree char *unused = write_file(dir, "a.xml", good);
    g_autofree char *text = copy_text(t, path);

    g_assert_nonnull(strstr(text, "<domain type=\"kvm\">"));
  }
  wv_test_remove_tree(dir);
}

typedef struct
{
  WvTemplates *templates;
  const char *path;
  gint failures;
} Shared;

static gpointer
copier(gpointer data)
{
  Shared *s = data;

  for (guint i = 0; i < 300; i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = wv_templates_copy(s->templates, s->path, &error);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;

    /* a half-written file may not parse: that is an error, never a crash */
    if (root == NULL || !wv_xml_is_element(root, "domain")) {
      if (error == NULL)
        g_atomic_int_inc(&s->failures);
      continue;
    }
    xmlSetProp(root, BAD_CAST "type", BAD_CAST "qemu"); /* a private copy */
  }
  return NULL;
}

/* Copies from four threads while a fifth keeps rewriting the file (run
 * under ASan and valgrind by the test suite). */
static void
test_threads(void)
{
  g_autofree char *dir = g_dir_make_tmp("wv-template-XXXXXX", NULL);
  g_autofree char *path = write_file(dir, "a.xml", good);
  g_autoptr(WvTemplates) t = wv_templates_new(NULL, 0);
  Shared s = {.templates = t, .path = path};
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
    threads[i] = g_thread_new("copier", copier, &s);
  for (guint i = 0; i < 50; i++) {
    g_autofree char *text = g_strdup_printf("%s<!-- %u -->\n", good, i);
    g_autofree char *tmp = write_file(dir, "tmp.xml", text);

    g_assert_cmpint(g_rename(tmp, path), ==, 0);
    g_usleep(500);
  }
  for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
    g_thread_join(threads[i]);
  g_assert_cmpint(s.failures, ==, 0);
  g_assert_cmpuint(wv_templates_size(t), ==, 1);
  wv_test_remove_tree(dir);
}

static gboolean
size_is(WvTemplates *t, guint n)
{
  return wv_templates_size(t) == n;
}

/* A tree unused for the TTL goes, one in use stays; forgetting cancels the
 * timer (ASan and valgrind see that nothing is left). */
static void
test_expiry(void)
{
  g_autofree char *dir = g_dir_make_tmp("wv-template-XXXXXX", NULL);
  g_autofree char *a = write_file(dir, "a.xml", good);
  g_autofree char *b = write_file(dir, "b.xml", good);
  g_autoptr(GMainContext) context = g_main_context_new();
  g_autoptr(WvTemplates) t = wv_templates_new(context, 200);
  gint64 deadline;

  for (guint i = 0; i < 2; i++) {
    g_free(copy_text(t, a));
    g_free(copy_text(t, b));
  }
  g_assert_cmpuint(wv_templates_size(t), ==, 2);
  /* @a used every 50 ms for 600 ms: it stays, @b goes */
  for (guint i = 0; i < 12; i++) {
    deadline = g_get_monotonic_time() + 50 * 1000;
    while (g_get_monotonic_time() < deadline)
      g_main_context_iteration(context, FALSE);
    g_free(copy_text(t, a));
  }
  g_assert_cmpuint(wv_templates_size(t), ==, 1);
  deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (!size_is(t, 0) && g_get_monotonic_time() < deadline)
    g_main_context_iteration(context, TRUE);
  g_assert_cmpuint(wv_templates_size(t), ==, 0);
  /* a pending timer when forgotten */
  g_free(copy_text(t, a));
  g_free(copy_text(t, a));
  g_assert_cmpuint(wv_templates_size(t), ==, 1);
  wv_templates_forget(t);
  g_assert_cmpuint(wv_templates_size(t), ==, 0);
  wv_test_remove_tree(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/template/copy", test_copy);
  g_test_add_func("/template/changed", test_changed);
  g_test_add_func("/template/broken", test_broken);
  g_test_add_func("/template/threads", test_threads);
  g_test_add_func("/template/expiry", test_expiry);
  return g_test_run();
}
