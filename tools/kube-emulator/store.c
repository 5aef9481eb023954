/* The store of one kind: a GTree by name of serialized objects, so that a LIST page is
 * concatenation; and, like etcd, a bounded history of the events that every write produced, for
 * WATCH. */
#include "emulator.h"

#include <string.h>

struct Store {
        GTree *tree; /* key -> StoredPv */
        const char *kind;
        gboolean namespaced;
        guint64 *rv;    /* shared by the stores of every kind */
        GQueue history; /* StoreEvent *, oldest first */
        guint capacity;
        guint64 floor;     /* every event with a greater RV is still in the history */
        guint64 compacted; /* the last compaction's RV */
        StoreObserver observer;
        gpointer observer_data;
};

static StoredPv *stored_pv_new(void)
{
        StoredPv *pv = g_new0(StoredPv, 1);

        pv->refs = 1;
        return pv;
}

StoredPv *stored_pv_ref(StoredPv *pv)
{
        pv->refs++;
        return pv;
}

void stored_pv_unref(StoredPv *pv)
{
        if (pv == NULL || --pv->refs > 0)
                return;
        g_free(pv->name);
        g_free(pv->json);
        g_free(pv->cells);
        g_free(pv->cells_after);
        g_free(pv->partial);
        g_free(pv);
}

static void value_unref(gpointer data)
{
        stored_pv_unref(data);
}

static void store_event_free(StoreEvent *event)
{
        stored_pv_unref(event->pv);
        stored_pv_unref(event->prev);
        stored_pv_unref(event->object);
        g_free(event);
}

static int compare_names(gconstpointer a, gconstpointer b, gpointer user_data)
{
        return strcmp(a, b);
}

Store *store_new(guint history, const char *kind, guint64 *clock, gboolean namespaced)
{
        Store *store = g_new0(Store, 1);

        store->namespaced = namespaced;
        /* The key is the value's own name, so only the value is freed. */
        store->tree = g_tree_new_full(compare_names, NULL, NULL, value_unref);
        store->kind = kind;
        store->rv = clock;
        store->floor = *clock;
        store->compacted = *clock;
        store->capacity = history;
        g_queue_init(&store->history);
        return store;
}

void store_free(Store *store)
{
        if (store == NULL)
                return;
        g_tree_destroy(store->tree);
        g_queue_clear_full(&store->history, (GDestroyNotify)store_event_free);
        g_free(store);
}

void store_set_observer(Store *store, StoreObserver observer, gpointer user_data)
{
        store->observer = observer;
        store->observer_data = user_data;
}

/* Every write ends here: the watchers see the event first, then the history keeps it. */
static void store_emit(Store *store, EventType type, StoredPv *pv, StoredPv *prev, guint64 rv)
{
        StoreEvent *event = g_new0(StoreEvent, 1);

        event->type = type;
        event->rv = rv;
        event->pv = stored_pv_ref(pv);
        event->prev = prev != NULL ? stored_pv_ref(prev) : NULL;
        if (store->observer != NULL)
                store->observer(event, store->observer_data);
        g_queue_push_tail(&store->history, event);
        while (store->history.length > store->capacity) {
                StoreEvent *oldest = g_queue_pop_head(&store->history);

                store->floor = MAX(store->floor, oldest->rv);
                store_event_free(oldest);
        }
}

guint64 store_rv(Store *store)
{
        return *store->rv;
}

guint64 store_next_rv(Store *store)
{
        return ++*store->rv;
}

guint store_count(Store *store)
{
        return (guint)g_tree_nnodes(store->tree);
}

char *store_key(const char *ns, const char *name)
{
        return ns != NULL ? g_strconcat(ns, "/", name, NULL) : g_strdup(name);
}

/* Neither a namespace nor a name may contain '/'. */
const char *stored_name(const StoredPv *pv)
{
        const char *slash = strchr(pv->name, '/');

        return slash != NULL ? slash + 1 : pv->name;
}

StoredPv *store_lookup(Store *store, const char *name)
{
        return g_tree_lookup(store->tree, name);
}

JsonNode *store_parse(const StoredPv *pv)
{
        /* Stored text was produced by us, so it always parses. */
        return json_parse_text(pv->json, pv->len, NULL);
}

static gint64 parse_timestamp(const char *text)
{
        g_autoptr(GDateTime) dt = NULL;

        if (text == NULL)
                return g_get_real_time() / G_USEC_PER_SEC;
        dt = g_date_time_new_from_iso8601(text, NULL);
        if (dt == NULL)
                return g_get_real_time() / G_USEC_PER_SEC;
        return g_date_time_to_unix(dt);
}

/* uid and creationTimestamp belong to the server: an update keeps the stored ones (in place,
 * so the member order stays), a new object gets fresh ones unless the caller supplied them. */
