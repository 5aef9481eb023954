/* SPDX-License-Identifier: MIT */
/* srvlab-bench-driver: a pipelined sd-bus client for bench/run.
 *
 * Keeps up to --depth calls outstanding on each of --connections bus connections (the system
 * bus allows 128 pending replies per connection, so depth is capped at 64) and times every
 * call from the moment it is queued to its reply. Prints one JSON line on stdout. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/names.h"

#define MAX_DEPTH 64
#define ID_MAX 256

typedef enum {
        MODE_PING,
        MODE_TRACK_UNTRACK,
        MODE_TRACK,
        MODE_UNTRACK,
        MODE_TRACK_ONE,
        MODE_TRACK_UNTRACK_ONE,
        MODE_LATENCY,
        MODE_LIST,
        MODE_START,
} Mode;

static const char *const mode_names[] = {
    [MODE_PING] = "ping",           [MODE_TRACK_UNTRACK] = "track-untrack",
    [MODE_TRACK] = "track",         [MODE_UNTRACK] = "untrack",
    [MODE_TRACK_ONE] = "track-one", [MODE_TRACK_UNTRACK_ONE] = "track-untrack-one",
    [MODE_LATENCY] = "latency",     [MODE_LIST] = "list",
    [MODE_START] = "start",
};

typedef struct {
        Mode mode;
        guint64 count;
        guint depth;
        guint connections;
        guint64 start;
        char *prefix;
        char *node;
        gboolean distinct_nodes;
        char *dest;
        guint timeout_sec;
        char *log;
        char *samples;
        char *address;
        gboolean allow_errors;
} Options;

typedef struct _Driver Driver;

typedef struct {
        Driver *driver;
        sd_bus *bus;
        guint64 next; /* next call index of this connection */
        guint64 end;  /* one past its last */
} Conn;

typedef struct {
        Conn *conn;
        guint64 seq;
        guint64 sent_ns;
} Call;

struct _Driver {
        Options opt;
        sd_event *event;
        Conn *conns;
        guint64 *latency_ns; /* per call, indexed by seq */
        guint64 done;
        guint64 errors;
        char *first_error;
        guint64 t_start;
        guint64 t_end;
};

