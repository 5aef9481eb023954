/* SPDX-License-Identifier: MIT */
/* The Kubernetes store in steady state: put and remove against the API emulator. */
#include "store-kube-common.h"

#include <string.h>

/* ---- fixtures ---- */

#define NEW_YEAR "2026-01-01T00:00:00.000000Z"

/* Queues one HTTP 500 carrying `message` for the next PATCH. */
static void fail_next_patch(Emulator *emu, const char *message)
{
        g_autofree char *fault =
            g_strdup_printf("{\"match\":{\"verb\":\"patch\"},\"count\":1,\"action\":\"status\","
                            "\"code\":500,\"message\":\"%s\"}",
                            message);

        emulator_add_fault(emu, fault);
}

static void assert_failed_with_500(const GError *error, const char *message)
{
        g_autofree char *expected = g_strconcat("HTTP 500: ", message, NULL);

        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_nonnull(strstr(error->message, expected));
}

/* ---- put ---- */

static void test_persist_attachment(StoreFixture *f, gconstpointer data)
{
        g_autoptr(JsonNode) pv = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *holder = NULL;
        JsonObject *annotations;
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", NULL, NULL);
        g_assert_true(store_put(f->store, "pv-1", "node-1", &at, &holder, &error));
        g_assert_no_error(error);
        g_assert_null(holder);
        g_assert_cmpint(at, ==, T1);
        annotations = annotations_of(f->emu, "pv-1", &pv);
        g_assert_nonnull(annotations);
        g_assert_cmpstr(json_object_get_string_member(annotations, NODE_KEY), ==, "node-1");
        g_assert_cmpstr(json_object_get_string_member(annotations, AT_KEY), ==,
                        "2026-11-26T13:07:03.123456Z");
        g_assert_cmpuint(json_object_get_size(annotations), ==, 2);
}

static void test_persist_same_node_keeps_time(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        gint64 at = T1 + 5 * G_TIME_SPAN_SECOND;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", "node-1", "2026-11-26T13:07:03.123456Z");
        g_assert_true(store_put(f->store, "pv-1", "node-1", &at, NULL, &error));
        g_assert_no_error(error);
        g_assert_cmpint(at, ==, T1);
        g_assert_cmpint(emulator_count(f->emu, "patch"), ==, 0);
}

