/* The control endpoint under /_emulator/: seeding, faults, counts, latency, token, watch
 * faults, compaction and the request log. Loopback peers only, never a token, never counted. */
#include "emulator.h"

#include <gio/gio.h>
#include <string.h>

static gboolean load_one(Resource *res, JsonNode *obj, GError **error)
{
        JsonObject *meta;
        const char *ns;

        if (obj == NULL || !JSON_NODE_HOLDS_OBJECT(obj) || pv_name(obj) == NULL) {
                g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "every object needs metadata.name");
                return FALSE;
        }
        meta = json_get_object_member(json_node_get_object(obj), "metadata");
        ns = json_get_string_member(meta, "namespace");
        if (res->kind->namespaced && (ns == NULL || *ns == '\0'))
                json_object_set_string_member(meta, "namespace", "default");
        if (json_object_has_member(meta, "resourceVersion"))
                json_object_remove_member(meta, "resourceVersion");
        store_write(res->store, obj);
        return TRUE;
}

gboolean control_load(Resource *res, JsonNode *root, guint *n, GError **error)
{
        JsonArray *items = NULL;

        *n = 0;
        if (root != NULL && JSON_NODE_HOLDS_ARRAY(root)) {
                items = json_node_get_array(root);
        } else if (root != NULL && JSON_NODE_HOLDS_OBJECT(root) &&
                   json_object_has_member(json_node_get_object(root), "items")) {
                items = json_object_get_array_member(json_node_get_object(root), "items");
        } else {
                if (!load_one(res, root, error))
                        return FALSE;
                *n = 1;
                return TRUE;
        }
        for (guint i = 0; items != NULL && i < json_array_get_length(items); i++) {
                if (!load_one(res, json_array_get_element(items, i), error))
                        return FALSE;
                (*n)++;
        }
        return TRUE;
}

static void reply_text(SoupServerMessage *msg, guint code, const char *type, const char *text)
{
        soup_server_message_set_status(msg, code, NULL);
        soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, text, strlen(text));
}

static void reply_text_take(SoupServerMessage *msg, char *json)
{
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, json,
                                         strlen(json));
}

static void reply_error(SoupServerMessage *msg, guint code, const char *message)
{
        GString *out = g_string_new("{\"error\":");

        json_append_escaped(out, message);
        g_string_append_c(out, '}');
        reply_text(msg, code, "application/json", out->str);
        g_string_free(out, TRUE);
}

static void reply_printf(SoupServerMessage *msg, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void reply_printf(SoupServerMessage *msg, const char *format, ...)
{
        va_list args;
        g_autofree char *text = NULL;

        va_start(args, format);
        text = g_strdup_vprintf(format, args);
        va_end(args);
        reply_text(msg, 200, "application/json", text);
}

static JsonNode *request_json(SoupServerMessage *msg)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GError) error = NULL;
        JsonNode *node = json_parse_text(body->data, (gsize)body->length, &error);

        if (node == NULL)
                reply_error(msg, 400, error->message);
        return node;
}

static gint64 member_int(JsonNode *node, const char *member, gint64 fallback)
{
        JsonNode *value;

        if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
                return fallback;
        value = json_object_get_member(json_node_get_object(node), member);
        return value != NULL && JSON_NODE_HOLDS_VALUE(value) ? json_node_get_int(value) : fallback;
}

static void post_objects(Resource *res, SoupServerMessage *msg)
{
        g_autoptr(JsonNode) root = request_json(msg);
        g_autoptr(GError) error = NULL;
        guint n = 0;

        if (root == NULL)
                return;
        if (!control_load(res, root, &n, &error)) {
                reply_error(msg, 400, error->message);
                return;
        }
        reply_printf(msg, "{\"created\":%u}", n);
}

