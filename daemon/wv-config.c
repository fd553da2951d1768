/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-config.h"
#include "wv-common.h"
#include "wv-file.h"
#include "wv-host-cache.h"
#include "wv-isolate.h"
#include "wv-template.h"

static void
config_clear(gpointer data)
{
  WvConfig *c = data;

  g_free(c->config_dir);
  g_free(c->libvirt_uri);
  g_free(c->sysfs_root);
  g_free(c->proc_root);
  g_free(c->host_root);
  g_free(c->runtime_dir);
  g_free(c->state_dir);
  g_free(c->template_dir);
  g_free(c->host_config);
  wv_host_cache_unref(c->host_cache);
  wv_templates_unref(c->templates);
  wv_isolate_unref(c->isolate);
}

WvConfig *
wv_config_copy(const WvConfig *config)
{
  WvConfig *c = g_atomic_rc_box_new0(WvConfig);

  c->config_dir = g_strdup(config->config_dir);
  c->libvirt_uri = g_strdup(config->libvirt_uri);
  c->sysfs_root = g_strdup(config->sysfs_root);
  c->proc_root = g_strdup(config->proc_root);
  c->host_root = g_strdup(config->host_root);
  c->runtime_dir = g_strdup(config->runtime_dir);
  c->state_dir = g_strdup(config->state_dir);
  c->template_dir = g_strdup(config->template_dir);
  c->host_config = g_strdup(config->host_config);
  c->keepalive_interval = config->keepalive_interval;
  c->keepalive_count = config->keepalive_count;
  c->host_cache = config->host_cache ? wv_host_cache_ref(config->host_cache) : NULL;
  c->isolate = config->isolate ? wv_isolate_ref(config->isolate) : NULL;
  c->templates = config->templates ? wv_templates_ref(config->templates) : NULL;
  return c;
}

WvConfig *
wv_config_ref(WvConfig *config)
{
  return g_atomic_rc_box_acquire(config);
}

void
wv_config_unref(WvConfig *config)
{
  if (config)
    g_atomic_rc_box_release_full(config, config_clear);
}

static gboolean
read_uint(GKeyFile *kf, const char *path, const char *key, guint min, guint max, guint *out,
          GError **error)
{
  g_autofree char *text = g_key_file_get_string(kf, "libvirt", key, NULL);
  guint64 value;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, min, max, &value, NULL)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                "%s: [libvirt] %s: “%s” is not a whole number from %u to %u", path, key, text, min,
                max);
    return FALSE;
  }
  *out = (guint)value;
  return TRUE;
}

gboolean
wv_config_load_libvirt(WvConfig *config, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *text = NULL;
  g_auto(GStrv) keys = NULL;
  guint interval = WV_KEEPALIVE_INTERVAL_DEFAULT, count = WV_KEEPALIVE_COUNT_DEFAULT;
  gsize len = 0;

  config->keepalive_interval = interval;
  config->keepalive_count = count;
  if (config->host_config == NULL)
    return TRUE;
  text = wv_file_read(config->host_config, WV_HOST_CONFIG_MAX_SIZE, TRUE, &len, &local);
  if (text == NULL) {
    if (g_error_matches(local, WV_ERROR, WV_ERROR_NOT_FOUND))
      return TRUE;
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &local)) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: %s", config->host_config,
                local->message);
    return FALSE;
  }
  keys = g_key_file_get_keys(kf, "libvirt", NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    if (!g_str_equal(keys[i], "keepalive-interval") && !g_str_equal(keys[i], "keepalive-count")) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE, "%s: [libvirt] %s: unknown key",
                  config->host_config, keys[i]);
      return FALSE;
    }
  if (!read_uint(kf, config->host_config, "keepalive-interval", 1, 300, &interval, error) ||
      !read_uint(kf, config->host_config, "keepalive-count", 1, 100, &count, error))
    return FALSE;
  config->keepalive_interval = interval;
  config->keepalive_count = count;
  return TRUE;
}
