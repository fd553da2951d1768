/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-store.h"
#include "wv-common.h"
#include "wv-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* One writer at a time: the etag check and the rename are one step. */
static GMutex store_lock;

char *
wv_store_path(const char *dir, const char *name)
{
  g_autofree char *file = g_strconcat(name, ".conf", NULL);

  return g_build_filename(dir, file, NULL);
}

char *
wv_store_read(const char *path, char **etag, GError **error)
{
  gsize len = 0;
  char *text = wv_file_read(path, WV_PROFILE_MAX_SIZE, TRUE, &len, error);

  if (text && etag)
    *etag = wv_profile_etag(text, len);
  return text;
}

WvProfile *
wv_store_validate(const char *path, const char *name, const char *text, gboolean root,
                  GError **error)
{
  g_autoptr(WvProfile) p = wv_profile_parse(text, strlen(text), path, error);

  if (p == NULL)
    return NULL;
  if (!g_str_equal(p->name, name)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                "%s:%u: [vm] name: “%s”, but this is the profile of “%s”", path,
                wv_profile_line(p, "vm", "name"), p->name, name);
    return NULL;
  }
  /* a file only root could write may pass options to QEMU; text from a
   * caller polkit let in (the winvm group, say) may not */
  if (p->raw_qemu && !root) {
    g_set_error(error, WV_ERROR, WV_ERROR_ACCESS_DENIED,
                "%s:%u: [vm] raw-qemu: only root may write a profile that passes options to QEMU",
                path, wv_profile_line(p, "vm", "raw-qemu"));
    return NULL;
  }
  return g_steal_pointer(&p);
}

static gboolean
fail_errno(GError **error, int code, const char *what, const char *path)
{
  int saved = errno;

  g_set_error(error, WV_ERROR, code, "cannot %s %s: %s", what, path, g_strerror(saved));
  return FALSE;
}

static gboolean
write_all(int fd, const char *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return FALSE;
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

static void
sync_dir(const char *path)
{
  g_autofree char *dir = g_path_get_dirname(path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* A hidden, synced copy of @text next to @path ("." files are never
 * loaded); its path, or NULL. */
static char *
write_temp(const char *path, const char *text, GError **error)
{
  g_autofree char *dir = g_path_get_dirname(path);
  g_autofree char *base = g_path_get_basename(path);
  g_autofree char *tmpl = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
  int fd = g_mkstemp_full(tmpl, O_WRONLY | O_CLOEXEC, 0644);

  if (fd < 0) {
    fail_errno(error, WV_ERROR_FAILED, "create a file in", dir);
    return NULL;
  }
  /* a trusted profile: the daemon's (root's) own, 0644 whatever the umask */
  if (fchmod(fd, 0644) < 0 || !write_all(fd, text, strlen(text)) || fsync(fd) < 0) {
    fail_errno(error, WV_ERROR_FAILED, "write", tmpl);
    close(fd);
    g_unlink(tmpl);
    return NULL;
  }
  if (close(fd) < 0) {
    fail_errno(error, WV_ERROR_FAILED, "write", tmpl);
    g_unlink(tmpl);
    return NULL;
  }
  return g_steal_pointer(&tmpl);
}

/* Under the lock: @path still has @etag. */
static gboolean
check_etag(const char *path, const char *etag, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autofree char *now = NULL;
  g_autofree char *text = wv_store_read(path, &now, &local);

  if (text == NULL) {
    g_set_error(error, WV_ERROR, WV_ERROR_CONFLICT, "the profile changed since it was read: %s",
                local->message);
    return FALSE;
  }
  if (!g_str_equal(now, etag)) {
    g_set_error(error, WV_ERROR, WV_ERROR_CONFLICT,
                "%s changed since it was read; read it again (GetProfile) and redo the change",
                path);
    return FALSE;
  }
  return TRUE;
}

gboolean
wv_store_write(const char *path, const char *text, const char *etag, GError **error)
{
  g_autofree char *tmp = NULL;
  g_autofree char *dir = NULL;
  g_autoptr(GMutexLocker) locker = NULL;
  gboolean ok;

  if (strlen(text) > WV_PROFILE_MAX_SIZE) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: larger than %d bytes", path,
                WV_PROFILE_MAX_SIZE);
    return FALSE;
  }
  /* a directory winvmd would not read a profile from gets none either */
  dir = g_path_get_dirname(path);
  if (!wv_profile_dir_check(dir, error) || (tmp = write_temp(path, text, error)) == NULL)
    return FALSE;
  locker = g_mutex_locker_new(&store_lock);
  if (etag == NULL) {
    /* link() never replaces: a profile of that name, even a broken one or
     * one written by hand a moment ago, stays as it is */
    ok = link(tmp, path) == 0;
    if (!ok && errno == EEXIST)
      g_set_error(error, WV_ERROR, WV_ERROR_EXISTS, "%s exists already", path);
    else if (!ok)
      fail_errno(error, WV_ERROR_FAILED, "create", path);
  } else {
    ok = check_etag(path, etag, error);
    if (ok && !(ok = rename(tmp, path) == 0))
      fail_errno(error, WV_ERROR_FAILED, "replace", path);
  }
  g_unlink(tmp); /* after link(), or when it failed */
  if (ok)
    sync_dir(path);
  return ok;
}

char *
wv_store_move_aside(const char *path, GError **error)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");
  g_autofree char *aside = NULL;
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&store_lock);

  /* two deletions within a second keep both files */
  for (guint i = 0; aside == NULL || g_file_test(aside, G_FILE_TEST_EXISTS); i++) {
    g_free(aside);
    aside = i ? g_strdup_printf("%s.deleted-%s.%u", path, stamp, i)
              : g_strdup_printf("%s.deleted-%s", path, stamp);
  }
  if (rename(path, aside) < 0) {
    fail_errno(error, errno == ENOENT ? WV_ERROR_NOT_FOUND : WV_ERROR_FAILED, "move aside", path);
    return NULL;
  }
  sync_dir(path);
  return g_steal_pointer(&aside);
}
