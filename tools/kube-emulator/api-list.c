/* LIST with limit/continue pagination, and the meta.k8s.io/v1 Table that `kubectl get` asks
 * for. Both are built by concatenating cached per-object strings. */
#include "emulator.h"

#include <string.h>

gboolean wants_table(SoupServerMessage *msg)
{
        const char *accept =
            soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Accept");

        return accept != NULL && strstr(accept, "as=Table") != NULL;
}

static char *encode_continue(guint64 rv, const char *last, guint64 pos)
{
        GString *json = g_string_new(NULL);
        g_autofree char *text = NULL;

        if (rv == G_MAXUINT64)
                g_string_append(json, "{\"v\":\"meta.k8s.io/v1\",\"rv\":-1,\"start\":");
        else
                g_string_append_printf(
                    json, "{\"v\":\"meta.k8s.io/v1\",\"rv\":%" G_GUINT64_FORMAT ",\"start\":", rv);
        json_append_escaped(json, last);
        g_string_append_printf(json, ",\"pos\":%" G_GUINT64_FORMAT "}", pos);
        text = g_string_free(json, FALSE);
        return g_base64_encode((const guchar *)text, strlen(text));
}

typedef struct {
        guint64 rv;
        char *start;
        guint64 pos;
} ContinueToken;

static gboolean decode_continue(const char *token, ContinueToken *out)
{
        gsize len = 0;
        g_autofree guchar *raw = g_base64_decode(token, &len);
        g_autoptr(JsonNode) node = NULL;
        JsonObject *obj;
        const char *start;

        node = json_parse_text((const char *)raw, len, NULL);
        if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
                return FALSE;
        obj = json_node_get_object(node);
        start = json_get_string_member(obj, "start");
        if (start == NULL || !json_object_has_member(obj, "rv"))
                return FALSE;
        out->rv = (guint64)json_object_get_int_member(obj, "rv");
        out->pos = json_object_has_member(obj, "pos")
                       ? (guint64)json_object_get_int_member(obj, "pos")
                       : 0;
        out->start = g_strdup(start);
        return TRUE;
}

void send_list_gone(SoupServerMessage *msg, const char *token)
{
        ContinueToken cont = {0};
        g_autofree char *next = NULL;

        if (!decode_continue(token, &cont)) {
                send_gone(msg);
                return;
        }
        /* rv -1: "continue from the current state", what etcd3's store hands out here. */
        next = encode_continue(G_MAXUINT64, cont.start, 0);
        send_gone_with_continue(msg, next);
        g_free(cont.start);
}

/* The list's metadata members (without braces), shared by List and Table. */
static char *list_metadata(Store *store, StorePage *page)
{
        GString *meta = g_string_new(NULL);
        const StoredPv *last;
        g_autofree char *token = NULL;

        g_string_append_printf(meta, "\"resourceVersion\":\"%" G_GUINT64_FORMAT "\"",
                               store_rv(store));
        if (page->more && page->items->len > 0) {
                last = page->items->pdata[page->items->len - 1];
                token = encode_continue(store_rv(store), last->name, page->next_pos);
                g_string_append_printf(meta, ",\"continue\":\"%s\"", token);
                /* etcd3's store counts the rest only without a selector. */
                if (!page->filtered)
                        g_string_append_printf(meta, ",\"remainingItemCount\":%" G_GUINT64_FORMAT,
                                               page->remaining);
        }
        return g_string_free(meta, FALSE);
}

/* A list's items carry no kind and apiVersion on the real server (the List has them). The
 * stored text starts with both in one order or the other (the order clients and the generator
 * write); any other layout is reserialized. */
static void append_item(GString *out, const ResourceKind *kind, const StoredPv *pv)
{
        g_autofree char *a = g_strdup_printf("{\"kind\":\"%s\",\"apiVersion\":\"v1\",", kind->kind);
        g_autofree char *b = g_strdup_printf("{\"apiVersion\":\"v1\",\"kind\":\"%s\",", kind->kind);
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *text = NULL;
        gsize len = 0;

        if (g_str_has_prefix(pv->json, a) || g_str_has_prefix(pv->json, b)) {
                gsize skip = strlen(a); /* a and b have the same length */

                g_string_append_c(out, '{');
                g_string_append_len(out, pv->json + skip, (gssize)(pv->len - skip));
                return;
        }
        node = store_parse(pv);
        json_object_remove_member(json_node_get_object(node), "kind");
        json_object_remove_member(json_node_get_object(node), "apiVersion");
        text = json_node_to_compact(node, &len);
        g_string_append_len(out, text, (gssize)len);
}

