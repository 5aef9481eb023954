/* SPDX-License-Identifier: MIT */
#include "reflector.h"
#include "log-messages.h"
#include "log.h"

#include <string.h>

#include "tsan.h"

/* A continue token expires (410) when compaction passes it; a list that keeps expiring is a
 * server problem, not something to loop on. */
#define MAX_LIST_RESTARTS 5
#define READ_CHUNK_BYTES (64u * 1024)
#define FIRST_BACKOFF_USEC (250 * G_TIME_SPAN_MILLISECOND)
/* The waits are jittered between half and all of the backoff, which doubles up to this: a
 * cluster's daemons drift apart, and none waits more than this once the API server is back. */
#define MAX_BACKOFF_USEC (15 * G_TIME_SPAN_SECOND)
/* A stream the server ends at once, again and again, must not become a busy loop. */
#define MIN_CLEAN_STREAM_USEC (1 * G_TIME_SPAN_SECOND)
/* A server that keeps refusing the watch from our resourceVersion (other than with 410: say a
 * restarted API server whose history starts anew, answering "Too large resource version")
 * gets a fresh list after this many refusals in a row: a relist is always correct. */
#define MAX_REFUSED_WATCHES 3

struct _Reflector {
        KubeClient *client;
        char *path;
        char *what;
        guint page_size;
        guint watch_timeout_sec;
        const ReflectorClass *klass;
        gpointer user_data;
        GThread *thread;
        GCancellable *cancellable;
        GMutex lock; /* guards the fields below */
        GCond wake;
        gboolean stopping;
        ReflectorState state;
        gint64 since;
        char *resource_version; /* to resume from; touched by one thread at a time */
};

static const char *const state_names[] = {
    [REFLECTOR_STARTING] = "starting",         [REFLECTOR_WATCHING] = "watching",
    [REFLECTOR_RECONNECTING] = "reconnecting", [REFLECTOR_RELISTING] = "relisting",
    [REFLECTOR_STOPPED] = "stopped",
};

const char *reflector_state_name(ReflectorState state)
{
        return state < G_N_ELEMENTS(state_names) ? state_names[state] : "unknown";
}

Reflector *reflector_new(KubeClient *client, const char *path, const char *what, guint page_size,
                         guint watch_timeout_sec, const ReflectorClass *klass, gpointer user_data)
{
        Reflector *self = g_new0(Reflector, 1);

        self->client = client;
        self->path = g_strdup(path);
        self->what = g_strdup(what);
        self->page_size = page_size;
        self->watch_timeout_sec = watch_timeout_sec;
        self->klass = klass;
        self->user_data = user_data;
        self->cancellable = g_cancellable_new();
        g_mutex_init(&self->lock);
        g_cond_init(&self->wake);
        self->state = REFLECTOR_STARTING;
        self->since = g_get_real_time();
        return self;
}

void reflector_free(Reflector *self)
{
        if (self == NULL)
                return;
        tsan_mutex_lock(&self->lock);
        self->stopping = TRUE;
        g_cond_broadcast(&self->wake);
        tsan_mutex_unlock(&self->lock);
        g_cancellable_cancel(self->cancellable);
        if (self->thread != NULL)
                g_thread_join(self->thread);
        g_object_unref(self->cancellable);
        g_cond_clear(&self->wake);
        g_mutex_clear(&self->lock);
        g_free(self->resource_version);
        g_free(self->path);
        g_free(self->what);
        g_free(self);
}

static gboolean stopping(Reflector *self)
{
        gboolean stop;

        tsan_mutex_lock(&self->lock);
        stop = self->stopping;
        tsan_mutex_unlock(&self->lock);
        return stop;
}

static void set_state(Reflector *self, ReflectorState state)
{
        gint64 now = g_get_real_time();

        tsan_mutex_lock(&self->lock);
        if (self->state == state) {
                tsan_mutex_unlock(&self->lock);
                return;
        }
        self->state = state;
        self->since = now;
        tsan_mutex_unlock(&self->lock);
        metrics_watch_connected(kube_client_get_metrics(self->client), self->path,
                                state == REFLECTOR_WATCHING);
        if (self->klass->state != NULL)
                self->klass->state(self->user_data, state, now);
}

ReflectorState reflector_get_state(Reflector *self, gint64 *since_usec)
{
        ReflectorState state;

        tsan_mutex_lock(&self->lock);
        state = self->state;
        if (since_usec != NULL)
                *since_usec = self->since;
        tsan_mutex_unlock(&self->lock);
        return state;
}

/* Sleeps up to `usec`, or until the reflector stops; FALSE when it stops. */
static gboolean sleep_unless_stopped(Reflector *self, gint64 usec)
{
        gint64 end = g_get_monotonic_time() + usec;
        gboolean stop;

        tsan_mutex_lock(&self->lock);
        while (!self->stopping && g_get_monotonic_time() < end)
                tsan_cond_wait_until(&self->wake, &self->lock, end);
        stop = self->stopping;
        tsan_mutex_unlock(&self->lock);
        return !stop;
}

