/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-profile.h"
#include "wv-common.h"
#include "wv-file.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define WV_SECTION_ID_MAX 32

static const char *const hyperv_names[WV_HV_N_FEATURES + 1] = {
    [WV_HV_RELAXED] = "relaxed",
    [WV_HV_VAPIC] = "vapic",
    [WV_HV_SPINLOCKS] = "spinlocks",
    [WV_HV_VPINDEX] = "vpindex",
    [WV_HV_RUNTIME] = "runtime",
    [WV_HV_SYNIC] = "synic",
    [WV_HV_STIMER] = "stimer",
    [WV_HV_STIMER_DIRECT] = "stimer-direct",
    [WV_HV_RESET] = "reset",
    [WV_HV_FREQUENCIES] = "frequencies",
    [WV_HV_REENLIGHTENMENT] = "reenlightenment",
    [WV_HV_TLBFLUSH] = "tlbflush",
    [WV_HV_IPI] = "ipi",
    [WV_HV_EVMCS] = "evmcs",
    [WV_HV_AVIC] = "avic",
    [WV_HV_N_FEATURES] = NULL, /* for lookup() and g_strjoinv() */
};

static const char *const clock_timer_names[] = {
    "platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock", NULL,
};

const char *
wv_hyperv_feature_name(WvHypervFeature f)
{
  return f < WV_HV_N_FEATURES ? hyperv_names[f] : NULL;
}

guint
wv_hyperv_auto_set(void)
{
  /* Everything that helps Windows on KVM. evmcs (Intel, nested Hyper-V only)
   * and avic (AMD only) depend on the CPU vendor: the plan adds avic when the
   * host's capabilities list it, evmcs only when asked for by name. */
  return ((1u << WV_HV_N_FEATURES) - 1) & ~(1u << WV_HV_EVMCS) & ~(1u << WV_HV_AVIC);
}

/* ---- parse context ------------------------------------------------------ */

/* One "key = value" line, both stripped, pointing into the scanned copy
 * of the file; the value still escaped as in a key file ("\\s"...). */
typedef struct
{
  const char *key;
  const char *value;
} Entry;

typedef struct
{
  const char *name;
  GArray *entries; /* Entry, in file order */
} Group;

typedef struct
{
  const char *path;
  char *text;        /* the scanned copy of the file, cut into its lines */
  GArray *groups;    /* Group, in file order */
  GHashTable *lines; /* "group\x1fkey" | "group" -> line */
  GString *errors;
  guint n_errors; /* reported, and past WV_PROFILE_MAX_ERRORS only counted */
  WvProfile *p;
  const char *group; /* being parsed */
} Ctx;

/* A broken file says what is wrong in a bounded number of bounded lines: a
 * megabyte of bad lines must not become megabytes of error text on the bus. */
#define WV_PROFILE_MAX_ERRORS  20
#define WV_PROFILE_MAX_MESSAGE 400

G_GNUC_PRINTF(2, 3)
static void
add_error(Ctx *ctx, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  if (++ctx->n_errors > WV_PROFILE_MAX_ERRORS)
    return;
  va_start(ap, fmt);
  msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  if (strlen(msg) > WV_PROFILE_MAX_MESSAGE) {
    /* cut at a character boundary */
    const char *end = g_utf8_find_prev_char(msg, msg + WV_PROFILE_MAX_MESSAGE);
    g_autofree char *cut = g_strndup(msg, end ? (gsize)(end - msg) : 0);

    g_free(msg);
    msg = g_strconcat(cut, "…", NULL);
  }
  if (ctx->errors->len > 0)
    g_string_append_c(ctx->errors, '\n');
  g_string_append(ctx->errors, msg);
}

static void
close_errors(Ctx *ctx)
{
  if (ctx->n_errors > WV_PROFILE_MAX_ERRORS)
    g_string_append_printf(ctx->errors, "\n%s: … and %u more errors", ctx->path,
                           ctx->n_errors - WV_PROFILE_MAX_ERRORS);
}

static char *
line_key(const char *group, const char *key)
{
  return key ? g_strconcat(group, "\x1f", key, NULL) : g_strdup(group);
}

guint
wv_profile_line(const WvProfile *profile, const char *group, const char *key)
{
  gsize glen = strlen(group);
  const char *r = profile->lines;

  /* a walk: asked for only when a finding names a line */
  while (r && *r) {
    gsize len = strlen(r);
    guint32 line;

    if (strncmp(r, group, glen) == 0 &&
        (key ? r[glen] == '\x1f' && strcmp(r + glen + 1, key) == 0 : r[glen] == '\0')) {
      memcpy(&line, r + len + 1, sizeof line);
      return line;
    }
    r += len + 1 + sizeof line;
  }
  return 0;
}

/* ctx->lines packed into what the profile keeps */
static char *
pack_lines(GHashTable *lines)
{
  GHashTableIter iter;
  gpointer key, value;
  gsize size = 1;
  char *packed, *w;

  g_hash_table_iter_init(&iter, lines);
  while (g_hash_table_iter_next(&iter, &key, NULL))
    size += strlen(key) + 1 + sizeof(guint32);
  w = packed = g_malloc(size);
  g_hash_table_iter_init(&iter, lines);
  while (g_hash_table_iter_next(&iter, &key, &value)) {
    gsize len = strlen(key) + 1;
    guint32 line = GPOINTER_TO_UINT(value);

    memcpy(w, key, len);
    memcpy(w + len, &line, sizeof line);
    w += len + sizeof line;
  }
  *w = '\0';
  return packed;
}

G_GNUC_PRINTF(4, 5)
static void
ctx_error(Ctx *ctx, const char *group, const char *key, const char *fmt, ...)
{
  g_autofree char *k = line_key(group, key);
  guint line = GPOINTER_TO_UINT(g_hash_table_lookup(ctx->lines, k));
  g_autofree char *msg = NULL;
  va_list ap;

  if (line == 0 && key != NULL) {
    g_autofree char *gk = line_key(group, NULL);
    line = GPOINTER_TO_UINT(g_hash_table_lookup(ctx->lines, gk));
  }
  va_start(ap, fmt);
  msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  add_error(ctx, "%s:%u: [%s]%s%s: %s", ctx->path, line, group, key ? " " : "", key ? key : "",
            msg);
}

static gboolean check_token(const char *text, gsize max, const char *extra, GError **error);

/* ---- line scan: syntax, duplicates, where each key sits ----------------- */

/* What GKeyFile takes as a group name: no brackets, no control characters. */
static gboolean
group_name_ok(const char *name)
{
  for (const char *p = name; *p; p++)
    if (*p == '[' || *p == ']' || g_ascii_iscntrl(*p))
      return FALSE;
  return TRUE;
}

static void
group_clear(Group *g)
{
  g_array_unref(g->entries);
}

/* The file's syntax, in one pass over a copy cut in place into its lines:
 * groups and their keys in order (what GKeyFile did here, in a third of the
 * work), duplicates refused, and the line of every group and key kept. */
static gboolean
scan_lines(Ctx *ctx, const char *data, gsize len)
{
  Group *group = NULL; /* NULL: before the first group, or in a refused one */
  gboolean refused = FALSE;
  gboolean ok = TRUE;
  char *next;
  guint lineno = 0;

  ctx->text = g_strndup(data, len);
  next = ctx->text;

  /* line by line in place (one pass, no array of a million lines) */
  while (next != NULL) {
    char *l = next;
    char *nl = strchr(l, '\n');
    char *eq;

    lineno++;
    if (nl) {
      *nl = '\0';
      next = nl + 1;
    } else {
      next = NULL;
    }
    l = g_strstrip(l);

    if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
      continue;
    if (l[0] == '[') {
      char *end = strchr(l, ']');
      char *name = l + 1;

      group = NULL;
      refused = TRUE; /* its keys are not looked at */
      if (end == NULL || end[1] != '\0' || end == l + 1) {
        add_error(ctx, "%s:%u: malformed group header “%s”", ctx->path, lineno, l);
        ok = FALSE;
        continue;
      }
      *end = '\0';
      if (!group_name_ok(name)) {
        add_error(ctx, "%s:%u: malformed group header “[%s]”", ctx->path, lineno, name);
        ok = FALSE;
        continue;
      }
      if (g_hash_table_contains(ctx->lines, name)) {
        add_error(ctx, "%s:%u: [%s]: group appears twice (first at line %u)", ctx->path, lineno,
                  name, GPOINTER_TO_UINT(g_hash_table_lookup(ctx->lines, name)));
        ok = FALSE;
        continue;
      }
      g_hash_table_insert(ctx->lines, g_strdup(name), GUINT_TO_POINTER(lineno));
      g_array_set_size(ctx->groups, ctx->groups->len + 1); /* may move the others */
      group = &g_array_index(ctx->groups, Group, ctx->groups->len - 1);
      group->name = name;
      group->entries = g_array_new(FALSE, FALSE, sizeof(Entry));
      refused = FALSE;
      continue;
    }
    if (refused)
      continue;
    eq = strchr(l, '=');
    if (eq == NULL || group == NULL) {
      add_error(ctx, "%s:%u: %s", ctx->path, lineno,
                group ? "expected “key = value”" : "a key before the first [group]");
      ok = FALSE;
      continue;
    }
    *eq = '\0';
    g_strstrip(l);
    if (!check_token(l, 64, "-", NULL)) {
      add_error(ctx, "%s:%u: [%s] %s: unknown key (keys are letters, digits and “-”)", ctx->path,
                lineno, group->name, l);
      ok = FALSE;
      continue;
    }
    {
      g_autofree char *k = line_key(group->name, l);
      Entry e = {.key = l, .value = g_strstrip(eq + 1)};

      if (g_hash_table_contains(ctx->lines, k)) {
        add_error(ctx, "%s:%u: [%s] %s: set twice (first at line %u)", ctx->path, lineno,
                  group->name, l, GPOINTER_TO_UINT(g_hash_table_lookup(ctx->lines, k)));
        ok = FALSE;
        continue;
      }
      g_hash_table_insert(ctx->lines, g_steal_pointer(&k), GUINT_TO_POINTER(lineno));
      g_array_append_val(group->entries, e);
    }
  }
  return ok;
}

