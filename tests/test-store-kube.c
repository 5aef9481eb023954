/* SPDX-License-Identifier: MIT */
/* The Kubernetes store in steady state: put and remove against the API emulator. */
#include "store-kube-common.h"

#include <string.h>

/* ---- put ---- */

static void test_persist_attachment(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(JsonNode) pv = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *holder = NULL;
        JsonObject *annotations;
        gint64 at = T1;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", NULL, NULL);
        store = store_for(emu);
        g_assert_true(store_put(store, "pv-1", "node-1", &at, &holder, &error));
        g_assert_no_error(error);
        g_assert_null(holder);
        g_assert_cmpint(at, ==, T1);
        annotations = annotations_of(emu, "pv-1", &pv);
        g_assert_nonnull(annotations);
        g_assert_cmpstr(json_object_get_string_member(annotations, NODE_KEY), ==, "node-1");
        g_assert_cmpstr(json_object_get_string_member(annotations, AT_KEY), ==,
                        "2026-11-26T13:07:03.123456Z");
        g_assert_cmpuint(json_object_get_size(annotations), ==, 2);
}

static void test_persist_same_node_keeps_time(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        gint64 at = T1 + 5 * G_TIME_SPAN_SECOND;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", "node-1", "2026-11-26T13:07:03.123456Z");
        store = store_for(emu);
        g_assert_true(store_put(store, "pv-1", "node-1", &at, NULL, &error));
        g_assert_no_error(error);
        g_assert_cmpint(at, ==, T1);
        g_assert_cmpint(emulator_count(emu, "patch"), ==, 0);
}

static void test_persist_held_by_other_node(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;
        g_autofree char *holder = NULL;
        gint64 at = T1;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", "node-2", "2026-01-01T00:00:00.000000Z");
        store = store_for(emu);
        g_assert_false(store_put(store, "pv-1", "node-1", &at, &holder, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(holder, ==, "node-2");
        g_assert_cmpstr(error->message, ==, "volume pv-1 already attached to node node-2");
        g_assert_cmpint(emulator_count(emu, "patch"), ==, 0);
        g_assert_cmpstr(json_object_get_string_member(annotations_of(emu, "pv-1", &pv), NODE_KEY),
                        ==, "node-2");
}

/* Another daemon attaches the volume after our LIST: the stale RV gives 409, the re-read
 * shows the holder, and nothing is overwritten. */
static void test_persist_raced_by_other_daemon(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) loaded = NULL;
        g_autoptr(JsonNode) pv = NULL;
        g_autofree char *holder = NULL;
        gint64 at = T1;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", NULL, NULL);
        store = store_for(emu);
        loaded = load_ok(store);
        seed(emu, "pv-1", "node-2", "2026-01-01T00:00:00.000000Z");
        g_assert_false(store_put(store, "pv-1", "node-1", &at, &holder, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(holder, ==, "node-2");
        g_assert_cmpstr(json_object_get_string_member(annotations_of(emu, "pv-1", &pv), NODE_KEY),
                        ==, "node-2");
}

static void test_persist_rollback_missing_pv(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        gint64 at = T1;

        if (!emulator_available())
                return;
        emu = emulator_start();
        store = store_for(emu);
        g_assert_false(store_put(store, "pv-9", "node-1", &at, NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_FOUND);
        g_assert_cmpstr(error->message, ==, "no PersistentVolume named pv-9");
}

static void check_conflicts(guint conflicts, gboolean succeeds)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) loaded = NULL;
        g_autoptr(JsonNode) pv = NULL;
        g_autofree char *fault = NULL;
        JsonObject *annotations;
        gint64 at = T1;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", NULL, NULL);
        store = store_for(emu);
        loaded = load_ok(store);
        fault = g_strdup_printf("{\"match\":{\"verb\":\"patch\",\"name\":\"pv-1\"},\"count\":%u,"
                                "\"action\":\"conflict\"}",
                                conflicts);
        emulator_add_fault(emu, fault);
        g_assert_cmpint(store_put(store, "pv-1", "node-1", &at, NULL, &error), ==, succeeds);
        annotations = annotations_of(emu, "pv-1", &pv);
        if (succeeds) {
                g_assert_no_error(error);
                g_assert_cmpstr(json_object_get_string_member(annotations, NODE_KEY), ==, "node-1");
        } else {
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
                g_assert_nonnull(strstr(error->message, "conflict"));
                g_assert_null(annotations);
        }
        g_assert_cmpint(emulator_count(emu, "patch"), ==, MIN(conflicts + 1, 5));
}

static void test_conflict_once(void)
{
        check_conflicts(1, TRUE);
}

static void test_conflict_four_times(void)
{
        check_conflicts(4, TRUE);
}

static void test_conflict_six_times(void)
{
        check_conflicts(6, FALSE);
}

static void test_put_500(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        gint64 at = T1;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", NULL, NULL);
        store = store_for(emu);
        emulator_add_fault(emu, "{\"match\":{\"verb\":\"patch\"},\"count\":1,\"action\":\"status\","
                                "\"code\":500,\"message\":\"etcdserver: request timed out\"}");
        g_assert_false(store_put(store, "pv-1", "node-1", &at, NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "HTTP 500: etcdserver: request timed out"));
}

/* ---- remove ---- */

static void test_clear_attachment(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;
        gint64 at = T1;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", NULL, NULL);
        store = store_for(emu);
        g_assert_true(store_put(store, "pv-1", "node-1", &at, NULL, &error));
        g_assert_true(store_remove(store, "pv-1", "node-1", &error));
        g_assert_no_error(error);
        g_assert_null(annotations_of(emu, "pv-1", &pv));
}

static void test_clear_other_node_untouched(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", "node-2", "2026-01-01T00:00:00.000000Z");
        store = store_for(emu);
        g_assert_true(store_remove(store, "pv-1", "node-1", &error));
        g_assert_no_error(error);
        g_assert_cmpint(emulator_count(emu, "patch"), ==, 0);
        g_assert_cmpstr(json_object_get_string_member(annotations_of(emu, "pv-1", &pv), NODE_KEY),
                        ==, "node-2");
}

static void test_clear_gone_pv(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) loaded = NULL;
        g_autoptr(JsonNode) answer = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", "node-1", "2026-01-01T00:00:00.000000Z");
        store = store_for(emu);
        loaded = load_ok(store);
        answer = emulator_call(emu, "DELETE", "/_emulator/pvs", NULL);
        g_assert_true(store_remove(store, "pv-1", "node-1", &error));
        g_assert_no_error(error);
}

/* The PV changed under us (another writer): 409, re-read, retry. */
static void test_clear_after_conflict(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) loaded = NULL;
        g_autoptr(JsonNode) pv = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", "node-1", "2026-01-01T00:00:00.000000Z");
        store = store_for(emu);
        loaded = load_ok(store);
        emulator_add_fault(emu,
                           "{\"match\":{\"verb\":\"patch\"},\"count\":2,\"action\":\"conflict\"}");
        g_assert_true(store_remove(store, "pv-1", "node-1", &error));
        g_assert_no_error(error);
        g_assert_null(annotations_of(emu, "pv-1", &pv));
        g_assert_cmpint(emulator_count(emu, "patch"), ==, 3);
}

