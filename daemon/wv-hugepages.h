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
  /* FALSE: only the intent was recorded (written before the pool grows);
   * a crash before the growth was confirmed leaves it so */
  gboolean complete;
} WvReservation;

/* Grows the pool whose nr_hugepages file is @nr_path by @count pages for
 * @vm: writes before + count and reads it back. When the kernel found fewer
 * pages, writes @before back and fails with WV_ERROR_FAILED naming how many
 * it got. The reservation is recorded in @runtime_dir/@vm.hugepages (keyfile)
 * as an intent before the pool grows and completed after, so a crash at
 * any point leaves a record that says what to undo. If a complete record
 * for @vm already exists it is returned as it is and nothing is grown; an
 * incomplete one (a crash) is undone first. @count 0 records nothing and
 * returns a reservation with added = 0. */
WvReservation *wv_hugepages_reserve(const char *runtime_dir, const char *vm, const char *nr_path,
                                    guint64 page_kib, gint node, guint64 count, GError **error);

/* Gives @vm's recorded pages back: nr_hugepages = current - added (never
 * below 0), then removes the record. An incomplete record (the daemon died
 * while growing the pool) gives back only what the pool shows was added:
 * current - added when it grew all the way, else back to at most before.
 * No record: nothing to do, TRUE. */
gboolean wv_hugepages_release(const char *runtime_dir, const char *vm, GError **error);

/* The recorded reservation of @vm, or NULL. */
WvReservation *wv_hugepages_lookup(const char *runtime_dir, const char *vm);

void wv_reservation_free(WvReservation *r);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvReservation, wv_reservation_free)

G_END_DECLS
