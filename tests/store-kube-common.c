/* SPDX-License-Identifier: MIT */
/* Fixtures shared by the Kubernetes store tests (test-store-kube, test-store-kube-load). */
#include "store-kube-common.h"

#include <string.h>

Emulator *emulator_start(void)
{
        return emulator_start_full(NULL, 0, NULL, NULL);
}

Store *store_for(Emulator *emu)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;
        Store *store;

        emulator_config(&config, emu->url, NULL, 10, 10);
        /* Not about Events: the sender has test-events and integration-reconcile. */
        config.events = FALSE;
        store = store_kube_new(&config, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(store_name(store), ==, "kubernetes");
        g_assert_true(store_needs_io(store));
        return store;
}

char *pv_json(const char *name, const char *driver, const char *handle, const char *node,
              const char *at)
{
        g_autofree char *annotations = NULL;

        if (node != NULL)
                annotations = g_strdup_printf(",\"annotations\":{\"%s\":\"%s\",\"%s\":\"%s\"}",
                                              NODE_KEY, node, AT_KEY, at);
        return g_strdup_printf(
            "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":"
            "\"%s\"%s},\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"accessModes\":["
            "\"ReadWriteOnce\"],\"csi\":{\"driver\":\"%s\",\"volumeHandle\":\"%s\"}}}",
            name, annotations != NULL ? annotations : "", driver, handle);
}

void seed(Emulator *emu, const char *name, const char *node, const char *at)
{
        g_autofree char *body = pv_json(name, DRIVER, name, node, at);

        emulator_post(emu, "/_emulator/pvs", body);
}

JsonObject *annotations_of(Emulator *emu, const char *name, JsonNode **holder)
{
        g_autofree char *path = g_strconcat("/_emulator/pvs/", name, NULL);
        JsonObject *metadata;

        *holder = emulator_call(emu, "GET", path, NULL);
        g_assert_nonnull(*holder);
        metadata = json_object_get_object_member(json_node_get_object(*holder), "metadata");
        if (!json_object_has_member(metadata, "annotations"))
                return NULL;
        return json_object_get_object_member(metadata, "annotations");
}

void assert_stored_node(Emulator *emu, const char *name, const char *node)
{
        g_autoptr(JsonNode) pv = NULL;

        g_assert_cmpstr(json_object_get_string_member(annotations_of(emu, name, &pv), NODE_KEY), ==,
                        node);
}

void reset_counts(Emulator *emu)
{
        emulator_post(emu, "/_emulator/counts/reset", "{}");
}

static void loaded_free(Loaded *l)
{
        g_free(l->volume);
        g_free(l->node);
        g_free(l);
}

void collect(const char *volume, const char *node, gint64 at, gpointer user_data)
{
        GHashTable *loaded = user_data;
        Loaded *l = g_new0(Loaded, 1);

        l->volume = g_strdup(volume);
        l->node = g_strdup(node);
        l->at = at;
        /* Each volume exactly once. */
        g_assert_false(g_hash_table_contains(loaded, volume));
        g_hash_table_insert(loaded, l->volume, l);
}

GHashTable *loaded_new(void)
{
        return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)loaded_free);
}

GHashTable *load_ok(Store *store)
{
        GHashTable *loaded = loaded_new();
        g_autoptr(GError) error = NULL;

        g_assert_true(store_load(store, collect, loaded, &error));
        g_assert_no_error(error);
        return loaded;
}

void store_fixture_setup(StoreFixture *f, gconstpointer data)
{
        if (!emulator_available())
                return;
        f->emu = emulator_start();
        f->store = store_for(f->emu);
}

void store_fixture_teardown(StoreFixture *f, gconstpointer data)
{
        g_clear_pointer(&f->loaded, g_hash_table_unref);
        g_clear_pointer(&f->store, store_free);
        g_clear_pointer(&f->emu, emulator_stop);
}

void store_fixture_load(StoreFixture *f)
{
        f->loaded = load_ok(f->store);
}
