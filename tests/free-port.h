/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* A port of 127.0.0.1 nobody listens on now (for a server the test starts next; another
 * process could take it before that server binds it, which fails the test, never passes it).
 * Compiled into both the unit tests' library and the integration fixture. */
guint test_free_port(void);