static void stamp_identity(JsonObject *meta, const StoredPv *old)
{
        g_autoptr(JsonNode) old_node = old != NULL ? store_parse(old) : NULL;
        JsonObject *old_meta = NULL;
        static const char *const members[] = {"uid", "creationTimestamp"};

        if (old_node != NULL)
                old_meta = json_get_object_member(json_node_get_object(old_node), "metadata");
        for (gsize i = 0; i < G_N_ELEMENTS(members); i++) {
                const char *value = json_get_string_member(old_meta, members[i]);
                g_autofree char *fresh = NULL;

                if (value == NULL && json_get_string_member(meta, members[i]) != NULL)
                        continue;
                if (value == NULL)
                        value = fresh = i == 0 ? g_uuid_string_random() : rfc3339_now(FALSE);
                json_object_set_string_member(meta, members[i], value);
        }
}

const StoredPv *store_write(Store *store, JsonNode *obj)
{
        JsonObject *root = json_node_get_object(obj);
        JsonObject *meta = json_get_object_member(root, "metadata");
        g_autofree char *key = store_key(
            store->namespaced ? json_get_string_member(meta, "namespace") : NULL, pv_name(obj));
        StoredPv *old = store_lookup(store, key);
        StoredPv *pv = stored_pv_new();
        EventType type = old != NULL ? EVENT_MODIFIED : EVENT_ADDED;
        g_autofree char *rv = NULL;

        if (!json_object_has_member(root, "apiVersion"))
                json_object_set_string_member(root, "apiVersion", "v1");
        if (!json_object_has_member(root, "kind"))
                json_object_set_string_member(root, "kind", store->kind);
        stamp_identity(meta, old);
        pv->rv = store_next_rv(store);
        rv = g_strdup_printf("%" G_GUINT64_FORMAT, pv->rv);
        json_object_set_string_member(meta, "resourceVersion", rv);
        pv_drop_empty_maps(obj);
        pv->name = g_steal_pointer(&key);
        pv->created = parse_timestamp(json_get_string_member(meta, "creationTimestamp"));
        pv->json = json_node_to_compact(obj, &pv->len);
        if (old != NULL)
                stored_pv_ref(old);
        g_tree_replace(store->tree, pv->name, pv);
        store_emit(store, type, pv, old, pv->rv);
        stored_pv_unref(old);
        return pv;
}

static gboolean unchanged(Store *store, const StoredPv *old, JsonNode *obj)
{
        g_autoptr(JsonNode) before = store_parse(old);
        g_autoptr(JsonNode) after = json_node_copy(obj);
        JsonObject *root = json_node_get_object(after);
        g_autofree char *rv = g_strdup_printf("%" G_GUINT64_FORMAT, old->rv);

        if (!json_object_has_member(root, "apiVersion"))
                json_object_set_string_member(root, "apiVersion", "v1");
        if (!json_object_has_member(root, "kind"))
                json_object_set_string_member(root, "kind", store->kind);
        stamp_identity(json_get_object_member(root, "metadata"), old);
        json_object_set_string_member(json_get_object_member(root, "metadata"), "resourceVersion",
                                      rv);
        pv_drop_empty_maps(after);
        return json_node_equal(before, after);
}

const StoredPv *store_update(Store *store, JsonNode *obj)
{
        JsonObject *meta = json_get_object_member(json_node_get_object(obj), "metadata");
        g_autofree char *key = store_key(
            store->namespaced ? json_get_string_member(meta, "namespace") : NULL, pv_name(obj));
        StoredPv *old = store_lookup(store, key);

        if (old != NULL && unchanged(store, old, obj))
                return old;
        return store_write(store, obj);
}

void store_insert_raw(Store *store, const char *name, char *json, guint64 rv, gint64 created)
{
        StoredPv *pv = stored_pv_new();
        StoredPv *old = store_lookup(store, name);
        EventType type = old != NULL ? EVENT_MODIFIED : EVENT_ADDED;

        if (old != NULL)
                stored_pv_ref(old);
        pv->name = g_strdup(name);
        pv->json = json;
        pv->len = strlen(json);
        pv->rv = rv;
        pv->created = created;
        g_tree_replace(store->tree, pv->name, pv);
        store_emit(store, type, pv, old, rv);
        stored_pv_unref(old);
}

gboolean store_remove(Store *store, const char *name)
{
        StoredPv *pv = store_lookup(store, name);

        if (pv == NULL)
                return FALSE;
        stored_pv_ref(pv);
        g_tree_remove(store->tree, name);
        store_emit(store, EVENT_DELETED, pv, NULL, store_next_rv(store));
        stored_pv_unref(pv);
        return TRUE;
}

static gboolean collect_value(gpointer key, gpointer value, gpointer user_data)
{
        g_ptr_array_add(user_data, stored_pv_ref(value));
        return FALSE;
}

