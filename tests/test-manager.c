/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include <string.h>

#include <glib.h>

#include "fake-store.h"
#include "service/manager.h"

typedef struct {
        FakeStore *store; /* owned by manager */
        Manager *manager;
} Fixture;

static void setup(Fixture *f, gconstpointer needs_io)
{
        f->store = fake_store_new(GPOINTER_TO_INT(needs_io));
        f->manager = manager_new(fake_store_base(f->store));
}

static void teardown(Fixture *f, gconstpointer data)
{
        g_clear_pointer(&f->manager, manager_free);
}

static void track_ok(Manager *m, const char *volume, const char *node)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_track(m, volume, node, &r, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(r.node, ==, node);
}

/* The table says `node` holds `volume` (NULL: untracked), and so does the store. */
static void assert_tracked(Fixture *f, const char *volume, const char *node)
{
        g_autofree char *table_node = NULL, *store_node = NULL;
        gint64 table_at = 0, store_at = 0;
        g_autoptr(GError) error = NULL;
        gboolean in_table = manager_get(f->manager, volume, &table_node, &table_at, &error);

        g_assert_cmpstr(table_node, ==, node);
        g_assert_cmpint(in_table, ==, node != NULL);
        if (node == NULL)
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_ATTACHED);
        g_assert_cmpint(fake_store_lookup(f->store, volume, &store_node, &store_at), ==,
                        node != NULL);
        g_assert_cmpstr(store_node, ==, node);
        g_assert_cmpint(store_at, ==, table_at);
}

static void test_track(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &r, &error));
        g_assert_no_error(error);
        g_assert_true(r.changed);
        g_assert_cmpstr(r.node, ==, "node-1");
        g_assert_cmpint(r.attached_at, >, 0);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(manager_count(f->manager), ==, 1);
        g_assert_cmpuint(fake_store_puts(f->store), ==, 1);
        g_assert_true(manager_get_store(f->manager) == fake_store_base(f->store));
}

static void test_track_idempotent(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) first = {0};
        g_auto(ManagerResult) second = {0};

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &first, NULL));
        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &second, NULL));
        g_assert_true(first.changed);
        g_assert_false(second.changed);
        g_assert_cmpstr(second.node, ==, "node-1");
        g_assert_cmpint(second.attached_at, ==, first.attached_at);
        g_assert_cmpuint(fake_store_puts(f->store), ==, 1);
        g_assert_cmpuint(manager_count(f->manager), ==, 1);
}

static void test_track_conflict(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        g_assert_false(manager_track(f->manager, "vol-1", "node-2", &r, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_nonnull(strstr(error->message, "already attached to node node-1"));
        g_assert_cmpstr(error->message, ==, "volume vol-1 already attached to node node-1");
        g_assert_false(r.changed);
        g_assert_null(r.node);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(fake_store_puts(f->store), ==, 1);
}

static void test_untrack(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) tracked = {0};
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &tracked, NULL));
        g_assert_true(manager_untrack(f->manager, "vol-1", &r, &error));
        g_assert_no_error(error);
        g_assert_true(r.changed);
        g_assert_cmpstr(r.node, ==, "node-1");
        g_assert_cmpint(r.attached_at, ==, tracked.attached_at);
        assert_tracked(f, "vol-1", NULL);
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
        g_assert_cmpuint(fake_store_removes(f->store), ==, 1);

        g_assert_false(manager_get(f->manager, "vol-1", NULL, NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_ATTACHED);
        g_assert_cmpstr(error->message, ==, "volume vol-1 is not attached");
}

static void test_untrack_idempotent(Fixture *f, gconstpointer data)
{
        for (guint i = 0; i < 2; i++) {
                g_auto(ManagerResult) r = {0};
                g_autoptr(GError) error = NULL;

                g_assert_true(manager_untrack(f->manager, "vol-1", &r, &error));
                g_assert_no_error(error);
                g_assert_false(r.changed);
                g_assert_null(r.node);
        }
        g_assert_cmpuint(fake_store_removes(f->store), ==, 0);

        track_ok(f->manager, "vol-1", "node-1");
        g_assert_true(manager_untrack(f->manager, "vol-1", NULL, NULL));
        g_assert_true(manager_untrack(f->manager, "vol-1", NULL, NULL));
        g_assert_cmpuint(fake_store_removes(f->store), ==, 1);
}