/* A key file value's escapes (\s \n \t \r \\), as GKeyFile reads them. */
static char *
unescape(const char *raw, GError **error)
{
  GString *out;

  if (strchr(raw, '\\') == NULL)
    return g_strdup(raw);
  out = g_string_sized_new(strlen(raw));
  for (const char *p = raw; *p; p++) {
    if (*p != '\\') {
      g_string_append_c(out, *p);
      continue;
    }
    switch (*++p) {
      case 's':
        g_string_append_c(out, ' ');
        break;
      case 'n':
        g_string_append_c(out, '\n');
        break;
      case 't':
        g_string_append_c(out, '\t');
        break;
      case 'r':
        g_string_append_c(out, '\r');
        break;
      case '\\':
        g_string_append_c(out, '\\');
        break;
      case '\0':
        g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                            "a backslash ends the value (“\\\\” is one)");
        g_string_free(out, TRUE);
        return NULL;
      default: {
        /* the whole character: the message must stay valid UTF-8 */
        g_autofree char *c = g_strndup(p, (gsize)(g_utf8_next_char(p) - p));

        g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                    "invalid escape “\\%s” (known: \\s \\n \\t \\r \\\\)", c);
        g_string_free(out, TRUE);
        return NULL;
      }
    }
  }
  return g_string_free(out, FALSE);
}

/* ---- value parsers ------------------------------------------------------ */

static gboolean fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
fail(GError **error, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start(ap, fmt);
  msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, msg);
  return FALSE;
}

static gboolean
parse_uint(const char *text, guint64 min, guint64 max, guint64 *out, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (!g_ascii_string_to_unsigned(text, 10, min, max, out, &local))
    return fail(error,
                "“%s” is not a whole number from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT, text,
                min, max);
  return TRUE;
}

static gboolean
parse_bool(const char *text, gboolean *out, GError **error)
{
  static const char *const yes[] = {"true", "yes", "on", "1", NULL};
  static const char *const no[] = {"false", "no", "off", "0", NULL};

  for (guint i = 0; yes[i]; i++) {
    if (g_ascii_strcasecmp(text, yes[i]) == 0) {
      *out = TRUE;
      return TRUE;
    }
    if (g_ascii_strcasecmp(text, no[i]) == 0) {
      *out = FALSE;
      return TRUE;
    }
  }
  return fail(error, "“%s” is not a boolean (true or false)", text);
}

/* Looks @text up in a NULL-terminated list; returns the index or -1. */
static int
lookup(const char *text, const char *const *names)
{
  for (int i = 0; names[i]; i++)
    if (g_strcmp0(text, names[i]) == 0)
      return i;
  return -1;
}

static gboolean
parse_choice(const char *text, const char *const *names, int *out, GError **error)
{
  g_autofree char *all = NULL;

  *out = lookup(text, names);
  if (*out >= 0)
    return TRUE;
  all = g_strjoinv(", ", (char **)names);
  return fail(error, "“%s” is not one of: %s", text, all);
}

gboolean
wv_parse_size_kib(const char *text, guint64 *out_kib, GError **error)
{
  static const struct
  {
    const char *suffix;
    guint shift;
  } units[] = {
      {"KiB", 0}, {"K", 0}, {"MiB", 10}, {"M", 10}, {"GiB", 20}, {"G", 20}, {"TiB", 30}, {"T", 30},
  };
  const char *p = text;
  guint64 v = 0;

  while (g_ascii_isdigit(*p)) {
    if (v > G_MAXUINT32)
      return fail(error, "“%s” is too large", text);
    v = v * 10 + (guint64)(*p++ - '0');
  }
  if (p == text)
    return fail(error, "“%s” is not a size (e.g. 16GiB, 512MiB)", text);
  while (*p == ' ')
    p++;
  if (*p == '\0')
    return fail(error, "“%s” needs a unit: KiB, MiB, GiB or TiB", text);
  for (guint i = 0; i < G_N_ELEMENTS(units); i++) {
    if (g_strcmp0(p, units[i].suffix) == 0) {
      if (v == 0)
        return fail(error, "a size of zero makes no sense");
      if (v > ((guint64)1 << 40) >> units[i].shift) /* 1 PiB */
        return fail(error, "“%s” is too large", text);
      *out_kib = v << units[i].shift;
      return TRUE;
    }
  }
  return fail(error, "“%s”: unknown unit “%s” (use KiB, MiB, GiB or TiB)", text, p);
}

gboolean
wv_parse_duration_s(const char *text, guint *out_s, GError **error)
{
  const char *p = text;
  guint64 v = 0;

  while (g_ascii_isdigit(*p)) {
    if (v > 1000000)
      return fail(error, "“%s” is too long", text);
    v = v * 10 + (guint64)(*p++ - '0');
  }
  if (p == text)
    return fail(error, "“%s” is not a duration (e.g. 90s, 2min)", text);
  while (*p == ' ')
    p++;
  if (*p == '\0' || g_strcmp0(p, "s") == 0)
    ;
  else if (g_strcmp0(p, "min") == 0)
    v *= 60;
  else
    return fail(error, "“%s”: unknown unit “%s” (use s or min)", text, p);
  if (v > 86400)
    return fail(error, "“%s” is longer than a day", text);
  *out_s = (guint)v;
  return TRUE;
}

static gboolean
parse_hex(const char *text, gsize digits, guint max, guint *out)
{
  guint64 v;
  char *end = NULL;

  if (strlen(text) != digits && !(digits == 0 && text[0]))
    return FALSE;
  for (const char *p = text; *p; p++)
    if (!g_ascii_isxdigit(*p))
      return FALSE;
  v = g_ascii_strtoull(text, &end, 16);
  if (*end != '\0' || v > max)
    return FALSE;
  *out = (guint)v;
  return TRUE;
}

