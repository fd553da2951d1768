/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Growing a hugepage pool for one VM and giving the pages back when it stops.
 * Each reservation is recorded in the runtime directory, so a restarted
 * daemon neither reserves twice nor forgets to release. These calls block
 * (the kernel may compact memory): run them off the main thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *vm;
  guint64 page_kib;
  gint node;      /* -1: the global pool */
  char *nr_path;  /* the nr_hugepages file that was grown */
  guint64 before; /* nr_hugepages before growing */
  guint64 added;  /* pages this VM added */
} WvReservation;

/* Grows the pool whose nr_hugepages file is @nr_path by @count pages for
 * @vm: writes before + count and reads it back. When the kernel found fewer
 * pages, writes @before back and fails with WV_ERROR_FAILED naming how many
 * it got. On success the reservation is recorded in @runtime_dir/@vm.hugepages
 * (keyfile) before returning. If a record for @vm already exists it is
 * returned as it is and nothing is grown. @count 0 records nothing and
 * returns a reservation with added = 0. */
WvReservation *wv_hugepages_reserve(const char *runtime_dir, const char *vm, const char *nr_path,
                                    guint64 page_kib, gint node, guint64 count, GError **error);

/* Gives @vm's recorded pages back: nr_hugepages = current - added (never
 * below 0), then removes the record. No record: nothing to do, TRUE. */
gboolean wv_hugepages_release(const char *runtime_dir, const char *vm, GError **error);

/* The recorded reservation of @vm, or NULL. */
WvReservation *wv_hugepages_lookup(const char *runtime_dir, const char *vm);

void wv_reservation_free(WvReservation *r);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvReservation, wv_reservation_free)

G_END_DECLS
