/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "manager.h"
#include "tsan.h"

#include <string.h>

/* Memory per tracked volume matters (100,000 volumes must fit in ~200 bytes each), so an entry
 * is one allocation holding the volume inline, the hash table is a set keyed by that inline
 * string, and node names — few, shared by many volumes — are interned and refcounted. */

typedef struct {
        guint refs; /* volumes naming this node; changed under the table's write lock */
        char name[];
} NodeName;

typedef struct {
        gint64 attached_at;
        const char *node;     /* NodeName.name, owned by the table's node set */
        GSequenceIter *order; /* in Table.order */
        char volume[];
} Entry;

#define ENTRY_OF(key) ((Entry *)(gpointer)((char *)(key)-G_STRUCT_OFFSET(Entry, volume)))
#define NODE_OF(key) ((NodeName *)(gpointer)((char *)(key)-G_STRUCT_OFFSET(NodeName, name)))

/* The entries sorted by volume, beside the hash table, so that List needs no sort and can be
 * answered in slices, each resuming after the last volume it sent (the table may change in
 * between). */
typedef struct {
        GHashTable *volumes; /* set of Entry.volume */
        GHashTable *nodes;   /* set of NodeName.name */
        GSequence *order;    /* Entry*, by volume */
} Table;

struct _Manager {
        Store *store;
        VolumeLocks *locks;
        GRWLock lock; /* guards table; never held across store I/O */
        Table table;
        ManagerChangeFunc change_func;
        gpointer change_data;
};

static void table_init(Table *t)
{
        t->volumes = g_hash_table_new(g_str_hash, g_str_equal);
        t->nodes = g_hash_table_new(g_str_hash, g_str_equal);
        t->order = g_sequence_new(NULL);
}

static void table_clear(Table *t)
{
        GHashTableIter iter;
        gpointer key;

        g_hash_table_iter_init(&iter, t->volumes);
        while (g_hash_table_iter_next(&iter, &key, NULL))
                g_free(ENTRY_OF(key));
        g_hash_table_iter_init(&iter, t->nodes);
        while (g_hash_table_iter_next(&iter, &key, NULL))
                g_free(NODE_OF(key));
        g_clear_pointer(&t->volumes, g_hash_table_unref);
        g_clear_pointer(&t->nodes, g_hash_table_unref);
        g_clear_pointer(&t->order, g_sequence_free);
}

static gint compare_entries(gconstpointer a, gconstpointer b, gpointer data)
{
        return strcmp(((const Entry *)a)->volume, ((const Entry *)b)->volume);
}

static const char *node_ref(Table *t, const char *node)
{
        const char *key = g_hash_table_lookup(t->nodes, node);
        NodeName *n;
        gsize len;

        if (key != NULL) {
                NODE_OF(key)->refs++;
                return key;
        }
        len = strlen(node);
        n = g_malloc(sizeof(NodeName) + len + 1);
        n->refs = 1;
        memcpy(n->name, node, len + 1);
        g_hash_table_add(t->nodes, n->name);
        return n->name;
}

static void node_unref(Table *t, const char *key)
{
        NodeName *n = NODE_OF(key);

        if (--n->refs > 0)
                return;
        g_hash_table_remove(t->nodes, n->name);
        g_free(n);
}

static Entry *table_lookup(Table *t, const char *volume)
{
        const char *key = g_hash_table_lookup(t->volumes, volume);

        return key != NULL ? ENTRY_OF(key) : NULL;
}

static void table_remove(Table *t, Entry *entry)
{
        g_hash_table_remove(t->volumes, entry->volume);
        g_sequence_remove(entry->order);
        node_unref(t, entry->node);
        g_free(entry);
}

static void table_insert(Table *t, const char *volume, const char *node, gint64 attached_at)
{
        Entry *entry = table_lookup(t, volume);
        gsize len;

        if (entry != NULL)
                table_remove(t, entry);
        len = strlen(volume);
        entry = g_malloc(sizeof(Entry) + len + 1);
        entry->attached_at = attached_at;
        entry->node = node_ref(t, node);
        memcpy(entry->volume, volume, len + 1);
        g_hash_table_add(t->volumes, entry->volume);
        entry->order = g_sequence_insert_sorted(t->order, entry, compare_entries, NULL);
}

static void emit(Manager *self, ManagerChangeKind kind, const char *volume, const char *node,
                 gint64 attached_at)
{
        const ManagerChange change = {
            .kind = kind, .volume = volume, .node = node, .attached_at = attached_at};

        if (self->change_func != NULL)
                self->change_func(&change, self->change_data);
}

