/* SPDX-License-Identifier: MIT */
/* The Events sender (events.h): one thread drains a bounded queue; what it learns of earlier
 * Events (for aggregation) is its own, so only the queue and the counters are locked. */
#include "events.h"

#include <json-glib/json-glib.h>

#include "metrics.h"
#include "tsan.h"

#define STRATEGIC_MERGE_PATCH "application/strategic-merge-patch+json"
/* client-go's maxLruCacheEntries: the keys of that many recent Events are remembered. */
#define MAX_CACHED_KEYS 4096

typedef struct {
        char *reason; /* NULL: the stop marker */
        char *type;
        char *message;
        char *pv_name, *pv_uid, *claim_namespace, *claim_name, *claim_uid;
        gint64 at_usec; /* when it happened (real time) */
} Pending;

/* The first Event of a key, as the server holds it. */
typedef struct {
        char *namespace;
        char *name;
        guint count;
        gint64 first_usec;
        gint64 last_usec;
} Aggregate;

struct _Events {
        KubeClient *client;
        char *host;
        guint limit;
        GThread *thread;
        GMutex lock; /* guards the fields up to `counters` */
        GCond wake;
        GQueue queue; /* Pending */
        gboolean stopping;
        EventsCounters counters;
        GHashTable *cache; /* key -> Aggregate: the sender thread's */
        gboolean warned;   /* since the last success: the sender thread's */
};

static void pending_free(Pending *p)
{
        g_free(p->reason);
        g_free(p->type);
        g_free(p->message);
        g_free(p->pv_name);
        g_free(p->pv_uid);
        g_free(p->claim_namespace);
        g_free(p->claim_name);
        g_free(p->claim_uid);
        g_free(p);
}

static void aggregate_free(Aggregate *a)
{
        g_free(a->namespace);
        g_free(a->name);
        g_free(a);
}

static EventsObject pending_object(const Pending *p)
{
        return (EventsObject){p->pv_name, p->pv_uid, p->claim_namespace, p->claim_name,
                              p->claim_uid};
}

static gboolean has_claim(const EventsObject *o)
{
        return o->claim_name != NULL && *o->claim_name != '\0';
}

static const char *event_namespace(const EventsObject *o)
{
        return has_claim(o) && o->claim_namespace != NULL && *o->claim_namespace != '\0'
                   ? o->claim_namespace
                   : "default";
}

static const char *involved_name(const EventsObject *o)
{
        return has_claim(o) ? o->claim_name : (o->pv_name != NULL ? o->pv_name : "");
}

/* Fields joined with a separator no name or reason holds (client-go joins with ""). */
char *events_key(const char *host, const char *reason, const char *type, const EventsObject *object,
                 const char *message)
{
        gboolean claim = has_claim(object);

        return g_strjoin("\n", EVENTS_COMPONENT, host != NULL ? host : "",
                         claim ? "PersistentVolumeClaim" : "PersistentVolume",
                         claim ? event_namespace(object) : "", involved_name(object),
                         claim ? (object->claim_uid ? object->claim_uid : "")
                               : (object->pv_uid ? object->pv_uid : ""),
                         "v1", type, reason, message, NULL);
}

/* metav1.Time: RFC 3339, whole seconds. */
static char *format_time(gint64 usec)
{
        g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);

        return t != NULL ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("");
}

static void add_string(JsonBuilder *b, const char *member, const char *value)
{
        json_builder_set_member_name(b, member);
        json_builder_add_string_value(b, value);
}

static void add_involved(JsonBuilder *b, const EventsObject *o)
{
        const char *uid = has_claim(o) ? o->claim_uid : o->pv_uid;

        json_builder_set_member_name(b, "involvedObject");
        json_builder_begin_object(b);
        add_string(b, "apiVersion", "v1");
        add_string(b, "kind", has_claim(o) ? "PersistentVolumeClaim" : "PersistentVolume");
        if (has_claim(o))
                add_string(b, "namespace", event_namespace(o));
        add_string(b, "name", involved_name(o));
        if (uid != NULL && *uid != '\0')
                add_string(b, "uid", uid);
        json_builder_end_object(b);
}

char *events_build_body(const char *name, const char *host, const char *reason, const char *type,
                        const EventsObject *object, const char *message, guint count,
                        gint64 first_usec, gint64 last_usec)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *first = format_time(first_usec);
        g_autofree char *last = format_time(last_usec);

        json_builder_begin_object(b);
        add_string(b, "apiVersion", "v1");
        add_string(b, "kind", "Event");
        json_builder_set_member_name(b, "metadata");
        json_builder_begin_object(b);
        add_string(b, "name", name);
        add_string(b, "namespace", event_namespace(object));
        json_builder_end_object(b);
        add_involved(b, object);
        add_string(b, "reason", reason);
        add_string(b, "message", message);
        add_string(b, "type", type);
        json_builder_set_member_name(b, "source");
        json_builder_begin_object(b);
        add_string(b, "component", EVENTS_COMPONENT);
        add_string(b, "host", host);
        json_builder_end_object(b);
        add_string(b, "firstTimestamp", first);
        add_string(b, "lastTimestamp", last);
        json_builder_set_member_name(b, "count");
        json_builder_add_int_value(b, count);
        add_string(b, "reportingComponent", EVENTS_COMPONENT);
        add_string(b, "reportingInstance", host);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        return json_to_string(root, FALSE);
}