static void serve_objects(Resource *res, SoupServerMessage *msg, const char *method,
                          const char *name)
{
        StoredPv *pv = name != NULL ? store_lookup(res->store, name) : NULL;

        if (name == NULL && method == SOUP_METHOD_POST) {
                post_objects(res, msg);
        } else if (name == NULL && method == SOUP_METHOD_DELETE) {
                store_clear(res->store);
                reply_printf(msg, "{\"deleted\":true}");
        } else if (name == NULL && method == SOUP_METHOD_GET) {
                reply_printf(msg, "{\"count\":%u,\"resourceVersion\":\"%" G_GUINT64_FORMAT "\"}",
                             store_count(res->store), store_rv(res->store));
        } else if (name != NULL && pv == NULL) {
                send_not_found(msg, res->kind, name);
        } else if (name != NULL && method == SOUP_METHOD_GET) {
                reply_text(msg, 200, "application/json", pv->json);
        } else if (name != NULL && method == SOUP_METHOD_DELETE) {
                store_remove(res->store, name);
                reply_printf(msg, "{\"deleted\":true}");
        } else {
                reply_error(msg, 405, "method not allowed");
        }
}

/* GET /_emulator/events: every event (all namespaces, in key order) as a JSON array. */
static void serve_all(Resource *res, SoupServerMessage *msg)
{
        StoreQuery q = {0};
        StorePage page = {0};
        GString *out = g_string_new("[");

        store_page(res->store, &q, 0, 0, &page);
        for (guint i = 0; i < page.items->len; i++) {
                const StoredPv *pv = page.items->pdata[i];

                if (i > 0)
                        g_string_append_c(out, ',');
                g_string_append_len(out, pv->json, (gssize)pv->len);
        }
        g_string_append_c(out, ']');
        store_page_clear(&page);
        reply_text_take(msg, g_string_free(out, FALSE));
}

/* /_emulator/events[/NS/NAME]: seeded objects without a namespace go to "default". */
static void serve_events(Emulator *emu, SoupServerMessage *msg, const char *method, const char *key)
{
        if (key == NULL && method == SOUP_METHOD_GET)
                serve_all(&emu->events, msg);
        else
                serve_objects(&emu->events, msg, method, key);
}

static void append_counts(GString *out, const Resource *res)
{
        for (int i = 0; i < N_VERBS; i++)
                g_string_append_printf(out, "\"%s\":%" G_GUINT64_FORMAT ",", verb_name(i),
                                       res->counts[i]);
        g_string_append_printf(out, "\"total\":%" G_GUINT64_FORMAT, res->total);
}

typedef void (*AppendFunc)(GString *out, const Resource *res);

/* {the PVs' members, @extra, "nodes":{…}, "events":{…}}: the PVs at the top, as when they were
 * the only kind. Takes @extra. */
static void reply_per_kind(Emulator *emu, SoupServerMessage *msg, AppendFunc append, char *extra)
{
        GString *out = g_string_new("{");

        append(out, &emu->pvs);
        g_string_append_printf(out, ",%s,\"nodes\":{", extra);
        append(out, &emu->nodes);
        g_string_append(out, "},\"events\":{");
        append(out, &emu->events);
        g_string_append(out, "}}");
        g_free(extra);
        reply_text_take(msg, g_string_free(out, FALSE));
}

static void serve_counts(Emulator *emu, SoupServerMessage *msg)
{
        reply_per_kind(emu, msg, append_counts,
                       g_strdup_printf("\"unauthorized\":%" G_GUINT64_FORMAT, emu->unauthorized));
}

static void reset_counts(Emulator *emu, SoupServerMessage *msg)
{
        Resource *all[] = EMULATOR_RESOURCES(emu);

        for (gsize i = 0; i < G_N_ELEMENTS(all); i++) {
                memset(all[i]->counts, 0, sizeof(all[i]->counts));
                all[i]->total = 0;
        }
        emu->unauthorized = 0;
        serve_counts(emu, msg);
}

static void post_faults(Emulator *emu, SoupServerMessage *msg)
{
        g_autoptr(JsonNode) root = request_json(msg);
        g_autoptr(GError) error = NULL;
        guint n = 0;

        if (root == NULL)
                return;
        if (JSON_NODE_HOLDS_ARRAY(root)) {
                JsonArray *arr = json_node_get_array(root);

                for (; n < json_array_get_length(arr); n++)
                        if (!faults_add(emu->faults, json_array_get_element(arr, n), &error))
                                break;
        } else if (faults_add(emu->faults, root, &error)) {
                n = 1;
        }
        if (error != NULL) {
                reply_error(msg, 400, error->message);
                return;
        }
        reply_printf(msg, "{\"added\":%u}", n);
}

