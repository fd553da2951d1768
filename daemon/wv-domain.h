/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A typed view of one libvirt domain: its state as winvm names it, what its
 * definition says (vCPUs, memory, pins, pages, devices), and the few calls
 * that act on it. Everything here blocks: call it from a worker thread.
 */
#pragma once

#include <gio/gio.h>

#include "wv-cpuset.h"
#include "wv-libvirt.h"
#include "wv-plan.h"
#include "wv-profile.h"
#include "wv-tuning.h"

G_BEGIN_DECLS

/* A VM's state inside the daemon; a string only at the D-Bus edge. */
typedef enum
{
  WV_VM_STATE_UNKNOWN = 0, /* libvirt is away; also "no state" where one is optional */
  WV_VM_STATE_UNDEFINED,
  WV_VM_STATE_SHUT_OFF,
  WV_VM_STATE_STARTING, /* winvm's own: a Start is under way */
  WV_VM_STATE_RUNNING,
  WV_VM_STATE_PAUSED,
  WV_VM_STATE_SHUTTING_DOWN,
  WV_VM_STATE_SAVED,
  WV_VM_STATE_CRASHED,
  WV_VM_STATE_SUSPENDED,
} WvVmState;

/* "running", "shut-off"... as the State property says it. */
const char *wv_vm_state_name(WvVmState state);
/* Running, paused or shutting down: the domain is active. */
gboolean wv_vm_state_is_active(WvVmState state);

typedef struct
{
  gboolean exists;  /* winvm's domain of that name exists */
  gboolean foreign; /* a domain of that name exists that winvm did not define */
  char *uuid;
  WvVmState state;
  guint vcpus;
  guint64 memory_kib;
  GVariant *vcpu_pins;     /* a(us) */
  GVariant *iothread_pins; /* a(us) */
  char *emulator_pin;
  const char *hugepages; /* wv_page_size_name() */
  GStrv hostdevs;
  gboolean agent_connected; /* libvirt says the guest agent's channel is connected */
} WvDomainInfo;

/* What libvirt says about the domain @name (state "undefined" when there is
 * none); NULL and LibvirtUnavailable when libvirt cannot tell. */
WvDomainInfo *wv_domain_info_read(virConnectPtr conn, const char *name, GError **error);
void wv_domain_info_clear(WvDomainInfo *info);
void wv_domain_info_free(WvDomainInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvDomainInfo, wv_domain_info_free)

/* The domain @name; NULL and an error saying it is not running when it
 * was never defined. */
virDomainPtr wv_domain_lookup(virConnectPtr conn, const char *name, GError **error);
/* FALSE and libvirt's last error, prefixed by @what, when @rc < 0. */
gboolean wv_domain_check(int rc, const char *what, GError **error);
/* Pins @target (@index) of the running @dom to @set, live and in the
 * definition. */
gboolean wv_domain_pin(virDomainPtr dom, WvTuneTarget target, guint index, const WvCpuset *set,
                       GError **error);
typedef enum
{
  WV_VM_FORCE_OFF,
  WV_VM_REBOOT,
  WV_VM_SUSPEND,
  WV_VM_RESUME,
} WvVmAction;

/* Does @action to the domain @name. @acted says whether anything was done:
 * forcing off a domain that is off or was never defined does nothing and
 * succeeds; the others fail when there is no domain. */
gboolean wv_domain_act(virConnectPtr conn, const char *name, WvVmAction action, gboolean *acted,
                       GError **error);
/* The domain XML to start @name with: @plan rendered, keeping the UUID and
 * NVRAM of an existing definition. Fails when the domain is running. */
char *wv_domain_render(virConnectPtr conn, const char *name, const WvProfile *profile,
                       const WvPlan *plan, GError **error);
/* Defines the domain from @xml and starts it. */
gboolean wv_domain_define_and_start(virConnectPtr conn, const char *xml, GError **error);
/* Stops the active @dom by @policy: ACPI (@stopped tells whether it is off
 * already), managed save or destroy. */
gboolean wv_domain_shutdown(virDomainPtr dom, WvHostShutdownPolicy policy, gboolean *stopped,
                            GError **error);
/* Asks the guest agent of the active @dom to power the guest off. libvirt
 * returns when the guest is off, or fails at once when no agent is
 * connected; a connected agent that does nothing holds it up to 60 s. */
gboolean wv_domain_shutdown_agent(virDomainPtr dom, GError **error);

G_END_DECLS
