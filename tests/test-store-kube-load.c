/* SPDX-License-Identifier: MIT */
/* The Kubernetes store starting up: the rebuild from a LIST of PVs, waiting for the API
 * server, giving up. */
#include "store-kube-common.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- captured warnings ---- */

/* Structured logging bypasses g_test_expect_message(): a writer captures warnings while a
 * test expects them; any other warning stays fatal. */
static GMutex warnings_lock;
static GPtrArray *warnings; /* NULL: warnings are not expected */

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                   gpointer user_data)
{
        gboolean captured = FALSE;

        g_mutex_lock(&warnings_lock);
        if (warnings != NULL && (level & G_LOG_LEVEL_WARNING) != 0) {
                for (gsize i = 0; i < n_fields; i++)
                        if (strcmp(fields[i].key, "MESSAGE") == 0)
                                g_ptr_array_add(warnings, g_strdup(fields[i].value));
                captured = TRUE;
        }
        g_mutex_unlock(&warnings_lock);
        if (captured)
                return G_LOG_WRITER_HANDLED;
        return g_log_writer_default(level, fields, n_fields, user_data);
}

static void expect_warnings(void)
{
        g_mutex_lock(&warnings_lock);
        warnings = g_ptr_array_new_with_free_func(g_free);
        g_mutex_unlock(&warnings_lock);
}

static GPtrArray *take_warnings(void)
{
        GPtrArray *taken;

        g_mutex_lock(&warnings_lock);
        taken = g_steal_pointer(&warnings);
        g_mutex_unlock(&warnings_lock);
        return taken;
}

/* ---- load ---- */

static void test_rebuild_state(StoreFixture *f, gconstpointer data)
{
        const Loaded *a, *b;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", "node-1", "2026-11-26T13:07:03.123456Z");
        seed(f->emu, "pv-2", NULL, NULL);
        seed(f->emu, "pv-3", "node-2", "2026-11-26T15:07:03.5+02:00");
        store_fixture_load(f);
        g_assert_cmpuint(g_hash_table_size(f->loaded), ==, 2);
        a = g_hash_table_lookup(f->loaded, "pv-1");
        b = g_hash_table_lookup(f->loaded, "pv-3");
        g_assert_nonnull(a);
        g_assert_nonnull(b);
        g_assert_cmpstr(a->node, ==, "node-1");
        g_assert_cmpint(a->at, ==, T1);
        g_assert_cmpstr(b->node, ==, "node-2");
        g_assert_cmpint(b->at, ==, T1 - 123456 + 500000);
}

static void test_rebuild_ignores_other_drivers(StoreFixture *f, gconstpointer data)
{
        g_autofree char *other =
            pv_json("pv-o", "other.csi.io", "pv-o", "node-1", "2026-11-26T13:07:03.123456Z");

        RETURN_IF_NO_EMULATOR(f);
        emulator_post(f->emu, "/_emulator/pvs", other);
        seed(f->emu, "pv-1", "node-1", "2026-11-26T13:07:03.123456Z");
        store_fixture_load(f);
        g_assert_cmpuint(g_hash_table_size(f->loaded), ==, 1);
        g_assert_true(g_hash_table_contains(f->loaded, "pv-1"));
}

