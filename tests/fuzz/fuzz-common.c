/* SPDX-License-Identifier: MIT */
#include "fuzz.h"

#include <stdlib.h>

static GLogWriterOutput fuzz_log_writer(GLogLevelFlags level, const GLogField *fields,
                                        gsize n_fields, gpointer user_data)
{
        if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
                g_log_writer_standard_streams(level, fields, n_fields, user_data);
                abort();
        }
        return G_LOG_WRITER_HANDLED;
}

void fuzz_quiet_logs(void)
{
        static gsize once;

        if (g_once_init_enter(&once)) {
                g_log_set_writer_func(fuzz_log_writer, NULL, NULL);
                g_once_init_leave(&once, 1);
        }
}

#define STRICT_MAX_DEPTH 128

/* ---- The independent validator: recursive descent over indices. ---- */

typedef struct {
        const guchar *d;
        gsize n, i;
        guint depth;
} Strict;

static gboolean strict_value(Strict *v);

static void strict_ws(Strict *v)
{
        while (v->i < v->n && (v->d[v->i] == ' ' || v->d[v->i] == '\t' || v->d[v->i] == '\n' ||
                               v->d[v->i] == '\r'))
                v->i++;
}

static gboolean strict_eat(Strict *v, guchar c)
{
        strict_ws(v);
        if (v->i >= v->n || v->d[v->i] != c)
                return FALSE;
        v->i++;
        return TRUE;
}

static gboolean strict_u(Strict *v, guint *u)
{
        *u = 0;
        for (int k = 0; k < 4; k++, v->i++) {
                if (v->i >= v->n || !g_ascii_isxdigit(v->d[v->i]))
                        return FALSE;
                *u = *u * 16 + (guint)g_ascii_xdigit_value((char)v->d[v->i]);
        }
        return TRUE;
}

static gboolean strict_escape(Strict *v)
{
        guint u, low;
        guchar e;

        if (v->i >= v->n)
                return FALSE;
        e = v->d[v->i++];
        if (e != 'u')
                return e != '\0' && strchr("\"\\/bfnrt", e) != NULL;
        if (!strict_u(v, &u) || (u >= 0xDC00 && u <= 0xDFFF))
                return FALSE;
        if (u < 0xD800 || u > 0xDBFF)
                return TRUE;
        if (v->i + 2 > v->n || v->d[v->i] != '\\' || v->d[v->i + 1] != 'u')
                return FALSE;
        v->i += 2;
        return strict_u(v, &low) && low >= 0xDC00 && low <= 0xDFFF;
}

/* Raw runs between escapes are checked with g_utf8_validate, not with the scanner's code. */
static gboolean strict_string(Strict *v)
{
        gsize run;

        if (!strict_eat(v, '"'))
                return FALSE;
        for (run = v->i; v->i < v->n; v->i++) {
                guchar c = v->d[v->i];

                if (c < 0x20)
                        return FALSE;
                if (c != '"' && c != '\\')
                        continue;
                if (!g_utf8_validate_len((const char *)v->d + run, v->i - run, NULL))
                        return FALSE;
                if (c == '"') {
                        v->i++;
                        return TRUE;
                }
                v->i++;
                if (!strict_escape(v))
                        return FALSE;
                run = v->i;
                v->i--;
        }
        return FALSE;
}

static gsize strict_digits(Strict *v)
{
        gsize start = v->i;

        while (v->i < v->n && g_ascii_isdigit(v->d[v->i]))
                v->i++;
        return v->i - start;
}

static gboolean strict_number(Strict *v)
{
        gsize start;

        if (v->i < v->n && v->d[v->i] == '-')
                v->i++;
        start = v->i;
        if (strict_digits(v) == 0 || (v->d[start] == '0' && v->i - start > 1))
                return FALSE;
        if (v->i < v->n && v->d[v->i] == '.') {
                v->i++;
                if (strict_digits(v) == 0)
                        return FALSE;
        }
        if (v->i < v->n && (v->d[v->i] == 'e' || v->d[v->i] == 'E')) {
                v->i++;
                if (v->i < v->n && (v->d[v->i] == '+' || v->d[v->i] == '-'))
                        v->i++;
                if (strict_digits(v) == 0)
                        return FALSE;
        }
        return TRUE;
}

static gboolean strict_word(Strict *v, const char *word)
{
        gsize n = strlen(word);

        if (v->n - v->i < n || memcmp(v->d + v->i, word, n) != 0)
                return FALSE;
        v->i += n;
        return TRUE;
}

/* Objects and arrays: open, then values (members) separated by commas, then close. */
static gboolean strict_container(Strict *v, guchar close, gboolean members)
{
        gboolean ok = TRUE;

        if (++v->depth > STRICT_MAX_DEPTH)
                return FALSE;
        v->i++;
        strict_ws(v);
        if (v->i < v->n && v->d[v->i] == close) {
                v->i++;
                v->depth--;
                return TRUE;
        }
        do {
                if (members && (!strict_string(v) || !strict_eat(v, ':')))
                        return FALSE;
                ok = strict_value(v);
        } while (ok && strict_eat(v, ','));
        v->depth--;
        return ok && strict_eat(v, close);
}

static gboolean strict_value(Strict *v)
{
        strict_ws(v);
        if (v->i >= v->n)
                return FALSE;
        switch (v->d[v->i]) {
        case '{':
                return strict_container(v, '}', TRUE);
        case '[':
                return strict_container(v, ']', FALSE);
        case '"':
                return strict_string(v);
        case 't':
                return strict_word(v, "true");
        case 'f':
                return strict_word(v, "false");
        case 'n':
                return strict_word(v, "null");
        default:
                return strict_number(v);
        }
}

gboolean fuzz_strict_json(const uint8_t *data, size_t size)
{
        Strict v = {.d = data, .n = size};

        if (!strict_value(&v))
                return FALSE;
        strict_ws(&v);
        return v.i == v.n;
}
