/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host facts and libvirt's domain capabilities, kept between plans. Every
 * plan used to read the whole sysfs tree and ask libvirt for its domain
 * capabilities again, although those change only with the hardware or
 * libvirt; what a decision depends on and can change at any moment is still
 * read for every plan.
 *
 * Cached, until the stated event:
 * - the sysfs topology: present CPUs with their package/die/core ids, SMT
 *   siblings and L3 groups, NUMA nodes and their CPUs, PCI devices (address,
 *   class, ids, NUMA node) and IOMMU groups, which hugepage pools exist (page
 *   sizes, global and per node), and the cpuinfo virtualisation flag. Read
 *   once per daemon life; probed again when the online CPUs differ from the
 *   cached ones (CPU hotplug) and after wv_host_cache_forget_topology()
 *   (winvmd calls it on Reload: the way to tell it the hardware changed).
 * - domain capabilities, per libvirt connection generation, virt type and
 *   machine type, and whether libvirt offers kvm, per generation: dropped
 *   when the generation changes (wv_host_cache_set_generation(), on every
 *   connect and disconnect); an answer fetched under an older generation is
 *   not kept. Failures are not cached.
 *
 * Read fresh for every host (wv_host_cache_host()), never from the cache:
 * the online CPU list (devices/system/cpu/online), each PCI device's bound
 * driver, every hugepage pool's nr_hugepages and free_hugepages, /proc
 * meminfo (MemAvailable, Hugepagesize), the hugetlbfs mounts and /dev/kvm.
 * So a pool grown or a device bound to vfio-pci shows in the very next plan.
 *
 * Thread-safe: preflights call it from worker threads.
 */
#pragma once

#include "wv-host.h"
#include "wv-profile.h"

G_BEGIN_DECLS

typedef struct _WvHostCache WvHostCache;

/* For the tree under @sysfs_root (NULL: /sys) and @mounts_path (NULL: the
 * real /proc), as wv_host_probe() takes them. Nothing is read yet. */
WvHostCache *wv_host_cache_new(const char *sysfs_root, const char *mounts_path);
WvHostCache *wv_host_cache_ref(WvHostCache *cache);
void wv_host_cache_unref(WvHostCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvHostCache, wv_host_cache_unref)

/* The host now (blocking; transfer full): the cached topology with the
 * fresh figures above. NULL with @error as wv_host_probe(). */
WvHost *wv_host_cache_host(WvHostCache *cache, GError **error);
/* The next host is probed in full. */
void wv_host_cache_forget_topology(WvHostCache *cache);
/* Full probes of the topology so far. */
guint wv_host_cache_probes(WvHostCache *cache);

/* The libvirt connection is now generation @generation: the domain
 * capabilities and the kvm answer of any other are dropped. */
void wv_host_cache_set_generation(WvHostCache *cache, guint generation);

/* Asks libvirt (blocking); NULL with @error when it cannot say. */
typedef WvDomcaps *(*WvDomcapsFetch)(gpointer data, GError **error);
typedef WvTristate (*WvKvmFetch)(gpointer data);

/* The domain capabilities for @virt_type and @machine (NULL: the default)
 * in the current generation (transfer full): from the cache, else from
 * @fetch, kept when the generation did not change meanwhile. */
WvDomcaps *wv_host_cache_domcaps(WvHostCache *cache, const char *virt_type, const char *machine,
                                 WvDomcapsFetch fetch, gpointer data, GError **error);
/* Whether libvirt offers kvm, the same way (UNSET answers are kept too). */
WvTristate wv_host_cache_kvm_offered(WvHostCache *cache, WvKvmFetch fetch, gpointer data);
/* Answers fetched (not served from the cache) so far. */
guint wv_host_cache_fetches(WvHostCache *cache);

G_END_DECLS
