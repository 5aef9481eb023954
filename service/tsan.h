/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* GLib's GMutex is futex-based on Linux and invisible to ThreadSanitizer, which then reports
 * races on data the mutex does protect. Under TSan we tell it about the happens-before edge
 * ourselves; otherwise these compile to nothing. */
#if defined(__SANITIZE_THREAD__)
#define SRVLAB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SRVLAB_TSAN 1
#endif
#endif

#ifdef SRVLAB_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#define TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#else
#define TSAN_ACQUIRE(addr) ((void)(addr))
#define TSAN_RELEASE(addr) ((void)(addr))
#endif

static inline void tsan_mutex_lock(GMutex *mutex)
{
        g_mutex_lock(mutex);
        TSAN_ACQUIRE(mutex);
}

static inline gboolean tsan_mutex_trylock(GMutex *mutex)
{
        if (!g_mutex_trylock(mutex))
                return FALSE;
        TSAN_ACQUIRE(mutex);
        return TRUE;
}

static inline void tsan_mutex_unlock(GMutex *mutex)
{
        TSAN_RELEASE(mutex);
        g_mutex_unlock(mutex);
}

/* g_cond_wait releases and retakes the mutex inside GLib, out of TSan's sight. */
static inline void tsan_cond_wait(GCond *cond, GMutex *mutex)
{
        TSAN_RELEASE(mutex);
        g_cond_wait(cond, mutex);
        TSAN_ACQUIRE(mutex);
}

static inline gboolean tsan_cond_wait_until(GCond *cond, GMutex *mutex, gint64 end_time)
{
        gboolean signalled;

        TSAN_RELEASE(mutex);
        signalled = g_cond_wait_until(cond, mutex, end_time);
        TSAN_ACQUIRE(mutex);
        return signalled;
}

/* GRWLock is pthread_rwlock inside GLib; the TSan suppressions mute interceptors called from
 * GLib (tests/tsan.supp), so its edges are stated here too. One address for readers and
 * writers: a reader's unlock orders its reads before the next writer. */
static inline void tsan_rw_reader_lock(GRWLock *lock)
{
        g_rw_lock_reader_lock(lock);
        TSAN_ACQUIRE(lock);
}

static inline void tsan_rw_reader_unlock(GRWLock *lock)
{
        TSAN_RELEASE(lock);
        g_rw_lock_reader_unlock(lock);
}

static inline void tsan_rw_writer_lock(GRWLock *lock)
{
        g_rw_lock_writer_lock(lock);
        TSAN_ACQUIRE(lock);
}

static inline void tsan_rw_writer_unlock(GRWLock *lock)
{
        TSAN_RELEASE(lock);
        g_rw_lock_writer_unlock(lock);
}