static void test_list_is_copy(Fixture *f, gconstpointer data)
{
        g_autoptr(GPtrArray) list = NULL;
        Attachment *a;

        track_ok(f->manager, "vol-1", "node-1");
        track_ok(f->manager, "vol-2", "node-2");
        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, 2);

        /* Changing the copy changes nothing in the table, and the reverse. */
        a = list->pdata[0];
        g_free(a->node);
        a->node = g_strdup("scribbled");
        g_assert_true(manager_untrack(f->manager, "vol-2", NULL, NULL));
        assert_tracked(f, "vol-1", "node-1");
        a = list->pdata[1];
        g_assert_cmpstr(a->volume, ==, "vol-2");
        g_assert_cmpstr(a->node, ==, "node-2");
        g_clear_pointer(&list, g_ptr_array_unref);

        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, 1);
        a = list->pdata[0];
        g_assert_cmpstr(a->node, ==, "node-1");
}

static void test_list_sorted(Fixture *f, gconstpointer data)
{
        g_autoptr(GRand) rand = g_rand_new_with_seed(42);
        g_autoptr(GPtrArray) list = NULL;
        guint n = 200;

        for (guint i = 0; i < n; i++) {
                g_autofree char *volume =
                    g_strdup_printf("vol-%u", g_rand_int_range(rand, 0, 1000000));
                g_autofree char *node = g_strdup_printf("node-%u", g_rand_int_range(rand, 0, 5));

                if (!manager_track(f->manager, volume, node, NULL, NULL))
                        n--; /* the same volume drawn twice with another node */
        }
        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, manager_count(f->manager));
        g_assert_cmpuint(list->len, >, 150);
        for (guint i = 0; i < list->len; i++) {
                Attachment *a = list->pdata[i];

                assert_tracked(f, a->volume, a->node);
                if (i > 0)
                        g_assert_cmpint(
                            strcmp(((Attachment *)list->pdata[i - 1])->volume, a->volume), <, 0);
        }
}

typedef struct {
        Fixture *f;
        char *volume;
        char *node;
        gint *gate;
        gboolean ok;
        GError *error;
} TrackJob;

static gpointer track_thread(gpointer data)
{
        TrackJob *job = data;

        /* Start together, to make the threads really overlap. */
        while (!g_atomic_int_get(job->gate))
                g_thread_yield();
        job->ok = manager_track(job->f->manager, job->volume, job->node, NULL, &job->error);
        return NULL;
}

static void run_track_jobs(Fixture *f, TrackJob *jobs, guint n)
{
        g_autofree GThread **threads = g_new(GThread *, n);
        gint gate = FALSE;

        for (guint i = 0; i < n; i++) {
                jobs[i].f = f;
                jobs[i].gate = &gate;
                threads[i] = g_thread_new("track", track_thread, &jobs[i]);
        }
        g_atomic_int_set(&gate, TRUE);
        for (guint i = 0; i < n; i++)
                g_thread_join(threads[i]);
}

static void clear_track_jobs(TrackJob *jobs, guint n)
{
        for (guint i = 0; i < n; i++) {
                g_free(jobs[i].volume);
                g_free(jobs[i].node);
                g_clear_error(&jobs[i].error);
        }
}

#define N_THREADS 32

static void test_concurrent_track(Fixture *f, gconstpointer data)
{
        TrackJob jobs[N_THREADS] = {0};

        fake_store_set_put_delay(f->store, 2);
        for (guint i = 0; i < N_THREADS; i++) {
                jobs[i].volume = g_strdup_printf("vol-%02u", i);
                jobs[i].node = g_strdup_printf("node-%u", i % 3);
        }
        run_track_jobs(f, jobs, N_THREADS);
        for (guint i = 0; i < N_THREADS; i++) {
                g_assert_no_error(jobs[i].error);
                g_assert_true(jobs[i].ok);
                assert_tracked(f, jobs[i].volume, jobs[i].node);
        }
        g_assert_cmpuint(manager_count(f->manager), ==, N_THREADS);
        g_assert_cmpuint(fake_store_count(f->store), ==, N_THREADS);
        g_assert_cmpuint(volume_locks_count(manager_get_locks(f->manager)), ==, 0);
        clear_track_jobs(jobs, N_THREADS);
}