/* The metrics count posted, and dropped for any reason (full queue, refused, unreachable). */
static void count(Events *self, guint64 *counter, MetricId id)
{
        tsan_mutex_lock(&self->lock);
        (*counter)++;
        tsan_mutex_unlock(&self->lock);
        metrics_add(kube_client_get_metrics(self->client), id, 0, 1);
}

/* One warning until the next success: a cluster without RBAC for events (403) must not fill
 * the journal, and operations never notice. */
static void send_failed(Events *self, const Pending *p, const GError *error)
{
        count(self, &self->counters.failed, METRIC_EVENTS_DROPPED);
        if (self->warned) {
                g_debug("Event %s about %s not posted: %s", p->reason, p->pv_name, error->message);
                return;
        }
        self->warned = TRUE;
        g_warning("Cannot post Kubernetes Events (%s about %s: %s); operations are not affected, "
                  "further failures are only counted",
                  p->reason, p->pv_name, error->message);
}

static void send_succeeded(Events *self)
{
        count(self, &self->counters.posted, METRIC_EVENTS_POSTED);
        self->warned = FALSE;
}

static char *events_path(const char *namespace, const char *name)
{
        g_autofree char *ns = g_uri_escape_string(namespace, NULL, FALSE);
        g_autofree char *escaped = name != NULL ? g_uri_escape_string(name, NULL, FALSE) : NULL;

        if (escaped == NULL)
                return g_strdup_printf("/api/v1/namespaces/%s/events", ns);
        return g_strdup_printf("/api/v1/namespaces/%s/events/%s", ns, escaped);
}

/* A repeat: the first Event's count and lastTimestamp go up. FALSE with *gone when the server
 * no longer has it (then a new one is created). */
static gboolean raise_count(Events *self, Aggregate *a, const Pending *p, gboolean *gone,
                            GError **error)
{
        g_autofree char *path = events_path(a->namespace, a->name);
        g_autofree char *last = format_time(p->at_usec);
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *body = NULL;
        g_autoptr(GBytes) answer = NULL;
        g_autoptr(GError) local = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "count");
        json_builder_add_int_value(b, a->count + 1);
        add_string(b, "lastTimestamp", last);
        add_string(b, "message", p->message);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        body = json_to_string(root, FALSE);
        answer = kube_client_send(self->client, "PATCH", path, STRATEGIC_MERGE_PATCH, body,
                                  KUBE_CLIENT_MAX_OBJECT_BYTES, NULL, &local);
        if (answer != NULL) {
                a->count++;
                a->last_usec = p->at_usec;
                return TRUE;
        }
        *gone = g_error_matches(local, KUBE_CLIENT_ERROR, 404);
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
}

static Aggregate *create_event(Events *self, const Pending *p, GError **error)
{
        EventsObject object = pending_object(p);
        g_autofree char *name = g_strdup_printf("%s.%" G_GINT64_MODIFIER "x",
                                                involved_name(&object), p->at_usec * 1000);
        g_autofree char *body = events_build_body(name, self->host, p->reason, p->type, &object,
                                                  p->message, 1, p->at_usec, p->at_usec);
        g_autofree char *path = events_path(event_namespace(&object), NULL);
        g_autoptr(GBytes) answer =
            kube_client_send(self->client, "POST", path, "application/json", body,
                             KUBE_CLIENT_MAX_OBJECT_BYTES, NULL, error);
        Aggregate *a;

        if (answer == NULL)
                return NULL;
        a = g_new0(Aggregate, 1);
        a->namespace = g_strdup(event_namespace(&object));
        a->name = g_steal_pointer(&name);
        a->count = 1;
        a->first_usec = a->last_usec = p->at_usec;
        return a;
}

/* Keeps the cache bounded: keys past the window go first, then (a burst of distinct Events)
 * all of them; a forgotten key only means a new Event instead of a raised count. */
static void trim_cache(Events *self, gint64 now_usec)
{
        GHashTableIter iter;
        gpointer value;

        if (g_hash_table_size(self->cache) < MAX_CACHED_KEYS)
                return;
        g_hash_table_iter_init(&iter, self->cache);
        while (g_hash_table_iter_next(&iter, NULL, &value))
                if (now_usec - ((Aggregate *)value)->last_usec >
                    EVENTS_REPEAT_WINDOW_SEC * G_USEC_PER_SEC)
                        g_hash_table_iter_remove(&iter);
        if (g_hash_table_size(self->cache) >= MAX_CACHED_KEYS)
                g_hash_table_remove_all(self->cache);
}

