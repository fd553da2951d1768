/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-file.h"
#include "wv-common.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
file_kind(mode_t mode)
{
  return S_ISDIR(mode)    ? "a directory"
         : S_ISFIFO(mode) ? "a FIFO"
         : S_ISCHR(mode)  ? "a character device"
         : S_ISBLK(mode)  ? "a block device"
         : S_ISSOCK(mode) ? "a socket"
                          : "not a regular file";
}

char *
wv_file_read(const char *path, gsize max_size, gboolean trusted, gsize *len, GError **error)
{
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (trusted ? O_NOFOLLOW : 0));
  g_autoptr(GString) data = NULL;
  struct stat st;
  int saved;

  if (fd < 0) {
    saved = errno;
    if (saved == ELOOP && trusted)
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                  "%s: a symbolic link; only regular files are trusted", path);
    else
      g_set_error(error, WV_ERROR, saved == ENOENT ? WV_ERROR_NOT_FOUND : WV_ERROR_INVALID_PROFILE,
                  "%s: %s", path, g_strerror(saved));
    return NULL;
  }
  if (fstat(fd, &st) < 0) {
    saved = errno;
    close(fd);
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: %s", path, g_strerror(saved));
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: %s, not a regular file; skipped",
                path, file_kind(st.st_mode));
    return NULL;
  }
  if (trusted && st.st_uid != 0 && st.st_uid != geteuid()) {
    close(fd);
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                "%s: owned by uid %u; only root's files are trusted (chown root)", path,
                (guint)st.st_uid);
    return NULL;
  }
  if (trusted && (st.st_mode & (S_IWGRP | S_IWOTH))) {
    close(fd);
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                "%s: writable by its group or others (mode %04o); not trusted (chmod go-w)", path,
                (guint)(st.st_mode & 07777));
    return NULL;
  }
  if ((guint64)st.st_size > max_size) {
    close(fd);
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                "%s: larger than %" G_GSIZE_FORMAT " bytes", path, max_size);
    return NULL;
  }
  data = g_string_sized_new((gsize)st.st_size + 1);
  for (;;) {
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof buf);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      saved = errno;
      close(fd);
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: %s", path, g_strerror(saved));
      return NULL;
    }
    if (n == 0)
      break;
    g_string_append_len(data, buf, n);
    if (data->len > max_size) {
      close(fd);
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                  "%s: larger than %" G_GSIZE_FORMAT " bytes", path, max_size);
      return NULL;
    }
  }
  close(fd);
  *len = data->len;
  return g_string_free(g_steal_pointer(&data), FALSE);
}
