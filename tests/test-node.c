/* SPDX-License-Identifier: MIT */
/* Node decoding (service/node.c): the name, the resourceVersion and the out-of-service taint,
 * from LIST pages and watch events; NotReady alone and other taints are not out of service. */
#include <string.h>

#include "service/node.h"

static gboolean collect(const NodeInfo *node, gpointer user_data, GError **error)
{
        g_string_append_printf(user_data, "%s@%s%s;", node->name ? node->name : "-",
                               node->resource_version ? node->resource_version : "-",
                               node->out_of_service ? "!" : "");
        return TRUE;
}

static void test_list_page(void)
{
        const char *page =
            "{\"kind\":\"NodeList\",\"metadata\":{\"resourceVersion\":\"1005\",\"continue\":\"c1\"}"
            ","
            "\"items\":[{\"metadata\":{\"name\":\"node-1\",\"resourceVersion\":\"1001\"},"
            "\"spec\":{\"taints\":[{\"key\":\"node.kubernetes.io/out-of-service\","
            "\"value\":\"nodeshutdown\",\"effect\":\"NoExecute\"}]}},"
            "{\"metadata\":{\"name\":\"node-2\",\"resourceVersion\":\"1002\"},\"status\":"
            "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}},"
            "{\"metadata\":{\"name\":\"node-3\"},\"spec\":{\"taints\":[{\"key\":"
            "\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"},{\"key\":"
            "\"node.kubernetes.io/out-of-service\",\"effect\":\"NoSchedule\"}]}},7,null]}";
        g_autoptr(GString) seen = g_string_new(NULL);
        g_autofree char *cont = NULL, *rv = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(node_list_decode(page, strlen(page), collect, seen, &cont, &rv, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(seen->str, ==, "node-1@1001!;node-2@1002;node-3@-!;");
        g_assert_cmpstr(cont, ==, "c1");
        g_assert_cmpstr(rv, ==, "1005");
}

static void test_list_refused(void)
{
        static const char *const bad[] = {
            "",
            "[]",
            "{\"items\":{}}",
            "{\"items\":[{\"metadata\":{\"name\":\"\\ud800\"}}]}",
            "{\"items\":[",
            "{\"items\":[]} x",
        };

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GString) seen = g_string_new(NULL);
                g_autoptr(GError) error = NULL;

                g_assert_false(
                    node_list_decode(bad[i], strlen(bad[i]), collect, seen, NULL, NULL, &error));
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
                g_assert_cmpstr(seen->str, ==, "");
        }
}

static void test_events(void)
{
        static const struct {
                const char *line;
                PvEventType type;
                const char *name, *rv;
                gboolean out_of_service;
        } cases[] = {
            {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n1\",\"resourceVersion\":"
             "\"7\"}}}",
             PV_EVENT_ADDED, "n1", "7", FALSE},
            {"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"n1\"},\"spec\":{"
             "\"taints\":[{\"key\":\"node.kubernetes.io/out-of-service\"}]}}}",
             PV_EVENT_MODIFIED, "n1", NULL, TRUE},
            {"{\"object\":{\"metadata\":{\"name\":\"n2\",\"resourceVersion\":\"9\"}},"
             "\"type\":\"DELETED\"}",
             PV_EVENT_DELETED, "n2", "9", FALSE},
            {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12\"}}}",
             PV_EVENT_BOOKMARK, NULL, "12", FALSE},
        };

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(NodeEvent) ev = {0};
                g_autoptr(GError) error = NULL;

                g_assert_true(node_event_decode(cases[i].line, strlen(cases[i].line), &ev, &error));
                g_assert_no_error(error);
                g_assert_cmpint(ev.type, ==, cases[i].type);
                g_assert_cmpstr(ev.node.name, ==, cases[i].name);
                g_assert_cmpstr(ev.node.resource_version, ==, cases[i].rv);
                g_assert_cmpint(ev.node.out_of_service, ==, cases[i].out_of_service);
        }
}

static void test_error_event(void)
{
        const char *line = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"message\":"
                           "\"too old resource version: 1 (2)\",\"reason\":\"Expired\","
                           "\"code\":410}}";
        g_auto(NodeEvent) ev = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(node_event_decode(line, strlen(line), &ev, &error));
        g_assert_cmpint(ev.type, ==, PV_EVENT_ERROR);
        g_assert_cmpuint(ev.status.code, ==, 410);
        g_assert_cmpstr(ev.status.reason, ==, "Expired");
}

static void test_events_refused(void)
{
        static const char *const bad[] = {
            "{}",
            "{\"type\":\"ADDED\"}",
            "{\"type\":\"NOPE\",\"object\":{}}",
            "{\"type\":\"ADDED\",\"object\":[]}",
            "{\"type\":7,\"object\":{}}",
            "nope",
        };

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_auto(NodeEvent) ev = {0};
                g_autoptr(GError) error = NULL;

                g_assert_false(node_event_decode(bad[i], strlen(bad[i]), &ev, &error));
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
                g_assert_null(ev.node.name);
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/node/list-page", test_list_page);
        g_test_add_func("/node/list-refused", test_list_refused);
        g_test_add_func("/node/events", test_events);
        g_test_add_func("/node/error-event", test_error_event);
        g_test_add_func("/node/events-refused", test_events_refused);
        return g_test_run();
}
