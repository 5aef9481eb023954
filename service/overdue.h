/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-event.h>

#include "manager.h"

/* MigrationTimeoutSec= (DESIGN §9): a timer on the bus thread's event loop that looks, every
 * tenth of the timeout (1..30 s), for volumes two nodes have held longer than the timeout;
 * each such migration is logged as a warning (VOLUME=, NODE= the target, MESSAGE_ID= of
 * overdue migrations), posted as a MigrationOverdue Event (Events=yes) and handed to `func`
 * once. It changes no state. */
typedef struct _Overdue Overdue;

typedef void (*OverdueFunc)(const ManagerOverdue *o, gpointer user_data);

Overdue *overdue_new(sd_event *event, Manager *manager, guint timeout_sec, OverdueFunc func,
                     gpointer user_data, GError **error);
void overdue_free(Overdue *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Overdue, overdue_free)
/* The check, at once (the timer calls it; tests may too). Returns how many were reported. */
guint overdue_check(Overdue *self);
