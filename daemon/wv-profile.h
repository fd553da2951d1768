/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A VM profile: one GKeyFile per VM saying what the user wants. Parsing
 * yields a typed, validated WvProfile; every error names
 * "file:line: [group] key: what is wrong".
 */
#pragma once

#include <glib.h>

#include "wv-cpuset.h"

G_BEGIN_DECLS

/* A setting the profile may leave to the template. */
typedef enum
{
  WV_TRI_UNSET = -1,
  WV_TRI_OFF = 0,
  WV_TRI_ON = 1,
} WvTristate;

typedef enum
{
  WV_HYPERVISOR_KVM,
  WV_HYPERVISOR_QEMU,
} WvHypervisor;

typedef enum
{
  WV_HOST_SHUTDOWN_SHUTDOWN,
  WV_HOST_SHUTDOWN_SAVE,
  WV_HOST_SHUTDOWN_DESTROY,
} WvHostShutdownPolicy;

/* [vm] shutdown-method: how a VM is asked to stop, in order. */
typedef enum
{
  WV_STOP_METHOD_AGENT, /* the QEMU guest agent, when it is connected */
  WV_STOP_METHOD_ACPI,  /* the ACPI power button, pressed again every acpi-repeat */
  WV_STOP_N_METHODS,
} WvStopMethod;

/* [vm] on-timeout: what happens to a VM still running at its deadline. */
typedef enum
{
  WV_ON_TIMEOUT_DESTROY,
  WV_ON_TIMEOUT_SAVE, /* managed save: resumed by the next start */
} WvOnTimeout;

/* [vm] on-host-sleep: what a running VM does when the host suspends. */
typedef enum
{
  WV_HOST_SLEEP_DEFAULT, /* not set: resolved when the profile is read */
  WV_HOST_SLEEP_BLOCK,   /* a logind block inhibitor while it runs (default with a hostdev) */
  WV_HOST_SLEEP_SAVE,    /* managed save before, started (restored) after */
  WV_HOST_SLEEP_PAUSE,   /* suspended before, resumed after */
  WV_HOST_SLEEP_IGNORE,  /* left alone (default without a hostdev) */
} WvHostSleep;

typedef enum
{
  WV_CPU_MODE_HOST_PASSTHROUGH,
  WV_CPU_MODE_HOST_MODEL,
  WV_CPU_MODE_CUSTOM,
} WvCpuMode;

typedef enum
{
  WV_PIN_AUTO,
  WV_PIN_NONE,
  WV_PIN_LIST,
} WvPinMode;

/* [host] governor: the CPU frequency governor of the VM's CPUs while it runs. */
typedef enum
{
  WV_GOVERNOR_KEEP,
  WV_GOVERNOR_PERFORMANCE,
} WvGovernor;

/* [host] irq: where movable IRQs and unbound kernel work run while it runs. */
typedef enum
{
  WV_IRQ_KEEP,
  WV_IRQ_STEER, /* off the VM's CPUs */
} WvIrqPolicy;

/* Hyper-V enlightenments, in the order libvirt documents them. */
typedef enum
{
  WV_HV_RELAXED,
  WV_HV_VAPIC,
  WV_HV_SPINLOCKS,
  WV_HV_VPINDEX,
  WV_HV_RUNTIME,
  WV_HV_SYNIC,
  WV_HV_STIMER,
  WV_HV_STIMER_DIRECT,
  WV_HV_RESET,
  WV_HV_FREQUENCIES,
  WV_HV_REENLIGHTENMENT,
  WV_HV_TLBFLUSH,
  WV_HV_IPI,
  WV_HV_EVMCS,
  WV_HV_AVIC,
  WV_HV_N_FEATURES,
} WvHypervFeature;

const char *wv_hyperv_feature_name(WvHypervFeature f);
/* What "enlightenments = auto" asks for before host capabilities filter it. */
guint wv_hyperv_auto_set(void);

