/* SPDX-License-Identifier: MIT */
/* The worker pool and completion queue, without a bus: jobs run on workers, completions come
 * back on the calling thread, one key runs one job at a time in order, the limit holds. */
#include <poll.h>

#include "dispatch.h"
#include "tsan.h"

typedef struct {
        GMutex mutex;
        GCond cond;
        gboolean gate_open; /* jobs marked gated wait for this */
        guint running;      /* jobs inside work() now */
        guint max_running;  /* the most seen at once */
        guint started;      /* work() entries */
        GPtrArray *order;   /* job ids in the order work() ran them */
        GPtrArray *done;    /* job ids in the order done() saw them, owner thread */
        GThread *owner;
        gboolean done_on_wrong_thread;
        Dispatcher *dispatcher; /* the one work() and done() ask dispatcher_on_worker() */
} Fixture;

typedef struct {
        guint id;
        gboolean gated;
        gboolean finished;
        gboolean in_job; /* dispatcher_on_worker() inside work() */
} Job;

static void work(gpointer data, gpointer user_data)
{
        Fixture *f = user_data;
        Job *job = data;

        tsan_mutex_lock(&f->mutex);
        f->running++;
        f->started++;
        f->max_running = MAX(f->max_running, f->running);
        g_ptr_array_add(f->order, GUINT_TO_POINTER(job->id));
        g_cond_broadcast(&f->cond);
        while (job->gated && !f->gate_open)
                tsan_cond_wait(&f->cond, &f->mutex);
        f->running--;
        tsan_mutex_unlock(&f->mutex);
        g_usleep(200);
        job->in_job = f->dispatcher != NULL && dispatcher_on_worker(f->dispatcher);
        job->finished = TRUE;
}

static void done(gpointer data, gpointer user_data)
{
        Fixture *f = user_data;
        Job *job = data;

        if (g_thread_self() != f->owner || !job->finished ||
            (f->dispatcher != NULL && dispatcher_on_worker(f->dispatcher)))
                f->done_on_wrong_thread = TRUE;
        g_ptr_array_add(f->done, GUINT_TO_POINTER(job->id));
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
        g_mutex_init(&f->mutex);
        g_cond_init(&f->cond);
        f->order = g_ptr_array_new();
        f->done = g_ptr_array_new();
        f->owner = g_thread_self();
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
        g_assert_false(f->done_on_wrong_thread);
        g_ptr_array_unref(f->order);
        g_ptr_array_unref(f->done);
        g_mutex_clear(&f->mutex);
        g_cond_clear(&f->cond);
}

static void open_gate(Fixture *f)
{
        tsan_mutex_lock(&f->mutex);
        f->gate_open = TRUE;
        g_cond_broadcast(&f->cond);
        tsan_mutex_unlock(&f->mutex);
}

/* Waits (bounded) until `started` work() calls have begun. */
static gboolean wait_started(Fixture *f, guint started)
{
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
        gboolean ok = TRUE;

        tsan_mutex_lock(&f->mutex);
        while (f->started < started && ok)
                ok = tsan_cond_wait_until(&f->cond, &f->mutex, deadline);
        tsan_mutex_unlock(&f->mutex);
        return f->started >= started;
}

/* Drives completions until `count` jobs are done, as an event loop would. */
static void pump_until(Dispatcher *d, Fixture *f, guint count)
{
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

        while (f->done->len < count) {
                struct pollfd pfd = {.fd = dispatcher_get_fd(d), .events = POLLIN};
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                if (poll(&pfd, 1, 100) > 0)
                        dispatcher_process(d);
        }
}

static Job *jobs_new(guint n, gboolean gated)
{
        Job *jobs = g_new0(Job, n);
        for (guint i = 0; i < n; i++)
                jobs[i] = (Job){.id = i, .gated = gated};
        return jobs;
}

static void test_runs_and_completes(Fixture *f, gconstpointer data)
{
        g_autofree Job *jobs = jobs_new(64, FALSE);
        g_autoptr(Dispatcher) d = dispatcher_new(4, 1000, work, f, done, f, NULL);

        for (guint i = 0; i < 64; i++) {
                g_autofree char *key = g_strdup_printf("vol-%u", i);
                g_assert_true(dispatcher_submit(d, key, &jobs[i], NULL));
        }
        g_assert_cmpuint(dispatcher_pending(d), ==, 64);
        pump_until(d, f, 64);
        g_assert_cmpuint(dispatcher_pending(d), ==, 0);
        for (guint i = 0; i < 64; i++)
                g_assert_true(jobs[i].finished);
        g_assert_false(dispatcher_key_busy(d, "vol-0"));
}

/* The bus skips the wake-up for a change a job makes: only the job's own thread may say so,
 * and a worker of another dispatcher is not one of this one's. */
static void test_on_worker(Fixture *f, gconstpointer data)
{
        g_autofree Job *jobs = jobs_new(8, FALSE);
        g_autoptr(Dispatcher) d = dispatcher_new(2, 100, work, f, done, f, NULL);
        g_autoptr(Dispatcher) other = dispatcher_new(2, 100, work, f, done, f, NULL);

        f->dispatcher = d;
        g_assert_false(dispatcher_on_worker(d));
        g_assert_true(dispatcher_submit(other, "vol-o", &jobs[0], NULL));
        pump_until(other, f, 1);
        g_assert_false(jobs[0].in_job); /* other's worker asked about d */
        for (guint i = 1; i < 8; i++)
                g_assert_true(dispatcher_submit(d, i % 2 ? "vol-a" : "vol-b", &jobs[i], NULL));
        pump_until(d, f, 8);
        for (guint i = 1; i < 8; i++)
                g_assert_true(jobs[i].in_job);
        g_assert_false(dispatcher_on_worker(d));
        g_assert_false(f->done_on_wrong_thread);
        f->dispatcher = NULL;
}

