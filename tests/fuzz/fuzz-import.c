/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Hostile domain XML -> wv_import_domain_xml(): a profile the parser
 * accepts and notes that are one line each, or a clean GError; never a
 * crash, a leak or a profile that does not parse.
 */
#include "wv-common.h"
#include "wv-fuzz.h"
#include "wv-import.h"
#include "wv-profile.h"

#include <string.h>

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  wv_fuzz_init_logging();
  return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autofree char *xml = g_strndup((const char *)data, size);
  g_autoptr(GPtrArray) not_carried = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *profile = wv_import_domain_xml(xml, NULL, &not_carried, &error);
  g_autoptr(WvProfile) p = NULL;

  if (profile == NULL) {
    wv_fuzz_assert(error != NULL && g_utf8_validate(error->message, -1, NULL));
    return 0;
  }
  wv_fuzz_assert(error == NULL);
  p = wv_profile_parse(profile, strlen(profile), "fuzz.conf", NULL);
  wv_fuzz_assert(p != NULL);
  for (guint i = 0; i < not_carried->len; i++) {
    const char *note = not_carried->pdata[i];
    wv_fuzz_assert(g_utf8_validate(note, -1, NULL) && strchr(note, '\n') == NULL);
  }
  return 0;
}
