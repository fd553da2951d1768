/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-hugepages.h"
#include "wv-common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define RECORD_GROUP  "reservation"
#define RECORD_SUFFIX ".hugepages"

/* Growing a pool is read-modify-write of one sysfs file: two reservations
 * racing on the same pool would lose one of the increments. The pools are
 * host-wide, so is the lock. */
static GMutex pools_lock;

void
wv_reservation_free(WvReservation *r)
{
  if (r == NULL)
    return;
  g_free(r->vm);
  g_free(r->nr_path);
  g_free(r);
}

/* ---- nr_hugepages ------------------------------------------------------- */

static gboolean
parse_u64(const char *text, guint64 *out)
{
  return g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, out, NULL);
}

static gboolean
read_pool(const char *path, guint64 *out, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) local = NULL;

  if (!g_file_get_contents(path, &text, NULL, &local)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not read hugepage pool %s: %s", path,
                local->message);
    return FALSE;
  }
  g_strchomp(text);
  if (!parse_u64(text, out)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "Hugepage pool %s does not hold a page count: \"%s\"", path, text);
    return FALSE;
  }
  return TRUE;
}

/* The test seam (wv-hugepages.h): the most pages a fake pool's "kernel"
 * finds, G_MAXUINT64 for a real pool or a fake one without a limit. */
static guint64
fake_limit(const char *path)
{
  g_autofree char *limit_path = NULL;
  g_autofree char *text = NULL;
  guint64 limit;

  if (g_str_has_prefix(path, "/sys/"))
    return G_MAXUINT64;
  limit_path = g_strconcat(path, ".limit", NULL);
  if (!g_file_get_contents(limit_path, &text, NULL, NULL))
    return G_MAXUINT64;
  g_strstrip(text);
  return parse_u64(text, &limit) ? limit : G_MAXUINT64;
}

/* One write(2) of "N\n", as sysfs wants the whole value at once. O_TRUNC is
 * what a shell redirection does; sysfs ignores it and it keeps a plain file
 * (the tests' fake pools) from holding the tail of a longer old value. */
static gboolean
write_pool(const char *path, guint64 value, GError **error)
{
  g_autofree char *text = NULL;
  gsize len;
  ssize_t n;
  int saved;
  int fd;

  text = g_strdup_printf("%" G_GUINT64_FORMAT "\n", MIN(value, fake_limit(path)));
  len = strlen(text);
  fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    saved = errno;
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not open hugepage pool %s: %s", path,
                g_strerror(saved));
    return FALSE;
  }
  do
    n = write(fd, text, len);
  while (n < 0 && errno == EINTR);
  saved = errno;
  if (close(fd) < 0 && n >= 0) {
    saved = errno;
    n = -1;
  }
  if (n < 0) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "Could not set hugepage pool %s to %" G_GUINT64_FORMAT ": %s", path, value,
                g_strerror(saved));
    return FALSE;
  }
  if ((gsize)n != len) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "Could not set hugepage pool %s to %" G_GUINT64_FORMAT ": short write", path,
                value);
    return FALSE;
  }
  return TRUE;
}

/* Puts the pool back at @before after a failed reservation. Returns NULL, or
 * a sentence to append to the reservation's error when that failed too. */
static char *
rollback_pool(const char *path, guint64 before)
{
  g_autoptr(GError) error = NULL;

  if (write_pool(path, before, &error))
    return NULL;
  g_warning("Hugepage pool %s could not be restored to %" G_GUINT64_FORMAT ": %s", path, before,
            error->message);
  return g_strdup_printf("; restoring the pool also failed: %s", error->message);
}

/* "1G", "2M" or "64K" as the kernel's hugepagesz= takes it. */
static char *
format_page_size(guint64 page_kib)
{
  if (page_kib % (1024 * 1024) == 0)
    return g_strdup_printf("%" G_GUINT64_FORMAT "G", page_kib / (1024 * 1024));
  if (page_kib % 1024 == 0)
    return g_strdup_printf("%" G_GUINT64_FORMAT "M", page_kib / 1024);
  return g_strdup_printf("%" G_GUINT64_FORMAT "K", page_kib);
}

/* Asks the kernel to compact memory: "1" into /proc/sys/vm/compact_memory.
 * The write returns when compaction has run over every zone. */
