/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wv-cpuset.h"
#include "wv-common.h"

#include <stdlib.h>

/* The input as messages quote it: at most 80 bytes, cut at a character. */
static char *
quoted(const char *text)
{
  const char *end = text;

  while (*end && end - text < 80)
    end = g_utf8_next_char(end);
  return *end ? g_strdup_printf("%.*s…", (int)(end - text), text) : g_strdup(text);
}

static int
cmp_uint(gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *)a, y = *(const guint *)b;
  return x < y ? -1 : x > y;
}

WvCpuset *
wv_cpuset_new(const guint *cpus, guint n)
{
  WvCpuset *set = g_new0(WvCpuset, 1);
  guint out = 0;

  set->cpus = g_new(guint, MAX(n, 1));
  if (n > 0)
    memcpy(set->cpus, cpus, n * sizeof(guint));
  qsort(set->cpus, n, sizeof(guint), cmp_uint);
  for (guint i = 0; i < n; i++) {
    if (out == 0 || set->cpus[out - 1] != set->cpus[i])
      set->cpus[out++] = set->cpus[i];
  }
  set->n = out;
  return set;
}

void
wv_cpuset_free(WvCpuset *set)
{
  if (set == NULL)
    return;
  g_free(set->cpus);
  g_free(set);
}

WvCpuset *
wv_cpuset_copy(const WvCpuset *set)
{
  return wv_cpuset_new(set->cpus, set->n);
}

/* Reads a decimal CPU number at *p, advancing it. */
static gboolean
parse_cpu(const char *text, const char *label, const char **p, guint *out, GError **error)
{
  guint64 v = 0;
  const char *start = *p;

  while (g_ascii_isdigit(**p)) {
    v = v * 10 + (guint64)(**p - '0');
    if (v > WV_CPU_MAX) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                  "“%s” is not a CPU list: CPU numbers go up to %u", label, WV_CPU_MAX);
      return FALSE;
    }
    (*p)++;
  }
  if (*p == start) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                "“%s” is not a CPU list: expected a CPU number at offset %d", label,
                (int)(start - text));
    return FALSE;
  }
  *out = (guint)v;
  return TRUE;
}

GArray *
wv_cpu_list_parse(const char *text, GError **error)
{
  g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));
  guint64 seen[(WV_CPU_MAX + 64) / 64] = {0}; /* a bit per CPU: 1 KiB */
  g_autofree char *copy = NULL;
  g_autofree char *label = NULL;
  const char *p;

  if (text == NULL) {
    g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "empty CPU list");
    return NULL;
  }
  copy = g_strstrip(g_strdup(text));
  if (copy[0] == '\0') {
    g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "empty CPU list");
    return NULL;
  }
  if (!g_utf8_validate(copy, -1, NULL)) {
    g_set_error_literal(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "CPU list is not valid UTF-8");
    return NULL;
  }

  label = quoted(copy);
  p = copy;
  for (;;) {
    guint lo, hi;

    if (!parse_cpu(copy, label, &p, &lo, error))
      return NULL;
    hi = lo;
    if (*p == '-') {
      p++;
      if (!parse_cpu(copy, label, &p, &hi, error))
        return NULL;
      if (hi < lo) {
        g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                    "“%s” is not a CPU list: range %u-%u runs backwards", label, lo, hi);
        return NULL;
      }
    }
    for (guint c = lo; c <= hi; c++) {
      if (seen[c / 64] & (G_GUINT64_CONSTANT(1) << (c % 64))) {
        g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                    "“%s” is not a CPU list: CPU %u is listed twice", label, c);
        return NULL;
      }
      seen[c / 64] |= G_GUINT64_CONSTANT(1) << (c % 64);
      g_array_append_val(cpus, c);
    }
    if (*p == '\0')
      break;
    if (*p != ',') {
      /* the whole character: the message must stay valid UTF-8 for D-Bus */
      g_autofree char *c = g_strndup(p, (gsize)(g_utf8_next_char(p) - p));
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                  "“%s” is not a CPU list: unexpected “%s” at offset %d", label, c,
                  (int)(p - copy));
      return NULL;
    }
    p++;
  }
  return g_steal_pointer(&cpus);
}

WvCpuset *
wv_cpuset_parse(const char *text, GError **error)
{
  g_autoptr(GArray) cpus = wv_cpu_list_parse(text, error);

  if (cpus == NULL)
    return NULL;
  return wv_cpuset_new((const guint *)(gpointer)cpus->data, cpus->len);
}

static void
append_uint(GString *s, guint v)
{
  char digits[12];
  char *p = digits + sizeof digits;

  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  g_string_append_len(s, p, digits + sizeof digits - p);
}

/* Written for every render: no printf. */
char *
wv_cpuset_format(const WvCpuset *set)
{
  GString *s = g_string_sized_new(16);

  for (guint i = 0; i < set->n;) {
    guint j = i;

    while (j + 1 < set->n && set->cpus[j + 1] == set->cpus[j] + 1)
      j++;
    if (s->len > 0)
      g_string_append_c(s, ',');
    append_uint(s, set->cpus[i]);
    if (j != i) {
      g_string_append_c(s, '-');
      append_uint(s, set->cpus[j]);
    }
    i = j + 1;
  }
  return g_string_free(s, FALSE);
}

