/* SPDX-License-Identifier: MIT */
/* Store=kubernetes end to end against the kube-emulator: every attachment is persisted before
 * the reply, the store's errors reach the caller, nothing is tracked that the API server does
 * not hold, the table is rebuilt from the PVs, and QueueLimit refuses work beyond it. */
#include "fixture.h"

#include <string.h>
#include <sys/wait.h>

static gint64 unix_usec(GDateTime *t)
{
        return g_date_time_to_unix(t) * G_USEC_PER_SEC + g_date_time_get_microsecond(t);
}

static gboolean need_emulator(void)
{
        if (fixture_have_emulator())
                return TRUE;
        g_test_skip("kube-emulator is not built");
        return FALSE;
}

static void test_queue_limit(void)
{
        enum { N = 64 };
        FixtureOptions opts = {.kubernetes = TRUE, .queue_limit = 8};
        g_autoptr(Fixture) f = NULL;
        FixtureCall calls[N] = {0};
        guint ok = 0, limited = 0;
        g_autoptr(GVariant) l = NULL;

        if (!need_emulator())
                return;
        f = fixture_new(&opts);
        fixture_emulator_add_pvs(f, "vol-q", N);
        fixture_emulator_ok(f, "POST", "/_emulator/latency", "{\"ms\":300}");
        for (guint i = 0; i < N; i++) {
                g_snprintf(calls[i].volume, sizeof(calls[i].volume), "vol-q%u", i);
                g_strlcpy(calls[i].node, "node-1", sizeof(calls[i].node));
                fixture_track_async(f, &calls[i]);
        }
        g_assert_true(fixture_wait_calls(calls, N, N, 3 * FIXTURE_WAIT_SEC));
        fixture_emulator_ok(f, "POST", "/_emulator/latency", "{\"ms\":0}");
        l = fixture_list(f);
        for (guint i = 0; i < N; i++) {
                g_autofree char *annotation =
                    fixture_emulator_annotation(f, calls[i].volume, FIXTURE_ANNOTATION_NODE);
                g_autoptr(GError) error = NULL;
                g_autofree char *node = fixture_get(f, calls[i].volume, NULL, &error);

                if (calls[i].error == NULL) {
                        ok++;
                        g_assert_cmpstr(node, ==, "node-1");
                        g_assert_cmpstr(annotation, ==, "node-1");
                } else {
                        fixture_assert_dbus_error(calls[i].error, DBUS_ERROR_LIMITS_EXCEEDED);
                        limited++;
                        fixture_assert_dbus_error(error, BUS_ERROR_NOT_ATTACHED);
                        g_assert_null(annotation);
                }
        }
        g_test_message("QueueLimit=8, %d calls: %u succeeded, %u refused", N, ok, limited);
        g_assert_cmpuint(limited, >, 0);
        g_assert_cmpuint(ok, >, 0);
        g_assert_cmpuint(g_variant_n_children(l), ==, ok);
        fixture_calls_clear(calls, N);
}

/* The daemon reaches the API server through Kubeconfig= (tokenFile relative to it). */
static void test_kubeconfig(void)
{
        FixtureOptions opts = {.kubernetes = TRUE, .kubeconfig = TRUE};
        g_autoptr(Fixture) f = NULL;
        g_autofree char *node = NULL;

        if (!need_emulator())
                return;
        f = fixture_new(&opts);
        fixture_emulator_add_pvs(f, "vol-c", 1);
        fixture_track_ok(f, "vol-c0", "node-c");
        node = fixture_emulator_annotation(f, "vol-c0", FIXTURE_ANNOTATION_NODE);
        g_assert_cmpstr(node, ==, "node-c");
        fixture_untrack_ok(f, "vol-c0");
        g_clear_pointer(&node, g_free);
        node = fixture_emulator_annotation(f, "vol-c0", FIXTURE_ANNOTATION_NODE);
        g_assert_null(node);
}

static char *emulator_annotation_at(Fixture *f, const char *pv)
{
        return fixture_emulator_annotation(f, pv, FIXTURE_ANNOTATION_AT);
}

