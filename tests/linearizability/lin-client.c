/* SPDX-License-Identifier: MIT */
/* lin-client: records a history of Track/Untrack/Get calls for the linearizability checker.
 *
 * K client threads, each with its own sd-bus connection to one of the given buses (client i
 * uses bus i mod N), call one operation at a time on volumes PREFIX000000.. with a seeded
 * random mix: Track(v, node-1..node-M), an idempotent re-Track (the node of this client's last
 * successful Track of v), Untrack(v) and Get(v). Every call becomes one JSON line (see
 * tests/linearizability/README.md): its interval is taken with CLOCK_MONOTONIC right before
 * the send and right after the reply, so the real call lies inside it. A call without an
 * answer within --timeout-ms is recorded as "timeout" (indeterminate). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-bus.h>

#include "common/names.h"

#define ID_MAX 256

typedef enum { OP_TRACK, OP_RETRACK, OP_UNTRACK, OP_GET, OP_TRACK_SHARED, OP_UNTRACK_NODE } OpKind;

static const char *const op_names[] = {
    [OP_TRACK] = "track", [OP_RETRACK] = "retrack",          [OP_UNTRACK] = "untrack",
    [OP_GET] = "get",     [OP_TRACK_SHARED] = "trackshared", [OP_UNTRACK_NODE] = "untracknode",
};

typedef struct {
        char **buses;
        int clients;
        int volumes;
        int nodes;
        char *prefix;
        int ops;
        double seconds;
        gint64 seed;
        int timeout_ms;
        char *output;
        gboolean shared; /* the mix has TrackShared and UntrackNode (RWX Block volumes) */
} Options;

/* What all client threads share; the mutex guards `out` and the counters. */
typedef struct {
        Options opt;
        FILE *out;
        GMutex lock;
        gint remaining; /* operations left to start (atomic) */
        guint64 deadline_ns;
        guint64 results[8];
} Run;

typedef struct {
        Run *run;
        int id;
        const char *address;
        GRand *rand;
        gint8 *last_node; /* per volume: node index of our last successful Track, -1 none */
        int *tracked;     /* volumes with last_node >= 0, for picking a re-Track */
        int n_tracked;
} Client;

/* One recorded call. */
typedef struct {
        OpKind op;
        int volume;
        int node; /* index, -1 for Untrack and Get */
        guint64 call_ns;
        guint64 return_ns;
        const char *result;
        char *holder; /* AlreadyAttached's holder, Get's node */
        char *error;  /* error name for "error" and "timeout" */
        char *message;
} Record;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static guint64 now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

static void append_json_string(GString *s, const char *text)
{
        g_string_append_c(s, '"');
        for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
                if (*p == '"' || *p == '\\')
                        g_string_append_printf(s, "\\%c", *p);
                else if (*p < 0x20)
                        g_string_append_printf(s, "\\u%04x", *p);
                else
                        g_string_append_c(s, (char)*p);
        }
        g_string_append_c(s, '"');
}

static void append_field(GString *s, const char *key, const char *value)
{
        if (value == NULL)
                return;
        g_string_append_printf(s, ",\"%s\":", key);
        append_json_string(s, value);
}

static void write_record(Client *c, const Record *rec)
{
        Run *run = c->run;
        g_autoptr(GString) s = g_string_new(NULL);
        char volume[ID_MAX], node[32];

        g_snprintf(volume, sizeof(volume), "%s%06d", run->opt.prefix, rec->volume);
        g_snprintf(node, sizeof(node), "node-%d", rec->node + 1);
        g_string_append_printf(s, "{\"client\":%d,\"daemon\":%d,\"op\":\"%s\"", c->id,
                               c->id % (int)g_strv_length(run->opt.buses), op_names[rec->op]);
        append_field(s, "volume", volume);
        append_field(s, "node", rec->node >= 0 ? node : "");
        g_string_append_printf(s, ",\"call\":%" G_GUINT64_FORMAT ",\"return\":%" G_GUINT64_FORMAT,
                               rec->call_ns, rec->return_ns);
        append_field(s, "result", rec->result);
        append_field(s, "holder", rec->holder);
        append_field(s, "error", rec->error);
        append_field(s, "message", rec->message);
        g_string_append(s, "}\n");

        g_mutex_lock(&run->lock);
        fputs(s->str, run->out);
        g_mutex_unlock(&run->lock);
}

