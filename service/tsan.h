/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* GLib's GMutex is futex-based on Linux and invisible to ThreadSanitizer, which then reports
 * races on data the mutex does protect. Under TSan we tell it about the happens-before edge
 * ourselves; otherwise these compile to nothing. (GRWLock wraps pthread_rwlock, which TSan
 * intercepts, so it needs no annotation.) */
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