static void test_rebuild_odd_pvs(StoreFixture *f, gconstpointer data)
{
        g_autofree char *no_handle = pv_json("pv-a", DRIVER, "", "node-1", "2026-11-26T13:07:03Z");
        g_autofree char *renamed =
            pv_json("pv-b", DRIVER, "vol-b", "node-2", "2026-11-26T13:07:03Z");
        g_autofree char *garbage_at = pv_json("pv-c", DRIVER, "pv-c", "node-3", "yesterday");
        g_autofree char *empty_node = pv_json("pv-d", DRIVER, "pv-d", "", "2026-11-26T13:07:03Z");
        const char *no_csi = "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":"
                             "{\"name\":\"pv-e\",\"annotations\":{\"" NODE_KEY "\":\"n\"}},"
                             "\"spec\":{\"hostPath\":{\"path\":\"/tmp\"}}}";
        const char *const pvs[] = {no_handle, renamed, garbage_at, empty_node, no_csi};
        g_autoptr(GPtrArray) logged = NULL;
        gint64 before, after;
        const Loaded *c;

        RETURN_IF_NO_EMULATOR(f);
        for (gsize i = 0; i < G_N_ELEMENTS(pvs); i++)
                emulator_post(f->emu, "/_emulator/pvs", pvs[i]);
        before = g_get_real_time();
        expect_warnings();
        store_fixture_load(f);
        logged = take_warnings();
        g_assert_cmpuint(logged->len, ==, 1);
        g_assert_true(g_pattern_match_simple("*pv-c*'yesterday'*", logged->pdata[0]));
        after = g_get_real_time();
        g_assert_cmpuint(g_hash_table_size(f->loaded), ==, 2);
        g_assert_cmpstr(((Loaded *)g_hash_table_lookup(f->loaded, "vol-b"))->node, ==, "node-2");
        c = g_hash_table_lookup(f->loaded, "pv-c");
        g_assert_cmpstr(c->node, ==, "node-3");
        g_assert_cmpint(c->at, >=, before);
        g_assert_cmpint(c->at, <=, after);
}

/* The rebuild maps a volume handle to its PV: writes go to that PV, not to one named like
 * the volume. */
static void test_writes_follow_volume_handle(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *renamed = pv_json("pv-b", DRIVER, "vol-b", NULL, NULL);
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        emulator_post(f->emu, "/_emulator/pvs", renamed);
        store_fixture_load(f);
        g_assert_true(store_put(f->store, "vol-b", "node-1", &at, NULL, &error));
        g_assert_no_error(error);
        assert_stored_node(f->emu, "pv-b", "node-1");
}

static void test_rebuild_paginates(StoreFixture *f, gconstpointer data)
{
        RETURN_IF_NO_EMULATOR(f);
        emulator_post(f->emu, "/_emulator/generate",
                      "{\"count\":1200,\"prefix\":\"pv-\",\"driver\":\"" DRIVER "\","
                      "\"annotated\":7,\"node\":\"node-1\",\"realistic\":true}");
        reset_counts(f->emu);
        store_fixture_load(f);
        g_assert_cmpint(emulator_count(f->emu, "list"), ==, 3);
        g_assert_cmpuint(g_hash_table_size(f->loaded), ==, 7);
}

static void test_rebuild_restarts_on_410(StoreFixture *f, gconstpointer data)
{
        RETURN_IF_NO_EMULATOR(f);
        emulator_post(f->emu, "/_emulator/generate",
                      "{\"count\":1200,\"prefix\":\"pv-\",\"driver\":\"" DRIVER "\","
                      "\"annotated\":1200,\"node\":\"node-1\"}");
        reset_counts(f->emu);
        emulator_post(f->emu, "/_emulator/expire-continue", "{\"count\":1}");
        /* collect() asserts that no volume is reported twice. */
        store_fixture_load(f);
        g_assert_cmpuint(g_hash_table_size(f->loaded), ==, 1200);
        /* Page 1, page 2 (410), then pages 1-3 again. */
        g_assert_cmpint(emulator_count(f->emu, "list"), ==, 5);
}

typedef struct {
        Store *store;
        GHashTable *loaded;
        gboolean ok;
        GError *error;
} LoadThread;

static gpointer load_thread(gpointer user_data)
{
        LoadThread *t = user_data;

        t->ok = store_load(t->store, collect, t->loaded, &t->error);
        return NULL;
}