/* "volume V already attached to node N" → N, "... to nodes A and B" → "A,B" (NULL when the
 * message has another shape). */
static char *parse_holder(const char *message)
{
        const char *p = message ? strstr(message, " already attached to node") : NULL;
        g_auto(GStrv) words = NULL;

        if (p == NULL)
                return NULL;
        p += strlen(" already attached to node");
        if (*p == ' ')
                return g_strndup(p + 1, strcspn(p + 1, " \t\n"));
        words = g_strsplit(p, " ", -1);
        if (g_strv_length(words) != 4 || !g_str_equal(words[0], "s") ||
            !g_str_equal(words[2], "and"))
                return NULL;
        return g_strconcat(words[1], ",", words[3], NULL);
}

/* The answer's class, as the checker reads it (see README.md). */
static void classify_error(Record *rec, int r, const sd_bus_error *error)
{
        const char *name = sd_bus_error_is_set(error) ? error->name : NULL;

        /* Static strings: `error` is freed before the record is written. */
        static const char *const answers[] = {"AlreadyAttached", "NotAttached", "VolumeNotFound",
                                              "StoreFailed"};

        for (guint i = 0; name != NULL && i < G_N_ELEMENTS(answers); i++)
                if (g_str_has_prefix(name, BUS_ERROR_PREFIX) &&
                    g_str_equal(name + strlen(BUS_ERROR_PREFIX), answers[i]))
                        rec->result = answers[i];
        if (rec->result == NULL)
                rec->result = r == -ETIMEDOUT ? "timeout" : "error";
        if (g_str_equal(rec->result, "AlreadyAttached"))
                rec->holder = parse_holder(error->message);
        if (!g_str_equal(rec->result, "AlreadyAttached") || rec->holder == NULL) {
                rec->error = g_strdup(name ? name : g_strerror(-r));
                rec->message = g_strdup(name && error->message ? error->message : "");
        }
}

static int build_call(sd_bus *bus, const Record *rec, const char *volume, const char *node,
                      sd_bus_message **ret)
{
        static const char *const members[] = {[OP_TRACK] = "Track",
                                              [OP_RETRACK] = "Track",
                                              [OP_UNTRACK] = "Untrack",
                                              [OP_GET] = "Get",
                                              [OP_TRACK_SHARED] = "TrackShared",
                                              [OP_UNTRACK_NODE] = "UntrackNode"};
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_INTERFACE,
                                               members[rec->op]);

        if (r >= 0)
                r = rec->node >= 0 ? sd_bus_message_append(m, "ss", volume, node)
                                   : sd_bus_message_append(m, "s", volume);
        if (r < 0) {
                sd_bus_message_unref(m);
                return r;
        }
        *ret = m;
        return 0;
}

/* Performs rec's call and fills in its interval and answer. */
static void perform(Client *c, sd_bus *bus, Record *rec)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        char volume[ID_MAX], node[32];
        const char *holder = NULL;
        guint64 at;
        int r;

        g_snprintf(volume, sizeof(volume), "%s%06d", c->run->opt.prefix, rec->volume);
        g_snprintf(node, sizeof(node), "node-%d", rec->node + 1);
        r = build_call(bus, rec, volume, node, &m);
        if (r < 0)
                g_error("lin-client: cannot build a call: %s", g_strerror(-r));
        rec->call_ns = now_ns();
        r = sd_bus_call(bus, m, (guint64)c->run->opt.timeout_ms * 1000u, &error, &reply);
        rec->return_ns = now_ns();
        if (r >= 0) {
                rec->result = "ok";
                if (rec->op == OP_GET && sd_bus_message_read(reply, "st", &holder, &at) >= 0)
                        rec->holder = g_strdup(holder);
        } else {
                classify_error(rec, r, &error);
        }
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_error_free(&error);
}

static void remember_track(Client *c, int volume, int node)
{
        if (c->last_node[volume] < 0)
                c->tracked[c->n_tracked++] = volume;
        c->last_node[volume] = (gint8)node;
}

/* With --shared: 30 % TrackShared, 25 % UntrackNode, 10 % Track, 5 % Untrack, 30 % Get, so
 * that volumes spend most of their time held by two nodes. */
