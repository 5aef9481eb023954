/* SPDX-License-Identifier: MIT */
#include "testlib.h"
#include "config-build.h"

#include <glib.h>

#include "service/volume-lock.h"
#include "log-capture.h"

/* Generous: the machine may be loaded, and a waiting test only costs time when it fails. */
#define WAIT_USEC (30 * G_USEC_PER_SEC)

typedef struct {
        VolumeLocks *locks;
        const char *volume;
        gint started;
        gint acquired;
} Waiter;

static gboolean wait_for_flag(gint *flag)
{
        gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

        while (!g_atomic_int_get(flag)) {
                if (g_get_monotonic_time() > deadline)
                        return FALSE;
                g_usleep(1000);
        }
        return TRUE;
}

static gpointer lock_then_flag(gpointer data)
{
        Waiter *w = data;

        g_atomic_int_set(&w->started, TRUE);
        volume_lock(w->locks, w->volume);
        g_atomic_int_set(&w->acquired, TRUE);
        volume_unlock(w->locks, w->volume);
        return NULL;
}

static void test_lock_unlock(void)
{
        g_autoptr(VolumeLocks) locks = volume_locks_new();
        Waiter w = {locks, "vol-a", FALSE, FALSE};
        GThread *thread;

        volume_lock(locks, "vol-a");
        g_assert_cmpuint(volume_locks_count(locks), ==, 1);
        thread = g_thread_new("waiter", lock_then_flag, &w);
        g_assert_true(wait_for_flag(&w.started));
        /* Give the waiter ample time to get through if the lock did not hold it back. */
        g_usleep(100 * G_TIME_SPAN_MILLISECOND);
        g_assert_false(g_atomic_int_get(&w.acquired));
        volume_unlock(locks, "vol-a");
        g_assert_true(wait_for_flag(&w.acquired));
        g_thread_join(thread);
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);
}

static void test_different_volumes(void)
{
        g_autoptr(VolumeLocks) locks = volume_locks_new();
        Waiter w = {locks, "vol-b", FALSE, FALSE};
        GThread *thread;

        volume_lock(locks, "vol-a");
        thread = g_thread_new("other", lock_then_flag, &w);
        /* Still holding vol-a: the other thread must get vol-b all the same. */
        g_assert_true(wait_for_flag(&w.acquired));
        g_thread_join(thread);
        g_assert_cmpuint(volume_locks_count(locks), ==, 1);
        volume_unlock(locks, "vol-a");
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);
}

typedef struct {
        VolumeLocks *locks;
        guint counter; /* deliberately not atomic: only the volume lock protects it */
        gboolean use_trylock;
} Counter;

static gpointer increment(gpointer data)
{
        Counter *c = data;
        guint v;

        if (c->use_trylock) {
                while (!volume_trylock(c->locks, "shared"))
                        g_thread_yield();
        } else {
                volume_lock(c->locks, "shared");
        }
        v = c->counter;
        g_thread_yield(); /* a lost update shows up here if the lock does not exclude */
        c->counter = v + 1;
        volume_unlock(c->locks, "shared");
        return NULL;
}

static void run_counter(gboolean use_trylock, guint n_threads)
{
        g_autoptr(VolumeLocks) locks = volume_locks_new();
        Counter c = {locks, 0, use_trylock};
        g_autoptr(GPtrArray) threads = g_ptr_array_new();

        for (guint i = 0; i < n_threads; i++)
                g_ptr_array_add(threads, g_thread_new("inc", increment, &c));
        for (guint i = 0; i < threads->len; i++)
                g_thread_join(threads->pdata[i]);
        g_assert_cmpuint(c.counter, ==, n_threads);
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);
}

static void test_concurrent_same_volume(void)
{
        run_counter(FALSE, 100);
}

static void test_trylock_concurrent(void)
{
        run_counter(TRUE, 32);
}

static void test_unlock_nonexistent(void)
{
        g_autoptr(VolumeLocks) locks = volume_locks_new();

        log_capture_expect("*'never-locked'*not locked*");
        volume_unlock(locks, "never-locked");
        log_capture_assert_all_seen();

        /* A second unlock of a lock released once is just as stray. */
        volume_lock(locks, "vol-a");
        volume_unlock(locks, "vol-a");
        log_capture_expect("*'vol-a'*not locked*");
        volume_unlock(locks, "vol-a");
        log_capture_assert_all_seen();
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);

        /* The registry still works afterwards. */
        g_assert_true(volume_trylock(locks, "vol-a"));
        volume_unlock(locks, "vol-a");
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);
}

typedef struct {
        VolumeLocks *locks;
        guint seed;
} Churn;

