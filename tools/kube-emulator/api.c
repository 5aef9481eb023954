/* Routing, authentication, discovery and the delay/fault pipeline of API requests. */
#include "emulator.h"

#include <string.h>

#define CORE_PATH "/api/v1/"

const char *reason_for_code(guint code)
{
        switch (code) {
        case 400:
                return "BadRequest";
        case 401:
                return "Unauthorized";
        case 403:
                return "Forbidden";
        case 404:
                return "NotFound";
        case 405:
                return "MethodNotAllowed";
        case 406:
                return "NotAcceptable";
        case 409:
                return "Conflict";
        case 410:
                return "Expired";
        case 413:
                return "RequestEntityTooLarge";
        case 415:
                return "UnsupportedMediaType";
        case 422:
                return "Invalid";
        case 429:
                return "TooManyRequests";
        case 500:
                return "InternalError";
        case 503:
                return "ServiceUnavailable";
        case 504:
                return "Timeout";
        default:
                return "Unknown";
        }
}

/* @msg NULL: a write applied later by a fault, which nobody waits for. */
void send_json_take(SoupServerMessage *msg, guint code, char *body, gsize len)
{
        if (msg == NULL) {
                g_free(body);
                return;
        }
        soup_server_message_set_status(msg, code, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, body, len);
}

void send_json_node(SoupServerMessage *msg, guint code, JsonNode *node)
{
        gsize len = 0;
        char *body = json_node_to_compact(node, &len);

        send_json_take(msg, code, body, len);
}

void send_status(SoupServerMessage *msg, guint code, const char *reason, const char *message,
                 const char *name)
{
        send_status_about(msg, code, reason, message, &kind_pv, name);
}

void send_status_about(SoupServerMessage *msg, guint code, const char *reason, const char *message,
                       const ResourceKind *kind, const char *name)
{
        GString *out = g_string_sized_new(256);

        g_string_append(out, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                             "\"status\":\"Failure\",\"message\":");
        json_append_escaped(out, message);
        /* "": no reason at all, as some of the real server's 500s */
        if (reason == NULL || *reason != '\0') {
                g_string_append(out, ",\"reason\":");
                json_append_escaped(out, reason != NULL ? reason : reason_for_code(code));
        }
        g_string_append(out, ",\"details\":{");
        if (name != NULL) {
                g_string_append(out, "\"name\":");
                json_append_escaped(out, name);
                g_string_append_printf(out, ",\"kind\":\"%s\"", kind->resource);
        }
        g_string_append_printf(out, "},\"code\":%u}", code);
        send_json_take(msg, code, out->str, out->len);
        g_string_free(out, FALSE);
}

#define GONE_MESSAGE                                                                               \
        "The provided continue parameter is too old to display a consistent list result. You can " \
        "start a new list without the continue parameter, or use the continue token in this "      \
        "response to retrieve the remainder of the results. Continuing with the provided token "   \
        "results in an inconsistent list - objects that were created, modified, or deleted "       \
        "between the time the first chunk was returned and now may show up in the list."

void send_gone(SoupServerMessage *msg)
{
        send_status(msg, 410, "Expired", GONE_MESSAGE, NULL);
}

void send_gone_with_continue(SoupServerMessage *msg, const char *token)
{
        GString *out = g_string_sized_new(1024);

        g_string_append(out,
                        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{\"continue\":");
        json_append_escaped(out, token);
        g_string_append(out, "},\"status\":\"Failure\",\"message\":");
        json_append_escaped(out, GONE_MESSAGE);
        g_string_append(out, ",\"reason\":\"Expired\",\"code\":410}");
        send_json_take(msg, 410, out->str, out->len);
        g_string_free(out, FALSE);
}

static void send_not_found_path(SoupServerMessage *msg)
{
        send_status(msg, 404, "NotFound", "the server could not find the requested resource", NULL);
}

static void send_static(SoupServerMessage *msg, const char *body)
{
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC, body,
                                         strlen(body));
}

static const char version_json[] =
    "{\"major\":\"1\",\"minor\":\"32\",\"gitVersion\":\"v1.32.0\","
    "\"gitCommit\":\"70d3cc986aa8221cd1dfb1121852688902d3bf53\",\"gitTreeState\":\"clean\","
    "\"buildDate\":\"2024-12-11T17:59:15Z\",\"goVersion\":\"go1.23.3\",\"compiler\":\"gc\","
    "\"platform\":\"linux/amd64\"}";

