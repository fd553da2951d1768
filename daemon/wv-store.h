/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The profile directory as something winvmd writes: a profile's text read
 * with its etag, new text validated (the parser and trust rules the
 * directory's files pass) and written atomically, a profile moved aside.
 * Blocking file I/O: called from workers. Writes are serialized, so that of
 * two writers holding one etag exactly one wins.
 */
#pragma once

#include <glib.h>

#include "wv-profile.h"

G_BEGIN_DECLS

/* @dir/@name.conf */
char *wv_store_path(const char *dir, const char *name);

/* The text of the profile file @path (the directory's trust rules), and
 * its etag. */
char *wv_store_read(const char *path, char **etag, GError **error);

/* Parses @text as the profile @name would be read from @path: every error
 * at once (InvalidProfile, "file:line: ..."); InvalidArgs when it names
 * another VM; AccessDenied when it sets raw-qemu and the caller is not
 * root (@root): only a profile root writes may pass options to QEMU. */
WvProfile *wv_store_validate(const char *path, const char *name, const char *text, gboolean root,
                             GError **error);

/* Writes @text to @path through a temporary file in the same directory
 * (mode 0644, synced, renamed over): readers see the old file or the new
 * one, never a part. @etag NULL: @path must not exist (Exists); else it must
 * still have that etag (Conflict). */
gboolean wv_store_write(const char *path, const char *text, const char *etag, GError **error);

/* Renames @path to @path.deleted-<UTC time> (never removes anything);
 * returns the new path. */
char *wv_store_move_aside(const char *path, GError **error);

G_END_DECLS
