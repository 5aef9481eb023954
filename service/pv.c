/* SPDX-License-Identifier: MIT */
#include "pv.h"

#include <string.h>

#include "errors.h"
#include "json-scan.h"

/* json-glib recurses once per nesting level: a few hundred KiB of "[[[[" would exhaust the
 * stack of a worker thread. No PV, list or Status nests anywhere near this deep. */
#define MAX_DEPTH JSON_SCAN_MAX_DEPTH

void pv_info_clear(PvInfo *self)
{
        g_clear_pointer(&self->name, g_free);
        g_clear_pointer(&self->resource_version, g_free);
        g_clear_pointer(&self->csi_driver, g_free);
        g_clear_pointer(&self->volume_handle, g_free);
        g_clear_pointer(&self->attached_node, g_free);
        g_clear_pointer(&self->attached_at, g_free);
        g_clear_pointer(&self->claim_namespace, g_free);
        g_clear_pointer(&self->claim_name, g_free);
        g_clear_pointer(&self->claim_uid, g_free);
        g_clear_pointer(&self->uid, g_free);
}

void pv_status_clear(PvStatus *self)
{
        self->code = 0;
        g_clear_pointer(&self->reason, g_free);
        g_clear_pointer(&self->message, g_free);
}

char *pv_annotation_node_key(const char *driver)
{
        return g_strconcat(driver, "/attached-node", NULL);
}

char *pv_annotation_at_key(const char *driver)
{
        return g_strconcat(driver, "/attached-at", NULL);
}

/* Counts brackets outside strings; the parser itself rejects whatever else is wrong. */
static gboolean depth_ok(const char *data, gsize length)
{
        gboolean in_string = FALSE;
        guint depth = 0;

        for (gsize i = 0; i < length; i++) {
                char c = data[i];

                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = FALSE;
                } else if (c == '"') {
                        in_string = TRUE;
                } else if (c == '[' || c == '{') {
                        if (++depth > MAX_DEPTH)
                                return FALSE;
                } else if ((c == ']' || c == '}') && depth > 0) {
                        depth--;
                }
        }
        return TRUE;
}

static JsonParser *parse(const char *data, gsize length, GError **error)
{
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) local = NULL;
        JsonNode *root;

        if (length > G_MAXSSIZE || !g_utf8_validate_len(data, length, NULL)) {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid JSON from the API server: not UTF-8");
                return NULL;
        }
        if (!depth_ok(data, length)) {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid JSON from the API server: nested too deeply");
                return NULL;
        }
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, data, (gssize)length, &local)) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                            "invalid JSON from the API server: %s", local->message);
                return NULL;
        }
        root = json_parser_get_root(parser);
        if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid JSON from the API server: not an object");
                return NULL;
        }
        return g_steal_pointer(&parser);
}

JsonNode *pv_parse_object(const char *data, gsize length, GError **error)
{
        g_autoptr(JsonParser) parser = parse(data, length, error);

        return parser != NULL ? json_node_copy(json_parser_get_root(parser)) : NULL;
}

/* The json_object_get_*_member() accessors emit criticals on a type mismatch; input here is
 * untrusted, so every member is type-checked first. */