char *
wv_pci_address_to_string(const WvPciAddress *a)
{
  return g_strdup_printf("%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
}

guint
wv_looking_glass_mib(guint width, guint height)
{
  guint64 bytes = (guint64)width * height * 4 * 2;
  guint64 mib = (bytes + (1024 * 1024 - 1)) / (1024 * 1024) + 10;
  guint pow2 = 1;

  while (pow2 < mib)
    pow2 <<= 1;
  return pow2;
}

const char *
wv_page_size_name(guint64 page_kib)
{
  return page_kib == 0 ? "none" : page_kib == 2048 ? "2M" : "1G";
}

const char *
wv_host_sleep_name(WvHostSleep s)
{
  static const char *const names[] = {"", "block", "save", "pause", "ignore"};

  return (guint)s < G_N_ELEMENTS(names) ? names[s] : "";
}

gboolean
wv_parse_pci_address(const char *text, WvPciAddress *out, GError **error)
{
  g_auto(GStrv) colon = g_strsplit(text, ":", -1);
  guint n = g_strv_length(colon);
  g_auto(GStrv) dot = NULL;
  WvPciAddress a = {0};
  const char *bus, *slotfn;

  if (n == 3) {
    if (!parse_hex(colon[0], 4, 0xffff, &a.domain))
      goto bad;
    bus = colon[1];
    slotfn = colon[2];
  } else if (n == 2) {
    bus = colon[0];
    slotfn = colon[1];
  } else {
    goto bad;
  }
  dot = g_strsplit(slotfn, ".", -1);
  if (g_strv_length(dot) != 2 || !parse_hex(bus, 2, 0xff, &a.bus) ||
      !parse_hex(dot[0], 2, 0x1f, &a.slot) || !parse_hex(dot[1], 1, 7, &a.function))
    goto bad;
  *out = a;
  return TRUE;
bad:
  return fail(error, "“%s” is not a PCI address (DDDD:BB:SS.F, e.g. 0000:0f:00.0)", text);
}

static gboolean
check_abs_path(const char *text, GError **error)
{
  g_auto(GStrv) parts = NULL;

  if (text[0] != '/')
    return fail(error, "“%s” is not an absolute path", text);
  if (text[strspn(text, "/")] == '\0')
    return fail(error, "“%s” names no file or directory", text);
  if (strlen(text) > 4096)
    return fail(error, "path is longer than 4096 bytes");
  parts = g_strsplit(text, "/", -1);
  for (guint i = 0; parts[i]; i++)
    if (g_strcmp0(parts[i], "..") == 0 || g_strcmp0(parts[i], ".") == 0)
      return fail(error, "“%s” has “.” or “..” components", text);
  return TRUE;
}

static gboolean
check_token(const char *text, gsize max, const char *extra, GError **error)
{
  gsize len = strlen(text);

  if (len == 0 || len > max)
    return fail(error, "must be 1 to %" G_GSIZE_FORMAT " characters", max);
  for (const char *p = text; *p; p++)
    if (!g_ascii_isalnum(*p) && strchr(extra, *p) == NULL)
      return fail(error, "“%s” may only contain letters, digits and “%s”", text, extra);
  return TRUE;
}

static gboolean
parse_cpuset_value(const char *text, WvCpuset **out, GError **error)
{
  g_autoptr(GError) local = NULL;
  WvCpuset *set = wv_cpuset_parse(text, &local);

  if (set == NULL)
    return fail(error, "%s", local->message);
  wv_cpuset_free(*out);
  *out = set;
  return TRUE;
}

/* Most profiles have none of most lists (disks, USB devices, shares ...):
 * each list starts as the one shared empty array and gets its own with its
 * first item. Readers see an empty GPtrArray either way; 50 VMs: 9 blocks
 * of 48 bytes less per profile. */
static GPtrArray *empty_list;

static GPtrArray *
no_items(void)
{
  static gsize once = 0;

  if (g_once_init_enter(&once)) {
    empty_list = g_ptr_array_new();
    g_once_init_leave(&once, 1);
  }
  return g_ptr_array_ref(empty_list);
}

/* *@list, made the profile's own first if it is still the shared one */
static GPtrArray *
own_list(GPtrArray **list, GDestroyNotify free_func)
{
  if (*list == empty_list) {
    g_ptr_array_unref(*list);
    *list = g_ptr_array_new_with_free_func(free_func);
  }
  return *list;
}

/* "+a,-b,c" -> WvNamedSwitch list; @allowed NULL means any token. */
static gboolean
parse_switch_list(const char *text, const char *const *allowed, GPtrArray *out, GError **error)
{
  g_auto(GStrv) items = g_strsplit(text, ",", -1);

  g_ptr_array_set_size(out, 0);
  for (guint i = 0; items[i]; i++) {
    char *item = g_strstrip(items[i]);
    gboolean enable = TRUE;
    WvNamedSwitch *sw;

    if (item[0] == '\0')
      continue;
    if (item[0] == '+' || item[0] == '-') {
      enable = item[0] == '+';
      item++;
    }
    if (allowed ? lookup(item, allowed) < 0 : !check_token(item, 32, "_.-", NULL)) {
      g_autofree char *all = allowed ? g_strjoinv(", ", (char **)allowed) : NULL;
      return fail(error, "“%s” is not a known name%s%s", item, all ? "; known: " : "",
                  all ? all : "");
    }
    for (guint j = 0; j < out->len; j++)
      if (g_strcmp0(((WvNamedSwitch *)out->pdata[j])->name, item) == 0)
        return fail(error, "“%s” is listed twice", item);
    sw = g_new0(WvNamedSwitch, 1);
    sw->name = g_strdup(item);
    sw->enable = enable;
    g_ptr_array_add(out, sw);
  }
  return TRUE;
}

static void
named_switch_free(gpointer p)
{
  WvNamedSwitch *sw = p;
  g_free(sw->name);
  g_free(sw);
}

/* ---- keys ---------------------------------------------------------------- *
 *
 * Most keys are a typed field of the profile or of a section's item, filled
 * by apply_key(); the rest have a handler of their own.
 */

typedef gboolean (*KeyHandler)(Ctx *ctx, gpointer target, const char *value, GError **error);

typedef enum
{
  KEY_CUSTOM,
  KEY_BOOL,     /* gboolean */
  KEY_TRISTATE, /* WvTristate */
  KEY_ENUM,     /* an enum: the index in names + base */
  KEY_CHOICE,   /* char*: one of names */
  KEY_PATH,     /* char*: an absolute path */
  KEY_UINT,     /* guint in [min, max] */
  KEY_DURATION, /* guint seconds, at least min */
  KEY_TOKEN,    /* char*: up to max letters, digits and extra */
  KEY_CPUSET,   /* WvCpuset* */
} KeyType;

typedef struct
{
  const char *key;
  KeyType type;
  gsize offset; /* of the field in the profile or the section's item */
  KeyHandler fn;
  const char *const *names;
  gint base;
  guint64 min, max;
  const char *extra;
  gboolean empty_ok; /* an empty value is meant (the handler sees "") */
} KeyEntry;

#define FIELD(type, target, e) ((type *)G_STRUCT_MEMBER_P((target), (e)->offset))

static void
replace_string(char **field, const char *value)
{
  g_free(*field);
  *field = g_strdup(value);
}

static gboolean
apply_key(Ctx *ctx, const KeyEntry *e, gpointer target, const char *v, GError **error)
{
  guint64 n;
  guint secs;
  gboolean b;
  int i;

  switch (e->type) {
    case KEY_CUSTOM:
      return e->fn(ctx, target, v, error);
    case KEY_BOOL:
      return parse_bool(v, FIELD(gboolean, target, e), error);
    case KEY_TRISTATE:
      if (!parse_bool(v, &b, error))
        return FALSE;
      *FIELD(WvTristate, target, e) = b ? WV_TRI_ON : WV_TRI_OFF;
      return TRUE;
    case KEY_ENUM:
      if (!parse_choice(v, e->names, &i, error))
        return FALSE;
      *FIELD(int, target, e) = i + e->base;
      return TRUE;
    case KEY_CHOICE:
      if (!parse_choice(v, e->names, &i, error))
        return FALSE;
      replace_string(FIELD(char *, target, e), v);
      return TRUE;
    case KEY_PATH:
      if (!check_abs_path(v, error))
        return FALSE;
      replace_string(FIELD(char *, target, e), v);
      return TRUE;
    case KEY_UINT:
      if (!parse_uint(v, e->min, e->max, &n, error))
        return FALSE;
      *FIELD(guint, target, e) = (guint)n;
      return TRUE;
    case KEY_DURATION:
      if (!wv_parse_duration_s(v, &secs, error))
        return FALSE;
      if (secs < e->min)
        return fail(error, "must be at least %" G_GUINT64_FORMAT "s", e->min);
      *FIELD(guint, target, e) = secs;
      return TRUE;
    case KEY_TOKEN:
      if (!check_token(v, e->max, e->extra, error))
        return FALSE;
      replace_string(FIELD(char *, target, e), v);
      return TRUE;
    case KEY_CPUSET:
      return parse_cpuset_value(v, FIELD(WvCpuset *, target, e), error);
    default:
      g_assert_not_reached();
  }
}

#define HANDLER(name) static gboolean name(Ctx *ctx, gpointer target, const char *v, GError **error)
#define P             ((WvProfile *)target)

HANDLER(vm_name)
{
  if (!wv_name_is_valid(v))
    return fail(error,
                "“%s” is not a valid name: 1 to %d of A-Z a-z 0-9 _ . -, not starting with . or -",
                v, WV_NAME_MAX);
  g_free(P->name);
  P->name = g_strdup(v);
  return TRUE;
}

HANDLER(vm_template)
{
  if (v[0] == '/') {
    if (!check_abs_path(v, error))
      return FALSE;
  } else if (!wv_name_is_valid(v)) {
    return fail(error, "“%s” is neither a template name nor an absolute path", v);
  }
  g_free(P->template_name);
  P->template_name = g_strdup(v);
  return TRUE;
}

HANDLER(vm_shutdown_method)
{
  g_auto(GStrv) items = g_strsplit(v, ",", -1);
  guint n = 0;

  for (guint i = 0; items[i]; i++) {
    const char *m = g_strstrip(items[i]);
    WvStopMethod method;

    if (g_str_equal(m, "agent"))
      method = WV_STOP_METHOD_AGENT;
    else if (g_str_equal(m, "acpi"))
      method = WV_STOP_METHOD_ACPI;
    else
      return fail(error, "“%s” is not one of: agent, acpi", m);
    for (guint j = 0; j < n; j++)
      if (P->shutdown_methods[j] == method)
        return fail(error, "“%s” is listed twice", m);
    if (n > 0 && P->shutdown_methods[n - 1] == WV_STOP_METHOD_ACPI)
      return fail(error, "acpi is pressed until the deadline, so nothing can follow it; "
                         "list agent first");
    P->shutdown_methods[n++] = method;
  }
  if (n == 0)
    return fail(error, "no method given (agent, acpi)");
  P->n_shutdown_methods = n;
  return TRUE;
}

HANDLER(vm_uuid)
{
  if (!g_uuid_string_is_valid(v))
    return fail(error, "“%s” is not a UUID", v);
  g_free(P->uuid);
  P->uuid = g_ascii_strdown(v, -1);
  return TRUE;
}

HANDLER(vm_memory)
{
  guint64 kib;

  if (!wv_parse_size_kib(v, &kib, error))
    return FALSE;
  if (kib < 64 * 1024)
    return fail(error, "%s is less than the 64MiB a guest needs at least", v);
  P->memory_kib = kib;
  return TRUE;
}

HANDLER(vm_machine)
{
  static const char *const families[] = {"pc-q35-", "pc-i440fx-", NULL};
  const char *version = NULL;

  for (guint i = 0; families[i] && version == NULL; i++)
    if (g_str_has_prefix(v, families[i]))
      version = v + strlen(families[i]);
  if (g_str_equal(v, "q35") || g_str_equal(v, "pc") || g_str_equal(v, "i440fx")) {
    g_free(P->machine);
    P->machine = g_strdup(g_str_equal(v, "i440fx") ? "pc" : v);
    return TRUE;
  }
  if (version == NULL || version[0] == '\0' || !g_ascii_isdigit(version[0]) ||
      strspn(version, "0123456789.") != strlen(version) || strlen(v) > 32)
    return fail(error,
                "“%s” is not q35, i440fx or a machine type of theirs (pc-q35-7.2, "
                "pc-i440fx-7.2; `qemu-system-x86_64 -machine help` lists them)",
                v);
  g_free(P->machine);
  P->machine = g_strdup(v);
  return TRUE;
}

HANDLER(vm_autostart_order)
{
  gint64 n;

  if (!g_ascii_string_to_signed(v, 10, -1000000, 1000000, &n, NULL))
    return fail(error, "“%s” is not a whole number", v);
  P->autostart_order = (gint)n;
  return TRUE;
}

HANDLER(cpu_mode)
{
  if (g_str_equal(v, "host-passthrough")) {
    P->cpu_mode = WV_CPU_MODE_HOST_PASSTHROUGH;
  } else if (g_str_equal(v, "host-model")) {
    P->cpu_mode = WV_CPU_MODE_HOST_MODEL;
  } else if (g_str_has_prefix(v, "custom:")) {
    if (!check_token(v + 7, 64, "_.-", error))
      return FALSE;
    P->cpu_mode = WV_CPU_MODE_CUSTOM;
    g_free(P->cpu_model);
    P->cpu_model = g_strdup(v + 7);
  } else {
    return fail(error, "“%s” is not one of: host-passthrough, host-model, custom:<model>", v);
  }
  return TRUE;
}

HANDLER(cpu_topology)
{
  g_auto(GStrv) parts = NULL;
  guint64 n[4];

  if (g_str_equal(v, "auto")) {
    P->topology_auto = TRUE;
    return TRUE;
  }
  parts = g_strsplit(v, ",", -1);
  if (g_strv_length(parts) != 4)
    return fail(error, "“%s” is not “auto” or “sockets,dies,cores,threads”", v);
  for (guint i = 0; i < 4; i++)
    if (!parse_uint(g_strstrip(parts[i]), 1, 1024, &n[i], error))
      return FALSE;
  P->topology_auto = FALSE;
  P->sockets = (guint)n[0];
  P->dies = (guint)n[1];
  P->cores = (guint)n[2];
  P->threads = (guint)n[3];
  return TRUE;
}

HANDLER(cpu_pin)
{
  g_autoptr(GError) local = NULL;
  GArray *list;

  if (g_str_equal(v, "auto")) {
    P->pin = WV_PIN_AUTO;
    return TRUE;
  }
  if (g_str_equal(v, "none")) {
    P->pin = WV_PIN_NONE;
    return TRUE;
  }
  list = wv_cpu_list_parse(v, &local);
  if (list == NULL)
    return fail(error, "not auto, none or a CPU list: %s", local->message);
  g_clear_pointer(&P->pin_cpus, g_array_unref);
  P->pin_cpus = list;
  P->pin = WV_PIN_LIST;
  return TRUE;
}

HANDLER(cpu_host_reserved)
{
  /* empty or none: the guest may take every host CPU */
  if (v[0] == '\0' || g_str_equal(v, "none")) {
    wv_cpuset_free(P->host_reserved);
    P->host_reserved = wv_cpuset_new(NULL, 0);
    return TRUE;
  }
  return parse_cpuset_value(v, &P->host_reserved, error);
}

HANDLER(cpu_emulator_pin)
{
  P->emulator_unpinned = g_str_equal(v, "none");
  if (g_str_equal(v, "auto") || P->emulator_unpinned) {
    g_clear_pointer(&P->emulator_pin, wv_cpuset_free);
    return TRUE;
  }
  return parse_cpuset_value(v, &P->emulator_pin, error);
}

HANDLER(cpu_iothread_pin)
{
  g_auto(GStrv) parts = NULL;

  g_clear_pointer(&P->iothread_pins, g_ptr_array_unref);
  if (g_str_equal(v, "auto"))
    return TRUE;
  P->iothread_pins = g_ptr_array_new_with_free_func((GDestroyNotify)wv_cpuset_free);
  parts = g_strsplit(v, ";", -1);
  for (guint i = 0; parts[i]; i++) {
    WvCpuset *set = NULL;
    if (!parse_cpuset_value(g_strstrip(parts[i]), &set, error))
      return FALSE;
    g_ptr_array_add(P->iothread_pins, set);
  }
  return TRUE;
}

HANDLER(cpu_features)
{
  return parse_switch_list(v, NULL, own_list(&P->cpu_features, named_switch_free), error);
}

HANDLER(mem_hugepages)
{
  if (g_str_equal(v, "none"))
    P->hugepage_kib = 0;
  else if (g_str_equal(v, "2M") || g_str_equal(v, "2MiB"))
    P->hugepage_kib = 2048;
  else if (g_str_equal(v, "1G") || g_str_equal(v, "1GiB"))
    P->hugepage_kib = 1024 * 1024;
  else
    return fail(error, "“%s” is not one of: none, 2M, 1G", v);
  return TRUE;
}

HANDLER(mem_hugepages_fallback)
{
  if (g_str_equal(v, "none"))
    P->hugepage_fallback_kib = 0;
  else if (g_str_equal(v, "2M") || g_str_equal(v, "2MiB"))
    P->hugepage_fallback_kib = 2048;
  else
    return fail(error, "“%s” is not one of: none, 2M", v);
  return TRUE;
}

HANDLER(hv_enlightenments)
{
  g_auto(GStrv) items = NULL;
  guint set = 0;

  if (g_str_equal(v, "auto")) {
    P->hyperv_auto = TRUE;
    P->hyperv_features = wv_hyperv_auto_set();
    return TRUE;
  }
  P->hyperv_auto = FALSE;
  if (g_str_equal(v, "none")) {
    P->hyperv_features = 0;
    return TRUE;
  }
  items = g_strsplit(v, ",", -1);
  for (guint i = 0; items[i]; i++) {
    char *item = g_strstrip(items[i]);
    int f = lookup(item, hyperv_names);

    if (f < 0) {
      g_autofree char *all = g_strjoinv(", ", (char **)hyperv_names);
      return fail(error, "“%s” is not a Hyper-V enlightenment; known: auto, none, %s", item, all);
    }
    set |= 1u << f;
  }
  /* what one feature needs of the others is a plan finding (wv-plan.c) */
  P->hyperv_features = set;
  return TRUE;
}

HANDLER(hv_spinlocks)
{
  gboolean hex = g_str_has_prefix(v, "0x") || g_str_has_prefix(v, "0X");
  guint64 n;

  /* decimal, or hex as QEMU and the guides write it (0x1fff) */
  if (!g_ascii_string_to_unsigned(hex ? v + 2 : v, hex ? 16 : 10, 0, G_MAXUINT32, &n, NULL))
    return fail(error, "“%s” is not a whole number (decimal, or hex as in 0x1fff)", v);
  if (n < 4095)
    return fail(error, "%s is less than 4095 (0xfff), the fewest retries Hyper-V allows", v);
  P->spinlocks = (guint)n;
  return TRUE;
}

HANDLER(hv_vendor_id)
{
  if (strlen(v) > 12)
    return fail(error, "“%s” is %zu characters; Hyper-V vendor ids have at most 12", v, strlen(v));
  if (!check_token(v, 12, "_-", error))
    return FALSE;
  g_free(P->vendor_id);
  P->vendor_id = g_strdup(v);
  return TRUE;
}

HANDLER(video_vram)
{
  guint64 kib;

  if (!wv_parse_size_kib(v, &kib, error))
    return FALSE;
  /* QEMU's VGA-style devices take a power-of-two video memory in MiB */
  if (kib % 1024 != 0 || (kib & (kib - 1)) != 0 || kib > 512 * 1024)
    return fail(error, "%s is not a power of two from 1MiB to 512MiB (e.g. 64MiB)", v);
  P->video_vram_kib = kib;
  return TRUE;
}

HANDLER(lg_resolution)
{
  g_auto(GStrv) parts = g_strsplit(v, "x", -1);
  guint64 w, h;

  if (g_strv_length(parts) != 2 || !g_ascii_string_to_unsigned(parts[0], 10, 1, 16384, &w, NULL) ||
      !g_ascii_string_to_unsigned(parts[1], 10, 1, 16384, &h, NULL))
    return fail(error, "“%s” is not WIDTHxHEIGHT (e.g. 2560x1440; at most 16384 each)", v);
  P->lg_width = (guint)w;
  P->lg_height = (guint)h;
  return TRUE;
}

HANDLER(input_evdev)
{
  WvInput *in = target;

  if (!check_abs_path(v, error))
    return FALSE;
  if (!g_str_has_prefix(v, "/dev/input/") || v[strlen("/dev/input/")] == '\0')
    return fail(error,
                "“%s” is not an input device below /dev/input (use its stable name, "
                "/dev/input/by-id/…-event-kbd)",
                v);
  g_free(in->evdev);
  in->evdev = g_strdup(v);
  return TRUE;
}

HANDLER(input_grab)
{
  WvInput *in = target;

  if (!g_str_equal(v, "all") && !g_str_equal(v, "none"))
    return fail(error, "“%s” is not one of: all, none", v);
  in->grab_all = g_str_equal(v, "all");
  return TRUE;
}

HANDLER(clock_timers)
{
  return parse_switch_list(v, clock_timer_names, own_list(&P->timers, named_switch_free), error);
}

HANDLER(net_mac)
{
  WvNetwork *n = target;
  g_auto(GStrv) parts = g_strsplit(v, ":", -1);
  guint first = 0;

  if (g_strv_length(parts) != 6)
    goto bad;
  for (guint i = 0; i < 6; i++) {
    guint b;
    if (!parse_hex(parts[i], 2, 0xff, &b))
      goto bad;
    if (i == 0)
      first = b;
  }
  if (first & 1)
    return fail(error, "“%s” is a multicast address", v);
  g_free(n->mac);
  n->mac = g_ascii_strdown(v, -1);
  return TRUE;
bad:
  return fail(error, "“%s” is not a MAC address (xx:xx:xx:xx:xx:xx)", v);
}

HANDLER(hostdev_pci)
{
  WvHostdev *h = target;
  g_auto(GStrv) items = g_strsplit(v, ",", -1);

  g_array_set_size(h->functions, 0);
  for (guint i = 0; items[i]; i++) {
    WvPciAddress a;

    if (!wv_parse_pci_address(g_strstrip(items[i]), &a, error))
      return FALSE;
    for (guint j = 0; j < h->functions->len; j++) {
      WvPciAddress *b = &g_array_index(h->functions, WvPciAddress, j);
      if (b->domain != a.domain || b->bus != a.bus || b->slot != a.slot)
        return fail(error,
                    "%s is not a function of the same device as the others; "
                    "use one [hostdev:ID] per device",
                    items[i]);
      if (b->function == a.function)
        return fail(error, "%s is listed twice", items[i]);
    }
    g_array_append_val(h->functions, a);
  }
  if (h->functions->len == 0)
    return fail(error, "no PCI address given");
  return TRUE;
}

HANDLER(usb_device)
{
  WvUsb *u = target;
  g_auto(GStrv) parts = g_strsplit(v, ":", -1);

  if (g_strv_length(parts) != 2 || !parse_hex(parts[0], 4, 0xffff, &u->vendor) ||
      !parse_hex(parts[1], 4, 0xffff, &u->product))
    return fail(error, "“%s” is not a USB id (vendor:product, e.g. 046d:c52b)", v);
  return TRUE;
}

#undef HANDLER
#undef P

static const char *const hypervisor_names[] = {"kvm", "qemu", NULL};
static const char *const policy_names[] = {"shutdown", "save", "destroy", NULL};
static const char *const on_timeout_names[] = {"destroy", "save", NULL};
static const char *const host_sleep_names[] = {"block", "save", "pause", "ignore", NULL};
static const char *const firmware_names[] = {"ovmf", "bios", NULL};
static const char *const clock_names[] = {"localtime", "utc", NULL};
static const char *const graphics_names[] = {"none", "spice", "vnc", NULL};
static const char *const format_names[] = {"raw", "qcow2", NULL};
static const char *const bus_names[] = {"virtio", "virtio-scsi", "sata", NULL};
static const char *const discard_names[] = {"unmap", "ignore", NULL};
static const char *const cache_names[] = {"none",       "writethrough", "writeback",
                                          "directsync", "unsafe",       NULL};
static const char *const io_names[] = {"native", "threads", "io_uring", NULL};
static const char *const net_names[] = {"bridge", "network", "user", NULL};
static const char *const video_names[] = {"none",  "virtio", "qxl",   "vga",
                                          "vmvga", "bochs",  "ramfb", NULL};
static const char *const sound_names[] = {"none", "ich9", "hda", "ac97", NULL};
static const char *const audio_names[] = {"none", "pipewire", "pulseaudio", "spice", NULL};
static const char *const codec_names[] = {"duplex", "output", "micro", NULL};
static const char *const usb_controller_names[] = {"none", "qemu-xhci", "nec-xhci", "ehci", NULL};
static const char *const lg_device_names[] = {"shm", "kvmfr", NULL};
static const char *const grab_toggle_names[] = {
    "ctrl-ctrl", "alt-alt", "shift-shift", "meta-meta", "scrolllock", "ctrl-scrolllock", NULL,
};

#define PROFILE(f) G_STRUCT_OFFSET(WvProfile, f)
#define CUSTOM(k, fn)                                                                              \
  {                                                                                                \
    k, KEY_CUSTOM, 0, fn                                                                           \
  }
#define END                                                                                        \
  {                                                                                                \
    NULL                                                                                           \
  }

static const KeyEntry vm_keys[] = {
    CUSTOM("name", vm_name),
    CUSTOM("template", vm_template),
    CUSTOM("uuid", vm_uuid),
    CUSTOM("machine", vm_machine),
    CUSTOM("memory", vm_memory),
    {"vcpus", KEY_UINT, PROFILE(vcpus), .min = 1, .max = 1024},
    {"hypervisor", KEY_ENUM, PROFILE(hypervisor), .names = hypervisor_names},
    {"autostart", KEY_BOOL, PROFILE(autostart)},
    {"raw-qemu", KEY_BOOL, PROFILE(raw_qemu)},
    CUSTOM("autostart-order", vm_autostart_order),
    {"autostart-delay", KEY_DURATION, PROFILE(autostart_delay_s)},
    {"on-host-shutdown", KEY_ENUM, PROFILE(on_host_shutdown), .names = policy_names},
    {"shutdown-timeout", KEY_DURATION, PROFILE(shutdown_timeout_s), .min = 1},
    CUSTOM("shutdown-method", vm_shutdown_method),
    {"acpi-repeat", KEY_DURATION, PROFILE(acpi_repeat_s), .min = 1},
    {"agent-timeout", KEY_DURATION, PROFILE(agent_timeout_s), .min = 1},
    {"on-timeout", KEY_ENUM, PROFILE(on_timeout), .names = on_timeout_names},
    {"guest-agent", KEY_TRISTATE, PROFILE(guest_agent)},
    {"on-host-sleep", KEY_ENUM, PROFILE(on_host_sleep), .names = host_sleep_names,
     .base = WV_HOST_SLEEP_BLOCK},
    END,
};

static const KeyEntry cpu_keys[] = {
    CUSTOM("mode", cpu_mode),
    CUSTOM("topology", cpu_topology),
    CUSTOM("pin", cpu_pin),
    {"host-reserved", KEY_CUSTOM, 0, cpu_host_reserved, .empty_ok = TRUE},
    CUSTOM("emulator-pin", cpu_emulator_pin),
    {"iothreads", KEY_UINT, PROFILE(iothreads), .min = 0, .max = 64},
    CUSTOM("iothread-pin", cpu_iothread_pin),
    CUSTOM("features", cpu_features),
    END,
};

static const char *const governor_names[] = {"keep", "performance", NULL};
static const char *const irq_names[] = {"keep", "steer", NULL};

static const KeyEntry host_keys[] = {
    {"isolate", KEY_TRISTATE, PROFILE(isolate)},
    {"governor", KEY_ENUM, PROFILE(governor), .names = governor_names},
    {"irq", KEY_ENUM, PROFILE(irq), .names = irq_names},
    END,
};

static const KeyEntry memory_keys[] = {
    CUSTOM("hugepages", mem_hugepages),
    {"hugepages-allocate", KEY_BOOL, PROFILE(hugepages_allocate)},
    CUSTOM("hugepages-fallback", mem_hugepages_fallback),
    {"balloon", KEY_TRISTATE, PROFILE(balloon)},
    END,
};

static const KeyEntry hyperv_keys[] = {
    CUSTOM("enlightenments", hv_enlightenments),
    CUSTOM("spinlocks", hv_spinlocks),
    CUSTOM("vendor-id", hv_vendor_id),
    {"kvm-hidden", KEY_BOOL, PROFILE(kvm_hidden)},
    END,
};

static const KeyEntry firmware_keys[] = {
    {"type", KEY_ENUM, PROFILE(firmware), .names = firmware_names, .base = WV_FIRMWARE_OVMF},
    {"secure-boot", KEY_TRISTATE, PROFILE(secure_boot)},
    {"tpm", KEY_TRISTATE, PROFILE(tpm)},
    {"nvram", KEY_PATH, PROFILE(nvram)},
    END,
};

static const KeyEntry clock_keys[] = {
    {"offset", KEY_ENUM, PROFILE(clock_offset), .names = clock_names, .base = WV_CLOCK_LOCALTIME},
    CUSTOM("timers", clock_timers),
    END,
};

static const KeyEntry graphics_keys[] = {
    {"type", KEY_ENUM, PROFILE(graphics), .names = graphics_names, .base = WV_GRAPHICS_NONE},
    END,
};

static const KeyEntry video_keys[] = {
    {"model", KEY_ENUM, PROFILE(video), .names = video_names, .base = WV_VIDEO_NONE},
    CUSTOM("vram", video_vram),
    END,
};

static const KeyEntry sound_keys[] = {
    {"model", KEY_ENUM, PROFILE(sound), .names = sound_names, .base = WV_SOUND_NONE},
    {"backend", KEY_ENUM, PROFILE(audio), .names = audio_names, .base = WV_AUDIO_NONE},
    {"codec", KEY_CHOICE, PROFILE(sound_codec), .names = codec_names},
    END,
};

static const KeyEntry usb_controller_keys[] = {
    {"controller", KEY_ENUM, PROFILE(usb_controller), .names = usb_controller_names,
     .base = WV_USB_NONE},
    END,
};

static const KeyEntry looking_glass_keys[] = {
    CUSTOM("resolution", lg_resolution),
    {"device", KEY_ENUM, PROFILE(lg_device), .names = lg_device_names},
    END,
};

static const KeyEntry input_keys[] = {
    CUSTOM("evdev", input_evdev),
    CUSTOM("grab", input_grab),
    {"repeat", KEY_TRISTATE, G_STRUCT_OFFSET(WvInput, repeat)},
    {"grab-toggle", KEY_CHOICE, G_STRUCT_OFFSET(WvInput, grab_toggle), .names = grab_toggle_names},
    END,
};

static const KeyEntry disk_keys[] = {
    {"source", KEY_PATH, G_STRUCT_OFFSET(WvDisk, source)},
    {"format", KEY_CHOICE, G_STRUCT_OFFSET(WvDisk, format), .names = format_names},
    {"bus", KEY_ENUM, G_STRUCT_OFFSET(WvDisk, bus), .names = bus_names},
    {"discard", KEY_CHOICE, G_STRUCT_OFFSET(WvDisk, discard), .names = discard_names},
    {"cache", KEY_CHOICE, G_STRUCT_OFFSET(WvDisk, cache), .names = cache_names},
    {"io", KEY_CHOICE, G_STRUCT_OFFSET(WvDisk, io), .names = io_names},
    {"boot", KEY_UINT, G_STRUCT_OFFSET(WvDisk, boot), .min = 1, .max = 64},
    END,
};

static const KeyEntry cdrom_keys[] = {
    {"source", KEY_PATH, G_STRUCT_OFFSET(WvCdrom, source)},
    {"boot", KEY_UINT, G_STRUCT_OFFSET(WvCdrom, boot), .min = 1, .max = 64},
    END,
};

static const KeyEntry network_keys[] = {
    {"type", KEY_ENUM, G_STRUCT_OFFSET(WvNetwork, type), .names = net_names},
    {"source", KEY_TOKEN, G_STRUCT_OFFSET(WvNetwork, source), .max = 64, .extra = "_.:-"},
    {"model", KEY_TOKEN, G_STRUCT_OFFSET(WvNetwork, model), .max = 32, .extra = "_-"},
    CUSTOM("mac", net_mac),
    END,
};

static const KeyEntry hostdev_keys[] = {
    CUSTOM("pci", hostdev_pci),
    {"rom", KEY_PATH, G_STRUCT_OFFSET(WvHostdev, rom)},
    END,
};

static const KeyEntry usb_keys[] = {
    CUSTOM("device", usb_device),
    END,
};

static const KeyEntry share_keys[] = {
    {"source", KEY_PATH, G_STRUCT_OFFSET(WvShare, source)},
    {"tag", KEY_TOKEN, G_STRUCT_OFFSET(WvShare, tag), .max = 36, .extra = "_.-"},
    END,
};

#undef PROFILE
#undef CUSTOM
#undef END

/* ---- sections ----------------------------------------------------------- */

static void
disk_free(gpointer p)
{
  WvDisk *d = p;
  g_free(d->id);
  g_free(d->source);
  g_free(d->format);
  g_free(d->discard);
  g_free(d->cache);
  g_free(d->io);
  g_free(d);
}

static void
cdrom_free(gpointer p)
{
  WvCdrom *c = p;
  g_free(c->id);
  g_free(c->source);
  g_free(c);
}

static void
network_free(gpointer p)
{
  WvNetwork *n = p;
  g_free(n->id);
  g_free(n->source);
  g_free(n->model);
  g_free(n->mac);
  g_free(n);
}

static void
hostdev_free(gpointer p)
{
  WvHostdev *h = p;
  g_free(h->id);
  g_array_unref(h->functions);
  g_free(h->rom);
  g_free(h);
}

static void
usb_free(gpointer p)
{
  WvUsb *u = p;
  g_free(u->id);
  g_free(u);
}

static void
input_free(gpointer p)
{
  WvInput *in = p;
  g_free(in->id);
  g_free(in->evdev);
  g_free(in->grab_toggle);
  g_free(in);
}

static void
share_free(gpointer p)
{
  WvShare *s = p;
  g_free(s->id);
  g_free(s->source);
  g_free(s->tag);
  g_free(s);
}

typedef struct
{
  const char *prefix; /* "disk:" ... or a fixed group name */
  gboolean is_section;
  const KeyEntry *keys;
  /* for sections: allocates the item, adds it to its list, returns it */
  gpointer (*add)(WvProfile *p, const char *id);
  const char *required; /* key a section must have, or NULL */
} GroupKind;

static gpointer
add_disk(WvProfile *p, const char *id)
{
  WvDisk *d = g_new0(WvDisk, 1);
  d->id = g_strdup(id);
  d->bus = WV_DISK_BUS_VIRTIO;
  g_ptr_array_add(own_list(&p->disks, (GDestroyNotify)disk_free), d);
  return d;
}

static gpointer
add_cdrom(WvProfile *p, const char *id)
{
  WvCdrom *c = g_new0(WvCdrom, 1);
  c->id = g_strdup(id);
  g_ptr_array_add(own_list(&p->cdroms, (GDestroyNotify)cdrom_free), c);
  return c;
}

static gpointer
add_network(WvProfile *p, const char *id)
{
  WvNetwork *n = g_new0(WvNetwork, 1);
  n->id = g_strdup(id);
  n->type = WV_NET_NETWORK;
  g_ptr_array_add(own_list(&p->networks, (GDestroyNotify)network_free), n);
  return n;
}

static gpointer
add_hostdev(WvProfile *p, const char *id)
{
  WvHostdev *h = g_new0(WvHostdev, 1);
  h->id = g_strdup(id);
  h->functions = g_array_new(FALSE, FALSE, sizeof(WvPciAddress));
  g_ptr_array_add(own_list(&p->hostdevs, (GDestroyNotify)hostdev_free), h);
  return h;
}

static gpointer
add_usb(WvProfile *p, const char *id)
{
  WvUsb *u = g_new0(WvUsb, 1);
  u->id = g_strdup(id);
  g_ptr_array_add(own_list(&p->usbs, (GDestroyNotify)usb_free), u);
  return u;
}

static gpointer
add_share(WvProfile *p, const char *id)
{
  WvShare *s = g_new0(WvShare, 1);
  s->id = g_strdup(id);
  g_ptr_array_add(own_list(&p->shares, (GDestroyNotify)share_free), s);
  return s;
}

static gpointer
add_input(WvProfile *p, const char *id)
{
  WvInput *in = g_new0(WvInput, 1);
  in->id = g_strdup(id);
  in->repeat = WV_TRI_UNSET;
  g_ptr_array_add(own_list(&p->inputs, (GDestroyNotify)input_free), in);
  return in;
}

static const GroupKind group_kinds[] = {
    {"vm", FALSE, vm_keys, NULL, NULL},
    {"cpu", FALSE, cpu_keys, NULL, NULL},
    {"memory", FALSE, memory_keys, NULL, NULL},
    {"host", FALSE, host_keys, NULL, NULL},
    {"hyperv", FALSE, hyperv_keys, NULL, NULL},
    {"firmware", FALSE, firmware_keys, NULL, NULL},
    {"clock", FALSE, clock_keys, NULL, NULL},
    {"graphics", FALSE, graphics_keys, NULL, NULL},
    {"video", FALSE, video_keys, NULL, NULL},
    {"sound", FALSE, sound_keys, NULL, NULL},
    {"usb", FALSE, usb_controller_keys, NULL, NULL},
    {"looking-glass", FALSE, looking_glass_keys, NULL, "resolution"},
    {"disk:", TRUE, disk_keys, add_disk, "source"},
    {"cdrom:", TRUE, cdrom_keys, add_cdrom, NULL},
    {"network:", TRUE, network_keys, add_network, NULL},
    {"hostdev:", TRUE, hostdev_keys, add_hostdev, "pci"},
    {"usb:", TRUE, usb_keys, add_usb, "device"},
    {"share:", TRUE, share_keys, add_share, "source"},
    {"input:", TRUE, input_keys, add_input, "evdev"},
};

static const GroupKind *
find_group_kind(const char *group, const char **id)
{
  for (guint i = 0; i < G_N_ELEMENTS(group_kinds); i++) {
    const GroupKind *k = &group_kinds[i];

    if (k->is_section && g_str_has_prefix(group, k->prefix)) {
      *id = group + strlen(k->prefix);
      return k;
    }
    if (!k->is_section && g_str_equal(group, k->prefix)) {
      *id = NULL;
      return k;
    }
  }
  return NULL;
}

static const KeyEntry *
find_key(const KeyEntry *keys, const char *key)
{
  for (guint i = 0; keys[i].key; i++)
    if (g_str_equal(keys[i].key, key))
      return &keys[i];
  return NULL;
}

static void
parse_group(Ctx *ctx, const Group *g)
{
  const char *group = g->name;
  const GroupKind *kind;
  const char *id = NULL;
  gpointer target = NULL;

  kind = find_group_kind(group, &id);
  if (kind == NULL) {
    ctx_error(ctx, group, NULL,
              "unknown group (known: vm, cpu, memory, host, hyperv, firmware, clock, graphics, "
              "video, sound, usb, looking-glass, disk:ID, cdrom:ID, network:ID, hostdev:ID, "
              "usb:ID, share:ID, input:ID)");
    return;
  }
  if (kind->is_section) {
    g_autoptr(GError) local = NULL;
    if (!check_token(id, WV_SECTION_ID_MAX, "_-", &local)) {
      ctx_error(ctx, group, NULL, "section id: %s", local->message);
      return;
    }
    target = kind->add(ctx->p, id);
  } else {
    target = ctx->p;
  }

  for (guint i = 0; i < g->entries->len; i++) {
    const Entry *e = &g_array_index(g->entries, Entry, i);
    const char *key = e->key;
    const KeyEntry *entry = find_key(kind->keys, key);
    g_autoptr(GError) local = NULL;
    g_autofree char *value = NULL;

    if (entry == NULL) {
      g_autoptr(GString) known = g_string_new(NULL);
      for (guint j = 0; kind->keys[j].key; j++)
        g_string_append_printf(known, "%s%s", j ? ", " : "", kind->keys[j].key);
      ctx_error(ctx, group, key, "unknown key (known: %s)", known->str);
      continue;
    }
    value = unescape(e->value, &local);
    if (value == NULL) {
      ctx_error(ctx, group, key, "%s", local->message);
      continue;
    }
    g_strstrip(value);
    for (const char *p = value; *p; p++) {
      if ((guchar)*p < 0x20 || *p == 0x7f) {
        ctx_error(ctx, group, key, "control characters are not allowed");
        goto next;
      }
    }
    if (value[0] == '\0' && !entry->empty_ok) {
      ctx_error(ctx, group, key, "empty value");
      continue;
    }
    if (!apply_key(ctx, entry, target, value, &local))
      ctx_error(ctx, group, key, "%s", local->message);
  next:;
  }
  if (kind->required) {
    gboolean found = FALSE;

    for (guint i = 0; i < g->entries->len && !found; i++)
      found = g_str_equal(g_array_index(g->entries, Entry, i).key, kind->required);
    if (!found)
      ctx_error(ctx, group, NULL, "“%s” is required", kind->required);
  }
}

/* ---- checks across keys ------------------------------------------------- */

static void
check_boot_orders(Ctx *ctx)
{
  WvProfile *p = ctx->p;
  g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);

  for (guint i = 0; i < p->disks->len + p->cdroms->len; i++) {
    gboolean is_disk = i < p->disks->len;
    guint boot = is_disk ? ((WvDisk *)p->disks->pdata[i])->boot
                         : ((WvCdrom *)p->cdroms->pdata[i - p->disks->len])->boot;
    const char *id = is_disk ? ((WvDisk *)p->disks->pdata[i])->id
                             : ((WvCdrom *)p->cdroms->pdata[i - p->disks->len])->id;
    g_autofree char *group = g_strconcat(is_disk ? "disk:" : "cdrom:", id, NULL);

    if (boot == 0)
      continue;
    if (g_hash_table_contains(seen, GUINT_TO_POINTER(boot)))
      ctx_error(ctx, group, "boot", "boot order %u is used twice", boot);
    g_hash_table_add(seen, GUINT_TO_POINTER(boot));
  }
}

