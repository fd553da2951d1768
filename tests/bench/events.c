/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * bench-events: how long a libvirt lifecycle event takes to reach
 *   - a libvirt event client (virConnectDomainEventRegisterAny on its own
 *     connection: the anchor, the earliest anyone can know),
 *   - a D-Bus client of winvmd (PropertiesChanged State on the VM object),
 *   - a D-Bus client of libvirt-dbus (org.libvirt.Connect.DomainEvent),
 * all three observed in this process, timed on one CLOCK_MONOTONIC from just
 * before the virDomainSuspend()/virDomainResume() call that causes the
 * event, made on a third libvirt connection.
 *
 *   bench-events --address ADDR --uri URI --domain NAME --winvm-path PATH
 *       [--libvirt-dbus-path DOMAIN_PATH] [--count N] [--timeout S]
 *
 * N rounds of suspend + resume = 2N events. Prints one JSON object: per
 * observer the latency from the call, and for the D-Bus clients also the
 * time they saw each event after the libvirt event client did (what the
 * service in between adds; may be negative when it was scheduled first).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

enum
{
  OBS_LIBVIRT,
  OBS_WINVM,
  OBS_LIBVIRT_DBUS,
  N_OBS
};
static const char *const obs_names[N_OBS] = {"libvirt", "winvm", "libvirt_dbus"};

typedef struct
{
  const char *address, *uri, *domain, *winvm_path, *lvdbus_path;
  int count;
  double timeout;

  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop;
  int want;           /* 0: waiting for "paused", 1: for "running", -1: none */
  double seen[N_OBS]; /* when each observer saw the wanted event, 0: not yet */
  bool dbus_ready, libvirt_ready;
} Shared;

static Shared S = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .want = -1};

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
observed(int who, int kind)
{
  double t = now();
  pthread_mutex_lock(&S.lock);
  if (S.want == kind && S.seen[who] == 0) {
    S.seen[who] = t;
    pthread_cond_broadcast(&S.cond);
  }
  pthread_mutex_unlock(&S.lock);
}

/* ---- the libvirt event client ------------------------------------------- */

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  if (strcmp(virDomainGetName(dom), S.domain) != 0)
    return 0;
  if (event == VIR_DOMAIN_EVENT_SUSPENDED)
    observed(OBS_LIBVIRT, 0);
  else if (event == VIR_DOMAIN_EVENT_RESUMED)
    observed(OBS_LIBVIRT, 1);
  return 0;
}

static void
tick(int timer, void *opaque)
{
}

static void *
libvirt_main(void *data)
{
  virConnectPtr conn = virConnectOpen(S.uri);
  int id = -1;

  if (conn)
    id = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                          VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), NULL, NULL);
  if (id < 0) {
    fprintf(stderr, "bench-events: libvirt event client: %s\n", virGetLastErrorMessage());
    exit(1);
  }
  virEventAddTimeout(100, tick, NULL, NULL); /* wakes the loop to see S.stop */
  pthread_mutex_lock(&S.lock);
  S.libvirt_ready = true;
  pthread_cond_broadcast(&S.cond);
  pthread_mutex_unlock(&S.lock);
  for (;;) {
    bool stop;
    pthread_mutex_lock(&S.lock);
    stop = S.stop;
    pthread_mutex_unlock(&S.lock);
    if (stop)
      break;
    if (virEventRunDefaultImpl() < 0)
      break;
  }
  virConnectDomainEventDeregisterAny(conn, id);
  virConnectClose(conn);
  return NULL;
}

/* ---- the D-Bus clients ---------------------------------------------------- */

static int
on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  const char *iface, *prop, *value;
  int r;

  if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, "org.winvm1.VM") != 0)
    return 0;
  if (sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
    return 0;
  while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
    if (sd_bus_message_read(m, "s", &prop) < 0)
      return 0;
    if (strcmp(prop, "State") == 0) {
      if (sd_bus_message_read(m, "v", "s", &value) < 0)
        return 0;
      if (strcmp(value, "paused") == 0)
        observed(OBS_WINVM, 0);
      else if (strcmp(value, "running") == 0)
        observed(OBS_WINVM, 1);
    } else if (sd_bus_message_skip(m, "v") < 0) {
      return 0;
    }
    sd_bus_message_exit_container(m);
  }
  return 0;
}

