/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-import.h"
#include "wv-common.h"
#include "wv-cpuset.h"
#include "wv-profile.h"
#include "wv-xml.h"

#include <string.h>

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
/* A note shows at most this much of a value from the document. */
#define NOTE_MAX 300

/* ---- the import --------------------------------------------------------- *
 *
 * One pass over the document, element by element, through tables: every
 * element (and the attributes that matter) either becomes a profile key or a
 * note in not_carried. An element no table knows is a note too, so nothing is
 * left out in silence. Each value is carried only when the profile parser
 * itself accepts it (accepts()): the parser stays the one judge of a value.
 */

typedef struct
{
  GKeyFile *kf;
  GPtrArray *notes;
  GHashTable *groups; /* section groups used, for unique ids */
  char *name;
  const char *template_name;
  gboolean efi, secure_boot, tpm, q35;
  char *nvram;
  guint vcpus, iothreads;
  GArray *iothread_ids; /* guint: libvirt's ids, in order; index + 1 is winvm's */
  guint n_virtio_disks;
  char *first_disk, *first_cdrom; /* groups, for <os><boot dev=...> */
  gboolean device_boot;           /* some device has <boot order> */
  GPtrArray *boot_devs;           /* <os><boot dev=...>, in order */
  GPtrArray *pci;                 /* PciFunction*, grouped at the end */
  char *graphics;                 /* spice | vnc | none */
  gboolean pci_addresses;         /* guest PCI addresses seen */
  gboolean has_shares;
  gboolean guest_agent; /* the guest agent's channel was seen */
  xmlNode *devices;
  guint boot_orders_seen; /* bit per order 1..31, for duplicates */
} Import;

typedef struct
{
  WvPciAddress a;
  char *rom;
} PciFunction;

static void
pci_function_free(gpointer p)
{
  PciFunction *f = p;
  g_free(f->rom);
  g_free(f);
}

/* ---- small helpers ------------------------------------------------------- */

/* An attribute's value, stripped; NULL when absent. */
static char *
prop(xmlNode *node, const char *name)
{
  xmlChar *v = xmlGetProp(node, BAD_CAST name);
  char *out;

  if (v == NULL)
    return NULL;
  out = g_strstrip(g_strdup((const char *)v));
  xmlFree(v);
  return out;
}

static gboolean
prop_is(xmlNode *node, const char *name, const char *value)
{
  g_autofree char *v = prop(node, name);
  return g_strcmp0(v, value) == 0;
}

/* An element's text, stripped; NULL when empty. */
static char *
text_of(xmlNode *node)
{
  xmlChar *v = xmlNodeGetContent(node);
  char *out = g_strstrip(g_strdup(v ? (const char *)v : ""));

  xmlFree(v);
  if (out[0] == '\0')
    g_clear_pointer(&out, g_free);
  return out;
}

static const char *
name_of(xmlNode *node)
{
  return (const char *)node->name;
}

/* "<name a='v' b='w'>": how a note shows an element. */
static char *
tag(xmlNode *node)
{
  GString *s = g_string_new("<");
  guint n = 0;

  if (node->ns && node->ns->prefix)
    g_string_append_printf(s, "%s:", (const char *)node->ns->prefix);
  g_string_append(s, name_of(node));
  for (xmlAttr *a = node->properties; a; a = a->next, n++) {
    g_autofree char *v = NULL;

    if (n == 3) {
      g_string_append(s, " …");
      break;
    }
    v = prop(node, (const char *)a->name);
    g_string_append_printf(s, " %s='%.60s'", (const char *)a->name, v ? v : "");
  }
  g_string_append_c(s, '>');
  return g_string_free(s, FALSE);
}

G_GNUC_PRINTF(2, 3)
static void
note(Import *im, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start(ap, fmt);
  msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  /* values come from the document: one line, bounded, valid UTF-8 */
  for (char *p = msg; *p; p++)
    if ((guchar)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  if (strlen(msg) > NOTE_MAX) {
    const char *end = g_utf8_find_prev_char(msg, msg + NOTE_MAX);
    msg[end ? end - msg : 0] = '\0';
    g_autofree char *cut = g_strconcat(msg, "…", NULL);
    g_free(msg);
    msg = g_steal_pointer(&cut);
  }
  for (guint i = 0; i < im->notes->len; i++)
    if (g_str_equal(im->notes->pdata[i], msg))
      return;
  g_ptr_array_add(im->notes, g_steal_pointer(&msg));
}

/* "<X>: no profile key" for an element nothing below handles. */
static void
note_unknown(Import *im, xmlNode *node, const char *where)
{
  g_autofree char *t = tag(node);
  gboolean space = where && where[0] && where[strlen(where) - 1] != '>';

  note(im, "%s%s%s: no profile key says it", where ? where : "", space ? " " : "", t);
}

/* Whether the profile parser takes @group/@key = @value, next to
 * @group2/@key2 = @value2 when it is only whole with another key. */
static gboolean
accepts_with(const char *group, const char *key, const char *value, const char *group2,
             const char *key2, const char *value2)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(WvProfile) p = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;

  if (value == NULL || !g_utf8_validate(value, -1, NULL))
    return FALSE;
  g_key_file_set_string(kf, group, key, value);
  if (key2)
    g_key_file_set_string(kf, group2, key2, value2);
  text = g_key_file_to_data(kf, &len, NULL);
  p = wv_profile_parse(text, len, "import.conf", NULL);
  return p != NULL;
}

static gboolean
accepts(const char *group, const char *key, const char *value, const char *key2, const char *value2)
{
  return accepts_with(group, key, value, group, key2, value2);
}

static void
set(Import *im, const char *group, const char *key, const char *value)
{
  g_key_file_set_string(im->kf, group, key, value);
}

/* A section group "prefix:ID" not used yet, ID from @hint when it makes a
 * valid one. */
