/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-render.h"
#include "wv-template.h"
#include "wv-common.h"

#include <libxml/parser.h>

/* libvirt's own element order, so rendered documents read like the ones
 * `virsh dumpxml` prints and new elements land in one predictable place. */
static const char *const domain_order[] = {
    "name",      "uuid",    "genid",         "title",       "description", "metadata",
    "maxMemory", "memory",  "currentMemory", "blkiotune",   "memtune",     "memoryBacking",
    "vcpu",      "vcpus",   "iothreads",     "iothreadids", "cputune",     "numatune",
    "resource",  "sysinfo", "bootloader",    "os",          "idmap",       "features",
    "cpu",       "clock",   "on_poweroff",   "on_reboot",   "on_crash",    "pm",
    "perf",      "devices", "seclabel",      NULL,
};

static const char *const features_order[] = {
    "acpi", "apic",       "pae", "hap",    "viridian", "privnet", "hyperv", "kvm",
    "xen",  "pvspinlock", "pmu", "vmport", "gic",      "smm",     "ioapic", NULL,
};

static const char *const os_order[] = {
    "type", "firmware", "loader",   "nvram",  "kernel", "initrd", "cmdline",
    "dtb",  "boot",     "bootmenu", "smbios", "bios",   NULL,
};

static const char *const cpu_order[] = {
    "model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa", NULL,
};

/* ---- sections ------------------------------------------------------------ */

static void
render_memory(xmlNode *dom, const WvProfile *p, const WvPlan *plan)
{
  xmlNode *n, *mb;
  g_autofree char *kib = g_strdup_printf("%" G_GUINT64_FORMAT, p->memory_kib);

  wv_xml_remove_children(dom, "maxMemory");
  n = wv_xml_ensure_child(dom, "memory", domain_order);
  wv_xml_set_prop(n, "unit", "KiB");
  wv_xml_set_text(n, kib);
  n = wv_xml_ensure_child(dom, "currentMemory", domain_order);
  wv_xml_set_prop(n, "unit", "KiB");
  wv_xml_set_text(n, kib);

  mb = wv_xml_ensure_child(dom, "memoryBacking", domain_order);
  wv_xml_remove_children(mb, "hugepages");
  wv_xml_remove_children(mb, "source");
  wv_xml_remove_children(mb, "access");
  if (plan->hugepage_kib) {
    xmlNode *page = wv_xml_append(wv_xml_append(mb, "hugepages"), "page");
    wv_xml_set_prop_uint(page, "size", plan->hugepage_kib);
    wv_xml_set_prop(page, "unit", "KiB");
  }
  if (p->shares->len > 0) {
    wv_xml_set_prop(wv_xml_append(mb, "source"), "type", "memfd");
    wv_xml_set_prop(wv_xml_append(mb, "access"), "mode", "shared");
  }
  wv_xml_remove_if_empty(mb);
}

/* <vcpu> and <iothreads>: how many */
static void
render_vcpus(xmlNode *dom, const WvProfile *p, const WvPlan *plan)
{
  xmlNode *n;
  g_autofree char *vcpus = g_strdup_printf("%u", plan->vcpus);

  wv_xml_remove_children(dom, "vcpus");
  n = wv_xml_ensure_child(dom, "vcpu", domain_order);
  wv_xml_set_prop(n, "placement", "static");
  xmlUnsetProp(n, BAD_CAST "current");
  xmlUnsetProp(n, BAD_CAST "cpuset");
  wv_xml_set_text(n, vcpus);

  wv_xml_remove_children(dom, "iothreadids");
  if (p->iothreads > 0) {
    g_autofree char *count = g_strdup_printf("%u", p->iothreads);
    wv_xml_set_text(wv_xml_ensure_child(dom, "iothreads", domain_order), count);
  } else {
    wv_xml_remove_children(dom, "iothreads");
  }
}

/* <cputune>: where vCPUs, the emulator and I/O threads run */
static void
render_cputune(xmlNode *dom, const WvPlan *plan)
{
  xmlNode *tune = wv_xml_ensure_child(dom, "cputune", domain_order);

  wv_xml_remove_children(tune, "vcpupin");
  wv_xml_remove_children(tune, "emulatorpin");
  wv_xml_remove_children(tune, "iothreadpin");
  for (guint i = 0; i < plan->vcpu_pins->len; i++) {
    g_autofree char *set = NULL;
    xmlNode *pin;

    if (plan->vcpu_pins->pdata[i] == NULL)
      continue; /* left to the scheduler */
    set = wv_cpuset_format(plan->vcpu_pins->pdata[i]);
    pin = wv_xml_append(tune, "vcpupin");
    wv_xml_set_prop_uint(pin, "vcpu", i);
    wv_xml_set_prop(pin, "cpuset", set);
  }
  if (plan->emulator_pin) {
    g_autofree char *set = wv_cpuset_format(plan->emulator_pin);
    wv_xml_set_prop(wv_xml_append(tune, "emulatorpin"), "cpuset", set);
  }
  for (guint i = 0; i < plan->iothread_pins->len; i++) {
    g_autofree char *set = NULL;
    xmlNode *pin;

    if (plan->iothread_pins->pdata[i] == NULL)
      continue;
    set = wv_cpuset_format(plan->iothread_pins->pdata[i]);
    pin = wv_xml_append(tune, "iothreadpin");
    wv_xml_set_prop_uint(pin, "iothread", i + 1);
    wv_xml_set_prop(pin, "cpuset", set);
  }
  wv_xml_remove_if_empty(tune);
}