static gboolean
compact_memory(const char *path, GError **error)
{
  ssize_t n;
  int saved;
  int fd;

  fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    saved = errno;
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not open %s to compact memory: %s", path,
                g_strerror(saved));
    return FALSE;
  }
  do
    n = write(fd, "1\n", 2);
  while (n < 0 && errno == EINTR);
  saved = errno;
  close(fd);
  if (n != 2) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not compact memory through %s: %s", path,
                n < 0 ? g_strerror(saved) : "short write");
    return FALSE;
  }
  return TRUE;
}

const char *
wv_hugepages_step_name(WvHugepagesStep step)
{
  switch (step) {
    case WV_HUGEPAGES_STEP_RESERVING:
      return "reserving-hugepages";
    case WV_HUGEPAGES_STEP_COMPACTING:
      return "compacting";
    case WV_HUGEPAGES_STEP_NONE:
    default:
      return "";
  }
}

static void
progress(const WvHugepagesHow *how, WvHugepagesStep step)
{
  if (how != NULL && how->progress != NULL)
    how->progress(step, how->progress_data);
}

/* ---- records ------------------------------------------------------------ */

static gboolean
check_vm(const char *vm, GError **error)
{
  if (wv_name_is_valid(vm))
    return TRUE;
  g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "Invalid VM name \"%s\"",
              vm != NULL ? vm : "(null)");
  return FALSE;
}

static char *
record_path(const char *runtime_dir, const char *vm)
{
  g_autofree char *base = g_strconcat(vm, RECORD_SUFFIX, NULL);

  return g_build_filename(runtime_dir, base, NULL);
}

static gboolean
record_get_u64(GKeyFile *kf, const char *key, guint64 *out)
{
  g_autofree char *value = g_key_file_get_value(kf, RECORD_GROUP, key, NULL);

  return value != NULL && parse_u64(value, out);
}

/* The record at @path. NULL without an error when there is none; NULL with
 * an error when it cannot be read or makes no sense. */
static WvReservation *
record_load(const char *path, const char *vm, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(WvReservation) r = g_new0(WvReservation, 1);
  g_autoptr(GError) local = NULL;
  g_autofree char *node = NULL;
  gint64 node_v;

  if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
    if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return NULL;
    if (local->domain == G_KEY_FILE_ERROR)
      g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Hugepage record %s is corrupt: %s", path,
                  local->message);
    else
      g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not read hugepage record %s: %s", path,
                  local->message);
    return NULL;
  }
  r->vm = g_strdup(vm);
  r->nr_path = g_key_file_get_string(kf, RECORD_GROUP, "nr-path", NULL);
  node = g_key_file_get_value(kf, RECORD_GROUP, "node", NULL);
  if (r->nr_path == NULL || !g_path_is_absolute(r->nr_path) ||
      !record_get_u64(kf, "page-kib", &r->page_kib) || r->page_kib == 0 || node == NULL ||
      !g_ascii_string_to_signed(node, 10, -1, G_MAXINT, &node_v, NULL) ||
      !record_get_u64(kf, "before", &r->before) || !record_get_u64(kf, "added", &r->added)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "Hugepage record %s is corrupt: it needs page-kib, node, nr-path, before and added",
                path);
    return NULL;
  }
  r->node = (gint)node_v;
  /* records from before the intent step have no "complete": they were */
  r->complete = !g_key_file_has_key(kf, RECORD_GROUP, "complete", NULL) ||
                g_key_file_get_boolean(kf, RECORD_GROUP, "complete", NULL);
  return g_steal_pointer(&r);
}

static gboolean
record_save(const char *runtime_dir, const char *path, const WvReservation *r, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) local = NULL;
  g_autofree char *data = NULL;
  gsize len;

  if (g_mkdir_with_parents(runtime_dir, 0755) < 0) {
    int saved = errno;
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not create runtime directory %s: %s",
                runtime_dir, g_strerror(saved));
    return FALSE;
  }
  g_key_file_set_uint64(kf, RECORD_GROUP, "page-kib", r->page_kib);
  g_key_file_set_integer(kf, RECORD_GROUP, "node", r->node);
  g_key_file_set_string(kf, RECORD_GROUP, "nr-path", r->nr_path);
  g_key_file_set_uint64(kf, RECORD_GROUP, "before", r->before);
  g_key_file_set_uint64(kf, RECORD_GROUP, "added", r->added);
  g_key_file_set_boolean(kf, RECORD_GROUP, "complete", r->complete);
  data = g_key_file_to_data(kf, &len, NULL);
  if (!g_file_set_contents(path, data, len, &local)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not write hugepage record %s: %s", path,
                local->message);
    return FALSE;
  }
  return TRUE;
}

