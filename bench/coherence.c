/* SPDX-License-Identifier: MIT */
/* srvlab-bench-coherence: the coherence lag between daemons (issue 10, issue 15 row 5).
 *
 *   srvlab-bench-coherence --call=ADDR --observe=ADDR [--observe=ADDR...] [--count=N]
 *                          [--prefix=P] [--start=I] [--node=NODE] [--timeout=SEC]
 *
 * One Track at a time through the daemon on bus --call; for each, the time from its reply to
 * the Attached signal of the same volume on every --observe bus (each another daemon on the
 * same API server, which learns of the change only through its watch). Prints one JSON line:
 * p50/p99/max of the lag to the last observer, the same per observer, how many signals came
 * before the reply (counted as lag 0) and how many never came within --timeout ("missed": a
 * result that bench/run reports as a missed goal, not a failure to run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/names.h"

#define MAX_OBSERVERS 8

typedef struct _Run Run;

typedef struct {
        Run *run;
        sd_bus *bus;
        guint64 seen_ns; /* when this op's Attached arrived; 0: not yet */
        guint64 *lag_ns; /* per op */
} Observer;

struct _Run {
        sd_event *event;
        sd_bus *caller;
        Observer observers[MAX_OBSERVERS];
        guint n_observers;
        char volume[256]; /* the op in flight */
        guint64 replied_ns;
        gboolean failed;
        guint64 early, missed;
};

static guint64 now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

static gboolean op_done(const Run *run)
{
        if (run->replied_ns == 0)
                return FALSE;
        for (guint i = 0; i < run->n_observers; i++)
                if (run->observers[i].seen_ns == 0)
                        return FALSE;
        return TRUE;
}

static int on_attached(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Observer *o = userdata;
        const char *volume = NULL;

        if (sd_bus_message_read(m, "s", &volume) < 0 || o->seen_ns != 0 ||
            strcmp(volume, o->run->volume) != 0)
                return 0;
        o->seen_ns = now_ns();
        return 0;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Run *run = userdata;

        run->replied_ns = now_ns();
        if (sd_bus_message_is_method_error(m, NULL)) {
                fprintf(stderr, "srvlab-bench-coherence: Track %s: %s\n", run->volume,
                        sd_bus_message_get_error(m)->message);
                run->failed = TRUE;
        }
        return 0;
}

static sd_bus *connect_to(const char *address, sd_event *event)
{
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);

        r = r < 0 ? r : sd_bus_set_address(bus, address);
        r = r < 0 ? r : sd_bus_set_bus_client(bus, 1);
        r = r < 0 ? r : sd_bus_start(bus);
        r = r < 0 ? r : sd_bus_attach_event(bus, event, 0);
        if (r < 0) {
                fprintf(stderr, "srvlab-bench-coherence: cannot connect to %s: %s\n", address,
                        strerror(-r));
                exit(EXIT_FAILURE);
        }
        return bus;
}

/* One Track and its signals; records each observer's lag (a signal before the reply: 0). */
static void run_op(Run *run, guint64 op, const char *node, guint timeout_sec)
{
        guint64 deadline = now_ns() + (guint64)timeout_sec * 1000000000u, now;
        int r;

        run->replied_ns = 0;
        for (guint i = 0; i < run->n_observers; i++)
                run->observers[i].seen_ns = 0;
        r = sd_bus_call_method_async(run->caller, NULL, BUS_NAME, BUS_PATH, BUS_INTERFACE, "Track",
                                     on_reply, run, "ss", run->volume, node);
        if (r < 0) {
                fprintf(stderr, "srvlab-bench-coherence: cannot send Track %s: %s\n", run->volume,
                        strerror(-r));
                run->failed = TRUE;
                return;
        }
        /* Not sd_event_loop: its exit would close the buses (sd-bus's exit handler). */
        while (!op_done(run) && !run->failed && (now = now_ns()) < deadline)
                if (sd_event_run(run->event, (deadline - now) / 1000u) < 0)
                        run->failed = TRUE;
        if (run->failed)
                return;
        if (!op_done(run)) {
                run->missed++;
                return;
        }
        for (guint i = 0; i < run->n_observers; i++) {
                Observer *o = &run->observers[i];

                run->early += o->seen_ns < run->replied_ns;
                o->lag_ns[op] = o->seen_ns > run->replied_ns ? o->seen_ns - run->replied_ns : 0;
        }
}

static int compare_u64(const void *a, const void *b)
{
        guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;

        return x < y ? -1 : x > y;
}

