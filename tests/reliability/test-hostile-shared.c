/* SPDX-License-Identifier: MIT */
/* Hostile callers of the second wave's methods (issue 16 item 5): TrackShared, UntrackNode and
 * GetNodes called with wrong signatures, with ids that break the rules (empty, too long, bad
 * characters, 1 MiB, invalid UTF-8 sent raw), and TrackShared/UntrackNode pipelined against a
 * small QueueLimit while the API server answers slowly. After each: nothing the refused calls
 * asked for happened (List, GetNodes, AttachmentCount and every PV's resourceVersion and
 * annotations as before), List == annotations (both nodes of a migration), and Track works. */
#include "rel-common.h"

#include <string.h>

/* A migrating volume (m-0: node-a then node-b), a shared one with one node (m-1: node-a), an
 * exclusive one (x-0: node-a); m-2 and x-1 are free. The refused calls below would change
 * every one of them if they were accepted. */
static const char *const volumes[] = {"m-0", "m-1", "m-2", "x-0", "x-1"};

static void call_ok(Fixture *f, const char *method, const char *volume, const char *node)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r =
            fixture_call(f, method, g_variant_new("(ss)", volume, node), NULL, &error);

        g_assert_no_error(error);
        g_assert_nonnull(r);
}

static Fixture *seeded_fixture(void)
{
        FixtureOptions opts = {.kubernetes = TRUE};
        Fixture *f = fixture_new(&opts);

        fixture_emulator_add_shared_pvs(f, "m-", 3);
        fixture_emulator_add_pvs(f, "x-", 2);
        call_ok(f, "TrackShared", "m-0", "node-a");
        call_ok(f, "TrackShared", "m-0", "node-b");
        call_ok(f, "TrackShared", "m-1", "node-a");
        call_ok(f, "Track", "x-0", "node-a");
        return f;
}

/* "node@usec,..." of GetNodes, or the error's name. */
static void append_nodes(GString *out, Fixture *f, const char *volume)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, "GetNodes", g_variant_new("(s)", volume),
                                             G_VARIANT_TYPE("(a(st))"), &error);
        g_autoptr(GVariantIter) iter = NULL;
        const char *node;
        guint64 at;

        g_string_append_printf(out, "GetNodes %s:", volume);
        if (r == NULL) {
                g_autofree char *name = rel_error_name(error);

                g_string_append_printf(out, " %s\n", name);
                return;
        }
        g_variant_get(r, "(a(st))", &iter);
        while (g_variant_iter_next(iter, "(&st)", &node, &at))
                g_string_append_printf(out, " %s@%" G_GUINT64_FORMAT, node, at);
        g_string_append_c(out, '\n');
}

/* Every PV's name, resourceVersion and annotations: any write, even one that changed no
 * annotation, moves the resourceVersion. */
static void append_pvs(GString *out, Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *body = fixture_pv_list(f);
        g_autoptr(JsonNode) root = json_from_string(body, &error);
        JsonArray *items;

        g_assert_no_error(error);
        items = json_object_get_array_member(json_node_get_object(root), "items");
        for (guint i = 0; i < json_array_get_length(items); i++) {
                JsonObject *meta = json_object_get_object_member(
                    json_array_get_object_element(items, i), "metadata");
                JsonNode *ann = json_object_get_member(meta, "annotations");
                g_autofree char *ann_text = ann != NULL ? json_to_string(ann, FALSE) : NULL;

                g_string_append_printf(out, "PV %s rv=%s %s\n",
                                       json_object_get_string_member(meta, "name"),
                                       json_object_get_string_member(meta, "resourceVersion"),
                                       ann_text != NULL ? ann_text : "{}");
        }
}

/* What a caller and the API server can see of the state, as text. */
static char *state(Fixture *f)
{
        g_autoptr(GVariant) list = fixture_list(f);
        g_autofree char *rows = g_variant_print(list, FALSE);
        GString *out = g_string_new(NULL);

        g_string_append_printf(out, "List %s\nAttachmentCount %u\n", rows,
                               fixture_attachment_count(f));
        for (guint i = 0; i < G_N_ELEMENTS(volumes); i++)
                append_nodes(out, f, volumes[i]);
        append_pvs(out, f);
        return g_string_free(out, FALSE);
}

/* The refused calls changed nothing, the daemon is up, and an authorized Track is served. */
static void assert_unchanged_and_serving(Fixture *f, const char *before)
{
        g_autofree char *after = state(f);

        g_assert_cmpstr(after, ==, before);
        g_assert_true(rel_daemon_up(f));
        rel_assert_rows_consistent(f);
        fixture_track_ok(f, "x-1", "node-z");
        rel_assert_rows_consistent(f);
}

