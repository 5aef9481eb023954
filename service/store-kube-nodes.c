/* SPDX-License-Identifier: MIT */
/* The reconciler (DESIGN §10): a second reflector LISTs and WATCHes the Nodes, and the
 * attachments of a node are cleared when its Node carries the out-of-service taint or is
 * deleted (a DELETED event, or gone from a relist after it was seen). NotReady alone clears
 * nothing, and a node id that never appeared as a Node is never touched: what is remembered
 * is the set of Node names seen by this process (bounded by the cluster's nodes), nothing is
 * persisted. So a Node deleted while every daemon was down is cleared by no one: the next
 * start's list does not return it, and this process never saw it. Clearing it then would
 * need a memory of past Nodes that a restart loses, or treating any unknown node id as dead,
 * which would clear the attachments of a node whose Node object is merely not created yet.
 *
 * Each clearing is a conditional write (only if the PV still names that node), under the
 * volume's lock; the table follows through the observer (a Detached signal). Several daemons
 * all try; the write makes one win, and the others find the PV naming nobody (a debug line,
 * no error). The winner logs VOLUME=, NODE=, REASON= and posts StaleAttachmentCleared. */
#include <string.h>

#include "metrics.h"
#include "node.h"
#include "store-kube-private.h"
#include "tsan.h"

#define NODES_PATH "/api/v1/nodes"
#define NODE_PAGE_SIZE 500
#define REASON_DELETED "deleted"
#define REASON_OUT_OF_SERVICE "out-of-service"

struct _NodeWatch {
        StoreKube *store;
        Reflector *reflector;
        /* Both only touched by the reflector's thread. */
        GHashTable *seen;    /* Node name -> NULL */
        GHashTable *listing; /* the LIST in progress: name -> GINT_TO_POINTER(out of service) */
};

/* The volumes whose PV names `node` now (as far as the store knows). */
static GPtrArray *volumes_of(StoreKube *self, const char *node)
{
        GPtrArray *volumes = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter iter;
        gpointer key, value;

        tsan_mutex_lock(&self->lock);
        g_hash_table_iter_init(&iter, self->known);
        while (g_hash_table_iter_next(&iter, &key, &value))
                if (g_strcmp0(((const Known *)value)->node, node) == 0)
                        g_ptr_array_add(volumes, g_strdup(key));
        tsan_mutex_unlock(&self->lock);
        return volumes;
}

static const char *reason_text(const char *reason)
{
        return strcmp(reason, REASON_DELETED) == 0
                   ? "its Node was deleted"
                   : "its Node carries the taint " NODE_TAINT_OUT_OF_SERVICE;
}

static void cleared_volume(StoreKube *self, const char *volume, const char *node,
                           const char *reason)
{
        g_autofree char *message = g_strdup_printf("Attachment of volume %s to node %s cleared: %s",
                                                   volume, node, reason_text(reason));

        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "VOLUME", volume, "NODE", node,
                         "REASON", reason, "MESSAGE", "%s", message);
        metrics_add(kube_client_get_metrics(self->client), METRIC_STALE_CLEARED, 0, 1);
        store_kube_post_event(self, volume, EVENT_REASON_STALE_CLEARED, EVENT_TYPE_WARNING,
                              message);
}

static void clear_volume(StoreKube *self, const char *volume, const char *node, const char *reason)
{
        g_autoptr(GError) error = NULL;
        gboolean cleared = FALSE;
        gboolean ok;

        if (self->observer.locks != NULL)
                volume_lock(self->observer.locks, volume);
        ok = store_kube_clear_node(self, volume, node, &cleared, &error);
        if (self->observer.locks != NULL)
                volume_unlock(self->observer.locks, volume);
        if (!ok)
                g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "VOLUME", volume, "NODE", node,
                                 "REASON", reason, "MESSAGE",
                                 "Cannot clear the attachment of volume %s to node %s (%s): %s; "
                                 "it is tried again when the Node is seen again",
                                 volume, node, reason_text(reason), error->message);
        else if (cleared)
                cleared_volume(self, volume, node, reason);
        else
                g_debug("Volume %s: the attachment to node %s was already cleared", volume, node);
}

static void clear_node(NodeWatch *w, const char *node, const char *reason)
{
        g_autoptr(GPtrArray) volumes = volumes_of(w->store, node);

        if (volumes->len > 0)
                g_message("Node %s %s: clearing its %u attachments", node,
                          strcmp(reason, REASON_DELETED) == 0 ? "was deleted" : "is out of service",
                          volumes->len);
        for (guint i = 0; i < volumes->len; i++)
                clear_volume(w->store, volumes->pdata[i], node, reason);
}

