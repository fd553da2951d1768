/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-template.h"
#include "wv-common.h"

#include <sys/stat.h>

/* More templates than this in use at once is a mistake or an attack on
 * memory: the cache then starts again. */
#define WV_TEMPLATES_MAX 64

typedef struct
{
  xmlDoc *doc; /* read only */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime;
} Template;

struct _WvTemplates
{
  gatomicrefcount ref;
  GMutex lock;
  GHashTable *by_path; /* path -> Template* (its own reference) */
};

static Template *
template_ref(Template *t)
{
  return g_atomic_rc_box_acquire(t);
}

static void
template_clear(Template *t)
{
  xmlFreeDoc(t->doc);
}

static void
template_unref(Template *t)
{
  g_atomic_rc_box_release_full(t, (GDestroyNotify)template_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Template, template_unref)

WvTemplates *
wv_templates_new(void)
{
  WvTemplates *templates = g_new0(WvTemplates, 1);

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

static Template *
lookup(WvTemplates *templates, const char *path, const struct stat *st)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&templates->lock);
  Template *t = g_hash_table_lookup(templates->by_path, path);

  return t && same_file(t, st) ? template_ref(t) : NULL;
}

static Template *
load(WvTemplates *templates, const char *path, const struct stat *st, GError **error)
{
  /* no dictionary: copies made in other threads must not write to it */
  xmlDoc *doc = parse(path, XML_PARSE_NODICT, error);
  Template *t;

  if (doc == NULL)
    return NULL;
  t = g_atomic_rc_box_new0(Template);
  t->doc = doc;
  t->dev = st->st_dev;
  t->ino = st->st_ino;
  t->size = st->st_size;
  t->mtime = st->st_mtim;
  t->ctime = st->st_ctim;
  {
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&templates->lock);

    if (g_hash_table_size(templates->by_path) >= WV_TEMPLATES_MAX)
      g_hash_table_remove_all(templates->by_path);
    g_hash_table_replace(templates->by_path, g_strdup(path), template_ref(t));
  }
  return t;
}

xmlDoc *
wv_templates_copy(WvTemplates *templates, const char *path, GError **error)
{
  g_autoptr(Template) t = NULL;
  struct stat st;

  /* a file that changes between this stat() and the parse is kept under
   * the older identity: the next render parses it again */
  if (templates == NULL || stat(path, &st) < 0)
    return parse(path, 0, error);
  t = lookup(templates, path, &st);
  if (t == NULL && (t = load(templates, path, &st, error)) == NULL)
    return NULL;
  return xmlCopyDoc(t->doc, 1);
}

void
wv_templates_forget(WvTemplates *templates)
{
  g_autoptr(GMutexLocker) locker = NULL;

  if (templates == NULL)
    return;
  locker = g_mutex_locker_new(&templates->lock);
  g_hash_table_remove_all(templates->by_path);
}

guint
wv_templates_size(WvTemplates *templates)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&templates->lock);

  return g_hash_table_size(templates->by_path);
}
