/* SPDX-License-Identifier: MIT */
/* The merge-patch bodies of the store's writes: the whole holding (DESIGN §5, §9) in one
 * conditional patch. Pure, like the decoders in pv.c. */
#include "pv.h"

#include "common/names.h"
#include "pv-scan.h"

static void add_string_or_null(JsonBuilder *builder, const char *value)
{
        if (value != NULL)
                json_builder_add_string_value(builder, value);
        else
                json_builder_add_null_value(builder);
}

static void add_member(JsonBuilder *builder, const char *key, const char *value)
{
        json_builder_set_member_name(builder, key);
        add_string_or_null(builder, value);
}

char *pv_patch_holding(const char *driver, const char *resource_version, const Holding *h)
{
        g_autoptr(JsonBuilder) builder = json_builder_new_immutable();
        g_auto(PvKeys) keys = {0};
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *at = h->node != NULL ? pv_time_format(h->attached_at) : NULL;
        g_autofree char *target_at = h->target != NULL ? pv_time_format(h->target_at) : NULL;
        const char *values[N_ANNOTATION_KEYS];

        /* A time the format cannot hold is a caller bug; record it as the epoch rather than
         * writing an annotation the Go driver could not read. */
        if (h->node != NULL && at == NULL)
                at = pv_time_format(0);
        if (h->target != NULL && target_at == NULL)
                target_at = pv_time_format(0);
        values[F_NODE - F_NODE] = h->node;
        values[F_AT - F_NODE] = at;
        values[F_MODE - F_NODE] = h->node != NULL && h->shared ? ANNOTATION_MODE_SHARED : NULL;
        values[F_TARGET - F_NODE] = h->node != NULL ? h->target : NULL;
        values[F_TARGET_AT - F_NODE] = h->node != NULL ? target_at : NULL;
        pv_keys_init(&keys, driver);
        json_builder_begin_object(builder);
        json_builder_set_member_name(builder, "metadata");
        json_builder_begin_object(builder);
        if (resource_version != NULL) {
                json_builder_set_member_name(builder, "resourceVersion");
                json_builder_add_string_value(builder, resource_version);
        }
        json_builder_set_member_name(builder, "annotations");
        json_builder_begin_object(builder);
        for (guint i = 0; i < N_ANNOTATION_KEYS; i++)
                add_member(builder, keys.key[i], values[i]);
        json_builder_end_object(builder);
        json_builder_end_object(builder);
        json_builder_end_object(builder);
        root = json_builder_get_root(builder);
        return json_to_string(root, FALSE);
}

char *pv_patch_put(const char *driver, const char *resource_version, const char *node,
                   gint64 attached_at_usec)
{
        const Holding h = {.node = (char *)node, .attached_at = attached_at_usec};

        return pv_patch_holding(driver, resource_version, &h);
}

char *pv_patch_remove(const char *driver, const char *resource_version)
{
        const Holding h = {0};

        return pv_patch_holding(driver, resource_version, &h);
}
