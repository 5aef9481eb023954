/* SPDX-License-Identifier: MIT */
/* The reconciler and the Events (DESIGN §10) against the emulator: a Node deleted (DELETED
 * event, or gone from a relist) or tainted out-of-service has its attachments cleared, with a
 * Detached signal, a log line and a StaleAttachmentCleared Event; NotReady alone and a node id
 * never seen as a Node keep theirs; with three daemons one conditional write wins, no daemon
 * logs a failure, every table converges, one Event per volume; Reconcile=no never reads a
 * Node. A refused Track posts one AttachmentConflict Event about the claim, ten of them one
 * Event with count 10; Events refused by the API server (403) change no answer. */
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include <json-glib/json-glib.h>

#define CONVERGE_SEC 30
#define NO_EVENTS "[Attachment]\nEvents=no\n"

static void add_node(Fixture *f, const char *name, const char *extra)
{
        g_autofree char *body = g_strdup_printf(
            "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"}%s}", name,
            extra != NULL ? extra : "");

        fixture_emulator_ok(f, "POST", "/_emulator/nodes", body);
}

static void delete_node(Fixture *f, const char *name)
{
        g_autofree char *path = g_strconcat("/_emulator/nodes/", name, NULL);

        fixture_emulator_ok(f, "DELETE", path, NULL);
}

#define TAINTED                                                                                    \
        ",\"spec\":{\"taints\":[{\"key\":\"node.kubernetes.io/out-of-service\",\"value\":"         \
        "\"nodeshutdown\",\"effect\":\"NoExecute\"}]}"
#define NOT_READY                                                                                  \
        ",\"spec\":{\"taints\":[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":"           \
        "\"NoExecute\"}]},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"             \
        "\"Unknown\"}]}"

/* Node watch streams open on the emulator: the daemon has listed the Nodes. */
static gboolean watching_nodes(gpointer data)
{
        guint status = 0;
        g_autofree char *body =
            fixture_emulator_request(data, "GET", "/_emulator/watch", NULL, &status);
        const char *nodes = body != NULL ? strstr(body, "\"nodes\":{\"open\":") : NULL;

        return nodes != NULL && nodes[strlen("\"nodes\":{\"open\":")] != '0';
}

static void wait_watching_nodes(Fixture *f)
{
        if (!fixture_wait_for(watching_nodes, f, CONVERGE_SEC))
                fixture_dump_logs(f);
        g_assert_true(watching_nodes(f));
}

typedef struct {
        Fixture *f;
        const char *pv;
} Annotation;

static gboolean annotation_gone(gpointer data)
{
        const Annotation *a = data;
        g_autofree char *node = fixture_emulator_annotation(a->f, a->pv, FIXTURE_ANNOTATION_NODE);

        return node == NULL;
}

static void wait_cleared(Fixture *f, const char *pv)
{
        Annotation a = {f, pv};

        if (!fixture_wait_for(annotation_gone, &a, CONVERGE_SEC))
                fixture_dump_logs(f);
        g_assert_true(annotation_gone(&a));
}

