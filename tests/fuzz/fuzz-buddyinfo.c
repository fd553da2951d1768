/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /proc/buddyinfo as the plan reads it: wv_buddyinfo_parse() gives zones or
 * an error naming the line, never both; the page counts of what it gives
 * never wrap, whatever the node, page size or base page size asked.
 */
#include "wv-hugepages.h"
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
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) zones = wv_buddyinfo_parse(text, &error);
  static const guint64 pages[] = {4, 2048, 1048576, G_MAXUINT64};
  static const guint64 bases[] = {4, 64, G_MAXUINT64 / 3};

  wv_fuzz_assert((zones == NULL) == (error != NULL));
  if (error) {
    wv_fuzz_assert(g_str_has_prefix(error->message, "buddyinfo line "));
    wv_fuzz_assert(g_utf8_validate(error->message, -1, NULL));
    return 0;
  }
  for (guint i = 0; i < zones->len; i++) {
    const WvBuddyZone *z = &g_array_index(zones, WvBuddyZone, i);

    wv_fuzz_assert(z->node >= 0 && z->n_orders >= 1 && z->n_orders <= WV_BUDDY_MAX_ORDERS);
    wv_fuzz_assert(z->n_orders == g_array_index(zones, WvBuddyZone, 0).n_orders);
  }
  for (gint node = -1; node < 2; node++)
    for (guint p = 0; p < G_N_ELEMENTS(pages); p++)
      for (guint b = 0; b < G_N_ELEMENTS(bases); b++) {
        guint64 n = wv_buddyinfo_pages(zones, node, pages[p], bases[b]);
        /* a subset of nodes never holds more than all of them */
        wv_fuzz_assert(node < 0 || n <= wv_buddyinfo_pages(zones, -1, pages[p], bases[b]));
      }
  return 0;
}
