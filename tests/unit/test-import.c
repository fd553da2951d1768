/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Import: real libvirt domain XML -> profile -> domain XML again. Every
 * import parses, renders valid against libvirt's schema and keeps the
 * domain's facts (compared by XPath, not bytes); what it cannot carry is
 * listed.
 */
#include "wv-common.h"
#include "wv-import.h"
#include "wv-test.h"
#include "wv-test-facts.h"

#include <libxml/xpath.h>

static char *
read_data(const char *dir, const char *file)
{
  g_autofree char *path = g_build_filename(WV_TEST_DATA, dir, file, NULL);
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_assert_true(g_file_get_contents(path, &text, NULL, &error));
  g_assert_no_error(error);
  return text;
}

/* @not_carried holds exactly one note containing each of @expected (and
 * nothing else when @exact). */
static void
assert_notes(GPtrArray *not_carried, const char *const *expected, gboolean exact)
{
  guint n = 0;

  for (; expected[n]; n++) {
    guint hits = 0;
    for (guint i = 0; i < not_carried->len; i++)
      hits += strstr(not_carried->pdata[i], expected[n]) != NULL;
    if (hits != 1) {
      for (guint i = 0; i < not_carried->len; i++)
        g_printerr("  %s\n", (const char *)not_carried->pdata[i]);
      g_error("“%s” in %u notes, expected 1", expected[n], hits);
    }
  }
  if (exact)
    g_assert_cmpuint(not_carried->len, ==, n);
}

static void
test_vfio_guide(void)
{
  static const char *const expected[] = {
      "<loader> /usr/share/OVMF/OVMF_CODE_4M.fd: winvm lets libvirt pick the firmware build",
      "<cpu><cache mode='passthrough'>: no profile key",
      "<features><ioapic driver='kvm'>: no profile key",
      "guest PCI addresses",
      NULL,
  };
  g_autofree char *xml = read_data("import", "vfio-guide.xml");
  g_autoptr(GPtrArray) not_carried = NULL;
  g_autofree char *profile = NULL;
  g_autoptr(xmlDoc) doc = import_and_render(xml, NULL, &not_carried, &profile);

  assert_same_facts(xml, doc);
  assert_notes(not_carried, expected, TRUE);
  /* the keys a reader of the guide looks for */
  g_assert_nonnull(strstr(profile, "pin = 0,1,2,3,4,5,6,7\n"));
  g_assert_nonnull(strstr(profile, "iothread-pin = 8-9;10-11;12-13;14-15\n"));
  g_assert_nonnull(strstr(profile, "topology = 1,1,4,2\n"));
  g_assert_nonnull(strstr(profile, "features = +topoext\n"));
  g_assert_nonnull(strstr(profile, "uuid = 6b3f1c2e-8d4a-4f5b-9c7e-2a1d0e9f8b7c\n"));
  g_assert_nonnull(strstr(profile, "template = windows10\n"));
  g_assert_nonnull(strstr(profile, "nvram = /var/lib/libvirt/qemu/nvram/win10-gaming_VARS.fd\n"));
  g_assert_nonnull(strstr(profile, "pci = 0000:0b:00.0,0000:0b:00.1\n"));
  g_assert_nonnull(strstr(profile, "kvm-hidden = true\n"));
  g_assert_nonnull(strstr(profile, "# - <cpu><cache mode='passthrough'>"));
}

static void
test_virt_install(void)
{
  static const char *const expected[] = {
      "<metadata> http://libosinfo.org/xmlns/libvirt/domain/1.0",
      "<loader> /usr/share/OVMF/OVMF_CODE_4M.ms.fd",
      "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'>",
      "<graphics><image compression='off'>",
      "<redirdev type='spicevmc'>: USB redirection",
      "guest PCI addresses",
      NULL,
  };
  g_autofree char *xml = read_data("import", "virt-install-win11.xml");
  g_autoptr(GPtrArray) not_carried = NULL;
  g_autofree char *profile = NULL;
  g_autoptr(xmlDoc) doc = import_and_render(xml, NULL, &not_carried, &profile);
  g_autoptr(xmlXPathContext) ctx = xmlXPathNewContext(doc);
  g_autofree char *cdrom = NULL, *disk = NULL;

  assert_same_facts(xml, doc);
  assert_notes(not_carried, expected, TRUE);
  g_assert_nonnull(strstr(profile, "template = windows11\n"));
  /* <os><boot dev='cdrom'/><boot dev='hd'/> became device boot orders */
  cdrom = wv_xpath_string(ctx, "string(/domain/devices/disk[@device='cdrom'][1]/boot/@order)");
  disk = wv_xpath_string(ctx, "string(/domain/devices/disk[@device='disk']/boot/@order)");
  g_assert_cmpstr(cdrom, ==, "1");
  g_assert_cmpstr(disk, ==, "2");
  g_assert_false(wv_xpath_bool(ctx, "/domain/os/boot"));
}

/* Each shipped example: its golden rendering -> import -> render again. */
static void
test_examples_round_trip(void)
{
  static const char *const goldens[] = {"gaming.xml", "work.xml", "install.xml",
                                        "looking-glass.xml"};

  for (guint i = 0; i < G_N_ELEMENTS(goldens); i++) {
    g_autofree char *xml = read_data("golden", goldens[i]);
    g_autoptr(GPtrArray) not_carried = NULL;
    g_autoptr(xmlDoc) doc = import_and_render(xml, NULL, &not_carried, NULL);

    assert_same_facts(xml, doc);
    /* winvm's own XML has nothing a profile cannot say */
    for (guint k = 0; k < not_carried->len; k++)
      g_printerr("%s: %s\n", goldens[i], (const char *)not_carried->pdata[k]);
    g_assert_cmpuint(not_carried->len, ==, 0);
  }
}

