/* Injected faults: a queue of counted faults consumed in order, and standing random ones. */
#include "emulator.h"

#include <gio/gio.h>
#include <string.h>

struct Faults {
        GPtrArray *list; /* Fault * */
};

static const char *const verb_names[N_VERBS] = {"get",   "list",   "create", "update",
                                                "patch", "delete", "watch"};

static const char *const action_names[] = {
    [ACTION_STATUS] = "status",
    [ACTION_CONFLICT] = "conflict",
    [ACTION_DELAY] = "delay",
    [ACTION_DROP] = "drop",
    [ACTION_MALFORMED] = "malformed",
    [ACTION_TRUNCATED] = "truncated",
    [ACTION_HUGE] = "huge",
    [ACTION_GONE] = "gone",
    [ACTION_GONE_EVENT] = "gone-event",
    [ACTION_APPLY_LATER] = "apply-later",
};

const char *verb_name(Verb verb)
{
        return verb < N_VERBS ? verb_names[verb] : "unknown";
}

void fault_free(Fault *fault)
{
        if (fault == NULL)
                return;
        g_free(fault->name);
        g_free(fault->resource);
        g_free(fault->message);
        g_clear_pointer(&fault->rand, g_rand_free);
        g_clear_pointer(&fault->spec, json_node_unref);
        g_free(fault);
}

Faults *faults_new(void)
{
        Faults *faults = g_new0(Faults, 1);

        faults->list = g_ptr_array_new_with_free_func((GDestroyNotify)fault_free);
        return faults;
}

void faults_free(Faults *faults)
{
        if (faults == NULL)
                return;
        g_ptr_array_unref(faults->list);
        g_free(faults);
}

void faults_clear(Faults *faults)
{
        g_ptr_array_set_size(faults->list, 0);
}

static gboolean parse_match(Fault *fault, JsonObject *spec, GError **error)
{
        JsonObject *match = json_get_object_member(spec, "match");
        const char *verb = json_get_string_member(match, "verb");
        const char *resource = json_get_string_member(match, "resource");

        fault->verb = -1;
        fault->name = g_strdup(json_get_string_member(match, "name"));
        /* Faults were for PVs before there were Nodes: that stays the default. */
        if (resource == NULL)
                resource = kind_pv.resource;
        fault->resource = strcmp(resource, "*") != 0 ? g_strdup(resource) : NULL;
        if (verb == NULL || strcmp(verb, "*") == 0)
                return TRUE;
        for (int i = 0; i < N_VERBS; i++) {
                if (strcmp(verb, verb_names[i]) == 0) {
                        fault->verb = i;
                        return TRUE;
                }
        }
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown verb \"%s\"", verb);
        return FALSE;
}

static gboolean parse_action(Fault *fault, JsonObject *spec, GError **error)
{
        const char *action = json_get_string_member(spec, "action");

        for (gsize i = 0; action != NULL && i < G_N_ELEMENTS(action_names); i++) {
                if (strcmp(action, action_names[i]) == 0) {
                        fault->action = (FaultAction)i;
                        return TRUE;
                }
        }
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown action \"%s\"",
                    action != NULL ? action : "");
        return FALSE;
}

/* apply-later's "answer": "drop" (the default) or "status". */
static gboolean parse_answer(Fault *fault, JsonObject *spec, GError **error)
{
        const char *answer = json_get_string_member(spec, "answer");

        fault->answer_status = g_strcmp0(answer, "status") == 0;
        if (answer == NULL || fault->answer_status || strcmp(answer, "drop") == 0)
                return TRUE;
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown answer \"%s\"",
                    answer);
        return FALSE;
}

static gint64 int_member(JsonObject *obj, const char *member, gint64 fallback)
{
        JsonNode *node = json_object_get_member(obj, member);

        if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
                return fallback;
        return json_node_get_int(node);
}

