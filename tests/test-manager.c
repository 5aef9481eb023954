/* SPDX-License-Identifier: MIT */
#include "testlib.h"
#include "config-build.h"

#include <string.h>

#include <glib.h>

#include "fake-store.h"
#include "service/manager.h"

static void test_track(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &r, &error));
        g_assert_no_error(error);
        g_assert_true(r.changed);
        g_assert_cmpstr(r.node, ==, "node-1");
        g_assert_cmpint(r.attached_at, >, 0);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(manager_count(f->manager), ==, 1);
        g_assert_cmpuint(fake_store_puts(f->store), ==, 1);
        g_assert_true(manager_get_store(f->manager) == fake_store_base(f->store));
}

static void test_track_idempotent(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) first = {0};
        g_auto(ManagerResult) second = {0};

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &first, NULL));
        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &second, NULL));
        g_assert_true(first.changed);
        g_assert_false(second.changed);
        g_assert_cmpstr(second.node, ==, "node-1");
        g_assert_cmpint(second.attached_at, ==, first.attached_at);
        /* The table is a cache: the second answer is confirmed by the store too. */
        g_assert_cmpuint(fake_store_puts(f->store), ==, 2);
        g_assert_cmpuint(manager_count(f->manager), ==, 1);
}

static void test_track_conflict(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        g_assert_false(manager_track(f->manager, "vol-1", "node-2", &r, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_nonnull(strstr(error->message, "already attached to node node-1"));
        g_assert_cmpstr(error->message, ==, "volume vol-1 already attached to node node-1");
        g_assert_false(r.changed);
        g_assert_null(r.node);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(fake_store_puts(f->store), ==, 2);
}

/* The five-call reproduction of issue 10 at the manager: another daemon cleared the volume
 * behind this table's back; a re-Track must write it again, not answer from the table. */
static void test_track_stale_same_node(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autofree char *node = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        fake_store_drop(f->store, "vol-1");
        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &r, NULL));
        g_assert_true(fake_store_lookup(f->store, "vol-1", &node, NULL));
        g_assert_cmpstr(node, ==, "node-1");
        assert_tracked(f, "vol-1", "node-1");
}

/* A conflict the table remembers is gone from the store: the other node gets it. */
static void test_track_stale_conflict(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        fake_store_drop(f->store, "vol-1");
        g_assert_true(manager_track(f->manager, "vol-1", "node-2", NULL, &error));
        g_assert_no_error(error);
        assert_tracked(f, "vol-1", "node-2");
}

/* Another daemon attached a volume this table never saw: Untrack clears it in the store. */
static void test_untrack_unknown_clears_store(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        fake_store_seed(f->store, "vol-1", "node-9", 5);
        g_assert_true(manager_untrack(f->manager, "vol-1", &r, &error));
        g_assert_no_error(error);
        g_assert_true(r.changed);
        g_assert_cmpstr(r.node, ==, "node-9");
        assert_tracked(f, "vol-1", NULL);
}

static void record_change(const ManagerChange *change, gpointer user_data)
{
        g_string_append_printf(user_data, "%s %s %s;",
                               change->kind == MANAGER_CHANGE_ATTACHED ? "attached" : "detached",
                               change->volume, change->node);
}

/* Every change of the table is reported once, in order; no change, no report. */
static void test_change_func(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GString) changes = g_string_new(NULL);

        manager_set_change_func(f->manager, record_change, changes);
        track_ok(f->manager, "vol-1", "node-1");
        track_ok(f->manager, "vol-1", "node-1");
        g_assert_true(manager_untrack(f->manager, "vol-1", NULL, NULL));
        g_assert_true(manager_untrack(f->manager, "vol-1", NULL, NULL));
        fake_store_seed(f->store, "vol-2", "node-2", 5);
        g_assert_true(manager_untrack(f->manager, "vol-2", NULL, NULL));
        g_assert_cmpstr(changes->str, ==, "attached vol-1 node-1;detached vol-1 node-1;");
        manager_set_change_func(f->manager, NULL, NULL);
}

static void collect_volume(const char *volume, const char *node, gint64 attached_at,
                           gpointer user_data)
{
        g_string_append_printf(user_data, "%s=%s ", volume, node);
}

