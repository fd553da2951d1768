/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wv-common.h"
#include "wv-test.h"

#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

static const char full_profile[] = "# every key\n"
                                   "[vm]\n"
                                   "name = full-1\n"
                                   "template = /usr/share/winvm/xml-templates/windows10.xml\n"
                                   "uuid = 8F3C0E5A-1B2C-4D3E-9F00-112233445566\n"
                                   "memory = 12GiB\n"
                                   "vcpus = 6\n"
                                   "hypervisor = qemu\n"
                                   "autostart = yes\n"
                                   "autostart-order = -3\n"
                                   "autostart-delay = 2min\n"
                                   "on-host-shutdown = save\n"
                                   "shutdown-timeout = 45s\n"
                                   "\n"
                                   "[cpu]\n"
                                   "mode = custom:Skylake-Client\n"
                                   "topology = 1,1,3,2\n"
                                   "pin = 4,5,6,7,2,3\n"
                                   "host-reserved = 0-1\n"
                                   "emulator-pin = 0\n"
                                   "iothreads = 2\n"
                                   "iothread-pin = 0;1\n"
                                   "features = +topoext,-svm,invtsc\n"
                                   "[memory]\n"
                                   "hugepages = 2M\n"
                                   "hugepages-allocate = on\n"
                                   "balloon = false\n"
                                   "[hyperv]\n"
                                   "enlightenments = relaxed,vapic,spinlocks,stimer,stimer-direct\n"
                                   "spinlocks = 4096\n"
                                   "vendor-id = AuthenticAMD\n"
                                   "kvm-hidden = true\n"
                                   "[firmware]\n"
                                   "type = ovmf\n"
                                   "secure-boot = false\n"
                                   "tpm = true\n"
                                   "nvram = /var/lib/libvirt/qemu/nvram/full_VARS.fd\n"
                                   "[clock]\n"
                                   "offset = utc\n"
                                   "timers = -hpet,+hypervclock,rtc\n"
                                   "[disk:a]\n"
                                   "source = /dev/zvol/tank/full\n"
                                   "format = raw\n"
                                   "bus = virtio-scsi\n"
                                   "discard = unmap\n"
                                   "cache = none\n"
                                   "io = io_uring\n"
                                   "boot = 2\n"
                                   "[disk:b]\n"
                                   "source = /var/lib/images/data.qcow2\n"
                                   "[cdrom:iso]\n"
                                   "source = /isos/win.iso\n"
                                   "boot = 1\n"
                                   "[cdrom:empty]\n"
                                   "[network:lan]\n"
                                   "type = bridge\n"
                                   "source = br0\n"
                                   "model = e1000e\n"
                                   "mac = 52:54:00:AA:BB:CC\n"
                                   "[network:nat]\n"
                                   "type = user\n"
                                   "[hostdev:gpu]\n"
                                   "pci = 0000:0f:00.0, 0f:00.1\n"
                                   "rom = /usr/share/vbios/gpu.rom\n"
                                   "[usb:kbd]\n"
                                   "device = 046D:c31c\n"
                                   "[share:home]\n"
                                   "source = /home/user\n"
                                   "[graphics]\n"
                                   "type = vnc\n";

static void
test_full(void)
{
  g_autoptr(WvProfile) p = wv_test_profile(full_profile);
  const WvDisk *d;
  const WvNetwork *n;
  const WvHostdev *h;
  const WvPciAddress *a;
  g_autofree char *reserved = NULL, *emu = NULL, *io1 = NULL;

  g_assert_cmpstr(p->name, ==, "full-1");
  g_assert_cmpstr(p->template_name, ==, "/usr/share/winvm/xml-templates/windows10.xml");
  g_assert_cmpstr(p->uuid, ==, "8f3c0e5a-1b2c-4d3e-9f00-112233445566");
  g_assert_cmpuint(p->memory_kib, ==, 12 * 1024 * 1024);
  g_assert_cmpuint(p->vcpus, ==, 6);
  g_assert_cmpint(p->hypervisor, ==, WV_HYPERVISOR_QEMU);
  g_assert_true(p->autostart);
  g_assert_cmpint(p->autostart_order, ==, -3);
  g_assert_cmpuint(p->autostart_delay_s, ==, 120);
  g_assert_cmpint(p->on_host_shutdown, ==, WV_HOST_SHUTDOWN_SAVE);
  g_assert_cmpuint(p->shutdown_timeout_s, ==, 45);

  g_assert_cmpint(p->cpu_mode, ==, WV_CPU_MODE_CUSTOM);
  g_assert_cmpstr(p->cpu_model, ==, "Skylake-Client");
  g_assert_false(p->topology_auto);
  g_assert_cmpuint(p->cores, ==, 3);
  g_assert_cmpuint(p->threads, ==, 2);
  g_assert_cmpint(p->pin, ==, WV_PIN_LIST);
  g_assert_cmpuint(p->pin_cpus->len, ==, 6);
  g_assert_cmpuint(g_array_index(p->pin_cpus, guint, 0), ==, 4);
  g_assert_cmpuint(g_array_index(p->pin_cpus, guint, 5), ==, 3);
  reserved = wv_cpuset_format(p->host_reserved);
  g_assert_cmpstr(reserved, ==, "0-1");
  emu = wv_cpuset_format(p->emulator_pin);
  g_assert_cmpstr(emu, ==, "0");
  g_assert_cmpuint(p->iothreads, ==, 2);
  g_assert_cmpuint(p->iothread_pins->len, ==, 2);
  io1 = wv_cpuset_format(p->iothread_pins->pdata[1]);
  g_assert_cmpstr(io1, ==, "1");
  g_assert_cmpuint(p->cpu_features->len, ==, 3);
  g_assert_false(((WvNamedSwitch *)p->cpu_features->pdata[1])->enable);
  g_assert_true(((WvNamedSwitch *)p->cpu_features->pdata[2])->enable);

  g_assert_cmpuint(p->hugepage_kib, ==, 2048);
  g_assert_true(p->hugepages_allocate);
  g_assert_cmpint(p->balloon, ==, WV_TRI_OFF);

  g_assert_false(p->hyperv_auto);
  g_assert_cmphex(p->hyperv_features, ==,
                  (1u << WV_HV_RELAXED) | (1u << WV_HV_VAPIC) | (1u << WV_HV_SPINLOCKS) |
                      (1u << WV_HV_STIMER) | (1u << WV_HV_STIMER_DIRECT));
  g_assert_cmpuint(p->spinlocks, ==, 4096);
  g_assert_cmpstr(p->vendor_id, ==, "AuthenticAMD");
  g_assert_true(p->kvm_hidden);

  g_assert_cmpint(p->firmware, ==, WV_FIRMWARE_OVMF);
  g_assert_cmpint(p->secure_boot, ==, WV_TRI_OFF);
  g_assert_cmpint(p->tpm, ==, WV_TRI_ON);
  g_assert_cmpstr(p->nvram, ==, "/var/lib/libvirt/qemu/nvram/full_VARS.fd");
  g_assert_cmpint(p->clock_offset, ==, WV_CLOCK_UTC);
  g_assert_cmpuint(p->timers->len, ==, 3);

  g_assert_cmpuint(p->disks->len, ==, 2);
  d = p->disks->pdata[0];
  g_assert_cmpstr(d->id, ==, "a");
  g_assert_cmpint(d->bus, ==, WV_DISK_BUS_VIRTIO_SCSI);
  g_assert_cmpstr(d->discard, ==, "unmap");
  g_assert_cmpstr(d->io, ==, "io_uring");
  g_assert_cmpuint(d->boot, ==, 2);
  d = p->disks->pdata[1];
  g_assert_cmpint(d->bus, ==, WV_DISK_BUS_VIRTIO);
  g_assert_null(d->format);
  g_assert_cmpuint(p->cdroms->len, ==, 2);
  g_assert_null(((WvCdrom *)p->cdroms->pdata[1])->source);

  g_assert_cmpuint(p->networks->len, ==, 2);
  n = p->networks->pdata[0];
  g_assert_cmpint(n->type, ==, WV_NET_BRIDGE);
  g_assert_cmpstr(n->mac, ==, "52:54:00:aa:bb:cc");
  g_assert_cmpstr(n->model, ==, "e1000e");

  h = p->hostdevs->pdata[0];
  g_assert_cmpuint(h->functions->len, ==, 2);
  a = &g_array_index(h->functions, WvPciAddress, 1);
  g_assert_cmphex(a->bus, ==, 0x0f);
  g_assert_cmpuint(a->function, ==, 1);
  g_assert_cmpstr(h->rom, ==, "/usr/share/vbios/gpu.rom");
  g_assert_cmphex(((WvUsb *)p->usbs->pdata[0])->vendor, ==, 0x046d);
  g_assert_cmpstr(((WvShare *)p->shares->pdata[0])->tag, ==, "home");
  g_assert_cmpint(p->graphics, ==, WV_GRAPHICS_VNC);

  g_assert_cmpuint(wv_profile_line(p, "vm", "memory"), ==, 6);
  g_assert_cmpuint(wv_profile_line(p, "cpu", NULL), ==, 15);
  g_assert_cmpuint(wv_profile_line(p, "vm", "nope"), ==, 0);
}