static char *
new_group(Import *im, const char *prefix, const char *hint, const char *fallback)
{
  g_autofree char *id = NULL;
  char *group;

  if (hint && hint[0] && strlen(hint) <= 24 &&
      strspn(hint, "abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(hint))
    id = g_strdup(hint);
  else
    id = g_strdup(fallback);
  group = g_strconcat(prefix, id, NULL);
  for (guint n = 2; g_hash_table_contains(im->groups, group); n++) {
    g_free(group);
    group = g_strdup_printf("%s%s-%u", prefix, id, n);
  }
  g_hash_table_add(im->groups, g_strdup(group));
  return group;
}

/* Whether a section group "prefix..." already has @key = @value. */
static gboolean
group_with(Import *im, const char *prefix, const char *key, const char *value)
{
  g_auto(GStrv) groups = g_key_file_get_groups(im->kf, NULL);

  for (guint i = 0; groups[i]; i++) {
    g_autofree char *v = NULL;
    if (!g_str_has_prefix(groups[i], prefix))
      continue;
    v = g_key_file_get_string(im->kf, groups[i], key, NULL);
    if (g_strcmp0(v, value) == 0)
      return TRUE;
  }
  return FALSE;
}

/* A libvirt scaled integer (@unit: b, KB, KiB, M, GB, ... ; @default_unit
 * when absent) in KiB; FALSE when it is not a whole number of KiB. */
static gboolean
to_kib(const char *value, const char *unit, const char *default_unit, guint64 *out)
{
  static const struct
  {
    const char *names;
    guint64 bytes;
  } units[] = {
      {",b,bytes,", 1},
      {",KB,", 1000},
      {",k,K,KiB,", 1024},
      {",MB,", 1000 * 1000},
      {",M,MiB,", 1024 * 1024},
      {",GB,", 1000 * 1000 * 1000},
      {",G,GiB,", 1024 * 1024 * 1024},
      {",TB,", G_GUINT64_CONSTANT(1000000000000)},
      {",T,TiB,", G_GUINT64_CONSTANT(1099511627776)},
  };
  g_autofree char *key = g_strconcat(",", unit ? unit : default_unit, ",", NULL);
  guint64 n, bytes = 0;

  if (value == NULL || !g_ascii_string_to_unsigned(value, 10, 0, G_MAXUINT64, &n, NULL))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS(units); i++)
    if (strstr(units[i].names, key))
      bytes = units[i].bytes;
  if (bytes == 0 || (n != 0 && n > G_MAXUINT64 / bytes) || (n * bytes) % 1024 != 0)
    return FALSE;
  *out = n * bytes / 1024;
  return TRUE;
}

/* 16GiB, 512MiB or 1000KiB */
static char *
size_text(guint64 kib)
{
  if (kib % (1024 * 1024) == 0)
    return g_strdup_printf("%" G_GUINT64_FORMAT "GiB", kib / (1024 * 1024));
  if (kib % 1024 == 0)
    return g_strdup_printf("%" G_GUINT64_FORMAT "MiB", kib / 1024);
  return g_strdup_printf("%" G_GUINT64_FORMAT "KiB", kib);
}

static gboolean
parse_number(const char *text, guint64 max, guint64 *out)
{
  if (text == NULL)
    return FALSE;
  if (g_str_has_prefix(text, "0x") || g_str_has_prefix(text, "0X"))
    return g_ascii_string_to_unsigned(text + 2, 16, 0, max, out, NULL);
  return g_ascii_string_to_unsigned(text, 10, 0, max, out, NULL);
}

/* Calls @fn for each element child of @parent named in @table, in the
 * table's order (so a value another needs is read first); every other
 * element is a note. */
typedef void (*Handler)(Import *im, xmlNode *node);
typedef struct
{
  const char *name;
  Handler fn; /* NULL: taken as it is, nothing to carry */
} Entry;

static void
walk(Import *im, xmlNode *parent, const Entry *table, guint n_table, const char *where)
{
  for (guint i = 0; i < n_table; i++)
    for (xmlNode *c = parent->children; c; c = c->next)
      if (c->type == XML_ELEMENT_NODE && c->ns == NULL && g_str_equal(name_of(c), table[i].name) &&
          table[i].fn)
        table[i].fn(im, c);
  for (xmlNode *c = parent->children; c; c = c->next) {
    gboolean known = FALSE;

    if (c->type != XML_ELEMENT_NODE)
      continue;
    for (guint i = 0; i < n_table && c->ns == NULL && !known; i++)
      known = g_str_equal(name_of(c), table[i].name);
    if (!known && c->ns && c->ns->href && xmlStrEqual(c->ns->href, BAD_CAST QEMU_NS))
      note(im,
           "<qemu:%s>: raw QEMU arguments and overrides are not carried over (winvm's trust "
           "rules: a profile never passes options to QEMU past libvirt)",
           name_of(c));
    else if (!known)
      note_unknown(im, c, where);
  }
}

/* ---- [vm] ---------------------------------------------------------------- */

static void
do_uuid(Import *im, xmlNode *node)
{
  g_autofree char *uuid = text_of(node);

  if (accepts("vm", "uuid", uuid, NULL, NULL))
    set(im, "vm", "uuid", uuid);
  else
    note(im, "<uuid> %s: not a UUID", uuid ? uuid : "");
}

static void
do_metadata(Import *im, xmlNode *node)
{
  for (xmlNode *c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (c->ns && xmlStrEqual(c->ns->href, BAD_CAST WV_DOMAIN_NS))
      continue; /* winvm's own mark: rendered again */
    note(im, "<metadata> %s (%s): other programs' metadata is not carried over",
         c->ns && c->ns->href ? (const char *)c->ns->href : "no namespace", name_of(c));
  }
}

static void
do_memory(Import *im, xmlNode *node)
{
  g_autofree char *v = text_of(node);
  g_autofree char *unit = prop(node, "unit");
  g_autofree char *size = NULL;
  guint64 kib;

  if (to_kib(v, unit, "KiB", &kib) && (size = size_text(kib)) &&
      accepts("vm", "memory", size, NULL, NULL))
    set(im, "vm", "memory", size);
  else
    note(im, "<memory> %s %s: not a memory size a profile takes (at least 64MiB)", v ? v : "",
         unit ? unit : "KiB");
}

static void
do_current_memory(Import *im, xmlNode *node)
{
  xmlNode *mem = wv_xml_find_child(node->parent, "memory");
  g_autofree char *v = text_of(node), *unit = prop(node, "unit");
  g_autofree char *mv = mem ? text_of(mem) : NULL, *munit = mem ? prop(mem, "unit") : NULL;
  guint64 cur, max;

  if (to_kib(v, unit, "KiB", &cur) && to_kib(mv, munit, "KiB", &max) && cur == max)
    return;
  note(im,
       "<currentMemory> %s %s: a balloon target below <memory> has no profile key (the guest "
       "gets all of its memory)",
       v ? v : "", unit ? unit : "KiB");
}

static void
do_vcpu(Import *im, xmlNode *node)
{
  g_autofree char *v = text_of(node);
  g_autofree char *current = prop(node, "current");
  g_autofree char *cpuset = prop(node, "cpuset");
  g_autofree char *placement = prop(node, "placement");
  guint64 n;

  if (parse_number(v, 1024, &n) && n >= 1 && accepts("vm", "vcpus", v, NULL, NULL)) {
    set(im, "vm", "vcpus", v);
    im->vcpus = (guint)n;
  } else {
    note(im, "<vcpu> %s: not 1 to 1024 vCPUs", v ? v : "");
  }
  if (current && !g_str_equal(current, v ? v : ""))
    note(im, "<vcpu current='%s'>: vCPUs plugged later have no profile key (all %s are present)",
         current, v ? v : "");
  if (cpuset)
    note(im, "<vcpu cpuset='%s'>: one CPU set for all vCPUs has no profile key (use [cpu] pin)",
         cpuset);
  if (placement && g_str_equal(placement, "auto"))
    note(im, "<vcpu placement='auto'>: numad placement has no profile key");
}

/* ---- [cpu]: mode, topology, features ------------------------------------- */

static void
do_cpu(Import *im, xmlNode *node)
{
  g_autofree char *mode = prop(node, "mode");
  g_autofree char *migratable = prop(node, "migratable");
  g_autoptr(GString) features = g_string_new(NULL);

  if (mode == NULL)
    mode = g_strdup("custom");
  if (g_str_equal(mode, "host-passthrough") || g_str_equal(mode, "host-model")) {
    set(im, "cpu", "mode", mode);
  } else if (g_str_equal(mode, "custom")) {
    xmlNode *model = wv_xml_find_child(node, "model");
    g_autofree char *m = model ? text_of(model) : NULL;
    g_autofree char *value = m ? g_strconcat("custom:", m, NULL) : NULL;

    if (value && accepts("cpu", "mode", value, NULL, NULL))
      set(im, "cpu", "mode", value);
    else if (m)
      note(im, "<cpu><model>%s</model>: not a CPU model name a profile takes", m);
  } else {
    note(im, "<cpu mode='%s'>: no profile key; the profile's default, host-passthrough, is used",
         mode);
  }
  if (migratable && g_str_equal(migratable, "off"))
    note(im, "<cpu migratable='off'>: no profile key");

  for (xmlNode *c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (wv_xml_is_element(c, "model")) {
      continue;
    } else if (wv_xml_is_element(c, "topology")) {
      const char *attrs[] = {"sockets", "dies", "cores", "threads"};
      guint64 v[4] = {1, 1, 1, 1};
      gboolean ok = TRUE;
      g_autofree char *clusters = prop(c, "clusters");
      g_autofree char *topo = NULL;
      g_autofree char *vcpus = g_strdup_printf("%u", im->vcpus);

      for (guint i = 0; i < 4; i++) {
        g_autofree char *a = prop(c, attrs[i]);
        if (a && !parse_number(a, 1024, &v[i]))
          ok = FALSE;
      }
      if (clusters && !g_str_equal(clusters, "1"))
        note(im, "<topology clusters='%s'>: no profile key", clusters);
      topo = g_strdup_printf("%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT
                             ",%" G_GUINT64_FORMAT,
                             v[0], v[1], v[2], v[3]);
      if (ok && v[0] * v[1] * v[2] * v[3] == im->vcpus &&
          accepts_with("cpu", "topology", topo, "vm", "vcpus", vcpus))
        set(im, "cpu", "topology", topo);
      else
        note(im, "<topology> %s: does not make the %u vCPUs; the topology is planned (auto)", topo,
             im->vcpus);
    } else if (wv_xml_is_element(c, "feature")) {
      g_autofree char *policy = prop(c, "policy");
      g_autofree char *name = prop(c, "name");
      const char *sign = NULL;
      g_autofree char *item = NULL;

      if (g_strcmp0(policy, "require") == 0 || g_strcmp0(policy, "force") == 0 || policy == NULL)
        sign = "+";
      else if (g_strcmp0(policy, "disable") == 0 || g_strcmp0(policy, "forbid") == 0)
        sign = "-";
      item = g_strconcat(sign ? sign : "", name ? name : "", NULL);
      if (sign && accepts("cpu", "features", item, NULL, NULL)) {
        g_string_append_printf(features, "%s%s", features->len ? "," : "", item);
        if (g_strcmp0(policy, "force") == 0 || g_strcmp0(policy, "forbid") == 0)
          note(im, "<feature policy='%s' name='%s'>: carried as %s (a profile has no %s)", policy,
               name, sign[0] == '+' ? "require" : "disable", policy);
      } else {
        note(im, "<feature policy='%s' name='%s'>: no profile key says it", policy ? policy : "",
             name ? name : "");
      }
    } else {
      note_unknown(im, c, "<cpu>");
    }
  }
  if (features->len > 0) {
    if (accepts("cpu", "features", features->str, NULL, NULL))
      set(im, "cpu", "features", features->str);
    else
      note(im, "<cpu> features %s: a feature is named twice", features->str);
  }
}

/* ---- [cpu]: pins and I/O threads ------------------------------------------ */

static void
do_iothreads(Import *im, xmlNode *node)
{
  g_autofree char *v = text_of(node);
  guint64 n;

  if (!parse_number(v, 64, &n)) {
    note(im, "<iothreads> %s: a profile has 0 to 64 I/O threads", v ? v : "");
    return;
  }
  im->iothreads = (guint)n;
  for (guint i = 0; i < im->iothreads; i++) {
    guint id = i + 1;
    g_array_append_val(im->iothread_ids, id);
  }
  if (n > 0)
    set(im, "cpu", "iothreads", v);
}

static void
do_iothreadids(Import *im, xmlNode *node)
{
  /* the ids libvirt names them by; winvm numbers them 1..N in this order */
  g_array_set_size(im->iothread_ids, 0);
  for (xmlNode *c = node->children; c; c = c->next) {
    guint64 id;
    g_autofree char *v = NULL;

    if (!wv_xml_is_element(c, "iothread"))
      continue;
    v = prop(c, "id");
    if (parse_number(v, G_MAXUINT, &id) && im->iothread_ids->len < 64) {
      guint i = (guint)id;
      g_array_append_val(im->iothread_ids, i);
    }
    if (c->properties && c->properties->next)
      note(im, "<iothread id='%s'> polling and thread pool settings: no profile key", v ? v : "");
  }
  if (im->iothread_ids->len != im->iothreads)
    note(im, "<iothreadids>: %u ids for %u I/O threads; winvm numbers them 1 to %u",
         im->iothread_ids->len, im->iothreads, im->iothreads);
}

/* The 0-based winvm I/O thread of libvirt's @id, or -1. */
static gint
iothread_index(Import *im, const char *id)
{
  guint64 n;

  if (!parse_number(id, G_MAXUINT, &n))
    return -1;
  for (guint i = 0; i < im->iothread_ids->len && i < im->iothreads; i++)
    if (g_array_index(im->iothread_ids, guint, i) == n)
      return (gint)i;
  return -1;
}

static void
do_cputune(Import *im, xmlNode *node)
{
  g_autoptr(GPtrArray) vcpu = g_ptr_array_new_full(im->vcpus, g_free);
  g_autoptr(GPtrArray) io = g_ptr_array_new_full(im->iothreads, g_free);
  g_autofree char *emulator = NULL;
  g_autoptr(GString) list = g_string_new(NULL);
  gboolean all_single = TRUE;
  guint n_pinned = 0, n_io = 0;

  g_ptr_array_set_size(vcpu, (gint)im->vcpus);
  g_ptr_array_set_size(io, (gint)im->iothreads);
  for (xmlNode *c = node->children; c; c = c->next) {
    g_autofree char *set_text = NULL;
    g_autoptr(WvCpuset) set = NULL;

    if (c->type != XML_ELEMENT_NODE)
      continue;
    set_text = prop(c, "cpuset");
    if (wv_xml_is_element(c, "vcpupin") || wv_xml_is_element(c, "emulatorpin") ||
        wv_xml_is_element(c, "iothreadpin")) {
      set = set_text ? wv_cpuset_parse(set_text, NULL) : NULL;
      if (set == NULL || set->n == 0) {
        note(im, "<%s cpuset='%s'>: not a CPU set", name_of(c), set_text ? set_text : "");
        continue;
      }
    }
    if (wv_xml_is_element(c, "vcpupin")) {
      g_autofree char *v = prop(c, "vcpu");
      guint64 i;

      if (!parse_number(v, G_MAXUINT, &i) || i >= im->vcpus || vcpu->pdata[i]) {
        note(im, "<vcpupin vcpu='%s'>: no such vCPU (or pinned twice)", v ? v : "");
        continue;
      }
      vcpu->pdata[i] = wv_cpuset_format(set);
      all_single &= set->n == 1;
      n_pinned++;
    } else if (wv_xml_is_element(c, "emulatorpin")) {
      g_free(emulator);
      emulator = wv_cpuset_format(set);
    } else if (wv_xml_is_element(c, "iothreadpin")) {
      g_autofree char *id = prop(c, "iothread");
      gint i = iothread_index(im, id);

      if (i < 0 || io->pdata[i]) {
        note(im, "<iothreadpin iothread='%s'>: no such I/O thread (or pinned twice)", id ? id : "");
        continue;
      }
      io->pdata[i] = wv_cpuset_format(set);
      n_io++;
    } else {
      note_unknown(im, c, "<cputune>");
    }
  }

  if (n_pinned > 0) {
    for (guint i = 0; i < im->vcpus && all_single && n_pinned == im->vcpus; i++)
      g_string_append_printf(list, "%s%s", i ? "," : "", (char *)vcpu->pdata[i]);
    g_autofree char *vcpus = g_strdup_printf("%u", im->vcpus);

    if (list->len > 0 && accepts_with("cpu", "pin", list->str, "vm", "vcpus", vcpus)) {
      set(im, "cpu", "pin", list->str);
    } else {
      set(im, "cpu", "pin", "none");
      note(im,
           "<vcpupin>: %u of %u vCPUs pinned%s; a profile pins every vCPU to one host CPU of "
           "its own, so the vCPUs are left to the scheduler (pin = none)",
           n_pinned, im->vcpus, all_single ? "" : ", some to several CPUs");
    }
  }
  if (emulator && accepts("cpu", "emulator-pin", emulator, NULL, NULL))
    set(im, "cpu", "emulator-pin", emulator);
  else if (n_pinned > 0)
    set(im, "cpu", "emulator-pin", "none");
  if (n_io == im->iothreads && n_io > 0) {
    g_auto(GStrv) sets = g_new0(char *, n_io + 1);
    g_autofree char *joined = NULL;

    for (guint i = 0; i < n_io; i++)
      sets[i] = g_strdup(io->pdata[i]);
    joined = g_strjoinv(";", sets);
    set(im, "cpu", "iothread-pin", joined);
  } else if (n_io > 0) {
    note(im,
         "<iothreadpin>: %u of %u I/O threads pinned; a profile pins all of them or none "
         "(iothread-pin = auto: with the emulator)",
         n_io, im->iothreads);
  }
}

static void
do_cputune_defaults(Import *im)
{
  /* no <cputune>: nothing was pinned, and auto would pin */
  if (!g_key_file_has_key(im->kf, "cpu", "pin", NULL))
    set(im, "cpu", "pin", "none");
}

/* ---- [memory] ------------------------------------------------------------- */

static void
do_memory_backing(Import *im, xmlNode *node)
{
  for (xmlNode *c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (wv_xml_is_element(c, "hugepages")) {
      xmlNode *page = wv_xml_find_child(c, "page");
      g_autofree char *size = page ? prop(page, "size") : NULL;
      g_autofree char *unit = page ? prop(page, "unit") : NULL;
      g_autofree char *nodeset = page ? prop(page, "nodeset") : NULL;
      guint64 kib = 2048; /* libvirt's default: the host's default size */

      if (page && !to_kib(size, unit, "KiB", &kib))
        kib = 0;
      if (nodeset)
        note(im, "<hugepages><page nodeset='%s'>: per-node pages have no profile key", nodeset);
      if ((kib == 2048 || kib == 1024 * 1024) &&
          accepts("memory", "hugepages", wv_page_size_name(kib), NULL, NULL))
        set(im, "memory", "hugepages", wv_page_size_name(kib));
      else
        note(im, "<hugepages> of %s %s: a profile takes 2M or 1G pages", size ? size : "",
             unit ? unit : "KiB");
    } else if ((wv_xml_is_element(c, "source") && prop_is(c, "type", "memfd")) ||
               (wv_xml_is_element(c, "access") && prop_is(c, "mode", "shared"))) {
      if (!im->has_shares)
        note_unknown(im, c, "<memoryBacking>");
    } else {
      note_unknown(im, c, "<memoryBacking>");
    }
  }
}

/* ---- [hyperv] and the other features --------------------------------------- */

static void
do_hyperv(Import *im, xmlNode *node)
{
  g_autofree char *mode = prop(node, "mode");
  g_autoptr(GString) list = g_string_new(NULL);
  guint set_bits = 0;

  set(im, "hyperv", "enlightenments", "none"); /* first in its group; the list below */
  if (mode && g_str_equal(mode, "passthrough")) {
    set(im, "hyperv", "enlightenments", "auto");
    note(im, "<hyperv mode='passthrough'>: carried as enlightenments = auto (what winvm turns on "
             "and the host provides)");
    return;
  }
  for (xmlNode *c = node->children; c; c = c->next) {
    g_autofree char *state = NULL;
    gint f = -1;

    if (c->type != XML_ELEMENT_NODE)
      continue;
    state = prop(c, "state");
    if (wv_xml_is_element(c, "vendor_id")) {
      g_autofree char *value = prop(c, "value");
      if (g_strcmp0(state, "on") != 0)
        continue;
      if (accepts("hyperv", "vendor-id", value, NULL, NULL))
        set(im, "hyperv", "vendor-id", value);
      else
        note(im, "<vendor_id value='%s'>: a profile's vendor id is 1 to 12 letters, digits, _ or -",
             value ? value : "");
      continue;
    }
    for (guint i = 0; i < WV_HV_N_FEATURES; i++)
      if (i != WV_HV_STIMER_DIRECT && g_str_equal(name_of(c), wv_hyperv_feature_name(i)))
        f = (gint)i;
    if (f < 0) {
      note_unknown(im, c, "<hyperv>");
      continue;
    }
    if (g_strcmp0(state, "on") != 0)
      continue;
    set_bits |= 1u << f;
    if (f == WV_HV_SPINLOCKS) {
      g_autofree char *retries = prop(c, "retries");
      if (retries && accepts("hyperv", "spinlocks", retries, NULL, NULL))
        set(im, "hyperv", "spinlocks", retries);
      else if (retries)
        note(im, "<spinlocks retries='%s'>: a profile takes at least 4095; 8191 is used", retries);
    }
    for (xmlNode *d = c->children; d; d = d->next) {
      if (d->type != XML_ELEMENT_NODE)
        continue;
      if (f == WV_HV_STIMER && wv_xml_is_element(d, "direct")) {
        if (prop_is(d, "state", "on"))
          set_bits |= 1u << WV_HV_STIMER_DIRECT;
      } else {
        g_autofree char *t = tag(c);
        note_unknown(im, d, t);
      }
    }
  }
  for (guint i = 0; i < WV_HV_N_FEATURES; i++)
    if (set_bits & (1u << i))
      g_string_append_printf(list, "%s%s", list->len ? "," : "", wv_hyperv_feature_name(i));
  set(im, "hyperv", "enlightenments", list->len ? list->str : "none");
}

static void
do_features(Import *im, xmlNode *node)
{
  gboolean hyperv = FALSE;

  for (xmlNode *c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (wv_xml_is_element(c, "acpi") || wv_xml_is_element(c, "apic") ||
        wv_xml_is_element(c, "pae")) {
      continue; /* always there on x86_64 */
    } else if (wv_xml_is_element(c, "hyperv")) {
      do_hyperv(im, c);
      hyperv = TRUE;
    } else if (wv_xml_is_element(c, "kvm")) {
      for (xmlNode *k = c->children; k; k = k->next) {
        if (k->type != XML_ELEMENT_NODE)
          continue;
        if (wv_xml_is_element(k, "hidden"))
          set(im, "hyperv", "kvm-hidden", prop_is(k, "state", "on") ? "true" : "false");
        else
          note_unknown(im, k, "<kvm>");
      }
    } else if (wv_xml_is_element(c, "vmport")) {
      if (!prop_is(c, "state", "off"))
        note(im, "<vmport state='on'>: winvm always turns vmport off");
    } else if (wv_xml_is_element(c, "smm")) {
      if (prop_is(c, "state", "on") && !im->secure_boot)
        note(im, "<smm state='on'>: winvm turns SMM on for secure boot only");
    } else {
      note_unknown(im, c, "<features>");
    }
  }
  if (!hyperv)
    set(im, "hyperv", "enlightenments", "none");
}

/* ---- [vm] machine and [firmware] --------------------------------------------- */

static void
do_os(Import *im, xmlNode *node)
{
  for (xmlNode *c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (wv_xml_is_element(c, "type")) {
      g_autofree char *machine = prop(c, "machine");
      g_autofree char *arch = prop(c, "arch");

      if (arch && !g_str_equal(arch, "x86_64"))
        note(im, "<type arch='%s'>: winvm runs x86_64 guests", arch);
      if (machine == NULL)
        continue;
      if (accepts("vm", "machine", machine, NULL, NULL))
        set(im, "vm", "machine", machine);
      else
        note(im,
             "<type machine='%s'>: not a machine type a profile takes (q35, i440fx, "
             "pc-q35-X.Y, pc-i440fx-X.Y); the template's q35 is used",
             machine);
    } else if (wv_xml_is_element(c, "loader")) {
      g_autofree char *path = text_of(c);
      if (path)
        note(im,
             "<loader> %s: winvm lets libvirt pick the firmware build (type = %s, "
             "secure-boot = %s are carried)",
             path, im->efi ? "ovmf" : "bios", im->secure_boot ? "true" : "false");
    } else if (wv_xml_is_element(c, "nvram")) {
      g_autofree char *path = text_of(c);
      g_autofree char *template = prop(c, "template");
      xmlNode *src = wv_xml_find_child(c, "source");

      if (path == NULL && src)
        path = prop(src, "file");
      if (template)
        note(im, "<nvram template='%s'>: libvirt picks the variable store template", template);
      if (path && im->efi && accepts("firmware", "nvram", path, NULL, NULL))
        im->nvram = g_steal_pointer(&path);
      else if (path)
        note(im, "<nvram> %s: not a path a profile takes", path);
    } else if (wv_xml_is_element(c, "boot")) {
      g_autofree char *dev = prop(c, "dev");
      if (dev)
        g_ptr_array_add(im->boot_devs, g_steal_pointer(&dev));
    } else if (wv_xml_is_element(c, "firmware")) {
      continue; /* secure boot: read before */
    } else {
      note_unknown(im, c, "<os>");
    }
  }
}

/* Firmware facts the template choice and [firmware] need, before the walk. */
static void
read_firmware(Import *im, xmlNode *dom)
{
  xmlNode *os = wv_xml_find_child(dom, "os");
  xmlNode *loader = os ? wv_xml_find_child(os, "loader") : NULL;
  xmlNode *type = os ? wv_xml_find_child(os, "type") : NULL;
  xmlNode *fw = os ? wv_xml_find_child(os, "firmware") : NULL;
  g_autofree char *firmware = os ? prop(os, "firmware") : NULL;
  g_autofree char *machine = type ? prop(type, "machine") : NULL;
  g_autofree char *path = loader ? text_of(loader) : NULL;
  xmlNode *tpm = im->devices ? wv_xml_find_child(im->devices, "tpm") : NULL;
  xmlNode *backend = tpm ? wv_xml_find_child(tpm, "backend") : NULL;

  im->efi = g_strcmp0(firmware, "efi") == 0 || (loader && prop_is(loader, "type", "pflash")) ||
            (path && (strstr(path, "OVMF") || strstr(path, "edk2") || strstr(path, "ovmf")));
  im->secure_boot = loader && prop_is(loader, "secure", "yes");
  for (xmlNode *f = fw ? fw->children : NULL; f; f = f->next)
    if (wv_xml_is_element(f, "feature") && prop_is(f, "name", "secure-boot") &&
        prop_is(f, "enabled", "yes"))
      im->secure_boot = TRUE;
  im->secure_boot &= im->efi;
  im->q35 = machine == NULL || strstr(machine, "q35") != NULL;
  if (!im->q35 && im->secure_boot) {
    note(im, "secure boot on machine %s: libvirt boots securely on q35 only; carried without",
         machine);
    im->secure_boot = FALSE;
  }
  im->tpm = backend && prop_is(backend, "type", "emulator");
  /* the closest template: Windows 11 wants secure boot and a TPM */
  im->template_name = im->efi && (im->secure_boot || im->tpm) ? "windows11" : "windows10";
}

static void
write_firmware(Import *im)
{
  set(im, "firmware", "type", im->efi ? "ovmf" : "bios");
  if (im->efi)
    set(im, "firmware", "secure-boot", im->secure_boot ? "true" : "false");
  set(im, "firmware", "tpm", im->tpm ? "true" : "false");
  if (im->nvram)
    set(im, "firmware", "nvram", im->nvram);
}

/* ---- [clock], lifecycle, power management ----------------------------------- */

static void
do_clock(Import *im, xmlNode *node)
{
  static const char *const timers[] = {
      "platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock", NULL,
  };
  g_autofree char *offset = prop(node, "offset");
  g_autoptr(GString) list = g_string_new(NULL);

  if (offset && (g_str_equal(offset, "localtime") || g_str_equal(offset, "utc")))
    set(im, "clock", "offset", offset);
  else if (offset)
    note(im, "<clock offset='%s'>: a profile says localtime or utc; the template's is used",
         offset);
  if (xmlHasProp(node, BAD_CAST "adjustment") || xmlHasProp(node, BAD_CAST "timezone"))
    note(im, "<clock> adjustment or timezone: no profile key");

  for (xmlNode *c = node->children; c; c = c->next) {
    g_autofree char *name = NULL, *present = NULL, *tickpolicy = NULL;
    gboolean known = FALSE;

    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (!wv_xml_is_element(c, "timer")) {
      note_unknown(im, c, "<clock>");
      continue;
    }
    name = prop(c, "name");
    present = prop(c, "present");
    tickpolicy = prop(c, "tickpolicy");
    for (guint i = 0; timers[i] && name; i++)
      known |= g_str_equal(name, timers[i]);
    if (!known) {
      note_unknown(im, c, "<clock>");
      continue;
    }
    if (present)
      g_string_append_printf(list, "%s%s%s", list->len ? "," : "",
                             g_str_equal(present, "no") ? "-" : "+", name);
    /* the Windows templates say rtc catchup and pit delay */
    if (tickpolicy && !(g_str_equal(name, "rtc") && g_str_equal(tickpolicy, "catchup")) &&
        !(g_str_equal(name, "pit") && g_str_equal(tickpolicy, "delay")))
      note(im, "<timer name='%s' tickpolicy='%s'>: no profile key for a tick policy", name,
           tickpolicy);
    for (xmlAttr *a = c->properties; a; a = a->next)
      if (!g_str_equal((const char *)a->name, "name") &&
          !g_str_equal((const char *)a->name, "present") &&
          !g_str_equal((const char *)a->name, "tickpolicy"))
        note(im, "<timer name='%s' %s=…>: no profile key", name, (const char *)a->name);
    if (wv_xml_find_child(c, NULL))
      note(im, "<timer name='%s'><catchup>: no profile key", name);
  }
  if (list->len > 0) {
    if (accepts("clock", "timers", list->str, NULL, NULL))
      set(im, "clock", "timers", list->str);
    else
      note(im, "<clock> timers %s: a timer is named twice", list->str);
  }
}

static void
do_lifecycle(Import *im, xmlNode *node)
{
  /* what the Windows templates say */
  const char *expected = g_str_equal(name_of(node), "on_reboot") ? "restart" : "destroy";
  g_autofree char *v = text_of(node);

  if (g_strcmp0(v, expected) != 0)
    note(im, "<%s>%s</%s>: no profile key (winvm's is %s)", name_of(node), v ? v : "",
         name_of(node), expected);
}

static void
do_pm(Import *im, xmlNode *node)
{
  for (xmlNode *c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && prop_is(c, "enabled", "yes"))
      note(im, "<pm><%s enabled='yes'>: winvm turns guest suspend off", name_of(c));
}

/* ---- devices: disks -------------------------------------------------------- */

static void
note_pci_address(Import *im, xmlNode *node)
{
  xmlNode *addr = wv_xml_find_child(node, "address");

  if (addr && prop_is(addr, "type", "pci"))
    im->pci_addresses = TRUE;
}

static gboolean
take_boot(Import *im, xmlNode *node, const char *group, const char *what)
{
  xmlNode *boot = wv_xml_find_child(node, "boot");
  g_autofree char *order = boot ? prop(boot, "order") : NULL;
  guint64 n;

  if (order == NULL)
    return FALSE;
  if (!parse_number(order, 64, &n) || n < 1 || (n < 32 && (im->boot_orders_seen & (1u << n)))) {
    note(im, "%s <boot order='%s'>: not a boot order a profile takes (1 to 64, once each)", what,
         order);
    return FALSE;
  }
  if (n < 32)
    im->boot_orders_seen |= 1u << n;
  set(im, group, "boot", order);
  im->device_boot = TRUE;
  return TRUE;
}

static void
do_cdrom(Import *im, xmlNode *node, const char *dev, const char *bus)
{
  g_autofree char *group = new_group(im, "cdrom:", dev, "cdrom");
  g_autofree char *type = prop(node, "type");
  xmlNode *src = wv_xml_find_child(node, "source");
  g_autofree char *file = src ? prop(src, "file") : NULL;
  g_autofree char *what = g_strdup_printf("cdrom %s", dev ? dev : "");

  if (src && g_strcmp0(type ? type : "file", "file") != 0) {
    g_autofree char *t = tag(src);
    note(im, "%s %s (type %s): a profile's CD-ROM holds an ISO file; carried as an empty drive",
         what, t, type);
  } else if (file && accepts(group, "source", file, NULL, NULL)) {
    set(im, group, "source", file);
  } else if (file) {
    note(im, "%s %s: not a path a profile takes; carried as an empty drive", what, file);
  }
  if (!g_key_file_has_group(im->kf, group))
    set(im, group, "source", ""); /* an empty drive: the group alone */
  if (bus && !g_str_equal(bus, "sata"))
    note(im, "%s on bus %s: a profile's CD-ROMs are SATA", what, bus);
  take_boot(im, node, group, what);
  if (im->first_cdrom == NULL)
    im->first_cdrom = g_strdup(group);
}

/* The <driver> of a disk: format, cache, io, discard, its I/O thread. */
static void
disk_driver(Import *im, xmlNode *driver, const char *group, const char *what, gboolean virtio)
{
  static const char *const carried[] = {"cache", "io", "discard", NULL};

  for (xmlAttr *a = driver->properties; a; a = a->next) {
    const char *name = (const char *)a->name;
    g_autofree char *v = prop(driver, name);

    if (g_str_equal(name, "name")) {
      if (!g_str_equal(v, "qemu"))
        note(im, "%s <driver name='%s'>: winvm's disks are QEMU's", what, v);
    } else if (g_str_equal(name, "type")) {
      continue; /* the format, read with the source */
    } else if (g_strv_contains(carried, name)) {
      if (accepts(group, name, v, "source", "/x"))
        set(im, group, name, v);
      else
        note(im, "%s <driver %s='%s'>: not a value a profile takes", what, name, v);
    } else if (g_str_equal(name, "iothread")) {
      /* winvm spreads virtio disks over the I/O threads in turn */
      gint i = iothread_index(im, v);
      if (!virtio || im->iothreads == 0 || i != (gint)((im->n_virtio_disks - 1) % im->iothreads))
        note(im,
             "%s <driver iothread='%s'>: winvm gives virtio disks the I/O threads in turn; "
             "this disk gets another",
             what, v);
    } else if (g_str_equal(name, "detect_zeroes")) {
      note(im, "%s <driver detect_zeroes='%s'>: no profile key", what, v);
    } else {
      note(im, "%s <driver %s='%s'>: no profile key", what, name, v);
    }
  }
  if (wv_xml_find_child(driver, NULL))
    note(im, "%s <driver> queue and retry settings: no profile key", what);
}

static void
do_disk(Import *im, xmlNode *node)
{
  g_autofree char *device = prop(node, "device");
  g_autofree char *type = prop(node, "type");
  xmlNode *target = wv_xml_find_child(node, "target");
  xmlNode *src = wv_xml_find_child(node, "source");
  xmlNode *driver = wv_xml_find_child(node, "driver");
  g_autofree char *dev = target ? prop(target, "dev") : NULL;
  g_autofree char *bus = target ? prop(target, "bus") : NULL;
  g_autofree char *format = driver ? prop(driver, "type") : NULL;
  g_autofree char *what = g_strdup_printf("disk %s", dev ? dev : "");
  g_autofree char *path = NULL;
  g_autofree char *group = NULL;
  const char *profile_bus;

  note_pci_address(im, node);
  if (device == NULL)
    device = g_strdup("disk");
  if (g_str_equal(device, "cdrom")) {
    do_cdrom(im, node, dev, bus);
    return;
  }
  if (!g_str_equal(device, "disk")) {
    note(im, "%s (device='%s'): a profile's disks are disks and CD-ROMs", what, device);
    return;
  }
  if (type == NULL)
    type = g_strdup("file");
  if (g_str_equal(type, "file") && src)
    path = prop(src, "file");
  else if (g_str_equal(type, "block") && src)
    path = prop(src, "dev");
  if (g_str_equal(type, "volume") && src) {
    g_autofree char *pool = prop(src, "pool"), *volume = prop(src, "volume");
    note(im,
         "%s: volume %s of storage pool %s: a profile names disks by path (`virsh vol-path "
         "--pool %s %s` prints it)",
         what, volume ? volume : "", pool ? pool : "", pool ? pool : "", volume ? volume : "");
    return;
  }
  if (path == NULL) {
    note(im, "%s (type='%s'): no file or block device; a profile's disks are one of those", what,
         type);
    return;
  }
  /* a profile says block or file by the path: under /dev/ is a device */
  if (g_str_has_prefix(path, "/dev/") != g_str_equal(type, "block")) {
    note(im, "%s %s: a %s under %s; a profile takes block devices below /dev only", what, path,
         g_str_equal(type, "block") ? "block device" : "file",
         g_str_equal(type, "block") ? "another directory" : "/dev");
    return;
  }
  if (format && !g_str_equal(format, "raw") && !g_str_equal(format, "qcow2")) {
    note(im, "%s %s: format %s; a profile's disks are raw or qcow2", what, path, format);
    return;
  }
  group = new_group(im, "disk:", dev, "disk");
  if (!accepts(group, "source", path, NULL, NULL)) {
    note(im, "%s %s: not a path a profile takes", what, path);
    g_hash_table_remove(im->groups, group);
    return;
  }
  set(im, group, "source", path);
  if (format)
    set(im, group, "format", format);

  if (g_strcmp0(bus, "virtio") == 0 || bus == NULL) {
    profile_bus = "virtio";
    im->n_virtio_disks++;
  } else if (g_str_equal(bus, "scsi")) {
    profile_bus = "virtio-scsi";
  } else if (g_str_equal(bus, "sata")) {
    profile_bus = "sata";
  } else {
    profile_bus = "sata";
    note(im, "%s on bus %s: a profile's buses are virtio, virtio-scsi and sata; carried as sata",
         what, bus);
  }
  set(im, group, "bus", profile_bus);
  if (driver)
    disk_driver(im, driver, group, what, g_str_equal(profile_bus, "virtio"));
  take_boot(im, node, group, what);
  if (im->first_disk == NULL)
    im->first_disk = g_strdup(group);

  for (xmlNode *c = node->children; c; c = c->next) {
    static const char *const taken[] = {"driver", "source",  "target",       "boot",
                                        "alias",  "address", "backingStore", NULL};
    if (c->type == XML_ELEMENT_NODE && !g_strv_contains(taken, name_of(c)))
      note_unknown(im, c, what);
  }
}

/* ---- devices: NICs, host devices, shares, inputs ------------------------------ */

static void
do_interface(Import *im, xmlNode *node)
{
  g_autofree char *type = prop(node, "type");
  xmlNode *src = wv_xml_find_child(node, "source");
  xmlNode *mac = wv_xml_find_child(node, "mac");
  xmlNode *model = wv_xml_find_child(node, "model");
  g_autofree char *address = mac ? prop(mac, "address") : NULL;
  g_autofree char *source = NULL, *model_type = model ? prop(model, "type") : NULL;
  g_autofree char *what = g_strdup_printf("interface %s", address ? address : "");
  g_autofree char *group = NULL;

  note_pci_address(im, node);
  if (g_strcmp0(type, "bridge") == 0 && src)
    source = prop(src, "bridge");
  else if (g_strcmp0(type, "network") == 0 && src)
    source = prop(src, "network");
  if (g_strcmp0(type, "direct") == 0) {
    g_autofree char *dev = src ? prop(src, "dev") : NULL;
    note(im, "<interface type='direct'> (macvtap on %s): no profile key; use a bridge",
         dev ? dev : "?");
    return;
  }
  if (g_strcmp0(type, "user") != 0 && source == NULL) {
    note(im,
         "<interface type='%s'>: a profile's NICs are on a bridge, a libvirt network or user "
         "networking",
         type ? type : "");
    return;
  }
  group = new_group(im, "network:", source, "net");
  if (source && !accepts(group, "source", source, "type", type)) {
    note(im, "%s: %s %s is not a name a profile takes", what, type, source);
    g_hash_table_remove(im->groups, group);
    return;
  }
  set(im, group, "type", type);
  if (source)
    set(im, group, "source", source);
  if (model_type && accepts(group, "model", model_type, "type", "user"))
    set(im, group, "model", model_type);
  else if (model_type)
    note(im, "%s <model type='%s'>: not a model name a profile takes; virtio is used", what,
         model_type);
  if (address && accepts(group, "mac", address, "type", "user"))
    set(im, group, "mac", address);
  else if (address)
    note(im, "<mac address='%s'>: not a unicast MAC address; libvirt makes one", address);

  if (src && src->properties && src->properties->next)
    note(im, "%s <source> portgroup or other settings: no profile key", what);
  for (xmlNode *c = node->children; c; c = c->next) {
    static const char *const taken[] = {"source", "mac",     "model", "target",
                                        "alias",  "address", NULL};
    if (c->type == XML_ELEMENT_NODE && !g_strv_contains(taken, name_of(c)))
      note_unknown(im, c, what);
  }
}

static gboolean
pci_address_of(xmlNode *addr, WvPciAddress *out)
{
  const char *attrs[] = {"domain", "bus", "slot", "function"};
  const guint64 max[] = {0xffff, 0xff, 0x1f, 7};
  guint64 v[4];

  for (guint i = 0; i < 4; i++) {
    g_autofree char *s = prop(addr, attrs[i]);
    if (s == NULL && i == 0)
      s = g_strdup("0");
    if (!parse_number(s, max[i], &v[i]))
      return FALSE;
  }
  *out = (WvPciAddress){(guint)v[0], (guint)v[1], (guint)v[2], (guint)v[3]};
  return TRUE;
}

static void
do_hostdev(Import *im, xmlNode *node)
{
  g_autofree char *mode = prop(node, "mode");
  g_autofree char *type = prop(node, "type");
  g_autofree char *managed = prop(node, "managed");
  xmlNode *src = wv_xml_find_child(node, "source");

  if (g_strcmp0(mode ? mode : "subsystem", "subsystem") != 0 || src == NULL ||
      (g_strcmp0(type, "pci") != 0 && g_strcmp0(type, "usb") != 0)) {
    g_autofree char *t = tag(node);
    note(im, "%s: a profile hands over PCI and USB devices only", t);
    return;
  }
  if (g_str_equal(type, "pci")) {
    xmlNode *addr = wv_xml_find_child(src, "address");
    xmlNode *driver = wv_xml_find_child(node, "driver");
    xmlNode *rom = wv_xml_find_child(node, "rom");
    PciFunction *f = g_new0(PciFunction, 1);
    g_autofree char *name = NULL;

    if (addr == NULL || !pci_address_of(addr, &f->a)) {
      note(im, "<hostdev type='pci'>: no PCI address a profile takes");
      pci_function_free(f);
      return;
    }
    name = wv_pci_address_to_string(&f->a);
    if (rom) {
      g_autofree char *bar = prop(rom, "bar");
      f->rom = prop(rom, "file");
      if (bar || xmlHasProp(rom, BAD_CAST "enabled"))
        note(im, "hostdev %s <rom bar/enabled>: no profile key", name);
    }
    if (driver && !prop_is(driver, "name", "vfio"))
      note(im, "hostdev %s: winvm hands devices over with VFIO", name);
    if (g_strcmp0(managed, "yes") != 0)
      note(im, "hostdev %s managed='no': winvm lets libvirt bind the device to vfio-pci (managed)",
           name);
    g_ptr_array_add(im->pci, f);
  } else {
    xmlNode *vendor = wv_xml_find_child(src, "vendor");
    xmlNode *product = wv_xml_find_child(src, "product");
    g_autofree char *v = vendor ? prop(vendor, "id") : NULL;
    g_autofree char *p = product ? prop(product, "id") : NULL;
    guint64 vn, pn;
    g_autofree char *id = NULL, *hint = NULL, *group = NULL;

    if (!parse_number(v, 0xffff, &vn) || !parse_number(p, 0xffff, &pn)) {
      note(im, "<hostdev type='usb'> by bus and device number: a profile names USB devices by "
               "vendor:product");
      return;
    }
    id = g_strdup_printf("%04x:%04x", (guint)vn, (guint)pn);
    if (group_with(im, "usb:", "device", id)) {
      note(im, "USB device %s twice: a profile hands each vendor:product over once", id);
      return;
    }
    hint = g_strdup_printf("usb-%04x-%04x", (guint)vn, (guint)pn);
    group = new_group(im, "usb:", hint, "usb");
    set(im, group, "device", id);
    if (wv_xml_find_child(src, "address") || xmlHasProp(src, BAD_CAST "startupPolicy"))
      note(im, "USB device %s: its bus address and startup policy are not carried", id);
  }
}

/* PCI functions of one device become one [hostdev:ID], as the renderer
 * puts them in one guest slot. */
static void
write_hostdevs(Import *im)
{
  g_autoptr(GHashTable) done = g_hash_table_new(g_direct_hash, g_direct_equal);

  for (guint i = 0; i < im->pci->len; i++) {
    PciFunction *f = im->pci->pdata[i];
    g_autoptr(GString) list = g_string_new(NULL);
    g_autofree char *hint = NULL, *group = NULL, *rom = NULL;

    if (g_hash_table_contains(done, f))
      continue;
    hint = f->a.domain ? g_strdup_printf("pci-%04x-%02x-%02x", f->a.domain, f->a.bus, f->a.slot)
                       : g_strdup_printf("pci-%02x-%02x", f->a.bus, f->a.slot);
    group = new_group(im, "hostdev:", hint, "pci");
    for (guint j = i; j < im->pci->len; j++) {
      PciFunction *g = im->pci->pdata[j];
      g_autofree char *a = NULL;

      if (g->a.domain != f->a.domain || g->a.bus != f->a.bus || g->a.slot != f->a.slot)
        continue;
      g_hash_table_add(done, g);
      a = wv_pci_address_to_string(&g->a);
      if (strstr(list->str, a)) {
        note(im, "hostdev %s twice: a device is handed over once", a);
        continue;
      }
      g_string_append_printf(list, "%s%s", list->len ? "," : "", a);
      if (g->rom && j == i && accepts(group, "rom", g->rom, "pci", a))
        rom = g_strdup(g->rom);
      else if (g->rom)
        note(im,
             "hostdev %s <rom file='%s'>: a profile gives a ROM file to the device's first "
             "function only, as a path it takes",
             a, g->rom);
    }
    set(im, group, "pci", list->str);
    if (rom)
      set(im, group, "rom", rom);
  }
}

static void
do_filesystem(Import *im, xmlNode *node)
{
  xmlNode *driver = wv_xml_find_child(node, "driver");
  xmlNode *src = wv_xml_find_child(node, "source");
  xmlNode *target = wv_xml_find_child(node, "target");
  g_autofree char *dir = src ? prop(src, "dir") : NULL;
  g_autofree char *tag_name = target ? prop(target, "dir") : NULL;
  g_autofree char *group = NULL;

  if (driver == NULL || !prop_is(driver, "type", "virtiofs") || dir == NULL || tag_name == NULL) {
    g_autofree char *t = tag(node);
    note(im, "%s: a profile shares directories with virtiofs only", t);
    return;
  }
  group = new_group(im, "share:", tag_name, "share");
  if (!accepts(group, "source", dir, "tag", tag_name)) {
    note(im, "<filesystem> %s (tag %s): not a path and tag a profile takes", dir, tag_name);
    return;
  }
  set(im, group, "source", dir);
  set(im, group, "tag", tag_name);
}

static void
do_input(Import *im, xmlNode *node)
{
  g_autofree char *type = prop(node, "type");
  g_autofree char *bus = prop(node, "bus");

  if (g_strcmp0(type, "evdev") == 0) {
    xmlNode *src = wv_xml_find_child(node, "source");
    g_autofree char *dev = src ? prop(src, "dev") : NULL;
    g_autofree char *grab = src ? prop(src, "grab") : NULL;
    g_autofree char *toggle = src ? prop(src, "grabToggle") : NULL;
    g_autofree char *repeat = src ? prop(src, "repeat") : NULL;
    const char *hint = dev && g_str_has_suffix(dev, "-kbd")     ? "keyboard"
                       : dev && g_str_has_suffix(dev, "-mouse") ? "mouse"
                                                                : NULL;
    g_autofree char *group = new_group(im, "input:", hint, "input");

    if (!accepts(group, "evdev", dev, NULL, NULL)) {
      note(im, "<input type='evdev'> %s: not an input device below /dev/input a profile takes",
           dev ? dev : "");
      return;
    }
    if (group_with(im, "input:", "evdev", dev)) {
      note(im, "<input type='evdev'> %s twice: a profile hands a device over once", dev);
      return;
    }
    set(im, group, "evdev", dev);
    if (g_strcmp0(grab, "all") == 0)
      set(im, group, "grab", "all");
    if (toggle && accepts(group, "grab-toggle", toggle, "evdev", dev))
      set(im, group, "grab-toggle", toggle);
    else if (toggle)
      note(im, "evdev %s grabToggle='%s': not a toggle a profile takes", dev, toggle);
    if (repeat)
      set(im, group, "repeat", g_str_equal(repeat, "on") ? "true" : "false");
    return;
  }
  /* what every template (or libvirt itself) has */
  if ((g_strcmp0(type, "tablet") == 0 && g_strcmp0(bus, "usb") == 0) ||
      ((g_strcmp0(type, "mouse") == 0 || g_strcmp0(type, "keyboard") == 0) &&
       (bus == NULL || g_str_equal(bus, "ps2"))) ||
      ((g_strcmp0(type, "mouse") == 0 || g_strcmp0(type, "keyboard") == 0) &&
       g_strcmp0(bus, "virtio") == 0 && g_str_equal(im->template_name, "windows11")))
    return;
  note_unknown(im, node, NULL);
}

/* ---- devices: display, sound, the rest ---------------------------------------- */

static gboolean
is_local(const char *address)
{
  return address == NULL || g_str_equal(address, "127.0.0.1") ||
         g_str_equal(address, "localhost") || g_str_equal(address, "::1");
}

static void
do_graphics(Import *im, xmlNode *node)
{
  g_autofree char *type = prop(node, "type");
  g_autofree char *listen = prop(node, "listen");

  if (im->graphics) {
    g_autofree char *t = tag(node);
    note(im, "%s: a profile has one display", t);
    return;
  }
  if (g_strcmp0(type, "spice") != 0 && g_strcmp0(type, "vnc") != 0) {
    note(im, "<graphics type='%s'>: a profile's displays are spice and vnc", type ? type : "");
    return;
  }
  im->graphics = g_strdup(type);
  set(im, "graphics", "type", type);
  if (!is_local(listen))
    note(im, "<graphics listen='%s'>: winvm's displays listen on 127.0.0.1 only", listen);
  for (xmlAttr *a = node->properties; a; a = a->next) {
    const char *n = (const char *)a->name;
    if (g_str_equal(n, "passwd"))
      note(im, "<graphics passwd=…>: a display password has no profile key");
    else if (!g_str_equal(n, "type") && !g_str_equal(n, "autoport") && !g_str_equal(n, "listen") &&
             !(g_str_equal(n, "port") && prop_is(node, "autoport", "yes")) &&
             !(g_str_equal(n, "port") && prop_is(node, "port", "-1")))
      note(im, "<graphics %s=…>: no profile key (winvm picks the port itself)", n);
  }
  for (xmlNode *c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE)
      continue;
    if (wv_xml_is_element(c, "listen")) {
      g_autofree char *address = prop(c, "address");
      g_autofree char *ltype = prop(c, "type");
      if (g_strcmp0(ltype, "address") != 0 || !is_local(address)) {
        g_autofree char *t = tag(c);
        note(im, "<graphics>%s: winvm's displays listen on 127.0.0.1 only", t);
      }
    } else {
      note_unknown(im, c, "<graphics>");
    }
  }
}

