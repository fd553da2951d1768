/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The service manager's notification protocol (wv-notify.c): what arrives
 * on a socket of our own, on a path and on an abstract name, and every bad
 * address or watchdog variable.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wv-common.h"
#include "wv-notify.h"
#include "wv-test.h"

/* A datagram socket bound to @name (a path, or "@..." abstract). */
static int
bound_socket(const char *name)
{
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  gsize n = strlen(name);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpuint(n, <, sizeof addr.sun_path);
  memcpy(addr.sun_path, name, n);
  if (name[0] == '@')
    addr.sun_path[0] = '\0';
  g_assert_cmpint(
      bind(fd, (struct sockaddr *)&addr,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '@' ? 0 : 1))),
      ==, 0);
  return fd;
}

static char *
received(int fd)
{
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);

  g_assert_cmpint(n, >=, 0);
  buf[n] = '\0';
  return g_strdup(buf);
}

static void
test_path(void)
{
  g_autofree char *dir = g_dir_make_tmp("wv-notify-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "notify", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL, *second = NULL;
  int fd = bound_socket(path);

  g_setenv("NOTIFY_SOCKET", path, TRUE);
  g_assert_true(wv_notify("READY=1", &error));
  g_assert_no_error(error);
  g_assert_true(wv_notify("STATUS=Serving 2 VMs\nWATCHDOG=1", &error));
  first = received(fd);
  second = received(fd);
  g_assert_cmpstr(first, ==, "READY=1");
  g_assert_cmpstr(second, ==, "STATUS=Serving 2 VMs\nWATCHDOG=1");
  close(fd);
  /* nobody listens any more: an error, not a crash */
  g_unlink(path);
  g_assert_false(wv_notify("STOPPING=1", &error));
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, path));
  g_unsetenv("NOTIFY_SOCKET");
  wv_test_remove_tree(dir);
}

static void
test_abstract(void)
{
  g_autofree char *name = g_strdup_printf("@wv-notify-test-%d", (int)getpid());
  g_autofree char *got = NULL;
  int fd = bound_socket(name);

  g_setenv("NOTIFY_SOCKET", name, TRUE);
  g_assert_true(wv_notify("READY=1", NULL));
  got = received(fd);
  g_assert_cmpstr(got, ==, "READY=1");
  close(fd);
  g_unsetenv("NOTIFY_SOCKET");
}

static void
test_bad_addresses(void)
{
  g_autofree char *too_long = g_strnfill(200, 'x');
  g_autofree char *long_path = g_strconcat("/", too_long, NULL);
  const struct
  {
    const char *value;
    int code;
  } cases[] = {
      {NULL, WV_ERROR_NOT_FOUND},
      {"", WV_ERROR_NOT_FOUND},
      {"relative/socket", WV_ERROR_INVALID_ARGS},
      {long_path, WV_ERROR_INVALID_ARGS},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;

    if (cases[i].value)
      g_setenv("NOTIFY_SOCKET", cases[i].value, TRUE);
    else
      g_unsetenv("NOTIFY_SOCKET");
    g_assert_false(wv_notify("READY=1", &error));
    g_assert_error(error, WV_ERROR, cases[i].code);
  }
  g_unsetenv("NOTIFY_SOCKET");
}

static void
test_watchdog(void)
{
  g_autofree char *me = g_strdup_printf("%d", (int)getpid());
  g_autofree char *other = g_strdup_printf("%d", (int)getpid() + 1);
  const struct
  {
    const char *usec, *pid;
    guint64 expected;
  } cases[] = {
      {NULL, NULL, 0},
      {"30000000", NULL, 30000000},
      {"30000000", me, 30000000},
      {"30000000", other, 0},
      {"30000000", "nonsense", 0},
      {"0", NULL, 0},
      {"-5", NULL, 0},
      {"30s", NULL, 0},
      {"", NULL, 0},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    if (cases[i].usec)
      g_setenv("WATCHDOG_USEC", cases[i].usec, TRUE);
    else
      g_unsetenv("WATCHDOG_USEC");
    if (cases[i].pid)
      g_setenv("WATCHDOG_PID", cases[i].pid, TRUE);
    else
      g_unsetenv("WATCHDOG_PID");
    g_assert_cmpuint(wv_notify_watchdog_usec(), ==, cases[i].expected);
  }
  g_unsetenv("WATCHDOG_USEC");
  g_unsetenv("WATCHDOG_PID");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/notify/path", test_path);
  g_test_add_func("/notify/abstract", test_abstract);
  g_test_add_func("/notify/bad-addresses", test_bad_addresses);
  g_test_add_func("/notify/watchdog", test_watchdog);
  return g_test_run();
}
