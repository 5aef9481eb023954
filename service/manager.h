/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "store.h"
#include "volume-lock.h"

/* The attachment table: volume id -> (node id, attached_at). Every operation on a volume holds
 * that volume's lock for its whole duration (including store I/O); the table lock is held only
 * for in-memory work. Lock order: volume lock, then table lock. Thread-safe. */
typedef struct _Manager Manager;

typedef struct {
        char *volume;
        char *node;
        gint64 attached_at; /* µs since the epoch, real time */
} Attachment;

void attachment_free(Attachment *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Attachment, attachment_free)

/* What an operation did. `changed` is TRUE when the table changed (emit a signal). For track,
 * `node`/`attached_at` describe the attachment now held; for untrack, the one removed. */
typedef struct {
        gboolean changed;
        char *node;
        gint64 attached_at;
} ManagerResult;

void manager_result_clear(ManagerResult *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ManagerResult, manager_result_clear)

typedef enum {
        MANAGER_TRY_DONE,     /* answered without I/O: *result is set */
        MANAGER_TRY_FAILED,   /* answered without I/O: error is set */
        MANAGER_TRY_NEEDS_IO, /* nothing done: run the blocking operation on a worker */
} ManagerTry;

/* Takes ownership of store. */
Manager *manager_new(Store *store);
void manager_free(Manager *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

Store *manager_get_store(Manager *self);
VolumeLocks *manager_get_locks(Manager *self);

/* Replaces the table with the store's contents. */
gboolean manager_load(Manager *self, GError **error);

/* Blocking operations (worker threads). Ids must be validated by the caller.
 * track: same node again: success, no change; other node: ALREADY_ATTACHED "volume V already
 * attached to node N"; new: store put, then insert (put fails: nothing tracked).
 * untrack: absent: success, no change; present: store remove, then delete (remove fails: the
 * attachment stays and the error is returned). */
gboolean manager_track(Manager *self, const char *volume, const char *node, ManagerResult *result,
                       GError **error);
gboolean manager_untrack(Manager *self, const char *volume, ManagerResult *result, GError **error);

/* Non-blocking variants for the bus thread: answer at once when the volume's lock is free and
 * the operation needs no store I/O (Store=none, the same node again, a known conflict, an
 * untracked volume); otherwise do nothing and return MANAGER_TRY_NEEDS_IO. */
ManagerTry manager_try_track(Manager *self, const char *volume, const char *node,
                             ManagerResult *result, GError **error);
ManagerTry manager_try_untrack(Manager *self, const char *volume, ManagerResult *result,
                               GError **error);

/* NOT_ATTACHED if the volume is not tracked. Never blocks on I/O. */
gboolean manager_get(Manager *self, const char *volume, char **node, gint64 *attached_at,
                     GError **error);
/* A sorted (by volume) copy the caller owns: GPtrArray of Attachment*, free func set. */
GPtrArray *manager_list(Manager *self);
guint manager_count(Manager *self);
