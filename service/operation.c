/* SPDX-License-Identifier: MIT */
#include "operation.h"

#include "log-messages.h"

static const struct {
        const char *name;
        gboolean takes_node;
        const char *message_ok;
        const char *message_failed;
} kinds[] = {
    [OPERATION_TRACK] = {"Track", TRUE, LOG_MESSAGE_TRACK_OK, LOG_MESSAGE_TRACK_FAILED},
    [OPERATION_UNTRACK] = {"Untrack", FALSE, LOG_MESSAGE_UNTRACK_OK, LOG_MESSAGE_UNTRACK_FAILED},
    [OPERATION_TRACK_SHARED] = {"TrackShared", TRUE, LOG_MESSAGE_TRACK_OK,
                                LOG_MESSAGE_TRACK_FAILED},
    [OPERATION_UNTRACK_NODE] = {"UntrackNode", TRUE, LOG_MESSAGE_UNTRACK_OK,
                                LOG_MESSAGE_UNTRACK_FAILED},
};
G_STATIC_ASSERT(G_N_ELEMENTS(kinds) == OPERATION_N_KINDS);

const char *operation_kind_name(OperationKind kind)
{
        g_return_val_if_fail(kind < OPERATION_N_KINDS, "?");
        return kinds[kind].name;
}

gboolean operation_kind_takes_node(OperationKind kind)
{
        g_return_val_if_fail(kind < OPERATION_N_KINDS, FALSE);
        return kinds[kind].takes_node;
}

const char *operation_kind_message_id(OperationKind kind, gboolean ok)
{
        g_return_val_if_fail(kind < OPERATION_N_KINDS, NULL);
        return ok ? kinds[kind].message_ok : kinds[kind].message_failed;
}

gboolean operation_kind_from_name(const char *member, OperationKind *kind)
{
        for (guint k = 0; k < OPERATION_N_KINDS; k++) {
                if (g_strcmp0(member, kinds[k].name) == 0) {
                        *kind = (OperationKind)k;
                        return TRUE;
                }
        }
        return FALSE;
}

void manager_result_clear(ManagerResult *r)
{
        g_clear_pointer(&r->node, g_free);
        r->changed = FALSE;
        r->attached_at = 0;
}

void operation_init(Operation *op, OperationKind kind, const char *volume, const char *node)
{
        *op = (Operation){.kind = kind, .volume = g_strdup(volume), .node = g_strdup(node)};
}

void operation_clear(Operation *op)
{
        g_clear_pointer(&op->volume, g_free);
        g_clear_pointer(&op->node, g_free);
        manager_result_clear(&op->result);
        g_clear_error(&op->error);
}
