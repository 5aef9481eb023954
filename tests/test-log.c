/* SPDX-License-Identifier: MIT */
/* The volume-scoped log helper: the structured fields a line carries (VOLUME=, NODE=,
 * MESSAGE_ID=), debug lines off unless asked for, and a per-volume line of the store. */
#include "log-capture.h"
#include "service/log-messages.h"
#include "service/log.h"
#include "service/store-kube-private.h"

static void test_volume_fields(void)
{
        log_capture_expect("undone vol-1 on node-1");
        log_volume(G_LOG_LEVEL_WARNING, LOG_MESSAGE_WRITE_UNDONE, "vol-1", "node-1",
                   "undone %s on %s", "vol-1", "node-1");
        g_assert_cmpstr(log_capture_field("VOLUME"), ==, "vol-1");
        g_assert_cmpstr(log_capture_field("NODE"), ==, "node-1");
        g_assert_cmpstr(log_capture_field("MESSAGE_ID"), ==, LOG_MESSAGE_WRITE_UNDONE);
        g_assert_cmpstr(log_capture_field("PRIORITY"), ==, "4");
        g_assert_cmpstr(log_capture_field("GLIB_DOMAIN"), ==, G_LOG_DOMAIN);
        log_capture_assert_all_seen();
}

static void test_no_volume(void)
{
        const GLogField extra[] = {{"OUTCOME", "ok", -1}};

        log_capture_expect("relisted at 42");
        log_fields(G_LOG_LEVEL_MESSAGE, LOG_MESSAGE_WATCH_RELISTED, NULL, NULL, extra, 1,
                   "relisted at %d", 42);
        g_assert_null(log_capture_field("VOLUME"));
        g_assert_null(log_capture_field("NODE"));
        g_assert_cmpstr(log_capture_field("MESSAGE_ID"), ==, LOG_MESSAGE_WATCH_RELISTED);
        g_assert_cmpstr(log_capture_field("OUTCOME"), ==, "ok");
        g_assert_cmpstr(log_capture_field("PRIORITY"), ==, "5");
        log_capture_assert_all_seen();
}

static void test_debug_off_unless_asked(void)
{
        log_capture_expect("handed off vol-2");
        log_volume_debug("vol-2", "handed off %s", "vol-2");
        g_assert_null(log_capture_field("VOLUME"));
        /* --debug does this. */
        g_log_set_debug_enabled(TRUE);
        log_volume_debug("vol-2", "handed off %s", "vol-2");
        g_log_set_debug_enabled(FALSE);
        g_assert_cmpstr(log_capture_field("VOLUME"), ==, "vol-2");
        g_assert_cmpstr(log_capture_field("PRIORITY"), ==, "7");
        log_capture_assert_all_seen();
}

/* A line of the store about one volume carries the volume's fields. */
static void test_store_line(void)
{
        PvInfo pv = {.name = "pv-7",
                     .volume_handle = "vol-7",
                     .attached_node = "node-7",
                     .attached_at = "yesterday"};
        g_auto(Holding) h = {0};

        log_capture_expect("PersistentVolume pv-7: unreadable attached-at*");
        store_kube_holding(&pv, &h);
        g_assert_cmpint(h.attached_at, >, 0);
        g_assert_cmpstr(log_capture_field("VOLUME"), ==, "vol-7");
        g_assert_cmpstr(log_capture_field("NODE"), ==, "node-7");
        g_assert_cmpstr(log_capture_field("MESSAGE_ID"), ==, LOG_MESSAGE_BAD_ANNOTATION);
        log_capture_assert_all_seen();
}

/* Every id is 128 bits of lowercase hex, and no two kinds share one. */
static void test_message_ids(void)
{
        const char *ids[] = {
            LOG_MESSAGE_TRACK_OK,
            LOG_MESSAGE_TRACK_FAILED,
            LOG_MESSAGE_UNTRACK_OK,
            LOG_MESSAGE_UNTRACK_FAILED,
            LOG_MESSAGE_REFUSED,
            LOG_MESSAGE_STALE_CLEARED,
            LOG_MESSAGE_WATCH_RELISTED,
            LOG_MESSAGE_WATCH_RESTARTED,
            LOG_MESSAGE_API_UNREACHABLE,
            LOG_MESSAGE_MIGRATION_OVERDUE,
            LOG_MESSAGE_WRITE_UNDONE,
            LOG_MESSAGE_WRITE_IN_DOUBT,
            LOG_MESSAGE_WRITE_LOST_APPLIED,
            LOG_MESSAGE_BAD_ANNOTATION,
            LOG_MESSAGE_VOLUME_CONFLICT,
        };
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

        for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
                g_assert_cmpuint(strlen(ids[i]), ==, 32);
                for (const char *c = ids[i]; *c != '\0'; c++)
                        g_assert_true(g_ascii_isdigit(*c) || (*c >= 'a' && *c <= 'f'));
                g_assert_true(g_hash_table_add(seen, (gpointer)ids[i]));
        }
}

int main(int argc, char **argv)
{
        static const struct {
                const char *path;
                GTestFunc func;
        } tests[] = {
            {"/log/volume-fields", test_volume_fields},
            {"/log/no-volume", test_no_volume},
            {"/log/debug-off-unless-asked", test_debug_off_unless_asked},
            {"/log/store-line", test_store_line},
            {"/log/message-ids", test_message_ids},
        };

        g_test_init(&argc, &argv, NULL);
        log_capture_install();
        for (gsize i = 0; i < G_N_ELEMENTS(tests); i++)
                g_test_add_func(tests[i].path, tests[i].func);
        return g_test_run();
}
