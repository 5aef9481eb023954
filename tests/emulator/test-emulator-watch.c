/* The emulator's WATCH: event order and RVs, start points, bookmarks, 410 for history that is
 * gone (compaction, overflow), timeoutSeconds, Table events. */
#include "emulator-helper.h"

#include <string.h>

#define PVS "/api/v1/persistentvolumes"
#define TABLE "application/json;as=Table;v=v1;g=meta.k8s.io"

static guint64 list_rv(Emu *emu)
{
        g_autoptr(Reply) r = emu_api(emu, "GET", PVS, NULL, NULL);

        g_assert_cmpuint(r->status, ==, 200);
        return g_ascii_strtoull(reply_string(r, "metadata.resourceVersion"), NULL, 10);
}

static void expect_api(Emu *emu, const char *method, const char *path, const char *type,
                       const char *body, guint status)
{
        g_autoptr(Reply) r = emu_api(emu, method, path, type, body);

        g_assert_no_error(r->error);
        g_assert_cmpuint(r->status, ==, status);
}

static WatchStream *watch_from(Emu *emu, guint64 rv)
{
        g_autofree char *query = g_strdup_printf("resourceVersion=%" G_GUINT64_FORMAT, rv);

        return emu_watch(emu, query, NULL);
}

static void test_events_in_order(void)
{
        Emu *emu = emu_start(NULL);
        guint64 rv = list_rv(emu);
        g_autoptr(WatchStream) a = watch_from(emu, rv);
        g_autoptr(WatchStream) b = watch_from(emu, rv);
        WatchStream *both[] = {a, b};
        guint64 created_rv = 0, patched_rv = 0;

        g_assert_cmpuint(a->status, ==, 200);
        g_assert_cmpstr(
            soup_message_headers_get_content_type(soup_message_get_response_headers(a->msg), NULL),
            ==, "application/json");
        expect_api(emu, "POST", PVS, NULL, "{\"metadata\":{\"name\":\"pv-w\"}}", 201);
        expect_api(emu, "PATCH", PVS "/pv-w", "application/merge-patch+json",
                   "{\"metadata\":{\"annotations\":{\"k\":\"v\"}}}", 200);
        expect_api(emu, "DELETE", PVS "/pv-w", NULL, NULL, 200);
        for (gsize i = 0; i < G_N_ELEMENTS(both); i++) {
                g_autoptr(JsonNode) e1 = NULL, e2 = NULL, e3 = NULL;
                JsonObject *added = watch_expect(both[i], "ADDED", &e1);
                JsonObject *modified = watch_expect(both[i], "MODIFIED", &e2);
                JsonObject *deleted = watch_expect(both[i], "DELETED", &e3);
                JsonObject *meta = json_object_get_object_member(modified, "metadata");

                g_assert_cmpstr(json_name(added), ==, "pv-w");
                g_assert_cmpstr(json_name(deleted), ==, "pv-w");
                g_assert_cmpuint(json_rv(added), >, rv);
                g_assert_cmpuint(json_rv(modified), >, json_rv(added));
                /* the last object, with the deletion's own (newer) RV */
                g_assert_cmpuint(json_rv(deleted), >, json_rv(modified));
                g_assert_cmpstr(json_object_get_string_member(
                                    json_object_get_object_member(meta, "annotations"), "k"),
                                ==, "v");
                g_assert_true(json_object_has_member(
                    json_object_get_object_member(deleted, "metadata"), "annotations"));
                g_assert_cmpuint(json_rv(deleted), ==, list_rv(emu));
                if (i > 0) {
                        g_assert_cmpuint(json_rv(added), ==, created_rv);
                        g_assert_cmpuint(json_rv(modified), ==, patched_rv);
                }
                created_rv = json_rv(added);
                patched_rv = json_rv(modified);
        }
        emu_stop(emu);
}

static void test_control_writes(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = watch_from(emu, list_rv(emu));
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
        g_autoptr(Reply) seed = NULL, removed = NULL;

        emu_generate(emu, 2, 0);
        seed = emu_control(emu, "POST", "/pvs", "{\"metadata\":{\"name\":\"pv-000001\"}}");
        g_assert_cmpuint(seed->status, ==, 200);
        removed = emu_control(emu, "DELETE", "/pvs", NULL);
        g_assert_cmpuint(removed->status, ==, 200);
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e1)), ==, "pv-000000");
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e2)), ==, "pv-000001");
        g_assert_cmpstr(json_name(watch_expect(w, "MODIFIED", &e3)), ==, "pv-000001");
        /* clearing the store deletes each object in turn, one RV each */
        g_assert_cmpstr(json_name(watch_expect(w, "DELETED", &e4)), ==, "pv-000000");
        g_assert_cmpstr(json_name(watch_expect(w, "DELETED", &e5)), ==, "pv-000001");
        emu_stop(emu);
}

