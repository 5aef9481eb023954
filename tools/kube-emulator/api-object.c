/* GET, POST, PUT, PATCH and DELETE of one object (a PersistentVolume, a Node), with the API
 * server's rules for resourceVersion preconditions and its Status bodies. */
#include "emulator.h"

#include <gio/gio.h>
#include <string.h>

void send_not_found(SoupServerMessage *msg, const ResourceKind *kind, const char *name)
{
        g_autofree char *text = g_strdup_printf("%s \"%s\" not found", kind->resource, name);

        send_status_about(msg, 404, "NotFound", text, kind, name);
}

void send_conflict(SoupServerMessage *msg, const ResourceKind *kind, const char *name)
{
        g_autofree char *text = g_strdup_printf(
            "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
            "apply your changes to the latest version and try again",
            kind->resource, name);

        send_status_about(msg, 409, "Conflict", text, kind, name);
}

static void send_stored(SoupServerMessage *msg, guint code, const StoredPv *pv)
{
        if (msg == NULL)
                return;
        soup_server_message_set_status(msg, code, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, pv->json,
                                         pv->len);
}

void call_init(Call *call, SoupServerMessage *msg, const char *ns, const char *name,
               GHashTable *query)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);

        call->msg = msg;
        call->ns = ns;
        call->name = name;
        call->query = query;
        call->content_type = soup_message_headers_get_content_type(
            soup_server_message_get_request_headers(msg), NULL);
        call->body = body->data;
        call->body_len = (gsize)body->length;
}

typedef enum {
        BODY_OBJECT, /* POST, PUT */
        PATCH_MERGE,
        PATCH_STRATEGIC, /* applied as a merge patch: right for metadata */
        PATCH_JSON,
        PATCH_UNSUPPORTED,
} BodyType;

/* What the parser says, in Go's encoding/json words where the two agree. */
static const char *parse_error_text(const GError *error)
{
        return strstr(error->message, "unexpected end of file") != NULL ||
                       strstr(error->message, "empty body") != NULL
                   ? "unexpected end of JSON input"
                   : error->message;
}

/* The 400 for a body that does not decode, with the real server's words around the
 * parser's: kube-apiserver's decoder for objects, its patch handler for patches. */
static void send_bad_body(SoupServerMessage *msg, const ResourceKind *kind, BodyType type,
                          const char *detail)
{
        g_autofree char *text = NULL;

        if (type == BODY_OBJECT)
                text = g_strdup_printf("the object provided is unrecognized (must be of type %s): "
                                       "couldn't get version/kind; json parse error: %s",
                                       kind->kind, detail);
        else if (type == PATCH_STRATEGIC)
                text = g_strdup(detail);
        else
                text = g_strdup_printf("error decoding patch: %s", detail);
        send_status(msg, 400, "BadRequest", text, NULL);
}

static const char *json_type_word(JsonNode *node)
{
        if (JSON_NODE_HOLDS_OBJECT(node))
                return "object";
        if (JSON_NODE_HOLDS_NULL(node))
                return "null";
        switch (json_node_get_value_type(node)) {
        case G_TYPE_STRING:
                return "string";
        case G_TYPE_BOOLEAN:
                return "bool";
        default:
                return "number";
        }
}

/* The request body: a JSON object, or for a JSON patch an array; answers 400 itself. */
static JsonNode *read_object(Call *call, const ResourceKind *kind, BodyType type)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *text = NULL;

        node = json_parse_text(call->body, call->body_len, &error);
        if (node == NULL) {
                send_bad_body(call->msg, kind, type, parse_error_text(error));
                return NULL;
        }
        if (type == PATCH_JSON && !JSON_NODE_HOLDS_ARRAY(node)) {
                text = g_strdup_printf("json: cannot unmarshal %s into Go value of type "
                                       "[]handlers.jsonPatchOp",
                                       json_type_word(node));
                send_bad_body(call->msg, kind, type, text);
                return NULL;
        }
        if (type != PATCH_JSON && !JSON_NODE_HOLDS_OBJECT(node)) {
                send_bad_body(call->msg, kind, type, "the request body must be a JSON object");
                return NULL;
        }
        return g_steal_pointer(&node);
}

