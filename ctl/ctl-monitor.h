/* SPDX-License-Identifier: MIT */
#pragma once

#include "ctl-format.h"
#include "ctl.h"

#include <systemd/sd-bus.h>

typedef struct {
        CtlJsonMode json;
        gboolean legend;  /* the "Monitoring ..." line on stderr once subscribed */
        const char *node; /* only events of this node (watch changes always); NULL: all */
} CtlMonitorArgs;

/* Prints the daemon's signals and watch-state changes as they come, one line (or JSON object)
 * each, flushed per line, until SIGINT or SIGTERM (returns 0) or until the service is gone or
 * the bus connection is lost (CTL_EXIT_GONE). Never activates the service. Returns the exit
 * code; says on stderr what went wrong. */
int ctl_monitor(sd_bus *bus, const CtlMonitorArgs *args);
