/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A level's plain-text prefix and, as g_log_structured maps it, its syslog priority. */
static const struct {
        GLogLevelFlags levels;
        const char *prefix;
        const char *priority;
} level_names[] = {
    {G_LOG_LEVEL_ERROR, "error: ", "3"},
    {G_LOG_LEVEL_CRITICAL, "critical: ", "4"},
    {G_LOG_LEVEL_WARNING, "warning: ", "4"},
    {G_LOG_LEVEL_MESSAGE, "", "5"},
    {G_LOG_LEVEL_INFO, "", "6"},
    {G_LOG_LEVEL_DEBUG, "debug: ", "7"},
};

static guint level_index(GLogLevelFlags level)
{
        for (guint i = 0; i < G_N_ELEMENTS(level_names); i++) {
                if (level & level_names[i].levels)
                        return i;
        }
        return G_N_ELEMENTS(level_names) - 1;
}

static const char *level_prefix(GLogLevelFlags level)
{
        return level_names[level_index(level)].prefix;
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

#define LOG_MAX_EXTRA 8

void log_fields(GLogLevelFlags level, const char *message_id, const char *volume, const char *node,
                const GLogField *extra, gsize n_extra, const char *format, ...)
{
        GLogField fields[6 + LOG_MAX_EXTRA];
        g_autofree char *message = NULL;
        gsize n = 0;
        va_list args;

        g_return_if_fail(n_extra <= LOG_MAX_EXTRA);
        /* Formatting costs: skip it for a line the writer would drop (debug, mostly). */
        if (g_log_writer_default_would_drop(level, G_LOG_DOMAIN))
                return;
        va_start(args, format);
        message = g_strdup_vprintf(format, args);
        va_end(args);
        fields[n++] = (GLogField){"MESSAGE", message, -1};
        fields[n++] = (GLogField){"PRIORITY", level_names[level_index(level)].priority, -1};
        fields[n++] = (GLogField){"GLIB_DOMAIN", G_LOG_DOMAIN, -1};
        if (message_id != NULL)
                fields[n++] = (GLogField){"MESSAGE_ID", message_id, -1};
        if (volume != NULL)
                fields[n++] = (GLogField){"VOLUME", volume, -1};
        if (node != NULL)
                fields[n++] = (GLogField){"NODE", node, -1};
        for (gsize i = 0; i < n_extra; i++)
                fields[n++] = extra[i];
        g_log_structured_array(level, fields, n);
}
