/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Profile -> plan -> domain XML on the Ryzen test host, with and without
 * libvirt's domain capabilities: whatever the profile says, wv_render() gives
 * a document valid against libvirt's RelaxNG schema or a clean GError.
 */
#include <libxml/relaxng.h>

#include "wv-common.h"
#include "wv-fuzz.h"
#include "wv-plan.h"
#include "wv-render.h"

#define TEMPLATE_DIR WV_SOURCE_ROOT "/xml-templates"

static WvHost *host;
static WvDomcaps *domcaps;
static xmlRelaxNG *schema;

static void
silence(void *ctx, const char *msg, ...)
{
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *caps_xml = NULL;
  xmlRelaxNGParserCtxt *pctx;

  wv_fuzz_init_logging();
  host = wv_host_probe(WV_TEST_DATA "/hosts/ryzen/sys", WV_TEST_DATA "/hosts/ryzen/proc/mounts",
                       &error);
  if (host == NULL)
    g_error("fuzz-render: %s", error->message);
  if (!g_file_get_contents(WV_TEST_DATA "/domcaps/kvm.xml", &caps_xml, NULL, &error) ||
      !(domcaps = wv_domcaps_parse(caps_xml, &error)))
    g_error("fuzz-render: %s", error->message);
  pctx = xmlRelaxNGNewParserCtxt(WV_DOMAIN_RNG);
  schema = xmlRelaxNGParse(pctx);
  xmlRelaxNGFreeParserCtxt(pctx);
  if (schema == NULL)
    g_error("fuzz-render: cannot load %s", WV_DOMAIN_RNG);
  return 0;
}

static void
render(const WvProfile *p, const WvDomcaps *caps)
{
  WvPlanContext ctx = {.host = host, .domcaps = caps, .template_dir = TEMPLATE_DIR};
  g_autoptr(WvPlan) plan = wv_plan_build(p, &ctx);
  g_autoptr(GError) error = NULL;
  g_autoptr(xmlDoc) doc = wv_render(p, plan, &error);
  xmlRelaxNGValidCtxt *vctx;
  int rc;

  if (doc == NULL) {
    wv_fuzz_assert(error != NULL && g_utf8_validate(error->message, -1, NULL));
    return;
  }
  wv_fuzz_assert(error == NULL);
  {
    /* winvm's writer and libxml2's: the same bytes */
    g_autofree char *ours = wv_xml_write(doc);
    g_autofree char *theirs = wv_xml_save(doc);

    wv_fuzz_assert(ours != NULL && g_str_equal(ours, theirs));
  }
  vctx = xmlRelaxNGNewValidCtxt(schema);
  xmlRelaxNGSetValidErrors(vctx, silence, silence, NULL);
  rc = xmlRelaxNGValidateDoc(vctx, doc);
  xmlRelaxNGFreeValidCtxt(vctx);
  if (rc != 0) {
    g_autofree char *xml = wv_xml_doc_to_string(doc);

    g_printerr("%s\nfuzz-render: the document above is not valid against %s\n", xml, WV_DOMAIN_RNG);
    vctx = xmlRelaxNGNewValidCtxt(schema); /* again, now printing why */
    xmlRelaxNGValidateDoc(vctx, doc);
    abort();
  }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  g_autoptr(WvProfile) p = wv_profile_parse((const char *)data, size, "fuzz.conf", NULL);

  /* An absolute template is the user's own XML: only ours must be valid. */
  if (p == NULL || g_path_is_absolute(p->template_name))
    return 0;
  render(p, domcaps);
  render(p, NULL);
  return 0;
}
