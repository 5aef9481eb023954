/* SPDX-License-Identifier: MIT */
/* The Kubernetes store's view of the cluster: the start-up LIST that rebuilds the table, and
 * the watch that keeps it a cache of the API server afterwards (DESIGN §8). Both go through
 * the reflector; what they see is reported to the observer (the manager's table) under the
 * volume's lock, in resourceVersion order. */
#include <string.h>

#include "store-kube-private.h"
#include "tsan.h"

#define LIST_PAGE_SIZE 500
#define FIRST_START_WAIT_USEC (250 * G_TIME_SPAN_MILLISECOND)
#define MAX_START_WAIT_USEC (5 * G_TIME_SPAN_SECOND)

/* What one LIST pass found of our PVs; a restarted pass starts from an empty one. */
typedef struct {
        Known *known;
        gint64 attached_at; /* when known->node is set */
} Seen;

struct _Rebuild {
        GHashTable *seen; /* volume id -> Seen */
};

static void seen_free(Seen *seen)
{
        if (seen->known != NULL)
                known_free(seen->known);
        g_free(seen);
}

static void rebuild_free(Rebuild *rebuild)
{
        if (rebuild == NULL)
                return;
        g_hash_table_unref(rebuild->seen);
        g_free(rebuild);
}

/* A PV of ours: our driver and a volume handle. */
static const char *our_volume(StoreKube *self, const PvInfo *pv)
{
        if (g_strcmp0(pv->csi_driver, self->driver) != 0 || pv->volume_handle == NULL ||
            *pv->volume_handle == '\0')
                return NULL;
        return pv->volume_handle;
}

static gboolean rebuild_item(const PvInfo *pv, gpointer user_data, GError **error)
{
        StoreKube *self = user_data;
        const char *volume = our_volume(self, pv);
        Seen *seen;

        if (volume == NULL)
                return TRUE;
        if (g_hash_table_contains(self->rebuild->seen, volume)) {
                g_warning("PersistentVolume %s: volume %s is already served by another "
                          "PersistentVolume; ignored",
                          pv->name != NULL ? pv->name : "(unnamed)", volume);
                return TRUE;
        }
        seen = g_new0(Seen, 1);
        seen->known = known_from_pv(volume, pv);
        if (seen->known->node != NULL)
                seen->attached_at = store_kube_attached_at(pv);
        g_hash_table_insert(self->rebuild->seen, g_strdup(volume), seen);
        return TRUE;
}

static void on_list_begin(gpointer user_data)
{
        StoreKube *self = user_data;

        rebuild_free(self->rebuild);
        self->rebuild = g_new0(Rebuild, 1);
        self->rebuild->seen =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)seen_free);
}

static gboolean on_list_page(gpointer user_data, const char *data, gsize length,
                             char **continue_token, char **resource_version, GError **error)
{
        StoreKube *self = user_data;

        return pv_list_decode(data, length, self->driver, rebuild_item, self, continue_token,
                              resource_version, error);
}

/* The start-up list: the table of known PVs is replaced whole, then each attachment goes to
 * the load function (no caller is served yet, so nothing is locked). */
static void load_found(StoreKube *self)
{
        GHashTable *fresh = known_table_new();
        GHashTable *old;
        GHashTableIter iter;
        gpointer key, value;

        g_hash_table_iter_init(&iter, self->rebuild->seen);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                Seen *seen = value;

                if (seen->known->node != NULL && self->load_func != NULL)
                        self->load_func(key, seen->known->node, seen->attached_at, self->load_data);
                g_hash_table_insert(fresh, g_strdup(key), g_steal_pointer(&seen->known));
        }
        tsan_mutex_lock(&self->lock);
        old = self->known;
        self->known = fresh;
        tsan_mutex_unlock(&self->lock);
        g_hash_table_unref(old);
}

static void lock_volume(StoreKube *self, const char *volume)
{
        if (self->observer.locks != NULL)
                volume_lock(self->observer.locks, volume);
}

static void unlock_volume(StoreKube *self, const char *volume)
{
        if (self->observer.locks != NULL)
                volume_unlock(self->observer.locks, volume);
}

/* The volumes known now that the list did not return. */
static GPtrArray *known_missing(StoreKube *self, GHashTable *seen)
{
        GPtrArray *missing = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter iter;
        gpointer key;

        tsan_mutex_lock(&self->lock);
        g_hash_table_iter_init(&iter, self->known);
        while (g_hash_table_iter_next(&iter, &key, NULL)) {
                if (!g_hash_table_contains(seen, key))
                        g_ptr_array_add(missing, g_strdup(key));
        }
        tsan_mutex_unlock(&self->lock);
        return missing;
}

/* Forgets a PV the list did not return, unless a write newer than the list holds it. */
static void reconcile_missing(StoreKube *self, const char *volume, const char *list_rv)
{
        gboolean gone;

        lock_volume(self, volume);
        tsan_mutex_lock(&self->lock);
        {
                const Known *held = g_hash_table_lookup(self->known, volume);

                gone = held != NULL && !store_kube_rv_older(list_rv, held->resource_version);
        }
        tsan_mutex_unlock(&self->lock);
        if (gone)
                store_kube_observe_gone(self, volume);
        unlock_volume(self, volume);
}

/* After a 410 the fresh list is the truth as of `list_rv`: every PV in it is observed (older
 * than what a write holds: ignored), every known PV missing from it is gone. */