static void
test_defaults(void)
{
  g_autoptr(WvProfile) p = NULL;
  g_autoptr(GError) error = NULL;
  const char *text = "[vm]\n";

  p = wv_profile_parse(text, strlen(text), "/etc/winvm/vms/win11.conf", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(p->name, ==, "win11");
  g_assert_cmpstr(p->template_name, ==, "windows11");
  g_assert_null(p->uuid);
  g_assert_cmpuint(p->memory_kib, ==, 4 * 1024 * 1024);
  g_assert_cmpuint(p->vcpus, ==, 2);
  g_assert_cmpint(p->hypervisor, ==, WV_HYPERVISOR_KVM);
  g_assert_false(p->autostart);
  g_assert_cmpint(p->on_host_shutdown, ==, WV_HOST_SHUTDOWN_SHUTDOWN);
  g_assert_cmpuint(p->shutdown_timeout_s, ==, 120);
  g_assert_cmpint(p->cpu_mode, ==, WV_CPU_MODE_HOST_PASSTHROUGH);
  g_assert_true(p->topology_auto);
  g_assert_cmpint(p->pin, ==, WV_PIN_AUTO);
  g_assert_cmpuint(p->hugepage_kib, ==, 0);
  g_assert_true(p->hyperv_auto);
  g_assert_cmphex(p->hyperv_features, ==, wv_hyperv_auto_set());
  g_assert_false(p->hyperv_features & (1u << WV_HV_EVMCS));
  g_assert_cmpuint(p->spinlocks, ==, 8191);
  g_assert_cmpint(p->firmware, ==, WV_FIRMWARE_UNSET);
  g_assert_cmpint(p->graphics, ==, WV_GRAPHICS_UNSET);
  g_assert_cmpuint(p->disks->len, ==, 0);
  g_assert_null(p->machine);
  g_assert_null(p->host_reserved);
  g_assert_null(p->emulator_pin);
  g_assert_false(p->emulator_unpinned);
  g_assert_cmpint(p->video, ==, WV_VIDEO_UNSET);
  g_assert_cmpuint(p->video_vram_kib, ==, 0);
  g_assert_cmpint(p->sound, ==, WV_SOUND_UNSET);
  g_assert_cmpint(p->audio, ==, WV_AUDIO_UNSET);
  g_assert_cmpint(p->usb_controller, ==, WV_USB_UNSET);
  g_assert_cmpuint(p->lg_width, ==, 0);
  g_assert_cmpuint(p->inputs->len, ==, 0);
  g_assert_cmpint(p->on_host_sleep, ==, WV_HOST_SLEEP_IGNORE);
}

/* on-host-sleep: block by default with a passed-through device, ignore
 * without; a value set wins either way. */
static void
test_host_sleep(void)
{
  static const struct
  {
    const char *text;
    WvHostSleep want;
  } cases[] = {
      {"[vm]\n", WV_HOST_SLEEP_IGNORE},
      {"[vm]\n[hostdev:gpu]\npci = 0f:00.0\n", WV_HOST_SLEEP_BLOCK},
      {"[vm]\non-host-sleep = pause\n[hostdev:gpu]\npci = 0f:00.0\n", WV_HOST_SLEEP_PAUSE},
      {"[vm]\non-host-sleep = ignore\n[hostdev:gpu]\npci = 0f:00.0\n", WV_HOST_SLEEP_IGNORE},
      {"[vm]\non-host-sleep = block\n", WV_HOST_SLEEP_BLOCK},
      {"[vm]\non-host-sleep = save\n", WV_HOST_SLEEP_SAVE},
      {"[vm]\non-host-sleep = pause\n", WV_HOST_SLEEP_PAUSE},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(WvProfile) p = wv_test_profile(cases[i].text);

    g_assert_cmpint(p->on_host_sleep, ==, cases[i].want);
  }
  g_assert_cmpstr(wv_host_sleep_name(WV_HOST_SLEEP_BLOCK), ==, "block");
  g_assert_cmpstr(wv_host_sleep_name(WV_HOST_SLEEP_SAVE), ==, "save");
  g_assert_cmpstr(wv_host_sleep_name(WV_HOST_SLEEP_PAUSE), ==, "pause");
  g_assert_cmpstr(wv_host_sleep_name(WV_HOST_SLEEP_IGNORE), ==, "ignore");
  g_assert_cmpstr(wv_host_sleep_name(WV_HOST_SLEEP_DEFAULT), ==, "");
}

/* The keys the VFIO setups need: sound, video, machine, USB controller,
 * Looking Glass, evdev inputs, and the values the guides write. */
static void
test_device_keys(void)
{
  g_autoptr(WvProfile) p = wv_test_profile("[vm]\nmachine = pc-q35-7.2\n"
                                           "[cpu]\nhost-reserved =\nemulator-pin = none\n"
                                           "[hyperv]\nspinlocks = 0x1FFF\n"
                                           "[video]\nmodel = qxl\nvram = 64MiB\n"
                                           "[sound]\nmodel = ich9\nbackend = pipewire\n"
                                           "codec = output\n"
                                           "[usb]\ncontroller = ehci\n"
                                           "[looking-glass]\nresolution = 2560x1440\n"
                                           "[input:kbd]\n"
                                           "evdev = /dev/input/by-id/usb-Logitech-event-kbd\n"
                                           "grab = all\nrepeat = on\ngrab-toggle = ctrl-ctrl\n"
                                           "[input:mouse]\n"
                                           "evdev = /dev/input/by-id/usb-Logitech-event-mouse\n");
  g_autoptr(WvProfile) i440 = wv_test_profile("[vm]\nmachine = i440fx\n[cpu]\nhost-reserved = "
                                              "none\n[hyperv]\nspinlocks = 8191\n"
                                              "[looking-glass]\nresolution = 1920x1080\n"
                                              "device = kvmfr\n[usb]\ncontroller = none\n");
  const WvInput *kbd, *mouse;

  g_assert_cmpstr(p->machine, ==, "pc-q35-7.2");
  g_assert_nonnull(p->host_reserved);
  g_assert_cmpuint(p->host_reserved->n, ==, 0);
  g_assert_true(p->emulator_unpinned);
  g_assert_null(p->emulator_pin);
  g_assert_cmpuint(p->spinlocks, ==, 0x1fff);
  g_assert_cmpint(p->video, ==, WV_VIDEO_QXL);
  g_assert_cmpuint(p->video_vram_kib, ==, 65536);
  g_assert_cmpint(p->sound, ==, WV_SOUND_ICH9);
  g_assert_cmpint(p->audio, ==, WV_AUDIO_PIPEWIRE);
  g_assert_cmpstr(p->sound_codec, ==, "output");
  g_assert_cmpint(p->usb_controller, ==, WV_USB_EHCI);
  g_assert_cmpuint(p->lg_width, ==, 2560);
  g_assert_cmpuint(p->lg_height, ==, 1440);
  g_assert_cmpint(p->lg_device, ==, WV_LOOKING_GLASS_SHM);
  g_assert_cmpuint(p->inputs->len, ==, 2);
  kbd = p->inputs->pdata[0];
  mouse = p->inputs->pdata[1];
  g_assert_cmpstr(kbd->id, ==, "kbd");
  g_assert_cmpstr(kbd->evdev, ==, "/dev/input/by-id/usb-Logitech-event-kbd");
  g_assert_true(kbd->grab_all);
  g_assert_cmpint(kbd->repeat, ==, WV_TRI_ON);
  g_assert_cmpstr(kbd->grab_toggle, ==, "ctrl-ctrl");
  g_assert_false(mouse->grab_all);
  g_assert_cmpint(mouse->repeat, ==, WV_TRI_UNSET);
  g_assert_null(mouse->grab_toggle);
  g_assert_cmpuint(wv_profile_line(p, "input:mouse", "evdev"), ==, 25);

  g_assert_cmpstr(i440->machine, ==, "pc");
  g_assert_cmpuint(i440->host_reserved->n, ==, 0);
  g_assert_false(i440->emulator_unpinned);
  g_assert_cmpuint(i440->spinlocks, ==, 8191);
  g_assert_cmpint(i440->lg_device, ==, WV_LOOKING_GLASS_KVMFR);
  g_assert_cmpint(i440->usb_controller, ==, WV_USB_NONE);

  /* the Looking Glass formula: w×h×4×2 bytes + 10 MiB, up to a power of two */
  g_assert_cmpuint(wv_looking_glass_mib(1920, 1080), ==, 32);
  g_assert_cmpuint(wv_looking_glass_mib(2560, 1440), ==, 64);
  g_assert_cmpuint(wv_looking_glass_mib(3440, 1440), ==, 64);
  g_assert_cmpuint(wv_looking_glass_mib(3840, 2160), ==, 128);
  g_assert_cmpuint(wv_looking_glass_mib(1, 1), ==, 16);
  g_assert_cmpuint(wv_looking_glass_mib(16384, 16384), ==, 4096);
}

static void
test_values(void)
{
  static const struct
  {
    const char *text;
    guint64 kib;
  } sizes[] = {
      {"64MiB", 65536},     {"1G", 1048576},   {"16GiB", 16777216}, {"512 MiB", 524288},
      {"1TiB", 1073741824}, {"2048KiB", 2048}, {"3M", 3072},
  };
  static const char *const bad_sizes[] = {
      "", "16", "GiB", "16GB", "-1GiB", "0MiB", "1.5GiB", "99999999999GiB", "2PiB", "16 GiB x"};
  static const struct
  {
    const char *text;
    guint s;
  } durations[] = {{"90", 90}, {"90s", 90}, {"2min", 120}, {"0", 0}, {"1 min", 60}};
  static const char *const bad_durations[] = {"", "s", "1h", "-5", "2 minutes", "99999999"};
  static const char *const bad_pci[] = {
      "0f:00",         "0000:0f:00:0", "0000:0f:20.0",  "0000:0f:00.8",
      "00000:0f:00.0", "g0:00.0",      "0000:100:00.0", ""};

  for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
    guint64 kib = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(wv_parse_size_kib(sizes[i].text, &kib, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(kib, ==, sizes[i].kib);
  }
  for (guint i = 0; i < G_N_ELEMENTS(bad_sizes); i++) {
    guint64 kib = 0;
    g_autoptr(GError) error = NULL;
    if (wv_parse_size_kib(bad_sizes[i], &kib, &error))
      g_error("size “%s” parsed", bad_sizes[i]);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
  }
  for (guint i = 0; i < G_N_ELEMENTS(durations); i++) {
    guint s = 1234;
    g_assert_true(wv_parse_duration_s(durations[i].text, &s, NULL));
    g_assert_cmpuint(s, ==, durations[i].s);
  }
  for (guint i = 0; i < G_N_ELEMENTS(bad_durations); i++) {
    guint s;
    g_autoptr(GError) error = NULL;
    if (wv_parse_duration_s(bad_durations[i], &s, &error))
      g_error("duration “%s” parsed", bad_durations[i]);
  }
  for (guint i = 0; i < G_N_ELEMENTS(bad_pci); i++) {
    WvPciAddress a;
    g_autoptr(GError) error = NULL;
    if (wv_parse_pci_address(bad_pci[i], &a, &error))
      g_error("PCI address “%s” parsed", bad_pci[i]);
  }
}

/* Each broken profile and the one location + reason it must report. */
static const struct
{
  const char *text;
  const char *expect;
} broken[] = {
    {"[vm]\nmemroy = 4GiB\n", "test.conf:2: [vm] memroy: unknown key"},
    {"[vms]\nname = x\n", "test.conf:1: [vms]: unknown group"},
    {"[vm]\nmemory = 16\n", "test.conf:2: [vm] memory: “16” needs a unit"},
    {"[vm]\nmemory = 1MiB\n", "test.conf:2: [vm] memory: 1MiB is less than"},
    {"[vm]\nvcpus = 0\n", "test.conf:2: [vm] vcpus: “0” is not a whole number from 1 to 1024"},
    {"[vm]\nvcpus = many\n", "[vm] vcpus: “many” is not a whole number"},
    {"[vm]\nname = ../etc\n", "test.conf:2: [vm] name: “../etc” is not a valid name"},
    {"[vm]\nname = a\"b\n", "[vm] name: “a\"b” is not a valid name"},
    {"[vm]\nname = <x>\n", "[vm] name: “<x>” is not a valid name"},
    {"[vm]\ntemplate = ../../etc/passwd\n", "[vm] template: “../../etc/passwd” is neither"},
    {"[vm]\ntemplate = /a/../b.xml\n", "[vm] template: “/a/../b.xml” has “.” or “..” components"},
    {"[vm]\nuuid = 1234\n", "[vm] uuid: “1234” is not a UUID"},
    {"[vm]\nhypervisor = xen\n", "[vm] hypervisor: “xen” is not one of: kvm, qemu"},
    {"[vm]\nautostart = maybe\n", "[vm] autostart: “maybe” is not a boolean"},
    {"[vm]\nautostart-order = first\n", "[vm] autostart-order: “first” is not a whole number"},
    {"[vm]\nautostart-delay = 1h\n", "[vm] autostart-delay: “1h”: unknown unit “h”"},
    {"[vm]\non-host-shutdown = suspend\n", "[vm] on-host-shutdown: “suspend” is not one of"},
    {"[vm]\non-host-sleep = hibernate\n",
     "[vm] on-host-sleep: “hibernate” is not one of: block, save, pause, ignore"},
    {"[vm]\non-host-sleep =\n", "test.conf:2: [vm] on-host-sleep: empty value"},
    {"[vm]\nshutdown-timeout = 0\n", "[vm] shutdown-timeout: must be at least 1s"},
    {"[cpu]\nmode = host\n", "[cpu] mode: “host” is not one of"},
    {"[cpu]\nmode = custom:<x>\n", "[cpu] mode: “<x>” may only contain"},
    {"[cpu]\ntopology = 1,2,3\n", "[cpu] topology: “1,2,3” is not “auto” or"},
    {"[vm]\nvcpus = 8\n[cpu]\ntopology = 1,1,2,2\n",
     "test.conf:4: [cpu] topology: 1 sockets × 1 dies × 2 cores × 2 threads is 4 vCPUs, but vcpus "
     "= 8"},
    {"[vm]\nvcpus = 4\n[cpu]\npin = 2,3\n",
     "test.conf:4: [cpu] pin: lists 2 host CPUs for 4 vCPUs"},
    {"[cpu]\npin = 2,2\n",
     "[cpu] pin: not auto, none or a CPU list: “2,2” is not a CPU list: CPU 2 is listed twice"},
    {"[cpu]\npin = 0-\n", "[cpu] pin: not auto, none or a CPU list"},
    {"[cpu]\nhost-reserved = 0;1\n", "[cpu] host-reserved: “0;1” is not a CPU list"},
    {"[cpu]\nemulator-pin = x\n", "[cpu] emulator-pin: “x” is not a CPU list"},
    {"[cpu]\niothreads = 65\n", "[cpu] iothreads: “65” is not a whole number from 0 to 64"},
    {"[cpu]\niothreads = 2\niothread-pin = 0\n",
     "test.conf:3: [cpu] iothread-pin: gives 1 CPU sets for 2 I/O threads"},
    {"[cpu]\nfeatures = +top oext\n", "[cpu] features: “top oext” is not a known name"},
    {"[cpu]\nfeatures = +a,-a\n", "[cpu] features: “a” is listed twice"},
    {"[memory]\nhugepages = 4M\n", "[memory] hugepages: “4M” is not one of: none, 2M, 1G"},
    {"[vm]\nmemory = 1536MiB\n[memory]\nhugepages = 1G\n",
     "test.conf:2: [vm] memory: 1572864KiB is not a whole number of 1G pages"},
    {"[memory]\nhugepages-allocate = true\n",
     "[memory] hugepages-allocate: is set but hugepages = none"},
    {"[memory]\nhugepages-fallback = 1G\n",
     "[memory] hugepages-fallback: “1G” is not one of: none, 2M"},
    {"[vm]\nmemory = 2GiB\n[memory]\nhugepages = 2M\nhugepages-allocate = true\n"
     "hugepages-fallback = 2M\n",
     "[memory] hugepages-fallback: is set but hugepages = 2M, not 1G"},
    {"[vm]\nmemory = 2GiB\n[memory]\nhugepages = 1G\nhugepages-fallback = 2M\n",
     "[memory] hugepages-fallback: is set but hugepages-allocate is not"},
    {"[memory]\nballoon = 2\n", "[memory] balloon: “2” is not a boolean"},
    {"[hyperv]\nenlightenments = relaxed,warp\n",
     "[hyperv] enlightenments: “warp” is not a Hyper-V enlightenment"},
    {"[hyperv]\nspinlocks = 100\n", "[hyperv] spinlocks: 100 is less than 4095 (0xfff)"},
    {"[hyperv]\nspinlocks = 0xffe\n", "test.conf:2: [hyperv] spinlocks: 0xffe is less than 4095"},
    {"[hyperv]\nspinlocks = 0x\n",
     "[hyperv] spinlocks: “0x” is not a whole number (decimal, or hex"},
    {"[hyperv]\nspinlocks = 1fff\n", "[hyperv] spinlocks: “1fff” is not a whole number"},
    {"[hyperv]\nspinlocks = 0x100000000\n", "[hyperv] spinlocks: “0x100000000” is not a whole"},
    {"[hyperv]\nspinlocks = -0x1fff\n", "[hyperv] spinlocks: “-0x1fff” is not a whole number"},
    {"[vm]\nmachine = q36\n", "test.conf:2: [vm] machine: “q36” is not q35, i440fx or a machine"},
    {"[vm]\nmachine = pc-q35-\n", "[vm] machine: “pc-q35-” is not q35"},
    {"[vm]\nmachine = pc-q35-7.2;x\n", "[vm] machine: “pc-q35-7.2;x” is not q35"},
    {"[vm]\nmachine = microvm\n", "[vm] machine: “microvm” is not q35"},
    {"[vm]\nmachine = i440fx\n[firmware]\nsecure-boot = true\n",
     "test.conf:4: [firmware] secure-boot: needs a q35 machine; [vm] machine is pc"},
    {"[cpu]\nemulator-pin =\n", "test.conf:2: [cpu] emulator-pin: empty value"},
    {"[cpu]\nhost-reserved = all\n", "[cpu] host-reserved: “all” is not a CPU list"},
    {"[video]\nmodel = cirrus\n",
     "test.conf:2: [video] model: “cirrus” is not one of: none, virtio, qxl, vga, vmvga, bochs, "
     "ramfb"},
    {"[video]\nmodel = qxl\nvram = 48MiB\n",
     "test.conf:3: [video] vram: 48MiB is not a power of two from 1MiB to 512MiB"},
    {"[video]\nmodel = qxl\nvram = 512KiB\n", "[video] vram: 512KiB is not a power of two"},
    {"[video]\nmodel = qxl\nvram = 1GiB\n", "[video] vram: 1GiB is not a power of two"},
    {"[video]\nmodel = virtio\nvram = 64MiB\n",
     "test.conf:3: [video] vram: needs model = qxl, vga, vmvga or bochs"},
    {"[video]\nvram = 64MiB\n", "[video] vram: needs model = qxl"},
    {"[sound]\nmodel = sb16\n", "[sound] model: “sb16” is not one of: none, ich9, hda, ac97"},
    {"[sound]\nmodel = ich9\nbackend = alsa\n",
     "[sound] backend: “alsa” is not one of: none, pipewire, pulseaudio, spice"},
    {"[sound]\nmodel = ac97\ncodec = output\n",
     "test.conf:3: [sound] codec: needs model = ich9 or hda"},
    {"[sound]\nmodel = hda\ncodec = mono\n", "[sound] codec: “mono” is not one of"},
    {"[sound]\nmodel = none\nbackend = pulseaudio\n",
     "[sound] backend: makes no sense with model = none"},
    {"[graphics]\ntype = vnc\n[sound]\nmodel = ich9\nbackend = spice\n",
     "test.conf:5: [sound] backend: spice plays through a SPICE display; [graphics] type is vnc"},
    {"[usb]\ncontroller = uhci\n",
     "[usb] controller: “uhci” is not one of: none, qemu-xhci, nec-xhci, ehci"},
    {"[usb]\ncontroller = none\n[usb:k]\ndevice = 046d:c52b\n",
     "test.conf:2: [usb] controller: is none, but [usb:k] needs a USB controller"},
    {"[looking-glass]\ndevice = shm\n", "test.conf:1: [looking-glass]: “resolution” is required"},
    {"[looking-glass]\nresolution = 2560*1440\n",
     "[looking-glass] resolution: “2560*1440” is not WIDTHxHEIGHT"},
    {"[looking-glass]\nresolution = 0x1440\n", "[looking-glass] resolution: “0x1440” is not"},
    {"[looking-glass]\nresolution = 16385x100\n", "[looking-glass] resolution: “16385x100” is"},
    {"[looking-glass]\nresolution = 1920x1080x2\n", "[looking-glass] resolution: “1920x1080x2”"},
    {"[looking-glass]\nresolution = 1920x1080\ndevice = ivshmem\n",
     "[looking-glass] device: “ivshmem” is not one of: shm, kvmfr"},
    {"[input:kbd]\ngrab = all\n", "test.conf:1: [input:kbd]: “evdev” is required"},
    {"[input:kbd]\nevdev = /dev/sda\n",
     "[input:kbd] evdev: “/dev/sda” is not an input device below /dev/input"},
    {"[input:kbd]\nevdev = /dev/input/\n", "[input:kbd] evdev: “/dev/input/” is not an input"},
    {"[input:kbd]\nevdev = /dev/input/../sda\n", "[input:kbd] evdev: “/dev/input/../sda” has"},
    {"[input:kbd]\nevdev = input/event0\n", "[input:kbd] evdev: “input/event0” is not an absolute"},
    {"[input:kbd]\nevdev = /dev/input/event0\ngrab = some\n",
     "test.conf:3: [input:kbd] grab: “some” is not one of: all, none"},
    {"[input:kbd]\nevdev = /dev/input/event0\ngrab-toggle = ctrl-alt\n",
     "[input:kbd] grab-toggle: “ctrl-alt” is not one of: ctrl-ctrl, alt-alt"},
    {"[input:kbd]\nevdev = /dev/input/event0\nrepeat = often\n",
     "[input:kbd] repeat: “often” is not a boolean"},
    {"[input:a]\nevdev = /dev/input/event0\n[input:b]\nevdev = /dev/input/event0\n",
     "test.conf:4: [input:b] evdev: /dev/input/event0 is already in [input:a]"},
    {"[hyperv]\nvendor-id = 1234567890abc\n", "test.conf:2: [hyperv] vendor-id: “1234567890abc” is "
                                              "13 characters; Hyper-V vendor ids have at most 12"},
    {"[hyperv]\nvendor-id = a'b\n", "[hyperv] vendor-id: “a'b” may only contain"},
    {"[hyperv]\nvendor-id = <b>\n", "[hyperv] vendor-id: “<b>” may only contain"},
    {"[hyperv]\nkvm-hidden = hidden\n", "[hyperv] kvm-hidden: “hidden” is not a boolean"},
    {"[firmware]\ntype = uefi\n", "[firmware] type: “uefi” is not one of: ovmf, bios"},
    {"[firmware]\ntype = bios\nsecure-boot = true\n", "[firmware] secure-boot: needs type = ovmf"},
    {"[firmware]\ntype = bios\nnvram = /x.fd\n", "[firmware] nvram: needs type = ovmf"},
    {"[firmware]\ntpm = 2.0\n", "[firmware] tpm: “2.0” is not a boolean"},
    {"[firmware]\nnvram = vars.fd\n", "[firmware] nvram: “vars.fd” is not an absolute path"},
    {"[clock]\noffset = gmt\n", "[clock] offset: “gmt” is not one of: localtime, utc"},
    {"[clock]\ntimers = hpet,lapic\n", "[clock] timers: “lapic” is not a known name"},
    {"[disk:a]\nbus = virtio\n", "test.conf:1: [disk:a]: “source” is required"},
    {"[disk:a]\nsource = disk.img\n", "[disk:a] source: “disk.img” is not an absolute path"},
    {"[disk:a]\nsource = /\n", "[disk:a] source: “/” names no file or directory"},
    {"[firmware]\nnvram = //\n", "[firmware] nvram: “//” names no file or directory"},
    {"[disk:a]\nsource = /x\nformat = vmdk\n", "[disk:a] format: “vmdk” is not one of: raw, qcow2"},
    {"[disk:a]\nsource = /x\nbus = ide\n", "[disk:a] bus: “ide” is not one of"},
    {"[disk:a]\nsource = /x\ndiscard = on\n",
     "[disk:a] discard: “on” is not one of: unmap, ignore"},
    {"[disk:a]\nsource = /x\ncache = fast\n", "[disk:a] cache: “fast” is not one of"},
    {"[disk:a]\nsource = /x\nio = aio\n", "[disk:a] io: “aio” is not one of"},
    {"[disk:a]\nsource = /x\nboot = 0\n", "[disk:a] boot: “0” is not a whole number from 1 to 64"},
    {"[disk:a]\nsource = /x\nboot = 1\n[cdrom:b]\nboot = 1\n",
     "test.conf:5: [cdrom:b] boot: boot order 1 is used twice"},
    {"[disk:]\nsource = /x\n", "[disk:]: section id: must be 1 to 32 characters"},
    {"[disk:a b]\nsource = /x\n", "[disk:a b]: section id: “a b” may only contain"},
    {"[cdrom:a]\nsource = ../x.iso\n", "[cdrom:a] source: “../x.iso” is not an absolute path"},
    {"[network:a]\ntype = tap\n", "[network:a] type: “tap” is not one of: bridge, network, user"},
    {"[network:a]\ntype = bridge\n", "[network:a] source: is required for type = bridge"},
    {"[network:a]\ntype = user\nsource = br0\n",
     "[network:a] source: makes no sense for type = user"},
    {"[network:a]\nsource = br0; rm -rf /\n",
     "[network:a] source: “br0; rm -rf /” may only contain"},
    {"[network:a]\nsource = br0\nmac = 52:54:00:00:00\n",
     "[network:a] mac: “52:54:00:00:00” is not a MAC address"},
    {"[network:a]\nsource = br0\nmac = 01:00:5e:00:00:01\n",
     "[network:a] mac: “01:00:5e:00:00:01” is a multicast address"},
    {"[hostdev:g]\nrom = /x.rom\n", "[hostdev:g]: “pci” is required"},
    {"[hostdev:g]\npci = 0000:0f:00.0,0000:10:00.0\n",
     "[hostdev:g] pci: 0000:10:00.0 is not a function of the same device"},
    {"[hostdev:g]\npci = 0f:00.0,0f:00.0\n", "[hostdev:g] pci: 0f:00.0 is listed twice"},
    {"[hostdev:g]\npci = 0f:00.0\n[hostdev:h]\npci = 0f:00.1\n",
     "test.conf:4: [hostdev:h] pci: device 0000:0f:00 is already in [hostdev:g]"},
    {"[usb:k]\ndevice = 46d:c52b\n", "[usb:k] device: “46d:c52b” is not a USB id"},
    {"[usb:k]\ndevice = 046d:c52b\n[usb:l]\ndevice = 046d:c52b\n",
     "[usb:l] device: 046d:c52b is already in [usb:k]"},
    {"[share:s]\ntag = x\n", "[share:s]: “source” is required"},
    {"[share:s]\nsource = /a\ntag = x\n[share:t]\nsource = /b\ntag = x\n",
     "[share:t] tag: tag “x” is used twice"},
    {"[share:s]\nsource = /a\ntag = a/b\n", "[share:s] tag: “a/b” may only contain"},
    {"[graphics]\ntype = sdl\n", "[graphics] type: “sdl” is not one of: none, spice, vnc"},
    {"[vm]\nname = x\nname = y\n", "test.conf:3: [vm] name: set twice (first at line 2)"},
    {"[vm]\n[cpu]\n[vm]\n", "test.conf:3: [vm]: group appears twice (first at line 1)"},
    {"name = x\n", "test.conf:1: a key before the first [group]"},
    {"[vm]\njust words\n", "test.conf:2: expected “key = value”"},
    {"[vm\n", "test.conf:1: malformed group header “[vm”"},
    {"[vm]\nname =\n", "test.conf:2: [vm] name: empty value"},
    {"[vm]\nname = a\\nb\n", "test.conf:2: [vm] name: control characters are not allowed"},
    {"[vm]\nname[de] = x\n", "[vm] name[de]: unknown key"},
    /* the key file syntax, read by winvm itself since GKeyFile went */
    {"[a[b]\n", "test.conf:1: malformed group header “[a[b]”"},
    {"[vm]\nname = a\\qb\n", "test.conf:2: [vm] name: invalid escape “\\q”"},
    {"[vm]\nname = a\\é\n", "test.conf:2: [vm] name: invalid escape “\\é”"},
    {"[vm]\nname = ab\\\n", "test.conf:2: [vm] name: a backslash ends the value"},
};

static void
test_errors(void)
{
  for (guint i = 0; i < G_N_ELEMENTS(broken); i++) {
    g_autofree char *msg = wv_test_profile_error(broken[i].text);
    if (strstr(msg, broken[i].expect) == NULL)
      g_error("case %u:\n%s\nreported:\n  %s\nexpected it to contain:\n  %s", i, broken[i].text,
              msg, broken[i].expect);
  }
}

/* A refused group's keys are not judged: one error, the group's. Escapes
 * read as GKeyFile read them. */
static void
test_key_file_syntax(void)
{
  g_autofree char *msg = wv_test_profile_error("[vm]\n[cpu]\n[vm]\nbogus = 1\nname = §\n");
  g_autoptr(WvProfile) p = wv_test_profile("[vm]\nname = \\swin\\s\n\n[disk:a]\n"
                                           "source = /var/lib/a\\\\b.img\n");

  g_assert_cmpstr(msg, ==, "test.conf:3: [vm]: group appears twice (first at line 1)");
  g_assert_cmpstr(p->name, ==, "win");
  g_assert_cmpuint(p->disks->len, ==, 1);
  g_assert_cmpstr(((WvDisk *)p->disks->pdata[0])->source, ==, "/var/lib/a\\b.img");
}

static void
test_all_errors_reported(void)
{
  g_autofree char *msg =
      wv_test_profile_error("[vm]\nmemory = lots\nvcpus = -1\n[cpu]\nmode = fast\n");
  g_auto(GStrv) lines = g_strsplit(msg, "\n", -1);

  g_assert_cmpuint(g_strv_length(lines), ==, 3);
  g_assert_true(g_str_has_prefix(lines[0], "test.conf:2: [vm] memory:"));
  g_assert_true(g_str_has_prefix(lines[1], "test.conf:3: [vm] vcpus:"));
  g_assert_true(g_str_has_prefix(lines[2], "test.conf:5: [cpu] mode:"));
}

static void
test_binary_input(void)
{
  static const char nul[] = "[vm]\nname = a\0b\n";
  static const char latin1[] = "[vm]\nname = \xe9t\xe9\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) p = wv_profile_parse(nul, sizeof(nul) - 1, "bin.conf", &error);
  g_autoptr(GError) error2 = NULL;
  g_autoptr(WvProfile) p2 = wv_profile_parse(latin1, strlen(latin1), "bin.conf", &error2);
  g_autofree char *huge = g_malloc0(2 * 1024 * 1024);
  g_autoptr(GError) error3 = NULL;
  g_autoptr(WvProfile) p3 = NULL;

  g_assert_null(p);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
  g_assert_nonnull(strstr(error->message, "bin.conf: not a UTF-8 text file"));
  g_assert_null(p2);
  g_assert_error(error2, WV_ERROR, WV_ERROR_INVALID_PROFILE);
  memset(huge, '#', 2 * 1024 * 1024 - 1);
  p3 = wv_profile_parse(huge, strlen(huge), "huge.conf", &error3);
  g_assert_null(p3);
  g_assert_nonnull(strstr(error3->message, "larger than"));
}

static void
test_bad_file_name(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) p = wv_profile_parse("[vm]\n", 5, "/etc/winvm/vms/my vm.conf", &error);

  g_assert_null(p);
  g_assert_nonnull(strstr(error->message, "does not make a valid VM name"));
}

static void
test_load_dir(void)
{
  g_autofree char *dir = g_dir_make_tmp("winvm-test-XXXXXX", NULL);
  g_autofree char *a = g_build_filename(dir, "a.conf", NULL);
  g_autofree char *b = g_build_filename(dir, "b.conf", NULL);
  g_autofree char *c = g_build_filename(dir, "c.conf", NULL);
  g_autofree char *d = g_build_filename(dir, "notes.txt", NULL);
  g_autofree char *missing = g_build_filename(dir, "nope.conf", NULL);
  g_autoptr(GPtrArray) errors = NULL;
  g_autoptr(GHashTable) profiles = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) none = NULL;

  g_assert_true(g_file_set_contents(a, "[vm]\nvcpus = 2\n", -1, NULL));
  g_assert_true(g_file_set_contents(b, "[vm]\nvcpus = lots\n", -1, NULL));
  g_assert_true(g_file_set_contents(c, "[vm]\nname = a\n", -1, NULL));
  g_assert_true(g_file_set_contents(d, "not a profile", -1, NULL));

  profiles = wv_profile_load_dir(dir, &errors);
  g_assert_cmpuint(g_hash_table_size(profiles), ==, 1);
  g_assert_nonnull(g_hash_table_lookup(profiles, "a"));
  g_assert_cmpuint(errors->len, ==, 2);
  g_assert_nonnull(strstr(((GError *)errors->pdata[0])->message, "b.conf:2: [vm] vcpus:"));
  g_assert_nonnull(strstr(((GError *)errors->pdata[1])->message, "VM name “a” is already used"));

  none = wv_profile_load(missing, &error);
  g_assert_null(none);
  g_assert_error(error, WV_ERROR, WV_ERROR_NOT_FOUND);

  g_remove(a);
  g_remove(b);
  g_remove(c);
  g_remove(d);
  g_rmdir(dir);
}