static char *list_path(Reflector *self, const char *continue_token)
{
        g_autofree char *escaped = NULL;

        if (continue_token == NULL)
                return g_strdup_printf("%s?limit=%u", self->path, self->page_size);
        escaped = g_uri_escape_string(continue_token, NULL, FALSE);
        return g_strdup_printf("%s?limit=%u&continue=%s", self->path, self->page_size, escaped);
}

/* Fetches and hands over one page; the page's bytes are gone when this returns. */
static gboolean list_page(Reflector *self, char **continue_token, char **rv, GError **error)
{
        g_autofree char *path = list_path(self, *continue_token);
        g_autoptr(GBytes) data = kube_client_send(self->client, "GET", path, NULL, NULL,
                                                  KUBE_CLIENT_MAX_LIST_BYTES, NULL, error);
        gsize len;
        const char *text;

        g_clear_pointer(continue_token, g_free);
        if (data == NULL)
                return FALSE;
        text = g_bytes_get_data(data, &len);
        g_clear_pointer(rv, g_free);
        return self->klass->list_page(self->user_data, text != NULL ? text : "", len,
                                      continue_token, rv, error);
}

/* One full LIST; the resourceVersion of its first page is the list's (later pages carry the
 * same snapshot's). */
static gboolean list_once(Reflector *self, gboolean relist, GError **error)
{
        for (guint restarts = 0;; restarts++) {
                g_autofree char *continue_token = NULL;
                g_autofree char *first_rv = NULL;
                g_autoptr(GError) local = NULL;

                self->klass->list_begin(self->user_data);
                do {
                        g_autofree char *rv = NULL;

                        if (!list_page(self, &continue_token, &rv, &local))
                                break;
                        if (first_rv == NULL)
                                first_rv = g_steal_pointer(&rv);
                } while (continue_token != NULL);
                if (local == NULL) {
                        g_free(self->resource_version);
                        self->resource_version = g_strdup(first_rv != NULL ? first_rv : "");
                        self->klass->list_end(self->user_data, self->resource_version, relist);
                        return TRUE;
                }
                if (!g_error_matches(local, KUBE_CLIENT_ERROR, 410) ||
                    restarts >= MAX_LIST_RESTARTS) {
                        g_propagate_error(error, g_steal_pointer(&local));
                        return FALSE;
                }
                log_volume(G_LOG_LEVEL_MESSAGE, LOG_MESSAGE_WATCH_RELISTED, NULL, NULL,
                           "Listing %s: %s; restarting the list", self->what, local->message);
        }
}

gboolean reflector_list(Reflector *self, GError **error)
{
        return list_once(self, FALSE, error);
}

/* The outcome of one stream. */
typedef struct {
        gboolean expired; /* 410: relist */
        gboolean refused; /* the server answered the watch with an error status */
        guint lines;      /* events and bookmarks received */
} Stream;

static gboolean handle_line(Reflector *self, const char *line, gsize length, Stream *stream,
                            GError **error)
{
        g_autofree char *rv = NULL;
        guint code = 0;

        if (!self->klass->event(self->user_data, line, length, &rv, &code, error))
                return FALSE;
        stream->lines++;
        if (rv != NULL && *rv != '\0') {
                g_free(self->resource_version);
                self->resource_version = g_steal_pointer(&rv);
        }
        if (code == 410) {
                stream->expired = TRUE;
                return TRUE;
        }
        if (code != 0) {
                g_set_error(error, KUBE_CLIENT_ERROR, (gint)code, "an ERROR event with code %u",
                            code);
                return FALSE;
        }
        return TRUE;
}

/* Splits what has arrived into lines; keeps an incomplete last line in `buf`. */
static gboolean handle_lines(Reflector *self, GByteArray *buf, Stream *stream, GError **error)
{
        gsize start = 0;

        for (gsize i = 0; i < buf->len && !stream->expired; i++) {
                if (buf->data[i] != '\n')
                        continue;
                if (i > start &&
                    !handle_line(self, (const char *)buf->data + start, i - start, stream, error))
                        return FALSE;
                start = i + 1;
        }
        g_byte_array_remove_range(buf, 0, (guint)MIN(start, buf->len));
        if (buf->len > KUBE_CLIENT_MAX_OBJECT_BYTES) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_INVALID_RESPONSE,
                            "a watch event of %s is larger than %u bytes", self->what,
                            KUBE_CLIENT_MAX_OBJECT_BYTES);
                return FALSE;
        }
        return TRUE;
}

static char *watch_path(Reflector *self)
{
        g_autofree char *escaped = g_uri_escape_string(self->resource_version, NULL, FALSE);

        return g_strdup_printf("%s?watch=true&allowWatchBookmarks=true&resourceVersion=%s"
                               "&timeoutSeconds=%u",
                               self->path, escaped, self->watch_timeout_sec);
}