static void
test_oddities(void)
{
  static const char *const expected[] = {
      "<name>Odd VM</name>: not a valid VM name; imported as Odd-VM",
      "<qemu:commandline>: raw QEMU arguments and overrides are not carried over (winvm's trust "
      "rules",
      "<interface type='direct'> (macvtap on eth0): no profile key",
      "disk vda: volume odd.img of storage pool default",
      "disk hda on bus ide",
      "disk hda <driver detect_zeroes='unmap'>",
      "disk hda <serial>",
      "cdrom hdc on bus ide",
      "<currentMemory>",
      "<vcpu current='2'>",
      "<vcpupin>: 1 of 4 vCPUs pinned, some to several CPUs",
      "<cputune><vcpusched",
      "<features><msrs unknown='ignore'>",
      "<clock offset='variable'>",
      "<timer name='tsc' frequency=…>",
      "<on_crash>coredump-restart</on_crash>",
      "<emulator> /opt/qemu/bin/qemu-system-x86_64",
      "<hostdev type='usb'> by bus and device number",
      "<graphics listen='0.0.0.0'>",
      "<graphics passwd=…>",
      "<video><model type='cirrus'>",
      "<sound model='usb'>",
      "<shmem name='looking-glass'>: winvm names it looking-glass-Odd-VM",
      "<devices><watchdog",
      "<title>",
      "<sysinfo type='smbios'>",
      "<boot dev='network'>",
      NULL,
  };
  g_autofree char *xml = read_data("import", "oddities.xml");
  g_autoptr(GPtrArray) not_carried = NULL;
  g_autofree char *profile = NULL;
  g_autoptr(xmlDoc) doc = import_and_render(xml, NULL, &not_carried, &profile);

  assert_notes(not_carried, expected, FALSE);
  /* what could be carried was */
  g_assert_nonnull(strstr(profile, "[cdrom:hdc]\nboot = 1\n"));
  g_assert_nonnull(strstr(profile, "device = 046d:c52b\n"));
  g_assert_nonnull(strstr(profile, "resolution = 1920x1080\n"));
  g_assert_nonnull(strstr(profile, "evdev = /dev/input/by-id/usb-Logitech-event-kbd\n"));
  g_assert_nonnull(strstr(profile, "machine = pc-i440fx-7.2\n"));
  g_assert_nonnull(strstr(profile, "type = bios\n"));
  /* its guest agent channel: the template's, no key needed */
  g_assert_null(strstr(profile, "guest-agent"));
}

static void
test_name(void)
{
  g_autofree char *xml = read_data("import", "vfio-guide.xml");
  g_autoptr(GError) error = NULL;
  g_autofree char *profile = wv_import_domain_xml(xml, "renamed", NULL, &error);
  g_autofree char *bad = NULL;

  g_assert_no_error(error);
  g_assert_nonnull(strstr(profile, "name = renamed\n"));
  /* no guest agent channel there: the template's is turned off */
  g_assert_nonnull(strstr(profile, "guest-agent = false\n"));
  bad = wv_import_domain_xml(xml, "../etc", NULL, &error);
  g_assert_null(bad);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
}

static void
test_refused(void)
{
  static const struct
  {
    const char *xml;
    const char *message;
  } cases[] = {
      {"", "not an XML document"},
      {"not xml at all", "not an XML document"},
      {"<network><name>default</name></network>", "the root element is <network>, not <domain>"},
      {"<!DOCTYPE domain [<!ENTITY a 'aaaa'>]><domain type='kvm'><name>&a;</name></domain>",
       "DOCTYPE"},
      {"<domain type='xen'><name>x</name></domain>", "QEMU/KVM domains only"},
      {"<d:domain xmlns:d='urn:x'/>", "not a libvirt domain definition"},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *profile = wv_import_domain_xml(cases[i].xml, NULL, NULL, &error);

    g_assert_null(profile);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
    if (!strstr(error->message, cases[i].message))
      g_error("%s: “%s”", cases[i].xml, error->message);
  }
  {
    /* bounded: larger than WV_IMPORT_MAX_SIZE is refused unread */
    g_autofree char *big = g_strnfill(WV_IMPORT_MAX_SIZE + 1, ' ');
    g_autoptr(GError) error = NULL;
    g_autofree char *profile = wv_import_domain_xml(big, NULL, NULL, &error);

    g_assert_null(profile);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
  }
}

/* A bare domain: the defaults a profile needs, nothing invented. */
static void
test_minimal_domain(void)
{
  g_autoptr(GPtrArray) not_carried = NULL;
  g_autofree char *profile = NULL;
  g_autoptr(xmlDoc) doc =
      import_and_render("<domain type='qemu'><name>tiny</name><memory>262144</memory>"
                        "<vcpu>1</vcpu><os><type>hvm</type></os></domain>",
                        NULL, &not_carried, &profile);

  g_assert_nonnull(strstr(profile, "hypervisor = qemu\n"));
  g_assert_nonnull(strstr(profile, "memory = 256MiB\n"));
  g_assert_nonnull(strstr(profile, "pin = none\n"));
  g_assert_nonnull(strstr(profile, "enlightenments = none\n"));
  g_assert_nonnull(strstr(profile, "[graphics]\ntype = none\n"));
  g_assert_cmpuint(not_carried->len, ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/import/vfio-guide", test_vfio_guide);
  g_test_add_func("/import/virt-install", test_virt_install);
  g_test_add_func("/import/examples-round-trip", test_examples_round_trip);
  g_test_add_func("/import/oddities", test_oddities);
  g_test_add_func("/import/name", test_name);
  g_test_add_func("/import/refused", test_refused);
  g_test_add_func("/import/minimal-domain", test_minimal_domain);
  return g_test_run();
}