static void
test_set_value(void)
{
  g_autofree char *dir = g_dir_make_tmp("winvm-set-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "vm.conf", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st;
  static const char original[] = "# my gaming VM\n[vm]\nmemory = 16GiB   # lots\n"
                                 "autostart=false\n\n[cpu]\npin = auto\n";

  g_assert_true(g_file_set_contents(path, original, -1, NULL));
  g_assert_cmpint(g_chmod(path, 0640), ==, 0);

  /* replace: only that line changes */
  g_assert_true(wv_profile_set_value(path, "vm", "autostart", "true", &error));
  g_assert_no_error(error);
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_cmpstr(text, ==,
                  "# my gaming VM\n[vm]\nmemory = 16GiB   # lots\nautostart = true\n\n"
                  "[cpu]\npin = auto\n");
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0640);
  g_clear_pointer(&text, g_free);

  /* insert into an existing group, after its last setting */
  g_assert_true(wv_profile_set_value(path, "cpu", "iothreads", "1", NULL));
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_nonnull(strstr(text, "[cpu]\npin = auto\niothreads = 1\n"));
  g_clear_pointer(&text, g_free);

  /* a missing group is added */
  g_assert_true(g_file_set_contents(path, "[cpu]\npin = none\n", -1, NULL));
  g_assert_true(wv_profile_set_value(path, "vm", "autostart", "false", NULL));
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_cmpstr(text, ==, "[vm]\nautostart = false\n\n[cpu]\npin = none\n");
  {
    g_autoptr(WvProfile) p = wv_profile_load(path, &error);
    g_assert_no_error(error);
    g_assert_false(p->autostart);
  }

  g_assert_false(wv_profile_set_value("/nonexistent/x.conf", "vm", "autostart", "true", &error));
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_remove(path);
  g_rmdir(dir);
}

