/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "wv-libvirt.h"
#include "wv-worker.h"
#include "wv-common.h"
#include "wv-config.h"

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

/* libvirt's errors that mean the connection, not the request, failed */
static gboolean
connection_failed(virErrorPtr err)
{
  if (err == NULL)
    return FALSE;
  switch (err->code) {
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_RPC:
    case VIR_ERR_AUTH_UNAVAILABLE:
      return TRUE;
    default:
      return err->domain == VIR_FROM_RPC;
  }
}

void
wv_libvirt_set_error(GError **error, gint code, const char *what)
{
  virErrorPtr err = virGetLastError();
  const char *msg = err && err->message ? err->message : "unknown libvirt error";

  if (connection_failed(err))
    code = WV_ERROR_LIBVIRT_UNAVAILABLE;
  g_set_error(error, WV_ERROR, code, "%s: %s", what, msg);
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

char *
wv_libvirt_template_machine(const char *template_path)
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
  g_autofree char *machine = wv_libvirt_template_machine(template_path);
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

/* ---- the daemon's connections ------------------------------------------ */

#define WV_RECONNECT_MIN_MS 500
#define WV_RECONNECT_MAX_MS 30000
#define WV_POOL_IDLE_MAX    4
/* A call connection nobody has used for this long is closed, as an idle
 * worker thread ends: an idle winvmd keeps only its control connection
 * (each call connection: ~15 KiB here and a client in libvirtd; opening
 * one again costs a few milliseconds). */
#define WV_POOL_IDLE_MS 1000

/* The callbacks registered on a control connection (-1: none). */
typedef struct
{
  int lifecycle, tunable, agent;
} EventIds;

struct _WvLibvirt
{
  char *uri;
  WvLibvirtCallbacks cb;
  gpointer user_data;
  GMainContext *main_context;
  guint keepalive_interval, keepalive_count;
  /* test:///…: the driver runs in this process, no RPC client, and each
   * open of a file URI would be a host of its own: leases share the
   * control connection */
  gboolean in_process;

  GMutex lock; /* guards control, idle, generation and leases */
  virConnectPtr control;
  GPtrArray *idle;   /* call connections of this generation, not in use */
  guint generation;  /* changes whenever the control connection comes or goes */
  GList *leases;     /* WvLibvirtLease: out */
  GPtrArray *posted; /* GSource: events handed to the main context, not dispatched yet */
  gint64 idle_last;  /* when a connection last went back to idle */
  GSource *idle_timer;

  /* main thread */
  gboolean connected;
  gboolean connecting;
  guint backoff_ms;
  guint retry_source;
  EventIds events; /* registered on control */

  GThread *event_thread;
  gint quit; /* atomic */
};

struct _WvLibvirtLease
{
  WvLibvirt *lv;
  guint generation;
  virConnectPtr conn; /* the worker's */
  GFunc lost;
  gpointer lost_data;
};

/* Events are delivered in the event thread; each is copied and handed to
 * the main context. */
typedef struct
{
  WvLibvirt *lv;
  virConnectPtr conn; /* which connection it was about */
  char *domain;
  int kind; /* 0 lifecycle, 1 tunables, 2 closed, 3 agent */
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
static void control_close(virConnectPtr conn, const EventIds *events);

/* worker: closing a connection is a call to libvirtd, which may not answer */
static void
close_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GPtrArray *conns = data;

  for (guint i = 0; i < conns->len; i++)
    virConnectClose(conns->pdata[i]);
  g_ptr_array_set_size(conns, 0);
  g_task_return_boolean(task, TRUE);
}

static void
closed(GObject *source, GAsyncResult *result, gpointer data)
{
}

static void
close_in_worker(GPtrArray *conns)
{
  g_autoptr(GTask) task = NULL;

  if (conns == NULL || conns->len == 0) {
    g_clear_pointer(&conns, g_ptr_array_unref);
    return;
  }
  task = g_task_new(NULL, NULL, closed, NULL);
  g_task_set_task_data(task, conns, (GDestroyNotify)g_ptr_array_unref);
  wv_worker_run(task, close_thread);
}

/* Answers whoever waits on a lease that is out, one at a time: a lost
 * callback may end other leases. */
static void
cut_leases(WvLibvirt *lv)
{
  for (;;) {
    GFunc lost = NULL;
    gpointer data = NULL;

    g_mutex_lock(&lv->lock);
    for (GList *l = lv->leases; l; l = l->next) {
      WvLibvirtLease *lease = l->data;
      if (lease->lost) {
        lost = g_steal_pointer(&lease->lost);
        data = lease->lost_data;
        break;
      }
    }
    g_mutex_unlock(&lv->lock);
    if (lost == NULL)
      return;
    lost(data, NULL);
  }
}

static void
lose_control(WvLibvirt *lv, const char *reason)
{
  virConnectPtr old;
  GPtrArray *idle;

  g_mutex_lock(&lv->lock);
  old = g_steal_pointer(&lv->control);
  idle = g_steal_pointer(&lv->idle);
  lv->idle = g_ptr_array_new();
  lv->generation++;
  g_mutex_unlock(&lv->lock);
  control_close(old, &lv->events); /* libvirt closed it already: fails at once */
  close_in_worker(idle);
  lv->connected = FALSE;
  g_warning("lost the connection to %s: %s", lv->uri, reason);
  lv->cb.disconnected(lv->user_data, reason);
  cut_leases(lv);
  lv->backoff_ms = WV_RECONNECT_MIN_MS;
  schedule_connect(lv);
}

static gboolean
dispatch_event(gpointer data)
{
  Event *e = data;
  WvLibvirt *lv = e->lv;
  gboolean current;

  wv_assert_main_thread("a libvirt event");
  g_mutex_lock(&lv->lock);
  g_ptr_array_remove_fast(lv->posted, g_main_current_source());
  current = lv->control != NULL && lv->control == e->conn;
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
    case 2:
      lose_control(lv, e->reason);
      break;
    case 3:
      if (lv->cb.agent)
        lv->cb.agent(lv->user_data, e->domain,
                     e->event == VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED);
      break;
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
  GSource *source = g_idle_source_new();

  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  g_source_set_callback(source, dispatch_event, e, (GDestroyNotify)event_free);
  /* kept in lv->posted so that wv_libvirt_free() drops what is not
   * dispatched yet: nothing dispatches with a freed lv */
  g_mutex_lock(&lv->lock);
  g_ptr_array_add(lv->posted, source);
  g_source_attach(source, lv->main_context);
  g_mutex_unlock(&lv->lock);
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
on_agent(virConnectPtr conn, virDomainPtr dom, int state, int reason, void *opaque)
{
  post_event(opaque, conn, 3, virDomainGetName(dom), state, reason, NULL);
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

/* Deregisters what winvmd registered on a control connection and closes
 * it (calls to libvirtd). */
static void
control_close(virConnectPtr conn, const EventIds *events)
{
  if (conn == NULL)
    return;
  if (events->lifecycle >= 0)
    virConnectDomainEventDeregisterAny(conn, events->lifecycle);
  if (events->tunable >= 0)
    virConnectDomainEventDeregisterAny(conn, events->tunable);
  if (events->agent >= 0)
    virConnectDomainEventDeregisterAny(conn, events->agent);
  virConnectUnregisterCloseCallback(conn, on_close);
  virConnectClose(conn);
}

typedef struct
{
  virConnectPtr conn;
  EventIds events;
} Control;

static void
control_free(Control *c)
{
  control_close(c->conn, &c->events);
  g_free(c);
}

/* worker: every call to libvirtd happens here, none on the main thread */
static void
connect_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WvLibvirt *lv = task_data;
  g_autoptr(GError) error = NULL;
  Control *c = g_new0(Control, 1);

  c->conn = wv_libvirt_open(lv->uri, FALSE, &error);
  if (c->conn == NULL) {
    control_free(c);
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  /* notices a libvirtd that went away without closing the socket, or
   * stopped answering */
  if (!lv->in_process &&
      virConnectSetKeepAlive(c->conn, (int)lv->keepalive_interval, lv->keepalive_count) < 0)
    g_debug("no keepalive on %s: %s", lv->uri, virGetLastErrorMessage());
  if (virConnectRegisterCloseCallback(c->conn, on_close, lv, NULL) < 0)
    g_debug("no close callback on %s: %s", lv->uri, virGetLastErrorMessage());
  c->events.lifecycle =
      virConnectDomainEventRegisterAny(c->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                       VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), lv, NULL);
  if (c->events.lifecycle < 0)
    g_warning("no lifecycle events from %s: %s", lv->uri, virGetLastErrorMessage());
  c->events.tunable = virConnectDomainEventRegisterAny(
      c->conn, NULL, VIR_DOMAIN_EVENT_ID_TUNABLE, VIR_DOMAIN_EVENT_CALLBACK(on_tunable), lv, NULL);
  /* drivers without guest agents (test:///) have no such event */
  c->events.agent =
      virConnectDomainEventRegisterAny(c->conn, NULL, VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                                       VIR_DOMAIN_EVENT_CALLBACK(on_agent), lv, NULL);
  if (c->events.agent < 0)
    g_debug("no guest agent events from %s: %s", lv->uri, virGetLastErrorMessage());
  g_task_return_pointer(task, c, (GDestroyNotify)control_free);
}

static void
connect_done(GObject *source, GAsyncResult *result, gpointer data)
{
  WvLibvirt *lv = data;
  g_autoptr(GError) error = NULL;
  Control *c = g_task_propagate_pointer(G_TASK(result), &error);

  lv->connecting = FALSE;
  if (g_atomic_int_get(&lv->quit)) {
    g_clear_pointer(&c, control_free);
    return;
  }
  if (c == NULL) {
    g_info("libvirt not reachable (%s); retrying in %u ms", error->message, lv->backoff_ms);
    lv->cb.disconnected(lv->user_data, error->message);
    schedule_connect(lv);
    lv->backoff_ms = MIN(lv->backoff_ms * 2, WV_RECONNECT_MAX_MS);
    return;
  }
  lv->events = c->events;
  g_mutex_lock(&lv->lock);
  lv->control = g_steal_pointer(&c->conn);
  lv->generation++;
  g_mutex_unlock(&lv->lock);
  control_free(c);
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

static gboolean expire_idle(gpointer data);

/* with lv->lock held: expire_idle() in @ms */
static void
arm_idle_timer(WvLibvirt *lv, guint ms)
{
  lv->idle_timer = g_timeout_source_new(ms);
  g_source_set_callback(lv->idle_timer, expire_idle, lv, NULL);
  g_source_attach(lv->idle_timer, lv->main_context);
}

/* main context: closes the call connections once idle long enough */
static gboolean
expire_idle(gpointer data)
{
  WvLibvirt *lv = data;
  GPtrArray *expired = NULL;
  gint64 left;

  g_mutex_lock(&lv->lock);
  g_clear_pointer(&lv->idle_timer, g_source_unref); /* destroyed as it returns */
  left = lv->idle_last + WV_POOL_IDLE_MS * 1000 - g_get_monotonic_time();
  if (left > 0) {
    arm_idle_timer(lv, (guint)(left / 1000) + 1);
  } else if (lv->idle->len > 0) {
    expired = g_steal_pointer(&lv->idle);
    lv->idle = g_ptr_array_new();
  }
  g_mutex_unlock(&lv->lock);
  close_in_worker(expired);
  return G_SOURCE_REMOVE;
}

/* with lv->lock held: @conn is idle from now */
static void
keep_idle(WvLibvirt *lv, virConnectPtr conn)
{
  g_ptr_array_add(lv->idle, conn);
  lv->idle_last = g_get_monotonic_time();
  if (lv->idle_timer == NULL)
    arm_idle_timer(lv, WV_POOL_IDLE_MS);
}

WvLibvirt *
wv_libvirt_new(const char *uri, const WvLibvirtCallbacks *callbacks, gpointer user_data)
{
  WvLibvirt *lv = g_new0(WvLibvirt, 1);

  lv->uri = g_strdup(uri);
  lv->in_process = g_str_has_prefix(uri, "test:");
  lv->cb = *callbacks;
  lv->user_data = user_data;
  lv->main_context = g_main_context_ref_thread_default();
  lv->backoff_ms = WV_RECONNECT_MIN_MS;
  lv->keepalive_interval = WV_KEEPALIVE_INTERVAL_DEFAULT;
  lv->keepalive_count = WV_KEEPALIVE_COUNT_DEFAULT;
  lv->idle = g_ptr_array_new();
  lv->posted = g_ptr_array_new_with_free_func((GDestroyNotify)g_source_unref);
  g_mutex_init(&lv->lock);
  if (virEventRegisterDefaultImpl() < 0)
    g_warning("libvirt event loop: %s", virGetLastErrorMessage());
  lv->event_thread = g_thread_new("libvirt-events", event_thread, lv);
  return lv;
}

void
wv_libvirt_set_keepalive(WvLibvirt *lv, guint interval, guint count)
{
  lv->keepalive_interval = interval;
  lv->keepalive_count = count;
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
  g_autoptr(GPtrArray) idle = NULL;

  if (lv == NULL)
    return;
  g_atomic_int_set(&lv->quit, 1);
  g_clear_handle_id(&lv->retry_source, wv_source_remove);
  g_mutex_lock(&lv->lock);
  if (lv->idle_timer) {
    g_source_destroy(lv->idle_timer);
    g_clear_pointer(&lv->idle_timer, g_source_unref);
  }
  conn = g_steal_pointer(&lv->control);
  idle = g_steal_pointer(&lv->idle);
  if (lv->leases)
    g_critical("%u libvirt leases still out", g_list_length(lv->leases));
  g_mutex_unlock(&lv->lock);
  for (guint i = 0; i < idle->len; i++)
    virConnectClose(idle->pdata[i]);
  control_close(conn, &lv->events);
  /* wake the event loop so the thread sees quit */
  virEventAddTimeout(0, wake_event_loop, NULL, NULL);
  g_thread_join(lv->event_thread);
  /* no event comes any more: those not dispatched yet are dropped */
  for (guint i = 0; i < lv->posted->len; i++)
    g_source_destroy(lv->posted->pdata[i]);
  g_ptr_array_unref(lv->posted);
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

guint
wv_libvirt_generation(WvLibvirt *lv)
{
  guint generation;

  g_mutex_lock(&lv->lock);
  generation = lv->generation;
  g_mutex_unlock(&lv->lock);
  return generation;
}

static void
set_unreachable(WvLibvirt *lv, GError **error)
{
  g_set_error(error, WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE, "libvirt (%s) is not reachable",
              lv->uri);
}

WvLibvirtLease *
wv_libvirt_lease(WvLibvirt *lv, GError **error)
{
  WvLibvirtLease *lease;

  if (!lv->connected) {
    set_unreachable(lv, error);
    return NULL;
  }
  lease = g_new0(WvLibvirtLease, 1);
  lease->lv = lv;
  g_mutex_lock(&lv->lock);
  lease->generation = lv->generation;
  lv->leases = g_list_prepend(lv->leases, lease);
  g_mutex_unlock(&lv->lock);
  return lease;
}

void
wv_libvirt_lease_on_lost(WvLibvirtLease *lease, GFunc lost, gpointer data)
{
  WvLibvirt *lv = lease->lv;

  g_mutex_lock(&lv->lock);
  lease->lost = lost;
  lease->lost_data = data;
  g_mutex_unlock(&lv->lock);
}

virConnectPtr
wv_libvirt_lease_conn(WvLibvirtLease *lease, GError **error)
{
  WvLibvirt *lv = lease->lv;
  virConnectPtr conn = NULL;
  gboolean current;

  if (lease->conn)
    return lease->conn;
  g_mutex_lock(&lv->lock);
  current = lease->generation == lv->generation && lv->control != NULL;
  if (current && lv->in_process)
    conn = virConnectRef(lv->control) == 0 ? lv->control : NULL;
  else if (current && lv->idle->len > 0)
    conn = g_ptr_array_steal_index_fast(lv->idle, lv->idle->len - 1);
  g_mutex_unlock(&lv->lock);
  if (!current) {
    g_set_error(error, WV_ERROR, WV_ERROR_LIBVIRT_UNAVAILABLE,
                "the connection to libvirt (%s) was lost", lv->uri);
    return NULL;
  }
  if (conn == NULL && (conn = wv_libvirt_open(lv->uri, FALSE, error)) == NULL)
    return NULL;
  lease->conn = conn;
  return conn;
}

void
wv_libvirt_lease_free(WvLibvirtLease *lease)
{
  WvLibvirt *lv;
  virConnectPtr conn;
  gboolean keep = FALSE;

  if (lease == NULL)
    return;
  lv = lease->lv;
  conn = lease->conn;
  /* a connection that died or outlived its generation is not reused */
  if (conn && !lv->in_process && virConnectIsAlive(conn) == 1) {
    g_mutex_lock(&lv->lock);
    keep = lease->generation == lv->generation && lv->idle->len < WV_POOL_IDLE_MAX;
    if (keep)
      keep_idle(lv, conn);
    g_mutex_unlock(&lv->lock);
  }
  g_mutex_lock(&lv->lock);
  lv->leases = g_list_remove(lv->leases, lease);
  g_mutex_unlock(&lv->lock);
  if (conn && lv->in_process)
    virConnectClose(conn); /* a reference */
  else if (conn && !keep) {
    GPtrArray *one = g_ptr_array_new();

    g_ptr_array_add(one, conn);
    close_in_worker(one);
  }
  g_free(lease);
}
