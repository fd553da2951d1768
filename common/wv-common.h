/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Names shared by winvmd, winvmctl and the tests: the D-Bus contract and the
 * registered error domain.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define WV_BUS_NAME          "org.winvm1"
#define WV_MANAGER_PATH      "/org/winvm1"
#define WV_VM_PATH_PREFIX    "/org/winvm1/vm"
#define WV_MANAGER_INTERFACE "org.winvm1.Manager"
#define WV_VM_INTERFACE      "org.winvm1.VM"
#define WV_ERROR_PREFIX      "org.winvm1.Error"
/* The <metadata> element that marks a libvirt domain as winvm's own:
 * <winvm:vm xmlns:winvm="urn:x-winvm:domain:1" profile="NAME"/>. */
#define WV_DOMAIN_NS        "urn:x-winvm:domain:1"
#define WV_DOMAIN_NS_PREFIX "winvm"
/* the virtio-serial channel of the QEMU guest agent */
#define WV_GUEST_AGENT_CHANNEL "org.qemu.guest_agent.0"

/* Profile names are used for file names, object paths and libvirt domain
 * names; this is the one rule for all three. */
#define WV_NAME_MAX 64
gboolean wv_name_is_valid(const char *name);

/**
 * WvError:
 * Every error winvm reports, over D-Bus as org.winvm1.Error.<Name>.
 * Keep in sync with the table in wv-error.c and dbus/ documentation.
 */
typedef enum
{
  WV_ERROR_FAILED,
  WV_ERROR_NOT_FOUND,
  WV_ERROR_INVALID_ARGS,
  WV_ERROR_INVALID_PROFILE,
  WV_ERROR_PREFLIGHT_FAILED,
  WV_ERROR_LIBVIRT_UNAVAILABLE,
  WV_ERROR_BUSY,
  WV_ERROR_TIMEOUT,
  WV_ERROR_ACCESS_DENIED,
  WV_ERROR_CANCELLED,       /* overtaken by another call (a ForceOff over a Shutdown) */
  WV_ERROR_LIMITS_EXCEEDED, /* the caller has too many calls in flight (winvmd(8), LIMITS) */
  WV_ERROR_CONFLICT,        /* the profile changed since the caller read it (its etag) */
  WV_ERROR_EXISTS,          /* a VM or profile of that name exists already */
  WV_ERROR_HUGEPAGES_SHORT, /* the hugepage pool could not grow enough, even after compaction */
} WvError;

#define WV_ERROR (wv_error_quark())
GQuark wv_error_quark(void);

G_END_DECLS