/* Expects `error_name` for `method` called with `params`; returns the error's message. */
static char *expect_error(Fixture *f, const char *method, GVariant *params, const char *error_name)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, method, params, NULL, &error);

        if (r != NULL)
                g_test_message("%s succeeded, %s expected", method, error_name);
        g_assert_null(r);
        fixture_assert_dbus_error(error, error_name);
        return fixture_error_message(error);
}

/* ---- wrong signatures ---- */

typedef struct {
        const char *method;
        const char *params; /* GVariant text; V and N stand for the volume and the node */
} WrongCall;

/* Too few, too many, wrong types, types whose wire format is a string's (o, g), containers
 * holding the right values. The volume and node are ones the call would change. */
static const WrongCall wrong_calls[] = {
    {"TrackShared", "()"},
    {"TrackShared", "('V',)"},
    {"TrackShared", "('V', 'N', 'N')"},
    {"TrackShared", "('V', 'N', @a{sv} {})"},
    {"TrackShared", "('V', 7)"},
    {"TrackShared", "(uint32 7, 'N')"},
    {"TrackShared", "('V', b'N')"},
    {"TrackShared", "(<'V'>, 'N')"},
    {"TrackShared", "(['V'], 'N')"},
    {"TrackShared", "(('V', 'N'),)"},
    {"TrackShared", "(@o '/m1', 'N')"},
    {"TrackShared", "('V', @g 's')"},
    {"UntrackNode", "()"},
    {"UntrackNode", "('V',)"},
    {"UntrackNode", "('V', 'N', 'N')"},
    {"UntrackNode", "('V', true)"},
    {"UntrackNode", "(int64 -1, 'N')"},
    {"UntrackNode", "(<'V'>, <'N'>)"},
    {"UntrackNode", "(['V', 'N'],)"},
    {"UntrackNode", "({'V': 'N'},)"},
    {"UntrackNode", "('V', @o '/node_a')"},
    {"GetNodes", "()"},
    {"GetNodes", "('V', 'N')"},
    {"GetNodes", "(7,)"},
    {"GetNodes", "(b'V',)"},
    {"GetNodes", "(<'V'>,)"},
    {"GetNodes", "(['V'],)"},
    {"GetNodes", "(@o '/m0',)"},
    {"GetNodes", "(@g 's',)"},
};

static char *replace(const char *text, const char *what, const char *with)
{
        g_auto(GStrv) parts = g_strsplit(text, what, -1);

        return g_strjoinv(with, parts);
}

static GVariant *wrong_params(const WrongCall *c)
{
        /* TrackShared of m-1 would add node-c; UntrackNode of m-0 would drop node-a. */
        gboolean untrack = g_str_equal(c->method, "UntrackNode");
        g_autofree char *with_volume = replace(c->params, "V", untrack ? "m-0" : "m-1");
        g_autofree char *text = replace(with_volume, "N", untrack ? "node-a" : "node-c");
        g_autoptr(GError) error = NULL;
        GVariant *params = g_variant_parse(NULL, text, NULL, NULL, &error);

        g_assert_no_error(error);
        return params;
}

static void test_wrong_signatures(void)
{
        g_autoptr(Fixture) f = seeded_fixture();
        g_autofree char *before = state(f);

        for (guint i = 0; i < G_N_ELEMENTS(wrong_calls); i++) {
                const WrongCall *c = &wrong_calls[i];
                g_autofree char *message =
                    expect_error(f, c->method, wrong_params(c), DBUS_ERROR_INVALID_ARGS);

                if (i == 0)
                        g_test_message("%s%s: %s", c->method, c->params, message);
        }
        assert_unchanged_and_serving(f, before);
}

/* ---- invalid ids ---- */

/* The ids every rule refuses, from DESIGN §3: 1..253 bytes, labels of 1..63, lowercase
 * alphanumerics, '-' and '.', starting and ending alphanumeric. Some are meant for the API
 * path the volume id ends up in (m-0/status, ?dryRun=All, ../). */