static JsonObject *ensure_metadata(JsonNode *obj)
{
        JsonObject *root = json_node_get_object(obj);
        JsonObject *meta = json_get_object_member(root, "metadata");

        if (meta == NULL) {
                meta = json_object_new();
                json_object_set_object_member(root, "metadata", meta);
        }
        return meta;
}

static void remove_member(JsonObject *obj, const char *member)
{
        if (json_object_has_member(obj, member))
                json_object_remove_member(obj, member);
}

/* The object's key, from the call's namespace and name. */
static char *call_key(Call *call)
{
        return store_key(call->ns, call->name);
}

void api_get(Resource *res, Call *call)
{
        g_autofree char *key = call_key(call);
        StoredPv *pv = store_lookup(res->store, key);
        g_autoptr(GPtrArray) one = NULL;
        const char *include;

        if (pv == NULL) {
                send_not_found(call->msg, res->kind, call->name);
                return;
        }
        if (!wants_table(call->msg)) {
                send_stored(call->msg, 200, pv);
                return;
        }
        one = g_ptr_array_new();
        g_ptr_array_add(one, pv);
        include = call->query != NULL ? g_hash_table_lookup(call->query, "includeObject") : NULL;
        send_table(call->msg, res->kind, one, NULL, g_strcmp0(include, "Object") == 0);
}

/* BeforeCreate/BeforeUpdate: a namespaced object takes the URL's namespace, and may not name
 * another one (400). */
static gboolean check_namespace(const ResourceKind *kind, Call *call, JsonObject *meta)
{
        const char *ns = json_get_string_member(meta, "namespace");

        if (!kind->namespaced)
                return TRUE;
        if (ns == NULL || *ns == '\0') {
                json_object_set_string_member(meta, "namespace", call->ns);
                return TRUE;
        }
        if (strcmp(ns, call->ns) == 0)
                return TRUE;
        send_status(call->msg, 400, "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request",
                    NULL);
        return FALSE;
}

/* names.SimpleNameGenerator: generateName and five random characters. */
static void generate_name(JsonObject *meta)
{
        static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
        const char *base = json_get_string_member(meta, "generateName");
        const char *name = json_get_string_member(meta, "name");
        GString *out;

        if ((name != NULL && *name != '\0') || base == NULL || *base == '\0')
                return;
        out = g_string_new(base);
        for (int i = 0; i < 5; i++)
                g_string_append_c(out, alphabet[g_random_int_range(0, sizeof(alphabet) - 1)]);
        json_object_set_string_member(meta, "name", out->str);
        g_string_free(out, TRUE);
}

/* Stores a new object: the server, not the client, owns identity and versioning. */
static void create_object(Resource *res, Call *call, JsonNode *obj, JsonObject *meta)
{
        g_autofree char *text = NULL;
        g_autofree char *key = NULL;
        const char *name = json_get_string_member(meta, "name");

        key = store_key(res->kind->namespaced ? call->ns : NULL, name);
        if (store_lookup(res->store, key) != NULL) {
                text = g_strdup_printf("%s \"%s\" already exists", res->kind->resource, name);
                send_status_about(call->msg, 409, "AlreadyExists", text, res->kind, name);
                return;
        }
        remove_member(meta, "resourceVersion");
        remove_member(meta, "uid");
        remove_member(meta, "creationTimestamp");
        send_stored(call->msg, 201, store_write(res->store, obj));
}

void api_create(Resource *res, Call *call)
{
        g_autoptr(JsonNode) obj = read_object(call, res->kind, BODY_OBJECT);
        JsonObject *meta;

        if (obj == NULL)
                return;
        meta = ensure_metadata(obj);
        if (!check_namespace(res->kind, call, meta))
                return;
        generate_name(meta);
        if (validate_object(res->kind, call->msg, obj, NULL))
                create_object(res, call, obj, meta);
}

static gboolean check_name(Call *call, JsonNode *obj)
{
        const char *body_name = pv_name(obj);
        g_autofree char *text = NULL;

        if (body_name == NULL) {
                json_object_set_string_member(ensure_metadata(obj), "name", call->name);
                return TRUE;
        }
        if (strcmp(body_name, call->name) == 0)
                return TRUE;
        text = g_strdup_printf("the name of the object (%s) does not match the name on the URL "
                               "(%s)",
                               body_name, call->name);
        send_status(call->msg, 400, "BadRequest", text, NULL);
        return FALSE;
}

