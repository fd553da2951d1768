/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-libvirt.h"
#include "wv-worker.h"
#include "wv-common.h"

#include "wv-xml.h"

#include <libvirt/virterror.h>

static void
silent_error(void *data, virErrorPtr err)
{
  g_debug("libvirt: %s", err && err->message ? err->message : "unknown error");
}

void
wv_libvirt_init(void)
{
  virInitialize();
  virSetErrorFunc(NULL, silent_error);
}

void
wv_libvirt_set_error(GError **error, gint code, const char *what)
{
  const char *msg = virGetLastErrorMessage();
  g_set_error(error, WV_ERROR, code, "%s: %s", what, msg ? msg : "unknown libvirt error");
}

virConnectPtr
wv_libvirt_open(const char *uri, gboolean read_only, GError **error)
{
  virConnectPtr conn = read_only ? virConnectOpenReadOnly(uri) : virConnectOpen(uri);

  if (conn == NULL) {
    g_autofree char *what = g_strdup_printf("cannot connect to %s", uri);
    wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, what);
  }
  return conn;
}

static char *
template_machine(const char *template_path)
{
  g_autoptr(xmlDoc) doc = NULL;
  g_autoptr(xmlXPathContext) ctx = NULL;

  if (template_path == NULL)
    return NULL;
  doc = xmlReadFile(template_path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL)
    return NULL;
  ctx = xmlXPathNewContext(doc);
  return wv_xpath_string(ctx, "/domain/os/type/@machine");
}

WvDomcaps *
wv_libvirt_domcaps(virConnectPtr conn, const char *virt_type, const char *template_path,
                   GError **error)
{
  g_autofree char *machine = template_machine(template_path);
  g_autofree char *xml = NULL;

  xml = virConnectGetDomainCapabilities(conn, NULL, "x86_64", machine, virt_type, 0);
  if (xml == NULL) {
    wv_libvirt_set_error(error, WV_ERROR_FAILED, "cannot read domain capabilities");
    return NULL;
  }
  return wv_domcaps_parse(xml, error);
}

WvTristate
wv_libvirt_kvm_offered(virConnectPtr conn)
{
  const char *driver = virConnectGetType(conn);
  g_autofree char *xml = NULL;
  g_autoptr(xmlDoc) doc = NULL;
  g_autoptr(xmlXPathContext) ctx = NULL;
  g_autoptr(xmlXPathObject) obj = NULL;

  if (g_strcmp0(driver, "QEMU") != 0)
    return WV_TRI_UNSET;
  xml = virConnectGetCapabilities(conn);
  if (xml == NULL)
    return WV_TRI_UNSET;
  doc = wv_xml_parse(xml);
  if (doc == NULL)
    return WV_TRI_UNSET;
  ctx = xmlXPathNewContext(doc);
  obj = xmlXPathEvalExpression(
      BAD_CAST "count(/capabilities/guest[arch/@name='x86_64']/arch/domain[@type='kvm'])", ctx);
  if (obj == NULL)
    return WV_TRI_UNSET;
  return obj->floatval > 0 ? WV_TRI_ON : WV_TRI_OFF;
}

gboolean
wv_libvirt_domain_is_ours(virDomainPtr dom, const char *name)
{
  g_autofree char *mark = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, WV_DOMAIN_NS, 0);
  g_autoptr(xmlDoc) doc = NULL;
  g_autofree xmlChar *profile = NULL;

  if (mark == NULL || (doc = wv_xml_parse(mark)) == NULL || xmlDocGetRootElement(doc) == NULL)
    return FALSE;
  profile = xmlGetProp(xmlDocGetRootElement(doc), BAD_CAST "profile");
  return profile != NULL && g_strcmp0((const char *)profile, name) == 0;
}

virDomainPtr
wv_libvirt_lookup_ours(virConnectPtr conn, const char *name, gboolean *foreign, GError **error)
{
  virDomainPtr dom = virDomainLookupByName(conn, name);

  *foreign = FALSE;
  if (dom == NULL) {
    if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
      wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, "cannot look the domain up");
    return NULL;
  }
  if (!wv_libvirt_domain_is_ours(dom, name)) {
    *foreign = TRUE;
    virDomainFree(dom);
    return NULL;
  }
  return dom;
}

GHashTable *
wv_libvirt_devices_in_use(virConnectPtr conn, const char *except, GError **error)
{
  g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);

  if (n < 0) {
    wv_libvirt_set_error(error, WV_ERROR_LIBVIRT_UNAVAILABLE, "cannot list domains");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    g_autoptr(virDomain) dom = doms[i];
    const char *name = virDomainGetName(dom);
    g_autofree char *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctx = NULL;
    g_autoptr(GPtrArray) addresses = NULL;

    if (name == NULL || g_strcmp0(name, except) == 0)
      continue;
    xml = virDomainGetXMLDesc(dom, 0);
    if (xml == NULL)
      continue; /* it stopped meanwhile */
    doc = wv_xml_parse(xml);
    if (doc == NULL)
      continue;
    ctx = xmlXPathNewContext(doc);
    addresses = wv_xpath_hostdev_addresses(ctx);
    for (guint j = 0; j < addresses->len; j++)
      g_hash_table_insert(used, g_strdup(addresses->pdata[j]), g_strdup(name));
  }
  g_free(doms);
  return g_steal_pointer(&used);
}