typedef enum
{
  WV_FIRMWARE_UNSET,
  WV_FIRMWARE_OVMF,
  WV_FIRMWARE_BIOS,
} WvFirmware;

typedef enum
{
  WV_CLOCK_UNSET,
  WV_CLOCK_LOCALTIME,
  WV_CLOCK_UTC,
} WvClockOffset;

typedef enum
{
  WV_GRAPHICS_UNSET,
  WV_GRAPHICS_NONE,
  WV_GRAPHICS_SPICE,
  WV_GRAPHICS_VNC,
} WvGraphics;

/* [sound] model: ich9 is ich9-intel-hda, hda the ICH6 intel-hda. */
typedef enum
{
  WV_SOUND_UNSET,
  WV_SOUND_NONE,
  WV_SOUND_ICH9,
  WV_SOUND_HDA,
  WV_SOUND_AC97,
} WvSoundModel;

/* [sound] backend: where QEMU plays the guest's sound. */
typedef enum
{
  WV_AUDIO_UNSET,
  WV_AUDIO_NONE,
  WV_AUDIO_PIPEWIRE,
  WV_AUDIO_PULSEAUDIO,
  WV_AUDIO_SPICE,
} WvAudioBackend;

typedef enum
{
  WV_VIDEO_UNSET,
  WV_VIDEO_NONE,
  WV_VIDEO_VIRTIO,
  WV_VIDEO_QXL,
  WV_VIDEO_VGA,
  WV_VIDEO_VMVGA,
  WV_VIDEO_BOCHS,
  WV_VIDEO_RAMFB,
} WvVideoModel;

typedef enum
{
  WV_USB_UNSET,
  WV_USB_NONE,
  WV_USB_QEMU_XHCI,
  WV_USB_NEC_XHCI,
  WV_USB_EHCI,
} WvUsbController;

typedef enum
{
  WV_LOOKING_GLASS_SHM,   /* an ivshmem-plain device backed by /dev/shm */
  WV_LOOKING_GLASS_KVMFR, /* the kvmfr module's /dev/kvmfr0 */
} WvLookingGlassDevice;

typedef enum
{
  WV_DISK_BUS_VIRTIO,
  WV_DISK_BUS_VIRTIO_SCSI,
  WV_DISK_BUS_SATA,
} WvDiskBus;

typedef enum
{
  WV_NET_BRIDGE,
  WV_NET_NETWORK,
  WV_NET_USER,
} WvNetType;

typedef struct
{
  char *name;
  gboolean enable;
} WvNamedSwitch;

typedef struct
{
  char *id;
  char *source;
  char *format; /* raw | qcow2 */
  WvDiskBus bus;
  char *discard; /* unmap | ignore | NULL */
  char *cache;   /* NULL: libvirt's default */
  char *io;
  guint boot; /* 0: no boot order */
} WvDisk;

typedef struct
{
  char *id;
  char *source; /* NULL: an empty drive */
  guint boot;
} WvCdrom;

typedef struct
{
  char *id;
  WvNetType type;
  char *source;
  char *model;
  char *mac;
} WvNetwork;

typedef struct
{
  guint domain, bus, slot, function;
} WvPciAddress;

typedef struct
{
  char *id;
  GArray *functions; /* WvPciAddress */
  char *rom;         /* NULL: the device's own ROM */
} WvHostdev;

typedef struct
{
  char *id;
  guint vendor, product;
} WvUsb;

typedef struct
{
  char *id;
  char *source;
  char *tag;
} WvShare;

/* [input:ID]: a host keyboard or mouse handed to the guest (evdev). */
typedef struct
{
  char *id;
  char *evdev;       /* below /dev/input */
  gboolean grab_all; /* grab = all: every host input device while grabbed */
  WvTristate repeat;
  char *grab_toggle; /* ctrl-ctrl, alt-alt, ...; NULL: QEMU's default */
} WvInput;

