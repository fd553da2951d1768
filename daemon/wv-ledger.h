/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The ledger of what winvmd changed on the host for its running VMs (CPU
 * isolation of systemd's units, CPU governors, IRQ affinities, the
 * workqueue mask), kept in one keyfile in the runtime directory so a
 * restarted daemon knows what to keep and what to put back.
 *
 * Each change is recorded before it is made (an intent, with the value
 * the host had before, byte for byte), marked applied once made, and
 * marked restoring before the previous value is written back; it is
 * forgotten only once it was. Each also says which running VMs need it.
 * Alongside, each VM's needs (its CPUs and what it asked for) are kept,
 * so the wanted state can be worked out again after a crash.
 *
 * Not thread-safe: its owner (wv-isolate.c) serialises every use.
 */
#pragma once

#include <glib.h>

#include "wv-cpuset.h"

G_BEGIN_DECLS

typedef enum
{
  WV_LEDGER_INTENT,    /* recorded, maybe not made: the value is unknown */
  WV_LEDGER_APPLIED,   /* made: the host holds value */
  WV_LEDGER_RESTORING, /* previous is being put back: the value is unknown */
} WvLedgerState;

const char *wv_ledger_state_name(WvLedgerState state);

typedef struct
{
  char *key;        /* "unit:system.slice", "file:/proc/irq/24/smp_affinity_list" */
  GBytes *previous; /* what the host had before winvmd changed it */
  GBytes *value;    /* what winvmd sets */
  WvLedgerState state;
  char **vms; /* the running VMs that need it, sorted, NULL-terminated */
} WvLedgerChange;

/* What one running VM asked of the host. */
typedef struct
{
  char *vm;
  WvCpuset *cpus;    /* the host CPUs its vCPUs run on */
  gboolean isolate;  /* keep systemd's units off them */
  gboolean governor; /* performance governor on them */
  gboolean irq;      /* steer IRQs and kernel work off them */
} WvLedgerVm;

typedef struct _WvLedger WvLedger;

/* The ledger in @runtime_dir (empty when there is none yet; @runtime_dir
 * NULL: one in memory that cannot be saved). A ledger that cannot be read
 * or makes no sense is an error: nothing would be known to undo. */
WvLedger *wv_ledger_load(const char *runtime_dir, GError **error);
void wv_ledger_free(WvLedger *ledger);
/* Writes it (through a temporary file renamed over the ledger, synced);
 * an empty ledger removes the file. */
gboolean wv_ledger_save(WvLedger *ledger, GError **error);
const char *wv_ledger_path(WvLedger *ledger);

/* Changes, in the order they were first recorded (borrowed). */
GPtrArray *wv_ledger_changes(WvLedger *ledger);
WvLedgerChange *wv_ledger_lookup(WvLedger *ledger, const char *key);
/* Records (or replaces) the change at @key; @vms: NULL-terminated. */
WvLedgerChange *wv_ledger_record(WvLedger *ledger, const char *key, GBytes *previous, GBytes *value,
                                 WvLedgerState state, const char *const *vms);
void wv_ledger_forget(WvLedger *ledger, const char *key);

/* VMs' needs, sorted by name (borrowed). */
GPtrArray *wv_ledger_vms(WvLedger *ledger);
WvLedgerVm *wv_ledger_vm(WvLedger *ledger, const char *vm);
void wv_ledger_set_vm(WvLedger *ledger, const WvLedgerVm *need);
/* FALSE when @vm had no needs recorded. */
gboolean wv_ledger_forget_vm(WvLedger *ledger, const char *vm);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvLedger, wv_ledger_free)

G_END_DECLS
