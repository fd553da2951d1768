/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The conflict findings (wv-conflicts.c) on fake host trees: libvirt's
 * autostart flag, libvirt-guests (enabled or not, its defaults from the
 * installed script, its settings file, URIS) and qemu.conf's auto-shutdown
 * settings by libvirt version.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "wv-common.h"

#include "wv-conflicts.h"
#include "wv-test.h"

/* what Debian 12's script sets before it reads /etc/default/libvirt-guests */
#define DEBIAN_SCRIPT                                                                              \
  "#!/bin/sh\nsysconfdir=\"/etc\"\nURIS=\"default\"\nON_BOOT=\"ignore\"\n"                         \
  "ON_SHUTDOWN=\"shutdown\"\nSHUTDOWN_TIMEOUT=300\n"                                               \
  "test -f \"$sysconfdir\"/default/libvirt-guests &&\n"                                            \
  "    . \"$sysconfdir\"/default/libvirt-guests\n"                                                 \
  "case \"$1\" in\n  shutdown)\n    ON_SHUTDOWN=\"shutdown\"\n    stop\n    ;;\nesac\n"
/* upstream's (Fedora's path and settings file) */
#define UPSTREAM_SCRIPT                                                                            \
  "#!/bin/sh\nsysconfdir=\"/etc\"\nURIS=default\nON_BOOT=start\nON_SHUTDOWN=suspend\n"             \
  "test -f \"$sysconfdir\"/sysconfig/libvirt-guests &&\n"                                          \
  "    . \"$sysconfdir\"/sysconfig/libvirt-guests\n"
/* what libvirt 11.2's qemu.conf template says about them */
#define QEMU_CONF_TEMPLATE                                                                         \
  "# Whether to perform managed save of running VMs if a host OS\n"                                \
  "#auto_shutdown_try_save = \"persistent\"\n#auto_shutdown_try_shutdown = \"all\"\n"              \
  "#auto_shutdown_poweroff = \"all\"\n#auto_shutdown_restore = 1\n"

#define V9_0  9000000UL
#define V11_2 11002000UL

typedef struct
{
  char *root;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->root = g_dir_make_tmp("winvm-conflicts-XXXXXX", &error);
  g_assert_no_error(error);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
  wv_test_remove_tree(f->root);
  g_free(f->root);
}

