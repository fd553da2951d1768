/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-ledger.h"
#include "wv-common.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#define LEDGER_FILE "host.ledger"
#define VM_PREFIX   "vm "

struct _WvLedger
{
  char *runtime_dir;
  char *path;
  GPtrArray *changes; /* WvLedgerChange*, in the order first recorded */
  GPtrArray *vms;     /* WvLedgerVm*, sorted by name */
};

static const char *const state_names[] = {"intent", "applied", "restoring"};

const char *
wv_ledger_state_name(WvLedgerState state)
{
  g_return_val_if_fail((guint)state < G_N_ELEMENTS(state_names), "?");
  return state_names[state];
}

static void
change_free(gpointer p)
{
  WvLedgerChange *c = p;

  g_free(c->key);
  g_bytes_unref(c->previous);
  g_bytes_unref(c->value);
  g_strfreev(c->vms);
  g_free(c);
}

static void
vm_free(gpointer p)
{
  WvLedgerVm *v = p;

  g_free(v->vm);
  wv_cpuset_free(v->cpus);
  g_free(v);
}

static WvLedger *
ledger_new(const char *runtime_dir)
{
  WvLedger *ledger = g_new0(WvLedger, 1);

  ledger->runtime_dir = g_strdup(runtime_dir);
  ledger->path = runtime_dir ? g_build_filename(runtime_dir, LEDGER_FILE, NULL) : NULL;
  ledger->changes = g_ptr_array_new_with_free_func(change_free);
  ledger->vms = g_ptr_array_new_with_free_func(vm_free);
  return ledger;
}

void
wv_ledger_free(WvLedger *ledger)
{
  if (ledger == NULL)
    return;
  g_free(ledger->runtime_dir);
  g_free(ledger->path);
  g_ptr_array_unref(ledger->changes);
  g_ptr_array_unref(ledger->vms);
  g_free(ledger);
}

const char *
wv_ledger_path(WvLedger *ledger)
{
  return ledger->path;
}

/* ---- file --------------------------------------------------------------- */

