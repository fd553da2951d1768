/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Rendered documents are accepted by libvirt itself: defined into the
 * built-in test driver, read back with the planned pins, started, stopped.
 */
#include "wv-common.h"
#include "wv-libvirt.h"
#include "../unit/wv-test.h"
#include "../unit/wv-test-facts.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libvirt/virterror.h>

static virConnectPtr
open_test_driver(void)
{
  g_autoptr(GError) error = NULL;
  virConnectPtr conn = wv_libvirt_open("test:///default", FALSE, &error);

  g_assert_no_error(error);
  return conn;
}

static WvPlan *
plan_example(const char *example, WvProfile **profile_out)
{
  g_autofree char *file = g_strconcat(example, ".conf", NULL);
  g_autofree char *path = g_build_filename(WV_SOURCE_ROOT, "examples", file, NULL);
  g_autoptr(WvHost) host = wv_test_host("ryzen");
  g_autoptr(WvDomcaps) caps = wv_test_domcaps("kvm.xml");
  g_autoptr(GError) error = NULL;
  WvProfile *p = wv_profile_load(path, &error);
  WvPlanContext ctx = {.host = host, .domcaps = caps, .template_dir = wv_test_template_dir()};

  g_assert_no_error(error);
  *profile_out = p;
  return wv_plan_build(p, &ctx);
}

static void
assert_pins_read_back(virDomainPtr dom, const WvPlan *plan, unsigned int flags)
{
  int ncpus = 16; /* the test driver's host */
  int maplen = VIR_CPU_MAPLEN(ncpus);
  g_autofree unsigned char *maps = g_malloc0((gsize)(maplen * (int)plan->vcpus));
  int n = virDomainGetVcpuPinInfo(dom, (int)plan->vcpus, maps, maplen, flags);

  g_assert_cmpint(n, ==, (int)plan->vcpus);
  for (guint v = 0; v < plan->vcpu_pins->len; v++) {
    const WvCpuset *want = plan->vcpu_pins->pdata[v];
    for (int cpu = 0; cpu < ncpus; cpu++) {
      gboolean has = VIR_CPU_USED(VIR_GET_CPUMAP(maps, maplen, (int)v), cpu) != 0;
      if (has != wv_cpuset_contains(want, (guint)cpu))
        g_error("vCPU %u: libvirt says CPU %d is %s", v, cpu, has ? "in" : "out");
    }
  }
}

static void
test_define_examples(void)
{
  static const char *const examples[] = {"gaming", "work", "install", "looking-glass"};
  g_autoptr(virConnect) conn = open_test_driver();

  for (guint i = 0; i < G_N_ELEMENTS(examples); i++) {
    g_autoptr(WvProfile) p = NULL;
    g_autoptr(WvPlan) plan = plan_example(examples[i], &p);
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = wv_render_to_string(p, plan, &error);
    g_autoptr(virDomain) dom = NULL;
    g_autofree char *back = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    xmlXPathContext *ctx;
    xmlXPathObject *obj;

    g_assert_no_error(error);
    dom = virDomainDefineXML(conn, xml);
    if (dom == NULL)
      g_error("libvirt refused %s: %s\n%s", examples[i], virGetLastErrorMessage(), xml);
    g_assert_cmpstr(virDomainGetName(dom), ==, p->name);

    back = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    g_assert_nonnull(back);
    doc = xmlReadMemory(back, (int)strlen(back), NULL, NULL, XML_PARSE_NONET);
    g_assert_nonnull(doc);
    wv_test_assert_schema_valid(doc);
    ctx = xmlXPathNewContext(doc);
    obj = xmlXPathEvalExpression(BAD_CAST "count(/domain/cputune/vcpupin)", ctx);
    g_assert_cmpint((int)obj->floatval, ==, (int)plan->vcpu_pins->len);
    xmlXPathFreeObject(obj);
    obj = xmlXPathEvalExpression(BAD_CAST "count(/domain/devices/hostdev)", ctx);
    g_assert_cmpint((int)obj->floatval, ==, (int)(p->usbs->len + (p->hostdevs->len ? 2 : 0)));
    xmlXPathFreeObject(obj);
    obj = xmlXPathEvalExpression(BAD_CAST "string(/domain/memory)", ctx);
    g_assert_cmpuint(g_ascii_strtoull((const char *)obj->stringval, NULL, 10), ==, p->memory_kib);
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(ctx);

    /* what libvirt keeps of it imports into a profile that renders the
     * same domain facts again (issue 16: render -> define -> dumpxml ->
     * import) */
    {
      g_autoptr(GPtrArray) not_carried = NULL;
      g_autoptr(xmlDoc) again = import_and_render(back, NULL, &not_carried, NULL);

      assert_same_facts(back, again);
      for (guint k = 0; k < not_carried->len; k++)
        g_printerr("%s after dumpxml: %s\n", examples[i], (const char *)not_carried->pdata[k]);
    }

    if (plan->vcpu_pins->len > 0) {
      assert_pins_read_back(dom, plan, VIR_DOMAIN_AFFECT_CONFIG);
      /* and live, once the test driver runs it */
      g_assert_cmpint(virDomainCreate(dom), ==, 0);
      assert_pins_read_back(dom, plan, VIR_DOMAIN_AFFECT_LIVE);
      g_assert_cmpint(virDomainDestroy(dom), ==, 0);
    }
    g_assert_cmpint(virDomainUndefine(dom), ==, 0);
  }
}

