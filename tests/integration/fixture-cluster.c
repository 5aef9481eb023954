/* SPDX-License-Identifier: MIT */
/* Several hosts, one cluster: a daemon's List compared with the PV annotations the API
 * server holds. */
#include "fixture-private.h"

#include <string.h>

gint64 fixture_parse_time(const char *text)
{
        g_autoptr(GDateTime) t = text != NULL ? g_date_time_new_from_iso8601(text, NULL) : NULL;

        if (t == NULL)
                return -1;
        return g_date_time_to_unix(t) * G_USEC_PER_SEC + g_date_time_get_microsecond(t);
}

static const char *member_string(JsonObject *o, const char *a, const char *b)
{
        JsonObject *inner =
            o != NULL && json_object_has_member(o, a) ? json_object_get_object_member(o, a) : NULL;

        if (inner == NULL || !json_object_has_member(inner, b))
                return NULL;
        return json_object_get_string_member(inner, b);
}

/* Calls `fn` for every PV of our driver with a volume handle in a PV list body, with its
 * handle and metadata. */
typedef void (*PvFunc)(const char *handle, JsonObject *meta, gpointer data);

static void for_each_pv(const char *pv_list, PvFunc fn, gpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) root = json_from_string(pv_list, &error);
        JsonArray *items;

        g_assert_no_error(error);
        items = json_object_get_array_member(json_node_get_object(root), "items");
        for (guint i = 0; i < json_array_get_length(items); i++) {
                JsonObject *pv = json_array_get_object_element(items, i);
                JsonObject *spec = json_object_get_object_member(pv, "spec");
                const char *handle = member_string(spec, "csi", "volumeHandle");

                if (g_strcmp0(member_string(spec, "csi", "driver"), FIXTURE_DRIVER) != 0 ||
                    handle == NULL || *handle == '\0')
                        continue;
                fn(handle, json_object_get_object_member(pv, "metadata"), data);
        }
}

typedef struct {
        GHashTable *map;
        const char *only_node;
} Annotated;

static void add_volume(const char *handle, JsonObject *meta, gpointer data)
{
        Annotated *a = data;
        const char *node = member_string(meta, "annotations", FIXTURE_ANNOTATION_NODE);
        const char *at = member_string(meta, "annotations", FIXTURE_ANNOTATION_AT);

        if (node == NULL || *node == '\0' ||
            (a->only_node != NULL && !g_str_equal(node, a->only_node)))
                return;
        g_hash_table_insert(a->map, g_strdup(handle),
                            g_strdup_printf("%s@%" G_GINT64_FORMAT, node, fixture_parse_time(at)));
}

/* volume -> "node@usec" for what the daemon should hold, from a PV list body: PVs of our driver,
 * keyed by volumeHandle, annotated (with `only_node` when not NULL). */
GHashTable *fixture_annotated_volumes(const char *pv_list, const char *only_node)
{
        Annotated a = {g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free), only_node};

        for_each_pv(pv_list, add_volume, &a);
        return a.map;
}

static void add_row(GHashTable *map, const char *handle, JsonObject *meta, const char *node_key,
                    const char *at_key)
{
        const char *node = member_string(meta, "annotations", node_key);
        const char *at = member_string(meta, "annotations", at_key);

        if (node == NULL || *node == '\0')
                return;
        g_hash_table_insert(map, g_strdup_printf("%s %s", handle, node),
                            g_strdup_printf("%" G_GINT64_FORMAT, fixture_parse_time(at)));
}

static void add_rows(const char *handle, JsonObject *meta, gpointer data)
{
        const char *first = member_string(meta, "annotations", FIXTURE_ANNOTATION_NODE);

        /* A second node without a first is no attachment the daemon would read. */
        if (first == NULL || *first == '\0')
                return;
        add_row(data, handle, meta, FIXTURE_ANNOTATION_NODE, FIXTURE_ANNOTATION_AT);
        add_row(data, handle, meta, FIXTURE_DRIVER ANNOTATION_SUFFIX_TARGET,
                FIXTURE_DRIVER ANNOTATION_SUFFIX_TARGET_AT);
}