static void print_stats(const char *key, guint64 *lag, guint64 n)
{
        qsort(lag, n, sizeof(guint64), compare_u64);
        printf("\"%s\":{\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}", key,
               n ? (double)lag[(guint64)(0.50 * (double)(n - 1) + 0.5)] / 1000.0 : 0.0,
               n ? (double)lag[(guint64)(0.99 * (double)(n - 1) + 0.5)] / 1000.0 : 0.0,
               n ? (double)lag[n - 1] / 1000.0 : 0.0);
}

/* The lag to the last observer of each op, then the per-observer figures. */
static void print_result(Run *run, guint64 n)
{
        g_autofree guint64 *last = g_new0(guint64, n);

        for (guint64 op = 0; op < n; op++)
                for (guint i = 0; i < run->n_observers; i++)
                        last[op] = MAX(last[op], run->observers[i].lag_ns[op]);
        printf("{\"calls\":%" G_GUINT64_FORMAT ",\"observers\":%u,\"missed\":%" G_GUINT64_FORMAT
               ",\"early\":%" G_GUINT64_FORMAT ",",
               n, run->n_observers, run->missed, run->early);
        print_stats("last", last, n);
        for (guint i = 0; i < run->n_observers; i++) {
                g_autofree char *key = g_strdup_printf("observer%u", i + 1);

                printf(",");
                print_stats(key, run->observers[i].lag_ns, n);
        }
        printf("}\n");
}

int main(int argc, char **argv)
{
        g_autofree char *call = NULL, *prefix = NULL, *node = NULL;
        g_auto(GStrv) observe = NULL;
        gint64 count = 100, start = 0;
        int timeout = 5;
        GOptionEntry entries[] = {
            {"call", 0, 0, G_OPTION_ARG_STRING, &call, "Bus of the daemon to call", "ADDR"},
            {"observe", 0, 0, G_OPTION_ARG_STRING_ARRAY, &observe, "Bus of another daemon", "ADDR"},
            {"count", 'n', 0, G_OPTION_ARG_INT64, &count, "Tracks (default 100)", "N"},
            {"prefix", 'p', 0, G_OPTION_ARG_STRING, &prefix, "Volume names (default co-)", "P"},
            {"start", 's', 0, G_OPTION_ARG_INT64, &start, "First volume index", "I"},
            {"node", 0, 0, G_OPTION_ARG_STRING, &node, "Node id (default node-1)", "NODE"},
            {"timeout", 't', 0, G_OPTION_ARG_INT, &timeout, "Seconds per op (default 5)", "SEC"},
            G_OPTION_ENTRY_NULL,
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("");
        g_autoptr(GError) error = NULL;
        Run run = {0};

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error) || call == NULL || observe == NULL ||
            g_strv_length(observe) > MAX_OBSERVERS || count < 1 || start < 0 || timeout < 1) {
                fprintf(stderr, "srvlab-bench-coherence: %s (see --help)\n",
                        error != NULL ? error->message : "needs --call and 1-8 --observe");
                return 2;
        }
        if (sd_event_default(&run.event) < 0) {
                fprintf(stderr, "srvlab-bench-coherence: no event loop\n");
                return EXIT_FAILURE;
        }
        run.caller = connect_to(call, run.event);
        for (run.n_observers = 0; observe[run.n_observers] != NULL; run.n_observers++) {
                Observer *o = &run.observers[run.n_observers];

                *o = (Observer){.run = &run, .lag_ns = g_new0(guint64, count)};
                o->bus = connect_to(observe[run.n_observers], run.event);
                if (sd_bus_match_signal(o->bus, NULL, NULL, BUS_PATH, BUS_INTERFACE, "Attached",
                                        on_attached, o) < 0) {
                        fprintf(stderr, "srvlab-bench-coherence: cannot subscribe on %s\n",
                                observe[run.n_observers]);
                        return EXIT_FAILURE;
                }
        }
        for (guint64 op = 0; op < (guint64)count && !run.failed; op++) {
                g_snprintf(run.volume, sizeof(run.volume), "%s%06" G_GUINT64_FORMAT,
                           prefix != NULL ? prefix : "co-", (guint64)start + op);
                run_op(&run, op, node != NULL ? node : "node-1", (guint)timeout);
        }
        if (run.failed)
                return EXIT_FAILURE;
        print_result(&run, (guint64)count);
        return EXIT_SUCCESS; /* missed signals are a result, not a failure to run */
}
