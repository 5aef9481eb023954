/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* The daemon's Prometheus metrics (DESIGN §11): a fixed registry of counters, gauges and
 * histograms, each with labels drawn from fixed value lists, so that the number of series is
 * known at build time (never a volume or node id as a label). Every update is a relaxed
 * atomic add or store on a preallocated cell: safe and wait-free from the bus thread, the
 * workers, the watch thread and the metrics server's thread, never a lock.
 *
 * Every function accepts a NULL registry and then does nothing, so the parts of the daemon
 * (and the unit tests that build them without one) need no "metrics on?" checks. */
typedef struct _Metrics Metrics;

/* The families, in the order they are exposed. */
typedef enum {
        METRIC_BUILD_INFO,
        METRIC_OPERATIONS,         /* counter {method, outcome} */
        METRIC_OPERATION_DURATION, /* histogram {method} */
        METRIC_API_REQUESTS,       /* counter {method, code} */
        METRIC_API_DURATION,       /* histogram {method} */
        METRIC_CONFLICTS_RETRIED,  /* counter */
        METRIC_WATCH_RESTARTS,     /* counter {resource, cause} */
        METRIC_WATCH_RELISTS,      /* counter {resource} */
        METRIC_WATCH_CONNECTED,    /* gauge {resource} */
        METRIC_ATTACHMENTS,        /* gauge */
        METRIC_SHARED_VOLUMES,     /* gauge (issue 13) */
        METRIC_OPERATIONS_QUEUED,  /* gauge */
        METRIC_STALE_CLEARED,      /* counter (issue 13) */
        METRIC_MIGRATIONS_STARTED, /* counter (issue 13) */
        METRIC_MIGRATIONS_COMPLETED,
        METRIC_MIGRATIONS_OVERDUE,
        METRIC_EVENTS_POSTED, /* counter (issue 13) */
        METRIC_EVENTS_DROPPED,
        METRIC_N_FAMILIES,
} MetricId;

/* The D-Bus methods that change attachments (label method= of the operation families). */
typedef enum {
        METRICS_OP_TRACK,
        METRICS_OP_TRACK_SHARED,
        METRICS_OP_UNTRACK,
        METRICS_OP_UNTRACK_NODE,
} MetricsOperation;

/* Called at the start of every exposition, on the metrics server's thread, to refresh gauges
 * that are cheaper to read than to maintain (the attachment count). */
typedef void (*MetricsCollectFunc)(Metrics *metrics, gpointer user_data);

Metrics *metrics_new(const char *version);
void metrics_free(Metrics *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Metrics, metrics_free)

/* Set before the server starts; cleared (NULL) before whatever user_data points to goes. */
void metrics_set_collector(Metrics *self, MetricsCollectFunc func, gpointer user_data);

/* The generic updates. `series` is the index of the label combination: the first label's
 * value index times the number of values of the second, plus the second's (0 without
 * labels). An index out of range is ignored. */
void metrics_add(Metrics *self, MetricId id, guint series, guint64 n);
void metrics_set(Metrics *self, MetricId id, guint series, gint64 value);
void metrics_observe_usec(Metrics *self, MetricId id, guint series, gint64 usec);
/* The current value of a counter or gauge cell, or a histogram's count (tests, collectors). */
gint64 metrics_get(Metrics *self, MetricId id, guint series);

/* The hooks the daemon's parts call, one per event. */
/* A Track/Untrack/... answered: outcome from `error` (NULL: ok), duration since `started_usec`
 * (g_get_monotonic_time()). */
void metrics_operation(Metrics *self, MetricsOperation op, const GError *error,
                       gint64 started_usec);
/* One HTTP exchange with the API server: `status` 0 when no response arrived. */
void metrics_api_request(Metrics *self, const char *method, guint status, gint64 started_usec);
void metrics_conflict_retried(Metrics *self);
/* `path`: the reflector's collection ("/api/v1/persistentvolumes"); its last segment is the
 * resource label when it is one we know, else "other". `failed`: the stream broke or was
 * refused, rather than ended by the server. */
void metrics_watch_restart(Metrics *self, const char *path, gboolean failed);
void metrics_watch_relist(Metrics *self, const char *path);
void metrics_watch_connected(Metrics *self, const char *path, gboolean connected);

/* The exposition, Prometheus text format 0.0.4. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
GString *metrics_render(Metrics *self);
