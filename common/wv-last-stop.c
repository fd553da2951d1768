/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-last-stop.h"

char *
wv_last_stop_describe(const char *how, guint presses, double seconds)
{
  if (g_str_equal(how, "agent"))
    return g_strdup_printf("shut down through the guest agent in %.1f s", seconds);
  if (g_str_equal(how, "acpi"))
    return g_strdup_printf("shut down on ACPI after %u press%s in %.1f s", presses,
                           presses == 1 ? "" : "es", seconds);
  if (g_str_equal(how, "off"))
    return g_strdup_printf("went off in %.1f s", seconds);
  if (g_str_equal(how, "saved"))
    return g_strdup_printf("saved (managed save) after %.1f s", seconds);
  if (g_str_equal(how, "destroyed"))
    return g_strdup_printf("forced off after %.1f s", seconds);
  if (g_str_equal(how, "overtaken"))
    return g_strdup_printf("forced off by ForceOff after %.1f s", seconds);
  if (g_str_equal(how, "failed"))
    return g_strdup_printf("failed after %.1f s", seconds);
  return g_strdup(how); /* "" or a newer daemon's word */
}
