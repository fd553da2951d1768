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

/* ---- compaction ---------------------------------------------------------- */

/* A script the fake kernel plays on FIFOs: SAY answers a read of the pool,
 * HEAR takes a write (of the pool or of compact_memory) and keeps it; no
 * path: another VM's release, which needs the pools' lock. */
typedef struct
{
  gboolean say;
  const char *path;
  const char *text; /* SAY */
} Act;

typedef struct
{
  const Act *acts;
  guint n;
  char *heard[12];
  const char *runtime_dir;
} Script;

static gpointer
play(gpointer data)
{
  Script *sc = data;

  for (guint i = 0; i < sc->n; i++) {
    if (sc->acts[i].path == NULL)
      g_assert_true(wv_hugepages_release(sc->runtime_dir, "other", NULL));
    else if (sc->acts[i].say)
      fifo_say(sc->acts[i].path, sc->acts[i].text);
    else
      sc->heard[i] = fifo_hear(sc->acts[i].path);
  }
  return NULL;
}

typedef struct
{
  WvHugepagesStep steps[4];
  guint n;
} Steps;

static void
note_step(WvHugepagesStep step, gpointer data)
{
  Steps *st = data;

  g_assert_cmpuint(st->n, <, G_N_ELEMENTS(st->steps));
  st->steps[st->n++] = step;
}

static char *
fifo_at(const Fixture *f, const char *name)
{
  char *path = g_build_filename(f->tmp, name, NULL);

  g_unlink(path);
  g_assert_cmpint(mkfifo(path, 0600), ==, 0);
  return path;
}

/* The pool falls short, memory is compacted, the second try finds them all. */
static void
test_compaction_helps(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autofree char *nr = fifo_at(f, "nr_fifo");
  g_autofree char *compact = fifo_at(f, "compact_memory");
  const Act acts[] = {
      {TRUE, nr, "4\n"},      {FALSE, nr, NULL}, {TRUE, nr, "10\n"}, /* 6 of 16 */
      {FALSE, nr, NULL},                                             /* given back */
      {FALSE, NULL, NULL}, /* while it compacts, the pools are not locked */
      {FALSE, compact, NULL}, {TRUE, nr, "4\n"}, {FALSE, nr, NULL},
      {TRUE, nr, "20\n"}, /* all 16 */
  };
  Script sc = {acts, G_N_ELEMENTS(acts), {NULL}, f->runtime_dir};
  Steps st = {{0}, 0};
  WvHugepagesHow how = {compact, note_step, &st};
  GThread *thread = g_thread_new("fake-kernel", play, &sc);

  r = wv_hugepages_reserve(f->runtime_dir, "win11", nr, PAGE_1G, 0, 16, &how, &error);
  g_thread_join(thread);
  g_assert_no_error(error);
  g_assert_nonnull(r);
  g_assert_cmpstr(sc.heard[1], ==, "20\n");
  g_assert_cmpstr(sc.heard[3], ==, "4\n"); /* the pages had go back before compaction */
  g_assert_cmpstr(sc.heard[5], ==, "1\n");
  g_assert_cmpstr(sc.heard[7], ==, "20\n");
  g_assert_cmpuint(r->before, ==, 4);
  g_assert_cmpuint(r->added, ==, 16);
  g_assert_true(r->complete);
  g_assert_cmpint(r->node, ==, 0);
  g_assert_true(has_record(f, "win11"));
  g_assert_cmpuint(st.n, ==, 2);
  g_assert_cmpint(st.steps[0], ==, WV_HUGEPAGES_STEP_RESERVING);
  g_assert_cmpint(st.steps[1], ==, WV_HUGEPAGES_STEP_COMPACTING);
  g_assert_cmpstr(wv_hugepages_step_name(st.steps[0]), ==, "reserving-hugepages");
  g_assert_cmpstr(wv_hugepages_step_name(st.steps[1]), ==, "compacting");
  g_assert_cmpstr(wv_hugepages_step_name(WV_HUGEPAGES_STEP_NONE), ==, "");
  for (guint i = 0; i < G_N_ELEMENTS(sc.heard); i++)
    g_free(sc.heard[i]);
}

