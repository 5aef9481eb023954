/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "manager.h"
#include "metrics.h"

/* The thin bus layer: translates org.srvlab.Attachment1 calls into manager operations.
 * Everything here runs on the bus thread (the sd-event loop); blocking operations go to the
 * worker pool and come back through the dispatcher's completion queue. */
typedef struct _Bus Bus;

/* Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS is honoured), attaches to `event`,
 * exports the object. Does not request the name yet. `manager` and `config` must outlive it. */
Bus *bus_new(sd_event *event, Manager *manager, const Config *config, GError **error);
/* Requests org.srvlab.Attachment1; fails if another connection owns it. */
gboolean bus_request_name(Bus *self, GError **error);
/* Stops taking new Track/Untrack calls (they get ShuttingDown), lets the pending ones finish
 * and reply, then exits the event loop with status 0. */
/* Counts every Track/Untrack answer and the operations queued in `metrics` (NULL: none),
 * which must outlive the bus. */
void bus_set_metrics(Bus *self, Metrics *metrics);
void bus_begin_shutdown(Bus *self);
void bus_free(Bus *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Bus, bus_free)