static const char *const bad_ids[] = {
    /* empty, case, characters */
    "",
    "Node-A",
    "NODE-A",
    "node_a",
    /* ends and labels */
    "-node",
    "node-",
    ".node",
    "node.",
    "a..b",
    "a.-b",
    "a-.b",
    /* the API path the volume id ends up in */
    "../m-0",
    "m-0/status",
    "m-0?dryRun=All",
    "m-0%2f",
    /* white space and control characters */
    "m-0 ",
    " m-0",
    "m-0\n",
    "m-0\t",
    "m\x01-0",
    "m-0\x7f",
    /* valid UTF-8, not ASCII: é, a zero-width space, a fullwidth m */
    "node-\xc3\xa9",
    "m-0\xe2\x80\x8b",
    "\xef\xbd\x8d-0",
};

#define MIB (1024 * 1024)

/* The computed ones: 254 bytes, a 64-byte label, 1 MiB of one label, 1 MiB of short ones. */
static GPtrArray *all_bad_ids(void)
{
        GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
        GString *dotted = g_string_sized_new(MIB + 2);

        for (guint i = 0; i < G_N_ELEMENTS(bad_ids); i++)
                g_ptr_array_add(ids, g_strdup(bad_ids[i]));
        g_ptr_array_add(ids, g_strnfill(254, 'a'));
        g_ptr_array_add(ids, g_strnfill(64, 'a'));
        g_ptr_array_add(ids, g_strnfill(MIB, 'a'));
        while (dotted->len < MIB)
                g_string_append(dotted, "a.");
        g_string_append_c(dotted, 'a');
        g_ptr_array_add(ids, g_string_free(dotted, FALSE));
        return ids;
}

/* InvalidArgs naming the argument (`what`: "volume id" or "node id"), in a message of bounded
 * size whatever the id's: a 1 MiB id is not echoed back. */
static void expect_invalid(Fixture *f, const char *method, GVariant *params, const char *what)
{
        g_autofree char *message = expect_error(f, method, params, DBUS_ERROR_INVALID_ARGS);

        if (!g_str_has_prefix(message, what))
                g_test_message("%s: '%s' does not start with '%s'", method, message, what);
        g_assert_true(g_str_has_prefix(message, what));
        g_assert_cmpuint(strlen(message), <, 1024);
}

static void refuse_id(Fixture *f, const char *bad)
{
        expect_invalid(f, "TrackShared", g_variant_new("(ss)", bad, "node-c"), "volume id");
        expect_invalid(f, "TrackShared", g_variant_new("(ss)", "m-1", bad), "node id");
        expect_invalid(f, "UntrackNode", g_variant_new("(ss)", bad, "node-a"), "volume id");
        expect_invalid(f, "UntrackNode", g_variant_new("(ss)", "m-0", bad), "node id");
        expect_invalid(f, "GetNodes", g_variant_new("(s)", bad), "volume id");
}

/* A 253-byte id of 63-byte labels is valid: refused for what it names, not for its shape. */
static void accept_longest_id(Fixture *f)
{
        g_autofree char *label = g_strnfill(63, 'a');
        g_autofree char *longest = g_strdup_printf("%s.%s.%s.%.61s", label, label, label, label);

        g_assert_cmpuint(strlen(longest), ==, 253);
        g_free(expect_error(f, "TrackShared", g_variant_new("(ss)", longest, "node-c"),
                            BUS_ERROR_VOLUME_NOT_FOUND));
        g_free(expect_error(f, "GetNodes", g_variant_new("(s)", longest), BUS_ERROR_NOT_ATTACHED));
}

static void test_invalid_ids(void)
{
        g_autoptr(Fixture) f = seeded_fixture();
        g_autofree char *before = state(f);
        g_autoptr(GPtrArray) ids = all_bad_ids();

        for (guint i = 0; i < ids->len; i++)
                refuse_id(f, g_ptr_array_index(ids, i));
        accept_longest_id(f);
        /* Invalid UTF-8 never reaches the daemon: the bus drops the sender. */
        rel_send_invalid_utf8(f, "TrackShared", g_variant_new("(ss)", "m-QQQQ", "node-c"));
        rel_send_invalid_utf8(f, "TrackShared", g_variant_new("(ss)", "m-1", "QQQQ"));
        rel_send_invalid_utf8(f, "UntrackNode", g_variant_new("(ss)", "m-0", "node-QQQQ"));
        rel_send_invalid_utf8(f, "GetNodes", g_variant_new("(s)", "QQQQ"));
        assert_unchanged_and_serving(f, before);
}

/* ---- TrackShared/UntrackNode pipelined against QueueLimit ---- */

#define FLOOD_QUEUE_LIMIT 16
#define FLOOD_VOLUMES 20
/* Rounds of calls sent at once, each waiting for the last reply of the one before: the
 * refused calls of a burst say little about the model, the accepted ones of several do. */
