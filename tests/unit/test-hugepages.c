/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Hugepage reservations against a fake nr_hugepages file in a temporary
 * directory. The real host pools are never touched.
 */
#include "wv-hugepages.h"
#include "wv-common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define PAGE_1G 1048576

typedef struct
{
  char *tmp;
  char *nr_path;     /* the fake pool */
  char *runtime_dir; /* not created: reserve makes it */
} Fixture;

static void
rm_rf(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);

  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      rm_rf(child);
    }
    g_dir_close(dir);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static void
set_pool(const Fixture *f, const char *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_true(g_file_set_contents(f->nr_path, text, -1, &error));
  g_assert_no_error(error);
}

static guint64
pool(const Fixture *f)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  guint64 v;

  g_assert_true(g_file_get_contents(f->nr_path, &text, NULL, &error));
  g_assert_no_error(error);
  g_assert_true(g_str_has_suffix(text, "\n"));
  g_strchomp(text);
  g_assert_true(g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &v, NULL));
  return v;
}

static char *
record(const Fixture *f, const char *vm)
{
  g_autofree char *base = g_strconcat(vm, ".hugepages", NULL);

  return g_build_filename(f->runtime_dir, base, NULL);
}

static gboolean
has_record(const Fixture *f, const char *vm)
{
  g_autofree char *path = record(f, vm);

  return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->tmp = g_dir_make_tmp("wv-hugepages-XXXXXX", &error);
  g_assert_no_error(error);
  f->nr_path = g_build_filename(f->tmp, "nr_hugepages", NULL);
  f->runtime_dir = g_build_filename(f->tmp, "run", "winvm", NULL);
  set_pool(f, "4\n");
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  rm_rf(f->tmp);
  g_free(f->tmp);
  g_free(f->nr_path);
  g_free(f->runtime_dir);
}

static WvReservation *
reserve(const Fixture *f, const char *vm, guint64 count)
{
  g_autoptr(GError) error = NULL;
  WvReservation *r =
      wv_hugepages_reserve(f->runtime_dir, vm, f->nr_path, PAGE_1G, -1, count, NULL, &error);

  g_assert_no_error(error);
  g_assert_nonnull(r);
  return r;
}

static void
release(const Fixture *f, const char *vm)
{
  g_autoptr(GError) error = NULL;

  g_assert_true(wv_hugepages_release(f->runtime_dir, vm, &error));
  g_assert_no_error(error);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_grow_and_release(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autoptr(WvReservation) found = NULL;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autofree char *path = record(f, "win11");
  g_autofree char *nr = NULL;
  struct stat st;

  set_pool(f, "4 \n"); /* trailing whitespace is fine */
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, 1, 16, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(r);
  g_assert_cmpstr(r->vm, ==, "win11");
  g_assert_cmpuint(r->page_kib, ==, PAGE_1G);
  g_assert_cmpint(r->node, ==, 1);
  g_assert_cmpstr(r->nr_path, ==, f->nr_path);
  g_assert_cmpuint(r->before, ==, 4);
  g_assert_cmpuint(r->added, ==, 16);
  g_assert_cmpuint(pool(f), ==, 20);

  /* the runtime directory was created, 0755 */
  g_assert_cmpint(g_stat(f->runtime_dir, &st), ==, 0);
  g_assert_true(S_ISDIR(st.st_mode));
  g_assert_cmpint(st.st_mode & 0777, ==, 0755);

  /* the record */
  g_assert_true(g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(g_key_file_get_uint64(kf, "reservation", "page-kib", NULL), ==, PAGE_1G);
  g_assert_cmpint(g_key_file_get_integer(kf, "reservation", "node", NULL), ==, 1);
  nr = g_key_file_get_string(kf, "reservation", "nr-path", NULL);
  g_assert_cmpstr(nr, ==, f->nr_path);
  g_assert_cmpuint(g_key_file_get_uint64(kf, "reservation", "before", NULL), ==, 4);
  g_assert_cmpuint(g_key_file_get_uint64(kf, "reservation", "added", NULL), ==, 16);

  found = wv_hugepages_lookup(f->runtime_dir, "win11");
  g_assert_nonnull(found);
  g_assert_cmpstr(found->vm, ==, "win11");
  g_assert_cmpuint(found->page_kib, ==, PAGE_1G);
  g_assert_cmpint(found->node, ==, 1);
  g_assert_cmpstr(found->nr_path, ==, f->nr_path);
  g_assert_cmpuint(found->before, ==, 4);
  g_assert_cmpuint(found->added, ==, 16);

  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_false(has_record(f, "win11"));
  g_assert_null(wv_hugepages_lookup(f->runtime_dir, "win11"));

  /* releasing twice is harmless */
  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 4);
}

static void
test_reserve_twice(Fixture *f, gconstpointer data)
{
  g_autoptr(WvReservation) first = reserve(f, "win11", 16);
  g_autoptr(WvReservation) again = NULL;

  g_assert_cmpuint(pool(f), ==, 20);

  /* as after a daemon restart: the record wins, nothing grows */
  again = reserve(f, "win11", 8);
  g_assert_cmpuint(again->before, ==, 4);
  g_assert_cmpuint(again->added, ==, 16);
  g_assert_cmpuint(pool(f), ==, 20);

  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 4);
}