/* Puts @r's pages back and removes its record at @path; pools_lock held. */
static gboolean
release_record(const char *path, const WvReservation *r, GError **error)
{
  guint64 current;
  guint64 target;

  if (r->added > 0) {
    if (!read_pool(r->nr_path, &current, error))
      return FALSE;
    if (r->complete || current >= r->before + r->added)
      target = current >= r->added ? current - r->added : 0;
    else
      target = MIN(current, r->before); /* it never grew all the way */
    if (target != current && !write_pool(r->nr_path, target, error))
      return FALSE;
    g_debug("VM %s released %" G_GUINT64_FORMAT " pages of %s (%" G_GUINT64_FORMAT
            " -> %" G_GUINT64_FORMAT ")%s",
            r->vm, current - target, r->nr_path, current, target,
            r->complete ? "" : ", from an unfinished reservation");
  }
  if (g_unlink(path) < 0 && errno != ENOENT) {
    int saved = errno;
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "Released the hugepages of %s but could not remove the record %s: %s", r->vm, path,
                g_strerror(saved));
    return FALSE;
  }
  return TRUE;
}

/* ---- API ---------------------------------------------------------------- */

/* The error of a pool that did not grow enough: @got of @count pages were
 * had (@r->before is the pool before), @note says why the pool could not be
 * put back (NULL: it was). */
static void
short_error(GError **error, const WvReservation *r, guint64 count, guint64 got, gboolean compacted,
            const char *compact_note, const char *note)
{
  g_autofree char *size = format_page_size(r->page_kib);
  g_autofree char *boot = r->node >= 0 ? g_strdup_printf("%d:%" G_GUINT64_FORMAT, r->node, count)
                                       : g_strdup_printf("%" G_GUINT64_FORMAT, count);

  g_set_error(error, WV_ERROR, WV_ERROR_HUGEPAGES_SHORT,
              "only %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
              " %s pages could be reserved%s (pool at %s%s)%s; "
              "reserve them at boot with hugepagesz=%s hugepages=%s%s",
              got > r->before ? got - r->before : 0, count, size,
              compacted ? " after compacting memory" : "", r->nr_path, note ? "" : ", given back",
              compact_note ? compact_note : "", size, boot, note ? note : "");
}

typedef enum
{
  GROW_DONE,   /* the pool grew, the record is complete */
  GROW_SHORT,  /* the kernel found fewer: the pool is back, the record gone */
  GROW_FAILED, /* @error says what */
} GrowResult;

/* One try, pools_lock held: grows @r's pool by @count from what it holds
 * now (into @r->before), recording the intent first. *@got: the pool after
 * the kernel answered. */
static GrowResult
grow_once(const char *runtime_dir, const char *path, WvReservation *r, guint64 count,
          gboolean compacted, guint64 *got, GError **error)
{
  g_autoptr(GError) local = NULL;
  guint64 target;

  if (!read_pool(r->nr_path, &r->before, error))
    return GROW_FAILED;
  if (count > G_MAXUINT64 - r->before) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                "Cannot add %" G_GUINT64_FORMAT " pages to hugepage pool %s", count, r->nr_path);
    return GROW_FAILED;
  }
  target = r->before + count;

  /* the intent first: a crash from here on leaves a record to undo */
  r->added = count;
  r->complete = FALSE;
  if (!record_save(runtime_dir, path, r, error))
    return GROW_FAILED;
  if (!write_pool(r->nr_path, target, error)) { /* the pool is as it was */
    g_unlink(path);
    return GROW_FAILED;
  }
  if (!read_pool(r->nr_path, got, &local)) {
    g_autofree char *note = rollback_pool(r->nr_path, r->before);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "%s%s", local->message, note ? note : "");
    if (note == NULL)
      g_unlink(path);
    return GROW_FAILED;
  }
  if (*got < target) {
    g_autofree char *note = rollback_pool(r->nr_path, r->before);

    if (note != NULL) { /* the record stays: it says what to undo */
      short_error(error, r, count, *got, compacted, NULL, note);
      return GROW_FAILED;
    }
    g_unlink(path);
    return GROW_SHORT;
  }

  r->complete = TRUE;
  if (!record_save(runtime_dir, path, r, &local)) {
    g_autofree char *note = rollback_pool(r->nr_path, r->before);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "%s%s", local->message, note ? note : "");
    if (note == NULL)
      g_unlink(path);
    return GROW_FAILED;
  }
  return GROW_DONE;
}

