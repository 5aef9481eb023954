/* RFC 7386 merge patch and RFC 6902 JSON patch over json-glib trees. */
#include "emulator.h"

#include <gio/gio.h>
#include <string.h>

JsonNode *merge_patch(JsonNode *target, JsonNode *patch)
{
        JsonNode *result;
        JsonObject *obj;
        g_autoptr(GList) members = NULL;

        if (!JSON_NODE_HOLDS_OBJECT(patch))
                return json_node_copy(patch);
        if (target != NULL && JSON_NODE_HOLDS_OBJECT(target)) {
                result = json_node_copy(target);
        } else {
                result = json_node_new(JSON_NODE_OBJECT);
                json_node_take_object(result, json_object_new());
        }
        obj = json_node_get_object(result);
        members = json_object_get_members(json_node_get_object(patch));
        for (GList *l = members; l != NULL; l = l->next) {
                const char *key = l->data;
                JsonNode *value = json_object_get_member(json_node_get_object(patch), key);

                if (JSON_NODE_HOLDS_NULL(value)) {
                        if (json_object_has_member(obj, key))
                                json_object_remove_member(obj, key);
                        continue;
                }
                json_object_set_member(obj, key,
                                       merge_patch(json_object_get_member(obj, key), value));
        }
        return result;
}

/* Splits an RFC 6901 pointer into unescaped tokens ("~1" is '/', "~0" is '~'). */
static GPtrArray *split_pointer(const char *pointer, GError **error)
{
        g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func(g_free);
        g_auto(GStrv) parts = NULL;

        if (pointer == NULL || (pointer[0] != '\0' && pointer[0] != '/')) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            "invalid JSON pointer \"%s\"", pointer != NULL ? pointer : "");
                return NULL;
        }
        if (pointer[0] == '\0')
                return g_steal_pointer(&tokens);
        parts = g_strsplit(pointer + 1, "/", -1);
        for (char **p = parts; *p != NULL; p++) {
                GString *tok = g_string_new(NULL);

                for (const char *c = *p; *c != '\0'; c++) {
                        if (c[0] == '~' && c[1] == '1') {
                                g_string_append_c(tok, '/');
                                c++;
                        } else if (c[0] == '~' && c[1] == '0') {
                                g_string_append_c(tok, '~');
                                c++;
                        } else {
                                g_string_append_c(tok, *c);
                        }
                }
                g_ptr_array_add(tokens, g_string_free(tok, FALSE));
        }
        return g_steal_pointer(&tokens);
}

/* An array index: digits without leading zeros; "-" is one past the end. */
static gboolean parse_index(const char *tok, guint len, gboolean allow_end, guint *index)
{
        guint64 v;

        if (allow_end && strcmp(tok, "-") == 0) {
                *index = len;
                return TRUE;
        }
        if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0') || (!allow_end && len == 0))
                return FALSE;
        if (!g_ascii_string_to_unsigned(tok, 10, 0, allow_end ? len : len - 1, &v, NULL))
                return FALSE;
        *index = (guint)v;
        return TRUE;
}

static JsonNode *resolve(JsonNode *doc, GPtrArray *tokens, guint depth)
{
        JsonNode *node = doc;

        for (guint i = 0; i < depth && node != NULL; i++) {
                const char *tok = tokens->pdata[i];
                guint idx;

                if (JSON_NODE_HOLDS_OBJECT(node)) {
                        node = json_object_get_member(json_node_get_object(node), tok);
                } else if (JSON_NODE_HOLDS_ARRAY(node)) {
                        JsonArray *arr = json_node_get_array(node);

                        if (!parse_index(tok, json_array_get_length(arr), FALSE, &idx))
                                return NULL;
                        node = json_array_get_element(arr, idx);
                } else {
                        return NULL;
                }
        }
        return node;
}

static void array_insert(JsonArray *arr, guint idx, JsonNode *value)
{
        g_autoptr(GPtrArray) tail = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
        guint len = json_array_get_length(arr);

        for (guint i = idx; i < len; i++)
                g_ptr_array_add(tail, json_node_copy(json_array_get_element(arr, i)));
        for (guint i = len; i > idx; i--)
                json_array_remove_element(arr, i - 1);
        json_array_add_element(arr, value);
        for (guint i = 0; i < tail->len; i++)
                json_array_add_element(arr, json_node_ref(tail->pdata[i]));
}

static gboolean missing(const char *path, GError **error)
{
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "doc is missing path: \"%s\": missing value", path);
        return FALSE;
}