JsonObject *pv_json_object_member(JsonObject *object, const char *name)
{
        JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

        return node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

const char *pv_json_string_member(JsonObject *object, const char *name)
{
        JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

        if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(node);
}

static gboolean utf8_ok(const char *s)
{
        return s == NULL || g_utf8_validate(s, -1, NULL);
}

gboolean pv_decode_node(JsonNode *node, const char *driver, PvInfo *out, GError **error)
{
        g_autofree char *node_key = pv_annotation_node_key(driver);
        g_autofree char *at_key = pv_annotation_at_key(driver);
        JsonObject *pv, *metadata, *annotations, *csi, *claim;

        memset(out, 0, sizeof(*out));
        if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid PersistentVolume from the API server: not an object");
                return FALSE;
        }
        pv = json_node_get_object(node);
        metadata = pv_json_object_member(pv, "metadata");
        annotations = pv_json_object_member(metadata, "annotations");
        csi = pv_json_object_member(pv_json_object_member(pv, "spec"), "csi");
        claim = pv_json_object_member(pv_json_object_member(pv, "spec"), "claimRef");
        out->name = g_strdup(pv_json_string_member(metadata, "name"));
        out->resource_version = g_strdup(pv_json_string_member(metadata, "resourceVersion"));
        out->csi_driver = g_strdup(pv_json_string_member(csi, "driver"));
        out->volume_handle = g_strdup(pv_json_string_member(csi, "volumeHandle"));
        out->attached_node = g_strdup(pv_json_string_member(annotations, node_key));
        out->attached_at = g_strdup(pv_json_string_member(annotations, at_key));
        out->claim_namespace = g_strdup(pv_json_string_member(claim, "namespace"));
        out->claim_name = g_strdup(pv_json_string_member(claim, "name"));
        out->claim_uid = g_strdup(pv_json_string_member(claim, "uid"));
        out->uid = g_strdup(pv_json_string_member(metadata, "uid"));
        /* json-glib lets bad escapes and lone surrogates through as invalid UTF-8 (found by
         * fuzz-pv). Such a PV is malformed: its strings must never reach a D-Bus message or
         * be taken for "no node" (which would let a Track overwrite the annotation). */
        if (!utf8_ok(out->name) || !utf8_ok(out->resource_version) || !utf8_ok(out->csi_driver) ||
            !utf8_ok(out->volume_handle) || !utf8_ok(out->attached_node) ||
            !utf8_ok(out->attached_at) || !utf8_ok(out->claim_namespace) ||
            !utf8_ok(out->claim_name) || !utf8_ok(out->claim_uid) || !utf8_ok(out->uid)) {
                pv_info_clear(out);
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid PersistentVolume from the API server: a string is "
                                    "not valid UTF-8");
                return FALSE;
        }
        return TRUE;
}

gboolean pv_decode(const char *data, gsize length, const char *driver, PvInfo *out, GError **error)
{
        g_autoptr(JsonParser) parser = parse(data, length, error);

        memset(out, 0, sizeof(*out));
        if (parser == NULL)
                return FALSE;
        return pv_decode_node(json_parser_get_root(parser), driver, out, error);
}

static gboolean walk_items(JsonArray *items, const char *driver, PvListItemFunc func,
                           gpointer user_data, GError **error)
{
        guint n = json_array_get_length(items);

        for (guint i = 0; i < n; i++) {
                JsonNode *item = json_array_get_element(items, i);
                g_auto(PvInfo) pv = {0};

                if (!JSON_NODE_HOLDS_OBJECT(item))
                        continue;
                if (!pv_decode_node(item, driver, &pv, error) || !func(&pv, user_data, error))
                        return FALSE;
        }
        return TRUE;
}

static char *nonempty_dup(const char *s)
{
        return s != NULL && *s != '\0' ? g_strdup(s) : NULL;
}

gboolean pv_list_decode_reference(const char *data, gsize length, const char *driver,
                                  PvListItemFunc func, gpointer user_data, char **continue_token,
                                  char **resource_version, GError **error)
{
        g_autoptr(JsonParser) parser = parse(data, length, error);
        JsonObject *list, *metadata;
        JsonNode *items;

        if (parser == NULL)
                return FALSE;
        list = json_node_get_object(json_parser_get_root(parser));
        metadata = pv_json_object_member(list, "metadata");
        items = json_object_get_member(list, "items");
        /* An empty list may come with "items": null or without the member. */
        if (items != NULL && !JSON_NODE_HOLDS_NULL(items) && !JSON_NODE_HOLDS_ARRAY(items)) {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid PersistentVolumeList from the API server: "
                                    "items is not an array");
                return FALSE;
        }
        if (items != NULL && JSON_NODE_HOLDS_ARRAY(items) &&
            !walk_items(json_node_get_array(items), driver, func, user_data, error))
                return FALSE;
        if (continue_token != NULL)
                *continue_token = nonempty_dup(pv_json_string_member(metadata, "continue"));
        if (resource_version != NULL)
                *resource_version =
                    nonempty_dup(pv_json_string_member(metadata, "resourceVersion"));
        return TRUE;
}

