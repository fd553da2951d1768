/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Profile + host facts -> a concrete plan (which host CPU each vCPU, the
 * emulator and each I/O thread gets, the guest topology, which pages to
 * reserve, which Hyper-V features to enable) and the preflight findings.
 * `check` and `start` both call wv_plan_build(), so they can never disagree.
 */
#pragma once

#include <glib.h>

#include "wv-host.h"
#include "wv-paths.h"
#include "wv-profile.h"

G_BEGIN_DECLS

typedef enum
{
  WV_SEVERITY_ERROR,
  WV_SEVERITY_WARNING,
  WV_SEVERITY_INFO,
} WvSeverity;

const char *wv_severity_name(WvSeverity s);

typedef struct
{
  WvSeverity severity;
  char *code;    /* stable, documented in winvm.conf(5) */
  char *message; /* what is wrong, naming the thing */
  char *hint;    /* what to do about it, may be NULL */
} WvFinding;

typedef struct
{
  /* What the plan was made against. NULL members mean "unknown": the plan
   * then leaves those decisions to libvirt and says so. */
  const WvHost *host;
  const WvDomcaps *domcaps;
  /* PCI address ("0000:0f:00.0") -> name of the running domain using it. */
  GHashTable *devices_in_use;
  const char *template_dir;
  /* parsed templates kept between renders (wv-template.h); NULL: the
   * render reads the file */
  struct _WvTemplates *templates;
  /* libvirt said it offers no kvm guests (wv_libvirt_kvm_offered) */
  gboolean libvirt_lacks_kvm;
  /* a libvirt domain of the profile's name exists that winvm did not
   * define (wv_libvirt_lookup_ours) */
  gboolean foreign_domain;
  /* Which host paths the guest may get; NULL: not judged (a plan for
   * another host). @paths_error: why there is no policy (winvm.conf is
   * broken or untrusted), an error finding. */
  const WvPathPolicy *paths;
  const char *paths_error;
  /* The mount table for block devices that hold a host filesystem;
   * NULL: /proc/self/mountinfo. */
  const char *mountinfo_path;
} WvPlanContext;

typedef struct
{
  guint vcpus;
  guint sockets, dies, cores, threads;
  GPtrArray *vcpu_pins;     /* WvCpuset*, one per vCPU, or empty: not pinned */
  WvCpuset *emulator_pin;   /* NULL: not pinned */
  GPtrArray *iothread_pins; /* WvCpuset*, one per I/O thread, or empty */
  gint numa_node;           /* >= 0: memory bound to this node */
  guint hyperv_features;    /* effective WvHypervFeature bit set */
  char *cpu_model;          /* effective custom model, NULL for host modes */
  WvCpuMode cpu_mode;
  guint64 hugepage_kib; /* 0: no hugepages */
  guint64 hugepages_needed;
  guint64 hugepages_reserve; /* pages the pool must grow by at start */
  /* 2048: 2M pages when the pool will not grow enough ([memory]
   * hugepages-fallback); 0: none. Start changes hugepage_kib to it then. */
  guint64 hugepage_fallback_kib;
  char *template_path;
  struct _WvTemplates *templates; /* WvPlanContext's, for wv_render() */
  /* [host]: what the host gives up while it runs (wv-isolate.c does it) */
  WvCpuset *vm_cpus;   /* the host CPUs its vCPUs are pinned to; NULL: not pinned */
  WvCpuset *host_cpus; /* the online CPUs but those: where the host then runs */
  gboolean isolate;    /* system.slice, user.slice, init.scope kept on host_cpus */
  gboolean governor;   /* the performance governor on vm_cpus */
  gboolean irq_steer;  /* movable IRQs and unbound workqueues kept off vm_cpus */
  GPtrArray *findings; /* WvFinding* */
  /* Why libvirt's domain capabilities were asked for and not had (Hyper-V,
   * firmware and TPM checks were then skipped); NULL otherwise. */
  char *domcaps_error;
} WvPlan;

WvPlan *wv_plan_build(const WvProfile *profile, const WvPlanContext *ctx);
/* For the checks that build on a plan (wv-trust.c). */
G_GNUC_PRINTF(5, 6)
void wv_plan_add_finding(WvPlan *plan, WvSeverity severity, const char *code, const char *hint,
                         const char *fmt, ...);
void wv_plan_free(WvPlan *plan);
/* Works out vm_cpus, host_cpus and the [host] steps from the pins (again,
 * after the saved tuning changed them); @host may be NULL. */
void wv_plan_host_steps(WvPlan *plan, const WvProfile *profile, const WvHost *host);
gboolean wv_plan_has_errors(const WvPlan *plan);
/* A GError (WV_ERROR_PREFLIGHT_FAILED) listing every error finding. */
gboolean wv_plan_check(const WvPlan *plan, GError **error);
/* Human-readable findings and plan, as `winvmd --check` prints them. */
char *wv_plan_to_string(const WvPlan *plan, const WvProfile *profile);

/* The template file a profile names ("windows11" -> DIR/windows11.xml). */
char *wv_template_path(const char *name, const char *template_dir);
/* $WINVM_TEMPLATE_DIR or the installed directory. */
const char *wv_default_template_dir(void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvPlan, wv_plan_free)

G_END_DECLS