static void test_start_from_rv(void)
{
        Emu *emu = emu_start(NULL);
        guint64 first;
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL, e3 = NULL;

        emu_generate(emu, 3, 0);
        first = list_rv(emu) - 2; /* the RV of pv-000000 */
        w = watch_from(emu, first);
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e1)), ==, "pv-000001");
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e2)), ==, "pv-000002");
        expect_api(emu, "DELETE", PVS "/pv-000000", NULL, NULL, 200);
        g_assert_cmpstr(json_name(watch_expect(w, "DELETED", &e3)), ==, "pv-000000");
        emu_stop(emu);
}

static void test_initial_state(void)
{
        Emu *emu = emu_start(NULL);
        const char *queries[] = {"resourceVersion=0", NULL};

        emu_generate(emu, 3, 0);
        for (gsize i = 0; i < G_N_ELEMENTS(queries); i++) {
                g_autoptr(WatchStream) w = emu_watch(emu, queries[i], NULL);
                g_autofree char *name = g_strdup_printf("pv-new-%zu", i);
                g_autofree char *body = g_strdup_printf("{\"metadata\":{\"name\":\"%s\"}}", name);
                g_autoptr(JsonNode) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL;

                g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e1)), ==, "pv-000000");
                g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e2)), ==, "pv-000001");
                g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e3)), ==, "pv-000002");
                expect_api(emu, "POST", PVS, NULL, body, 201);
                g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e4)), ==, name);
                g_free(body);
                body = g_strdup_printf(PVS "/%s", name);
                expect_api(emu, "DELETE", body, NULL, NULL, 200);
        }
        emu_stop(emu);
}

/* Reads until a BOOKMARK with @rv arrives (events may come in between). */
static void expect_bookmark_at(WatchStream *w, guint64 rv)
{
        for (;;) {
                g_autoptr(JsonNode) node = watch_next(w, NULL);
                JsonObject *event;

                g_assert_nonnull(node);
                event = json_node_get_object(node);
                if (strcmp(json_object_get_string_member(event, "type"), "BOOKMARK") == 0 &&
                    json_rv(json_object_get_object_member(event, "object")) == rv)
                        return;
        }
}

static void test_bookmarks(void)
{
        Emu *emu = emu_start("--bookmark-interval-ms=20", NULL);
        g_autoptr(WatchStream) marked = NULL;
        g_autoptr(WatchStream) plain = NULL;
        g_autoptr(JsonNode) b1 = NULL, b2 = NULL, added = NULL;
        g_autoptr(Reply) off = NULL;
        g_autofree char *query = NULL;
        JsonObject *bookmark;
        guint64 rv;

        emu_generate(emu, 1, 0);
        rv = list_rv(emu);
        plain = watch_from(emu, rv);
        query =
            g_strdup_printf("resourceVersion=%" G_GUINT64_FORMAT "&allowWatchBookmarks=true", rv);
        marked = emu_watch(emu, query, NULL);
        bookmark = watch_expect(marked, "BOOKMARK", &b1);
        g_assert_cmpstr(json_object_get_string_member(bookmark, "kind"), ==, "PersistentVolume");
        g_assert_cmpstr(json_object_get_string_member(bookmark, "apiVersion"), ==, "v1");
        g_assert_cmpuint(json_rv(bookmark), ==, rv);
        watch_expect(marked, "BOOKMARK", &b2);
        expect_api(emu, "POST", PVS, NULL, "{\"metadata\":{\"name\":\"pv-b\"}}", 201);
        /* the stream without allowWatchBookmarks got none, though bookmarks were sent */
        watch_expect(plain, "ADDED", &added);
        /* after the event, bookmarks carry its RV */
        expect_bookmark_at(marked, rv + 1);
        off = emu_control(emu, "POST", "/watch/bookmarks", "{\"interval_ms\":0}");
        g_assert_cmpint(reply_int(off, "interval_ms"), ==, 0);
        emu_stop(emu);
}

static void expect_too_old(WatchStream *w, guint64 rv, guint64 oldest)
{
        g_autoptr(JsonNode) e = NULL;
        JsonObject *status = watch_expect(w, "ERROR", &e);
        g_autofree char *message = g_strdup_printf(
            "too old resource version: %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT ")", rv, oldest);
        JsonObject *meta = json_object_get_object_member(status, "metadata");

        g_assert_cmpuint(w->status, ==, 200);
        g_assert_cmpstr(json_object_get_string_member(status, "kind"), ==, "Status");
        g_assert_cmpstr(json_object_get_string_member(status, "apiVersion"), ==, "v1");
        g_assert_cmpuint(json_object_get_size(meta), ==, 0);
        g_assert_cmpstr(json_object_get_string_member(status, "status"), ==, "Failure");
        g_assert_cmpstr(json_object_get_string_member(status, "message"), ==, message);
        g_assert_cmpstr(json_object_get_string_member(status, "reason"), ==, "Expired");
        g_assert_cmpint(json_object_get_int_member(status, "code"), ==, 410);
        watch_expect_end(w);
}