static guint64 now_ns(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

static int issue_next(Conn *c);

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Call *call = userdata;
        Conn *c = call->conn;
        Driver *d = c->driver;
        guint64 t = now_ns(CLOCK_MONOTONIC);

        d->latency_ns[call->seq] = t - call->sent_ns;
        if (sd_bus_message_is_method_error(m, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(m);

                d->errors++;
                if (d->first_error == NULL)
                        d->first_error =
                            g_strdup_printf("%s: %s", e->name, e->message ? e->message : "");
        }
        g_free(call);
        d->done++;
        if (d->done == d->opt.count) {
                d->t_end = t;
                return sd_event_exit(d->event, 0);
        }
        return issue_next(c);
}

static void volume_name(const Driver *d, guint64 index, char buf[ID_MAX])
{
        g_snprintf(buf, ID_MAX, "%s%06" G_GUINT64_FORMAT, d->opt.prefix, index);
}

/* Which call number `seq` is, per mode: Track or Untrack, of which volume, from which node. */
static int send_call(Conn *c, Call *call)
{
        Driver *d = c->driver;
        const Options *o = &d->opt;
        guint64 seq = call->seq;
        gboolean untrack = FALSE;
        char volume[ID_MAX], node[ID_MAX];

        g_strlcpy(node, o->node, sizeof(node));
        switch (o->mode) {
        case MODE_PING:
                return sd_bus_call_method_async(c->bus, NULL, o->dest, BUS_PATH,
                                                "org.freedesktop.DBus.Peer", "Ping", on_reply, call,
                                                NULL);
        case MODE_TRACK_UNTRACK:
                volume_name(d, o->start + seq / 2, volume);
                untrack = seq % 2 == 1;
                break;
        case MODE_TRACK:
        case MODE_LATENCY:
                volume_name(d, o->start + seq, volume);
                break;
        case MODE_UNTRACK:
                volume_name(d, o->start + seq, volume);
                untrack = TRUE;
                break;
        case MODE_TRACK_ONE:
                volume_name(d, o->start, volume);
                if (o->distinct_nodes)
                        g_snprintf(node, sizeof(node), "%s-%" G_GUINT64_FORMAT, o->node, seq);
                break;
        case MODE_TRACK_UNTRACK_ONE:
                volume_name(d, o->start, volume);
                untrack = seq % 2 == 1;
                break;
        default:
                g_assert_not_reached();
        }
        if (untrack)
                return sd_bus_call_method_async(c->bus, NULL, o->dest, BUS_PATH, BUS_INTERFACE,
                                                "Untrack", on_reply, call, "s", volume);
        return sd_bus_call_method_async(c->bus, NULL, o->dest, BUS_PATH, BUS_INTERFACE, "Track",
                                        on_reply, call, "ss", volume, node);
}

static int issue_next(Conn *c)
{
        Call *call;
        int r;

        if (c->next >= c->end)
                return 0;
        call = g_new(Call, 1);
        *call = (Call){.conn = c, .seq = c->next++, .sent_ns = now_ns(CLOCK_MONOTONIC)};
        r = send_call(c, call);
        if (r < 0) {
                fprintf(stderr, "srvlab-bench-driver: cannot send call %" G_GUINT64_FORMAT ": %s\n",
                        call->seq, strerror(-r));
                g_free(call);
                return sd_event_exit(c->driver->event, r);
        }
        return 0;
}

static int open_address(const char *address, sd_bus **ret)
{
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);

        r = r < 0 ? r : sd_bus_set_address(bus, address);
        r = r < 0 ? r : sd_bus_set_bus_client(bus, 1);
        r = r < 0 ? r : sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static sd_bus *connect_bus(const Options *o)
{
        sd_bus *bus = NULL;
        int r = o->address != NULL ? open_address(o->address, &bus) : sd_bus_open_system(&bus);

        if (r < 0) {
                fprintf(stderr, "srvlab-bench-driver: cannot connect to the system bus: %s\n",
                        strerror(-r));
                exit(EXIT_FAILURE);
        }
        sd_bus_set_method_call_timeout(bus, (uint64_t)o->timeout_sec * 1000000u);
        return bus;
}

/* Splits the calls between the connections; track-untrack pairs stay on one connection so
 * that the Untrack of a volume always follows its Track. */
static void split_calls(Driver *d)
{
        guint n = d->opt.connections;

        for (guint i = 0; i < n; i++) {
                Conn *c = &d->conns[i];

                c->driver = d;
                c->next = (d->opt.count * i / n) & ~(guint64)1;
                c->end = i + 1 == n ? d->opt.count : (d->opt.count * (i + 1) / n) & ~(guint64)1;
                c->bus = connect_bus(&d->opt);
                if (sd_bus_attach_event(c->bus, d->event, 0) < 0)
                        exit(EXIT_FAILURE);
        }
}

static int compare_u64(const void *a, const void *b)
{
        guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;

        return x < y ? -1 : x > y;
}

static double percentile_us(const guint64 *sorted, guint64 n, double p)
{
        guint64 i = (guint64)(p * (double)(n - 1) + 0.5);

        return n == 0 ? 0.0 : (double)sorted[i] / 1000.0;
}

static double cpu_seconds(void)
{
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Every call's latency in µs, one a line, in the order the calls were issued. */
static gboolean write_samples(const Driver *d, GError **error)
{
        g_autoptr(GString) out = g_string_sized_new(d->opt.count * 8);

        for (guint64 i = 0; i < d->opt.count; i++)
                g_string_append_printf(out, "%.1f\n", (double)d->latency_ns[i] / 1000.0);
        return g_file_set_contents(d->opt.samples, out->str, (gssize)out->len, error);
}

static void print_pipelined(Driver *d)
{
        const Options *o = &d->opt;
        double secs = (double)(d->t_end - d->t_start) / 1e9;
        double sum = 0;
        g_autoptr(GError) error = NULL;

        if (o->samples != NULL && !write_samples(d, &error))
                fprintf(stderr, "srvlab-bench-driver: %s\n", error->message);
        qsort(d->latency_ns, o->count, sizeof(guint64), compare_u64);
        for (guint64 i = 0; i < o->count; i++)
                sum += (double)d->latency_ns[i];
        printf("{\"mode\":\"%s\",\"calls\":%" G_GUINT64_FORMAT ",\"connections\":%u,"
               "\"depth\":%u,\"errors\":%" G_GUINT64_FORMAT ",\"seconds\":%.6f,"
               "\"rate\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
               "\"mean_us\":%.1f,\"cpu_s\":%.3f",
               mode_names[o->mode], o->count, o->connections, o->depth, d->errors, secs,
               secs > 0 ? (double)o->count / secs : 0.0,
               percentile_us(d->latency_ns, o->count, 0.50),
               percentile_us(d->latency_ns, o->count, 0.99),
               percentile_us(d->latency_ns, o->count, 1.0), sum / (double)o->count / 1000.0,
               cpu_seconds());
        if (d->first_error != NULL) {
                g_autofree char *esc = g_strescape(d->first_error, NULL);
                printf(",\"first_error\":\"%s\"", esc);
        }
        printf("}\n");
}

static int run_pipelined(Driver *d)
{
        int r = sd_event_new(&d->event);

        if (r < 0)
                return r;
        d->conns = g_new0(Conn, d->opt.connections);
        d->latency_ns = g_new0(guint64, d->opt.count);
        split_calls(d);
        d->t_start = now_ns(CLOCK_MONOTONIC);
        for (guint i = 0; i < d->opt.connections; i++)
                for (guint k = 0; k < d->opt.depth; k++)
                        issue_next(&d->conns[i]);
        r = sd_event_loop(d->event);
        if (r < 0 || d->done != d->opt.count) {
                fprintf(stderr,
                        "srvlab-bench-driver: stopped after %" G_GUINT64_FORMAT " calls: %s\n",
                        d->done, strerror(r < 0 ? -r : EIO));
                return EXIT_FAILURE;
        }
        print_pipelined(d);
        return d->errors > 0 && !d->opt.allow_errors ? 3 : EXIT_SUCCESS;
}

/* The size of an a(sst) body as D-Bus marshals it: u32 length, structs 8-aligned, strings
 * 4-aligned with length and NUL, uint64 8-aligned. */
static guint64 align(guint64 offset, guint64 to)
{
        return (offset + to - 1) & ~(to - 1);
}

static guint64 marshalled_string(guint64 offset, const char *s)
{
        return align(offset, 4) + 4 + strlen(s) + 1;
}

static int read_list(sd_bus_message *reply, guint64 *entries, guint64 *body_bytes)
{
        const char *volume, *node;
        uint64_t at;
        guint64 off = 8; /* the array length, then padding to the first struct */
        int r = sd_bus_message_enter_container(reply, 'a', "(sst)");

        *entries = 0;
        while (r >= 0 && (r = sd_bus_message_read(reply, "(sst)", &volume, &node, &at)) > 0) {
                off = align(off, 8);
                off = marshalled_string(off, volume);
                off = marshalled_string(off, node);
                off = align(off, 8) + 8;
                (*entries)++;
        }
        *body_bytes = *entries == 0 ? 4 : off;
        return r;
}

/* List: --count calls one after the other; reports the median and the largest time. */
static int run_list(Driver *d)
{
        sd_bus *bus = connect_bus(&d->opt);
        guint64 n = MAX(d->opt.count, 1), entries = 0, body = 0;
        g_autofree guint64 *times = g_new0(guint64, n);

        for (guint64 i = 0; i < n; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                guint64 t0 = now_ns(CLOCK_MONOTONIC);
                int r = sd_bus_call_method(bus, d->opt.dest, BUS_PATH, BUS_INTERFACE, "List",
                                           &error, &reply, NULL);

                times[i] = now_ns(CLOCK_MONOTONIC) - t0;
                if (r < 0 || read_list(reply, &entries, &body) < 0) {
                        fprintf(stderr, "srvlab-bench-driver: List failed: %s\n",
                                error.message ? error.message : strerror(-r));
                        return EXIT_FAILURE;
                }
                sd_bus_message_unref(reply);
                sd_bus_error_free(&error);
        }
        qsort(times, n, sizeof(guint64), compare_u64);
        printf("{\"mode\":\"list\",\"calls\":%" G_GUINT64_FORMAT ",\"entries\":%" G_GUINT64_FORMAT
               ",\"body_bytes\":%" G_GUINT64_FORMAT ",\"p50_us\":%.1f,\"max_us\":%.1f}\n",
               n, entries, body, percentile_us(times, n, 0.5), percentile_us(times, n, 1.0));
        sd_bus_flush_close_unref(bus);
        return EXIT_SUCCESS;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) >= 0 &&
            new_owner[0] != '\0')
                *(guint64 *)userdata = now_ns(CLOCK_MONOTONIC);
        return 0;
}