static void
do_video(Import *im, xmlNode *node)
{
  static const char *const models[] = {"none",  "virtio", "qxl",   "vga",
                                       "vmvga", "bochs",  "ramfb", NULL};
  xmlNode *model = wv_xml_find_child(node, "model");
  g_autofree char *type = model ? prop(model, "type") : NULL;
  g_autofree char *vram = model ? prop(model, "vram") : NULL;

  note_pci_address(im, node);
  if (g_key_file_has_key(im->kf, "video", "model", NULL)) {
    note(im, "<video> %s: a profile has one video device", type ? type : "");
    return;
  }
  if (type == NULL || !g_strv_contains(models, type)) {
    note(im, "<video><model type='%s'>: not a model a profile takes; the template's is used",
         type ? type : "");
    return;
  }
  set(im, "video", "model", type);
  if (vram && (g_str_equal(type, "qxl") || g_str_equal(type, "vga") || g_str_equal(type, "vmvga") ||
               g_str_equal(type, "bochs"))) {
    guint64 kib;
    g_autofree char *size = NULL;

    if (to_kib(vram, NULL, "KiB", &kib) && (size = size_text(kib)) &&
        accepts("video", "vram", size, "model", type))
      set(im, "video", "vram", size);
    else
      note(im, "<video><model vram='%s'>: a profile's VRAM is a power of two from 1MiB to 512MiB",
           vram);
  }
  for (xmlAttr *a = model->properties; a; a = a->next) {
    const char *n = (const char *)a->name;
    g_autofree char *v = prop(model, n);

    /* libvirt's defaults, as dumpxml writes them */
    if (g_str_equal(n, "type") || g_str_equal(n, "vram") || g_str_equal(n, "primary") ||
        (g_str_equal(n, "heads") && g_str_equal(v, "1")) ||
        (g_str_equal(n, "ram") && g_str_equal(v, "65536")) ||
        (g_str_equal(n, "vgamem") && g_str_equal(v, "16384")))
      continue;
    note(im, "<video><model %s='%s'>: no profile key", n, v);
  }
  if (wv_xml_find_child(model, NULL))
    note(im, "<video><model><acceleration>: no profile key");
}

