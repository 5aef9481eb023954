/* SPDX-License-Identifier: MIT */
/* Shared attachments for live migration (DESIGN §9), end to end against the emulator:
 * TrackShared, UntrackNode, GetNodes, the five annotations, the rebuild, two daemons, the
 * MigrationOverdue signal, and the Go driver's annotations read as exclusive. */
#include <string.h>

#include "fixture.h"

#define ERR_ALREADY BUS_ERROR_PREFIX "AlreadyAttached"
#define ERR_NOT_SHAREABLE BUS_ERROR_PREFIX "NotShareable"
#define ERR_NOT_ATTACHED BUS_ERROR_PREFIX "NotAttached"
#define KEY_NODE FIXTURE_DRIVER ANNOTATION_SUFFIX_NODE
#define KEY_AT FIXTURE_DRIVER ANNOTATION_SUFFIX_AT
#define KEY_MODE FIXTURE_DRIVER ANNOTATION_SUFFIX_MODE
#define KEY_TARGET FIXTURE_DRIVER ANNOTATION_SUFFIX_TARGET
#define KEY_TARGET_AT FIXTURE_DRIVER ANNOTATION_SUFFIX_TARGET_AT
#define COHERENCE_WAIT_SEC 10
/* The smallest MigrationTimeoutSec= (DESIGN §9: 30..3600); the overdue test waits for it. */
#define OVERDUE_TIMEOUT_SEC 30

/* Seeds a PV of FIXTURE_DRIVER named like its volume with the given access mode and volume
 * mode, and `annotations` (a JSON object's members, may be ""). */
static void seed_pv(Fixture *f, const char *name, const char *access, const char *mode,
                    const char *annotations)
{
        g_autofree char *body = g_strdup_printf(
            "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"%s\","
            "\"annotations\":{%s}},\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},"
            "\"accessModes\":[\"%s\"],\"volumeMode\":\"%s\",\"persistentVolumeReclaimPolicy\":"
            "\"Delete\",\"csi\":{\"driver\":\"" FIXTURE_DRIVER "\",\"volumeHandle\":\"%s\"}}}",
            name, annotations, access, mode, name);

        fixture_emulator_ok(f, "POST", "/_emulator/pvs", body);
}

static void seed_rwx_block(Fixture *f, const char *name)
{
        seed_pv(f, name, "ReadWriteMany", "Block", "");
}

static gboolean call(Fixture *f, const char *method, const char *volume, const char *node,
                     GError **error)
{
        g_autoptr(GVariant) r =
            fixture_call(f, method, g_variant_new("(ss)", volume, node), NULL, error);

        return r != NULL;
}

static void call_ok(Fixture *f, const char *method, const char *volume, const char *node)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(call(f, method, volume, node, &error));
        g_assert_no_error(error);
}

static void call_refused(Fixture *f, const char *method, const char *volume, const char *node,
                         const char *name, const char *message)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;

        g_assert_false(call(f, method, volume, node, &error));
        fixture_assert_dbus_error(error, name);
        text = fixture_error_message(error);
        if (message != NULL)
                g_assert_cmpstr(text, ==, message);
}

/* "node@usec,node@usec" of GetNodes; "" for NotAttached. */
static char *get_nodes(Fixture *f, const char *volume)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, "GetNodes", g_variant_new("(s)", volume),
                                             G_VARIANT_TYPE("(a(st))"), &error);
        g_autoptr(GVariantIter) iter = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        const char *node;
        guint64 at;

        if (r == NULL) {
                fixture_assert_dbus_error(error, ERR_NOT_ATTACHED);
                return g_strdup("");
        }
        g_variant_get(r, "(a(st))", &iter);
        while (g_variant_iter_next(iter, "(&st)", &node, &at))
                g_string_append_printf(out, "%s%s@%" G_GUINT64_FORMAT, out->len ? "," : "", node,
                                       at);
        return g_string_free(g_steal_pointer(&out), FALSE);
}

/* The nodes only: "node-a,node-b". */
static char *get_node_names(Fixture *f, const char *volume)
{
        g_autofree char *full = get_nodes(f, volume);
        g_auto(GStrv) parts = g_strsplit(full, ",", -1);

        for (guint i = 0; parts[i] != NULL; i++) {
                char *at = strchr(parts[i], '@');

                if (at != NULL)
                        *at = '\0';
        }
        return g_strjoinv(",", parts);
}

