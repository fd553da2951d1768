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

/* One write(2) of "N\n", as sysfs wants the whole value at once. O_TRUNC is
 * what a shell redirection does; sysfs ignores it and it keeps a plain file
 * (the tests' fake pools) from holding the tail of a longer old value. */
static gboolean
write_pool(const char *path, guint64 value, GError **error)
{
  g_autofree char *text = g_strdup_printf("%" G_GUINT64_FORMAT "\n", value);
  gsize len = strlen(text);
  ssize_t n;
  int saved;
  int fd;

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

WvReservation *
wv_hugepages_reserve(const char *runtime_dir, const char *vm, const char *nr_path, guint64 page_kib,
                     gint node, guint64 count, GError **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autoptr(GError) local = NULL;
  g_autofree char *path = NULL;
  guint64 target;
  guint64 got;

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
  if (!read_pool(nr_path, &r->before, error))
    return NULL;
  if (count == 0)
    return g_steal_pointer(&r);
  if (count > G_MAXUINT64 - r->before) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                "Cannot add %" G_GUINT64_FORMAT " pages to hugepage pool %s", count, nr_path);
    return NULL;
  }
  target = r->before + count;

  /* the intent first: a crash from here on leaves a record to undo */
  r->added = count;
  r->complete = FALSE;
  if (!record_save(runtime_dir, path, r, error))
    return NULL;
  if (!write_pool(nr_path, target, error)) {
    g_unlink(path);
    return NULL;
  }
  if (!read_pool(nr_path, &got, &local)) {
    g_autofree char *note = rollback_pool(nr_path, r->before);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "%s%s", local->message, note ? note : "");
    if (note == NULL)
      g_unlink(path);
    return NULL;
  }
  if (got < target) {
    g_autofree char *note = rollback_pool(nr_path, r->before);

    if (note == NULL)
      g_unlink(path);
    g_autofree char *size = format_page_size(page_kib);
    g_autofree char *boot = node >= 0 ? g_strdup_printf("%d:%" G_GUINT64_FORMAT, node, count)
                                      : g_strdup_printf("%" G_GUINT64_FORMAT, count);

    g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                "only %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                " %s pages could be reserved (pool at %s); "
                "reserve them at boot with hugepagesz=%s hugepages=%s%s",
                got > r->before ? got - r->before : 0, count, size, nr_path, size, boot,
                note ? note : "");
    return NULL;
  }

  r->complete = TRUE;
  if (!record_save(runtime_dir, path, r, &local)) {
    g_autofree char *note = rollback_pool(nr_path, r->before);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "%s%s", local->message, note ? note : "");
    if (note == NULL)
      g_unlink(path);
    return NULL;
  }
  g_debug("VM %s reserved %" G_GUINT64_FORMAT " pages of %s (%" G_GUINT64_FORMAT
          " -> %" G_GUINT64_FORMAT ")",
          vm, count, nr_path, r->before, target);
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
