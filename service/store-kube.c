/* SPDX-License-Identifier: MIT */
#include "store-kube-private.h"
#include "log-messages.h"
#include "log.h"
#include "common/names.h"

#include <string.h>

#include "tsan.h"

#define MERGE_PATCH "application/merge-patch+json"
/* Writes: a 409 means someone else wrote the PV; re-read and retry, a few times. */
#define MAX_WRITE_ATTEMPTS 5
#define MAX_VERIFY_ATTEMPTS 2
#define MAX_REPLAYS 1
#define MIN_CONFLICT_WAIT_USEC (10 * G_TIME_SPAN_MILLISECOND)
#define MAX_CONFLICT_WAIT_USEC (100 * G_TIME_SPAN_MILLISECOND)
void known_free(Known *known)
{
        g_free(known->pv_name);
        g_free(known->resource_version);
        holding_clear(&known->holding);
        g_free(known->refs);
        g_free(known);
}

GHashTable *known_table_new(void)
{
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)known_free);
}

Known *known_from_pv(const char *volume, const PvInfo *pv)
{
        Known *known = g_new0(Known, 1);

        if (pv->name != NULL && strcmp(pv->name, volume) != 0)
                known->pv_name = g_strdup(pv->name);
        known->resource_version = g_strdup(pv->resource_version);
        store_kube_holding(pv, &known->holding);
        known->shareable = pv_info_shareable(pv);
        /* Only an attached PV is the subject of an Event (a conflict, a clearing): the free
         * ones, most of a large cluster, do not pay for the references (~120 bytes). */
        if (known->holding.node != NULL && (pv->uid != NULL || pv->claim_name != NULL))
                known->refs = g_strjoin(
                    "\n", pv->uid ? pv->uid : "", pv->claim_namespace ? pv->claim_namespace : "",
                    pv->claim_name ? pv->claim_name : "", pv->claim_uid ? pv->claim_uid : "", NULL);
        return known;
}

static gint64 annotation_time(const PvInfo *pv, const char *node, const char *key, const char *text)
{
        gint64 at;

        if (pv_time_parse(text, &at))
                return at;
        log_volume(G_LOG_LEVEL_WARNING, LOG_MESSAGE_BAD_ANNOTATION, pv->volume_handle, node,
                   "PersistentVolume %s: unreadable %s annotation '%s'; using the current time",
                   pv->name != NULL ? pv->name : "(unnamed)", key, text != NULL ? text : "");
        return g_get_real_time();
}

static const char *nonempty(const char *s)
{
        return s != NULL && *s != '\0' ? s : NULL;
}

void store_kube_holding(const PvInfo *pv, Holding *out)
{
        const char *first = nonempty(pv->attached_node), *second = nonempty(pv->target_node);

        *out = (Holding){0};
        /* Whatever node a key names keeps the fence: such a PV never reads as free. */
        if (first == NULL) {
                if (second == NULL)
                        return;
                out->node = g_strdup(second);
                out->attached_at =
                    annotation_time(pv, second, "migration-started-at", pv->target_at);
                out->shared = TRUE;
                return;
        }
        out->node = g_strdup(first);
        out->attached_at = annotation_time(pv, first, "attached-at", pv->attached_at);
        out->shared = g_strcmp0(pv->attach_mode, ANNOTATION_MODE_SHARED) == 0;
        if (second == NULL || strcmp(second, first) == 0)
                return;
        out->target = g_strdup(second);
        out->target_at = annotation_time(pv, second, "migration-started-at", pv->target_at);
        out->shared = TRUE;
}

/* resourceVersions are opaque strings to clients, but every server we know (etcd's
 * revisions; the emulator's counter) hands out increasing integers, and the watch delivers
 * them in order. Something that is not an integer is taken as newer: the fresher read wins. */
static gboolean rv_older(const char *candidate, const char *held)
{
        guint64 a, b;

        if (candidate == NULL || held == NULL ||
            !g_ascii_string_to_unsigned(candidate, 10, 0, G_MAXUINT64, &a, NULL) ||
            !g_ascii_string_to_unsigned(held, 10, 0, G_MAXUINT64, &b, NULL))
                return FALSE;
        return a < b;
}

