/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "manager.h"

/* Hands the table's changes from whichever thread made them (a worker, the watch) to the bus
 * thread, in order: one FIFO for all of them, so that the signals of one volume go out in the
 * order its changes happened. An eventfd, which the bus thread's event loop watches, turns
 * readable when changes wait; a push from the bus thread itself skips it (the bus thread
 * drains before it replies). */
typedef struct _ChangeQueue ChangeQueue;

ChangeQueue *change_queue_new(GError **error);
void change_queue_free(ChangeQueue *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ChangeQueue, change_queue_free)

int change_queue_get_fd(ChangeQueue *self);
/* Copies the change. Any thread. */
void change_queue_push(ChangeQueue *self, const ManagerChange *change, gboolean wake);

typedef void (*ChangeQueueFunc)(const ManagerChange *change, gpointer user_data);
/* Calls func for every waiting change, oldest first. Returns how many. Owner thread. The
 * eventfd is left as it is (no syscall): for the owner's own drains, e.g. before a reply. */
guint change_queue_drain(ChangeQueue *self, ChangeQueueFunc func, gpointer user_data);
/* The same when the eventfd turned readable: resets it first. */
guint change_queue_dispatch(ChangeQueue *self, ChangeQueueFunc func, gpointer user_data);
