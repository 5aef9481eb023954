/* SPDX-License-Identifier: MIT */
#pragma once

/* What every part of attachmentctl shares: the service's names and the exit codes. */

#define CTL_BUS_NAME "org.srvlab.Attachment1"
#define CTL_BUS_PATH "/org/srvlab/Attachment1"
#define CTL_BUS_INTERFACE "org.srvlab.Attachment1"

/* Exit codes: documented in attachmentctl(1), relied on by scripts. */
enum {
        CTL_EXIT_USAGE = 2,
        CTL_EXIT_CONFLICT = 3,
        CTL_EXIT_GONE = 4, /* monitor: the service is not running, or went away */
};
