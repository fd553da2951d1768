/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * bench-loadgen: N concurrent D-Bus clients, each a thread with its own
 * sd-bus connection to the bus, each making the same blocking method call
 * over and over until it has made COUNT calls or SECONDS have passed
 * (whichever comes first). Every reply is read to its end. Prints one JSON
 * object: calls, errors, wall time, throughput and latency percentiles.
 *
 *   bench-loadgen --address ADDR --clients N --count C --seconds S \
 *       (--get DEST PATH IFACE PROPERTY | --call DEST PATH IFACE METHOD [--uint U])
 *
 * --get is org.freedesktop.DBus.Properties.Get(IFACE, PROPERTY); --call
 * takes no arguments, or one uint32 with --uint (libvirt-dbus ListDomains).
 * Only talks to the bus at ADDR (a private dbus-daemon); bounded in count
 * and time, it stops by itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

typedef struct
{
  const char *address;
  const char *dest, *path, *iface, *member; /* member: method or property */
  bool get;
  bool has_uint;
  uint32_t uint_arg;
  long count;     /* calls per client */
  double seconds; /* per run */
  pthread_barrier_t ready;
  double deadline; /* set by the main thread after the barrier */
} Config;

typedef struct
{
  Config *cfg;
  pthread_t thread;
  double *lat; /* seconds, one per call */
  long calls;
  long errors;
  char first_error[256];
  int setup_error;
  double end;
} Client;

static double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
one_call(Client *c, sd_bus *bus, sd_bus_error *err)
{
  Config *cfg = c->cfg;
  sd_bus_message *reply = NULL;
  int r;

  if (cfg->get)
    r = sd_bus_call_method(bus, cfg->dest, cfg->path, "org.freedesktop.DBus.Properties", "Get", err,
                           &reply, "ss", cfg->iface, cfg->member);
  else if (cfg->has_uint)
    r = sd_bus_call_method(bus, cfg->dest, cfg->path, cfg->iface, cfg->member, err, &reply, "u",
                           cfg->uint_arg);
  else
    r = sd_bus_call_method(bus, cfg->dest, cfg->path, cfg->iface, cfg->member, err, &reply, "");
  if (r >= 0)
    r = sd_bus_message_skip(reply, NULL); /* read the whole body */
  sd_bus_message_unref(reply);
  return r;
}

static void *
client_main(void *data)
{
  Client *c = data;
  Config *cfg = c->cfg;
  sd_bus *bus = NULL;
  int r;

  r = sd_bus_new(&bus);
  if (r >= 0)
    r = sd_bus_set_address(bus, cfg->address);
  if (r >= 0)
    r = sd_bus_set_bus_client(bus, 1);
  if (r >= 0)
    r = sd_bus_start(bus);
  if (r < 0) {
    c->setup_error = -r;
    snprintf(c->first_error, sizeof c->first_error, "connect: %s", strerror(-r));
  }
  pthread_barrier_wait(&cfg->ready); /* everybody connected */
  pthread_barrier_wait(&cfg->ready); /* the main thread set the deadline */

  while (bus && !c->setup_error && c->calls < cfg->count) {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    double t0 = now(), t1;

    if (t0 >= cfg->deadline)
      break;
    r = one_call(c, bus, &err);
    t1 = now();
    if (r < 0) {
      if (c->errors++ == 0)
        snprintf(c->first_error, sizeof c->first_error, "%s: %s", err.name ? err.name : "error",
                 err.message ? err.message : strerror(-r));
    }
    c->lat[c->calls++] = t1 - t0;
    sd_bus_error_free(&err);
  }
  c->end = now();
  sd_bus_flush_close_unref(bus);
  return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double
percentile(const double *sorted, long n, double p)
{
  long i;
  if (n == 0)
    return 0;
  i = (long)(p * (double)(n - 1) + 0.5);
  return sorted[i < n ? i : n - 1];
}

static void
json_string(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

static void
usage(void)
{
  fprintf(stderr, "usage: bench-loadgen --address ADDR [--clients N] [--count C] [--seconds S]\n"
                  "         (--get DEST PATH IFACE PROPERTY | --call DEST PATH IFACE METHOD "
                  "[--uint U])\n");
  exit(2);
}

int
main(int argc, char **argv)
{
  Config cfg = {.count = 1000, .seconds = 2.0};
  long nclients = 1, total = 0, errors = 0;
  double start, end = 0, *all;
  const char *first_error = "";
  Client *clients;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--address") && i + 1 < argc)
      cfg.address = argv[++i];
    else if (!strcmp(a, "--clients") && i + 1 < argc)
      nclients = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--count") && i + 1 < argc)
      cfg.count = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--seconds") && i + 1 < argc)
      cfg.seconds = strtod(argv[++i], NULL);
    else if (!strcmp(a, "--uint") && i + 1 < argc) {
      cfg.has_uint = true;
      cfg.uint_arg = (uint32_t)strtoul(argv[++i], NULL, 10);
    } else if ((!strcmp(a, "--get") || !strcmp(a, "--call")) && i + 4 < argc) {
      cfg.get = !strcmp(a, "--get");
      cfg.dest = argv[++i];
      cfg.path = argv[++i];
      cfg.iface = argv[++i];
      cfg.member = argv[++i];
    } else
      usage();
  }
  if (!cfg.address || !cfg.dest || nclients < 1 || nclients > 1024 || cfg.count < 1 ||
      cfg.count > 10000000 || cfg.seconds <= 0 || cfg.seconds > 600)
    usage();

  clients = calloc((size_t)nclients, sizeof *clients);
  pthread_barrier_init(&cfg.ready, NULL, (unsigned)nclients + 1);
  for (long i = 0; i < nclients; i++) {
    clients[i].cfg = &cfg;
    clients[i].lat = malloc(sizeof(double) * (size_t)cfg.count);
    if (!clients[i].lat || pthread_create(&clients[i].thread, NULL, client_main, &clients[i])) {
      fprintf(stderr, "bench-loadgen: cannot start client %ld\n", i);
      return 1;
    }
  }
  pthread_barrier_wait(&cfg.ready);
  start = now();
  cfg.deadline = start + cfg.seconds;
  pthread_barrier_wait(&cfg.ready);
  for (long i = 0; i < nclients; i++) {
    pthread_join(clients[i].thread, NULL);
    total += clients[i].calls;
    errors += clients[i].errors;
    if (clients[i].end > end)
      end = clients[i].end;
    if (!*first_error && clients[i].first_error[0])
      first_error = clients[i].first_error;
  }

  all = malloc(sizeof(double) * (size_t)(total ? total : 1));
  for (long i = 0, k = 0; i < nclients; i++)
    for (long j = 0; j < clients[i].calls; j++)
      all[k++] = clients[i].lat[j];
  qsort(all, (size_t)total, sizeof(double), cmp_double);

  printf("{\"clients\": %ld, \"calls\": %ld, \"errors\": %ld, \"seconds\": %.6f, "
         "\"throughput\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
         "\"max_us\": %.1f, \"first_error\": ",
         nclients, total, errors, end - start, total / (end - start),
         percentile(all, total, 0.50) * 1e6, percentile(all, total, 0.90) * 1e6,
         percentile(all, total, 0.99) * 1e6, total ? all[total - 1] * 1e6 : 0.0);
  json_string(first_error);
  printf("}\n");

  for (long i = 0; i < nclients; i++)
    free(clients[i].lat);
  free(clients);
  free(all);
  return total > 0 && errors == 0 ? 0 : 1;
}
