/* SPDX-License-Identifier: MIT */
/* attachmentctl monitor: the daemon's signals and watch-state changes as a live stream. */
#include "ctl-monitor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

#define DBUS_NAME "org.freedesktop.DBus"
#define DBUS_PATH "/org/freedesktop/DBus"

enum { SLOT_OWNER, SLOT_SIGNALS, SLOT_PROPERTIES, SLOT_DISCONNECT, N_SLOTS };

typedef struct {
        const CtlMonitorArgs *args;
        sd_event *event;
        char *owner;       /* the unique name that owns BUS_NAME */
        char *watch_state; /* the last watch change shown */
        uint64_t watch_since;
        sd_bus_slot *slots[N_SLOTS];
} Monitor;

static void monitor_clear(Monitor *m)
{
        for (size_t i = 0; i < N_SLOTS; i++)
                m->slots[i] = sd_bus_slot_unref(m->slots[i]);
        m->event = sd_event_unref(m->event);
        g_clear_pointer(&m->owner, g_free);
        g_clear_pointer(&m->watch_state, g_free);
}

static int emit(Monitor *m, const CtlEvent *e)
{
        const char *node = m->args->node;
        g_autofree char *text = NULL;

        if (node != NULL && e->kind != CTL_EVENT_WATCH && g_strcmp0(e->node, node) != 0 &&
            g_strcmp0(e->target_node, node) != 0)
                return 0;
        if (m->args->json != CTL_JSON_OFF)
                text = ctl_format_event_json(e, m->args->json);
        else
                text = ctl_format_event_line(e);
        /* Flushed per line: the reader is often a pipe or a file another tool follows. */
        if (fputs(text, stdout) < 0 || fflush(stdout) != 0) {
                fprintf(stderr, "%s: Failed to write: %s\n", g_get_prgname(), strerror(errno));
                return sd_event_exit(m->event, EXIT_FAILURE);
        }
        return 0;
}

/* The broker routes by the well-known name, but a unicast signal from anyone reaches us too:
 * only the name's owner speaks for the service. */
static gboolean from_owner(const Monitor *m, sd_bus_message *msg)
{
        return g_strcmp0(sd_bus_message_get_sender(msg), m->owner) == 0;
}

/* Returns > 0 with `e` filled, 0 for a signal this client does not know, < 0 if malformed. */
static int read_event(sd_bus_message *msg, CtlEvent *e)
{
        int r;

        if (sd_bus_message_is_signal(msg, BUS_INTERFACE, "Attached")) {
                e->kind = CTL_EVENT_ATTACHED;
                r = sd_bus_message_read(msg, "sst", &e->volume, &e->node, &e->at_usec);
        } else if (sd_bus_message_is_signal(msg, BUS_INTERFACE, "Detached")) {
                e->kind = CTL_EVENT_DETACHED;
                r = sd_bus_message_read(msg, "ss", &e->volume, &e->node);
        } else if (sd_bus_message_is_signal(msg, BUS_INTERFACE, "MigrationOverdue")) {
                e->kind = CTL_EVENT_MIGRATION_OVERDUE;
                r = sd_bus_message_read(msg, "ssst", &e->volume, &e->node, &e->target_node,
                                        &e->at_usec);
        } else {
                return 0;
        }
        return r < 0 ? r : 1;
}

static int on_daemon_signal(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Monitor *m = userdata;
        CtlEvent e = {.time_usec = (uint64_t)g_get_real_time()};
        int r;

        if (!from_owner(m, msg))
                return 0;
        r = read_event(msg, &e);
        if (r < 0)
                fprintf(stderr, "%s: Ignoring a malformed %s signal: %s\n", g_get_prgname(),
                        sd_bus_message_get_member(msg), strerror(-r));
        if (r <= 0)
                return 0;
        return emit(m, &e);
}

/* Reads WatchState and WatchSince out of PropertiesChanged's "a{sv}"; skips the others. */
static int read_watch_change(sd_bus_message *msg, const char **state, uint64_t *since)
{
        const char *name;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                r = sd_bus_message_read(msg, "s", &name);
                if (r >= 0 && g_str_equal(name, "WatchState"))
                        r = sd_bus_message_read(msg, "v", "s", state);
                else if (r >= 0 && g_str_equal(name, "WatchSince"))
                        r = sd_bus_message_read(msg, "v", "t", since);
                else if (r >= 0)
                        r = sd_bus_message_skip(msg, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(msg);
        }
        return r;
}

static int on_properties_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Monitor *m = userdata;
        CtlEvent e = {.kind = CTL_EVENT_WATCH, .time_usec = (uint64_t)g_get_real_time()};
        const char *interface;
        int r;

        if (!from_owner(m, msg))
                return 0;
        r = sd_bus_message_read(msg, "s", &interface);
        if (r >= 0)
                r = read_watch_change(msg, &e.state, &e.at_usec);
        if (r < 0) {
                fprintf(stderr, "%s: Ignoring a malformed PropertiesChanged: %s\n", g_get_prgname(),
                        strerror(-r));
                return 0;
        }
        /* AttachmentCount alone: the Attached and Detached lines already say it. The daemon
         * reads the values when it emits, so a quick there and back arrives as the same
         * change twice: shown once. */
        if (e.state == NULL ||
            (g_strcmp0(e.state, m->watch_state) == 0 && e.at_usec == m->watch_since))
                return 0;
        g_free(m->watch_state);
        m->watch_state = g_strdup(e.state);
        m->watch_since = e.at_usec;
        return emit(m, &e);
}

