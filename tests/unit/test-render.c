/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wv-common.h"
#include "wv-test.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <glib/gstdio.h>

static char *
xpath_string(xmlDoc *doc, const char *expr)
{
  xmlXPathContext *ctx = xmlXPathNewContext(doc);
  g_autofree char *wrapped = g_strdup_printf("string(%s)", expr);
  xmlXPathObject *obj = xmlXPathEvalExpression(BAD_CAST wrapped, ctx);
  char *out = g_strdup(obj && obj->stringval ? (const char *)obj->stringval : "");

  xmlXPathFreeObject(obj);
  xmlXPathFreeContext(ctx);
  return out;
}

static int
xpath_count(xmlDoc *doc, const char *expr)
{
  g_autofree char *wrapped = g_strdup_printf("count(%s)", expr);
  g_autofree char *n = xpath_string(doc, wrapped);
  return atoi(n);
}

#define assert_xpath(doc, expr, expected)                                                          \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *_v = xpath_string(doc, expr);                                                 \
    if (g_strcmp0(_v, expected) != 0)                                                              \
      g_error("%s: “%s”, expected “%s”", expr, _v, expected);                                      \
  }                                                                                                \
  G_STMT_END

static xmlDoc *
render_on(const char *host_name, const char *caps_name, const char *text, WvPlan **plan_out)
{
  g_autoptr(WvHost) host = host_name ? wv_test_host(host_name) : NULL;
  g_autoptr(WvDomcaps) caps = caps_name ? wv_test_domcaps(caps_name) : NULL;
  g_autoptr(WvProfile) p = wv_test_profile(text);
  g_autoptr(GError) error = NULL;
  WvPlanContext ctx = {.host = host, .domcaps = caps, .template_dir = wv_test_template_dir()};
  g_autoptr(WvPlan) plan = wv_plan_build(p, &ctx);
  xmlDoc *doc = wv_render(p, plan, &error);

  g_assert_no_error(error);
  g_assert_nonnull(doc);
  wv_test_assert_schema_valid(doc);
  if (plan_out)
    *plan_out = g_steal_pointer(&plan);
  return doc;
}

/* Every example, rendered for the Ryzen host with real KVM capabilities,
 * byte for byte against tests/data/golden (WV_UPDATE_GOLDEN=1 rewrites). */