/* Every row of List, "volume node usec" lines. */
static char *list_text(Fixture *f)
{
        g_autoptr(GVariant) list = fixture_list(f);
        g_autoptr(GString) out = g_string_new(NULL);
        GVariantIter iter;
        const char *volume, *node;
        guint64 at;

        g_variant_iter_init(&iter, list);
        while (g_variant_iter_next(&iter, "(&s&st)", &volume, &node, &at))
                g_string_append_printf(out, "%s %s %" G_GUINT64_FORMAT "\n", volume, node, at);
        return g_string_free(g_steal_pointer(&out), FALSE);
}

static void assert_annotation(Fixture *emu, const char *pv, const char *key, const char *value)
{
        g_autofree char *held = fixture_emulator_annotation(emu, pv, key);

        g_assert_cmpstr(held, ==, value);
}

static Fixture *kube_fixture(const char *extra)
{
        const FixtureOptions opts = {.kubernetes = TRUE, .extra_config = extra};

        return fixture_new(&opts);
}

/* node-a then node-b, both shared, on a fresh RWX Block PV. */
static void migrate(Fixture *f, const char *volume)
{
        seed_rwx_block(f, volume);
        call_ok(f, "TrackShared", volume, "node-a");
        call_ok(f, "TrackShared", volume, "node-b");
}

static void test_two_nodes(void)
{
        g_autoptr(Fixture) f = NULL;
        g_autofree char *nodes = NULL;
        g_autofree char *list = NULL;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture(NULL);
        migrate(f, "m-0");
        assert_annotation(f, "m-0", KEY_NODE, "node-a");
        assert_annotation(f, "m-0", KEY_MODE, "shared");
        assert_annotation(f, "m-0", KEY_TARGET, "node-b");
        {
                g_autofree char *started = fixture_emulator_annotation(f, "m-0", KEY_TARGET_AT);

                g_assert_nonnull(started);
        }
        nodes = get_node_names(f, "m-0");
        g_assert_cmpstr(nodes, ==, "node-a,node-b");
        g_assert_cmpuint(fixture_attachment_count(f), ==, 2);
        list = list_text(f);
        g_assert_true(g_str_has_prefix(list, "m-0 node-a "));
        g_assert_nonnull(strstr(list, "\nm-0 node-b "));
        /* A third node, either method: refused naming both. */
        call_refused(f, "TrackShared", "m-0", "node-c", ERR_ALREADY,
                     "volume m-0 already attached to nodes node-a and node-b");
        call_refused(f, "Track", "m-0", "node-c", ERR_ALREADY,
                     "volume m-0 already attached to nodes node-a and node-b");
        /* Same node again, either method: success, nothing changes. */
        call_ok(f, "Track", "m-0", "node-b");
        call_ok(f, "TrackShared", "m-0", "node-a");
        g_assert_cmpuint(fixture_attachment_count(f), ==, 2);
        /* Untrack detaches every node. */
        fixture_untrack_ok(f, "m-0");
        assert_annotation(f, "m-0", KEY_NODE, NULL);
        assert_annotation(f, "m-0", KEY_MODE, NULL);
        assert_annotation(f, "m-0", KEY_TARGET, NULL);
        g_assert_cmpuint(fixture_attachment_count(f), ==, 0);
}

static void test_refusals(void)
{
        g_autoptr(Fixture) f = NULL;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture(NULL);
        seed_pv(f, "rwo", "ReadWriteOnce", "Block", "");
        seed_pv(f, "fs", "ReadWriteMany", "Filesystem", "");
        call_refused(f, "TrackShared", "rwo", "node-a", ERR_NOT_SHAREABLE, NULL);
        call_refused(f, "TrackShared", "fs", "node-a", ERR_NOT_SHAREABLE, NULL);
        assert_annotation(f, "rwo", KEY_NODE, NULL);
        assert_annotation(f, "fs", KEY_NODE, NULL);
        /* Held shared by one node: Track of another is refused. */
        seed_rwx_block(f, "s-0");
        call_ok(f, "TrackShared", "s-0", "node-a");
        call_refused(f, "Track", "s-0", "node-b", ERR_ALREADY,
                     "volume s-0 already attached to node node-a");
        /* Held exclusively: TrackShared of another is refused. */
        seed_rwx_block(f, "x-0");
        call_ok(f, "Track", "x-0", "node-a");
        call_refused(f, "TrackShared", "x-0", "node-b", ERR_ALREADY,
                     "volume x-0 already attached to node node-a");
        assert_annotation(f, "x-0", KEY_MODE, NULL);
}

static guint counted(Fixture *f, const char *what)
{
        g_autofree char *body = fixture_emulator_request(f, "GET", "/_emulator/counts", NULL, NULL);
        g_autoptr(JsonNode) root = json_from_string(body, NULL);

        g_assert_nonnull(root);
        return (guint)json_object_get_int_member(json_node_get_object(root), what);
}