/* Compaction does not find enough: everything goes back, the error counts. */
static void
test_compaction_not_enough(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autofree char *nr = fifo_at(f, "nr_fifo");
  g_autofree char *compact = fifo_at(f, "compact_memory");
  const Act acts[] = {
      {TRUE, nr, "4\n"}, {FALSE, nr, NULL},      {TRUE, nr, "10\n"}, /* 6 of 16 */
      {FALSE, nr, NULL}, {FALSE, compact, NULL},                     /* given back, compacted */
      {TRUE, nr, "4\n"}, {FALSE, nr, NULL},      {TRUE, nr, "13\n"}, /* 9 of 16 */
      {FALSE, nr, NULL},                                             /* given back */
  };
  Script sc = {acts, G_N_ELEMENTS(acts), {NULL}, NULL};
  WvHugepagesHow how = {compact, NULL, NULL};
  GThread *thread = g_thread_new("fake-kernel", play, &sc);

  r = wv_hugepages_reserve(f->runtime_dir, "win11", nr, PAGE_1G, 1, 16, &how, &error);
  g_thread_join(thread);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_HUGEPAGES_SHORT);
  g_assert_nonnull(
      strstr(error->message, "only 9 of 16 1G pages could be reserved after compacting memory"));
  g_assert_nonnull(strstr(error->message, "given back"));
  g_assert_nonnull(strstr(error->message, "hugepagesz=1G hugepages=1:16"));
  g_assert_cmpstr(sc.heard[3], ==, "4\n");
  g_assert_cmpstr(sc.heard[4], ==, "1\n");
  g_assert_cmpstr(sc.heard[6], ==, "20\n");
  g_assert_cmpstr(sc.heard[8], ==, "4\n");
  g_assert_false(has_record(f, "win11"));
  for (guint i = 0; i < G_N_ELEMENTS(sc.heard); i++)
    g_free(sc.heard[i]);
}

/* The fake tree's limit file: a plain pool that refuses to grow past it. */
static void
test_limit_seam(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autofree char *limit = g_strconcat(f->nr_path, ".limit", NULL);
  g_autofree char *compact = g_build_filename(f->tmp, "compact_memory", NULL);
  g_autofree char *written = NULL;
  Steps st = {{0}, 0};
  WvHugepagesHow how = {compact, note_step, &st};

  g_assert_true(g_file_set_contents(limit, "10\n", -1, NULL));
  g_assert_true(g_file_set_contents(compact, "", -1, NULL));
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, &how, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_HUGEPAGES_SHORT);
  g_assert_nonnull(
      strstr(error->message, "only 6 of 16 1G pages could be reserved after compacting memory"));
  g_assert_nonnull(strstr(error->message, "hugepagesz=1G hugepages=16"));
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_false(has_record(f, "win11"));
  g_assert_true(g_file_get_contents(compact, &written, NULL, NULL));
  g_assert_cmpstr(written, ==, "1\n");
  g_assert_cmpuint(st.n, ==, 2);
  g_clear_error(&error);

  /* within the limit it grows as ever */
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 6, &how, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(pool(f), ==, 10);
  release(f, "win11");
  g_assert_cmpuint(pool(f), ==, 4);
}

