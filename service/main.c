/* SPDX-License-Identifier: MIT */
/* srvlab-attachmentd: start-up order, signals, readiness and watchdog. The work is done by
 * bus.c (the D-Bus interface) and manager.c (the table) with a store behind it. */
#include <errno.h>
#include <gio/gio.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bus.h"
#include "config-build.h"
#include "config.h"
#include "log.h"
#include "manager.h"
#include "metrics-server.h"
#include "store-kube.h"

#define STATUS_INTERVAL_USEC (1 * G_USEC_PER_SEC)

typedef struct {
        Config config;
        sd_event *event;
        Manager *manager;
        Bus *bus;
        Metrics *metrics;              /* NULL: MetricsAddress= is empty */
        MetricsServer *metrics_server; /* reads the manager: stopped first */
        sd_event_source *sigterm;
        sd_event_source *sigint;
        sd_event_source *status_timer;
        guint status_count; /* the count last reported in STATUS= */
} Daemon;

static void daemon_clear(Daemon *d)
{
        g_clear_pointer(&d->metrics_server, metrics_server_free);
        sd_event_source_disable_unref(d->status_timer);
        sd_event_source_disable_unref(d->sigterm);
        sd_event_source_disable_unref(d->sigint);
        /* The watch first: it reports changes to the bus. Then the bus: it completes pending
         * operations, which use the manager. */
        if (d->manager != NULL)
                manager_stop_watch(d->manager);
        g_clear_pointer(&d->bus, bus_free);
        g_clear_pointer(&d->manager, manager_free);
        g_clear_pointer(&d->metrics, metrics_free);
        d->event = sd_event_unref(d->event);
        config_clear(&d->config);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Daemon, daemon_clear)

static void notify_status(Daemon *d)
{
        guint n = manager_count(d->manager);

        d->status_count = n;
        sd_notifyf(FALSE, "STATUS=Tracking %u volume%s", n, n == 1 ? "" : "s");
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Daemon *d = userdata;

        /* STATUS= follows the count at most once a second: a datagram per operation would cost
         * as much as the operation itself. */
        if (manager_count(d->manager) != d->status_count)
                notify_status(d);
        return sd_event_source_set_time(s, usec + STATUS_INTERVAL_USEC);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Daemon *d = userdata;

        g_message("Received %s: finishing pending operations and stopping",
                  si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        sd_notify(FALSE, "STOPPING=1\nSTATUS=Shutting down");
        bus_begin_shutdown(d->bus);
        return 0;
}

static Store *store_new(const Config *config, Metrics *metrics, GError **error)
{
        Store *store;

        if (config->store == STORE_KIND_NONE)
                return store_none_new();
        store = store_kube_new(config, error);
        if (store != NULL)
                store_kube_set_metrics(store, metrics);
        return store;
}

static void collect_metrics(Metrics *metrics, gpointer user_data)
{
        Daemon *d = user_data;

        metrics_set(metrics, METRIC_ATTACHMENTS, 0, manager_count(d->manager));
}

/* Before the start-up LIST, which may retry for StartTimeoutSec: how the API server answers
 * it is worth seeing. */
static gboolean start_metrics(Daemon *d, GError **error)
{
        metrics_set_collector(d->metrics, collect_metrics, d);
        d->metrics_server = metrics_server_new(d->metrics, d->config.metrics_address, error);
        if (d->metrics_server == NULL)
                return FALSE;
        g_message("Serving metrics at http://%s/metrics", d->config.metrics_address);
        return TRUE;
}

static gboolean daemon_start(Daemon *d, GError **error)
{
        Store *store;
        int r;

        if (d->config.metrics_address[0] != '\0')
                d->metrics = metrics_new(PACKAGE_VERSION);
        store = store_new(&d->config, d->metrics, error);
        if (store == NULL)
                return FALSE;
        d->manager = manager_new(store);
        if (d->metrics != NULL && !start_metrics(d, error))
                return FALSE;
        /* The name is requested only after the table is complete, so no caller ever sees a
         * half-built table. */
        if (!manager_load(d->manager, error))
                return FALSE;
        g_message("Loaded %u attachment%s from store %s", manager_count(d->manager),
                  manager_count(d->manager) == 1 ? "" : "s", store_name(store));

        r = sd_event_default(&d->event);
        if (r >= 0)
                r = sd_event_add_signal(d->event, &d->sigterm, SIGTERM, on_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, &d->sigint, SIGINT, on_signal, d);
        if (r >= 0)
                r = sd_event_set_watchdog(d->event, TRUE);
        if (r >= 0)
                r = sd_event_add_time_relative(d->event, &d->status_timer, CLOCK_MONOTONIC,
                                               STATUS_INTERVAL_USEC, 0, on_status_timer, d);
        if (r >= 0)
                r = sd_event_source_set_enabled(d->status_timer, SD_EVENT_ON);
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
                            "cannot set up the event loop: %s", g_strerror(-r));
                return FALSE;
        }
        d->bus = bus_new(d->event, d->manager, &d->config, error);
        if (d->bus == NULL)
                return FALSE;
        bus_set_metrics(d->bus, d->metrics);
        /* From the list's resourceVersion on, every change of another writer reaches the
         * table (and the bus); what happens before the name is owned is in the table when the
         * first caller comes. */
        if (!manager_start_watch(d->manager, error) || !bus_request_name(d->bus, error))
                return FALSE;
        sd_notify(FALSE, "READY=1");
        notify_status(d);
        return TRUE;
}