/* pv_list_decode walks the page with json-scan.c instead of building a json-glib tree: a page
 * is ~1 MB of which six strings per item are needed, and building then freeing the tree was
 * most of a rebuild. The walk only records where the wanted strings are; the items are handed
 * out after the whole page has been validated, so a malformed page reaches no callback, as
 * with json-glib. A later duplicate member replaces an earlier one, as in json-glib. */
#include "pv-scan.h"

/* A member holding fields [first, last] starts them afresh: the last duplicate wins whole. */
void pv_scan_forget(ListWalk *walk, guint first, guint last)
{
        memset(&walk->item.field[first], 0, (last - first + 1) * sizeof(JsonSpan));
}

static gboolean annotations_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (json_span_equal(key, walk->node_key, walk->node_key_length))
                return json_scan_string_member(s, &walk->item.field[F_NODE], error);
        if (json_span_equal(key, walk->at_key, walk->at_key_length))
                return json_scan_string_member(s, &walk->item.field[F_AT], error);
        return json_scan_skip(s, error);
}

static gboolean metadata_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (KEY_IS(key, "name"))
                return json_scan_string_member(s, &walk->item.field[F_NAME], error);
        if (KEY_IS(key, "resourceVersion"))
                return json_scan_string_member(s, &walk->item.field[F_RV], error);
        if (KEY_IS(key, "uid"))
                return json_scan_string_member(s, &walk->item.field[F_UID], error);
        if (!KEY_IS(key, "annotations"))
                return json_scan_skip(s, error);
        pv_scan_forget(walk, F_NODE, F_AT);
        return json_scan_object_member(s, annotations_member, walk, error);
}

static gboolean csi_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (KEY_IS(key, "driver"))
                return json_scan_string_member(s, &walk->item.field[F_DRIVER], error);
        if (KEY_IS(key, "volumeHandle"))
                return json_scan_string_member(s, &walk->item.field[F_HANDLE], error);
        return json_scan_skip(s, error);
}

static gboolean claim_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (KEY_IS(key, "namespace"))
                return json_scan_string_member(s, &walk->item.field[F_CLAIM_NS], error);
        if (KEY_IS(key, "name"))
                return json_scan_string_member(s, &walk->item.field[F_CLAIM_NAME], error);
        if (KEY_IS(key, "uid"))
                return json_scan_string_member(s, &walk->item.field[F_CLAIM_UID], error);
        return json_scan_skip(s, error);
}

static gboolean spec_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        if (KEY_IS(key, "claimRef")) {
                pv_scan_forget(data, F_CLAIM_NS, F_CLAIM_UID);
                return json_scan_object_member(s, claim_member, data, error);
        }
        if (!KEY_IS(key, "csi"))
                return json_scan_skip(s, error);
        pv_scan_forget(data, F_DRIVER, F_HANDLE);
        return json_scan_object_member(s, csi_member, data, error);
}

gboolean pv_scan_item_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        if (KEY_IS(key, "metadata")) {
                pv_scan_forget(data, F_NAME, F_AT);
                return json_scan_object_member(s, metadata_member, data, error);
        }
        if (KEY_IS(key, "spec")) {
                pv_scan_forget(data, F_DRIVER, F_CLAIM_UID);
                return json_scan_object_member(s, spec_member, data, error);
        }
        return json_scan_skip(s, error);
}

/* Items that are not objects are skipped, as walk_items() does. */
static gboolean item_element(JsonScan *s, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (json_scan_peek(s) != '{')
                return json_scan_skip(s, error);
        pv_scan_forget(walk, 0, N_FIELDS - 1);
        if (!json_scan_object(s, pv_scan_item_member, walk, error))
                return FALSE;
        g_array_append_val(walk->items, walk->item);
        return TRUE;
}