/* Slices of the sorted table, each resuming after a volume (present or not). */
static void test_list_after(ManagerFixture *f, gconstpointer data)
{
        static const struct {
                const char *after;
                guint max;
                const char *want;
        } cases[] = {
            {NULL, 2, "vol-1=n1 vol-2=n2 "},
            {"vol-2", 2, "vol-3=n3 vol-4=n4 "},
            {"vol-25", 10, "vol-3=n3 vol-4=n4 vol-5=n5 "},
            {"vol-5", 10, ""},
            {"", 1, "vol-1=n1 "},
        };

        for (guint i = 5; i > 0; i--) {
                g_autofree char *volume = g_strdup_printf("vol-%u", i);
                g_autofree char *node = g_strdup_printf("n%u", i);

                track_ok(f->manager, volume, node);
        }
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GString) got = g_string_new(NULL);
                guint n = manager_list_after(f->manager, cases[i].after, cases[i].max,
                                             collect_volume, got);

                g_assert_cmpstr(got->str, ==, cases[i].want);
                g_assert_cmpuint(n, ==, strlen(cases[i].want) / strlen("vol-1=n1 "));
        }
        g_assert_true(manager_untrack(f->manager, "vol-3", NULL, NULL));
        {
                g_autoptr(GString) got = g_string_new(NULL);

                manager_list_after(f->manager, "vol-2", 1, collect_volume, got);
                g_assert_cmpstr(got->str, ==, "vol-4=n4 ");
        }
}

static void test_untrack(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) tracked = {0};
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &tracked, NULL));
        g_assert_true(manager_untrack(f->manager, "vol-1", &r, &error));
        g_assert_no_error(error);
        g_assert_true(r.changed);
        g_assert_cmpstr(r.node, ==, "node-1");
        g_assert_cmpint(r.attached_at, ==, tracked.attached_at);
        assert_tracked(f, "vol-1", NULL);
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
        g_assert_cmpuint(fake_store_removes(f->store), ==, 1);

        g_assert_false(manager_get(f->manager, "vol-1", NULL, NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_ATTACHED);
        g_assert_cmpstr(error->message, ==, "volume vol-1 is not attached");
}

static void test_untrack_idempotent(ManagerFixture *f, gconstpointer data)
{
        for (guint i = 0; i < 2; i++) {
                g_auto(ManagerResult) r = {0};
                g_autoptr(GError) error = NULL;

                g_assert_true(manager_untrack(f->manager, "vol-1", &r, &error));
                g_assert_no_error(error);
                g_assert_false(r.changed);
                g_assert_null(r.node);
        }
        /* Each answer comes from the store, even for a volume the table does not hold. */
        g_assert_cmpuint(fake_store_removes(f->store), ==, 2);

        track_ok(f->manager, "vol-1", "node-1");
        g_assert_true(manager_untrack(f->manager, "vol-1", NULL, NULL));
        g_assert_true(manager_untrack(f->manager, "vol-1", NULL, NULL));
        g_assert_cmpuint(fake_store_removes(f->store), ==, 4);
}

static void test_list_is_copy(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GPtrArray) list = NULL;
        Attachment *a;

        track_ok(f->manager, "vol-1", "node-1");
        track_ok(f->manager, "vol-2", "node-2");
        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, 2);

        /* Changing the copy changes nothing in the table, and the reverse. */
        a = list->pdata[0];
        g_free(a->node);
        a->node = g_strdup("scribbled");
        g_assert_true(manager_untrack(f->manager, "vol-2", NULL, NULL));
        assert_tracked(f, "vol-1", "node-1");
        a = list->pdata[1];
        g_assert_cmpstr(a->volume, ==, "vol-2");
        g_assert_cmpstr(a->node, ==, "node-2");
        g_clear_pointer(&list, g_ptr_array_unref);

        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, 1);
        a = list->pdata[0];
        g_assert_cmpstr(a->node, ==, "node-1");
}

