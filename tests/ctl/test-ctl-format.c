/* SPDX-License-Identifier: MIT */
/* attachmentctl's output, byte for byte: timestamps, relative spans, table, JSON, fields. */
#include "ctl-format.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <time.h>

/* Thu 2026-11-26 13:07:03 UTC */
#define T0 (UINT64_C(1795698423) * G_USEC_PER_SEC)
#define SEC INT64_C(1000000)
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

static void set_tz(const char *tz)
{
        g_setenv("TZ", tz, TRUE);
        tzset();
}

static void test_timestamp(void)
{
        g_autofree char *utc = NULL;
        g_autofree char *cet = NULL;

        set_tz("UTC");
        utc = ctl_format_timestamp(T0 + 999999);
        g_assert_cmpstr(utc, ==, "Thu 2026-11-26 13:07:03 UTC");
        /* A POSIX TZ string needs no zoneinfo files: the test runs on minimal systems too. */
        set_tz("CET-1");
        cet = ctl_format_timestamp(T0);
        g_assert_cmpstr(cet, ==, "Thu 2026-11-26 14:07:03 CET");
        set_tz("UTC");
}

static void test_relative(void)
{
        static const struct {
                int64_t offset; /* the timestamp minus now */
                const char *expected;
        } cases[] = {
            {0, "now"},
            {-7, "7us ago"},
            {-500 * 1000, "500ms ago"},
            {-59 * SEC, "59s ago"},
            {-(2 * MINUTE + 3 * SEC), "2min 3s ago"},
            {-(5 * MINUTE + 3 * SEC), "5min ago"},
            {-(HOUR + 5 * MINUTE), "1h 5min ago"},
            {-(7 * HOUR + 59 * MINUTE), "7h ago"},
            {-(25 * HOUR), "1 day 1h ago"},
            {-(3 * DAY + HOUR), "3 days ago"},
            {-(7 * DAY), "1 week 0 days ago"},
            {-(15 * DAY), "2 weeks 1 day ago"},
            {-(40 * DAY), "1 month 9 days ago"},
            {-(400 * DAY), "1 year 1 month ago"},
            {10 * SEC, "10s left"},
            {HOUR, "1h 0min left"},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *got =
                    ctl_format_timespan_relative((uint64_t)((int64_t)T0 + cases[i].offset), T0);
                g_assert_cmpstr(got, ==, cases[i].expected);
        }
}

static void test_full(void)
{
        g_autofree char *got = NULL;

        set_tz("UTC");
        got = ctl_format_timestamp_full(T0, T0 + 2 * MINUTE + 3 * SEC);
        g_assert_cmpstr(got, ==, "Thu 2026-11-26 13:07:03 UTC; 2min 3s ago");
}

static void test_rfc3339(void)
{
        g_autofree char *a = ctl_format_rfc3339(T0 + 123456);
        g_autofree char *b = ctl_format_rfc3339(T0);
        g_autofree char *epoch = ctl_format_rfc3339(0);

        g_assert_cmpstr(a, ==, "2026-11-26T13:07:03.123456Z");
        g_assert_cmpstr(b, ==, "2026-11-26T13:07:03.000000Z");
        g_assert_cmpstr(epoch, ==, "1970-01-01T00:00:00.000000Z");
}

static const CtlAttachment rows[] = {
    {"pv-1", "node-2", T0},
    {"pvc-0a1b2c3d", "n1", T0 + 63 * SEC},
};

static void test_table_legend(void)
{
        g_autoptr(GString) out = g_string_new(NULL);

        set_tz("UTC");
        ctl_format_table(out, rows, G_N_ELEMENTS(rows), TRUE, T0 + 2 * MINUTE + 3 * SEC);
        g_assert_cmpstr(out->str, ==,
                        "VOLUME       NODE   ATTACHED\n"
                        "pv-1         node-2 Thu 2026-11-26 13:07:03 UTC; 2min 3s ago\n"
                        "pvc-0a1b2c3d n1     Thu 2026-11-26 13:08:06 UTC; 1min 0s ago\n"
                        "\n"
                        "2 attachments listed.\n");
}

/* A volume two nodes hold: its two rows marked, and one line of the footer says what the
 * marks mean; the JSON of get carries the target as an object. */