static void reconcile(StoreKube *self, const char *list_rv)
{
        g_autoptr(GPtrArray) missing = known_missing(self, self->rebuild->seen);
        GHashTableIter iter;
        gpointer key, value;

        g_hash_table_iter_init(&iter, self->rebuild->seen);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                Seen *seen = value;

                lock_volume(self, key);
                store_kube_observe_known(self, key, g_steal_pointer(&seen->known),
                                         seen->attached_at);
                unlock_volume(self, key);
        }
        for (guint i = 0; i < missing->len; i++)
                reconcile_missing(self, missing->pdata[i], list_rv);
        g_message("Reconciled the table with the relist at resourceVersion %s: %u "
                  "PersistentVolumes of driver %s, %u gone since",
                  list_rv, g_hash_table_size(self->rebuild->seen), self->driver, missing->len);
}

static void on_list_end(gpointer user_data, const char *resource_version, gboolean relist)
{
        StoreKube *self = user_data;

        if (relist)
                reconcile(self, resource_version);
        else
                load_found(self);
        g_clear_pointer(&self->rebuild, rebuild_free);
}

static void apply_deleted(StoreKube *self, const char *volume, const PvInfo *pv)
{
        gboolean ours;

        lock_volume(self, volume);
        tsan_mutex_lock(&self->lock);
        {
                const Known *held = g_hash_table_lookup(self->known, volume);

                /* Only the PV that serves the volume, and only if nothing newer holds it. */
                ours = held != NULL &&
                       g_strcmp0(held->pv_name != NULL ? held->pv_name : volume, pv->name) == 0 &&
                       !store_kube_rv_older(pv->resource_version, held->resource_version);
        }
        tsan_mutex_unlock(&self->lock);
        if (ours)
                store_kube_observe_gone(self, volume);
        unlock_volume(self, volume);
}

static void apply_changed(StoreKube *self, const char *volume, const PvInfo *pv)
{
        lock_volume(self, volume);
        if (store_kube_observe(self, volume, pv))
                store_kube_settle_doubt(self, volume, pv, NULL);
        unlock_volume(self, volume);
}

static gboolean on_event(gpointer user_data, const char *data, gsize length,
                         char **resource_version, guint *error_code, GError **error)
{
        StoreKube *self = user_data;
        g_auto(PvEvent) ev = {0};
        const char *volume;

        if (!pv_event_decode(data, length, self->driver, &ev, error))
                return FALSE;
        if (ev.type == PV_EVENT_ERROR) {
                g_message("Watch of PersistentVolumes: ERROR event: %s (%s, code %u)",
                          ev.status.message != NULL ? ev.status.message : "no message",
                          ev.status.reason != NULL ? ev.status.reason : "no reason",
                          ev.status.code);
                *error_code = ev.status.code != 0 ? ev.status.code : 500;
                return TRUE;
        }
        *resource_version = g_strdup(ev.pv.resource_version);
        volume = our_volume(self, &ev.pv);
        if (ev.type == PV_EVENT_BOOKMARK || volume == NULL)
                return TRUE;
        if (ev.type == PV_EVENT_DELETED)
                apply_deleted(self, volume, &ev.pv);
        else
                apply_changed(self, volume, &ev.pv);
        return TRUE;
}

static void on_state(gpointer user_data, ReflectorState state, gint64 since_usec)
{
        StoreKube *self = user_data;

        if (self->observer.watch_state != NULL)
                self->observer.watch_state(reflector_state_name(state), since_usec,
                                           self->observer.user_data);
}

static const ReflectorClass pv_reflector_class = {
    .list_begin = on_list_begin,
    .list_page = on_list_page,
    .list_end = on_list_end,
    .event = on_event,
    .state = on_state,
};

void store_kube_watch_init(StoreKube *self, const Config *config)
{
        self->reflector = reflector_new(self->client, PV_PATH, "PersistentVolumes", LIST_PAGE_SIZE,
                                        config->watch_timeout_sec, &pv_reflector_class, self);
}

void store_kube_watch_clear(StoreKube *self)
{
        store_kube_nodes_clear(self);
        g_clear_pointer(&self->reflector, reflector_free);
        g_clear_pointer(&self->rebuild, rebuild_free);
}

void store_kube_watch_clear_store(Store *store)
{
        store_kube_watch_clear((StoreKube *)store);
}

gboolean store_kube_start_watch(Store *store, GError **error)
{
        reflector_start(((StoreKube *)store)->reflector);
        store_kube_nodes_start((StoreKube *)store);
        return TRUE;
}

const char *store_kube_get_watch_state(Store *store, gint64 *since_usec)
{
        StoreKube *self = (StoreKube *)store;

        if (self->reflector == NULL) {
                if (since_usec != NULL)
                        *since_usec = 0;
                return reflector_state_name(REFLECTOR_STOPPED);
        }
        return reflector_state_name(reflector_get_state(self->reflector, since_usec));
}

gboolean store_kube_load(Store *store, StoreLoadFunc func, gpointer user_data, GError **error)
{
        StoreKube *self = (StoreKube *)store;
        gint64 deadline = g_get_monotonic_time() + self->start_timeout_sec * G_TIME_SPAN_SECOND;
        gint64 wait = FIRST_START_WAIT_USEC;

        self->load_func = func;
        self->load_data = user_data;
        for (;;) {
                g_autoptr(GError) local = NULL;
                gint64 now;

                if (reflector_list(self->reflector, &local))
                        return TRUE;
                now = g_get_monotonic_time();
                if (kube_client_error_is_permanent(local) || now >= deadline) {
                        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED,
                                    "cannot list PersistentVolumes%s: %s",
                                    kube_client_error_is_permanent(local) ? ""
                                                                          : " before the "
                                                                            "start timeout",
                                    local->message);
                        return FALSE;
                }
                g_message("Listing PersistentVolumes failed, retrying: %s", local->message);
                g_usleep((gulong)MIN(wait, deadline - now));
                wait = MIN(wait * 2, MAX_START_WAIT_USEC);
        }
}