gboolean faults_add(Faults *faults, JsonNode *spec_node, GError **error)
{
        g_autoptr(Fault) fault = g_new0(Fault, 1);
        JsonObject *spec;

        if (spec_node == NULL || !JSON_NODE_HOLDS_OBJECT(spec_node)) {
                g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "a fault must be a JSON object");
                return FALSE;
        }
        spec = json_node_get_object(spec_node);
        if (!parse_match(fault, spec, error) || !parse_action(fault, spec, error) ||
            !parse_answer(fault, spec, error))
                return FALSE;
        fault->probability = json_object_has_member(spec, "probability")
                                 ? json_object_get_double_member(spec, "probability")
                                 : 0.0;
        fault->count = (guint)CLAMP(int_member(spec, "count", 1), 0, G_MAXUINT);
        fault->code = (guint)CLAMP(int_member(spec, "code", 500), 100, 599);
        fault->message = g_strdup(json_get_string_member(spec, "message"));
        fault->retry_after = (int)CLAMP(int_member(spec, "retry_after", -1), -1, G_MAXINT);
        fault->ms =
            (guint)CLAMP(int_member(spec, "ms", int_member(spec, "delay_ms", 0)), 0, G_MAXUINT);
        fault->bytes = (guint64)CLAMP(int_member(spec, "bytes", 1024 * 1024), 16, G_MAXINT);
        if (fault->probability > 0.0) {
                fault->rand = json_object_has_member(spec, "seed")
                                  ? g_rand_new_with_seed((guint32)int_member(spec, "seed", 0))
                                  : g_rand_new();
        } else if (fault->count == 0) {
                return TRUE; /* consumes nothing: nothing to queue */
        }
        fault->spec = json_node_copy(spec_node);
        g_ptr_array_add(faults->list, g_steal_pointer(&fault));
        return TRUE;
}

JsonNode *faults_to_json(Faults *faults)
{
        JsonArray *arr = json_array_new();
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);

        for (guint i = 0; i < faults->list->len; i++) {
                Fault *fault = faults->list->pdata[i];
                JsonNode *copy = json_node_copy(fault->spec);

                if (fault->probability <= 0.0)
                        json_object_set_int_member(json_node_get_object(copy), "remaining",
                                                   fault->count);
                json_array_add_element(arr, copy);
        }
        json_node_take_array(node, arr);
        return node;
}

static Fault *fault_copy(const Fault *src)
{
        Fault *copy = g_memdup2(src, sizeof(*src));

        copy->name = g_strdup(src->name);
        copy->resource = g_strdup(src->resource);
        copy->message = g_strdup(src->message);
        copy->rand = NULL;
        copy->spec = NULL;
        return copy;
}

Fault *faults_take(Faults *faults, const char *resource, Verb verb, const char *name)
{
        for (guint i = 0; i < faults->list->len; i++) {
                Fault *fault = faults->list->pdata[i];
                Fault *copy;

                if (fault->verb >= 0 && fault->verb != (int)verb)
                        continue;
                if (fault->name != NULL && g_strcmp0(fault->name, name) != 0)
                        continue;
                if (fault->resource != NULL && strcmp(fault->resource, resource) != 0)
                        continue;
                if (fault->probability > 0.0) {
                        if (g_rand_double(fault->rand) < fault->probability)
                                return fault_copy(fault);
                        continue;
                }
                copy = fault_copy(fault);
                if (--fault->count == 0)
                        g_ptr_array_remove_index(faults->list, i);
                return copy;
        }
        return NULL;
}

typedef struct {
        GIOStream *stream;
        GBytes *data;
} RawWrite;

static void raw_write_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
        RawWrite *w = user_data;

        /* The peer may already be gone; either way the connection ends here. */
        g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, NULL);
        g_io_stream_close(w->stream, NULL, NULL);
        g_object_unref(w->stream);
        g_bytes_unref(w->data);
        g_free(w);
}

