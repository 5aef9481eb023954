/* SPDX-License-Identifier: MIT */
#include "change-queue.h"

#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tsan.h"

/* One allocation per change: the strings follow the struct. */
typedef struct {
        ManagerChange change;
        char strings[];
} QueuedChange;

struct _ChangeQueue {
        int efd;
        GMutex lock;  /* guards `queue` */
        GQueue queue; /* QueuedChange* */
};

ChangeQueue *change_queue_new(GError **error)
{
        ChangeQueue *self;
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

        if (efd < 0) {
                int e = errno;

                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "eventfd: %s",
                            g_strerror(e));
                return NULL;
        }
        self = g_new0(ChangeQueue, 1);
        self->efd = efd;
        g_mutex_init(&self->lock);
        g_queue_init(&self->queue);
        return self;
}

void change_queue_free(ChangeQueue *self)
{
        if (self == NULL)
                return;
        g_queue_clear_full(&self->queue, g_free);
        g_mutex_clear(&self->lock);
        close(self->efd);
        g_free(self);
}

int change_queue_get_fd(ChangeQueue *self)
{
        return self->efd;
}

static const char *copy_string(char **at, const char *s)
{
        gsize n;
        char *copy;

        if (s == NULL)
                return NULL;
        n = strlen(s) + 1;
        copy = memcpy(*at, s, n);
        *at += n;
        return copy;
}

static QueuedChange *queued_new(const ManagerChange *change)
{
        gsize size = 0;
        QueuedChange *q;
        char *at;

        size += change->volume != NULL ? strlen(change->volume) + 1 : 0;
        size += change->node != NULL ? strlen(change->node) + 1 : 0;
        size += change->state != NULL ? strlen(change->state) + 1 : 0;
        q = g_malloc(sizeof(QueuedChange) + size);
        q->change = *change;
        at = q->strings;
        q->change.volume = copy_string(&at, change->volume);
        q->change.node = copy_string(&at, change->node);
        q->change.state = copy_string(&at, change->state);
        return q;
}

void change_queue_push(ChangeQueue *self, const ManagerChange *change, gboolean wake)
{
        QueuedChange *q = queued_new(change);
        gboolean was_empty;
        uint64_t one = 1;

        tsan_mutex_lock(&self->lock);
        was_empty = g_queue_is_empty(&self->queue);
        g_queue_push_tail(&self->queue, q);
        tsan_mutex_unlock(&self->lock);
        /* Once per burst: the owner reads the counter before it drains. */
        if (wake && was_empty)
                while (write(self->efd, &one, sizeof(one)) < 0 && errno == EINTR)
                        ;
}

guint change_queue_dispatch(ChangeQueue *self, ChangeQueueFunc func, gpointer user_data)
{
        uint64_t count;

        /* Reset the counter first: a push after this read finds the queue empty or not; if
         * empty it writes again, so nothing waits unseen. */
        if (read(self->efd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
                g_warning("reading the change eventfd: %s", g_strerror(errno));
        return change_queue_drain(self, func, user_data);
}

guint change_queue_drain(ChangeQueue *self, ChangeQueueFunc func, gpointer user_data)
{
        guint n = 0;

        for (;;) {
                g_autofree QueuedChange *q = NULL;

                tsan_mutex_lock(&self->lock);
                q = g_queue_pop_head(&self->queue);
                tsan_mutex_unlock(&self->lock);
                if (q == NULL)
                        return n;
                func(&q->change, user_data);
                n++;
        }
}
