/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each call is one job: checked on the main thread against the registry,
 * then read, validated and written in a worker (the file I/O and libvirt
 * calls block), then, on the main thread again, the registry reloads and
 * the caller hears the result.
 */
#include "config.h"

#include "wv-manage.h"
#include "wv-common.h"
#include "wv-import.h"
#include "wv-store.h"
#include "wv-worker.h"

#include <libvirt/virterror.h>

/* ---- settings ---------------------------------------------------------------
 *
 * The keys a program may change without writing a profile: a setting is one
 * profile key. A string is the profile's own syntax ("16GiB", "2min"); a
 * number is written in @unit; a boolean as true/false. */

typedef struct
{
  const char *setting, *group, *key;
  const char *unit; /* for a number; NULL: numbers are refused */
  gboolean boolean; /* a boolean is taken */
} Setting;

static const Setting settings_table[] = {
    {"template", "vm", "template"},
    {"memory", "vm", "memory", "MiB"},
    {"vcpus", "vm", "vcpus", ""},
    {"autostart", "vm", "autostart", NULL, TRUE},
    {"autostart-order", "vm", "autostart-order", ""},
    {"autostart-delay", "vm", "autostart-delay", "s"},
    {"on-host-shutdown", "vm", "on-host-shutdown"},
    {"on-host-sleep", "vm", "on-host-sleep"},
    {"shutdown-timeout", "vm", "shutdown-timeout", "s"},
    {"pin", "cpu", "pin"},
    {"emulator-pin", "cpu", "emulator-pin"},
    {"iothreads", "cpu", "iothreads", ""},
    {"hugepages", "memory", "hugepages"},
    {"disk", "disk:main", "source"},
    {"iso", "cdrom:install", "source"},
};

static const Setting *
find_setting(const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS(settings_table); i++)
    if (g_str_equal(settings_table[i].setting, name))
      return &settings_table[i];
  return NULL;
}

/* The profile text of @value for @s, or NULL and InvalidArgs. */
static char *
setting_text(const Setting *s, GVariant *value, GError **error)
{
  if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string(value, NULL);
  if (s->boolean && g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN))
    return g_strdup(g_variant_get_boolean(value) ? "true" : "false");
  if (s->unit && g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
    return g_strdup_printf("%u%s", g_variant_get_uint32(value), s->unit);
  if (s->unit && g_variant_is_of_type(value, G_VARIANT_TYPE_INT32))
    return g_strdup_printf("%d%s", g_variant_get_int32(value), s->unit);
  if (s->unit && g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64))
    return g_strdup_printf("%" G_GUINT64_FORMAT "%s", g_variant_get_uint64(value), s->unit);
  if (s->unit && g_variant_is_of_type(value, G_VARIANT_TYPE_INT64))
    return g_strdup_printf("%" G_GINT64_FORMAT "%s", g_variant_get_int64(value), s->unit);
  g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "setting %s: a %s, not %s", s->setting,
              s->boolean ? "string or boolean"
              : s->unit  ? "string or number"
                         : "string",
              g_variant_get_type_string(value));
  return NULL;
}

gboolean
wv_manage_check_settings(GVariant *settings, GError **error)
{
  GVariantIter iter;
  const char *name;
  GVariant *value;

  g_variant_iter_init(&iter, settings);
  while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
    g_autoptr(GVariant) owned = value;
    const Setting *s = find_setting(name);
    g_autofree char *text = NULL;

    if (s == NULL) {
      g_autofree char *shown = g_utf8_make_valid(name, MIN(strlen(name), 64));
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS, "no setting “%s”", shown);
      return FALSE;
    }
    if ((text = setting_text(s, value, error)) == NULL)
      return FALSE;
  }
  return TRUE;
}

/* @text with every setting applied, or NULL. */
static char *
apply_settings(const char *text, GVariant *settings, GError **error)
{
  g_autofree char *out = g_strdup(text);
  GVariantIter iter;
  const char *name;
  GVariant *value;

  g_variant_iter_init(&iter, settings);
  while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
    g_autoptr(GVariant) owned = value;
    const Setting *s = find_setting(name);
    g_autofree char *v = s ? setting_text(s, value, error) : NULL;
    char *next;

    if (v == NULL)
      return NULL;
    if ((next = wv_profile_text_set(out, s->group, s->key, v, error)) == NULL)
      return NULL;
    g_free(out);
    out = next;
  }
  return g_steal_pointer(&out);
}