static void test_list_sorted(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GRand) rand = g_rand_new_with_seed(42);
        g_autoptr(GPtrArray) list = NULL;
        guint n = 200;

        for (guint i = 0; i < n; i++) {
                g_autofree char *volume =
                    g_strdup_printf("vol-%u", g_rand_int_range(rand, 0, 1000000));
                g_autofree char *node = g_strdup_printf("node-%u", g_rand_int_range(rand, 0, 5));

                if (!manager_track(f->manager, volume, node, NULL, NULL))
                        n--; /* the same volume drawn twice with another node */
        }
        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, manager_count(f->manager));
        g_assert_cmpuint(list->len, >, 150);
        for (guint i = 0; i < list->len; i++) {
                Attachment *a = list->pdata[i];

                assert_tracked(f, a->volume, a->node);
                if (i > 0)
                        g_assert_cmpint(
                            strcmp(((Attachment *)list->pdata[i - 1])->volume, a->volume), <, 0);
        }
}

static void test_store_put_fails_rolls_back(ManagerFixture *f, gconstpointer data)
{
        const gint codes[] = {ATTACHMENT_ERROR_FAILED, ATTACHMENT_ERROR_NOT_FOUND};

        for (gsize i = 0; i < G_N_ELEMENTS(codes); i++) {
                g_auto(ManagerResult) r = {0};
                g_autoptr(GError) error = NULL;

                fake_store_fail_put(f->store, codes[i], NULL);
                g_assert_false(manager_track(f->manager, "vol-1", "node-1", &r, &error));
                g_assert_error(error, ATTACHMENT_ERROR, codes[i]);
                g_assert_false(r.changed);
                assert_tracked(f, "vol-1", NULL);
                g_assert_cmpuint(manager_count(f->manager), ==, 0);
        }
        fake_store_fail_put(f->store, -1, NULL);
        track_ok(f->manager, "vol-1", "node-1");
        assert_tracked(f, "vol-1", "node-1");
}

static void test_store_remove_fails_keeps(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        fake_store_fail_remove(f->store, ATTACHMENT_ERROR_FAILED);
        g_assert_false(manager_untrack(f->manager, "vol-1", &r, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_false(r.changed);
        assert_tracked(f, "vol-1", "node-1");

        fake_store_fail_remove(f->store, -1);
        g_assert_true(manager_untrack(f->manager, "vol-1", &r, NULL));
        g_assert_true(r.changed);
        assert_tracked(f, "vol-1", NULL);
}

static void test_attached_at_is_now(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        gint64 now;

        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &r, NULL));
        now = g_get_real_time();
        g_assert_cmpint(r.attached_at, <=, now);
        g_assert_cmpint(r.attached_at, >, now - 2 * G_USEC_PER_SEC);
        assert_tracked(f, "vol-1", "node-1");
}

static void test_store_keeps_time(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        gint64 then = 1700000000123456;

        /* The store already holds this node's attachment (a restart lost our table): the
         * store's original time wins over now. */
        fake_store_seed(f->store, "vol-1", "node-1", then);
        g_assert_true(manager_track(f->manager, "vol-1", "node-1", &r, NULL));
        g_assert_true(r.changed);
        g_assert_cmpint(r.attached_at, ==, then);
        assert_tracked(f, "vol-1", "node-1");
}