static void test_too_old_after_compact(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) old = NULL;
        g_autoptr(WatchStream) at = NULL;
        g_autoptr(Reply) compact = NULL;
        g_autoptr(Reply) state = NULL;
        g_autoptr(JsonNode) e = NULL;
        guint64 rv;

        emu_generate(emu, 4, 0);
        rv = list_rv(emu);
        compact = emu_control(emu, "POST", "/compact", "{\"resourceVersion\":\"1003\"}");
        g_assert_cmpuint(compact->status, ==, 200);
        g_assert_cmpstr(reply_string(compact, "compacted"), ==, "1003");
        state = emu_control(emu, "GET", "/watch", NULL);
        g_assert_cmpstr(reply_string(state, "oldestResourceVersion"), ==, "1003");
        old = watch_from(emu, 1002);
        expect_too_old(old, 1002, 1003);
        /* from the compaction's RV itself: the events after it are still there */
        at = watch_from(emu, 1003);
        g_assert_cmpstr(json_name(watch_expect(at, "ADDED", &e)), ==, "pv-000003");
        g_assert_cmpuint(json_rv(json_object_get_object_member(json_node_get_object(e), "object")),
                         ==, rv);
        emu_stop(emu);
}

static void test_too_old_after_overflow(void)
{
        Emu *emu = emu_start("--watch-history=5", NULL);
        g_autoptr(WatchStream) old = NULL;
        g_autoptr(WatchStream) oldest = NULL;
        g_autoptr(Reply) state = NULL;

        emu_generate(emu, 10, 0); /* RVs 1001..1010, the history keeps 1006..1010 */
        state = emu_control(emu, "GET", "/watch", NULL);
        g_assert_cmpstr(reply_string(state, "oldestResourceVersion"), ==, "1005");
        g_assert_cmpstr(reply_string(state, "resourceVersion"), ==, "1010");
        old = watch_from(emu, 1004);
        expect_too_old(old, 1004, 1005);
        oldest = watch_from(emu, 1005);
        for (int i = 5; i < 10; i++) {
                g_autoptr(JsonNode) e = NULL;
                g_autofree char *name = g_strdup_printf("pv-%06d", i);

                g_assert_cmpstr(json_name(watch_expect(oldest, "ADDED", &e)), ==, name);
        }
        emu_stop(emu);
}

/* An API server restarted without its watch cache: the RVs of the earlier run are too old. */
static void test_restarted_server(void)
{
        Emu *emu = emu_start("--start-resource-version=5000", NULL);
        g_autoptr(WatchStream) old = watch_from(emu, 1500);
        g_autoptr(WatchStream) current = NULL;
        g_autoptr(JsonNode) e = NULL;

        expect_too_old(old, 1500, 5000);
        emu_generate(emu, 1, 0);
        g_assert_cmpuint(list_rv(emu), ==, 5001);
        current = watch_from(emu, 5000);
        g_assert_cmpuint(json_rv(watch_expect(current, "ADDED", &e)), ==, 5001);
        emu_stop(emu);
}

/* labelSelector as kube-apiserver: paging over the matches without remainingItemCount, and a
 * watch that sees an object leave the selection as DELETED and come back as ADDED. */
