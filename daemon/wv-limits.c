/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The counts live under one lock: calls are admitted on the main thread,
 * refused early in GDBus's thread (the filter), and released wherever the
 * last reference to their invocation goes (a worker, or the main thread).
 */
#include "config.h"

#include "wv-common.h"
#include "wv-limits.h"

#define UID_UNKNOWN       ((gint64)-1)
#define UID_UNTOLD        ((gint64)G_MAXUINT32) /* the bus would not say: limited */
#define DATA_KEY          "wv-limits"
#define TICKET_KEY        "wv-limits-ticket"
#define LOOKUP_TIMEOUT_MS 10000

/* A refused call is answered after a while, not at once: a caller that
 * floods gets its LimitsExceeded answers no faster than it could get plans,
 * so it cannot turn its calls over thousands of times a second and fill
 * the bus's queue to winvmd that root's calls wait in too. Spread over a
 * window so that the answers (and the calls sent again on them) do not come
 * in bursts. Held answers are small (a name, a serial) and bounded. */
#define HOLD_MIN_MS      5000
#define HOLD_SPREAD_MS   10000
#define HOLD_MAX_PER_UID 32768 /* more: answered at once */
#define HOLD_MAX_TOTAL   65536

#define GONE_KEPT 4096

/* Calls admitted per second and uid (a token bucket): answers served from
 * the plan cache are quick, and without a rate a flood's few admitted calls
 * would turn over thousands of times a second. */
#define RATE_PER_UID  50
#define BURST_PER_UID 100

typedef struct
{
  double tokens;
  gint64 last; /* monotonic µs */
} Bucket;

typedef struct
{
  gint64 due;   /* monotonic µs */
  char *sender; /* to answer */
  guint32 serial;
  gint64 uid;
} Held;

typedef struct
{
  GDBusMethodInvocation *invocation;
  WvLimitsDone done;
  gpointer data;
} Admission;

/* One bus connection that called us. */
typedef struct
{
  char *name;
  gint64 uid;      /* UID_UNKNOWN until the bus says */
  guint in_flight; /* its calls admitted and not answered yet */
  gboolean asking; /* its uid is being asked for */
  gboolean gone;   /* it left the bus */
  GArray *waiting; /* Admission: calls waiting for its uid */
} Caller;

struct _WvLimits
{
  gint ref;
  GMutex lock;
  GDBusConnection *bus;
  guint filter_id;
  guint signal_id;
  GHashTable *callers; /* unique name -> Caller* */
  GHashTable *uids;    /* uid -> calls in flight */
  GHashTable *buckets; /* uid -> Bucket: the rate of calls admitted */
  GHashTable *gone;    /* unique names that left the bus lately (never reused) */
  GQueue gone_order;   /* the same, oldest first: GONE_KEPT at most */
  guint total;         /* calls in flight from every uid but 0 */
  gint refused;

  /* refusals held back, answered by the holder thread when due */
  GMutex hold_lock;
  GCond hold_cond;
  GQueue held;           /* Held*, by due time (nearly: see hold()) */
  GHashTable *held_uids; /* uid -> held refusals */
  GThread *holder;       /* started with the first refusal held */
  gboolean quit;
};

/* A call counted: released when its invocation is freed. */
typedef struct
{
  WvLimits *limits;
  char *name;
  gint64 uid;
} Ticket;

static WvLimits *
limits_ref(WvLimits *limits)
{
  g_atomic_int_inc(&limits->ref);
  return limits;
}

static void
caller_free(Caller *c)
{
  g_free(c->name);
  g_array_unref(c->waiting);
  g_free(c);
}

static void
limits_unref(WvLimits *limits)
{
  if (!g_atomic_int_dec_and_test(&limits->ref))
    return;
  g_hash_table_unref(limits->callers);
  g_hash_table_unref(limits->uids);
  g_hash_table_unref(limits->held_uids);
  g_hash_table_unref(limits->buckets);
  g_hash_table_unref(limits->gone);
  g_queue_clear(&limits->gone_order);
  g_mutex_clear(&limits->hold_lock);
  g_cond_clear(&limits->hold_cond);
  g_mutex_clear(&limits->lock);
  g_object_unref(limits->bus);
  g_free(limits);
}

