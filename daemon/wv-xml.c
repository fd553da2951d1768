/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-xml.h"
#include "wv-profile.h"

#include <libxml/parserInternals.h> /* xmlStringTextNoenc */
#include <libxml/xmlsave.h>
#include <string.h>

#define NAME(n) ((const char *)(n)->name)

xmlDoc *
wv_xml_parse(const char *xml)
{
  return xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

gboolean
wv_xpath_bool(xmlXPathContext *ctx, const char *expr)
{
  g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);

  return obj != NULL && xmlXPathCastToBoolean(obj);
}

char *
wv_xpath_string(xmlXPathContext *ctx, const char *expr)
{
  g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
  xmlChar *value;
  char *out;

  if (obj == NULL)
    return NULL;
  value = xmlXPathCastToString(obj);
  out = g_strstrip(g_strdup((const char *)value));
  xmlFree(value);
  if (out[0] == '\0')
    g_clear_pointer(&out, g_free);
  return out;
}

GPtrArray *
wv_xpath_hostdev_addresses(xmlXPathContext *ctx)
{
  g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(
      (const xmlChar *)"/domain/devices/hostdev[@type='pci']/source/address", ctx);
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

  for (int i = 0; obj && obj->nodesetval && i < obj->nodesetval->nodeNr; i++) {
    xmlNode *node = obj->nodesetval->nodeTab[i];
    const char *attrs[] = {"domain", "bus", "slot", "function"};
    guint v[4] = {0};
    WvPciAddress a;

    for (guint k = 0; k < 4; k++) {
      g_autofree xmlChar *s = xmlGetProp(node, (const xmlChar *)attrs[k]);
      v[k] = s ? (guint)g_ascii_strtoull((const char *)s, NULL, 0) : 0;
    }
    a = (WvPciAddress){v[0], v[1], v[2], v[3]};
    g_ptr_array_add(out, wv_pci_address_to_string(&a));
  }
  return out;
}

/* ---- editing a tree -------------------------------------------------------- */

gboolean
wv_xml_is_element(xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && (name == NULL || g_str_equal(NAME(n), name));
}

xmlNode *
wv_xml_find_child(xmlNode *parent, const char *name)
{
  for (xmlNode *c = parent->children; c; c = c->next)
    if (wv_xml_is_element(c, name))
      return c;
  return NULL;
}

void
wv_xml_remove_children(xmlNode *parent, const char *name)
{
  xmlNode *c = parent->children;

  while (c) {
    xmlNode *next = c->next;
    if (wv_xml_is_element(c, name)) {
      xmlUnlinkNode(c);
      xmlFreeNode(c);
    }
    c = next;
  }
}

static int
order_index(const char *const *order, const char *name)
{
  for (int i = 0; order[i]; i++)
    if (g_str_equal(order[i], name))
      return i;
  return G_MAXINT;
}

/* Adds a new <name> under @parent at its place in @order (after every
 * sibling that sorts before or with it). */
xmlNode *
wv_xml_insert_ordered(xmlNode *parent, xmlNode *node, const char *const *order)
{
  int idx = order_index(order, NAME(node));

  for (xmlNode *c = parent->children; c; c = c->next) {
    if (wv_xml_is_element(c, NULL) && order_index(order, NAME(c)) > idx)
      return xmlAddPrevSibling(c, node);
  }
  return xmlAddChild(parent, node);
}

xmlNode *
wv_xml_add_child(xmlNode *parent, const char *name, const char *const *order)
{
  return wv_xml_insert_ordered(parent, xmlNewNode(NULL, BAD_CAST name), order);
}

xmlNode *
wv_xml_ensure_child(xmlNode *parent, const char *name, const char *const *order)
{
  xmlNode *c = wv_xml_find_child(parent, name);
  return c ? c : wv_xml_add_child(parent, name, order);
}

/* Replaces every <name> under @parent with one fresh, empty element. */
xmlNode *
wv_xml_replace_child(xmlNode *parent, const char *name, const char *const *order)
{
  wv_xml_remove_children(parent, name);
  return wv_xml_add_child(parent, name, order);
}