static guint free_port(void)
{
        g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
        g_autoptr(GSocket) socket =
            g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, NULL);
        g_autoptr(GSocketAddress) bound = NULL;

        g_assert_true(g_socket_bind(socket, any, TRUE, NULL));
        bound = g_socket_get_local_address(socket, NULL);
        return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void test_load_waits_for_api(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GHashTable) loaded = loaded_new();
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;
        g_autofree char *url = NULL, *dir = NULL, *seed_file = NULL, *pvs = NULL;
        g_autofree char *pv1 =
            pv_json("pv-1", DRIVER, "pv-1", "node-1", "2026-11-26T13:07:03.123456Z");
        LoadThread t = {0};
        GThread *thread;
        guint port;

        if (!emulator_available())
                return;
        port = free_port();
        url = g_strdup_printf("http://127.0.0.1:%u", port);
        emulator_config(&config, url, NULL, 10, 60);
        store = store_kube_new(&config, &error);
        g_assert_no_error(error);
        dir = g_dir_make_tmp("test-store-kube-XXXXXX", &error);
        seed_file = g_build_filename(dir, "seed.json", NULL);
        pvs = g_strdup_printf("[%s]", pv1);
        g_assert_true(g_file_set_contents(seed_file, pvs, -1, &error));
        t = (LoadThread){store, loaded, FALSE, NULL};
        thread = g_thread_new("load", load_thread, &t);
        /* The API server comes up while load() retries. */
        g_usleep(2 * G_TIME_SPAN_SECOND);
        emu = emulator_start_full(NULL, port, seed_file, NULL);
        g_thread_join(thread);
        g_assert_no_error(t.error);
        g_assert_true(t.ok);
        g_assert_cmpuint(g_hash_table_size(loaded), ==, 1);
        g_unlink(seed_file);
        g_rmdir(dir);
}

static void test_load_gives_up(void)
{
        g_autoptr(Store) store = NULL;
        g_autoptr(GHashTable) loaded = loaded_new();
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;
        g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u", free_port());

        emulator_config(&config, url, NULL, 10, 2);
        store = store_kube_new(&config, &error);
        g_assert_no_error(error);
        g_assert_false(store_load(store, collect, loaded, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "cannot reach"));
        g_assert_nonnull(strstr(error->message, "start timeout"));
}

static void test_load_401_is_permanent(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GHashTable) loaded = loaded_new();
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;
        g_autofree char *token_file = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start_full("right-token", 0, NULL, NULL);
        token_file = g_build_filename(emu->dir, "token", NULL);
        g_assert_true(g_file_set_contents(token_file, "wrong-token\n", -1, NULL));
        emulator_config(&config, emu->url, token_file, 10, 60);
        store = store_kube_new(&config, &error);
        g_assert_no_error(error);
        g_assert_false(store_load(store, collect, loaded, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "HTTP 401"));
        /* One request, one retry after re-reading the token; no start-up retry loop. */
        g_assert_cmpint(emulator_count(emu, "unauthorized"), ==, 2);
        g_unlink(token_file);
}

static void test_new_rejects_bad_server(void)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;

        emulator_config(&config, "http://10.0.0.1:6443", NULL, 10, 1);
        g_assert_null(store_kube_new(&config, &error));
        g_assert_nonnull(error);
        g_assert_cmpstr(error->message, ==,
                        "Server=http://10.0.0.1:6443: plain http is only allowed to a loopback "
                        "host; use https://");
}

int main(int argc, char **argv)
{
        g_log_set_writer_func(log_writer, NULL, NULL);
        g_test_init(&argc, &argv, NULL);
        umask(077); /* token files the owner's only: a readable one warns */
        g_test_add_func("/store-kube/new/bad-server", test_new_rejects_bad_server);
        STORE_TEST("/store-kube/load/rebuild", test_rebuild_state);
        STORE_TEST("/store-kube/load/ignores-other-drivers", test_rebuild_ignores_other_drivers);
        STORE_TEST("/store-kube/load/odd-pvs", test_rebuild_odd_pvs);
        STORE_TEST("/store-kube/load/writes-follow-volume-handle",
                   test_writes_follow_volume_handle);
        STORE_TEST("/store-kube/load/paginates", test_rebuild_paginates);
        STORE_TEST("/store-kube/load/restarts-on-410", test_rebuild_restarts_on_410);
        g_test_add_func("/store-kube/load/waits-for-api", test_load_waits_for_api);
        g_test_add_func("/store-kube/load/gives-up", test_load_gives_up);
        g_test_add_func("/store-kube/load/401-is-permanent", test_load_401_is_permanent);
        return g_test_run();
}