static void test_untrack_source(void)
{
        g_autoptr(Fixture) f = NULL;
        FixtureSignals d;
        g_autofree char *started = NULL;
        g_autofree char *nodes = NULL;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture(NULL);
        fixture_signals_watch(&d, f);
        migrate(f, "m-1");
        started = fixture_emulator_annotation(f, "m-1", KEY_TARGET_AT);
        fixture_emulator_ok(f, "POST", "/_emulator/counts/reset", "");
        call_ok(f, "UntrackNode", "m-1", "node-a");
        /* One conditional write, no read: the daemon knew the PV's resourceVersion. */
        g_assert_cmpuint(counted(f, "patch"), ==, 1);
        g_assert_cmpuint(counted(f, "get"), ==, 0);
        assert_annotation(f, "m-1", KEY_NODE, "node-b");
        assert_annotation(f, "m-1", KEY_AT, started);
        assert_annotation(f, "m-1", KEY_TARGET, NULL);
        assert_annotation(f, "m-1", KEY_TARGET_AT, NULL);
        nodes = get_node_names(f, "m-1");
        g_assert_cmpstr(nodes, ==, "node-b");
        /* Idempotent. */
        call_ok(f, "UntrackNode", "m-1", "node-a");
        g_assert_cmpuint(fixture_attachment_count(f), ==, 1);
        /* Per node: the target becoming first is no signal of its own. */
        fixture_wait_signal(&d, "Detached m-1 node-a;", COHERENCE_WAIT_SEC);
        g_assert_cmpstr(d.seen->str, ==,
                        "Attached m-1 node-a;Attached m-1 node-b;Detached m-1 node-a;");
        fixture_signals_clear(&d);
}

static void test_untrack_target(void)
{
        g_autoptr(Fixture) f = NULL;
        g_autofree char *at = NULL;
        g_autofree char *nodes = NULL;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture(NULL);
        migrate(f, "m-2");
        at = fixture_emulator_annotation(f, "m-2", KEY_AT);
        call_ok(f, "UntrackNode", "m-2", "node-b");
        assert_annotation(f, "m-2", KEY_NODE, "node-a");
        assert_annotation(f, "m-2", KEY_AT, at);
        assert_annotation(f, "m-2", KEY_TARGET, NULL);
        nodes = get_node_names(f, "m-2");
        g_assert_cmpstr(nodes, ==, "node-a");
        /* Still shared: a new target may come. */
        call_ok(f, "TrackShared", "m-2", "node-c");
        g_clear_pointer(&nodes, g_free);
        nodes = get_node_names(f, "m-2");
        g_assert_cmpstr(nodes, ==, "node-a,node-c");
        call_ok(f, "UntrackNode", "m-2", "node-a");
        call_ok(f, "UntrackNode", "m-2", "node-c");
        g_clear_pointer(&nodes, g_free);
        nodes = get_nodes(f, "m-2");
        g_assert_cmpstr(nodes, ==, "");
        assert_annotation(f, "m-2", KEY_NODE, NULL);
        assert_annotation(f, "m-2", KEY_MODE, NULL);
}

static void test_restart(void)
{
        g_autoptr(Fixture) f = NULL;
        g_autofree char *before = NULL;
        g_autofree char *after = NULL;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture(NULL);
        migrate(f, "m-3");
        before = get_nodes(f, "m-3");
        g_assert_cmpint(fixture_stop_daemon(f), ==, 0);
        fixture_start_daemon(f);
        after = get_nodes(f, "m-3");
        g_assert_cmpstr(after, ==, before);
        g_assert_cmpuint(fixture_attachment_count(f), ==, 2);
        /* The rebuilt table still refuses a third node and knows the mode. */
        call_refused(f, "TrackShared", "m-3", "node-c", ERR_ALREADY,
                     "volume m-3 already attached to nodes node-a and node-b");
}

typedef struct {
        Fixture *a, *b;
        const char *volume;
} Pair;

static gboolean agree(gpointer data)
{
        const Pair *p = data;
        g_autofree char *na = get_nodes(p->a, p->volume);
        g_autofree char *nb = get_nodes(p->b, p->volume);
        g_autofree char *la = list_text(p->a);
        g_autofree char *lb = list_text(p->b);
        g_autofree char *ga = fixture_get(p->a, p->volume, NULL, NULL);
        g_autofree char *gb = fixture_get(p->b, p->volume, NULL, NULL);

        return g_str_equal(na, nb) && g_str_equal(la, lb) && g_strcmp0(ga, gb) == 0;
}