static const char api_v1_json[] =
    "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":\"v1\","
    "\"resources\":[{\"name\":\"persistentvolumes\",\"singularName\":\"persistentvolume\","
    "\"namespaced\":false,\"kind\":\"PersistentVolume\",\"verbs\":[\"create\",\"delete\","
    "\"get\",\"list\",\"patch\",\"update\",\"watch\"],\"shortNames\":[\"pv\"],"
    "\"storageVersionHash\":\"HN/zwEC+JgM=\"},"
    "{\"name\":\"nodes\",\"singularName\":\"node\",\"namespaced\":false,\"kind\":\"Node\","
    "\"verbs\":[\"create\",\"delete\",\"get\",\"list\",\"patch\",\"update\",\"watch\"],"
    "\"shortNames\":[\"no\"],\"storageVersionHash\":\"XwShjMxG9Fs=\"},"
    "{\"name\":\"events\",\"singularName\":\"event\",\"namespaced\":true,\"kind\":\"Event\","
    "\"verbs\":[\"create\",\"delete\",\"get\",\"list\",\"patch\",\"update\",\"watch\"],"
    "\"shortNames\":[\"ev\"],\"storageVersionHash\":\"r2yiGXH7wu8=\"}]}";

static const char apis_json[] = "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[]}";

static void send_api_versions(SoupServerMessage *msg)
{
        GSocketAddress *local = soup_server_message_get_local_address(msg);
        g_autofree char *addr = NULL;
        g_autofree char *body = NULL;
        gsize len;

        if (local != NULL && G_IS_INET_SOCKET_ADDRESS(local)) {
                GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(local);
                g_autofree char *ip =
                    g_inet_address_to_string(g_inet_socket_address_get_address(inet));

                addr = g_strdup_printf(strchr(ip, ':') != NULL ? "[%s]:%u" : "%s:%u", ip,
                                       g_inet_socket_address_get_port(inet));
        }
        body = g_strdup_printf("{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],"
                               "\"serverAddressByClientCIDRs\":[{\"clientCIDR\":\"0.0.0.0/0\","
                               "\"serverAddress\":\"%s\"}]}",
                               addr != NULL ? addr : "127.0.0.1:0");
        len = strlen(body);
        send_json_take(msg, 200, g_steal_pointer(&body), len);
}

/* Discovery is never counted and never faulted; kubectl falls back from aggregated
 * discovery because we answer plain application/json. */
static void serve_discovery(SoupServerMessage *msg, const char *path)
{
        if (soup_server_message_get_method(msg) != SOUP_METHOD_GET) {
                send_status(msg, 405, "MethodNotAllowed", "the server does not allow this method",
                            NULL);
                return;
        }
        if (strcmp(path, "/version") == 0 || strcmp(path, "/version/") == 0)
                send_static(msg, version_json);
        else if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0)
                send_api_versions(msg);
        else if (strcmp(path, "/api/v1") == 0 || strcmp(path, "/api/v1/") == 0)
                send_static(msg, api_v1_json);
        else if (strcmp(path, "/apis") == 0 || strcmp(path, "/apis/") == 0)
                send_static(msg, apis_json);
        else
                send_not_found_path(msg);
}

static gboolean authorized(Emulator *emu, SoupServerMessage *msg)
{
        const char *header;
        g_autofree char *expected = NULL;

        if (emu->token == NULL)
                return TRUE;
        header = soup_message_headers_get_one(soup_server_message_get_request_headers(msg),
                                              "Authorization");
        expected = g_strconcat("Bearer ", emu->token, NULL);
        return header != NULL && strcmp(header, expected) == 0;
}

typedef struct {
        Emulator *emu;
        Resource *res;
        SoupServerMessage *msg;
        GHashTable *query;
        Verb verb;
        char *ns; /* namespaced kinds; NULL for a list or watch of all namespaces */
        char *name;
        Fault *fault;
        guint64 seq; /* in the request log */
        gboolean finished;
} Request;

