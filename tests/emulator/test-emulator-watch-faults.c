/* Watch faults of the emulator's control endpoint: drop and stall every open stream, 410 as a
 * status and in the stream, the other fault actions on watches; the watch count, the request
 * log, and continue tokens expired by a compaction. */
#include "emulator-helper.h"

#include <string.h>

#define PVS "/api/v1/persistentvolumes"

static gint64 watch_state(Emu *emu, const char *member)
{
        g_autoptr(Reply) r = emu_control(emu, "GET", "/watch", NULL);

        g_assert_cmpuint(r->status, ==, 200);
        return reply_int(r, member);
}

static void create_pv(Emu *emu, const char *name)
{
        g_autofree char *body = g_strdup_printf("{\"metadata\":{\"name\":\"%s\"}}", name);
        g_autoptr(Reply) r = emu_api(emu, "POST", PVS, NULL, body);

        g_assert_cmpuint(r->status, ==, 201);
}

/* The stream ends; a dropped connection may end it with an error, never with an event. */
static void expect_cut(WatchStream *w)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = watch_next(w, &error);

        g_assert_null(node);
}

static void test_drop(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) a = emu_watch(emu, "resourceVersion=1000", NULL);
        g_autoptr(WatchStream) b = emu_watch(emu, "resourceVersion=1000", NULL);
        g_autoptr(WatchStream) again = NULL;
        g_autoptr(Reply) dropped = NULL;
        g_autoptr(JsonNode) e = NULL;

        g_assert_cmpint(watch_state(emu, "open"), ==, 2);
        dropped = emu_control(emu, "POST", "/watch/drop", NULL);
        g_assert_cmpint(reply_int(dropped, "dropped"), ==, 2);
        expect_cut(a);
        expect_cut(b);
        g_assert_cmpint(watch_state(emu, "open"), ==, 0);
        /* a new watch after the drop is normal */
        again = emu_watch(emu, "resourceVersion=1000", NULL);
        create_pv(emu, "pv-after");
        g_assert_cmpstr(json_name(watch_expect(again, "ADDED", &e)), ==, "pv-after");
        emu_stop(emu);
}

/* The next event that is not a BOOKMARK. */
static JsonObject *next_event(WatchStream *w, JsonNode **owner)
{
        for (;;) {
                JsonNode *node = watch_next(w, NULL);
                JsonObject *event;

                g_assert_nonnull(node);
                event = json_node_get_object(node);
                if (strcmp(json_object_get_string_member(event, "type"), "BOOKMARK") != 0) {
                        *owner = node;
                        return event;
                }
                json_node_unref(node);
        }
}

static void test_stall(void)
{
        Emu *emu = emu_start("--bookmark-interval-ms=20", NULL);
        g_autoptr(WatchStream) stalled = NULL;
        g_autoptr(WatchStream) fresh = NULL;
        g_autoptr(Reply) r = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL;
        JsonObject *event;

        stalled = emu_watch(emu, "resourceVersion=1000&allowWatchBookmarks=true", NULL);
        create_pv(emu, "pv-before"); /* RV 1001 */
        event = next_event(stalled, &e1);
        g_assert_cmpstr(json_object_get_string_member(event, "type"), ==, "ADDED");
        r = emu_control(emu, "POST", "/watch/stall", NULL);
        g_assert_cmpint(reply_int(r, "stalled"), ==, 1);
        fresh = emu_watch(emu, "resourceVersion=1001", NULL);
        create_pv(emu, "pv-during"); /* RV 1002 */
        /* a watch opened after the stall is served normally */
        g_assert_cmpstr(json_name(watch_expect(fresh, "ADDED", &e2)), ==, "pv-during");
        g_assert_cmpint(watch_state(emu, "open"), ==, 2);
        g_assert_cmpint(watch_state(emu, "stalled"), ==, 1);
        /* cut it now: all it received comes before the end, and nothing of it is from after
         * the stall (no event, no bookmark with RV 1002) */
        g_clear_pointer(&r, reply_free);
        r = emu_control(emu, "POST", "/watch/drop", NULL);
        g_assert_cmpint(reply_int(r, "dropped"), ==, 2);
        for (;;) {
                g_autoptr(JsonNode) node = watch_next(stalled, NULL);

                if (node == NULL)
                        break;
                event = json_node_get_object(node);
                g_assert_cmpstr(json_object_get_string_member(event, "type"), ==, "BOOKMARK");
                g_assert_cmpuint(json_rv(json_object_get_object_member(event, "object")), ==, 1001);
        }
        emu_stop(emu);
}