/* ---- jobs ------------------------------------------------------------------- */

typedef enum
{
  JOB_CREATE, /* @text, or from @template_name and @settings */
  JOB_IMPORT,
  JOB_GET,
  JOB_REPLACE,
  JOB_SET,
  JOB_DELETE,
} JobKind;

typedef struct
{
  JobKind kind;
  WvDaemon *daemon; /* main thread only */
  char *dir;
  char *name;
  char *path; /* the profile's file: its own for a VM, dir/NAME.conf for a new one */
  char *text, *etag, *source, *template_name;
  GVariant *settings;
  gboolean root, undefine;
  GHashTable *names; /* the other VMs' names */
  GHashTable *uuids; /* the other VMs' UUIDs -> name */
  WvLibvirtLease *lease;
  WvManageResult result;
  WvManageDone done;
  gpointer data;
} Job;

static void
job_free(Job *job)
{
  g_free(job->dir);
  g_free(job->name);
  g_free(job->path);
  g_free(job->text);
  g_free(job->etag);
  g_free(job->source);
  g_free(job->template_name);
  g_clear_pointer(&job->settings, g_variant_unref);
  g_clear_pointer(&job->names, g_hash_table_unref);
  g_clear_pointer(&job->uuids, g_hash_table_unref);
  wv_libvirt_lease_free(job->lease);
  g_free(job->result.name);
  g_free(job->result.text);
  g_free(job->result.etag);
  g_clear_pointer(&job->result.not_carried, g_ptr_array_unref);
  g_free(job);
}

static Job *
job_new(WvDaemon *daemon, JobKind kind, const char *name, WvManageDone done, gpointer data)
{
  Job *job = g_new0(Job, 1);
  g_autoptr(GPtrArray) names = wv_daemon_vm_names(daemon);

  job->kind = kind;
  job->daemon = daemon;
  job->dir = g_strdup(daemon->config->config_dir);
  job->name = g_strdup(name);
  job->done = done;
  job->data = data;
  /* what the worker checks a new profile against, as the registry is now */
  job->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  job->uuids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; i < names->len; i++) {
    const WvProfile *p = wv_vm_profile(wv_daemon_get_vm(daemon, names->pdata[i]));

    if (g_str_equal(names->pdata[i], name))
      continue;
    g_hash_table_add(job->names, g_strdup(names->pdata[i]));
    if (p->uuid)
      g_hash_table_insert(job->uuids, g_ascii_strdown(p->uuid, -1), g_strdup(p->name));
  }
  return job;
}

static void
job_fail(Job *job, GError *error)
{
  job->done(NULL, error, job->data);
  g_error_free(error);
  job_free(job);
}

/* Validated (wv_store_validate), unique among the VMs, then written. */
static gboolean
write_profile(Job *job, const char *text, const char *etag, GError **error)
{
  g_autoptr(WvProfile) p = wv_store_validate(job->path, job->name, text, job->root, error);
  g_autofree char *uuid = NULL;
  const char *twin;

  if (p == NULL)
    return FALSE;
  if (g_hash_table_contains(job->names, job->name)) {
    g_set_error(error, WV_ERROR, WV_ERROR_EXISTS, "a VM named “%s” exists already", job->name);
    return FALSE;
  }
  uuid = p->uuid ? g_ascii_strdown(p->uuid, -1) : NULL;
  if (uuid && (twin = g_hash_table_lookup(job->uuids, uuid)) != NULL) {
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_PROFILE,
                "%s:%u: [vm] uuid: the same UUID as the VM “%s”; each VM needs its own (remove "
                "the key to get a new one)",
                job->path, wv_profile_line(p, "vm", "uuid"), twin);
    return FALSE;
  }
  return wv_store_write(job->path, text, etag, error);
}

