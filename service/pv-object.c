/* SPDX-License-Identifier: MIT */
/* One PersistentVolume object (the answer to a GET or a PATCH), decoded with pv.c's
 * forward-only walk (pv-scan.h) as a list item or a watch event's object is. */
#include "pv-scan.h"

#include <string.h>

void pv_info_dup(const PvInfo *in, PvInfo *out)
{
        out->name = g_strdup(in->name);
        out->resource_version = g_strdup(in->resource_version);
        out->csi_driver = g_strdup(in->csi_driver);
        out->volume_handle = g_strdup(in->volume_handle);
        out->attached_node = g_strdup(in->attached_node);
        out->attached_at = g_strdup(in->attached_at);
        out->attach_mode = g_strdup(in->attach_mode);
        out->target_node = g_strdup(in->target_node);
        out->target_at = g_strdup(in->target_at);
        out->volume_mode = g_strdup(in->volume_mode);
        out->read_write_many = in->read_write_many;
        out->claim_namespace = g_strdup(in->claim_namespace);
        out->claim_name = g_strdup(in->claim_name);
        out->claim_uid = g_strdup(in->claim_uid);
        out->uid = g_strdup(in->uid);
}

/* The answer to every write and read of one PV: walked like a list item (json-scan.c), not
 * built into a json-glib tree, which cost a Kubernetes Track ~40 µs of CPU (12% of the
 * daemon's, bench/notes.md, issue 15). pv_parse_object() + pv_decode_node() stay the
 * reference that fuzz-pv compares this with. */
gboolean pv_decode(const char *data, gsize length, const char *driver, PvInfo *out, GError **error)
{
        g_auto(PvKeys) keys = {0};
        g_autoptr(GString) buf = g_string_sized_new(256);
        ListWalk walk = {.keys = &keys};
        JsonScan s;
        PvInfo pv;

        memset(out, 0, sizeof(*out));
        pv_keys_init(&keys, driver);
        json_scan_init(&s, data, length);
        if (json_scan_peek(&s) != '{') {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "invalid JSON from the API server: not an object");
                return FALSE;
        }
        pv_scan_forget_item(&walk);
        if (!json_scan_object(&s, pv_scan_item_member, &walk, error) ||
            !json_scan_finish(&s, error))
                return FALSE;
        pv_scan_item_info(&walk.item, buf, &pv);
        pv_info_dup(&pv, out);
        return TRUE;
}
