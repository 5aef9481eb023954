/* SPDX-License-Identifier: MIT */
#pragma once

/* The registry's insides: volume-lock.c and the test library (tests/testlib.c) only. */
#include "volume-lock.h"

typedef struct {
        GMutex mutex;
        guint refs; /* holders and waiters, under the registry lock */
        gint held;  /* atomic: lets a stray unlock be refused instead of corrupting the mutex */
        char volume[];
} LockEntry;

struct _VolumeLocks {
        GMutex lock;         /* guards entries and every entry's refs */
        GHashTable *entries; /* volume (inside the entry) -> LockEntry* */
};