static void
two_vms(Fixture *f, gboolean first_out_first)
{
  g_autoptr(WvReservation) a = NULL;
  g_autoptr(WvReservation) b = NULL;

  set_pool(f, "0\n");
  a = reserve(f, "alpha", 4);
  b = reserve(f, "beta", 8);
  g_assert_cmpuint(a->before, ==, 0);
  g_assert_cmpuint(b->before, ==, 4);
  g_assert_cmpuint(pool(f), ==, 12);

  release(f, first_out_first ? "alpha" : "beta");
  g_assert_cmpuint(pool(f), ==, first_out_first ? 8 : 4);
  g_assert_false(has_record(f, first_out_first ? "alpha" : "beta"));
  g_assert_true(has_record(f, first_out_first ? "beta" : "alpha"));

  release(f, first_out_first ? "beta" : "alpha");
  g_assert_cmpuint(pool(f), ==, 0);
  g_assert_false(has_record(f, "alpha"));
  g_assert_false(has_record(f, "beta"));
}

static void
test_two_vms_fifo(Fixture *f, gconstpointer data)
{
  two_vms(f, TRUE);
}

static void
test_two_vms_lifo(Fixture *f, gconstpointer data)
{
  two_vms(f, FALSE);
}

static void
test_release_never_below_zero(Fixture *f, gconstpointer data)
{
  g_autoptr(WvReservation) r = reserve(f, "win11", 16);

  /* someone else shrank the pool meanwhile */
  set_pool(f, "10\n");
  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 0);
  g_assert_false(has_record(f, "win11"));
}

static void
test_count_zero(Fixture *f, gconstpointer data)
{
  g_autoptr(WvReservation) r = reserve(f, "win11", 0);

  g_assert_cmpstr(r->vm, ==, "win11");
  g_assert_cmpuint(r->before, ==, 4);
  g_assert_cmpuint(r->added, ==, 0);
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_false(has_record(f, "win11"));
  g_assert_false(g_file_test(f->runtime_dir, G_FILE_TEST_EXISTS));
  g_assert_null(wv_hugepages_lookup(f->runtime_dir, "win11"));
  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 4);
}

static void
test_release_without_record(Fixture *f, gconstpointer data)
{
  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_null(wv_hugepages_lookup(f->runtime_dir, "win11"));
}

static void
test_pool_missing(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autofree char *nr = g_build_filename(f->tmp, "hugepages-1048576kB", "nr_hugepages", NULL);

  r = wv_hugepages_reserve(f->runtime_dir, "win11", nr, PAGE_1G, -1, 16, NULL, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, nr));
  g_assert_false(has_record(f, "win11"));
}