/* The sound, video, USB and input keys that only make sense together. */
static void
check_devices(Ctx *ctx)
{
  WvProfile *p = ctx->p;

  if (p->sound_codec && p->sound != WV_SOUND_ICH9 && p->sound != WV_SOUND_HDA)
    ctx_error(ctx, "sound", "codec", "needs model = ich9 or hda (the HDA codecs)");
  if (p->audio != WV_AUDIO_UNSET && p->sound == WV_SOUND_NONE)
    ctx_error(ctx, "sound", "backend", "makes no sense with model = none");
  if (p->audio == WV_AUDIO_SPICE &&
      (p->graphics == WV_GRAPHICS_NONE || p->graphics == WV_GRAPHICS_VNC))
    ctx_error(ctx, "sound", "backend", "spice plays through a SPICE display; [graphics] type is %s",
              p->graphics == WV_GRAPHICS_NONE ? "none" : "vnc");
  if (p->video_vram_kib && p->video != WV_VIDEO_QXL && p->video != WV_VIDEO_VGA &&
      p->video != WV_VIDEO_VMVGA && p->video != WV_VIDEO_BOCHS)
    ctx_error(ctx, "video", "vram", "needs model = qxl, vga, vmvga or bochs");
  if (p->usb_controller == WV_USB_NONE && p->usbs->len > 0)
    ctx_error(ctx, "usb", "controller", "is none, but [usb:%s] needs a USB controller",
              ((WvUsb *)p->usbs->pdata[0])->id);
  if (p->machine && g_str_has_prefix(p->machine, "pc") && !strstr(p->machine, "q35") &&
      p->secure_boot == WV_TRI_ON)
    ctx_error(ctx, "firmware", "secure-boot", "needs a q35 machine; [vm] machine is %s",
              p->machine);
  for (guint i = 0; i < p->inputs->len; i++) {
    WvInput *a = p->inputs->pdata[i];
    g_autofree char *group = g_strconcat("input:", a->id, NULL);
    for (guint j = 0; j < i; j++)
      if (g_str_equal(a->evdev, ((WvInput *)p->inputs->pdata[j])->evdev))
        ctx_error(ctx, group, "evdev", "%s is already in [input:%s]", a->evdev,
                  ((WvInput *)p->inputs->pdata[j])->id);
  }
}