GHashTable *fixture_annotated_rows(const char *pv_list)
{
        GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        for_each_pv(pv_list, add_rows, map);
        return map;
}

/* `rows`: keyed "volume node" (every row) instead of volume (the last row of each volume). */
static GHashTable *listed(Fixture *f, gboolean rows)
{
        g_autoptr(GVariant) list = fixture_list(f);
        GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        GVariantIter it;
        const char *volume, *node;
        guint64 at;

        g_variant_iter_init(&it, list);
        while (g_variant_iter_next(&it, "(&s&st)", &volume, &node, &at)) {
                if (rows)
                        g_hash_table_insert(map, g_strdup_printf("%s %s", volume, node),
                                            g_strdup_printf("%" G_GUINT64_FORMAT, at));
                else
                        g_hash_table_insert(map, g_strdup(volume),
                                            g_strdup_printf("%s@%" G_GUINT64_FORMAT, node, at));
        }
        return map;
}

GHashTable *fixture_listed_volumes(Fixture *f)
{
        return listed(f, FALSE);
}

GHashTable *fixture_listed_rows(Fixture *f)
{
        return listed(f, TRUE);
}

static void diff_into(GString *s, GHashTable *a, GHashTable *b, const char *what)
{
        GHashTableIter it;
        gpointer k, v;

        g_hash_table_iter_init(&it, a);
        while (g_hash_table_iter_next(&it, &k, &v))
                if (g_strcmp0(v, g_hash_table_lookup(b, k)) != 0)
                        g_string_append_printf(s, "  %s: %s %s, other %s\n", (char *)k, what,
                                               (char *)v, (char *)g_hash_table_lookup(b, k));
}

/* Every PV, through the API of the fixture's emulator. */
char *fixture_pv_list(Fixture *emulator)
{
        guint status = 0;
        char *body =
            fixture_emulator_request(emulator, "GET", "/api/v1/persistentvolumes", NULL, &status);

        g_assert_cmpuint(status, ==, 200);
        return body;
}

/* f's List (nodes and attached_at) == the annotations in `emulator` (those naming `only_node`
 * when set). */
char *fixture_list_diff(Fixture *f, Fixture *emulator, const char *only_node)
{
        g_autofree char *body = fixture_pv_list(emulator);
        g_autoptr(GHashTable) store = fixture_annotated_volumes(body, only_node);
        g_autoptr(GHashTable) listed = fixture_listed_volumes(f);
        g_autoptr(GString) diff = g_string_new(NULL);

        diff_into(diff, listed, store, "List");
        diff_into(diff, store, listed, "annotation");
        return diff->len > 0 ? g_strdup(diff->str) : NULL;
}

void fixture_assert_consistent(Fixture *f, Fixture *emulator, const char *only_node)
{
        g_autofree char *diff = fixture_list_diff(f, emulator, only_node);

        if (diff != NULL)
                g_test_message("List != annotations:\n%s", diff);
        g_assert_null(diff);
}

typedef struct {
        Fixture *f;
        Fixture *emulator;
} Pair;

static gboolean consistent(gpointer data)
{
        Pair *p = data;
        g_autofree char *diff = fixture_list_diff(p->f, p->emulator, NULL);

        return diff == NULL;
}

void fixture_wait_consistent(Fixture *f, Fixture *emulator, guint timeout_sec)
{
        Pair p = {f, emulator};

        if (!fixture_wait_for(consistent, &p, timeout_sec))
                fixture_assert_consistent(f, emulator, NULL);
}

void fixture_emulator_generate(Fixture *f, const char *prefix, guint count, guint annotated,
                               const char *driver, const char *node)
{
        g_autofree char *body = g_strdup_printf(
            "{\"count\":%u,\"prefix\":\"%s\",\"annotated\":%u,\"driver\":\"%s\",\"node\":\"%s\"}",
            count, prefix, annotated, driver, node);

        fixture_emulator_ok(f, "POST", "/_emulator/generate", body);
}
