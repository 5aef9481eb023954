/* WATCH (of PersistentVolumes, of Nodes) as kube-apiserver serves it: a chunked 200 response, one
 * JSON event a line, started from the history (or the current state), fed live by every write, with
 * bookmarks, timeoutSeconds, and the 410 ERROR event for history that is gone. */
#include "emulator.h"

#include <gio/gio.h>
#include <string.h>

/* kube-apiserver picks a random 30-60 min (--min-request-timeout 1800 s, times 1..2); we take
 * the lower bound so that a run is repeatable. */
#define DEFAULT_TIMEOUT_S 1800

struct WatchHub {
        Store *store;
        const ResourceKind *kind;
        GPtrArray *watchers; /* Watcher * */
        guint bookmark_ms;
        guint bookmark_id;
};

typedef struct {
        WatchHub *hub;
        SoupServerMessage *msg;
        char *prefix;          /* "NS/": a watch in one namespace, or NULL */
        FieldSelector *sel;    /* or NULL */
        LabelSelector *labels; /* labelSelector, or NULL */
        guint64 after;         /* only events with a greater RV (a start in the future) */
        GSource *hup;
        guint timeout_id;
        gulong finished_id;
        gboolean bookmarks;
        gboolean table;
        gboolean full_object;
        gboolean headers_sent;
        gboolean stalled;
        gboolean ending;
} Watcher;

static const char *const event_names[] = {
    [EVENT_ADDED] = "ADDED",
    [EVENT_MODIFIED] = "MODIFIED",
    [EVENT_DELETED] = "DELETED",
};

static void watcher_free(Watcher *w)
{
        g_ptr_array_remove_fast(w->hub->watchers, w);
        g_clear_handle_id(&w->timeout_id, g_source_remove);
        if (w->hup != NULL) {
                g_source_destroy(w->hup);
                g_source_unref(w->hup);
        }
        g_clear_signal_handler(&w->finished_id, w->msg);
        g_object_unref(w->msg);
        g_free(w->prefix);
        field_selector_free(w->sel);
        label_selector_free(w->labels);
        g_free(w);
}

/* The connection closes with no final event, as when the API server goes away. */
static void watcher_drop(Watcher *w)
{
        SoupServerMessage *msg = g_object_ref(w->msg);

        watcher_free(w);
        steal_and_write(msg, NULL);
        g_object_unref(msg);
}

static void append_bytes(Watcher *w, GBytes *line)
{
        soup_message_body_append_bytes(soup_server_message_get_response_body(w->msg), line);
        soup_server_message_unpause(w->msg);
}

static GBytes *event_line(const char *type, const char *object)
{
        GString *out = g_string_sized_new(strlen(object) + 40);

        g_string_append_printf(out, "{\"type\":\"%s\",\"object\":%s}\n", type, object);
        return g_string_free_to_bytes(out);
}

/* kubectl asks for Tables: each event's object is a one-row Table, headers only the first. */
static GBytes *table_line(Watcher *w, const char *type, StoredPv *pv)
{
        GString *out = g_string_sized_new(4096);

        g_string_append_printf(out, "{\"type\":\"%s\",\"object\":", type);
        table_append(out, w->hub->kind, &pv, 1, NULL, w->full_object, !w->headers_sent);
        g_string_append(out, "}\n");
        w->headers_sent = TRUE;
        return g_string_free_to_bytes(out);
}

static gboolean wants(const Watcher *w, StoredPv *pv)
{
        return !w->stalled && !w->ending &&
               (w->prefix == NULL || g_str_has_prefix(pv->name, w->prefix)) && pv->rv > w->after;
}

static gboolean selected(const Watcher *w, StoredPv *pv)
{
        return field_selector_matches(w->sel, w->hub->kind, pv) &&
               label_selector_matches(w->labels, pv);
}

/* The event as @w sees it through its selectors (-1: not at all). As the cacher's filtered
 * watchers: a MODIFIED object that starts matching is ADDED, one that stops matching
 * DELETED. */
static int seen_type(const Watcher *w, EventType type, StoredPv *pv, StoredPv *prev)
{
        gboolean now = selected(w, pv);
        gboolean before;

        if ((w->labels == NULL && w->sel == NULL) || type != EVENT_MODIFIED || prev == NULL)
                return now ? (int)type : -1;
        before = selected(w, prev);
        if (now)
                return before ? EVENT_MODIFIED : EVENT_ADDED;
        return before ? EVENT_DELETED : -1;
}

