/* SPDX-License-Identifier: MIT */
#include "fuzz.h"

#include <stdlib.h>

static GLogWriterOutput fuzz_log_writer(GLogLevelFlags level, const GLogField *fields,
                                        gsize n_fields, gpointer user_data)
{
        if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
                g_log_writer_standard_streams(level, fields, n_fields, user_data);
                abort();
        }
        return G_LOG_WRITER_HANDLED;
}

void fuzz_quiet_logs(void)
{
        static gsize once;

        if (g_once_init_enter(&once)) {
                g_log_set_writer_func(fuzz_log_writer, NULL, NULL);
                g_once_init_leave(&once, 1);
        }
}
