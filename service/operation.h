/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* A mutating call, as the worker sees it: what to do to which volume, for whom, and what came
 * of it. It carries no bus object: the bus layer wraps it (bus.c's BusCall) and keeps the
 * message on the bus thread. Adding a mutating method: the XML, a vtable row in bus.c, a kind
 * here (with its row in operation.c), and its case in manager_run(). */
typedef enum {
        OPERATION_TRACK,        /* (volume, node) */
        OPERATION_UNTRACK,      /* (volume) */
        OPERATION_TRACK_SHARED, /* (volume, node) */
        OPERATION_UNTRACK_NODE, /* (volume, node) */
        OPERATION_N_KINDS,
} OperationKind;

/* What an operation did. `changed` is TRUE when the table changed (emit a signal). For track,
 * `node`/`attached_at` describe the attachment now held; for untrack, the (first) one removed;
 * for UntrackNode, the node it detached. */
typedef struct {
        gboolean changed;
        char *node;
        gint64 attached_at;
} ManagerResult;

void manager_result_clear(ManagerResult *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ManagerResult, manager_result_clear)

typedef struct {
        OperationKind kind;
        char *volume;
        char *node; /* NULL for a kind without a node argument */
        uid_t uid;  /* the caller */
        ManagerResult result;
        GError *error; /* NULL: succeeded */
} Operation;

/* The D-Bus member name of a kind ("Track"), used in logs too. */
const char *operation_kind_name(OperationKind kind);
/* TRUE when the kind's call carries a node id after the volume id. */
gboolean operation_kind_takes_node(OperationKind kind);
/* The MESSAGE_ID= of the log line of a finished operation (log-messages.h). */
const char *operation_kind_message_id(OperationKind kind, gboolean ok);
/* The kind whose member name is `member`; FALSE if none. */
gboolean operation_kind_from_name(const char *member, OperationKind *kind);

/* The caller's uid is set once it is known (after authorization). */
void operation_init(Operation *op, OperationKind kind, const char *volume, const char *node);
void operation_clear(Operation *op);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Operation, operation_clear)