/* <numatune>: memory on the vCPUs' node */
static void
render_numatune(xmlNode *dom, const WvPlan *plan)
{
  wv_xml_remove_children(dom, "numatune");
  if (plan->numa_node >= 0) {
    xmlNode *mem = wv_xml_append(wv_xml_add_child(dom, "numatune", domain_order), "memory");
    wv_xml_set_prop(mem, "mode", "strict");
    wv_xml_set_prop_uint(mem, "nodeset", (guint)plan->numa_node);
  }
}

/* <cpu>: mode, model, topology and features */
static void
render_cpu(xmlNode *dom, const WvProfile *p, const WvPlan *plan)
{
  xmlNode *n = wv_xml_ensure_child(dom, "cpu", domain_order);

  xmlUnsetProp(n, BAD_CAST "match");
  xmlUnsetProp(n, BAD_CAST "check");
  /* QEMU refuses migratable= with any other mode than host-passthrough */
  if (plan->cpu_mode != WV_CPU_MODE_HOST_PASSTHROUGH)
    xmlUnsetProp(n, BAD_CAST "migratable");
  wv_xml_remove_children(n, "model");
  switch (plan->cpu_mode) {
    case WV_CPU_MODE_HOST_PASSTHROUGH:
      wv_xml_set_prop(n, "mode", "host-passthrough");
      wv_xml_set_prop(n, "check", "none");
      break;
    case WV_CPU_MODE_HOST_MODEL:
      wv_xml_set_prop(n, "mode", "host-model");
      break;
    case WV_CPU_MODE_CUSTOM: {
      xmlNode *model = wv_xml_add_child(n, "model", cpu_order);
      wv_xml_set_prop(n, "mode", "custom");
      wv_xml_set_prop(n, "match", "exact");
      wv_xml_set_prop(model, "fallback", "allow");
      wv_xml_set_text(model, plan->cpu_model);
      break;
    }
    default:
      g_assert_not_reached();
  }
  {
    xmlNode *topo = wv_xml_replace_child(n, "topology", cpu_order);
    wv_xml_set_prop_uint(topo, "sockets", plan->sockets);
    wv_xml_set_prop_uint(topo, "dies", plan->dies);
    wv_xml_set_prop_uint(topo, "cores", plan->cores);
    wv_xml_set_prop_uint(topo, "threads", plan->threads);
  }
  for (guint i = 0; i < p->cpu_features->len; i++) {
    const WvNamedSwitch *sw = p->cpu_features->pdata[i];
    xmlNode *f;

    /* drop a template feature of the same name, then add ours */
    for (xmlNode *c = n->children, *next; c; c = next) {
      g_autofree xmlChar *name = NULL;
      next = c->next;
      if (!wv_xml_is_element(c, "feature"))
        continue;
      name = xmlGetProp(c, BAD_CAST "name");
      if (name && g_str_equal((const char *)name, sw->name)) {
        xmlUnlinkNode(c);
        xmlFreeNode(c);
      }
    }
    f = wv_xml_append(n, "feature");
    wv_xml_set_prop(f, "policy", sw->enable ? "require" : "disable");
    wv_xml_set_prop(f, "name", sw->name);
  }
}

static void
render_os(xmlNode *dom, const WvProfile *p)
{
  xmlNode *os = wv_xml_ensure_child(dom, "os", domain_order);
  gboolean any_boot_order = FALSE;

  if (p->firmware == WV_FIRMWARE_BIOS) {
    xmlUnsetProp(os, BAD_CAST "firmware");
    wv_xml_remove_children(os, "firmware");
    wv_xml_remove_children(os, "loader");
    wv_xml_remove_children(os, "nvram");
  } else if (p->firmware == WV_FIRMWARE_OVMF) {
    wv_xml_set_prop(os, "firmware", "efi");
  }

  if (xmlHasProp(os, BAD_CAST "firmware") && p->secure_boot != WV_TRI_UNSET) {
    xmlNode *fw = wv_xml_replace_child(os, "firmware", os_order);
    xmlNode *loader = wv_xml_ensure_child(os, "loader", os_order);
    xmlNode *f = wv_xml_append(fw, "feature");

    wv_xml_set_prop(f, "enabled", p->secure_boot == WV_TRI_ON ? "yes" : "no");
    wv_xml_set_prop(f, "name", "enrolled-keys");
    f = wv_xml_append(fw, "feature");
    wv_xml_set_prop(f, "enabled", p->secure_boot == WV_TRI_ON ? "yes" : "no");
    wv_xml_set_prop(f, "name", "secure-boot");
    /* with firmware autoselection libvirt refuses secure='no' */
    if (p->secure_boot == WV_TRI_ON) {
      wv_xml_set_prop(loader, "secure", "yes");
    } else {
      xmlUnsetProp(loader, BAD_CAST "secure");
      wv_xml_remove_if_empty(loader);
    }
  }
  if (p->nvram)
    wv_xml_set_text(wv_xml_ensure_child(os, "nvram", os_order), p->nvram);
  if (p->machine)
    wv_xml_set_prop(wv_xml_ensure_child(os, "type", os_order), "machine", p->machine);

  /* per-device boot order and <os><boot> exclude each other */
  for (guint i = 0; i < p->disks->len; i++)
    any_boot_order |= ((WvDisk *)p->disks->pdata[i])->boot != 0;
  for (guint i = 0; i < p->cdroms->len; i++)
    any_boot_order |= ((WvCdrom *)p->cdroms->pdata[i])->boot != 0;
  if (any_boot_order)
    wv_xml_remove_children(os, "boot");
}

