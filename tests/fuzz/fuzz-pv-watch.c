/* SPDX-License-Identifier: MIT */
/* Watch event lines, differential: pv_event_decode (the LIST page scanner's walk) against
 * pv_event_decode_reference (a json-glib tree) and the independent strict validator.
 *  - the scanner accepts only strict JSON, and every strict document json-glib decodes to an
 *    event the scanner decodes too;
 *  - when both accept, they give the same type, the same PV fields and the same Status;
 *  - every string handed out is UTF-8. */
#include "fuzz.h"

#include <string.h>

#include "pv.h"

#define DRIVER "rds.csi.srvlab.io"

static void check_utf8(const char *s)
{
        FUZZ_CHECK(s == NULL || g_utf8_validate(s, -1, NULL));
}

static void check_same(const PvEvent *a, const PvEvent *b)
{
        const char *const fa[] = {a->pv.name,
                                  a->pv.resource_version,
                                  a->pv.csi_driver,
                                  a->pv.volume_handle,
                                  a->pv.attached_node,
                                  a->pv.attached_at,
                                  a->pv.claim_namespace,
                                  a->pv.claim_name,
                                  a->pv.claim_uid,
                                  a->pv.uid};
        const char *const fb[] = {b->pv.name,
                                  b->pv.resource_version,
                                  b->pv.csi_driver,
                                  b->pv.volume_handle,
                                  b->pv.attached_node,
                                  b->pv.attached_at,
                                  b->pv.claim_namespace,
                                  b->pv.claim_name,
                                  b->pv.claim_uid,
                                  b->pv.uid};

        FUZZ_CHECK(a->type == b->type);
        for (guint i = 0; i < G_N_ELEMENTS(fa); i++) {
                FUZZ_CHECK(g_strcmp0(fa[i], fb[i]) == 0);
                check_utf8(fa[i]);
        }
        FUZZ_CHECK(a->status.code == b->status.code);
        FUZZ_CHECK(g_strcmp0(a->status.reason, b->status.reason) == 0);
        FUZZ_CHECK(g_strcmp0(a->status.message, b->status.message) == 0);
        check_utf8(a->status.reason);
        check_utf8(a->status.message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_auto(PvEvent) scan = {0};
        g_auto(PvEvent) ref = {0};
        g_autoptr(GError) error = NULL;
        g_autoptr(GError) ref_error = NULL;
        gboolean ok, ref_ok, strict;

        fuzz_quiet_logs();
        ok = pv_event_decode((const char *)data, size, DRIVER, &scan, &error);
        FUZZ_CHECK(ok == (error == NULL));
        ref_ok = pv_event_decode_reference((const char *)data, size, DRIVER, &ref, &ref_error);
        strict = fuzz_strict_json(data, size);
        FUZZ_CHECK(!ok || strict);
        FUZZ_CHECK(!ok || ref_ok);
        FUZZ_CHECK(ok || !(ref_ok && strict));
        if (ok)
                check_same(&scan, &ref);
        return 0;
}