static void serve_faults(Emulator *emu, SoupServerMessage *msg, const char *method)
{
        g_autoptr(JsonNode) list = NULL;

        if (method == SOUP_METHOD_POST) {
                post_faults(emu, msg);
        } else if (method == SOUP_METHOD_DELETE) {
                faults_clear(emu->faults);
                reply_printf(msg, "{\"cleared\":true}");
        } else {
                list = faults_to_json(emu->faults);
                send_json_node(msg, 200, list);
        }
}

static void post_token(Emulator *emu, SoupServerMessage *msg)
{
        g_autoptr(JsonNode) root = request_json(msg);
        const char *token;

        if (root == NULL)
                return;
        token = JSON_NODE_HOLDS_OBJECT(root)
                    ? json_get_string_member(json_node_get_object(root), "token")
                    : NULL;
        g_free(emu->token);
        emu->token = token != NULL && *token != '\0' ? g_strdup(token) : NULL;
        reply_printf(msg, "{\"auth\":%s}", emu->token != NULL ? "true" : "false");
}

static gboolean post_number(SoupServerMessage *msg, const char *member, gint64 fallback,
                            guint *target)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(JsonNode) root = NULL;

        /* An empty body means the default. */
        if (body->length > 0) {
                root = request_json(msg);
                if (root == NULL)
                        return FALSE;
        }
        *target = (guint)CLAMP(member_int(root, member, fallback), 0, G_MAXINT);
        reply_printf(msg, "{\"%s\":%u}", member, *target);
        return TRUE;
}

/* {"resourceVersion":"RV"} (a string as in the API, or a number); none: the current RV. */
static void post_compact(Emulator *emu, SoupServerMessage *msg)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(JsonNode) root = NULL;
        guint64 rv = emu->rv;
        JsonNode *member = NULL;
        Resource *all[] = EMULATOR_RESOURCES(emu);

        if (body->length > 0) {
                root = request_json(msg);
                if (root == NULL)
                        return;
                if (JSON_NODE_HOLDS_OBJECT(root))
                        member =
                            json_object_get_member(json_node_get_object(root), "resourceVersion");
        }
        if (member != NULL && json_node_get_value_type(member) == G_TYPE_STRING &&
            !g_ascii_string_to_unsigned(json_node_get_string(member), 10, 0, G_MAXUINT64, &rv,
                                        NULL)) {
                reply_error(msg, 400, "resourceVersion is not a number");
                return;
        }
        if (member != NULL && json_node_get_value_type(member) == G_TYPE_INT64)
                rv = (guint64)MAX(json_node_get_int(member), 0);
        /* One etcd for every kind: a compaction applies to all. */
        for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
                store_compact(all[i]->store, rv);
        reply_printf(msg,
                     "{\"compacted\":\"%" G_GUINT64_FORMAT
                     "\",\"oldestResourceVersion\":\"%" G_GUINT64_FORMAT "\"}",
                     store_compacted_rv(emu->pvs.store), store_oldest_rv(emu->pvs.store));
}

static void serve_requests(Emulator *emu, SoupServerMessage *msg, const char *method)
{
        if (method == SOUP_METHOD_DELETE) {
                request_log_clear(emu->requests);
                reply_printf(msg, "{\"cleared\":true}");
                return;
        }
        reply_text_take(msg, request_log_to_json(emu->requests));
}

static void append_watch_state(GString *out, const Resource *res)
{
        g_string_append_printf(
            out, "\"open\":%u,\"stalled\":%u,\"oldestResourceVersion\":\"%" G_GUINT64_FORMAT "\"",
            watch_open(res->watches), watch_stalled(res->watches), store_oldest_rv(res->store));
}

static void serve_watch_state(Emulator *emu, SoupServerMessage *msg)
{
        reply_per_kind(emu, msg, append_watch_state,
                       g_strdup_printf("\"resourceVersion\":\"%" G_GUINT64_FORMAT "\"", emu->rv));
}

/* Drop, stall or set the bookmarks of every kind's streams; the number of streams touched. */
static guint for_all_hubs(Emulator *emu, guint (*func)(WatchHub *hub))
{
        Resource *all[] = EMULATOR_RESOURCES(emu);
        guint n = 0;

        for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
                n += func(all[i]->watches);
        return n;
}

