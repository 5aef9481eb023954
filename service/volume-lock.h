/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* A registry of per-volume mutexes: the one authority for exclusion on a volume, whichever
 * thread works on it (a worker, the bus thread's non-blocking path, the watch thread, the
 * store's undo). The dispatcher's per-volume FIFO orders calls; it does not exclude. Entries
 * are refcounted by holders and waiters and freed when the last one leaves, so the registry
 * holds nothing for an idle volume. Thread-safe. */
typedef struct _VolumeLocks VolumeLocks;

VolumeLocks *volume_locks_new(void);
void volume_locks_free(VolumeLocks *self);

/* Blocks until the volume's lock is held by the caller. */
void volume_lock(VolumeLocks *self, const char *volume);
/* Takes the lock only if it is free right now; never blocks. */
gboolean volume_trylock(VolumeLocks *self, const char *volume);
/* Releases it. Unlocking a volume that is not locked is a no-op with a g_warning. */
void volume_unlock(VolumeLocks *self, const char *volume);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VolumeLocks, volume_locks_free)
