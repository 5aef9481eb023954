/* Nodes in the emulator: the same API as PVs under /api/v1/nodes (list, watch, taints by
 * patch, delete), kubectl's columns, one resourceVersion shared with PVs, faults and counts
 * kept apart per resource. */
#include "emulator-helper.h"

#include <string.h>

#define NODES "/api/v1/nodes"
#define PVS "/api/v1/persistentvolumes"
#define TABLE "application/json;as=Table;v=v1;g=meta.k8s.io"

static const char nodes_seed[] =
    "[{\"metadata\":{\"name\":\"node-1\",\"labels\":{\"node-role.kubernetes.io/worker\":\"\"}},"
    "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
    "\"nodeInfo\":{\"kubeletVersion\":\"v1.32.0\"}}},"
    "{\"metadata\":{\"name\":\"node-2\"},\"spec\":{\"unschedulable\":true},"
    "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"Unknown\"}]}}]";

static void seed_nodes(Emu *emu)
{
        g_autoptr(Reply) r = emu_control(emu, "POST", "/nodes", nodes_seed);

        g_assert_cmpuint(r->status, ==, 200);
        g_assert_cmpint(reply_int(r, "created"), ==, 2);
}

static JsonArray *cells_of(JsonObject *table, guint row)
{
        JsonArray *rows = json_object_get_array_member(table, "rows");

        return json_object_get_array_member(json_array_get_object_element(rows, row), "cells");
}

static void test_list_and_table(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) list = NULL;
        g_autoptr(Reply) table = NULL;
        g_autoptr(Reply) missing = NULL;
        g_autoptr(SoupMessage) msg = NULL;
        JsonArray *items, *first, *second;

        seed_nodes(emu);
        list = emu_api(emu, "GET", NODES, NULL, NULL);
        g_assert_cmpuint(list->status, ==, 200);
        g_assert_cmpstr(reply_string(list, "kind"), ==, "NodeList");
        items = json_object_get_array_member(reply_object(list), "items");
        g_assert_cmpuint(json_array_get_length(items), ==, 2);
        /* as the real server's, a list's items carry no kind (the NodeList has it) */
        g_assert_false(json_object_has_member(json_array_get_object_element(items, 0), "kind"));
        msg = emu_message(emu, "GET", NODES);
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept", TABLE);
        table = emu_send(emu, msg);
        g_assert_cmpuint(table->status, ==, 200);
        first = cells_of(reply_object(table), 0);
        second = cells_of(reply_object(table), 1);
        /* NAME STATUS ROLES AGE VERSION, then the -o wide ones */
        g_assert_cmpuint(json_array_get_length(first), ==, 10);
        g_assert_cmpstr(json_array_get_string_element(first, 1), ==, "Ready");
        g_assert_cmpstr(json_array_get_string_element(first, 2), ==, "worker");
        g_assert_cmpstr(json_array_get_string_element(first, 4), ==, "v1.32.0");
        g_assert_cmpstr(json_array_get_string_element(second, 1), ==,
                        "NotReady,SchedulingDisabled");
        g_assert_cmpstr(json_array_get_string_element(second, 2), ==, "<none>");
        missing = emu_api(emu, "GET", NODES "/node-9", NULL, NULL);
        assert_status_body(missing, 404, "NotFound");
        g_assert_cmpstr(reply_string(missing, "message"), ==, "nodes \"node-9\" not found");
        g_assert_cmpstr(reply_string(missing, "details.kind"), ==, "nodes");
        emu_stop(emu);
}

