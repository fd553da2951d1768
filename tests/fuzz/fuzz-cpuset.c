/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The kernel CPU-list syntax: wv_cpuset_parse() and wv_cpu_list_parse() agree,
 * a set is sorted and unique, and formatting a set parses back to itself.
 */
#include "wv-cpuset.h"
#include "wv-common.h"
#include "wv-fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  wv_fuzz_init_logging();
  return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup((const char *)data, size);
  g_autoptr(GError) set_error = NULL, list_error = NULL;
  g_autoptr(WvCpuset) set = wv_cpuset_parse(text, &set_error);
  g_autoptr(GArray) list = wv_cpu_list_parse(text, &list_error);

  wv_fuzz_assert((set == NULL) == (set_error != NULL));
  wv_fuzz_assert((list == NULL) == (list_error != NULL));
  wv_fuzz_assert((set == NULL) == (list == NULL));
  if (set_error)
    wv_fuzz_assert(g_utf8_validate(set_error->message, -1, NULL));
  if (set == NULL)
    return 0;

  wv_fuzz_assert(set->n == list->len && set->n > 0);
  for (guint i = 0; i < set->n; i++) {
    wv_fuzz_assert(set->cpus[i] <= WV_CPU_MAX);
    wv_fuzz_assert(i == 0 || set->cpus[i - 1] < set->cpus[i]);
    wv_fuzz_assert(wv_cpuset_contains(set, g_array_index(list, guint, i)));
  }
  {
    g_autofree char *formatted = wv_cpuset_format(set);
    g_autoptr(WvCpuset) again = wv_cpuset_parse(formatted, NULL);

    wv_fuzz_assert(again && wv_cpuset_equal(set, again));
  }
  return 0;
}
