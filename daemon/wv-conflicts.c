/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "wv-conflicts.h"
#include "wv-common.h"
#include "wv-file.h"

#define CONF_MAX_SIZE      (1024 * 1024)
#define SERVICE_URI        "qemu:///system"
#define GUESTS_UNIT        "libvirt-guests.service"
#define HOST_SHUTDOWN_DOCS "see " WV_DOC_DIR "/host-shutdown.md"

typedef enum
{
  SYNTAX_SHELL,   /* KEY=VALUE, as libvirt-guests' files */
  SYNTAX_LIBVIRT, /* key = value, as libvirt's .conf files */
} Syntax;

/* @path (absolute) below @root; the real one without a root. */
static char *
host_path(const char *root, const char *path)
{
  return g_build_filename(root ? root : "/", path, NULL);
}

/* The text of @path below @root, NULL when it cannot be read (absent is
 * the usual case and not worth a word). */
static char *
read_text(const char *root, const char *path)
{
  g_autofree char *full = host_path(root, path);
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  char *text = wv_file_read(full, CONF_MAX_SIZE, FALSE, &len, &error);

  if (text == NULL && !g_error_matches(error, WV_ERROR, WV_ERROR_NOT_FOUND))
    g_debug("conflicts: %s", error->message);
  return text;
}

/* A value as written after the '=': quoted ('…' or "…") or up to blank
 * space or a comment; NULL when a quote is not closed. */
static char *
parse_value(const char *p, Syntax syntax)
{
  const char *end;

  if (*p == '"' || *p == '\'') {
    end = strchr(p + 1, *p);
    return end ? g_strndup(p + 1, (gsize)(end - p - 1)) : NULL;
  }
  end = p;
  while (*end && !g_ascii_isspace(*end) && *end != '#' && !(syntax == SYNTAX_SHELL && *end == ';'))
    end++;
  return g_strndup(p, (gsize)(end - p));
}

/* The value of the last assignment of @key in @text, unquoted; NULL when
 * there is none. Comment lines never match. @top_level: only lines that
 * are not indented (a script's own defaults, not those in its functions). */
static char *
conf_value(const char *text, const char *key, Syntax syntax, gboolean top_level)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  char *value = NULL;
  gsize key_len = strlen(key);

  for (guint i = 0; lines[i]; i++) {
    const char *p = lines[i];
    char *v;

    if (top_level && (*p == ' ' || *p == '\t'))
      continue;
    while (*p == ' ' || *p == '\t')
      p++;
    if (syntax == SYNTAX_SHELL && g_str_has_prefix(p, "export "))
      p += strlen("export ");
    if (strncmp(p, key, key_len) != 0)
      continue;
    p += key_len;
    if (syntax == SYNTAX_LIBVIRT)
      while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=')
      continue;
    p++;
    if (syntax == SYNTAX_LIBVIRT)
      while (*p == ' ' || *p == '\t')
        p++;
    if ((v = parse_value(p, syntax)) != NULL) {
      g_free(value);
      value = v;
    }
  }
  return value;
}

/* "qemu+unix:///system" is "qemu:///system"; a trailing '/' goes. */
static char *
normalize_uri(const char *uri)
{
  const char *sep = strstr(uri, "://");
  const char *plus = strstr(uri, "+unix://");
  GString *s = g_string_new(uri);

  if (sep && plus && plus + strlen("+unix") == sep)
    g_string_erase(s, plus - uri, strlen("+unix"));
  if (s->len > strlen("x:///") && s->str[s->len - 1] == '/')
    g_string_truncate(s, s->len - 1);
  return g_string_free(s, FALSE);
}

static gboolean
same_uri(const char *a, const char *b)
{
  g_autofree char *na = normalize_uri(a);
  g_autofree char *nb = normalize_uri(b);

  return g_str_equal(na, nb);
}

/* ---- libvirt's autostart flag ------------------------------------------- */

static void
check_libvirt_autostart(WvPlan *plan, const WvProfile *p, const WvConflictsContext *ctx)
{
  g_autofree char *hint = NULL;

  if (ctx->domain_autostart != WV_TRI_ON)
    return;
  hint = g_strdup_printf("virsh autostart --disable %s (winvm also clears the flag whenever it "
                         "starts the VM); [vm] autostart = true has winvm start it at boot",
                         p->name);
  wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "libvirt-autostart", hint,
                      "libvirt's own autostart flag is set on the domain “%s”: libvirtd starts it "
                      "at boot by itself, without winvm's order, delay, preflight and "
                      "hugepages%s",
                      p->name,
                      p->autostart ? ", and winvm starts it too"
                                   : ", although its [vm] autostart is false");
}

/* ---- libvirt-guests ---------------------------------------------------- */

/* Where systemd looks for units, in its order (below the host root). */
static const char *const unit_dirs[] = {
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    NULL,
};