/* Under the lock: a caller nobody needs any more goes. */
static void
caller_maybe_drop(WvLimits *limits, Caller *c)
{
  if (c->gone && c->in_flight == 0 && !c->asking && c->waiting->len == 0)
    g_hash_table_remove(limits->callers, c->name);
}

static guint
uid_count(WvLimits *limits, gint64 uid)
{
  return GPOINTER_TO_UINT(g_hash_table_lookup(limits->uids, &uid));
}

/* Under the lock: takes a token of @uid's rate, FALSE when there is none. */
static gboolean
take_token(WvLimits *limits, gint64 uid)
{
  Bucket *b = g_hash_table_lookup(limits->buckets, &uid);
  gint64 now = g_get_monotonic_time();

  if (b == NULL) {
    b = g_new0(Bucket, 1);
    b->tokens = BURST_PER_UID;
    b->last = now;
    g_hash_table_insert(limits->buckets, g_memdup2(&uid, sizeof(uid)), b);
  }
  b->tokens = MIN((double)BURST_PER_UID, b->tokens + (now - b->last) * RATE_PER_UID / 1e6);
  b->last = now;
  if (b->tokens < 1.0)
    return FALSE;
  b->tokens -= 1.0;
  return TRUE;
}

/* Under the lock: would one more call of @c go over a limit? (A call that
 * would not takes a token of its uid's rate.) */
static gboolean
over_limit(WvLimits *limits, const Caller *c)
{
  return c->in_flight >= WV_LIMIT_PER_NAME || uid_count(limits, c->uid) >= WV_LIMIT_PER_UID ||
         limits->total >= WV_LIMIT_TOTAL || !take_token(limits, c->uid);
}

static char *
refusal_message(const char *name, gint64 uid)
{
  return g_strdup_printf("too many calls in flight (at most %u from one connection, %u from one "
                         "uid, %u from all users but root; %s is uid %" G_GINT64_FORMAT
                         "): try again once some are answered",
                         WV_LIMIT_PER_NAME, WV_LIMIT_PER_UID, WV_LIMIT_TOTAL, name, uid);
}

static void
ticket_release(gpointer data)
{
  Ticket *t = data;
  WvLimits *limits = t->limits;
  Caller *c;
  guint n;

  g_mutex_lock(&limits->lock);
  if ((c = g_hash_table_lookup(limits->callers, t->name)) != NULL) {
    c->in_flight--;
    caller_maybe_drop(limits, c);
  }
  if (t->uid > 0) { /* counted for its uid too */
    n = uid_count(limits, t->uid);
    if (n <= 1)
      g_hash_table_remove(limits->uids, &t->uid);
    else
      g_hash_table_insert(limits->uids, g_memdup2(&t->uid, sizeof(t->uid)),
                          GUINT_TO_POINTER(n - 1));
    limits->total--;
  }
  g_mutex_unlock(&limits->lock);
  g_free(t->name);
  g_free(t);
  limits_unref(limits);
}

/* Under the lock: counts @t for its uid (known, not root). */
static void
count_uid(WvLimits *limits, Ticket *t, gint64 uid)
{
  t->uid = uid;
  g_hash_table_insert(limits->uids, g_memdup2(&uid, sizeof(uid)),
                      GUINT_TO_POINTER(uid_count(limits, uid) + 1));
  limits->total++;
}

/* Under the lock: one more call of @c, counted until @message is freed:
 * for its connection, and for its uid when known. */
static void
count_call(WvLimits *limits, Caller *c, GDBusMessage *message)
{
  Ticket *t = g_new0(Ticket, 1);

  c->in_flight++;
  t->limits = limits_ref(limits);
  t->name = g_strdup(c->name);
  t->uid = UID_UNKNOWN;
  if (c->uid > 0)
    count_uid(limits, t, c->uid);
  g_object_set_data_full(G_OBJECT(message), TICKET_KEY, t, ticket_release);
}