gboolean store_kube_observe_known(StoreKube *self, const char *volume, Known *known)
{
        const Known *held;
        gboolean newer;

        tsan_mutex_lock(&self->lock);
        held = g_hash_table_lookup(self->known, volume);
        newer = held == NULL || !rv_older(known->resource_version, held->resource_version);
        if (newer)
                g_hash_table_replace(self->known, g_strdup(volume), known);
        tsan_mutex_unlock(&self->lock);
        if (!newer) {
                known_free(known);
                return FALSE;
        }
        /* `known` is in the table now, but only this volume's lock holder replaces it. */
        if (self->observer.observe != NULL)
                self->observer.observe(volume, &known->holding, self->observer.user_data);
        return TRUE;
}

gboolean store_kube_observe(StoreKube *self, const char *volume, const PvInfo *pv)
{
        return store_kube_observe_known(self, volume, known_from_pv(volume, pv));
}

gboolean store_kube_rv_older(const char *candidate, const char *held)
{
        return rv_older(candidate, held);
}

void store_kube_observe_gone(StoreKube *self, const char *volume)
{
        tsan_mutex_lock(&self->lock);
        g_hash_table_remove(self->known, volume);
        tsan_mutex_unlock(&self->lock);
        if (self->observer.observe != NULL)
                self->observer.observe(volume, &(Holding){0}, self->observer.user_data);
}

/* A copy of what is known of `volume`, or NULL. */
Known *known_get(StoreKube *self, const char *volume)
{
        Known *copy = NULL;
        const Known *known;

        tsan_mutex_lock(&self->lock);
        known = g_hash_table_lookup(self->known, volume);
        if (known != NULL) {
                copy = g_new0(Known, 1);
                copy->pv_name = g_strdup(known->pv_name);
                copy->resource_version = g_strdup(known->resource_version);
                holding_copy(&known->holding, &copy->holding);
                copy->shareable = known->shareable;
                copy->refs = g_strdup(known->refs);
        }
        tsan_mutex_unlock(&self->lock);
        return copy;
}

static char *pv_path(const char *pv_name)
{
        g_autofree char *escaped = g_uri_escape_string(pv_name, NULL, FALSE);

        return g_strconcat(PV_PATH "/", escaped, NULL);
}

static gboolean failed(GError **error, const char *what, const char *pv_name, const GError *cause)
{
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                    "cannot %s PersistentVolume %s: %s", what, pv_name, cause->message);
        return FALSE;
}

static gboolean not_found(GError **error, const char *pv_name)
{
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_FOUND,
                    "no PersistentVolume named %s", pv_name);
        return FALSE;
}

static gboolean decode_response(StoreKube *self, GBytes *data, const char *pv_name, PvInfo *pv,
                                GError **error)
{
        g_autoptr(GError) local = NULL;
        gsize len;
        const char *text = g_bytes_get_data(data, &len);

        if (!pv_decode(text != NULL ? text : "", len, self->driver, pv, &local))
                return failed(error, "read", pv_name, local);
        return TRUE;
}

/* Reads the PV. 404 fails with ATTACHMENT_ERROR_NOT_FOUND. */
static gboolean get_pv(StoreKube *self, const char *pv_name, PvInfo *pv, GError **error)
{
        g_autofree char *path = pv_path(pv_name);
        g_autoptr(GError) local = NULL;
        g_autoptr(GBytes) data = kube_client_send(self->client, "GET", path, NULL, NULL,
                                                  KUBE_CLIENT_MAX_OBJECT_BYTES, NULL, &local);

        if (data == NULL) {
                if (g_error_matches(local, KUBE_CLIENT_ERROR, 404))
                        return not_found(error, pv_name);
                return failed(error, "read", pv_name, local);
        }
        if (!decode_response(self, data, pv_name, pv, error))
                return FALSE;
        if (pv->resource_version == NULL || *pv->resource_version == '\0') {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                            "PersistentVolume %s from the API server has no resourceVersion",
                            pv_name);
                return FALSE;
        }
        return TRUE;
}