static gboolean
present(const char *path)
{
  return g_file_test(path, G_FILE_TEST_EXISTS) || g_file_test(path, G_FILE_TEST_IS_SYMLINK);
}

/* Whether systemd would start @unit at boot, as its files say: installed,
 * not masked, and wanted or required by some unit (systemctl enable's links
 * in a *.wants or *.requires directory). */
static gboolean
unit_enabled(const char *root, const char *unit)
{
  gboolean installed = FALSE;

  for (guint i = 0; unit_dirs[i]; i++) {
    g_autofree char *dir = host_path(root, unit_dirs[i]);
    g_autofree char *path = g_build_filename(dir, unit, NULL);
    g_autofree char *target = g_file_read_link(path, NULL);

    if (target && g_str_equal(target, "/dev/null"))
      return FALSE; /* masked */
    installed |= present(path);
  }
  if (!installed)
    return FALSE;
  for (guint i = 0; unit_dirs[i]; i++) {
    g_autofree char *dir = host_path(root, unit_dirs[i]);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
      g_autofree char *link = NULL;

      if (!g_str_has_suffix(name, ".wants") && !g_str_has_suffix(name, ".requires"))
        continue;
      link = g_build_filename(dir, name, unit, NULL);
      if (present(link))
        return TRUE;
    }
  }
  return FALSE;
}

/* The script's defaults: the installed script's own (Debian changes them),
 * upstream's when there is none. */
static const char *const guests_scripts[] = {
    "/usr/lib/libvirt/libvirt-guests.sh",
    "/usr/libexec/libvirt-guests.sh",
    NULL,
};

typedef struct
{
  const char *name;
  char *value;
  gboolean by_default; /* not set in the settings file */
} GuestsSetting;

static void
guests_setting(GuestsSetting *s, const char *script, const char *settings, const char *fallback)
{
  g_autofree char *set = settings ? conf_value(settings, s->name, SYNTAX_SHELL, FALSE) : NULL;

  if (set) {
    s->value = g_steal_pointer(&set);
    return;
  }
  s->by_default = TRUE;
  s->value = script ? conf_value(script, s->name, SYNTAX_SHELL, TRUE) : NULL;
  if (s->value == NULL)
    s->value = g_strdup(fallback);
}

/* Whether @uris (URIS: blank-separated, "default" for libvirt's default
 * URI) names @uri. */
static gboolean
uris_name(const char *root, const char *uris, const char *uri)
{
  g_auto(GStrv) list = g_strsplit_set(uris, " \t\n", -1);
  g_autofree char *libvirt_conf = read_text(root, "/etc/libvirt/libvirt.conf");
  g_autofree char *default_uri =
      libvirt_conf ? conf_value(libvirt_conf, "uri_default", SYNTAX_LIBVIRT, FALSE) : NULL;

  for (guint i = 0; list[i]; i++) {
    const char *u = list[i];

    if (*u == '\0')
      continue;
    /* virsh without -c, as root: uri_default, else the system QEMU */
    if (g_str_equal(u, "default"))
      u = default_uri && *default_uri ? default_uri : SERVICE_URI;
    if (same_uri(u, uri))
      return TRUE;
  }
  return FALSE;
}

