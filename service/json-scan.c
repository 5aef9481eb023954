/* SPDX-License-Identifier: MIT */
#include "json-scan.h"

#include <string.h>

#include "errors.h"

#define ONES G_GUINT64_CONSTANT(0x0101010101010101)
#define HIGHS G_GUINT64_CONSTANT(0x8080808080808080)

void json_scan_init(JsonScan *s, const char *data, gsize length)
{
        s->begin = data;
        s->p = data;
        s->end = data + length;
        s->depth = 0;
}

static gboolean fail(const JsonScan *s, const char *what, GError **error)
{
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                    "invalid JSON from the API server: %s at byte %" G_GSIZE_FORMAT, what,
                    (gsize)(s->p - s->begin));
        return FALSE;
}

char json_scan_peek(JsonScan *s)
{
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
                s->p++;
        return s->p < s->end ? *s->p : '\0';
}

/* Nonzero when any of the eight bytes is '"', '\\', a control character or not ASCII. Strings
 * are most of a page (managedFields), so they are skipped a word at a time. */
static inline guint64 special_bytes(guint64 x)
{
        guint64 quote = x ^ (ONES * '"');
        guint64 backslash = x ^ (ONES * '\\');

        return (((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash) |
                ((x - ONES * 0x20) & ~x) | x) &
               HIGHS;
}

static inline gboolean plain_byte(guchar c)
{
        return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static void skip_plain(JsonScan *s)
{
        const char *p = s->p;

        while (s->end - p >= 8) {
                guint64 x;

                memcpy(&x, p, sizeof(x));
                if (special_bytes(x) != 0)
                        break;
                p += 8;
        }
        while (p < s->end && plain_byte((guchar)*p))
                p++;
        s->p = p;
}

static int hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Four hex digits at p, if the input holds them. */
static gboolean hex4(const char *p, const char *end, guint *value)
{
        *value = 0;
        if (end - p < 4)
                return FALSE;
        for (int i = 0; i < 4; i++) {
                int d = hex_digit(p[i]);

                if (d < 0)
                        return FALSE;
                *value = *value << 4 | (guint)d;
        }
        return TRUE;
}

/* At the byte after a backslash. A \u escape of a UTF-16 surrogate must be a high one followed
 * by an escaped low one: a lone half cannot be written as UTF-8. */
static gboolean scan_escape(JsonScan *s, GError **error)
{
        guint unit, low;

        if (s->p < s->end && *s->p != '\0' && strchr("\"\\/bfnrt", *s->p) != NULL) {
                s->p++;
                return TRUE;
        }
        if (s->p >= s->end || *s->p != 'u')
                return fail(s, "invalid escape in string", error);
        if (!hex4(s->p + 1, s->end, &unit))
                return fail(s, "invalid \\u escape in string", error);
        s->p += 5;
        if (unit < 0xD800 || unit > 0xDFFF)
                return TRUE;
        if (unit > 0xDBFF || s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u' ||
            !hex4(s->p + 2, s->end, &low) || low < 0xDC00 || low > 0xDFFF)
                return fail(s, "unpaired UTF-16 surrogate in string", error);
        s->p += 6;
        return TRUE;
}

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF, as g_utf8_validate), 0 when there is none. */
static gsize utf8_sequence(const guchar *p, const guchar *end)
{
        guchar lo = 0x80, hi = 0xBF;
        gsize n;

        if (p[0] >= 0xC2 && p[0] <= 0xDF) {
                n = 2;
        } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
                n = 3;
                lo = p[0] == 0xE0 ? 0xA0 : 0x80;
                hi = p[0] == 0xED ? 0x9F : 0xBF;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
                n = 4;
                lo = p[0] == 0xF0 ? 0x90 : 0x80;
                hi = p[0] == 0xF4 ? 0x8F : 0xBF;
        } else {
                return 0;
        }
        if ((gsize)(end - p) < n || p[1] < lo || p[1] > hi)
                return 0;
        for (gsize i = 2; i < n; i++) {
                if (p[i] < 0x80 || p[i] > 0xBF)
                        return 0;
        }
        return n;
}

