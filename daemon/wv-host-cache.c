/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-host-cache.h"

struct _WvHostCache
{
  gatomicrefcount ref;
  char *sysfs_root;
  char *mounts_path;

  GMutex lock;         /* guards everything below */
  WvHost *topology;    /* NULL: probe on next use */
  guint probes;        /* full probes */
  guint generation;    /* of the libvirt connection */
  GHashTable *domcaps; /* "virt_type machine" -> WvDomcaps*, this generation's */
  WvTristate kvm;      /* this generation's answer, when kvm_known */
  gboolean kvm_known;
  guint fetches;
};

WvHostCache *
wv_host_cache_new(const char *sysfs_root, const char *mounts_path)
{
  WvHostCache *cache = g_new0(WvHostCache, 1);

  g_atomic_ref_count_init(&cache->ref);
  cache->sysfs_root = g_strdup(sysfs_root);
  cache->mounts_path = g_strdup(mounts_path);
  g_mutex_init(&cache->lock);
  cache->domcaps =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)wv_domcaps_free);
  return cache;
}

WvHostCache *
wv_host_cache_ref(WvHostCache *cache)
{
  g_atomic_ref_count_inc(&cache->ref);
  return cache;
}

void
wv_host_cache_unref(WvHostCache *cache)
{
  if (cache == NULL || !g_atomic_ref_count_dec(&cache->ref))
    return;
  wv_host_free(cache->topology);
  g_hash_table_unref(cache->domcaps);
  g_mutex_clear(&cache->lock);
  g_free(cache->sysfs_root);
  g_free(cache->mounts_path);
  g_free(cache);
}

/* ---- sysfs ---------------------------------------------------------------- */

WvHost *
wv_host_cache_host(WvHostCache *cache, GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cache->lock);
  WvHost *host = NULL;

  /* The reads are small sysfs files: done under the lock, so that two
   * preflights never probe the whole tree at once. */
  if (cache->topology != NULL) {
    host = wv_host_refresh(cache->topology, cache->mounts_path);
    if (host != NULL)
      return host;
    g_debug("the online CPUs changed: probing the host again");
    g_clear_pointer(&cache->topology, wv_host_free);
  }
  cache->topology = wv_host_probe(cache->sysfs_root, cache->mounts_path, error);
  if (cache->topology == NULL)
    return NULL;
  cache->probes++;
  /* its figures are fresh, but it stays the cache's: hand out a copy */
  host = wv_host_refresh(cache->topology, cache->mounts_path);
  if (host == NULL) /* CPUs going on or off line this very moment */
    host = wv_host_probe(cache->sysfs_root, cache->mounts_path, error);
  return host;
}

void
wv_host_cache_forget_topology(WvHostCache *cache)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cache->lock);

  g_clear_pointer(&cache->topology, wv_host_free);
}

guint
wv_host_cache_probes(WvHostCache *cache)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cache->lock);

  return cache->probes;
}

/* ---- libvirt -------------------------------------------------------------- */

void
wv_host_cache_set_generation(WvHostCache *cache, guint generation)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cache->lock);

  if (generation == cache->generation)
    return;
  cache->generation = generation;
  g_hash_table_remove_all(cache->domcaps);
  cache->kvm_known = FALSE;
}

WvDomcaps *
wv_host_cache_domcaps(WvHostCache *cache, const char *virt_type, const char *machine,
                      WvDomcapsFetch fetch, gpointer data, GError **error)
{
  g_autofree char *key = g_strdup_printf("%s %s", virt_type, machine ? machine : "");
  WvDomcaps *caps;
  guint generation;

  g_mutex_lock(&cache->lock);
  caps = g_hash_table_lookup(cache->domcaps, key);
  if (caps != NULL) {
    caps = wv_domcaps_copy(caps);
    g_mutex_unlock(&cache->lock);
    return caps;
  }
  generation = cache->generation;
  cache->fetches++;
  g_mutex_unlock(&cache->lock);

  caps = fetch(data, error); /* blocking: not under the lock */
  if (caps == NULL)
    return NULL;
  g_mutex_lock(&cache->lock);
  if (generation == cache->generation)
    g_hash_table_replace(cache->domcaps, g_steal_pointer(&key), wv_domcaps_copy(caps));
  g_mutex_unlock(&cache->lock);
  return caps;
}

WvTristate
wv_host_cache_kvm_offered(WvHostCache *cache, WvKvmFetch fetch, gpointer data)
{
  WvTristate kvm;
  guint generation;

  g_mutex_lock(&cache->lock);
  if (cache->kvm_known) {
    kvm = cache->kvm;
    g_mutex_unlock(&cache->lock);
    return kvm;
  }
  generation = cache->generation;
  cache->fetches++;
  g_mutex_unlock(&cache->lock);

  kvm = fetch(data);
  g_mutex_lock(&cache->lock);
  if (generation == cache->generation) {
    cache->kvm = kvm;
    cache->kvm_known = TRUE;
  }
  g_mutex_unlock(&cache->lock);
  return kvm;
}

guint
wv_host_cache_fetches(WvHostCache *cache)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&cache->lock);

  return cache->fetches;
}