typedef struct
{
  char *path; /* file the profile came from, or a label */
  /* names the bytes it was parsed from (a 64-bit FNV-1a, hex), to tell
   * whether a running VM's profile changed since its start; not the
   * D-Bus etag (wv_profile_etag(), SHA-256: 8 times the work, for every
   * profile at every load) */
  char *etag;

  /* [vm] */
  char *name;
  char *template_name;
  char *uuid;
  char *machine; /* libvirt's machine type ("q35", "pc", "pc-q35-7.2"); NULL: the template's */
  guint64 memory_kib;
  guint vcpus;
  WvHypervisor hypervisor;
  gboolean autostart;
  /* the template may pass options to QEMU itself (<qemu:commandline>,
   * <qemu:override>, its own <emulator>): only a root-written profile */
  gboolean raw_qemu;
  gint autostart_order;
  guint autostart_delay_s;
  WvHostShutdownPolicy on_host_shutdown;
  guint shutdown_timeout_s;
  WvStopMethod shutdown_methods[WV_STOP_N_METHODS]; /* the stop ladder, in order */
  guint n_shutdown_methods;
  guint acpi_repeat_s;   /* ACPI pressed again after this many seconds */
  guint agent_timeout_s; /* how long the agent's step lasts before the next one */
  WvOnTimeout on_timeout;
  WvTristate guest_agent;    /* the org.qemu.guest_agent.0 channel; unset: the template's */
  WvHostSleep on_host_sleep; /* never DEFAULT once read */

  /* [cpu] */
  WvCpuMode cpu_mode;
  char *cpu_model; /* custom:<model> */
  gboolean topology_auto;
  guint sockets, dies, cores, threads;
  WvPinMode pin;
  GArray *pin_cpus;        /* guint, in listed order, for WV_PIN_LIST */
  WvCpuset *host_reserved; /* NULL: the default; empty: none */
  WvCpuset *emulator_pin;  /* NULL: auto, or not pinned with emulator_unpinned */
  gboolean emulator_unpinned;
  guint iothreads;
  GPtrArray *iothread_pins; /* WvCpuset*, NULL: auto */
  GPtrArray *cpu_features;  /* WvNamedSwitch* */

  /* [host]: what the host gives up while the VM runs */
  WvTristate isolate; /* systemd's units kept off its CPUs; unset: when pinned */
  WvGovernor governor;
  WvIrqPolicy irq;

  /* [memory] */
  guint64 hugepage_kib; /* 0: none */
  gboolean hugepages_allocate;
  guint64 hugepage_fallback_kib; /* 0: none; 2048: 2M pages when the pool will not grow */
  WvTristate balloon;

  /* [hyperv] */
  gboolean hyperv_auto;
  guint hyperv_features; /* bit set of WvHypervFeature */
  guint spinlocks;
  char *vendor_id;
  gboolean kvm_hidden;

  /* [firmware] */
  WvFirmware firmware;
  WvTristate secure_boot;
  WvTristate tpm;
  char *nvram;

  /* [clock] */
  WvClockOffset clock_offset;
  GPtrArray *timers; /* WvNamedSwitch* */

  GPtrArray *disks;
  GPtrArray *cdroms;
  GPtrArray *networks;
  GPtrArray *hostdevs;
  GPtrArray *usbs;
  GPtrArray *shares;
  GPtrArray *inputs; /* WvInput* */

  /* [graphics] */
  WvGraphics graphics;

  /* [video] */
  WvVideoModel video;
  guint64 video_vram_kib; /* 0: libvirt's default */

  /* [sound] */
  WvSoundModel sound;
  WvAudioBackend audio;
  char *sound_codec; /* duplex | output | micro; NULL: libvirt's (duplex) */

  /* [usb] */
  WvUsbController usb_controller;

  /* [looking-glass] */
  guint lg_width, lg_height; /* 0: no Looking Glass device */
  WvLookingGlassDevice lg_device;

  /* where each group and key is, for findings that point back into the
   * file: records of "group\x1fkey" or "group", a NUL, then the line as 4
   * bytes, after one another and ended by an empty name (one allocation
   * instead of a table of its own per profile: see wv_profile_line()) */
  char *lines;
  gint refcount;
} WvProfile;