static void test_table_migration(void)
{
        CtlAttachment m[] = {
            {"pv-1", "node-a", T0, NULL},
            {"pv-2", "node-a", T0, NULL},
            {"pv-2", "node-b", T0 + MINUTE, NULL},
            {"pv-3", "node-c", T0, NULL},
        };
        g_autoptr(GString) out = g_string_new(NULL);
        g_autofree char *json = NULL;

        set_tz("UTC");
        ctl_format_mark_migrations(m, G_N_ELEMENTS(m));
        g_assert_null(m[0].migration);
        g_assert_cmpstr(m[1].migration, ==, "source");
        g_assert_cmpstr(m[2].migration, ==, "target");
        g_assert_null(m[3].migration);
        ctl_format_table(out, m, G_N_ELEMENTS(m), TRUE, T0 + 2 * MINUTE);
        g_assert_cmpstr(out->str, ==,
                        "VOLUME NODE   ATTACHED\n"
                        "pv-1   node-a Thu 2026-11-26 13:07:03 UTC; 2min 0s ago\n"
                        "pv-2   node-a Thu 2026-11-26 13:07:03 UTC; 2min 0s ago  [shared: source]\n"
                        "pv-2   node-b Thu 2026-11-26 13:08:03 UTC; 1min 0s ago  [shared: target]\n"
                        "pv-3   node-c Thu 2026-11-26 13:07:03 UTC; 2min 0s ago\n"
                        "\n"
                        "4 attachments listed.\n"
                        "[shared: source], [shared: target]: a volume attached to two nodes at "
                        "once (a live migration from the first node to the second).\n");
        json = ctl_format_json_get(&m[1], &m[2], CTL_JSON_SHORT);
        g_assert_cmpstr(
            json, ==,
            "{\"volume\":\"pv-2\",\"node\":\"node-a\",\"attached_at_usec\":1795698423000000,"
            "\"attached_at\":\"2026-11-26T13:07:03.000000Z\",\"migration\":\"source\","
            "\"target\":{\"volume\":\"pv-2\",\"node\":\"node-b\",\"attached_at_usec\":"
            "1795698483000000,\"attached_at\":\"2026-11-26T13:08:03.000000Z\","
            "\"migration\":\"target\"}}\n");
}

static void test_table_no_legend(void)
{
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GString) one = g_string_new(NULL);
        g_autoptr(GString) none = g_string_new(NULL);
        g_autoptr(GString) none_legend = g_string_new(NULL);

        set_tz("UTC");
        ctl_format_table(out, rows, G_N_ELEMENTS(rows), FALSE, T0 + 63 * SEC);
        g_assert_cmpstr(out->str, ==,
                        "pv-1         node-2 Thu 2026-11-26 13:07:03 UTC; 1min 3s ago\n"
                        "pvc-0a1b2c3d n1     Thu 2026-11-26 13:08:06 UTC; now\n");
        ctl_format_table(one, rows, 1, TRUE, T0);
        g_assert_true(g_str_has_suffix(one->str, "\n1 attachment listed.\n"));
        ctl_format_table(none, rows, 0, FALSE, T0);
        g_assert_cmpstr(none->str, ==, "");
        ctl_format_table(none_legend, rows, 0, TRUE, T0);
        g_assert_cmpstr(none_legend->str, ==, "No attachments.\n");
}

static void test_json_short(void)
{
        g_autofree char *list = ctl_format_json_list(rows, 1, CTL_JSON_SHORT);
        g_autofree char *empty = ctl_format_json_list(rows, 0, CTL_JSON_SHORT);
        g_autofree char *one = ctl_format_json_one(&rows[0], CTL_JSON_SHORT);

        g_assert_cmpstr(list, ==,
                        "[{\"volume\":\"pv-1\",\"node\":\"node-2\","
                        "\"attached_at_usec\":1795698423000000,"
                        "\"attached_at\":\"2026-11-26T13:07:03.000000Z\"}]\n");
        g_assert_cmpstr(empty, ==, "[]\n");
        g_assert_true(g_str_has_prefix(one, "{\"volume\":\"pv-1\""));
}

/* The daemon only hands out DNS-1123 ids, but the client must not trust that to stay valid
 * JSON: a quote, a backslash or a control character must come back out as it went in. */
static void test_json_escaping(void)
{
        const CtlAttachment odd = {"a\"b\\c\n\x01", "n\td", T0};
        g_autofree char *text = ctl_format_json_list(&odd, 1, CTL_JSON_PRETTY);
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) error = NULL;
        JsonObject *obj;

        g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
        g_assert_no_error(error);
        obj = json_array_get_object_element(json_node_get_array(json_parser_get_root(parser)), 0);
        g_assert_cmpstr(json_object_get_string_member(obj, "volume"), ==, odd.volume);
        g_assert_cmpstr(json_object_get_string_member(obj, "node"), ==, odd.node);
        g_assert_cmpint(json_object_get_int_member(obj, "attached_at_usec"), ==, (gint64)T0);
        g_assert_nonnull(strchr(text, '\n'));
        g_assert_null(strchr(text, '\x01'));
}

/* The monitor's local times: milliseconds, and the offset in RFC 3339's "+01:00" form; a POSIX
 * TZ string with a half-hour west offset checks the sign and the minutes. */
