/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "volume-lock-private.h"

#include <string.h>

#include "tsan.h"

static void lock_entry_free(gpointer data)
{
        LockEntry *entry = data;

        g_mutex_clear(&entry->mutex);
        g_free(entry);
}

VolumeLocks *volume_locks_new(void)
{
        VolumeLocks *self = g_new0(VolumeLocks, 1);

        g_mutex_init(&self->lock);
        self->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, lock_entry_free);
        return self;
}

void volume_locks_free(VolumeLocks *self)
{
        if (self == NULL)
                return;
        if (g_hash_table_size(self->entries) > 0)
                g_warning("freeing volume locks with %u entries still in use",
                          g_hash_table_size(self->entries));
        g_hash_table_unref(self->entries);
        g_mutex_clear(&self->lock);
        g_free(self);
}

/* Called with the registry lock held. */
static LockEntry *lookup_or_create(VolumeLocks *self, const char *volume)
{
        LockEntry *entry = g_hash_table_lookup(self->entries, volume);
        gsize len;

        if (entry != NULL)
                return entry;
        len = strlen(volume);
        entry = g_malloc0(sizeof(LockEntry) + len + 1);
        g_mutex_init(&entry->mutex);
        memcpy(entry->volume, volume, len + 1);
        g_hash_table_insert(self->entries, entry->volume, entry);
        return entry;
}

/* Called with the registry lock held. */
static void entry_unref(VolumeLocks *self, LockEntry *entry)
{
        g_assert(entry->refs > 0);
        if (--entry->refs == 0)
                g_hash_table_remove(self->entries, entry->volume);
}

void volume_lock(VolumeLocks *self, const char *volume)
{
        LockEntry *entry;

        /* The reference keeps the entry alive while we wait outside the registry lock. */
        tsan_mutex_lock(&self->lock);
        entry = lookup_or_create(self, volume);
        entry->refs++;
        tsan_mutex_unlock(&self->lock);

        tsan_mutex_lock(&entry->mutex);
        g_atomic_int_set(&entry->held, TRUE);
}

gboolean volume_trylock(VolumeLocks *self, const char *volume)
{
        LockEntry *entry;
        gboolean acquired;

        tsan_mutex_lock(&self->lock);
        entry = lookup_or_create(self, volume);
        entry->refs++;
        acquired = tsan_mutex_trylock(&entry->mutex);
        if (acquired)
                g_atomic_int_set(&entry->held, TRUE);
        else
                entry_unref(self, entry);
        tsan_mutex_unlock(&self->lock);
        return acquired;
}

void volume_unlock(VolumeLocks *self, const char *volume)
{
        LockEntry *entry;

        tsan_mutex_lock(&self->lock);
        entry = g_hash_table_lookup(self->entries, volume);
        if (entry == NULL || !g_atomic_int_compare_and_exchange(&entry->held, TRUE, FALSE)) {
                tsan_mutex_unlock(&self->lock);
                g_warning("unlock of volume '%s' that is not locked", volume);
                return;
        }
        tsan_mutex_unlock(&entry->mutex);
        entry_unref(self, entry);
        tsan_mutex_unlock(&self->lock);
}
