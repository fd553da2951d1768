/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wv-common.h"
#include "wv-notify.h"

gboolean
wv_notify(const char *state, GError **error)
{
  const char *path = g_getenv("NOTIFY_SOCKET");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  socklen_t len;
  gsize n;
  ssize_t sent;
  int fd, saved;

  if (path == NULL || path[0] == '\0') {
    g_set_error(error, WV_ERROR, WV_ERROR_NOT_FOUND, "NOTIFY_SOCKET is not set");
    return FALSE;
  }
  n = strlen(path);
  if ((path[0] != '/' && path[0] != '@') || n >= sizeof addr.sun_path) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                "NOTIFY_SOCKET is neither a path nor an abstract name: %.120s", path);
    return FALSE;
  }
  memcpy(addr.sun_path, path, n);
  if (path[0] == '@')
    addr.sun_path[0] = '\0'; /* abstract: the length says where it ends */
  len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
  if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
    saved = errno;
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "socket: %s", g_strerror(saved));
    return FALSE;
  }
  sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, len);
  saved = errno;
  close(fd);
  if (sent < 0) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "sending to %s: %s", path, g_strerror(saved));
    return FALSE;
  }
  return TRUE;
}

guint64
wv_notify_watchdog_usec(void)
{
  const char *usec = g_getenv("WATCHDOG_USEC");
  const char *pid = g_getenv("WATCHDOG_PID");
  guint64 value, owner;

  if (usec == NULL || !g_ascii_string_to_unsigned(usec, 10, 1, G_MAXUINT64, &value, NULL))
    return 0;
  /* set for another process (our parent's, say): not ours */
  if (pid && (!g_ascii_string_to_unsigned(pid, 10, 1, G_MAXINT, &owner, NULL) ||
              owner != (guint64)getpid()))
    return 0;
  return value;
}