/* Makes the table say `node` holds `volume` since attached_at (node NULL: nobody), and
 * reports each difference as a change. The caller holds the volume's lock, so changes of one
 * volume are reported in the order they happen. Returns TRUE when the table changed; *old
 * (may be NULL) receives the node that held the volume before (NULL: none). */
static gboolean table_set(Manager *self, const char *volume, const char *node, gint64 attached_at,
                          char **old)
{
        g_autofree char *before = NULL;
        gint64 before_at = 0;
        Entry *entry;

        tsan_rw_writer_lock(&self->lock);
        entry = table_lookup(&self->table, volume);
        if (entry != NULL) {
                before = g_strdup(entry->node);
                before_at = entry->attached_at;
        }
        if (node == NULL && entry != NULL)
                table_remove(&self->table, entry);
        else if (node != NULL && (entry == NULL || strcmp(entry->node, node) != 0 ||
                                  entry->attached_at != attached_at))
                table_insert(&self->table, volume, node, attached_at);
        tsan_rw_writer_unlock(&self->lock);

        if (old != NULL)
                *old = g_strdup(before);
        if (g_strcmp0(before, node) == 0)
                return node != NULL && before_at != attached_at;
        if (before != NULL)
                emit(self, MANAGER_CHANGE_DETACHED, volume, before, before_at);
        if (node != NULL)
                emit(self, MANAGER_CHANGE_ATTACHED, volume, node, attached_at);
        return TRUE;
}

static void on_store_observe(const char *volume, const char *node, gint64 attached_at,
                             gpointer user_data)
{
        table_set(user_data, volume, node, attached_at, NULL);
}

static void on_store_watch_state(const char *state, gint64 since_usec, gpointer user_data)
{
        Manager *self = user_data;
        const ManagerChange change = {
            .kind = MANAGER_CHANGE_WATCH, .state = state, .since = since_usec};

        if (self->change_func != NULL)
                self->change_func(&change, self->change_data);
}

void attachment_free(Attachment *a)
{
        if (a == NULL)
                return;
        g_free(a->volume);
        g_free(a->node);
        g_free(a);
}

void manager_result_clear(ManagerResult *r)
{
        g_clear_pointer(&r->node, g_free);
        r->changed = FALSE;
        r->attached_at = 0;
}

static void set_result(ManagerResult *r, gboolean changed, const char *node, gint64 attached_at)
{
        if (r == NULL)
                return;
        g_free(r->node);
        r->changed = changed;
        r->node = g_strdup(node);
        r->attached_at = attached_at;
}

static gboolean set_already_attached(GError **error, const char *volume, const char *holder)
{
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED,
                    "volume %s already attached to node %s", volume, holder);
        return FALSE;
}

Manager *manager_new(Store *store)
{
        Manager *self = g_new0(Manager, 1);

        /* G_DEFINE_QUARK creates the quark on first use without a lock: do it before the
         * worker threads report errors concurrently. */
        (void)ATTACHMENT_ERROR;

        self->store = store;
        self->locks = volume_locks_new();
        g_rw_lock_init(&self->lock);
        table_init(&self->table);
        store_set_observer(store, &(StoreObserver){.locks = self->locks,
                                                   .observe = on_store_observe,
                                                   .watch_state = on_store_watch_state,
                                                   .user_data = self});
        return self;
}

void manager_free(Manager *self)
{
        if (self == NULL)
                return;
        table_clear(&self->table);
        g_rw_lock_clear(&self->lock);
        volume_locks_free(self->locks);
        store_free(self->store);
        g_free(self);
}

Store *manager_get_store(Manager *self)
{
        return self->store;
}

VolumeLocks *manager_get_locks(Manager *self)
{
        return self->locks;
}

void manager_set_change_func(Manager *self, ManagerChangeFunc func, gpointer user_data)
{
        self->change_func = func;
        self->change_data = user_data;
}

gboolean manager_start_watch(Manager *self, GError **error)
{
        return store_start_watch(self->store, error);
}

void manager_stop_watch(Manager *self)
{
        store_stop_watch(self->store);
}

const char *manager_get_watch_state(Manager *self, gint64 *since_usec)
{
        return store_get_watch_state(self->store, since_usec);
}

static void load_one(const char *volume, const char *node, gint64 attached_at_usec,
                     gpointer user_data)
{
        table_insert(user_data, volume, node, attached_at_usec);
}

gboolean manager_load(Manager *self, GError **error)
{
        Table fresh, old;

        /* Built aside and swapped in, so readers see the old table or the new, never half. */
        table_init(&fresh);
        if (!store_load(self->store, load_one, &fresh, error)) {
                table_clear(&fresh);
                return FALSE;
        }
        tsan_rw_writer_lock(&self->lock);
        old = self->table;
        self->table = fresh;
        tsan_rw_writer_unlock(&self->lock);
        table_clear(&old);
        return TRUE;
}

