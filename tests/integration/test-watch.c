/* SPDX-License-Identifier: MIT */
/* The watch under faults (DESIGN §8): streams dropped, 410 as the watch's status and as an
 * ERROR event in the stream, history compacted, a stream that stalls, the API server
 * restarted with a new history. Each time the daemon must converge (List == annotations), stay
 * up, and the emulator's request log shows what it did (resumed or relisted). */
#include <string.h>

#include "fixture.h"

#define CONVERGE_SEC 20

static void outside_attach(Fixture *emu, const char *pv, const char *node)
{
        g_autofree char *patch = g_strdup_printf(
            "{\"metadata\":{\"annotations\":{\"" FIXTURE_ANNOTATION_NODE
            "\":\"%s\",\"" FIXTURE_ANNOTATION_AT "\":\"2026-01-02T03:04:05.000006Z\"}}}",
            node);

        fixture_emulator_merge_patch(emu, pv, patch);
}

static gboolean watching(gpointer data)
{
        g_autoptr(GVariant) v = fixture_get_property(data, "WatchState", NULL);

        return v != NULL && g_str_equal(g_variant_get_string(v, NULL), "watching");
}

static void wait_watching(Fixture *f)
{
        if (!fixture_wait_for(watching, f, CONVERGE_SEC))
                fixture_dump_logs(f);
        g_assert_true(watching(f));
}

/* The daemon's LIST pages (the test's own LISTs carry no limit) and its watches. */
#define DAEMON_LIST "\"path\":\"/api/v1/persistentvolumes?limit="
#define DAEMON_WATCH "\"verb\":\"watch\""

/* The emulator's request log since the last clear, as one string. */
static char *requests(Fixture *f)
{
        guint status = 0;
        char *body = fixture_emulator_request(f, "GET", "/_emulator/requests", NULL, &status);

        g_assert_cmpuint(status, ==, 200);
        return body;
}

static guint count_of(const char *haystack, const char *needle)
{
        guint n = 0;

        for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
                n++;
        return n;
}

static Fixture *cluster(const char *extra_config)
{
        FixtureOptions opts = {.kubernetes = TRUE, .extra_config = extra_config};
        Fixture *f = fixture_new(&opts);

        fixture_emulator_add_pvs(f, "w-", 4);
        wait_watching(f);
        return f;
}

/* Every open stream closed at once: resumed from the last resourceVersion, no relist. */
static void test_dropped(void)
{
        g_autoptr(Fixture) f = cluster(NULL);
        g_autofree char *log = NULL;

        fixture_emulator_ok(f, "DELETE", "/_emulator/requests", NULL);
        fixture_emulator_ok(f, "POST", "/_emulator/watch/drop", NULL);
        outside_attach(f, "w-0", "node-1");
        fixture_wait_consistent(f, f, CONVERGE_SEC);
        wait_watching(f);
        log = requests(f);
        g_test_message("requests after the drop: %s", log);
        g_assert_cmpuint(count_of(log, DAEMON_WATCH), >=, 1);
        g_assert_cmpuint(count_of(log, DAEMON_LIST), ==, 0);
        g_assert_true(fixture_name_has_owner(f));
}

/* 410 as the watch's HTTP status, or as an ERROR event inside the stream: a fresh list. */
static void expired(const char *action)
{
        g_autoptr(Fixture) f = cluster(NULL);
        g_autofree char *fault = g_strdup_printf(
            "{\"match\":{\"verb\":\"watch\"},\"count\":1,\"action\":\"%s\"}", action);
        g_autofree char *log = NULL;

        fixture_emulator_ok(f, "DELETE", "/_emulator/requests", NULL);
        fixture_emulator_ok(f, "POST", "/_emulator/faults", fault);
        fixture_emulator_ok(f, "POST", "/_emulator/watch/drop", NULL);
        outside_attach(f, "w-1", "node-2");
        fixture_wait_consistent(f, f, CONVERGE_SEC);
        wait_watching(f);
        log = requests(f);
        g_test_message("requests after %s: %s", action, log);
        g_assert_cmpuint(count_of(log, DAEMON_LIST), >=, 1);
        g_assert_true(fixture_name_has_owner(f));
}

static void test_gone_status(void)
{
        expired("gone");
}

static void test_gone_event(void)
{
        expired("gone-event");
}

/* etcd compaction: the history the daemon would resume from is gone. */
static void test_compacted(void)
{
        g_autoptr(Fixture) f = cluster(NULL);
        g_autofree char *log = NULL;
        g_autofree char *daemon_log = NULL;

        /* Changes the daemon will miss while its stream is down, then the history compacted. */
        fixture_emulator_ok(f, "POST", "/_emulator/watch/stall", NULL);
        outside_attach(f, "w-2", "node-3");
        fixture_emulator_ok(f, "POST", "/_emulator/compact", NULL);
        fixture_emulator_ok(f, "DELETE", "/_emulator/requests", NULL);
        fixture_emulator_ok(f, "POST", "/_emulator/watch/drop", NULL);
        fixture_wait_consistent(f, f, CONVERGE_SEC);
        wait_watching(f);
        log = requests(f);
        g_assert_cmpuint(count_of(log, DAEMON_LIST), >=, 1);
        daemon_log = fixture_daemon_log(f);
        g_assert_nonnull(strstr(daemon_log, "listing afresh"));
}