xmlNode *
wv_xml_append(xmlNode *parent, const char *name)
{
  return xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

void
wv_xml_set_prop(xmlNode *node, const char *name, const char *value)
{
  /* an attribute the template has: its text changed in place (xmlSetProp
   * frees and makes its text node anew) */
  for (xmlAttr *a = node->properties; a; a = a->next) {
    if (a->ns == NULL && g_str_equal((const char *)a->name, name)) {
      if (a->atype != XML_ATTRIBUTE_ID && a->children && a->children->next == NULL &&
          a->children->type == XML_TEXT_NODE) {
        xmlNodeSetContent(a->children, BAD_CAST value);
        return;
      }
      break;
    }
  }
  xmlSetProp(node, BAD_CAST name, BAD_CAST value);
}

void
wv_xml_set_prop_uint(xmlNode *node, const char *name, guint64 value)
{
  char digits[24];
  char *p = digits + sizeof digits;

  *--p = '\0';
  do {
    *--p = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0);
  wv_xml_set_prop(node, name, p);
}

void
wv_xml_set_prop_hex(xmlNode *node, const char *name, guint64 value, guint width)
{
  static const char hex[] = "0123456789abcdef";
  char digits[24];
  char *p = digits + sizeof digits;

  *--p = '\0';
  do {
    *--p = hex[value % 16];
    value /= 16;
  } while (value > 0 || digits + sizeof digits - 1 - p < (gssize)MIN(width, 16));
  *--p = 'x';
  *--p = '0';
  wv_xml_set_prop(node, name, p);
}

void
wv_xml_set_propf(xmlNode *node, const char *name, const char *fmt, ...)
{
  char small[128]; /* numbers, mostly: no allocation */
  g_autofree char *large = NULL;
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = g_vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n >= 0 && (gsize)n < sizeof small) {
    wv_xml_set_prop(node, name, small);
    return;
  }
  va_start(ap, fmt);
  large = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  wv_xml_set_prop(node, name, large);
}

void
wv_xml_set_text(xmlNode *node, const char *text)
{
  xmlNodeSetContent(node, NULL);
  xmlNodeAddContent(node, BAD_CAST text);
}

void
wv_xml_remove_if_empty(xmlNode *node)
{
  if (node && wv_xml_find_child(node, NULL) == NULL && node->properties == NULL) {
    xmlUnlinkNode(node);
    xmlFreeNode(node);
  }
}

/* ---- writing a tree -------------------------------------------------------
 *
 * What xmlSaveDoc() with XML_SAVE_FORMAT | XML_SAVE_NO_DECL to UTF-8 writes
 * (libxml2 2.9 xmlsave.c: xmlNodeDumpOutputInternal), byte for byte,
 * straight into memory: libxml2 pushes every fragment through its output
 * buffer and encoder, which was a sixth of a whole render + preflight
 * (tests/bench/README.md). test-xml-write compares both on every template
 * and on hostile strings. */

#define WV_XML_INDENT_MAX 30 /* libxml2's MAX_INDENT (60) / 2 spaces */

/* A growing buffer with inline appends: GLib 2.74's GString appends are
 * calls with checks, a third of the writer's work. */
typedef struct
{
  char *buf;
  gsize len, size;
} Out;

static void
out_grow(Out *out, gsize n)
{
  while (out->len + n + 1 > out->size)
    out->size *= 2;
  out->buf = g_realloc(out->buf, out->size);
}

static inline void
put(Out *out, const char *s, gsize n)
{
  if (G_UNLIKELY(out->len + n + 1 > out->size))
    out_grow(out, n);
  memcpy(out->buf + out->len, s, n);
  out->len += n;
}

static inline void
put_c(Out *out, char c)
{
  put(out, &c, 1);
}

static inline void
put_s(Out *out, const char *s)
{
  put(out, s, strlen(s));
}

static void
write_indent(Out *out, guint level)
{
  static const char spaces[] = "                                                            ";

  put(out, spaces, 2 * MIN(level, WV_XML_INDENT_MAX));
}

/* @specials: the bytes that need a reference; the rest is copied in runs */
static void
write_escaped(Out *out, const char *s, const char *specials)
{
  while (*s) {
    gsize run = strcspn(s, specials);

    put(out, s, run);
    s += run;
    switch (*s) {
      case '\0':
        return;
      case '<':
        put(out, "&lt;", 4);
        break;
      case '>':
        put(out, "&gt;", 4);
        break;
      case '&':
        put(out, "&amp;", 5);
        break;
      case '"':
        put(out, "&quot;", 6);
        break;
      case '\r':
        put(out, "&#13;", 5);
        break;
      case '\n':
        put(out, "&#10;", 5);
        break;
      case '\t':
        put(out, "&#9;", 4);
        break;
      default:
        g_assert_not_reached();
    }
    s++;
  }
}

static void
write_qname(Out *out, const xmlNs *ns, const xmlChar *name)
{
  if (ns && ns->prefix) {
    put_s(out, (const char *)ns->prefix);
    put_c(out, ':');
  }
  put_s(out, (const char *)name);
}

/* xmlBufWriteQuotedString() */
static void
write_quoted(Out *out, const char *s)
{
  if (strchr(s, '"') == NULL || strchr(s, '\'') == NULL) {
    char quote = strchr(s, '"') == NULL ? '"' : '\'';

    put_c(out, quote);
    put_s(out, s);
    put_c(out, quote);
  } else {
    put_c(out, '"');
    for (; *s; s++) {
      if (*s == '"')
        put_s(out, "&quot;");
      else
        put_c(out, *s);
    }
    put_c(out, '"');
  }
}

