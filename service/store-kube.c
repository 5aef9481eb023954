/* SPDX-License-Identifier: MIT */
#include "store-kube-private.h"

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
        g_free(known->node);
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
        if (pv->attached_node != NULL && *pv->attached_node != '\0')
                known->node = g_strdup(pv->attached_node);
        /* Only an attached PV is the subject of an Event (a conflict, a clearing): the free
         * ones, most of a large cluster, do not pay for the references (~120 bytes). */
        if (known->node != NULL && (pv->uid != NULL || pv->claim_name != NULL))
                known->refs = g_strjoin(
                    "\n", pv->uid ? pv->uid : "", pv->claim_namespace ? pv->claim_namespace : "",
                    pv->claim_name ? pv->claim_name : "", pv->claim_uid ? pv->claim_uid : "", NULL);
        return known;
}

gint64 store_kube_attached_at(const PvInfo *pv)
{
        gint64 at;

        if (pv_time_parse(pv->attached_at, &at))
                return at;
        g_warning("PersistentVolume %s: unreadable attached-at annotation '%s'; using the "
                  "current time",
                  pv->name != NULL ? pv->name : "(unnamed)",
                  pv->attached_at != NULL ? pv->attached_at : "");
        return g_get_real_time();
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

gboolean store_kube_observe_known(StoreKube *self, const char *volume, Known *known,
                                  gint64 attached_at)
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
                self->observer.observe(volume, known->node, known->node != NULL ? attached_at : 0,
                                       self->observer.user_data);
        return TRUE;
}

gboolean store_kube_observe(StoreKube *self, const char *volume, const PvInfo *pv)
{
        Known *known = known_from_pv(volume, pv);

        return store_kube_observe_known(self, volume, known,
                                        known->node != NULL ? store_kube_attached_at(pv) : 0);
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
                self->observer.observe(volume, NULL, 0, self->observer.user_data);
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
                copy->node = g_strdup(known->node);
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

/* One put or remove. */
typedef struct {
        const char *volume;
        const char *node;
        gboolean remove;
        gint64 *attached_at_usec; /* put only */
        char **holder;            /* put only, may be NULL */
        char **seen;              /* remove only: the node the PV named when last read */
        char **doubt_rv;          /* put only: set to the precondition of a write in doubt */
        gboolean only_node;       /* remove only: only if the PV names `node` (reconciler) */
} Write;

static WriteCheck put_check(const Write *w, const PvInfo *pv, GError **error)
{
        gint64 at;

        if (pv->attached_node == NULL || *pv->attached_node == '\0')
                return CHECK_WRITE;
        if (strcmp(pv->attached_node, w->node) != 0) {
                if (w->holder != NULL)
                        *w->holder = g_strdup(pv->attached_node);
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED,
                            "volume %s already attached to node %s", w->volume, pv->attached_node);
                return CHECK_FAILED;
        }
        /* Same node: keep the original time, unless it is unreadable; then rewrite it. */
        if (!pv_time_parse(pv->attached_at, &at))
                return CHECK_WRITE;
        *w->attached_at_usec = at;
        return CHECK_DONE;
}

/* Untrack detaches the volume cluster-wide: whichever node the PV names is cleared. */
static WriteCheck remove_check(const Write *w, const char *pv_name, const PvInfo *pv)
{
        g_free(*w->seen);
        *w->seen = NULL;
        if (pv->attached_node != NULL && *pv->attached_node != '\0') {
                if (w->only_node && strcmp(pv->attached_node, w->node) != 0) {
                        g_debug("Clearing %s of node %s: PersistentVolume %s names node %s "
                                "now; left alone",
                                w->volume, w->node, pv_name, pv->attached_node);
                        return CHECK_DONE;
                }
                *w->seen = g_strdup(pv->attached_node);
                return CHECK_WRITE;
        }
        g_debug("Untrack %s: PersistentVolume %s names no node; nothing to clear", w->volume,
                pv_name);
        return CHECK_DONE;
}

/* The PV is gone: nothing to remove, nowhere to put. */
static WriteCheck gone(StoreKube *self, const Write *w, const char *pv_name, GError **error)
{
        store_kube_observe_gone(self, w->volume);
        if (w->remove)
                return CHECK_DONE;
        not_found(error, pv_name);
        return CHECK_FAILED;
}

