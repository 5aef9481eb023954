/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "errors.h"
#include "holding.h"
#include "volume-lock.h"

/* The persistence interface behind the attachment table.
 *
 * Errors are in ATTACHMENT_ERROR: ALREADY_ATTACHED (other nodes hold the volume in the
 * store; apply() returns the holders), NOT_SHAREABLE (shared mode on a PV that is not
 * ReadWriteMany Block), NOT_FOUND (no object for the volume), FAILED (anything else; the
 * message carries the cause, e.g. HTTP status and the API's Status message).
 *
 * apply (and put/remove, which are apply) is called from worker threads, one call per volume at a
 * time (the caller holds the volume's lock), concurrently for different volumes: implementations
 * must be thread-safe across volumes. load is called once, before any put/remove. */
typedef struct _Store Store;

/* Called once per held volume found by load(). Only valid during the call. */
typedef void (*StoreLoadFunc)(const char *volume, const Holding *holding, gpointer user_data);

/* What the store saw of a volume outside an apply of the caller's (another daemon's write,
 * through the watch or a read): the whole holding (holding->node NULL: nobody). Called with the
 * volume's lock held — by the caller of put/remove when the store learns it during one, else taken
 * by the store — from any thread. */
typedef void (*StoreObserveFunc)(const char *volume, const Holding *holding, gpointer user_data);
/* The watch's state ("watching", "reconnecting", ...) changed at since_usec (real time). */
typedef void (*StoreWatchStateFunc)(const char *state, gint64 since_usec, gpointer user_data);

typedef struct {
        VolumeLocks *locks;
        StoreObserveFunc observe;
        StoreWatchStateFunc watch_state;
        gpointer user_data;
} StoreObserver;

typedef struct {
        const char *name;  /* "none" or "kubernetes": the Store property */
        gboolean needs_io; /* FALSE: put/remove never block, callable on the bus thread */
        gboolean (*load)(Store *self, StoreLoadFunc func, gpointer user_data, GError **error);
        /* Applies `req` (holding_decide) to what the store holds of the volume, with one
         * conditional write when it changes anything. *seen (empty on entry) receives the
         * holding the decision was made on: on success the one before (the new one is
         * holding_decide(seen, req)); on ALREADY_ATTACHED the holders. A store without
         * state (Store=none) leaves it empty: the table decides. Detaching from a volume
         * whose object is gone succeeds. */
        gboolean (*apply)(Store *self, const char *volume, const HoldingRequest *req, Holding *seen,
                          GError **error);
        void (*free)(Store *self);
        /* Optional: where to report what the store sees (set before load). */
        void (*set_observer)(Store *self, const StoreObserver *observer);
        /* Optional: starts following other writers (after load); reported to the observer. */
        gboolean (*start_watch)(Store *self, GError **error);
        /* Optional: stops the watch (joins its thread); nothing is reported afterwards. */
        void (*stop_watch)(Store *self);
        /* Optional: queues a Kubernetes Event about the volume's PV (Events=yes); never
         * blocks, never fails the caller. */
        void (*post_event)(Store *self, const char *volume, const char *reason, const char *type,
                           const char *message);
        /* Optional: the watch's state and since when; absent: "off". */
        const char *(*get_watch_state)(Store *self, gint64 *since_usec);
} StoreClass;

struct _Store {
        const StoreClass *klass;
};

static inline const char *store_name(Store *self)
{
        return self->klass->name;
}

static inline gboolean store_needs_io(Store *self)
{
        return self->klass->needs_io;
}

static inline gboolean store_load(Store *self, StoreLoadFunc func, gpointer user_data,
                                  GError **error)
{
        return self->klass->load(self, func, user_data, error);
}

static inline gboolean store_apply(Store *self, const char *volume, const HoldingRequest *req,
                                   Holding *seen, GError **error)
{
        return self->klass->apply(self, volume, req, seen, error);
}

/* An exclusive attach. *attached_at_usec: in: the time to record; out: the time the store
 * holds (an existing attachment of the same node keeps its original time). On
 * ALREADY_ATTACHED, *holder (if not NULL) receives the first holding node. */
static inline gboolean store_put(Store *self, const char *volume, const char *node,
                                 gint64 *attached_at_usec, char **holder, GError **error)
{
        const HoldingRequest req = {HOLDING_TRACK, node, *attached_at_usec};
        g_auto(Holding) seen = {0};

        if (!store_apply(self, volume, &req, &seen, error)) {
                if (holder != NULL)
                        *holder = g_strdup(seen.node);
                return FALSE;
        }
        holding_has(&seen, node, attached_at_usec);
        return TRUE;
}

/* Detaches every node (`node`, the holder the caller believes in, decides nothing). *cleared
 * (if not NULL) receives the first node the store cleared (NULL: nothing was held), or `node`
 * for a store without state. */
static inline gboolean store_remove(Store *self, const char *volume, const char *node,
                                    char **cleared, GError **error)
{
        const HoldingRequest req = {HOLDING_UNTRACK, NULL, 0};
        g_auto(Holding) seen = {0};

        if (!store_apply(self, volume, &req, &seen, error))
                return FALSE;
        if (cleared != NULL)
                *cleared = seen.node != NULL || store_needs_io(self) ? g_steal_pointer(&seen.node)
                                                                     : g_strdup(node);
        return TRUE;
}

static inline void store_set_observer(Store *self, const StoreObserver *observer)
{
        if (self->klass->set_observer != NULL)
                self->klass->set_observer(self, observer);
}

static inline gboolean store_start_watch(Store *self, GError **error)
{
        return self->klass->start_watch == NULL || self->klass->start_watch(self, error);
}

static inline void store_stop_watch(Store *self)
{
        if (self->klass->stop_watch != NULL)
                self->klass->stop_watch(self);
}

static inline const char *store_get_watch_state(Store *self, gint64 *since_usec)
{
        if (self->klass->get_watch_state != NULL)
                return self->klass->get_watch_state(self, since_usec);
        if (since_usec != NULL)
                *since_usec = 0;
        return "off";
}

static inline void store_post_event(Store *self, const char *volume, const char *reason,
                                    const char *type, const char *message)
{
        if (self->klass->post_event != NULL)
                self->klass->post_event(self, volume, reason, type, message);
}

static inline void store_free(Store *self)
{
        if (self != NULL)
                self->klass->free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Store, store_free)

/* Store=none: volatile, nothing persisted, nothing rebuilt. */
Store *store_none_new(void);
