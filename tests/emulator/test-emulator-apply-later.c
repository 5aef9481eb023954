/* The apply-later fault (a write that lands after the client gave up): answered at once (a
 * dropped connection or an error Status), applied N ms later with a watch event, unless its
 * resourceVersion precondition went stale meanwhile. */
#include "emulator-helper.h"

#include <string.h>

#define PVS "/api/v1/persistentvolumes"
#define MERGE "application/merge-patch+json"

/* On a new connection, so that libsoup cannot retry a dropped request on a reused one. */
static Reply *send_fresh(Emu *emu, const char *method, const char *path, const char *body)
{
        g_autoptr(SoupMessage) msg = emu_message(emu, method, path);
        g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

        soup_message_add_flags(msg, SOUP_MESSAGE_NEW_CONNECTION);
        soup_message_set_request_body_from_bytes(msg, MERGE, bytes);
        return emu_send(emu, msg);
}

static char *annotation_patch(const char *key, guint64 rv)
{
        if (rv == 0)
                return g_strdup_printf("{\"metadata\":{\"annotations\":{\"%s\":\"1\"}}}", key);
        return g_strdup_printf("{\"metadata\":{\"resourceVersion\":\"%" G_GUINT64_FORMAT "\","
                               "\"annotations\":{\"%s\":\"1\"}}}",
                               rv, key);
}

static gboolean has_annotation(JsonObject *pv, const char *key)
{
        JsonObject *meta = json_object_get_object_member(pv, "metadata");
        JsonObject *annotations = json_object_has_member(meta, "annotations")
                                      ? json_object_get_object_member(meta, "annotations")
                                      : NULL;

        return annotations != NULL && json_object_has_member(annotations, key);
}

static void test_lands_later(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(Reply) dropped = NULL, before = NULL, requests = NULL;
        g_autoptr(JsonNode) event = NULL;
        g_autofree char *patch = annotation_patch("late", 1001);
        JsonObject *landed;

        emu_generate(emu, 1, 0); /* pv-000000 at RV 1001 */
        w = emu_watch(emu, "resourceVersion=1001", NULL);
        /* long enough that the check below runs well before it lands */
        emu_add_fault(emu, "{\"match\":{\"verb\":\"patch\"},\"action\":\"apply-later\","
                           "\"ms\":1500}");
        dropped = send_fresh(emu, "PATCH", PVS "/pv-000000", patch);
        g_assert_cmpuint(dropped->status, ==, 0);
        g_assert_nonnull(dropped->error);
        before = emu_control(emu, "GET", "/pvs/pv-000000", NULL);
        g_assert_false(has_annotation(reply_object(before), "late"));
        landed = watch_expect(w, "MODIFIED", &event);
        g_assert_true(has_annotation(landed, "late"));
        g_assert_cmpuint(json_rv(landed), ==, 1002);
        requests = emu_control(emu, "GET", "/requests", NULL);
        g_assert_cmpint(
            json_object_get_int_member(
                json_array_get_object_element(json_node_get_array(requests->json), 1), "status"),
            ==, 0);
        emu_stop(emu);
}

static void test_stale_precondition(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(Reply) timeout = NULL, other = NULL, marker = NULL, stored = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL;
        g_autofree char *stale = annotation_patch("stale", 1001);
        g_autofree char *meanwhile = annotation_patch("meanwhile", 0);
        g_autofree char *unconditional = annotation_patch("marker", 0);

        emu_generate(emu, 1, 0);
        w = emu_watch(emu, "resourceVersion=1001", NULL);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"patch\"},\"action\":\"apply-later\","
                           "\"ms\":200,\"answer\":\"status\",\"code\":504}");
        timeout = send_fresh(emu, "PATCH", PVS "/pv-000000", stale);
        assert_status_body(timeout, 504, "Timeout");
        /* another write makes RV 1001 stale before the first lands */
        other = emu_api(emu, "PATCH", PVS "/pv-000000", MERGE, meanwhile);
        g_assert_cmpuint(other->status, ==, 200);
        g_assert_true(has_annotation(watch_expect(w, "MODIFIED", &e1), "meanwhile"));
        /* an unconditional late write due after the stale one: once it lands, the stale one
         * has had its turn */
        emu_add_fault(emu, "{\"match\":{\"verb\":\"patch\"},\"action\":\"apply-later\","
                           "\"ms\":600}");
        marker = send_fresh(emu, "PATCH", PVS "/pv-000000", unconditional);
        g_assert_cmpuint(marker->status, ==, 0);
        g_assert_true(has_annotation(watch_expect(w, "MODIFIED", &e2), "marker"));
        stored = emu_control(emu, "GET", "/pvs/pv-000000", NULL);
        g_assert_false(has_annotation(reply_object(stored), "stale"));
        g_assert_true(has_annotation(reply_object(stored), "meanwhile"));
        g_assert_cmpuint(json_rv(reply_object(stored)), ==, 1003);
        emu_stop(emu);
}

/* A create answered 500 still lands; one pending at exit never does (and leaks nothing). */
static void test_create_and_exit(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(Reply) failed = NULL, pending = NULL, bad = NULL;
        g_autoptr(JsonNode) e1 = NULL;

        w = emu_watch(emu, "resourceVersion=1000", NULL);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"create\"},\"action\":\"apply-later\","
                           "\"ms\":100,\"answer\":\"status\"}");
        failed = emu_api(emu, "POST", PVS, NULL, "{\"metadata\":{\"name\":\"pv-late\"}}");
        assert_status_body(failed, 500, "InternalError");
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e1)), ==, "pv-late");
        emu_add_fault(emu, "{\"match\":{\"verb\":\"delete\"},\"action\":\"apply-later\","
                           "\"ms\":600000,\"answer\":\"status\",\"code\":503}");
        pending = emu_api(emu, "DELETE", PVS "/pv-late", NULL, NULL);
        assert_status_body(pending, 503, "ServiceUnavailable");
        bad = emu_control(emu, "POST", "/faults",
                          "{\"action\":\"apply-later\",\"answer\":\"maybe\"}");
        g_assert_cmpuint(bad->status, ==, 400);
        emu_stop(emu);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/apply-later/lands-later", test_lands_later);
        g_test_add_func("/emulator/apply-later/stale-precondition", test_stale_precondition);
        g_test_add_func("/emulator/apply-later/create-and-exit", test_create_and_exit);
        return g_test_run();
}