/* Under the lock: would @c's uid go over its limits with one more call? */
static gboolean
over_uid_limit(WvLimits *limits, const Caller *c)
{
  return uid_count(limits, c->uid) >= WV_LIMIT_PER_UID || limits->total >= WV_LIMIT_TOTAL ||
         !take_token(limits, c->uid);
}

/* Main thread, once @name's uid is known. */
static void
decide(WvLimits *limits, const char *name, GDBusMethodInvocation *invocation, WvLimitsDone done,
       gpointer data)
{
  Caller *c;
  gint64 uid;
  gboolean over = FALSE;

  g_mutex_lock(&limits->lock);
  c = g_hash_table_lookup(limits->callers, name);
  if (c == NULL || c->gone) { /* it left the bus meanwhile: nothing to do for it */
    g_mutex_unlock(&limits->lock);
    done(g_error_new(WV_ERROR, WV_ERROR_CANCELLED, "%s left the bus", name), data);
    return;
  }
  uid = c->uid;
  if (uid != 0) {
    GDBusMessage *message = g_dbus_method_invocation_get_message(invocation);
    Ticket *t = g_object_get_data(G_OBJECT(message), TICKET_KEY);

    if (t == NULL && !(over = over_limit(limits, c))) /* it came before the filter knew */
      count_call(limits, c, message);
    else if (t && !(over = over_uid_limit(limits, c))) /* counted for its connection only */
      count_uid(limits, t, uid);
  }
  g_mutex_unlock(&limits->lock);

  if (over) {
    g_autofree char *msg = refusal_message(name, uid);

    if (g_atomic_int_add(&limits->refused, 1) == 0)
      g_message("refusing calls over the limits (first: uid %" G_GINT64_FORMAT ")", uid);
    done(g_error_new_literal(WV_ERROR, WV_ERROR_LIMITS_EXCEEDED, msg), data);
    return;
  }
  done(NULL, data);
}

static void
uid_told(GObject *source, GAsyncResult *result, gpointer user_data)
{
  char *name = user_data;
  WvLimits *limits = wv_limits_get(G_DBUS_CONNECTION(source));
  g_autoptr(GVariant) reply =
      g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, NULL);
  g_autoptr(GArray) waiting = NULL;
  guint32 uid = 0;
  Caller *c;

  if (limits == NULL) { /* stopping: wv_limits_free() answered the waiting calls */
    g_free(name);
    return;
  }
  g_mutex_lock(&limits->lock);
  c = g_hash_table_lookup(limits->callers, name);
  if (reply)
    g_variant_get(reply, "(u)", &uid);
  c->uid = reply ? (gint64)uid : UID_UNTOLD;
  waiting = g_steal_pointer(&c->waiting);
  c->waiting = g_array_new(FALSE, FALSE, sizeof(Admission));
  g_mutex_unlock(&limits->lock);

  limits_ref(limits);
  for (guint i = 0; i < waiting->len; i++) {
    Admission *a = &g_array_index(waiting, Admission, i);
    decide(limits, name, a->invocation, a->done, a->data);
    g_object_unref(a->invocation);
  }
  g_mutex_lock(&limits->lock);
  c = g_hash_table_lookup(limits->callers, name); /* kept while asking */
  c->asking = FALSE;
  caller_maybe_drop(limits, c);
  g_mutex_unlock(&limits->lock);
  limits_unref(limits);
  g_free(name);
}

/* Main thread: asks the bus for @name's uid. */
static void
ask_uid(WvLimits *limits, const char *name)
{
  g_dbus_connection_call(limits->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                         "org.freedesktop.DBus", "GetConnectionUnixUser",
                         g_variant_new("(s)", name), G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE,
                         LOOKUP_TIMEOUT_MS, NULL, uid_told, g_strdup(name));
}

/* Under the lock: @name's entry, new when it had none. */
static Caller *
get_caller(WvLimits *limits, const char *name)
{
  Caller *c = g_hash_table_lookup(limits->callers, name);

  if (c == NULL) {
    c = g_new0(Caller, 1);
    c->name = g_strdup(name);
    c->uid = UID_UNKNOWN;
    c->waiting = g_array_new(FALSE, FALSE, sizeof(Admission));
    g_hash_table_insert(limits->callers, c->name, c);
  }
  return c;
}