/* The domain's XML from libvirt, when it is not winvm's already. */
static char *
domain_xml(Job *job, GError **error)
{
  virConnectPtr conn = wv_libvirt_lease_conn(job->lease, error);
  g_autoptr(virDomain) dom = NULL;
  char *xml;

  if (conn == NULL)
    return NULL;
  if ((dom = virDomainLookupByName(conn, job->source)) == NULL) {
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
      g_set_error(error, WV_ERROR, WV_ERROR_NOT_FOUND, "no libvirt domain named “%s”", job->source);
    else
      wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, "cannot look the domain up");
    return NULL;
  }
  if (wv_libvirt_domain_is_ours(dom, job->source)) {
    g_set_error(error, WV_ERROR, WV_ERROR_EXISTS,
                "the libvirt domain “%s” is winvm's already (the VM “%s”)", job->source,
                job->source);
    return NULL;
  }
  /* the persistent definition: what the next start would run */
  if ((xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE)) == NULL)
    wv_libvirt_set_error(error, WV_ERROR_FAILED, "cannot read the domain's XML");
  return xml;
}

static gboolean
import_run(Job *job, GError **error)
{
  g_autofree char *xml = NULL;
  g_autofree char *text = NULL;
  g_autoptr(WvProfile) named = NULL;
  gboolean live = job->source[0] != '<';

  xml = live ? domain_xml(job, error) : g_strdup(job->source);
  if (xml == NULL)
    return FALSE;
  text =
      wv_import_domain_xml(xml, job->name[0] ? job->name : NULL, &job->result.not_carried, error);
  if (text == NULL)
    return FALSE;
  if (job->name[0] == '\0') { /* the name the import chose */
    if ((named = wv_profile_parse(text, strlen(text), "import", error)) == NULL)
      return FALSE;
    g_free(job->name);
    job->name = g_strdup(named->name);
  }
  if (live && !g_str_equal(job->name, job->source)) {
    /* a second domain cannot have that UUID */
    char *own = wv_profile_text_set(text, "vm", "uuid", NULL, error);

    if (own == NULL)
      return FALSE;
    g_free(text);
    text = own;
    g_ptr_array_add(job->result.not_carried,
                    g_strdup_printf("<uuid>: the domain “%s” keeps it; “%s” gets its own",
                                    job->source, job->name));
  } else if (live) {
    g_ptr_array_add(job->result.not_carried,
                    g_strdup_printf("the domain “%s” itself: winvm did not define it and leaves "
                                    "it alone until it is adopted (winvmctl check %s says how)",
                                    job->source, job->name));
  }
  g_free(job->path);
  job->path = wv_store_path(job->dir, job->name);
  return write_profile(job, text, NULL, error);
}

/* The NVRAM file is the guest's (its boot entries): kept, like its disks.
 * A driver without NVRAM (test:///) may not know the flag. */
static gboolean
undefine(virDomainPtr dom, GError **error)
{
  int code;

  if (virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_KEEP_NVRAM) == 0)
    return TRUE;
  code = virGetLastErrorCode();
  if ((code == VIR_ERR_INVALID_ARG || code == VIR_ERR_NO_SUPPORT) && virDomainUndefine(dom) == 0)
    return TRUE;
  wv_libvirt_set_error(error, WV_ERROR_FAILED, "cannot undefine the domain");
  return FALSE;
}

static gboolean
delete_run(Job *job, GError **error)
{
  g_autofree char *aside = NULL;

  if (job->undefine) {
    virConnectPtr conn = wv_libvirt_lease_conn(job->lease, error);
    g_autoptr(virDomain) dom = NULL;

    if (conn == NULL)
      return FALSE;
    dom = virDomainLookupByName(conn, job->name);
    if (dom == NULL && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
      wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, "cannot look the domain up");
      return FALSE;
    }
    if (dom && !wv_libvirt_domain_is_ours(dom, job->name)) {
      g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                  "the libvirt domain “%s” is not winvm's; it is left alone (delete without "
                  "undefining)",
                  job->name);
      return FALSE;
    }
    if (dom && virDomainIsActive(dom) == 1) {
      g_set_error(error, WV_ERROR, WV_ERROR_BUSY, "“%s” is running; stop it first", job->name);
      return FALSE;
    }
    if (dom && !undefine(dom, error))
      return FALSE;
  }
  if ((aside = wv_store_move_aside(job->path, error)) == NULL)
    return FALSE;
  g_message("%s: profile moved aside to %s%s", job->name, aside,
            job->undefine ? ", domain undefined" : "");
  return TRUE;
}

