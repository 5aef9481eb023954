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

gboolean pv_event_type_from_name(const char *name, PvEventType *type)
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
        pv_scan_forget_item(&ev->walk);
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

gboolean pv_event_decode(const char *data, gsize length, const char *driver, PvEvent *out,
                         GError **error)
{
        g_auto(PvKeys) keys = {0};
        g_autoptr(GString) buf = g_string_sized_new(256);
        g_autofree char *type = NULL;
        EventWalk ev = {.walk = {.keys = &keys}};
        JsonScan s;
        PvInfo pv;

        memset(out, 0, sizeof(*out));
        pv_keys_init(&keys, driver);
        json_scan_init(&s, data, length);
        if (json_scan_peek(&s) != '{')
                return event_fail(error, "not an object");
        if (!json_scan_object(&s, event_member, &ev, error) || !json_scan_finish(&s, error))
                return FALSE;
        type = span_dup(&ev.type);
        if (!pv_event_type_from_name(type, &out->type))
                return event_fail(error, type == NULL ? "no type" : "unknown type");
        if (!ev.object_seen)
                return event_fail(error, "object is not an object");
        if (out->type == PV_EVENT_ERROR) {
                pv_status_decode(ev.object_start, (gsize)(ev.object_end - ev.object_start),
                                 &out->status);
                return TRUE;
        }
        pv_scan_item_info(&ev.walk.item, buf, &pv);
        pv_info_dup(&pv, &out->pv);
        return TRUE;
}
