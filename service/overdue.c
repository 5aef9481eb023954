/* SPDX-License-Identifier: MIT */
#include "overdue.h"

#include <gio/gio.h>

#include "events.h"
#include "log-messages.h"
#include "log.h"

#define MIN_PERIOD_USEC (1 * G_TIME_SPAN_SECOND)
#define MAX_PERIOD_USEC (30 * G_TIME_SPAN_SECOND)

struct _Overdue {
        Manager *manager;
        sd_event_source *timer;
        gint64 timeout_usec;
        gint64 period_usec;
        OverdueFunc func;
        gpointer user_data;
};

guint overdue_check(Overdue *self)
{
        gint64 now = g_get_real_time();
        g_autoptr(GPtrArray) due = manager_take_overdue(self->manager, now, self->timeout_usec);

        for (guint i = 0; i < due->len; i++) {
                const ManagerOverdue *o = due->pdata[i];
                g_autofree char *event = g_strdup_printf(
                    "Volume %s has been attached to both %s and %s for %" G_GINT64_FORMAT
                    " s, longer than MigrationTimeoutSec=%" G_GINT64_FORMAT "; nothing is detached",
                    o->volume, o->source, o->target, (now - o->started_at) / G_TIME_SPAN_SECOND,
                    self->timeout_usec / G_TIME_SPAN_SECOND);

                store_post_event(manager_get_store(self->manager), o->volume,
                                 EVENT_REASON_MIGRATION_OVERDUE, EVENT_TYPE_WARNING, event);
                log_volume(
                    G_LOG_LEVEL_WARNING, LOG_MESSAGE_MIGRATION_OVERDUE, o->volume, o->target,
                    "Volume %s: attached to both %s and %s for %" G_GINT64_FORMAT
                    " s, longer than MigrationTimeoutSec=%" G_GINT64_FORMAT "; nothing is detached",
                    o->volume, o->source, o->target, (now - o->started_at) / G_TIME_SPAN_SECOND,
                    self->timeout_usec / G_TIME_SPAN_SECOND);
                if (self->func != NULL)
                        self->func(o, self->user_data);
        }
        return due->len;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Overdue *self = userdata;

        overdue_check(self);
        (void)sd_event_source_set_time_relative(s, (uint64_t)self->period_usec);
        return 0;
}

Overdue *overdue_new(sd_event *event, Manager *manager, guint timeout_sec, OverdueFunc func,
                     gpointer user_data, GError **error)
{
        g_autoptr(Overdue) self = g_new0(Overdue, 1);
        int r;

        self->manager = manager;
        self->timeout_usec = (gint64)timeout_sec * G_TIME_SPAN_SECOND;
        /* Late by at most a tenth of the timeout; a few wake-ups a minute at most. */
        self->period_usec = CLAMP(self->timeout_usec / 10, MIN_PERIOD_USEC, MAX_PERIOD_USEC);
        self->func = func;
        self->user_data = user_data;
        r = sd_event_add_time_relative(event, &self->timer, CLOCK_MONOTONIC,
                                       (uint64_t)self->period_usec, 0, on_timer, self);
        if (r >= 0)
                r = sd_event_source_set_enabled(self->timer, SD_EVENT_ON);
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r),
                            "cannot set up the migration timer: %s", g_strerror(-r));
                return NULL;
        }
        return g_steal_pointer(&self);
}

void overdue_free(Overdue *self)
{
        if (self == NULL)
                return;
        sd_event_source_disable_unref(self->timer);
        g_free(self);
}
