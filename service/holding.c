/* SPDX-License-Identifier: MIT */
#include "holding.h"

#include <string.h>

void holding_clear(Holding *h)
{
        g_clear_pointer(&h->node, g_free);
        g_clear_pointer(&h->target, g_free);
        h->attached_at = h->target_at = 0;
        h->shared = FALSE;
}

void holding_copy(const Holding *from, Holding *to)
{
        *to = (Holding){.node = g_strdup(from->node),
                        .attached_at = from->attached_at,
                        .target = g_strdup(from->target),
                        .target_at = from->target_at,
                        .shared = from->shared};
}

gboolean holding_equal(const Holding *a, const Holding *b)
{
        if (a->node == NULL || b->node == NULL)
                return a->node == b->node;
        return strcmp(a->node, b->node) == 0 && a->attached_at == b->attached_at &&
               g_strcmp0(a->target, b->target) == 0 &&
               (a->target == NULL || a->target_at == b->target_at) && !a->shared == !b->shared;
}

gboolean holding_has(const Holding *h, const char *node, gint64 *at)
{
        if (h->node != NULL && g_strcmp0(h->node, node) == 0) {
                if (at != NULL)
                        *at = h->attached_at;
                return TRUE;
        }
        if (h->target != NULL && g_strcmp0(h->target, node) == 0) {
                if (at != NULL)
                        *at = h->target_at;
                return TRUE;
        }
        return FALSE;
}

guint holding_count(const Holding *h)
{
        return (h->node != NULL) + (h->node != NULL && h->target != NULL);
}

gboolean holding_set_already_attached(GError **error, const char *volume, const Holding *h)
{
        if (h->target != NULL)
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED,
                            "volume %s already attached to nodes %s and %s", volume, h->node,
                            h->target);
        else
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED,
                            "volume %s already attached to node %s", volume,
                            h->node != NULL ? h->node : "(unknown)");
        return FALSE;
}

static HoldingDecision attach(const char *volume, const Holding *h, gboolean shareable,
                              const HoldingRequest *req, Holding *after, GError **error)
{
        gboolean shared = req->op == HOLDING_TRACK_SHARED;

        if (holding_has(h, req->node, NULL))
                return HOLDING_SAME;
        if (shared && !shareable) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_SHAREABLE,
                            "volume %s cannot be attached shared: its PersistentVolume is not "
                            "ReadWriteMany with volumeMode Block",
                            volume);
                return HOLDING_REFUSED;
        }
        if (h->node == NULL) {
                *after = (Holding){
                    .node = g_strdup(req->node), .attached_at = req->now, .shared = shared};
                return HOLDING_WRITE;
        }
        /* A second node only joins a shared holding of one, and only in shared mode. */
        if (!shared || !h->shared || h->target != NULL) {
                holding_set_already_attached(error, volume, h);
                return HOLDING_REFUSED;
        }
        holding_copy(h, after);
        after->target = g_strdup(req->node);
        after->target_at = req->now;
        return HOLDING_WRITE;
}

static HoldingDecision detach_node(const Holding *h, const char *node, Holding *after)
{
        if (!holding_has(h, node, NULL))
                return HOLDING_SAME;
        *after = (Holding){0};
        /* The first node leaving hands the volume to the second, whose migration-started-at
         * becomes its attached-at; the second leaving leaves the first. The mode stays. */
        if (h->target == NULL)
                return HOLDING_WRITE;
        after->shared = h->shared;
        if (strcmp(h->node, node) == 0) {
                after->node = g_strdup(h->target);
                after->attached_at = h->target_at;
        } else {
                after->node = g_strdup(h->node);
                after->attached_at = h->attached_at;
        }
        return HOLDING_WRITE;
}

HoldingDecision holding_decide(const char *volume, const Holding *h, gboolean shareable,
                               const HoldingRequest *req, Holding *after, GError **error)
{
        switch (req->op) {
        case HOLDING_TRACK:
        case HOLDING_TRACK_SHARED:
                return attach(volume, h, shareable, req, after, error);
        case HOLDING_UNTRACK_NODE:
                return detach_node(h, req->node, after);
        case HOLDING_UNTRACK:
                if (h->node == NULL)
                        return HOLDING_SAME;
                *after = (Holding){0};
                return HOLDING_WRITE;
        }
        g_assert_not_reached();
}