static void
test_examples_parse(void)
{
  static const char *const examples[] = {"gaming", "work", "install", "looking-glass"};

  for (guint i = 0; i < G_N_ELEMENTS(examples); i++) {
    g_autofree char *file = g_strconcat(examples[i], ".conf", NULL);
    g_autofree char *path = g_build_filename(WV_SOURCE_ROOT, "examples", file, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(WvProfile) p = wv_profile_load(path, &error);

    g_assert_no_error(error);
    g_assert_nonnull(p);
  }
}

static const char *
error_at(GPtrArray *errors, const char *needle)
{
  for (guint i = 0; i < errors->len; i++) {
    const GError *e = errors->pdata[i];
    if (strstr(e->message, needle))
      return e->message;
  }
  return NULL;
}

/* What a root daemon reads from its profile directory: regular files only,
 * never blocking on a FIFO, never reading an endless file, never through a
 * link, only root's files that nobody else may write. */
static void
test_load_dir_trust(void)
{
  g_autofree char *dir = g_dir_make_tmp("winvm-trust-XXXXXX", NULL);
  g_autofree char *good = g_build_filename(dir, "good.conf", NULL);
  g_autofree char *fifo = g_build_filename(dir, "fifo.conf", NULL);
  g_autofree char *zero = g_build_filename(dir, "zero.conf", NULL);
  g_autofree char *secret = g_build_filename(dir, "secret", NULL);
  g_autofree char *link = g_build_filename(dir, "link.conf", NULL);
  g_autofree char *big = g_build_filename(dir, "big.conf", NULL);
  g_autofree char *open_mode = g_build_filename(dir, "open.conf", NULL);
  g_autofree char *theirs = g_build_filename(dir, "theirs.conf", NULL);
  g_autofree char *subdir = g_build_filename(dir, "sub.conf", NULL);
  g_autofree char *twin = g_build_filename(dir, "twin.conf", NULL);
  g_autoptr(GPtrArray) errors = NULL;
  g_autoptr(GHashTable) profiles = NULL;
  g_autofree char *filler = g_strnfill(1024 * 1024 + 10, '#');
  const char *uuid = "[vm]\nuuid = 6f1e8a3c-2b7d-4e59-9c0a-1d2e3f405162\n";

  g_assert_true(g_file_set_contents(good, uuid, -1, NULL));
  g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
  g_assert_cmpint(symlink("/dev/zero", zero), ==, 0);
  g_assert_true(g_file_set_contents(secret, "[vm]\ntoken = s3cr3t\n", -1, NULL));
  g_assert_cmpint(symlink(secret, link), ==, 0);
  g_assert_true(g_file_set_contents(big, filler, -1, NULL));
  g_assert_true(g_file_set_contents(open_mode, "[vm]\n", -1, NULL));
  g_assert_cmpint(g_chmod(open_mode, 0666), ==, 0);
  g_assert_true(g_file_set_contents(theirs, "[vm]\n", -1, NULL));
  g_assert_cmpint(g_mkdir(subdir, 0755), ==, 0);
  g_assert_true(g_file_set_contents(twin, uuid, -1, NULL));
  if (geteuid() == 0)
    g_assert_cmpint(chown(theirs, 65534, 65534), ==, 0);

  profiles = wv_profile_load_dir(dir, &errors);
  g_assert_nonnull(profiles);
  g_assert_cmpuint(g_hash_table_size(profiles), ==, geteuid() == 0 ? 1 : 2);
  g_assert_nonnull(g_hash_table_lookup(profiles, "good"));
  g_assert_nonnull(error_at(errors, "fifo.conf: a FIFO, not a regular file; skipped"));
  g_assert_nonnull(error_at(errors, "zero.conf: a symbolic link"));
  g_assert_nonnull(error_at(errors, "link.conf: a symbolic link"));
  g_assert_nonnull(error_at(errors, "big.conf: larger than 1048576 bytes"));
  g_assert_nonnull(error_at(errors, "open.conf: writable by its group or others (mode 0666)"));
  g_assert_nonnull(error_at(errors, "sub.conf: a directory, not a regular file"));
  g_assert_nonnull(error_at(errors, "twin.conf: [vm] uuid: the same UUID as"));
  g_assert_nonnull(strstr(error_at(errors, "twin.conf"), good));
  if (geteuid() == 0)
    g_assert_nonnull(error_at(errors, "theirs.conf: owned by uid 65534"));
  for (guint i = 0; i < errors->len; i++)
    g_assert_null(strstr(((GError *)errors->pdata[i])->message, "s3cr3t"));
  g_clear_pointer(&profiles, g_hash_table_unref);
  g_clear_pointer(&errors, g_ptr_array_unref);

  /* outside the profile directory the user names the file: links are
   * followed, devices still refused, nothing read endlessly */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(WvProfile) p = wv_profile_load("/dev/zero", &error);

    g_assert_null(p);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
    g_assert_nonnull(strstr(error->message, "a character device"));
    g_clear_error(&error);
    g_assert_null(wv_profile_load(fifo, &error));
    g_assert_nonnull(strstr(error->message, "a FIFO"));
  }

  /* a directory others may write, or none at all: no profiles, one error */
  g_assert_cmpint(g_chmod(dir, 0777), ==, 0);
  profiles = wv_profile_load_dir(dir, &errors);
  g_assert_null(profiles);
  g_assert_cmpuint(errors->len, ==, 1);
  g_assert_nonnull(error_at(errors, "it must be root's and writable by nobody else"));
  g_clear_pointer(&errors, g_ptr_array_unref);
  g_assert_null(wv_profile_load_dir("/nonexistent/winvm", &errors));
  g_assert_error((GError *)errors->pdata[0], WV_ERROR, WV_ERROR_NOT_FOUND);

  for (const char *const *f = (const char *const[]){good, fifo, zero, secret, link, big, open_mode,
                                                    theirs, twin, NULL};
       *f; f++)
    g_remove(*f);
  g_rmdir(subdir);
  g_rmdir(dir);
}