static void test_watch_taint_delete(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL;
        g_autoptr(WatchStream) pvs = NULL;
        g_autoptr(Reply) tainted = NULL;
        g_autoptr(Reply) bad = NULL;
        g_autoptr(Reply) deleted = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, p1 = NULL;
        JsonObject *modified, *spec;

        seed_nodes(emu); /* RVs 1001, 1002 */
        w = emu_watch_at(emu, NODES "?watch=true&resourceVersion=1000", NULL);
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e1)), ==, "node-1");
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e2)), ==, "node-2");
        /* kubectl taint sends a strategic merge patch of spec.taints */
        tainted = emu_api(emu, "PATCH", NODES "/node-2", "application/strategic-merge-patch+json",
                          "{\"spec\":{\"taints\":[{\"key\":\"node.kubernetes.io/out-of-service\","
                          "\"value\":\"nodeshutdown\",\"effect\":\"NoExecute\"}]}}");
        g_assert_cmpuint(tainted->status, ==, 200);
        /* an unknown effect is refused (422, no write, no event), as by the real server */
        bad = emu_api(emu, "PATCH", NODES "/node-2", "application/merge-patch+json",
                      "{\"spec\":{\"taints\":[{\"key\":\"k\",\"effect\":\"Bogus\"}]}}");
        assert_status_body(bad, 422, "Invalid");
        g_assert_cmpstr(reply_string(bad, "message"), ==,
                        "Node \"node-2\" is invalid: metadata.taints[0].effect: Unsupported value: "
                        "\"Bogus\": supported values: \"NoSchedule\", \"PreferNoSchedule\", "
                        "\"NoExecute\"");
        modified = watch_expect(w, "MODIFIED", &e3);
        spec = json_object_get_object_member(modified, "spec");
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(spec, "taints")), ==,
                         1);
        deleted = emu_api(emu, "DELETE", NODES "/node-2", NULL, NULL);
        g_assert_cmpuint(deleted->status, ==, 200);
        g_assert_cmpuint(json_rv(watch_expect(w, "DELETED", &e4)), ==, 1004);
        /* one clock: a PV written now gets the next RV, and PV watches see no Node events */
        pvs = emu_watch(emu, "resourceVersion=1000", NULL);
        emu_generate(emu, 1, 0);
        g_assert_cmpuint(json_rv(watch_expect(pvs, "ADDED", &p1)), ==, 1005);
        emu_stop(emu);
}

static void test_faults_and_counts(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) pv_fault = NULL;
        g_autoptr(Reply) node_ok = NULL;
        g_autoptr(Reply) node_fault = NULL;
        g_autoptr(Reply) counts = NULL;
        g_autoptr(Reply) pv_ok = NULL;

        seed_nodes(emu);
        /* without "resource" a fault is for PVs, as before Nodes existed */
        emu_add_fault(emu, "{\"match\":{\"verb\":\"list\"},\"action\":\"status\",\"code\":503}");
        emu_add_fault(emu, "{\"match\":{\"verb\":\"list\",\"resource\":\"nodes\"},"
                           "\"action\":\"status\",\"code\":500}");
        node_fault = emu_api(emu, "GET", NODES, NULL, NULL);
        assert_status_body(node_fault, 500, "InternalError");
        node_ok = emu_api(emu, "GET", NODES, NULL, NULL);
        g_assert_cmpuint(node_ok->status, ==, 200);
        pv_fault = emu_api(emu, "GET", PVS, NULL, NULL);
        assert_status_body(pv_fault, 503, "ServiceUnavailable");
        pv_ok = emu_api(emu, "GET", PVS, NULL, NULL);
        g_assert_cmpuint(pv_ok->status, ==, 200);
        counts = emu_control(emu, "GET", "/counts", NULL);
        /* the top level stays the PVs' */
        g_assert_cmpint(reply_int(counts, "list"), ==, 2);
        g_assert_cmpint(reply_int(counts, "total"), ==, 2);
        g_assert_cmpint(reply_int(counts, "nodes.list"), ==, 2);
        g_assert_cmpint(reply_int(counts, "nodes.total"), ==, 2);
        emu_stop(emu);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/nodes/list-and-table", test_list_and_table);
        g_test_add_func("/emulator/nodes/watch-taint-delete", test_watch_taint_delete);
        g_test_add_func("/emulator/nodes/faults-and-counts", test_faults_and_counts);
        return g_test_run();
}