static void
check_profile(Ctx *ctx)
{
  WvProfile *p = ctx->p;

  if (!p->topology_auto && (guint64)p->sockets * p->dies * p->cores * p->threads != p->vcpus)
    ctx_error(ctx, "cpu", "topology",
              "%u sockets × %u dies × %u cores × %u threads is %" G_GUINT64_FORMAT
              " vCPUs, but vcpus = %u",
              p->sockets, p->dies, p->cores, p->threads,
              (guint64)p->sockets * p->dies * p->cores * p->threads, p->vcpus);
  if (p->pin == WV_PIN_LIST && p->pin_cpus->len != p->vcpus)
    ctx_error(ctx, "cpu", "pin", "lists %u host CPUs for %u vCPUs", p->pin_cpus->len, p->vcpus);
  if (p->iothread_pins && p->iothread_pins->len != p->iothreads)
    ctx_error(ctx, "cpu", "iothread-pin", "gives %u CPU sets for %u I/O threads",
              p->iothread_pins->len, p->iothreads);
  if (p->hugepage_kib && p->memory_kib % p->hugepage_kib != 0)
    ctx_error(ctx, "vm", "memory", "%" G_GUINT64_FORMAT "KiB is not a whole number of %s pages",
              p->memory_kib, wv_page_size_name(p->hugepage_kib));
  if (!p->hugepage_kib && p->hugepages_allocate)
    ctx_error(ctx, "memory", "hugepages-allocate", "is set but hugepages = none");
  if (p->hugepage_fallback_kib && p->hugepage_kib != 1024 * 1024)
    ctx_error(ctx, "memory", "hugepages-fallback", "is set but hugepages = %s, not 1G",
              wv_page_size_name(p->hugepage_kib));
  else if (p->hugepage_fallback_kib && !p->hugepages_allocate)
    ctx_error(ctx, "memory", "hugepages-fallback",
              "is set but hugepages-allocate is not: the pool never grows at start");
  if (p->secure_boot == WV_TRI_ON && p->firmware == WV_FIRMWARE_BIOS)
    ctx_error(ctx, "firmware", "secure-boot", "needs type = ovmf");
  if (p->nvram && p->firmware == WV_FIRMWARE_BIOS)
    ctx_error(ctx, "firmware", "nvram", "needs type = ovmf");

  for (guint i = 0; i < p->networks->len; i++) {
    WvNetwork *n = p->networks->pdata[i];
    g_autofree char *group = g_strconcat("network:", n->id, NULL);
    if (n->type != WV_NET_USER && n->source == NULL)
      ctx_error(ctx, group, "source", "is required for type = %s",
                n->type == WV_NET_BRIDGE ? "bridge" : "network");
    if (n->type == WV_NET_USER && n->source != NULL)
      ctx_error(ctx, group, "source", "makes no sense for type = user");
  }

  /* one device may be handed over once */
  for (guint i = 0; i < p->hostdevs->len; i++) {
    WvHostdev *a = p->hostdevs->pdata[i];
    for (guint j = 0; j < i; j++) {
      WvHostdev *b = p->hostdevs->pdata[j];
      WvPciAddress *x = &g_array_index(a->functions, WvPciAddress, 0);
      WvPciAddress *y = &g_array_index(b->functions, WvPciAddress, 0);
      g_autofree char *group = g_strconcat("hostdev:", a->id, NULL);
      if (x->domain == y->domain && x->bus == y->bus && x->slot == y->slot)
        ctx_error(ctx, group, "pci", "device %04x:%02x:%02x is already in [hostdev:%s]", x->domain,
                  x->bus, x->slot, b->id);
    }
  }
  for (guint i = 0; i < p->usbs->len; i++) {
    WvUsb *a = p->usbs->pdata[i];
    for (guint j = 0; j < i; j++) {
      WvUsb *b = p->usbs->pdata[j];
      g_autofree char *group = g_strconcat("usb:", a->id, NULL);
      if (a->vendor == b->vendor && a->product == b->product)
        ctx_error(ctx, group, "device", "%04x:%04x is already in [usb:%s]", a->vendor, a->product,
                  b->id);
    }
  }
  for (guint i = 0; i < p->shares->len; i++) {
    WvShare *a = p->shares->pdata[i];
    g_autofree char *group = g_strconcat("share:", a->id, NULL);
    if (a->tag == NULL) {
      g_free(a->tag);
      a->tag = g_strdup(a->id);
    }
    for (guint j = 0; j < i; j++)
      if (g_str_equal(a->tag, ((WvShare *)p->shares->pdata[j])->tag))
        ctx_error(ctx, group, "tag", "tag “%s” is used twice", a->tag);
  }
  check_boot_orders(ctx);
  check_devices(ctx);
}

