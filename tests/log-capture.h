/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* g_test_expect_message() does not see structured logging (G_LOG_USE_STRUCTURED) in GLib
 * 2.74. log_capture_install() sets a log writer that swallows and counts the messages (of any
 * level) matching the expected patterns (g_pattern_match_simple, in order); every other
 * message goes to the default writer, where warnings stay fatal under g_test. */
void log_capture_install(void);
void log_capture_expect(const char *pattern);
/* A structured field (VOLUME, MESSAGE_ID, ...) of the last message captured; NULL if absent. */
const char *log_capture_field(const char *key);
/* Asserts that every expected warning was seen exactly once, then forgets them. */
void log_capture_assert_all_seen(void);
