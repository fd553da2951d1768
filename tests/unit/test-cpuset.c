/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wv-common.h"
#include "wv-cpuset.h"

static void
test_parse_format(void)
{
  static const struct
  {
    const char *in, *out;
    guint n;
  } cases[] = {
      {"0", "0", 1},         {"0-3", "0-3", 4},         {"0-3,8", "0-3,8", 5},
      {"8,0-3", "0-3,8", 5}, {" 2,4-5,3 \n", "2-5", 4}, {"0-3,8-11", "0-3,8-11", 8},
      {"7-7", "7", 1},       {"8191", "8191", 1},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(WvCpuset) set = wv_cpuset_parse(cases[i].in, &error);
    g_autofree char *s = NULL;

    g_assert_no_error(error);
    s = wv_cpuset_format(set);
    g_assert_cmpstr(s, ==, cases[i].out);
    g_assert_cmpuint(set->n, ==, cases[i].n);
  }
}

static void
test_parse_errors(void)
{
  static const char *const bad[] = {
      "",           " ",     ",",   "0,",  ",0",   "0-",   "-1",
      "3-1",        "a",     "0-a", "1 2", "0,,1", "8192", "0-99999",
      "1,1",        "0-3,2", "0x1", "1;2", "1\n2", "１",   "99999999999999999999",
      "0-3,8-11,9", "0--3",  "+1",
  };

  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(WvCpuset) set = wv_cpuset_parse(bad[i], &error);

    if (set != NULL)
      g_error("“%s” parsed", bad[i]);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
  }
  g_assert_null(wv_cpuset_parse(NULL, NULL));

  /* found by fuzzing: the message must stay valid UTF-8 (it goes over D-Bus) */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(WvCpuset) set = wv_cpuset_parse("1\xd0\xb9", &error);
    g_assert_null(set);
    g_assert_true(g_utf8_validate(error->message, -1, NULL));
    g_assert_nonnull(strstr(error->message, "unexpected “\xd0\xb9” at offset 1"));
  }
}

static void
test_list_order(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) list = wv_cpu_list_parse("4,5,0-1,12", &error);
  const guint expected[] = {4, 5, 0, 1, 12};

  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, G_N_ELEMENTS(expected));
  for (guint i = 0; i < list->len; i++)
    g_assert_cmpuint(g_array_index(list, guint, i), ==, expected[i]);
}

static void
test_set_operations(void)
{
  g_autoptr(WvCpuset) a = wv_cpuset_parse("0-3", NULL);
  g_autoptr(WvCpuset) b = wv_cpuset_parse("2,3", NULL);
  g_autoptr(WvCpuset) c = wv_cpuset_parse("8-9", NULL);
  g_autoptr(WvCpuset) u = wv_cpuset_union(a, c);
  g_autoptr(WvCpuset) copy = wv_cpuset_copy(a);
  g_autofree char *us = wv_cpuset_format(u);
  const guint dup[] = {5, 1, 5, 3, 1};
  g_autoptr(WvCpuset) d = wv_cpuset_new(dup, G_N_ELEMENTS(dup));
  g_autofree char *ds = wv_cpuset_format(d);
  g_autoptr(WvCpuset) empty = wv_cpuset_new(NULL, 0);
  g_autofree char *es = wv_cpuset_format(empty);

  g_assert_true(wv_cpuset_contains(a, 0));
  g_assert_true(wv_cpuset_contains(a, 3));
  g_assert_false(wv_cpuset_contains(a, 4));
  g_assert_true(wv_cpuset_is_subset(b, a));
  g_assert_false(wv_cpuset_is_subset(a, b));
  g_assert_true(wv_cpuset_intersects(a, b));
  g_assert_false(wv_cpuset_intersects(a, c));
  g_assert_true(wv_cpuset_equal(a, copy));
  g_assert_false(wv_cpuset_equal(a, b));
  g_assert_cmpstr(us, ==, "0-3,8-9");
  g_assert_cmpstr(ds, ==, "1,3,5");
  g_assert_cmpstr(es, ==, "");
  g_assert_true(wv_cpuset_is_subset(empty, a));
}

static void
test_names(void)
{
  g_assert_true(wv_name_is_valid("win11"));
  g_assert_true(wv_name_is_valid("Gaming_VM-2.0"));
  g_assert_true(wv_name_is_valid("a"));
  g_assert_false(wv_name_is_valid(""));
  g_assert_false(wv_name_is_valid(NULL));
  g_assert_false(wv_name_is_valid(".."));
  g_assert_false(wv_name_is_valid("../etc"));
  g_assert_false(wv_name_is_valid(".hidden"));
  g_assert_false(wv_name_is_valid("-rf"));
  g_assert_false(wv_name_is_valid("a b"));
  g_assert_false(wv_name_is_valid("a/b"));
  g_assert_false(wv_name_is_valid("win\"11"));
  g_assert_false(wv_name_is_valid("<x>"));
  g_assert_true(
      wv_name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  g_assert_false(
      wv_name_is_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void
test_error_names(void)
{
  g_autoptr(GError) error = g_error_new_literal(WV_ERROR, WV_ERROR_PREFLIGHT_FAILED, "x");
  g_autofree char *name = g_dbus_error_encode_gerror(error);

  g_assert_cmpstr(name, ==, "org.winvm1.Error.PreflightFailed");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/cpuset/parse-format", test_parse_format);
  g_test_add_func("/cpuset/parse-errors", test_parse_errors);
  g_test_add_func("/cpuset/list-order", test_list_order);
  g_test_add_func("/cpuset/set-operations", test_set_operations);
  g_test_add_func("/common/names", test_names);
  g_test_add_func("/common/error-names", test_error_names);
  return g_test_run();
}