/* A megabyte of short bad lines says a bounded amount: 20 errors, each
 * under 400 bytes, and how many more there were. */
static void
test_error_amplification(void)
{
  g_autoptr(GString) text = g_string_new("[vm]\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(WvProfile) p = NULL;
  g_auto(GStrv) lines = NULL;
  g_autofree char *long_value = g_strnfill(5000, 'x');

  while (text->len < 1000 * 1000)
    g_string_append(text, "x\n");
  g_string_append_printf(text, "[cpu]\npin = %s\n", long_value);
  p = wv_profile_parse(text->str, text->len, "/etc/winvm/vms/amp.conf", &error);
  g_assert_null(p);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
  g_assert_cmpuint(strlen(error->message), <, 21 * 460);
  lines = g_strsplit(error->message, "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 21);
  g_assert_nonnull(strstr(lines[20], "… and "));
  g_assert_nonnull(strstr(lines[20], " more errors"));

  /* one long value is cut, on a character boundary */
  {
    g_autoptr(GString) accents = g_string_new(NULL);
    g_autofree char *one = NULL;
    g_autoptr(GError) e = NULL;

    for (guint i = 0; i < 2500; i++)
      g_string_append(accents, "\xc3\xa9"); /* é: two bytes, so a byte cut could split one */
    one = g_strdup_printf("[vm]\nmemory = x%s\n", accents->str);

    g_assert_null(wv_profile_parse(one, strlen(one), "v.conf", &e));
    g_assert_cmpuint(strlen(e->message), <=, 400 + strlen("…"));
    g_assert_true(g_utf8_validate(e->message, -1, NULL));
    g_assert_true(g_str_has_suffix(e->message, "…"));
  }
}

static void
test_error_public(void)
{
  g_autofree char *a = wv_profile_error_public("x.conf:3: [vm] memory: “16” needs a unit");
  g_autofree char *b = wv_profile_error_public("no quotes here");
  g_autofree char *c = wv_profile_error_public("“a” and “b” but “unclosed");

  g_assert_cmpstr(a, ==, "x.conf:3: [vm] memory: “…” needs a unit");
  g_assert_cmpstr(b, ==, "no quotes here");
  g_assert_cmpstr(c, ==, "“…” and “…” but “unclosed");
}

/* wv_profile_text_set(): what VM.Set and CreateVMFrom edit with. */
static void
test_text_set(void)
{
  static const char text[] = "# c\n[vm]\nname = a\nuuid = x\nvcpus = 2\n";
  g_autoptr(GError) error = NULL;
  g_autofree char *removed = wv_profile_text_set(text, "vm", "uuid", NULL, NULL);
  g_autofree char *absent = wv_profile_text_set(text, "cpu", "pin", NULL, NULL);
  g_autofree char *group = wv_profile_text_set(text, "memory", "hugepages", "2M", NULL);
  g_autofree char *bad = wv_profile_text_set(text, "vm", "vcpus", "2\nraw-qemu = true", &error);
  g_autofree char *etag = wv_profile_etag(text, strlen(text));

  g_assert_cmpstr(removed, ==, "# c\n[vm]\nname = a\nvcpus = 2\n");
  g_assert_cmpstr(absent, ==, text);
  g_assert_cmpstr(group, ==,
                  "# c\n[vm]\nname = a\nuuid = x\nvcpus = 2\n\n[memory]\nhugepages = 2M\n");
  g_assert_null(bad);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
  g_assert_cmpuint(strlen(etag), ==, 64);
}

static void
test_hugepages_fallback(void)
{
  g_autoptr(WvProfile) p = wv_test_profile("[vm]\nmemory = 8GiB\n[memory]\nhugepages = 1G\n"
                                           "hugepages-allocate = true\nhugepages-fallback = 2M\n");
  g_autoptr(WvProfile) none = wv_test_profile("[memory]\nhugepages-fallback = none\n");
  g_autoptr(WvProfile) unset = wv_test_profile("[vm]\nname = x\n");

  g_assert_cmpuint(p->hugepage_kib, ==, 1024 * 1024);
  g_assert_cmpuint(p->hugepage_fallback_kib, ==, 2048);
  g_assert_cmpuint(none->hugepage_fallback_kib, ==, 0);
  g_assert_cmpuint(unset->hugepage_fallback_kib, ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/profile/full", test_full);
  g_test_add_func("/profile/hugepages-fallback", test_hugepages_fallback);
  g_test_add_func("/profile/defaults", test_defaults);
  g_test_add_func("/profile/host-sleep", test_host_sleep);
  g_test_add_func("/profile/values", test_values);
  g_test_add_func("/profile/key-file-syntax", test_key_file_syntax);
  g_test_add_func("/profile/device-keys", test_device_keys);
  g_test_add_func("/profile/errors", test_errors);
  g_test_add_func("/profile/all-errors-reported", test_all_errors_reported);
  g_test_add_func("/profile/binary-input", test_binary_input);
  g_test_add_func("/profile/bad-file-name", test_bad_file_name);
  g_test_add_func("/profile/load-dir", test_load_dir);
  g_test_add_func("/profile/load-dir-trust", test_load_dir_trust);
  g_test_add_func("/profile/error-amplification", test_error_amplification);
  g_test_add_func("/profile/error-public", test_error_public);
  g_test_add_func("/profile/examples", test_examples_parse);
  g_test_add_func("/profile/set-value", test_set_value);
  g_test_add_func("/profile/text-set", test_text_set);
  return g_test_run();
}
