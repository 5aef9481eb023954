/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <string.h>

#include "errors.h"

#define PREFIX "srvlab_attachment_"
#define N_BUCKETS G_N_ELEMENTS(bucket_usec)

/* Upper bounds in µs: a Track on loopback takes ~1 ms, a loaded API server tens, a timeout
 * RequestTimeoutSec=10. (+Inf is implicit.) */
static const gint64 bucket_usec[] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

typedef enum {
        KIND_COUNTER,
        KIND_GAUGE,
        KIND_HISTOGRAM,
} Kind;

typedef struct {
        const char *name;
        const char *const *values;
        guint n;
} Label;

#define LABEL(var, label_name, ...)                                                                \
        static const char *const var##_values[] = {__VA_ARGS__};                                   \
        static const Label var = {label_name, var##_values, G_N_ELEMENTS(var##_values)}

LABEL(op_method, "method", "Track", "TrackShared", "Untrack", "UntrackNode");
/* One per error an operation can answer; "error" for anything else. */
LABEL(outcome, "outcome", "ok", "already_attached", "volume_not_found", "store_failed",
      "invalid_args", "access_denied", "limits_exceeded", "shutting_down", "error");
LABEL(http_method, "method", "GET", "PATCH", "PUT", "POST", "DELETE", "other");
/* The statuses the API server is known to answer; any other by class; "none": no response
 * (connection refused or dropped, timeout, TLS). */
LABEL(http_code, "code", "none", "200", "201", "400", "401", "403", "404", "409", "410", "422",
      "429", "500", "502", "503", "504", "1xx", "2xx", "3xx", "4xx", "5xx");
LABEL(resource, "resource", "persistentvolumes", "nodes", "other");
LABEL(cause, "cause", "ended", "failed");

typedef struct {
        const char *name; /* without PREFIX */
        Kind kind;
        const Label *labels[2];
        gboolean sparse; /* a series is exposed once touched, not from the start */
        const char *help;
} Family;

/* The shared-attachment and migration families, and the TrackShared/UntrackNode rows, have
 * no hook yet: they are exposed at zero now so that dashboards and alerts can be written
 * against them; issue 13 (shared attachments, migrations) adds their calls. The reconciler
 * counts METRIC_STALE_CLEARED (store-kube-nodes.c), the Events sender the two Events
 * families (events.c). */
#define FAMILY(id, name, kind, label0, label1, sparse, help)                                       \
        [id] = {name, kind, {label0, label1}, sparse, help}

static const Family families[METRIC_N_FAMILIES] = {
    FAMILY(METRIC_BUILD_INFO, "build_info", KIND_GAUGE, NULL, NULL, FALSE,
           "Always 1; the version label is the daemon's version."),
    FAMILY(METRIC_OPERATIONS, "operations_total", KIND_COUNTER, &op_method, &outcome, FALSE,
           "Attachment changes answered, by D-Bus method and outcome."),
    FAMILY(METRIC_OPERATION_DURATION, "operation_duration_seconds", KIND_HISTOGRAM, &op_method,
           NULL, FALSE, "Time from a Track/Untrack call's arrival to its answer."),
    FAMILY(METRIC_API_REQUESTS, "api_requests_total", KIND_COUNTER, &http_method, &http_code, TRUE,
           "HTTP requests to the Kubernetes API server, by method and status code (none: no "
           "response)."),
    FAMILY(METRIC_API_DURATION, "api_request_duration_seconds", KIND_HISTOGRAM, &http_method, NULL,
           TRUE,
           "Time of one HTTP exchange with the API server, body included (for a watch: until the "
           "response headers)."),
    FAMILY(METRIC_CONFLICTS_RETRIED, "conflicts_retried_total", KIND_COUNTER, NULL, NULL, FALSE,
           "Conditional writes answered 409 Conflict, re-read and retried."),
    FAMILY(METRIC_WATCH_RESTARTS, "watch_restarts_total", KIND_COUNTER, &resource, &cause, TRUE,
           "Watches resumed from their resourceVersion: ended by the server (timeoutSeconds), or "
           "failed."),
    FAMILY(METRIC_WATCH_RELISTS, "watch_relists_total", KIND_COUNTER, &resource, NULL, TRUE,
           "Fresh LISTs because a watch could not resume (410 Expired)."),
    FAMILY(METRIC_WATCH_CONNECTED, "watch_connected", KIND_GAUGE, &resource, NULL, TRUE,
           "1 while a watch stream is open, else 0."),
    FAMILY(METRIC_ATTACHMENTS, "attachments", KIND_GAUGE, NULL, NULL, FALSE,
           "Attachments in the table (AttachmentCount)."),
    FAMILY(METRIC_SHARED_VOLUMES, "shared_volumes", KIND_GAUGE, NULL, NULL, FALSE,
           "Volumes held by two nodes for a live migration."),
    FAMILY(METRIC_OPERATIONS_QUEUED, "operations_queued", KIND_GAUGE, NULL, NULL, FALSE,
           "Track/Untrack operations queued or running on a worker (bounded by QueueLimit=)."),
    FAMILY(METRIC_STALE_CLEARED, "stale_attachments_cleared_total", KIND_COUNTER, NULL, NULL, FALSE,
           "Attachments cleared because their node was deleted or out of service."),
    FAMILY(METRIC_MIGRATIONS_STARTED, "migrations_started_total", KIND_COUNTER, NULL, NULL, FALSE,
           "Volumes that gained a second node."),
    FAMILY(METRIC_MIGRATIONS_COMPLETED, "migrations_completed_total", KIND_COUNTER, NULL, NULL,
           FALSE, "Shared volumes back to one node."),
    FAMILY(METRIC_MIGRATIONS_OVERDUE, "migrations_overdue_total", KIND_COUNTER, NULL, NULL, FALSE,
           "MigrationOverdue signals: two nodes held a volume longer than MigrationTimeoutSec=."),
    FAMILY(METRIC_EVENTS_POSTED, "events_posted_total", KIND_COUNTER, NULL, NULL, FALSE,
           "Kubernetes Events created or updated."),
    FAMILY(METRIC_EVENTS_DROPPED, "events_dropped_total", KIND_COUNTER, NULL, NULL, FALSE,
           "Kubernetes Events dropped: queue full or API refused."),
};

/* A counter or gauge series is one cell; a histogram series is N_BUCKETS + 1 bucket counts
 * (not cumulative, the last one +Inf) and the sum in µs. */
typedef struct {
        guint n_series;
        guint stride;
        gint64 *cells;
        gint *touched;
} Cells;

struct _Metrics {
        char *version;
        Cells cells[METRIC_N_FAMILIES];
        MetricsCollectFunc collect;
        gpointer collect_data;
};

static guint label_count(const Label *label)
{
        return label != NULL ? label->n : 1;
}

Metrics *metrics_new(const char *version)
{
        Metrics *self = g_new0(Metrics, 1);

        self->version = g_strdup(version);
        for (guint id = 0; id < METRIC_N_FAMILIES; id++) {
                const Family *f = &families[id];
                Cells *c = &self->cells[id];

                c->n_series = label_count(f->labels[0]) * label_count(f->labels[1]);
                c->stride = f->kind == KIND_HISTOGRAM ? N_BUCKETS + 2 : 1;
                c->cells = g_new0(gint64, (gsize)c->n_series * c->stride);
                c->touched = g_new0(gint, c->n_series);
        }
        metrics_set(self, METRIC_BUILD_INFO, 0, 1);
        return self;
}

void metrics_free(Metrics *self)
{
        if (self == NULL)
                return;
        for (guint id = 0; id < METRIC_N_FAMILIES; id++) {
                g_free(self->cells[id].cells);
                g_free(self->cells[id].touched);
        }
        g_free(self->version);
        g_free(self);
}

void metrics_set_collector(Metrics *self, MetricsCollectFunc func, gpointer user_data)
{
        if (self == NULL)
                return;
        self->collect = func;
        self->collect_data = user_data;
}

/* The first cell of a series, marked as seen; NULL when out of range. */
static gint64 *series_cells(Metrics *self, MetricId id, guint series)
{
        Cells *c;

        if (self == NULL || id >= METRIC_N_FAMILIES || series >= self->cells[id].n_series)
                return NULL;
        c = &self->cells[id];
        if (!__atomic_load_n(&c->touched[series], __ATOMIC_RELAXED))
                __atomic_store_n(&c->touched[series], 1, __ATOMIC_RELAXED);
        return &c->cells[(gsize)series * c->stride];
}

void metrics_add(Metrics *self, MetricId id, guint series, guint64 n)
{
        gint64 *cell = series_cells(self, id, series);

        if (cell != NULL)
                __atomic_fetch_add(cell, (gint64)n, __ATOMIC_RELAXED);
}

void metrics_set(Metrics *self, MetricId id, guint series, gint64 value)
{
        gint64 *cell = series_cells(self, id, series);

        if (cell != NULL)
                __atomic_store_n(cell, value, __ATOMIC_RELAXED);
}

void metrics_observe_usec(Metrics *self, MetricId id, guint series, gint64 usec)
{
        gint64 *cell = families[id < METRIC_N_FAMILIES ? id : 0].kind == KIND_HISTOGRAM
                           ? series_cells(self, id, series)
                           : NULL;
        guint b = 0;

        if (cell == NULL)
                return;
        usec = MAX(usec, 0);
        while (b < N_BUCKETS && usec > bucket_usec[b])
                b++;
        __atomic_fetch_add(&cell[b], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&cell[N_BUCKETS + 1], usec, __ATOMIC_RELAXED);
}

gint64 metrics_get(Metrics *self, MetricId id, guint series)
{
        gint64 total = 0;
        const gint64 *cell;

        if (self == NULL || id >= METRIC_N_FAMILIES || series >= self->cells[id].n_series)
                return 0;
        cell = &self->cells[id].cells[(gsize)series * self->cells[id].stride];
        if (families[id].kind != KIND_HISTOGRAM)
                return __atomic_load_n(cell, __ATOMIC_RELAXED);
        for (guint b = 0; b <= N_BUCKETS; b++)
                total += __atomic_load_n(&cell[b], __ATOMIC_RELAXED);
        return total;
}

/* The index of `value` in `label`, or of its last value ("other", "error") when absent. */
static guint label_index(const Label *label, const char *value)
{
        for (guint i = 0; value != NULL && i < label->n; i++)
                if (g_str_equal(label->values[i], value))
                        return i;
        return label->n - 1;
}

static const char *operation_outcome(const GError *error)
{
        if (error == NULL)
                return "ok";
        if (error->domain != ATTACHMENT_ERROR)
                return NULL;
        switch ((AttachmentError)error->code) {
        case ATTACHMENT_ERROR_ALREADY_ATTACHED:
                return "already_attached";
        case ATTACHMENT_ERROR_NOT_FOUND:
                return "volume_not_found";
        case ATTACHMENT_ERROR_FAILED:
                return "store_failed";
        case ATTACHMENT_ERROR_INVALID_ARGS:
                return "invalid_args";
        case ATTACHMENT_ERROR_ACCESS_DENIED:
                return "access_denied";
        case ATTACHMENT_ERROR_LIMITS_EXCEEDED:
                return "limits_exceeded";
        case ATTACHMENT_ERROR_SHUTTING_DOWN:
                return "shutting_down";
        case ATTACHMENT_ERROR_NOT_ATTACHED:
                break;
        }
        return NULL;
}

void metrics_operation(Metrics *self, MetricsOperation op, const GError *error, gint64 started_usec)
{
        if (self == NULL || op >= op_method.n)
                return;
        metrics_add(self, METRIC_OPERATIONS,
                    op * outcome.n + label_index(&outcome, operation_outcome(error)), 1);
        metrics_observe_usec(self, METRIC_OPERATION_DURATION, op,
                             g_get_monotonic_time() - started_usec);
}

static guint code_index(guint status)
{
        char text[8];

        if (status == 0)
                return 0;
        g_snprintf(text, sizeof(text), "%u", status);
        for (guint i = 1; i < http_code.n; i++)
                if (g_str_equal(http_code.values[i], text))
                        return i;
        text[1] = text[2] = 'x';
        text[3] = '\0';
        for (guint i = 1; i < http_code.n; i++)
                if (g_str_equal(http_code.values[i], text))
                        return i;
        return http_code.n - 1; /* 600 and above: call it a server error */
}

void metrics_api_request(Metrics *self, const char *method, guint status, gint64 started_usec)
{
        guint m;

        if (self == NULL)
                return;
        m = label_index(&http_method, method);
        metrics_add(self, METRIC_API_REQUESTS, m * http_code.n + code_index(status), 1);
        metrics_observe_usec(self, METRIC_API_DURATION, m, g_get_monotonic_time() - started_usec);
}

void metrics_conflict_retried(Metrics *self)
{
        metrics_add(self, METRIC_CONFLICTS_RETRIED, 0, 1);
}

static guint resource_index(const char *path)
{
        const char *slash = path != NULL ? strrchr(path, '/') : NULL;

        return label_index(&resource, slash != NULL ? slash + 1 : path);
}

void metrics_watch_restart(Metrics *self, const char *path, gboolean failed)
{
        metrics_add(self, METRIC_WATCH_RESTARTS, resource_index(path) * cause.n + (failed ? 1 : 0),
                    1);
}

void metrics_watch_relist(Metrics *self, const char *path)
{
        metrics_add(self, METRIC_WATCH_RELISTS, resource_index(path), 1);
}

void metrics_watch_connected(Metrics *self, const char *path, gboolean connected)
{
        metrics_set(self, METRIC_WATCH_CONNECTED, resource_index(path), connected ? 1 : 0);
}

/* {a="x",b="y"} for `series`, with `extra` (le="...") appended; "" without labels. */
static void append_labels(GString *out, const Family *f, guint series, const char *extra)
{
        guint n1 = label_count(f->labels[1]);
        guint values[2] = {series / n1, series % n1};
        gboolean any = FALSE;

        for (guint l = 0; l < 2; l++) {
                if (f->labels[l] == NULL)
                        continue;
                g_string_append_printf(out, "%s%s=\"%s\"", any ? "," : "{", f->labels[l]->name,
                                       f->labels[l]->values[values[l]]);
                any = TRUE;
        }
        if (extra != NULL)
                g_string_append_printf(out, "%s%s", any ? "," : "{", extra);
        if (any || extra != NULL)
                g_string_append_c(out, '}');
}

static void render_histogram(GString *out, const Family *f, guint series, const gint64 *cell)
{
        char sum[G_ASCII_DTOSTR_BUF_SIZE];
        gint64 cumulative = 0;

        for (guint b = 0; b <= N_BUCKETS; b++) {
                char num[G_ASCII_DTOSTR_BUF_SIZE] = "+Inf";
                char le[G_ASCII_DTOSTR_BUF_SIZE + 8];

                /* g_ascii_formatd: a locale's decimal comma is not the format's. */
                if (b < N_BUCKETS)
                        g_ascii_formatd(num, sizeof(num), "%g", bucket_usec[b] / 1e6);
                g_snprintf(le, sizeof(le), "le=\"%s\"", num);
                cumulative += __atomic_load_n(&cell[b], __ATOMIC_RELAXED);
                g_string_append_printf(out, PREFIX "%s_bucket", f->name);
                append_labels(out, f, series, le);
                g_string_append_printf(out, " %" G_GINT64_FORMAT "\n", cumulative);
        }
        /* The count is the +Inf bucket's, so the two always agree; the sum may lag an
         * observation being added. */
        g_ascii_formatd(sum, sizeof(sum), "%.6f",
                        __atomic_load_n(&cell[N_BUCKETS + 1], __ATOMIC_RELAXED) / 1e6);
        g_string_append_printf(out, PREFIX "%s_sum", f->name);
        append_labels(out, f, series, NULL);
        g_string_append_printf(out, " %s\n", sum);
        g_string_append_printf(out, PREFIX "%s_count", f->name);
        append_labels(out, f, series, NULL);
        g_string_append_printf(out, " %" G_GINT64_FORMAT "\n", cumulative);
}

static void render_build_info(Metrics *self, GString *out)
{
        g_autofree char *escaped = g_strescape(self->version, NULL);

        g_string_append_printf(out, PREFIX "%s{version=\"%s\"} 1\n",
                               families[METRIC_BUILD_INFO].name, escaped);
}

static void render_family(Metrics *self, GString *out, MetricId id)
{
        const Family *f = &families[id];
        const Cells *c = &self->cells[id];
        static const char *const kinds[] = {"counter", "gauge", "histogram"};

        g_string_append_printf(out, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", f->name,
                               f->help, f->name, kinds[f->kind]);
        if (id == METRIC_BUILD_INFO) {
                render_build_info(self, out);
                return;
        }
        for (guint s = 0; s < c->n_series; s++) {
                const gint64 *cell = &c->cells[(gsize)s * c->stride];

                if (f->sparse && !__atomic_load_n(&c->touched[s], __ATOMIC_RELAXED))
                        continue;
                if (f->kind == KIND_HISTOGRAM) {
                        render_histogram(out, f, s, cell);
                        continue;
                }
                g_string_append_printf(out, PREFIX "%s", f->name);
                append_labels(out, f, s, NULL);
                g_string_append_printf(out, " %" G_GINT64_FORMAT "\n",
                                       __atomic_load_n(cell, __ATOMIC_RELAXED));
        }
}

GString *metrics_render(Metrics *self)
{
        GString *out = g_string_sized_new(16384);

        if (self == NULL)
                return out;
        if (self->collect != NULL)
                self->collect(self, self->collect_data);
        for (guint id = 0; id < METRIC_N_FAMILIES; id++)
                render_family(self, out, id);
        return out;
}
