/* SPDX-License-Identifier: MIT */
/* The manager under many threads at once (also run under TSan): the table and the store
 * stay in step, conflicts have one winner, no lock entry is left behind. */
#include "testlib.h"
#include <glib.h>

#include "fake-store.h"
#include "service/manager.h"

typedef struct {
        ManagerFixture *f;
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

static void run_track_jobs(ManagerFixture *f, TrackJob *jobs, guint n)
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

static void test_concurrent_track(ManagerFixture *f, gconstpointer data)
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

static void test_concurrent_conflict(ManagerFixture *f, gconstpointer data)
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
        /* The table never answers a mutation (DESIGN §8): every loser heard it from the
         * store, one put each, and the table follows the winner. */
        g_assert_cmpuint(fake_store_puts(f->store), ==, N_THREADS);
        assert_tracked(f, "vol-x", winner);
        for (guint i = 0; i < N_THREADS; i++) {
                g_autofree char *expected =
                    g_strdup_printf("volume vol-x already attached to node %s", winner);

                if (!jobs[i].ok)
                        g_assert_cmpstr(jobs[i].error->message, ==, expected);
        }
        clear_track_jobs(jobs, N_THREADS);
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
static void test_try_lock_busy(ManagerFixture *f, gconstpointer data)
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

typedef struct {
        ManagerFixture *f;
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
static void test_locks_freed(ManagerFixture *f, gconstpointer data)
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

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        ADD("/manager/concurrent-track", test_concurrent_track, TRUE);
        ADD("/manager/concurrent-conflict", test_concurrent_conflict, TRUE);
        /* Store=none: only there does the bus thread answer, when the lock is free. */
        ADD("/manager/try-lock-busy", test_try_lock_busy, FALSE);
        ADD("/manager/locks-freed", test_locks_freed, TRUE);
        ADD("/manager/locks-freed-no-io", test_locks_freed, FALSE);
        return g_test_run();
}
