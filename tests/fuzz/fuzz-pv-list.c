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
        g_ptr_array_add(walk->fields, g_strdup(pv->claim_namespace));
        g_ptr_array_add(walk->fields, g_strdup(pv->claim_name));
        g_ptr_array_add(walk->fields, g_strdup(pv->claim_uid));
        g_ptr_array_add(walk->fields, g_strdup(pv->uid));
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
        strict = fuzz_strict_json(data, size);
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