/* Takes @value. */
static gboolean op_add(JsonNode **doc, GPtrArray *tokens, const char *path, JsonNode *value,
                       GError **error)
{
        JsonNode *parent;
        const char *last;
        guint idx;

        if (tokens->len == 0) {
                json_node_unref(*doc);
                *doc = value;
                return TRUE;
        }
        parent = resolve(*doc, tokens, tokens->len - 1);
        last = tokens->pdata[tokens->len - 1];
        if (parent != NULL && JSON_NODE_HOLDS_OBJECT(parent)) {
                json_object_set_member(json_node_get_object(parent), last, value);
                return TRUE;
        }
        if (parent != NULL && JSON_NODE_HOLDS_ARRAY(parent) &&
            parse_index(last, json_array_get_length(json_node_get_array(parent)), TRUE, &idx)) {
                array_insert(json_node_get_array(parent), idx, value);
                return TRUE;
        }
        json_node_unref(value);
        return missing(path, error);
}

static gboolean op_remove(JsonNode *doc, GPtrArray *tokens, const char *path, GError **error)
{
        JsonNode *parent;
        const char *last;
        guint idx;

        if (tokens->len == 0)
                return missing(path, error);
        parent = resolve(doc, tokens, tokens->len - 1);
        last = tokens->pdata[tokens->len - 1];
        if (parent != NULL && JSON_NODE_HOLDS_OBJECT(parent) &&
            json_object_has_member(json_node_get_object(parent), last)) {
                json_object_remove_member(json_node_get_object(parent), last);
                return TRUE;
        }
        if (parent != NULL && JSON_NODE_HOLDS_ARRAY(parent) &&
            parse_index(last, json_array_get_length(json_node_get_array(parent)), FALSE, &idx)) {
                json_array_remove_element(json_node_get_array(parent), idx);
                return TRUE;
        }
        return missing(path, error);
}

static gboolean replaces_member(JsonNode *doc, GPtrArray *tokens)
{
        JsonNode *parent = tokens->len > 0 ? resolve(doc, tokens, tokens->len - 1) : NULL;

        return parent != NULL && JSON_NODE_HOLDS_OBJECT(parent);
}

static JsonNode *copy_at(JsonNode *doc, const char *pointer, GError **error)
{
        g_autoptr(GPtrArray) tokens = split_pointer(pointer, error);
        JsonNode *node;

        if (tokens == NULL)
                return NULL;
        node = resolve(doc, tokens, tokens->len);
        if (node == NULL) {
                missing(pointer, error);
                return NULL;
        }
        return json_node_copy(node);
}

static gboolean apply_op(JsonNode **doc, JsonObject *op, GError **error)
{
        const char *name = json_get_string_member(op, "op");
        const char *path = json_get_string_member(op, "path");
        const char *from = json_get_string_member(op, "from");
        JsonNode *value = json_object_get_member(op, "value");
        g_autoptr(GPtrArray) tokens = split_pointer(path, error);
        g_autoptr(JsonNode) current = NULL;

        if (tokens == NULL || name == NULL) {
                if (tokens != NULL)
                        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                                            "Unexpected kind: unknown");
                return FALSE;
        }
        if ((strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 ||
             strcmp(name, "test") == 0) &&
            value == NULL) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            "JSON patch \"%s\" operation without \"value\"", name);
                return FALSE;
        }
        if (strcmp(name, "add") == 0)
                return op_add(doc, tokens, path, json_node_copy(value), error);
        if (strcmp(name, "remove") == 0)
                return op_remove(*doc, tokens, path, error);
        /* As kube-apiserver's evanphx/json-patch v4: "replace" of a member missing from an
         * existing object adds it. */
        if (strcmp(name, "replace") == 0)
                return (replaces_member(*doc, tokens) || op_remove(*doc, tokens, path, error)) &&
                       op_add(doc, tokens, path, json_node_copy(value), error);
        if (strcmp(name, "test") == 0) {
                current = copy_at(*doc, path, error);
                if (current == NULL)
                        return FALSE;
                if (!json_node_equal(current, value)) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                                    "testing value %s failed: test failed", path);
                        return FALSE;
                }
                return TRUE;
        }
        if (strcmp(name, "copy") == 0 || strcmp(name, "move") == 0) {
                current = copy_at(*doc, from, error);
                if (current == NULL)
                        return FALSE;
                if (strcmp(name, "move") == 0) {
                        g_autoptr(GPtrArray) from_tokens = split_pointer(from, error);

                        if (from_tokens == NULL || !op_remove(*doc, from_tokens, from, error))
                                return FALSE;
                }
                return op_add(doc, tokens, path, g_steal_pointer(&current), error);
        }
        /* The API server finds out only when applying: 422, as for a failed "test". */
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Unexpected kind: %s", name);
        return FALSE;
}

gboolean json_patch_apply(JsonNode **doc, JsonNode *ops, GError **error)
{
        JsonArray *arr;

        if (ops == NULL || !JSON_NODE_HOLDS_ARRAY(ops)) {
                g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "a JSON patch must be an array of operations");
                return FALSE;
        }
        arr = json_node_get_array(ops);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
                JsonNode *op = json_array_get_element(arr, i);

                if (!JSON_NODE_HOLDS_OBJECT(op)) {
                        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                            "a JSON patch operation must be an object");
                        return FALSE;
                }
                if (!apply_op(doc, json_node_get_object(op), error))
                        return FALSE;
        }
        return TRUE;
}