static void test_local_msec(void)
{
        static const struct {
                const char *tz, *plain, *rfc3339;
        } cases[] = {
            {"UTC", "2026-11-26 13:07:03.123", "2026-11-26T13:07:03.123+00:00"},
            {"CET-1", "2026-11-26 14:07:03.123", "2026-11-26T14:07:03.123+01:00"},
            {"NST3:30", "2026-11-26 09:37:03.123", "2026-11-26T09:37:03.123-03:30"},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *plain = NULL;
                g_autofree char *rfc3339 = NULL;

                set_tz(cases[i].tz);
                plain = ctl_format_local_msec(T0 + 123999);
                rfc3339 = ctl_format_rfc3339_local_msec(T0 + 123999);
                g_assert_cmpstr(plain, ==, cases[i].plain);
                g_assert_cmpstr(rfc3339, ==, cases[i].rfc3339);
        }
        set_tz("UTC");
}

static const CtlEvent events[] = {
    {CTL_EVENT_ATTACHED, T0 + 5000, "pv-1", "node-1", NULL, NULL, T0},
    {CTL_EVENT_DETACHED, T0 + 2 * SEC, "pv-1", "node-1", NULL, NULL, 0},
    {CTL_EVENT_MIGRATION_OVERDUE, T0 + HOUR, "pv-2", "node-1", "node-2", NULL, T0},
    {CTL_EVENT_WATCH, T0 + MINUTE, NULL, NULL, NULL, "reconnecting", T0 + MINUTE - 1000},
};

static void test_event_line(void)
{
        static const char *const expected[] = {
            "2026-11-26 13:07:03.005  attached  pv-1  node-1\n",
            "2026-11-26 13:07:05.000  detached  pv-1  node-1\n",
            "2026-11-26 14:07:03.000  migration-overdue  pv-2  node-1  node-2  "
            "started 2026-11-26 13:07:03.000\n",
            "2026-11-26 13:08:03.000  watch  reconnecting\n",
        };

        set_tz("UTC");
        for (size_t i = 0; i < G_N_ELEMENTS(events); i++) {
                g_autofree char *line = ctl_format_event_line(&events[i]);
                g_assert_cmpstr(line, ==, expected[i]);
        }
}

static void test_event_json(void)
{
        static const char *const expected[] = {
            "{\"time\":\"2026-11-26T13:07:03.005+00:00\",\"event\":\"attached\",\"volume\":\"pv-"
            "1\","
            "\"node\":\"node-1\",\"attached_at_usec\":1795698423000000,"
            "\"attached_at\":\"2026-11-26T13:07:03.000000Z\"}\n",
            "{\"time\":\"2026-11-26T13:07:05.000+00:00\",\"event\":\"detached\",\"volume\":\"pv-"
            "1\","
            "\"node\":\"node-1\"}\n",
            "{\"time\":\"2026-11-26T14:07:03.000+00:00\",\"event\":\"migration-overdue\","
            "\"volume\":\"pv-2\",\"node\":\"node-1\",\"target_node\":\"node-2\","
            "\"started_at_usec\":1795698423000000,"
            "\"started_at\":\"2026-11-26T13:07:03.000000Z\"}\n",
            "{\"time\":\"2026-11-26T13:08:03.000+00:00\",\"event\":\"watch\","
            "\"state\":\"reconnecting\",\"since_usec\":1795698482999000,"
            "\"since\":\"2026-11-26T13:08:02.999000Z\"}\n",
        };
        const CtlEvent unknown_since = {.kind = CTL_EVENT_WATCH, .time_usec = T0, .state = "off"};
        g_autofree char *no_since = ctl_format_event_json(&unknown_since, CTL_JSON_SHORT);

        set_tz("UTC");
        for (size_t i = 0; i < G_N_ELEMENTS(events); i++) {
                g_autofree char *json = ctl_format_event_json(&events[i], CTL_JSON_SHORT);
                g_assert_cmpstr(json, ==, expected[i]);
        }
        g_assert_null(strstr(no_since, "since"));
}

static void test_fields(void)
{
        g_autoptr(GString) out = g_string_new(NULL);
        const char *const pairs[] = {"Version", "0.1.0", "Attachments", "3", NULL};

        ctl_format_fields(out, pairs);
        g_assert_cmpstr(out->str, ==,
                        "    Version: 0.1.0\n"
                        "Attachments: 3\n");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ctl-format/timestamp", test_timestamp);
        g_test_add_func("/ctl-format/relative", test_relative);
        g_test_add_func("/ctl-format/full", test_full);
        g_test_add_func("/ctl-format/rfc3339", test_rfc3339);
        g_test_add_func("/ctl-format/table/legend", test_table_legend);
        g_test_add_func("/ctl-format/table/no-legend", test_table_no_legend);
        g_test_add_func("/ctl-format/table/migration", test_table_migration);
        g_test_add_func("/ctl-format/json/short", test_json_short);
        g_test_add_func("/ctl-format/json/escaping", test_json_escaping);
        g_test_add_func("/ctl-format/fields", test_fields);
        g_test_add_func("/ctl-format/event/local-msec", test_local_msec);
        g_test_add_func("/ctl-format/event/line", test_event_line);
        g_test_add_func("/ctl-format/event/json", test_event_json);
        return g_test_run();
}