/* @plain: the event's line for watchers that see @type, shared by them. */
static void send_event(Watcher *w, EventType type, StoredPv *pv, StoredPv *prev, GBytes **plain)
{
        g_autoptr(GBytes) line = NULL;
        int seen;

        if (!wants(w, pv) || (seen = seen_type(w, type, pv, prev)) < 0)
                return;
        if ((EventType)seen != type && !w->table) {
                line = event_line(event_names[seen], pv->json);
                append_bytes(w, line);
                return;
        }
        type = (EventType)seen;
        if (w->table) {
                line = table_line(w, event_names[type], pv);
                append_bytes(w, line);
                return;
        }
        if (*plain == NULL)
                *plain = event_line(event_names[type], pv->json);
        append_bytes(w, *plain);
}

void watch_hub_dispatch(StoreEvent *event, gpointer user_data)
{
        WatchHub *hub = user_data;
        g_autoptr(GBytes) plain = NULL;
        StoredPv *pv;

        if (hub->watchers->len == 0)
                return;
        pv = store_event_object(event);
        for (guint i = 0; i < hub->watchers->len; i++)
                send_event(hub->watchers->pdata[i], event->type, pv, event->prev, &plain);
}

static gboolean on_bookmark(gpointer user_data)
{
        WatchHub *hub = user_data;
        g_autofree char *object =
            g_strdup_printf("{\"kind\":\"%s\",\"apiVersion\":\"v1\",\"metadata\":{"
                            "\"resourceVersion\":\"%" G_GUINT64_FORMAT "\"}}",
                            hub->kind->kind, store_rv(hub->store));
        g_autoptr(GBytes) line = event_line("BOOKMARK", object);

        for (guint i = 0; i < hub->watchers->len; i++) {
                Watcher *w = hub->watchers->pdata[i];

                if (w->bookmarks && !w->stalled && !w->ending)
                        append_bytes(w, line);
        }
        return G_SOURCE_CONTINUE;
}

void watch_set_bookmark_interval(WatchHub *hub, guint ms)
{
        g_clear_handle_id(&hub->bookmark_id, g_source_remove);
        hub->bookmark_ms = ms;
        if (ms > 0)
                hub->bookmark_id = g_timeout_add(ms, on_bookmark, hub);
}

WatchHub *watch_hub_new(Store *store, const ResourceKind *kind, guint bookmark_ms)
{
        WatchHub *hub = g_new0(WatchHub, 1);

        hub->store = store;
        hub->kind = kind;
        hub->watchers = g_ptr_array_new();
        watch_set_bookmark_interval(hub, bookmark_ms);
        return hub;
}

void watch_hub_free(WatchHub *hub)
{
        if (hub == NULL)
                return;
        while (hub->watchers->len > 0)
                watcher_free(hub->watchers->pdata[0]);
        g_ptr_array_unref(hub->watchers);
        g_clear_handle_id(&hub->bookmark_id, g_source_remove);
        g_free(hub);
}

guint watch_drop_all(WatchHub *hub)
{
        guint n = hub->watchers->len;

        while (hub->watchers->len > 0)
                watcher_drop(hub->watchers->pdata[0]);
        return n;
}

guint watch_stall_all(WatchHub *hub)
{
        guint n = 0;

        for (guint i = 0; i < hub->watchers->len; i++) {
                Watcher *w = hub->watchers->pdata[i];

                if (!w->ending && !w->stalled) {
                        w->stalled = TRUE;
                        n++;
                }
        }
        return n;
}

/* A stream that has sent its end is no longer open, though libsoup may still be writing it. */
guint watch_open(WatchHub *hub)
{
        guint n = 0;

        for (guint i = 0; i < hub->watchers->len; i++)
                n += ((Watcher *)hub->watchers->pdata[i])->ending ? 0 : 1;
        return n;
}

guint watch_stalled(WatchHub *hub)
{
        guint n = 0;

        for (guint i = 0; i < hub->watchers->len; i++)
                n += ((Watcher *)hub->watchers->pdata[i])->stalled ? 1 : 0;
        return n;
}

/* ---- starting a stream ---- */

