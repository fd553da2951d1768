/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Domain templates, parsed once. A render used to parse its template file
 * again every time (a fifth of a whole render + preflight); now a template
 * rendered again gets a private copy of a tree parsed once and kept while
 * the file stays the same: same device, inode, size, modification and
 * change time, checked with one stat() per render, so an edited or
 * replaced template shows in the very next render. The first render of a
 * template gets the parsed tree itself and only the file's identity is
 * kept: templates of one VM each, rendered once in a burst, would
 * otherwise leave their trees scattered over the heap (0.4 MiB of private
 * memory for 50 VMs, tests/bench/README.md). A tree unused for the TTL is dropped (a burst of
 * renders, Start of every VM at boot, leaves no memory behind), and Reload
 * forgets them all. A template that does not parse is not kept: its error
 * comes again on every render.
 *
 * Thread-safe: renders run in worker threads. The kept trees are parsed
 * without a dictionary and only ever read (xmlCopyDoc), so copies made at
 * the same time share nothing they write.
 */
#pragma once

#include "wv-xml.h"

G_BEGIN_DECLS

typedef struct _WvTemplates WvTemplates;

/* What winvmd uses: the plan cache's (wv-plan-cache.h) */
#define WV_TEMPLATES_TTL_MS 2000

/* Trees unused for @ttl_ms are dropped by a timer on @context (the
 * daemon's main context); @context NULL: kept until forgotten. */
WvTemplates *wv_templates_new(GMainContext *context, guint ttl_ms);
WvTemplates *wv_templates_ref(WvTemplates *templates);
void wv_templates_unref(WvTemplates *templates);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvTemplates, wv_templates_unref)

/* A new tree of the template at @path (its root a <domain>, the comments
 * around it dropped), for the caller to change and free; from
 * @templates' parsed trees when it is not NULL, else read from the file.
 * NULL with WV_ERROR_INVALID_PROFILE when it cannot be read or parsed. */
xmlDoc *wv_templates_copy(WvTemplates *templates, const char *path, GError **error);
/* Forgets every kept tree (Reload, exit), and the pending expiry. */
void wv_templates_forget(WvTemplates *templates);
/* How many parsed trees are kept (tests): a template gets one from its
 * second use on. */
guint wv_templates_size(WvTemplates *templates);

G_END_DECLS