static void send_list(SoupServerMessage *msg, const ResourceKind *kind, GPtrArray *items,
                      const char *meta)
{
        gsize size = 256;
        GString *out;

        for (guint i = 0; i < items->len; i++)
                size += ((StoredPv *)items->pdata[i])->len + 1;
        out = g_string_sized_new(size);
        g_string_append_printf(out, "{\"kind\":\"%s\",\"apiVersion\":\"v1\",\"metadata\":{",
                               kind->list_kind);
        g_string_append(out, meta);
        g_string_append(out, "},\"items\":[");
        for (guint i = 0; i < items->len; i++) {
                const StoredPv *pv = items->pdata[i];

                if (i > 0)
                        g_string_append_c(out, ',');
                append_item(out, kind, pv);
        }
        g_string_append(out, "]}");
        send_json_take(msg, 200, out->str, out->len);
        g_string_free(out, FALSE);
}

/* The field selector of a list or watch; answers 400 itself when it is not a valid one. */
FieldSelector *call_field_selector(const ResourceKind *kind, Call *call, gboolean *ok)
{
        const char *text =
            call->query != NULL ? g_hash_table_lookup(call->query, "fieldSelector") : NULL;
        g_autoptr(GError) error = NULL;
        FieldSelector *sel = field_selector_parse(kind, text, &error);

        *ok = error == NULL;
        if (error != NULL)
                send_status(call->msg, 400, "BadRequest", error->message, NULL);
        return sel;
}

static gboolean read_continue(Resource *res, Call *call, ContinueToken *cont)
{
        const char *token =
            call->query != NULL ? g_hash_table_lookup(call->query, "continue") : NULL;

        if (token == NULL || *token == '\0')
                return TRUE;
        if (!decode_continue(token, cont)) {
                send_status(call->msg, 400, "BadRequest",
                            "invalid continue token: continue key is not valid: incorrect "
                            "encoded start resourceVersion (version meta.k8s.io/v1)",
                            NULL);
                return FALSE;
        }
        /* As etcd: a list snapshot older than the last compaction cannot be continued. */
        if (cont->rv < store_compacted_rv(res->store)) {
                send_list_gone(call->msg, token);
                return FALSE;
        }
        return TRUE;
}

/* resourceVersion= is not used (a LIST answers the current state) but must be a number. */
static gboolean parse_list_rv(SoupServerMessage *msg, const char *text)
{
        g_autofree char *message = NULL;

        if (text == NULL || *text == '\0' ||
            g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, NULL, NULL))
                return TRUE;
        message = g_strdup_printf("invalid resource version: resourceVersion: Invalid value: "
                                  "\"%s\": strconv.ParseUint: parsing \"%s\": invalid syntax",
                                  text, text);
        send_status(msg, 400, "BadRequest", message, NULL);
        return FALSE;
}

/* limit= as the API server reads it: not a number is 400, negative or 0 is no limit. */
static gboolean parse_limit(SoupServerMessage *msg, const char *text, guint *limit)
{
        gint64 value = 0;
        g_autofree char *message = NULL;

        *limit = 0;
        if (text == NULL || *text == '\0')
                return TRUE;
        if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &value, NULL)) {
                message = g_strdup_printf("strconv.ParseInt: parsing \"%s\": invalid syntax", text);
                send_status(msg, 400, "BadRequest", message, NULL);
                return FALSE;
        }
        *limit = value > 0 ? (guint)MIN(value, G_MAXUINT) : 0;
        return TRUE;
}