static void
test_golden_examples(void)
{
  static const char *const examples[] = {"gaming", "work", "install", "looking-glass"};

  for (guint i = 0; i < G_N_ELEMENTS(examples); i++) {
    g_autofree char *file = g_strconcat(examples[i], ".conf", NULL);
    g_autofree char *path = g_build_filename(WV_SOURCE_ROOT, "examples", file, NULL);
    g_autofree char *gfile = g_strconcat(examples[i], ".xml", NULL);
    g_autofree char *golden = g_build_filename(WV_TEST_DATA, "golden", gfile, NULL);
    g_autofree char *text = NULL, *xml = NULL, *again = NULL, *expected = NULL;
    g_autoptr(WvHost) host = wv_test_host("ryzen");
    g_autoptr(WvDomcaps) caps = wv_test_domcaps("kvm.xml");
    g_autoptr(GError) error = NULL;
    g_autoptr(WvProfile) p = NULL;
    g_autoptr(WvPlan) plan = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    WvPlanContext ctx = {.host = host, .domcaps = caps, .template_dir = wv_test_template_dir()};

    p = wv_profile_load(path, &error);
    g_assert_no_error(error);
    plan = wv_plan_build(p, &ctx);
    doc = wv_render(p, plan, &error);
    g_assert_no_error(error);
    wv_test_assert_schema_valid(doc);
    xml = wv_xml_doc_to_string(doc);
    again = wv_render_to_string(p, plan, &error);
    g_assert_cmpstr(xml, ==, again); /* deterministic */
    {
      /* winvm's writer (wv_xml_write) wrote what libxml2's would */
      g_autofree char *libxml2 = wv_xml_save(doc);

      g_assert_cmpstr(xml, ==, libxml2);
    }

    if (g_getenv("WV_UPDATE_GOLDEN")) {
      g_assert_true(g_file_set_contents(golden, xml, -1, &error));
      continue;
    }
    g_assert_true(g_file_get_contents(golden, &expected, NULL, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(xml, ==, expected);
  }
}

static void
test_gaming_details(void)
{
  g_autofree char *path = g_build_filename(WV_SOURCE_ROOT, "examples", "gaming.conf", NULL);
  g_autofree char *text = NULL;
  g_autoptr(xmlDoc) doc = NULL;

  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  doc = render_on("ryzen", "kvm.xml", text, NULL);
  assert_xpath(doc, "/domain/@type", "kvm");
  assert_xpath(doc, "/domain/name", "gaming");
  assert_xpath(doc, "/domain/memory", "16777216");
  assert_xpath(doc, "/domain/memoryBacking/hugepages/page/@size", "1048576");
  assert_xpath(doc, "/domain/vcpu", "8");
  /* CCX1 whole: SMT siblings paired, guest told it has 4 cores x 2 threads */
  assert_xpath(doc, "/domain/cputune/vcpupin[@vcpu='0']/@cpuset", "4");
  assert_xpath(doc, "/domain/cputune/vcpupin[@vcpu='1']/@cpuset", "12");
  assert_xpath(doc, "/domain/cputune/vcpupin[@vcpu='7']/@cpuset", "15");
  assert_xpath(doc, "/domain/cputune/emulatorpin/@cpuset", "0,8");
  assert_xpath(doc, "/domain/cputune/iothreadpin[@iothread='1']/@cpuset", "0,8");
  assert_xpath(doc, "/domain/cpu/topology/@cores", "4");
  assert_xpath(doc, "/domain/cpu/topology/@threads", "2");
  assert_xpath(doc, "/domain/cpu/feature[@name='topoext']/@policy", "require");
  assert_xpath(doc, "/domain/features/hyperv/vendor_id/@value", "winvm0000001");
  assert_xpath(doc, "/domain/features/hyperv/stimer/direct/@state", "on");
  assert_xpath(doc, "/domain/features/hyperv/avic/@state", "on");
  g_assert_cmpint(xpath_count(doc, "/domain/features/hyperv/evmcs"), ==, 0);
  assert_xpath(doc, "/domain/features/kvm/hidden/@state", "on");
  assert_xpath(doc, "/domain/features/vmport/@state", "off");
  assert_xpath(doc, "/domain/features/smm/@state", "on");
  assert_xpath(doc, "/domain/os/@firmware", "efi");
  assert_xpath(doc, "/domain/os/loader/@secure", "yes");
  g_assert_cmpint(xpath_count(doc, "/domain/os/boot"), ==, 0);
  assert_xpath(doc, "/domain/clock/timer[@name='hpet']/@present", "no");
  assert_xpath(doc, "/domain/devices/disk/driver/@discard", "unmap");
  assert_xpath(doc, "/domain/devices/disk/driver/@iothread", "1");
  assert_xpath(doc, "/domain/devices/disk/target/@dev", "vda");
  assert_xpath(doc, "/domain/devices/interface[@type='bridge']/source/@bridge", "br0");
  /* GPU and HDMI audio in one multifunction guest slot behind a root port */
  g_assert_cmpint(xpath_count(doc, "/domain/devices/hostdev[@type='pci']"), ==, 2);
  assert_xpath(doc, "/domain/devices/controller[@model='pcie-root-port']/@index", "1");
  assert_xpath(doc, "/domain/devices/hostdev[source/address/@function='0x1']/address/@bus", "0x01");
  assert_xpath(
      doc, "/domain/devices/hostdev[source/address/@function='0x0']/address/@multifunction", "on");
  assert_xpath(doc, "/domain/devices/hostdev[@type='usb']/source/vendor/@id", "0x046d");
  assert_xpath(doc, "/domain/devices/video/model/@type", "none");
  g_assert_cmpint(xpath_count(doc, "/domain/devices/graphics"), ==, 0);
  g_assert_cmpint(xpath_count(doc, "/domain/devices/channel[@type='spicevmc']"), ==, 0);
  assert_xpath(doc, "/domain/devices/memballoon/@model", "none");
  assert_xpath(doc, "/domain/devices/tpm/backend/@version", "2.0");
}

/* Each fake host: the planned pins land in <cputune>, schema-valid. */
static void
test_every_host(void)
{
  static const char *const hosts[] = {"laptop",  "ryzen",     "numa2s",
                                      "noiommu", "gpu-alone", "gpu-shared"};

  for (guint i = 0; i < G_N_ELEMENTS(hosts); i++) {
    g_autoptr(WvPlan) plan = NULL;
    g_autoptr(xmlDoc) doc =
        render_on(hosts[i], NULL, "[vm]\nvcpus = 4\nmemory = 4GiB\n[cpu]\niothreads = 1\n", &plan);

    g_assert_cmpuint(plan->vcpu_pins->len, ==, 4);
    g_assert_cmpint(xpath_count(doc, "/domain/cputune/vcpupin"), ==, 4);
    for (guint v = 0; v < 4; v++) {
      g_autofree char *expr = g_strdup_printf("/domain/cputune/vcpupin[@vcpu='%u']/@cpuset", v);
      g_autofree char *want = wv_cpuset_format(plan->vcpu_pins->pdata[v]);
      assert_xpath(doc, expr, want);
    }
    {
      g_autofree char *threads = g_strdup_printf("%u", plan->threads);
      assert_xpath(doc, "/domain/cpu/topology/@threads", threads);
    }
    g_assert_cmpint(xpath_count(doc, "/domain/numatune"), ==, plan->numa_node >= 0 ? 1 : 0);
  }
}

static void
test_numa_node_local(void)
{
  g_autoptr(xmlDoc) doc =
      render_on("numa2s", NULL, "[vm]\nvcpus = 8\nmemory = 4GiB\n[memory]\nhugepages = 2M\n", NULL);

  assert_xpath(doc, "/domain/numatune/memory/@mode", "strict");
  assert_xpath(doc, "/domain/numatune/memory/@nodeset", "0");
  assert_xpath(doc, "/domain/memoryBacking/hugepages/page/@size", "2048");
}

static void
test_templates(void)
{
  static const char *const templates[] = {"windows11", "windows10", "minimal"};

  for (guint i = 0; i < G_N_ELEMENTS(templates); i++) {
    g_autofree char *text = g_strdup_printf("[vm]\nname = t-%s\ntemplate = %s\n[cpu]\npin = none\n",
                                            templates[i], templates[i]);
    g_autoptr(xmlDoc) doc = render_on(NULL, NULL, text, NULL);
    g_autofree char *name = g_strconcat("t-", templates[i], NULL);

    assert_xpath(doc, "/domain/name", name);
    assert_xpath(doc, "/domain/currentMemory", "4194304");
    g_assert_cmpint(xpath_count(doc, "/domain/cputune"), ==, 0);
    g_assert_cmpint(xpath_count(doc, "/domain/uuid"), ==, 0);
  }
  /* emulated: a custom CPU model, and QEMU refuses migratable= on it */
  for (guint i = 0; i < G_N_ELEMENTS(templates); i++) {
    g_autofree char *text = g_strdup_printf(
        "[vm]\ntemplate = %s\nhypervisor = qemu\n[cpu]\npin = none\n", templates[i]);
    g_autoptr(xmlDoc) doc = render_on(NULL, NULL, text, NULL);

    assert_xpath(doc, "/domain/@type", "qemu");
    assert_xpath(doc, "/domain/cpu/@mode", "custom");
    g_assert_cmpint(xpath_count(doc, "/domain/cpu/@migratable"), ==, 0);
  }
}

static void
test_variants(void)
{
  g_autoptr(xmlDoc) bios = render_on(
      NULL, NULL,
      "[vm]\nuuid = 11111111-2222-3333-4444-555555555555\n[cpu]\npin = none\n"
      "[firmware]\ntype = bios\ntpm = false\n[graphics]\ntype = vnc\n[memory]\nballoon = true\n",
      NULL);
  g_autoptr(xmlDoc) sb = render_on(
      NULL, NULL,
      "[vm]\ntemplate = windows10\n[cpu]\npin = none\n[firmware]\nsecure-boot = true\n"
      "tpm = true\nnvram = /var/lib/winvm/nvram/x.fd\n[clock]\noffset = utc\ntimers = +hpet,tsc\n",
      NULL);
  g_autoptr(xmlDoc) scsi =
      render_on(NULL, NULL,
                "[cpu]\npin = none\niothreads = 2\n[disk:a]\nsource = /dev/sdb\nbus = virtio-scsi\n"
                "[disk:b]\nsource = /images/b.qcow2\n[disk:c]\nsource = /images/c.img\n"
                "[disk:d]\nsource = /images/d.img\nbus = sata\n"
                "[cdrom:e]\n[share:f]\nsource = /srv\ntag = srv\n[network:u]\ntype = user\n"
                "[network:n]\nsource = default\n",
                NULL);
  g_autoptr(xmlDoc) i440 =
      render_on(NULL, NULL,
                "[vm]\ntemplate = minimal\nhypervisor = qemu\n[cpu]\npin = none\n"
                "[hyperv]\nenlightenments = none\n[hostdev:g]\npci = 01:00.0,01:00.1\n"
                "rom = /roms/g.rom\n[usb:k]\ndevice = 1234:abcd\n",
                NULL);

  assert_xpath(bios, "/domain/uuid", "11111111-2222-3333-4444-555555555555");
  g_assert_cmpint(xpath_count(bios, "/domain/os/@firmware"), ==, 0);
  g_assert_cmpint(xpath_count(bios, "/domain/os/loader"), ==, 0);
  g_assert_cmpint(xpath_count(bios, "/domain/devices/tpm"), ==, 0);
  assert_xpath(bios, "/domain/devices/graphics/@type", "vnc");
  g_assert_cmpint(xpath_count(bios, "/domain/devices/channel[@type='spicevmc']"), ==, 0);
  g_assert_cmpint(xpath_count(sb, "/domain/devices/channel[@type='spicevmc']"), ==, 1);
  g_assert_cmpint(xpath_count(bios, "/domain/devices/graphics"), ==, 1);
  assert_xpath(bios, "/domain/devices/memballoon/@model", "virtio");
  assert_xpath(bios, "/domain/devices/video/model/@type", "virtio");
  /* template keeps SMM for its own secure loader; nothing else dropped */
  assert_xpath(bios, "/domain/features/smm/@state", "on");

  assert_xpath(sb, "/domain/os/loader/@secure", "yes");
  assert_xpath(sb, "/domain/os/firmware/feature[@name='secure-boot']/@enabled", "yes");
  assert_xpath(sb, "/domain/os/nvram", "/var/lib/winvm/nvram/x.fd");
  assert_xpath(sb, "/domain/features/smm/@state", "on");
  assert_xpath(sb, "/domain/devices/tpm/@model", "tpm-crb");
  assert_xpath(sb, "/domain/clock/@offset", "utc");
  assert_xpath(sb, "/domain/clock/timer[@name='hpet']/@present", "yes");
  assert_xpath(sb, "/domain/clock/timer[@name='tsc']/@present", "yes");
  assert_xpath(sb, "/domain/clock/timer[@name='rtc']/@tickpolicy", "catchup");

  assert_xpath(scsi, "/domain/iothreads", "2");
  assert_xpath(scsi, "/domain/devices/disk[source/@dev='/dev/sdb']/@type", "block");
  assert_xpath(scsi, "/domain/devices/disk[source/@dev='/dev/sdb']/target/@bus", "scsi");
  assert_xpath(scsi, "/domain/devices/disk[source/@dev='/dev/sdb']/target/@dev", "sda");
  assert_xpath(scsi, "/domain/devices/disk[source/@file='/images/b.qcow2']/driver/@type", "qcow2");
  assert_xpath(scsi, "/domain/devices/disk[source/@file='/images/b.qcow2']/driver/@iothread", "1");
  assert_xpath(scsi, "/domain/devices/disk[source/@file='/images/c.img']/driver/@iothread", "2");
  assert_xpath(scsi, "/domain/devices/disk[source/@file='/images/c.img']/target/@dev", "vdb");
  assert_xpath(scsi, "/domain/devices/disk[source/@file='/images/d.img']/target/@dev", "sdb");
  assert_xpath(scsi, "/domain/devices/disk[@device='cdrom']/target/@dev", "sdc");
  g_assert_cmpint(xpath_count(scsi, "/domain/devices/disk[@device='cdrom']/source"), ==, 0);
  assert_xpath(scsi, "/domain/devices/controller[@type='scsi']/@model", "virtio-scsi");
  /* index 0, or libvirt adds an LSI controller 0 Windows has no driver for */
  assert_xpath(scsi, "/domain/devices/controller[@type='scsi']/@index", "0");
  g_assert_cmpint(xpath_count(scsi, "/domain/devices/controller[@type='scsi']"), ==, 1);
  assert_xpath(scsi, "/domain/devices/controller[@type='scsi']/driver/@iothread", "1");
  assert_xpath(scsi, "/domain/devices/filesystem/driver/@type", "virtiofs");
  assert_xpath(scsi, "/domain/devices/filesystem/target/@dir", "srv");
  assert_xpath(scsi, "/domain/memoryBacking/source/@type", "memfd");
  assert_xpath(scsi, "/domain/memoryBacking/access/@mode", "shared");
  assert_xpath(scsi, "/domain/devices/interface[@type='network']/source/@network", "default");
  assert_xpath(scsi, "/domain/devices/interface[@type='user']/model/@type", "virtio");

  assert_xpath(i440, "/domain/@type", "qemu");
  assert_xpath(i440, "/domain/cpu/@mode", "custom");
  assert_xpath(i440, "/domain/cpu/model", "qemu64");
  g_assert_cmpint(xpath_count(i440, "/domain/features/hyperv"), ==, 0);
  g_assert_cmpint(xpath_count(i440, "/domain/devices/controller[@model='pcie-root-port']"), ==, 0);
  assert_xpath(i440, "/domain/devices/hostdev[source/address/@function='0x1']/address/@slot",
               "0x10");
  assert_xpath(i440, "/domain/devices/hostdev[source/address/@function='0x0']/rom/@file",
               "/roms/g.rom");
  assert_xpath(i440, "/domain/devices/controller[@type='usb']/@model", "qemu-xhci");
  assert_xpath(i440, "/domain/devices/controller[@type='usb']/@index", "0");
  assert_xpath(i440, "/domain/devices/hostdev[@type='usb']/source/product/@id", "0xabcd");
}

/* Every value of the device keys renders into a document libvirt's schema
 * accepts, and replaces what the template says. */
/* [vm] guest-agent: the Windows templates' channel stays, goes, or is
 * added to a template without one. */
static void
test_guest_agent(void)
{
#define GA_CHANNEL                                                                                 \
  "/domain/devices/channel[target/@name='" WV_GUEST_AGENT_CHANNEL "' and target/@type='virtio']"
  const char *ga = GA_CHANNEL;
  g_autoptr(xmlDoc) win = render_on(NULL, NULL, "[cpu]\npin = none\n", NULL);
  g_autoptr(xmlDoc) off =
      render_on(NULL, NULL, "[vm]\nguest-agent = false\n[cpu]\npin = none\n", NULL);
  g_autoptr(xmlDoc) minimal = render_on(
      NULL, NULL, "[vm]\ntemplate = minimal\nhypervisor = qemu\n[cpu]\npin = none\n", NULL);
  g_autoptr(xmlDoc) added = render_on(NULL, NULL,
                                      "[vm]\ntemplate = minimal\nhypervisor = qemu\n"
                                      "guest-agent = true\n[cpu]\npin = none\n",
                                      NULL);

  g_assert_cmpint(xpath_count(win, ga), ==, 1);
  g_assert_cmpint(xpath_count(off, ga), ==, 0);
  g_assert_cmpint(xpath_count(off, "/domain/devices/channel"), ==, 1); /* spicevmc stays */
  g_assert_cmpint(xpath_count(minimal, ga), ==, 0);
  g_assert_cmpint(xpath_count(added, ga), ==, 1);
  assert_xpath(added, GA_CHANNEL "/@type", "unix");
#undef GA_CHANNEL
}

static void
test_device_keys(void)
{
  static const struct
  {
    const char *text;
    const char *xpath, *value; /* value NULL: the node must be absent */
  } cases[] = {
      {"[sound]\nmodel = ich9\n", "/domain/devices/sound/@model", "ich9"},
      {"[sound]\nmodel = hda\ncodec = duplex\n", "/domain/devices/sound[@model='ich6']/codec/@type",
       "duplex"},
      {"[sound]\nmodel = ac97\nbackend = none\n", "/domain/devices/audio[@id='1']/@type", "none"},
      {"[sound]\nmodel = ac97\nbackend = none\n", "/domain/devices/sound[@model='ac97']/audio/@id",
       "1"},
      {"[sound]\nmodel = ich9\nbackend = pulseaudio\n", "/domain/devices/audio/@type",
       "pulseaudio"},
      {"[sound]\nmodel = ich9\nbackend = pipewire\n", "/domain/devices/audio/@type", "pulseaudio"},
      {"[graphics]\ntype = spice\n[sound]\nmodel = hda\nbackend = spice\n",
       "/domain/devices/audio/@type", "spice"},
      {"[sound]\nmodel = none\n", "/domain/devices/sound", NULL},
      {"[sound]\nmodel = ich9\n", "/domain/devices/audio", NULL},
      {"[video]\nmodel = virtio\n", "/domain/devices/video/model/@type", "virtio"},
      {"[video]\nmodel = qxl\nvram = 128MiB\n", "/domain/devices/video/model[@type='qxl']/@vram",
       "131072"},
      {"[video]\nmodel = vga\nvram = 16MiB\n", "/domain/devices/video/model[@type='vga']/@vram",
       "16384"},
      {"[video]\nmodel = vmvga\n", "/domain/devices/video/model/@type", "vmvga"},
      {"[video]\nmodel = bochs\nvram = 32M\n", "/domain/devices/video/model[@type='bochs']/@vram",
       "32768"},
      {"[video]\nmodel = ramfb\n", "/domain/devices/video/model/@type", "ramfb"},
      {"[video]\nmodel = none\n", "/domain/devices/video/model/@type", "none"},
      {"[graphics]\ntype = vnc\n[video]\nmodel = bochs\n", "count(/domain/devices/video)", "1"},
      {"[vm]\nmachine = q35\n", "/domain/os/type/@machine", "q35"},
      {"[vm]\nmachine = pc-q35-7.2\n", "/domain/os/type/@machine", "pc-q35-7.2"},
      {"[vm]\nmachine = i440fx\n[firmware]\nsecure-boot = false\n", "/domain/os/type/@machine",
       "pc"},
      {"[vm]\ntemplate = minimal\nmachine = pc-i440fx-7.2\n", "/domain/os/type/@machine",
       "pc-i440fx-7.2"},
      {"[usb]\ncontroller = ehci\n", "/domain/devices/controller[@type='usb']/@model", "ehci"},
      {"[usb]\ncontroller = nec-xhci\n[usb:k]\ndevice = 046d:c52b\n",
       "count(/domain/devices/controller[@type='usb'])", "1"},
      {"[usb]\ncontroller = nec-xhci\n", "/domain/devices/controller[@type='usb']/@ports", "15"},
      {"[usb]\ncontroller = qemu-xhci\n", "/domain/devices/controller[@type='usb']/@model",
       "qemu-xhci"},
      {"[usb]\ncontroller = none\n", "/domain/devices/controller[@type='usb']/@model", "none"},
      {"[usb]\ncontroller = none\n", "/domain/devices/input[@bus='usb']", NULL},
      {"[looking-glass]\nresolution = 1920x1080\n",
       "/domain/devices/shmem[@name='looking-glass-test']/size", "32"},
      {"[looking-glass]\nresolution = 3840x2160\n",
       "/domain/devices/shmem[model/@type='ivshmem-plain']/size[@unit='M']", "128"},
      {"[looking-glass]\nresolution = 3840x2160\ndevice = kvmfr\n", "/domain/devices/shmem", NULL},
      {"[input:k]\nevdev = /dev/input/by-id/kbd\ngrab = all\ngrab-toggle = scrolllock\n"
       "repeat = off\n",
       "/domain/devices/input[@type='evdev']/source[@dev='/dev/input/by-id/kbd'][@grab='all']"
       "[@repeat='off']/@grabToggle",
       "scrolllock"},
      {"[input:m]\nevdev = /dev/input/event3\ngrab = none\n",
       "/domain/devices/input[@type='evdev']/source/@grab", NULL},
      {"[hyperv]\nspinlocks = 0x1fff\n", "/domain/features/hyperv/spinlocks/@retries", "8191"},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    /* the VM is named "test", after test.conf */
    g_autofree char *text = g_strconcat(cases[i].text, "[cpu]\npin = none\n", NULL);
    g_autoptr(xmlDoc) doc = NULL;

    doc = render_on(NULL, NULL, text, NULL);
    if (cases[i].value == NULL) {
      if (xpath_count(doc, cases[i].xpath) != 0)
        g_error("case %u: %s is there:\n%s", i, cases[i].xpath, cases[i].text);
    } else if (g_str_has_prefix(cases[i].xpath, "count(")) {
      g_autofree char *n = xpath_string(doc, cases[i].xpath);
      g_assert_cmpstr(n, ==, cases[i].value);
    } else {
      assert_xpath(doc, cases[i].xpath, cases[i].value);
    }
  }
}

/* Hostile values are rejected by the parser or carried as data: they can
 * never add elements or attributes. */
static void
test_hostile_values(void)
{
  const char *evil = "/srv/a'b\"<c x='1'/>&amp;]]>\xe2\x80\xae.img";
  g_autofree char *text = g_strdup_printf(
      "[vm]\nname = evil\n[cpu]\npin = none\n[disk:x]\nsource = %s\n[share:s]\nsource = "
      "/srv/<share>\ntag = t\n",
      evil);
  g_autoptr(xmlDoc) doc = render_on(NULL, NULL, text, NULL);
  g_autofree char *xml = wv_xml_doc_to_string(doc);
  g_autoptr(xmlDoc) back = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);

  g_assert_nonnull(back);
  wv_test_assert_schema_valid(back);
  g_assert_cmpint(xpath_count(back, "/domain/devices/disk"), ==, 1);
  g_assert_cmpint(xpath_count(back, "//c"), ==, 0);
  g_assert_cmpint(xpath_count(back, "//share"), ==, 0);
  assert_xpath(back, "/domain/devices/disk/source/@file", evil);
  assert_xpath(back, "/domain/devices/filesystem/source/@dir", "/srv/<share>");
}

static void
test_template_errors(void)
{
  g_autofree char *dir = g_dir_make_tmp("winvm-tpl-XXXXXX", NULL);
  g_autofree char *bad = g_build_filename(dir, "bad.xml", NULL);
  g_autofree char *notdom = g_build_filename(dir, "notdom.xml", NULL);
  const char *files[] = {bad, notdom};
  const char *expect[] = {"template", "the root element is not <domain>"};

  g_assert_true(g_file_set_contents(bad, "<domain><name>x</domain>", -1, NULL));
  g_assert_true(g_file_set_contents(notdom, "<network/>", -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *text = g_strdup_printf("[vm]\ntemplate = %s\n[cpu]\npin = none\n", files[i]);
    g_autoptr(WvProfile) p = wv_test_profile(text);
    WvPlanContext ctx = {.template_dir = wv_test_template_dir()};
    g_autoptr(WvPlan) plan = wv_plan_build(p, &ctx);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = wv_render(p, plan, &error);

    g_assert_null(doc);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
    g_assert_nonnull(strstr(error->message, expect[i]));
    g_remove(files[i]);
  }
  g_rmdir(dir);

  {
    g_autoptr(WvProfile) p = wv_test_profile("[vm]\ntemplate = nosuch\n");
    WvPlanContext ctx = {.template_dir = wv_test_template_dir()};
    g_autoptr(WvPlan) plan = wv_plan_build(p, &ctx);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = wv_render(p, plan, &error);

    g_assert_null(doc);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
    g_assert_nonnull(wv_test_finding(plan, "template-missing"));
  }

  /* an i440fx machine under the template's secure loader */
  {
    g_autoptr(WvProfile) p = wv_test_profile("[vm]\nmachine = i440fx\n[cpu]\npin = none\n");
    WvPlanContext ctx = {.template_dir = wv_test_template_dir()};
    g_autoptr(WvPlan) plan = wv_plan_build(p, &ctx);
    g_autoptr(GError) error = NULL;
    g_autoptr(xmlDoc) doc = wv_render(p, plan, &error);

    g_assert_null(doc);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE);
    g_assert_nonnull(strstr(error->message,
                            "[vm] machine = pc cannot boot securely, but template "
                            "“windows11” does; set [firmware] secure-boot = false"));
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/render/golden-examples", test_golden_examples);
  g_test_add_func("/render/guest-agent", test_guest_agent);
  g_test_add_func("/render/gaming-details", test_gaming_details);
  g_test_add_func("/render/every-host", test_every_host);
  g_test_add_func("/render/numa-node-local", test_numa_node_local);
  g_test_add_func("/render/templates", test_templates);
  g_test_add_func("/render/variants", test_variants);
  g_test_add_func("/render/device-keys", test_device_keys);
  g_test_add_func("/render/hostile-values", test_hostile_values);
  g_test_add_func("/render/template-errors", test_template_errors);
  return g_test_run();
}
