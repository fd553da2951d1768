/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Which host paths a profile may hand to a guest. winvmd runs as root and
 * libvirt relabels what a domain uses for the QEMU user, so a disk whose
 * source is /etc/shadow would become readable by the guest. Paths under
 * the host's own directories are always refused; disks, CD-ROMs, NVRAM,
 * ROM files and evdev input devices must lie below an allowed directory
 * (/etc/winvm/winvm.conf, [paths] allow); a shared directory must neither be nor contain a refused
 * one; and a block device that holds a mounted host filesystem (itself, a
 * partition of it, or a device stacked on it) is refused.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _WvPathPolicy WvPathPolicy;

typedef enum
{
  WV_PATH_OK,
  WV_PATH_SENSITIVE,   /* in (or, for a share, above) a directory never handed out */
  WV_PATH_NOT_ALLOWED, /* below no allowed directory */
} WvPathVerdict;

/* The built-in policy plus @extra_denied (the daemon's own directories;
 * NULL-terminated, may be NULL), then what @conf_path says ([paths] allow
 * and deny, lists separated by ';'). A missing @conf_path is no error; an
 * unreadable, untrusted (not root's, or writable by others) or malformed
 * one is, and NULL is returned. */
WvPathPolicy *wv_path_policy_load(const char *conf_path, const char *const *extra_denied,
                                  GError **error);
void wv_path_policy_free(WvPathPolicy *policy);

/* Judges @path (absolute). @share: a directory handed to the guest whole,
 * which needs no allowed directory but must not contain a refused one.
 * @dir_out, when not NULL, is set to the directory that decided (borrowed;
 * NULL for WV_PATH_OK). Symbolic links are followed: the path and what it
 * leads to must both pass. */
WvPathVerdict wv_path_policy_check(const WvPathPolicy *policy, const char *path, gboolean share,
                                   const char **dir_out);

/* Whether @path is (or leads to) an LVM logical volume: a device-mapper
 * block device whose dm/uuid starts with "LVM-" (below @sysfs_root, NULL:
 * /sys). LVM volumes are allowed wherever their links live. */
gboolean wv_path_is_lvm_volume(const char *path, const char *sysfs_root);

/* A comma-separated list of the allowed directories, for hints. */
char *wv_path_policy_allowed(const WvPathPolicy *policy);

/* When @path is (or leads to) a block device that holds a mounted
 * filesystem, directly, through a partition or through a device stacked on
 * it (LVM, RAID, dm-crypt): that mount point ("/" or "/home"); NULL
 * otherwise. The mount table is @mountinfo_path (/proc/self/mountinfo
 * format), device relations come from @sysfs_root (NULL: /sys). */
char *wv_path_mounted_block_device(const char *path, const char *sysfs_root,
                                   const char *mountinfo_path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvPathPolicy, wv_path_policy_free)

G_END_DECLS