static void test_persist_held_by_other_node(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *holder = NULL;
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", "node-2", NEW_YEAR);
        g_assert_false(store_put(f->store, "pv-1", "node-1", &at, &holder, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(holder, ==, "node-2");
        g_assert_cmpstr(error->message, ==, "volume pv-1 already attached to node node-2");
        g_assert_cmpint(emulator_count(f->emu, "patch"), ==, 0);
        assert_stored_node(f->emu, "pv-1", "node-2");
}

/* Another daemon attaches the volume after our LIST: the stale RV gives 409, the re-read
 * shows the holder, and nothing is overwritten. */
static void test_persist_raced_by_other_daemon(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *holder = NULL;
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", NULL, NULL);
        store_fixture_load(f);
        seed(f->emu, "pv-1", "node-2", NEW_YEAR);
        g_assert_false(store_put(f->store, "pv-1", "node-1", &at, &holder, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(holder, ==, "node-2");
        assert_stored_node(f->emu, "pv-1", "node-2");
}

static void test_persist_rollback_missing_pv(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        g_assert_false(store_put(f->store, "pv-9", "node-1", &at, NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_FOUND);
        g_assert_cmpstr(error->message, ==, "no PersistentVolume named pv-9");
}

static void check_conflicts(StoreFixture *f, guint conflicts, gboolean succeeds)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;
        g_autofree char *fault = NULL;
        JsonObject *annotations;
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", NULL, NULL);
        store_fixture_load(f);
        fault = g_strdup_printf("{\"match\":{\"verb\":\"patch\",\"name\":\"pv-1\"},\"count\":%u,"
                                "\"action\":\"conflict\"}",
                                conflicts);
        emulator_add_fault(f->emu, fault);
        g_assert_cmpint(store_put(f->store, "pv-1", "node-1", &at, NULL, &error), ==, succeeds);
        annotations = annotations_of(f->emu, "pv-1", &pv);
        if (succeeds) {
                g_assert_no_error(error);
                g_assert_cmpstr(json_object_get_string_member(annotations, NODE_KEY), ==, "node-1");
        } else {
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
                g_assert_nonnull(strstr(error->message, "conflict"));
                g_assert_null(annotations);
        }
        g_assert_cmpint(emulator_count(f->emu, "patch"), ==, MIN(conflicts + 1, 5));
}

static void test_conflict_once(StoreFixture *f, gconstpointer data)
{
        check_conflicts(f, 1, TRUE);
}

static void test_conflict_four_times(StoreFixture *f, gconstpointer data)
{
        check_conflicts(f, 4, TRUE);
}

static void test_conflict_six_times(StoreFixture *f, gconstpointer data)
{
        check_conflicts(f, 6, FALSE);
}

static void test_put_500(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", NULL, NULL);
        fail_next_patch(f->emu, "etcdserver: request timed out");
        g_assert_false(store_put(f->store, "pv-1", "node-1", &at, NULL, &error));
        assert_failed_with_500(error, "etcdserver: request timed out");
}

/* ---- remove ---- */

static void test_clear_attachment(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;
        gint64 at = T1;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", NULL, NULL);
        g_assert_true(store_put(f->store, "pv-1", "node-1", &at, NULL, &error));
        g_assert_true(store_remove(f->store, "pv-1", "node-1", NULL, &error));
        g_assert_no_error(error);
        g_assert_null(annotations_of(f->emu, "pv-1", &pv));
}

/* Untrack detaches cluster-wide (DESIGN §8): the PV names node-2 (another daemon's write),
 * the caller believed node-1; the annotations go all the same, and the store says whose. */
static void test_clear_other_node(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;
        g_autofree char *cleared = NULL;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", "node-2", NEW_YEAR);
        g_assert_true(store_remove(f->store, "pv-1", "node-1", &cleared, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(cleared, ==, "node-2");
        g_assert_cmpint(emulator_count(f->emu, "get"), ==, 1);
        g_assert_cmpint(emulator_count(f->emu, "patch"), ==, 1);
        g_assert_null(annotations_of(f->emu, "pv-1", &pv));
}

/* Nothing held: one read answers, nothing is written. */
static void test_clear_nothing_held(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *cleared = NULL;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", NULL, NULL);
        g_assert_true(store_remove(f->store, "pv-1", NULL, &cleared, &error));
        g_assert_no_error(error);
        g_assert_null(cleared);
        g_assert_cmpint(emulator_count(f->emu, "get"), ==, 1);
        g_assert_cmpint(emulator_count(f->emu, "patch"), ==, 0);
}

static void test_clear_gone_pv(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) answer = NULL;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", "node-1", NEW_YEAR);
        store_fixture_load(f);
        answer = emulator_call(f->emu, "DELETE", "/_emulator/pvs", NULL);
        g_assert_true(store_remove(f->store, "pv-1", "node-1", NULL, &error));
        g_assert_no_error(error);
}

/* The PV changed under us (another writer): 409, re-read, retry. */
static void test_clear_after_conflict(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", "node-1", NEW_YEAR);
        store_fixture_load(f);
        emulator_add_fault(f->emu,
                           "{\"match\":{\"verb\":\"patch\"},\"count\":2,\"action\":\"conflict\"}");
        g_assert_true(store_remove(f->store, "pv-1", "node-1", NULL, &error));
        g_assert_no_error(error);
        g_assert_null(annotations_of(f->emu, "pv-1", &pv));
        g_assert_cmpint(emulator_count(f->emu, "patch"), ==, 3);
}

static void test_clear_500(StoreFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        RETURN_IF_NO_EMULATOR(f);
        seed(f->emu, "pv-1", "node-1", NEW_YEAR);
        store_fixture_load(f);
        fail_next_patch(f->emu, "etcdserver: leader changed");
        g_assert_false(store_remove(f->store, "pv-1", "node-1", NULL, &error));
        assert_failed_with_500(error, "etcdserver: leader changed");
        assert_stored_node(f->emu, "pv-1", "node-1");
}

/* ---- steady state ---- */

/* Each store operation is exactly one PATCH and no other request. */
static void assert_one_patch(Emulator *emu, gboolean ok, const GError *error)
{
        g_assert_true(ok);
        g_assert_no_error(error);
        g_assert_cmpint(emulator_count(emu, "total"), ==, 1);
        g_assert_cmpint(emulator_count(emu, "patch"), ==, 1);
}

static void test_one_request_per_operation(StoreFixture *f, gconstpointer data)
{
        RETURN_IF_NO_EMULATOR(f);
        emulator_post(f->emu, "/_emulator/generate",
                      "{\"count\":20,\"prefix\":\"pv-\",\"driver\":\"" DRIVER "\"}");
        store_fixture_load(f);
        for (guint round = 0; round < 3; round++) {
                for (guint i = 0; i < 20; i++) {
                        g_autofree char *volume = g_strdup_printf("pv-%06u", i);
                        g_autoptr(GError) error = NULL;
                        gint64 at = T1 + round;
                        gboolean ok;

                        reset_counts(f->emu);
                        ok = store_put(f->store, volume, "node-1", &at, NULL, &error);
                        assert_one_patch(f->emu, ok, error);
                        reset_counts(f->emu);
                        ok = store_remove(f->store, volume, "node-1", NULL, &error);
                        assert_one_patch(f->emu, ok, error);
                }
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        STORE_TEST("/store-kube/put/persist", test_persist_attachment);
        STORE_TEST("/store-kube/put/same-node-keeps-time", test_persist_same_node_keeps_time);
        STORE_TEST("/store-kube/put/held-by-other-node", test_persist_held_by_other_node);
        STORE_TEST("/store-kube/put/raced-by-other-daemon", test_persist_raced_by_other_daemon);
        STORE_TEST("/store-kube/put/rollback-missing-pv", test_persist_rollback_missing_pv);
        STORE_TEST("/store-kube/put/conflict-once", test_conflict_once);
        STORE_TEST("/store-kube/put/conflict-four-times", test_conflict_four_times);
        STORE_TEST("/store-kube/put/conflict-six-times", test_conflict_six_times);
        STORE_TEST("/store-kube/put/http-500", test_put_500);
        STORE_TEST("/store-kube/remove/clear", test_clear_attachment);
        STORE_TEST("/store-kube/remove/other-node-cleared", test_clear_other_node);
        STORE_TEST("/store-kube/remove/nothing-held-one-read", test_clear_nothing_held);
        STORE_TEST("/store-kube/remove/gone-pv", test_clear_gone_pv);
        STORE_TEST("/store-kube/remove/after-conflict", test_clear_after_conflict);
        STORE_TEST("/store-kube/remove/http-500", test_clear_500);
        STORE_TEST("/store-kube/steady-state/one-request", test_one_request_per_operation);
        return g_test_run();
}