/* ---- the daemon's connection ------------------------------------------- */

#define WV_RECONNECT_MIN_MS 500
#define WV_RECONNECT_MAX_MS 30000

struct _WvLibvirt
{
  char *uri;
  WvLibvirtCallbacks cb;
  gpointer user_data;
  GMainContext *main_context;

  GMutex lock; /* guards conn */
  virConnectPtr conn;
  gboolean connected; /* main thread's view */
  gboolean connecting;
  guint backoff_ms;
  guint retry_source;
  int lifecycle_id, tunable_id;

  GThread *event_thread;
  gint quit; /* atomic */
};

/* Events are delivered in the event thread; each is copied and handed to
 * the main context. */
typedef struct
{
  WvLibvirt *lv;
  virConnectPtr conn; /* which connection it was about */
  char *domain;
  int kind; /* 0 lifecycle, 1 tunables, 2 closed */
  int event, detail;
  char *reason;
} Event;

static void
event_free(Event *e)
{
  if (e->conn)
    virConnectClose(e->conn);
  g_free(e->domain);
  g_free(e->reason);
  g_free(e);
}

static void schedule_connect(WvLibvirt *lv);

static gboolean
dispatch_event(gpointer data)
{
  Event *e = data;
  WvLibvirt *lv = e->lv;
  gboolean current;

  wv_assert_main_thread("a libvirt event");
  g_mutex_lock(&lv->lock);
  current = lv->conn != NULL && lv->conn == e->conn;
  g_mutex_unlock(&lv->lock);
  if (!current)
    return G_SOURCE_REMOVE; /* about a connection we already dropped */

  switch (e->kind) {
    case 0:
      lv->cb.lifecycle(lv->user_data, e->domain, e->event, e->detail);
      break;
    case 1:
      lv->cb.tunables(lv->user_data, e->domain);
      break;
    case 2: {
      virConnectPtr old;

      g_mutex_lock(&lv->lock);
      old = g_steal_pointer(&lv->conn);
      g_mutex_unlock(&lv->lock);
      if (old) {
        virConnectDomainEventDeregisterAny(old, lv->lifecycle_id);
        virConnectDomainEventDeregisterAny(old, lv->tunable_id);
        virConnectClose(old);
      }
      lv->connected = FALSE;
      g_warning("lost the connection to %s: %s", lv->uri, e->reason);
      lv->cb.disconnected(lv->user_data, e->reason);
      lv->backoff_ms = WV_RECONNECT_MIN_MS;
      schedule_connect(lv);
      break;
    }
    default:
      g_assert_not_reached();
  }
  return G_SOURCE_REMOVE;
}

static void
post_event(WvLibvirt *lv, virConnectPtr conn, int kind, const char *domain, int event, int detail,
           const char *reason)
{
  Event *e = g_new0(Event, 1);

  e->lv = lv;
  e->conn = conn;
  if (conn)
    virConnectRef(conn);
  e->kind = kind;
  e->domain = g_strdup(domain);
  e->event = event;
  e->detail = detail;
  e->reason = g_strdup(reason);
  g_main_context_invoke_full(lv->main_context, G_PRIORITY_DEFAULT, dispatch_event, e,
                             (GDestroyNotify)event_free);
}

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  post_event(opaque, conn, 0, virDomainGetName(dom), event, detail, NULL);
  return 0;
}

static void
on_tunable(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params, int nparams,
           void *opaque)
{
  post_event(opaque, conn, 1, virDomainGetName(dom), 0, 0, NULL);
}

static void
on_close(virConnectPtr conn, int reason, void *opaque)
{
  static const char *const reasons[] = {"error", "end of file", "keepalive timeout",
                                        "client closed"};
  post_event(opaque, conn, 2, NULL, 0, 0,
             reason >= 0 && reason < (int)G_N_ELEMENTS(reasons) ? reasons[reason] : "unknown");
}

static gpointer
event_thread(gpointer data)
{
  WvLibvirt *lv = data;

  while (!g_atomic_int_get(&lv->quit))
    if (virEventRunDefaultImpl() < 0)
      g_warning("libvirt event loop: %s", virGetLastErrorMessage());
  return NULL;
}

static void
wake_event_loop(int timer, void *opaque)
{
  virEventRemoveTimeout(timer);
}

static void
close_conn(gpointer conn)
{
  virConnectClose(conn);
}

/* worker thread */
static void
connect_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WvLibvirt *lv = task_data;
  g_autoptr(GError) error = NULL;
  virConnectPtr conn = wv_libvirt_open(lv->uri, FALSE, &error);

  if (conn == NULL) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  /* notices a libvirtd that went away without closing the socket */
  if (virConnectSetKeepAlive(conn, 5, 3) < 0)
    g_debug("no keepalive on %s: %s", lv->uri, virGetLastErrorMessage());
  if (virConnectRegisterCloseCallback(conn, on_close, lv, NULL) < 0)
    g_debug("no close callback on %s: %s", lv->uri, virGetLastErrorMessage());
  g_task_return_pointer(task, conn, close_conn);
}