static void choose_shared(Client *c, Record *rec)
{
        int dice = g_rand_int_range(c->rand, 0, 100);

        if (dice < 30)
                rec->op = OP_TRACK_SHARED;
        else if (dice < 55)
                rec->op = OP_UNTRACK_NODE;
        else if (dice < 65)
                rec->op = OP_TRACK;
        else if (dice < 70)
                rec->op = OP_UNTRACK;
        else
                rec->op = OP_GET;
        if (rec->op != OP_UNTRACK && rec->op != OP_GET)
                rec->node = g_rand_int_range(c->rand, 0, c->run->opt.nodes);
}

/* The next operation: 35 % Track, 15 % re-Track (when this client has tracked anything),
 * 20 % Untrack, 30 % Get, on a uniformly chosen volume. */
static void choose(Client *c, Record *rec)
{
        const Options *o = &c->run->opt;
        int dice = g_rand_int_range(c->rand, 0, 100);

        *rec = (Record){.volume = g_rand_int_range(c->rand, 0, o->volumes), .node = -1};
        if (o->shared) {
                choose_shared(c, rec);
                return;
        }
        if (dice < 35) {
                rec->op = OP_TRACK;
                rec->node = g_rand_int_range(c->rand, 0, o->nodes);
        } else if (dice < 50 && c->n_tracked > 0) {
                rec->op = OP_RETRACK;
                rec->volume = c->tracked[g_rand_int_range(c->rand, 0, c->n_tracked)];
                rec->node = c->last_node[rec->volume];
        } else if (dice < 70) {
                rec->op = OP_UNTRACK;
        } else {
                rec->op = OP_GET;
        }
}

static gboolean more_work(Run *run)
{
        if (stop_requested || (run->deadline_ns > 0 && now_ns() >= run->deadline_ns))
                return FALSE;
        if (run->opt.ops <= 0)
                return TRUE;
        return g_atomic_int_add(&run->remaining, -1) > 0;
}

static sd_bus *connect_bus(const char *address)
{
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);

        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                g_error("lin-client: cannot connect to %s: %s", address, g_strerror(-r));
        return bus;
}

static void count_result(Run *run, const char *result)
{
        static const char *const classes[] = {
            "ok", "AlreadyAttached", "NotAttached", "VolumeNotFound", "StoreFailed", "timeout"};
        guint i;

        for (i = 0; i < G_N_ELEMENTS(classes) && !g_str_equal(classes[i], result); i++)
                ;
        g_mutex_lock(&run->lock);
        run->results[i]++;
        g_mutex_unlock(&run->lock);
}

static gpointer client_main(gpointer data)
{
        Client *c = data;
        sd_bus *bus = connect_bus(c->address);

        while (more_work(c->run)) {
                Record rec;

                choose(c, &rec);
                perform(c, bus, &rec);
                if (rec.op <= OP_RETRACK && g_str_equal(rec.result, "ok"))
                        remember_track(c, rec.volume, rec.node);
                write_record(c, &rec);
                count_result(c->run, rec.result);
                /* The daemon is away (restarting): do not flood the history with refusals. */
                if (rec.error != NULL &&
                    (strstr(rec.error, "ServiceUnknown") || strstr(rec.error, "NameHasNoOwner")))
                        g_usleep(10000);
                g_free(rec.holder);
                g_free(rec.error);
                g_free(rec.message);
        }
        sd_bus_flush_close_unref(bus);
        return NULL;
}