/* The <audio> a sound card plays through: its own link, or the only one. */
static xmlNode *
audio_of(Import *im, xmlNode *sound)
{
  xmlNode *link = wv_xml_find_child(sound, "audio");
  g_autofree char *id = link ? prop(link, "id") : NULL;
  xmlNode *only = NULL;
  guint n = 0;

  for (xmlNode *c = im->devices->children; c; c = c->next) {
    if (!wv_xml_is_element(c, "audio"))
      continue;
    if (id && prop_is(c, "id", id))
      return c;
    only = c;
    n++;
  }
  return id == NULL && n == 1 ? only : NULL;
}

static void
do_sound(Import *im, xmlNode *node)
{
  g_autofree char *model = prop(node, "model");
  const char *profile_model = g_strcmp0(model, "ich9") == 0   ? "ich9"
                              : g_strcmp0(model, "ich6") == 0 ? "hda"
                              : g_strcmp0(model, "ac97") == 0 ? "ac97"
                                                              : NULL;
  xmlNode *codec = wv_xml_find_child(node, "codec");
  xmlNode *audio;

  note_pci_address(im, node);
  if (g_key_file_has_key(im->kf, "sound", "model", NULL)) {
    note(im, "<sound model='%s'>: a profile has one sound card", model ? model : "");
    return;
  }
  if (profile_model == NULL) {
    note(im, "<sound model='%s'>: a profile's cards are ich9, hda (ich6) and ac97",
         model ? model : "");
    return;
  }
  set(im, "sound", "model", profile_model);
  if (codec) {
    g_autofree char *type = prop(codec, "type");
    if (accepts("sound", "codec", type, "model", profile_model))
      set(im, "sound", "codec", type);
    else
      note(im, "<sound><codec type='%s'>: not a codec a profile takes", type ? type : "");
  }
  audio = audio_of(im, node);
  if (audio) {
    g_autofree char *type = prop(audio, "type");

    if (g_strcmp0(type, "pulseaudio") != 0 && g_strcmp0(type, "pipewire") != 0 &&
        g_strcmp0(type, "spice") != 0 && g_strcmp0(type, "none") != 0)
      note(im, "<audio type='%s'>: a profile plays through pulseaudio, pipewire, spice or none",
           type ? type : "");
    else if (g_str_equal(type, "spice") && g_strcmp0(im->graphics, "spice") != 0)
      note(im, "<audio type='spice'>: needs a SPICE display");
    else
      set(im, "sound", "backend", type);
    if (wv_xml_find_child(audio, NULL) ||
        (audio->properties && audio->properties->next && audio->properties->next->next))
      note(im, "<audio type='%s'> settings: no profile key", type ? type : "");
  }
}

