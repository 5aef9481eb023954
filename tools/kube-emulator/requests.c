/* The log of the last API requests (GET /_emulator/requests): what a client did, in order of
 * arrival, so that a test can show that a daemon relisted or resumed from which RV. */
#include "emulator.h"

#include <string.h>

typedef struct {
        Verb verb;
        char *path;   /* with the query */
        guint status; /* 0 until answered, and for a dropped connection */
} LoggedRequest;

struct RequestLog {
        GQueue entries; /* LoggedRequest *, oldest first */
        guint capacity;
        guint64 first_seq; /* sequence number of the head entry */
};

static void logged_request_free(LoggedRequest *entry)
{
        g_free(entry->path);
        g_free(entry);
}

RequestLog *request_log_new(guint capacity)
{
        RequestLog *log = g_new0(RequestLog, 1);

        g_queue_init(&log->entries);
        log->capacity = MAX(capacity, 1);
        return log;
}

void request_log_clear(RequestLog *log)
{
        log->first_seq += log->entries.length;
        g_queue_clear_full(&log->entries, (GDestroyNotify)logged_request_free);
}

void request_log_free(RequestLog *log)
{
        if (log == NULL)
                return;
        request_log_clear(log);
        g_free(log);
}

guint64 request_log_add(RequestLog *log, Verb verb, SoupServerMessage *msg)
{
        GUri *uri = soup_server_message_get_uri(msg);
        const char *query = g_uri_get_query(uri);
        LoggedRequest *entry = g_new0(LoggedRequest, 1);

        entry->verb = verb;
        entry->path = query != NULL ? g_strconcat(g_uri_get_path(uri), "?", query, NULL)
                                    : g_strdup(g_uri_get_path(uri));
        g_queue_push_tail(&log->entries, entry);
        if (log->entries.length > log->capacity) {
                logged_request_free(g_queue_pop_head(&log->entries));
                log->first_seq++;
        }
        return log->first_seq + log->entries.length - 1;
}

void request_log_set_status(RequestLog *log, guint64 seq, guint status)
{
        LoggedRequest *entry;

        /* Gone from the log (cleared, or pushed out) while it was being answered. */
        if (seq < log->first_seq || seq - log->first_seq >= log->entries.length)
                return;
        entry = g_queue_peek_nth(&log->entries, (guint)(seq - log->first_seq));
        entry->status = status;
}

char *request_log_to_json(RequestLog *log)
{
        GString *out = g_string_new("[");

        for (GList *l = log->entries.head; l != NULL; l = l->next) {
                LoggedRequest *entry = l->data;

                if (l != log->entries.head)
                        g_string_append_c(out, ',');
                g_string_append_printf(out, "{\"verb\":\"%s\",\"path\":", verb_name(entry->verb));
                json_append_escaped(out, entry->path);
                g_string_append_printf(out, ",\"status\":%u}", entry->status);
        }
        g_string_append_c(out, ']');
        return g_string_free(out, FALSE);
}
