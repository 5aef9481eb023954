/* SPDX-License-Identifier: MIT */
/* Node objects through a json-glib tree: a Node is a few KiB and a cluster has at most
 * thousands, so the PV list's scanner (built for 100k objects) is not needed here. Every
 * member is type-checked before use (pv.h's member helpers). */
#include "node.h"

#include <string.h>

#include "errors.h"

void node_info_clear(NodeInfo *self)
{
        g_clear_pointer(&self->name, g_free);
        g_clear_pointer(&self->resource_version, g_free);
        self->out_of_service = FALSE;
}

void node_event_clear(NodeEvent *self)
{
        node_info_clear(&self->node);
        pv_status_clear(&self->status);
        self->type = PV_EVENT_ADDED;
}

static gboolean fail(GError **error, const char *what, const char *why)
{
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                    "invalid %s from the API server: %s", what, why);
        return FALSE;
}

static gboolean has_out_of_service_taint(JsonObject *spec)
{
        JsonNode *taints = spec != NULL ? json_object_get_member(spec, "taints") : NULL;
        JsonArray *array;

        if (taints == NULL || !JSON_NODE_HOLDS_ARRAY(taints))
                return FALSE;
        array = json_node_get_array(taints);
        for (guint i = 0; i < json_array_get_length(array); i++) {
                JsonNode *taint = json_array_get_element(array, i);

                if (JSON_NODE_HOLDS_OBJECT(taint) &&
                    g_strcmp0(pv_json_string_member(json_node_get_object(taint), "key"),
                              NODE_TAINT_OUT_OF_SERVICE) == 0)
                        return TRUE;
        }
        return FALSE;
}

/* json-glib lets bad escapes and lone surrogates through as invalid UTF-8: such a name must
 * never reach a log line, a D-Bus message or a comparison with a PV's node. */
static gboolean decode_object(JsonObject *object, NodeInfo *out, GError **error)
{
        JsonObject *metadata = pv_json_object_member(object, "metadata");
        const char *name = pv_json_string_member(metadata, "name");
        const char *rv = pv_json_string_member(metadata, "resourceVersion");

        if ((name != NULL && !g_utf8_validate(name, -1, NULL)) ||
            (rv != NULL && !g_utf8_validate(rv, -1, NULL)))
                return fail(error, "Node", "a string is not valid UTF-8");
        out->name = g_strdup(name);
        out->resource_version = g_strdup(rv);
        out->out_of_service = has_out_of_service_taint(pv_json_object_member(object, "spec"));
        return TRUE;
}

static char *nonempty_dup(const char *s)
{
        return s != NULL && *s != '\0' && g_utf8_validate(s, -1, NULL) ? g_strdup(s) : NULL;
}

/* Decodes every item first, so that a bad one reaches no callback. */
static GArray *decode_items(JsonNode *items, GError **error)
{
        g_autoptr(GArray) nodes = g_array_new(FALSE, TRUE, sizeof(NodeInfo));
        JsonArray *array;

        g_array_set_clear_func(nodes, (GDestroyNotify)node_info_clear);
        if (items == NULL || JSON_NODE_HOLDS_NULL(items))
                return g_steal_pointer(&nodes);
        if (!JSON_NODE_HOLDS_ARRAY(items)) {
                fail(error, "NodeList", "items is not an array");
                return NULL;
        }
        array = json_node_get_array(items);
        for (guint i = 0; i < json_array_get_length(array); i++) {
                JsonNode *item = json_array_get_element(array, i);
                NodeInfo info = {0};

                if (!JSON_NODE_HOLDS_OBJECT(item))
                        continue;
                if (!decode_object(json_node_get_object(item), &info, error))
                        return NULL;
                g_array_append_val(nodes, info);
        }
        return g_steal_pointer(&nodes);
}

gboolean node_list_decode(const char *data, gsize length, NodeListItemFunc func, gpointer user_data,
                          char **continue_token, char **resource_version, GError **error)
{
        g_autoptr(JsonNode) root = pv_parse_object(data, length, error);
        g_autoptr(GArray) nodes = NULL;
        JsonObject *list, *metadata;

        if (root == NULL)
                return FALSE;
        list = json_node_get_object(root);
        nodes = decode_items(json_object_get_member(list, "items"), error);
        if (nodes == NULL)
                return FALSE;
        for (guint i = 0; i < nodes->len; i++)
                if (!func(&g_array_index(nodes, NodeInfo, i), user_data, error))
                        return FALSE;
        metadata = pv_json_object_member(list, "metadata");
        if (continue_token != NULL)
                *continue_token = nonempty_dup(pv_json_string_member(metadata, "continue"));
        if (resource_version != NULL)
                *resource_version =
                    nonempty_dup(pv_json_string_member(metadata, "resourceVersion"));
        return TRUE;
}

static const char *const event_types[] = {
    [PV_EVENT_ADDED] = "ADDED",     [PV_EVENT_MODIFIED] = "MODIFIED",
    [PV_EVENT_DELETED] = "DELETED", [PV_EVENT_BOOKMARK] = "BOOKMARK",
    [PV_EVENT_ERROR] = "ERROR",
};

static gboolean event_type_from(const char *name, PvEventType *type)
{
        for (guint i = 0; name != NULL && i < G_N_ELEMENTS(event_types); i++) {
                if (strcmp(name, event_types[i]) == 0) {
                        *type = (PvEventType)i;
                        return TRUE;
                }
        }
        return FALSE;
}

gboolean node_event_decode(const char *data, gsize length, NodeEvent *out, GError **error)
{
        g_autoptr(JsonNode) root = NULL;
        JsonObject *event, *object;

        memset(out, 0, sizeof(*out));
        root = pv_parse_object(data, length, error);
        if (root == NULL)
                return FALSE;
        event = json_node_get_object(root);
        if (!event_type_from(pv_json_string_member(event, "type"), &out->type))
                return fail(error, "watch event", "no type, or an unknown one");
        object = pv_json_object_member(event, "object");
        if (object == NULL)
                return fail(error, "watch event", "object is not an object");
        if (out->type == PV_EVENT_ERROR) {
                g_autoptr(JsonNode) copy = json_node_init_object(json_node_alloc(), object);
                g_autofree char *text = json_to_string(copy, FALSE);

                pv_status_decode(text, strlen(text), &out->status);
                return TRUE;
        }
        if (!decode_object(object, &out->node, error)) {
                node_event_clear(out);
                return FALSE;
        }
        return TRUE;
}