#define FLOOD_ROUNDS 20
#define FLOOD_ROUND_CALLS 100
#define FLOOD_CALLS (FLOOD_ROUNDS * FLOOD_ROUND_CALLS)
#define FLOOD_NODES 3 /* one more than a volume may have */
#define FLOOD_LATENCY_MS 50

typedef enum { FLOOD_TRACK_SHARED, FLOOD_UNTRACK_NODE, FLOOD_GET_NODES } FloodKind;

static const char *const flood_methods[] = {"TrackShared", "UntrackNode", "GetNodes"};

typedef struct {
        FloodKind kind;
        guint volume, node;
        char *error_name; /* "" for success */
        char *message;    /* the error's, NULL for success */
        guint rows;       /* GetNodes: how many nodes it named */
        guint *pending;
} FloodCall;

static void flood_reply(GVariant *reply, GError *error, gpointer user_data)
{
        FloodCall *c = user_data;

        c->error_name = rel_error_name(error);
        c->message = error != NULL ? fixture_error_message(error) : NULL;
        if (reply != NULL && c->kind == FLOOD_GET_NODES) {
                g_autoptr(GVariant) nodes = g_variant_get_child_value(reply, 0);

                c->rows = (guint)g_variant_n_children(nodes);
        }
        if (error != NULL && *c->error_name == '\0')
                g_test_message("%s: not a D-Bus error: %s", flood_methods[c->kind], error->message);
        (*c->pending)--;
}

/* Sends `n` calls at once on one connection, in order, every eighth a GetNodes; returns
 * when all are answered. */
static void flood(Fixture *f, FloodCall *calls, guint n, GRand *rand)
{
        guint pending = 0;

        for (guint i = 0; i < n; i++) {
                FloodCall *c = &calls[i];
                g_autofree char *volume = NULL;
                g_autofree char *node = NULL;

                c->kind = i % 8 == 7                         ? FLOOD_GET_NODES
                          : g_rand_int_range(rand, 0, 5) < 3 ? FLOOD_TRACK_SHARED
                                                             : FLOOD_UNTRACK_NODE;
                c->volume = (guint)g_rand_int_range(rand, 0, FLOOD_VOLUMES);
                c->node = (guint)g_rand_int_range(rand, 0, FLOOD_NODES);
                c->pending = &pending;
                volume = g_strdup_printf("fl-%u", c->volume);
                node = g_strdup_printf("node-%u", c->node);
                pending++;
                rel_call_async(f->conn, flood_methods[c->kind],
                               c->kind == FLOOD_GET_NODES ? g_variant_new("(s)", volume)
                                                          : g_variant_new("(ss)", volume, node),
                               flood_reply, c);
        }
        g_assert_true(rel_wait_zero(&pending, 10 * FIXTURE_WAIT_SEC));
}

/* The nodes of one volume in the order they came (at most two). */
typedef struct {
        guint node[2];
        guint n;
} Holders;

static gboolean holders_have(const Holders *h, guint node)
{
        return (h->n > 0 && h->node[0] == node) || (h->n > 1 && h->node[1] == node);
}

/* What the daemon must have answered to an accepted call, applying it to `h`: calls on one
 * volume take effect in the order they arrived (DESIGN §2). */
static const char *model_apply(Holders *h, const FloodCall *c)
{
        if (c->kind == FLOOD_UNTRACK_NODE) {
                guint kept = 0;

                /* The first leaving makes the second the first. */
                for (guint k = 0; k < h->n; k++)
                        if (h->node[k] != c->node)
                                h->node[kept++] = h->node[k];
                h->n = kept;
                return "";
        }
        if (holders_have(h, c->node))
                return "";
        if (h->n == 2)
                return BUS_ERROR_ALREADY_ATTACHED;
        h->node[h->n++] = c->node;
        return "";
}

typedef struct {
        guint accepted, refused, limits, other, wrong; /* refused: AlreadyAttached */
} FloodTally;

