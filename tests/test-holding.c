/* SPDX-License-Identifier: MIT */
/* The one decision of shared attachments (DESIGN §9), pure: service/holding.c. */
#include "service/holding.h"

static const Holding none_held = {0};

static Holding one(const char *node, gint64 at, gboolean shared)
{
        return (Holding){.node = (char *)node, .attached_at = at, .shared = shared};
}

static Holding two(const char *node, gint64 at, const char *target, gint64 target_at)
{
        return (Holding){.node = (char *)node,
                         .attached_at = at,
                         .target = (char *)target,
                         .target_at = target_at,
                         .shared = TRUE};
}

/* Decides and checks the outcome; on WRITE, *after is returned for the caller to check. */
static HoldingDecision run(const Holding *h, gboolean shareable, HoldingOp op, const char *node,
                           Holding *after, GError **error)
{
        const HoldingRequest req = {op, node, 500};

        return holding_decide("vol", h, shareable, &req, after, error);
}

static void test_track_exclusive(void)
{
        g_auto(Holding) after = {0};
        const Holding held = one("a", 1, FALSE);
        const Holding shared = one("a", 1, TRUE);
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(run(&none_held, FALSE, HOLDING_TRACK, "a", &after, NULL), ==,
                        HOLDING_WRITE);
        g_assert_cmpstr(after.node, ==, "a");
        g_assert_cmpint(after.attached_at, ==, 500);
        g_assert_false(after.shared);
        g_assert_cmpint(run(&held, FALSE, HOLDING_TRACK, "a", NULL, NULL), ==, HOLDING_SAME);
        g_assert_cmpint(run(&held, FALSE, HOLDING_TRACK, "b", NULL, &error), ==, HOLDING_REFUSED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_assert_cmpstr(error->message, ==, "volume vol already attached to node a");
        g_clear_error(&error);
        /* Track of a volume held shared by another node. */
        g_assert_cmpint(run(&shared, TRUE, HOLDING_TRACK, "b", NULL, &error), ==, HOLDING_REFUSED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
}

static void test_track_shared(void)
{
        g_auto(Holding) first = {0};
        g_auto(Holding) second = {0};
        const Holding held = one("a", 1, FALSE);
        const Holding both = two("a", 1, "b", 2);
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(run(&none_held, TRUE, HOLDING_TRACK_SHARED, "a", &first, NULL), ==,
                        HOLDING_WRITE);
        g_assert_true(first.shared);
        g_assert_null(first.target);
        g_assert_cmpint(run(&first, TRUE, HOLDING_TRACK_SHARED, "b", &second, NULL), ==,
                        HOLDING_WRITE);
        g_assert_cmpstr(second.node, ==, "a");
        g_assert_cmpstr(second.target, ==, "b");
        g_assert_cmpint(second.target_at, ==, 500);
        /* Same node again, either method, first or second. */
        g_assert_cmpint(run(&both, TRUE, HOLDING_TRACK_SHARED, "b", NULL, NULL), ==, HOLDING_SAME);
        g_assert_cmpint(run(&both, TRUE, HOLDING_TRACK, "a", NULL, NULL), ==, HOLDING_SAME);
        /* A third node is refused naming both. */
        g_assert_cmpint(run(&both, TRUE, HOLDING_TRACK_SHARED, "c", NULL, &error), ==,
                        HOLDING_REFUSED);
        g_assert_cmpstr(error->message, ==, "volume vol already attached to nodes a and b");
        g_clear_error(&error);
        /* Held exclusively by another node. */
        g_assert_cmpint(run(&held, TRUE, HOLDING_TRACK_SHARED, "b", NULL, &error), ==,
                        HOLDING_REFUSED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED);
        g_clear_error(&error);
        /* Not ReadWriteMany Block. */
        g_assert_cmpint(run(&none_held, FALSE, HOLDING_TRACK_SHARED, "a", NULL, &error), ==,
                        HOLDING_REFUSED);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_SHAREABLE);
}

static void test_untrack_node(void)
{
        g_auto(Holding) after = {0};
        g_auto(Holding) after2 = {0};
        g_auto(Holding) after3 = {0};
        const Holding both = two("a", 1, "b", 2);
        const Holding held = one("a", 1, FALSE);

        /* The source leaves: the target becomes first, its start its attached-at. */
        g_assert_cmpint(run(&both, TRUE, HOLDING_UNTRACK_NODE, "a", &after, NULL), ==,
                        HOLDING_WRITE);
        g_assert_cmpstr(after.node, ==, "b");
        g_assert_cmpint(after.attached_at, ==, 2);
        g_assert_null(after.target);
        g_assert_true(after.shared);
        /* The target leaves: back to one node. */
        g_assert_cmpint(run(&both, TRUE, HOLDING_UNTRACK_NODE, "b", &after2, NULL), ==,
                        HOLDING_WRITE);
        g_assert_cmpstr(after2.node, ==, "a");
        g_assert_cmpint(after2.attached_at, ==, 1);
        g_assert_null(after2.target);
        /* Idempotent. */
        g_assert_cmpint(run(&both, TRUE, HOLDING_UNTRACK_NODE, "c", NULL, NULL), ==, HOLDING_SAME);
        g_assert_cmpint(run(&none_held, TRUE, HOLDING_UNTRACK_NODE, "a", NULL, NULL), ==,
                        HOLDING_SAME);
        g_assert_cmpint(run(&held, TRUE, HOLDING_UNTRACK_NODE, "a", &after3, NULL), ==,
                        HOLDING_WRITE);
        g_assert_null(after3.node);
}

static void test_untrack_all(void)
{
        g_auto(Holding) after = {0};
        const Holding both = two("a", 1, "b", 2);

        g_assert_cmpint(run(&both, TRUE, HOLDING_UNTRACK, NULL, &after, NULL), ==, HOLDING_WRITE);
        g_assert_null(after.node);
        g_assert_cmpint(run(&none_held, TRUE, HOLDING_UNTRACK, NULL, NULL, NULL), ==, HOLDING_SAME);
}

static void test_equal_and_count(void)
{
        const Holding a = two("a", 1, "b", 2);
        const Holding b = two("a", 1, "b", 3);
        const Holding c = one("a", 1, TRUE);
        const Holding d = one("a", 1, FALSE);

        g_assert_true(holding_equal(&a, &a));
        g_assert_false(holding_equal(&a, &b));
        g_assert_false(holding_equal(&c, &d));
        g_assert_true(holding_equal(&none_held, &none_held));
        g_assert_cmpuint(holding_count(&a), ==, 2);
        g_assert_cmpuint(holding_count(&c), ==, 1);
        g_assert_cmpuint(holding_count(&none_held), ==, 0);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/holding/track", test_track_exclusive);
        g_test_add_func("/holding/track-shared", test_track_shared);
        g_test_add_func("/holding/untrack-node", test_untrack_node);
        g_test_add_func("/holding/untrack", test_untrack_all);
        g_test_add_func("/holding/equal-and-count", test_equal_and_count);
        return g_test_run();
}
