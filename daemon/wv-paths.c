/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-paths.h"
#include "wv-common.h"
#include "wv-config.h"
#include "wv-file.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

struct _WvPathPolicy
{
  GPtrArray *allowed; /* char*: directories, no trailing '/' */
  GPtrArray *denied;
};

/* The host's own: configuration, boot, root's home, kernel interfaces and
 * runtime state. */
static const char *const builtin_denied[] = {"/etc", "/boot", "/root", "/proc",
                                             "/sys", "/run",  NULL};

/* Where images, ISOs, NVRAM and block volumes usually are. */
static const char *const builtin_allowed[] = {
    "/var/lib/libvirt/images", /* libvirt's default pool */
    "/var/lib/libvirt/boot",   /* virt-install's ISOs */
    "/var/lib/libvirt/qemu/nvram", "/dev/zvol", "/dev/disk/by-id", NULL,
};

void
wv_path_policy_free(WvPathPolicy *policy)
{
  if (policy == NULL)
    return;
  g_ptr_array_unref(policy->allowed);
  g_ptr_array_unref(policy->denied);
  g_free(policy);
}

static void
add_dir(GPtrArray *dirs, const char *dir)
{
  g_autofree char *clean = g_canonicalize_filename(dir, "/");

  for (guint i = 0; i < dirs->len; i++)
    if (g_str_equal(dirs->pdata[i], clean))
      return;
  g_ptr_array_add(dirs, g_steal_pointer(&clean));
}

static gboolean
add_list(GPtrArray *dirs, GKeyFile *kf, const char *key, const char *conf_path, GError **error)
{
  g_auto(GStrv) list = g_key_file_get_string_list(kf, "paths", key, NULL, NULL);

  for (guint i = 0; list && list[i]; i++) {
    const char *dir = g_strstrip(list[i]);

    if (dir[0] == '\0')
      continue;
    if (!g_path_is_absolute(dir)) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                  "%s: [paths] %s: “%s” is not an absolute path", conf_path, key, dir);
      return FALSE;
    }
    add_dir(dirs, dir);
  }
  return TRUE;
}

WvPathPolicy *
wv_path_policy_load(const char *conf_path, const char *const *extra_denied, GError **error)
{
  g_autoptr(WvPathPolicy) policy = g_new0(WvPathPolicy, 1);
  g_autoptr(GError) local = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;

  policy->allowed = g_ptr_array_new_with_free_func(g_free);
  policy->denied = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; builtin_denied[i]; i++)
    add_dir(policy->denied, builtin_denied[i]);
  for (guint i = 0; extra_denied && extra_denied[i]; i++)
    add_dir(policy->denied, extra_denied[i]);
  for (guint i = 0; builtin_allowed[i]; i++)
    add_dir(policy->allowed, builtin_allowed[i]);
  if (conf_path == NULL)
    return g_steal_pointer(&policy);

  text = wv_file_read(conf_path, WV_HOST_CONFIG_MAX_SIZE, TRUE, &len, &local);
  if (text == NULL) {
    if (g_error_matches(local, WV_ERROR, WV_ERROR_NOT_FOUND))
      return g_steal_pointer(&policy);
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  {
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_auto(GStrv) groups = NULL;
    g_auto(GStrv) keys = NULL;

    if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &local)) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: %s", conf_path, local->message);
      return NULL;
    }
    groups = g_key_file_get_groups(kf, NULL);
    for (guint i = 0; groups[i]; i++) {
      if (!g_str_equal(groups[i], "paths") && !g_str_equal(groups[i], "libvirt")) {
        g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: [%s]: unknown group", conf_path,
                    groups[i]);
        return NULL;
      }
    }
    keys = g_key_file_get_keys(kf, "paths", NULL, NULL);
    for (guint i = 0; keys && keys[i]; i++) {
      if (!g_str_equal(keys[i], "allow") && !g_str_equal(keys[i], "deny")) {
        g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: [paths] %s: unknown key",
                    conf_path, keys[i]);
        return NULL;
      }
    }
    if (!add_list(policy->allowed, kf, "allow", conf_path, error) ||
        !add_list(policy->denied, kf, "deny", conf_path, error))
      return NULL;
  }
  return g_steal_pointer(&policy);
}