static void
do_audio(Import *im, xmlNode *node)
{
  /* read with its sound card; one without a card plays nothing */
  if (wv_xml_find_child(im->devices, "sound") == NULL) {
    g_autofree char *t = tag(node);
    note(im, "%s without a sound card: nothing to carry", t);
  }
}

static void
do_controller(Import *im, xmlNode *node)
{
  static const char *const implied[] = {"pci", "sata", "ide", "virtio-serial", "fdc", NULL};
  g_autofree char *type = prop(node, "type");
  g_autofree char *model = prop(node, "model");

  if (type && g_strv_contains(implied, type))
    return; /* libvirt adds them as the devices need them */
  if (g_strcmp0(type, "scsi") == 0) {
    xmlNode *driver = wv_xml_find_child(node, "driver");
    g_autofree char *iothread = driver ? prop(driver, "iothread") : NULL;

    if (model && !g_str_equal(model, "virtio-scsi"))
      note(im, "<controller type='scsi' model='%s'>: a profile's SCSI disks are on virtio-scsi",
           model);
    /* winvm gives the virtio-scsi controller the first I/O thread */
    if (driver && (!xmlHasProp(driver, BAD_CAST "iothread") || driver->properties->next ||
                   iothread_index(im, iothread) != 0))
      note(im, "<controller type='scsi'><driver>: queues and I/O thread are winvm's own");
    return;
  }
  if (g_strcmp0(type, "usb") == 0) {
    const char *profile = g_strcmp0(model, "qemu-xhci") == 0          ? "qemu-xhci"
                          : g_strcmp0(model, "nec-xhci") == 0         ? "nec-xhci"
                          : model && g_str_has_suffix(model, "ehci1") ? "ehci"
                          : g_strcmp0(model, "ehci") == 0             ? "ehci"
                          : g_strcmp0(model, "none") == 0             ? "none"
                                                                      : NULL;

    if (model && g_str_has_prefix(model, "ich9-uhci"))
      return; /* the EHCI controller's companions */
    if (g_key_file_has_key(im->kf, "usb", "controller", NULL)) {
      note(im, "<controller type='usb' model='%s'>: a profile has one USB controller",
           model ? model : "");
    } else if (profile) {
      set(im, "usb", "controller", profile);
    } else {
      note(im,
           "<controller type='usb' model='%s'>: a profile's USB controllers are qemu-xhci, "
           "nec-xhci and ehci; the template's is used",
           model ? model : "default");
    }
    return;
  }
  note_unknown(im, node, NULL);
}