static void
render_features(xmlNode *dom, const WvProfile *p, const WvPlan *plan)
{
  xmlNode *features = wv_xml_ensure_child(dom, "features", domain_order);
  xmlNode *hv, *kvm;
  xmlNode *os = wv_xml_find_child(dom, "os");
  g_autofree xmlChar *loader_secure = NULL;
  xmlNode *loader = os ? wv_xml_find_child(os, "loader") : NULL;

  wv_xml_ensure_child(features, "acpi", features_order);
  wv_xml_ensure_child(features, "apic", features_order);

  wv_xml_remove_children(features, "hyperv");
  if (plan->hyperv_features != 0 || p->vendor_id != NULL) {
    hv = wv_xml_add_child(features, "hyperv", features_order);
    wv_xml_set_prop(hv, "mode", "custom");
    for (guint f = 0; f < WV_HV_N_FEATURES; f++) {
      xmlNode *e;

      if (!(plan->hyperv_features & (1u << f)) || f == WV_HV_STIMER_DIRECT)
        continue;
      e = wv_xml_append(hv, wv_hyperv_feature_name(f));
      wv_xml_set_prop(e, "state", "on");
      if (f == WV_HV_SPINLOCKS)
        wv_xml_set_prop_uint(e, "retries", p->spinlocks);
      if (f == WV_HV_STIMER && (plan->hyperv_features & (1u << WV_HV_STIMER_DIRECT)))
        wv_xml_set_prop(wv_xml_append(e, "direct"), "state", "on");
    }
    if (p->vendor_id) {
      xmlNode *e = wv_xml_append(hv, "vendor_id");
      wv_xml_set_prop(e, "state", "on");
      wv_xml_set_prop(e, "value", p->vendor_id);
    }
  }

  kvm = wv_xml_ensure_child(features, "kvm", features_order);
  wv_xml_remove_children(kvm, "hidden");
  if (p->kvm_hidden)
    wv_xml_set_prop(wv_xml_append(kvm, "hidden"), "state", "on");
  wv_xml_remove_if_empty(kvm);

  wv_xml_set_prop(wv_xml_ensure_child(features, "vmport", features_order), "state", "off");

  if (loader)
    loader_secure = xmlGetProp(loader, BAD_CAST "secure");
  if (p->secure_boot == WV_TRI_ON ||
      (loader_secure && g_str_equal((const char *)loader_secure, "yes")))
    wv_xml_set_prop(wv_xml_ensure_child(features, "smm", features_order), "state", "on");
}

/* <name>default</name> unless the template already says something */
static void
ensure_text(xmlNode *dom, const char *name, const char *value)
{
  xmlNode *n = wv_xml_ensure_child(dom, name, domain_order);
  if (n->children == NULL)
    wv_xml_set_text(n, value);
}

static void
render_clock(xmlNode *dom, const WvProfile *p)
{
  xmlNode *clock = wv_xml_ensure_child(dom, "clock", domain_order);

  if (p->clock_offset != WV_CLOCK_UNSET)
    wv_xml_set_prop(clock, "offset", p->clock_offset == WV_CLOCK_LOCALTIME ? "localtime" : "utc");
  for (guint i = 0; i < p->timers->len; i++) {
    const WvNamedSwitch *sw = p->timers->pdata[i];
    xmlNode *timer = NULL;

    for (xmlNode *c = clock->children; c && !timer; c = c->next) {
      g_autofree xmlChar *name =
          wv_xml_is_element(c, "timer") ? xmlGetProp(c, BAD_CAST "name") : NULL;
      if (name && g_str_equal((const char *)name, sw->name))
        timer = c;
    }
    if (timer == NULL) {
      timer = wv_xml_append(clock, "timer");
      wv_xml_set_prop(timer, "name", sw->name);
    }
    wv_xml_set_prop(timer, "present", sw->enable ? "yes" : "no");
  }

  ensure_text(dom, "on_poweroff", "destroy");
  ensure_text(dom, "on_reboot", "restart");
  ensure_text(dom, "on_crash", "destroy");
  if (!wv_xml_find_child(dom, "pm")) {
    xmlNode *pm = wv_xml_add_child(dom, "pm", domain_order);
    wv_xml_set_prop(wv_xml_append(pm, "suspend-to-mem"), "enabled", "no");
    wv_xml_set_prop(wv_xml_append(pm, "suspend-to-disk"), "enabled", "no");
  }
}

/* ---- devices ------------------------------------------------------------- */

/* "vd" + 0 -> "vda", 25 -> "vdz", 26 -> "vdaa" */
static char *
target_name(const char *prefix, guint index)
{
  char suffix[8];
  int i = (int)sizeof(suffix) - 1;

  suffix[i] = '\0';
  do {
    suffix[--i] = (char)('a' + index % 26);
    index = index / 26;
  } while (index-- > 0 && i > 0);
  return g_strconcat(prefix, &suffix[i], NULL);
}

/* Whether @devices has a <controller type=@type> (of @model when not NULL);
 * the next free index for that type in *@next_index. */
static gboolean
find_controller(xmlNode *devices, const char *type, const char *model, guint *next_index)
{
  gboolean found = FALSE;
  guint next = 0;

  for (xmlNode *c = devices->children; c; c = c->next) {
    g_autofree xmlChar *t = NULL, *m = NULL, *idx = NULL;

    if (!wv_xml_is_element(c, "controller"))
      continue;
    t = xmlGetProp(c, BAD_CAST "type");
    if (t == NULL || !g_str_equal((const char *)t, type))
      continue;
    m = xmlGetProp(c, BAD_CAST "model");
    idx = xmlGetProp(c, BAD_CAST "index");
    next = MAX(next, (idx ? (guint)g_ascii_strtoull((const char *)idx, NULL, 10) : 0) + 1);
    found |= model == NULL || (m && g_str_equal((const char *)m, model));
  }
  if (next_index)
    *next_index = next;
  return found;
}