/* Persisting, the store's errors, and the rebuild of the table from the PVs. */
static void test_kubernetes_store(void)
{
        FixtureOptions opts = {.kubernetes = TRUE};
        g_autoptr(Fixture) f = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *node = NULL;
        g_autofree char *at_text = NULL;
        g_autoptr(GDateTime) at_time = NULL;
        guint64 at = 0, at_again = 0;
        int status;

        if (!need_emulator())
                return;
        f = fixture_new(&opts);
        {
                g_autoptr(GError) error2 = NULL;
                g_autoptr(GVariant) store = fixture_get_property(f, "Store", &error2);

                g_assert_no_error(error2);
                g_assert_cmpstr(g_variant_get_string(store, NULL), ==, "kubernetes");
        }
        fixture_emulator_add_pvs(f, "vol-k", 3);

        fixture_track_ok(f, "vol-k0", "node-1");
        node = fixture_emulator_annotation(f, "vol-k0", FIXTURE_ANNOTATION_NODE);
        g_assert_cmpstr(node, ==, "node-1");
        g_clear_pointer(&node, g_free);
        node = fixture_get(f, "vol-k0", &at, NULL);
        at_text = emulator_annotation_at(f, "vol-k0");
        g_assert_nonnull(at_text);
        g_assert_true(g_str_has_suffix(at_text, "Z"));
        at_time = g_date_time_new_from_iso8601(at_text, NULL);
        g_assert_nonnull(at_time);
        g_assert_cmpint(unix_usec(at_time), ==, (gint64)at);

        /* No PV: VolumeNotFound, nothing tracked. */
        g_assert_false(fixture_track(f, "vol-missing", "node-1", &error));
        fixture_assert_dbus_error(error, BUS_ERROR_VOLUME_NOT_FOUND);
        g_clear_error(&error);
        fixture_assert_not_attached(f, "vol-missing");

        /* The API server fails: StoreFailed carrying the status, nothing tracked. */
        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"name\":\"vol-k1\"},\"count\":1000,"
                            "\"action\":\"status\",\"code\":500}");
        g_assert_false(fixture_track(f, "vol-k1", "node-1", &error));
        fixture_assert_dbus_error(error, BUS_ERROR_STORE_FAILED);
        {
                g_autofree char *message = fixture_error_message(error);

                g_test_message("StoreFailed message: %s", message);
                g_assert_nonnull(strstr(message, "500"));
        }
        g_clear_error(&error);
        fixture_assert_not_attached(f, "vol-k1");

        /* Untrack failing: the volume stays tracked and annotated. */
        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"name\":\"vol-k0\"},\"count\":1000,"
                            "\"action\":\"status\",\"code\":500}");
        {
                g_autoptr(GVariant) r = fixture_call(f, "Untrack", g_variant_new("(s)", "vol-k0"),
                                                     G_VARIANT_TYPE_UNIT, &error);

                g_assert_null(r);
                fixture_assert_dbus_error(error, BUS_ERROR_STORE_FAILED);
                g_clear_error(&error);
        }
        fixture_emulator_ok(f, "DELETE", "/_emulator/faults", NULL);
        g_clear_pointer(&node, g_free);
        node = fixture_get(f, "vol-k0", NULL, NULL);
        g_assert_cmpstr(node, ==, "node-1");
        g_clear_pointer(&node, g_free);
        node = fixture_emulator_annotation(f, "vol-k1", FIXTURE_ANNOTATION_NODE);
        g_assert_null(node);
        node = fixture_emulator_annotation(f, "vol-k0", FIXTURE_ANNOTATION_NODE);
        g_assert_cmpstr(node, ==, "node-1");

        /* Another host's attachment, written straight to the API server. */
        fixture_emulator_add_pv(f, "vol-other", "node-9", "2026-01-02T03:04:05.123456Z");

        /* Restart: the table is rebuilt from the PVs. */
        status = fixture_stop_daemon(f);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        fixture_start_daemon(f);
        g_clear_pointer(&node, g_free);
        node = fixture_get(f, "vol-k0", &at_again, NULL);
        g_assert_cmpstr(node, ==, "node-1");
        g_assert_cmpuint(at_again, ==, at);
        g_clear_pointer(&node, g_free);
        node = fixture_get(f, "vol-other", &at_again, NULL);
        g_assert_cmpstr(node, ==, "node-9");
        {
                g_autoptr(GDateTime) t =
                    g_date_time_new_from_iso8601("2026-01-02T03:04:05.123456Z", NULL);

                g_assert_cmpint((gint64)at_again, ==, unix_usec(t));
        }
        g_assert_cmpuint(fixture_attachment_count(f), ==, 2);
        g_assert_false(fixture_track(f, "vol-other", "node-1", &error));
        fixture_assert_dbus_error(error, BUS_ERROR_ALREADY_ATTACHED);
        g_clear_error(&error);

        /* Untrack removes the annotation. */
        fixture_untrack_ok(f, "vol-k0");
        g_clear_pointer(&node, g_free);
        node = fixture_emulator_annotation(f, "vol-k0", FIXTURE_ANNOTATION_NODE);
        g_assert_null(node);
        fixture_assert_not_attached(f, "vol-k0");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/kube/store", test_kubernetes_store);
        g_test_add_func("/kube/queue-limit", test_queue_limit);
        g_test_add_func("/kube/kubeconfig", test_kubeconfig);
        return g_test_run();
}