static void assert_attached(Fixture *f, const char *pv, const char *node)
{
        g_autofree char *held = fixture_emulator_annotation(f, pv, FIXTURE_ANNOTATION_NODE);
        g_autofree char *got = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_cmpstr(held, ==, node);
        got = fixture_get(f, pv, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(got, ==, node);
}

static guint count_in_log(Fixture *f, const char *needle)
{
        g_autofree char *log = fixture_daemon_log(f);
        guint n = 0;

        for (const char *p = strstr(log, needle); p != NULL; p = strstr(p + 1, needle))
                n++;
        return n;
}

/* The Events the emulator holds with `reason` about `object` ("Kind/name"): how many, and
 * *count (may be NULL) the count of the last. */
static guint events_about(Fixture *f, const char *reason, const char *object, gint64 *count)
{
        guint status = 0, n = 0;
        g_autofree char *body =
            fixture_emulator_request(f, "GET", "/_emulator/events", NULL, &status);
        g_autoptr(JsonNode) root = json_from_string(body, NULL);
        JsonArray *events;

        g_assert_cmpuint(status, ==, 200);
        g_assert_true(root != NULL && JSON_NODE_HOLDS_ARRAY(root));
        events = json_node_get_array(root);
        for (guint i = 0; i < json_array_get_length(events); i++) {
                JsonObject *ev = json_array_get_object_element(events, i);
                JsonObject *involved = json_object_get_object_member(ev, "involvedObject");
                g_autofree char *what =
                    g_strdup_printf("%s/%s", json_object_get_string_member(involved, "kind"),
                                    json_object_get_string_member(involved, "name"));

                if (g_strcmp0(json_object_get_string_member(ev, "reason"), reason) != 0 ||
                    strcmp(what, object) != 0)
                        continue;
                n++;
                if (count != NULL)
                        *count = json_object_get_int_member(ev, "count");
        }
        return n;
}

typedef struct {
        Fixture *f;
        const char *reason, *object;
        gint64 count;
} EventWait;

static gboolean event_counted(gpointer data)
{
        EventWait *w = data;
        gint64 count = 0;

        return events_about(w->f, w->reason, w->object, &count) == 1 && count == w->count;
}

/* Waits for exactly one such Event, with that count. */
static void wait_event(Fixture *f, const char *reason, const char *object, gint64 count)
{
        EventWait w = {f, reason, object, count};

        if (!fixture_wait_for(event_counted, &w, CONVERGE_SEC))
                fixture_dump_logs(f);
        g_assert_true(event_counted(&w));
}

static Fixture *cluster(const char *extra)
{
        FixtureOptions opts = {.kubernetes = TRUE, .extra_config = extra};

        return fixture_new(&opts);
}

/* Deleted and out-of-service: cleared. NotReady (with the unreachable taint the node
 * lifecycle controller puts) and a node id never seen as a Node: kept. The events of one
 * stream come in order, so once the later clearings are seen the earlier NotReady event has
 * been handled too. */
static void test_deleted_tainted_kept(void)
{
        g_autoptr(Fixture) f = cluster(NULL);
        FixtureSignals d;

        add_node(f, "n-del", NULL);
        add_node(f, "n-oos", NULL);
        add_node(f, "n-nr", NULL);
        fixture_emulator_add_pvs(f, "r-", 4);
        wait_watching_nodes(f);
        fixture_signals_watch(&d, f);
        fixture_track_ok(f, "r-0", "n-del");
        fixture_track_ok(f, "r-1", "n-oos");
        fixture_track_ok(f, "r-2", "n-nr");
        fixture_track_ok(f, "r-3", "ghost");
        add_node(f, "n-nr", NOT_READY);
        delete_node(f, "n-del");
        add_node(f, "n-oos", TAINTED);
        wait_cleared(f, "r-0");
        wait_cleared(f, "r-1");
        fixture_wait_signal(&d, "Detached r-0 n-del;", CONVERGE_SEC);
        fixture_wait_signal(&d, "Detached r-1 n-oos;", CONVERGE_SEC);
        fixture_assert_not_attached(f, "r-0");
        fixture_assert_not_attached(f, "r-1");
        assert_attached(f, "r-2", "n-nr");
        assert_attached(f, "r-3", "ghost");
        g_assert_cmpuint(count_in_log(f, "Attachment of volume r-0 to node n-del cleared: its "
                                         "Node was deleted"),
                         ==, 1);
        g_assert_cmpuint(count_in_log(f, "Attachment of volume r-1 to node n-oos cleared: its "
                                         "Node carries the taint"),
                         ==, 1);
        g_assert_cmpuint(count_in_log(f, "to node ghost cleared"), ==, 0);
        wait_event(f, "StaleAttachmentCleared", "PersistentVolume/r-0", 1);
        wait_event(f, "StaleAttachmentCleared", "PersistentVolume/r-1", 1);
        g_assert_cmpuint(events_about(f, "StaleAttachmentCleared", "PersistentVolume/r-2", NULL),
                         ==, 0);
        g_assert_cmpuint(events_about(f, "StaleAttachmentCleared", "PersistentVolume/r-3", NULL),
                         ==, 0);
        g_assert_null(strstr(d.seen->str, "Detached r-2"));
        g_assert_null(strstr(d.seen->str, "Detached r-3"));
        fixture_signals_clear(&d);
}

/* Deleted while the Node watch was away, and the resume refused (410): the relist does not
 * return the Node this daemon had seen, so its attachments are cleared. */
static void test_gone_from_relist(void)
{
        g_autoptr(Fixture) f = cluster(NO_EVENTS);

        add_node(f, "n-gone", NULL);
        fixture_emulator_add_pvs(f, "g-", 1);
        wait_watching_nodes(f);
        fixture_track_ok(f, "g-0", "n-gone");
        fixture_emulator_ok(f, "POST", "/_emulator/watch/stall", NULL);
        delete_node(f, "n-gone");
        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"verb\":\"watch\",\"resource\":\"nodes\"},\"count\":1,"
                            "\"action\":\"gone\"}");
        fixture_emulator_ok(f, "POST", "/_emulator/watch/drop", NULL);
        wait_cleared(f, "g-0");
        /* The table follows the write's answer a moment after the API server applied it. */
        fixture_wait_consistent(f, f, CONVERGE_SEC);
        fixture_assert_not_attached(f, "g-0");
        g_assert_cmpuint(count_in_log(f, "(1 gone since the last list)"), ==, 1);
}