static void
do_memballoon(Import *im, xmlNode *node)
{
  g_autofree char *model = prop(node, "model");

  if (g_strcmp0(model, "none") == 0) {
    set(im, "memory", "balloon", "false");
    return;
  }
  note_pci_address(im, node);
  if (g_strcmp0(model, "virtio") == 0)
    set(im, "memory", "balloon", "true");
  else
    note(im, "<memballoon model='%s'>: a profile's balloon is virtio", model ? model : "");
  if (wv_xml_find_child(node, "stats") || xmlHasProp(node, BAD_CAST "autodeflate") ||
      xmlHasProp(node, BAD_CAST "freePageReporting"))
    note(im, "<memballoon> statistics and deflate settings: no profile key");
}

static void
do_tpm(Import *im, xmlNode *node)
{
  g_autofree char *model = prop(node, "model");
  xmlNode *backend = wv_xml_find_child(node, "backend");
  g_autofree char *type = backend ? prop(backend, "type") : NULL;
  g_autofree char *version = backend ? prop(backend, "version") : NULL;

  if (!im->tpm) {
    note(im, "<tpm> with backend %s: a profile's TPM is a TPM 2.0 emulator (swtpm)",
         type ? type : "");
    return;
  }
  if (model && !g_str_equal(model, "tpm-crb"))
    note(im, "<tpm model='%s'>: winvm's TPM is tpm-crb", model);
  if (version && !g_str_equal(version, "2.0"))
    note(im, "<tpm> version %s: winvm's TPM is 2.0", version);
  if (backend && wv_xml_find_child(backend, NULL))
    note(im, "<tpm><backend> state and encryption settings: no profile key");
}