static void request_free(Request *req)
{
        g_signal_handlers_disconnect_by_data(req->msg, req);
        g_object_unref(req->msg);
        g_clear_pointer(&req->query, g_hash_table_unref);
        g_clear_pointer(&req->fault, fault_free);
        g_free(req->ns);
        g_free(req->name);
        g_free(req);
}

static void serve_normally(Request *req);

/* A watch answers some faults its own way: 410 with the watch's message, in the stream. */
static gboolean serve_watch_fault(Request *req, FaultAction action)
{
        g_autofree char *message = NULL;

        if (req->verb != VERB_WATCH)
                return FALSE;
        switch (action) {
        case ACTION_GONE:
                message = watch_too_old_message(req->res->store, req->query);
                send_status(req->msg, 410, "Expired", message, NULL);
                return TRUE;
        case ACTION_GONE_EVENT:
                watch_send_gone_event(req->res->store, req->msg, req->query);
                return TRUE;
        case ACTION_TRUNCATED:
                watch_send_truncated(req->res->store, req->msg);
                return TRUE;
        default:
                return FALSE;
        }
}

static gboolean is_write(Verb verb)
{
        return verb == VERB_CREATE || verb == VERB_UPDATE || verb == VERB_PATCH ||
               verb == VERB_DELETE;
}

static void serve_action(Request *req, FaultAction action)
{
        Call call;

        if (action == ACTION_APPLY_LATER && is_write(req->verb)) {
                call_init(&call, req->msg, req->ns, req->name, req->query);
                later_schedule(req->emu, req->res, req->verb, &call, req->fault->ms);
        }
        if (action == ACTION_TRUNCATED) {
                serve_normally(req);
                fault_truncate(req->msg);
        } else if (action == ACTION_DELAY) {
                serve_normally(req);
        } else {
                fault_perform(req->fault, req->msg, req->res->kind, req->name);
        }
}

static void serve(Request *req)
{
        FaultAction action = req->fault != NULL ? req->fault->action : ACTION_DELAY;

        if (req->fault == NULL || !serve_watch_fault(req, action))
                serve_action(req, action);
        request_log_set_status(req->emu->requests, req->seq,
                               action == ACTION_DROP ||
                                       (action == ACTION_APPLY_LATER && !req->fault->answer_status)
                                   ? 0
                                   : soup_server_message_get_status(req->msg));
}

static void serve_normally(Request *req)
{
        const char *want_continue =
            req->query != NULL ? g_hash_table_lookup(req->query, "continue") : NULL;
        Call call;

        if (req->verb == VERB_LIST && want_continue != NULL && *want_continue != '\0' &&
            req->emu->expire_continue > 0) {
                req->emu->expire_continue--;
                send_list_gone(req->msg, want_continue);
                return;
        }
        call_init(&call, req->msg, req->ns, req->name, req->query);
        api_call(req->res, req->verb, &call);
}

static void on_finished(SoupServerMessage *msg, Request *req)
{
        req->finished = TRUE;
}

static gboolean on_delay_done(gpointer data)
{
        Request *req = data;

        /* The client may have gone away while we waited. */
        if (!req->finished) {
                serve(req);
                if (req->fault == NULL ||
                    (req->fault->action != ACTION_DROP && req->fault->action != ACTION_TRUNCATED &&
                     (req->fault->action != ACTION_APPLY_LATER || req->fault->answer_status)))
                        soup_server_message_unpause(req->msg);
        }
        request_free(req);
        return G_SOURCE_REMOVE;
}

static gboolean is_watch(GHashTable *query)
{
        const char *watch = query != NULL ? g_hash_table_lookup(query, "watch") : NULL;

        return g_strcmp0(watch, "true") == 0 || g_strcmp0(watch, "1") == 0;
}

/* @all_namespaces: /api/v1/RESOURCE of a namespaced kind, where only list and watch are. */
static gboolean classify(SoupServerMessage *msg, const char *rest, GHashTable *query,
                         gboolean all_namespaces, Verb *verb)
{
        const char *method = soup_server_message_get_method(msg);
        gboolean named = rest[0] == '/' && rest[1] != '\0';

        if (all_namespaces && (named || method != SOUP_METHOD_GET))
                return FALSE;
        if (method == SOUP_METHOD_GET && !named && is_watch(query))
                *verb = VERB_WATCH;
        else if (method == SOUP_METHOD_GET)
                *verb = named ? VERB_GET : VERB_LIST;
        else if (method == SOUP_METHOD_POST && !named)
                *verb = VERB_CREATE;
        else if (method == SOUP_METHOD_PUT && named)
                *verb = VERB_UPDATE;
        else if (strcmp(method, "PATCH") == 0 && named)
                *verb = VERB_PATCH;
        else if (method == SOUP_METHOD_DELETE && named)
                *verb = VERB_DELETE;
        else
                return FALSE;
        return TRUE;
}

