/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reading the files a root daemon acts on (profiles, winvm.conf) without
 * ever waiting on one or reading one unbounded.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A FIFO, device, socket or directory is refused after a non-blocking open,
 * the size is checked before reading, and no more than @max_size bytes are
 * read even if the file grows. @trusted: no symbolic links, and only files
 * owned by root (or the daemon's own user) that group and others cannot
 * write, like sshd's StrictModes. Errors are WV_ERROR_NOT_FOUND (no such
 * file) or WV_ERROR_INVALID_PROFILE, naming @path. */
char *wv_file_read(const char *path, gsize max_size, gboolean trusted, gsize *len, GError **error);

G_END_DECLS
