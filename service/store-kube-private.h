/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by store-kube.c (conditional writes) and store-kube-watch.c (the LIST+WATCH that
 * keeps what the store knows of the PVs fresh). Internal to the Kubernetes store. */

#include "events.h"
#include "kube-client.h"
#include "pv.h"
#include "reflector.h"
#include "store-kube.h"

#define PV_PATH "/api/v1/persistentvolumes"

/* What the store last saw of a PV of ours. Held only in memory. */
typedef struct {
        char *pv_name;          /* NULL: the PV is named like the volume */
        char *resource_version; /* of the last read, write or watch event */
        char *node;             /* the attached-node annotation then; NULL: none */
        /* "pv-uid\nclaim-ns\nclaim-name\nclaim-uid" for Events, held while `node` is set */
        char *refs;
} Known;

typedef struct _Rebuild Rebuild;
typedef struct _NodeWatch NodeWatch;

typedef struct {
        Store parent;
        KubeClient *client;
        char *driver;
        guint start_timeout_sec;
        GMutex lock;        /* guards `known` and `doubts` */
        GHashTable *known;  /* volume id -> Known */
        GHashTable *doubts; /* volume id -> Doubt: Tracks answered failed that may land */
        guint undone;       /* such writes that landed and were undone (atomic) */
        StoreObserver observer;
        Reflector *reflector;
        Rebuild *rebuild; /* the LIST in progress (reflector thread or load) */
        StoreLoadFunc load_func;
        gpointer load_data;
        NodeWatch *nodes; /* Reconcile=yes: the Nodes' LIST+WATCH (store-kube-nodes.c) */
        Events *events;   /* Events=yes */
} StoreKube;

void known_free(Known *known);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Known, known_free)
GHashTable *known_table_new(void);
Known *known_from_pv(const char *volume, const PvInfo *pv);
/* A copy of what is known of `volume`, or NULL. */
Known *known_get(StoreKube *self, const char *volume);

/* The attached-at time of a PV that names a node (now, with a warning, when unreadable). */
gint64 store_kube_attached_at(const PvInfo *pv);

/* What the store sees of `volume` (its lock held by the caller): a PV newer than the one
 * remembered replaces it and is reported to the observer; an older one is ignored, so that a
 * late event never rolls back what a write already holds. Returns FALSE when ignored. */
gboolean store_kube_observe(StoreKube *self, const char *volume, const PvInfo *pv);
/* The same for what a LIST found (`known` is taken). */
gboolean store_kube_observe_known(StoreKube *self, const char *volume, Known *known,
                                  gint64 attached_at);
/* Whether resourceVersion `candidate` is older than `held` (both integers). */
gboolean store_kube_rv_older(const char *candidate, const char *held);
/* The PV is gone (404, DELETED): forgotten and reported as held by nobody. */
void store_kube_observe_gone(StoreKube *self, const char *volume);

/* A Track answered StoreFailed whose write may still land (its answer was lost and the reads
 * after it could not tell): if the watch or a read later shows the PV naming that node with
 * that very attached-at, the write landed after the caller was told it failed, and it is
 * undone with a conditional write (DESIGN §8). With the volume's lock held. Returns TRUE
 * when it undid the write; *after (may be NULL) then receives the PV as the undo left it. */
gboolean store_kube_settle_doubt(StoreKube *self, const char *volume, const PvInfo *pv,
                                 PvInfo *after);
GHashTable *store_kube_doubts_new(void);
/* After a put: a failure whose last write's outcome stayed unknown (`doubt_rv`: that write's
 * precondition) is remembered; anything else forgets the volume's doubt. */
void store_kube_doubt_after_put(StoreKube *self, const char *volume, const char *node,
                                gint64 attached_at, const char *doubt_rv, const GError *error);
void store_kube_doubt_drop(StoreKube *self, const char *volume);
/* A merge patch; the client's error as is (KUBE_CLIENT_ERROR, the HTTP status as code). */
gboolean store_kube_patch_pv(StoreKube *self, const char *pv_name, const char *body, PvInfo *pv,
                             GError **error);

/* Clears `volume`'s attachment only if the PV still names `node` (a conditional write, the
 * caller holding the volume's lock); the table follows through the observer. *cleared
 * receives TRUE when this call cleared it, FALSE when the PV named nobody or another node
 * (another daemon did it first, or the node attached again through a newer write). */
gboolean store_kube_clear_node(StoreKube *self, const char *volume, const char *node,
                               gboolean *cleared, GError **error);

/* store-kube-nodes.c: the reconciler (DESIGN §10) and the Events about PVs. */
void store_kube_nodes_init(StoreKube *self, const Config *config);
void store_kube_nodes_start(StoreKube *self);
void store_kube_nodes_clear(StoreKube *self);
/* Queues an Event about the PV serving `volume` (its claim when bound); never blocks. */
void store_kube_post_event(StoreKube *self, const char *volume, const char *reason,
                           const char *type, const char *message);

/* store-kube-watch.c */
gboolean store_kube_load(Store *store, StoreLoadFunc func, gpointer user_data, GError **error);
gboolean store_kube_start_watch(Store *store, GError **error);
const char *store_kube_get_watch_state(Store *store, gint64 *since_usec);
void store_kube_watch_init(StoreKube *self, const Config *config);
void store_kube_watch_clear(StoreKube *self);
void store_kube_watch_clear_store(Store *store);