static void test_concurrent_conflict(Fixture *f, gconstpointer data)
{
        TrackJob jobs[N_THREADS] = {0};
        const char *winner = NULL;
        guint conflicts = 0;

        fake_store_set_put_delay(f->store, 2);
        for (guint i = 0; i < N_THREADS; i++) {
                jobs[i].volume = g_strdup("vol-x");
                jobs[i].node = g_strdup_printf("node-%u", i);
        }
        run_track_jobs(f, jobs, N_THREADS);
        for (guint i = 0; i < N_THREADS; i++) {
                if (jobs[i].ok) {
                        g_assert_null(winner);
                        winner = jobs[i].node;
                        continue;
                }
                g_assert_error(jobs[i].error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
                conflicts++;
        }
        g_assert_nonnull(winner);
        g_assert_cmpuint(conflicts, ==, N_THREADS - 1);
        /* The table alone answers the losers: exactly one put reached the store. */
        g_assert_cmpuint(fake_store_puts(f->store), ==, 1);
        assert_tracked(f, "vol-x", winner);
        for (guint i = 0; i < N_THREADS; i++) {
                g_autofree char *expected =
                    g_strdup_printf("volume vol-x already attached to node %s", winner);

                if (!jobs[i].ok)
                        g_assert_cmpstr(jobs[i].error->message, ==, expected);
        }
        clear_track_jobs(jobs, N_THREADS);
}

static void test_store_put_fails_rolls_back(Fixture *f, gconstpointer data)
{
        const gint codes[] = {ATTACHMENT_ERROR_FAILED, ATTACHMENT_ERROR_NOT_FOUND};

        for (gsize i = 0; i < G_N_ELEMENTS(codes); i++) {
                g_auto(ManagerResult) r = {0};
                g_autoptr(GError) error = NULL;

                fake_store_fail_put(f->store, codes[i], NULL);
                g_assert_false(manager_track(f->manager, "vol-1", "node-1", &r, &error));
                g_assert_error(error, ATTACHMENT_ERROR, codes[i]);
                g_assert_false(r.changed);
                assert_tracked(f, "vol-1", NULL);
                g_assert_cmpuint(manager_count(f->manager), ==, 0);
        }
        fake_store_fail_put(f->store, -1, NULL);
        track_ok(f->manager, "vol-1", "node-1");
        assert_tracked(f, "vol-1", "node-1");
}

static void test_store_remove_fails_keeps(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        fake_store_fail_remove(f->store, ATTACHMENT_ERROR_FAILED);
        g_assert_false(manager_untrack(f->manager, "vol-1", &r, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_false(r.changed);
        assert_tracked(f, "vol-1", "node-1");

        fake_store_fail_remove(f->store, -1);
        g_assert_true(manager_untrack(f->manager, "vol-1", &r, NULL));
        g_assert_true(r.changed);
        assert_tracked(f, "vol-1", NULL);
}

static void test_attached_at_is_now(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        gint64 now;

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &r, NULL));
        now = g_get_real_time();
        g_assert_cmpint(r.attached_at, <=, now);
        g_assert_cmpint(r.attached_at, >, now - 2 * G_USEC_PER_SEC);
        assert_tracked(f, "vol-1", "node-1");
}

static void test_store_keeps_time(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        gint64 then = 1700000000123456;

        /* The store already holds this node's attachment (a restart lost our table): the
         * store's original time wins over now. */
        fake_store_seed(f->store, "vol-1", "node-1", then);
        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &r, NULL));
        g_assert_true(r.changed);
        g_assert_cmpint(r.attached_at, ==, then);
        assert_tracked(f, "vol-1", "node-1");
}

