/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-tuning.h"
#include "wv-common.h"

#include <glib/gstdio.h>

static const char *const groups[] = {"vcpupin", "iothreadpin", "emulatorpin"};

/* Pins arrive in parallel worker threads; each read-modify-write of a
 * tuning file must see the others' results. */
static GMutex save_lock;

static char *
tuning_path(const char *state_dir, const char *vm)
{
  g_autofree char *file = g_strconcat(vm, ".tuning", NULL);
  return g_build_filename(state_dir, file, NULL);
}

gboolean
wv_tuning_save(const char *state_dir, const char *vm, WvTuneTarget target, guint index,
               const WvCpuset *set, GError **error)
{
  g_autofree char *path = tuning_path(state_dir, vm);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *key =
      target == WV_TUNE_EMULATOR ? g_strdup("cpuset") : g_strdup_printf("%u", index);
  g_autofree char *value = wv_cpuset_format(set);
  g_autoptr(GError) local = NULL;

  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&save_lock);

  g_return_val_if_fail(wv_name_is_valid(vm), FALSE);
  if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, &local) &&
      !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    g_warning("%s: %s; starting it afresh", path, local->message);
  g_clear_error(&local);
  g_key_file_set_string(kf, groups[target], key, value);
  if (g_mkdir_with_parents(state_dir, 0755) < 0) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "cannot create %s: %s", state_dir,
                g_strerror(errno));
    return FALSE;
  }
  if (!g_key_file_save_to_file(kf, path, &local)) {
    g_set_error(error, WV_ERROR, WV_ERROR_FAILED, "cannot save %s: %s", path, local->message);
    return FALSE;
  }
  return TRUE;
}

static WvCpuset *
read_set(GKeyFile *kf, const char *group, const char *key, const char *path)
{
  g_autofree char *text = g_key_file_get_string(kf, group, key, NULL);
  g_autoptr(GError) error = NULL;
  WvCpuset *set = text ? wv_cpuset_parse(text, &error) : NULL;

  if (text && set == NULL)
    g_warning("%s: [%s] %s: %s; ignored", path, group, key, error->message);
  return set;
}

/* Makes @pins hold @n entries (NULL: not pinned). */
static void
ensure_slots(GPtrArray *pins, guint n)
{
  while (pins->len < n)
    g_ptr_array_add(pins, NULL);
}

static void
override(GPtrArray *pins, guint slot, WvCpuset *set)
{
  wv_cpuset_free(pins->pdata[slot]);
  pins->pdata[slot] = set;
}

void
wv_tuning_apply(WvPlan *plan, const WvProfile *profile, const char *state_dir)
{
  g_autofree char *path = tuning_path(state_dir, profile->name);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  WvCpuset *set;

  if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
    return;
  /* pin what was asked; vCPUs nobody pinned stay with the scheduler */
  for (guint i = 0; i < plan->vcpus; i++) {
    g_autofree char *key = g_strdup_printf("%u", i);
    if ((set = read_set(kf, groups[WV_TUNE_VCPU], key, path)) == NULL)
      continue;
    ensure_slots(plan->vcpu_pins, plan->vcpus);
    override(plan->vcpu_pins, i, set);
  }
  for (guint i = 0; i < profile->iothreads; i++) {
    g_autofree char *key = g_strdup_printf("%u", i + 1);
    if ((set = read_set(kf, groups[WV_TUNE_IOTHREAD], key, path)) == NULL)
      continue;
    ensure_slots(plan->iothread_pins, profile->iothreads);
    override(plan->iothread_pins, i, set);
  }
  if ((set = read_set(kf, groups[WV_TUNE_EMULATOR], "cpuset", path)) != NULL) {
    wv_cpuset_free(plan->emulator_pin);
    plan->emulator_pin = set;
  }
}