static void start_stream(SoupServerMessage *msg)
{
        SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

        soup_server_message_set_status(msg, 200, NULL);
        soup_message_headers_set_content_type(headers, "application/json", NULL);
        soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
        /* Written chunks are not kept: a stream may carry far more than memory should. */
        soup_message_body_set_accumulate(soup_server_message_get_response_body(msg), FALSE);
}

/* A metav1.Status, as errors.NewResourceExpired and friends make it (no details). */
static void send_error_event(SoupServerMessage *msg, guint code, const char *reason,
                             const char *message, const char *details)
{
        SoupMessageBody *body = soup_server_message_get_response_body(msg);
        GString *out = g_string_new("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
                                    "\"apiVersion\":\"v1\",\"metadata\":{},"
                                    "\"status\":\"Failure\",\"message\":");

        json_append_escaped(out, message);
        g_string_append(out, ",\"reason\":");
        json_append_escaped(out, reason);
        if (details != NULL)
                g_string_append_printf(out, ",\"details\":%s", details);
        g_string_append_printf(out, ",\"code\":%u}}\n", code);
        start_stream(msg);
        soup_message_body_append(body, SOUP_MEMORY_TAKE, out->str, out->len);
        g_string_free(out, FALSE);
        soup_message_body_complete(body);
}

static gboolean parse_rv(const char *text, guint64 *rv)
{
        *rv = 0;
        if (text == NULL || *text == '\0')
                return TRUE;
        return g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, rv, NULL);
}

char *watch_too_old_message(Store *store, GHashTable *query)
{
        const char *text = query != NULL ? g_hash_table_lookup(query, "resourceVersion") : NULL;
        guint64 rv = 0;

        parse_rv(text, &rv);
        return g_strdup_printf("too old resource version: %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
                               ")",
                               rv, store_oldest_rv(store));
}

void watch_send_gone_event(Store *store, SoupServerMessage *msg, GHashTable *query)
{
        g_autofree char *message = watch_too_old_message(store, query);

        send_error_event(msg, 410, "Expired", message, NULL);
}

void watch_send_truncated(Store *store, SoupServerMessage *msg)
{
        g_autofree char *line = g_strdup_printf(
            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"PersistentVolume\",\"apiVersion\":"
            "\"v1\",\"metadata\":{\"resourceVersion\":\"%" G_GUINT64_FORMAT "\"}}}\n",
            store_rv(store));
        gsize half = strlen(line) / 2;
        g_autofree char *raw = g_strdup_printf(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
            "chunked\r\n\r\n%zx\r\n%.*s\r\n",
            half, (int)half, line);
        g_autoptr(GBytes) bytes = g_bytes_new(raw, strlen(raw));

        soup_server_message_set_status(msg, 200, NULL);
        steal_and_write(msg, bytes);
}

static void on_finished(SoupServerMessage *msg, Watcher *w)
{
        watcher_free(w);
}

static gboolean on_timeout(gpointer user_data)
{
        Watcher *w = user_data;

        w->timeout_id = 0;
        /* A stalled stream is a hung server: it does not even end. */
        if (w->stalled)
                return G_SOURCE_REMOVE;
        w->ending = TRUE;
        soup_message_body_complete(soup_server_message_get_response_body(w->msg));
        soup_server_message_unpause(w->msg);
        return G_SOURCE_REMOVE;
}

/* libsoup does not read while it writes a response, so a client that closed its end of a
 * quiet stream would stay "open" until the next write; peek at the socket instead. */
static gboolean on_readable(GSocket *sock, GIOCondition cond, gpointer user_data)
{
        Watcher *w = user_data;
        char byte;
        GInputVector vec = {&byte, 1};
        int flags = G_SOCKET_MSG_PEEK;
        g_autoptr(GError) error = NULL;
        gssize n = g_socket_receive_message(sock, NULL, &vec, 1, NULL, NULL, &flags, NULL, &error);

        if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                return G_SOURCE_CONTINUE;
        /* The client sent something (TLS close_notify, its next request after the end): stop
         * looking; libsoup finishes an ending stream by itself. */
        if (n > 0 || w->ending)
                return G_SOURCE_REMOVE;
        g_source_unref(g_steal_pointer(&w->hup));
        watcher_drop(w);
        return G_SOURCE_REMOVE;
}