/* Sends a merge patch. The client's error is returned as is (KUBE_CLIENT_ERROR, the HTTP
 * status as code) so the caller can tell 404 and 409 apart. */
gboolean store_kube_patch_pv(StoreKube *self, const char *pv_name, const char *body, PvInfo *pv,
                             GError **error)
{
        g_autofree char *path = pv_path(pv_name);
        g_autoptr(GBytes) data = kube_client_send(self->client, "PATCH", path, MERGE_PATCH, body,
                                                  KUBE_CLIENT_MAX_OBJECT_BYTES, NULL, error);

        return data != NULL && decode_response(self, data, pv_name, pv, error);
}

/* Jittered and growing, so that daemons racing for one PV drift apart. */
static void conflict_wait(guint attempt)
{
        gint64 upper = MIN(MIN_CONFLICT_WAIT_USEC << MIN(attempt, 4), MAX_CONFLICT_WAIT_USEC);

        g_usleep((gulong)g_random_int_range((gint32)MIN_CONFLICT_WAIT_USEC, (gint32)upper + 1));
}

typedef enum {
        CHECK_WRITE,  /* the PV needs the patch */
        CHECK_DONE,   /* nothing to write: success */
        CHECK_FAILED, /* error set */
} WriteCheck;

/* One apply. */
typedef struct {
        const char *volume;
        const HoldingRequest *req;
        Holding *seen;   /* the holding the last decision was made on */
        char **doubt_rv; /* attaches only: set to the precondition of a write in doubt */
} Write;

static const char *request_name(const HoldingRequest *req)
{
        static const char *const names[] = {
            [HOLDING_TRACK] = "Track",
            [HOLDING_TRACK_SHARED] = "TrackShared",
            [HOLDING_UNTRACK_NODE] = "UntrackNode",
            [HOLDING_UNTRACK] = "Untrack",
        };

        return names[req->op];
}

static gboolean detaches(const Write *w)
{
        return w->req->op == HOLDING_UNTRACK || w->req->op == HOLDING_UNTRACK_NODE;
}

/* The one decision (holding.c) on what the PV holds; *after: the holding to write. */
static WriteCheck decide(const Write *w, const Holding *h, gboolean shareable, Holding *after,
                         GError **error)
{
        holding_clear(w->seen);
        holding_copy(h, w->seen);
        holding_clear(after);
        switch (holding_decide(w->volume, h, shareable, w->req, after, error)) {
        case HOLDING_WRITE:
                return CHECK_WRITE;
        case HOLDING_SAME:
                log_volume_debug(w->volume, "%s %s: the PersistentVolume needs no change",
                                 request_name(w->req), w->volume);
                return CHECK_DONE;
        case HOLDING_REFUSED:
                break;
        }
        return CHECK_FAILED;
}

/* The PV is gone: nothing to detach, nowhere to attach. */
static WriteCheck gone(StoreKube *self, const Write *w, const char *pv_name, GError **error)
{
        store_kube_observe_gone(self, w->volume);
        if (detaches(w))
                return CHECK_DONE;
        not_found(error, pv_name);
        return CHECK_FAILED;
}

/* Reads the PV afresh and decides; on CHECK_WRITE, *rv receives its resourceVersion and
 * *after the holding to write. */