static gboolean
write_attributes(Out *out, const xmlNode *n)
{
  for (const xmlNs *ns = n->nsDef; ns; ns = ns->next) {
    if (ns->type != XML_LOCAL_NAMESPACE || ns->href == NULL ||
        (ns->prefix && g_str_equal((const char *)ns->prefix, "xml")))
      continue;
    put_s(out, ns->prefix ? " xmlns:" : " xmlns");
    if (ns->prefix)
      put_s(out, (const char *)ns->prefix);
    put_c(out, '=');
    write_quoted(out, (const char *)ns->href);
  }
  for (const xmlAttr *a = n->properties; a; a = a->next) {
    put_c(out, ' ');
    write_qname(out, a->ns, a->name);
    put(out, "=\"", 2);
    for (const xmlNode *t = a->children; t; t = t->next) {
      if (t->type != XML_TEXT_NODE)
        return FALSE; /* entity references: left to libxml2 */
      if (t->content)
        write_escaped(out, (const char *)t->content, "\n\r\t\"<>&");
    }
    put_c(out, '"');
  }
  return TRUE;
}

/* @format: the context's; @root: no indent before it (a child of the
 * document). FALSE for a node type this writer leaves to libxml2. */
static gboolean
write_node(Out *out, const xmlNode *n, guint level, gboolean format, gboolean root)
{
  /* (int): every other node type, whatever this libxml2 has, is the default */
  switch ((int)n->type) {
    case XML_ELEMENT_NODE: {
      gboolean inner = format;

      if (!root && format)
        write_indent(out, level);
      put_c(out, '<');
      write_qname(out, n->ns, n->name);
      if (!write_attributes(out, n))
        return FALSE;
      if (n->children == NULL) {
        put(out, "/>", 2);
        return TRUE;
      }
      /* mixed content is written as it is */
      for (const xmlNode *c = n->children; c && inner; c = c->next)
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE ||
            c->type == XML_ENTITY_REF_NODE)
          inner = FALSE;
      put_c(out, '>');
      if (inner)
        put_c(out, '\n');
      for (const xmlNode *c = n->children; c; c = c->next) {
        if (!write_node(out, c, level + 1, inner, FALSE))
          return FALSE;
        if (inner)
          put_c(out, '\n');
      }
      if (inner)
        write_indent(out, level);
      put(out, "</", 2);
      write_qname(out, n->ns, n->name);
      put_c(out, '>');
      return TRUE;
    }
    case XML_TEXT_NODE:
      if (n->content == NULL)
        return TRUE;
      if (n->name == xmlStringTextNoenc)
        put_s(out, (const char *)n->content);
      else
        write_escaped(out, (const char *)n->content, "<>&\r");
      return TRUE;
    case XML_COMMENT_NODE:
      if (!root && format)
        write_indent(out, level);
      if (n->content) {
        put(out, "<!--", 4);
        put_s(out, (const char *)n->content);
        put(out, "-->", 3);
      }
      return TRUE;
    case XML_PI_NODE:
      if (!root && format)
        write_indent(out, level);
      put(out, "<?", 2);
      put_s(out, (const char *)n->name);
      if (n->content) {
        put_c(out, ' ');
        put_s(out, (const char *)n->content);
      }
      put(out, "?>", 2);
      return TRUE;
    case XML_CDATA_SECTION_NODE: {
      const char *start = (const char *)n->content, *end;

      if (start == NULL || *start == '\0') {
        put_s(out, "<![CDATA[]]>");
        return TRUE;
      }
      /* "]]>" inside splits the section, as libxml2 does */
      for (end = start; *end; end++) {
        if (end[0] == ']' && end[1] == ']' && end[2] == '>') {
          end += 2;
          put(out, "<![CDATA[", 9);
          put(out, start, (gsize)(end - start));
          put(out, "]]>", 3);
          start = end;
        }
      }
      if (start != end) {
        put(out, "<![CDATA[", 9);
        put_s(out, start);
        put(out, "]]>", 3);
      }
      return TRUE;
    }
    default:
      return FALSE;
  }
}

char *
wv_xml_save(xmlDoc *doc)
{
  xmlBuffer *buf = xmlBufferCreate();
  xmlSaveCtxt *save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
  int len;
  char *out;

  xmlSaveDoc(save, doc);
  xmlSaveClose(save);
  len = xmlBufferLength(buf);
  out = g_strdup_printf("%.*s%s", len, (const char *)xmlBufferContent(buf),
                        len > 0 && xmlBufferContent(buf)[len - 1] == '\n' ? "" : "\n");
  xmlBufferFree(buf);
  return out;
}

char *
wv_xml_write(const xmlDoc *doc)
{
  Out out = {.buf = g_malloc(8192), .size = 8192};

  for (const xmlNode *c = doc->children; c; c = c->next) {
    if (!write_node(&out, c, 0, TRUE, TRUE)) {
      g_free(out.buf);
      return NULL;
    }
    put_c(&out, '\n');
  }
  out.buf[out.len] = '\0';
  /* kept by the plan cache: no more than it holds */
  return g_realloc(out.buf, out.len + 1);
}