static void
put(Fixture *f, const char *path, const char *text)
{
  g_autofree char *full = g_build_filename(f->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname(full);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_file_set_contents(full, text, -1, &error);
  g_assert_no_error(error);
}

static void
link_to(Fixture *f, const char *path, const char *target)
{
  g_autofree char *full = g_build_filename(f->root, path, NULL);
  g_autofree char *dir = g_path_get_dirname(full);

  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_unlink(full);
  g_assert_cmpint(symlink(target, full), ==, 0);
}

/* libvirt-guests installed and enabled as `systemctl enable` leaves it */
static void
guests_enabled(Fixture *f, const char *script)
{
  put(f, "usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n");
  link_to(f, "etc/systemd/system/multi-user.target.wants/libvirt-guests.service",
          "/usr/lib/systemd/system/libvirt-guests.service");
  if (script)
    put(f, "usr/lib/libvirt/libvirt-guests.sh", script);
}

typedef struct
{
  const char *uri;
  gulong version;
  WvTristate autostart;
  const char *profile; /* NULL: a plain one */
} Case;

/* The findings of @code a plan gets on @f's tree: NULL when none, else
 * "message | hint" of the one (there is never more than one). */
static char *
finding(Fixture *f, const char *code, const Case *c)
{
  g_autoptr(WvProfile) p =
      wv_test_profile(c && c->profile ? c->profile : "[vm]\nname = win\ntemplate = minimal\n");
  WvPlanContext pctx = {.template_dir = wv_test_template_dir()};
  g_autoptr(WvPlan) plan = wv_plan_build(p, &pctx);
  WvConflictsContext ctx = {
      .host_root = f->root,
      .libvirt_uri = c ? c->uri : NULL,
      .libvirt_version = c ? c->version : 0,
      .domain_autostart = c ? c->autostart : WV_TRI_UNSET,
  };
  char *found = NULL;

  wv_conflicts_check(plan, p, &ctx);
  for (guint i = 0; i < plan->findings->len; i++) {
    const WvFinding *x = plan->findings->pdata[i];

    if (!g_str_equal(x->code, code))
      continue;
    g_assert_null(found);
    g_assert_cmpint(x->severity, ==, WV_SEVERITY_WARNING);
    g_assert_nonnull(x->hint);
    found = g_strdup_printf("%s | %s", x->message, x->hint);
  }
  return found;
}

#define assert_none(f, code, c)                                                                    \
  do {                                                                                             \
    g_autofree char *_s = finding(f, code, c);                                                     \
    if (_s)                                                                                        \
      g_error("unexpected %s: %s", code, _s);                                                      \
  } while (0)

#define assert_has(f, code, c, needle)                                                             \
  do {                                                                                             \
    g_autofree char *_s = finding(f, code, c);                                                     \
    if (_s == NULL)                                                                                \
      g_error("no %s finding", code);                                                              \
    if (strstr(_s, needle) == NULL)                                                                \
      g_error("%s finding without “%s”: %s", code, needle, _s);                                    \
  } while (0)

/* ---- libvirt's autostart flag ----------------------------------------- */

static void
test_autostart_flag(Fixture *f, gconstpointer data)
{
  Case on = {.autostart = WV_TRI_ON};
  Case off = {.autostart = WV_TRI_OFF};
  Case unknown = {.autostart = WV_TRI_UNSET};
  Case winvm_too = {.autostart = WV_TRI_ON,
                    .profile = "[vm]\nname = win\ntemplate = minimal\nautostart = true\n"};

  assert_has(f, "libvirt-autostart", &on, "autostart flag is set on the domain “win”");
  assert_has(f, "libvirt-autostart", &on, "virsh autostart --disable win");
  assert_has(f, "libvirt-autostart", &on, "although its [vm] autostart is false");
  assert_has(f, "libvirt-autostart", &winvm_too, "winvm starts it too");
  assert_none(f, "libvirt-autostart", &off);
  assert_none(f, "libvirt-autostart", &unknown);
}

/* ---- libvirt-guests ----------------------------------------------------- */

static void
test_guests_not_enabled(Fixture *f, gconstpointer data)
{
  /* installed with upstream's defaults, settings that conflict, no link */
  put(f, "usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n");
  put(f, "usr/lib/libvirt/libvirt-guests.sh", UPSTREAM_SCRIPT);
  put(f, "etc/default/libvirt-guests", "ON_SHUTDOWN=suspend\nON_BOOT=start\n");
  assert_none(f, "libvirt-guests", NULL);
  /* a link elsewhere than in a .wants/.requires directory */
  link_to(f, "etc/systemd/system/libvirt-guests.service.d/libvirt-guests.service",
          "/usr/lib/systemd/system/libvirt-guests.service");
  assert_none(f, "libvirt-guests", NULL);
  /* linked, but masked */
  link_to(f, "etc/systemd/system/multi-user.target.wants/libvirt-guests.service",
          "/usr/lib/systemd/system/libvirt-guests.service");
  assert_has(f, "libvirt-guests", NULL, "ON_SHUTDOWN=suspend");
  link_to(f, "etc/systemd/system/libvirt-guests.service", "/dev/null");
  assert_none(f, "libvirt-guests", NULL);
}

static void
test_guests_not_installed(Fixture *f, gconstpointer data)
{
  /* a link left behind by a removed package */
  link_to(f, "etc/systemd/system/multi-user.target.wants/libvirt-guests.service",
          "/usr/lib/systemd/system/libvirt-guests.service");
  put(f, "etc/default/libvirt-guests", "ON_SHUTDOWN=suspend\n");
  assert_none(f, "libvirt-guests", NULL);
}

static void
test_guests_debian_defaults(Fixture *f, gconstpointer data)
{
  guests_enabled(f, DEBIAN_SCRIPT);
  /* no settings file, then Debian's own: everything commented out */
  assert_none(f, "libvirt-guests", NULL);
  put(f, "etc/default/libvirt-guests",
      "# URIs to check for running guests\n#URIS=default\n#ON_BOOT=start\n"
      "# - suspend   all running guests are suspended using virsh managedsave\n"
      "#ON_SHUTDOWN=suspend\n  # ON_SHUTDOWN=suspend\n#SHUTDOWN_TIMEOUT=300\n");
  assert_none(f, "libvirt-guests", NULL);
}

static void
test_guests_upstream_defaults(Fixture *f, gconstpointer data)
{
  /* the script's own values, and upstream's without a script */
  for (guint round = 0; round < 2; round++) {
    Fixture g;

    fixture_set_up(&g, NULL);
    guests_enabled(&g, round == 0 ? UPSTREAM_SCRIPT : NULL);
    assert_has(&g, "libvirt-guests", NULL, "ON_SHUTDOWN=suspend (its default)");
    assert_has(&g, "libvirt-guests", NULL, "ON_BOOT=start (its default)");
    assert_has(&g, "libvirt-guests", NULL, "for qemu:///system (URIS=default, its default)");
    assert_has(&g, "libvirt-guests", NULL, "ON_SHUTDOWN=shutdown and ON_BOOT=ignore");
    assert_has(&g, "libvirt-guests", NULL, "systemctl disable libvirt-guests.service");
    fixture_tear_down(&g, NULL);
  }
}

static void
test_guests_settings(Fixture *f, gconstpointer data)
{
  guests_enabled(f, DEBIAN_SCRIPT);
  put(f, "etc/default/libvirt-guests", "ON_SHUTDOWN=\"suspend\"\n");
  assert_has(f, "libvirt-guests", NULL, "ON_SHUTDOWN=suspend: at host shutdown");
  assert_has(f, "libvirt-guests", NULL, "set ON_SHUTDOWN=shutdown in /etc/default/libvirt-guests");
  /* only ON_BOOT */
  put(f, "etc/default/libvirt-guests", "ON_BOOT='start' # start them again\n");
  assert_has(f, "libvirt-guests", NULL, "with ON_BOOT=start: at boot");
  assert_has(f, "libvirt-guests", NULL, "set ON_BOOT=ignore in");
  /* the last one counts, indented or exported */
  put(f, "etc/default/libvirt-guests",
      "ON_SHUTDOWN=suspend\nON_BOOT=start\n  ON_SHUTDOWN=shutdown # at last\n"
      "export ON_BOOT=ignore\n");
  assert_none(f, "libvirt-guests", NULL);
  /* the script suspends on anything but "shutdown", starts on "start" only */
  put(f, "etc/default/libvirt-guests", "ON_SHUTDOWN=\nON_BOOT=yes\n");
  assert_has(f, "libvirt-guests", NULL, "ON_SHUTDOWN=:");
  put(f, "etc/default/libvirt-guests", "ON_SHUTDOWN=shutdown\nON_BOOT=ignore\n");
  assert_none(f, "libvirt-guests", NULL);
  /* an unclosed quote sets nothing */
  put(f, "etc/default/libvirt-guests", "ON_SHUTDOWN=\"suspend\n");
  assert_none(f, "libvirt-guests", NULL);
}

static void
test_guests_sysconfig(Fixture *f, gconstpointer data)
{
  /* Fedora: the script in /usr/libexec reads /etc/sysconfig */
  put(f, "usr/lib/systemd/system/libvirt-guests.service", "[Unit]\n");
  link_to(f, "etc/systemd/system/multi-user.target.wants/libvirt-guests.service",
          "/usr/lib/systemd/system/libvirt-guests.service");
  put(f, "usr/libexec/libvirt-guests.sh", UPSTREAM_SCRIPT);
  put(f, "etc/default/libvirt-guests", "ON_SHUTDOWN=shutdown\nON_BOOT=ignore\n");
  assert_has(f, "libvirt-guests", NULL, "in /etc/sysconfig/libvirt-guests");
  put(f, "etc/sysconfig/libvirt-guests", "ON_SHUTDOWN=shutdown\nON_BOOT=ignore\n");
  assert_none(f, "libvirt-guests", NULL);
}

static void
test_guests_uris(Fixture *f, gconstpointer data)
{
  Case test_uri = {.uri = "test:///default"};
  Case unix_uri = {.uri = "qemu+unix:///system"};
  Case session = {.uri = "qemu:///session"};

  guests_enabled(f, DEBIAN_SCRIPT);
  put(f, "etc/default/libvirt-guests", "URIS='xen:///system lxc:///system'\nON_SHUTDOWN=suspend\n");
  assert_none(f, "libvirt-guests", NULL);
  put(f, "etc/default/libvirt-guests", "URIS=\"lxc:/// default\"\nON_SHUTDOWN=suspend\n");
  assert_has(f, "libvirt-guests", NULL, "for qemu:///system (URIS=lxc:/// default)");
  assert_has(f, "libvirt-guests", &unix_uri, "for qemu+unix:///system");
  assert_none(f, "libvirt-guests", &session);
  assert_none(f, "libvirt-guests", &test_uri);
  /* "default" is libvirt.conf's uri_default */
  put(f, "etc/libvirt/libvirt.conf",
      "#uri_default = \"qemu:///system\"\n"
      "uri_default = \"test:///default\"\n");
  assert_has(f, "libvirt-guests", &test_uri, "for test:///default");
  assert_none(f, "libvirt-guests", NULL);
  put(f, "etc/default/libvirt-guests",
      "URIS=\"qemu:///system/\ttest:///other\"\nON_SHUTDOWN=suspend\n");
  assert_has(f, "libvirt-guests", NULL, "for qemu:///system");
  assert_none(f, "libvirt-guests", &test_uri);
}

/* ---- qemu.conf ---------------------------------------------------------- */

static void
test_qemu_auto_shutdown(Fixture *f, gconstpointer data)
{
  Case v11 = {.version = V11_2};
  Case v9 = {.version = V9_0};
  Case v11_1 = {.version = 11001000UL};
  Case unknown = {.version = 0};
  Case session = {.uri = "qemu:///session", .version = V11_2};
  Case test_uri = {.uri = "test:///default", .version = V11_2};
  Case unix_uri = {.uri = "qemu+unix:///system", .version = V11_2};

  /* no qemu.conf at all */
  assert_none(f, "qemu-auto-shutdown", &v11);
  /* the template alone: everything "none" on a system daemon */
  put(f, "etc/libvirt/qemu.conf", QEMU_CONF_TEMPLATE);
  assert_none(f, "qemu-auto-shutdown", &v11);
  put(f, "etc/libvirt/qemu.conf", QEMU_CONF_TEMPLATE "auto_shutdown_try_save = \"persistent\"\n");
  assert_has(f, "qemu-auto-shutdown", &v11, "(auto_shutdown_try_save = \"persistent\")");
  assert_has(f, "qemu-auto-shutdown", &v11, "starts the ones it stopped again");
  assert_has(f, "qemu-auto-shutdown", &unix_uri, "auto_shutdown_try_save");
  /* the installed template documents them: this libvirt has them */
  assert_has(f, "qemu-auto-shutdown", &v9, "auto_shutdown_try_save");
  assert_has(f, "qemu-auto-shutdown", &unknown, "auto_shutdown_try_save");
  /* another driver or the session daemon: not this file's business */
  assert_none(f, "qemu-auto-shutdown", &session);
  assert_none(f, "qemu-auto-shutdown", &test_uri);

  /* an older libvirt ignores the keys */
  put(f, "etc/libvirt/qemu.conf", "auto_shutdown_try_save = \"persistent\"\n");
  assert_none(f, "qemu-auto-shutdown", &v9);
  assert_none(f, "qemu-auto-shutdown", &v11_1);
  assert_has(f, "qemu-auto-shutdown", &v11, "auto_shutdown_try_save");

  /* what does not reach winvm's persistent domains */
  put(f, "etc/libvirt/qemu.conf",
      "auto_shutdown_try_save = \"none\"\nauto_shutdown_try_shutdown = \"transient\"\n"
      "  # auto_shutdown_poweroff = \"all\"\n");
  assert_none(f, "qemu-auto-shutdown", &v11);
  put(f, "etc/libvirt/qemu.conf",
      "auto_shutdown_try_shutdown=\"all\"\nauto_shutdown_poweroff = 'all'\n"
      "auto_shutdown_restore = 0\n");
  assert_has(f, "qemu-auto-shutdown", &v11,
             "(auto_shutdown_try_shutdown = \"all\", auto_shutdown_poweroff = \"all\")");
  {
    g_autofree char *s = finding(f, "qemu-auto-shutdown", &v11);
    g_assert_null(strstr(s, "auto_shutdown_restore"));
  }
  /* the last one counts */
  put(f, "etc/libvirt/qemu.conf",
      "auto_shutdown_poweroff = \"all\"\nauto_shutdown_poweroff = \"none\"\n");
  assert_none(f, "qemu-auto-shutdown", &v11);
}

static void
add(const char *name, void (*fn)(Fixture *, gconstpointer))
{
  g_test_add(name, Fixture, NULL, fixture_set_up, fn, fixture_tear_down);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  add("/conflicts/libvirt-autostart", test_autostart_flag);
  add("/conflicts/libvirt-guests/not-enabled", test_guests_not_enabled);
  add("/conflicts/libvirt-guests/not-installed", test_guests_not_installed);
  add("/conflicts/libvirt-guests/debian-defaults", test_guests_debian_defaults);
  add("/conflicts/libvirt-guests/upstream-defaults", test_guests_upstream_defaults);
  add("/conflicts/libvirt-guests/settings", test_guests_settings);
  add("/conflicts/libvirt-guests/sysconfig", test_guests_sysconfig);
  add("/conflicts/libvirt-guests/uris", test_guests_uris);
  add("/conflicts/qemu-auto-shutdown", test_qemu_auto_shutdown);
  return g_test_run();
}
