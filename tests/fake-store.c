/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "fake-store.h"

#include "service/tsan.h"

typedef struct {
        char *node;
        gint64 attached_at;
} Held;

struct _FakeStore {
        Store base;
        GMutex lock;      /* guards everything below */
        GHashTable *held; /* volume -> Held* */
        gint put_fail, remove_fail, load_fail;
        char *put_holder;
        guint put_delay_msec;
        guint puts, removes, loads;
};

static void held_free(gpointer data)
{
        Held *h = data;

        g_free(h->node);
        g_free(h);
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
        while (g_hash_table_iter_next(&iter, &key, &value)) {
                Held *h = g_new(Held, 1);

                h->node = g_strdup(((Held *)value)->node);
                h->attached_at = ((Held *)value)->attached_at;
                g_hash_table_insert(copy, g_strdup(key), h);
        }
        tsan_mutex_unlock(&self->lock);
        if (code >= 0) {
                g_set_error(error, ATTACHMENT_ERROR, code, "fake load failure");
                return FALSE;
        }
        g_hash_table_iter_init(&iter, copy);
        while (g_hash_table_iter_next(&iter, &key, &value))
                func(key, ((Held *)value)->node, ((Held *)value)->attached_at, user_data);
        return TRUE;
}

/* Called with the lock held. Mirrors the Kubernetes store: another node's attachment is
 * never overwritten, the same node's keeps its time. */
static gboolean put_locked(FakeStore *self, const char *volume, const char *node,
                           gint64 *attached_at_usec, char **holder, GError **error)
{
        Held *h = g_hash_table_lookup(self->held, volume);

        if (self->put_fail >= 0) {
                if (holder != NULL && self->put_fail == ATTACHMENT_ERROR_ALREADY_ATTACHED)
                        *holder = g_strdup(self->put_holder);
                g_set_error(error, ATTACHMENT_ERROR, self->put_fail, "fake put failure");
                return FALSE;
        }
        if (h != NULL && g_strcmp0(h->node, node) != 0) {
                if (holder != NULL)
                        *holder = g_strdup(h->node);
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED,
                            "fake store: held by %s", h->node);
                return FALSE;
        }
        if (h != NULL) {
                *attached_at_usec = h->attached_at;
                return TRUE;
        }
        h = g_new(Held, 1);
        h->node = g_strdup(node);
        h->attached_at = *attached_at_usec;
        g_hash_table_insert(self->held, g_strdup(volume), h);
        return TRUE;
}

static gboolean fake_put(Store *store, const char *volume, const char *node,
                         gint64 *attached_at_usec, char **holder, GError **error)
{
        FakeStore *self = fake(store);
        gboolean ok;
        guint delay;

        tsan_mutex_lock(&self->lock);
        self->puts++;
        delay = self->put_delay_msec;
        tsan_mutex_unlock(&self->lock);
        if (delay > 0)
                g_usleep(delay * G_TIME_SPAN_MILLISECOND);
        tsan_mutex_lock(&self->lock);
        ok = put_locked(self, volume, node, attached_at_usec, holder, error);
        tsan_mutex_unlock(&self->lock);
        return ok;
}

static gboolean fake_remove(Store *store, const char *volume, const char *node, char **cleared,
                            GError **error)
{
        FakeStore *self = fake(store);
        gboolean ok = TRUE;
        Held *h;

        tsan_mutex_lock(&self->lock);
        self->removes++;
        h = g_hash_table_lookup(self->held, volume);
        if (self->remove_fail >= 0) {
                g_set_error(error, ATTACHMENT_ERROR, self->remove_fail, "fake remove failure");
                ok = FALSE;
        } else if (h != NULL) {
                /* Like the Kubernetes store: whichever node holds it. */
                if (cleared != NULL)
                        *cleared = g_strdup(h->node);
                g_hash_table_remove(self->held, volume);
        }
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
    .put = fake_put,
    .remove = fake_remove,
    .free = fake_free,
};

static const StoreClass fake_no_io_class = {
    .name = "fake-no-io",
    .needs_io = FALSE,
    .load = fake_load,
    .put = fake_put,
    .remove = fake_remove,
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
        Held *h = g_new(Held, 1);

        h->node = g_strdup(node);
        h->attached_at = attached_at;
        tsan_mutex_lock(&self->lock);
        g_hash_table_insert(self->held, g_strdup(volume), h);
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
        Held *h;

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