/* ---- entry points ------------------------------------------------------- */

static WvProfile *
profile_new(const char *path)
{
  WvProfile *p = g_new0(WvProfile, 1);

  p->path = g_strdup(path);
  p->template_name = g_strdup("windows11");
  p->memory_kib = 4 * 1024 * 1024;
  p->vcpus = 2;
  p->hypervisor = WV_HYPERVISOR_KVM;
  p->on_host_shutdown = WV_HOST_SHUTDOWN_SHUTDOWN;
  p->shutdown_timeout_s = 120;
  p->acpi_repeat_s = 15;
  p->agent_timeout_s = 10;
  p->on_timeout = WV_ON_TIMEOUT_DESTROY;
  p->guest_agent = WV_TRI_UNSET;
  p->cpu_mode = WV_CPU_MODE_HOST_PASSTHROUGH;
  p->topology_auto = TRUE;
  p->pin = WV_PIN_AUTO;
  p->cpu_features = no_items();
  p->balloon = WV_TRI_UNSET;
  p->isolate = WV_TRI_UNSET;
  p->hyperv_auto = TRUE;
  p->hyperv_features = wv_hyperv_auto_set();
  p->spinlocks = 8191;
  p->firmware = WV_FIRMWARE_UNSET;
  p->secure_boot = WV_TRI_UNSET;
  p->tpm = WV_TRI_UNSET;
  p->clock_offset = WV_CLOCK_UNSET;
  p->timers = no_items();
  p->disks = no_items();
  p->cdroms = no_items();
  p->networks = no_items();
  p->hostdevs = no_items();
  p->usbs = no_items();
  p->shares = no_items();
  p->inputs = no_items();
  p->graphics = WV_GRAPHICS_UNSET;
  p->refcount = 1;
  return p;
}