static void test_store_already_attached(Fixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        /* Another daemon attached it to node-9: only the store knows. */
        fake_store_seed(f->store, "vol-1", "node-9", 1);
        g_assert_false(manager_track(f->manager, "vol-1", "node-1", NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(error->message, ==, "volume vol-1 already attached to node node-9");
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
        g_clear_error(&error);

        /* A store that cannot name the holder: its own message goes through. */
        fake_store_fail_put(f->store, ATTACHMENT_ERROR_ALREADY_ATTACHED, NULL);
        g_assert_false(manager_track(f->manager, "vol-2", "node-1", NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(error->message, ==, "fake put failure");
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
}

static void test_load(Fixture *f, gconstpointer data)
{
        g_autoptr(GPtrArray) list = NULL;
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-old", "node-1");
        fake_store_seed(f->store, "vol-b", "node-2", 200);
        fake_store_seed(f->store, "vol-a", "node-1", 100);
        fake_store_seed(f->store, "vol-c", "node-2", 300);
        /* Left in the store by track_ok, so it comes back too. */
        g_assert_true(manager_load(f->manager, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(manager_count(f->manager), ==, 4);
        list = manager_list(f->manager);
        g_assert_cmpstr(((Attachment *)list->pdata[0])->volume, ==, "vol-a");
        g_assert_cmpint(((Attachment *)list->pdata[0])->attached_at, ==, 100);
        g_assert_cmpstr(((Attachment *)list->pdata[2])->volume, ==, "vol-c");
        g_assert_cmpstr(((Attachment *)list->pdata[2])->node, ==, "node-2");
        g_assert_cmpstr(((Attachment *)list->pdata[3])->volume, ==, "vol-old");
        assert_tracked(f, "vol-b", "node-2");

        /* The loaded table works like any other. */
        g_assert_true(manager_untrack(f->manager, "vol-a", NULL, NULL));
        assert_tracked(f, "vol-a", NULL);
        g_assert_false(manager_track(f->manager, "vol-b", "node-1", NULL, NULL));
}

static void test_load_replaces(Fixture *f, gconstpointer data)
{
        track_ok(f->manager, "vol-1", "node-1");
        track_ok(f->manager, "vol-2", "node-1");
        /* Another daemon detached vol-1 and attached vol-3 meanwhile: load believes the store. */
        fake_store_drop(f->store, "vol-1");
        fake_store_seed(f->store, "vol-3", "node-3", 3);
        g_assert_true(manager_load(f->manager, NULL));
        g_assert_cmpuint(manager_count(f->manager), ==, 2);
        assert_tracked(f, "vol-1", NULL);
        assert_tracked(f, "vol-2", "node-1");
        assert_tracked(f, "vol-3", "node-3");
}

static void test_load_fails_keeps_table(Fixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        fake_store_seed(f->store, "vol-2", "node-2", 2);
        fake_store_fail_load(f->store, ATTACHMENT_ERROR_FAILED);
        g_assert_false(manager_load(f->manager, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_cmpuint(manager_count(f->manager), ==, 1);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(fake_store_loads(f->store), ==, 1);
}

static void test_try_track_needs_io(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, &error), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_no_error(error);
        g_assert_null(r.node);
        g_assert_cmpuint(fake_store_puts(f->store), ==, 0);
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
        g_assert_cmpuint(volume_locks_count(manager_get_locks(f->manager)), ==, 0);
}

static void test_try_track_done(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) tracked = {0};
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &tracked, NULL));
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, &error), ==,
                        MANAGER_TRY_DONE);
        g_assert_no_error(error);
        g_assert_false(r.changed);
        g_assert_cmpstr(r.node, ==, "node-1");
        g_assert_cmpint(r.attached_at, ==, tracked.attached_at);

        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-2", NULL, &error), ==,
                        MANAGER_TRY_FAILED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(error->message, ==, "volume vol-1 already attached to node node-1");
        g_assert_cmpuint(fake_store_puts(f->store), ==, 1);
}

static void test_try_untrack(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};

        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, NULL), ==, MANAGER_TRY_DONE);
        g_assert_false(r.changed);
        g_assert_null(r.node);

        track_ok(f->manager, "vol-1", "node-1");
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, NULL), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_cmpuint(fake_store_removes(f->store), ==, 0);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(volume_locks_count(manager_get_locks(f->manager)), ==, 0);
}

