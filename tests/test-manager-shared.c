/* SPDX-License-Identifier: MIT */
/* The manager's two-node table (DESIGN §9): shared holdings, per-node signals, List rows,
 * AttachmentCount, GetNodes and the overdue migrations, over a store with I/O (the fake,
 * which decides like the Kubernetes store) and one without (Store=none: the table decides). */
#include "fake-store.h"
#include "testlib.h"

#include <string.h>

static void apply_ok(Manager *m, HoldingOp op, const char *volume, const char *node, gint64 now)
{
        const HoldingRequest req = {op, node, now};
        g_auto(ManagerResult) r = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(manager_apply(m, volume, &req, &r, &error));
        g_assert_no_error(error);
}

static void record(const ManagerChange *change, gpointer user_data)
{
        g_string_append_printf(user_data, "%s %s %s;",
                               change->kind == MANAGER_CHANGE_ATTACHED ? "+" : "-", change->volume,
                               change->node);
}

static char *nodes_of(Manager *m, const char *volume)
{
        g_auto(Holding) h = {0};

        if (!manager_get_nodes(m, volume, &h, NULL))
                return g_strdup("");
        if (h.target == NULL)
                return g_strdup_printf("%s@%" G_GINT64_FORMAT "%s", h.node, h.attached_at,
                                       h.shared ? " shared" : "");
        return g_strdup_printf("%s@%" G_GINT64_FORMAT ",%s@%" G_GINT64_FORMAT, h.node,
                               h.attached_at, h.target, h.target_at);
}

static void test_two_nodes(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GString) changes = g_string_new(NULL);
        g_autoptr(GPtrArray) list = NULL;
        g_autofree char *nodes = NULL;
        const HoldingRequest third = {HOLDING_TRACK_SHARED, "node-c", 30};
        g_autoptr(GError) error = NULL;
        g_autofree char *first = NULL;

        manager_set_change_func(f->manager, record, changes);
        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol-b", "node-a", 10);
        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol-b", "node-b", 20);
        apply_ok(f->manager, HOLDING_TRACK, "vol-a", "node-b", 5);
        g_assert_cmpstr(changes->str, ==, "+ vol-b node-a;+ vol-b node-b;+ vol-a node-b;");
        nodes = nodes_of(f->manager, "vol-b");
        g_assert_cmpstr(nodes, ==, "node-a@10,node-b@20");
        g_assert_true(manager_get(f->manager, "vol-b", &first, NULL, NULL));
        g_assert_cmpstr(first, ==, "node-a");
        g_assert_cmpuint(manager_count(f->manager), ==, 3);
        list = manager_list(f->manager);
        g_assert_cmpuint(list->len, ==, 3);
        g_assert_cmpstr(((Attachment *)list->pdata[0])->volume, ==, "vol-a");
        g_assert_cmpstr(((Attachment *)list->pdata[1])->node, ==, "node-a");
        g_assert_cmpstr(((Attachment *)list->pdata[2])->node, ==, "node-b");
        g_assert_false(manager_apply(f->manager, "vol-b", &third, NULL, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(error->message, ==,
                        "volume vol-b already attached to nodes node-a and node-b");
}

static void test_untrack_node(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GString) changes = g_string_new(NULL);
        g_autofree char *after_source = NULL;
        g_autofree char *after_all = NULL;

        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-a", 10);
        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-b", 20);
        manager_set_change_func(f->manager, record, changes);
        /* The source leaves: one Detached, the target is first since its start. */
        apply_ok(f->manager, HOLDING_UNTRACK_NODE, "vol", "node-a", 0);
        after_source = nodes_of(f->manager, "vol");
        g_assert_cmpstr(after_source, ==, "node-b@20 shared");
        g_assert_cmpstr(changes->str, ==, "- vol node-a;");
        g_assert_cmpuint(manager_count(f->manager), ==, 1);
        /* Untrack of two nodes: a Detached each, in order. */
        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-c", 30);
        g_string_truncate(changes, 0);
        apply_ok(f->manager, HOLDING_UNTRACK, "vol", NULL, 0);
        g_assert_cmpstr(changes->str, ==, "- vol node-b;- vol node-c;");
        after_all = nodes_of(f->manager, "vol");
        g_assert_cmpstr(after_all, ==, "");
        g_assert_cmpuint(manager_count(f->manager), ==, 0);
}

static void test_overdue(ManagerFixture *f, gconstpointer data)
{
        g_autoptr(GPtrArray) early = NULL;
        g_autoptr(GPtrArray) due = NULL;
        g_autoptr(GPtrArray) again = NULL;
        g_autoptr(GPtrArray) next = NULL;

        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-a", 10);
        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-b", 100);
        early = manager_take_overdue(f->manager, 150, 100);
        g_assert_cmpuint(early->len, ==, 0);
        due = manager_take_overdue(f->manager, 201, 100);
        g_assert_cmpuint(due->len, ==, 1);
        g_assert_cmpstr(((ManagerOverdue *)due->pdata[0])->source, ==, "node-a");
        g_assert_cmpstr(((ManagerOverdue *)due->pdata[0])->target, ==, "node-b");
        g_assert_cmpint(((ManagerOverdue *)due->pdata[0])->started_at, ==, 100);
        /* Once per migration. */
        again = manager_take_overdue(f->manager, 10000, 100);
        g_assert_cmpuint(again->len, ==, 0);
        /* A new second node is a new migration. */
        apply_ok(f->manager, HOLDING_UNTRACK_NODE, "vol", "node-b", 0);
        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-c", 500);
        next = manager_take_overdue(f->manager, 10000, 100);
        g_assert_cmpuint(next->len, ==, 1);
        g_assert_cmpstr(((ManagerOverdue *)next->pdata[0])->target, ==, "node-c");
}

static void test_load_shared(ManagerFixture *f, gconstpointer data)
{
        g_autofree char *nodes = NULL;

        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-a", 10);
        apply_ok(f->manager, HOLDING_TRACK_SHARED, "vol", "node-b", 20);
        /* A store with state rebuilds both nodes; Store=none starts empty by design. */
        g_assert_true(manager_load(f->manager, NULL));
        nodes = nodes_of(f->manager, "vol");
        g_assert_cmpstr(nodes, ==, "node-a@10,node-b@20");
        g_assert_cmpuint(manager_count(f->manager), ==, 2);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        ADD("/manager/shared/two-nodes/io", test_two_nodes, TRUE);
        ADD("/manager/shared/two-nodes/no-io", test_two_nodes, FALSE);
        ADD("/manager/shared/untrack-node/io", test_untrack_node, TRUE);
        ADD("/manager/shared/untrack-node/no-io", test_untrack_node, FALSE);
        ADD("/manager/shared/overdue", test_overdue, TRUE);
        ADD("/manager/shared/load", test_load_shared, TRUE);
        return g_test_run();
}
