/* SPDX-License-Identifier: MIT */
/* Crash consistency (issue 7 item 2): 16 clients storm Track/Untrack over 500 volumes (each
 * client owns the volumes v with v % 16 == client, one call in flight per client, nodes picked
 * at random so conflicts happen too); the daemon is SIGKILLed at a random moment and
 * restarted. After each restart: every acknowledged Track not later untracked is present with
 * its node, every acknowledged Untrack is absent, List == annotations. A call without a reply
 * at the kill (or one that failed) makes its volume "uncertain": either outcome is allowed,
 * but memory and store must still agree. CI: 3 rounds; SRVLAB_LONG_TESTS=1: 20 rounds. */
#include "rel-common.h"

#include <signal.h>
#include <string.h>

#define N_VOLUMES 500
#define N_CLIENTS 16

typedef struct {
        char *expected; /* node, NULL: untracked */
        gboolean uncertain;
} Volume;

typedef struct Storm Storm;

typedef struct {
        Storm *storm;
        GDBusConnection *conn;
        guint index;
        guint volume; /* of the call in flight */
        gboolean track;
        char node[16];
} Client;

struct Storm {
        Volume volumes[N_VOLUMES];
        Client clients[N_CLIENTS];
        gboolean stopping;
        guint pending;
        guint64 acked;
        guint64 failed;
        guint violations;
};

static void client_next(Client *c);

static void client_reply(GVariant *reply, GError *error, gpointer user_data)
{
        Client *c = user_data;
        Volume *v = &c->storm->volumes[c->volume];
        g_autofree char *name = rel_error_name(error);

        c->storm->pending--;
        if (error == NULL) {
                c->storm->acked++;
                g_free(v->expected);
                v->expected = c->track ? g_strdup(c->node) : NULL;
                v->uncertain = FALSE;
        } else if (c->track && g_str_equal(name, BUS_ERROR_ALREADY_ATTACHED)) {
                c->storm->acked++;
                if (!v->uncertain && (v->expected == NULL || g_str_equal(v->expected, c->node))) {
                        g_test_message("cc-%u: AlreadyAttached (%s) but the last acknowledged "
                                       "state is %s",
                                       c->volume, error->message,
                                       v->expected ? v->expected : "untracked");
                        c->storm->violations++;
                }
        } else {
                c->storm->failed++;
                v->uncertain = TRUE;
        }
        client_next(c);
}

static void client_next(Client *c)
{
        Storm *s = c->storm;
        g_autofree char *volume = NULL;
        Volume *v;

        if (s->stopping)
                return;
        c->volume = N_CLIENTS * g_random_int_range(0, N_VOLUMES / N_CLIENTS) + c->index;
        if (c->volume >= N_VOLUMES)
                c->volume = c->index;
        v = &s->volumes[c->volume];
        volume = g_strdup_printf("cc-%u", c->volume);
        c->track = v->expected == NULL || g_random_boolean();
        g_snprintf(c->node, sizeof(c->node), "node-%c", g_random_boolean() ? 'a' : 'b');
        s->pending++;
        if (c->track)
                rel_call_async(c->conn, "Track", g_variant_new("(ss)", volume, c->node),
                               client_reply, c);
        else
                rel_call_async(c->conn, "Untrack", g_variant_new("(s)", volume), client_reply, c);
}

static gboolean stop_storm(gpointer user_data)
{
        Storm *s = user_data;

        s->stopping = TRUE;
        return G_SOURCE_REMOVE;
}

/* Checks the restarted daemon against the model, then takes its List as the new model. */
static void check_after_restart(Fixture *f, Storm *s, guint round)
{
        g_autoptr(GHashTable) list = rel_daemon_list(f, NULL);
        guint uncertain = 0;

        for (guint i = 0; i < N_VOLUMES; i++) {
                g_autofree char *name = g_strdup_printf("cc-%u", i);
                const char *now = g_hash_table_lookup(list, name);
                Volume *v = &s->volumes[i];

                if (v->uncertain) {
                        uncertain++;
                } else if (g_strcmp0(now, v->expected) != 0) {
                        g_test_message("round %u: %s acknowledged as %s, after restart %s", round,
                                       name, v->expected ? v->expected : "untracked",
                                       now ? now : "untracked");
                        s->violations++;
                }
                g_free(v->expected);
                v->expected = g_strdup(now);
                v->uncertain = FALSE;
        }
        g_test_message("round %u: %u tracked after restart, %u volumes were in flight or failed",
                       round, g_hash_table_size(list), uncertain);
        rel_assert_consistent(f, NULL, NULL, NULL);
}

static void kill_and_restart(Fixture *f)
{
        int status = 0;

        g_assert_cmpint(kill(f->daemon_pid, SIGKILL), ==, 0);
        g_assert_true(fixture_wait_pid(f->daemon_pid, FIXTURE_WAIT_SEC, &status));
        g_assert_true(WIFSIGNALED(status));
        f->daemon_pid = 0;
        fixture_start_daemon(f);
}

static void test_crash_consistency(void)
{
        FixtureOptions opts = {.kubernetes = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        guint rounds = rel_long_tests() ? 20 : 3;
        Storm *s = g_new0(Storm, 1);

        fixture_emulator_add_pvs(f, "cc-", N_VOLUMES);
        fixture_stop_daemon(f);
        fixture_start_daemon(f);
        for (guint i = 0; i < N_CLIENTS; i++) {
                s->clients[i] = (Client){.storm = s, .conn = fixture_connect(f), .index = i};
        }
        for (guint round = 1; round <= rounds; round++) {
                s->stopping = FALSE;
                for (guint i = 0; i < N_CLIENTS; i++)
                        client_next(&s->clients[i]);
                /* The kill lands anywhere from the first calls to a busy steady state. */
                g_timeout_add(g_random_int_range(100, 2000), stop_storm, s);
                while (!s->stopping)
                        g_main_context_iteration(NULL, TRUE);
                kill_and_restart(f);
                g_assert_true(rel_wait_zero(&s->pending, FIXTURE_WAIT_SEC));
                check_after_restart(f, s, round);
        }
        g_test_message("%u kills survived, %" G_GUINT64_FORMAT " acknowledged operations, "
                       "%" G_GUINT64_FORMAT " failed or cut by a kill, %u violations",
                       rounds, s->acked, s->failed, s->violations);
        g_assert_cmpuint(s->violations, ==, 0);
        g_assert_cmpuint(s->acked, >, 0);
        for (guint i = 0; i < N_CLIENTS; i++)
                g_object_unref(s->clients[i].conn);
        for (guint i = 0; i < N_VOLUMES; i++)
                g_free(s->volumes[i].expected);
        g_free(s);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return g_test_run();
        }
        g_test_add_func("/reliability/crash-consistency", test_crash_consistency);
        return g_test_run();
}
