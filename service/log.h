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

/* Logs one line about `volume` (NULL: a line about no one volume, e.g. the watch) with
 * VOLUME=, NODE= (when node is not NULL) and MESSAGE_ID= (when message_id is not NULL; see
 * log-messages.h), plus `extra` fields, through the writer above. The plain form of the line
 * is the formatted message alone. */
void log_fields(GLogLevelFlags level, const char *message_id, const char *volume, const char *node,
                const GLogField *extra, gsize n_extra, const char *format, ...) G_GNUC_PRINTF(7, 8);
#define log_volume(level, message_id, volume, node, ...)                                           \
        log_fields(level, message_id, volume, node, NULL, 0, __VA_ARGS__)

/* Debug lines where work is handed off (submitted, started, 409, replay, settled): off unless
 * the daemon runs with --debug or G_MESSAGES_DEBUG names the domain (or "all"). */
#define log_volume_debug(volume, ...) log_volume(G_LOG_LEVEL_DEBUG, NULL, volume, NULL, __VA_ARGS__)