static void test_gone_faults(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) status = NULL;
        g_autoptr(Reply) list = NULL;
        g_autoptr(WatchStream) in_stream = NULL;
        g_autoptr(WatchStream) second = NULL;
        g_autoptr(WatchStream) normal = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL, e3 = NULL;
        JsonObject *error;

        emu_add_fault(emu, "{\"match\":{\"verb\":\"watch\"},\"action\":\"gone\"}");
        emu_add_fault(emu,
                      "{\"match\":{\"verb\":\"watch\"},\"count\":2,\"action\":\"gone-event\"}");
        /* a watch fault does not touch lists */
        list = emu_api(emu, "GET", PVS, NULL, NULL);
        g_assert_cmpuint(list->status, ==, 200);
        status = emu_api(emu, "GET", PVS "?watch=true&resourceVersion=1000", NULL, NULL);
        assert_status_body(status, 410, "Expired");
        g_assert_cmpstr(reply_string(status, "message"), ==,
                        "too old resource version: 1000 (1000)");
        in_stream = emu_watch(emu, "resourceVersion=1000", NULL);
        g_assert_cmpuint(in_stream->status, ==, 200);
        error = watch_expect(in_stream, "ERROR", &e1);
        g_assert_cmpint(json_object_get_int_member(error, "code"), ==, 410);
        g_assert_cmpstr(json_object_get_string_member(error, "reason"), ==, "Expired");
        g_assert_cmpstr(json_object_get_string_member(error, "kind"), ==, "Status");
        watch_expect_end(in_stream);
        second = emu_watch(emu, "resourceVersion=1000", NULL);
        watch_expect(second, "ERROR", &e2);
        watch_expect_end(second);
        /* count 2 used up: the next watch is normal */
        normal = emu_watch(emu, "resourceVersion=1000", NULL);
        create_pv(emu, "pv-ok");
        g_assert_cmpstr(json_name(watch_expect(normal, "ADDED", &e3)), ==, "pv-ok");
        emu_stop(emu);
}

static void test_other_actions(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) failed = NULL;
        g_autoptr(Reply) dropped = NULL;
        g_autoptr(WatchStream) delayed = NULL;
        g_autoptr(WatchStream) truncated = NULL;
        g_autoptr(SoupMessage) msg = NULL;
        g_autoptr(JsonNode) e = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) half = NULL;

        emu_add_fault(emu, "{\"match\":{\"verb\":\"watch\"},\"action\":\"status\",\"code\":500}");
        emu_add_fault(emu, "{\"match\":{\"verb\":\"watch\"},\"action\":\"drop\"}");
        emu_add_fault(emu, "{\"match\":{\"verb\":\"watch\"},\"action\":\"delay\",\"ms\":50}");
        emu_add_fault(emu, "{\"match\":{\"verb\":\"watch\"},\"action\":\"truncated\"}");
        failed = emu_api(emu, "GET", PVS "?watch=1", NULL, NULL);
        assert_status_body(failed, 500, "InternalError");
        msg = emu_message(emu, "GET", PVS "?watch=1");
        soup_message_add_flags(msg, SOUP_MESSAGE_NEW_CONNECTION);
        dropped = emu_send(emu, msg);
        g_assert_cmpuint(dropped->status, ==, 0);
        g_assert_nonnull(dropped->error);
        delayed = emu_watch(emu, "resourceVersion=1000", NULL);
        g_assert_cmpuint(delayed->status, ==, 200);
        create_pv(emu, "pv-late");
        g_assert_cmpstr(json_name(watch_expect(delayed, "ADDED", &e)), ==, "pv-late");
        /* truncated: half an event line, then the connection closes */
        truncated = emu_watch(emu, "resourceVersion=1000", NULL);
        g_assert_cmpuint(truncated->status, ==, 200);
        half = watch_next(truncated, &error);
        g_assert_null(half);
        g_assert_nonnull(error);
        emu_stop(emu);
}