static WriteCheck refresh(StoreKube *self, const Write *w, const char *pv_name, char **rv,
                          Holding *after, GError **error)
{
        g_auto(PvInfo) pv = {0};
        g_auto(PvInfo) undone = {0};
        g_auto(Holding) h = {0};
        g_autoptr(GError) local = NULL;
        WriteCheck check;

        if (!get_pv(self, pv_name, &pv, &local)) {
                if (g_error_matches(local, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_FOUND))
                        return gone(self, w, pv_name, error);
                g_propagate_error(error, g_steal_pointer(&local));
                return CHECK_FAILED;
        }
        store_kube_observe(self, w->volume, &pv);
        if (store_kube_settle_doubt(self, w->volume, &pv, &undone)) {
                PvInfo before = pv;

                pv = undone;
                undone = before;
        }
        store_kube_holding(&pv, &h);
        check = decide(w, &h, pv_info_shareable(&pv), after, error);
        if (check == CHECK_WRITE)
                *rv = g_strdup(pv.resource_version);
        return check;
}

/* A write whose outcome is unknown — timeout, dropped connection, garbled answer, 5xx — may
 * have been applied. Reads the PV (a few times, if the read fails too) and answers from what
 * it holds, so that memory never disagrees with the API server: the write's own error is
 * returned only when the PV shows it was not applied or cannot be read. */
static gboolean verify_unknown(StoreKube *self, const Write *w, const char *pv_name,
                               const GError *cause, GError **error)
{
        log_volume_debug(w->volume, "%s %s: the answer was lost (%s); settling by reading %s",
                         request_name(w->req), w->volume, cause->message, pv_name);
        for (guint attempt = 0; attempt < MAX_VERIFY_ATTEMPTS; attempt++) {
                g_autofree char *rv = NULL;
                g_autoptr(GError) local = NULL;
                g_auto(Holding) after = {0};
                WriteCheck check;

                if (attempt > 0)
                        conflict_wait(attempt);
                check = refresh(self, w, pv_name, &rv, &after, &local);
                if (check == CHECK_DONE) {
                        log_volume(G_LOG_LEVEL_MESSAGE, LOG_MESSAGE_WRITE_LOST_APPLIED, w->volume,
                                   w->req->node,
                                   "%s %s: the answer to the write was lost (%s), but "
                                   "PersistentVolume %s shows it applied",
                                   request_name(w->req), w->volume, cause->message, pv_name);
                        return TRUE;
                }
                if (check == CHECK_WRITE)
                        break;
                if (local->domain == ATTACHMENT_ERROR && local->code != ATTACHMENT_ERROR_FAILED) {
                        g_propagate_error(error, g_steal_pointer(&local));
                        return FALSE;
                }
        }
        return failed(error, "update", pv_name, cause);
}

/* A transport failure (timeout, dropped connection, garbled answer): the request may or may
 * not have reached the API server. */
static gboolean outcome_unknown(const GError *error)
{
        return error->domain == KUBE_CLIENT_ERROR &&
               (error->code == KUBE_CLIENT_ERROR_UNREACHABLE ||
                error->code == KUBE_CLIENT_ERROR_INVALID_RESPONSE);
}

/* What one failed patch means for the loop of write_pv. */
typedef enum {
        PATCH_REPLAY,  /* send the same body again */
        PATCH_REREAD,  /* 409: read, decide again */
        PATCH_SETTLED, /* answered: *ok */
} PatchFailure;

static PatchFailure patch_failed(StoreKube *self, const Write *w, const char *pv_name,
                                 const char *rv, GError **local, GError **unknown, guint *replays,
                                 gboolean *ok, GError **error)
{
        if (w->doubt_rv != NULL && !kube_client_error_is_permanent(*local) &&
            !g_error_matches(*local, KUBE_CLIENT_ERROR, 409)) {
                g_free(*w->doubt_rv);
                *w->doubt_rv = g_strdup(rv);
        }
        if (outcome_unknown(*local) && (*replays)++ < MAX_REPLAYS) {
                log_volume_debug(w->volume,
                                 "%s %s: the answer was lost (%s); replaying on "
                                 "resourceVersion %s",
                                 request_name(w->req), w->volume, (*local)->message, rv);
                g_clear_error(unknown);
                *unknown = g_steal_pointer(local);
                return PATCH_REPLAY;
        }
        if (g_error_matches(*local, KUBE_CLIENT_ERROR, 409)) {
                log_volume_debug(w->volume, "%s %s: 409 on PersistentVolume %s; re-reading",
                                 request_name(w->req), w->volume, pv_name);
                return PATCH_REREAD;
        }
        if (g_error_matches(*local, KUBE_CLIENT_ERROR, 404))
                *ok = gone(self, w, pv_name, error) == CHECK_DONE;
        else if (!kube_client_error_is_permanent(*local))
                /* 5xx, 408, 429 and transport failures: the server may have applied it. */
                *ok = verify_unknown(self, w, pv_name, *local, error);
        else
                *ok = failed(error, "update", pv_name, *local);
        return PATCH_SETTLED;
}

