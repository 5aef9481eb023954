/* SPDX-License-Identifier: MIT */
#pragma once

/* What every part of attachmentctl shares: the service's names (common/names.h) and the exit
 * codes. */
#include "common/names.h"

/* Exit codes: documented in attachmentctl(1), relied on by scripts. */
enum {
        CTL_EXIT_USAGE = 2,
        CTL_EXIT_CONFLICT = 3,
        CTL_EXIT_GONE = 4, /* monitor: the service is not running, or went away */
};
