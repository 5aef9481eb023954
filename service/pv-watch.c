/* SPDX-License-Identifier: MIT */
/* Decoding of watch event lines: the PV object is walked by the LIST page scanner's item
 * walk (pv-scan.h), so a PV reads the same whether it comes in a page or in an event. */
#include "pv.h"

#include <string.h>

#include "errors.h"
#include "pv-scan.h"

void pv_event_clear(PvEvent *self)
{
        pv_info_clear(&self->pv);
        pv_status_clear(&self->status);
        self->type = PV_EVENT_ADDED;
}

static const char *const event_types[] = {
    [PV_EVENT_ADDED] = "ADDED",     [PV_EVENT_MODIFIED] = "MODIFIED",
    [PV_EVENT_DELETED] = "DELETED", [PV_EVENT_BOOKMARK] = "BOOKMARK",
    [PV_EVENT_ERROR] = "ERROR",
};

static gboolean event_fail(GError **error, const char *why)
{
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                    "invalid watch event from the API server: %s", why);
        return FALSE;
}

/* NULL-terminated type name -> type; FALSE when unknown. */
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

typedef struct {
        ListWalk walk;
        JsonSpan type;
        const char *object_start; /* the object's bytes, for an ERROR's Status */
        const char *object_end;
        gboolean object_seen;
} EventWalk;

static gboolean event_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error)
{
        EventWalk *ev = data;

        if (KEY_IS(key, "type"))
                return json_scan_string_member(s, &ev->type, error);
        if (!KEY_IS(key, "object"))
                return json_scan_skip(s, error);
        pv_scan_forget(&ev->walk, 0, N_FIELDS - 1);
        ev->object_seen = json_scan_peek(s) == '{';
        if (!ev->object_seen)
                return json_scan_skip(s, error);
        ev->object_start = s->p;
        if (!json_scan_object(s, pv_scan_item_member, &ev->walk, error))
                return FALSE;
        ev->object_end = s->p;
        return TRUE;
}

static char *span_dup(const JsonSpan *span)
{
        GString *buf;

        if (span->start == NULL)
                return NULL;
        buf = g_string_new(NULL);
        json_span_append(span, buf);
        return g_string_free(buf, FALSE);
}

static void info_dup(const PvInfo *in, PvInfo *out)
{
        out->name = g_strdup(in->name);
        out->resource_version = g_strdup(in->resource_version);
        out->csi_driver = g_strdup(in->csi_driver);
        out->volume_handle = g_strdup(in->volume_handle);
        out->attached_node = g_strdup(in->attached_node);
        out->attached_at = g_strdup(in->attached_at);
        out->claim_namespace = g_strdup(in->claim_namespace);
        out->claim_name = g_strdup(in->claim_name);
        out->claim_uid = g_strdup(in->claim_uid);
        out->uid = g_strdup(in->uid);
}

gboolean pv_event_decode(const char *data, gsize length, const char *driver, PvEvent *out,
                         GError **error)
{
        g_autofree char *node_key = pv_annotation_node_key(driver);
        g_autofree char *at_key = pv_annotation_at_key(driver);
        g_autoptr(GString) buf = g_string_sized_new(256);
        g_autofree char *type = NULL;
        EventWalk ev = {.walk = {.node_key = node_key,
                                 .at_key = at_key,
                                 .node_key_length = strlen(node_key),
                                 .at_key_length = strlen(at_key)}};
        JsonScan s;
        PvInfo pv;

        memset(out, 0, sizeof(*out));
        json_scan_init(&s, data, length);
        if (json_scan_peek(&s) != '{')
                return event_fail(error, "not an object");
        if (!json_scan_object(&s, event_member, &ev, error) || !json_scan_finish(&s, error))
                return FALSE;
        type = span_dup(&ev.type);
        if (!event_type_from(type, &out->type))
                return event_fail(error, type == NULL ? "no type" : "unknown type");
        if (!ev.object_seen)
                return event_fail(error, "object is not an object");
        if (out->type == PV_EVENT_ERROR) {
                pv_status_decode(ev.object_start, (gsize)(ev.object_end - ev.object_start),
                                 &out->status);
                return TRUE;
        }
        pv_scan_item_info(ev.walk.item.field, buf, &pv);
        info_dup(&pv, &out->pv);
        return TRUE;
}

gboolean pv_event_decode_reference(const char *data, gsize length, const char *driver, PvEvent *out,
                                   GError **error)
{
        g_autoptr(GError) local = NULL;
        g_autoptr(JsonNode) root = pv_parse_object(data, length, &local);
        JsonObject *event;
        JsonNode *object;
        const char *type;

        memset(out, 0, sizeof(*out));
        if (root == NULL) {
                g_propagate_error(error, g_steal_pointer(&local));
                return FALSE;
        }
        event = json_node_get_object(root);
        object = json_object_get_member(event, "type");
        type = object != NULL && JSON_NODE_HOLDS_VALUE(object) &&
                       json_node_get_value_type(object) == G_TYPE_STRING
                   ? json_node_get_string(object)
                   : NULL;
        if (!event_type_from(type, &out->type))
                return event_fail(error, type == NULL ? "no type" : "unknown type");
        object = json_object_get_member(event, "object");
        if (object == NULL || !JSON_NODE_HOLDS_OBJECT(object))
                return event_fail(error, "object is not an object");
        if (out->type == PV_EVENT_ERROR) {
                g_autofree char *text = json_to_string(object, FALSE);

                pv_status_decode(text, strlen(text), &out->status);
                return TRUE;
        }
        return pv_decode_node(object, driver, &out->pv, error);
}
