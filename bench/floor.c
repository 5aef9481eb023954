/* SPDX-License-Identifier: MIT */
/* srvlab-bench-floor: the floor of benchmark 1a (issue 15).
 *
 * The least a service can do that keeps the contract of a Track or an Untrack that changes
 * state: broadcast one signal and reply. It owns org.srvlab.BenchFloor1 on the system bus
 * (DBUS_SYSTEM_BUS_ADDRESS) and serves, at the daemon's object path and interface, Track(ss)
 * — emits Attached(sst), replies — and Untrack(s) — emits Detached(ss), replies. No state, no
 * log, one thread, one sd-event loop: what is left is the bus's and sd-bus's own cost, so
 * the driver's track-untrack mode measures both services with the same messages. Exits on
 * SIGTERM or SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "common/names.h"

#define FLOOR_NAME "org.srvlab.BenchFloor1"

static uint64_t realtime_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int method_track(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *volume, *node;
        int r = sd_bus_message_read(m, "ss", &volume, &node);

        if (r < 0)
                return r;
        r = sd_bus_emit_signal(sd_bus_message_get_bus(m), BUS_PATH, BUS_INTERFACE, "Attached",
                               "sst", volume, node, realtime_usec());
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static int method_untrack(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *volume;
        int r = sd_bus_message_read(m, "s", &volume);

        if (r < 0)
                return r;
        /* The daemon's Detached names the node that held the volume; a constant here. */
        r = sd_bus_emit_signal(sd_bus_message_get_bus(m), BUS_PATH, BUS_INTERFACE, "Detached", "ss",
                               volume, "node-1");
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable floor_vtable[] = {
    SD_BUS_VTABLE_START(0),
    /* Without UNPRIVILEGED, sd-bus on a system bus asks the bus for every caller's
     * credentials (a synchronous round trip per call) to check CAP_SYS_ADMIN. */
    SD_BUS_METHOD("Track", "ss", "", method_track, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Untrack", "s", "", method_untrack, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL("Attached", "sst", 0),
    SD_BUS_SIGNAL("Detached", "ss", 0),
    SD_BUS_VTABLE_END,
};

static int fail(const char *what, int r)
{
        fprintf(stderr, "srvlab-bench-floor: %s: %s\n", what, strerror(-r));
        return EXIT_FAILURE;
}

int main(void)
{
        sd_event *event = NULL;
        sd_bus *bus = NULL;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if ((r = sd_event_default(&event)) < 0)
                return fail("sd_event_default", r);
        if ((r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL)) < 0)
                return fail("signals", r);
        if ((r = sd_bus_open_system(&bus)) < 0)
                return fail("cannot connect to the system bus", r);
        if ((r = sd_bus_add_object_vtable(bus, NULL, BUS_PATH, BUS_INTERFACE, floor_vtable, NULL)) <
            0)
                return fail("sd_bus_add_object_vtable", r);
        if ((r = sd_bus_attach_event(bus, event, 0)) < 0)
                return fail("sd_bus_attach_event", r);
        /* The name last: a client that sees it owned can call at once. */
        if ((r = sd_bus_request_name(bus, FLOOR_NAME, 0)) < 0)
                return fail("cannot own " FLOOR_NAME, r);
        r = sd_event_loop(event);
        sd_bus_flush_close_unref(bus);
        sd_event_unref(event);
        return r < 0 ? fail("sd_event_loop", r) : EXIT_SUCCESS;
}
