/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Host CPU sets in the kernel's list syntax ("0-3,8,10-11").
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Highest CPU number accepted; the kernel's NR_CPUS maximum. */
#define WV_CPU_MAX 8191

/* A set of CPUs: sorted ascending, no duplicates. */
typedef struct
{
  guint n;
  guint *cpus;
} WvCpuset;

WvCpuset *wv_cpuset_new(const guint *cpus, guint n);
WvCpuset *wv_cpuset_parse(const char *text, GError **error);
WvCpuset *wv_cpuset_copy(const WvCpuset *set);
void wv_cpuset_free(WvCpuset *set);
char *wv_cpuset_format(const WvCpuset *set);
gboolean wv_cpuset_contains(const WvCpuset *set, guint cpu);
gboolean wv_cpuset_is_subset(const WvCpuset *sub, const WvCpuset *super);
gboolean wv_cpuset_intersects(const WvCpuset *a, const WvCpuset *b);
gboolean wv_cpuset_equal(const WvCpuset *a, const WvCpuset *b);
WvCpuset *wv_cpuset_union(const WvCpuset *a, const WvCpuset *b);
/* The CPUs of @a that are not in @b. */
WvCpuset *wv_cpuset_difference(const WvCpuset *a, const WvCpuset *b);

/* systemd's AllowedCPUs= over D-Bus (ay): bit i of byte i / 8 is CPU i, no
 * trailing zero bytes; the empty array is "no restriction". */
GBytes *wv_cpuset_to_bitmask(const WvCpuset *set);
WvCpuset *wv_cpuset_from_bitmask(const guint8 *bytes, gsize len);

/* The kernel's hex CPU mask (%*pb: /sys/devices/virtual/workqueue/cpumask,
 * /proc/irq/N/smp_affinity): 32-bit groups in hex, highest first, separated
 * by commas ("ff", "1,00000000"). */
char *wv_cpuset_format_mask(const WvCpuset *set);
WvCpuset *wv_cpuset_parse_mask(const char *text, GError **error);

/* The same syntax, keeping the order in which CPUs are listed ("4,5,0-1" is
 * 4,5,0,1); a CPU listed twice is an error. Returns a GArray of guint. */
GArray *wv_cpu_list_parse(const char *text, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvCpuset, wv_cpuset_free)

G_END_DECLS
