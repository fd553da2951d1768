/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The profile parser: any bytes give a WvProfile or one clean GError
 * (WV_ERROR_INVALID_PROFILE, a UTF-8 message that can go over D-Bus).
 */
#include "wv-common.h"
#include "wv-fuzz.h"
#include "wv-profile.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  wv_fuzz_init_logging();
  return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) p = wv_profile_parse((const char *)data, size, "fuzz.conf", &error);

  if (p == NULL) {
    wv_fuzz_assert(g_error_matches(error, WV_ERROR, WV_ERROR_INVALID_PROFILE));
    wv_fuzz_assert(g_utf8_validate(error->message, -1, NULL));
    return 0;
  }
  wv_fuzz_assert(error == NULL);
  wv_fuzz_assert(p->name != NULL && p->template_name != NULL && p->vcpus > 0);
  wv_profile_line(p, "vm", "name");
  return 0;
}