static gboolean parse_args(int *argc, char ***argv, char **config_path, GError **error)
{
        gboolean version = FALSE;
        GOptionEntry entries[] = {
            {"config", 'c', 0, G_OPTION_ARG_FILENAME, config_path,
             "Configuration file (default " DEFAULT_CONFIG_FILE "; drop-ins in FILE.d/*.conf)",
             "PATH"},
            {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
            G_OPTION_ENTRY_NULL,
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);

        g_option_context_set_summary(ctx, "The srvlab volume attachment fence: serves "
                                          "org.srvlab.Attachment1 on the system bus.");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, argc, argv, error))
                return FALSE;
        if (*argc > 1) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "unexpected argument '%s'", (*argv)[1]);
                return FALSE;
        }
        if (version) {
                printf("srvlab-attachmentd %s\n", PACKAGE_VERSION);
                exit(EXIT_SUCCESS);
        }
        return TRUE;
}

int main(int argc, char **argv)
{
        g_auto(Daemon) d = {0};
        g_autofree char *config_path = NULL;
        g_autoptr(GError) error = NULL;
        sigset_t mask;
        int r;

        /* glibc gives each thread that allocates an arena of its own (up to 8 per core): with
         * 16 workers, the watch and libsoup's threads, their free lists held ~220 bytes per
         * tracked volume of a 20,000-volume table (bench/notes.md, row 7). The workers spend
         * their time waiting for the API server, not in malloc: two arenas are plenty. */
        mallopt(M_ARENA_MAX, 2);
        g_log_set_writer_func(log_writer, GINT_TO_POINTER(g_log_writer_is_journald(STDERR_FILENO)),
                              NULL);
        if (!parse_args(&argc, &argv, &config_path, &error)) {
                fprintf(stderr, "srvlab-attachmentd: %s (see --help)\n", error->message);
                return 2;
        }
        /* Block the signals before any thread exists, so that every thread inherits the mask
         * and they arrive only through the event loop's signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        config_init(&d.config);
        if (!config_load(&d.config, config_path ? config_path : DEFAULT_CONFIG_FILE, &error) ||
            !daemon_start(&d, &error)) {
                g_printerr("srvlab-attachmentd: %s\n", error->message);
                sd_notifyf(FALSE, "STATUS=Failed to start: %s", error->message);
                return EXIT_FAILURE;
        }
        g_message("Serving %s (store %s, driver %s, %u workers)", "org.srvlab.Attachment1",
                  store_name(manager_get_store(d.manager)), d.config.driver, d.config.workers);
        r = sd_event_loop(d.event);
        if (r < 0) {
                g_printerr("srvlab-attachmentd: event loop failed: %s\n", g_strerror(-r));
                return EXIT_FAILURE;
        }
        g_message("Stopped");
        return r;
}