static gboolean parse_options(int argc, char **argv, Options *o)
{
        GOptionEntry entries[] = {
            {"bus", 'b', 0, G_OPTION_ARG_STRING_ARRAY, &o->buses,
             "a daemon's bus address (repeat; clients are spread over them)", "ADDRESS"},
            {"clients", 'c', 0, G_OPTION_ARG_INT, &o->clients, "client threads (16)", "K"},
            {"volumes", 'v', 0, G_OPTION_ARG_INT, &o->volumes, "volumes (200)", "V"},
            {"nodes", 'n', 0, G_OPTION_ARG_INT, &o->nodes, "nodes node-1.. (4)", "M"},
            {"prefix", 'p', 0, G_OPTION_ARG_STRING, &o->prefix, "volume prefix (vol-)", "P"},
            {"ops", 'o', 0, G_OPTION_ARG_INT, &o->ops, "total operations (0: no bound)", "N"},
            {"seconds", 's', 0, G_OPTION_ARG_DOUBLE, &o->seconds, "run time (0: no bound)", "S"},
            {"seed", 0, 0, G_OPTION_ARG_INT64, &o->seed, "random seed (1)", "SEED"},
            {"timeout-ms", 't', 0, G_OPTION_ARG_INT, &o->timeout_ms,
             "a call without an answer by then is indeterminate (15000)", "MS"},
            {"output", 'w', 0, G_OPTION_ARG_FILENAME, &o->output, "history file (stdout)", "FILE"},
            {"shared", 0, 0, G_OPTION_ARG_NONE, &o->shared,
             "mix in TrackShared and UntrackNode (volumes must be RWX Block)", NULL},
            {NULL}};
        g_autoptr(GOptionContext) ctx = g_option_context_new("- record a history");
        g_autoptr(GError) error = NULL;

        *o = (Options){.clients = 16, .volumes = 200, .nodes = 4, .seed = 1, .timeout_ms = 15000};
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "lin-client: %s\n", error->message);
                return FALSE;
        }
        if (o->prefix == NULL)
                o->prefix = g_strdup("vol-");
        if (o->buses == NULL || o->clients < 1 || o->volumes < 1 || o->nodes < 1 ||
            o->nodes > 100 || (o->ops <= 0 && o->seconds <= 0)) {
                fprintf(stderr, "lin-client: need --bus, positive sizes and --ops or --seconds\n");
                return FALSE;
        }
        return TRUE;
}

static void print_summary(const Run *run, double elapsed)
{
        guint64 total = 0;

        for (guint i = 0; i < G_N_ELEMENTS(run->results); i++)
                total += run->results[i];
        fprintf(stderr,
                "lin-client: %" G_GUINT64_FORMAT " operations in %.1f s: ok %" G_GUINT64_FORMAT
                ", AlreadyAttached %" G_GUINT64_FORMAT ", NotAttached %" G_GUINT64_FORMAT
                ", VolumeNotFound %" G_GUINT64_FORMAT ", StoreFailed %" G_GUINT64_FORMAT
                ", timeout %" G_GUINT64_FORMAT ", other errors %" G_GUINT64_FORMAT "\n",
                total, elapsed, run->results[0], run->results[1], run->results[2], run->results[3],
                run->results[4], run->results[5], run->results[6]);
}

static void run_clients(Run *run)
{
        const Options *o = &run->opt;
        guint n_buses = g_strv_length(o->buses);
        g_autofree Client *clients = g_new0(Client, o->clients);
        g_autofree GThread **threads = g_new0(GThread *, o->clients);

        for (int i = 0; i < o->clients; i++) {
                clients[i] = (Client){.run = run, .id = i, .address = o->buses[i % n_buses]};
                clients[i].rand = g_rand_new_with_seed((guint32)(o->seed * 7919 + i));
                clients[i].last_node = g_new(gint8, o->volumes);
                memset(clients[i].last_node, -1, (size_t)o->volumes);
                clients[i].tracked = g_new(int, o->volumes);
                threads[i] = g_thread_new("lin-client", client_main, &clients[i]);
        }
        for (int i = 0; i < o->clients; i++) {
                g_thread_join(threads[i]);
                g_rand_free(clients[i].rand);
                g_free(clients[i].last_node);
                g_free(clients[i].tracked);
        }
}

int main(int argc, char **argv)
{
        Run run = {0};
        guint64 start;

        if (!parse_options(argc, argv, &run.opt))
                return 2;
        run.out = run.opt.output ? fopen(run.opt.output, "w") : stdout;
        if (run.out == NULL) {
                fprintf(stderr, "lin-client: %s: %s\n", run.opt.output, g_strerror(errno));
                return 2;
        }
        g_mutex_init(&run.lock);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        start = now_ns();
        run.remaining = run.opt.ops;
        if (run.opt.seconds > 0)
                run.deadline_ns = start + (guint64)(run.opt.seconds * 1e9);
        run_clients(&run);
        print_summary(&run, (double)(now_ns() - start) / 1e9);
        if (fclose(run.out) != 0) {
                fprintf(stderr, "lin-client: cannot write the history: %s\n", g_strerror(errno));
                return 1;
        }
        return 0;
}
