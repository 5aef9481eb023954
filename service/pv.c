/* SPDX-License-Identifier: MIT */
#include "pv.h"

#include <string.h>

#include "common/names.h"
#include "errors.h"
#include "json-scan.h"
#include "pv-scan.h"

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
        g_clear_pointer(&self->attach_mode, g_free);
        g_clear_pointer(&self->target_node, g_free);
        g_clear_pointer(&self->target_at, g_free);
        g_clear_pointer(&self->volume_mode, g_free);
        self->read_write_many = FALSE;
        g_clear_pointer(&self->claim_namespace, g_free);
        g_clear_pointer(&self->claim_name, g_free);
        g_clear_pointer(&self->claim_uid, g_free);
        g_clear_pointer(&self->uid, g_free);
}

gboolean pv_info_shareable(const PvInfo *pv)
{
        return pv->read_write_many && g_strcmp0(pv->volume_mode, "Block") == 0;
}

void pv_status_clear(PvStatus *self)
{
        self->code = 0;
        g_clear_pointer(&self->reason, g_free);
        g_clear_pointer(&self->message, g_free);
}

char *pv_annotation_node_key(const char *driver)
{
        return g_strconcat(driver, ANNOTATION_SUFFIX_NODE, NULL);
}

char *pv_annotation_at_key(const char *driver)
{
        return g_strconcat(driver, ANNOTATION_SUFFIX_AT, NULL);
}

/* In the order F_NODE..F_TARGET_AT of pv-scan.h. */
static const char *const annotation_suffixes[] = {
    ANNOTATION_SUFFIX_NODE,   ANNOTATION_SUFFIX_AT,        ANNOTATION_SUFFIX_MODE,
    ANNOTATION_SUFFIX_TARGET, ANNOTATION_SUFFIX_TARGET_AT,
};

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

/* Non-string elements are ignored, as the scanner ignores them. */
static gboolean lists_read_write_many(JsonObject *spec)
{
        JsonNode *node = spec != NULL ? json_object_get_member(spec, "accessModes") : NULL;
        JsonArray *modes;

        if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
                return FALSE;
        modes = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(modes); i++) {
                JsonNode *mode = json_array_get_element(modes, i);

                if (JSON_NODE_HOLDS_VALUE(mode) &&
                    json_node_get_value_type(mode) == G_TYPE_STRING &&
                    g_strcmp0(json_node_get_string(mode), "ReadWriteMany") == 0)
                        return TRUE;
        }
        return FALSE;
}

void pv_info_strings(const PvInfo *pv, const char *out[PV_INFO_N_STRINGS])
{
        const char *const strings[] = {
            pv->name,
            pv->resource_version,
            pv->csi_driver,
            pv->volume_handle,
            pv->attached_node,
            pv->attached_at,
            pv->claim_namespace,
            pv->claim_name,
            pv->claim_uid,
            pv->uid,
            pv->attach_mode,
            pv->target_node,
            pv->target_at,
            pv->volume_mode,
        };
        G_STATIC_ASSERT(G_N_ELEMENTS(strings) == PV_INFO_N_STRINGS);

        memcpy(out, strings, sizeof(strings));
}

static gboolean info_utf8_ok(const PvInfo *pv)
{
        const char *strings[PV_INFO_N_STRINGS];

        pv_info_strings(pv, strings);
        for (gsize i = 0; i < PV_INFO_N_STRINGS; i++) {
                if (!utf8_ok(strings[i]))
                        return FALSE;
        }
        return TRUE;
}

gboolean pv_decode_node(JsonNode *node, const char *driver, PvInfo *out, GError **error)
{
        g_auto(PvKeys) keys = {0};
        JsonObject *pv, *metadata, *annotations, *spec, *csi, *claim;

        memset(out, 0, sizeof(*out));
        if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid PersistentVolume from the API server: not an object");
                return FALSE;
        }
        pv = json_node_get_object(node);
        metadata = pv_json_object_member(pv, "metadata");
        annotations = pv_json_object_member(metadata, "annotations");
        spec = pv_json_object_member(pv, "spec");
        csi = pv_json_object_member(spec, "csi");
        claim = pv_json_object_member(spec, "claimRef");
        pv_keys_init(&keys, driver);
        out->name = g_strdup(pv_json_string_member(metadata, "name"));
        out->resource_version = g_strdup(pv_json_string_member(metadata, "resourceVersion"));
        out->csi_driver = g_strdup(pv_json_string_member(csi, "driver"));
        out->volume_handle = g_strdup(pv_json_string_member(csi, "volumeHandle"));
        out->attached_node =
            g_strdup(pv_json_string_member(annotations, keys.key[F_NODE - F_NODE]));
        out->attached_at = g_strdup(pv_json_string_member(annotations, keys.key[F_AT - F_NODE]));
        out->attach_mode = g_strdup(pv_json_string_member(annotations, keys.key[F_MODE - F_NODE]));
        out->target_node =
            g_strdup(pv_json_string_member(annotations, keys.key[F_TARGET - F_NODE]));
        out->target_at =
            g_strdup(pv_json_string_member(annotations, keys.key[F_TARGET_AT - F_NODE]));
        out->volume_mode = g_strdup(pv_json_string_member(spec, "volumeMode"));
        out->read_write_many = lists_read_write_many(spec);
        out->claim_namespace = g_strdup(pv_json_string_member(claim, "namespace"));
        out->claim_name = g_strdup(pv_json_string_member(claim, "name"));
        out->claim_uid = g_strdup(pv_json_string_member(claim, "uid"));
        out->uid = g_strdup(pv_json_string_member(metadata, "uid"));
        /* json-glib lets bad escapes and lone surrogates through as invalid UTF-8 (found by
         * fuzz-pv). Such a PV is malformed: its strings must never reach a D-Bus message or
         * be taken for "no node" (which would let a Track overwrite the annotation). */
        if (!info_utf8_ok(out)) {
                pv_info_clear(out);
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid PersistentVolume from the API server: a string is "
                                    "not valid UTF-8");
                return FALSE;
        }
        return TRUE;
}