gboolean
wv_cpuset_contains(const WvCpuset *set, guint cpu)
{
  guint lo = 0, hi = set->n;

  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    if (set->cpus[mid] == cpu)
      return TRUE;
    if (set->cpus[mid] < cpu)
      lo = mid + 1;
    else
      hi = mid;
  }
  return FALSE;
}

gboolean
wv_cpuset_is_subset(const WvCpuset *sub, const WvCpuset *super)
{
  for (guint i = 0; i < sub->n; i++)
    if (!wv_cpuset_contains(super, sub->cpus[i]))
      return FALSE;
  return TRUE;
}

gboolean
wv_cpuset_intersects(const WvCpuset *a, const WvCpuset *b)
{
  for (guint i = 0; i < a->n; i++)
    if (wv_cpuset_contains(b, a->cpus[i]))
      return TRUE;
  return FALSE;
}

gboolean
wv_cpuset_equal(const WvCpuset *a, const WvCpuset *b)
{
  return a->n == b->n && memcmp(a->cpus, b->cpus, a->n * sizeof(guint)) == 0;
}

WvCpuset *
wv_cpuset_union(const WvCpuset *a, const WvCpuset *b)
{
  g_autofree guint *all = g_new(guint, a->n + b->n + 1);

  memcpy(all, a->cpus, a->n * sizeof(guint));
  memcpy(all + a->n, b->cpus, b->n * sizeof(guint));
  return wv_cpuset_new(all, a->n + b->n);
}

WvCpuset *
wv_cpuset_difference(const WvCpuset *a, const WvCpuset *b)
{
  g_autofree guint *left = g_new(guint, a->n + 1);
  guint n = 0;

  for (guint i = 0; i < a->n; i++)
    if (!wv_cpuset_contains(b, a->cpus[i]))
      left[n++] = a->cpus[i];
  return wv_cpuset_new(left, n);
}

GBytes *
wv_cpuset_to_bitmask(const WvCpuset *set)
{
  gsize len = set->n ? set->cpus[set->n - 1] / 8 + 1 : 0;
  guint8 *bytes = g_malloc0(MAX(len, 1));

  for (guint i = 0; i < set->n; i++)
    bytes[set->cpus[i] / 8] |= (guint8)(1u << (set->cpus[i] % 8));
  return g_bytes_new_take(bytes, len);
}

WvCpuset *
wv_cpuset_from_bitmask(const guint8 *bytes, gsize len)
{
  g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));

  for (gsize i = 0; i < len && i * 8 <= WV_CPU_MAX; i++)
    for (guint bit = 0; bit < 8; bit++)
      if (bytes[i] & (1u << bit)) {
        guint cpu = (guint)(i * 8 + bit);
        g_array_append_val(cpus, cpu);
      }
  return wv_cpuset_new((const guint *)cpus->data, cpus->len);
}

char *
wv_cpuset_format_mask(const WvCpuset *set)
{
  guint groups = set->n ? set->cpus[set->n - 1] / 32 + 1 : 1;
  g_autofree guint32 *words = g_new0(guint32, groups);
  GString *s = g_string_new(NULL);

  for (guint i = 0; i < set->n; i++)
    words[set->cpus[i] / 32] |= 1u << (set->cpus[i] % 32);
  g_string_append_printf(s, "%x", words[groups - 1]);
  for (guint g = groups - 1; g > 0; g--)
    g_string_append_printf(s, ",%08x", words[g - 1]);
  return g_string_free(s, FALSE);
}

WvCpuset *
wv_cpuset_parse_mask(const char *text, GError **error)
{
  g_autofree char *copy = g_strstrip(g_strdup(text));
  g_auto(GStrv) groups = g_strsplit(copy, ",", -1);
  g_autoptr(GArray) cpus = g_array_new(FALSE, FALSE, sizeof(guint));
  guint n = g_strv_length(groups);

  if (n == 0 || (gsize)n * 32 > WV_CPU_MAX + 1)
    goto bad;
  for (guint g = 0; g < n; g++) {
    const char *word = groups[n - 1 - g];
    guint64 value;

    if (*word == '\0' || strlen(word) > 8 ||
        !g_ascii_string_to_unsigned(word, 16, 0, G_MAXUINT32, &value, NULL))
      goto bad;
    for (guint bit = 0; bit < 32; bit++)
      if (value & (G_GUINT64_CONSTANT(1) << bit)) {
        guint cpu = g * 32 + bit;
        g_array_append_val(cpus, cpu);
      }
  }
  return wv_cpuset_new((const guint *)cpus->data, cpus->len);

bad : {
  g_autofree char *q = quoted(text);
  g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "“%s” is not a CPU mask", q);
  return NULL;
}
}