/* A resourceVersion the client sent must be the current one; an empty one means "any". */
static gboolean rv_matches(const StoredPv *pv, const char *rv)
{
        g_autofree char *current = NULL;

        if (rv == NULL || *rv == '\0')
                return TRUE;
        current = g_strdup_printf("%" G_GUINT64_FORMAT, pv->rv);
        return strcmp(current, rv) == 0;
}

void api_update(Resource *res, Call *call)
{
        g_autoptr(JsonNode) obj = read_object(call, res->kind, BODY_OBJECT);
        g_autofree char *key = call_key(call);
        g_autoptr(JsonNode) old = NULL;
        StoredPv *pv;

        if (obj == NULL || !check_name(call, obj) ||
            !check_namespace(res->kind, call, ensure_metadata(obj)))
                return;
        pv = store_lookup(res->store, key);
        if (pv == NULL && res->kind->create_on_update) {
                if (validate_object(res->kind, call->msg, obj, NULL))
                        create_object(res, call, obj, ensure_metadata(obj));
                return;
        }
        if (pv == NULL) {
                send_not_found(call->msg, res->kind, call->name);
                return;
        }
        if (!rv_matches(pv, pv_resource_version(obj))) {
                send_conflict(call->msg, res->kind, call->name);
                return;
        }
        old = store_parse(pv);
        if (validate_object(res->kind, call->msg, obj, old))
                send_stored(call->msg, 200, store_update(res->store, obj));
}

static BodyType patch_type(Call *call)
{
        const char *type = call->content_type;

        if (type == NULL)
                return PATCH_UNSUPPORTED;
        if (g_ascii_strcasecmp(type, "application/merge-patch+json") == 0)
                return PATCH_MERGE;
        if (g_ascii_strcasecmp(type, "application/strategic-merge-patch+json") == 0)
                return PATCH_STRATEGIC;
        if (g_ascii_strcasecmp(type, "application/json-patch+json") == 0)
                return PATCH_JSON;
        return PATCH_UNSUPPORTED;
}

/* Applies the request's patch to @doc; answers the error itself and returns FALSE. */
static gboolean apply_patch(Call *call, const ResourceKind *kind, BodyType type, JsonNode **doc)
{
        g_autoptr(JsonNode) patch = read_object(call, kind, type);
        g_autoptr(GError) error = NULL;
        JsonNode *merged;

        if (patch == NULL)
                return FALSE;
        if (type != PATCH_JSON) {
                merged = merge_patch(*doc, patch);
                json_node_unref(*doc);
                *doc = merged;
                return TRUE;
        }
        if (json_patch_apply(doc, patch, &error))
                return TRUE;
        /* The API server wraps what json-patch says in a generic 422 (NewGenericServerResponse). */
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
                send_status(call->msg, 400, "BadRequest", error->message, NULL);
        else
                send_status(call->msg, 422, "Invalid",
                            "the server rejected our request due to an error in our request", NULL);
        return FALSE;
}

/* The patched object: same name, same namespace, the version it was based on still current. */
static gboolean patched_ok(Resource *res, Call *call, const StoredPv *pv, JsonNode *doc)
{
        g_autoptr(JsonNode) old = NULL;

        if (!JSON_NODE_HOLDS_OBJECT(doc)) {
                send_status_about(call->msg, 422, "Invalid",
                                  "the patch may not change the object's type", res->kind,
                                  call->name);
                return FALSE;
        }
        if (!check_name(call, doc) || !check_namespace(res->kind, call, ensure_metadata(doc)))
                return FALSE;
        /* Like the API server's update, a version other than the current one is a conflict. */
        if (!rv_matches(pv, pv_resource_version(doc))) {
                send_conflict(call->msg, res->kind, call->name);
                return FALSE;
        }
        old = store_parse(pv);
        return validate_object(res->kind, call->msg, doc, old);
}