static int on_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Monitor *m = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0 ||
            !g_str_equal(name, BUS_NAME))
                return 0;
        if (new_owner[0] != '\0') {
                /* Handed over without a gap: the new owner speaks for the service now. */
                g_free(m->owner);
                m->owner = g_strdup(new_owner);
                return 0;
        }
        fprintf(stderr, "%s: %s went away.\n", g_get_prgname(), BUS_NAME);
        return sd_event_exit(m->event, CTL_EXIT_GONE);
}

static int on_disconnected(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
        Monitor *m = userdata;

        fprintf(stderr, "%s: Lost the connection to the bus.\n", g_get_prgname());
        return sd_event_exit(m->event, CTL_EXIT_GONE);
}

/* Subscribes before asking who owns the name, so that nothing between the two is missed. */
static int subscribe(sd_bus *bus, Monitor *m)
{
        static const struct {
                const char *rule;
                sd_bus_message_handler_t handler;
        } matches[] = {
            [SLOT_OWNER] = {"type='signal',sender='" DBUS_NAME "',path='" DBUS_PATH
                            "',interface='" DBUS_NAME "',member='NameOwnerChanged',arg0='" BUS_NAME
                            "'",
                            on_owner_changed},
            [SLOT_SIGNALS] = {"type='signal',sender='" BUS_NAME "',path='" BUS_PATH
                              "',interface='" BUS_INTERFACE "'",
                              on_daemon_signal},
            [SLOT_PROPERTIES] = {"type='signal',sender='" BUS_NAME "',path='" BUS_PATH
                                 "',interface='org.freedesktop.DBus.Properties',"
                                 "member='PropertiesChanged',arg0='" BUS_INTERFACE "'",
                                 on_properties_changed},
        };
        int r;

        for (size_t i = 0; i < G_N_ELEMENTS(matches); i++) {
                r = sd_bus_add_match(bus, &m->slots[i], matches[i].rule, matches[i].handler, m);
                if (r < 0)
                        return r;
        }
        /* sd-bus synthesizes this local signal when the connection breaks; no broker rule. */
        return sd_bus_match_signal(bus, &m->slots[SLOT_DISCONNECT], NULL,
                                   "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                   "Disconnected", on_disconnected, m);
}

/* GetNameOwner, not a call to the service: monitoring must not start it by activation. */
static int find_owner(sd_bus *bus, Monitor *m)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *owner;
        int r;

        r = sd_bus_call_method(bus, DBUS_NAME, DBUS_PATH, DBUS_NAME, "GetNameOwner", &error, &reply,
                               "s", BUS_NAME);
        if (sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                fprintf(stderr, "%s: %s is not running.\n", g_get_prgname(), BUS_NAME);
                return CTL_EXIT_GONE;
        }
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &owner);
        if (r < 0) {
                fprintf(stderr, "%s: Failed to look up %s: %s\n", g_get_prgname(), BUS_NAME,
                        sd_bus_error_is_set(&error) ? error.message : strerror(-r));
                return EXIT_FAILURE;
        }
        m->owner = g_strdup(owner);
        return -1;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        return sd_event_exit(sd_event_source_get_event(s), EXIT_SUCCESS);
}

/* SIGINT and SIGTERM end the stream cleanly. Their default action is restored first: a shell
 * starts background commands with SIGINT ignored, and an ignored signal never reaches the
 * signalfd. */
static int watch_signals(sd_event *e)
{
        static const int signals[] = {SIGINT, SIGTERM};
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        for (size_t i = 0; i < G_N_ELEMENTS(signals); i++) {
                signal(signals[i], SIG_DFL);
                sigaddset(&mask, signals[i]);
        }
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        for (size_t i = 0; i < G_N_ELEMENTS(signals); i++) {
                r = sd_event_add_signal(e, NULL, signals[i], on_signal, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int run(sd_bus *bus, Monitor *m)
{
        int r;

        r = sd_event_new(&m->event);
        if (r >= 0)
                r = subscribe(bus, m);
        if (r < 0) {
                fprintf(stderr, "%s: Failed to subscribe: %s\n", g_get_prgname(), strerror(-r));
                return EXIT_FAILURE;
        }
        r = find_owner(bus, m);
        if (r >= 0)
                return r;
        r = watch_signals(m->event);
        if (r >= 0)
                r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                fprintf(stderr, "%s: Failed to set up the event loop: %s\n", g_get_prgname(),
                        strerror(-r));
                return EXIT_FAILURE;
        }
        if (m->args->legend)
                fprintf(stderr, "Monitoring %s (%s). Press Ctrl-C to stop.\n", BUS_NAME, m->owner);
        r = sd_event_loop(m->event);
        sd_bus_detach_event(bus);
        return r < 0 ? EXIT_FAILURE : r;
}

int ctl_monitor(sd_bus *bus, const CtlMonitorArgs *args)
{
        Monitor m = {.args = args};
        int status = run(bus, &m);

        monitor_clear(&m);
        return status;
}
