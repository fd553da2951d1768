/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wv-common.h"

static const GDBusErrorEntry wv_error_entries[] = {
    {WV_ERROR_FAILED, WV_ERROR_PREFIX ".Failed"},
    {WV_ERROR_NOT_FOUND, WV_ERROR_PREFIX ".NotFound"},
    {WV_ERROR_INVALID_ARGS, WV_ERROR_PREFIX ".InvalidArgs"},
    {WV_ERROR_INVALID_PROFILE, WV_ERROR_PREFIX ".InvalidProfile"},
    {WV_ERROR_PREFLIGHT_FAILED, WV_ERROR_PREFIX ".PreflightFailed"},
    {WV_ERROR_LIBVIRT_UNAVAILABLE, WV_ERROR_PREFIX ".LibvirtUnavailable"},
    {WV_ERROR_BUSY, WV_ERROR_PREFIX ".Busy"},
    {WV_ERROR_TIMEOUT, WV_ERROR_PREFIX ".Timeout"},
    {WV_ERROR_ACCESS_DENIED, WV_ERROR_PREFIX ".AccessDenied"},
    {WV_ERROR_CANCELLED, WV_ERROR_PREFIX ".Cancelled"},
    {WV_ERROR_LIMITS_EXCEEDED, WV_ERROR_PREFIX ".LimitsExceeded"},
    {WV_ERROR_CONFLICT, WV_ERROR_PREFIX ".Conflict"},
    {WV_ERROR_EXISTS, WV_ERROR_PREFIX ".Exists"},
    {WV_ERROR_HUGEPAGES_SHORT, WV_ERROR_PREFIX ".HugepagesShort"},
};

GQuark
wv_error_quark(void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain("wv-error-quark", &quark, wv_error_entries,
                                     G_N_ELEMENTS(wv_error_entries));
  return (GQuark)quark;
}

gboolean
wv_name_is_valid(const char *name)
{
  gsize len = 0;

  if (name == NULL || name[0] == '\0' || name[0] == '.' || name[0] == '-')
    return FALSE;
  for (const char *p = name; *p; p++, len++) {
    if (len >= WV_NAME_MAX)
      return FALSE;
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '.' && *p != '-')
      return FALSE;
  }
  return TRUE;
}