/* Answers a track from the table when it can: the same node again, or a known conflict.
 * NEEDS_IO means the volume is not tracked. Called with the volume lock held. */
static ManagerTry track_from_table(Manager *self, const char *volume, const char *node,
                                   ManagerResult *result, GError **error)
{
        ManagerTry answer = MANAGER_TRY_NEEDS_IO;
        Entry *entry;

        tsan_rw_reader_lock(&self->lock);
        entry = table_lookup(&self->table, volume);
        if (entry != NULL && strcmp(entry->node, node) == 0) {
                set_result(result, FALSE, entry->node, entry->attached_at);
                answer = MANAGER_TRY_DONE;
        } else if (entry != NULL) {
                set_already_attached(error, volume, entry->node);
                answer = MANAGER_TRY_FAILED;
        }
        tsan_rw_reader_unlock(&self->lock);
        return answer;
}

/* Persists a new attachment, then records it: a failed put leaves nothing tracked. */
static gboolean track_in_store(Manager *self, const char *volume, const char *node,
                               ManagerResult *result, GError **error)
{
        gint64 attached_at = g_get_real_time();
        g_autofree char *holder = NULL;
        g_autofree char *before = NULL;
        gint64 before_at = 0;
        g_autoptr(GError) local_error = NULL;
        gboolean changed;

        /* The store may tell the table (through the observer) before it returns: whether this
         * call changed anything is judged against the table of before the call. */
        manager_get(self, volume, &before, &before_at, NULL);
        if (!store_put(self->store, volume, node, &attached_at, &holder, &local_error)) {
                if (g_error_matches(local_error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_FOUND))
                        table_set(self, volume, NULL, 0, NULL);
                if (holder != NULL && g_error_matches(local_error, ATTACHMENT_ERROR,
                                                      ATTACHMENT_ERROR_ALREADY_ATTACHED))
                        return set_already_attached(error, volume, holder);
                g_propagate_error(error, g_steal_pointer(&local_error));
                return FALSE;
        }
        table_set(self, volume, node, attached_at, NULL);
        changed = g_strcmp0(before, node) != 0 || before_at != attached_at;
        set_result(result, changed, node, attached_at);
        return TRUE;
}

/* The one decision behind manager_track and manager_try_track. A store with I/O is the
 * authority: the table, a cache, answers only for Store=none. */
static ManagerTry track_locked(Manager *self, const char *volume, const char *node,
                               gboolean may_block, ManagerResult *result, GError **error)
{
        ManagerTry answer = MANAGER_TRY_NEEDS_IO;

        if (!store_needs_io(self->store))
                answer = track_from_table(self, volume, node, result, error);
        else if (!may_block)
                return MANAGER_TRY_NEEDS_IO;
        if (answer != MANAGER_TRY_NEEDS_IO)
                return answer;
        return track_in_store(self, volume, node, result, error) ? MANAGER_TRY_DONE
                                                                 : MANAGER_TRY_FAILED;
}

gboolean manager_track(Manager *self, const char *volume, const char *node, ManagerResult *result,
                       GError **error)
{
        ManagerTry answer;

        volume_lock(self->locks, volume);
        answer = track_locked(self, volume, node, TRUE, result, error);
        volume_unlock(self->locks, volume);
        return answer == MANAGER_TRY_DONE;
}

ManagerTry manager_try_track(Manager *self, const char *volume, const char *node,
                             ManagerResult *result, GError **error)
{
        ManagerTry answer;

        if (!volume_trylock(self->locks, volume))
                return MANAGER_TRY_NEEDS_IO;
        answer = track_locked(self, volume, node, FALSE, result, error);
        volume_unlock(self->locks, volume);
        return answer;
}

/* Returns the node holding the volume (a copy), or NULL when it is not tracked. */
static char *untrack_lookup(Manager *self, const char *volume)
{
        char *node = NULL;
        Entry *entry;

        tsan_rw_reader_lock(&self->lock);
        entry = table_lookup(&self->table, volume);
        if (entry != NULL)
                node = g_strdup(entry->node);
        tsan_rw_reader_unlock(&self->lock);
        return node;
}

/* Removes from the store, then forgets: a failed remove leaves the volume tracked. */
static gboolean untrack_in_store(Manager *self, const char *volume, const char *node,
                                 ManagerResult *result, GError **error)
{
        g_autofree char *cleared = NULL;
        g_autofree char *old = NULL;
        gint64 at = 0;

        manager_get(self, volume, NULL, &at, NULL);
        if (!store_remove(self->store, volume, node, &cleared, error))
                return FALSE;
        /* The store names what it cleared (it may have learnt of another holder on the way,
         * and told the table through the observer already). */
        table_set(self, volume, NULL, 0, &old);
        if (cleared == NULL && node != NULL)
                cleared = g_strdup(node);
        set_result(result, cleared != NULL, cleared, cleared != NULL ? at : 0);
        return TRUE;
}