static gboolean
job_run(Job *job, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *etag = NULL;

  switch (job->kind) {
    case JOB_CREATE:
      if (job->text == NULL) {
        g_autofree char *base = g_strdup_printf("# Created by winvmd (CreateVMFrom); winvm.conf(5) "
                                                "says what else may be set.\n[vm]\nname = %s\n",
                                                job->name);
        g_autofree char *with_template =
            wv_profile_text_set(base, "vm", "template", job->template_name, error);

        if (with_template == NULL ||
            (job->text = apply_settings(with_template, job->settings, error)) == NULL)
          return FALSE;
      }
      return write_profile(job, job->text, NULL, error);
    case JOB_IMPORT:
      return import_run(job, error);
    case JOB_GET:
      job->result.text = wv_store_read(job->path, &job->result.etag, error);
      return job->result.text != NULL;
    case JOB_REPLACE:
      return write_profile(job, job->text, job->etag, error);
    case JOB_SET:
      if ((text = wv_store_read(job->path, &etag, error)) == NULL ||
          (job->text = apply_settings(text, job->settings, error)) == NULL)
        return FALSE;
      return write_profile(job, job->text, etag, error);
    case JOB_DELETE:
      return delete_run(job, error);
    default:
      g_assert_not_reached();
  }
}

static void
job_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;

  if (job_run(data, &error))
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
}

static void
job_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Job *job = g_task_get_task_data(G_TASK(result));
  GError *error = NULL;

  wv_assert_main_thread("profile management");
  g_task_propagate_boolean(G_TASK(result), &error);
  /* Written (or moved aside): the registry reads the directory again, as
   * Reload and SIGHUP do, so that the VM appears, changes or vanishes with
   * its signals. Reading a few small local files is the one blocking part
   * on the main thread, as for those. */
  if (job->kind != JOB_GET && (error == NULL || job->kind == JOB_DELETE)) {
    g_autoptr(GPtrArray) errors = wv_daemon_reload(job->daemon);
  }
  if (error == NULL && (job->kind == JOB_CREATE || job->kind == JOB_IMPORT) &&
      wv_daemon_get_vm(job->daemon, job->name) == NULL)
    error = g_error_new(WV_ERROR, WV_ERROR_FAILED,
                        "%s was written but not loaded; see ProfileErrors", job->path);
  if (error) {
    job->done(NULL, error, job->data);
    g_error_free(error);
    return;
  }
  job->result.name = g_strdup(job->name);
  job->done(&job->result, NULL, job->data);
}

static void
job_start(Job *job, WvLane lane)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, job_done, NULL);

  g_task_set_task_data(task, job, (GDestroyNotify)job_free);
  wv_worker_run_lane(task, job_thread, lane);
}

/* ---- entry points ----------------------------------------------------------- */

static gboolean
check_new_name(WvDaemon *daemon, const char *name, GError **error)
{
  if (!wv_name_is_valid(name)) {
    g_autofree char *shown = g_utf8_make_valid(name, MIN(strlen(name), 80));
    g_set_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS,
                "“%s%s” is not a valid VM name (letters, digits, “_.-”, at most %d, not "
                "starting with “.” or “-”)",
                shown, strlen(name) > 80 ? "…" : "", WV_NAME_MAX);
    return FALSE;
  }
  if (wv_daemon_get_vm(daemon, name)) {
    g_set_error(error, WV_ERROR, WV_ERROR_EXISTS, "a VM named “%s” exists already", name);
    return FALSE;
  }
  return TRUE;
}

/* A job on an existing VM's own profile file. */
static Job *
vm_job(WvDaemon *daemon, JobKind kind, const char *name, WvManageDone done, gpointer data)
{
  GError *error = NULL;
  WvVm *vm = wv_daemon_lookup(daemon, name, &error);
  Job *job;

  if (vm == NULL) {
    done(NULL, error, data);
    g_error_free(error);
    return NULL;
  }
  job = job_new(daemon, kind, name, done, data);
  job->path = g_strdup(wv_vm_profile(vm)->path);
  return job;
}