/* @path is @dir or below it. */
static gboolean
is_below(const char *path, const char *dir)
{
  gsize n = strlen(dir);

  if (g_str_equal(dir, "/"))
    return TRUE;
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static const char *
first_match(GPtrArray *dirs, const char *path, gboolean above_too)
{
  for (guint i = 0; i < dirs->len; i++) {
    const char *dir = dirs->pdata[i];
    if (is_below(path, dir) || (above_too && is_below(dir, path)))
      return dir;
  }
  return NULL;
}

WvPathVerdict
wv_path_policy_check(const WvPathPolicy *policy, const char *path, gboolean share,
                     const char **dir_out)
{
  g_autofree char *clean = g_canonicalize_filename(path, "/");
  g_autofree char *real = realpath(clean, NULL);
  const char *const candidates[] = {clean, real};
  const char *dir = NULL;
  gboolean allowed = share;

  if (dir_out)
    *dir_out = NULL;
  for (guint i = 0; i < G_N_ELEMENTS(candidates); i++) {
    if (candidates[i] == NULL)
      continue;
    if ((dir = first_match(policy->denied, candidates[i], share)) != NULL) {
      if (dir_out)
        *dir_out = dir;
      return WV_PATH_SENSITIVE;
    }
  }
  /* allowed by name (a /dev/disk/by-id link) or by what it leads to */
  for (guint i = 0; i < G_N_ELEMENTS(candidates) && !allowed; i++)
    allowed = candidates[i] && first_match(policy->allowed, candidates[i], FALSE) != NULL;
  return allowed ? WV_PATH_OK : WV_PATH_NOT_ALLOWED;
}

char *
wv_path_policy_allowed(const WvPathPolicy *policy)
{
  g_autoptr(GString) s = g_string_new(NULL);

  for (guint i = 0; i < policy->allowed->len; i++)
    g_string_append_printf(s, "%s%s", i ? ", " : "", (const char *)policy->allowed->pdata[i]);
  return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ---- block devices that hold a mounted filesystem -------------------------- */

/* "major:minor" -> mount point, from a mountinfo text. */
static GHashTable *
mounted_devices(const char *mountinfo_path)
{
  GHashTable *mounted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents(mountinfo_path, &text, NULL, NULL))
    return mounted;
  lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_auto(GStrv) f = g_strsplit(lines[i], " ", 6);

    /* id parent major:minor root mountpoint options... */
    if (g_strv_length(f) < 5 || g_str_equal(f[2], "0:0"))
      continue;
    if (!g_hash_table_contains(mounted, f[2]))
      g_hash_table_insert(mounted, g_strdup(f[2]), g_strcompress(f[4]));
  }
  return mounted;
}

static char *
read_dev(const char *sys_block_dir)
{
  g_autofree char *path = g_build_filename(sys_block_dir, "dev", NULL);
  g_autofree char *text = NULL;

  if (!g_file_get_contents(path, &text, NULL, NULL))
    return NULL;
  return g_strdup(g_strstrip(text));
}

/* The mount point of @dev ("8:0"), of a partition of it, or of a device
 * stacked on it; @depth bounds the walk through holders. */
static char *
find_mounted(GHashTable *mounted, const char *sysfs_root, const char *dev, guint depth)
{
  g_autofree char *dir = NULL;
  g_autoptr(GDir) d = NULL;
  const char *found = g_hash_table_lookup(mounted, dev);
  const char *entry;

  if (found)
    return g_strdup(found);
  if (depth > 8)
    return NULL;
  dir = g_build_filename(sysfs_root, "dev/block", dev, NULL);
  /* partitions: subdirectories with a "partition" file */
  if ((d = g_dir_open(dir, 0, NULL)) != NULL) {
    while ((entry = g_dir_read_name(d)) != NULL) {
      g_autofree char *part = g_build_filename(dir, entry, NULL);
      g_autofree char *marker = g_build_filename(part, "partition", NULL);
      g_autofree char *part_dev = NULL;
      char *hit;

      if (!g_file_test(marker, G_FILE_TEST_EXISTS) || (part_dev = read_dev(part)) == NULL)
        continue;
      if ((hit = find_mounted(mounted, sysfs_root, part_dev, depth + 1)) != NULL)
        return hit;
    }
    g_clear_pointer(&d, g_dir_close);
  }
  /* holders: LVM, RAID, dm-crypt on top of it */
  {
    g_autofree char *holders = g_build_filename(dir, "holders", NULL);

    if ((d = g_dir_open(holders, 0, NULL)) == NULL)
      return NULL;
    while ((entry = g_dir_read_name(d)) != NULL) {
      g_autofree char *holder = g_build_filename(sysfs_root, "class/block", entry, NULL);
      g_autofree char *holder_dev = read_dev(holder);
      char *hit;

      if (holder_dev && (hit = find_mounted(mounted, sysfs_root, holder_dev, depth + 1)) != NULL)
        return hit;
    }
  }
  return NULL;
}

gboolean
wv_path_is_lvm_volume(const char *path, const char *sysfs_root)
{
  g_autofree char *uuid_path = NULL;
  g_autofree char *uuid = NULL;
  g_autofree char *dev = NULL;
  struct stat st;

  if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
    return FALSE;
  dev = g_strdup_printf("%u:%u", major(st.st_rdev), minor(st.st_rdev));
  uuid_path =
      g_build_filename(sysfs_root ? sysfs_root : "/sys", "dev/block", dev, "dm", "uuid", NULL);
  return g_file_get_contents(uuid_path, &uuid, NULL, NULL) && g_str_has_prefix(uuid, "LVM-");
}

char *
wv_path_mounted_block_device(const char *path, const char *sysfs_root, const char *mountinfo_path)
{
  g_autoptr(GHashTable) mounted = NULL;
  g_autofree char *dev = NULL;
  struct stat st;

  if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
    return NULL;
  mounted = mounted_devices(mountinfo_path ? mountinfo_path : "/proc/self/mountinfo");
  dev = g_strdup_printf("%u:%u", major(st.st_rdev), minor(st.st_rdev));
  return find_mounted(mounted, sysfs_root ? sysfs_root : "/sys", dev, 0);
}