/* A restart: a Node tainted out-of-service before the start is cleared by the start's list;
 * a Node deleted while the daemon was down is not (nothing is persisted about the Nodes seen,
 * and this process never saw it: see srvlab-attachmentd(8)). Both are decided by that one
 * list, so once the first is cleared the second has been left alone for good. */
static void test_restart(void)
{
        g_autoptr(Fixture) f = cluster(NO_EVENTS);

        add_node(f, "n-seen", NULL);
        fixture_emulator_add_pvs(f, "s-", 2);
        wait_watching_nodes(f);
        fixture_track_ok(f, "s-1", "n-seen");
        g_assert_cmpint(fixture_stop_daemon(f), ==, 0);
        delete_node(f, "n-seen");
        add_node(f, "n-pre", TAINTED);
        fixture_emulator_merge_patch(f, "s-0",
                                     "{\"metadata\":{\"annotations\":{\"" FIXTURE_ANNOTATION_NODE
                                     "\":\"n-pre\",\"" FIXTURE_ANNOTATION_AT
                                     "\":\"2026-01-02T03:04:05.000006Z\"}}}");
        fixture_start_daemon(f);
        wait_cleared(f, "s-0");
        /* The table follows the write's answer a moment after the API server applied it. */
        fixture_wait_consistent(f, f, CONVERGE_SEC);
        fixture_assert_not_attached(f, "s-0");
        assert_attached(f, "s-1", "n-seen");
}

/* Three daemons see the same deletion; one write per volume wins, the others find it done. */
static void test_three_daemons(void)
{
        g_autoptr(Fixture) a = cluster(NULL);
        g_autoptr(Fixture) b = NULL;
        g_autoptr(Fixture) c = NULL;
        FixtureOptions opts = {0};
        Fixture *all[3];
        guint cleared = 0;

        add_node(a, "n-3", NULL);
        fixture_emulator_add_pvs(a, "t-", 5);
        b = fixture_new_sharing(a, &opts);
        c = fixture_new_sharing(a, &opts);
        all[0] = a, all[1] = b, all[2] = c;
        for (guint i = 0; i < 5; i++) {
                g_autofree char *pv = g_strdup_printf("t-%u", i);

                fixture_track_ok(all[i % 3], pv, "n-3");
        }
        for (guint i = 0; i < 3; i++)
                fixture_wait_consistent(all[i], a, CONVERGE_SEC);
        g_assert_true(fixture_wait_for(watching_nodes, a, CONVERGE_SEC));
        /* All three have listed the Nodes: three Node streams open. */
        for (guint tries = 0; tries < 100; tries++) {
                guint status = 0;
                g_autofree char *w =
                    fixture_emulator_request(a, "GET", "/_emulator/watch", NULL, &status);

                if (strstr(w, "\"nodes\":{\"open\":3") != NULL)
                        break;
                g_usleep(100 * 1000);
        }
        delete_node(a, "n-3");
        for (guint i = 0; i < 5; i++) {
                g_autofree char *pv = g_strdup_printf("t-%u", i);

                wait_cleared(a, pv);
        }
        for (guint i = 0; i < 3; i++) {
                fixture_wait_consistent(all[i], a, CONVERGE_SEC);
                g_assert_cmpuint(fixture_attachment_count(all[i]), ==, 0);
                g_assert_cmpuint(count_in_log(all[i], "Cannot clear"), ==, 0);
                g_assert_cmpuint(count_in_log(all[i], "warning"), ==, 0);
                cleared += count_in_log(all[i], "to node n-3 cleared: its Node was deleted");
        }
        g_assert_cmpuint(cleared, ==, 5);
        for (guint i = 0; i < 5; i++) {
                g_autofree char *pv = g_strdup_printf("PersistentVolume/t-%u", i);

                wait_event(a, "StaleAttachmentCleared", pv, 1);
        }
}

#define CLAIMED_PV                                                                                 \
        "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":"             \
        "\"c-0\"},\"spec\":{\"csi\":{\"driver\":\"" FIXTURE_DRIVER "\",\"volumeHandle\":"          \
        "\"c-0\"},\"claimRef\":{\"kind\":\"PersistentVolumeClaim\",\"namespace\":\"apps\","        \
        "\"name\":\"data-c-0\",\"uid\":\"0b5c6f43-1111-4a4a-9c9c-000000000001\"}}}"

static void refused_track(Fixture *f, const char *volume, const char *node)
{
        g_autoptr(GError) error = NULL;

        g_assert_false(fixture_track(f, volume, node, &error));
        fixture_assert_dbus_error(error, BUS_ERROR_ALREADY_ATTACHED);
}