static gboolean list_metadata_member(JsonScan *s, const JsonSpan *key, gpointer data,
                                     GError **error)
{
        ListWalk *walk = data;

        if (KEY_IS(key, "continue"))
                return json_scan_string_member(s, &walk->continue_token, error);
        if (KEY_IS(key, "resourceVersion"))
                return json_scan_string_member(s, &walk->resource_version, error);
        return json_scan_skip(s, error);
}

static gboolean list_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;
        char c;

        if (KEY_IS(key, "metadata")) {
                memset(&walk->continue_token, 0, sizeof(JsonSpan));
                memset(&walk->resource_version, 0, sizeof(JsonSpan));
                return json_scan_object_member(s, list_metadata_member, walk, error);
        }
        if (!KEY_IS(key, "items"))
                return json_scan_skip(s, error);
        g_array_set_size(walk->items, 0);
        c = json_scan_peek(s);
        if (c == '[') {
                walk->items_kind = ITEMS_ARRAY;
                return json_scan_array(s, item_element, walk, error);
        }
        walk->items_kind = c == 'n' ? ITEMS_NULL : ITEMS_OTHER;
        return json_scan_skip(s, error);
}

static gboolean scan_list(const char *data, gsize length, ListWalk *walk, GError **error)
{
        JsonScan s;

        json_scan_init(&s, data, length);
        if (json_scan_peek(&s) != '{') {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid JSON from the API server: not an object");
                return FALSE;
        }
        if (!json_scan_object(&s, list_member, walk, error) || !json_scan_finish(&s, error))
                return FALSE;
        if (walk->items_kind == ITEMS_OTHER) {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid PersistentVolumeList from the API server: "
                                    "items is not an array");
                return FALSE;
        }
        return TRUE;
}

/* The item's strings, decoded into `buf` (reused): `out` points into it. */
void pv_scan_item_info(const JsonSpan field[N_FIELDS], GString *buf, PvInfo *out)
{
        char *value[N_FIELDS];
        gssize offset[N_FIELDS];

        g_string_truncate(buf, 0);
        for (guint f = 0; f < N_FIELDS; f++) {
                offset[f] = field[f].start != NULL ? (gssize)buf->len : -1;
                if (field[f].start != NULL)
                        json_span_append(&field[f], buf);
        }
        for (guint f = 0; f < N_FIELDS; f++)
                value[f] = offset[f] >= 0 ? buf->str + offset[f] : NULL;
        *out = (PvInfo){.name = value[F_NAME],
                        .resource_version = value[F_RV],
                        .csi_driver = value[F_DRIVER],
                        .volume_handle = value[F_HANDLE],
                        .attached_node = value[F_NODE],
                        .attached_at = value[F_AT],
                        .claim_namespace = value[F_CLAIM_NS],
                        .claim_name = value[F_CLAIM_NAME],
                        .claim_uid = value[F_CLAIM_UID],
                        .uid = value[F_UID]};
}

/* Every item's strings go into one reused buffer: no allocation per item. */
static gboolean call_items(const ListWalk *walk, PvListItemFunc func, gpointer user_data,
                           GError **error)
{
        g_autoptr(GString) buf = g_string_sized_new(512);

        for (guint i = 0; i < walk->items->len; i++) {
                const JsonSpan *field = g_array_index(walk->items, ItemSpans, i).field;

                PvInfo pv;

                pv_scan_item_info(field, buf, &pv);
                if (!func(&pv, user_data, error))
                        return FALSE;
        }
        return TRUE;
}

static char *span_dup_nonempty(const JsonSpan *span)
{
        g_autoptr(GString) buf = NULL;

        if (span->start == NULL)
                return NULL;
        buf = g_string_new(NULL);
        json_span_append(span, buf);
        return buf->str[0] != '\0' ? g_strdup(buf->str) : NULL;
}