static void on_list_begin(gpointer user_data)
{
        NodeWatch *w = user_data;

        g_clear_pointer(&w->listing, g_hash_table_unref);
        w->listing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static gboolean list_item(const NodeInfo *node, gpointer user_data, GError **error)
{
        NodeWatch *w = user_data;

        if (node->name != NULL && *node->name != '\0')
                g_hash_table_replace(w->listing, g_strdup(node->name),
                                     GINT_TO_POINTER(node->out_of_service));
        return TRUE;
}

static gboolean on_list_page(gpointer user_data, const char *data, gsize length,
                             char **continue_token, char **resource_version, GError **error)
{
        return node_list_decode(data, length, list_item, user_data, continue_token,
                                resource_version, error);
}

/* The list is the truth: Nodes seen before and missing now were deleted meanwhile. */
static void on_list_end(gpointer user_data, const char *resource_version, gboolean relist)
{
        NodeWatch *w = user_data;
        g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GHashTable) fresh = g_steal_pointer(&w->listing);
        GHashTableIter iter;
        gpointer key, value;

        g_hash_table_iter_init(&iter, w->seen);
        while (g_hash_table_iter_next(&iter, &key, NULL))
                if (!g_hash_table_contains(fresh, key))
                        g_ptr_array_add(gone, g_strdup(key));
        g_hash_table_remove_all(w->seen);
        g_hash_table_iter_init(&iter, fresh);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                g_hash_table_add(w->seen, g_strdup(key));
                if (GPOINTER_TO_INT(value))
                        clear_node(w, key, REASON_OUT_OF_SERVICE);
        }
        for (guint i = 0; i < gone->len; i++)
                clear_node(w, gone->pdata[i], REASON_DELETED);
        g_message("Listed %u Nodes at resourceVersion %s (%u gone since the last list)",
                  g_hash_table_size(w->seen), resource_version, gone->len);
}

static gboolean on_event(gpointer user_data, const char *data, gsize length,
                         char **resource_version, guint *error_code, GError **error)
{
        NodeWatch *w = user_data;
        g_auto(NodeEvent) ev = {0};
        const char *name;

        if (!node_event_decode(data, length, &ev, error))
                return FALSE;
        if (ev.type == PV_EVENT_ERROR) {
                g_message("Watch of Nodes: ERROR event: %s (code %u)",
                          ev.status.message != NULL ? ev.status.message : "no message",
                          ev.status.code);
                *error_code = ev.status.code != 0 ? ev.status.code : 500;
                return TRUE;
        }
        *resource_version = g_strdup(ev.node.resource_version);
        name = ev.node.name;
        if (ev.type == PV_EVENT_BOOKMARK || name == NULL || *name == '\0')
                return TRUE;
        if (ev.type == PV_EVENT_DELETED) {
                if (g_hash_table_remove(w->seen, name))
                        clear_node(w, name, REASON_DELETED);
                return TRUE;
        }
        g_hash_table_add(w->seen, g_strdup(name));
        /* Every event that shows the taint clears what the node holds then (usually nothing
         * after the first: a node out of service does not attach). */
        if (ev.node.out_of_service)
                clear_node(w, name, REASON_OUT_OF_SERVICE);
        return TRUE;
}

static const ReflectorClass node_reflector_class = {
    .list_begin = on_list_begin,
    .list_page = on_list_page,
    .list_end = on_list_end,
    .event = on_event,
};

void store_kube_nodes_init(StoreKube *self, const Config *config)
{
        NodeWatch *w;

        if (!config->reconcile)
                return;
        w = g_new0(NodeWatch, 1);
        w->store = self;
        w->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        w->reflector = reflector_new(self->client, NODES_PATH, "Nodes", NODE_PAGE_SIZE,
                                     config->watch_timeout_sec, &node_reflector_class, w);
        self->nodes = w;
}

/* After the PV rebuild: the Nodes' first list is made on the reflector's thread, so a
 * cluster that refuses it (no RBAC for nodes) delays nothing; it is retried with backoff. */
void store_kube_nodes_start(StoreKube *self)
{
        if (self->nodes != NULL)
                reflector_start(self->nodes->reflector);
}

void store_kube_nodes_clear(StoreKube *self)
{
        NodeWatch *w = g_steal_pointer(&self->nodes);

        if (w == NULL)
                return;
        reflector_free(w->reflector);
        g_hash_table_unref(w->seen);
        g_clear_pointer(&w->listing, g_hash_table_unref);
        g_free(w);
}

void store_kube_post_event(StoreKube *self, const char *volume, const char *reason,
                           const char *type, const char *message)
{
        g_autoptr(Known) known = NULL;
        g_auto(GStrv) refs = NULL;
        EventsObject object = {0};

        if (self->events == NULL)
                return;
        known = known_get(self, volume);
        object.pv_name = known != NULL && known->pv_name != NULL ? known->pv_name : volume;
        if (known != NULL && known->refs != NULL)
                refs = g_strsplit(known->refs, "\n", 4);
        if (refs != NULL && g_strv_length(refs) == 4) {
                object.pv_uid = *refs[0] != '\0' ? refs[0] : NULL;
                object.claim_namespace = *refs[1] != '\0' ? refs[1] : NULL;
                object.claim_name = *refs[2] != '\0' ? refs[2] : NULL;
                object.claim_uid = *refs[3] != '\0' ? refs[3] : NULL;
        }
        events_post(self->events, reason, type, &object, message);
}