/* One refused Track: one Event about the claim, in its namespace. Nine more (within the
 * ten minutes): still one Event, its count 10. */
static void test_conflict_events(void)
{
        g_autoptr(Fixture) f = cluster(NULL);
        g_autofree char *ns = NULL;

        fixture_emulator_ok(f, "POST", "/_emulator/pvs", CLAIMED_PV);
        fixture_track_ok(f, "c-0", "n-1");
        refused_track(f, "c-0", "n-2");
        wait_event(f, "AttachmentConflict", "PersistentVolumeClaim/data-c-0", 1);
        for (guint i = 0; i < 9; i++)
                refused_track(f, "c-0", "n-2");
        wait_event(f, "AttachmentConflict", "PersistentVolumeClaim/data-c-0", 10);
        ns = fixture_emulator_request(f, "GET", "/api/v1/namespaces/apps/events", NULL, NULL);
        g_assert_nonnull(strstr(ns, "\"source\":{\"component\":\"srvlab-attachmentd\""));
        g_assert_nonnull(strstr(ns, "0b5c6f43-1111-4a4a-9c9c-000000000001"));
        assert_attached(f, "c-0", "n-1");
}

/* Reconcile=no: no Node is ever read, a deleted Node's attachments stay. */
static void test_off(void)
{
        g_autoptr(Fixture) f = cluster(NO_EVENTS "Reconcile=no\n");
        guint status = 0;
        g_autofree char *counts = NULL;

        add_node(f, "n-off", NULL);
        fixture_emulator_add_pvs(f, "o-", 1);
        fixture_track_ok(f, "o-0", "n-off");
        delete_node(f, "n-off");
        counts = fixture_emulator_request(f, "GET", "/_emulator/counts", NULL, &status);
        g_assert_nonnull(strstr(counts, "\"nodes\":{\"get\":0,\"list\":0,"));
        assert_attached(f, "o-0", "n-off");
}

static gboolean warned_events(gpointer data)
{
        return count_in_log(data, "Cannot post Kubernetes Events") > 0;
}

/* The API server refusing Events (403: no RBAC for them): every Track is answered as without
 * Events, the sender counts the failures (logged at exit) and warns once. */
static void test_events_refused(void)
{
        g_autoptr(Fixture) f = cluster(NULL);
        g_autofree char *log = NULL;
        const char *line;
        guint64 posted = 99, dropped = 99, failed = 99;

        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"verb\":\"*\",\"resource\":\"events\"},"
                            "\"count\":1000,\"action\":\"status\",\"code\":403}");
        fixture_emulator_add_pvs(f, "e-", 1);
        fixture_track_ok(f, "e-0", "n-1");
        for (guint i = 0; i < 10; i++) {
                g_autoptr(GError) error = NULL;

                g_assert_false(fixture_track(f, "e-0", "n-2", &error));
                fixture_assert_dbus_error(error, BUS_ERROR_ALREADY_ATTACHED);
        }
        fixture_untrack_ok(f, "e-0");
        /* The sender posts on a thread of its own: what it has not tried when the daemon stops
         * is dropped, not failed. Wait for its first refusal before stopping. */
        g_assert_true(fixture_wait_for(warned_events, f, FIXTURE_WAIT_SEC));
        g_assert_cmpint(fixture_stop_daemon(f), ==, 0);
        log = fixture_daemon_log(f);
        g_assert_cmpuint(count_in_log(f, "Cannot post Kubernetes Events"), ==, 1);
        line = strstr(log, "Kubernetes Events: ");
        g_assert_nonnull(line);
        g_assert_cmpint(sscanf(line,
                               "Kubernetes Events: %" G_GUINT64_FORMAT " posted, %" G_GUINT64_FORMAT
                               " dropped, %" G_GUINT64_FORMAT " failed",
                               &posted, &dropped, &failed),
                        ==, 3);
        g_assert_cmpuint(posted, ==, 0);
        g_assert_cmpuint(failed, >=, 1);
        g_assert_cmpuint(failed + dropped, ==, 10);
        g_assert_cmpuint(count_in_log(f, "HTTP 403"), ==, 1);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("no kube-emulator");
                return g_test_run();
        }
        g_test_add_func("/reconcile/deleted-tainted-kept", test_deleted_tainted_kept);
        g_test_add_func("/reconcile/gone-from-relist", test_gone_from_relist);
        g_test_add_func("/reconcile/restart", test_restart);
        g_test_add_func("/reconcile/three-daemons", test_three_daemons);
        g_test_add_func("/reconcile/off", test_off);
        g_test_add_func("/reconcile/conflict-events", test_conflict_events);
        g_test_add_func("/reconcile/events-refused", test_events_refused);
        return g_test_run();
}