void api_patch(Resource *res, Call *call)
{
        BodyType type = patch_type(call);
        g_autofree char *key = call_key(call);
        g_autoptr(JsonNode) doc = NULL;
        StoredPv *pv;

        if (type == PATCH_UNSUPPORTED) {
                send_status(call->msg, 415, "UnsupportedMediaType", "415: Unsupported Media Type",
                            NULL);
                return;
        }
        pv = store_lookup(res->store, key);
        if (pv == NULL) {
                send_not_found(call->msg, res->kind, call->name);
                return;
        }
        doc = store_parse(pv);
        if (apply_patch(call, res->kind, type, &doc) && patched_ok(res, call, pv, doc))
                send_stored(call->msg, 200, store_update(res->store, doc));
}

static void send_precondition_failed(Call *call, const ResourceKind *kind, const StoredPv *pv,
                                     const char *rv)
{
        g_autofree char *text = g_strdup_printf(
            "Operation cannot be fulfilled on %s \"%s\": the ResourceVersion in the precondition "
            "(%s) does not match the ResourceVersion in record (%" G_GUINT64_FORMAT
            "). The object might have been modified",
            kind->kind, call->name, rv, pv->rv);
        GString *out = g_string_new("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                    "\"status\":\"Failure\",\"message\":");

        json_append_escaped(out, text);
        g_string_append(out, ",\"reason\":\"Conflict\",\"details\":{\"name\":");
        json_append_escaped(out, call->name);
        g_string_append_printf(out, ",\"kind\":\"%s\"},\"code\":409}", kind->kind);
        send_json_take(call->msg, 409, out->str, out->len);
        g_string_free(out, FALSE);
}

/* The deleted object with the deletion's resourceVersion, or for some kinds a Success Status. */
static void send_deleted(Call *call, Resource *res, const StoredPv *pv)
{
        g_autoptr(JsonNode) node = store_parse(pv);
        JsonObject *meta = json_get_object_member(json_node_get_object(node), "metadata");
        g_autofree char *rv = g_strdup_printf("%" G_GUINT64_FORMAT, store_rv(res->store));
        GString *out;

        if (!res->kind->delete_answers_status) {
                json_object_set_string_member(meta, "resourceVersion", rv);
                send_json_node(call->msg, 200, node);
                return;
        }
        out = g_string_new("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                           "\"status\":\"Success\",\"details\":{\"name\":");
        json_append_escaped(out, call->name);
        g_string_append_printf(out, ",\"kind\":\"%s\",\"uid\":", res->kind->resource);
        json_append_escaped(out, json_get_string_member(meta, "uid") ?: "");
        g_string_append(out, "}}");
        send_json_take(call->msg, 200, out->str, out->len);
        g_string_free(out, FALSE);
}

/* DeleteOptions.preconditions.resourceVersion, if the client sent one. */
static const char *delete_precondition(JsonNode *options)
{
        JsonObject *pre;

        if (options == NULL || !JSON_NODE_HOLDS_OBJECT(options))
                return NULL;
        pre = json_get_object_member(json_node_get_object(options), "preconditions");
        return json_get_string_member(pre, "resourceVersion");
}

void api_delete(Resource *res, Call *call)
{
        g_autoptr(JsonNode) options = NULL;
        g_autofree char *key = call_key(call);
        StoredPv *pv = store_lookup(res->store, key);

        if (pv == NULL) {
                send_not_found(call->msg, res->kind, call->name);
                return;
        }
        if (call->body_len > 0)
                options = json_parse_text(call->body, call->body_len, NULL);
        if (!rv_matches(pv, delete_precondition(options))) {
                send_precondition_failed(call, res->kind, pv, delete_precondition(options));
                return;
        }
        stored_pv_ref(pv);
        store_remove(res->store, key);
        send_deleted(call, res, pv);
        stored_pv_unref(pv);
}

void api_call(Resource *res, Verb verb, Call *call)
{
        switch (verb) {
        case VERB_LIST:
                api_list(res, call);
                break;
        case VERB_WATCH:
                api_watch(res, call);
                break;
        case VERB_GET:
                api_get(res, call);
                break;
        case VERB_CREATE:
                api_create(res, call);
                break;
        case VERB_UPDATE:
                api_update(res, call);
                break;
        case VERB_PATCH:
                api_patch(res, call);
                break;
        case VERB_DELETE:
        case N_VERBS:
                api_delete(res, call);
                break;
        }
}