static void
check_libvirt_guests(WvPlan *plan, const WvConflictsContext *ctx, const char *uri)
{
  g_autofree char *script = NULL;
  g_autofree char *settings = NULL;
  const char *settings_path = NULL;
  GuestsSetting uris = {"URIS"}, on_boot = {"ON_BOOT"}, on_shutdown = {"ON_SHUTDOWN"};
  g_autoptr(GString) what = g_string_new(NULL);
  g_autofree char *hint = NULL;
  gboolean suspends, starts;

  if (!unit_enabled(ctx->host_root, GUESTS_UNIT))
    return;
  for (guint i = 0; guests_scripts[i] && script == NULL; i++)
    script = read_text(ctx->host_root, guests_scripts[i]);
  if (script && strstr(script, "sysconfig/libvirt-guests"))
    settings_path = "/etc/sysconfig/libvirt-guests";
  else if (script)
    settings_path = "/etc/default/libvirt-guests";
  if (settings_path)
    settings = read_text(ctx->host_root, settings_path);
  else /* no script: either, as it is found */
    for (guint i = 0; i < 2 && settings == NULL; i++) {
      settings_path = i == 0 ? "/etc/default/libvirt-guests" : "/etc/sysconfig/libvirt-guests";
      settings = read_text(ctx->host_root, settings_path);
    }
  if (script == NULL && settings == NULL)
    settings_path = "/etc/default/libvirt-guests (/etc/sysconfig/libvirt-guests on Fedora)";

  guests_setting(&uris, script, settings, "default");
  guests_setting(&on_boot, script, settings, "start");
  guests_setting(&on_shutdown, script, settings, "suspend");
  if (!uris_name(ctx->host_root, uris.value, uri))
    goto out;
  /* the script: anything but "shutdown" suspends, only "start" starts */
  suspends = !g_str_equal(on_shutdown.value, "shutdown");
  starts = g_str_equal(on_boot.value, "start");
  if (!suspends && !starts)
    goto out;

  if (suspends)
    g_string_append_printf(what,
                           "ON_SHUTDOWN=%s%s: at host shutdown it saves (suspends) the running "
                           "VMs while winvm stops them",
                           on_shutdown.value, on_shutdown.by_default ? " (its default)" : "");
  if (starts)
    g_string_append_printf(what,
                           "%sON_BOOT=start%s: at boot it starts the VMs that were running at "
                           "shutdown, whatever their [vm] autostart says",
                           suspends ? "; " : "", on_boot.by_default ? " (its default)" : "");
  hint = g_strdup_printf("set %s%s%s in %s, or disable the service: systemctl disable " GUESTS_UNIT
                         " (" HOST_SHUTDOWN_DOCS ")",
                         suspends ? "ON_SHUTDOWN=shutdown" : "", suspends && starts ? " and " : "",
                         starts ? "ON_BOOT=ignore" : "", settings_path);
  wv_plan_add_finding(plan, WV_SEVERITY_WARNING, "libvirt-guests", hint,
                      GUESTS_UNIT " is enabled for %s (URIS=%s%s) with %s", uri, uris.value,
                      uris.by_default ? ", its default" : "", what->str);
out:
  g_free(uris.value);
  g_free(on_boot.value);
  g_free(on_shutdown.value);
}

/* ---- libvirt's native auto-shutdown ------------------------------------ */

static const char *const auto_shutdown_keys[] = {
    "auto_shutdown_try_save",
    "auto_shutdown_try_shutdown",
    "auto_shutdown_poweroff",
    NULL,
};

/* libvirt's system QEMU driver (whose settings /etc/libvirt/qemu.conf are) */
static gboolean
is_qemu_system(const char *uri)
{
  g_autofree char *n = normalize_uri(uri);

  return g_str_equal(n, SERVICE_URI) || g_str_has_prefix(n, SERVICE_URI "?");
}

static void
check_qemu_auto_shutdown(WvPlan *plan, const WvConflictsContext *ctx, const char *uri)
{
  g_autofree char *text = NULL;
  g_autofree char *restore = NULL;
  g_autoptr(GString) set = g_string_new(NULL);

  if (!is_qemu_system(uri) || (text = read_text(ctx->host_root, "/etc/libvirt/qemu.conf")) == NULL)
    return;
  /* An older libvirt ignores the keys. The version from libvirt, or the
   * installed qemu.conf documenting them (its template, from 11.2 on). */
  if (ctx->libvirt_version < WV_LIBVIRT_AUTO_SHUTDOWN_VERSION &&
      strstr(text, "#auto_shutdown_try_save") == NULL)
    return;
  /* the system daemon's defaults are "none"; winvm's domains are persistent */
  for (guint i = 0; auto_shutdown_keys[i]; i++) {
    g_autofree char *v = conf_value(text, auto_shutdown_keys[i], SYNTAX_LIBVIRT, FALSE);

    if (v && (g_str_equal(v, "persistent") || g_str_equal(v, "all")))
      g_string_append_printf(set, "%s%s = \"%s\"", set->len ? ", " : "", auto_shutdown_keys[i], v);
  }
  if (set->len == 0)
    return;
  restore = conf_value(text, "auto_shutdown_restore", SYNTAX_LIBVIRT, FALSE);
  wv_plan_add_finding(
      plan, WV_SEVERITY_WARNING, "qemu-auto-shutdown",
      "set auto_shutdown_try_save, auto_shutdown_try_shutdown and auto_shutdown_poweroff to "
      "\"none\" in /etc/libvirt/qemu.conf and restart libvirt (virtqemud or libvirtd), so that "
      "only winvm stops its VMs (" HOST_SHUTDOWN_DOCS ")",
      "libvirt's own host shutdown handling is on in /etc/libvirt/qemu.conf (%s): at host "
      "shutdown libvirt acts on the running VMs while winvm stops them%s",
      set->str,
      restore && g_str_equal(restore, "0")
          ? ""
          : ", and at boot it starts the ones it stopped again (auto_shutdown_restore)");
}

void
wv_conflicts_check(WvPlan *plan, const WvProfile *profile, const WvConflictsContext *ctx)
{
  const char *uri = ctx->libvirt_uri ? ctx->libvirt_uri : SERVICE_URI;

  check_libvirt_autostart(plan, profile, ctx);
  check_libvirt_guests(plan, ctx, uri);
  check_qemu_auto_shutdown(plan, ctx, uri);
}
