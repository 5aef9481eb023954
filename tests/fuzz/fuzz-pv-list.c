/* SPDX-License-Identifier: MIT */
/* PV list page decoding, differential: pv_list_decode (the json-scan.c scanner) against
 * pv_list_decode_reference (a json-glib tree) and against a small strict RFC 8259 validator
 * written here independently of the scanner. Properties:
 *  - the scanner accepts exactly what json-glib accepts AND is strict JSON (json-glib 1.6 also
 *    takes comments, single quotes, hex numbers, raw control characters, lone surrogates and
 *    data after the object; the scanner must reject those, and accept everything else);
 *  - when it accepts, both hand out the same items, field by field, and the same continue
 *    token and resourceVersion;
 *  - a callback that fails stops the walk at once with its error. */
#include "fuzz.h"

#include <string.h>

#include "pv.h"

#define DRIVER "rds.csi.srvlab.io"
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

static gboolean strict_document(const uint8_t *data, size_t size)
{
        Strict v = {.d = data, .n = size};

        if (!strict_value(&v))
                return FALSE;
        strict_ws(&v);
        return v.i == v.n;
}

/* ---- The decoders under comparison. ---- */

typedef struct {
        GPtrArray *fields; /* six per item, NULL kept */
        guint items;
        gboolean stop;
} Walk;

static gboolean on_item(const PvInfo *pv, gpointer user_data, GError **error)
{
        Walk *walk = user_data;

        FUZZ_CHECK(pv != NULL);
        walk->items++;
        if (walk->stop) {
                g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "stop");
                return FALSE;
        }
        g_ptr_array_add(walk->fields, g_strdup(pv->name));
        g_ptr_array_add(walk->fields, g_strdup(pv->resource_version));
        g_ptr_array_add(walk->fields, g_strdup(pv->csi_driver));
        g_ptr_array_add(walk->fields, g_strdup(pv->volume_handle));
        g_ptr_array_add(walk->fields, g_strdup(pv->attached_node));
        g_ptr_array_add(walk->fields, g_strdup(pv->attached_at));
        return TRUE;
}

static void check_same(const Walk *a, const Walk *b)
{
        FUZZ_CHECK(a->items == b->items);
        FUZZ_CHECK(a->fields->len == b->fields->len);
        for (guint i = 0; i < a->fields->len; i++) {
                const char *x = a->fields->pdata[i], *y = b->fields->pdata[i];

                FUZZ_CHECK(g_strcmp0(x, y) == 0);
                FUZZ_CHECK(x == NULL || g_utf8_validate(x, -1, NULL));
        }
}

static void check_early_stop(const uint8_t *data, size_t size)
{
        g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        Walk first = {.fields = fields, .stop = TRUE};
        char *cont = (char *)"untouched";

        FUZZ_CHECK(!pv_list_decode((const char *)data, size, DRIVER, on_item, &first, &cont, NULL,
                                   &error));
        FUZZ_CHECK(first.items == 1);
        FUZZ_CHECK(strcmp(cont, "untouched") == 0);
        FUZZ_CHECK(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autoptr(GPtrArray) scan_fields = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) ref_fields = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *cont = NULL, *rv = NULL, *ref_cont = NULL, *ref_rv = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GError) ref_error = NULL;
        Walk scan = {.fields = scan_fields}, ref = {.fields = ref_fields};
        gboolean ok, ref_ok, strict;

        fuzz_quiet_logs();
        ok = pv_list_decode((const char *)data, size, DRIVER, on_item, &scan, &cont, &rv, &error);
        FUZZ_CHECK(ok == (error == NULL));
        FUZZ_CHECK(ok || scan.items == 0);
        ref_ok = pv_list_decode_reference((const char *)data, size, DRIVER, on_item, &ref,
                                          &ref_cont, &ref_rv, &ref_error);
        strict = strict_document(data, size);
        FUZZ_CHECK(!ok || ref_ok);
        FUZZ_CHECK(!ok || strict);
        FUZZ_CHECK(ok || !(ref_ok && strict));
        if (!ok)
                return 0;
        check_same(&scan, &ref);
        FUZZ_CHECK(g_strcmp0(cont, ref_cont) == 0);
        FUZZ_CHECK(g_strcmp0(rv, ref_rv) == 0);
        FUZZ_CHECK(cont == NULL || *cont != '\0');
        FUZZ_CHECK(rv == NULL || *rv != '\0');
        if (scan.items > 0)
                check_early_stop(data, size);
        return 0;
}