static void test_clear_500(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GHashTable) loaded = NULL;
        g_autoptr(JsonNode) pv = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start();
        seed(emu, "pv-1", "node-1", "2026-01-01T00:00:00.000000Z");
        store = store_for(emu);
        loaded = load_ok(store);
        emulator_add_fault(emu, "{\"match\":{\"verb\":\"patch\"},\"count\":1,\"action\":\"status\","
                                "\"code\":500,\"message\":\"etcdserver: leader changed\"}");
        g_assert_false(store_remove(store, "pv-1", "node-1", &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, "HTTP 500: etcdserver: leader changed"));
        g_assert_cmpstr(json_object_get_string_member(annotations_of(emu, "pv-1", &pv), NODE_KEY),
                        ==, "node-1");
}

/* ---- steady state ---- */

static void test_one_request_per_operation(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GHashTable) loaded = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start();
        emulator_post(emu, "/_emulator/generate",
                      "{\"count\":20,\"prefix\":\"pv-\",\"driver\":\"" DRIVER "\"}");
        store = store_for(emu);
        loaded = load_ok(store);
        for (guint round = 0; round < 3; round++) {
                for (guint i = 0; i < 20; i++) {
                        g_autofree char *volume = g_strdup_printf("pv-%06u", i);
                        g_autoptr(GError) error = NULL;
                        gint64 at = T1 + round;

                        reset_counts(emu);
                        g_assert_true(store_put(store, volume, "node-1", &at, NULL, &error));
                        g_assert_no_error(error);
                        g_assert_cmpint(emulator_count(emu, "total"), ==, 1);
                        g_assert_cmpint(emulator_count(emu, "patch"), ==, 1);
                        reset_counts(emu);
                        g_assert_true(store_remove(store, volume, "node-1", &error));
                        g_assert_no_error(error);
                        g_assert_cmpint(emulator_count(emu, "total"), ==, 1);
                        g_assert_cmpint(emulator_count(emu, "patch"), ==, 1);
                }
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/store-kube/put/persist", test_persist_attachment);
        g_test_add_func("/store-kube/put/same-node-keeps-time", test_persist_same_node_keeps_time);
        g_test_add_func("/store-kube/put/held-by-other-node", test_persist_held_by_other_node);
        g_test_add_func("/store-kube/put/raced-by-other-daemon",
                        test_persist_raced_by_other_daemon);
        g_test_add_func("/store-kube/put/rollback-missing-pv", test_persist_rollback_missing_pv);
        g_test_add_func("/store-kube/put/conflict-once", test_conflict_once);
        g_test_add_func("/store-kube/put/conflict-four-times", test_conflict_four_times);
        g_test_add_func("/store-kube/put/conflict-six-times", test_conflict_six_times);
        g_test_add_func("/store-kube/put/http-500", test_put_500);
        g_test_add_func("/store-kube/remove/clear", test_clear_attachment);
        g_test_add_func("/store-kube/remove/other-node-untouched", test_clear_other_node_untouched);
        g_test_add_func("/store-kube/remove/gone-pv", test_clear_gone_pv);
        g_test_add_func("/store-kube/remove/after-conflict", test_clear_after_conflict);
        g_test_add_func("/store-kube/remove/http-500", test_clear_500);
        g_test_add_func("/store-kube/steady-state/one-request", test_one_request_per_operation);
        return g_test_run();
}
