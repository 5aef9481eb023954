/* SPDX-License-Identifier: MIT */
/* List without starving the fence. A List of 100,000 attachments is ~4 MB and tens of
 * milliseconds of the bus thread; readers may be any local user. So a large List is built in
 * slices on a low-priority event source: between two slices every Track, Untrack and
 * completion waiting on the bus is served first, and a Track waits behind one slice at most.
 * Concurrent Lists take their slices in turn. A caller that may not change attachments has at
 * most LIST_PER_READER of them pending; beyond it, LimitsExceeded. */
#include "bus-list.h"

#include <errno.h>
#include <gio/gio.h>

#include "config-build.h"

/* ~2,000 rows are well under a millisecond of appending. */
#define SLICE_ROWS 2048
#define LIST_PER_READER 2
#define LIST_PENDING_MAX 256

typedef struct {
        sd_bus_message *call;
        sd_bus_message *reply;
        char *sender;
        char *last; /* the last volume appended; NULL: none yet */
        gboolean limited;
        int error;
} ListJob;

struct _ListReplies {
        Manager *manager;
        sd_event_source *slices; /* defer, SD_EVENT_PRIORITY_IDLE; on while jobs wait */
        GQueue jobs;             /* ListJob*, taking slices in turn */
        GHashTable *per_sender;  /* sender -> pending limited jobs (GUINT_TO_POINTER) */
};

static void job_free(ListJob *job)
{
        sd_bus_message_unref(job->call);
        sd_bus_message_unref(job->reply);
        g_free(job->sender);
        g_free(job->last);
        g_free(job);
}

static void append_row(const char *volume, const char *node, gint64 attached_at, gpointer user_data)
{
        ListJob *job = user_data;

        if (job->error >= 0)
                job->error =
                    sd_bus_message_append(job->reply, "(sst)", volume, node, (uint64_t)attached_at);
        g_free(job->last);
        job->last = g_strdup(volume);
}

/* Appends one slice; TRUE when the job is complete (or failed). */
static gboolean job_slice(ListReplies *self, ListJob *job, guint rows)
{
        guint n = manager_list_after(self->manager, job->last, rows, append_row, job);

        return job->error < 0 || n < rows;
}

static void job_finish(ListReplies *self, ListJob *job)
{
        int r = job->error;

        if (r >= 0)
                r = sd_bus_message_close_container(job->reply);
        if (r >= 0)
                r = sd_bus_send(NULL, job->reply, NULL);
        if (r < 0)
                (void)sd_bus_reply_method_errnof(job->call, -r, "cannot build the list: %m");
        if (job->limited) {
                guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->per_sender, job->sender));

                if (n <= 1)
                        g_hash_table_remove(self->per_sender, job->sender);
                else
                        g_hash_table_replace(self->per_sender, g_strdup(job->sender),
                                             GUINT_TO_POINTER(n - 1));
        }
        job_free(job);
}

static int on_slice(sd_event_source *s, void *userdata)
{
        ListReplies *self = userdata;
        ListJob *job = g_queue_pop_head(&self->jobs);

        if (job != NULL && job_slice(self, job, SLICE_ROWS))
                job_finish(self, job);
        else if (job != NULL)
                g_queue_push_tail(&self->jobs, job);
        if (g_queue_is_empty(&self->jobs))
                (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

ListReplies *list_replies_new(sd_event *event, Manager *manager, GError **error)
{
        g_autoptr(ListReplies) self = g_new0(ListReplies, 1);
        int r;

        self->manager = manager;
        g_queue_init(&self->jobs);
        self->per_sender = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        r = sd_event_add_defer(event, &self->slices, on_slice, self);
        if (r >= 0)
                r = sd_event_source_set_priority(self->slices, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(self->slices, SD_EVENT_OFF);
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
                            "cannot set up the List slices: %s", g_strerror(-r));
                return NULL;
        }
        return g_steal_pointer(&self);
}

void list_replies_free(ListReplies *self)
{
        ListJob *job;

        if (self == NULL)
                return;
        /* Lists still being built are completed: the callers asked before the end. */
        while ((job = g_queue_pop_head(&self->jobs)) != NULL) {
                job_slice(self, job, G_MAXUINT);
                job_finish(self, job);
        }
        sd_event_source_disable_unref(self->slices);
        g_hash_table_unref(self->per_sender);
        g_free(self);
}

/* A reader's pending Lists are bounded: each holds a partial reply in memory. */
static gboolean admit(ListReplies *self, ListJob *job, GError **error)
{
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->per_sender, job->sender));

        if (g_queue_get_length(&self->jobs) >= LIST_PENDING_MAX ||
            (job->limited && n >= LIST_PER_READER)) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_LIMITS_EXCEEDED,
                            "%u List calls of this caller pending (at most %d for a caller "
                            "that may not change attachments); retry when one has returned",
                            n, LIST_PER_READER);
                return FALSE;
        }
        if (job->limited)
                g_hash_table_replace(self->per_sender, g_strdup(job->sender),
                                     GUINT_TO_POINTER(n + 1));
        return TRUE;
}

int list_replies_answer(ListReplies *self, sd_bus_message *call, gboolean may_mutate,
                        GError **error)
{
        const char *sender = sd_bus_message_get_sender(call);
        ListJob *job = g_new0(ListJob, 1);
        int r;

        job->call = sd_bus_message_ref(call);
        job->sender = g_strdup(sender != NULL ? sender : "");
        job->limited = !may_mutate;
        r = sd_bus_message_new_method_return(call, &job->reply);
        if (r >= 0)
                r = sd_bus_message_open_container(job->reply, 'a', "(sst)");
        if (r < 0) {
                job_free(job);
                return r;
        }
        /* Small tables (the common case) in one go, as before. */
        if (job_slice(self, job, SLICE_ROWS)) {
                job->limited = FALSE;
                job_finish(self, job);
                return 1;
        }
        if (!admit(self, job, error)) {
                job_free(job);
                return 0;
        }
        g_queue_push_tail(&self->jobs, job);
        (void)sd_event_source_set_enabled(self->slices, SD_EVENT_ON);
        return 1;
}