static void
test_pool_is_directory(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;

  g_assert_cmpint(g_unlink(f->nr_path), ==, 0);
  g_assert_cmpint(g_mkdir(f->nr_path, 0755), ==, 0);
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, NULL, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, f->nr_path));
  g_assert_false(has_record(f, "win11"));
}

static void
test_pool_garbage(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;

  set_pool(f, "lots\n");
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, NULL, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, f->nr_path));
}

static void
test_overflow(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;

  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, G_MAXUINT64, NULL,
                           &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
  g_assert_cmpuint(pool(f), ==, 4);
}

/* The pool grew, then the record could not be written: the pool goes back. */
static void
test_rollback_when_record_fails(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autofree char *run = g_build_filename(f->tmp, "run", NULL);

  /* a regular file where the runtime directory's parent should be */
  g_assert_true(g_file_set_contents(run, "", 0, NULL));
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, NULL, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, f->runtime_dir));
  g_assert_cmpuint(pool(f), ==, 4);
  g_clear_error(&error);

  /* the runtime directory itself a regular file */
  g_assert_cmpint(g_unlink(run), ==, 0);
  g_assert_cmpint(g_mkdir(run, 0755), ==, 0);
  g_assert_true(g_file_set_contents(f->runtime_dir, "", 0, NULL));
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, NULL, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_cmpuint(pool(f), ==, 4);
  g_clear_error(&error);

  /* the record's own path taken by a directory */
  g_assert_cmpint(g_unlink(f->runtime_dir), ==, 0);
  g_assert_cmpint(g_mkdir(f->runtime_dir, 0755), ==, 0);
  {
    g_autofree char *path = record(f, "win11");
    g_autofree char *inner = g_build_filename(path, "x", NULL);
    g_assert_cmpint(g_mkdir(path, 0755), ==, 0);
    g_assert_true(g_file_set_contents(inner, "", 0, NULL)); /* not removable by rename */
    r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, NULL, &error);
    g_assert_null(r);
    g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, path));
    g_assert_cmpuint(pool(f), ==, 4);
  }
}

/* A FIFO as the pool plays the kernel: it answers 4, takes the write of 20,
 * then answers that only 10 pages are there, and takes the rollback. */
typedef struct
{
  char *path;
  char *written[2];
} FakeKernel;

static void
fifo_say(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);

  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpint(write(fd, text, strlen(text)), ==, (gssize)strlen(text));
  close(fd);
}

static char *
fifo_hear(const char *path)
{
  GString *s = g_string_new(NULL);
  char buf[64];
  gssize n;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  g_assert_cmpint(fd, >=, 0);
  while ((n = read(fd, buf, sizeof buf)) > 0)
    g_string_append_len(s, buf, n);
  close(fd);
  return g_string_free(s, FALSE);
}

static gpointer
fake_kernel(gpointer data)
{
  FakeKernel *k = data;

  fifo_say(k->path, "4\n");
  k->written[0] = fifo_hear(k->path);
  fifo_say(k->path, "10\n");
  k->written[1] = fifo_hear(k->path);
  return NULL;
}

static void
test_kernel_short(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  FakeKernel k = {0};
  GThread *thread;

  g_assert_cmpint(g_unlink(f->nr_path), ==, 0);
  g_assert_cmpint(mkfifo(f->nr_path, 0600), ==, 0);
  k.path = f->nr_path;
  thread = g_thread_new("fake-kernel", fake_kernel, &k);

  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, 0, 16, NULL, &error);
  g_thread_join(thread);

  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_HUGEPAGES_SHORT);
  g_assert_cmpstr(k.written[0], ==, "20\n");
  g_assert_cmpstr(k.written[1], ==, "4\n"); /* rolled back */
  g_assert_nonnull(strstr(error->message, "only 6 of 16 1G pages could be reserved"));
  g_assert_nonnull(strstr(error->message, f->nr_path));
  g_assert_nonnull(strstr(error->message, "hugepagesz=1G hugepages=0:16"));
  g_assert_false(has_record(f, "win11"));
  g_free(k.written[0]);
  g_free(k.written[1]);
}