/* A Ryzen plan for every vCPU count that fits: libvirt reads back exactly the
 * pins the planner chose. */
static void
test_ryzen_pins_round_trip(void)
{
  g_autoptr(virConnect) conn = open_test_driver();
  g_autoptr(WvHost) host = wv_test_host("ryzen");

  for (guint vcpus = 1; vcpus <= 14; vcpus++) {
    g_autofree char *text = g_strdup_printf(
        "[vm]\nname = ryzen-%u\nvcpus = %u\nmemory = 1GiB\n[cpu]\niothreads = 1\n", vcpus, vcpus);
    g_autoptr(WvProfile) p = wv_test_profile(text);
    WvPlanContext ctx = {.host = host, .template_dir = wv_test_template_dir()};
    g_autoptr(WvPlan) plan = wv_plan_build(p, &ctx);
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = wv_render_to_string(p, plan, &error);
    g_autoptr(virDomain) dom = NULL;

    g_assert_false(wv_plan_has_errors(plan));
    g_assert_cmpuint(plan->vcpu_pins->len, ==, vcpus);
    dom = virDomainDefineXML(conn, xml);
    if (dom == NULL)
      g_error("libvirt refused %u vCPUs: %s", vcpus, virGetLastErrorMessage());
    assert_pins_read_back(dom, plan, VIR_DOMAIN_AFFECT_CONFIG);
    g_assert_cmpint(virDomainUndefine(dom), ==, 0);
  }
}

static void
test_domcaps_unsupported_is_clean(void)
{
  g_autoptr(virConnect) conn = open_test_driver();
  g_autoptr(GError) error = NULL;
  g_autoptr(WvDomcaps) caps = wv_libvirt_domcaps(conn, "kvm", NULL, &error);
  g_autoptr(GHashTable) used = NULL;

  /* the test driver has no domain capabilities: a clean error, not a crash */
  g_assert_null(caps);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, "cannot read domain capabilities"));

  /* and it runs no real guests: it cannot say whether KVM is there */
  g_assert_cmpint(wv_libvirt_kvm_offered(conn), ==, WV_TRI_UNSET);

  g_clear_error(&error);
  used = wv_libvirt_devices_in_use(conn, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_hash_table_size(used), ==, 0);
}

/* Every template, with secure boot on, off and as the template says: what
 * libvirt itself accepts (it refuses loader secure='no' with firmware
 * autoselection, for one). */
static void
test_templates_define(void)
{
  static const char *const templates[] = {"windows11", "windows10", "minimal"};
  static const char *const firmware[] = {"", "[firmware]\nsecure-boot = true\n",
                                         "[firmware]\nsecure-boot = false\n",
                                         "[firmware]\ntype = bios\n"};
  g_autoptr(virConnect) conn = open_test_driver();

  for (guint t = 0; t < G_N_ELEMENTS(templates); t++) {
    for (guint f = 0; f < G_N_ELEMENTS(firmware); f++) {
      g_autofree char *text = g_strdup_printf("[vm]\nname = t%u-%u\ntemplate = %s\n"
                                              "[cpu]\npin = none\n%s",
                                              t, f, templates[t], firmware[f]);
      g_autoptr(WvProfile) p = NULL;
      g_autoptr(WvPlan) plan = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *xml = NULL;
      g_autoptr(virDomain) dom = NULL;
      WvPlanContext ctx = {.template_dir = wv_test_template_dir()};

      if (g_str_equal(templates[t], "minimal") && f == 1)
        continue; /* secure boot needs UEFI; minimal is BIOS */
      p = wv_test_profile(text);
      plan = wv_plan_build(p, &ctx);
      xml = wv_render_to_string(p, plan, &error);
      g_assert_no_error(error);
      dom = virDomainDefineXML(conn, xml);
      if (dom == NULL)
        g_error("libvirt refused %s with “%s”: %s", templates[t], firmware[f],
                virGetLastErrorMessage());
      g_assert_cmpint(virDomainUndefine(dom), ==, 0);
    }
  }
}