static void test_counts_and_log(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(Reply) log = NULL;
        g_autoptr(Reply) cleared = NULL;
        g_autoptr(Reply) empty = NULL;
        g_autoptr(Reply) list = NULL;
        g_autoptr(JsonNode) e = NULL;
        JsonArray *entries;
        JsonObject *first, *second;

        list = emu_api(emu, "GET", PVS "?limit=5", NULL, NULL);
        w = emu_watch(emu, "resourceVersion=1000&allowWatchBookmarks=true", NULL);
        create_pv(emu, "pv-c");
        watch_expect(w, "ADDED", &e);
        /* the open stream counts once, when it starts */
        g_assert_cmpuint(emu_count(emu, "watch"), ==, 1);
        g_assert_cmpuint(emu_count(emu, "total"), ==, 3);
        log = emu_control(emu, "GET", "/requests", NULL);
        g_assert_cmpuint(log->status, ==, 200);
        g_assert_true(JSON_NODE_HOLDS_ARRAY(log->json));
        entries = json_node_get_array(log->json);
        g_assert_cmpuint(json_array_get_length(entries), ==, 3);
        first = json_array_get_object_element(entries, 0);
        second = json_array_get_object_element(entries, 1);
        g_assert_cmpstr(json_object_get_string_member(first, "verb"), ==, "list");
        g_assert_cmpstr(json_object_get_string_member(first, "path"), ==, PVS "?limit=5");
        g_assert_cmpint(json_object_get_int_member(first, "status"), ==, 200);
        g_assert_cmpstr(json_object_get_string_member(second, "verb"), ==, "watch");
        g_assert_cmpstr(json_object_get_string_member(second, "path"), ==,
                        PVS "?watch=true&resourceVersion=1000&allowWatchBookmarks=true");
        g_assert_cmpint(json_object_get_int_member(second, "status"), ==, 200);
        g_assert_cmpstr(
            json_object_get_string_member(json_array_get_object_element(entries, 2), "verb"), ==,
            "create");
        g_assert_cmpint(
            json_object_get_int_member(json_array_get_object_element(entries, 2), "status"), ==,
            201);
        cleared = emu_control(emu, "DELETE", "/requests", NULL);
        g_assert_cmpuint(cleared->status, ==, 200);
        empty = emu_control(emu, "GET", "/requests", NULL);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(empty->json)), ==, 0);
        emu_stop(emu);
}

static void test_continue_expired_by_compact(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) page = NULL;
        g_autoptr(Reply) compact = NULL;
        g_autoptr(Reply) gone = NULL;
        g_autoptr(Reply) fresh = NULL;
        g_autofree char *next = NULL;

        emu_generate(emu, 3, 0);
        page = emu_api(emu, "GET", PVS "?limit=1", NULL, NULL);
        g_assert_cmpuint(page->status, ==, 200);
        next = g_strdup_printf(PVS "?limit=1&continue=%s", reply_string(page, "metadata.continue"));
        create_pv(emu, "pv-later");
        /* a compaction at the list's own RV keeps its snapshot */
        compact = emu_control(emu, "POST", "/compact", "{\"resourceVersion\":\"1003\"}");
        g_assert_cmpuint(compact->status, ==, 200);
        fresh = emu_api(emu, "GET", next, NULL, NULL);
        g_assert_cmpuint(fresh->status, ==, 200);
        g_clear_pointer(&compact, reply_free);
        compact = emu_control(emu, "POST", "/compact", NULL);
        g_assert_cmpstr(reply_string(compact, "compacted"), ==, "1004");
        gone = emu_api(emu, "GET", next, NULL, NULL);
        assert_status_body(gone, 410, "Expired");
        emu_stop(emu);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/watch-faults/drop", test_drop);
        g_test_add_func("/emulator/watch-faults/stall", test_stall);
        g_test_add_func("/emulator/watch-faults/gone", test_gone_faults);
        g_test_add_func("/emulator/watch-faults/other-actions", test_other_actions);
        g_test_add_func("/emulator/watch-faults/counts-and-log", test_counts_and_log);
        g_test_add_func("/emulator/watch-faults/continue-expired-by-compact",
                        test_continue_expired_by_compact);
        return g_test_run();
}