static gint
str_cmp(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @names sorted, each once, NULL-terminated */
static char **
sorted_names(const char *const *names)
{
  GPtrArray *out = g_ptr_array_new();

  for (guint i = 0; names && names[i]; i++) {
    gboolean seen = FALSE;
    for (guint j = 0; j < out->len && !seen; j++)
      seen = g_str_equal(out->pdata[j], names[i]);
    if (!seen)
      g_ptr_array_add(out, g_strdup(names[i]));
  }
  g_ptr_array_sort(out, str_cmp);
  g_ptr_array_add(out, NULL);
  return (char **)g_ptr_array_free(out, FALSE);
}

static gboolean
get_bytes(GKeyFile *kf, const char *group, const char *key, GBytes **out)
{
  g_autofree char *text = g_key_file_get_value(kf, group, key, NULL);
  gsize len = 0;
  guchar *data;

  if (text == NULL)
    return FALSE;
  data = g_base64_decode(text, &len);
  *out = g_bytes_new_take(data, len);
  return TRUE;
}

static gboolean
load_change(WvLedger *ledger, GKeyFile *kf, const char *group)
{
  g_autoptr(GBytes) previous = NULL;
  g_autoptr(GBytes) value = NULL;
  g_autofree char *state = g_key_file_get_value(kf, group, "state", NULL);
  g_auto(GStrv) vms = g_key_file_get_string_list(kf, group, "vms", NULL, NULL);
  gint s = -1;

  for (guint i = 0; state && i < G_N_ELEMENTS(state_names); i++)
    if (g_str_equal(state, state_names[i]))
      s = (gint)i;
  if (s < 0 || !get_bytes(kf, group, "previous", &previous) ||
      !get_bytes(kf, group, "value", &value))
    return FALSE;
  for (guint i = 0; vms && vms[i]; i++)
    if (!wv_name_is_valid(vms[i]))
      return FALSE;
  wv_ledger_record(ledger, group, previous, value, (WvLedgerState)s, (const char *const *)vms);
  return TRUE;
}

static gboolean
load_vm(WvLedger *ledger, GKeyFile *kf, const char *group)
{
  const char *name = group + strlen(VM_PREFIX);
  g_autofree char *cpus = g_key_file_get_value(kf, group, "cpus", NULL);
  g_autoptr(GError) error = NULL;
  WvLedgerVm need = {.vm = (char *)name};
  g_autoptr(WvCpuset) set = NULL;

  if (!wv_name_is_valid(name) || cpus == NULL)
    return FALSE;
  set = *cpus ? wv_cpuset_parse(cpus, NULL) : wv_cpuset_new(NULL, 0);
  if (set == NULL)
    return FALSE;
  need.cpus = set;
  need.isolate = g_key_file_get_boolean(kf, group, "isolate", &error);
  if (error == NULL)
    need.governor = g_key_file_get_boolean(kf, group, "governor", &error);
  if (error == NULL)
    need.irq = g_key_file_get_boolean(kf, group, "irq", &error);
  if (error)
    return FALSE;
  wv_ledger_set_vm(ledger, &need);
  return TRUE;
}

WvLedger *
wv_ledger_load(const char *runtime_dir, GError **error)
{
  g_autoptr(WvLedger) ledger = ledger_new(runtime_dir);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) local = NULL;
  g_auto(GStrv) groups = NULL;

  if (runtime_dir == NULL)
    return g_steal_pointer(&ledger);
  if (!g_key_file_load_from_file(kf, ledger->path, G_KEY_FILE_NONE, &local)) {
    if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return g_steal_pointer(&ledger);
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not read the host ledger %s: %s",
                ledger->path, local->message);
    return NULL;
  }
  groups = g_key_file_get_groups(kf, NULL);
  for (guint i = 0; groups[i]; i++) {
    gboolean ok;

    if (g_str_has_prefix(groups[i], VM_PREFIX))
      ok = load_vm(ledger, kf, groups[i]);
    else if (g_str_has_prefix(groups[i], "unit:") || g_str_has_prefix(groups[i], "file:/"))
      ok = load_change(ledger, kf, groups[i]);
    else
      ok = FALSE;
    if (!ok) {
      g_set_error(error, WV_ERROR, WV_ERROR_FAILED,
                  "The host ledger %s is corrupt: [%s] makes no sense", ledger->path, groups[i]);
      return NULL;
    }
  }
  return g_steal_pointer(&ledger);
}

static void
set_bytes(GKeyFile *kf, const char *group, const char *key, GBytes *bytes)
{
  gsize len = 0;
  const guchar *data = g_bytes_get_data(bytes, &len);
  g_autofree char *text = g_base64_encode(data, len);

  g_key_file_set_value(kf, group, key, text);
}

gboolean
wv_ledger_save(WvLedger *ledger, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) local = NULL;
  g_autofree char *data = NULL;
  gsize len;

  if (ledger->path == NULL) {
    g_set_error_literal(error, WV_ERROR, WV_ERROR_FAILED,
                        "The host ledger has no runtime directory to live in");
    return FALSE;
  }
  if (ledger->changes->len == 0 && ledger->vms->len == 0) {
    if (g_unlink(ledger->path) < 0 && errno != ENOENT) {
      int saved = errno;
      g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not remove the host ledger %s: %s",
                  ledger->path, g_strerror(saved));
      return FALSE;
    }
    return TRUE;
  }
  for (guint i = 0; i < ledger->vms->len; i++) {
    const WvLedgerVm *v = ledger->vms->pdata[i];
    g_autofree char *group = g_strconcat(VM_PREFIX, v->vm, NULL);
    g_autofree char *cpus = wv_cpuset_format(v->cpus);

    g_key_file_set_string(kf, group, "cpus", cpus);
    g_key_file_set_boolean(kf, group, "isolate", v->isolate);
    g_key_file_set_boolean(kf, group, "governor", v->governor);
    g_key_file_set_boolean(kf, group, "irq", v->irq);
  }
  for (guint i = 0; i < ledger->changes->len; i++) {
    const WvLedgerChange *c = ledger->changes->pdata[i];

    g_key_file_set_string(kf, c->key, "state", state_names[c->state]);
    set_bytes(kf, c->key, "previous", c->previous);
    set_bytes(kf, c->key, "value", c->value);
    g_key_file_set_string_list(kf, c->key, "vms", (const char *const *)c->vms,
                               g_strv_length(c->vms));
  }
  data = g_key_file_to_data(kf, &len, NULL);
  if (g_mkdir_with_parents(ledger->runtime_dir, 0755) < 0) {
    int saved = errno;
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not create runtime directory %s: %s",
                ledger->runtime_dir, g_strerror(saved));
    return FALSE;
  }
  /* a temporary file, synced, renamed over the ledger: old or new, never a part */
  if (!g_file_set_contents_full(ledger->path, data, (gssize)len,
                                G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644,
                                &local)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "Could not write the host ledger %s: %s",
                ledger->path, local->message);
    return FALSE;
  }
  return TRUE;
}