void
wv_limits_admit(WvLimits *limits, GDBusMethodInvocation *invocation, WvLimitsDone done,
                gpointer data)
{
  const char *sender = g_dbus_method_invocation_get_sender(invocation);
  Caller *c;
  gboolean ask = FALSE, known;

  Ticket *t =
      g_object_get_data(G_OBJECT(g_dbus_method_invocation_get_message(invocation)), TICKET_KEY);

  /* a peer-to-peer connection has nobody to count; a call the filter
   * counted for its uid at its arrival is in */
  if (sender == NULL || (t && t->uid > 0)) {
    done(NULL, data);
    return;
  }
  g_mutex_lock(&limits->lock);
  c = get_caller(limits, sender);
  if (c->uid == UID_UNKNOWN) {
    Admission a = {g_object_ref(invocation), done, data};

    g_array_append_val(c->waiting, a);
    ask = !c->asking;
    c->asking = TRUE;
  }
  known = c->uid != UID_UNKNOWN;
  g_mutex_unlock(&limits->lock);

  if (ask)
    g_dbus_connection_call(
        limits->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "GetConnectionUnixUser", g_variant_new("(s)", sender), G_VARIANT_TYPE("(u)"),
        G_DBUS_CALL_FLAGS_NONE, LOOKUP_TIMEOUT_MS, NULL, uid_told, g_strdup(sender));
  else if (known)
    decide(limits, sender, invocation, done, data);
}

static void
held_free(Held *h)
{
  g_free(h->sender);
  g_free(h);
}