static void test_two_daemons(void)
{
        g_autoptr(Fixture) a = NULL;
        g_autoptr(Fixture) b = NULL;
        Pair p = {.volume = "m-4"};
        g_autofree char *nodes = NULL;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        a = kube_fixture(NULL);
        b = fixture_new_sharing(a, NULL);
        p.a = a;
        p.b = b;
        migrate(a, "m-4");
        g_assert_true(fixture_wait_for(agree, &p, COHERENCE_WAIT_SEC));
        nodes = get_node_names(b, "m-4");
        g_assert_cmpstr(nodes, ==, "node-a,node-b");
        /* Through the other daemon: its answer comes from the API server, not its table. */
        call_refused(b, "TrackShared", "m-4", "node-c", ERR_ALREADY,
                     "volume m-4 already attached to nodes node-a and node-b");
        call_ok(b, "UntrackNode", "m-4", "node-a");
        g_assert_true(fixture_wait_for(agree, &p, COHERENCE_WAIT_SEC));
        g_clear_pointer(&nodes, g_free);
        nodes = get_node_names(a, "m-4");
        g_assert_cmpstr(nodes, ==, "node-b");
}

/* The Go rds-csi driver writes attached-node and attached-at only: exclusive. */
static void test_go_driver_exclusive(void)
{
        g_autoptr(Fixture) f = NULL;
        g_autofree char *nodes = NULL;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture(NULL);
        seed_pv(f, "g-0", "ReadWriteMany", "Block",
                "\"" KEY_NODE "\":\"node-a\",\"" KEY_AT "\":\"2026-11-26T13:07:03.123456Z\"");
        fixture_stop_daemon(f);
        fixture_start_daemon(f);
        nodes = get_nodes(f, "g-0");
        g_assert_cmpstr(nodes, ==, "node-a@1795698423123456");
        call_refused(f, "TrackShared", "g-0", "node-b", ERR_ALREADY,
                     "volume g-0 already attached to node node-a");
        call_ok(f, "Track", "g-0", "node-a");
        assert_annotation(f, "g-0", KEY_MODE, NULL);
}

static gboolean watching_nodes(gpointer data)
{
        g_autofree char *body =
            fixture_emulator_request(data, "GET", "/_emulator/watch", NULL, NULL);
        const char *nodes = body != NULL ? strstr(body, "\"nodes\":{\"open\":") : NULL;

        return nodes != NULL && nodes[strlen("\"nodes\":{\"open\":")] != '0';
}

typedef struct {
        Fixture *f;
        const char *volume;
        const char *nodes;
} NodesAre;

static gboolean nodes_are(gpointer data)
{
        const NodesAre *e = data;
        g_autofree char *nodes = get_node_names(e->f, e->volume);

        return g_str_equal(nodes, e->nodes);
}

static gboolean daemon_watching(gpointer data)
{
        g_autoptr(GVariant) v = fixture_get_property(data, "WatchState", NULL);

        return v != NULL && g_str_equal(g_variant_get_string(v, NULL), "watching");
}

static gboolean undo_logged(gpointer data)
{
        g_autofree char *log = fixture_daemon_log(data);

        return strstr(log, "Track m-8 for node-b was answered StoreFailed but its write landed "
                           "later; undone") != NULL;
}

/* DESIGN §8's lost answer, for a second node: a TrackShared answered StoreFailed whose write
 * lands later is undone by detaching that node only; the first keeps the volume. */
static void test_late_target_undone(void)
{
        g_autoptr(Fixture) f = NULL;
        NodesAre first_only = {.volume = "m-8", .nodes = "node-a"};

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture(NULL);
        seed_rwx_block(f, "m-8");
        g_assert_true(fixture_wait_for(daemon_watching, f, COHERENCE_WAIT_SEC));
        call_ok(f, "TrackShared", "m-8", "node-a");
        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"verb\":\"patch\",\"name\":\"m-8\"},\"count\":2,"
                            "\"action\":\"apply-later\",\"ms\":1500,\"answer\":\"drop\"}");
        call_refused(f, "TrackShared", "m-8", "node-b", BUS_ERROR_STORE_FAILED, NULL);
        g_assert_true(fixture_wait_for(undo_logged, f, COHERENCE_WAIT_SEC * 3));
        assert_annotation(f, "m-8", KEY_NODE, "node-a");
        assert_annotation(f, "m-8", KEY_MODE, "shared");
        assert_annotation(f, "m-8", KEY_TARGET, NULL);
        first_only.f = f;
        g_assert_true(fixture_wait_for(nodes_are, &first_only, COHERENCE_WAIT_SEC));
        /* The volume still takes a target. */
        call_ok(f, "TrackShared", "m-8", "node-c");
}

