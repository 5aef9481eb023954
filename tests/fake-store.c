/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "fake-store.h"

#include "service/tsan.h"

struct _FakeStore {
        Store base;
        GMutex lock;      /* guards everything below */
        GHashTable *held; /* volume -> Holding* */
        gint put_fail, remove_fail, load_fail;
        char *put_holder;
        guint put_delay_msec;
        guint puts, removes, loads;
};

static void held_free(gpointer data)
{
        holding_clear(data);
        g_free(data);
}

static Holding *held_dup(const Holding *h)
{
        Holding *copy = g_new(Holding, 1);

        holding_copy(h, copy);
        return copy;
}

static FakeStore *fake(Store *store)
{
        return (FakeStore *)store;
}

static gboolean fake_load(Store *store, StoreLoadFunc func, gpointer user_data, GError **error)
{
        FakeStore *self = fake(store);
        g_autoptr(GHashTable) copy = NULL;
        GHashTableIter iter;
        gpointer key, value;
        gint code;

        tsan_mutex_lock(&self->lock);
        self->loads++;
        code = self->load_fail;
        copy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, held_free);
        g_hash_table_iter_init(&iter, self->held);
        while (g_hash_table_iter_next(&iter, &key, &value))
                g_hash_table_insert(copy, g_strdup(key), held_dup(value));
        tsan_mutex_unlock(&self->lock);
        if (code >= 0) {
                g_set_error(error, ATTACHMENT_ERROR, code, "fake load failure");
                return FALSE;
        }
        g_hash_table_iter_init(&iter, copy);
        while (g_hash_table_iter_next(&iter, &key, &value))
                func(key, value, user_data);
        return TRUE;
}

/* Called with the lock held. Mirrors the Kubernetes store: the same decision (holding.c) on
 * what it holds, every volume shareable. */
static gboolean apply_locked(FakeStore *self, const char *volume, const HoldingRequest *req,
                             Holding *seen, GError **error)
{
        gboolean attach = req->op == HOLDING_TRACK || req->op == HOLDING_TRACK_SHARED;
        Holding *h = g_hash_table_lookup(self->held, volume);
        gint fail = attach ? self->put_fail : self->remove_fail;
        g_auto(Holding) after = {0};

        if (fail >= 0) {
                if (attach && fail == ATTACHMENT_ERROR_ALREADY_ATTACHED)
                        seen->node = g_strdup(self->put_holder);
                g_set_error(error, ATTACHMENT_ERROR, fail, "fake %s failure",
                            attach ? "put" : "remove");
                return FALSE;
        }
        if (h != NULL)
                holding_copy(h, seen);
        switch (holding_decide(volume, seen, TRUE, req, &after, error)) {
        case HOLDING_REFUSED:
                return FALSE;
        case HOLDING_SAME:
                return TRUE;
        case HOLDING_WRITE:
                break;
        }
        if (after.node == NULL)
                g_hash_table_remove(self->held, volume);
        else
                g_hash_table_replace(self->held, g_strdup(volume), held_dup(&after));
        return TRUE;
}

static gboolean fake_apply(Store *store, const char *volume, const HoldingRequest *req,
                           Holding *seen, GError **error)
{
        FakeStore *self = fake(store);
        gboolean attach = req->op == HOLDING_TRACK || req->op == HOLDING_TRACK_SHARED;
        gboolean ok;
        guint delay;

        tsan_mutex_lock(&self->lock);
        if (attach)
                self->puts++;
        else
                self->removes++;
        delay = attach ? self->put_delay_msec : 0;
        tsan_mutex_unlock(&self->lock);
        if (delay > 0)
                g_usleep(delay * G_TIME_SPAN_MILLISECOND);
        tsan_mutex_lock(&self->lock);
        ok = apply_locked(self, volume, req, seen, error);
        tsan_mutex_unlock(&self->lock);
        return ok;
}

static void fake_free(Store *store)
{
        FakeStore *self = fake(store);

        g_hash_table_unref(self->held);
        g_free(self->put_holder);
        g_mutex_clear(&self->lock);
        g_free(self);
}

static const StoreClass fake_io_class = {
    .name = "fake",
    .needs_io = TRUE,
    .load = fake_load,
    .apply = fake_apply,
    .free = fake_free,
};

