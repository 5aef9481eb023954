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

/* The request body as a JSON object; answers 400 itself when it is not one. */
static JsonNode *read_object(Call *call, gboolean any_type)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *text = NULL;

        node = json_parse_text(call->body, call->body_len, &error);
        if (node == NULL) {
                text = g_strdup_printf("error decoding request body: %s", error->message);
                send_status(call->msg, 400, "BadRequest", text, NULL);
                return NULL;
        }
        if (!any_type && !JSON_NODE_HOLDS_OBJECT(node)) {
                send_status(call->msg, 400, "BadRequest", "the request body must be a JSON object",
                            NULL);
                return NULL;
        }
        return g_steal_pointer(&node);
}

void field_error_required(GPtrArray *errors, const char *field)
{
        FieldError *e = g_new0(FieldError, 1);

        e->field = field;
        e->type = "FieldValueRequired";
        e->detail = g_strdup("Required value");
        g_ptr_array_add(errors, e);
}

void field_error_invalid(GPtrArray *errors, const char *field, const char *value,
                         const char *detail)
{
        FieldError *e = g_new0(FieldError, 1);
        g_autoptr(GString) quoted = g_string_new(NULL);

        json_append_escaped(quoted, value);
        e->field = field;
        e->type = "FieldValueInvalid";
        e->detail = g_strdup_printf("Invalid value: %s: %s", quoted->str, detail);
        g_ptr_array_add(errors, e);
}

static void field_error_free(FieldError *e)
{
        g_free(e->detail);
        g_free(e);
}

/* errors.NewInvalid: 'Kind "name" is invalid: field: detail' ("[a, b]" for several), the
 * causes in details, whose kind is the Kind, not the resource. */
static void send_invalid(SoupServerMessage *msg, const ResourceKind *kind, const char *name,
                         GPtrArray *errors)
{
        GString *text = g_string_new(NULL);
        GString *out = g_string_new("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                    "\"status\":\"Failure\",\"message\":");

        g_string_printf(text, "%s \"%s\" is invalid: %s", kind->kind, name,
                        errors->len > 1 ? "[" : "");
        for (guint i = 0; i < errors->len; i++) {
                const FieldError *e = errors->pdata[i];

                g_string_append_printf(text, "%s%s: %s", i > 0 ? ", " : "", e->field, e->detail);
        }
        g_string_append(text, errors->len > 1 ? "]" : "");
        json_append_escaped(out, text->str);
        g_string_append(out, ",\"reason\":\"Invalid\",\"details\":{");
        if (*name != '\0') {
                g_string_append(out, "\"name\":");
                json_append_escaped(out, name);
                g_string_append_c(out, ',');
        }
        g_string_append_printf(out, "\"kind\":\"%s\",\"causes\":[", kind->kind);
        for (guint i = 0; i < errors->len; i++) {
                const FieldError *e = errors->pdata[i];

                g_string_append_printf(out, "%s{\"reason\":\"%s\",\"message\":", i > 0 ? "," : "",
                                       e->type);
                json_append_escaped(out, e->detail);
                g_string_append(out, ",\"field\":");
                json_append_escaped(out, e->field);
                g_string_append_c(out, '}');
        }
        g_string_append(out, "]},\"code\":422}");
        g_string_free(text, TRUE);
        send_json_take(msg, 422, out->str, out->len);
        g_string_free(out, FALSE);
}

/* The kind's validation of an object to be stored; answers 422 itself. */
static gboolean valid(const ResourceKind *kind, Call *call, JsonNode *obj)
{
        g_autoptr(GPtrArray) errors =
            g_ptr_array_new_with_free_func((GDestroyNotify)field_error_free);
        g_autofree char *text = NULL;
        const char *name = pv_name(obj);

        if (kind->validate != NULL)
                kind->validate(json_node_get_object(obj), errors);
        /* Then the common ObjectMeta checks, as BeforeCreate runs them after the strategy's. */
        if (name == NULL || *name == '\0')
                field_error_required(errors, "metadata.name");
        else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '%') != NULL)
                field_error_invalid(errors, "metadata.name", name,
                                    "may not be '.' or '..' and may not contain '/' or '%'");
        if (errors->len == 0)
                return TRUE;
        if (errors->len == 1 && (name == NULL || *name == '\0')) {
                /* The message the API server has for this one. */
                g_free(((FieldError *)errors->pdata[0])->detail);
                ((FieldError *)errors->pdata[0])->detail =
                    g_strdup("Required value: name or generateName is required");
        }
        send_invalid(call->msg, kind, name != NULL ? name : "", errors);
        return FALSE;
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
        g_autoptr(JsonNode) obj = read_object(call, FALSE);
        JsonObject *meta;

        if (obj == NULL)
                return;
        meta = ensure_metadata(obj);
        if (!check_namespace(res->kind, call, meta))
                return;
        generate_name(meta);
        if (valid(res->kind, call, obj))
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
        g_autoptr(JsonNode) obj = read_object(call, FALSE);
        g_autofree char *key = call_key(call);
        StoredPv *pv;

        if (obj == NULL || !check_name(call, obj) ||
            !check_namespace(res->kind, call, ensure_metadata(obj)))
                return;
        pv = store_lookup(res->store, key);
        if (pv == NULL && res->kind->create_on_update) {
                if (valid(res->kind, call, obj))
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
        if (valid(res->kind, call, obj))
                send_stored(call->msg, 200, store_write(res->store, obj));
}

