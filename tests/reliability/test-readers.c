/* SPDX-License-Identifier: MIT */
/* Readers cannot starve the fence (issue 16 item 6). A large table (Store=none; CI: 20,000
 * attachments, SRVLAB_LONG_TESTS=1: 100,000), unprivileged processes (uid 65534) calling List
 * in a loop, and root's Track+Untrack round trips measured meanwhile: with 0, 4 (and, long, 16)
 * flooders. The test asserts that every flooder was served and that nothing failed; the
 * latencies are figures (g_test_message, and the benchmark), never assertions. Needs root
 * (setpriv to uid 65534). */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel-common.h"

#define NOBODY "65534"
/* CI: enough to show the flood served; long: enough for a p99 that is not three outliers. */
#define ROUND_TRIPS 400
#define ROUND_TRIPS_LONG 2000

/* ---- the flooder: this program run again as uid 65534 ---- */

static int flood(const char *address, guint seconds)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) conn = g_dbus_connection_new_for_address_sync(
            address,
            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
            NULL, NULL, &error);
        gint64 end = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
        guint served = 0, failed = 0;
        gsize rows = 0;

        if (conn == NULL) {
                g_printerr("flooder: %s\n", error->message);
                return 1;
        }
        while (g_get_monotonic_time() < end) {
                g_autoptr(GError) e = NULL;
                g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                    conn, BUS_NAME, BUS_PATH, BUS_INTERFACE, "List", NULL,
                    G_VARIANT_TYPE("(a(sst))"), G_DBUS_CALL_FLAGS_NONE, 120000, NULL, &e);

                if (r == NULL) {
                        if (failed++ < 3)
                                g_printerr("flooder: %s\n", e->message);
                        continue;
                }
                {
                        g_autoptr(GVariant) list = g_variant_get_child_value(r, 0);

                        rows = g_variant_n_children(list);
                }
                served++;
        }
        printf("served %u failed %u rows %" G_GSIZE_FORMAT "\n", served, failed, rows);
        return failed == 0 && served > 0 ? 0 : 1;
}

/* ---- the test ---- */

typedef struct {
        GPid pid;
        gint out;
} Flooder;

static Flooder start_flooder(Fixture *f, const char *self, guint seconds)
{
        g_autofree char *secs = g_strdup_printf("%u", seconds);
        const char *argv[] = {"setpriv", "--reuid=" NOBODY, "--regid=" NOBODY, "--clear-groups",
                              self,      "--flood",         f->bus_address,    secs,
                              NULL};
        g_autoptr(GError) error = NULL;
        Flooder fl = {0};

        g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                 &fl.pid, NULL, &fl.out, NULL, &error);
        g_assert_no_error(error);
        return fl;
}

static void finish_flooder(Flooder *fl)
{
        char buf[256] = {0};
        int status = 0;
        gssize n;

        g_assert_true(fixture_wait_pid(fl->pid, 300, &status));
        n = read(fl->out, buf, sizeof(buf) - 1);
        close(fl->out);
        g_test_message("flooder %d: %s", fl->pid, n > 0 ? g_strstrip(buf) : "(nothing)");
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static gint cmp_gint64(gconstpointer a, gconstpointer b)
{
        gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

        return x < y ? -1 : x > y;
}

/* Root's Track+Untrack round trips; returns the sorted latencies in µs. */
static GArray *round_trips(Fixture *f, guint n)
{
        GArray *lat = g_array_sized_new(FALSE, FALSE, sizeof(gint64), n);

        for (guint i = 0; i < n; i++) {
                gint64 t0 = g_get_monotonic_time(), dt;

                fixture_track_ok(f, "probe-1", "node-probe");
                fixture_untrack_ok(f, "probe-1");
                dt = g_get_monotonic_time() - t0;
                g_array_append_val(lat, dt);
        }
        g_array_sort(lat, cmp_gint64);
        return lat;
}

static void fill(Fixture *f, guint n)
{
        enum { BATCH = 2000 };
        g_autofree FixtureCall *calls = g_new0(FixtureCall, BATCH);

        for (guint done = 0; done < n; done += BATCH) {
                guint k = MIN(BATCH, n - done);

                for (guint i = 0; i < k; i++) {
                        g_snprintf(calls[i].volume, sizeof(calls[i].volume), "vol-%07u", done + i);
                        g_snprintf(calls[i].node, sizeof(calls[i].node), "node-%u", i % 64);
                        fixture_track_async(f, &calls[i]);
                }
                g_assert_true(fixture_wait_calls(calls, k, k, 600));
                for (guint i = 0; i < k; i++)
                        g_assert_null(calls[i].error);
                fixture_calls_clear(calls, k);
        }
}

static void measure(Fixture *f, const char *self, guint flooders, guint seconds)
{
        g_autofree Flooder *fl = g_new0(Flooder, MAX(flooders, 1));
        g_autoptr(GArray) lat = NULL;

        for (guint i = 0; i < flooders; i++)
                fl[i] = start_flooder(f, self, seconds);
        if (flooders > 0)
                g_usleep(G_USEC_PER_SEC / 2);
        lat = round_trips(f, rel_long_tests() ? ROUND_TRIPS_LONG : ROUND_TRIPS);
        for (guint i = 0; i < flooders; i++)
                finish_flooder(&fl[i]);
        g_test_message("%u List flooders: Track+Untrack p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                       flooders, g_array_index(lat, gint64, lat->len / 2) / 1000.0,
                       g_array_index(lat, gint64, lat->len * 99 / 100) / 1000.0,
                       g_array_index(lat, gint64, lat->len - 1) / 1000.0);
}

static void test_list_flood(gconstpointer self)
{
        FixtureOptions opts = {.queue_limit = 65536};
        g_autoptr(Fixture) f = NULL;
        guint n = rel_long_tests() ? 100000 : 20000;

        if (geteuid() != 0) {
                g_test_skip("needs root (setpriv to uid 65534)");
                return;
        }
        f = fixture_new(&opts);
        fill(f, n);
        g_assert_cmpuint(fixture_attachment_count(f), ==, n);
        measure(f, self, 0, 0);
        measure(f, self, 4, 8);
        if (rel_long_tests())
                measure(f, self, 16, 15);
        g_assert_true(rel_daemon_up(f));
        g_assert_cmpuint(fixture_attachment_count(f), ==, n);
}

int main(int argc, char **argv)
{
        g_autofree char *self = NULL;

        if (argc == 4 && g_str_equal(argv[1], "--flood"))
                return flood(argv[2], (guint)g_ascii_strtoull(argv[3], NULL, 10));
        g_test_init(&argc, &argv, NULL);
        self = g_file_read_link("/proc/self/exe", NULL);
        g_test_add_data_func("/readers/list-flood", self, test_list_flood);
        return g_test_run();
}