/* The reconciler (DESIGN §10) clears a dead node of a migrating volume with UntrackNode's
 * semantics: the other node keeps it. */
static void test_reconcile_target(void)
{
        g_autoptr(Fixture) f = NULL;
        NodesAre source_left = {.volume = "m-6", .nodes = "node-b"};
        NodesAre target_left = {.volume = "m-7", .nodes = "node-a"};

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture("[Attachment]\nEvents=no\n");
        fixture_emulator_ok(f, "POST", "/_emulator/nodes",
                            "[{\"kind\":\"Node\",\"metadata\":{\"name\":\"node-a\"}},"
                            "{\"kind\":\"Node\",\"metadata\":{\"name\":\"node-b\"}}]");
        g_assert_true(fixture_wait_for(watching_nodes, f, COHERENCE_WAIT_SEC));
        migrate(f, "m-6");
        seed_rwx_block(f, "m-7");
        call_ok(f, "TrackShared", "m-7", "node-a");
        call_ok(f, "TrackShared", "m-7", "node-c");
        fixture_emulator_ok(f, "DELETE", "/_emulator/nodes/node-a", NULL);
        source_left.f = f;
        g_assert_true(fixture_wait_for(nodes_are, &source_left, COHERENCE_WAIT_SEC));
        assert_annotation(f, "m-6", KEY_NODE, "node-b");
        assert_annotation(f, "m-6", KEY_TARGET, NULL);
        /* m-7: its first node gone too, its second (never seen as a Node) kept. */
        target_left.f = f;
        target_left.nodes = "node-c";
        g_assert_true(fixture_wait_for(nodes_are, &target_left, COHERENCE_WAIT_SEC));
}

static gboolean never(gpointer data)
{
        return FALSE;
}

static gboolean overdue_event_posted(gpointer data)
{
        g_autofree char *events =
            fixture_emulator_request(data, "GET", "/_emulator/events", NULL, NULL);

        return events != NULL && strstr(events, "\"reason\":\"MigrationOverdue\"") != NULL &&
               strstr(events, "m-5") != NULL;
}

/* Waits the whole timeout (30 s, the smallest MigrationTimeoutSec=): nothing is added to the
 * daemon for tests. */
static void test_overdue_once(void)
{
        g_autoptr(Fixture) f = NULL;
        g_autofree char *log = NULL;
        const char *once = NULL;
        FixtureSignals d;

        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return;
        }
        f = kube_fixture("[Attachment]\nMigrationTimeoutSec=30\n");
        fixture_signals_watch(&d, f);
        migrate(f, "m-5");
        fixture_wait_signal(&d, "MigrationOverdue m-5 node-a;", OVERDUE_TIMEOUT_SEC + 30);
        /* Once per migration: a few more checks (every 3 s) send nothing. */
        fixture_wait_for(never, NULL, 7);
        once = strstr(d.seen->str, "MigrationOverdue m-5 node-a;");
        g_assert_null(strstr(once + 1, "MigrationOverdue"));
        g_assert_cmpstr(d.seen->str, ==,
                        "Attached m-5 node-a;Attached m-5 node-b;MigrationOverdue m-5 node-a;");
        log = fixture_daemon_log(f);
        g_assert_nonnull(strstr(log, "Volume m-5: attached to both node-a and node-b for"));
        /* It changed nothing. */
        assert_annotation(f, "m-5", KEY_TARGET, "node-b");
        /* And an Event about the PV says so (the sender is asynchronous: waited for). */
        g_assert_true(fixture_wait_for(overdue_event_posted, f, 10));
        fixture_signals_clear(&d);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/shared/two-nodes", test_two_nodes);
        g_test_add_func("/shared/refusals", test_refusals);
        g_test_add_func("/shared/untrack-source", test_untrack_source);
        g_test_add_func("/shared/untrack-target", test_untrack_target);
        g_test_add_func("/shared/restart", test_restart);
        g_test_add_func("/shared/two-daemons", test_two_daemons);
        g_test_add_func("/shared/go-driver-exclusive", test_go_driver_exclusive);
        g_test_add_func("/shared/late-target-undone", test_late_target_undone);
        g_test_add_func("/shared/reconcile", test_reconcile_target);
        g_test_add_func("/shared/overdue-once", test_overdue_once);
        return g_test_run();
}
