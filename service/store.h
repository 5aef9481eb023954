/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "errors.h"
#include "volume-lock.h"

/* The persistence interface behind the attachment table.
 *
 * Errors are in ATTACHMENT_ERROR: ALREADY_ATTACHED (another node holds the volume in the
 * store; put() returns the holder), NOT_FOUND (no object for the volume), FAILED (anything
 * else; the message carries the cause, e.g. HTTP status and the API's Status message).
 *
 * put/remove are called from worker threads, one call per volume at a time (the caller holds
 * the volume's lock), concurrently for different volumes: implementations must be thread-safe
 * across volumes. load is called once, before any put/remove. */
typedef struct _Store Store;

/* Called once per attachment found by load(). Strings are only valid during the call. */
typedef void (*StoreLoadFunc)(const char *volume, const char *node, gint64 attached_at_usec,
                              gpointer user_data);

/* What the store saw of a volume outside a put/remove of the caller's (another daemon's
 * write, through the watch or a read): `node` holds it since attached_at_usec, or nobody does
 * (node NULL). Called with the volume's lock held — by the caller of put/remove when the
 * store learns it during one, else taken by the store — from any thread. */
typedef void (*StoreObserveFunc)(const char *volume, const char *node, gint64 attached_at_usec,
                                 gpointer user_data);
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
        /* *attached_at_usec: in: the time to record; out: the time the store holds (an
         * existing attachment of the same node keeps its original time).
         * On ALREADY_ATTACHED, *holder (if not NULL) receives the holding node. */
        gboolean (*put)(Store *self, const char *volume, const char *node, gint64 *attached_at_usec,
                        char **holder, GError **error);
        /* Removes the attachment, whichever node holds it (`node`: the holder the caller
         * believes in, NULL: unknown). An object that names nobody, or is gone: success.
         * *cleared (if not NULL) receives the node whose attachment was removed (NULL:
         * nothing was held). */
        gboolean (*remove)(Store *self, const char *volume, const char *node, char **cleared,
                           GError **error);
        void (*free)(Store *self);
        /* Optional: where to report what the store sees (set before load). */
        void (*set_observer)(Store *self, const StoreObserver *observer);
        /* Optional: starts following other writers (after load); reported to the observer. */
        gboolean (*start_watch)(Store *self, GError **error);
        /* Optional: stops the watch (joins its thread); nothing is reported afterwards. */
        void (*stop_watch)(Store *self);
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

static inline gboolean store_put(Store *self, const char *volume, const char *node,
                                 gint64 *attached_at_usec, char **holder, GError **error)
{
        return self->klass->put(self, volume, node, attached_at_usec, holder, error);
}

static inline gboolean store_remove(Store *self, const char *volume, const char *node,
                                    char **cleared, GError **error)
{
        return self->klass->remove(self, volume, node, cleared, error);
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

static inline void store_free(Store *self)
{
        if (self != NULL)
                self->klass->free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Store, store_free)

/* Store=none: volatile, nothing persisted, nothing rebuilt. */
Store *store_none_new(void);
