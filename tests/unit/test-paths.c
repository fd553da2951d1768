/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Which host paths a profile may hand to a guest (wv-paths.c): the built-in
 * refusals and allow-list, winvm.conf, links, and block devices that hold a
 * mounted filesystem (device nodes made with mknod, relations in a fake
 * sysfs tree, mounts in a fake mountinfo).
 */
#include "wv-common.h"
#include "wv-config.h"
#include "wv-paths.h"
#include "wv-test.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void
write_file(const char *dir, const char *rel, const char *text)
{
  g_autofree char *path = g_build_filename(dir, rel, NULL);
  g_autofree char *parent = g_path_get_dirname(path);

  g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
  g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void
test_builtin(void)
{
  const char *const own[] = {"/var/lib/winvm", "/etc/winvm/vms", NULL};
  g_autoptr(GError) error = NULL;
  g_autoptr(WvPathPolicy) policy = wv_path_policy_load(NULL, own, &error);
  static const struct
  {
    const char *path;
    gboolean share;
    WvPathVerdict verdict;
    const char *dir;
  } cases[] = {
      {"/etc/shadow", FALSE, WV_PATH_SENSITIVE, "/etc"},
      {"/boot/vmlinuz", FALSE, WV_PATH_SENSITIVE, "/boot"},
      {"/root/.ssh/id_ed25519", FALSE, WV_PATH_SENSITIVE, "/root"},
      {"/proc/kcore", FALSE, WV_PATH_SENSITIVE, "/proc"},
      {"/sys/firmware/efi/efivars", FALSE, WV_PATH_SENSITIVE, "/sys"},
      {"/run/winvm/x.hugepages", FALSE, WV_PATH_SENSITIVE, "/run"},
      {"/var/lib/winvm/alpha.tuning", FALSE, WV_PATH_SENSITIVE, "/var/lib/winvm"},
      {"/etcetera/disk.img", FALSE, WV_PATH_NOT_ALLOWED, NULL},
      {"/var/lib/libvirt/images/win11.qcow2", FALSE, WV_PATH_OK, NULL},
      {"/var/lib/libvirt/boot/Win11.iso", FALSE, WV_PATH_OK, NULL},
      {"/var/lib/libvirt/qemu/nvram/win11_VARS.fd", FALSE, WV_PATH_OK, NULL},
      {"/dev/zvol/tank/win11", FALSE, WV_PATH_OK, NULL},
      {"/dev/disk/by-id/nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0N123456", FALSE, WV_PATH_OK, NULL},
      {"/srv/images/win.img", FALSE, WV_PATH_NOT_ALLOWED, NULL},
      {"/dev/sda", FALSE, WV_PATH_NOT_ALLOWED, NULL},
      /* a shared directory needs no allowed directory, but must not be or
       * hold one the host keeps */
      {"/srv/share/work", TRUE, WV_PATH_OK, NULL},
      {"/home/alice/Documents", TRUE, WV_PATH_OK, NULL},
      {"/", TRUE, WV_PATH_SENSITIVE, "/etc"},
      {"/var", TRUE, WV_PATH_SENSITIVE, "/var/lib/winvm"},
      {"/etc/winvm", TRUE, WV_PATH_SENSITIVE, "/etc"},
  };

  g_assert_no_error(error);
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    const char *dir = "unset";
    WvPathVerdict v = wv_path_policy_check(policy, cases[i].path, cases[i].share, &dir);

    if (v != cases[i].verdict)
      g_error("%s: verdict %d, expected %d", cases[i].path, v, cases[i].verdict);
    g_assert_cmpstr(dir, ==, cases[i].dir);
  }
  {
    g_autofree char *allowed = wv_path_policy_allowed(policy);
    g_assert_nonnull(strstr(allowed, "/var/lib/libvirt/images, "));
  }
}