void steal_and_write(SoupServerMessage *msg, GBytes *data)
{
        GIOStream *stream = soup_server_message_steal_connection(msg);
        RawWrite *w;

        if (stream == NULL)
                return;
        if (data == NULL || g_bytes_get_size(data) == 0) {
                g_io_stream_close(stream, NULL, NULL);
                g_object_unref(stream);
                return;
        }
        w = g_new0(RawWrite, 1);
        w->stream = stream;
        w->data = g_bytes_ref(data);
        g_output_stream_write_all_async(g_io_stream_get_output_stream(stream),
                                        g_bytes_get_data(data, NULL), g_bytes_get_size(data),
                                        G_PRIORITY_DEFAULT, NULL, raw_write_done, w);
}

void fault_truncate(SoupServerMessage *msg)
{
        SoupMessageBody *body = soup_server_message_get_response_body(msg);
        g_autoptr(GBytes) full = soup_message_body_flatten(body);
        gsize len = g_bytes_get_size(full);
        guint code = soup_server_message_get_status(msg);
        g_autoptr(GBytes) raw = NULL;
        GString *out = g_string_new(NULL);

        g_string_append_printf(out,
                               "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
                               "Content-Length: %" G_GSIZE_FORMAT "\r\nConnection: close\r\n\r\n",
                               code, soup_status_get_phrase(code), len);
        g_string_append_len(out, g_bytes_get_data(full, NULL), (gssize)(len / 2));
        raw = g_string_free_to_bytes(out);
        steal_and_write(msg, raw);
}

static void send_huge(SoupServerMessage *msg, guint64 bytes)
{
        static const char head[] = "{\"kind\":\"PersistentVolumeList\",\"apiVersion\":\"v1\","
                                   "\"metadata\":{},\"items\":[],\"padding\":\"";
        static const char tail[] = "\"}";
        gsize fixed = strlen(head) + strlen(tail);
        gsize size = MAX((gsize)bytes, fixed);
        char *body = g_malloc(size);

        memcpy(body, head, strlen(head));
        memset(body + strlen(head), 'x', size - fixed);
        memcpy(body + size - strlen(tail), tail, strlen(tail));
        send_json_take(msg, 200, body, size);
}

static void send_fault_status(const Fault *fault, SoupServerMessage *msg, const ResourceKind *kind,
                              const char *name)
{
        g_autofree char *text = NULL;
        g_autofree char *retry = NULL;

        if (fault->retry_after >= 0) {
                retry = g_strdup_printf("%d", fault->retry_after);
                soup_message_headers_replace(soup_server_message_get_response_headers(msg),
                                             "Retry-After", retry);
        }
        if (fault->message == NULL)
                text = g_strdup_printf("injected fault: %s", reason_for_code(fault->code));
        send_status_about(msg, fault->code, reason_for_code(fault->code),
                          fault->message != NULL ? fault->message : text, kind,
                          fault->code == 404 || fault->code == 409 ? name : NULL);
}

void fault_perform(const Fault *fault, SoupServerMessage *msg, const ResourceKind *kind,
                   const char *name)
{
        static const char malformed[] = "{\"kind\":\"PersistentVolumeList\",\"items\":[{\"metad"
                                        "ata\": <<this is not JSON>>";

        switch (fault->action) {
        case ACTION_STATUS:
                send_fault_status(fault, msg, kind, name);
                break;
        case ACTION_CONFLICT:
                send_conflict(msg, kind, name != NULL ? name : "");
                break;
        case ACTION_GONE:
        case ACTION_GONE_EVENT: /* not a watch: there is no stream to carry the event */
                send_gone(msg);
                break;
        case ACTION_DROP:
                steal_and_write(msg, NULL);
                break;
        case ACTION_APPLY_LATER: /* the write is kept by the caller; this is the answer */
                if (fault->answer_status)
                        send_fault_status(fault, msg, kind, name);
                else
                        steal_and_write(msg, NULL);
                break;
        case ACTION_MALFORMED:
                soup_server_message_set_status(msg, 200, NULL);
                soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC,
                                                 malformed, strlen(malformed));
                break;
        case ACTION_HUGE:
                send_huge(msg, fault->bytes);
                break;
        case ACTION_DELAY:
        case ACTION_TRUNCATED:
                /* Served normally by the caller (truncated: then cut by fault_truncate). */
                break;
        }
}