/* pv_list_decode walks the page with json-scan.c instead of building a json-glib tree: a page
 * is ~1 MB of which six strings per item are needed, and building then freeing the tree was
 * most of a rebuild. The walk only records where the wanted strings are; the items are handed
 * out after the whole page has been validated, so a malformed page reaches no callback, as
 * with json-glib. A later duplicate member replaces an earlier one, as in json-glib. */
/* A member holding fields [first, last] starts them afresh: the last duplicate wins whole. */
void pv_scan_forget(ListWalk *walk, guint first, guint last)
{
        memset(&walk->item.field[first], 0, (last - first + 1) * sizeof(JsonSpan));
}

void pv_scan_forget_item(ListWalk *walk)
{
        memset(&walk->item, 0, sizeof(walk->item));
}

void pv_keys_init(PvKeys *keys, const char *driver)
{
        G_STATIC_ASSERT(G_N_ELEMENTS(annotation_suffixes) == N_ANNOTATION_KEYS);
        for (guint i = 0; i < N_ANNOTATION_KEYS; i++) {
                keys->key[i] = g_strconcat(driver, annotation_suffixes[i], NULL);
                keys->length[i] = strlen(keys->key[i]);
        }
}

void pv_keys_clear(PvKeys *keys)
{
        for (guint i = 0; i < N_ANNOTATION_KEYS; i++)
                g_clear_pointer(&keys->key[i], g_free);
}

static gboolean annotations_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;

        for (guint i = 0; i < N_ANNOTATION_KEYS; i++) {
                if (json_span_equal(key, walk->keys->key[i], walk->keys->length[i]))
                        return json_scan_string_member(s, &walk->item.field[F_NODE + i], error);
        }
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
        pv_scan_forget(walk, F_NODE, F_TARGET_AT);
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

static gboolean access_mode_element(JsonScan *s, gpointer data, GError **error)
{
        ListWalk *walk = data;
        JsonSpan mode = {0};

        if (json_scan_peek(s) != '"')
                return json_scan_skip(s, error);
        if (!json_scan_string(s, &mode, error))
                return FALSE;
        if (KEY_IS(&mode, "ReadWriteMany"))
                walk->item.read_write_many = TRUE;
        return TRUE;
}

static gboolean spec_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (KEY_IS(key, "volumeMode"))
                return json_scan_string_member(s, &walk->item.field[F_VOLUME_MODE], error);
        if (KEY_IS(key, "claimRef")) {
                pv_scan_forget(walk, F_CLAIM_NS, F_CLAIM_UID);
                return json_scan_object_member(s, claim_member, walk, error);
        }
        if (KEY_IS(key, "accessModes")) {
                walk->item.read_write_many = FALSE;
                if (json_scan_peek(s) != '[')
                        return json_scan_skip(s, error);
                return json_scan_array(s, access_mode_element, walk, error);
        }
        if (!KEY_IS(key, "csi"))
                return json_scan_skip(s, error);
        pv_scan_forget(walk, F_DRIVER, F_HANDLE);
        return json_scan_object_member(s, csi_member, walk, error);
}

gboolean pv_scan_item_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (KEY_IS(key, "metadata")) {
                pv_scan_forget(walk, F_NAME, F_TARGET_AT);
                return json_scan_object_member(s, metadata_member, walk, error);
        }
        if (KEY_IS(key, "spec")) {
                pv_scan_forget(walk, F_DRIVER, F_CLAIM_UID);
                walk->item.read_write_many = FALSE;
                return json_scan_object_member(s, spec_member, walk, error);
        }
        return json_scan_skip(s, error);
}

/* Items that are not objects are skipped, as walk_items() does. */
static gboolean item_element(JsonScan *s, gpointer data, GError **error)
{
        ListWalk *walk = data;

        if (json_scan_peek(s) != '{')
                return json_scan_skip(s, error);
        pv_scan_forget_item(walk);
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
void pv_scan_item_info(const ItemSpans *item, GString *buf, PvInfo *out)
{
        const JsonSpan *field = item->field;
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
                        .attach_mode = value[F_MODE],
                        .target_node = value[F_TARGET],
                        .target_at = value[F_TARGET_AT],
                        .volume_mode = value[F_VOLUME_MODE],
                        .claim_namespace = value[F_CLAIM_NS],
                        .claim_name = value[F_CLAIM_NAME],
                        .claim_uid = value[F_CLAIM_UID],
                        .uid = value[F_UID],
                        .read_write_many = item->read_write_many};
}

/* Every item's strings go into one reused buffer: no allocation per item. */
static gboolean call_items(const ListWalk *walk, PvListItemFunc func, gpointer user_data,
                           GError **error)
{
        g_autoptr(GString) buf = g_string_sized_new(512);

        for (guint i = 0; i < walk->items->len; i++) {
                PvInfo pv;

                pv_scan_item_info(&g_array_index(walk->items, ItemSpans, i), buf, &pv);
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
        g_auto(PvKeys) keys = {0};
        g_autoptr(GArray) items = g_array_sized_new(FALSE, FALSE, sizeof(ItemSpans), 512);
        ListWalk walk = {.keys = &keys, .items = items};

        pv_keys_init(&keys, driver);

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
