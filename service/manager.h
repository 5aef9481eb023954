/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "operation.h"
#include "store.h"
#include "volume-lock.h"

/* The attachment table: volume id -> who holds it (Holding: one node, or in shared mode up to
 * two, DESIGN §9). Every operation on a volume holds
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

typedef enum {
        MANAGER_TRY_DONE,     /* answered without I/O: *result is set */
        MANAGER_TRY_FAILED,   /* answered without I/O: error is set */
        MANAGER_TRY_NEEDS_IO, /* nothing done: run the blocking operation on a worker */
} ManagerTry;

/* A change of the table, from any source: this daemon's operations, the watch, a relist. */
typedef enum {
        MANAGER_CHANGE_ATTACHED, /* volume, node, attached_at */
        MANAGER_CHANGE_DETACHED, /* volume, node (the one that held it) */
        MANAGER_CHANGE_WATCH,    /* the watch's state: state, since (real time) */
} ManagerChangeKind;

/* One change per node: a volume two nodes hold, then one, is one Detached. */
typedef struct {
        ManagerChangeKind kind;
        const char *volume;
        const char *node;
        gint64 attached_at;
        const char *state;
        gint64 since;
} ManagerChange;

/* A migration that outlived the timeout (manager_take_overdue). */
typedef struct {
        char *volume;
        char *source;
        char *target;
        gint64 started_at; /* the target's attached-at */
} ManagerOverdue;

void manager_overdue_free(ManagerOverdue *o);

/* Called for every change, in the order the changes of one volume happen (with that volume's
 * lock held), from whichever thread made it: the bus thread, a worker or the watch. */
typedef void (*ManagerChangeFunc)(const ManagerChange *change, gpointer user_data);

/* Takes ownership of store. */
Manager *manager_new(Store *store);
void manager_free(Manager *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

Store *manager_get_store(Manager *self);

void manager_set_change_func(Manager *self, ManagerChangeFunc func, gpointer user_data);

/* Replaces the table with the store's contents. */
gboolean manager_load(Manager *self, GError **error);
/* After load: the store follows other writers (Store=kubernetes: the watch) and the table
 * follows the store; every difference is a change. */
gboolean manager_start_watch(Manager *self, GError **error);
/* "off" (Store=none), "starting", "watching", "reconnecting", "relisting". */
const char *manager_get_watch_state(Manager *self, gint64 *since_usec);
/* Stops following the store (before whoever receives the changes goes away). */
void manager_stop_watch(Manager *self);

/* Blocking operations (worker threads). Ids must be validated by the caller.
 * With a store that needs I/O (Store=kubernetes) the table is a cache and never answers a
 * mutation: every track and untrack goes to the store, whose answer comes from the API server
 * (DESIGN §8), and the table follows it.
 * track: same node again: success, no change; other node: ALREADY_ATTACHED "volume V already
 * attached to node N"; new: store put, then insert (put fails: nothing tracked).
 * untrack: the store clears whichever node holds the volume, then the entry goes (remove
 * fails: the attachment stays and the error is returned); nothing held: success, no change. */
gboolean manager_track(Manager *self, const char *volume, const char *node, ManagerResult *result,
                       GError **error);
gboolean manager_untrack(Manager *self, const char *volume, ManagerResult *result, GError **error);

/* Any request of holding.h (TrackShared, UntrackNode too), blocking. */
gboolean manager_apply(Manager *self, const char *volume, const HoldingRequest *req,
                       ManagerResult *result, GError **error);

/* Runs `op` (blocking, a worker thread): its result or error is stored in it. */
void manager_run(Manager *self, Operation *op);
/* Runs `op` on the bus thread when that needs no I/O (see the try variants below); NEEDS_IO:
 * nothing done, hand it to a worker. */
ManagerTry manager_try_run(Manager *self, Operation *op);

/* Non-blocking variants for the bus thread: answer at once when the volume's lock is free and
 * the store needs no I/O (Store=none); otherwise do nothing and return MANAGER_TRY_NEEDS_IO. */
ManagerTry manager_try_track(Manager *self, const char *volume, const char *node,
                             ManagerResult *result, GError **error);
ManagerTry manager_try_untrack(Manager *self, const char *volume, ManagerResult *result,
                               GError **error);

/* NOT_ATTACHED if the volume is not tracked. Never blocks on I/O. */
gboolean manager_get(Manager *self, const char *volume, char **node, gint64 *attached_at,
                     GError **error);
/* Every node holding the volume, oldest first (a copy); NOT_ATTACHED if none. */
gboolean manager_get_nodes(Manager *self, const char *volume, Holding *out, GError **error);
/* Calls func for the rows (one per node, oldest first) of the volumes that sort after `after`
 * (NULL: from the first), in volume order, until at least `max` rows went out (a volume's rows
 * are never split), under the table's read lock (func must not call the manager). Returns how
 * many rows. A List answered in slices resumes after the last volume it sent. */
typedef void (*ManagerListFunc)(const char *volume, const char *node, gint64 attached_at,
                                gpointer user_data);
guint manager_list_after(Manager *self, const char *after, guint max, ManagerListFunc func,
                         gpointer user_data);
/* The rows of manager_list. */
guint manager_count(Manager *self);
/* The migrations (two nodes) whose second node has held the volume longer than
 * `timeout_usec` at `now` (real time) and were not reported yet: each is reported once per
 * migration (a new second node starts a new one). GPtrArray of ManagerOverdue*. */
GPtrArray *manager_take_overdue(Manager *self, gint64 now, gint64 timeout_usec);