static void send_one(Events *self, const Pending *p)
{
        EventsObject object = pending_object(p);
        g_autofree char *key = events_key(self->host, p->reason, p->type, &object, p->message);
        Aggregate *a = g_hash_table_lookup(self->cache, key);
        g_autoptr(GError) error = NULL;
        gboolean gone = FALSE;

        if (a != NULL && p->at_usec - a->last_usec <= EVENTS_REPEAT_WINDOW_SEC * G_USEC_PER_SEC) {
                if (raise_count(self, a, p, &gone, &error)) {
                        send_succeeded(self);
                        return;
                }
                if (!gone) {
                        send_failed(self, p, error);
                        return;
                }
                g_clear_error(&error);
        }
        g_hash_table_remove(self->cache, key);
        a = create_event(self, p, &error);
        if (a == NULL) {
                send_failed(self, p, error);
                return;
        }
        trim_cache(self, p->at_usec);
        g_hash_table_insert(self->cache, g_steal_pointer(&key), a);
        send_succeeded(self);
}

/* The next Pending, NULL when stopping (what is left is dropped and counted). */
static Pending *next_pending(Events *self)
{
        Pending *p = NULL;

        tsan_mutex_lock(&self->lock);
        while (!self->stopping && g_queue_is_empty(&self->queue))
                tsan_cond_wait(&self->wake, &self->lock);
        if (!self->stopping)
                p = g_queue_pop_head(&self->queue);
        tsan_mutex_unlock(&self->lock);
        return p;
}

static gpointer sender_thread(gpointer data)
{
        Events *self = data;
        Pending *p;

        while ((p = next_pending(self)) != NULL) {
                send_one(self, p);
                pending_free(p);
        }
        return NULL;
}

Events *events_new(KubeClient *client, const char *host, guint queue_limit)
{
        Events *self = g_new0(Events, 1);

        self->client = client;
        self->host = g_strdup(host);
        self->limit = MAX(queue_limit, 1);
        g_mutex_init(&self->lock);
        g_cond_init(&self->wake);
        g_queue_init(&self->queue);
        self->cache =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)aggregate_free);
        self->thread = g_thread_new("events", sender_thread, self);
        return self;
}

void events_free(Events *self)
{
        Pending *p;

        if (self == NULL)
                return;
        tsan_mutex_lock(&self->lock);
        self->stopping = TRUE;
        g_cond_broadcast(&self->wake);
        tsan_mutex_unlock(&self->lock);
        g_thread_join(self->thread);
        while ((p = g_queue_pop_head(&self->queue)) != NULL) {
                self->counters.dropped++;
                pending_free(p);
        }
        if (self->counters.posted + self->counters.dropped + self->counters.failed > 0)
                g_message("Kubernetes Events: %" G_GUINT64_FORMAT " posted, %" G_GUINT64_FORMAT
                          " dropped, %" G_GUINT64_FORMAT " failed",
                          self->counters.posted, self->counters.dropped, self->counters.failed);
        g_hash_table_unref(self->cache);
        g_cond_clear(&self->wake);
        g_mutex_clear(&self->lock);
        g_free(self->host);
        g_free(self);
}

void events_post(Events *self, const char *reason, const char *type, const EventsObject *object,
                 const char *message)
{
        Pending *p;

        if (self == NULL)
                return;
        p = g_new0(Pending, 1);
        p->reason = g_strdup(reason);
        p->type = g_strdup(type);
        p->message = g_strdup(message);
        p->pv_name = g_strdup(object->pv_name);
        p->pv_uid = g_strdup(object->pv_uid);
        p->claim_namespace = g_strdup(object->claim_namespace);
        p->claim_name = g_strdup(object->claim_name);
        p->claim_uid = g_strdup(object->claim_uid);
        p->at_usec = g_get_real_time();
        tsan_mutex_lock(&self->lock);
        if (self->stopping || g_queue_get_length(&self->queue) >= self->limit) {
                self->counters.dropped++;
                tsan_mutex_unlock(&self->lock);
                metrics_add(kube_client_get_metrics(self->client), METRIC_EVENTS_DROPPED, 0, 1);
                pending_free(p);
                return;
        }
        g_queue_push_tail(&self->queue, p);
        g_cond_signal(&self->wake);
        tsan_mutex_unlock(&self->lock);
}

void events_get_counters(Events *self, EventsCounters *out)
{
        if (self == NULL) {
                *out = (EventsCounters){0};
                return;
        }
        tsan_mutex_lock(&self->lock);
        *out = self->counters;
        tsan_mutex_unlock(&self->lock);
}