/* A stream that goes silent (a half-open connection): taken as dead after WatchTimeoutSec +
 * RequestTimeoutSec, reopened. */
static void test_stalled(void)
{
        g_autoptr(Fixture) f = cluster("WatchTimeoutSec=2\nRequestTimeoutSec=5\n");
        g_autofree char *daemon_log = NULL;

        fixture_emulator_ok(f, "POST", "/_emulator/watch/stall", NULL);
        outside_attach(f, "w-3", "node-4");
        fixture_wait_consistent(f, f, CONVERGE_SEC + 60);
        daemon_log = fixture_daemon_log(f);
        g_test_message("daemon log: %s", daemon_log);
        g_assert_true(fixture_name_has_owner(f));
}

/* The API server came back with a new history (the emulator keeps none across a restart):
 * the daemon's resourceVersion means nothing there; it must relist and converge. */
static void test_emulator_restarted(void)
{
        g_autoptr(Fixture) f = cluster(NULL);

        fixture_track_ok(f, "w-0", "node-1");
        fixture_restart_emulator(f);
        outside_attach(f, "w-1", "node-5");
        fixture_wait_consistent(f, f, CONVERGE_SEC + 60);
        wait_watching(f);
        fixture_track_ok(f, "w-2", "node-1");
        fixture_assert_consistent(f, f, NULL);
}

/* DESIGN §8's last window: the write's answer is lost, the replay's too, the read after them
 * shows nothing, so the caller hears StoreFailed; then the API server applies the first write
 * after all. The daemon sees it through the watch and undoes it (conditional clear), so no
 * node holds a volume it was told it did not get. */
static void test_late_track_undone(void)
{
        g_autoptr(Fixture) f = cluster(NULL);
        g_autoptr(GError) error = NULL;
        g_autofree char *log = NULL;

        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"verb\":\"patch\",\"name\":\"w-0\"},\"count\":2,"
                            "\"action\":\"apply-later\",\"ms\":1500,\"answer\":\"drop\"}");
        g_assert_false(fixture_track(f, "w-0", "node-1", &error));
        fixture_assert_dbus_error(error, ATTACHMENT_ERROR_PREFIX "StoreFailed");
        /* The late write lands, is seen, is undone: the daemon's log says so. */
        for (guint i = 0; i < CONVERGE_SEC * 10; i++) {
                g_clear_pointer(&log, g_free);
                log = fixture_daemon_log(f);
                if (strstr(log, "landed later; undone") != NULL)
                        break;
                g_usleep(G_USEC_PER_SEC / 10);
        }
        g_assert_nonnull(strstr(log, "Track w-0 for node-1 was answered StoreFailed but its "
                                     "write landed later; undone"));
        {
                g_autofree char *node =
                    fixture_emulator_annotation(f, "w-0", FIXTURE_ANNOTATION_NODE);

                g_assert_null(node);
        }
        fixture_wait_consistent(f, f, CONVERGE_SEC);
        fixture_assert_not_attached(f, "w-0");
        /* And the volume is free for whoever asks next. */
        fixture_track_ok(f, "w-0", "node-2");
}

/* An Untrack answered StoreFailed whose clear lands later leaves nothing to undo: the table
 * follows the watch. */
static void test_late_untrack_followed(void)
{
        g_autoptr(Fixture) f = cluster(NULL);
        g_autoptr(GError) error = NULL;

        fixture_track_ok(f, "w-1", "node-1");
        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"verb\":\"patch\",\"name\":\"w-1\"},\"count\":2,"
                            "\"action\":\"apply-later\",\"ms\":1500,\"answer\":\"drop\"}");
        g_assert_false(fixture_untrack(f, "w-1", &error));
        fixture_assert_dbus_error(error, ATTACHMENT_ERROR_PREFIX "StoreFailed");
        for (guint i = 0; i < CONVERGE_SEC * 10; i++) {
                g_autofree char *node =
                    fixture_emulator_annotation(f, "w-1", FIXTURE_ANNOTATION_NODE);

                if (node == NULL)
                        break;
                g_usleep(G_USEC_PER_SEC / 10);
        }
        fixture_wait_consistent(f, f, CONVERGE_SEC);
        fixture_assert_not_attached(f, "w-1");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator is not built");
                return g_test_run();
        }
        g_test_add_func("/watch/dropped", test_dropped);
        g_test_add_func("/watch/gone-status", test_gone_status);
        g_test_add_func("/watch/gone-event", test_gone_event);
        g_test_add_func("/watch/compacted", test_compacted);
        g_test_add_func("/watch/stalled", test_stalled);
        g_test_add_func("/watch/emulator-restarted", test_emulator_restarted);
        g_test_add_func("/watch/late-track-undone", test_late_track_undone);
        g_test_add_func("/watch/late-untrack-followed", test_late_untrack_followed);
        return g_test_run();
}