static pid_t spawn(const Options *o, char **argv)
{
        pid_t pid = fork();

        if (pid == 0) {
                if (o->log != NULL) {
                        FILE *f = freopen(o->log, "a", stdout);

                        if (f == NULL || dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
                                _exit(127);
                }
                execvp(argv[0], argv);
                fprintf(stderr, "srvlab-bench-driver: cannot run %s: %s\n", argv[0],
                        strerror(errno));
                _exit(127);
        }
        return pid;
}

static gboolean name_has_owner(sd_bus *bus, const char *name)
{
        int owned = 0;
        sd_bus_message *reply = NULL;

        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
                               name) >= 0)
                (void)sd_bus_message_read(reply, "b", &owned);
        sd_bus_message_unref(reply);
        return owned;
}

/* Start: runs the command, prints how long it took from fork() to owning --dest, then waits
 * for it to exit. */
static int run_start(Driver *d, char **argv)
{
        sd_bus *bus = connect_bus(&d->opt);
        g_autofree char *match =
            g_strdup_printf("type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
                            "arg0='%s'",
                            d->opt.dest);
        guint64 owned = 0, t0, deadline;
        int status;
        pid_t pid;

        if (sd_bus_add_match(bus, NULL, match, on_owner_changed, &owned) < 0 ||
            name_has_owner(bus, d->opt.dest)) {
                fprintf(stderr, "srvlab-bench-driver: %s is already owned\n", d->opt.dest);
                return EXIT_FAILURE;
        }
        t0 = now_ns(CLOCK_MONOTONIC);
        deadline = t0 + (guint64)d->opt.timeout_sec * 1000000000u;
        pid = spawn(&d->opt, argv);
        while (owned == 0) {
                if (sd_bus_process(bus, NULL) > 0)
                        continue;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        fprintf(stderr, "srvlab-bench-driver: %s exited before owning %s\n",
                                argv[0], d->opt.dest);
                        return EXIT_FAILURE;
                }
                if (now_ns(CLOCK_MONOTONIC) > deadline) {
                        kill(pid, SIGTERM);
                        fprintf(stderr, "srvlab-bench-driver: %s did not own %s in time\n", argv[0],
                                d->opt.dest);
                        return EXIT_FAILURE;
                }
                (void)sd_bus_wait(bus, 50000);
        }
        printf("{\"mode\":\"start\",\"pid\":%d,\"seconds\":%.6f}\n", (int)pid,
               (double)(owned - t0) / 1e9);
        fflush(stdout);
        sd_bus_flush_close_unref(bus);
        /* Stays the daemon's parent, so that it is reaped and its exit status reported. */
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static gboolean parse_mode(const char *name, Mode *mode)
{
        for (guint i = 0; i < G_N_ELEMENTS(mode_names); i++) {
                if (g_str_equal(name, mode_names[i])) {
                        *mode = (Mode)i;
                        return TRUE;
                }
        }
        return FALSE;
}

