/* SPDX-License-Identifier: MIT */
#include "log-capture.h"

typedef struct {
        char *pattern;
        guint seen;
} Expected;

/* Test-only state: one process, one test at a time. */
static GPtrArray *expected;
static GHashTable *last_fields; /* key -> value of the last message captured */

static void expected_free(gpointer data)
{
        Expected *e = data;
        g_free(e->pattern);
        g_free(e);
}

static void keep_fields(const GLogField *fields, gsize n_fields)
{
        g_hash_table_remove_all(last_fields);
        for (gsize i = 0; i < n_fields; i++) {
                if (fields[i].length < 0)
                        g_hash_table_insert(last_fields, g_strdup(fields[i].key),
                                            g_strdup(fields[i].value));
        }
}

static GLogWriterOutput capture_writer(GLogLevelFlags level, const GLogField *fields,
                                       gsize n_fields, gpointer user_data)
{
        if (expected == NULL)
                return g_log_writer_default(level, fields, n_fields, user_data);
        for (gsize i = 0; i < n_fields; i++) {
                if (g_strcmp0(fields[i].key, "MESSAGE") != 0 || fields[i].length >= 0)
                        continue;
                for (guint j = 0; j < expected->len; j++) {
                        Expected *e = expected->pdata[j];
                        if (g_pattern_match_simple(e->pattern, fields[i].value)) {
                                e->seen++;
                                keep_fields(fields, n_fields);
                                return G_LOG_WRITER_HANDLED;
                        }
                }
        }
        return g_log_writer_default(level, fields, n_fields, user_data);
}

void log_capture_install(void)
{
        expected = g_ptr_array_new_with_free_func(expected_free);
        last_fields = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_log_set_writer_func(capture_writer, NULL, NULL);
}

void log_capture_expect(const char *pattern)
{
        Expected *e = g_new0(Expected, 1);
        e->pattern = g_strdup(pattern);
        g_ptr_array_add(expected, e);
}

const char *log_capture_field(const char *key)
{
        return g_hash_table_lookup(last_fields, key);
}

void log_capture_assert_all_seen(void)
{
        for (guint j = 0; j < expected->len; j++) {
                Expected *e = expected->pdata[j];
                if (e->seen != 1)
                        g_error("expected warning '%s' seen %u times", e->pattern, e->seen);
        }
        g_ptr_array_set_size(expected, 0);
}