typedef enum {
        PATCH_MERGE,
        PATCH_JSON,
        PATCH_UNSUPPORTED,
} PatchType;

static PatchType patch_type(Call *call)
{
        const char *type = call->content_type;

        if (type == NULL)
                return PATCH_UNSUPPORTED;
        /* A strategic merge patch of metadata is a merge patch. */
        if (g_ascii_strcasecmp(type, "application/merge-patch+json") == 0 ||
            g_ascii_strcasecmp(type, "application/strategic-merge-patch+json") == 0)
                return PATCH_MERGE;
        if (g_ascii_strcasecmp(type, "application/json-patch+json") == 0)
                return PATCH_JSON;
        return PATCH_UNSUPPORTED;
}

/* Applies the request's patch to @doc; answers the error itself and returns FALSE. */
static gboolean apply_patch(Call *call, PatchType type, JsonNode **doc)
{
        g_autoptr(JsonNode) patch = read_object(call, type == PATCH_JSON);
        g_autoptr(GError) error = NULL;
        JsonNode *merged;

        if (patch == NULL)
                return FALSE;
        if (type == PATCH_MERGE) {
                merged = merge_patch(*doc, patch);
                json_node_unref(*doc);
                *doc = merged;
                return TRUE;
        }
        if (json_patch_apply(doc, patch, &error))
                return TRUE;
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
                send_status(call->msg, 400, "BadRequest", error->message, NULL);
        else
                send_status(call->msg, 422, "Invalid", error->message, NULL);
        return FALSE;
}

/* The patched object: same name, same namespace, the version it was based on still current. */
static gboolean patched_ok(Resource *res, Call *call, const StoredPv *pv, JsonNode *doc)
{
        if (!JSON_NODE_HOLDS_OBJECT(doc) || g_strcmp0(pv_name(doc), call->name) != 0) {
                send_status_about(call->msg, 422, "Invalid",
                                  "the patch may not change metadata.name or the object's type",
                                  res->kind, call->name);
                return FALSE;
        }
        if (!check_namespace(res->kind, call, ensure_metadata(doc)))
                return FALSE;
        /* Like the API server's update, a version other than the current one is a conflict. */
        if (!rv_matches(pv, pv_resource_version(doc))) {
                send_conflict(call->msg, res->kind, call->name);
                return FALSE;
        }
        return valid(res->kind, call, doc);
}

void api_patch(Resource *res, Call *call)
{
        PatchType type = patch_type(call);
        g_autofree char *key = call_key(call);
        g_autoptr(JsonNode) doc = NULL;
        StoredPv *pv;

        if (type == PATCH_UNSUPPORTED) {
                send_status(call->msg, 415, "UnsupportedMediaType",
                            "the body of the request was in an unknown format - accepted media "
                            "types include: application/json-patch+json, "
                            "application/merge-patch+json, application/apply-patch+yaml",
                            NULL);
                return;
        }
        pv = store_lookup(res->store, key);
        if (pv == NULL) {
                send_not_found(call->msg, res->kind, call->name);
                return;
        }
        doc = store_parse(pv);
        if (apply_patch(call, type, &doc) && patched_ok(res, call, pv, doc))
                send_stored(call->msg, 200, store_write(res->store, doc));
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
                send_conflict(call->msg, res->kind, call->name);
                return;
        }
        send_stored(call->msg, 200, pv);
        store_remove(res->store, key);
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