static void test_store_already_attached(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        /* Another daemon attached it to node-9: only the store knows. */
        fake_store_seed(f->store, "vol-1", "node-9", 1);
        g_assert_false(manager_track(f->manager, "vol-1", "node-1", NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(error->message, ==, "volume vol-1 already attached to node node-9");
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
        g_clear_error(&error);

        /* A store that cannot name the holder: its own message goes through. */
        fake_store_fail_put(f->store, ATTACHMENT_ERROR_ALREADY_ATTACHED, NULL);
        g_assert_false(manager_track(f->manager, "vol-2", "node-1", NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(error->message, ==, "fake put failure");
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
}

static void test_load(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GPtrArray) list = NULL;
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-old", "node-1");
        fake_store_seed(f->store, "vol-b", "node-2", 200);
        fake_store_seed(f->store, "vol-a", "node-1", 100);
        fake_store_seed(f->store, "vol-c", "node-2", 300);
        /* Left in the store by track_ok, so it comes back too. */
        g_assert_true(manager_load(f->manager, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(manager_count(f->manager), ==, 4);
        list = manager_list(f->manager);
        g_assert_cmpstr(((Attachment *)list->pdata[0])->volume, ==, "vol-a");
        g_assert_cmpint(((Attachment *)list->pdata[0])->attached_at, ==, 100);
        g_assert_cmpstr(((Attachment *)list->pdata[2])->volume, ==, "vol-c");
        g_assert_cmpstr(((Attachment *)list->pdata[2])->node, ==, "node-2");
        g_assert_cmpstr(((Attachment *)list->pdata[3])->volume, ==, "vol-old");
        assert_tracked(f, "vol-b", "node-2");

        /* The loaded table works like any other. */
        g_assert_true(manager_untrack(f->manager, "vol-a", NULL, NULL));
        assert_tracked(f, "vol-a", NULL);
        g_assert_false(manager_track(f->manager, "vol-b", "node-1", NULL, NULL));
}

static void test_load_replaces(ManagerFixture *f, gconstpointer data)
{
        track_ok(f->manager, "vol-1", "node-1");
        track_ok(f->manager, "vol-2", "node-1");
        /* Another daemon detached vol-1 and attached vol-3 meanwhile: load believes the store. */
        fake_store_drop(f->store, "vol-1");
        fake_store_seed(f->store, "vol-3", "node-3", 3);
        g_assert_true(manager_load(f->manager, NULL));
        g_assert_cmpuint(manager_count(f->manager), ==, 2);
        assert_tracked(f, "vol-1", NULL);
        assert_tracked(f, "vol-2", "node-1");
        assert_tracked(f, "vol-3", "node-3");
}

static void test_load_fails_keeps_table(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        fake_store_seed(f->store, "vol-2", "node-2", 2);
        fake_store_fail_load(f->store, ATTACHMENT_ERROR_FAILED);
        g_assert_false(manager_load(f->manager, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        g_assert_cmpuint(manager_count(f->manager), ==, 1);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(fake_store_loads(f->store), ==, 1);
}

static void test_try_track_needs_io(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, &error), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_no_error(error);
        g_assert_null(r.node);
        g_assert_cmpuint(fake_store_puts(f->store), ==, 0);
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
        g_assert_cmpuint(volume_locks_count(manager_get_locks(f->manager)), ==, 0);
}

/* With a store that needs I/O the table never answers a mutation, not even the same node
 * again or a conflict it knows (DESIGN §8). */
static void test_try_track_done(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        track_ok(f->manager, "vol-1", "node-1");
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, &error), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_no_error(error);
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-2", NULL, &error), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_no_error(error);
        g_assert_cmpuint(fake_store_puts(f->store), ==, 1);
}

static void test_try_untrack(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};

        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, NULL), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_false(r.changed);
        g_assert_null(r.node);

        track_ok(f->manager, "vol-1", "node-1");
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, NULL), ==,
                        MANAGER_TRY_NEEDS_IO);
        g_assert_cmpuint(fake_store_removes(f->store), ==, 0);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpuint(volume_locks_count(manager_get_locks(f->manager)), ==, 0);
}

/* With a store that needs no I/O, the try variants do the whole job. */
static void test_try_no_io_store(ManagerFixture *f, gconstpointer data)
{
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, NULL), ==,
                        MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        assert_tracked(f, "vol-1", "node-1");
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, NULL), ==, MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        g_assert_cmpstr(r.node, ==, "node-1");
        assert_tracked(f, "vol-1", NULL);

        fake_store_fail_put(f->store, ATTACHMENT_ERROR_FAILED, NULL);
        g_assert_cmpint(manager_try_track(f->manager, "vol-1", "node-1", &r, &error), ==,
                        MANAGER_TRY_FAILED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        assert_tracked(f, "vol-1", NULL);
        g_clear_error(&error);

        fake_store_fail_put(f->store, -1, NULL);
        track_ok(f->manager, "vol-1", "node-1");
        fake_store_fail_remove(f->store, ATTACHMENT_ERROR_FAILED);
        g_assert_cmpint(manager_try_untrack(f->manager, "vol-1", &r, &error), ==,
                        MANAGER_TRY_FAILED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        assert_tracked(f, "vol-1", "node-1");
}

static void test_store_none(void)
{
        g_autoptr(Manager) m = manager_new(store_none_new());
        g_auto(ManagerResult) r = {0};

        g_assert_cmpstr(store_name(manager_get_store(m)), ==, "none");
        g_assert_false(store_needs_io(manager_get_store(m)));
        g_assert_true(manager_load(m, NULL));
        g_assert_cmpint(manager_try_track(m, "vol-1", "node-1", &r, NULL), ==, MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        g_assert_true(manager_track(m, "vol-2", "node-1", &r, NULL));
        g_assert_true(r.changed);
        g_assert_cmpuint(manager_count(m), ==, 2);
        g_assert_true(manager_untrack(m, "vol-1", &r, NULL));
        g_assert_true(r.changed);
        g_assert_cmpint(manager_try_untrack(m, "vol-2", &r, NULL), ==, MANAGER_TRY_DONE);
        g_assert_true(r.changed);
        g_assert_cmpuint(manager_count(m), ==, 0);
}

/* Many volumes on few nodes share the interned node names; they go when the volumes go. */
static void test_many_volumes_few_nodes(ManagerFixture *f, gconstpointer data)
{
        for (guint round = 0; round < 2; round++) {
                for (guint i = 0; i < 1000; i++) {
                        g_autofree char *volume = g_strdup_printf("pvc-%04u", i);
                        g_autofree char *node = g_strdup_printf("node-%u", i % 4);

                        track_ok(f->manager, volume, node);
                }
                g_assert_cmpuint(manager_count(f->manager), ==, 1000);
                assert_tracked(f, "pvc-0005", "node-1");
                for (guint i = 0; i < 1000; i++) {
                        g_autofree char *volume = g_strdup_printf("pvc-%04u", i);

                        g_assert_true(manager_untrack(f->manager, volume, NULL, NULL));
                }
                g_assert_cmpuint(manager_count(f->manager), ==, 0);
        }
}

static void test_free_null(void)
{
        manager_free(NULL);
        attachment_free(NULL);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        ADD("/manager/track", test_track, TRUE);
        ADD("/manager/track-idempotent", test_track_idempotent, TRUE);
        ADD("/manager/track-conflict", test_track_conflict, TRUE);
        ADD("/manager/untrack", test_untrack, TRUE);
        ADD("/manager/untrack-idempotent", test_untrack_idempotent, TRUE);
        ADD("/manager/list-is-copy", test_list_is_copy, TRUE);
        ADD("/manager/list-sorted", test_list_sorted, TRUE);
        ADD("/manager/list-after", test_list_after, FALSE);
        ADD("/manager/store-put-fails-rolls-back", test_store_put_fails_rolls_back, TRUE);
        ADD("/manager/store-remove-fails-keeps", test_store_remove_fails_keeps, TRUE);
        ADD("/manager/attached-at-is-now", test_attached_at_is_now, TRUE);
        ADD("/manager/store-keeps-time", test_store_keeps_time, TRUE);
        ADD("/manager/store-already-attached", test_store_already_attached, TRUE);
        ADD("/manager/load", test_load, TRUE);
        ADD("/manager/load-replaces", test_load_replaces, TRUE);
        ADD("/manager/load-fails-keeps-table", test_load_fails_keeps_table, TRUE);
        ADD("/manager/try-track-needs-io", test_try_track_needs_io, TRUE);
        ADD("/manager/try-track-store-answers", test_try_track_done, TRUE);
        ADD("/manager/track-stale-same-node", test_track_stale_same_node, TRUE);
        ADD("/manager/track-stale-conflict", test_track_stale_conflict, TRUE);
        ADD("/manager/untrack-unknown-clears-store", test_untrack_unknown_clears_store, TRUE);
        ADD("/manager/change-func", test_change_func, TRUE);
        ADD("/manager/try-untrack", test_try_untrack, TRUE);
        ADD("/manager/try-no-io-store", test_try_no_io_store, FALSE);
        ADD("/manager/many-volumes-few-nodes", test_many_volumes_few_nodes, TRUE);
        g_test_add_func("/manager/store-none", test_store_none);
        g_test_add_func("/manager/free-null", test_free_null);
        return g_test_run();
}