static void
do_shmem(Import *im, xmlNode *node)
{
  static const guint resolutions[][2] = {
      {1024, 768}, {1920, 1080}, {2560, 1440}, {3840, 2160}, {6016, 3384}, {7680, 4320},
  };
  g_autofree char *name = prop(node, "name");
  xmlNode *model = wv_xml_find_child(node, "model");
  xmlNode *size = wv_xml_find_child(node, "size");
  g_autofree char *v = size ? text_of(size) : NULL;
  g_autofree char *unit = size ? prop(size, "unit") : NULL;
  g_autofree char *ours = g_strconcat("looking-glass-", im->name, NULL);
  guint64 kib;

  if (name == NULL || !g_str_has_prefix(name, "looking-glass") || model == NULL ||
      !prop_is(model, "type", "ivshmem-plain") || !to_kib(v, unit, "b", &kib) ||
      g_key_file_has_group(im->kf, "looking-glass")) {
    g_autofree char *t = tag(node);
    note(im, "%s: a profile's shared memory is one Looking Glass device (ivshmem-plain)", t);
    return;
  }
  for (guint i = 0; i < G_N_ELEMENTS(resolutions); i++) {
    if ((guint64)wv_looking_glass_mib(resolutions[i][0], resolutions[i][1]) * 1024 == kib) {
      g_autofree char *res = g_strdup_printf("%ux%u", resolutions[i][0], resolutions[i][1]);
      set(im, "looking-glass", "resolution", res);
      if (!g_str_equal(name, ours))
        note(im,
             "<shmem name='%s'>: winvm names it %s (point the Looking Glass client at "
             "/dev/shm/%s); its %" G_GUINT64_FORMAT " MiB are carried as resolution = %s",
             name, ours, ours, kib / 1024, res);
      return;
    }
  }
  note(im,
       "<shmem name='%s'> of %s %s: a size the Looking Glass formula gives no common "
       "resolution for; set [looking-glass] resolution",
       name, v, unit ? unit : "b");
}

static void
do_channel(Import *im, xmlNode *node)
{
  xmlNode *target = wv_xml_find_child(node, "target");
  g_autofree char *tname = target ? prop(target, "name") : NULL;

  note_pci_address(im, node);
  if (prop_is(node, "type", "spicevmc") && g_strcmp0(im->graphics, "spice") == 0)
    return; /* the templates have it with a SPICE display */
  if (g_strcmp0(tname, WV_GUEST_AGENT_CHANNEL) == 0)
    im->guest_agent = TRUE; /* the Windows templates have it; the socket is libvirt's */
  else
    note_unknown(im, node, NULL);
}

static void
do_rng(Import *im, xmlNode *node)
{
  xmlNode *backend = wv_xml_find_child(node, "backend");
  g_autofree char *source = backend ? text_of(backend) : NULL;

  note_pci_address(im, node);
  /* the templates have a virtio RNG from /dev/urandom */
  if (prop_is(node, "model", "virtio") && backend && prop_is(backend, "model", "random") &&
      g_strcmp0(source, "/dev/urandom") == 0)
    return;
  note_unknown(im, node, NULL);
}

static void
do_emulator(Import *im, xmlNode *node)
{
  static const char *const usual[] = {"/usr/bin/qemu-system-x86_64", "/usr/libexec/qemu-kvm",
                                      "/usr/bin/kvm", "/usr/bin/qemu-kvm", NULL};
  g_autofree char *path = text_of(node);

  if (path && g_strv_contains(usual, path))
    return; /* what libvirt picks by itself */
  note(im,
       "<emulator> %s: winvm runs the emulator libvirt reports (another needs a template with "
       "raw-qemu)",
       path ? path : "");
}

static void
do_serial(Import *im, xmlNode *node)
{
  g_autofree char *type = prop(node, "type");
  note(im, "<%s type='%s'>: a serial console has no profile key", name_of(node), type ? type : "");
}

static void
do_redirdev(Import *im, xmlNode *node)
{
  g_autofree char *type = prop(node, "type");
  note(im,
       "<redirdev type='%s'>: USB redirection has no profile key (hand devices over with "
       "[usb:ID])",
       type ? type : "");
}

static void
do_devices(Import *im, xmlNode *node)
{
  static const Entry table[] = {
      {"emulator", do_emulator},
      {"disk", do_disk},
      {"controller", do_controller},
      {"filesystem", do_filesystem},
      {"interface", do_interface},
      {"hostdev", do_hostdev},
      {"input", do_input},
      {"graphics", do_graphics},
      {"video", do_video},
      {"sound", do_sound},
      {"audio", do_audio},
      {"memballoon", do_memballoon},
      {"tpm", do_tpm},
      {"shmem", do_shmem},
      {"channel", do_channel},
      {"rng", do_rng},
      {"serial", do_serial},
      {"console", do_serial},
      {"redirdev", do_redirdev},
  };

  walk(im, node, table, G_N_ELEMENTS(table), "<devices>");
}