static void
test_release_keeps_record_on_failure(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = reserve(f, "win11", 16);

  /* the pool went away: nothing can be given back, the record stays */
  g_assert_cmpint(g_unlink(f->nr_path), ==, 0);
  g_assert_cmpint(g_mkdir(f->nr_path, 0755), ==, 0);
  g_assert_false(wv_hugepages_release(f->runtime_dir, "win11", &error));
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, f->nr_path));
  g_assert_true(has_record(f, "win11"));
  g_clear_error(&error);

  /* and once it is back, the release goes through */
  g_assert_cmpint(g_rmdir(f->nr_path), ==, 0);
  set_pool(f, "20\n");
  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_false(has_record(f, "win11"));
}

static void
test_invalid_names(Fixture *f, gconstpointer data)
{
  const char *names[] = {"", ".", "..", "../win11", "a/b", ".hidden", "-x", "win 11"};

  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(WvReservation) r = NULL;

    r = wv_hugepages_reserve(f->runtime_dir, names[i], f->nr_path, PAGE_1G, -1, 16, NULL, &error);
    g_assert_null(r);
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
    g_clear_error(&error);
    g_assert_false(wv_hugepages_release(f->runtime_dir, names[i], &error));
    g_assert_error(error, WV_ERROR, WV_ERROR_INVALID_ARGS);
    g_assert_null(wv_hugepages_lookup(f->runtime_dir, names[i]));
  }
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_false(g_file_test(f->runtime_dir, G_FILE_TEST_EXISTS));
}

static void
corrupt_case(Fixture *f, const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autofree char *path = record(f, "win11");

  g_assert_cmpint(g_mkdir_with_parents(f->runtime_dir, 0755), ==, 0);
  g_assert_true(g_file_set_contents(path, text, -1, NULL));

  g_test_expect_message("winvmd", G_LOG_LEVEL_WARNING, "*corrupt*");
  g_assert_null(wv_hugepages_lookup(f->runtime_dir, "win11"));
  g_test_assert_expected_messages();

  /* neither grows nor shrinks on a record it cannot understand */
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, NULL, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_nonnull(strstr(error->message, path));
  g_clear_error(&error);
  g_assert_false(wv_hugepages_release(f->runtime_dir, "win11", &error));
  g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_true(has_record(f, "win11"));
}

static void
test_corrupt_record(Fixture *f, gconstpointer data)
{
  g_autofree char *missing_added = g_strdup_printf(
      "[reservation]\npage-kib=1048576\nnode=-1\nnr-path=%s\nbefore=4\n", f->nr_path);
  g_autofree char *negative = g_strdup_printf(
      "[reservation]\npage-kib=1048576\nnode=-1\nnr-path=%s\nbefore=4\nadded=-16\n", f->nr_path);

  corrupt_case(f, "this is not a key file\n");
  corrupt_case(f, missing_added);
  corrupt_case(f, negative);
  corrupt_case(f,
               "[reservation]\npage-kib=1048576\nnode=-1\nnr-path=relative\nbefore=4\nadded=16\n");
}

/* The record a crash leaves at each step of a reservation, and what the
 * next release (a stop, a restart finding the VM off) or reservation (the
 * next start) makes of it: never a page lost, never one taken twice. */