static int
on_domain_event(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
  const char *path;
  int event, detail;

  if (sd_bus_message_read(m, "oii", &path, &event, &detail) < 0)
    return 0;
  if (S.lvdbus_path == NULL || strcmp(path, S.lvdbus_path) != 0)
    return 0;
  if (event == VIR_DOMAIN_EVENT_SUSPENDED)
    observed(OBS_LIBVIRT_DBUS, 0);
  else if (event == VIR_DOMAIN_EVENT_RESUMED)
    observed(OBS_LIBVIRT_DBUS, 1);
  return 0;
}

static void *
dbus_main(void *data)
{
  sd_bus *bus = NULL;
  int r;

  r = sd_bus_new(&bus);
  if (r >= 0)
    r = sd_bus_set_address(bus, S.address);
  if (r >= 0)
    r = sd_bus_set_bus_client(bus, 1);
  if (r >= 0)
    r = sd_bus_start(bus);
  /* synchronous AddMatch: once it returns, the bus routes the signals to us */
  if (r >= 0)
    r = sd_bus_match_signal(bus, NULL, NULL, S.winvm_path, "org.freedesktop.DBus.Properties",
                            "PropertiesChanged", on_properties_changed, NULL);
  if (r >= 0 && S.lvdbus_path)
    r = sd_bus_match_signal(bus, NULL, NULL, "/org/libvirt/QEMU", "org.libvirt.Connect",
                            "DomainEvent", on_domain_event, NULL);
  if (r < 0) {
    fprintf(stderr, "bench-events: D-Bus: %s\n", strerror(-r));
    exit(1);
  }
  pthread_mutex_lock(&S.lock);
  S.dbus_ready = true;
  pthread_cond_broadcast(&S.cond);
  pthread_mutex_unlock(&S.lock);
  for (;;) {
    bool stop;
    pthread_mutex_lock(&S.lock);
    stop = S.stop;
    pthread_mutex_unlock(&S.lock);
    if (stop)
      break;
    r = sd_bus_process(bus, NULL);
    if (r < 0) {
      fprintf(stderr, "bench-events: D-Bus: %s\n", strerror(-r));
      exit(1);
    }
    if (r == 0)
      sd_bus_wait(bus, 100 * 1000);
  }
  sd_bus_flush_close_unref(bus);
  return NULL;
}