gboolean json_scan_string(JsonScan *s, JsonSpan *out, GError **error)
{
        if (json_scan_peek(s) != '"')
                return fail(s, "expected a string", error);
        s->p++;
        out->start = s->p;
        out->escaped = FALSE;
        for (;;) {
                guchar c;
                gsize n;

                skip_plain(s);
                if (s->p >= s->end)
                        return fail(s, "unterminated string", error);
                c = (guchar)*s->p;
                if (c == '"')
                        break;
                if (c == '\\') {
                        s->p++;
                        out->escaped = TRUE;
                        if (!scan_escape(s, error))
                                return FALSE;
                } else if (c < 0x20) {
                        return fail(s, "control character in string", error);
                } else {
                        n = utf8_sequence((const guchar *)s->p, (const guchar *)s->end);
                        if (n == 0)
                                return fail(s, "invalid UTF-8 in string", error);
                        s->p += n;
                }
        }
        out->length = (gsize)(s->p - out->start);
        s->p++;
        return TRUE;
}

static gboolean scan_literal(JsonScan *s, const char *word, GError **error)
{
        gsize n = strlen(word);

        if ((gsize)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
                return fail(s, "invalid literal", error);
        s->p += n;
        return TRUE;
}

/* One or more digits. */
static gboolean scan_digits(JsonScan *s)
{
        const char *start = s->p;

        while (s->p < s->end && g_ascii_isdigit(*s->p))
                s->p++;
        return s->p > start;
}

static gboolean at(const JsonScan *s, char c)
{
        return s->p < s->end && *s->p == c;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; what may follow is the caller's grammar. */
static gboolean scan_number(JsonScan *s, GError **error)
{
        if (at(s, '-'))
                s->p++;
        if (at(s, '0'))
                s->p++;
        else if (!scan_digits(s))
                return fail(s, "invalid number", error);
        if (at(s, '.')) {
                s->p++;
                if (!scan_digits(s))
                        return fail(s, "invalid number", error);
        }
        if (at(s, 'e') || at(s, 'E')) {
                s->p++;
                if (at(s, '+') || at(s, '-'))
                        s->p++;
                if (!scan_digits(s))
                        return fail(s, "invalid number", error);
        }
        return TRUE;
}

/* Consumes the opening bracket the scanner is at. */
static gboolean enter(JsonScan *s, GError **error)
{
        if (++s->depth > JSON_SCAN_MAX_DEPTH)
                return fail(s, "nested too deeply", error);
        s->p++;
        return TRUE;
}

/* After a member or element: TRUE with *more set, or an error. */
static gboolean next(JsonScan *s, char close, gboolean *more, GError **error)
{
        char c = json_scan_peek(s);

        if (c != ',' && c != close)
                return fail(s, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'", error);
        s->p++;
        *more = c == ',';
        if (!*more)
                s->depth--;
        return TRUE;
}

gboolean json_scan_object(JsonScan *s, JsonScanMemberFunc func, gpointer user_data, GError **error)
{
        gboolean more = TRUE;

        if (json_scan_peek(s) != '{')
                return fail(s, "expected an object", error);
        if (!enter(s, error))
                return FALSE;
        if (json_scan_peek(s) == '}')
                return next(s, '}', &more, error);
        while (more) {
                JsonSpan key;

                if (!json_scan_string(s, &key, error))
                        return FALSE;
                if (json_scan_peek(s) != ':')
                        return fail(s, "expected ':'", error);
                s->p++;
                if (!func(s, &key, user_data, error) || !next(s, '}', &more, error))
                        return FALSE;
        }
        return TRUE;
}

gboolean json_scan_array(JsonScan *s, JsonScanElementFunc func, gpointer user_data, GError **error)
{
        gboolean more = TRUE;

        if (json_scan_peek(s) != '[')
                return fail(s, "expected an array", error);
        if (!enter(s, error))
                return FALSE;
        if (json_scan_peek(s) == ']')
                return next(s, ']', &more, error);
        while (more) {
                if (!func(s, user_data, error) || !next(s, ']', &more, error))
                        return FALSE;
        }
        return TRUE;
}

static gboolean skip_member(JsonScan *s, const JsonSpan *key, gpointer user_data, GError **error)
{
        (void)key;
        (void)user_data;
        return json_scan_skip(s, error);
}

static gboolean skip_element(JsonScan *s, gpointer user_data, GError **error)
{
        (void)user_data;
        return json_scan_skip(s, error);
}

gboolean json_scan_skip(JsonScan *s, GError **error)
{
        JsonSpan span;
        char c = json_scan_peek(s);

        switch (c) {
        case '{':
                return json_scan_object(s, skip_member, NULL, error);
        case '[':
                return json_scan_array(s, skip_element, NULL, error);
        case '"':
                return json_scan_string(s, &span, error);
        case 't':
                return scan_literal(s, "true", error);
        case 'f':
                return scan_literal(s, "false", error);
        case 'n':
                return scan_literal(s, "null", error);
        default:
                if (c == '-' || g_ascii_isdigit(c))
                        return scan_number(s, error);
                return fail(s, s->p < s->end ? "expected a value" : "unexpected end", error);
        }
}

gboolean json_scan_string_member(JsonScan *s, JsonSpan *out, GError **error)
{
        memset(out, 0, sizeof(*out));
        if (json_scan_peek(s) != '"')
                return json_scan_skip(s, error);
        return json_scan_string(s, out, error);
}

gboolean json_scan_object_member(JsonScan *s, JsonScanMemberFunc func, gpointer user_data,
                                 GError **error)
{
        if (json_scan_peek(s) != '{')
                return json_scan_skip(s, error);
        return json_scan_object(s, func, user_data, error);
}

gboolean json_scan_finish(JsonScan *s, GError **error)
{
        (void)json_scan_peek(s);
        return s->p == s->end || fail(s, "trailing data after the value", error);
}

/* Decodes the character at *p of a validated span into buf (at most 4 bytes); returns the
 * byte count, 0 for U+0000. */
static gsize decode_next(const char **p, char *buf)
{
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *q = *p;
        guint unit, low;

        if (*q != '\\') {
                buf[0] = *q;
                *p = q + 1;
                return 1;
        }
        if (q[1] != 'u') {
                buf[0] = to[strchr(from, q[1]) - from];
                *p = q + 2;
                return 1;
        }
        (void)hex4(q + 2, q + 6, &unit);
        *p = q + 6;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
                (void)hex4(q + 8, q + 12, &low);
                unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                *p = q + 12;
        }
        return unit == 0 ? 0 : (gsize)g_unichar_to_utf8(unit, buf);
}

gboolean json_span_equal(const JsonSpan *span, const char *text, gsize text_length)
{
        const char *p = span->start, *end = span->start + span->length;
        gsize matched = 0;

        if (!span->escaped)
                return span->length == text_length && memcmp(span->start, text, text_length) == 0;
        while (p < end) {
                char buf[4];
                gsize n = decode_next(&p, buf);

                if (n == 0)
                        break;
                if (n > text_length - matched || memcmp(buf, text + matched, n) != 0)
                        return FALSE;
                matched += n;
        }
        return matched == text_length;
}

void json_span_append(const JsonSpan *span, GString *out)
{
        const char *p = span->start, *end = span->start + span->length;

        if (!span->escaped) {
                g_string_append_len(out, span->start, (gssize)span->length);
                g_string_append_c(out, '\0');
                return;
        }
        while (p < end) {
                char buf[4];
                gsize n = decode_next(&p, buf);

                if (n == 0)
                        break;
                g_string_append_len(out, buf, (gssize)n);
        }
        g_string_append_c(out, '\0');
}