static void
write_intent(const Fixture *f, const char *vm, guint64 before, guint64 added)
{
  g_autofree char *path = record(f, vm);
  g_autofree char *text = g_strdup_printf(
      "[reservation]\npage-kib=1048576\nnode=-1\nnr-path=%s\nbefore=%" G_GUINT64_FORMAT
      "\nadded=%" G_GUINT64_FORMAT "\ncomplete=false\n",
      f->nr_path, before, added);

  g_assert_cmpint(g_mkdir_with_parents(f->runtime_dir, 0755), ==, 0);
  g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void
test_crash_at_every_step(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = record(f, "vm");

  /* a finished reservation says so */
  set_pool(f, "2\n");
  g_clear_pointer(&text, g_free);
  {
    g_autoptr(WvReservation) r =
        wv_hugepages_reserve(f->runtime_dir, "vm", f->nr_path, PAGE_1G, -1, 4, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(r->complete);
  }
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  g_assert_nonnull(strstr(text, "complete=true"));
  g_assert_true(wv_hugepages_release(f->runtime_dir, "vm", &error));
  g_assert_cmpuint(pool(f), ==, 2);

  /* killed after the intent, before the pool grew: nothing to give back */
  write_intent(f, "vm", 2, 4);
  g_assert_true(wv_hugepages_release(f->runtime_dir, "vm", &error));
  g_assert_no_error(error);
  g_assert_cmpuint(pool(f), ==, 2);
  g_assert_false(has_record(f, "vm"));

  /* killed after the pool grew, before the record was completed */
  write_intent(f, "vm", 2, 4);
  set_pool(f, "6\n");
  g_assert_true(wv_hugepages_release(f->runtime_dir, "vm", &error));
  g_assert_cmpuint(pool(f), ==, 2);
  g_assert_false(has_record(f, "vm"));

  /* killed while the kernel had found only some of the pages */
  write_intent(f, "vm", 2, 4);
  set_pool(f, "4\n");
  g_assert_true(wv_hugepages_release(f->runtime_dir, "vm", &error));
  g_assert_cmpuint(pool(f), ==, 2);

  /* the next start finds the unfinished record: undone, then reserved once */
  write_intent(f, "vm", 2, 4);
  set_pool(f, "6\n");
  {
    g_autoptr(WvReservation) r =
        wv_hugepages_reserve(f->runtime_dir, "vm", f->nr_path, PAGE_1G, -1, 4, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(r->complete);
    g_assert_cmpuint(r->before, ==, 2);
  }
  g_assert_cmpuint(pool(f), ==, 6);
  g_assert_true(wv_hugepages_release(f->runtime_dir, "vm", &error));
  g_assert_cmpuint(pool(f), ==, 2);

  /* a record from before the intent step (no "complete" key) was complete */
  {
    g_autofree char *old = g_strdup_printf(
        "[reservation]\npage-kib=1048576\nnode=-1\nnr-path=%s\nbefore=2\nadded=4\n", f->nr_path);
    g_autoptr(WvReservation) r = NULL;

    g_assert_true(g_file_set_contents(path, old, -1, NULL));
    set_pool(f, "6\n");
    r = wv_hugepages_lookup(f->runtime_dir, "vm");
    g_assert_true(r->complete);
    g_assert_true(wv_hugepages_release(f->runtime_dir, "vm", &error));
    g_assert_cmpuint(pool(f), ==, 2);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/hugepages/grow-and-release", test_grow_and_release);
  ADD("/hugepages/reserve-twice", test_reserve_twice);
  ADD("/hugepages/two-vms/release-first-first", test_two_vms_fifo);
  ADD("/hugepages/two-vms/release-last-first", test_two_vms_lifo);
  ADD("/hugepages/release-never-below-zero", test_release_never_below_zero);
  ADD("/hugepages/count-zero", test_count_zero);
  ADD("/hugepages/release-without-record", test_release_without_record);
  ADD("/hugepages/pool-missing", test_pool_missing);
  ADD("/hugepages/pool-is-directory", test_pool_is_directory);
  ADD("/hugepages/pool-garbage", test_pool_garbage);
  ADD("/hugepages/overflow", test_overflow);
  ADD("/hugepages/rollback-when-record-fails", test_rollback_when_record_fails);
  ADD("/hugepages/kernel-gives-fewer-pages", test_kernel_short);
  ADD("/hugepages/release-keeps-record-on-failure", test_release_keeps_record_on_failure);
  ADD("/hugepages/invalid-names", test_invalid_names);
  ADD("/hugepages/corrupt-record", test_corrupt_record);
  ADD("/hugepages/crash-at-every-step", test_crash_at_every_step);
#undef ADD

  return g_test_run();
}