static void test_label_selector(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(Reply) page = NULL, bad = NULL, off = NULL, on = NULL, other = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL, e3 = NULL;
        const char *merge = "application/merge-patch+json";

        emu_generate(emu, 3, 0); /* pv-000000..2, RVs 1001..1003, no labels */
        g_clear_pointer(&on, reply_free);
        on = emu_api(emu, "PATCH", PVS "/pv-000000", merge,
                     "{\"metadata\":{\"labels\":{\"t\":\"on\"}}}");
        g_clear_pointer(&on, reply_free);
        on = emu_api(emu, "PATCH", PVS "/pv-000002", merge,
                     "{\"metadata\":{\"labels\":{\"t\":\"on\"}}}");
        g_clear_pointer(&on, reply_free);
        page = emu_api(emu, "GET", PVS "?labelSelector=t%3Don&limit=1", NULL, NULL);
        g_assert_cmpuint(page->status, ==, 200);
        g_assert_nonnull(reply_string(page, "metadata.continue"));
        g_assert_false(json_object_has_member(
            json_object_get_object_member(reply_object(page), "metadata"), "remainingItemCount"));
        bad = emu_api(emu, "GET", PVS "?labelSelector=t%20in%20(a", NULL, NULL);
        assert_status_body(bad, 400, "BadRequest");

        w = emu_watch(emu, "resourceVersion=1005&labelSelector=t%3Don", NULL);
        off = emu_api(emu, "PATCH", PVS "/pv-000000", merge,
                      "{\"metadata\":{\"labels\":{\"t\":\"off\"}}}");
        other = emu_api(emu, "PATCH", PVS "/pv-000001", merge,
                        "{\"metadata\":{\"labels\":{\"t\":\"off\"}}}");
        on = emu_api(emu, "PATCH", PVS "/pv-000000", merge,
                     "{\"metadata\":{\"labels\":{\"t\":\"on\"}}}");
        g_assert_cmpstr(json_name(watch_expect(w, "DELETED", &e1)), ==, "pv-000000");
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e2)), ==, "pv-000000");
        g_clear_pointer(&other, reply_free);
        other = emu_api(emu, "PATCH", PVS "/pv-000002", merge,
                        "{\"metadata\":{\"annotations\":{\"a\":\"1\"}}}");
        g_assert_cmpstr(json_name(watch_expect(w, "MODIFIED", &e3)), ==, "pv-000002");
        emu_stop(emu);
}

/* A start in the future is no error (kube-apiserver v1.33's watch cache): the stream waits
 * and carries only the events after that resourceVersion. */
static void test_future_rv(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = watch_from(emu, 1002);
        g_autoptr(JsonNode) e = NULL;
        g_autoptr(Reply) bad =
            emu_api(emu, "GET", PVS "?watch=true&resourceVersion=abc", NULL, NULL);

        emu_generate(emu, 3, 0); /* 1001, 1002, 1003 */
        g_assert_cmpuint(json_rv(watch_expect(w, "ADDED", &e)), ==, 1003);
        /* the real server's 500 without a reason */
        g_assert_cmpuint(bad->status, ==, 500);
        g_assert_cmpstr(reply_string(bad, "message"), ==,
                        "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing "
                        "\"abc\": invalid syntax");
        g_assert_false(json_object_has_member(reply_object(bad), "reason"));
        emu_stop(emu);
}

static void test_timeout_seconds(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = emu_watch(emu, "resourceVersion=1000&timeoutSeconds=1", NULL);
        g_autoptr(Reply) state = NULL;

        /* ends by itself, cleanly (the terminating chunk, no error) */
        watch_expect_end(w);
        state = emu_control(emu, "GET", "/watch", NULL);
        g_assert_cmpint(reply_int(state, "open"), ==, 0);
        emu_stop(emu);
}

static void test_table_events(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL;
        JsonObject *first, *second;
        JsonArray *rows;

        emu_generate(emu, 2, 0);
        w = emu_watch(emu, NULL, TABLE);
        first = watch_expect(w, "ADDED", &e1);
        second = watch_expect(w, "ADDED", &e2);
        g_assert_cmpstr(json_object_get_string_member(first, "kind"), ==, "Table");
        g_assert_cmpstr(json_object_get_string_member(first, "apiVersion"), ==, "meta.k8s.io/v1");
        g_assert_cmpuint(
            json_array_get_length(json_object_get_array_member(first, "columnDefinitions")), ==,
            10);
        /* as kube-apiserver: the headers only with the first event */
        g_assert_true(json_object_has_member(second, "columnDefinitions"));
        g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(second, "columnDefinitions")));
        rows = json_object_get_array_member(second, "rows");
        g_assert_cmpuint(json_array_get_length(rows), ==, 1);
        g_assert_cmpstr(
            json_array_get_string_element(
                json_object_get_array_member(json_array_get_object_element(rows, 0), "cells"), 0),
            ==, "pv-000001");
        emu_stop(emu);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/watch/events-in-order", test_events_in_order);
        g_test_add_func("/emulator/watch/control-writes", test_control_writes);
        g_test_add_func("/emulator/watch/start-from-rv", test_start_from_rv);
        g_test_add_func("/emulator/watch/initial-state", test_initial_state);
        g_test_add_func("/emulator/watch/bookmarks", test_bookmarks);
        g_test_add_func("/emulator/watch/too-old-compact", test_too_old_after_compact);
        g_test_add_func("/emulator/watch/too-old-overflow", test_too_old_after_overflow);
        g_test_add_func("/emulator/watch/restarted-server", test_restarted_server);
        g_test_add_func("/emulator/watch/future-rv", test_future_rv);
        g_test_add_func("/emulator/watch/label-selector", test_label_selector);
        g_test_add_func("/emulator/watch/timeout-seconds", test_timeout_seconds);
        g_test_add_func("/emulator/watch/table", test_table_events);
        return g_test_run();
}