/* The conditional write: patch `after` on `rv` (both taken; rv NULL: read the PV first and
 * decide), and on 409 read, decide again and retry, at most MAX_WRITE_ATTEMPTS patches. A
 * write lost in transport is replayed as it was (MAX_REPLAYS times): conditional on the same
 * resourceVersion it applies at most once, and a replay that lands first makes a late
 * original fail its precondition. What stays unknown is settled by reading the PV. */
static gboolean write_pv(StoreKube *self, const Write *w, const char *pv_name, char *rv_taken,
                         Holding *after, GError **error)
{
        g_autofree char *rv = rv_taken;
        g_autoptr(GError) unknown = NULL;
        guint replays = 0;

        for (guint attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
                g_autofree char *body = NULL;
                g_autoptr(GError) local = NULL;
                g_auto(PvInfo) pv = {0};
                gboolean ok = FALSE;

                if (rv == NULL) {
                        WriteCheck check;

                        if (attempt > 0) {
                                /* Only a 409 leaves rv unset after the first attempt. */
                                metrics_conflict_retried(kube_client_get_metrics(self->client));
                                conflict_wait(attempt);
                        }
                        check = refresh(self, w, pv_name, &rv, after, error);
                        if (check != CHECK_WRITE)
                                return check == CHECK_DONE;
                }
                body = pv_patch_holding(self->driver, rv, after);
                if (store_kube_patch_pv(self, pv_name, body, &pv, &local)) {
                        store_kube_observe(self, w->volume, &pv);
                        return TRUE;
                }
                switch (
                    patch_failed(self, w, pv_name, rv, &local, &unknown, &replays, &ok, error)) {
                case PATCH_REPLAY:
                        continue;
                case PATCH_REREAD:
                        g_clear_pointer(&rv, g_free);
                        continue;
                case PATCH_SETTLED:
                        return ok;
                }
        }
        if (unknown != NULL)
                return verify_unknown(self, w, pv_name, unknown, error);
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                    "cannot update PersistentVolume %s: still conflicting after %d attempts",
                    pv_name, MAX_WRITE_ATTEMPTS);
        return FALSE;
}

/* An attach refused: an AttachmentConflict Event about the PV (best effort, never blocks). */
static void post_conflict(StoreKube *self, const char *volume, const char *node,
                          const Holding *holders)
{
        g_autofree char *message = NULL;

        if (holders->target != NULL)
                message = g_strdup_printf("Volume %s is attached to nodes %s and %s; node %s was "
                                          "refused",
                                          volume, holders->node, holders->target, node);
        else
                message = g_strdup_printf("Volume %s is attached to node %s; node %s was refused",
                                          volume, holders->node, node);
        store_kube_post_event(self, volume, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, message);
}

/* A PV whose remembered state the request changes is patched blind, conditional on its
 * resourceVersion (one request); a stale memory costs a 409 and a read. When the request
 * would change nothing, or be refused, by what is remembered, the PV is read first: the
 * answer must come from the API server (DESIGN §8: one read). */