/* A <controller type=@type model=@model> unless one is there already. */
static xmlNode *
ensure_controller(xmlNode *devices, const char *type, const char *model)
{
  xmlNode *ctrl;
  guint index;

  if (find_controller(devices, type, model, &index))
    return NULL;
  ctrl = wv_xml_append(devices, "controller");
  wv_xml_set_prop(ctrl, "type", type);
  wv_xml_set_prop_uint(ctrl, "index", index);
  wv_xml_set_prop(ctrl, "model", model);
  return ctrl;
}

static const char *
default_format(const char *source)
{
  return g_str_has_suffix(source, ".qcow2") ? "qcow2" : "raw";
}

static void
render_disks(xmlNode *devices, const WvProfile *p)
{
  guint vd = 0, sd = 0, virtio_index = 0;
  gboolean need_scsi = FALSE;

  for (guint i = 0; i < p->disks->len; i++) {
    const WvDisk *d = p->disks->pdata[i];
    gboolean block = g_str_has_prefix(d->source, "/dev/");
    xmlNode *disk = wv_xml_append(devices, "disk");
    xmlNode *drv, *src, *tgt;
    g_autofree char *dev = NULL;

    wv_xml_set_prop(disk, "type", block ? "block" : "file");
    wv_xml_set_prop(disk, "device", "disk");
    drv = wv_xml_append(disk, "driver");
    wv_xml_set_prop(drv, "name", "qemu");
    wv_xml_set_prop(drv, "type", d->format ? d->format : default_format(d->source));
    if (d->cache)
      wv_xml_set_prop(drv, "cache", d->cache);
    if (d->io)
      wv_xml_set_prop(drv, "io", d->io);
    if (d->discard)
      wv_xml_set_prop(drv, "discard", d->discard);
    if (d->bus == WV_DISK_BUS_VIRTIO && p->iothreads > 0)
      wv_xml_set_prop_uint(drv, "iothread", virtio_index++ % p->iothreads + 1);
    src = wv_xml_append(disk, "source");
    wv_xml_set_prop(src, block ? "dev" : "file", d->source);
    tgt = wv_xml_append(disk, "target");
    switch (d->bus) {
      case WV_DISK_BUS_VIRTIO:
        dev = target_name("vd", vd++);
        wv_xml_set_prop(tgt, "bus", "virtio");
        break;
      case WV_DISK_BUS_VIRTIO_SCSI:
        dev = target_name("sd", sd++);
        wv_xml_set_prop(tgt, "bus", "scsi");
        need_scsi = TRUE;
        break;
      case WV_DISK_BUS_SATA:
        dev = target_name("sd", sd++);
        wv_xml_set_prop(tgt, "bus", "sata");
        break;
      default:
        g_assert_not_reached();
    }
    wv_xml_set_prop(tgt, "dev", dev);
    if (d->boot)
      wv_xml_set_prop_uint(wv_xml_append(disk, "boot"), "order", d->boot);
  }

  for (guint i = 0; i < p->cdroms->len; i++) {
    const WvCdrom *c = p->cdroms->pdata[i];
    xmlNode *disk = wv_xml_append(devices, "disk");
    xmlNode *drv, *tgt;
    g_autofree char *dev = target_name("sd", sd++);

    wv_xml_set_prop(disk, "type", "file");
    wv_xml_set_prop(disk, "device", "cdrom");
    drv = wv_xml_append(disk, "driver");
    wv_xml_set_prop(drv, "name", "qemu");
    wv_xml_set_prop(drv, "type", "raw");
    if (c->source)
      wv_xml_set_prop(wv_xml_append(disk, "source"), "file", c->source);
    tgt = wv_xml_append(disk, "target");
    wv_xml_set_prop(tgt, "dev", dev);
    wv_xml_set_prop(tgt, "bus", "sata");
    wv_xml_append(disk, "readonly");
    if (c->boot)
      wv_xml_set_prop_uint(wv_xml_append(disk, "boot"), "order", c->boot);
  }

  if (need_scsi) {
    xmlNode *ctrl = ensure_controller(devices, "scsi", "virtio-scsi");
    if (ctrl && p->iothreads > 0)
      wv_xml_set_prop(wv_xml_append(ctrl, "driver"), "iothread", "1");
  }
}

static void
render_shares_and_nics(xmlNode *devices, const WvProfile *p)
{
  for (guint i = 0; i < p->shares->len; i++) {
    const WvShare *s = p->shares->pdata[i];
    xmlNode *fs = wv_xml_append(devices, "filesystem");

    wv_xml_set_prop(fs, "type", "mount");
    wv_xml_set_prop(fs, "accessmode", "passthrough");
    wv_xml_set_prop(wv_xml_append(fs, "driver"), "type", "virtiofs");
    wv_xml_set_prop(wv_xml_append(fs, "source"), "dir", s->source);
    wv_xml_set_prop(wv_xml_append(fs, "target"), "dir", s->tag);
  }

  for (guint i = 0; i < p->networks->len; i++) {
    const WvNetwork *n = p->networks->pdata[i];
    xmlNode *nic = wv_xml_append(devices, "interface");

    switch (n->type) {
      case WV_NET_BRIDGE:
        wv_xml_set_prop(nic, "type", "bridge");
        break;
      case WV_NET_NETWORK:
        wv_xml_set_prop(nic, "type", "network");
        break;
      case WV_NET_USER:
        wv_xml_set_prop(nic, "type", "user");
        break;
      default:
        g_assert_not_reached();
    }
    if (n->mac)
      wv_xml_set_prop(wv_xml_append(nic, "mac"), "address", n->mac);
    if (n->source)
      wv_xml_set_prop(wv_xml_append(nic, "source"), n->type == WV_NET_BRIDGE ? "bridge" : "network",
                      n->source);
    wv_xml_set_prop(wv_xml_append(nic, "model"), "type", n->model ? n->model : "virtio");
  }
}

