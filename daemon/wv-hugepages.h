/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Growing a hugepage pool for one VM and giving the pages back when it stops.
 * Each reservation is recorded in the runtime directory, so a restarted
 * daemon neither reserves twice nor forgets to release. These calls block
 * (the kernel may compact memory): run them off the main thread.
 *
 * Also what /proc/buddyinfo says about how many pages of a size the kernel
 * can still find without moving memory, for check's prediction.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What a reservation is doing, for a progress report (the StartStep
 * property). */
typedef enum
{
  WV_HUGEPAGES_STEP_NONE,
  WV_HUGEPAGES_STEP_RESERVING,  /* growing the pool */
  WV_HUGEPAGES_STEP_COMPACTING, /* the pool fell short: compacting memory, then again */
} WvHugepagesStep;

/* "", "reserving-hugepages" or "compacting". */
const char *wv_hugepages_step_name(WvHugepagesStep step);

typedef void (*WvHugepagesProgress)(WvHugepagesStep step, gpointer data);

/* How a reservation may try harder. All optional (zeroed: no compaction, no
 * progress report). */
typedef struct
{
  /* /proc/sys/vm/compact_memory (under the proc root): when the pool falls
   * short, "1" is written there and the pool is asked again. NULL: never. */
  const char *compact_path;
  WvHugepagesProgress progress; /* called in the reserving thread */
  gpointer progress_data;
} WvHugepagesHow;

typedef struct
{
  char *vm;
  guint64 page_kib;
  gint node;      /* -1: the global pool */
  char *nr_path;  /* the nr_hugepages file that was grown */
  guint64 before; /* nr_hugepages before growing */
  guint64 added;  /* pages this VM added */
  /* FALSE: only the intent was recorded (written before the pool grows);
   * a crash before the growth was confirmed leaves it so */
  gboolean complete;
} WvReservation;

/* Grows the pool whose nr_hugepages file is @nr_path by @count pages for
 * @vm: writes before + count and reads it back. When the kernel found fewer
 * pages and @how has a compact_path, puts the pool back, compacts memory
 * (without holding the pools' lock: other reservations and releases go on)
 * and tries once more from what the pool holds then. When it still found
 * fewer, writes before back and fails with WV_ERROR_HUGEPAGES_SHORT naming
 * how many it got of how many (on the try after compaction, when it ran).
 * @how may be NULL.
 *
 * Test seam: a pool whose nr_hugepages file is not under /sys and has a
 * file "nr_hugepages.limit" beside it (a number) behaves like a kernel that
 * finds at most that many pages: a larger value written is cut to it, as
 * the kernel cuts it. Real sysfs has no such file. The reservation is recorded in
 * @runtime_dir/@vm.hugepages (keyfile) as an intent before the pool grows and completed after, so a
 * crash at any point leaves a record that says what to undo. If a complete record for @vm already
 * exists it is returned as it is and nothing is grown; an incomplete one (a crash) is undone first.
 * @count 0 records nothing and returns a reservation with added = 0. */
WvReservation *wv_hugepages_reserve(const char *runtime_dir, const char *vm, const char *nr_path,
                                    guint64 page_kib, gint node, guint64 count,
                                    const WvHugepagesHow *how, GError **error);

/* Gives @vm's recorded pages back: nr_hugepages = current - added (never
 * below 0), then removes the record. An incomplete record (the daemon died
 * while growing the pool) gives back only what the pool shows was added:
 * current - added when it grew all the way, else back to at most before.
 * No record: nothing to do, TRUE. */
gboolean wv_hugepages_release(const char *runtime_dir, const char *vm, GError **error);

/* The recorded reservation of @vm, or NULL. */
WvReservation *wv_hugepages_lookup(const char *runtime_dir, const char *vm);

void wv_reservation_free(WvReservation *r);

/* ---- /proc/buddyinfo ---------------------------------------------------- */

#define WV_BUDDY_MAX_ORDERS 32

/* One line of /proc/buddyinfo: the free blocks of each order (2^order base
 * pages) in one zone of one node. */
typedef struct
{
  gint node;
  char zone[16];
  guint n_orders;
  guint64 free[WV_BUDDY_MAX_ORDERS];
} WvBuddyZone;

/* The zones of a /proc/buddyinfo text (WvBuddyZone). Every line must read
 * "Node N, zone NAME c0 c1 ..." with the same number of counts (1 to
 * WV_BUDDY_MAX_ORDERS); anything else fails with WV_ERROR_FAILED naming
 * the line. An empty text is no zones. */
GArray *wv_buddyinfo_parse(const char *text, GError **error);

/* How many @page_kib pages the free blocks of @zones on @node (-1: every
 * node) hold, base pages of @base_kib: whole blocks of at least that size
 * count as many pages as they hold. A page larger than the largest block (1G
 * pages, when the largest is 4 MiB) counts the largest blocks' memory in
 * whole pages: an upper bound, as buddyinfo cannot say whether the blocks
 * lie side by side. */
guint64 wv_buddyinfo_pages(const GArray *zones, gint node, guint64 page_kib, guint64 base_kib);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvReservation, wv_reservation_free)

G_END_DECLS