static ManagerTry untrack_locked(Manager *self, const char *volume, gboolean may_block,
                                 ManagerResult *result, GError **error)
{
        g_autofree char *node = untrack_lookup(self, volume);

        if (store_needs_io(self->store)) {
                /* Even a volume the table does not hold: another daemon may have attached it
                 * (DESIGN §8: the answer costs one read). */
                if (!may_block)
                        return MANAGER_TRY_NEEDS_IO;
        } else if (node == NULL) {
                set_result(result, FALSE, NULL, 0);
                return MANAGER_TRY_DONE;
        }
        return untrack_in_store(self, volume, node, result, error) ? MANAGER_TRY_DONE
                                                                   : MANAGER_TRY_FAILED;
}

gboolean manager_untrack(Manager *self, const char *volume, ManagerResult *result, GError **error)
{
        ManagerTry answer;

        volume_lock(self->locks, volume);
        answer = untrack_locked(self, volume, TRUE, result, error);
        volume_unlock(self->locks, volume);
        return answer == MANAGER_TRY_DONE;
}

ManagerTry manager_try_untrack(Manager *self, const char *volume, ManagerResult *result,
                               GError **error)
{
        ManagerTry answer;

        if (!volume_trylock(self->locks, volume))
                return MANAGER_TRY_NEEDS_IO;
        answer = untrack_locked(self, volume, FALSE, result, error);
        volume_unlock(self->locks, volume);
        return answer;
}

gboolean manager_get(Manager *self, const char *volume, char **node, gint64 *attached_at,
                     GError **error)
{
        Entry *entry;
        gboolean found;

        tsan_rw_reader_lock(&self->lock);
        entry = table_lookup(&self->table, volume);
        found = entry != NULL;
        if (found && node != NULL)
                *node = g_strdup(entry->node);
        if (found && attached_at != NULL)
                *attached_at = entry->attached_at;
        tsan_rw_reader_unlock(&self->lock);
        if (!found)
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_ATTACHED,
                            "volume %s is not attached", volume);
        return found;
}

static void add_attachment(const char *volume, const char *node, gint64 attached_at,
                           gpointer user_data)
{
        Attachment *a = g_new(Attachment, 1);

        a->volume = g_strdup(volume);
        a->node = g_strdup(node);
        a->attached_at = attached_at;
        g_ptr_array_add(user_data, a);
}

GPtrArray *manager_list(Manager *self)
{
        GPtrArray *list =
            g_ptr_array_new_full(manager_count(self), (GDestroyNotify)attachment_free);

        manager_list_after(self, NULL, G_MAXUINT, add_attachment, list);
        return list;
}

/* g_sequence_search() compares the looked-up item (here the bare volume string, `b` or `a`
 * as GLib passes it) with entries; a string equal to an entry's volume sorts after it, so the
 * search lands on the first entry strictly after `after`. */
static gint compare_after(gconstpointer a, gconstpointer b, gpointer key)
{
        const char *x = a == key ? key : ((const Entry *)a)->volume;
        const char *y = b == key ? key : ((const Entry *)b)->volume;
        int c = strcmp(x, y);

        if (c != 0)
                return c;
        return a == key ? 1 : -1;
}

/* The first entry whose volume sorts after `after` (NULL: the first of all). */
static GSequenceIter *first_after(Table *t, const char *after)
{
        if (after == NULL)
                return g_sequence_get_begin_iter(t->order);
        return g_sequence_search(t->order, (gpointer)after, compare_after, (gpointer)after);
}

guint manager_list_after(Manager *self, const char *after, guint max, ManagerListFunc func,
                         gpointer user_data)
{
        GSequenceIter *it;
        guint n = 0;

        tsan_rw_reader_lock(&self->lock);
        for (it = first_after(&self->table, after); n < max && !g_sequence_iter_is_end(it);
             it = g_sequence_iter_next(it), n++) {
                const Entry *entry = g_sequence_get(it);

                func(entry->volume, entry->node, entry->attached_at, user_data);
        }
        tsan_rw_reader_unlock(&self->lock);
        return n;
}

guint manager_count(Manager *self)
{
        guint n;

        tsan_rw_reader_lock(&self->lock);
        n = g_hash_table_size(self->table.volumes);
        tsan_rw_reader_unlock(&self->lock);
        return n;
}
