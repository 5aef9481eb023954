/* SPDX-License-Identifier: MIT */
#include "dispatch.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tsan.h"

typedef struct {
        const char *key; /* points at the key owned by Dispatcher.keys */
        gpointer job;
} Item;

/* The workers are the dispatcher's own threads, joined when it is freed: a GThreadPool's
 * threads outlive the pool (parked for reuse or exiting on their own), and a process that
 * exits while they do races its own exit (LeakSanitizer's tracer crashes on such a thread). */
struct _Dispatcher {
        GPtrArray *threads; /* GThread*, joined by dispatcher_free() */
        GAsyncQueue *ready; /* Item* to run; the dispatcher itself tells a worker to stop */
        int efd;
        GAsyncQueue *finished; /* Item*, pushed by workers, popped by the owner */
        /* key -> GQueue of Item*: the head is running, the rest wait. Owner thread only. */
        GHashTable *keys;
        guint pending;
        guint limit;
        DispatchWorkFunc work;
        gpointer work_data;
        DispatchDoneFunc done;
        gpointer done_data;
};

static void run_item(Dispatcher *self, Item *item)
{
        uint64_t one = 1;

        /* The pool and the async queue use GMutex, which TSan cannot see: mark the hand-over
         * of each item explicitly. */
        TSAN_ACQUIRE(item);
        self->work(item->job, self->work_data);
        TSAN_RELEASE(item);
        g_async_queue_push(self->finished, item);
        /* Cannot fail short of a counter overflow (2^64 - 1 completions unread). */
        while (write(self->efd, &one, sizeof(one)) < 0 && errno == EINTR)
                ;
        /* Pairs with the acquire after the workers are joined: the fd outlives this write. */
        TSAN_RELEASE(self);
}

static gpointer worker_thread(gpointer data)
{
        Dispatcher *self = data;
        gpointer next;

        while ((next = g_async_queue_pop(self->ready)) != self)
                run_item(self, next);
        return NULL;
}

static void start_item(Dispatcher *self, Item *item)
{
        TSAN_RELEASE(item);
        g_async_queue_push(self->ready, item);
}

/* Tells every worker to stop once the queue before it is run, and joins them. */
static void stop_workers(Dispatcher *self)
{
        for (guint i = 0; i < self->threads->len; i++)
                g_async_queue_push(self->ready, self);
        g_ptr_array_set_size(self->threads, 0);
}

static void join_thread(gpointer data)
{
        g_thread_join(data);
}

static void free_queue(gpointer data)
{
        g_queue_free(data);
}

Dispatcher *dispatcher_new(guint workers, guint queue_limit, DispatchWorkFunc work,
                           gpointer work_data, DispatchDoneFunc done, gpointer done_data,
                           GError **error)
{
        g_autofree Dispatcher *self = g_new0(Dispatcher, 1);

        g_return_val_if_fail(workers > 0 && queue_limit > 0, NULL);

        self->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (self->efd < 0) {
                int e = errno;
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "eventfd: %s",
                            g_strerror(e));
                return NULL;
        }
        self->ready = g_async_queue_new();
        self->threads = g_ptr_array_new_with_free_func(join_thread);
        self->finished = g_async_queue_new();
        self->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_queue);
        self->limit = queue_limit;
        self->work = work;
        self->work_data = work_data;
        self->done = done;
        self->done_data = done_data;
        for (guint i = 0; i < workers; i++) {
                GThread *t = g_thread_try_new("worker", worker_thread, self, error);

                if (t == NULL) {
                        dispatcher_free(g_steal_pointer(&self));
                        return NULL;
                }
                g_ptr_array_add(self->threads, t);
        }
        return g_steal_pointer(&self);
}

int dispatcher_get_fd(Dispatcher *self)
{
        return self->efd;
}

gboolean dispatcher_submit(Dispatcher *self, const char *key, gpointer job, GError **error)
{
        gpointer stored_key = NULL;
        GQueue *queue = NULL;
        Item *item;

        if (self->pending >= self->limit) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_LIMITS_EXCEEDED,
                            "%u operations pending, QueueLimit=%u reached; retry later",
                            self->pending, self->limit);
                return FALSE;
        }
        if (g_hash_table_lookup_extended(self->keys, key, &stored_key, (gpointer *)&queue)) {
                item = g_new(Item, 1);
                *item = (Item){.key = stored_key, .job = job};
                g_queue_push_tail(queue, item);
        } else {
                char *owned = g_strdup(key);
                queue = g_queue_new();
                g_hash_table_insert(self->keys, owned, queue);
                item = g_new(Item, 1);
                *item = (Item){.key = owned, .job = job};
                g_queue_push_tail(queue, item);
                start_item(self, item);
        }
        self->pending++;
        return TRUE;
}

gboolean dispatcher_on_worker(Dispatcher *self)
{
        /* The array is complete before the first job is handed over and emptied after the
         * last one finished: a worker reads it within a job, the owner at any time. */
        GThread *me = g_thread_self();

        for (guint i = 0; i < self->threads->len; i++)
                if (g_ptr_array_index(self->threads, i) == me)
                        return TRUE;
        return FALSE;
}

gboolean dispatcher_key_busy(Dispatcher *self, const char *key)
{
        return g_hash_table_contains(self->keys, key);
}

guint dispatcher_pending(Dispatcher *self)
{
        return self->pending;
}

static void finish_item(Dispatcher *self, Item *item)
{
        GQueue *queue = g_hash_table_lookup(self->keys, item->key);
        Item *next;

        g_assert(queue != NULL && g_queue_peek_head(queue) == item);
        g_queue_pop_head(queue);
        self->pending--;
        self->done(item->job, self->done_data);

        next = g_queue_peek_head(queue);
        if (next != NULL)
                start_item(self, next);
        else
                g_hash_table_remove(self->keys, item->key);
        g_free(item);
}

guint dispatcher_process(Dispatcher *self)
{
        uint64_t count;
        guint n = 0;
        Item *item;

        /* Reset the counter first: a completion pushed after this read writes again, so the
         * fd stays readable for anything this pass misses. */
        if (read(self->efd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
                g_warning("reading the completion eventfd: %s", g_strerror(errno));

        while ((item = g_async_queue_try_pop(self->finished)) != NULL) {
                TSAN_ACQUIRE(item);
                finish_item(self, item);
                n++;
        }
        return n;
}

void dispatcher_free(Dispatcher *self)
{
        if (self == NULL)
                return;
        while (self->pending > 0) {
                struct pollfd pfd = {.fd = self->efd, .events = POLLIN};
                if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                        break;
                dispatcher_process(self);
        }
        stop_workers(self);
        g_ptr_array_unref(self->threads);
        TSAN_ACQUIRE(self);
        g_async_queue_unref(self->ready);
        g_async_queue_unref(self->finished);
        g_hash_table_unref(self->keys);
        close(self->efd);
        g_free(self);
}