/* compact_memory cannot be written: said in the error, all rolled back. */
static void
test_compaction_unavailable(Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(WvReservation) r = NULL;
  g_autofree char *limit = g_strconcat(f->nr_path, ".limit", NULL);
  g_autofree char *compact = g_build_filename(f->tmp, "no", "compact_memory", NULL);
  WvHugepagesHow how = {compact, NULL, NULL};

  g_assert_true(g_file_set_contents(limit, "7\n", -1, NULL));
  r = wv_hugepages_reserve(f->runtime_dir, "win11", f->nr_path, PAGE_1G, -1, 16, &how, &error);
  g_assert_null(r);
  g_assert_error(error, WV_ERROR, WV_ERROR_HUGEPAGES_SHORT);
  g_assert_nonnull(strstr(error->message, "only 3 of 16 1G pages could be reserved ("));
  g_assert_nonnull(strstr(error->message, "to compact memory"));
  g_assert_nonnull(strstr(error->message, compact));
  g_assert_cmpuint(pool(f), ==, 4);
  g_assert_false(has_record(f, "win11"));
}

/* ---- buddyinfo ----------------------------------------------------------- */

#define BUDDY                                                                                      \
  "Node 0, zone      DMA      1      1      1      0      2      1      1      0      1      1   " \
  " "                                                                                              \
  "  3\n"                                                                                          \
  "Node 0, zone    DMA32      4      3      2      5      6      2      3      4      2     10   " \
  " "                                                                                              \
  "200\n"                                                                                          \
  "Node 0, zone   Normal   1000    500    200    100     50     20     10      5      2      7   " \
  " "                                                                                              \
  "300\n"                                                                                          \
  "Node 1, zone   Normal     10     10     10     10     10     10     10     10     10      4   " \
  " "                                                                                              \
  "  1\n"

static void
test_buddyinfo_parse(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) zones = wv_buddyinfo_parse(BUDDY, &error);
  const WvBuddyZone *z;

  g_assert_no_error(error);
  g_assert_cmpuint(zones->len, ==, 4);
  z = &g_array_index(zones, WvBuddyZone, 2);
  g_assert_cmpint(z->node, ==, 0);
  g_assert_cmpstr(z->zone, ==, "Normal");
  g_assert_cmpuint(z->n_orders, ==, 11);
  g_assert_cmpuint(z->free[0], ==, 1000);
  g_assert_cmpuint(z->free[10], ==, 300);
  g_assert_cmpint(g_array_index(zones, WvBuddyZone, 3).node, ==, 1);

  /* 2M = order 9 of 4K pages: order 9 counts once, order 10 twice */
  g_assert_cmpuint(wv_buddyinfo_pages(zones, 0, 2048, 4), ==,
                   (1 + 2 * 3) + (10 + 2 * 200) + (7 + 2 * 300));
  g_assert_cmpuint(wv_buddyinfo_pages(zones, 1, 2048, 4), ==, 4 + 2 * 1);
  g_assert_cmpuint(wv_buddyinfo_pages(zones, -1, 2048, 4), ==, 7 + 410 + 607 + 6);
  /* 1G: the 4 MiB blocks' memory in whole GiB, an upper bound */
  g_assert_cmpuint(wv_buddyinfo_pages(zones, 0, 1048576, 4), ==, (3 + 200 + 300) * 4 / 1024);
  g_assert_cmpuint(wv_buddyinfo_pages(zones, 1, 1048576, 4), ==, 0);
  g_assert_cmpuint(wv_buddyinfo_pages(zones, 5, 2048, 4), ==, 0); /* no such node */
  /* 4K pages: every free page */
  g_assert_cmpuint(wv_buddyinfo_pages(zones, 1, 4, 4), ==,
                   10 * (1 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256) + 4 * 512 + 1024);
}

static void
test_buddyinfo_empty(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) zones = wv_buddyinfo_parse("\n  \n", &error);

  g_assert_no_error(error);
  g_assert_cmpuint(zones->len, ==, 0);
  g_assert_cmpuint(wv_buddyinfo_pages(zones, -1, 2048, 4), ==, 0);
}