static gpointer churn(gpointer data)
{
        Churn *c = data;
        g_autoptr(GRand) rand = g_rand_new_with_seed(c->seed);

        for (guint i = 0; i < 500; i++) {
                g_autofree char *volume = g_strdup_printf("vol-%d", g_rand_int_range(rand, 0, 4));

                if (g_rand_boolean(rand)) {
                        volume_lock(c->locks, volume);
                        g_thread_yield();
                        volume_unlock(c->locks, volume);
                } else if (volume_trylock(c->locks, volume)) {
                        volume_unlock(c->locks, volume);
                }
        }
        return NULL;
}

static void test_entries_freed(void)
{
        g_autoptr(VolumeLocks) locks = volume_locks_new();
        Churn churns[8];
        GThread *threads[8];

        for (guint i = 0; i < 10; i++) {
                g_autofree char *volume = g_strdup_printf("vol-%u", i);

                volume_lock(locks, volume);
                g_assert_cmpuint(volume_locks_count(locks), ==, 1);
                volume_unlock(locks, volume);
                g_assert_cmpuint(volume_locks_count(locks), ==, 0);
        }
        for (guint i = 0; i < 10; i++) {
                g_autofree char *volume = g_strdup_printf("vol-%u", i);

                volume_lock(locks, volume);
        }
        g_assert_cmpuint(volume_locks_count(locks), ==, 10);
        for (guint i = 0; i < 10; i++) {
                g_autofree char *volume = g_strdup_printf("vol-%u", i);

                volume_unlock(locks, volume);
        }
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);

        for (guint i = 0; i < G_N_ELEMENTS(threads); i++) {
                churns[i] = (Churn){locks, i + 1};
                threads[i] = g_thread_new("churn", churn, &churns[i]);
        }
        for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
                g_thread_join(threads[i]);
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);
}

static gpointer try_other_thread(gpointer data)
{
        Waiter *w = data;
        gboolean got = volume_trylock(w->locks, w->volume);

        if (got)
                volume_unlock(w->locks, w->volume);
        return GINT_TO_POINTER(got);
}

static gboolean trylock_elsewhere(VolumeLocks *locks, const char *volume)
{
        Waiter w = {locks, volume, FALSE, FALSE};

        return GPOINTER_TO_INT(g_thread_join(g_thread_new("try", try_other_thread, &w)));
}

static void test_trylock(void)
{
        g_autoptr(VolumeLocks) locks = volume_locks_new();

        g_assert_true(trylock_elsewhere(locks, "vol-a"));
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);

        g_assert_true(volume_trylock(locks, "vol-a"));
        g_assert_cmpuint(volume_locks_count(locks), ==, 1);
        /* Held: another thread's trylock fails at once and leaves no reference behind. */
        g_assert_false(trylock_elsewhere(locks, "vol-a"));
        g_assert_cmpuint(volume_locks_count(locks), ==, 1);
        g_assert_true(trylock_elsewhere(locks, "vol-b"));
        volume_unlock(locks, "vol-a");
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);

        /* Taken with volume_lock, refused to trylock the same way. */
        volume_lock(locks, "vol-a");
        g_assert_false(trylock_elsewhere(locks, "vol-a"));
        volume_unlock(locks, "vol-a");
        g_assert_true(trylock_elsewhere(locks, "vol-a"));
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);
}

static void test_trylock_blocks_lock(void)
{
        g_autoptr(VolumeLocks) locks = volume_locks_new();
        Waiter w = {locks, "vol-a", FALSE, FALSE};
        GThread *thread;

        g_assert_true(volume_trylock(locks, "vol-a"));
        thread = g_thread_new("waiter", lock_then_flag, &w);
        g_assert_true(wait_for_flag(&w.started));
        g_usleep(100 * G_TIME_SPAN_MILLISECOND);
        g_assert_false(g_atomic_int_get(&w.acquired));
        volume_unlock(locks, "vol-a");
        g_assert_true(wait_for_flag(&w.acquired));
        g_thread_join(thread);
        g_assert_cmpuint(volume_locks_count(locks), ==, 0);
}

static void test_free_null(void)
{
        volume_locks_free(NULL);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        log_capture_install();
        g_test_add_func("/volume-lock/lock-unlock", test_lock_unlock);
        g_test_add_func("/volume-lock/different-volumes", test_different_volumes);
        g_test_add_func("/volume-lock/concurrent-same-volume", test_concurrent_same_volume);
        g_test_add_func("/volume-lock/unlock-nonexistent", test_unlock_nonexistent);
        g_test_add_func("/volume-lock/entries-freed", test_entries_freed);
        g_test_add_func("/volume-lock/trylock", test_trylock);
        g_test_add_func("/volume-lock/trylock-blocks-lock", test_trylock_blocks_lock);
        g_test_add_func("/volume-lock/trylock-concurrent", test_trylock_concurrent);
        g_test_add_func("/volume-lock/free-null", test_free_null);
        return g_test_run();
}