static gboolean kube_apply(Store *store, const char *volume, const HoldingRequest *req,
                           Holding *seen, GError **error)
{
        StoreKube *self = (StoreKube *)store;
        g_autoptr(Known) known = known_get(self, volume);
        g_autofree char *doubt_rv = NULL;
        g_autoptr(GError) local = NULL;
        g_auto(Holding) after = {0};
        gboolean attach = req->op == HOLDING_TRACK || req->op == HOLDING_TRACK_SHARED;
        const Write w = {volume, req, seen, attach ? &doubt_rv : NULL};
        const char *pv_name = known != NULL && known->pv_name != NULL ? known->pv_name : volume;
        char *rv = NULL;
        gboolean ok;

        if (known != NULL &&
            decide(&w, &known->holding, known->shareable, &after, NULL) == CHECK_WRITE)
                rv = g_strdup(known->resource_version);
        ok = write_pv(self, &w, pv_name, rv, &after, &local);
        if (attach)
                store_kube_doubt_after_put(self, volume, req->node, req->now, doubt_rv, local);
        else if (ok)
                store_kube_doubt_drop(self, volume);
        if (!ok && seen->node != NULL &&
            g_error_matches(local, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED))
                post_conflict(self, volume, req->node, seen);
        if (!ok)
                g_propagate_error(error, g_steal_pointer(&local));
        return ok;
}

gboolean store_kube_clear_node(StoreKube *self, const char *volume, const char *node,
                               gboolean *cleared, GError **error)
{
        const HoldingRequest req = {HOLDING_UNTRACK_NODE, node, 0};
        g_auto(Holding) seen = {0};
        g_autoptr(Known) after = NULL;

        *cleared = FALSE;
        if (!kube_apply(&self->parent, volume, &req, &seen, error))
                return FALSE;
        /* A PV found gone was not cleared by us (nothing is known of it any more). */
        after = known_get(self, volume);
        *cleared = holding_has(&seen, node, NULL) && after != NULL &&
                   !holding_has(&after->holding, node, NULL);
        return TRUE;
}

static void kube_set_observer(Store *store, const StoreObserver *observer)
{
        ((StoreKube *)store)->observer = *observer;
}

static void kube_free(Store *store)
{
        StoreKube *self = (StoreKube *)store;

        /* The watches first: they use the client, the Events and the table of known PVs. */
        store_kube_watch_clear(self);
        g_clear_pointer(&self->events, events_free);
        kube_client_free(self->client);
        g_free(self->driver);
        g_hash_table_unref(self->known);
        g_hash_table_unref(self->doubts);
        g_mutex_clear(&self->lock);
        g_free(self);
}

static void kube_post_event(Store *store, const char *volume, const char *reason, const char *type,
                            const char *message)
{
        store_kube_post_event((StoreKube *)store, volume, reason, type, message);
}

static const StoreClass store_kube_class = {
    .name = "kubernetes",
    .needs_io = TRUE,
    .load = store_kube_load,
    .apply = kube_apply,
    .free = kube_free,
    .set_observer = kube_set_observer,
    .start_watch = store_kube_start_watch,
    .stop_watch = store_kube_watch_clear_store,
    .get_watch_state = store_kube_get_watch_state,
    .post_event = kube_post_event,
};

void store_kube_set_metrics(Store *store, Metrics *metrics)
{
        kube_client_set_metrics(((StoreKube *)store)->client, metrics);
}

Store *store_kube_new(const Config *config, GError **error)
{
        g_autoptr(KubeClient) client = NULL;
        StoreKube *self;

        if (config->driver == NULL || *config->driver == '\0') {
                g_set_error_literal(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "Driver= is empty");
                return NULL;
        }
        client = kube_client_new(config, error);
        if (client == NULL)
                return NULL;
        self = g_new0(StoreKube, 1);
        self->parent.klass = &store_kube_class;
        self->client = g_steal_pointer(&client);
        self->driver = g_strdup(config->driver);
        self->start_timeout_sec = config->start_timeout_sec;
        g_mutex_init(&self->lock);
        self->known = known_table_new();
        self->doubts = store_kube_doubts_new();
        if (config->events)
                self->events = events_new(self->client, g_get_host_name(), EVENTS_QUEUE_LIMIT);
        store_kube_watch_init(self, config);
        store_kube_nodes_init(self, config);
        return &self->parent;
}
