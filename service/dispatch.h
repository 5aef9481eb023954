/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "errors.h"

/* Runs blocking jobs on a GThreadPool and hands their completions back to the owner thread
 * (the bus thread) through an eventfd that the owner's event loop watches.
 *
 * Jobs carry a key (the volume id). Jobs of one key run one at a time in submission order, so
 * a burst on one volume occupies one worker, never the pool (head-of-line isolation), and
 * operations on a volume take effect in the order they arrived. This is ordering, not
 * exclusion: the volume lock registry (volume-lock.c) is the one authority for exclusion on a
 * volume, taken by the workers, the watch thread and the store's undo alike; the per-key FIFO
 * only keeps arrival order and keeps a worker from waiting on a lock another worker holds for
 * the same volume. Every function except the work callback and dispatcher_on_worker() is called
 * on the owner thread only. */
typedef struct _Dispatcher Dispatcher;

typedef void (*DispatchWorkFunc)(gpointer job, gpointer work_data); /* worker thread */
typedef void (*DispatchDoneFunc)(gpointer job, gpointer done_data); /* owner thread */

/* work runs with work_data and done with done_data: the owner's context (done_data) need
 * never reach a worker. */
Dispatcher *dispatcher_new(guint workers, guint queue_limit, DispatchWorkFunc work,
                           gpointer work_data, DispatchDoneFunc done, gpointer done_data,
                           GError **error);
/* Waits for running jobs; jobs still queued are completed (done is called) first. */
void dispatcher_free(Dispatcher *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Dispatcher, dispatcher_free)

/* Readable when completions wait; the owner then calls dispatcher_process(). */
int dispatcher_get_fd(Dispatcher *self);
/* Queues a job. LIMITS_EXCEEDED (nothing queued) when queue_limit jobs are pending. */
gboolean dispatcher_submit(Dispatcher *self, const char *key, gpointer job, GError **error);
/* TRUE while any job of `key` is queued or running. */
gboolean dispatcher_key_busy(Dispatcher *self, const char *key);
/* TRUE on one of self's worker threads (which only run jobs); callable from any thread.
 * Whatever such a job hands to its owner can wait for the job's completion. */
gboolean dispatcher_on_worker(Dispatcher *self);
/* Calls done() for every finished job and starts the next job of each key. Returns the number
 * of jobs completed. */
guint dispatcher_process(Dispatcher *self);
/* Jobs queued or running. */
guint dispatcher_pending(Dispatcher *self);