/* Reads one stream to its end. TRUE: it ended cleanly or expired (stream->expired). */
static gboolean watch_once(Reflector *self, Stream *stream, GError **error)
{
        g_autofree char *path = watch_path(self);
        g_autoptr(GError) local = NULL;
        g_autoptr(GInputStream) input =
            kube_client_open_stream(self->client, path, self->cancellable, &local);
        g_autoptr(GByteArray) buf = NULL;

        if (input == NULL) {
                stream->expired = g_error_matches(local, KUBE_CLIENT_ERROR, 410);
                if (stream->expired)
                        return TRUE;
                /* HTTP statuses are the error codes 100..599 (kube-client.h). */
                stream->refused = local->domain == KUBE_CLIENT_ERROR && local->code >= 100;
                g_propagate_error(error, g_steal_pointer(&local));
                return FALSE;
        }
        set_state(self, REFLECTOR_WATCHING);
        buf = g_byte_array_sized_new(READ_CHUNK_BYTES);
        while (!stream->expired) {
                gsize old = buf->len;
                gssize n;

                g_byte_array_set_size(buf, old + READ_CHUNK_BYTES);
                n = g_input_stream_read(input, buf->data + old, READ_CHUNK_BYTES, self->cancellable,
                                        &local);
                g_byte_array_set_size(buf, old + (n > 0 ? (gsize)n : 0));
                if (n < 0) {
                        g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_UNREACHABLE,
                                    "the stream broke: %s", local->message);
                        return FALSE;
                }
                if (n == 0)
                        break;
                if (!handle_lines(self, buf, stream, error))
                        return FALSE;
        }
        g_input_stream_close(input, NULL, NULL);
        return TRUE;
}

/* A fresh LIST until one succeeds (with backoff) or the reflector stops. */
static void relist(Reflector *self, const char *why)
{
        gint64 backoff = FIRST_BACKOFF_USEC;

        set_state(self, REFLECTOR_RELISTING);
        if (why != NULL) {
                metrics_watch_relist(kube_client_get_metrics(self->client), self->path);
                log_volume(G_LOG_LEVEL_MESSAGE, LOG_MESSAGE_WATCH_RELISTED, NULL, NULL,
                           "Watch of %s cannot resume from resourceVersion %s (%s): listing "
                           "afresh",
                           self->what, self->resource_version, why);
        }
        while (!stopping(self)) {
                g_autoptr(GError) local = NULL;

                if (list_once(self, TRUE, &local)) {
                        log_volume(G_LOG_LEVEL_MESSAGE, LOG_MESSAGE_WATCH_RELISTED, NULL, NULL,
                                   "Relisted %s at resourceVersion %s", self->what,
                                   self->resource_version);
                        return;
                }
                log_volume(G_LOG_LEVEL_WARNING, LOG_MESSAGE_API_UNREACHABLE, NULL, NULL,
                           "Relisting %s failed, retrying: %s", self->what, local->message);
                if (!sleep_unless_stopped(self, g_random_int_range(backoff / 2, backoff + 1)))
                        return;
                backoff = MIN(backoff * 2, MAX_BACKOFF_USEC);
        }
}

static gpointer watch_thread(gpointer data)
{
        Reflector *self = data;
        gint64 backoff = FIRST_BACKOFF_USEC;
        guint refused = 0;

        /* Started without reflector_list(): the first list is made here, retried with
         * backoff, so that a kind the daemon can live without never delays its start. */
        if (self->resource_version == NULL)
                relist(self, NULL);
        while (!stopping(self)) {
                g_autoptr(GError) local = NULL;
                Stream stream = {0};
                gint64 started = g_get_monotonic_time();
                gboolean clean = watch_once(self, &stream, &local);

                if (stopping(self))
                        break;
                refused = stream.refused ? refused + 1 : 0;
                if (stream.expired || refused >= MAX_REFUSED_WATCHES) {
                        g_autofree char *why =
                            stream.expired ? g_strdup("410 Expired")
                                           : g_strdup_printf("refused %u times in a row: %s",
                                                             refused, local->message);

                        relist(self, why);
                        refused = 0;
                        backoff = FIRST_BACKOFF_USEC;
                        continue;
                }
                set_state(self, REFLECTOR_RECONNECTING);
                metrics_watch_restart(kube_client_get_metrics(self->client), self->path, !clean);
                if (stream.lines > 0)
                        backoff = FIRST_BACKOFF_USEC;
                if (clean && g_get_monotonic_time() - started >= MIN_CLEAN_STREAM_USEC) {
                        g_debug("Watch of %s ended; resuming from resourceVersion %s", self->what,
                                self->resource_version);
                        continue;
                }
                log_volume(G_LOG_LEVEL_MESSAGE, LOG_MESSAGE_WATCH_RESTARTED, NULL, NULL,
                           "Watch of %s: %s; resuming from resourceVersion %s after a backoff",
                           self->what,
                           clean ? "the server ended the stream at once" : local->message,
                           self->resource_version);
                /* Jittered, so that the daemons of a cluster do not come back in step. */
                if (!sleep_unless_stopped(self, g_random_int_range(backoff / 2, backoff + 1)))
                        break;
                backoff = MIN(backoff * 2, MAX_BACKOFF_USEC);
        }
        set_state(self, REFLECTOR_STOPPED);
        return NULL;
}

void reflector_start(Reflector *self)
{
        g_return_if_fail(self->thread == NULL);
        self->thread = g_thread_new("watch", watch_thread, self);
}