/* After the walk: what a domain without a device says, said explicitly
 * (else the template's would be added). */
static void
write_device_defaults(Import *im)
{
  write_hostdevs(im);
  if (im->graphics == NULL)
    set(im, "graphics", "type", "none");
  if (!g_key_file_has_key(im->kf, "sound", "model", NULL))
    set(im, "sound", "model", "none");
  if (im->devices == NULL || wv_xml_find_child(im->devices, "memballoon") == NULL)
    set(im, "memory", "balloon", "false");
  if (im->pci_addresses)
    note(im, "guest PCI addresses (<address type='pci'>): libvirt assigns them again, so Windows "
             "may find some devices as new hardware once");
}

/* <os><boot dev=...>: the first disk or CD-ROM gets the order, unless
 * devices have their own (a profile has those only). */
static void
write_boot_order(Import *im)
{
  guint order = 0;

  if (im->device_boot || im->boot_devs->len == 0 ||
      (im->boot_devs->len == 1 && g_str_equal(im->boot_devs->pdata[0], "hd")))
    return;
  for (guint i = 0; i < im->boot_devs->len; i++) {
    const char *dev = im->boot_devs->pdata[i];
    const char *group = g_str_equal(dev, "hd")      ? im->first_disk
                        : g_str_equal(dev, "cdrom") ? im->first_cdrom
                                                    : NULL;
    g_autofree char *n = NULL;

    if (group == NULL) {
      note(im, "<boot dev='%s'>: a profile boots disks and CD-ROMs", dev);
      continue;
    }
    if (g_key_file_has_key(im->kf, group, "boot", NULL))
      continue;
    n = g_strdup_printf("%u", ++order);
    set(im, group, "boot", n);
  }
}

/* ---- the domain ------------------------------------------------------------ */

static void
do_nothing(Import *im, xmlNode *node)
{
}

/* Taken out of the walk: handled before it or by the template. */
static const Entry domain_table[] = {
    {"name", do_nothing},
    {"uuid", do_uuid},
    {"metadata", do_metadata},
    {"os", do_os},
    {"memory", do_memory},
    {"currentMemory", do_current_memory},
    {"vcpu", do_vcpu},
    {"cpu", do_cpu},
    {"iothreads", do_iothreads},
    {"iothreadids", do_iothreadids},
    {"cputune", do_cputune},
    {"memoryBacking", do_memory_backing},
    {"features", do_features},
    {"clock", do_clock},
    {"on_poweroff", do_lifecycle},
    {"on_reboot", do_lifecycle},
    {"on_crash", do_lifecycle},
    {"pm", do_pm},
    {"devices", do_devices},
};

/* A name that wv_name_is_valid() takes, from any domain name. */
static char *
valid_name(const char *name)
{
  GString *s = g_string_new(NULL);

  for (const char *p = name; *p && s->len < WV_NAME_MAX; p++) {
    gboolean ok = g_ascii_isalnum(*p) || *p == '_' || ((*p == '.' || *p == '-') && s->len > 0);
    if (ok)
      g_string_append_c(s, *p);
    else if (s->len > 0 && s->str[s->len - 1] != '-')
      g_string_append_c(s, '-');
  }
  if (s->len == 0)
    g_string_append(s, "imported");
  return g_string_free(s, FALSE);
}

static void
import_clear(Import *im)
{
  g_key_file_unref(im->kf);
  g_ptr_array_unref(im->notes);
  g_hash_table_unref(im->groups);
  g_free(im->name);
  g_free(im->nvram);
  g_array_unref(im->iothread_ids);
  g_free(im->first_disk);
  g_free(im->first_cdrom);
  g_ptr_array_unref(im->boot_devs);
  g_ptr_array_unref(im->pci);
  g_free(im->graphics);
}

static gboolean fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
fail(GError **error, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start(ap, fmt);
  msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_ARGS, msg);
  return FALSE;
}

static xmlDoc *
read_domain(const char *xml, GError **error)
{
  gsize len = strlen(xml);
  g_autoptr(xmlDoc) doc = NULL;
  xmlNode *root;

  if (len > WV_IMPORT_MAX_SIZE) {
    fail(error, "the domain XML is larger than %d bytes", WV_IMPORT_MAX_SIZE);
    return NULL;
  }
  /* plain data: no network, no DTD loaded, entities left unexpanded */
  doc = xmlReadMemory(xml, (int)len, NULL, NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL) {
    const xmlError *e = xmlGetLastError();
    /* libxml2 quotes the input, which need not be UTF-8 */
    g_autofree char *why = g_utf8_make_valid(e && e->message ? e->message : "unreadable", -1);
    fail(error, "not an XML document: %s", g_strchomp(why));
    return NULL;
  }
  if (doc->intSubset || doc->extSubset) {
    fail(error, "the document has a DOCTYPE; libvirt's domain XML has none (entities are "
                "refused)");
    return NULL;
  }
  root = xmlDocGetRootElement(doc);
  if (root == NULL || root->ns != NULL || !wv_xml_is_element(root, "domain")) {
    fail(error, "the root element is <%s>, not <domain>: not a libvirt domain definition",
         root ? name_of(root) : "");
    return NULL;
  }
  return g_steal_pointer(&doc);
}

/* "# @prefix@text": one comment line whatever @text holds. */
static void
note_line(GString *out, const char *prefix, const char *text)
{
  gsize start = out->len;

  g_string_append_printf(out, "# %s%s", prefix, text);
  for (gsize i = start; i < out->len; i++)
    if ((guchar)out->str[i] < 0x20 || out->str[i] == 0x7f)
      out->str[i] = ' ';
  g_string_append_c(out, '\n');
}

/* The profile as people write them ("key = value"), values escaped as
 * GKeyFile escapes them, the notes on top. A key set to "" is left out, so
 * its group stays (an empty CD-ROM drive is an empty [cdrom:ID]). */
static char *
profile_text(Import *im, const char *dom_name)
{
  g_auto(GStrv) groups = g_key_file_get_groups(im->kf, NULL);
  GString *out = g_string_new(NULL);

  note_line(out, "Imported from libvirt domain ", dom_name ? dom_name : "");
  if (im->notes->len > 0)
    g_string_append(out, "# Not carried over:\n");
  for (guint i = 0; i < im->notes->len; i++)
    note_line(out, "- ", im->notes->pdata[i]);
  for (guint i = 0; groups[i]; i++) {
    g_auto(GStrv) keys = g_key_file_get_keys(im->kf, groups[i], NULL, NULL);

    g_string_append_printf(out, "\n[%s]\n", groups[i]);
    for (guint k = 0; keys && keys[k]; k++) {
      g_autofree char *raw = g_key_file_get_value(im->kf, groups[i], keys[k], NULL);
      if (raw && raw[0])
        g_string_append_printf(out, "%s = %s\n", keys[k], raw);
    }
  }
  return g_string_free(out, FALSE);
}

char *
wv_import_domain_xml(const char *xml, const char *name_or_NULL, GPtrArray **not_carried,
                     GError **error)
{
  g_autoptr(xmlDoc) doc = NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(WvProfile) check = NULL;
  g_autofree char *type = NULL, *dom_name = NULL, *text = NULL;
  Import im = {0};
  xmlNode *dom, *name_node;

  if (name_or_NULL && !wv_name_is_valid(name_or_NULL)) {
    g_autofree char *shown = g_utf8_make_valid(name_or_NULL, -1);
    fail(error,
         "“%s” is not a valid VM name: 1 to %d of A-Z a-z 0-9 _ . -, not starting with . "
         "or -",
         shown, WV_NAME_MAX);
    return NULL;
  }
  doc = read_domain(xml, error);
  if (doc == NULL)
    return NULL;
  dom = xmlDocGetRootElement(doc);
  type = prop(dom, "type");
  if (g_strcmp0(type, "kvm") != 0 && g_strcmp0(type, "qemu") != 0) {
    fail(error, "<domain type='%s'>: winvm imports QEMU/KVM domains only", type ? type : "");
    return NULL;
  }

  im.kf = g_key_file_new();
  im.notes = g_ptr_array_new_with_free_func(g_free);
  im.groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  im.iothread_ids = g_array_new(FALSE, FALSE, sizeof(guint));
  im.boot_devs = g_ptr_array_new_with_free_func(g_free);
  im.pci = g_ptr_array_new_with_free_func(pci_function_free);
  im.devices = wv_xml_find_child(dom, "devices");
  im.vcpus = 1;
  im.has_shares = im.devices && wv_xml_find_child(im.devices, "filesystem");

  name_node = wv_xml_find_child(dom, "name");
  dom_name = name_node ? text_of(name_node) : NULL;
  if (name_or_NULL) {
    im.name = g_strdup(name_or_NULL);
  } else if (dom_name && wv_name_is_valid(dom_name)) {
    im.name = g_strdup(dom_name);
  } else {
    im.name = valid_name(dom_name ? dom_name : "");
    note(&im, "<name>%s</name>: not a valid VM name; imported as %s", dom_name ? dom_name : "",
         im.name);
  }

  read_firmware(&im, dom);
  set(&im, "vm", "name", im.name);
  set(&im, "vm", "template", im.template_name);
  if (g_str_equal(type, "qemu"))
    set(&im, "vm", "hypervisor", "qemu");
  walk(&im, dom, domain_table, G_N_ELEMENTS(domain_table), NULL);
  do_cputune_defaults(&im);
  write_device_defaults(&im);
  if (!im.guest_agent) /* the template would add it */
    set(&im, "vm", "guest-agent", "false");
  /* no <features><hyperv>: none, where a profile's default would add them */
  if (!g_key_file_has_key(im.kf, "hyperv", "enlightenments", NULL))
    set(&im, "hyperv", "enlightenments", "none");
  write_firmware(&im);
  write_boot_order(&im);

  /* the parser is the judge: what it refuses is a bug here */
  text = profile_text(&im, dom_name);
  check = wv_profile_parse(text, strlen(text), "import.conf", &local);
  if (check == NULL) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "the imported profile does not parse: %s",
                local->message);
    import_clear(&im);
    return NULL;
  }
  if (not_carried)
    *not_carried = g_ptr_array_ref(im.notes);
  import_clear(&im);
  return g_steal_pointer(&text);
}
