/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

/* What we know of a caller, cached per unique bus name: a unique name is never reused on a
 * bus and its uid and groups are fixed when the connection is made, so one credentials query
 * per client connection is enough (the query is a synchronous round trip to the bus driver). */
typedef struct {
        uid_t uid;
        gboolean allowed;
} Caller;

/* The callers of this bus and whether each may change attachments (uid 0, or a member of
 * AllowedGroup). Bus thread only. */
typedef struct _BusCallers BusCallers;

/* allowed_group: a group name, "" or NULL for none (a missing group is warned about). */
BusCallers *bus_callers_new(const char *allowed_group);
void bus_callers_free(BusCallers *self);
/* The sender of `m`, from the cache or asked of the bus driver once; NULL (ACCESS_DENIED)
 * when its credentials cannot be had. */
const Caller *bus_callers_lookup(BusCallers *self, sd_bus_message *m, GError **error);
/* A connection left the bus: its unique name is never reused, its entry goes. */
void bus_callers_forget(BusCallers *self, const char *unique_name);
