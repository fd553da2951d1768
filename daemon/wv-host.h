/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host facts: CPU topology, PCI devices and IOMMU groups, hugepage pools and
 * hugetlbfs mounts, read from sysfs (root overridable for tests), and what
 * libvirt's domain capabilities say this host's KVM/QEMU supports.
 */
#pragma once

#include <glib.h>

#include "wv-cpuset.h"
#include "wv-hugepages.h"
#include "wv-profile.h"

G_BEGIN_DECLS

typedef struct
{
  guint id;
  gboolean online;
  gint package;       /* physical_package_id, -1 unknown */
  gint die;           /* die_id, -1 unknown */
  gint core;          /* core_id, -1 unknown */
  gint node;          /* NUMA node, -1 unknown */
  gint l3;            /* index into WvHost.l3_groups, -1 unknown */
  WvCpuset *siblings; /* thread_siblings_list, includes the CPU itself */
} WvHostCpu;

typedef struct
{
  WvPciAddress addr;
  char *name;   /* "0000:0f:00.0" */
  guint class;  /* 24-bit class code, e.g. 0x030000 */
  guint vendor; /* 0x10de */
  guint device;
  char *driver;     /* bound driver name, NULL when none */
  gint iommu_group; /* -1 when none */
  gint node;        /* numa_node, -1 unknown */
} WvPciDevice;

typedef struct
{
  guint64 page_kib;
  gint node;       /* -1: the global pool in /sys/kernel/mm/hugepages */
  guint64 total;   /* nr_hugepages */
  guint64 free;    /* free_hugepages */
  char *nr_path;   /* the nr_hugepages file, for reservations */
  char *free_path; /* the free_hugepages file */
} WvHugepagePool;

typedef struct
{
  char *path;
  guint64 page_kib; /* from pagesize= option, or the default size */
} WvHugetlbfsMount;

/* Whether this host can run `hypervisor = kvm` guests, as far as the
 * kernel says (libvirt's own view is in WvPlanContext.libvirt_kvm). */
typedef enum
{
  WV_KVM_AVAILABLE,
  WV_KVM_NO_MODULE, /* no /sys/class/misc/kvm: kvm_intel/kvm_amd not loaded or no VT-x/AMD-V */
  WV_KVM_NO_DEVICE, /* the module is there, /dev/kvm is not */
  WV_KVM_NO_ACCESS, /* /dev/kvm exists but cannot be opened read-write */
} WvKvmState;

typedef struct
{
  char *sysfs_root;
  GPtrArray *cpus;              /* WvHostCpu*, sorted by id, every present CPU */
  WvCpuset *online;             /* online CPUs */
  GPtrArray *nodes;             /* WvCpuset* indexed by node number; NULL holes allowed */
  GPtrArray *l3_groups;         /* WvCpuset*, distinct shared_cpu_list of cache index3 */
  gboolean iommu;               /* /sys/kernel/iommu_groups has at least one group */
  GPtrArray *pci;               /* WvPciDevice*, sorted by address */
  GPtrArray *hugepages;         /* WvHugepagePool*, global pools then per-node */
  GPtrArray *hugetlbfs;         /* WvHugetlbfsMount* */
  guint64 default_hugepage_kib; /* from /proc/meminfo Hugepagesize, 0 unknown */
  guint64 mem_available_kib;    /* from /proc/meminfo MemAvailable, 0 unknown */
  GArray *node_free_kib;        /* guint64 by node number: nodeN/meminfo MemFree, 0 unknown */
  GArray *buddyinfo;            /* WvBuddyZone from /proc/buddyinfo, NULL: not read */
  char *buddyinfo_error;        /* why /proc/buddyinfo could not be parsed, NULL */
  WvKvmState kvm;
  /* From the cpuinfo flags: "vmx" (Intel VT-x), "svm" (AMD-V), "" (neither
   * offered to this kernel), NULL (cpuinfo unreadable). */
  char *cpu_virt_flag;
} WvHost;

/* Reads the host below @sysfs_root (NULL: "/sys") and the mount table in
 * @mounts_path (NULL: "/proc/self/mounts"; meminfo and cpuinfo are read
 * beside it). Missing optional parts (no IOMMU, no NUMA, no hugepages) are
 * not errors; an unreadable CPU tree is. /dev/kvm is looked at only for the
 * real /sys: a fake tree says whether its host has KVM by class/misc/kvm. */
WvHost *wv_host_probe(const char *sysfs_root, const char *mounts_path, GError **error);
void wv_host_free(WvHost *host);
/* @topology's CPUs, caches, NUMA nodes, PCI devices and IOMMU groups, and
 * which hugepage pools exist (shared, not read again), with what may change
 * at any moment read now: the online CPUs, each PCI device's driver, the
 * pools' counters, meminfo, the hugetlbfs mounts and /dev/kvm. NULL when
 * the online CPUs are not those of @topology: probe again. @mounts_path as
 * for wv_host_probe(). */
WvHost *wv_host_refresh(const WvHost *topology, const char *mounts_path);

const WvHostCpu *wv_host_cpu(const WvHost *host, guint id);
const WvPciDevice *wv_host_pci(const WvHost *host, const WvPciAddress *addr);
/* Every device in IOMMU group @group (WvPciDevice*, borrowed). */
GPtrArray *wv_host_iommu_group(const WvHost *host, gint group);
/* The pool of @page_kib pages on @node (-1: global); NULL when there is none. */
const WvHugepagePool *wv_host_hugepages(const WvHost *host, guint64 page_kib, gint node);
/* MemFree of NUMA node @node in kB, 0 when unknown. */
guint64 wv_host_node_free_kib(const WvHost *host, gint node);
/* A hugetlbfs mount serving @page_kib pages, NULL when none. */
const WvHugetlbfsMount *wv_host_hugetlbfs(const WvHost *host, guint64 page_kib);
gboolean wv_pci_device_is_bridge(const WvPciDevice *dev);

/* What libvirt's domain capabilities say (virConnectGetDomainCapabilities). */
typedef struct
{
  gboolean hyperv_known;  /* the document lists Hyper-V features */
  guint hyperv_supported; /* bit set of WvHypervFeature */
  gboolean efi;           /* an EFI firmware is available */
  gboolean secure_boot;   /* the firmware supports secure boot */
  gboolean tpm;           /* a TPM emulator backend is available */
  guint max_vcpus;        /* 0: unknown */
  char *emulator;         /* the QEMU binary libvirt uses, NULL: unknown */
  GPtrArray *machines;    /* char*: machine types */
} WvDomcaps;

WvDomcaps *wv_domcaps_parse(const char *xml, GError **error);
WvDomcaps *wv_domcaps_copy(const WvDomcaps *caps);
void wv_domcaps_free(WvDomcaps *caps);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvHost, wv_host_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvDomcaps, wv_domcaps_free)

G_END_DECLS