/* With a store that needs no I/O, the try variants do the whole job. */
static void test_try_no_io_store(Fixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, NULL), ==,
                        MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, NULL), ==, MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        g_assert_cmpstr(r.node, ==, "node-1");
        assert_tracked(f, "vol-1", NULL);

        fake_store_fail_put(f->store, ATTACHMENT_ERROR_FAILED, NULL);
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, &error), ==,
                        MANAGER_TRY_FAILED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        assert_tracked(f, "vol-1", NULL);
        g_clear_error(&error);

        fake_store_fail_put(f->store, -1, NULL);
        track_ok(f->manager, "vol-1", "node-1");
        fake_store_fail_remove(f->store, ATTACHMENT_ERROR_FAILED);
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, &error), ==,
                        MANAGER_TRY_FAILED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        assert_tracked(f, "vol-1", "node-1");
}

typedef struct {
        VolumeLocks *locks;
        gint held;
        gint release;
} Holder;

static gpointer hold_lock(gpointer data)
{
        Holder *h = data;

        volume_lock(h->locks, "vol-1");
        g_atomic_int_set(&h->held, TRUE);
        while (!g_atomic_int_get(&h->release))
                g_usleep(1000);
        volume_unlock(h->locks, "vol-1");
        return NULL;
}

/* While a worker holds the volume (mid-I/O), the bus thread never waits: it hands off. */
static void test_try_lock_busy(Fixture *f, gconstpointer data)
{
        Holder h = {manager_get_locks(f->manager), FALSE, FALSE};
        g_auto(ManagerResult) r = {0};
        GThread *thread;

        track_ok(f->manager, "vol-1", "node-1");
        thread = g_thread_new("holder", hold_lock, &h);
        while (!g_atomic_int_get(&h.held))
                g_usleep(1000);
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, NULL), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-2", &r, NULL), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, NULL), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_null(r.node);
        /* Other volumes are not held up. */
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-2", &r, NULL), ==, MANAGER_TRY_DONE);
        g_atomic_int_set(&h.release, TRUE);
        g_thread_join(thread);
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, NULL), ==,
                        MANAGER_TRY_DONE);
}