static void serve_resource(Emulator *emu, Resource *res, SoupServerMessage *msg, const char *ns,
                           const char *rest, GHashTable *query)
{
        Request *req;
        guint delay;
        Verb verb;

        if (!classify(msg, rest, query, res->kind->namespaced && ns == NULL, &verb)) {
                send_status(msg, 405, "MethodNotAllowed",
                            "the server does not allow this method "
                            "on the requested resource",
                            NULL);
                return;
        }
        req = g_new0(Request, 1);
        req->emu = emu;
        req->res = res;
        req->msg = g_object_ref(msg);
        req->query = query != NULL ? g_hash_table_ref(query) : NULL;
        req->verb = verb;
        req->ns = g_strdup(ns);
        req->name = rest[0] == '/' ? g_strdup(rest + 1) : NULL;
        res->counts[verb]++;
        res->total++;
        req->seq = request_log_add(emu->requests, verb, msg);
        req->fault = faults_take(emu->faults, res->kind->resource, verb, req->name);
        delay = emu->latency_ms;
        /* apply-later answers at once: its ms is when the write lands. */
        if (req->fault != NULL && req->fault->action != ACTION_APPLY_LATER)
                delay += req->fault->ms;
        if (delay == 0) {
                serve(req);
                request_free(req);
                return;
        }
        g_signal_connect(msg, "finished", G_CALLBACK(on_finished), req);
        soup_server_message_pause(msg);
        g_timeout_add(delay, on_delay_done, req);
}

/* /api/v1/RESOURCE[/NAME] or /api/v1/namespaces/NS/RESOURCE[/NAME]: the resource, in @ns the
 * namespace (NULL when the path has none), in @rest what follows the resource's segment. */
static Resource *resource_for_path(Emulator *emu, const char *path, char **ns, const char **rest)
{
        Resource *all[] = EMULATOR_RESOURCES(emu);
        const char *slash;

        *ns = NULL;
        if (!g_str_has_prefix(path, CORE_PATH))
                return NULL;
        path += strlen(CORE_PATH);
        /* Every namespace exists: the real server would answer 404 for one that does not. */
        if (g_str_has_prefix(path, "namespaces/") &&
            (slash = strchr(path + strlen("namespaces/"), '/')) != NULL &&
            slash > path + strlen("namespaces/")) {
                *ns = g_strndup(path + strlen("namespaces/"),
                                (gsize)(slash - path) - strlen("namespaces/"));
                path = slash + 1;
        }
        for (gsize i = 0; i < G_N_ELEMENTS(all); i++) {
                gsize len = strlen(all[i]->kind->resource);

                if ((*ns == NULL || all[i]->kind->namespaced) &&
                    strncmp(path, all[i]->kind->resource, len) == 0 &&
                    (path[len] == '\0' || path[len] == '/')) {
                        *rest = path + len;
                        return all[i];
                }
        }
        g_clear_pointer(ns, g_free);
        return NULL;
}

static void api_handler(SoupServer *server, SoupServerMessage *msg, const char *path,
                        GHashTable *query, gpointer user_data)
{
        Emulator *emu = user_data;
        const char *rest = NULL;
        g_autofree char *ns = NULL;
        Resource *res = resource_for_path(emu, path, &ns, &rest);

        if (!emu->quiet)
                g_printerr("kube-emulator: %s %s\n", soup_server_message_get_method(msg), path);
        if (!authorized(emu, msg)) {
                emu->unauthorized++;
                send_status(msg, 401, "Unauthorized", "Unauthorized", NULL);
                return;
        }
        if (res != NULL)
                serve_resource(emu, res, msg, ns, rest, query);
        else
                serve_discovery(msg, path);
}

void api_register(Emulator *emu)
{
        soup_server_add_handler(emu->server, NULL, api_handler, emu, NULL);
}