/* A running domain holding the GPU makes another profile's start fail
 * preflight; its own profile (same name) does not count against itself. */
static void
test_devices_in_use(void)
{
  g_autoptr(virConnect) conn = open_test_driver();
  g_autoptr(WvHost) host = wv_test_host("ryzen");
  g_autoptr(WvProfile) holder = wv_test_profile(
      "[vm]\nname = holder\nvcpus = 2\nmemory = 1GiB\n[hostdev:gpu]\npci = 0f:00.0,0f:00.1\n");
  g_autoptr(WvProfile) other = wv_test_profile(
      "[vm]\nname = other\nvcpus = 2\nmemory = 1GiB\n[hostdev:gpu]\npci = 0f:00.0\n");
  WvPlanContext ctx = {.host = host, .template_dir = wv_test_template_dir()};
  g_autoptr(WvPlan) plan = wv_plan_build(holder, &ctx);
  g_autoptr(GError) error = NULL;
  g_autofree char *xml = wv_render_to_string(holder, plan, &error);
  g_autoptr(virDomain) dom = virDomainDefineXML(conn, xml);
  g_autoptr(GHashTable) used = NULL, used_self = NULL;
  g_autoptr(WvPlan) other_plan = NULL, self_plan = NULL;

  g_assert_nonnull(dom);
  used = wv_libvirt_devices_in_use(conn, "other", &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_hash_table_size(used), ==, 0); /* not running yet */
  g_clear_pointer(&used, g_hash_table_unref);

  g_assert_cmpint(virDomainCreate(dom), ==, 0);
  used = wv_libvirt_devices_in_use(conn, "other", &error);
  g_assert_no_error(error);
  g_assert_cmpstr(g_hash_table_lookup(used, "0000:0f:00.0"), ==, "holder");
  g_assert_cmpstr(g_hash_table_lookup(used, "0000:0f:00.1"), ==, "holder");
  ctx.devices_in_use = used;
  other_plan = wv_plan_build(other, &ctx);
  g_assert_nonnull(wv_test_finding(other_plan, "hostdev-in-use"));

  used_self = wv_libvirt_devices_in_use(conn, "holder", &error);
  g_assert_cmpuint(g_hash_table_size(used_self), ==, 0);
  ctx.devices_in_use = used_self;
  self_plan = wv_plan_build(holder, &ctx);
  g_assert_false(wv_plan_has_errors(self_plan));

  g_assert_cmpint(virDomainDestroy(dom), ==, 0);
  g_assert_cmpint(virDomainUndefine(dom), ==, 0);
}

/* Every value of the device keys (sound, audio backend, video, machine,
 * USB controller, Looking Glass, evdev input): libvirt defines the domain
 * and reads the device back as rendered. */