/* One DELETED event (and RV) per object, in name order, as if each was deleted in turn. */
void store_clear(Store *store)
{
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(value_unref);

        g_tree_foreach(store->tree, collect_value, all);
        g_tree_destroy(store->tree);
        store->tree = g_tree_new_full(compare_names, NULL, NULL, value_unref);
        for (guint i = 0; i < all->len; i++)
                store_emit(store, EVENT_DELETED, all->pdata[i], NULL, store_next_rv(store));
}

static gboolean in_query(const StoreQuery *q, StoredPv *pv, gboolean *past)
{
        if (q->prefix != NULL && !g_str_has_prefix(pv->name, q->prefix)) {
                *past = TRUE; /* keys with a prefix are contiguous */
                return FALSE;
        }
        return (q->filter == NULL || q->filter(pv, q->filter_data)) &&
               label_selector_matches(q->labels, pv);
}

static guint64 count_from(const StoreQuery *q, GTreeNode *node)
{
        gboolean past = FALSE;
        guint64 n = 0;

        for (; node != NULL && !past; node = g_tree_node_next(node))
                n += in_query(q, g_tree_node_value(node), &past) ? 1 : 0;
        return n;
}

static GTreeNode *first_node(Store *store, const StoreQuery *q)
{
        if (q->start_after != NULL)
                return g_tree_upper_bound(store->tree, q->start_after);
        if (q->prefix != NULL)
                return g_tree_lower_bound(store->tree, q->prefix);
        return g_tree_node_first(store->tree);
}

void store_page(Store *store, const StoreQuery *q, guint64 pos, guint64 pos_rv, StorePage *page)
{
        GTreeNode *node = first_node(store, q);
        guint64 total = (guint64)g_tree_nnodes(store->tree);
        gboolean selected = q->filter != NULL || q->labels != NULL;
        gboolean whole = q->prefix == NULL && !selected;
        gboolean pos_known = whole && (q->start_after == NULL || pos_rv == *store->rv);
        gboolean past = FALSE;

        if (q->start_after == NULL)
                pos = 0;
        page->items = g_ptr_array_sized_new(q->limit > 0 ? q->limit : 64);
        page->filtered = selected;
        for (; node != NULL && !past && (q->limit == 0 || page->items->len < q->limit);
             node = g_tree_node_next(node))
                if (in_query(q, g_tree_node_value(node), &past))
                        g_ptr_array_add(page->items, g_tree_node_value(node));
        page->next_pos = pos + page->items->len;
        if (selected) {
                /* As etcd's paging: whether any key of the range follows, matching or not. */
                page->more =
                    node != NULL && !past &&
                    (q->prefix == NULL ||
                     g_str_has_prefix(((StoredPv *)g_tree_node_value(node))->name, q->prefix));
                return;
        }
        if (past || node == NULL)
                page->remaining = 0;
        else if (pos_known && total >= page->next_pos)
                page->remaining = total - page->next_pos;
        else
                page->remaining = count_from(q, node);
        page->more = page->remaining > 0;
}

void store_page_clear(StorePage *page)
{
        g_clear_pointer(&page->items, g_ptr_array_unref);
}

/* A DELETED event carries the last object with the deletion's RV, built when first asked. */
StoredPv *store_event_object(StoreEvent *event)
{
        g_autoptr(JsonNode) node = NULL;
        g_autofree char *rv = NULL;
        StoredPv *pv;

        if (event->type != EVENT_DELETED)
                return event->pv;
        if (event->object != NULL)
                return event->object;
        node = store_parse(event->pv);
        rv = g_strdup_printf("%" G_GUINT64_FORMAT, event->rv);
        json_object_set_string_member(
            json_get_object_member(json_node_get_object(node), "metadata"), "resourceVersion", rv);
        pv = stored_pv_new();
        pv->name = g_strdup(event->pv->name);
        pv->json = json_node_to_compact(node, &pv->len);
        pv->rv = event->rv;
        pv->created = event->pv->created;
        event->object = pv;
        return pv;
}

guint64 store_oldest_rv(Store *store)
{
        return store->floor;
}

guint64 store_compacted_rv(Store *store)
{
        return store->compacted;
}

/* Like etcd's compaction: the history up to @rv is gone, later RVs stay watchable. */
void store_compact(Store *store, guint64 rv)
{
        rv = MIN(rv, *store->rv);
        while (!g_queue_is_empty(&store->history) &&
               ((StoreEvent *)g_queue_peek_head(&store->history))->rv <= rv)
                store_event_free(g_queue_pop_head(&store->history));
        store->floor = MAX(store->floor, rv);
        store->compacted = MAX(store->compacted, rv);
}

gboolean store_events_since(Store *store, guint64 after, StoreEventFunc func, gpointer user_data)
{
        GList *link = store->history.tail;

        if (after < store->floor)
                return FALSE;
        /* Resumes are usually near the end: find the start from the newest event. */
        while (link != NULL && ((StoreEvent *)link->data)->rv > after)
                link = link->prev;
        for (link = link != NULL ? link->next : store->history.head; link != NULL;
             link = link->next)
                func(link->data, user_data);
        return TRUE;
}