void api_list(Resource *res, Call *call)
{
        GHashTable *query = call->query;
        const char *include = query != NULL ? g_hash_table_lookup(query, "includeObject") : NULL;
        g_autofree char *prefix = call->ns != NULL ? g_strconcat(call->ns, "/", NULL) : NULL;
        g_autoptr(FieldSelector) sel = NULL;
        g_autoptr(LabelSelector) labels = NULL;
        FieldSelectorFilter filter = {NULL, res->kind};
        StoreQuery q = {.prefix = prefix};
        ContinueToken cont = {0};
        StorePage page = {0};
        guint limit = 0;
        g_autofree char *meta = NULL;
        gboolean ok;

        if (!parse_list_rv(call->msg,
                           query != NULL ? g_hash_table_lookup(query, "resourceVersion") : NULL) ||
            !parse_limit(call->msg, query != NULL ? g_hash_table_lookup(query, "limit") : NULL,
                         &limit))
                return;
        sel = call_field_selector(res->kind, call, &ok);
        if (!ok || !label_selector_from_query(call->msg, query, &labels) ||
            !read_continue(res, call, &cont)) {
                g_free(cont.start);
                return;
        }
        filter.sel = sel;
        q.start_after = cont.start;
        q.limit = limit;
        q.filter = sel != NULL ? field_selector_filter : NULL;
        q.filter_data = &filter;
        q.labels = labels;
        store_page(res->store, &q, cont.pos, cont.rv, &page);
        meta = list_metadata(res->store, &page);
        if (wants_table(call->msg))
                send_table(call->msg, res->kind, page.items, meta,
                           g_strcmp0(include, "Object") == 0);
        else
                send_list(call->msg, res->kind, page.items, meta);
        store_page_clear(&page);
        g_free(cont.start);
}

static void append_cell(GString *out, const char *value)
{
        g_string_append_c(out, ',');
        json_append_escaped(out, value != NULL ? value : "");
}

/* Fills the cached cells (all columns but AGE, from the kind) and the row's
 * PartialObjectMetadata. */
static void fill_row_cache(const ResourceKind *kind, StoredPv *pv)
{
        g_autoptr(JsonNode) node = store_parse(pv);
        JsonObject *root = json_node_get_object(node);
        g_autofree char *meta_json =
            json_node_to_compact(json_object_get_member(root, "metadata"), NULL);

        if (kind->cells != NULL)
                kind->cells(root, pv->name, &pv->cells, &pv->cells_after);
        pv->partial = g_strdup_printf("{\"kind\":\"PartialObjectMetadata\","
                                      "\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":%s}",
                                      meta_json);
}

static void append_row(GString *out, const ResourceKind *kind, StoredPv *pv, gint64 now)
{
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *age = NULL;

        if (kind->row != NULL) {
                /* Times relative to now: nothing to cache. */
                node = store_parse(pv);
                kind->row(out, json_node_get_object(node), now);
                return;
        }
        age = human_duration(now - pv->created);
        g_string_append(out, pv->cells);
        append_cell(out, age);
        g_string_append(out, pv->cells_after);
}

void table_append(GString *out, const ResourceKind *kind, StoredPv *const *items, guint n,
                  const char *list_meta, gboolean full_object, gboolean headers)
{
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;

        g_string_append(out, "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\","
                             "\"metadata\":{");
        g_string_append(out, list_meta != NULL ? list_meta : "");
        g_string_append(out, "},");
        g_string_append(out, headers ? kind->columns : "\"columnDefinitions\":null,");
        g_string_append(out, "\"rows\":[");
        for (guint i = 0; i < n; i++) {
                StoredPv *pv = items[i];

                if (pv->partial == NULL)
                        fill_row_cache(kind, pv);
                g_string_append(out, i > 0 ? ",{\"cells\":[" : "{\"cells\":[");
                append_row(out, kind, pv, now);
                g_string_append(out, "],\"object\":");
                g_string_append(out, full_object ? pv->json : pv->partial);
                g_string_append_c(out, '}');
        }
        g_string_append(out, "]}");
}

void send_table(SoupServerMessage *msg, const ResourceKind *kind, GPtrArray *items,
                const char *list_meta, gboolean full_object)
{
        GString *out = g_string_sized_new(4096 + items->len * 1024);

        table_append(out, kind, (StoredPv *const *)items->pdata, items->len, list_meta, full_object,
                     TRUE);
        send_json_take(msg, 200, out->str, out->len);
        g_string_free(out, FALSE);
}
