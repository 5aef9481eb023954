/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* The daemon's log writer: structured fields to the journal when stderr is connected to it
 * (VOLUME=, NODE=, CALLER_UID=, OUTCOME= searchable with journalctl), otherwise one plain
 * "srvlab-attachmentd: [level: ]message" line per call on stderr, written with one write().
 * GLib's default stderr writer formats a local timestamp and converts the charset for every
 * line (tzset, fstat of /etc/localtime, iconv_open): a third of the bus thread's time per
 * Track in the benchmark. Debug and info are dropped unless G_MESSAGES_DEBUG asks for them.
 * Install with user_data = GINT_TO_POINTER(g_log_writer_is_journald(STDERR_FILENO)), checked
 * once: stderr does not change while the daemon runs. */
GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                            gpointer user_data);