static void
set_pci_address(xmlNode *addr, guint domain, guint bus, guint slot, guint function)
{
  wv_xml_set_prop_hex(addr, "domain", domain, 4);
  wv_xml_set_prop_hex(addr, "bus", bus, 2);
  wv_xml_set_prop_hex(addr, "slot", slot, 2);
  wv_xml_set_prop_hex(addr, "function", function, 1);
}

static void
render_hostdevs(xmlNode *dom, xmlNode *devices, const WvProfile *p)
{
  xmlNode *os = wv_xml_find_child(dom, "os");
  xmlNode *type = os ? wv_xml_find_child(os, "type") : NULL;
  g_autofree xmlChar *machine = type ? xmlGetProp(type, BAD_CAST "machine") : NULL;
  gboolean q35 = machine && strstr((const char *)machine, "q35") != NULL;
  guint next_port;
  guint next_slot = 0x10;

  find_controller(devices, "pci", NULL, &next_port);
  next_port = MAX(next_port, 1); /* index 0 is the root bus */

  for (guint i = 0; i < p->hostdevs->len; i++) {
    const WvHostdev *h = p->hostdevs->pdata[i];
    gboolean multi = h->functions->len > 1;
    guint guest_bus = 0, guest_slot = 0;

    /* Functions of one device share one guest slot, as on the host: the
     * vendor drivers look for the audio function next to the GPU. */
    if (multi && q35) {
      xmlNode *ctrl = wv_xml_append(devices, "controller");
      wv_xml_set_prop(ctrl, "type", "pci");
      wv_xml_set_prop_uint(ctrl, "index", next_port);
      wv_xml_set_prop(ctrl, "model", "pcie-root-port");
      guest_bus = next_port++;
    } else if (multi) {
      guest_slot = next_slot++;
    }

    for (guint f = 0; f < h->functions->len; f++) {
      const WvPciAddress *a = &g_array_index(h->functions, WvPciAddress, f);
      xmlNode *hd = wv_xml_append(devices, "hostdev");
      xmlNode *addr;

      wv_xml_set_prop(hd, "mode", "subsystem");
      wv_xml_set_prop(hd, "type", "pci");
      wv_xml_set_prop(hd, "managed", "yes");
      wv_xml_set_prop(wv_xml_append(hd, "driver"), "name", "vfio");
      addr = wv_xml_append(wv_xml_append(hd, "source"), "address");
      set_pci_address(addr, a->domain, a->bus, a->slot, a->function);
      if (h->rom && f == 0)
        wv_xml_set_prop(wv_xml_append(hd, "rom"), "file", h->rom);
      if (multi) {
        addr = wv_xml_append(hd, "address");
        wv_xml_set_prop(addr, "type", "pci");
        set_pci_address(addr, 0, guest_bus, guest_slot, a->function);
        if (f == 0)
          wv_xml_set_prop(addr, "multifunction", "on");
      }
    }
  }

  /* a [usb] controller the profile names is there already (render_usb) */
  if (p->usbs->len > 0 && p->usb_controller == WV_USB_UNSET) {
    xmlNode *ctrl = ensure_controller(devices, "usb", "qemu-xhci");
    if (ctrl)
      wv_xml_set_prop(ctrl, "ports", "15");
  }
  for (guint i = 0; i < p->usbs->len; i++) {
    const WvUsb *u = p->usbs->pdata[i];
    xmlNode *hd = wv_xml_append(devices, "hostdev");
    xmlNode *src;

    wv_xml_set_prop(hd, "mode", "subsystem");
    wv_xml_set_prop(hd, "type", "usb");
    wv_xml_set_prop(hd, "managed", "yes");
    src = wv_xml_append(hd, "source");
    wv_xml_set_prop_hex(wv_xml_append(src, "vendor"), "id", u->vendor, 4);
    wv_xml_set_prop_hex(wv_xml_append(src, "product"), "id", u->product, 4);
  }
}

static void
render_graphics(xmlNode *devices, const WvProfile *p)
{
  xmlNode *g, *video;

  switch (p->graphics) {
    case WV_GRAPHICS_UNSET:
      return;
    case WV_GRAPHICS_NONE:
      wv_xml_remove_children(devices, "graphics");
      wv_xml_remove_children(devices, "video");
      wv_xml_set_prop(wv_xml_append(wv_xml_append(devices, "video"), "model"), "type", "none");
      return;
    case WV_GRAPHICS_SPICE:
    case WV_GRAPHICS_VNC:
      wv_xml_remove_children(devices, "graphics");
      g = wv_xml_append(devices, "graphics");
      wv_xml_set_prop(g, "type", p->graphics == WV_GRAPHICS_SPICE ? "spice" : "vnc");
      wv_xml_set_prop(g, "autoport", "yes");
      {
        xmlNode *listen = wv_xml_append(g, "listen");
        wv_xml_set_prop(listen, "type", "address");
        wv_xml_set_prop(listen, "address", "127.0.0.1");
      }
      video = wv_xml_find_child(devices, "video");
      if (video) {
        xmlNode *model = wv_xml_find_child(video, "model");
        g_autofree xmlChar *t = model ? xmlGetProp(model, BAD_CAST "type") : NULL;
        if (t == NULL || !g_str_equal((const char *)t, "none"))
          return;
        wv_xml_remove_children(devices, "video");
      }
      wv_xml_set_prop(wv_xml_append(wv_xml_append(devices, "video"), "model"), "type",
                      p->graphics == WV_GRAPHICS_SPICE ? "qxl" : "vga");
      return;
    default:
      g_assert_not_reached();
  }
}

