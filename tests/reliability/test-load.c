/* SPDX-License-Identifier: MIT */
/* Load (issue 7 item 7): 64 clients, each with one call in flight, run Track/Untrack over
 * 1,000 volumes with Store=kubernetes (nodes node-0..7, so conflicts happen and are expected).
 * Zero errors other than AlreadyAttached; the daemon's RSS at the end within 10% of its RSS
 * after the warm-up (the first quarter of the operations); List == annotations at the end.
 * CI: 64 x 150 operations; SRVLAB_LONG_TESTS=1: 64 x 2,000. */
#include "rel-common.h"

#define N_CLIENTS 64
#define N_VOLUMES 1000

typedef struct Load Load;

typedef struct {
        Load *load;
        GDBusConnection *conn;
        guint index;
        guint left;
} Client;

struct Load {
        Fixture *f;
        Client clients[N_CLIENTS];
        guint pending;
        guint64 done, total, ok, conflicts, errors;
        guint64 rss_warm;
};

static void client_next(Client *c);

static void on_reply(GVariant *reply, GError *error, gpointer user_data)
{
        Client *c = user_data;
        Load *l = c->load;
        g_autofree char *name = rel_error_name(error);

        l->done++;
        if (error == NULL) {
                l->ok++;
        } else if (g_str_equal(name, BUS_ERROR_ALREADY_ATTACHED)) {
                l->conflicts++;
        } else {
                if (l->errors++ < 10)
                        g_test_message("client %u: %s", c->index, error->message);
        }
        if (l->rss_warm == 0 && l->done >= l->total / 4)
                l->rss_warm = rel_rss_kib(l->f->daemon_pid);
        client_next(c);
}

static void client_next(Client *c)
{
        g_autofree char *volume = NULL;
        g_autofree char *node = NULL;

        if (c->left == 0) {
                c->load->pending--;
                return;
        }
        c->left--;
        volume = g_strdup_printf("ld-%u", g_random_int_range(0, N_VOLUMES));
        node = g_strdup_printf("node-%u", c->index % 8);
        if (g_random_int_range(0, 10) < 6)
                rel_call_async(c->conn, "Track", g_variant_new("(ss)", volume, node), on_reply, c);
        else
                rel_call_async(c->conn, "Untrack", g_variant_new("(s)", volume), on_reply, c);
}

static void test_load(void)
{
        FixtureOptions opts = {.kubernetes = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        guint per_client = rel_long_tests() ? 2000 : 150;
        Load *l = g_new0(Load, 1);
        guint64 rss_end;

        fixture_emulator_add_pvs(f, "ld-", N_VOLUMES);
        fixture_stop_daemon(f);
        fixture_start_daemon(f);
        l->f = f;
        l->total = (guint64)N_CLIENTS * per_client;
        l->pending = N_CLIENTS;
        for (guint i = 0; i < N_CLIENTS; i++)
                l->clients[i] =
                    (Client){.load = l, .conn = fixture_connect(f), .index = i, .left = per_client};
        for (guint i = 0; i < N_CLIENTS; i++)
                client_next(&l->clients[i]);
        g_assert_true(rel_wait_zero(&l->pending, 20 * FIXTURE_WAIT_SEC));
        rss_end = rel_rss_kib(f->daemon_pid);
        g_test_message("%u clients x %u operations: %" G_GUINT64_FORMAT " ok, %" G_GUINT64_FORMAT
                       " AlreadyAttached, %" G_GUINT64_FORMAT " other errors; RSS after "
                       "warm-up %" G_GUINT64_FORMAT " KiB, at the end %" G_GUINT64_FORMAT " KiB",
                       N_CLIENTS, per_client, l->ok, l->conflicts, l->errors, l->rss_warm, rss_end);
        g_assert_cmpuint(l->done, ==, l->total);
        g_assert_cmpuint(l->errors, ==, 0);
        g_assert_cmpuint(l->rss_warm, >, 0);
        g_assert_cmpuint(rss_end * 10, <=, l->rss_warm * 11);
        rel_assert_consistent(f, NULL, NULL, NULL);
        for (guint i = 0; i < N_CLIENTS; i++)
                g_object_unref(l->clients[i].conn);
        g_free(l);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return g_test_run();
        }
        g_test_add_func("/reliability/load", test_load);
        return g_test_run();
}