static void
send_refusal(GDBusConnection *bus, const char *sender, guint32 serial, gint64 uid)
{
  g_autoptr(GDBusMessage) reply = g_dbus_message_new();
  g_autofree char *msg = refusal_message(sender, uid);

  g_dbus_message_set_message_type(reply, G_DBUS_MESSAGE_TYPE_ERROR);
  g_dbus_message_set_flags(reply, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_dbus_message_set_reply_serial(reply, serial);
  g_dbus_message_set_destination(reply, sender);
  g_dbus_message_set_error_name(reply, WV_ERROR_PREFIX ".LimitsExceeded");
  g_dbus_message_set_body(reply, g_variant_new("(s)", msg));
  g_dbus_connection_send_message(bus, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
}

/* Under hold_lock. */
static void
held_uid_add(WvLimits *limits, gint64 uid, gint delta)
{
  guint n = GPOINTER_TO_UINT(g_hash_table_lookup(limits->held_uids, &uid)) + delta;

  if (n == 0)
    g_hash_table_remove(limits->held_uids, &uid);
  else
    g_hash_table_insert(limits->held_uids, g_memdup2(&uid, sizeof(uid)), GUINT_TO_POINTER(n));
}

static gpointer holder_thread(gpointer data);

/* GDBus's thread: holds the refusal of @message back; FALSE when too many
 * are held already (answer at once). */
static gboolean
hold(WvLimits *limits, GDBusMessage *message, gint64 uid)
{
  Held *h;
  guint n;

  g_mutex_lock(&limits->hold_lock);
  n = GPOINTER_TO_UINT(g_hash_table_lookup(limits->held_uids, &uid));
  if (limits->quit || n >= HOLD_MAX_PER_UID || limits->held.length >= HOLD_MAX_TOTAL) {
    g_mutex_unlock(&limits->hold_lock);
    return FALSE;
  }
  h = g_new0(Held, 1);
  h->due =
      g_get_monotonic_time() + (HOLD_MIN_MS + (gint64)g_random_int_range(0, HOLD_SPREAD_MS)) * 1000;
  h->sender = g_strdup(g_dbus_message_get_sender(message));
  h->serial = g_dbus_message_get_serial(message);
  h->uid = uid;
  /* by due time: a due time is spread over a few seconds, so it is
   * inserted from the back, where it mostly belongs */
  {
    GList *l = limits->held.tail;
    while (l && ((Held *)l->data)->due > h->due)
      l = l->prev;
    if (l)
      g_queue_insert_after(&limits->held, l, h);
    else
      g_queue_push_head(&limits->held, h);
  }
  held_uid_add(limits, uid, 1);
  /* started at the first refusal held: most daemons never see a flood,
   * and an idle thread costs its stack */
  if (limits->holder == NULL)
    limits->holder = g_thread_new("wv-limits", holder_thread, limits);
  g_cond_signal(&limits->hold_cond);
  g_mutex_unlock(&limits->hold_lock);
  return TRUE;
}

/* Answers the held refusals as they fall due (all of them at quit). */
static gpointer
holder_thread(gpointer data)
{
  WvLimits *limits = data;

  g_mutex_lock(&limits->hold_lock);
  for (;;) {
    Held *h = g_queue_peek_head(&limits->held);

    if (h == NULL) {
      if (limits->quit)
        break;
      g_cond_wait(&limits->hold_cond, &limits->hold_lock);
      continue;
    }
    if (!limits->quit && h->due > g_get_monotonic_time()) {
      g_cond_wait_until(&limits->hold_cond, &limits->hold_lock, h->due);
      continue;
    }
    g_queue_pop_head(&limits->held);
    held_uid_add(limits, h->uid, -1);
    g_mutex_unlock(&limits->hold_lock);
    send_refusal(limits->bus, h->sender, h->serial, h->uid);
    held_free(h);
    g_mutex_lock(&limits->hold_lock);
  }
  g_mutex_unlock(&limits->hold_lock);
  return NULL;
}

/* GDBus's thread: a call of a caller known not to be root is counted (or
 * refused) here at its arrival, so that a flood never queues on the main
 * loop. Root's pass; the main thread decides for callers whose uid the bus
 * has not said yet. */
static GDBusMessage *
filter(GDBusConnection *bus, GDBusMessage *message, gboolean incoming, gpointer data)
{
  WvLimits *limits = data;
  const char *sender;
  g_autoptr(GDBusMessage) reply = NULL;
  g_autofree char *msg = NULL;
  gboolean over = FALSE;
  gint64 uid = UID_UNKNOWN;
  Caller *c;

  if (!incoming || g_dbus_message_get_message_type(message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL ||
      (sender = g_dbus_message_get_sender(message)) == NULL)
    return message;
  g_mutex_lock(&limits->lock);
  c = g_hash_table_lookup(limits->callers, sender);
  if (c && c->uid > 0) {
    uid = c->uid;
    if (!(over = over_limit(limits, c)))
      count_call(limits, c, message);
  } else if (c == NULL || c->uid == UID_UNKNOWN) {
    /* not known yet: its connection's limit holds meanwhile (the main
     * thread asks the bus, and counts it for its uid then) */
    c = get_caller(limits, sender);
    if (!(over = c->in_flight >= WV_LIMIT_PER_NAME))
      count_call(limits, c, message);
  }
  g_mutex_unlock(&limits->lock);
  if (!over)
    return message;

  g_atomic_int_inc(&limits->refused);
  if (!(g_dbus_message_get_flags(message) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) &&
      !hold(limits, message, uid)) {
    msg = refusal_message(sender, uid);
    reply =
        g_dbus_message_new_method_error_literal(message, WV_ERROR_PREFIX ".LimitsExceeded", msg);
    g_dbus_connection_send_message(bus, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
  }
  g_object_unref(message);
  return NULL;
}

static void
name_owner_changed(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                   const char *signal, GVariant *params, gpointer data)
{
  WvLimits *limits = data;
  const char *name, *old_owner, *new_owner;
  Caller *c;

  gboolean ask = FALSE;

  g_variant_get(params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] != ':')
    return;
  g_mutex_lock(&limits->lock);
  if (new_owner[0] != '\0') {
    /* a new connection: its uid is known before its first call, mostly */
    c = get_caller(limits, name);
    ask = c->uid == UID_UNKNOWN && !c->asking;
    c->asking = TRUE;
  } else {
    if ((c = g_hash_table_lookup(limits->callers, name)) != NULL) {
      c->gone = TRUE;
      caller_maybe_drop(limits, c);
    }
    if (!g_hash_table_contains(limits->gone, name)) {
      char *kept = g_strdup(name);

      g_hash_table_add(limits->gone, kept);
      g_queue_push_tail(&limits->gone_order, kept);
      if (limits->gone_order.length > GONE_KEPT)
        g_hash_table_remove(limits->gone, g_queue_pop_head(&limits->gone_order));
    }
  }
  g_mutex_unlock(&limits->lock);
  if (ask)
    ask_uid(limits, name);
}

WvLimits *
wv_limits_new(GDBusConnection *bus)
{
  WvLimits *limits = g_new0(WvLimits, 1);

  limits->ref = 1;
  g_mutex_init(&limits->lock);
  limits->bus = g_object_ref(bus);
  limits->callers =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)caller_free);
  limits->uids = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  limits->buckets = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
  limits->gone = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init(&limits->gone_order);
  g_mutex_init(&limits->hold_lock);
  g_cond_init(&limits->hold_cond);
  g_queue_init(&limits->held);
  limits->held_uids = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
  limits->signal_id = g_dbus_connection_signal_subscribe(
      bus, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE, name_owner_changed, limits, NULL);
  limits->filter_id =
      g_dbus_connection_add_filter(bus, filter, limits_ref(limits), (GDestroyNotify)limits_unref);
  g_object_set_data(G_OBJECT(bus), DATA_KEY, limits);
  return limits;
}

WvLimits *
wv_limits_get(GDBusConnection *bus)
{
  return g_object_get_data(G_OBJECT(bus), DATA_KEY);
}

void
wv_limits_free(WvLimits *limits)
{
  g_autoptr(GPtrArray) waiting = g_ptr_array_new_with_free_func((GDestroyNotify)g_array_unref);
  GHashTableIter iter;
  gpointer value;
  GThread *holder;

  if (limits == NULL)
    return;
  g_object_set_data(G_OBJECT(limits->bus), DATA_KEY, NULL);
  g_dbus_connection_signal_unsubscribe(limits->bus, limits->signal_id);
  g_dbus_connection_remove_filter(limits->bus, limits->filter_id);
  /* the refusals held back are answered now */
  g_mutex_lock(&limits->hold_lock);
  limits->quit = TRUE; /* no holder starts after this */
  holder = g_steal_pointer(&limits->holder);
  g_cond_signal(&limits->hold_cond);
  g_mutex_unlock(&limits->hold_lock);
  if (holder)
    g_thread_join(holder);
  g_mutex_lock(&limits->lock);
  g_hash_table_iter_init(&iter, limits->callers);
  while (g_hash_table_iter_next(&iter, NULL, &value)) {
    Caller *c = value;
    g_ptr_array_add(waiting, g_steal_pointer(&c->waiting));
    c->waiting = g_array_new(FALSE, FALSE, sizeof(Admission));
  }
  g_mutex_unlock(&limits->lock);
  /* the calls still waiting for a uid are answered now, while their
   * objects live */
  for (guint i = 0; i < waiting->len; i++) {
    GArray *w = waiting->pdata[i];
    for (guint j = 0; j < w->len; j++) {
      Admission *a = &g_array_index(w, Admission, j);
      a->done(g_error_new_literal(WV_ERROR, WV_ERROR_FAILED, "winvmd is stopping"), a->data);
      g_object_unref(a->invocation);
    }
  }
  limits_unref(limits);
}

gboolean
wv_limits_caller_gone(WvLimits *limits, const char *name)
{
  gboolean gone;

  if (name == NULL)
    return FALSE;
  g_mutex_lock(&limits->lock);
  gone = g_hash_table_contains(limits->gone, name);
  g_mutex_unlock(&limits->lock);
  return gone;
}

guint
wv_limits_refused(WvLimits *limits)
{
  return (guint)g_atomic_int_get(&limits->refused);
}

guint
wv_limits_in_flight(WvLimits *limits)
{
  guint n;

  g_mutex_lock(&limits->lock);
  n = limits->total;
  g_mutex_unlock(&limits->lock);
  return n;
}
