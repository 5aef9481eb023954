/* SPDX-License-Identifier: MIT */
/* The last lost-answer window (DESIGN §8): a Track answered StoreFailed whose write the API
 * server applied after the daemon gave up. The store remembers such a write (its node and its
 * attached-at, to the microsecond) and undoes it with a conditional write as soon as a read
 * or the watch shows it, so that no node holds a volume it was told it did not get. */
#include <string.h>

#include "store-kube-private.h"
#include "log-messages.h"
#include "log.h"
#include "tsan.h"

/* A write still in flight somewhere lands within seconds or not at all (an API server's
 * request timeout is 60 s): a doubt older than this is forgotten. */
#define DOUBT_LIFETIME_USEC (10 * G_TIME_SPAN_MINUTE)

/* What may still land of a Track answered StoreFailed. */
typedef struct {
        char *node;
        gint64 attached_at;
        char *resource_version; /* the precondition of the write in doubt */
        gint64 expires;         /* monotonic */
} Doubt;

static void doubt_free(Doubt *d)
{
        g_free(d->node);
        g_free(d->resource_version);
        g_free(d);
}

GHashTable *store_kube_doubts_new(void)
{
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)doubt_free);
}

void store_kube_doubt_drop(StoreKube *self, const char *volume)
{
        tsan_mutex_lock(&self->lock);
        g_hash_table_remove(self->doubts, volume);
        tsan_mutex_unlock(&self->lock);
}

/* After a put: a failure whose last write's outcome stayed unknown is remembered, anything
 * else settles what this daemon had in doubt for the volume. */
void store_kube_doubt_after_put(StoreKube *self, const char *volume, const char *node,
                                gint64 attached_at, const char *doubt_rv, const GError *error)
{
        Doubt *d;

        if (error == NULL || doubt_rv == NULL ||
            !g_error_matches(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED)) {
                store_kube_doubt_drop(self, volume);
                return;
        }
        d = g_new0(Doubt, 1);
        d->node = g_strdup(node);
        d->attached_at = attached_at;
        d->resource_version = g_strdup(doubt_rv);
        d->expires = g_get_monotonic_time() + DOUBT_LIFETIME_USEC;
        tsan_mutex_lock(&self->lock);
        g_hash_table_replace(self->doubts, g_strdup(volume), d);
        tsan_mutex_unlock(&self->lock);
        log_volume(G_LOG_LEVEL_MESSAGE, LOG_MESSAGE_WRITE_IN_DOUBT, volume, node,
                   "Track %s for %s failed with its last write's answer lost: watching for that "
                   "write, to undo it if it lands",
                   volume, node);
}

/* Whether the PV shows the very write in doubt: the node, first or second, with its time to
 * the microsecond. */
static gboolean shows_doubt(const Doubt *d, const PvInfo *pv)
{
        gint64 at;

        if (g_strcmp0(pv->attached_node, d->node) == 0)
                return pv_time_parse(pv->attached_at, &at) && at == d->attached_at;
        return g_strcmp0(pv->target_node, d->node) == 0 && pv_time_parse(pv->target_at, &at) &&
               at == d->attached_at;
}

/* The patch that detaches only the doubted node (a shared holder beside it stays). */
static char *undo_body(StoreKube *self, const Doubt *d, const PvInfo *pv)
{
        const HoldingRequest req = {HOLDING_UNTRACK_NODE, d->node, 0};
        g_auto(Holding) h = {0};
        g_auto(Holding) after = {0};

        store_kube_holding(pv, &h);
        if (holding_decide(NULL, &h, TRUE, &req, &after, NULL) != HOLDING_WRITE)
                return NULL;
        return pv_patch_holding(self->driver, pv->resource_version, &after);
}

/* The doubt for `volume` if `pv` shows its write (a copy); else NULL, and a doubt whose write
 * can no longer land (the PV moved past its precondition without it, or it expired) goes. */
static Doubt *doubt_shown(StoreKube *self, const char *volume, const PvInfo *pv)
{
        Doubt *copy = NULL;
        Doubt *d;

        tsan_mutex_lock(&self->lock);
        d = g_hash_table_lookup(self->doubts, volume);
        if (d != NULL && shows_doubt(d, pv)) {
                copy = g_new0(Doubt, 1);
                copy->node = g_strdup(d->node);
                copy->attached_at = d->attached_at;
        } else if (d != NULL &&
                   (g_get_monotonic_time() > d->expires ||
                    (g_strcmp0(pv->resource_version, d->resource_version) != 0 &&
                     !store_kube_rv_older(pv->resource_version, d->resource_version)))) {
                g_hash_table_remove(self->doubts, volume);
        }
        tsan_mutex_unlock(&self->lock);
        return copy;
}

gboolean store_kube_settle_doubt(StoreKube *self, const char *volume, const PvInfo *pv,
                                 PvInfo *after)
{
        g_autoptr(GError) local = NULL;
        g_autofree char *body = NULL;
        g_auto(PvInfo) fresh = {0};
        Doubt *d = doubt_shown(self, volume, pv);
        const char *pv_name = pv->name != NULL ? pv->name : volume;
        gboolean undone;

        if (d == NULL)
                return FALSE;
        /* Conditional on what was seen: a writer in between makes this 409, and the doubt
         * stays for the next look. */
        body = undo_body(self, d, pv);
        undone = body != NULL && store_kube_patch_pv(self, pv_name, body, &fresh, &local);
        if (undone) {
                store_kube_doubt_drop(self, volume);
                g_atomic_int_inc(&self->undone);
                store_kube_observe(self, volume, &fresh);
                log_volume(G_LOG_LEVEL_WARNING, LOG_MESSAGE_WRITE_UNDONE, volume, d->node,
                           "Track %s for %s was answered StoreFailed but its write landed "
                           "later; undone (PersistentVolume %s)",
                           volume, d->node, pv_name);
                if (after != NULL) {
                        *after = fresh;
                        memset(&fresh, 0, sizeof(fresh));
                }
        } else {
                log_volume(G_LOG_LEVEL_WARNING, LOG_MESSAGE_WRITE_UNDONE, volume, d->node,
                           "Track %s for %s was answered StoreFailed but its write landed "
                           "later; undoing it failed, retried at the next change: %s",
                           volume, d->node, local != NULL ? local->message : "no change");
        }
        doubt_free(d);
        return undone;
}