static const StoreClass fake_no_io_class = {
    .name = "fake-no-io",
    .needs_io = FALSE,
    .load = fake_load,
    .apply = fake_apply,
    .free = fake_free,
};

FakeStore *fake_store_new(gboolean needs_io)
{
        FakeStore *self = g_new0(FakeStore, 1);

        self->base.klass = needs_io ? &fake_io_class : &fake_no_io_class;
        g_mutex_init(&self->lock);
        self->held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, held_free);
        self->put_fail = self->remove_fail = self->load_fail = -1;
        return self;
}

Store *fake_store_base(FakeStore *self)
{
        return &self->base;
}

void fake_store_fail_put(FakeStore *self, gint code, const char *holder)
{
        tsan_mutex_lock(&self->lock);
        self->put_fail = code;
        g_free(self->put_holder);
        self->put_holder = g_strdup(holder);
        tsan_mutex_unlock(&self->lock);
}

void fake_store_fail_remove(FakeStore *self, gint code)
{
        tsan_mutex_lock(&self->lock);
        self->remove_fail = code;
        tsan_mutex_unlock(&self->lock);
}

void fake_store_fail_load(FakeStore *self, gint code)
{
        tsan_mutex_lock(&self->lock);
        self->load_fail = code;
        tsan_mutex_unlock(&self->lock);
}

void fake_store_set_put_delay(FakeStore *self, guint msec)
{
        tsan_mutex_lock(&self->lock);
        self->put_delay_msec = msec;
        tsan_mutex_unlock(&self->lock);
}

void fake_store_seed(FakeStore *self, const char *volume, const char *node, gint64 attached_at)
{
        const Holding h = {.node = (char *)node, .attached_at = attached_at};

        tsan_mutex_lock(&self->lock);
        g_hash_table_insert(self->held, g_strdup(volume), held_dup(&h));
        tsan_mutex_unlock(&self->lock);
}

void fake_store_drop(FakeStore *self, const char *volume)
{
        tsan_mutex_lock(&self->lock);
        g_hash_table_remove(self->held, volume);
        tsan_mutex_unlock(&self->lock);
}

gboolean fake_store_lookup(FakeStore *self, const char *volume, char **node, gint64 *attached_at)
{
        Holding *h;

        tsan_mutex_lock(&self->lock);
        h = g_hash_table_lookup(self->held, volume);
        if (h != NULL && node != NULL)
                *node = g_strdup(h->node);
        if (h != NULL && attached_at != NULL)
                *attached_at = h->attached_at;
        tsan_mutex_unlock(&self->lock);
        return h != NULL;
}

#define COUNTER(name, expr)                                                                        \
        guint name(FakeStore *self)                                                                \
        {                                                                                          \
                guint n;                                                                           \
                tsan_mutex_lock(&self->lock);                                                      \
                n = (expr);                                                                        \
                tsan_mutex_unlock(&self->lock);                                                    \
                return n;                                                                          \
        }

COUNTER(fake_store_count, g_hash_table_size(self->held))
COUNTER(fake_store_puts, self->puts)
COUNTER(fake_store_removes, self->removes)
COUNTER(fake_store_loads, self->loads)

/* ---- the manager tests' fixture ---- */

void manager_fixture_setup(ManagerFixture *f, gconstpointer needs_io)
{
        f->store = fake_store_new(GPOINTER_TO_INT(needs_io));
        f->manager = manager_new(fake_store_base(f->store));
}

void manager_fixture_teardown(ManagerFixture *f, gconstpointer data)
{
        g_clear_pointer(&f->manager, manager_free);
}

void track_ok(Manager *m, const char *volume, const char *node)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_track(m, volume, node, &r, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(r.node, ==, node);
}

void assert_tracked(ManagerFixture *f, const char *volume, const char *node)
{
        g_autofree char *table_node = NULL, *store_node = NULL;
        gint64 table_at = 0, store_at = 0;
        g_autoptr(GError) error = NULL;
        gboolean in_table = manager_get(f->manager, volume, &table_node, &table_at, &error);

        g_assert_cmpstr(table_node, ==, node);
        g_assert_cmpint(in_table, ==, node != NULL);
        if (node == NULL)
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_ATTACHED);
        g_assert_cmpint(fake_store_lookup(f->store, volume, &store_node, &store_at), ==,
                        node != NULL);
        g_assert_cmpstr(store_node, ==, node);
        g_assert_cmpint(store_at, ==, table_at);
}