/* ---- the driver ----------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void
print_stats(const char *name, double *v, int n, bool last)
{
  double sum = 0;
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  for (int i = 0; i < n; i++)
    sum += v[i];
#define PCT(p) (n ? v[(int)((p) * (n - 1) + 0.5)] * 1e6 : 0.0)
  printf("\"%s\": {\"n\": %d, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, "
         "\"p99_us\": %.1f, \"max_us\": %.1f}%s",
         name, n, n ? sum / n * 1e6 : 0.0, PCT(0.5), PCT(0.9), PCT(0.99), n ? v[n - 1] * 1e6 : 0.0,
         last ? "" : ", ");
#undef PCT
}

static void
usage(void)
{
  fprintf(stderr, "usage: bench-events --address ADDR --uri URI --domain NAME --winvm-path PATH\n"
                  "           [--libvirt-dbus-path PATH] [--count N] [--timeout S]\n");
  exit(2);
}

int
main(int argc, char **argv)
{
  pthread_t lt, dt;
  virConnectPtr conn;
  virDomainPtr dom;
  virDomainInfo info;
  double *lat[N_OBS], *api, *delta[N_OBS];
  int ndelta[N_OBS] = {0};
  int n[N_OBS] = {0}, napi = 0, timeouts = 0, nobs;
  char missing[256] = "";

  S.count = 25;
  S.timeout = 10;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc)
      usage();
    if (!strcmp(a, "--address"))
      S.address = argv[++i];
    else if (!strcmp(a, "--uri"))
      S.uri = argv[++i];
    else if (!strcmp(a, "--domain"))
      S.domain = argv[++i];
    else if (!strcmp(a, "--winvm-path"))
      S.winvm_path = argv[++i];
    else if (!strcmp(a, "--libvirt-dbus-path"))
      S.lvdbus_path = argv[++i];
    else if (!strcmp(a, "--count"))
      S.count = atoi(argv[++i]);
    else if (!strcmp(a, "--timeout"))
      S.timeout = atof(argv[++i]);
    else
      usage();
  }
  if (!S.address || !S.uri || !S.domain || !S.winvm_path || S.count < 1 || S.count > 10000)
    usage();
  nobs = S.lvdbus_path ? N_OBS : N_OBS - 1;

  if (virEventRegisterDefaultImpl() < 0)
    return 1;
  conn = virConnectOpen(S.uri);
  dom = conn ? virDomainLookupByName(conn, S.domain) : NULL;
  if (dom == NULL || virDomainGetInfo(dom, &info) < 0) {
    fprintf(stderr, "bench-events: %s: %s\n", S.domain, virGetLastErrorMessage());
    return 1;
  }
  if (info.state == VIR_DOMAIN_PAUSED)
    virDomainResume(dom);
  else if (info.state != VIR_DOMAIN_RUNNING) {
    fprintf(stderr, "bench-events: %s does not run\n", S.domain);
    return 1;
  }

  pthread_create(&lt, NULL, libvirt_main, NULL);
  pthread_create(&dt, NULL, dbus_main, NULL);
  pthread_mutex_lock(&S.lock);
  while (!S.libvirt_ready || !S.dbus_ready)
    pthread_cond_wait(&S.cond, &S.lock);
  pthread_mutex_unlock(&S.lock);

  for (int o = 0; o < N_OBS; o++) {
    lat[o] = calloc((size_t)S.count * 2, sizeof(double));
    delta[o] = calloc((size_t)S.count * 2, sizeof(double));
  }
  api = calloc((size_t)S.count * 2, sizeof(double));

  for (int i = 0; i < S.count * 2; i++) {
    int kind = i % 2; /* 0: suspend, 1: resume */
    double t0, t1, deadline;
    struct timespec ts;
    int rc;
    bool done = false;

    pthread_mutex_lock(&S.lock);
    S.want = kind;
    memset(S.seen, 0, sizeof S.seen);
    pthread_mutex_unlock(&S.lock);

    t0 = now();
    rc = kind == 0 ? virDomainSuspend(dom) : virDomainResume(dom);
    t1 = now();
    if (rc < 0) {
      fprintf(stderr, "bench-events: %s: %s\n", kind ? "resume" : "suspend",
              virGetLastErrorMessage());
      return 1;
    }
    api[napi++] = t1 - t0;

    deadline = t0 + S.timeout;
    ts.tv_sec = (time_t)deadline;
    ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&S.lock);
    for (;;) {
      int have = 0;
      for (int o = 0; o < nobs; o++)
        have += S.seen[o] != 0;
      if (have == nobs) {
        done = true;
        break;
      }
      /* CLOCK_MONOTONIC deadline on a CLOCK_REALTIME condvar: wait in slices */
      {
        struct timespec slice;
        clock_gettime(CLOCK_REALTIME, &slice);
        slice.tv_nsec += 20 * 1000 * 1000;
        if (slice.tv_nsec >= 1000000000) {
          slice.tv_sec++;
          slice.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&S.cond, &S.lock, &slice);
      }
      if (now() > deadline)
        break;
    }
    for (int o = 0; o < nobs; o++) {
      /* what a D-Bus client waits on top of the libvirt event client, per event */
      if (o != OBS_LIBVIRT && S.seen[o] != 0 && S.seen[OBS_LIBVIRT] != 0)
        delta[o][ndelta[o]++] = S.seen[o] - S.seen[OBS_LIBVIRT];
      if (S.seen[o] != 0)
        lat[o][n[o]++] = S.seen[o] - t0;
      else if (strlen(missing) < sizeof missing - 40)
        snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s#%d",
                 missing[0] ? ", " : "", obs_names[o], i);
    }
    S.want = -1;
    pthread_mutex_unlock(&S.lock);
    if (!done)
      timeouts++;
    (void)ts;
  }

  pthread_mutex_lock(&S.lock);
  S.stop = true;
  pthread_mutex_unlock(&S.lock);
  pthread_join(lt, NULL);
  pthread_join(dt, NULL);

  printf("{\"events\": %d, \"timeouts\": %d, \"missing\": \"%s\", ", S.count * 2, timeouts,
         missing);
  print_stats("api", api, napi, false);
  for (int o = 0; o < nobs; o++)
    print_stats(obs_names[o], lat[o], n[o], false);
  for (int o = OBS_LIBVIRT + 1; o < nobs; o++) {
    char name[64];
    snprintf(name, sizeof name, "%s_minus_libvirt", obs_names[o]);
    print_stats(name, delta[o], ndelta[o], o == nobs - 1);
  }
  printf("}\n");

  virDomainFree(dom);
  virConnectClose(conn);
  return timeouts ? 1 : 0;
}