static gboolean
attr_is(xmlNode *node, const char *name, const char *value)
{
  g_autofree xmlChar *v = xmlGetProp(node, BAD_CAST name);
  return v && g_str_equal((const char *)v, value);
}

/* Removes the <@element> children of @devices whose @attr is @value
 * (@value NULL: any; @prefix: @value starts it). */
static void
remove_devices(xmlNode *devices, const char *element, const char *attr, const char *value,
               gboolean prefix)
{
  for (xmlNode *c = devices->children, *next; c; c = next) {
    g_autofree xmlChar *v = NULL;

    next = c->next;
    if (!wv_xml_is_element(c, element))
      continue;
    if (attr) {
      v = xmlGetProp(c, BAD_CAST attr);
      if (v == NULL || !(prefix ? g_str_has_prefix((const char *)v, value)
                                : g_str_equal((const char *)v, value)))
        continue;
    }
    xmlUnlinkNode(c);
    xmlFreeNode(c);
  }
}

static const char *const video_models[] = {
    [WV_VIDEO_NONE] = "none",   [WV_VIDEO_VIRTIO] = "virtio", [WV_VIDEO_QXL] = "qxl",
    [WV_VIDEO_VGA] = "vga",     [WV_VIDEO_VMVGA] = "vmvga",   [WV_VIDEO_BOCHS] = "bochs",
    [WV_VIDEO_RAMFB] = "ramfb",
};

/* [video]: after [graphics], whose default video it replaces */
static void
render_video(xmlNode *devices, const WvProfile *p)
{
  xmlNode *model;

  if (p->video == WV_VIDEO_UNSET)
    return;
  remove_devices(devices, "video", NULL, NULL, FALSE);
  model = wv_xml_append(wv_xml_append(devices, "video"), "model");
  wv_xml_set_prop(model, "type", video_models[p->video]);
  if (p->video_vram_kib)
    wv_xml_set_prop_uint(model, "vram", p->video_vram_kib);
}

static const char *const sound_models[] = {
    [WV_SOUND_ICH9] = "ich9",
    [WV_SOUND_HDA] = "ich6",
    [WV_SOUND_AC97] = "ac97",
};

/* [sound]: the card, and the <audio> backend it plays through (id 1) */
static void
render_sound(xmlNode *devices, const WvProfile *p)
{
  if (p->audio != WV_AUDIO_UNSET) {
    xmlNode *audio;

    remove_devices(devices, "audio", NULL, NULL, FALSE);
    audio = wv_xml_append(devices, "audio");
    wv_xml_set_prop(audio, "id", "1");
    switch (p->audio) {
      case WV_AUDIO_NONE:
        wv_xml_set_prop(audio, "type", "none");
        break;
      case WV_AUDIO_PIPEWIRE: /* through pipewire-pulse: see sound-pipewire-pulse */
      case WV_AUDIO_PULSEAUDIO:
        wv_xml_set_prop(audio, "type", "pulseaudio");
        break;
      case WV_AUDIO_SPICE:
        wv_xml_set_prop(audio, "type", "spice");
        break;
      case WV_AUDIO_UNSET:
      default:
        g_assert_not_reached();
    }
  }
  if (p->sound == WV_SOUND_UNSET)
    return;
  remove_devices(devices, "sound", NULL, NULL, FALSE);
  if (p->sound != WV_SOUND_NONE) {
    xmlNode *sound = wv_xml_append(devices, "sound");

    wv_xml_set_prop(sound, "model", sound_models[p->sound]);
    if (p->sound_codec)
      wv_xml_set_prop(wv_xml_append(sound, "codec"), "type", p->sound_codec);
    if (p->audio != WV_AUDIO_UNSET)
      wv_xml_set_prop(wv_xml_append(sound, "audio"), "id", "1");
  }
}

static const char *const usb_models[] = {
    [WV_USB_NONE] = "none",
    [WV_USB_QEMU_XHCI] = "qemu-xhci",
    [WV_USB_NEC_XHCI] = "nec-xhci",
    [WV_USB_EHCI] = "ehci",
};

/* [usb] controller: the one USB controller, or none (then no device of
 * the template may sit on a USB bus: libvirt refuses the domain) */
static void
render_usb(xmlNode *devices, const WvProfile *p)
{
  xmlNode *ctrl;

  if (p->usb_controller == WV_USB_UNSET)
    return;
  remove_devices(devices, "controller", "type", "usb", FALSE);
  ctrl = wv_xml_append(devices, "controller");
  wv_xml_set_prop(ctrl, "type", "usb");
  wv_xml_set_prop(ctrl, "index", "0");
  wv_xml_set_prop(ctrl, "model", usb_models[p->usb_controller]);
  if (p->usb_controller == WV_USB_QEMU_XHCI || p->usb_controller == WV_USB_NEC_XHCI)
    wv_xml_set_prop(ctrl, "ports", "15");
  if (p->usb_controller == WV_USB_NONE) {
    remove_devices(devices, "input", "bus", "usb", FALSE);
    remove_devices(devices, "redirdev", "bus", "usb", FALSE);
    remove_devices(devices, "hub", "type", "usb", FALSE);
    remove_devices(devices, "sound", "model", "usb", FALSE);
  }
}