static gboolean parse_options(int *argc, char ***argv, Options *o, GError **error)
{
        g_autofree char *mode = NULL;
        gint64 count = 1000, start = 0;
        int depth = 64, conns = 1, timeout = 600;
        GOptionEntry entries[] = {
            {"mode", 'm', 0, G_OPTION_ARG_STRING, &mode,
             "ping, track-untrack, track, untrack, track-one, track-untrack-one, latency, "
             "list or start",
             "MODE"},
            {"count", 'n', 0, G_OPTION_ARG_INT64, &count, "Calls in all (default 1000)", "N"},
            {"depth", 'd', 0, G_OPTION_ARG_INT, &depth,
             "Outstanding calls per connection, 1..64 (default 64)", "D"},
            {"connections", 'c', 0, G_OPTION_ARG_INT, &conns, "Connections (default 1)", "C"},
            {"prefix", 'p', 0, G_OPTION_ARG_STRING, &o->prefix,
             "Volume names: PREFIX + 6-digit index (default pv-)", "PREFIX"},
            {"start", 's', 0, G_OPTION_ARG_INT64, &start, "First volume index", "I"},
            {"node", 0, 0, G_OPTION_ARG_STRING, &o->node, "Node id (default node-1)", "NODE"},
            {"distinct-nodes", 0, 0, G_OPTION_ARG_NONE, &o->distinct_nodes,
             "track-one: a different node for every call (NODE-SEQ)", NULL},
            {"allow-errors", 0, 0, G_OPTION_ARG_NONE, &o->allow_errors,
             "Error replies are expected: exit 0 anyway", NULL},
            {"dest", 0, 0, G_OPTION_ARG_STRING, &o->dest, "Bus name (default " BUS_NAME ")",
             "NAME"},
            {"timeout", 't', 0, G_OPTION_ARG_INT, &timeout,
             "Call timeout and start timeout in seconds (default 600)", "SEC"},
            {"log", 0, 0, G_OPTION_ARG_FILENAME, &o->log,
             "start: the command's stdout and stderr go here", "FILE"},
            {"samples", 0, 0, G_OPTION_ARG_FILENAME, &o->samples,
             "Write every call's latency (µs, one a line) here", "FILE"},
            {"address", 0, 0, G_OPTION_ARG_STRING, &o->address,
             "Connect to this bus address (default: the system bus)", "ADDRESS"},
            G_OPTION_ENTRY_NULL,
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("[-- COMMAND... (start)]");

        g_option_context_set_summary(ctx, "Pipelined sd-bus benchmark client for "
                                          "org.srvlab.Attachment1; prints one JSON line.");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, argc, argv, error))
                return FALSE;
        if (mode == NULL || !parse_mode(mode, &o->mode) || count < 1 || depth < 1 ||
            depth > MAX_DEPTH || conns < 1 || start < 0 || timeout < 1) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "bad --mode, --count, --depth (1..%d), --connections, --start or "
                            "--timeout",
                            MAX_DEPTH);
                return FALSE;
        }
        o->count = (guint64)count;
        o->start = (guint64)start;
        o->depth = (guint)depth;
        o->connections = (guint)conns;
        o->timeout_sec = (guint)timeout;
        return TRUE;
}

int main(int argc, char **argv)
{
        Driver d = {0};
        g_autoptr(GError) error = NULL;

        if (!parse_options(&argc, &argv, &d.opt, &error)) {
                fprintf(stderr, "srvlab-bench-driver: %s (see --help)\n", error->message);
                return 2;
        }
        if (d.opt.prefix == NULL)
                d.opt.prefix = g_strdup("pv-");
        if (d.opt.node == NULL)
                d.opt.node = g_strdup("node-1");
        if (d.opt.dest == NULL)
                d.opt.dest = g_strdup(BUS_NAME);
        if (d.opt.mode == MODE_LATENCY)
                d.opt.depth = d.opt.connections = 1;
        if (d.opt.mode == MODE_START) {
                if (argc < 2 || !g_str_equal(argv[1], "--") || argc < 3) {
                        fprintf(stderr, "srvlab-bench-driver: start needs -- COMMAND\n");
                        return 2;
                }
                return run_start(&d, argv + 2);
        }
        if (d.opt.mode == MODE_LIST)
                return run_list(&d);
        return run_pipelined(&d);
}
