/* SPDX-License-Identifier: MIT */
/* Node LIST pages and watch event lines (service/node.c), from the same input:
 *  - success and an error set are exclusive; a page that fails reaches no callback;
 *  - every name and resourceVersion handed out is UTF-8, list tokens are never empty;
 *  - a stopped walk fails with the callback's error and leaves the tokens untouched. */
#include "fuzz.h"

#include <gio/gio.h>
#include <string.h>

#include "node.h"

typedef struct {
        guint items;
        gboolean stop;
} Walk;

static void check_utf8(const char *s)
{
        FUZZ_CHECK(s == NULL || g_utf8_validate(s, -1, NULL));
}

static gboolean on_item(const NodeInfo *node, gpointer user_data, GError **error)
{
        Walk *walk = user_data;

        FUZZ_CHECK(node != NULL);
        check_utf8(node->name);
        check_utf8(node->resource_version);
        FUZZ_CHECK(node->out_of_service == TRUE || node->out_of_service == FALSE);
        walk->items++;
        if (walk->stop) {
                g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "stop");
                return FALSE;
        }
        return TRUE;
}

static void check_list(const uint8_t *data, size_t size)
{
        g_autofree char *cont = NULL, *rv = NULL;
        g_autoptr(GError) error = NULL;
        Walk walk = {0};
        gboolean ok =
            node_list_decode((const char *)data, size, on_item, &walk, &cont, &rv, &error);

        FUZZ_CHECK(ok == (error == NULL));
        FUZZ_CHECK(ok || walk.items == 0);
        FUZZ_CHECK(cont == NULL || (*cont != '\0' && g_utf8_validate(cont, -1, NULL)));
        FUZZ_CHECK(rv == NULL || (*rv != '\0' && g_utf8_validate(rv, -1, NULL)));
        if (ok && walk.items > 0) {
                g_autoptr(GError) stopped = NULL;
                Walk first = {.stop = TRUE};
                char *untouched = (char *)"untouched";

                FUZZ_CHECK(!node_list_decode((const char *)data, size, on_item, &first, &untouched,
                                             NULL, &stopped));
                FUZZ_CHECK(first.items == 1);
                FUZZ_CHECK(strcmp(untouched, "untouched") == 0);
                FUZZ_CHECK(g_error_matches(stopped, G_IO_ERROR, G_IO_ERROR_CANCELLED));
        }
}

static void check_event(const uint8_t *data, size_t size)
{
        g_auto(NodeEvent) ev = {0};
        g_autoptr(GError) error = NULL;
        gboolean ok = node_event_decode((const char *)data, size, &ev, &error);

        FUZZ_CHECK(ok == (error == NULL));
        if (!ok) {
                FUZZ_CHECK(ev.node.name == NULL && ev.node.resource_version == NULL);
                return;
        }
        FUZZ_CHECK(ev.type <= PV_EVENT_ERROR);
        check_utf8(ev.node.name);
        check_utf8(ev.node.resource_version);
        check_utf8(ev.status.reason);
        check_utf8(ev.status.message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_quiet_logs();
        check_list(data, size);
        check_event(data, size);
        return 0;
}