/* Replays the accepted mutations in the order sent, checking each answer against the model. */
static void flood_check(const FloodCall *calls, guint n, Holders *holders, FloodTally *t)
{
        for (guint i = 0; i < n; i++) {
                const FloodCall *c = &calls[i];
                const char *expected;

                if (c->kind == FLOOD_GET_NODES) {
                        /* Answered from memory: never refused for the queue, never more
                         * than two nodes, whatever is in flight. */
                        if ((*c->error_name != '\0' &&
                             !g_str_equal(c->error_name, BUS_ERROR_NOT_ATTACHED)) ||
                            c->rows > 2 || (*c->error_name == '\0' && c->rows == 0))
                                t->other++;
                        continue;
                }
                if (g_str_equal(c->error_name, DBUS_ERROR_LIMITS_EXCEEDED)) {
                        /* The dispatcher's refusal, not another limit's. */
                        if (strstr(c->message, "QueueLimit=" G_STRINGIFY(FLOOD_QUEUE_LIMIT)) ==
                            NULL)
                                t->other++;
                        t->limits++;
                        continue;
                }
                t->accepted++;
                expected = model_apply(&holders[c->volume], c);
                t->refused += g_str_equal(expected, BUS_ERROR_ALREADY_ATTACHED);
                if (g_str_equal(c->error_name, expected))
                        continue;
                if (*c->error_name != '\0' &&
                    !g_str_equal(c->error_name, BUS_ERROR_ALREADY_ATTACHED))
                        t->other++;
                else if (t->wrong++ < 5)
                        g_test_message("call %u, %s fl-%u node-%u: answered '%s', expected '%s'", i,
                                       flood_methods[c->kind], c->volume, c->node, c->error_name,
                                       expected);
        }
}

/* The model's final state is the daemon's List (nodes; the times are checked against the
 * annotations by rel_assert_rows_consistent). */
static void assert_model_listed(Fixture *f, const Holders *holders)
{
        g_autoptr(GHashTable) rows = fixture_listed_rows(f);
        guint expected = 0;

        for (guint v = 0; v < FLOOD_VOLUMES; v++) {
                for (guint k = 0; k < holders[v].n; k++) {
                        g_autofree char *row =
                            g_strdup_printf("fl-%u node-%u", v, holders[v].node[k]);

                        if (!g_hash_table_contains(rows, row))
                                g_test_message("the model holds '%s', List does not", row);
                        g_assert_true(g_hash_table_contains(rows, row));
                        expected++;
                }
        }
        g_assert_cmpuint(g_hash_table_size(rows), ==, expected);
}

static void test_queue_limit(void)
{
        FixtureOptions opts = {.kubernetes = TRUE, .queue_limit = FLOOD_QUEUE_LIMIT, .workers = 4};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autoptr(GRand) rand = g_rand_new_with_seed(16);
        Holders holders[FLOOD_VOLUMES] = {0};
        FloodTally t = {0};
        FloodCall *calls = g_new0(FloodCall, FLOOD_CALLS);

        fixture_emulator_add_shared_pvs(f, "fl-", FLOOD_VOLUMES);
        fixture_emulator_add_pvs(f, "after-", 1);
        rel_latency(f, FLOOD_LATENCY_MS);
        for (guint r = 0; r < FLOOD_ROUNDS; r++)
                flood(f, calls + r * FLOOD_ROUND_CALLS, FLOOD_ROUND_CALLS, rand);
        rel_latency(f, 0);
        flood_check(calls, FLOOD_CALLS, holders, &t);
        g_test_message("%u rounds of %u calls pipelined, QueueLimit=%u: %u mutations accepted "
                       "(%u of them AlreadyAttached), %u LimitsExceeded, %u other errors, %u "
                       "answers the model would not give",
                       FLOOD_ROUNDS, FLOOD_ROUND_CALLS, FLOOD_QUEUE_LIMIT, t.accepted, t.refused,
                       t.limits, t.other, t.wrong);
        g_assert_cmpuint(t.other, ==, 0);
        g_assert_cmpuint(t.wrong, ==, 0);
        g_assert_cmpuint(t.limits, >, 0);
        g_assert_cmpuint(t.accepted, >=, FLOOD_QUEUE_LIMIT);
        g_assert_false(g_dbus_connection_is_closed(f->conn));
        g_assert_true(rel_daemon_up(f));
        assert_model_listed(f, holders);
        rel_assert_rows_consistent(f);
        fixture_track_ok(f, "after-0", "node-z");
        for (guint i = 0; i < FLOOD_CALLS; i++) {
                g_free(calls[i].error_name);
                g_free(calls[i].message);
        }
        g_free(calls);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (fixture_have_emulator()) {
                g_test_add_func("/reliability/hostile-shared/wrong-signatures",
                                test_wrong_signatures);
                g_test_add_func("/reliability/hostile-shared/invalid-ids", test_invalid_ids);
                g_test_add_func("/reliability/hostile-shared/queue-limit-flood", test_queue_limit);
        }
        return g_test_run();
}
