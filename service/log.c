/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *level_prefix(GLogLevelFlags level)
{
        if (level & G_LOG_LEVEL_ERROR)
                return "error: ";
        if (level & G_LOG_LEVEL_CRITICAL)
                return "critical: ";
        if (level & G_LOG_LEVEL_WARNING)
                return "warning: ";
        if (level & G_LOG_LEVEL_DEBUG)
                return "debug: ";
        return "";
}

static GLogWriterOutput write_stderr(GLogLevelFlags level, const GLogField *fields, gsize n_fields)
{
        const char *message = NULL;
        const char *prefix = level_prefix(level);
        char line[1024];
        int n;

        for (gsize i = 0; i < n_fields && message == NULL; i++) {
                if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
                        message = fields[i].value;
        }
        if (message == NULL)
                return G_LOG_WRITER_UNHANDLED;
        n = snprintf(line, sizeof(line), "srvlab-attachmentd: %s%s\n", prefix, message);
        if (n < 0)
                return G_LOG_WRITER_UNHANDLED;
        if ((size_t)n >= sizeof(line)) {
                /* A longer line is rare: format it on the heap rather than cut it. */
                g_autofree char *big =
                    g_strdup_printf("srvlab-attachmentd: %s%s\n", prefix, message);
                return write(STDERR_FILENO, big, strlen(big)) < 0 ? G_LOG_WRITER_UNHANDLED
                                                                  : G_LOG_WRITER_HANDLED;
        }
        return write(STDERR_FILENO, line, (size_t)n) < 0 ? G_LOG_WRITER_UNHANDLED
                                                         : G_LOG_WRITER_HANDLED;
}

GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                            gpointer user_data)
{
        const char *domain = NULL;

        for (gsize i = 0; i < n_fields && domain == NULL; i++) {
                if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
                        domain = fields[i].value;
        }
        if (g_log_writer_default_would_drop(level, domain))
                return G_LOG_WRITER_HANDLED;
        if (GPOINTER_TO_INT(user_data) != 0 &&
            g_log_writer_journald(level, fields, n_fields, NULL) == G_LOG_WRITER_HANDLED)
                return G_LOG_WRITER_HANDLED;
        return write_stderr(level, fields, n_fields);
}