/* ---- changes ------------------------------------------------------------ */

GPtrArray *
wv_ledger_changes(WvLedger *ledger)
{
  return ledger->changes;
}

WvLedgerChange *
wv_ledger_lookup(WvLedger *ledger, const char *key)
{
  for (guint i = 0; i < ledger->changes->len; i++) {
    WvLedgerChange *c = ledger->changes->pdata[i];
    if (g_str_equal(c->key, key))
      return c;
  }
  return NULL;
}

WvLedgerChange *
wv_ledger_record(WvLedger *ledger, const char *key, GBytes *previous, GBytes *value,
                 WvLedgerState state, const char *const *vms)
{
  WvLedgerChange *c = wv_ledger_lookup(ledger, key);

  g_return_val_if_fail(key != NULL && previous != NULL && value != NULL, NULL);
  if (c == NULL) {
    c = g_new0(WvLedgerChange, 1);
    c->key = g_strdup(key);
    g_ptr_array_add(ledger->changes, c);
  }
  if (c->previous != previous) {
    g_clear_pointer(&c->previous, g_bytes_unref);
    c->previous = g_bytes_ref(previous);
  }
  if (c->value != value) {
    g_clear_pointer(&c->value, g_bytes_unref);
    c->value = g_bytes_ref(value);
  }
  c->state = state;
  if (c->vms == NULL || (const char *const *)c->vms != vms) {
    char **names = sorted_names(vms);
    g_strfreev(c->vms);
    c->vms = names;
  }
  return c;
}

void
wv_ledger_forget(WvLedger *ledger, const char *key)
{
  for (guint i = 0; i < ledger->changes->len; i++)
    if (g_str_equal(((WvLedgerChange *)ledger->changes->pdata[i])->key, key)) {
      g_ptr_array_remove_index(ledger->changes, i);
      return;
    }
}

/* ---- VMs ---------------------------------------------------------------- */

GPtrArray *
wv_ledger_vms(WvLedger *ledger)
{
  return ledger->vms;
}

WvLedgerVm *
wv_ledger_vm(WvLedger *ledger, const char *vm)
{
  for (guint i = 0; i < ledger->vms->len; i++) {
    WvLedgerVm *v = ledger->vms->pdata[i];
    if (g_str_equal(v->vm, vm))
      return v;
  }
  return NULL;
}

static gint
vm_cmp(gconstpointer a, gconstpointer b)
{
  const WvLedgerVm *x = *(WvLedgerVm *const *)a, *y = *(WvLedgerVm *const *)b;
  return strcmp(x->vm, y->vm);
}

void
wv_ledger_set_vm(WvLedger *ledger, const WvLedgerVm *need)
{
  WvLedgerVm *v = g_new0(WvLedgerVm, 1);

  wv_ledger_forget_vm(ledger, need->vm);
  v->vm = g_strdup(need->vm);
  v->cpus = wv_cpuset_copy(need->cpus);
  v->isolate = need->isolate;
  v->governor = need->governor;
  v->irq = need->irq;
  g_ptr_array_add(ledger->vms, v);
  g_ptr_array_sort(ledger->vms, vm_cmp);
}

gboolean
wv_ledger_forget_vm(WvLedger *ledger, const char *vm)
{
  for (guint i = 0; i < ledger->vms->len; i++)
    if (g_str_equal(((WvLedgerVm *)ledger->vms->pdata[i])->vm, vm)) {
      g_ptr_array_remove_index(ledger->vms, i);
      return TRUE;
    }
  return FALSE;
}
