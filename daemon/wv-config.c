/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-config.h"

static void
config_clear(gpointer data)
{
  WvConfig *c = data;

  g_free(c->config_dir);
  g_free(c->libvirt_uri);
  g_free(c->sysfs_root);
  g_free(c->proc_root);
  g_free(c->runtime_dir);
  g_free(c->state_dir);
  g_free(c->template_dir);
  g_free(c->host_config);
}

WvConfig *
wv_config_copy(const WvConfig *config)
{
  WvConfig *c = g_atomic_rc_box_new0(WvConfig);

  c->config_dir = g_strdup(config->config_dir);
  c->libvirt_uri = g_strdup(config->libvirt_uri);
  c->sysfs_root = g_strdup(config->sysfs_root);
  c->proc_root = g_strdup(config->proc_root);
  c->runtime_dir = g_strdup(config->runtime_dir);
  c->state_dir = g_strdup(config->state_dir);
  c->template_dir = g_strdup(config->template_dir);
  c->host_config = g_strdup(config->host_config);
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
