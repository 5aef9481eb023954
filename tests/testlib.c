/* SPDX-License-Identifier: MIT */
#include "testlib.h"

#include <string.h>

#include "service/errors.h"
#include "service/kube-client-private.h"
#include "service/manager-private.h"
#include "service/tsan.h"
#include "service/volume-lock-private.h"

VolumeLocks *manager_get_locks(Manager *self)
{
        return self->locks;
}

static void add_attachment(const char *volume, const char *node, gint64 attached_at,
                           gpointer user_data)
{
        Attachment *a = g_new(Attachment, 1);

        a->volume = g_strdup(volume);
        a->node = g_strdup(node);
        a->attached_at = attached_at;
        g_ptr_array_add(user_data, a);
}

GPtrArray *manager_list(Manager *self)
{
        GPtrArray *list =
            g_ptr_array_new_full(manager_count(self), (GDestroyNotify)attachment_free);

        manager_list_after(self, NULL, G_MAXUINT, add_attachment, list);
        return list;
}

guint volume_locks_count(VolumeLocks *self)
{
        guint n;

        tsan_mutex_lock(&self->lock);
        n = g_hash_table_size(self->entries);
        tsan_mutex_unlock(&self->lock);
        return n;
}

const char *kube_client_get_server(KubeClient *self)
{
        return self->server;
}

JsonNode *kube_client_send_json(KubeClient *self, const char *method, const char *path,
                                const char *content_type, const char *body, guint *status,
                                GError **error)
{
        g_autoptr(GBytes) data = kube_client_send(self, method, path, content_type, body,
                                                  KUBE_CLIENT_MAX_OBJECT_BYTES, status, error);
        g_autoptr(GError) local = NULL;
        JsonNode *node;
        gsize len;
        const char *text;

        if (data == NULL)
                return NULL;
        text = g_bytes_get_data(data, &len);
        node = pv_parse_object(text != NULL ? text : "", len, &local);
        if (node == NULL)
                g_set_error_literal(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_INVALID_RESPONSE,
                                    local->message);
        return node;
}

/* Type-checked members: the input is untrusted, and json-glib's accessors are critical on a
 * type mismatch. */
static JsonNode *member_of_type(JsonObject *object, const char *name, JsonNodeType type)
{
        JsonNode *node = object != NULL ? json_object_get_member(object, name) : NULL;

        return node != NULL && JSON_NODE_TYPE(node) == type ? node : NULL;
}

static char *member_string_dup(JsonObject *object, const char *name)
{
        JsonNode *node = member_of_type(object, name, JSON_NODE_VALUE);
        const char *s = node != NULL && json_node_get_value_type(node) == G_TYPE_STRING
                            ? json_node_get_string(node)
                            : NULL;

        return s != NULL && *s != '\0' ? g_strdup(s) : NULL;
}

static gboolean walk_items(JsonArray *items, const char *driver, PvListItemFunc func,
                           gpointer user_data, GError **error)
{
        for (guint i = 0; i < json_array_get_length(items); i++) {
                JsonNode *item = json_array_get_element(items, i);
                g_auto(PvInfo) pv = {0};

                if (!JSON_NODE_HOLDS_OBJECT(item))
                        continue;
                if (!pv_decode_node(item, driver, &pv, error) || !func(&pv, user_data, error))
                        return FALSE;
        }
        return TRUE;
}

gboolean pv_list_decode_reference(const char *data, gsize length, const char *driver,
                                  PvListItemFunc func, gpointer user_data, char **continue_token,
                                  char **resource_version, GError **error)
{
        g_autoptr(JsonNode) root = pv_parse_object(data, length, error);
        JsonObject *list, *metadata;
        JsonNode *items, *meta;

        if (root == NULL)
                return FALSE;
        list = json_node_get_object(root);
        meta = member_of_type(list, "metadata", JSON_NODE_OBJECT);
        metadata = meta != NULL ? json_node_get_object(meta) : NULL;
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
                *continue_token = member_string_dup(metadata, "continue");
        if (resource_version != NULL)
                *resource_version = member_string_dup(metadata, "resourceVersion");
        return TRUE;
}

static gboolean event_fail(GError **error, const char *why)
{
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                    "invalid watch event from the API server: %s", why);
        return FALSE;
}

gboolean pv_event_decode_reference(const char *data, gsize length, const char *driver, PvEvent *out,
                                   GError **error)
{
        g_autoptr(JsonNode) root = pv_parse_object(data, length, error);
        g_autofree char *type = NULL;
        JsonObject *event;
        JsonNode *object;

        memset(out, 0, sizeof(*out));
        if (root == NULL)
                return FALSE;
        event = json_node_get_object(root);
        object = member_of_type(event, "type", JSON_NODE_VALUE);
        if (object != NULL && json_node_get_value_type(object) == G_TYPE_STRING)
                type = g_strdup(json_node_get_string(object));
        if (!pv_event_type_from_name(type, &out->type))
                return event_fail(error, type == NULL ? "no type" : "unknown type");
        object = member_of_type(event, "object", JSON_NODE_OBJECT);
        if (object == NULL)
                return event_fail(error, "object is not an object");
        if (out->type == PV_EVENT_ERROR) {
                g_autofree char *text = json_to_string(object, FALSE);

                pv_status_decode(text, strlen(text), &out->status);
                return TRUE;
        }
        return pv_decode_node(object, driver, &out->pv, error);
}

void pv_info_fields(const PvInfo *pv, GPtrArray *out)
{
        const char *strings[PV_INFO_N_STRINGS];

        pv_info_strings(pv, strings);
        for (gsize i = 0; i < PV_INFO_N_STRINGS; i++)
                g_ptr_array_add(out, g_strdup(strings[i]));
        g_ptr_array_add(out, g_strdup(pv->read_write_many ? "ReadWriteMany" : NULL));
}