static void
test_buddyinfo_malformed(void)
{
  static const struct
  {
    const char *text;
    const char *message;
  } cases[] = {
      {"Node 0, zone Normal\n", "line 1: not \"Node N, zone NAME COUNTS...\""},
      {"Nodes 0, zone Normal 1 2\n", "line 1: not"},
      {"Node 0, zona Normal 1 2\n", "line 1: not"},
      {"Node 0 zone Normal 1 2\n", "line 1: no comma"},
      {"Node x, zone Normal 1 2\n", "line 1: the node is not a number"},
      {"Node -1, zone Normal 1 2\n", "line 1: the node is not a number"},
      {"Node 99999999999, zone Normal 1 2\n", "line 1: the node is not a number"},
      {"Node 0, zone Normal 1 -2\n", "line 1: a count is not a number"},
      {"Node 0, zone Normal 1 2x\n", "line 1: a count is not a number"},
      {"Node 0, zone Normal 1 99999999999999999999999\n", "line 1: a count is not a number"},
      {"Node 0, zone AVeryLongZoneNameIndeed 1 2\n", "line 1: the zone name is too long"},
      {"Node 0, zone Normal 1 2 3\nNode 0, zone DMA 1 2\n",
       "line 2: a different number of orders than the first line"},
      {"Node 0, zone Normal 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 "
       "27 28 29 30 31 32 33\n",
       "line 1: more orders than any kernel has"},
  };

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) zones = wv_buddyinfo_parse(cases[i].text, &error);

    g_assert_null(zones);
    g_assert_error(error, WV_ERROR, WV_ERROR_FAILED);
    if (strstr(error->message, cases[i].message) == NULL)
      g_error("case %u: “%s” does not contain “%s”", i, error->message, cases[i].message);
  }
}

/* Random bytes and mangled real lines: an answer or an error, never a crash
 * (ASan watches), and never an absurd count. */
static void
test_buddyinfo_fuzz(void)
{
  static const char alphabet[] = "Node 0123456789,zone\t\n DMA Normal-x";
  GRand *rand = g_rand_new_with_seed(15);

  for (guint round = 0; round < 4000; round++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) zones = NULL;
    GString *text = g_string_new(NULL);
    guint len = g_rand_int_range(rand, 0, 200);

    if (round % 2 == 0) { /* a real text with a few bytes changed */
      g_string_assign(text, BUDDY);
      for (guint k = 0; k < 3; k++)
        text->str[g_rand_int_range(rand, 0, text->len)] =
            alphabet[g_rand_int_range(rand, 0, sizeof alphabet - 1)];
    } else if (round % 4 == 1) {
      for (guint k = 0; k < len; k++)
        g_string_append_c(text, alphabet[g_rand_int_range(rand, 0, sizeof alphabet - 1)]);
    } else {
      for (guint k = 0; k < len; k++)
        g_string_append_c(text, (char)g_rand_int_range(rand, 1, 256));
    }
    zones = wv_buddyinfo_parse(text->str, &error);
    g_assert_true((zones == NULL) != (error == NULL));
    if (zones != NULL) {
      for (gint node = -1; node < 3; node++) {
        wv_buddyinfo_pages(zones, node, 2048, 4);
        wv_buddyinfo_pages(zones, node, 1048576, 4);
        wv_buddyinfo_pages(zones, node, 1, G_MAXUINT64 / 2);
      }
    }
    g_string_free(text, TRUE);
  }
  g_rand_free(rand);
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
  ADD("/hugepages/compaction/helps", test_compaction_helps);
  ADD("/hugepages/compaction/not-enough", test_compaction_not_enough);
  ADD("/hugepages/compaction/unavailable", test_compaction_unavailable);
  ADD("/hugepages/limit-seam", test_limit_seam);
#undef ADD
  g_test_add_func("/buddyinfo/parse", test_buddyinfo_parse);
  g_test_add_func("/buddyinfo/empty", test_buddyinfo_empty);
  g_test_add_func("/buddyinfo/malformed", test_buddyinfo_malformed);
  g_test_add_func("/buddyinfo/fuzz", test_buddyinfo_fuzz);

  return g_test_run();
}