static void test_store_none(void)
{
        g_autoptr(Manager) m = manager_new(store_none_new());
        g_auto(ManagerResult) r = {0};

        g_assert_cmpstr(store_name(manager_get_store(m)), ==, "none");
        g_assert_false(store_needs_io(manager_get_store(m)));
        g_assert_true(manager_load(m, NULL));
        g_assert_cmpint(manager_try_track(m, "vol-1", "node-1", &r, NULL), ==, MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        g_assert_true(manager_track(m, "vol-2", "node-1", &r, NULL));
        g_assert_true(r.changed);
        g_assert_cmpuint(manager_count(m), ==, 2);
        g_assert_true(manager_untrack(m, "vol-1", &r, NULL));
        g_assert_true(r.changed);
        g_assert_cmpint(manager_try_untrack(m, "vol-2", &r, NULL), ==, MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        g_assert_cmpuint(manager_count(m), ==, 0);
}

typedef struct {
        Fixture *f;
        guint seed;
} Churn;

static gpointer churn(gpointer data)
{
        Churn *c = data;
        g_autoptr(GRand) rand = g_rand_new_with_seed(c->seed);

        for (guint i = 0; i < 300; i++) {
                g_autofree char *volume = g_strdup_printf("vol-%d", g_rand_int_range(rand, 0, 8));
                g_autofree char *node = g_strdup_printf("node-%d", g_rand_int_range(rand, 0, 3));
                g_auto(ManagerResult) r = {0};

                switch (g_rand_int_range(rand, 0, 5)) {
                case 0:
                        manager_track(c->f->manager, volume, node, &r, NULL);
                        break;
                case 1:
                        manager_untrack(c->f->manager, volume, &r, NULL);
                        break;
                case 2:
                        manager_try_track(c->f->manager, volume, node, &r, NULL);
                        break;
                case 3:
                        manager_try_untrack(c->f->manager, volume, &r, NULL);
                        break;
                default:
                        g_ptr_array_unref(manager_list(c->f->manager));
                        break;
                }
        }
        return NULL;
}

/* Mixed operations from many threads: the table and the store agree afterwards, and no lock
 * entry is left behind. */
static void test_locks_freed(Fixture *f, gconstpointer data)
{
        Churn churns[8];
        GThread *threads[8];
        g_autoptr(GPtrArray) list = NULL;

        for (guint i = 0; i < G_N_ELEMENTS(threads); i++) {
                churns[i] = (Churn){f, i + 1};
                threads[i] = g_thread_new("churn", churn, &churns[i]);
        }
        for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
                g_thread_join(threads[i]);
        g_assert_cmpuint(volume_locks_count(manager_get_locks(f->manager)), ==, 0);
        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, fake_store_count(f->store));
        for (guint i = 0; i < list->len; i++) {
                Attachment *a = list->pdata[i];

                assert_tracked(f, a->volume, a->node);
        }
}

/* Many volumes on few nodes share the interned node names; they go when the volumes go. */
static void test_many_volumes_few_nodes(Fixture *f, gconstpointer data)
{
        for (guint round = 0; round < 2; round++) {
                for (guint i = 0; i < 1000; i++) {
                        g_autofree char *volume = g_strdup_printf("pvc-%04u", i);
                        g_autofree char *node = g_strdup_printf("node-%u", i % 4);

                        track_ok(f->manager, volume, node);
                }
                g_assert_cmpuint(manager_count(f->manager), ==, 1000);
                assert_tracked(f, "pvc-0005", "node-1");
                for (guint i = 0; i < 1000; i++) {
                        g_autofree char *volume = g_strdup_printf("pvc-%04u", i);

                        g_assert_true(manager_untrack(f->manager, volume, NULL, NULL));
                }
                g_assert_cmpuint(manager_count(f->manager), ==, 0);
        }
}

static void test_free_null(void)
{
        manager_free(NULL);
        attachment_free(NULL);
}

#define ADD(path, func, needs_io)                                                                  \
        g_test_add(path, Fixture, GINT_TO_POINTER(needs_io), setup, func, teardown)

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        ADD("/manager/track", test_track, TRUE);
        ADD("/manager/track-idempotent", test_track_idempotent, TRUE);
        ADD("/manager/track-conflict", test_track_conflict, TRUE);
        ADD("/manager/untrack", test_untrack, TRUE);
        ADD("/manager/untrack-idempotent", test_untrack_idempotent, TRUE);
        ADD("/manager/list-is-copy", test_list_is_copy, TRUE);
        ADD("/manager/list-sorted", test_list_sorted, TRUE);
        ADD("/manager/concurrent-track", test_concurrent_track, TRUE);
        ADD("/manager/concurrent-conflict", test_concurrent_conflict, TRUE);
        ADD("/manager/store-put-fails-rolls-back", test_store_put_fails_rolls_back, TRUE);
        ADD("/manager/store-remove-fails-keeps", test_store_remove_fails_keeps, TRUE);
        ADD("/manager/attached-at-is-now", test_attached_at_is_now, TRUE);
        ADD("/manager/store-keeps-time", test_store_keeps_time, TRUE);
        ADD("/manager/store-already-attached", test_store_already_attached, TRUE);
        ADD("/manager/load", test_load, TRUE);
        ADD("/manager/load-replaces", test_load_replaces, TRUE);
        ADD("/manager/load-fails-keeps-table", test_load_fails_keeps_table, TRUE);
        ADD("/manager/try-track-needs-io", test_try_track_needs_io, TRUE);
        ADD("/manager/try-track-done", test_try_track_done, TRUE);
        ADD("/manager/try-untrack", test_try_untrack, TRUE);
        ADD("/manager/try-no-io-store", test_try_no_io_store, FALSE);
        ADD("/manager/try-lock-busy", test_try_lock_busy, TRUE);
        ADD("/manager/locks-freed", test_locks_freed, TRUE);
        ADD("/manager/locks-freed-no-io", test_locks_freed, FALSE);
        ADD("/manager/many-volumes-few-nodes", test_many_volumes_few_nodes, TRUE);
        g_test_add_func("/manager/store-none", test_store_none);
        g_test_add_func("/manager/free-null", test_free_null);
        return g_test_run();
}
