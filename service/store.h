/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "errors.h"

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

typedef struct {
        const char *name;  /* "none" or "kubernetes": the Store property */
        gboolean needs_io; /* FALSE: put/remove never block, callable on the bus thread */
        gboolean (*load)(Store *self, StoreLoadFunc func, gpointer user_data, GError **error);
        /* *attached_at_usec: in: the time to record; out: the time the store holds (an
         * existing attachment of the same node keeps its original time).
         * On ALREADY_ATTACHED, *holder (if not NULL) receives the holding node. */
        gboolean (*put)(Store *self, const char *volume, const char *node, gint64 *attached_at_usec,
                        char **holder, GError **error);
        /* Removes the attachment of `node`. An object that names another node, or nothing,
         * or is gone, has nothing of ours: success. */
        gboolean (*remove)(Store *self, const char *volume, const char *node, GError **error);
        void (*free)(Store *self);
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
                                    GError **error)
{
        return self->klass->remove(self, volume, node, error);
}

static inline void store_free(Store *self)
{
        if (self != NULL)
                self->klass->free(self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Store, store_free)

/* Store=none: volatile, nothing persisted, nothing rebuilt. */
Store *store_none_new(void);