static void test_key_fifo(Fixture *f, gconstpointer data)
{
        g_autofree Job *jobs = jobs_new(50, FALSE);
        g_autoptr(Dispatcher) d = dispatcher_new(8, 1000, work, f, done, f, NULL);

        for (guint i = 0; i < 50; i++)
                g_assert_true(dispatcher_submit(d, "vol-a", &jobs[i], NULL));
        g_assert_true(dispatcher_key_busy(d, "vol-a"));
        pump_until(d, f, 50);
        /* One key: never two at once, in submission order, done in the same order. */
        g_assert_cmpuint(f->max_running, ==, 1);
        for (guint i = 0; i < 50; i++) {
                g_assert_cmpuint(GPOINTER_TO_UINT(f->order->pdata[i]), ==, i);
                g_assert_cmpuint(GPOINTER_TO_UINT(f->done->pdata[i]), ==, i);
        }
        g_assert_false(dispatcher_key_busy(d, "vol-a"));
}

static void test_keys_run_in_parallel(Fixture *f, gconstpointer data)
{
        g_autofree Job *jobs = jobs_new(4, TRUE);
        g_autoptr(Dispatcher) d = dispatcher_new(4, 1000, work, f, done, f, NULL);

        for (guint i = 0; i < 4; i++) {
                g_autofree char *key = g_strdup_printf("vol-%u", i);
                g_assert_true(dispatcher_submit(d, key, &jobs[i], NULL));
        }
        /* All four gated jobs are inside work() at the same time. */
        g_assert_true(wait_started(f, 4));
        g_assert_cmpuint(f->max_running, ==, 4);
        open_gate(f);
        pump_until(d, f, 4);
}

static void test_head_of_line(Fixture *f, gconstpointer data)
{
        g_autofree Job *a = jobs_new(20, TRUE);
        Job b = {.id = 100};
        g_autoptr(Dispatcher) d = dispatcher_new(2, 1000, work, f, done, f, NULL);

        for (guint i = 0; i < 20; i++)
                g_assert_true(dispatcher_submit(d, "vol-a", &a[i], NULL));
        g_assert_true(dispatcher_submit(d, "vol-b", &b, NULL));
        /* Volume A's burst holds one worker; B completes while A is still blocked. */
        pump_until(d, f, 1);
        g_assert_cmpuint(GPOINTER_TO_UINT(f->done->pdata[0]), ==, 100);
        g_assert_true(dispatcher_key_busy(d, "vol-a"));
        g_assert_cmpuint(dispatcher_pending(d), ==, 20);
        open_gate(f);
        pump_until(d, f, 21);
}

static void test_queue_limit(Fixture *f, gconstpointer data)
{
        g_autofree Job *jobs = jobs_new(4, TRUE);
        g_autoptr(Dispatcher) d = dispatcher_new(2, 3, work, f, done, f, NULL);
        g_autoptr(GError) error = NULL;

        g_assert_true(dispatcher_submit(d, "vol-a", &jobs[0], NULL));
        g_assert_true(dispatcher_submit(d, "vol-a", &jobs[1], NULL));
        g_assert_true(dispatcher_submit(d, "vol-b", &jobs[2], NULL));
        g_assert_false(dispatcher_submit(d, "vol-c", &jobs[3], &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_LIMITS_EXCEEDED);
        g_assert_nonnull(strstr(error->message, "QueueLimit=3"));
        g_assert_false(dispatcher_key_busy(d, "vol-c"));
        g_assert_cmpuint(dispatcher_pending(d), ==, 3);

        open_gate(f);
        pump_until(d, f, 3);
        g_assert_true(dispatcher_submit(d, "vol-c", &jobs[3], NULL));
        pump_until(d, f, 4);
}

static void test_free_completes_pending(Fixture *f, gconstpointer data)
{
        g_autofree Job *jobs = jobs_new(10, FALSE);
        Dispatcher *d = dispatcher_new(2, 100, work, f, done, f, NULL);

        for (guint i = 0; i < 10; i++)
                g_assert_true(dispatcher_submit(d, i % 2 ? "vol-a" : "vol-b", &jobs[i], NULL));
        dispatcher_free(d);
        g_assert_cmpuint(f->done->len, ==, 10);
        for (guint i = 0; i < 10; i++)
                g_assert_true(jobs[i].finished);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/dispatch/runs-and-completes", test_runs_and_completes);
        ADD("/dispatch/key-fifo", test_key_fifo);
        ADD("/dispatch/on-worker", test_on_worker);
        ADD("/dispatch/keys-run-in-parallel", test_keys_run_in_parallel);
        ADD("/dispatch/head-of-line", test_head_of_line);
        ADD("/dispatch/queue-limit", test_queue_limit);
        ADD("/dispatch/free-completes-pending", test_free_completes_pending);
#undef ADD
        return g_test_run();
}
