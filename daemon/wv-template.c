/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-template.h"
#include "wv-common.h"

#include <malloc.h>
#include <sys/stat.h>

/* More templates than this in use at once is a mistake or an attack on
 * memory: the cache then starts again. */
#define WV_TEMPLATES_MAX 64

typedef struct
{
  xmlDoc *doc;      /* read only */
  gint64 last_used; /* monotonic µs, under the lock */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
} Template;

struct _WvTemplates
{
  gatomicrefcount ref;
  GMutex lock;
  GHashTable *by_path;   /* path -> Template* (its own reference) */
  GMainContext *context; /* of the expiry timer; NULL: trees are kept */
  guint ttl_ms;
  GSource *timer; /* pending expiry, under the lock; holds a reference */
};

static Template *
template_ref(Template *t)
{
  return g_atomic_rc_box_acquire(t);
}

static void
template_clear(Template *t)
{
  if (t->doc)
    xmlFreeDoc(t->doc);
}

static void
template_unref(Template *t)
{
  g_atomic_rc_box_release_full(t, (GDestroyNotify)template_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Template, template_unref)

WvTemplates *
wv_templates_new(GMainContext *context, guint ttl_ms)
{
  WvTemplates *templates = g_new0(WvTemplates, 1);

  templates->context = context ? g_main_context_ref(context) : NULL;
  templates->ttl_ms = ttl_ms;
  g_atomic_ref_count_init(&templates->ref);
  g_mutex_init(&templates->lock);
  templates->by_path =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)template_unref);
  return templates;
}

WvTemplates *
wv_templates_ref(WvTemplates *templates)
{
  g_atomic_ref_count_inc(&templates->ref);
  return templates;
}

void
wv_templates_unref(WvTemplates *templates)
{
  if (templates == NULL || !g_atomic_ref_count_dec(&templates->ref))
    return;
  g_hash_table_unref(templates->by_path);
  g_mutex_clear(&templates->lock);
  if (templates->context)
    g_main_context_unref(templates->context);
  g_free(templates);
}

static gboolean
same_file(const Template *t, const struct stat *st)
{
  return t->dev == st->st_dev && t->ino == st->st_ino && t->size == st->st_size &&
         t->mtime.tv_sec == st->st_mtim.tv_sec && t->mtime.tv_nsec == st->st_mtim.tv_nsec &&
         t->ctime.tv_sec == st->st_ctim.tv_sec && t->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* The file parsed, its root checked, the comments around the root gone. */
static xmlDoc *
parse(const char *path, int options, GError **error)
{
  g_autoptr(xmlDoc) doc = xmlReadFile(path, NULL,
                                      options | XML_PARSE_NONET | XML_PARSE_NOBLANKS |
                                          XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  xmlNode *root;

  if (doc == NULL) {
    const xmlError *e = xmlGetLastError();
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "template %s: %s", path,
                e && e->message ? g_strchomp(e->message) : "unreadable");
    return NULL;
  }
  root = xmlDocGetRootElement(doc);
  if (root == NULL || !wv_xml_is_element(root, "domain")) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                "template %s: the root element is not <domain>", path);
    return NULL;
  }
  /* the template's comments describe the template, not a VM */
  for (xmlNode *c = doc->children, *next; c; c = next) {
    next = c->next;
    if (c != root) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
  }
  return g_steal_pointer(&doc);
}

static gboolean expire(gpointer data);

/* Under the lock: the expiry timer, @delay_ms from now, unless one is
 * pending. */
static void
schedule_expiry(WvTemplates *templates, guint delay_ms)
{
  if (templates->context == NULL || templates->timer != NULL)
    return;
  templates->timer = g_timeout_source_new(delay_ms);
  g_source_set_callback(templates->timer, expire, wv_templates_ref(templates),
                        (GDestroyNotify)wv_templates_unref);
  g_source_attach(templates->timer, templates->context);
}

/* On the context: drops the trees unused for the TTL, and hands their
 * memory back (a burst of renders leaves none behind). */