/* [looking-glass]: the frame buffer the guest's host application writes
 * and the client reads, /dev/shm/looking-glass-NAME (one per VM: a shared
 * name would let two guests see each other's screens). kvmfr cannot be
 * said through libvirt (looking-glass-kvmfr). */
static void
render_looking_glass(xmlNode *devices, const WvProfile *p)
{
  g_autofree char *name = g_strconcat("looking-glass-", p->name, NULL);
  g_autofree char *mib = g_strdup_printf("%u", wv_looking_glass_mib(p->lg_width, p->lg_height));
  xmlNode *shmem, *size;

  remove_devices(devices, "shmem", "name", "looking-glass", TRUE);
  if (p->lg_width == 0 || p->lg_device != WV_LOOKING_GLASS_SHM)
    return;
  shmem = wv_xml_append(devices, "shmem");
  wv_xml_set_prop(shmem, "name", name);
  wv_xml_set_prop(wv_xml_append(shmem, "model"), "type", "ivshmem-plain");
  size = wv_xml_append(shmem, "size");
  wv_xml_set_prop(size, "unit", "M");
  wv_xml_set_text(size, mib);
}

/* [input:ID]: host keyboards and mice through evdev */
static void
render_inputs(xmlNode *devices, const WvProfile *p)
{
  for (guint i = 0; i < p->inputs->len; i++) {
    const WvInput *in = p->inputs->pdata[i];
    xmlNode *input = wv_xml_append(devices, "input");
    xmlNode *src;

    wv_xml_set_prop(input, "type", "evdev");
    src = wv_xml_append(input, "source");
    wv_xml_set_prop(src, "dev", in->evdev);
    if (in->grab_all)
      wv_xml_set_prop(src, "grab", "all");
    if (in->grab_toggle)
      wv_xml_set_prop(src, "grabToggle", in->grab_toggle);
    if (in->repeat != WV_TRI_UNSET)
      wv_xml_set_prop(src, "repeat", in->repeat == WV_TRI_ON ? "on" : "off");
  }
}

/* spicevmc channels and USB redirection need a SPICE display; libvirt
 * refuses the domain when a template keeps them without one. */
static void
drop_spice_only_devices(xmlNode *devices)
{
  for (xmlNode *c = devices->children; c; c = c->next)
    if (wv_xml_is_element(c, "graphics") && attr_is(c, "type", "spice"))
      return;
  for (xmlNode *c = devices->children, *next; c; c = next) {
    next = c->next;
    if ((wv_xml_is_element(c, "channel") || wv_xml_is_element(c, "redirdev")) &&
        attr_is(c, "type", "spicevmc")) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
  }
}

/* The QEMU guest agent's virtio-serial channel (the Windows templates carry
 * it): [vm] guest-agent removes it, or adds it to a template without. */
static void
render_guest_agent(xmlNode *devices, const WvProfile *p)
{
  xmlNode *found = NULL;

  for (xmlNode *c = devices->children; c && !found; c = c->next) {
    if (!wv_xml_is_element(c, "channel"))
      continue;
    for (xmlNode *t = c->children; t; t = t->next)
      if (wv_xml_is_element(t, "target") && attr_is(t, "name", WV_GUEST_AGENT_CHANNEL))
        found = c;
  }
  if (p->guest_agent == WV_TRI_OFF && found) {
    xmlUnlinkNode(found);
    xmlFreeNode(found);
  } else if (p->guest_agent == WV_TRI_ON && !found) {
    xmlNode *channel = wv_xml_append(devices, "channel");
    xmlNode *target;

    wv_xml_set_prop(channel, "type", "unix"); /* libvirt chooses the socket */
    target = wv_xml_append(channel, "target");
    wv_xml_set_prop(target, "type", "virtio");
    wv_xml_set_prop(target, "name", WV_GUEST_AGENT_CHANNEL);
  }
}

static void
render_devices(xmlNode *dom, const WvProfile *p, const WvPlan *plan)
{
  xmlNode *devices = wv_xml_ensure_child(dom, "devices", domain_order);
  WvTristate balloon = p->balloon;

  render_usb(devices, p);
  render_disks(devices, p);
  render_shares_and_nics(devices, p);
  render_hostdevs(dom, devices, p);
  render_inputs(devices, p);
  render_guest_agent(devices, p);

  if (p->tpm == WV_TRI_OFF) {
    wv_xml_remove_children(devices, "tpm");
  } else if (p->tpm == WV_TRI_ON && !wv_xml_find_child(devices, "tpm")) {
    xmlNode *tpm = wv_xml_append(devices, "tpm");
    xmlNode *backend;
    wv_xml_set_prop(tpm, "model", "tpm-crb");
    backend = wv_xml_append(tpm, "backend");
    wv_xml_set_prop(backend, "type", "emulator");
    wv_xml_set_prop(backend, "version", "2.0");
  }

  render_graphics(devices, p);
  render_video(devices, p);
  render_sound(devices, p);
  render_looking_glass(devices, p);
  drop_spice_only_devices(devices);

  /* A balloon cannot take back hugepages or pinned DMA memory. */
  if (balloon == WV_TRI_UNSET && (plan->hugepage_kib || p->hostdevs->len > 0))
    balloon = WV_TRI_OFF;
  if (balloon != WV_TRI_UNSET) {
    wv_xml_remove_children(devices, "memballoon");
    wv_xml_set_prop(wv_xml_append(devices, "memballoon"), "model",
                    balloon == WV_TRI_ON ? "virtio" : "none");
  }
}