static void
test_device_keys_define(void)
{
  static const struct
  {
    const char *text;
    const char *xpath, *value; /* in libvirt's own XML, read back */
  } cases[] = {
      {"[sound]\nmodel = ich9\nbackend = pipewire\ncodec = output\n",
       "/domain/devices/sound[@model='ich9']/codec/@type", "output"},
      {"[sound]\nmodel = hda\nbackend = pulseaudio\n", "/domain/devices/audio[@id='1']/@type",
       "pulseaudio"},
      {"[sound]\nmodel = ac97\nbackend = none\n", "/domain/devices/sound/@model", "ac97"},
      {"[graphics]\ntype = spice\n[sound]\nmodel = ich9\nbackend = spice\n",
       "/domain/devices/audio/@type", "spice"},
      {"[video]\nmodel = virtio\n", "/domain/devices/video/model/@type", "virtio"},
      {"[video]\nmodel = qxl\nvram = 128MiB\n", "/domain/devices/video/model/@vram", "131072"},
      {"[video]\nmodel = vga\nvram = 32MiB\n", "/domain/devices/video/model/@vram", "32768"},
      {"[video]\nmodel = vmvga\n", "/domain/devices/video/model/@type", "vmvga"},
      {"[video]\nmodel = bochs\n", "/domain/devices/video/model/@type", "bochs"},
      {"[video]\nmodel = ramfb\n", "/domain/devices/video/model/@type", "ramfb"},
      {"[video]\nmodel = none\n", "/domain/devices/video/model/@type", "none"},
      {"[vm]\nmachine = pc-q35-7.2\n", "/domain/os/type/@machine", "pc-q35-7.2"},
      {"[vm]\nmachine = i440fx\n[firmware]\nsecure-boot = false\n", "/domain/os/type/@machine",
       "pc"},
      {"[usb]\ncontroller = ehci\n[usb:k]\ndevice = 046d:c52b\n",
       "/domain/devices/controller[@type='usb']/@model", "ehci"},
      {"[usb]\ncontroller = nec-xhci\n", "/domain/devices/controller[@type='usb']/@model",
       "nec-xhci"},
      {"[usb]\ncontroller = none\n", "/domain/devices/controller[@type='usb']/@model", "none"},
      {"[looking-glass]\nresolution = 2560x1440\n",
       "/domain/devices/shmem[@name='looking-glass-keys']/size", "64"},
      {"[input:k]\nevdev = /dev/input/by-id/kbd\ngrab = all\nrepeat = on\n"
       "grab-toggle = ctrl-ctrl\n[input:m]\nevdev = /dev/input/by-id/mouse\n",
       "/domain/devices/input[@type='evdev']/source[@dev='/dev/input/by-id/kbd']/@grabToggle",
       "ctrl-ctrl"},
  };
  g_autoptr(virConnect) conn = open_test_driver();

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *text =
        g_strdup_printf("%s%s[cpu]\npin = none\n",
                        g_str_has_prefix(cases[i].text, "[vm]") ? "" : "[vm]\n", cases[i].text);
    g_autofree char *named = NULL;
    g_autoptr(WvProfile) p = NULL;
    g_autoptr(WvPlan) plan = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL, *back = NULL, *got = NULL;
    g_autoptr(virDomain) dom = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) xpath = NULL;
    WvPlanContext ctx = {.template_dir = wv_test_template_dir()};

    /* every case is VM "keys": its Looking Glass file is looking-glass-keys */
    named = g_strconcat("[vm]\nname = keys\n", text + strlen("[vm]\n"), NULL);
    p = wv_test_profile(named);
    plan = wv_plan_build(p, &ctx);
    xml = wv_render_to_string(p, plan, &error);
    g_assert_no_error(error);
    dom = virDomainDefineXML(conn, xml);
    if (dom == NULL)
      g_error("libvirt refused “%s”: %s\n%s", cases[i].text, virGetLastErrorMessage(), xml);
    back = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    doc = xmlReadMemory(back, (int)strlen(back), NULL, NULL, XML_PARSE_NONET);
    g_assert_nonnull(doc);
    wv_test_assert_schema_valid(doc);
    xpath = xmlXPathNewContext(doc);
    got = wv_xpath_string(xpath, cases[i].xpath);
    if (g_strcmp0(got, cases[i].value) != 0)
      g_error("“%s”: %s is “%s”, expected “%s”\n%s", cases[i].text, cases[i].xpath, got,
              cases[i].value, back);
    g_assert_cmpint(virDomainUndefine(dom), ==, 0);
  }
}

static void
test_unreachable_libvirt(void)
{
  g_autoptr(GError) error = NULL;
  virConnectPtr conn =
      wv_libvirt_open("qemu+unix:///system?socket=/nonexistent/sock", TRUE, &error);

  g_assert_null(conn);
  g_assert_error(error, WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE);
  g_assert_nonnull(strstr(error->message, "cannot connect to"));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  wv_libvirt_init();
  g_test_add_func("/libvirt/define-examples", test_define_examples);
  g_test_add_func("/libvirt/ryzen-pins-round-trip", test_ryzen_pins_round_trip);
  g_test_add_func("/libvirt/domcaps-unsupported", test_domcaps_unsupported_is_clean);
  g_test_add_func("/libvirt/templates-define", test_templates_define);
  g_test_add_func("/libvirt/devices-in-use", test_devices_in_use);
  g_test_add_func("/libvirt/device-keys-define", test_device_keys_define);
  g_test_add_func("/libvirt/unreachable", test_unreachable_libvirt);
  return g_test_run();
}