/* /watch, /watch/drop, /watch/stall, /watch/bookmarks (every kind's streams), /compact,
 * /requests */
static gboolean serve_watch_control(Emulator *emu, SoupServerMessage *msg, const char *method,
                                    const char *sub)
{
        gboolean post = method == SOUP_METHOD_POST;
        Resource *all[] = EMULATOR_RESOURCES(emu);
        guint ms = 0;

        if (strcmp(sub, "/watch") == 0 && method == SOUP_METHOD_GET)
                serve_watch_state(emu, msg);
        else if (strcmp(sub, "/watch/drop") == 0 && post)
                reply_printf(msg, "{\"dropped\":%u}", for_all_hubs(emu, watch_drop_all));
        else if (strcmp(sub, "/watch/stall") == 0 && post)
                reply_printf(msg, "{\"stalled\":%u}", for_all_hubs(emu, watch_stall_all));
        else if (strcmp(sub, "/watch/bookmarks") == 0 && post) {
                if (post_number(msg, "interval_ms", 1000, &ms))
                        for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
                                watch_set_bookmark_interval(all[i]->watches, ms);
        } else if (strcmp(sub, "/compact") == 0 && post)
                post_compact(emu, msg);
        else if (strcmp(sub, "/requests") == 0 &&
                 (method == SOUP_METHOD_GET || method == SOUP_METHOD_DELETE))
                serve_requests(emu, msg, method);
        else
                return FALSE;
        return TRUE;
}

static gboolean from_loopback(SoupServerMessage *msg)
{
        GSocketAddress *peer = soup_server_message_get_remote_address(msg);

        return peer != NULL && G_IS_INET_SOCKET_ADDRESS(peer) &&
               g_inet_address_get_is_loopback(
                   g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(peer)));
}

static void control_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                            GHashTable *query, gpointer user_data)
{
        Emulator *emu = user_data;
        const char *method = soup_server_message_get_method(msg);
        const char *sub = path + strlen("/_emulator");
        gboolean post = method == SOUP_METHOD_POST;

        if (!from_loopback(msg))
                reply_error(msg, 403, "the control endpoint is for loopback peers only");
        else if (strcmp(sub, "/health") == 0)
                reply_text(msg, 200, "text/plain", "ok");
        else if (strcmp(sub, "/pvs") == 0)
                serve_objects(&emu->pvs, msg, method, NULL);
        else if (g_str_has_prefix(sub, "/pvs/") && sub[5] != '\0')
                serve_objects(&emu->pvs, msg, method, sub + 5);
        else if (strcmp(sub, "/nodes") == 0)
                serve_objects(&emu->nodes, msg, method, NULL);
        else if (g_str_has_prefix(sub, "/nodes/") && sub[7] != '\0')
                serve_objects(&emu->nodes, msg, method, sub + 7);
        else if (strcmp(sub, "/events") == 0)
                serve_events(emu, msg, method, NULL);
        else if (g_str_has_prefix(sub, "/events/") && strchr(sub + 8, '/') != NULL)
                serve_events(emu, msg, method, sub + 8);
        else if (strcmp(sub, "/generate") == 0 && post)
                control_generate(emu, msg);
        else if (strcmp(sub, "/counts") == 0 && method == SOUP_METHOD_GET)
                serve_counts(emu, msg);
        else if (strcmp(sub, "/counts/reset") == 0 && post)
                reset_counts(emu, msg);
        else if (strcmp(sub, "/faults") == 0)
                serve_faults(emu, msg, method);
        else if (strcmp(sub, "/latency") == 0 && post)
                post_number(msg, "ms", 0, &emu->latency_ms);
        else if (strcmp(sub, "/expire-continue") == 0 && post)
                post_number(msg, "count", 1, &emu->expire_continue);
        else if (strcmp(sub, "/token") == 0 && post)
                post_token(emu, msg);
        else if (!serve_watch_control(emu, msg, method, sub))
                reply_error(msg, 404, "unknown control path");
}

void control_register(Emulator *emu)
{
        soup_server_add_handler(emu->server, "/_emulator", control_handler, emu, NULL);
}
