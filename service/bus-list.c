/* SPDX-License-Identifier: MIT */
/* List without starving the fence. A List of 100,000 attachments is ~4 MB and tens of
 * milliseconds of the bus thread, and the same 4 MB then pass through the bus daemon, in the
 * same queues as the replies to Track and Untrack; readers may be any local user. So:
 *  - a large List is built in slices on low-priority event sources: between two slices every
 *    Track, Untrack and completion waiting on the bus is served first, and a Track waits
 *    behind one slice at most;
 *  - the Lists of callers that may not change attachments (readers) share a budget of
 *    READER_ROWS_PER_SEC rows a second, taken one slice at a time on a timer, so that the
 *    bytes they push through the bus stay a small part of what it can move; a reader's List
 *    is served later under a flood, never refused for it;
 *  - a reader has at most LIST_PER_READER Lists pending (each holds a partial reply in
 *    memory); beyond it, or beyond LIST_PENDING_MAX in all, LimitsExceeded.
 * Callers that may mutate (root, AllowedGroup) are not budgeted. */
#include "bus-list.h"

#include <errno.h>
#include <gio/gio.h>

#include "config-build.h"

/* ~2,000 rows are well under a millisecond of appending. */
#define SLICE_ROWS 2048
#define READER_ROWS_PER_SEC 100000
/* A reader whose List would wait longer than this behind the others gets LimitsExceeded at
 * once rather than a timeout later (D-Bus clients wait 25 s by default). */
#define READER_BACKLOG_MAX_USEC (20 * G_TIME_SPAN_SECOND)
/* Readers may run this far ahead of their budget before they wait: small Lists of small
 * tables are answered at once. */
#define READER_BURST_USEC (20 * G_TIME_SPAN_MILLISECOND)
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

/* One kind of pending Lists: its jobs take slices in turn from its event source. */
typedef struct {
        sd_event_source *source;
        GQueue jobs; /* ListJob* */
} Lane;

struct _ListReplies {
        Manager *manager;
        Lane mutators;          /* defer source, SD_EVENT_PRIORITY_IDLE */
        Lane readers;           /* timer at reader_clock, IDLE priority */
        gint64 reader_clock;    /* monotonic: when the readers' budget is spent up to */
        GHashTable *per_sender; /* sender -> pending reader jobs (GUINT_TO_POINTER) */
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

/* Appends one slice; TRUE when the job is complete (or failed). A reader's rows are charged
 * to the readers' budget: a leaky bucket emptied at READER_ROWS_PER_SEC. */
static gboolean job_slice(ListReplies *self, ListJob *job, guint rows)
{
        guint n = manager_list_after(self->manager, job->last, rows, append_row, job);

        if (job->limited)
                self->reader_clock = MAX(self->reader_clock, g_get_monotonic_time()) +
                                     (gint64)n * G_USEC_PER_SEC / READER_ROWS_PER_SEC;
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

/* One slice of the lane's next job; FALSE when the lane is empty afterwards. */
static gboolean lane_slice(ListReplies *self, Lane *lane)
{
        ListJob *job = g_queue_pop_head(&lane->jobs);

        if (job != NULL && job_slice(self, job, SLICE_ROWS))
                job_finish(self, job);
        else if (job != NULL)
                g_queue_push_tail(&lane->jobs, job);
        return !g_queue_is_empty(&lane->jobs);
}

static int on_mutator_slice(sd_event_source *s, void *userdata)
{
        ListReplies *self = userdata;

        if (!lane_slice(self, &self->mutators))
                (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

static int on_reader_slice(sd_event_source *s, uint64_t usec, void *userdata)
{
        ListReplies *self = userdata;

        if (!lane_slice(self, &self->readers))
                return 0;
        (void)sd_event_source_set_time(s, (uint64_t)self->reader_clock);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void lane_start(ListReplies *self, Lane *lane, gboolean timer)
{
        int enabled = SD_EVENT_OFF;

        (void)sd_event_source_get_enabled(lane->source, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        if (timer)
                (void)sd_event_source_set_time(lane->source, (uint64_t)self->reader_clock);
        (void)sd_event_source_set_enabled(lane->source, timer ? SD_EVENT_ONESHOT : SD_EVENT_ON);
}

static void lane_clear(ListReplies *self, Lane *lane)
{
        ListJob *job;

        /* Lists still being built are completed: the callers asked before the end. */
        while ((job = g_queue_pop_head(&lane->jobs)) != NULL) {
                job_slice(self, job, G_MAXUINT);
                job_finish(self, job);
        }
        sd_event_source_disable_unref(lane->source);
}

ListReplies *list_replies_new(sd_event *event, Manager *manager, GError **error)
{
        g_autoptr(ListReplies) self = g_new0(ListReplies, 1);
        int r;

        self->manager = manager;
        g_queue_init(&self->mutators.jobs);
        g_queue_init(&self->readers.jobs);
        self->per_sender = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        r = sd_event_add_defer(event, &self->mutators.source, on_mutator_slice, self);
        if (r >= 0)
                r = sd_event_add_time(event, &self->readers.source, CLOCK_MONOTONIC, 0, 1,
                                      on_reader_slice, self);
        for (guint i = 0; r >= 0 && i < 2; i++) {
                sd_event_source *s = i == 0 ? self->mutators.source : self->readers.source;

                r = sd_event_source_set_priority(s, SD_EVENT_PRIORITY_IDLE);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
                            "cannot set up the List slices: %s", g_strerror(-r));
                return NULL;
        }
        return g_steal_pointer(&self);
}

void list_replies_free(ListReplies *self)
{
        if (self == NULL)
                return;
        lane_clear(self, &self->mutators);
        lane_clear(self, &self->readers);
        g_hash_table_unref(self->per_sender);
        g_free(self);
}

/* A reader's pending Lists are bounded: each holds a partial reply in memory. */
static gboolean admit(ListReplies *self, ListJob *job, GError **error)
{
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->per_sender, job->sender));
        guint readers = g_queue_get_length(&self->readers.jobs);
        guint pending = g_queue_get_length(&self->mutators.jobs) + readers;
        /* Every queued reader List still has up to a table's rows to go. */
        gint64 backlog =
            (gint64)readers * manager_count(self->manager) * G_USEC_PER_SEC / READER_ROWS_PER_SEC;

        if (job->limited && backlog > READER_BACKLOG_MAX_USEC) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_LIMITS_EXCEEDED,
                            "%u Lists of callers that may not change attachments are waiting "
                            "for their share of the bus; retry later",
                            readers);
                return FALSE;
        }
        if (pending >= LIST_PENDING_MAX || (job->limited && n >= LIST_PER_READER)) {
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
        /* Small tables (the common case) in one go, as before; a reader only while the
         * readers are within their budget and nobody waits before it. */
        if ((!job->limited || (g_queue_is_empty(&self->readers.jobs) &&
                               self->reader_clock <= g_get_monotonic_time() + READER_BURST_USEC)) &&
            job_slice(self, job, SLICE_ROWS)) {
                job_finish(self, job);
                return 1;
        }
        if (!admit(self, job, error)) {
                job_free(job);
                return 0;
        }
        g_queue_push_tail(job->limited ? &self->readers.jobs : &self->mutators.jobs, job);
        lane_start(self, job->limited ? &self->readers : &self->mutators, job->limited);
        return 1;
}
