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
        soup_server_message_set_status(msg, code, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, pv->json,
                                         pv->len);
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
static JsonNode *read_object(SoupServerMessage *msg, const ResourceKind *kind, BodyType type)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *text = NULL;

        node = json_parse_text(body->data, (gsize)body->length, &error);
        if (node == NULL) {
                send_bad_body(msg, kind, type, parse_error_text(error));
                return NULL;
        }
        if (type == PATCH_JSON && !JSON_NODE_HOLDS_ARRAY(node)) {
                text = g_strdup_printf("json: cannot unmarshal %s into Go value of type "
                                       "[]handlers.jsonPatchOp",
                                       json_type_word(node));
                send_bad_body(msg, kind, type, text);
                return NULL;
        }
        if (type != PATCH_JSON && !JSON_NODE_HOLDS_OBJECT(node)) {
                send_bad_body(msg, kind, type, "the request body must be a JSON object");
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

void api_get(Resource *res, SoupServerMessage *msg, const char *name, GHashTable *query)
{
        StoredPv *pv = store_lookup(res->store, name);
        g_autoptr(GPtrArray) one = NULL;
        const char *include;

        if (pv == NULL) {
                send_not_found(msg, res->kind, name);
                return;
        }
        if (!wants_table(msg)) {
                send_stored(msg, 200, pv);
                return;
        }
        one = g_ptr_array_new();
        g_ptr_array_add(one, pv);
        include = query != NULL ? g_hash_table_lookup(query, "includeObject") : NULL;
        send_table(msg, res->kind, one, NULL, g_strcmp0(include, "Object") == 0);
}

void api_create(Resource *res, SoupServerMessage *msg)
{
        g_autoptr(JsonNode) obj = read_object(msg, res->kind, BODY_OBJECT);
        g_autofree char *text = NULL;
        JsonObject *meta;
        const char *name;

        if (obj == NULL)
                return;
        meta = ensure_metadata(obj);
        name = json_get_string_member(meta, "name");
        if (!validate_name(msg, res->kind, name))
                return;
        if (store_lookup(res->store, name) != NULL) {
                text = g_strdup_printf("%s \"%s\" already exists", res->kind->resource, name);
                send_status_about(msg, 409, "AlreadyExists", text, res->kind, name);
                return;
        }
        /* The server, not the client, owns identity and versioning. */
        remove_member(meta, "resourceVersion");
        remove_member(meta, "uid");
        remove_member(meta, "creationTimestamp");
        send_stored(msg, 201, store_write(res->store, obj));
}

static gboolean check_name(SoupServerMessage *msg, JsonNode *obj, const char *name)
{
        const char *body_name = pv_name(obj);
        g_autofree char *text = NULL;

        if (body_name == NULL) {
                json_object_set_string_member(ensure_metadata(obj), "name", name);
                return TRUE;
        }
        if (strcmp(body_name, name) == 0)
                return TRUE;
        text = g_strdup_printf("the name of the object (%s) does not match the name on the URL "
                               "(%s)",
                               body_name, name);
        send_status(msg, 400, "BadRequest", text, NULL);
        return FALSE;
}

/* The kind's checks of @obj replacing @pv; answers 422 itself. */
static gboolean validate_update(Resource *res, SoupServerMessage *msg, const StoredPv *pv,
                                JsonNode *obj)
{
        g_autoptr(JsonNode) old = NULL;

        if (res->kind->validate_update == NULL)
                return TRUE;
        old = store_parse(pv);
        return res->kind->validate_update(msg, res->kind, old, obj);
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

void api_update(Resource *res, SoupServerMessage *msg, const char *name)
{
        g_autoptr(JsonNode) obj = read_object(msg, res->kind, BODY_OBJECT);
        StoredPv *pv;

        if (obj == NULL || !check_name(msg, obj, name))
                return;
        pv = store_lookup(res->store, name);
        if (pv == NULL) {
                send_not_found(msg, res->kind, name);
                return;
        }
        if (!rv_matches(pv, pv_resource_version(obj))) {
                send_conflict(msg, res->kind, name);
                return;
        }
        if (validate_update(res, msg, pv, obj))
                send_stored(msg, 200, store_update(res->store, obj));
}

static BodyType patch_type(SoupServerMessage *msg)
{
        const char *type = soup_message_headers_get_content_type(
            soup_server_message_get_request_headers(msg), NULL);

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
static gboolean apply_patch(SoupServerMessage *msg, const ResourceKind *kind, BodyType type,
                            JsonNode **doc)
{
        g_autoptr(JsonNode) patch = read_object(msg, kind, type);
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
                send_status(msg, 400, "BadRequest", error->message, NULL);
        else
                send_status(msg, 422, "Invalid",
                            "the server rejected our request due to an error in our request", NULL);
        return FALSE;
}

void api_patch(Resource *res, SoupServerMessage *msg, const char *name)
{
        BodyType type = patch_type(msg);
        g_autoptr(JsonNode) doc = NULL;
        StoredPv *pv;

        if (type == PATCH_UNSUPPORTED) {
                send_status(msg, 415, "UnsupportedMediaType", "415: Unsupported Media Type", NULL);
                return;
        }
        pv = store_lookup(res->store, name);
        if (pv == NULL) {
                send_not_found(msg, res->kind, name);
                return;
        }
        doc = store_parse(pv);
        if (!apply_patch(msg, res->kind, type, &doc))
                return;
        if (!JSON_NODE_HOLDS_OBJECT(doc)) {
                send_status_about(msg, 422, "Invalid", "the patch may not change the object's type",
                                  res->kind, name);
                return;
        }
        if (!check_name(msg, doc, name))
                return;
        /* The patched object carries the version it was based on; like the API server's
         * update, a version other than the current one is a conflict. */
        if (!rv_matches(pv, pv_resource_version(doc))) {
                send_conflict(msg, res->kind, name);
                return;
        }
        if (validate_update(res, msg, pv, doc))
                send_stored(msg, 200, store_update(res->store, doc));
}

static void send_precondition_failed(SoupServerMessage *msg, const ResourceKind *kind,
                                     const StoredPv *pv, const char *rv)
{
        g_autofree char *text = g_strdup_printf(
            "Operation cannot be fulfilled on %s \"%s\": the ResourceVersion in the precondition "
            "(%s) does not match the ResourceVersion in record (%" G_GUINT64_FORMAT
            "). The object might have been modified",
            kind->kind, pv->name, rv, pv->rv);
        GString *out = g_string_new("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                    "\"status\":\"Failure\",\"message\":");

        json_append_escaped(out, text);
        g_string_append(out, ",\"reason\":\"Conflict\",\"details\":{\"name\":");
        json_append_escaped(out, pv->name);
        g_string_append_printf(out, ",\"kind\":\"%s\"},\"code\":409}", kind->kind);
        send_json_take(msg, 409, out->str, out->len);
        g_string_free(out, FALSE);
}

/* The deleted object with the deletion's resourceVersion, or for some kinds a Success Status. */
static void send_deleted(SoupServerMessage *msg, Resource *res, const StoredPv *pv)
{
        g_autoptr(JsonNode) node = store_parse(pv);
        JsonObject *meta = json_get_object_member(json_node_get_object(node), "metadata");
        g_autofree char *rv = g_strdup_printf("%" G_GUINT64_FORMAT, store_rv(res->store));
        GString *out;

        if (!res->kind->delete_answers_status) {
                json_object_set_string_member(meta, "resourceVersion", rv);
                send_json_node(msg, 200, node);
                return;
        }
        out = g_string_new("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                           "\"status\":\"Success\",\"details\":{\"name\":");
        json_append_escaped(out, pv->name);
        g_string_append_printf(out, ",\"kind\":\"%s\",\"uid\":", res->kind->resource);
        json_append_escaped(out, json_get_string_member(meta, "uid") ?: "");
        g_string_append(out, "}}");
        send_json_take(msg, 200, out->str, out->len);
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

void api_delete(Resource *res, SoupServerMessage *msg, const char *name)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(JsonNode) options = NULL;
        StoredPv *pv = store_lookup(res->store, name);

        if (pv == NULL) {
                send_not_found(msg, res->kind, name);
                return;
        }
        if (body->length > 0)
                options = json_parse_text(body->data, (gsize)body->length, NULL);
        if (!rv_matches(pv, delete_precondition(options))) {
                send_precondition_failed(msg, res->kind, pv, delete_precondition(options));
                return;
        }
        stored_pv_ref(pv);
        store_remove(res->store, name);
        send_deleted(msg, res, pv);
        stored_pv_unref(pv);
}