static Job *
new_vm_job(WvDaemon *daemon, JobKind kind, const char *name, WvManageDone done, gpointer data)
{
  GError *error = NULL;
  Job *job;

  if (!check_new_name(daemon, name, &error)) {
    done(NULL, error, data);
    g_error_free(error);
    return NULL;
  }
  job = job_new(daemon, kind, name, done, data);
  job->path = wv_store_path(job->dir, name);
  return job;
}

void
wv_manage_create(WvDaemon *daemon, const char *name, const char *text, gboolean root,
                 WvManageDone done, gpointer data)
{
  Job *job = new_vm_job(daemon, JOB_CREATE, name, done, data);

  if (job == NULL)
    return;
  job->text = g_strdup(text);
  job->root = root;
  job_start(job, WV_LANE_LIFECYCLE);
}

void
wv_manage_create_from(WvDaemon *daemon, const char *name, const char *template_name,
                      GVariant *settings, gboolean root, WvManageDone done, gpointer data)
{
  Job *job = new_vm_job(daemon, JOB_CREATE, name, done, data);

  if (job == NULL)
    return;
  job->template_name = g_strdup(template_name);
  job->settings = g_variant_ref_sink(settings);
  job->root = root;
  job_start(job, WV_LANE_LIFECYCLE);
}

void
wv_manage_import(WvDaemon *daemon, const char *name, const char *source, gboolean root,
                 WvManageDone done, gpointer data)
{
  GError *error = NULL;
  Job *job;

  if (name[0] && !check_new_name(daemon, name, &error)) {
    done(NULL, error, data);
    g_error_free(error);
    return;
  }
  job = job_new(daemon, JOB_IMPORT, name, done, data);
  job->source = g_strdup(source);
  job->root = root;
  if (source[0] != '<' && (job->lease = wv_libvirt_lease(daemon->libvirt, &error)) == NULL) {
    job_fail(job, error);
    return;
  }
  job_start(job, WV_LANE_LIFECYCLE);
}

void
wv_manage_get(WvDaemon *daemon, const char *name, WvManageDone done, gpointer data)
{
  Job *job = vm_job(daemon, JOB_GET, name, done, data);

  if (job)
    job_start(job, WV_LANE_READ);
}

void
wv_manage_replace(WvDaemon *daemon, const char *name, const char *text, const char *etag,
                  gboolean root, WvManageDone done, gpointer data)
{
  Job *job = vm_job(daemon, JOB_REPLACE, name, done, data);

  if (job == NULL)
    return;
  job->text = g_strdup(text);
  job->etag = g_strdup(etag);
  job->root = root;
  job_start(job, WV_LANE_LIFECYCLE);
}

void
wv_manage_set(WvDaemon *daemon, const char *name, GVariant *settings, gboolean root,
              WvManageDone done, gpointer data)
{
  Job *job = vm_job(daemon, JOB_SET, name, done, data);

  if (job == NULL)
    return;
  job->settings = g_variant_ref_sink(settings);
  job->root = root;
  job_start(job, WV_LANE_LIFECYCLE);
}

void
wv_manage_delete(WvDaemon *daemon, const char *name, gboolean undefine, WvManageDone done,
                 gpointer data)
{
  GError *error = NULL;
  WvVm *vm = wv_daemon_lookup(daemon, name, &error);
  Job *job;

  if (vm && (wv_vm_is_running(vm) || wv_vm_is_starting(vm)))
    error = g_error_new(WV_ERROR, WV_ERROR_BUSY, "“%s” is running; stop it first", name);
  if (error) {
    done(NULL, error, data);
    g_error_free(error);
    return;
  }
  job = vm_job(daemon, JOB_DELETE, name, done, data);
  job->undefine = undefine;
  if (undefine && (job->lease = wv_libvirt_lease(daemon->libvirt, &error)) == NULL) {
    job_fail(job, error);
    return;
  }
  job_start(job, WV_LANE_LIFECYCLE);
}