static void watch_for_close(Watcher *w)
{
        GSocket *sock = soup_server_message_get_socket(w->msg);

        if (sock == NULL)
                return;
        w->hup = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
        g_source_set_callback(w->hup, G_SOURCE_FUNC(on_readable), w, NULL);
        g_source_attach(w->hup, NULL);
}

static void replay_event(StoreEvent *event, gpointer user_data)
{
        g_autoptr(GBytes) plain = NULL;

        send_event(user_data, event->type, store_event_object(event), event->prev, &plain);
}

static void send_current_state(Watcher *w)
{
        StoreQuery q = {.prefix = w->prefix};
        StorePage page = {0};

        store_page(w->hub->store, &q, 0, 0, &page);
        for (guint i = 0; i < page.items->len; i++) {
                g_autoptr(GBytes) plain = NULL;

                send_event(w, EVENT_ADDED, page.items->pdata[i], NULL, &plain);
        }
        store_page_clear(&page);
}

/* Takes @sel and @labels. */
static Watcher *watcher_new(Resource *res, Call *call, FieldSelector *sel, LabelSelector *labels)
{
        Watcher *w = g_new0(Watcher, 1);
        SoupServerMessage *msg = call->msg;
        GHashTable *query = call->query;
        const char *bookmarks = g_hash_table_lookup(query, "allowWatchBookmarks");
        const char *include = g_hash_table_lookup(query, "includeObject");

        w->hub = res->watches;
        w->prefix = call->ns != NULL ? g_strconcat(call->ns, "/", NULL) : NULL;
        w->sel = sel;
        w->msg = g_object_ref(msg);
        w->bookmarks = g_strcmp0(bookmarks, "true") == 0 || g_strcmp0(bookmarks, "1") == 0;
        w->table = wants_table(msg);
        w->full_object = g_strcmp0(include, "Object") == 0;
        w->labels = labels;
        return w;
}

/* Where the stream starts; answers the request itself (an ERROR event or 400) otherwise. */
static gboolean check_start(Resource *res, SoupServerMessage *msg, GHashTable *query, guint64 *rv)
{
        const char *text = g_hash_table_lookup(query, "resourceVersion");
        g_autofree char *message = NULL;

        /* kube-apiserver v1.33 answers this 500 without a reason (the LIST's is a 400). */
        if (!parse_rv(text, rv)) {
                message = g_strdup_printf("resourceVersion: Invalid value: \"%s\": "
                                          "strconv.ParseUint: parsing \"%s\": invalid syntax",
                                          text, text);
                send_status(msg, 500, "", message, NULL);
                return FALSE;
        }
        /* An RV in the future is no error: the watch cache sends the events after it once
         * they happen (getAllEventsSinceLocked answers an empty interval), and nothing before. */
        if (*rv != 0 && *rv < store_oldest_rv(res->store)) {
                watch_send_gone_event(res->store, msg, query);
                return FALSE;
        }
        return TRUE;
}

void api_watch(Resource *res, Call *call)
{
        SoupServerMessage *msg = call->msg;
        GHashTable *query = call->query;
        const char *timeout = g_hash_table_lookup(query, "timeoutSeconds");
        g_autoptr(FieldSelector) sel = NULL;
        guint64 seconds = 0;
        guint64 rv = 0;
        g_autoptr(LabelSelector) labels = NULL;
        gboolean ok;
        Watcher *w;

        sel = call_field_selector(res->kind, call, &ok);
        if (!ok || !label_selector_from_query(msg, query, &labels) ||
            !check_start(res, msg, query, &rv))
                return;
        if (timeout == NULL ||
            !g_ascii_string_to_unsigned(timeout, 10, 0, G_MAXINT / 1000, &seconds, NULL) ||
            seconds == 0)
                seconds = DEFAULT_TIMEOUT_S;
        start_stream(msg);
        w = watcher_new(res, call, g_steal_pointer(&sel), g_steal_pointer(&labels));
        w->after = rv;
        /* No RV (or "0"): the current state as ADDED events first, as the real server does. */
        if (rv == 0)
                send_current_state(w);
        else
                store_events_since(res->store, rv, replay_event, w);
        g_ptr_array_add(res->watches->watchers, w);
        w->timeout_id = g_timeout_add_seconds((guint)seconds, on_timeout, w);
        w->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(on_finished), w);
        watch_for_close(w);
}