gboolean pv_list_decode(const char *data, gsize length, const char *driver, PvListItemFunc func,
                        gpointer user_data, char **continue_token, char **resource_version,
                        GError **error)
{
        g_autofree char *node_key = pv_annotation_node_key(driver);
        g_autofree char *at_key = pv_annotation_at_key(driver);
        g_autoptr(GArray) items = g_array_sized_new(FALSE, FALSE, sizeof(ItemSpans), 512);
        ListWalk walk = {
            .node_key = node_key,
            .at_key = at_key,
            .node_key_length = strlen(node_key),
            .at_key_length = strlen(at_key),
            .items = items,
        };

        if (!scan_list(data, length, &walk, error) || !call_items(&walk, func, user_data, error))
                return FALSE;
        if (continue_token != NULL)
                *continue_token = span_dup_nonempty(&walk.continue_token);
        if (resource_version != NULL)
                *resource_version = span_dup_nonempty(&walk.resource_version);
        return TRUE;
}

static guint status_code(JsonObject *status)
{
        JsonNode *node = json_object_get_member(status, "code");
        gint64 code;

        if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_INT64)
                return 0;
        code = json_node_get_int(node);
        return code > 0 && code < 1000 ? (guint)code : 0;
}

/* The Status text ends up in D-Bus error messages and logs: repaired to UTF-8 (json-glib
 * lets bad escapes through as invalid bytes). */
static char *valid_dup(const char *s)
{
        return s != NULL ? g_utf8_make_valid(s, -1) : NULL;
}

gboolean pv_status_decode(const char *data, gsize length, PvStatus *out)
{
        g_autoptr(JsonParser) parser = parse(data, length, NULL);
        JsonObject *status;
        const char *kind;

        memset(out, 0, sizeof(*out));
        if (parser == NULL)
                return FALSE;
        status = json_node_get_object(json_parser_get_root(parser));
        kind = pv_json_string_member(status, "kind");
        out->code = status_code(status);
        out->reason = valid_dup(pv_json_string_member(status, "reason"));
        out->message = valid_dup(pv_json_string_member(status, "message"));
        if (g_strcmp0(kind, "Status") == 0 || out->code != 0 || out->reason != NULL ||
            out->message != NULL)
                return TRUE;
        return FALSE;
}

static void add_string_or_null(JsonBuilder *builder, const char *value)
{
        if (value != NULL)
                json_builder_add_string_value(builder, value);
        else
                json_builder_add_null_value(builder);
}

static char *build_patch(const char *driver, const char *resource_version, const char *node,
                         const char *at)
{
        g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
        g_autofree char *node_key = pv_annotation_node_key(driver);
        g_autofree char *at_key = pv_annotation_at_key(driver);
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "metadata");
        json_builder_begin_object(builder);
        if (resource_version != NULL) {
                json_builder_set_member_name(builder, "resourceVersion");
                json_builder_add_string_value(builder, resource_version);
        }
        json_builder_set_member_name(builder, "annotations");
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, node_key);
        add_string_or_null(builder, node);
        json_builder_set_member_name(builder, at_key);
        add_string_or_null(builder, at);
        json_builder_end_object(builder);
        json_builder_end_object(builder);
        json_builder_end_object(builder);
        root = json_builder_get_root(builder);
        return json_to_string(root, FALSE);
}

char *pv_patch_put(const char *driver, const char *resource_version, const char *node,
                   gint64 attached_at_usec)
{
        g_autofree char *at = pv_time_format(attached_at_usec);

        /* A time the format cannot hold is a caller bug; record it as the epoch rather than
         * writing an annotation the Go driver could not read. */
        if (at == NULL)
                at = pv_time_format(0);
        return build_patch(driver, resource_version, node, at);
}

char *pv_patch_remove(const char *driver, const char *resource_version)
{
        return build_patch(driver, resource_version, NULL, NULL);
}