/* Reads the PV afresh and decides; on CHECK_WRITE, *rv receives its resourceVersion. */
static WriteCheck refresh(StoreKube *self, const Write *w, const char *pv_name, char **rv,
                          GError **error)
{
        g_auto(PvInfo) pv = {0};
        g_auto(PvInfo) after = {0};
        g_autoptr(GError) local = NULL;
        WriteCheck check;

        if (!get_pv(self, pv_name, &pv, &local)) {
                if (g_error_matches(local, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_FOUND))
                        return gone(self, w, pv_name, error);
                g_propagate_error(error, g_steal_pointer(&local));
                return CHECK_FAILED;
        }
        store_kube_observe(self, w->volume, &pv);
        if (store_kube_settle_doubt(self, w->volume, &pv, &after)) {
                PvInfo before = pv;

                pv = after;
                after = before;
        }
        check = w->remove ? remove_check(w, pv_name, &pv) : put_check(w, &pv, error);
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
        for (guint attempt = 0; attempt < MAX_VERIFY_ATTEMPTS; attempt++) {
                g_autofree char *rv = NULL;
                g_autoptr(GError) local = NULL;
                WriteCheck check;

                if (attempt > 0)
                        conflict_wait(attempt);
                check = refresh(self, w, pv_name, &rv, &local);
                if (check == CHECK_DONE) {
                        g_message("%s %s: the answer to the write was lost (%s), but "
                                  "PersistentVolume %s shows it applied",
                                  w->remove ? "Untrack" : "Track", w->volume, cause->message,
                                  pv_name);
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

static char *write_body(StoreKube *self, const Write *w, const char *rv)
{
        if (w->remove)
                return pv_patch_remove(self->driver, rv);
        return pv_patch_put(self->driver, rv, w->node, *w->attached_at_usec);
}

/* A transport failure (timeout, dropped connection, garbled answer): the request may or may
 * not have reached the API server. */
static gboolean outcome_unknown(const GError *error)
{
        return error->domain == KUBE_CLIENT_ERROR &&
               (error->code == KUBE_CLIENT_ERROR_UNREACHABLE ||
                error->code == KUBE_CLIENT_ERROR_INVALID_RESPONSE);
}

/* The conditional write: patch with `rv` (taken; NULL: read the PV first), and on 409 read,
 * re-check and retry, at most MAX_WRITE_ATTEMPTS patches. A write lost in transport is
 * replayed as it was (MAX_REPLAYS times): conditional on the same resourceVersion it applies
 * at most once, and a replay that lands first makes a late original fail its precondition.
 * What stays unknown is settled by reading the PV (verify_unknown). */
static gboolean write_pv(StoreKube *self, const Write *w, const char *pv_name, char *rv_taken,
                         GError **error)
{
        g_autofree char *rv = rv_taken;
        g_autoptr(GError) unknown = NULL;
        guint replays = 0;

        for (guint attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
                g_autofree char *body = NULL;
                g_autoptr(GError) local = NULL;
                g_auto(PvInfo) pv = {0};

                if (rv == NULL) {
                        WriteCheck check;

                        if (attempt > 0) {
                                /* Only a 409 leaves rv unset after the first attempt. */
                                metrics_conflict_retried(kube_client_get_metrics(self->client));
                                conflict_wait(attempt);
                        }
                        check = refresh(self, w, pv_name, &rv, error);
                        if (check != CHECK_WRITE)
                                return check == CHECK_DONE;
                }
                body = write_body(self, w, rv);
                if (store_kube_patch_pv(self, pv_name, body, &pv, &local)) {
                        store_kube_observe(self, w->volume, &pv);
                        return TRUE;
                }
                if (w->doubt_rv != NULL && !kube_client_error_is_permanent(local) &&
                    !g_error_matches(local, KUBE_CLIENT_ERROR, 409)) {
                        g_free(*w->doubt_rv);
                        *w->doubt_rv = g_strdup(rv);
                }
                if (outcome_unknown(local) && replays++ < MAX_REPLAYS) {
                        g_clear_error(&unknown);
                        unknown = g_steal_pointer(&local);
                        continue;
                }
                g_clear_pointer(&rv, g_free);
                if (g_error_matches(local, KUBE_CLIENT_ERROR, 404))
                        return gone(self, w, pv_name, error) == CHECK_DONE;
                if (g_error_matches(local, KUBE_CLIENT_ERROR, 409))
                        continue;
                /* 5xx, 408, 429 and transport failures: the server may have applied it. */
                if (!kube_client_error_is_permanent(local))
                        return verify_unknown(self, w, pv_name, local, error);
                return failed(error, "update", pv_name, local);
        }
        if (unknown != NULL)
                return verify_unknown(self, w, pv_name, unknown, error);
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                    "cannot update PersistentVolume %s: still conflicting after %d attempts",
                    pv_name, MAX_WRITE_ATTEMPTS);
        return FALSE;
}

static gboolean kube_put(Store *store, const char *volume, const char *node,
                         gint64 *attached_at_usec, char **holder, GError **error)
{
        StoreKube *self = (StoreKube *)store;
        g_autoptr(Known) known = known_get(self, volume);
        g_autofree char *doubt_rv = NULL;
        g_autoptr(GError) local = NULL;
        const Write w = {volume, node, FALSE, attached_at_usec, holder, NULL, &doubt_rv};
        const char *pv_name = known != NULL && known->pv_name != NULL ? known->pv_name : volume;
        gboolean ok;

        /* A remembered holder may be stale: only a PV known to be free is patched blind. */
        if (known != NULL && known->node == NULL)
                ok = write_pv(self, &w, pv_name, g_strdup(known->resource_version), &local);
        else
                ok = write_pv(self, &w, pv_name, NULL, &local);
        store_kube_doubt_after_put(self, volume, node, *attached_at_usec, doubt_rv, local);
        if (!ok && holder != NULL && *holder != NULL &&
            g_error_matches(local, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED)) {
                g_autofree char *message = g_strdup_printf(
                    "Volume %s is attached to node %s; node %s was refused", volume, *holder, node);

                store_kube_post_event(self, volume, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING,
                                      message);
        }
        if (!ok)
                g_propagate_error(error, g_steal_pointer(&local));
        return ok;
}

static gboolean kube_remove(Store *store, const char *volume, const char *node, char **cleared,
                            GError **error)
{
        StoreKube *self = (StoreKube *)store;
        g_autoptr(Known) known = known_get(self, volume);
        g_autofree char *seen = g_strdup(known != NULL ? known->node : NULL);
        const Write w = {volume, node, TRUE, NULL, NULL, &seen, NULL};
        const char *pv_name = known != NULL && known->pv_name != NULL ? known->pv_name : volume;
        gboolean ok;

        /* A PV remembered as held is cleared blind, conditional on its resourceVersion (one
         * request). One remembered as free, or never seen, is read first: the answer must
         * come from the API server, and clearing nothing needs no write (one read). */
        if (known != NULL && known->node != NULL)
                ok = write_pv(self, &w, pv_name, g_strdup(known->resource_version), error);
        else
                ok = write_pv(self, &w, pv_name, NULL, error);
        if (ok)
                store_kube_doubt_drop(self, volume);
        if (ok && cleared != NULL)
                *cleared = g_steal_pointer(&seen);
        return ok;
}

gboolean store_kube_clear_node(StoreKube *self, const char *volume, const char *node,
                               gboolean *cleared, GError **error)
{
        g_autoptr(Known) known = known_get(self, volume);
        gboolean held = known != NULL && g_strcmp0(known->node, node) == 0;
        g_autofree char *seen = held ? g_strdup(node) : NULL;
        const Write w = {
            .volume = volume, .node = node, .remove = TRUE, .seen = &seen, .only_node = TRUE};
        const char *pv_name = known != NULL && known->pv_name != NULL ? known->pv_name : volume;
        g_autoptr(Known) after = NULL;

        /* Known to name the node: cleared blind, conditional on that resourceVersion (a 409
         * re-reads and re-checks); else read first. */
        *cleared = FALSE;
        if (!write_pv(self, &w, pv_name, held ? g_strdup(known->resource_version) : NULL, error))
                return FALSE;
        store_kube_doubt_drop(self, volume);
        /* A PV found gone was not cleared by us (nothing is known of it any more). */
        after = known_get(self, volume);
        *cleared = seen != NULL && after != NULL && after->node == NULL;
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

static const StoreClass store_kube_class = {
    .name = "kubernetes",
    .needs_io = TRUE,
    .load = store_kube_load,
    .put = kube_put,
    .remove = kube_remove,
    .free = kube_free,
    .set_observer = kube_set_observer,
    .start_watch = store_kube_start_watch,
    .stop_watch = store_kube_watch_clear_store,
    .get_watch_state = store_kube_get_watch_state,
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
