/* SPDX-License-Identifier: MIT */
/* Several instances (issue 7 item 3): 3 daemons on 3 private buses share one emulator and
 * contend for 500 volumes as node-0, node-1 and node-2, 8 calls in flight each.
 *
 * The check is sound without trusting reply order: a daemon's hold of a volume is *certain*
 * from its Track's success reply until its client sends the Untrack. When a Track succeeds
 * while another daemon's hold is certain, two daemons both held the volume: a violation.
 * (A failed Untrack, a failed Track and calls in flight make a hold only possible.) At the end
 * each daemon's List equals the annotations naming its node.
 * CI: 10 s per variant; SRVLAB_LONG_TESTS=1: 60 s. Variants: no faults, and the emulator
 * answering 10% of writes with 409 and 2% with 500. */
#include "rel-common.h"

#include <string.h>

#define N_DAEMONS 3
#define N_VOLUMES 500
#define IN_FLIGHT 8

typedef enum {
        HOLD_NONE,
        HOLD_CERTAIN,
        HOLD_POSSIBLE,
} Hold;

typedef struct Race Race;

typedef struct {
        Race *race;
        guint daemon;
        guint volume;
        gboolean track;
} Call;

struct Race {
        Fixture *f[N_DAEMONS];
        Hold hold[N_DAEMONS][N_VOLUMES];
        gboolean busy[N_DAEMONS][N_VOLUMES];
        gboolean stopping;
        guint pending;
        guint64 calls, wins, conflicts, store_failed, other_errors;
        guint violations;
};

static void issue(Race *r, guint d);

static void track_won(Race *r, Call *c)
{
        for (guint e = 0; e < N_DAEMONS; e++) {
                if (e == c->daemon || r->hold[e][c->volume] != HOLD_CERTAIN)
                        continue;
                g_test_message("mi-%u: Track by node-%u succeeded while node-%u held it", c->volume,
                               c->daemon, e);
                r->violations++;
        }
        r->hold[c->daemon][c->volume] = HOLD_CERTAIN;
        r->wins++;
}

static void on_reply(GVariant *reply, GError *error, gpointer user_data)
{
        Call *c = user_data;
        Race *r = c->race;
        g_autofree char *name = rel_error_name(error);
        Hold *hold = &r->hold[c->daemon][c->volume];

        r->pending--;
        r->busy[c->daemon][c->volume] = FALSE;
        if (error == NULL && c->track) {
                track_won(r, c);
        } else if (error == NULL) {
                *hold = HOLD_NONE;
        } else if (g_str_equal(name, BUS_ERROR_ALREADY_ATTACHED)) {
                r->conflicts++;
                *hold = HOLD_NONE;
        } else {
                if (g_str_equal(name, BUS_ERROR_STORE_FAILED))
                        r->store_failed++;
                else
                        r->other_errors++;
                if (!g_str_equal(name, BUS_ERROR_STORE_FAILED))
                        g_test_message("node-%u %s mi-%u: %s", c->daemon,
                                       c->track ? "Track" : "Untrack", c->volume, error->message);
                *hold = HOLD_POSSIBLE;
        }
        issue(r, c->daemon);
        g_free(c);
}

static void issue(Race *r, guint d)
{
        Call *c;
        g_autofree char *volume = NULL;
        g_autofree char *node = NULL;

        if (r->stopping)
                return;
        c = g_new0(Call, 1);
        c->race = r;
        c->daemon = d;
        do
                c->volume = (guint)g_random_int_range(0, N_VOLUMES);
        while (r->busy[d][c->volume]);
        r->busy[d][c->volume] = TRUE;
        c->track = r->hold[d][c->volume] != HOLD_CERTAIN || g_random_int_range(0, 4) == 0;
        volume = g_strdup_printf("mi-%u", c->volume);
        node = g_strdup_printf("node-%u", d);
        r->pending++;
        r->calls++;
        if (c->track) {
                rel_call_async(r->f[d]->conn, "Track", g_variant_new("(ss)", volume, node),
                               on_reply, c);
        } else {
                /* From now on the hold may end at any moment. */
                r->hold[d][c->volume] = HOLD_POSSIBLE;
                rel_call_async(r->f[d]->conn, "Untrack", g_variant_new("(s)", volume), on_reply, c);
        }
}

static gboolean stop_race(gpointer user_data)
{
        ((Race *)user_data)->stopping = TRUE;
        return G_SOURCE_REMOVE;
}

static void run_race(gconstpointer data)
{
        gboolean faults = GPOINTER_TO_INT(data);
        FixtureOptions opts = {.kubernetes = TRUE, .no_daemon = TRUE};
        guint seconds = rel_long_tests() ? 60 : 10;
        Race *r = g_new0(Race, 1);

        r->f[0] = fixture_new(&opts);
        fixture_emulator_add_pvs(r->f[0], "mi-", N_VOLUMES);
        fixture_start_daemon(r->f[0]);
        for (guint d = 1; d < N_DAEMONS; d++)
                r->f[d] = rel_fixture_sharing(r->f[0], NULL);
        if (faults) {
                rel_fault(r->f[0], "{\"match\":{\"verb\":\"patch\"},\"action\":\"conflict\","
                                   "\"probability\":0.10,\"seed\":7}");
                rel_fault(r->f[0], "{\"match\":{\"verb\":\"patch\"},\"action\":\"status\","
                                   "\"code\":500,\"probability\":0.0222,\"seed\":8}");
        }
        for (guint d = 0; d < N_DAEMONS; d++)
                for (guint k = 0; k < IN_FLIGHT; k++)
                        issue(r, d);
        g_timeout_add_seconds(seconds, stop_race, r);
        while (!r->stopping)
                g_main_context_iteration(NULL, TRUE);
        g_assert_true(rel_wait_zero(&r->pending, 2 * FIXTURE_WAIT_SEC));
        rel_clear_faults(r->f[0]);
        g_test_message("%s: %" G_GUINT64_FORMAT " contended calls in %u s: %" G_GUINT64_FORMAT
                       " Tracks won, %" G_GUINT64_FORMAT " AlreadyAttached, %" G_GUINT64_FORMAT
                       " StoreFailed, %" G_GUINT64_FORMAT " other errors, %u violations",
                       faults ? "409 10% + 500 2%" : "no faults", r->calls, seconds, r->wins,
                       r->conflicts, r->store_failed, r->other_errors, r->violations);
        for (guint d = 0; d < N_DAEMONS; d++) {
                g_autofree char *node = g_strdup_printf("node-%u", d);

                g_assert_true(rel_daemon_up(r->f[d]));
                /* The last calls' changes reach the other daemons through the watch. */
                fixture_wait_consistent(r->f[d], r->f[0], FIXTURE_WAIT_SEC);
                rel_assert_consistent(r->f[d], NULL, r->f[0], node);
        }
        g_assert_cmpuint(r->violations, ==, 0);
        g_assert_cmpuint(r->other_errors, ==, 0);
        g_assert_cmpuint(r->wins, >, 0);
        g_assert_cmpuint(r->conflicts, >, 0);
        if (faults)
                g_assert_cmpuint(r->store_failed, >, 0);
        for (guint d = N_DAEMONS; d > 0; d--)
                fixture_free(r->f[d - 1]);
        g_free(r);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return g_test_run();
        }
        g_test_add_data_func("/reliability/instances/no-faults", GINT_TO_POINTER(FALSE), run_race);
        g_test_add_data_func("/reliability/instances/409-and-500", GINT_TO_POINTER(TRUE), run_race);
        return g_test_run();
}