/* ---- entry points -------------------------------------------------------- */

/* libvirt boots securely on q35 only: a [vm] machine of the i440fx family
 * with the template's secure loader would be refused at define. */
static gboolean
check_machine(xmlNode *dom, const WvProfile *p, GError **error)
{
  xmlNode *os = wv_xml_find_child(dom, "os");
  xmlNode *loader = os ? wv_xml_find_child(os, "loader") : NULL;

  if (p->machine == NULL || strstr(p->machine, "q35") != NULL || loader == NULL ||
      !attr_is(loader, "secure", "yes"))
    return TRUE;
  g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
              "%s: [vm] machine = %s cannot boot securely, but template “%s” does; set "
              "[firmware] secure-boot = false (or type = bios), or use a q35 machine",
              p->path, p->machine, p->template_name);
  return FALSE;
}

/* winvm's mark: the daemon acts only on domains that carry it, so a
 * profile can never take over a domain somebody else defined. */
static void
render_mark(xmlNode *dom, const WvProfile *p)
{
  xmlNode *metadata = wv_xml_ensure_child(dom, "metadata", domain_order);
  xmlNs *ns;
  xmlNode *mark;

  for (xmlNode *c = metadata->children, *next; c; c = next) {
    next = c->next;
    if (c->type == XML_ELEMENT_NODE && c->ns && xmlStrEqual(c->ns->href, BAD_CAST WV_DOMAIN_NS)) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
  }
  mark = xmlNewChild(metadata, NULL, BAD_CAST "vm", NULL);
  ns = xmlNewNs(mark, BAD_CAST WV_DOMAIN_NS, BAD_CAST WV_DOMAIN_NS_PREFIX);
  xmlSetNs(mark, ns);
  wv_xml_set_prop(mark, "profile", p->name);
}

xmlDoc *
wv_render(const WvProfile *p, const WvPlan *plan, GError **error)
{
  g_autoptr(xmlDoc) doc = NULL;
  xmlNode *dom;

  if (plan->template_path == NULL) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: no template “%s”", p->path,
                p->template_name);
    return NULL;
  }
  doc = wv_templates_copy(plan->templates, plan->template_path, error);
  if (doc == NULL)
    return NULL;
  dom = xmlDocGetRootElement(doc);

  wv_xml_set_prop(dom, "type", p->hypervisor == WV_HYPERVISOR_KVM ? "kvm" : "qemu");
  wv_xml_set_text(wv_xml_ensure_child(dom, "name", domain_order), p->name);
  if (p->uuid)
    wv_xml_set_text(wv_xml_ensure_child(dom, "uuid", domain_order), p->uuid);
  else
    wv_xml_remove_children(dom, "uuid");

  render_mark(dom, p);
  render_memory(dom, p, plan);
  render_vcpus(dom, p, plan);
  render_cputune(dom, plan);
  render_numatune(dom, plan);
  render_cpu(dom, p, plan);
  render_os(dom, p);
  render_features(dom, p, plan);
  render_clock(dom, p);
  render_devices(dom, p, plan);
  if (!check_machine(dom, p, error))
    return NULL;
  return g_steal_pointer(&doc);
}

char *
wv_xml_doc_to_string(xmlDoc *doc)
{
  char *fast = wv_xml_write(doc);

  if (fast && fast[0] != '\0')
    return fast;
  g_free(fast);
  return wv_xml_save(doc);
}

char *
wv_render_to_string(const WvProfile *p, const WvPlan *plan, GError **error)
{
  g_autoptr(xmlDoc) doc = wv_render(p, plan, error);

  return doc ? wv_xml_doc_to_string(doc) : NULL;
}

gboolean
wv_render_keep_identity(xmlDoc *doc, const char *existing_xml, GError **error)
{
  g_autoptr(xmlDoc) old = xmlReadMemory(existing_xml, (int)strlen(existing_xml), NULL, NULL,
                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  xmlNode *dom = xmlDocGetRootElement(doc);
  xmlNode *old_dom = old ? xmlDocGetRootElement(old) : NULL;
  xmlNode *uuid, *old_os, *nvram;

  if (old_dom == NULL) {
    g_set_error_literal(error, WV_ERROR, WV_ERROR_FAILED,
                        "libvirt returned an unreadable domain definition");
    return FALSE;
  }
  uuid = wv_xml_find_child(old_dom, "uuid");
  if (uuid) {
    g_autofree xmlChar *text = xmlNodeGetContent(uuid);
    wv_xml_set_text(wv_xml_ensure_child(dom, "uuid", domain_order), (const char *)text);
  }
  old_os = wv_xml_find_child(old_dom, "os");
  nvram = old_os ? wv_xml_find_child(old_os, "nvram") : NULL;
  if (nvram) {
    xmlNode *os = wv_xml_ensure_child(dom, "os", domain_order);
    if (wv_xml_find_child(os, "nvram") == NULL && xmlHasProp(os, BAD_CAST "firmware"))
      wv_xml_insert_ordered(os, xmlCopyNode(nvram, 1), os_order);
  }
  return TRUE;
}