WvReservation *
wv_hugepages_reserve(const char *runtime_dir, const char *vm, const char *nr_path, guint64 page_kib,
                     gint node, guint64 count, const WvHugepagesHow *how, GError **error)
{
  g_autofree char *compact_note = NULL; /* why compaction could not run */
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree char *path = NULL;
  gboolean compacted = FALSE;
  GrowResult result;
  guint64 got = 0;

  g_return_val_if_fail(runtime_dir != NULL, NULL);
  g_return_val_if_fail(nr_path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  if (!check_vm(vm, error))
    return NULL;
  path = record_path(runtime_dir, vm);

  locker = g_mutex_locker_new(&pools_lock);

  r = record_load(path, vm, &local);
  if (r != NULL && r->complete) {
    g_debug("VM %s already holds %" G_GUINT64_FORMAT " pages of %s", vm, r->added, r->nr_path);
    return g_steal_pointer(&r);
  }
  if (local != NULL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  if (r != NULL) { /* a reservation a crash interrupted: undo it first */
    g_message("VM %s: undoing an unfinished hugepage reservation", vm);
    if (!release_record(path, r, error))
      return NULL;
    g_clear_pointer(&r, wv_reservation_free);
  }

  r = g_new0(WvReservation, 1);
  r->vm = g_strdup(vm);
  r->page_kib = page_kib;
  r->node = node;
  r->nr_path = g_strdup(nr_path);
  if (count == 0)
    return read_pool(nr_path, &r->before, error) ? g_steal_pointer(&r) : NULL;

  progress(how, WV_HUGEPAGES_STEP_RESERVING);
  result = grow_once(runtime_dir, path, r, count, FALSE, &got, error);
  if (result == GROW_SHORT && how != NULL && how->compact_path != NULL) {
    /* the kernel found fewer: compact memory (it moves pages together into
     * contiguous free blocks; the pages had are back in the pool, so it may
     * use them too) and ask again. Other pools may change meanwhile: the
     * lock is not held while the kernel compacts, and the next try starts
     * from what the pool holds then. */
    g_message("VM %s: the pool %s grew to %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
              " pages; compacting memory",
              vm, nr_path, got, r->before + count);
    g_clear_pointer(&locker, g_mutex_locker_free);
    progress(how, WV_HUGEPAGES_STEP_COMPACTING);
    if (compact_memory(how->compact_path, &local)) {
      compacted = TRUE;
      locker = g_mutex_locker_new(&pools_lock);
      result = grow_once(runtime_dir, path, r, count, TRUE, &got, error);
    } else {
      compact_note = g_strdup_printf("; %s", local->message);
    }
  }
  if (result == GROW_FAILED)
    return NULL;
  if (result == GROW_SHORT) {
    short_error(error, r, count, got, compacted, compact_note, NULL);
    return NULL;
  }
  g_debug("VM %s reserved %" G_GUINT64_FORMAT " pages of %s (%" G_GUINT64_FORMAT
          " -> %" G_GUINT64_FORMAT ")",
          vm, count, nr_path, r->before, r->before + count);
  return g_steal_pointer(&r);
}

gboolean
wv_hugepages_release(const char *runtime_dir, const char *vm, GError **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree char *path = NULL;

  g_return_val_if_fail(runtime_dir != NULL, FALSE);
  g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

  if (!check_vm(vm, error))
    return FALSE;
  path = record_path(runtime_dir, vm);

  locker = g_mutex_locker_new(&pools_lock);

  r = record_load(path, vm, &local);
  if (r == NULL) {
    if (local == NULL)
      return TRUE;
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  return release_record(path, r, error);
}

WvReservation *
wv_hugepages_lookup(const char *runtime_dir, const char *vm)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  WvReservation *r;

  g_return_val_if_fail(runtime_dir != NULL, NULL);

  if (!wv_name_is_valid(vm))
    return NULL;
  path = record_path(runtime_dir, vm);
  r = record_load(path, vm, &error);
  if (error != NULL)
    g_warning("%s", error->message);
  return r;
}

/* ---- /proc/buddyinfo ---------------------------------------------------- */

static gboolean
buddy_fail(GError **error, guint line, const char *why)
{
  g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "buddyinfo line %u: %s", line, why);
  return FALSE;
}

/* "Node 0, zone   Normal   c0 c1 ..." into @z. */
static gboolean
buddy_line(const char *text, guint line, WvBuddyZone *z, GError **error)
{
  g_auto(GStrv) words = g_strsplit_set(text, " \t", -1);
  g_autoptr(GPtrArray) w = g_ptr_array_new();
  g_autofree char *node = NULL;
  guint64 v;

  for (guint i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0')
      g_ptr_array_add(w, words[i]);
  if (w->len < 5 || !g_str_equal(w->pdata[0], "Node") || !g_str_equal(w->pdata[2], "zone"))
    return buddy_fail(error, line, "not \"Node N, zone NAME COUNTS...\"");
  node = g_strdup(w->pdata[1]);
  if (!g_str_has_suffix(node, ","))
    return buddy_fail(error, line, "no comma after the node number");
  node[strlen(node) - 1] = '\0';
  if (!g_ascii_string_to_unsigned(node, 10, 0, G_MAXINT, &v, NULL))
    return buddy_fail(error, line, "the node is not a number");
  z->node = (gint)v;
  if (strlen(w->pdata[3]) >= sizeof z->zone)
    return buddy_fail(error, line, "the zone name is too long");
  g_strlcpy(z->zone, w->pdata[3], sizeof z->zone);
  z->n_orders = w->len - 4;
  if (z->n_orders > WV_BUDDY_MAX_ORDERS)
    return buddy_fail(error, line, "more orders than any kernel has");
  for (guint o = 0; o < z->n_orders; o++)
    if (!parse_u64(w->pdata[4 + o], &z->free[o]))
      return buddy_fail(error, line, "a count is not a number");
  return TRUE;
}

GArray *
wv_buddyinfo_parse(const char *text, GError **error)
{
  g_autoptr(GArray) zones = g_array_new(FALSE, TRUE, sizeof(WvBuddyZone));
  g_auto(GStrv) lines = NULL;

  g_return_val_if_fail(text != NULL, NULL);

  lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    WvBuddyZone z = {0};

    if (g_strstrip(lines[i])[0] == '\0')
      continue;
    if (!buddy_line(lines[i], i + 1, &z, error))
      return NULL;
    if (zones->len > 0 && g_array_index(zones, WvBuddyZone, 0).n_orders != z.n_orders) {
      buddy_fail(error, i + 1, "a different number of orders than the first line");
      return NULL;
    }
    g_array_append_val(zones, z);
  }
  return g_steal_pointer(&zones);
}

guint64
wv_buddyinfo_pages(const GArray *zones, gint node, guint64 page_kib, guint64 base_kib)
{
  guint64 pages = 0;
  guint64 top_kib = 0; /* memory in blocks of the largest order */

  g_return_val_if_fail(zones != NULL && page_kib > 0 && base_kib > 0, 0);

  for (guint i = 0; i < zones->len; i++) {
    const WvBuddyZone *z = &g_array_index(zones, WvBuddyZone, i);

    if (node >= 0 && z->node != node)
      continue;
    for (guint o = 0; o < z->n_orders; o++) {
      guint64 block_kib;
      guint64 kib;

      if (base_kib > G_MAXUINT64 >> o)
        break;                   /* blocks larger than memory can be */
      block_kib = base_kib << o; /* the products below saturate */
      kib = z->free[o] > G_MAXUINT64 / block_kib ? G_MAXUINT64 : z->free[o] * block_kib;

      if (block_kib >= page_kib)
        pages = pages > G_MAXUINT64 - kib / page_kib ? G_MAXUINT64 : pages + kib / page_kib;
      else if (o + 1 == z->n_orders)
        top_kib = top_kib > G_MAXUINT64 - kib ? G_MAXUINT64 : top_kib + kib;
    }
  }
  return pages > G_MAXUINT64 - top_kib / page_kib ? G_MAXUINT64 : pages + top_kib / page_kib;
}
