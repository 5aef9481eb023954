/* SPDX-License-Identifier: MIT */
/* PV list page decoding: every item handed to the callback, the continue token returned, or a
 * clean error. A second pass stops at the first item to exercise the early-stop path. */
#include "fuzz.h"

#include "pv.h"

#define DRIVER "rds.csi.srvlab.io"

typedef struct {
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
        return TRUE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autofree char *cont = NULL;
        g_autofree char *rv = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GError) stop_error = NULL;
        Walk all = {0};
        Walk first = {.stop = TRUE};
        gboolean ok;

        fuzz_quiet_logs();
        ok = pv_list_decode((const char *)data, size, DRIVER, on_item, &all, &cont, &rv, &error);
        FUZZ_CHECK(ok == (error == NULL));
        FUZZ_CHECK(cont == NULL || *cont != '\0');
        FUZZ_CHECK(rv == NULL || *rv != '\0');
        if (!ok || all.items == 0)
                return 0;
        FUZZ_CHECK(!pv_list_decode((const char *)data, size, DRIVER, on_item, &first, NULL, NULL,
                                   &stop_error));
        FUZZ_CHECK(first.items == 1);
        FUZZ_CHECK(g_error_matches(stop_error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
        return 0;
}