/* The largest profile file read or written. */
#define WV_PROFILE_MAX_SIZE (1024 * 1024)

/* What names one version of a profile's bytes (SHA-256, hex): GetProfile
 * hands it out, SetProfile checks it. */
char *wv_profile_etag(const char *data, gsize len);

/* Parses @data (the contents of @path; @path only labels errors and gives the
 * default name). Errors are WV_ERROR_INVALID_PROFILE. */
WvProfile *wv_profile_parse(const char *data, gsize len, const char *path, GError **error);
/* Reads @path (following links: the user named it) without blocking on a
 * FIFO or reading more than 1 MiB, then parses it. */
WvProfile *wv_profile_load(const char *path, GError **error);
/* Profiles are shared with worker threads: free drops one reference. */
WvProfile *wv_profile_ref(WvProfile *profile);
void wv_profile_unref(WvProfile *profile);

/* The line in the file that set @group/@key (or the group header when @key is
 * NULL); 0 when it was not set. */
guint wv_profile_line(const WvProfile *profile, const char *group, const char *key);
/* Whether the profile's template is one of the Windows ones ("windows*"). */
gboolean wv_profile_is_windows(const WvProfile *profile);

/* Loads every "*.conf" in @dir, the service's profile directory: only
 * regular files (no links, FIFOs, devices), owned by root and writable by
 * nobody else, at most 1 MiB, with a bounded number of errors each. Broken
 * profiles land in @errors (one GError each) and do not stop the rest; so
 * do two profiles with one name or one UUID (the second is refused).
 * Returns name -> WvProfile*, or NULL (with the one error in @errors) when
 * the directory itself is missing, unreadable or writable by others. */
GHashTable *wv_profile_load_dir(const char *dir, GPtrArray **errors);
/* The profile directory itself: root's (or the daemon's user's) and
 * writable by nobody else; else anybody could put a profile in it. */
gboolean wv_profile_dir_check(const char *dir, GError **error);

/* @message with every “quoted” value replaced by “…”: what may be shown to
 * any user (ProfileErrors) without echoing a file's contents. */
char *wv_profile_error_public(const char *message);

/* @text with @group/@key = @value, changing only that line (or adding it,
 * and the group, when missing; @value NULL removes the line): comments and
 * layout stay as they were. A value must be one line without control
 * characters (InvalidArgs). */
char *wv_profile_text_set(const char *text, const char *group, const char *key, const char *value,
                          GError **error);

/* The same in the profile file at @path, whose mode stays as it was. */
gboolean wv_profile_set_value(const char *path, const char *group, const char *key,
                              const char *value, GError **error);

/* Value parsers shared with the D-Bus layer and tests. */
gboolean wv_parse_size_kib(const char *text, guint64 *out_kib, GError **error);
gboolean wv_parse_duration_s(const char *text, guint *out_s, GError **error);
gboolean wv_parse_pci_address(const char *text, WvPciAddress *out, GError **error);
/* "dddd:bb:ss.f", as sysfs and libvirt name a PCI function. */
char *wv_pci_address_to_string(const WvPciAddress *a);
/* The shared memory Looking Glass needs for @width x @height frames, in
 * MiB: two 32-bit frames plus 10 MiB, rounded up to a power of two. */
guint wv_looking_glass_mib(guint width, guint height);
/* "none", "2M" or "1G": a hugepage size as profiles and D-Bus name it. */
const char *wv_page_size_name(guint64 page_kib);
/* "block", "save", "pause", "ignore" ("" for DEFAULT). */
const char *wv_host_sleep_name(WvHostSleep s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(WvProfile, wv_profile_unref)

G_END_DECLS