static gboolean
expire(gpointer data)
{
  WvTemplates *templates = data;
  gint64 now = g_get_monotonic_time(), ttl_us = (gint64)templates->ttl_ms * 1000;
  gint64 next = G_MAXINT64;
  guint dropped = 0;
  GHashTableIter iter;
  gpointer value;

  g_mutex_lock(&templates->lock);
  g_hash_table_iter_init(&iter, templates->by_path);
  while (g_hash_table_iter_next(&iter, NULL, &value)) {
    const Template *t = value;

    if (now - t->last_used >= ttl_us) {
      g_hash_table_iter_remove(&iter);
      dropped++;
    } else {
      next = MIN(next, t->last_used + ttl_us);
    }
  }
  g_clear_pointer(&templates->timer, g_source_unref); /* destroyed as it returns */
  if (next != G_MAXINT64)
    schedule_expiry(templates, (guint)((next - now) / 1000) + 1);
  g_mutex_unlock(&templates->lock);
  if (dropped > 0)
    malloc_trim(0);
  return G_SOURCE_REMOVE;
}

/* The kept entry for @path if its file is still @st: with its tree, or
 * without (used once so far: *@seen). */
static Template *
lookup(WvTemplates *templates, const char *path, const struct stat *st, gboolean *seen)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&templates->lock);
  Template *t = g_hash_table_lookup(templates->by_path, path);

  *seen = FALSE;
  if (t == NULL || !same_file(t, st))
    return NULL;
  t->last_used = g_get_monotonic_time();
  if (t->doc == NULL) {
    *seen = TRUE;
    return NULL;
  }
  return template_ref(t);
}

/* Keeps @doc (NULL: only that @path was used) under @st's identity; a
 * reference for the caller (another thread may replace it at once). */
static Template *
keep(WvTemplates *templates, const char *path, const struct stat *st, xmlDoc *doc)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&templates->lock);
  Template *t = g_atomic_rc_box_new0(Template);

  t->doc = doc;
  t->dev = st->st_dev;
  t->ino = st->st_ino;
  t->size = st->st_size;
  t->mtime = st->st_mtim;
  t->ctime = st->st_ctim;
  t->last_used = g_get_monotonic_time();
  if (g_hash_table_size(templates->by_path) >= WV_TEMPLATES_MAX)
    g_hash_table_remove_all(templates->by_path);
  g_hash_table_replace(templates->by_path, g_strdup(path), t);
  schedule_expiry(templates, templates->ttl_ms);
  return template_ref(t);
}

xmlDoc *
wv_templates_copy(WvTemplates *templates, const char *path, GError **error)
{
  g_autoptr(Template) t = NULL;
  gboolean seen;
  struct stat st;
  xmlDoc *doc;

  /* a file that changes between this stat() and the parse is kept under
   * the older identity: the next render parses it again */
  if (templates == NULL || stat(path, &st) < 0)
    return parse(path, 0, error);
  t = lookup(templates, path, &st, &seen);
  if (t)
    return xmlCopyDoc(t->doc, 1);
  if (!seen) {
    /* Used once: the caller gets the parsed tree itself, and only the
     * file's identity is kept. A tree is kept from the second use on, so
     * that templates of one VM each (rendered once in a burst) never leave
     * their trees scattered over the heap. */
    if ((doc = parse(path, 0, error)) != NULL)
      template_unref(keep(templates, path, &st, NULL));
    return doc;
  }
  /* no dictionary: copies made in other threads must not write to it */
  if ((doc = parse(path, XML_PARSE_NODICT, error)) == NULL)
    return NULL;
  t = keep(templates, path, &st, doc);
  return xmlCopyDoc(t->doc, 1);
}

void
wv_templates_forget(WvTemplates *templates)
{
  GSource *timer;

  if (templates == NULL)
    return;
  g_mutex_lock(&templates->lock);
  g_hash_table_remove_all(templates->by_path);
  timer = g_steal_pointer(&templates->timer);
  g_mutex_unlock(&templates->lock);
  if (timer) {
    g_source_destroy(timer); /* drops its reference to @templates */
    g_source_unref(timer);
  }
}

guint
wv_templates_size(WvTemplates *templates)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&templates->lock);
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init(&iter, templates->by_path);
  while (g_hash_table_iter_next(&iter, NULL, &value))
    n += ((const Template *)value)->doc != NULL;
  return n;
}
