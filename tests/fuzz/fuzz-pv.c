/* SPDX-License-Identifier: MIT */
/* PV decoding: arbitrary bytes in, a PvInfo or a clean error out. Differential: pv_decode (the
 * json-scan.c walk) against pv_parse_object + pv_decode_node (a json-glib tree). Properties:
 * pv_decode accepts exactly what the reference accepts AND is strict JSON (json-glib also
 * takes comments, single quotes and more, see fuzz-pv-list.c); when it accepts, both give the
 * same fields; every decoded string is UTF-8; a decoded PV's fields survive a merge patch. */
#include "fuzz.h"

#include <string.h>

#include "pv.h"

#define DRIVER "rds.csi.srvlab.io"

static void check_patch_parses(const PvInfo *pv)
{
        g_autofree char *patch = NULL;
        g_autoptr(JsonNode) node = NULL;
        g_autoptr(GError) error = NULL;

        if (pv->attached_node == NULL)
                return;
        patch = pv_patch_put(DRIVER, pv->resource_version, pv->attached_node, 0);
        node = pv_parse_object(patch, strlen(patch), &error);
        FUZZ_CHECK(node != NULL);
}

static gboolean utf8_or_null(const char *s)
{
        return s == NULL || g_utf8_validate(s, -1, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_auto(PvInfo) a = {0};
        g_auto(PvInfo) b = {0};
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = NULL;
        gboolean ok, ref_ok, strict;

        fuzz_quiet_logs();
        ok = pv_decode((const char *)data, size, DRIVER, &a, &error);
        FUZZ_CHECK(ok == (error == NULL));
        node = pv_parse_object((const char *)data, size, NULL);
        /* Parsing may succeed where decoding fails (strings that are not UTF-8). */
        ref_ok = node != NULL && pv_decode_node(node, DRIVER, &b, NULL);
        strict = fuzz_strict_json(data, size);
        FUZZ_CHECK(!ok || ref_ok);
        FUZZ_CHECK(!ok || strict);
        FUZZ_CHECK(ok || !(ref_ok && strict));
        if (!ok)
                return 0;
        FUZZ_CHECK(utf8_or_null(a.name) && utf8_or_null(a.resource_version) &&
                   utf8_or_null(a.csi_driver) && utf8_or_null(a.volume_handle) &&
                   utf8_or_null(a.attached_node) && utf8_or_null(a.attached_at));
        FUZZ_CHECK(g_strcmp0(a.name, b.name) == 0);
        FUZZ_CHECK(g_strcmp0(a.resource_version, b.resource_version) == 0);
        FUZZ_CHECK(g_strcmp0(a.volume_handle, b.volume_handle) == 0);
        FUZZ_CHECK(g_strcmp0(a.attached_node, b.attached_node) == 0);
        FUZZ_CHECK(g_strcmp0(a.attach_mode, b.attach_mode) == 0);
        FUZZ_CHECK(g_strcmp0(a.target_node, b.target_node) == 0);
        FUZZ_CHECK(g_strcmp0(a.target_at, b.target_at) == 0);
        FUZZ_CHECK(g_strcmp0(a.volume_mode, b.volume_mode) == 0);
        FUZZ_CHECK(a.read_write_many == b.read_write_many);
        FUZZ_CHECK(g_strcmp0(a.claim_namespace, b.claim_namespace) == 0);
        FUZZ_CHECK(g_strcmp0(a.claim_name, b.claim_name) == 0);
        FUZZ_CHECK(g_strcmp0(a.claim_uid, b.claim_uid) == 0);
        FUZZ_CHECK(g_strcmp0(a.uid, b.uid) == 0);
        check_patch_parses(&a);
        return 0;
}
