/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "manager-private.h"
#include "tsan.h"

#include <string.h>

static void table_init(Table *t)
{
        t->volumes = g_hash_table_new(g_str_hash, g_str_equal);
        t->nodes = g_hash_table_new(g_str_hash, g_str_equal);
        t->migrating = g_hash_table_new(g_str_hash, g_str_equal);
        t->order = g_sequence_new(NULL);
        t->rows = 0;
}

static void table_clear(Table *t)
{
        GHashTableIter iter;
        gpointer key;

        g_hash_table_iter_init(&iter, t->volumes);
        while (g_hash_table_iter_next(&iter, &key, NULL)) {
                g_free(ENTRY_OF(key)->shared);
                g_free(ENTRY_OF(key));
        }
        g_hash_table_iter_init(&iter, t->nodes);
        while (g_hash_table_iter_next(&iter, &key, NULL))
                g_free(NODE_OF(key));
        g_clear_pointer(&t->volumes, g_hash_table_unref);
        g_clear_pointer(&t->nodes, g_hash_table_unref);
        g_clear_pointer(&t->migrating, g_hash_table_unref);
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

static const char *entry_target(const Entry *entry)
{
        return entry->shared != NULL ? entry->shared->target : NULL;
}

static void table_remove(Table *t, Entry *entry)
{
        g_hash_table_remove(t->volumes, entry->volume);
        g_sequence_remove(entry->order);
        node_unref(t, entry->node);
        t->rows--;
        if (entry_target(entry) != NULL) {
                g_hash_table_remove(t->migrating, entry->volume);
                node_unref(t, entry->shared->target);
                t->rows--;
        }
        g_free(entry->shared);
        g_free(entry);
}

/* `h` names a node. The second node and its time take memory only when present. */
static void table_insert(Table *t, const char *volume, const Holding *h, gboolean reported)
{
        Entry *entry = table_lookup(t, volume);
        gsize len;

        if (entry != NULL)
                table_remove(t, entry);
        len = strlen(volume);
        entry = g_malloc(sizeof(Entry) + len + 1);
        entry->attached_at = h->attached_at;
        entry->node = node_ref(t, h->node);
        entry->shared = NULL;
        memcpy(entry->volume, volume, len + 1);
        g_hash_table_add(t->volumes, entry->volume);
        entry->order = g_sequence_insert_sorted(t->order, entry, compare_entries, NULL);
        t->rows++;
        if (!h->shared && h->target == NULL)
                return;
        entry->shared = g_new0(Shared, 1);
        if (h->target == NULL)
                return;
        entry->shared->target = node_ref(t, h->target);
        entry->shared->target_at = h->target_at;
        entry->shared->overdue_reported = reported;
        g_hash_table_add(t->migrating, entry->volume);
        t->rows++;
}

static void entry_holding(const Entry *entry, Holding *out)
{
        *out = (Holding){.node = g_strdup(entry->node),
                         .attached_at = entry->attached_at,
                         .target = g_strdup(entry_target(entry)),
                         .target_at = entry_target(entry) != NULL ? entry->shared->target_at : 0,
                         .shared = entry->shared != NULL};
}

/* A copy of what the table holds of `volume` (empty: nobody). */
static void table_get(Manager *self, const char *volume, Holding *out)
{
        Entry *entry;

        *out = (Holding){0};
        tsan_rw_reader_lock(&self->lock);
        entry = table_lookup(&self->table, volume);
        if (entry != NULL)
                entry_holding(entry, out);
        tsan_rw_reader_unlock(&self->lock);
}

static void emit(Manager *self, ManagerChangeKind kind, const char *volume, const char *node,
                 gint64 attached_at)
{
        const ManagerChange change = {
            .kind = kind, .volume = volume, .node = node, .attached_at = attached_at};

        if (self->change_func != NULL)
                self->change_func(&change, self->change_data);
}

/* Per node: Detached for each node that left, then Attached for each that came, oldest
 * first. A node that stays (even with a new time, the second becoming the first) is no
 * news. */
static void emit_differences(Manager *self, const char *volume, const Holding *before,
                             const Holding *after)
{
        const char *const left[] = {before->node, before->target};
        const char *const came[] = {after->node, after->target};
        const gint64 came_at[] = {after->attached_at, after->target_at};

        for (guint i = 0; i < G_N_ELEMENTS(left); i++) {
                if (left[i] != NULL && !holding_has(after, left[i], NULL))
                        emit(self, MANAGER_CHANGE_DETACHED, volume, left[i], 0);
        }
        for (guint i = 0; i < G_N_ELEMENTS(came); i++) {
                if (came[i] != NULL && !holding_has(before, came[i], NULL))
                        emit(self, MANAGER_CHANGE_ATTACHED, volume, came[i], came_at[i]);
        }
}

/* Whether the migration in `entry` is the one `h` describes (same second node, same start):
 * then its MigrationOverdue, if it went out, is not sent again. */
static gboolean same_migration(const Entry *entry, const Holding *h)
{
        return entry != NULL && entry_target(entry) != NULL &&
               g_strcmp0(entry->shared->target, h->target) == 0 &&
               entry->shared->target_at == h->target_at && entry->shared->overdue_reported;
}

/* Makes the table say `h` holds `volume` (h->node NULL: nobody), and reports each difference
 * as a change. The caller holds the volume's lock, so changes of one volume are reported in
 * the order they happen. Returns TRUE when the table changed. */
static gboolean table_set(Manager *self, const char *volume, const Holding *h)
{
        g_auto(Holding) before = {0};
        gboolean changed;
        Entry *entry;

        tsan_rw_writer_lock(&self->lock);
        entry = table_lookup(&self->table, volume);
        if (entry != NULL)
                entry_holding(entry, &before);
        changed = !holding_equal(&before, h);
        if (changed && h->node != NULL)
                table_insert(&self->table, volume, h, same_migration(entry, h));
        else if (changed && entry != NULL)
                table_remove(&self->table, entry);
        tsan_rw_writer_unlock(&self->lock);
        if (changed)
                emit_differences(self, volume, &before, h);
        return changed;
}

static void on_store_observe(const char *volume, const Holding *holding, gpointer user_data)
{
        table_set(user_data, volume, holding);
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

void manager_overdue_free(ManagerOverdue *o)
{
        if (o == NULL)
                return;
        g_free(o->volume);
        g_free(o->source);
        g_free(o->target);
        g_free(o);
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

/* track: the node now holding it; untrack: the first node cleared; UntrackNode: that node. */
static void result_from(ManagerResult *r, const HoldingRequest *req, const Holding *before,
                        const Holding *after, gboolean changed)
{
        gint64 at = 0;

        switch (req->op) {
        case HOLDING_TRACK:
        case HOLDING_TRACK_SHARED:
                holding_has(after, req->node, &at);
                set_result(r, changed, req->node, at);
                return;
        case HOLDING_UNTRACK_NODE:
                changed = holding_has(before, req->node, &at) && changed;
                set_result(r, changed, changed ? req->node : NULL, at);
                return;
        case HOLDING_UNTRACK:
                set_result(r, changed, before->node, before->attached_at);
                return;
        }
}

Manager *manager_new(Store *store)
{
        Manager *self = g_new0(Manager, 1);

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

static void load_one(const char *volume, const Holding *holding, gpointer user_data)
{
        if (holding->node != NULL)
                table_insert(user_data, volume, holding, FALSE);
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

static gboolean apply_failed(Manager *self, const char *volume, const Holding *seen, GError **local,
                             GError **error)
{
        if (g_error_matches(*local, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_FOUND))
                table_set(self, volume, &(Holding){0});
        if (seen->node != NULL &&
            g_error_matches(*local, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED))
                return holding_set_already_attached(error, volume, seen);
        g_propagate_error(error, g_steal_pointer(local));
        return FALSE;
}

/* Persists, then records: a failed apply leaves the table as it was (a store that learnt
 * something on the way told the table through the observer already). A store with state
 * names the holding it decided on, and the new one follows from it; a store without (Store=
 * none) is told what the table decided (`after`). */
static gboolean apply_in_store(Manager *self, const char *volume, const HoldingRequest *req,
                               const Holding *before, Holding *after, ManagerResult *result,
                               GError **error)
{
        g_auto(Holding) seen = {0};
        g_autoptr(GError) local = NULL;
        gboolean wrote = TRUE;

        if (!store_apply(self->store, volume, req, &seen, &local))
                return apply_failed(self, volume, &seen, &local, error);
        if (seen.node != NULL || store_needs_io(self->store)) {
                holding_clear(after);
                wrote = holding_decide(volume, &seen, TRUE, req, after, NULL) == HOLDING_WRITE;
                if (!wrote)
                        holding_copy(&seen, after);
        }
        wrote = table_set(self, volume, after) || wrote;
        result_from(result, req, seen.node != NULL ? &seen : before, after, wrote);
        return TRUE;
}

/* The one decision behind every mutation and its try variant. A store with I/O is the
 * authority: the table, a cache, decides only for a store without (Store=none). */
static ManagerTry apply_locked(Manager *self, const char *volume, const HoldingRequest *req,
                               gboolean may_block, ManagerResult *result, GError **error)
{
        gboolean io = store_needs_io(self->store);
        g_auto(Holding) before = {0};
        g_auto(Holding) after = {0};

        if (io && !may_block)
                return MANAGER_TRY_NEEDS_IO;
        table_get(self, volume, &before);
        if (!io) {
                switch (holding_decide(volume, &before, TRUE, req, &after, error)) {
                case HOLDING_REFUSED:
                        return MANAGER_TRY_FAILED;
                case HOLDING_SAME:
                        result_from(result, req, &before, &before, FALSE);
                        return MANAGER_TRY_DONE;
                case HOLDING_WRITE:
                        break;
                }
        }
        return apply_in_store(self, volume, req, &before, &after, result, error)
                   ? MANAGER_TRY_DONE
                   : MANAGER_TRY_FAILED;
}

gboolean manager_apply(Manager *self, const char *volume, const HoldingRequest *req,
                       ManagerResult *result, GError **error)
{
        ManagerTry answer;

        volume_lock(self->locks, volume);
        answer = apply_locked(self, volume, req, TRUE, result, error);
        volume_unlock(self->locks, volume);
        return answer == MANAGER_TRY_DONE;
}

static ManagerTry try_apply(Manager *self, const char *volume, const HoldingRequest *req,
                            ManagerResult *result, GError **error)
{
        ManagerTry answer;

        if (!volume_trylock(self->locks, volume))
                return MANAGER_TRY_NEEDS_IO;
        answer = apply_locked(self, volume, req, FALSE, result, error);
        volume_unlock(self->locks, volume);
        return answer;
}

gboolean manager_track(Manager *self, const char *volume, const char *node, ManagerResult *result,
                       GError **error)
{
        const HoldingRequest req = {HOLDING_TRACK, node, g_get_real_time()};

        return manager_apply(self, volume, &req, result, error);
}

ManagerTry manager_try_track(Manager *self, const char *volume, const char *node,
                             ManagerResult *result, GError **error)
{
        const HoldingRequest req = {HOLDING_TRACK, node, g_get_real_time()};

        return try_apply(self, volume, &req, result, error);
}

gboolean manager_untrack(Manager *self, const char *volume, ManagerResult *result, GError **error)
{
        const HoldingRequest req = {HOLDING_UNTRACK, NULL, 0};

        return manager_apply(self, volume, &req, result, error);
}

ManagerTry manager_try_untrack(Manager *self, const char *volume, ManagerResult *result,
                               GError **error)
{
        const HoldingRequest req = {HOLDING_UNTRACK, NULL, 0};

        return try_apply(self, volume, &req, result, error);
}

static HoldingRequest operation_request(const Operation *op)
{
        static const HoldingOp ops[] = {
            [OPERATION_TRACK] = HOLDING_TRACK,
            [OPERATION_UNTRACK] = HOLDING_UNTRACK,
            [OPERATION_TRACK_SHARED] = HOLDING_TRACK_SHARED,
            [OPERATION_UNTRACK_NODE] = HOLDING_UNTRACK_NODE,
        };
        G_STATIC_ASSERT(G_N_ELEMENTS(ops) == OPERATION_N_KINDS);

        g_assert(op->kind < OPERATION_N_KINDS);
        return (HoldingRequest){ops[op->kind], op->node, g_get_real_time()};
}

void manager_run(Manager *self, Operation *op)
{
        const HoldingRequest req = operation_request(op);

        manager_apply(self, op->volume, &req, &op->result, &op->error);
}

ManagerTry manager_try_run(Manager *self, Operation *op)
{
        const HoldingRequest req = operation_request(op);

        return try_apply(self, op->volume, &req, &op->result, &op->error);
}

gboolean manager_get_nodes(Manager *self, const char *volume, Holding *out, GError **error)
{
        table_get(self, volume, out);
        if (out->node != NULL)
                return TRUE;
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_ATTACHED,
                    "volume %s is not attached", volume);
        return FALSE;
}

gboolean manager_get(Manager *self, const char *volume, char **node, gint64 *attached_at,
                     GError **error)
{
        g_auto(Holding) h = {0};

        if (!manager_get_nodes(self, volume, &h, error))
                return FALSE;
        if (node != NULL)
                *node = g_steal_pointer(&h.node);
        if (attached_at != NULL)
                *attached_at = h.attached_at;
        return TRUE;
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

/* The second node attached after the first (its time is later or equal): rows in
 * attached_at order are the first, then the second. */
guint manager_list_after(Manager *self, const char *after, guint max, ManagerListFunc func,
                         gpointer user_data)
{
        GSequenceIter *it;
        guint n = 0;

        tsan_rw_reader_lock(&self->lock);
        for (it = first_after(&self->table, after); n < max && !g_sequence_iter_is_end(it);
             it = g_sequence_iter_next(it)) {
                const Entry *entry = g_sequence_get(it);

                func(entry->volume, entry->node, entry->attached_at, user_data);
                n++;
                if (entry_target(entry) == NULL)
                        continue;
                func(entry->volume, entry->shared->target, entry->shared->target_at, user_data);
                n++;
        }
        tsan_rw_reader_unlock(&self->lock);
        return n;
}

guint manager_count(Manager *self)
{
        guint n;

        tsan_rw_reader_lock(&self->lock);
        n = self->table.rows;
        tsan_rw_reader_unlock(&self->lock);
        return n;
}

GPtrArray *manager_take_overdue(Manager *self, gint64 now, gint64 timeout_usec)
{
        GPtrArray *due = g_ptr_array_new_with_free_func((GDestroyNotify)manager_overdue_free);
        GHashTableIter iter;
        gpointer key;

        tsan_rw_writer_lock(&self->lock);
        g_hash_table_iter_init(&iter, self->table.migrating);
        while (g_hash_table_iter_next(&iter, &key, NULL)) {
                Entry *entry = ENTRY_OF(key);
                Shared *shared = entry->shared;
                ManagerOverdue *o;

                if (shared->overdue_reported || now - shared->target_at <= timeout_usec)
                        continue;
                shared->overdue_reported = TRUE;
                o = g_new(ManagerOverdue, 1);
                *o = (ManagerOverdue){g_strdup(entry->volume), g_strdup(entry->node),
                                      g_strdup(shared->target), shared->target_at};
                g_ptr_array_add(due, o);
        }
        tsan_rw_writer_unlock(&self->lock);
        return due;
}
