/* SPDX-License-Identifier: MIT */
/* Watch event lines (pv_event_decode): what each type carries, and what is refused. */
#include <string.h>

#include "service/pv.h"

#define DRIVER "rds.csi.srvlab.io"

static gboolean decode(const char *line, PvEvent *ev, GError **error)
{
        return pv_event_decode(line, strlen(line), DRIVER, ev, error);
}

static void test_added(void)
{
        g_auto(PvEvent) ev = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(decode("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"pv-1\","
                             "\"resourceVersion\":\"1001\",\"annotations\":{\"" DRIVER
                             "/attached-node\":\"node-1\",\"" DRIVER
                             "/attached-at\":\"2026-11-26T13:07:03.123456Z\"}},\"spec\":{\"csi\":"
                             "{\"driver\":\"" DRIVER "\",\"volumeHandle\":\"vol-1\"}}}}",
                             &ev, &error));
        g_assert_no_error(error);
        g_assert_cmpint(ev.type, ==, PV_EVENT_ADDED);
        g_assert_cmpstr(ev.pv.name, ==, "pv-1");
        g_assert_cmpstr(ev.pv.resource_version, ==, "1001");
        g_assert_cmpstr(ev.pv.csi_driver, ==, DRIVER);
        g_assert_cmpstr(ev.pv.volume_handle, ==, "vol-1");
        g_assert_cmpstr(ev.pv.attached_node, ==, "node-1");
        g_assert_cmpstr(ev.pv.attached_at, ==, "2026-11-26T13:07:03.123456Z");
}

/* The claim the PV is bound to (where its Events go), in both decoders; a later claimRef
 * replaces an earlier one whole. */
static void test_claim_ref(void)
{
        const char *line = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"pv-1\"},"
                           "\"spec\":{\"claimRef\":{\"namespace\":\"old\",\"name\":\"x\"},"
                           "\"csi\":{\"driver\":\"" DRIVER "\",\"volumeHandle\":\"vol-1\"},"
                           "\"claimRef\":{\"kind\":\"PersistentVolumeClaim\",\"namespace\":"
                           "\"apps\",\"name\":\"data-0\",\"uid\":\"u-1\"}}}}";
        g_auto(PvEvent) ev = {0};
        g_auto(PvEvent) ref = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(decode(line, &ev, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(ev.pv.claim_namespace, ==, "apps");
        g_assert_cmpstr(ev.pv.claim_name, ==, "data-0");
        g_assert_cmpstr(ev.pv.claim_uid, ==, "u-1");
        g_assert_cmpstr(ev.pv.volume_handle, ==, "vol-1");
        g_assert_true(pv_event_decode_reference(line, strlen(line), DRIVER, &ref, &error));
        g_assert_cmpstr(ref.pv.claim_namespace, ==, "apps");
        g_assert_cmpstr(ref.pv.claim_name, ==, "data-0");
}

static void test_types(void)
{
        static const struct {
                const char *type;
                PvEventType want;
        } cases[] = {{"MODIFIED", PV_EVENT_MODIFIED},
                     {"DELETED", PV_EVENT_DELETED},
                     {"BOOKMARK", PV_EVENT_BOOKMARK}};

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(PvEvent) ev = {0};
                g_autofree char *line = g_strdup_printf(
                    "{\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}},\"type\":\"%s\"}",
                    cases[i].type);

                g_assert_true(decode(line, &ev, NULL));
                g_assert_cmpint(ev.type, ==, cases[i].want);
                g_assert_cmpstr(ev.pv.resource_version, ==, "7");
                g_assert_null(ev.pv.attached_node);
        }
}

static void test_error_status(void)
{
        g_auto(PvEvent) ev = {0};

        g_assert_true(decode("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
                             "\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old "
                             "resource version: 5 (1004)\",\"reason\":\"Expired\",\"code\":410}}",
                             &ev, NULL));
        g_assert_cmpint(ev.type, ==, PV_EVENT_ERROR);
        g_assert_cmpuint(ev.status.code, ==, 410);
        g_assert_cmpstr(ev.status.reason, ==, "Expired");
        g_assert_cmpstr(ev.status.message, ==, "too old resource version: 5 (1004)");
}

static void test_refused(void)
{
        static const char *const bad[] = {
            "",
            "[]",
            "{\"type\":\"ADDED\"}",
            "{\"object\":{}}",
            "{\"type\":\"CHANGED\",\"object\":{}}",
            "{\"type\":\"ADDED\",\"object\":\"x\"}",
            "{\"type\":\"ADDED\",\"object\":{}} x",
            "{\"type\":\"ADDED\",\"object\":{}",
        };

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_auto(PvEvent) ev = {0};
                g_autoptr(GError) error = NULL;

                g_assert_false(decode(bad[i], &ev, &error));
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
                g_assert_null(ev.pv.name);
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/pv-watch/added", test_added);
        g_test_add_func("/pv-watch/types", test_types);
        g_test_add_func("/pv-watch/claim-ref", test_claim_ref);
        g_test_add_func("/pv-watch/error-status", test_error_status);
        g_test_add_func("/pv-watch/refused", test_refused);
        return g_test_run();
}