static void
test_config(void)
{
  g_autofree char *dir = g_dir_make_tmp("winvm-paths-XXXXXX", NULL);
  g_autofree char *conf = g_build_filename(dir, "winvm.conf", NULL);
  g_autofree char *images = g_build_filename(dir, "images", NULL);
  g_autofree char *link = g_build_filename(images, "shadow.img", NULL);
  g_autofree char *disk = g_build_filename(images, "disk.img", NULL);
  g_autofree char *text = g_strdup_printf("# local storage\n[paths]\nallow = %s;/srv/iso\n"
                                          "deny = /var/lib/libvirt/images/private\n",
                                          images);
  g_autoptr(GError) error = NULL;
  g_autoptr(WvPathPolicy) policy = NULL;
  const char *which = NULL;

  write_file(dir, "winvm.conf", text);
  write_file(dir, "images/disk.img", "");
  g_assert_cmpint(symlink("/etc/shadow", link), ==, 0);
  policy = wv_path_policy_load(conf, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(wv_path_policy_check(policy, disk, FALSE, NULL), ==, WV_PATH_OK);
  g_assert_cmpint(wv_path_policy_check(policy, "/srv/iso/win.iso", FALSE, NULL), ==, WV_PATH_OK);
  /* a link in an allowed directory to a refused file: what it leads to counts */
  g_assert_cmpint(wv_path_policy_check(policy, link, FALSE, &which), ==, WV_PATH_SENSITIVE);
  g_assert_cmpstr(which, ==, "/etc");
  g_assert_cmpint(
      wv_path_policy_check(policy, "/var/lib/libvirt/images/private/x.img", FALSE, &which), ==,
      WV_PATH_SENSITIVE);
  g_assert_cmpstr(which, ==, "/var/lib/libvirt/images/private");
  g_clear_pointer(&policy, wv_path_policy_free);

  /* missing: the defaults; broken or untrusted: an error, never a guess */
  policy = wv_path_policy_load("/nonexistent/winvm.conf", NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(policy);
  g_clear_pointer(&policy, wv_path_policy_free);
  write_file(dir, "winvm.conf", "[paths]\nallow = relative/dir\n");
  g_assert_null(wv_path_policy_load(conf, NULL, &error));
  g_assert_nonnull(strstr(error->message, "is not an absolute path"));
  g_clear_error(&error);
  write_file(dir, "winvm.conf", "[paths]\nallowed = /srv\n");
  g_assert_null(wv_path_policy_load(conf, NULL, &error));
  g_assert_nonnull(strstr(error->message, "[paths] allowed: unknown key"));
  g_clear_error(&error);
  write_file(dir, "winvm.conf", "[paths]\nallow = /srv\n");
  g_assert_cmpint(g_chmod(conf, 0666), ==, 0);
  g_assert_null(wv_path_policy_load(conf, NULL, &error));
  g_assert_nonnull(strstr(error->message, "writable by its group or others"));
  g_clear_error(&error);

  wv_test_remove_tree(dir);
}

/* winvm.conf's [libvirt] group: the keepalive, beside [paths] */
static void
test_config_libvirt(void)
{
  g_autofree char *dir = g_dir_make_tmp("winvm-paths-XXXXXX", NULL);
  g_autofree char *conf = g_build_filename(dir, "winvm.conf", NULL);
  WvConfig config = {.host_config = conf};
  g_autoptr(GError) error = NULL;
  g_autoptr(WvPathPolicy) policy = NULL;

  /* absent: the defaults */
  g_assert_true(wv_config_load_libvirt(&config, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(config.keepalive_interval, ==, WV_KEEPALIVE_INTERVAL_DEFAULT);
  g_assert_cmpuint(config.keepalive_count, ==, WV_KEEPALIVE_COUNT_DEFAULT);

  write_file(dir, "winvm.conf",
             "[paths]\nallow = /srv\n[libvirt]\nkeepalive-interval = 2\n"
             "keepalive-count = 7\n");
  g_assert_true(wv_config_load_libvirt(&config, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(config.keepalive_interval, ==, 2);
  g_assert_cmpuint(config.keepalive_count, ==, 7);
  /* the path policy reads the same file and leaves [libvirt] alone */
  policy = wv_path_policy_load(conf, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(policy);

  /* broken: an error naming the key, and the defaults */
  write_file(dir, "winvm.conf", "[libvirt]\nkeepalive-interval = 0\n");
  g_assert_false(wv_config_load_libvirt(&config, &error));
  g_assert_nonnull(strstr(error->message, "[libvirt] keepalive-interval"));
  g_assert_cmpuint(config.keepalive_interval, ==, WV_KEEPALIVE_INTERVAL_DEFAULT);
  g_clear_error(&error);
  write_file(dir, "winvm.conf", "[libvirt]\nkeepalive-count = 3x\n");
  g_assert_false(wv_config_load_libvirt(&config, &error));
  g_clear_error(&error);
  write_file(dir, "winvm.conf", "[libvirt]\nkeepalive = 3\n");
  g_assert_false(wv_config_load_libvirt(&config, &error));
  g_assert_nonnull(strstr(error->message, "[libvirt] keepalive: unknown key"));
  g_clear_error(&error);
  wv_test_remove_tree(dir);
}

static void
node(const char *dir, const char *name, guint maj, guint min)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);

  if (mknod(path, S_IFBLK | 0600, makedev(maj, min)) < 0)
    g_error("mknod %s: %s (the unit tests run as root)", path, g_strerror(errno));
}

static void
test_mounted_block_devices(void)
{
  g_autofree char *dir = g_dir_make_tmp("winvm-blk-XXXXXX", NULL);
  g_autofree char *sys = g_build_filename(dir, "sys", NULL);
  g_autofree char *mountinfo = g_build_filename(dir, "mountinfo", NULL);
  g_autofree char *file = g_build_filename(dir, "disk.img", NULL);
  static const struct
  {
    const char *node;
    guint maj, min;
    const char *mount; /* NULL: free */
  } cases[] = {
      {"sda", 8, 0, "/"},        /* a partition of it is / */
      {"sda1", 8, 1, "/"},       /* itself */
      {"sdb", 8, 16, "/home a"}, /* LVM on it holds /home a */
      {"sdc", 8, 32, NULL},      /* a spare disk for the guest */
  };

  /* sda: partitions sda1 (/), sda2; sdb: dm-0 on it (LVM, /home a) */
  write_file(sys, "dev/block/8:0/dev", "8:0\n");
  write_file(sys, "dev/block/8:0/sda1/dev", "8:1\n");
  write_file(sys, "dev/block/8:0/sda1/partition", "1\n");
  write_file(sys, "dev/block/8:0/sda2/dev", "8:2\n");
  write_file(sys, "dev/block/8:0/sda2/partition", "2\n");
  write_file(sys, "dev/block/8:0/holders/.keep", "");
  write_file(sys, "dev/block/8:1/dev", "8:1\n");
  write_file(sys, "dev/block/8:16/dev", "8:16\n");
  write_file(sys, "dev/block/8:16/holders/dm-0", "");
  write_file(sys, "class/block/dm-0/dev", "253:0\n");
  write_file(sys, "dev/block/8:32/dev", "8:32\n");
  write_file(dir, "mountinfo",
             "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
             "26 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
             "30 26 253:0 / /home\\040a rw,relatime - ext4 /dev/mapper/vg-home rw\n");
  write_file(dir, "disk.img", "");
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = g_build_filename(dir, cases[i].node, NULL);
    g_autofree char *mount = NULL;

    node(dir, cases[i].node, cases[i].maj, cases[i].min);
    mount = wv_path_mounted_block_device(path, sys, mountinfo);
    g_assert_cmpstr(mount, ==, cases[i].mount);
  }
  g_assert_null(wv_path_mounted_block_device(file, sys, mountinfo));

  /* LVM volumes: device-mapper devices whose uuid says LVM */
  write_file(sys, "dev/block/253:3/dm/uuid", "LVM-Xq3aY0jvIVmWgSBG3rWkCqk9XpMNfRb1\n");
  write_file(sys, "dev/block/253:4/dm/uuid", "CRYPT-LUKS2-0f1e2d3c-home\n");
  node(dir, "vg0-win11", 253, 3);
  node(dir, "luks-home", 253, 4);
  {
    g_autofree char *lv = g_build_filename(dir, "vg0-win11", NULL);
    g_autofree char *crypt = g_build_filename(dir, "luks-home", NULL);
    g_assert_true(wv_path_is_lvm_volume(lv, sys));
    g_assert_false(wv_path_is_lvm_volume(crypt, sys));
    g_assert_false(wv_path_is_lvm_volume(file, sys));
  }
  g_assert_null(wv_path_mounted_block_device("/nonexistent", sys, mountinfo));
  wv_test_remove_tree(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/paths/builtin", test_builtin);
  g_test_add_func("/paths/config", test_config);
  g_test_add_func("/paths/config-libvirt", test_config_libvirt);
  g_test_add_func("/paths/mounted-block-devices", test_mounted_block_devices);
  return g_test_run();
}