static void
connect_done(GObject *source, GAsyncResult *result, gpointer data)
{
  WvLibvirt *lv = data;
  g_autoptr(GError) error = NULL;
  virConnectPtr conn = g_task_propagate_pointer(G_TASK(result), &error);

  lv->connecting = FALSE;
  if (g_atomic_int_get(&lv->quit)) {
    if (conn)
      virConnectClose(conn);
    return;
  }
  if (conn == NULL) {
    g_info("libvirt not reachable (%s); retrying in %u ms", error->message, lv->backoff_ms);
    lv->cb.disconnected(lv->user_data, error->message);
    schedule_connect(lv);
    lv->backoff_ms = MIN(lv->backoff_ms * 2, WV_RECONNECT_MAX_MS);
    return;
  }
  lv->lifecycle_id = virConnectDomainEventRegisterAny(
      conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), lv, NULL);
  lv->tunable_id = virConnectDomainEventRegisterAny(
      conn, NULL, VIR_DOMAIN_EVENT_ID_TUNABLE, VIR_DOMAIN_EVENT_CALLBACK(on_tunable), lv, NULL);
  if (lv->lifecycle_id < 0)
    g_warning("no lifecycle events from %s: %s", lv->uri, virGetLastErrorMessage());
  g_mutex_lock(&lv->lock);
  lv->conn = conn;
  g_mutex_unlock(&lv->lock);
  lv->connected = TRUE;
  lv->backoff_ms = WV_RECONNECT_MIN_MS;
  g_info("connected to %s", lv->uri);
  lv->cb.connected(lv->user_data);
}

static void
connect_now(WvLibvirt *lv)
{
  g_autoptr(GTask) task = NULL;

  if (lv->connecting || lv->connected)
    return;
  lv->connecting = TRUE;
  task = g_task_new(NULL, NULL, connect_done, lv);
  g_task_set_task_data(task, lv, NULL);
  wv_worker_run(task, connect_thread);
}

static gboolean
retry_connect(gpointer data)
{
  WvLibvirt *lv = data;

  lv->retry_source = 0;
  connect_now(lv);
  return G_SOURCE_REMOVE;
}

static void
schedule_connect(WvLibvirt *lv)
{
  if (lv->retry_source == 0 && !g_atomic_int_get(&lv->quit))
    lv->retry_source = wv_timeout_add(lv->backoff_ms, retry_connect, lv);
}

WvLibvirt *
wv_libvirt_new(const char *uri, const WvLibvirtCallbacks *callbacks, gpointer user_data)
{
  WvLibvirt *lv = g_new0(WvLibvirt, 1);

  lv->uri = g_strdup(uri);
  lv->cb = *callbacks;
  lv->user_data = user_data;
  lv->main_context = g_main_context_ref_thread_default();
  lv->backoff_ms = WV_RECONNECT_MIN_MS;
  g_mutex_init(&lv->lock);
  if (virEventRegisterDefaultImpl() < 0)
    g_warning("libvirt event loop: %s", virGetLastErrorMessage());
  lv->event_thread = g_thread_new("libvirt-events", event_thread, lv);
  return lv;
}

void
wv_libvirt_start(WvLibvirt *lv)
{
  connect_now(lv);
}

void
wv_libvirt_free(WvLibvirt *lv)
{
  virConnectPtr conn;

  if (lv == NULL)
    return;
  g_atomic_int_set(&lv->quit, 1);
  g_clear_handle_id(&lv->retry_source, wv_source_remove);
  g_mutex_lock(&lv->lock);
  conn = g_steal_pointer(&lv->conn);
  g_mutex_unlock(&lv->lock);
  if (conn) {
    virConnectDomainEventDeregisterAny(conn, lv->lifecycle_id);
    virConnectDomainEventDeregisterAny(conn, lv->tunable_id);
    virConnectUnregisterCloseCallback(conn, on_close);
    virConnectClose(conn);
  }
  /* wake the event loop so the thread sees quit */
  virEventAddTimeout(0, wake_event_loop, NULL, NULL);
  g_thread_join(lv->event_thread);
  g_main_context_unref(lv->main_context);
  g_mutex_clear(&lv->lock);
  g_free(lv->uri);
  g_free(lv);
}

const char *
wv_libvirt_uri(WvLibvirt *lv)
{
  return lv->uri;
}

gboolean
wv_libvirt_is_connected(WvLibvirt *lv)
{
  return lv->connected;
}

virConnectPtr
wv_libvirt_get(WvLibvirt *lv, GError **error)
{
  virConnectPtr conn;

  g_mutex_lock(&lv->lock);
  conn = lv->conn;
  if (conn)
    virConnectRef(conn);
  g_mutex_unlock(&lv->lock);
  if (conn == NULL)
    g_set_error(error, WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE, "libvirt (%s) is not reachable",
                lv->uri);
  return conn;
}
