/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* A forward-only JSON scanner over untrusted bytes: it validates RFC 8259 strictly (UTF-8,
 * escapes with paired surrogates, no control characters in strings, number syntax, no trailing
 * commas or comments, bounded nesting) while the caller walks only the members it wants and
 * skips the rest without building anything. It never reads past the end of the input, and
 * whatever it accepts json-glib accepts too (it rejects json-glib 1.6's extensions).
 *
 * Errors are ATTACHMENT_ERROR_FAILED "invalid JSON from the API server: ... at byte N". */

/* Same limit as pv.c's json-glib path, so both reject the same deeply nested input. */
#define JSON_SCAN_MAX_DEPTH 128

/* A string's raw bytes between its quotes, already validated; start is NULL when absent. */
typedef struct {
        const char *start;
        gsize length;
        gboolean escaped; /* holds at least one backslash escape */
} JsonSpan;

typedef struct {
        const char *begin;
        const char *p;
        const char *end;
        guint depth;
} JsonScan;

void json_scan_init(JsonScan *s, const char *data, gsize length);

/* The next byte after whitespace, not consumed; '\0' at the end of the input (a NUL byte in
 * the input is never valid JSON, so '\0' can only mean the end). */
char json_scan_peek(JsonScan *s);

/* Reads one string value into *out. */
gboolean json_scan_string(JsonScan *s, JsonSpan *out, GError **error);

/* Skips one value of any type, validating it. */
gboolean json_scan_skip(JsonScan *s, GError **error);

/* Called for each member of an object, positioned at the member's value: it must consume the
 * value (json_scan_skip when it does not want it). */
typedef gboolean (*JsonScanMemberFunc)(JsonScan *s, const JsonSpan *key, gpointer user_data,
                                       GError **error);
/* Called for each element of an array, positioned at the element: it must consume it. */
typedef gboolean (*JsonScanElementFunc)(JsonScan *s, gpointer user_data, GError **error);

/* Walk the object or array the scanner is positioned at (anything else is an error). */
gboolean json_scan_object(JsonScan *s, JsonScanMemberFunc func, gpointer user_data, GError **error);
gboolean json_scan_array(JsonScan *s, JsonScanElementFunc func, gpointer user_data, GError **error);

/* For a wanted member whose value may have any type: a string is read into *out, anything
 * else is skipped and leaves *out absent (start NULL), as json-glib's typed getters would. */
gboolean json_scan_string_member(JsonScan *s, JsonSpan *out, GError **error);
/* Walks the value if it is an object, skips it otherwise. */
gboolean json_scan_object_member(JsonScan *s, JsonScanMemberFunc func, gpointer user_data,
                                 GError **error);

/* Checks that nothing but whitespace is left. */
gboolean json_scan_finish(JsonScan *s, GError **error);

/* Whether the decoded string equals text. Like json-glib, a decoded string ends at its first
 * U+0000 ("a\u0000b" reads as "a"). */
gboolean json_span_equal(const JsonSpan *span, const char *text, gsize text_length);

/* Appends the decoded string, up to its first U+0000, and a terminating NUL. */
void json_span_append(const JsonSpan *span, GString *out);