WvProfile *
wv_profile_ref(WvProfile *p)
{
  g_atomic_int_inc(&p->refcount);
  return p;
}

void
wv_profile_unref(WvProfile *p)
{
  if (p == NULL || !g_atomic_int_dec_and_test(&p->refcount))
    return;
  g_free(p->path);
  g_free(p->etag);
  g_free(p->name);
  g_free(p->template_name);
  g_free(p->uuid);
  g_free(p->machine);
  g_free(p->cpu_model);
  g_clear_pointer(&p->pin_cpus, g_array_unref);
  wv_cpuset_free(p->host_reserved);
  wv_cpuset_free(p->emulator_pin);
  g_clear_pointer(&p->iothread_pins, g_ptr_array_unref);
  g_ptr_array_unref(p->cpu_features);
  g_free(p->vendor_id);
  g_free(p->nvram);
  g_ptr_array_unref(p->timers);
  g_ptr_array_unref(p->disks);
  g_ptr_array_unref(p->cdroms);
  g_ptr_array_unref(p->networks);
  g_ptr_array_unref(p->hostdevs);
  g_ptr_array_unref(p->usbs);
  g_ptr_array_unref(p->shares);
  g_ptr_array_unref(p->inputs);
  g_free(p->sound_codec);
  g_free(p->lines);
  g_free(p);
}

static char *
default_name(const char *path)
{
  g_autofree char *base = g_path_get_basename(path);

  if (g_str_has_suffix(base, ".conf"))
    base[strlen(base) - 5] = '\0';
  return g_steal_pointer(&base);
}

/* FNV-1a, 64 bits */
static char *
fingerprint(const char *data, gsize len)
{
  guint64 h = G_GUINT64_CONSTANT(14695981039346656037);

  for (gsize i = 0; i < len; i++) {
    h ^= (guchar)data[i];
    h *= G_GUINT64_CONSTANT(1099511628211);
  }
  return g_strdup_printf("%016" G_GINT64_MODIFIER "x", h);
}

char *
wv_profile_etag(const char *data, gsize len)
{
  return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

gboolean
wv_profile_is_windows(const WvProfile *p)
{
  g_autofree char *base = g_path_get_basename(p->template_name);

  return g_str_has_prefix(base, "windows");
}

/* Windows templates carry the guest agent's channel: ask it first. */
static void
default_shutdown_methods(WvProfile *p)
{
  gboolean agent =
      p->guest_agent == WV_TRI_UNSET ? wv_profile_is_windows(p) : p->guest_agent == WV_TRI_ON;

  p->n_shutdown_methods = 0;
  if (agent)
    p->shutdown_methods[p->n_shutdown_methods++] = WV_STOP_METHOD_AGENT;
  p->shutdown_methods[p->n_shutdown_methods++] = WV_STOP_METHOD_ACPI;
}

WvProfile *
wv_profile_parse(const char *data, gsize len, const char *path, GError **error)
{
  g_autoptr(WvProfile) p = profile_new(path);
  g_autoptr(GString) errors = g_string_new(NULL);
  g_autoptr(GArray) groups = g_array_new(FALSE, FALSE, sizeof(Group));
  g_autofree char *text = NULL;
  g_autoptr(GHashTable) lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  Ctx ctx = {.path = path, .groups = groups, .lines = lines, .errors = errors, .p = p};

  if (len > WV_PROFILE_MAX_SIZE) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: larger than %d bytes", path,
                WV_PROFILE_MAX_SIZE);
    return NULL;
  }
  if (memchr(data, '\0', len) != NULL || !g_utf8_validate(data, (gssize)len, NULL)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: not a UTF-8 text file", path);
    return NULL;
  }
  g_array_set_clear_func(groups, (GDestroyNotify)group_clear);
  if (!scan_lines(&ctx, data, len)) {
    g_free(ctx.text);
    close_errors(&ctx);
    g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, errors->str);
    return NULL;
  }
  text = ctx.text; /* the groups point into it */
  for (guint i = 0; i < groups->len; i++)
    parse_group(&ctx, &g_array_index(groups, Group, i));
  if (p->name == NULL) {
    g_autofree char *name = default_name(path);
    if (!wv_name_is_valid(name))
      add_error(&ctx, "%s: the file name does not make a valid VM name; set [vm] name", path);
    p->name = g_steal_pointer(&name);
  }
  if (p->n_shutdown_methods == 0)
    default_shutdown_methods(p);
  /* suspending the host under a passed-through device breaks it */
  if (p->on_host_sleep == WV_HOST_SLEEP_DEFAULT)
    p->on_host_sleep = p->hostdevs->len > 0 ? WV_HOST_SLEEP_BLOCK : WV_HOST_SLEEP_IGNORE;
  if (errors->len == 0)
    check_profile(&ctx);
  if (errors->len > 0) {
    close_errors(&ctx);
    g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, errors->str);
    return NULL;
  }
  p->lines = pack_lines(lines);
  p->etag = fingerprint(data, len);
  return g_steal_pointer(&p);
}

static WvProfile *
load_file(const char *path, gboolean trusted, GError **error)
{
  gsize len = 0;
  g_autofree char *data = wv_file_read(path, WV_PROFILE_MAX_SIZE, trusted, &len, error);

  return data ? wv_profile_parse(data, len, path, error) : NULL;
}

WvProfile *
wv_profile_load(const char *path, GError **error)
{
  return load_file(path, FALSE, error);
}

static gint
compare_paths(gconstpointer a, gconstpointer b)
{
  return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* The directory itself: root's, and writable by nobody else (else anybody
 * could put a profile in it). */
gboolean
wv_profile_dir_check(const char *dir, GError **error)
{
  struct stat st;

  if (stat(dir, &st) < 0) {
    int saved = errno;
    g_set_error(error, WV_ERROR, saved == ENOENT ? WV_ERROR_NOT_FOUND : WV_ERROR_INVALID_PROFILE,
                "profile directory %s: %s", dir, g_strerror(saved));
    return FALSE;
  }
  if (!S_ISDIR(st.st_mode)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "profile directory %s: not a directory",
                dir);
    return FALSE;
  }
  if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                "profile directory %s: owned by uid %u with mode %04o; it must be root's and "
                "writable by nobody else (chown root; chmod go-w)",
                dir, (guint)st.st_uid, (guint)(st.st_mode & 07777));
    return FALSE;
  }
  return TRUE;
}

GHashTable *
wv_profile_load_dir(const char *dir, GPtrArray **errors)
{
  g_autoptr(GHashTable) profiles =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)wv_profile_unref);
  g_autoptr(GHashTable) uuids = g_hash_table_new(g_str_hash, g_str_equal); /* uuid -> path */
  g_autoptr(GPtrArray) errs = g_ptr_array_new_with_free_func((GDestroyNotify)g_error_free);
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GDir) d = NULL;
  GError *local = NULL;
  const char *entry;

  if (!wv_profile_dir_check(dir, &local) || (d = g_dir_open(dir, 0, &local)) == NULL) {
    g_ptr_array_add(errs, local);
    if (errors)
      *errors = g_steal_pointer(&errs);
    return NULL;
  }
  while ((entry = g_dir_read_name(d)) != NULL)
    if (g_str_has_suffix(entry, ".conf") && entry[0] != '.')
      g_ptr_array_add(files, g_build_filename(dir, entry, NULL));
  g_ptr_array_sort(files, compare_paths);
  for (guint i = 0; i < files->len; i++) {
    WvProfile *p = load_file(files->pdata[i], TRUE, &local);
    WvProfile *other;
    const char *twin;

    if (p == NULL) {
      g_ptr_array_add(errs, local);
      local = NULL;
      continue;
    }
    other = g_hash_table_lookup(profiles, p->name);
    if (other != NULL) {
      g_ptr_array_add(errs, g_error_new(WV_ERROR, WV_ERROR_INVALID_PROFILE,
                                        "%s: VM name “%s” is already used by %s", p->path, p->name,
                                        other->path));
      wv_profile_unref(p);
      continue;
    }
    twin = p->uuid ? g_hash_table_lookup(uuids, p->uuid) : NULL;
    if (twin != NULL) {
      g_ptr_array_add(errs, g_error_new(WV_ERROR, WV_ERROR_INVALID_PROFILE,
                                        "%s: [vm] uuid: the same UUID as %s; each VM needs its "
                                        "own (remove the key to get a new one)",
                                        p->path, twin));
      wv_profile_unref(p);
      continue;
    }
    if (p->uuid)
      g_hash_table_insert(uuids, p->uuid, p->path);
    g_hash_table_insert(profiles, p->name, p);
  }
  if (errors)
    *errors = g_steal_pointer(&errs);
  return g_steal_pointer(&profiles);
}

/* The error messages anybody may read (ProfileErrors is world-readable):
 * every “quoted” value is left out, so no line of a file reaches a user who
 * could not read the file. */
char *
wv_profile_error_public(const char *message)
{
  GString *out = g_string_new(NULL);
  const char *p = message;
  const char *open;

  while ((open = strstr(p, "“")) != NULL) {
    const char *close = strstr(open + strlen("“"), "”");

    if (close == NULL)
      break;
    g_string_append_len(out, p, open - p);
    g_string_append(out, "“…”");
    p = close + strlen("”");
  }
  g_string_append(out, p);
  return g_string_free(out, FALSE);
}

char *
wv_profile_text_set(const char *text, const char *group, const char *key, const char *value,
                    GError **error)
{
  g_auto(GStrv) lines = NULL;
  g_autoptr(GString) out = g_string_new(NULL);
  g_autofree char *setting = value ? g_strdup_printf("%s = %s", key, value) : NULL;
  gboolean in_group = FALSE, done = FALSE;
  gint insert_after = -1; /* last line of the group */
  guint n;

  for (const char *c = value; c && *c; c++)
    if (g_ascii_iscntrl(*c)) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                  "[%s] %s: a value is one line without control characters", group, key);
      return NULL;
    }
  lines = g_strsplit(text, "\n", -1);
  n = g_strv_length(lines);
  for (guint i = 0; i < n; i++) {
    g_autofree char *t = g_strstrip(g_strdup(lines[i]));
    char *eq;

    if (t[0] == '[') {
      g_autofree char *name = g_strndup(t + 1, strlen(t) > 2 ? strlen(t) - 2 : 0);
      in_group = g_str_equal(name, group);
      if (in_group)
        insert_after = (gint)i;
      continue;
    }
    if (!in_group || t[0] == '#' || t[0] == ';' || t[0] == '\0')
      continue;
    insert_after = (gint)i;
    eq = strchr(t, '=');
    if (eq && !done) {
      *eq = '\0';
      if (g_str_equal(g_strstrip(t), key)) {
        g_free(lines[i]);
        lines[i] = setting ? g_strdup(setting) : NULL;
        done = TRUE;
        if (lines[i] == NULL) { /* removed: close the gap */
          memmove(&lines[i], &lines[i + 1], (n - i) * sizeof(char *));
          n--;
          i--;
        }
      }
    }
  }
  if (!done && value == NULL)
    return g_strdup(text);
  /* a new group: [vm] first, as profiles begin, any other at the end */
  if (!done && insert_after < 0 && g_str_equal(group, "vm"))
    g_string_append_printf(out, "[%s]\n%s\n\n", group, setting);
  for (guint i = 0; i < n; i++) {
    g_string_append(out, lines[i]);
    if (i + 1 < n)
      g_string_append_c(out, '\n');
    if (!done && (gint)i == insert_after)
      g_string_append_printf(out, "%s\n", setting);
  }
  if (!done && insert_after < 0 && !g_str_equal(group, "vm"))
    g_string_append_printf(out, "%s[%s]\n%s\n",
                           out->len == 0                    ? ""
                           : out->str[out->len - 1] == '\n' ? "\n"
                                                            : "\n\n",
                           group, setting);
  return g_string_free(g_steal_pointer(&out), FALSE);
}

gboolean
wv_profile_set_value(const char *path, const char *group, const char *key, const char *value,
                     GError **error)
{
  g_autofree char *data = NULL;
  g_autofree char *edited = NULL;
  g_autoptr(GError) local = NULL;
  GStatBuf st;

  if (!g_file_get_contents(path, &data, NULL, &local) || g_stat(path, &st) < 0) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "cannot read %s: %s", path,
                local ? local->message : g_strerror(errno));
    return FALSE;
  }
  if ((edited = wv_profile_text_set(data, group, key, value, error)) == NULL)
    return FALSE;
  if (!g_file_set_contents_full(path, edited, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                (int)(st.st_mode & 07777), &local)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "cannot update %s: %s", path, local->message);
    return FALSE;
  }
  return TRUE;
}
