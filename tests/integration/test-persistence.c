/* SPDX-License-Identifier: MIT */
/* Daemon-level persistence (issue 4, Tests): a restart after SIGKILL, a paginated rebuild with
 * odd PVs, TLS with the right and a wrong CA, an API server that comes up late or never, a
 * rotated token, and two daemons racing for the same volumes. Each case runs a real
 * dbus-daemon, the kube-emulator and srvlab-attachmentd, and ends by checking that List equals
 * the PV annotations where that applies. */
#include "fixture.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libsoup/soup.h>

#define OTHER_DRIVER "other.csi.example.com"
#define ODD_AT "2026-03-04T05:06:07.654321Z"

/* ---- an emulator of our own (TLS, a fixed port, started late) in the fixture's fields ---- */

/* Starts the emulator on `port` (0: any) with f->emulator_token and the PVs of `seed` (may be
 * NULL); with TLS when `ca` is set (TMPDIR/tls holds server.pem and server.key). The fixture's
 * emulator helpers then use it, and fixture_free() stops it. */
static void start_emulator(Fixture *f, guint port, const char *ca, const char *seed)
{
        g_autofree char *tls_dir = g_build_filename(f->tmpdir, "tls", NULL);

        if (ca != NULL) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GTlsDatabase) db = g_tls_file_database_new(ca, &error);

                g_assert_no_error(error);
                g_clear_object(&f->soup);
                f->soup = soup_session_new_with_options("proxy-resolver", NULL, "tls-database", db,
                                                        "timeout", 60, NULL);
        } else if (f->soup == NULL) {
                f->soup =
                    soup_session_new_with_options("proxy-resolver", NULL, "timeout", 60, NULL);
        }
        g_free(f->emulator_log);
        f->emulator_log = g_build_filename(f->tmpdir, "my-emulator.log", NULL);
        fixture_spawn_emulator(f, port, seed, 0, ca != NULL ? tls_dir : NULL);
}

/* ---- small helpers ---- */

/* An annotated PV whose name, volumeHandle and driver may be odd. */
static char *pv_json(const char *name, const char *handle, const char *driver, const char *node,
                     const char *at)
{
        return g_strdup_printf(
            "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"%s\","
            "\"annotations\":{\"" FIXTURE_ANNOTATION_NODE "\":\"%s\",\"" FIXTURE_ANNOTATION_AT
            "\":\"%s\"}},\"spec\":{\"csi\":{\"driver\":\"%s\",\"volumeHandle\":\"%s\"}}}",
            name, node, at, driver, handle);
}

/* A port nobody listens on, below the ephemeral range: no connection takes it as its source
 * port and no emulator started with --port=0 takes it while the test waits. */
static guint free_port(void)
{
        g_autofree char *range = NULL;
        guint low = 32768;

        if (g_file_get_contents("/proc/sys/net/ipv4/ip_local_port_range", &range, NULL, NULL))
                low = (guint)g_ascii_strtoull(range, NULL, 10);
        g_assert_cmpuint(low, >, 20000);
        for (;;) {
                guint port = (guint)g_random_int_range(20000, (gint32)low);
                g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                                    G_SOCKET_PROTOCOL_TCP, NULL);
                g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
                g_autoptr(GSocketAddress) a = g_inet_socket_address_new(lo, (guint16)port);

                if (g_socket_bind(s, a, FALSE, NULL))
                        return port;
        }
}

/* Rewrites the fixture's attachment.conf for a daemon against `server`. */
static void write_config(Fixture *f, const char *name, const char *server, const char *ca,
                         const char *token_file, guint start_timeout_sec)
{
        g_autofree char *text = g_strdup_printf("[Attachment]\nStore=kubernetes\n"
                                                "Driver=" FIXTURE_DRIVER "\n"
                                                "[Kubernetes]\nServer=%s\nTokenFile=%s\n"
                                                "CAFile=%s\nRequestTimeoutSec=30\n"
                                                "StartTimeoutSec=%u\n",
                                                server, token_file, ca, start_timeout_sec);

        g_free(fixture_write_file(f, name, text));
}

/* Waits up to `timeout_sec` for the spawned daemon to exit; asserts it did, non-zero. */
static void assert_daemon_fails(Fixture *f, GPid pid, guint timeout_sec)
{
        int status = 0;

        if (!fixture_wait_pid(pid, timeout_sec, &status)) {
                kill(pid, SIGKILL);
                fixture_wait_pid(pid, FIXTURE_WAIT_SEC, NULL);
                fixture_dump_logs(f);
                g_assert_not_reached();
        }
        g_test_message("daemon exit: wait status 0x%x", status);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), !=, 0);
        g_assert_false(fixture_name_has_owner(f));
}

static gboolean name_owned(gpointer data)
{
        Fixture *f = data;

        g_assert_true(waitpid(f->daemon_pid, NULL, WNOHANG) == 0);
        return fixture_name_has_owner(f);
}

/* ---- the tests ---- */

static void test_restart_sigkill(void)
{
        FixtureOptions opts = {.kubernetes = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        FixtureCall calls[50] = {0};
        g_autoptr(GVariant) before = NULL;
        g_autoptr(GVariant) after = NULL;
        int status = 0;

        fixture_emulator_generate(f, "rs-", G_N_ELEMENTS(calls), 0, FIXTURE_DRIVER, "unused");
        for (guint i = 0; i < G_N_ELEMENTS(calls); i++) {
                g_snprintf(calls[i].volume, sizeof(calls[i].volume), "rs-%06u", i);
                g_snprintf(calls[i].node, sizeof(calls[i].node), "node-%u", i % 3);
                fixture_track_async(f, &calls[i]);
        }
        g_assert_true(fixture_wait_calls(calls, 50, 50, 2 * FIXTURE_WAIT_SEC));
        for (guint i = 0; i < G_N_ELEMENTS(calls); i++)
                g_assert_no_error(calls[i].error);
        before = fixture_list(f);
        g_assert_cmpuint(g_variant_n_children(before), ==, 50);
        fixture_assert_consistent(f, f, NULL);

        g_assert_cmpint(kill(f->daemon_pid, SIGKILL), ==, 0);
        g_assert_true(fixture_wait_pid(f->daemon_pid, FIXTURE_WAIT_SEC, &status));
        g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        f->daemon_pid = 0;
        fixture_start_daemon(f);
        after = fixture_list(f);
        g_assert_true(g_variant_equal(before, after));
        fixture_assert_consistent(f, f, NULL);
}

static guint emulator_count(Fixture *f, const char *verb)
{
        guint status = 0;
        g_autofree char *body =
            fixture_emulator_request(f, "GET", "/_emulator/counts", NULL, &status);
        g_autoptr(JsonNode) root = json_from_string(body, NULL);

        g_assert_nonnull(root);
        return (guint)json_object_get_int_member(json_node_get_object(root), verb);
}

static void seed_odd_pvs(Fixture *f)
{
        const char *at = ODD_AT;
        g_autofree char *garbage =
            pv_json("pv-garbage", "pv-garbage", FIXTURE_DRIVER, "node-g", "not-a-time");
        g_autofree char *renamed =
            pv_json("pv-renamed", "vol-real-handle", FIXTURE_DRIVER, "node-r", at);
        g_autofree char *no_handle = pv_json("pv-no-handle", "", FIXTURE_DRIVER, "node-x", at);
        /* Another driver's PV carrying our driver's keys. */
        g_autofree char *other = pv_json("ot-ours-key", "ot-ours-key", OTHER_DRIVER, "node-o", at);
        g_autofree char *body =
            g_strdup_printf("[%s,%s,%s,%s]", garbage, renamed, no_handle, other);

        fixture_emulator_ok(f, "POST", "/_emulator/pvs", body);
        fixture_emulator_generate(f, "ot-", 3, 3, OTHER_DRIVER, "node-o");
}

static void assert_rebuilt(Fixture *f, GHashTable *store, gint64 t0, gint64 t1)
{
        g_autoptr(GHashTable) listed = fixture_listed_volumes(f);
        g_autoptr(GError) error = NULL;
        g_autofree char *renamed =
            g_strdup_printf("node-r@%" G_GINT64_FORMAT, fixture_parse_time(ODD_AT));
        g_autofree char *node = NULL;
        guint64 at = 0;

        g_assert_cmpuint(g_hash_table_size(listed), ==, 702);
        for (guint i = 0; i < 700; i++) {
                g_autofree char *volume = g_strdup_printf("pv-%06u", i);
                const char *annotated = g_hash_table_lookup(store, volume);

                g_assert_nonnull(annotated);
                g_assert_true(g_str_has_prefix(annotated, "node-1@"));
                g_assert_null(strstr(annotated, "@-1"));
                g_assert_cmpstr(g_hash_table_lookup(listed, volume), ==, annotated);
        }
        g_assert_cmpstr(g_hash_table_lookup(listed, "vol-real-handle"), ==, renamed);
        g_assert_false(g_hash_table_contains(listed, "pv-renamed"));
        node = fixture_get(f, "pv-garbage", &at, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(node, ==, "node-g");
        g_assert_cmpint((gint64)at, >=, t0);
        g_assert_cmpint((gint64)at, <=, t1);
}

static void test_rebuild_1200(void)
{
        FixtureOptions opts = {.kubernetes = TRUE, .no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autoptr(GHashTable) store = NULL;
        g_autofree char *body = NULL;
        g_autofree char *log = NULL;
        guint lists;
        gint64 t0, t1;

        fixture_emulator_generate(f, "pv-", 1200, 700, FIXTURE_DRIVER, "node-1");
        seed_odd_pvs(f);
        fixture_emulator_ok(f, "POST", "/_emulator/counts/reset", NULL);
        t0 = g_get_real_time();
        fixture_start_daemon(f);
        t1 = g_get_real_time();
        lists = emulator_count(f, "list");
        g_test_message("rebuild of 1,208 PVs: %u LIST requests, %u GETs", lists,
                       emulator_count(f, "get"));
        g_assert_cmpuint(lists, ==, 3);
        body = fixture_pv_list(f);
        store = fixture_annotated_volumes(body, NULL);
        assert_rebuilt(f, store, t0, t1);
        g_assert_cmpuint(fixture_attachment_count(f), ==, 702);
        log = fixture_daemon_log(f);
        g_assert_nonnull(strstr(log, "pv-garbage"));
}

static gboolean make_certs(const char *dir)
{
        /* ca2 has the same name as ca but another key: it did not sign server.pem. */
        const char *script =
            "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
            "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca\n"
            "openssl req -x509 $K -keyout ca2.key -out ca2.pem -days 2 -subj /CN=test-ca\n"
            "openssl req $K -keyout server.key -out server.csr -subj /CN=127.0.0.1\n"
            "printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf\n"
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
            "-out server.pem -days 2 -extfile ext.cnf\n";
        const char *argv[] = {"/bin/sh", "-ec", script, NULL};
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;
        int status = 0;

        if (!g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                          &status, NULL) ||
            !g_spawn_check_wait_status(status, NULL)) {
                g_test_message("openssl failed: %s", err != NULL ? err : "");
                return FALSE;
        }
        return TRUE;
}

/* The token file the daemons read (TMPDIR/token) and the token the emulator wants. */
static char *set_token(Fixture *f, const char *token)
{
        g_free(f->emulator_token);
        f->emulator_token = g_strdup(token);
        return fixture_write_secret(f, "token", token);
}

/* LeakSanitizer crashes at exit ("Tracer caught signal 11") in a process where
 * glib-networking's TLS threads ran, the daemon here as the emulator elsewhere: its leak check
 * is off in this test only (the other tests run the daemon with it). No-op without ASan. */
static char *asan_no_leaks(void)
{
        const char *old = g_getenv("ASAN_OPTIONS");

        return g_strconcat("ASAN_OPTIONS=", old != NULL ? old : "", old != NULL ? ":" : "",
                           "detect_leaks=0", NULL);
}

static void test_tls(void)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        g_autoptr(Fixture) f = NULL;

        /* glib-networking's TLS backend locks in one uninstrumented library and unlocks in
         * another, which TSan reports as an unlock of an unlocked mutex: TLS is checked by
         * the other builds. */
        if (g_strcmp0(g_getenv("SRVLAB_SANITIZE"), "thread") == 0) {
                g_test_skip("TLS backend not checkable under TSan");
                return;
        }
        f = fixture_new(&opts);
        g_autofree char *dir = g_build_filename(f->tmpdir, "tls", NULL);
        g_autofree char *ca = g_build_filename(dir, "ca.pem", NULL);
        g_autofree char *ca2 = g_build_filename(dir, "ca2.pem", NULL);
        g_autofree char *token_file = set_token(f, "tls-secret");
        g_autofree char *node = NULL;
        g_autofree char *log = NULL;
        g_autofree char *lower = NULL;
        g_autofree char *asan = asan_no_leaks();
        const char *const env[] = {asan, NULL};
        gsize log_start;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        if (!make_certs(dir)) {
                g_test_skip("openssl could not make the certificates");
                return;
        }
        start_emulator(f, 0, ca, NULL);
        fixture_emulator_generate(f, "tls-", 2, 0, FIXTURE_DRIVER, "unused");
        write_config(f, "attachment.conf", f->emulator_url, ca, token_file, 60);
        fixture_start_daemon_env(f, env);
        fixture_track_ok(f, "tls-000000", "node-t");
        node = fixture_emulator_annotation(f, "tls-000000", FIXTURE_ANNOTATION_NODE);
        g_assert_cmpstr(node, ==, "node-t");
        fixture_assert_consistent(f, f, NULL);
        g_assert_cmpint(fixture_stop_daemon(f), ==, 0);

        /* A CA that did not sign the server's certificate: a permanent error, no retrying. */
        log = fixture_daemon_log(f);
        log_start = strlen(log);
        g_clear_pointer(&log, g_free);
        write_config(f, "attachment.conf", f->emulator_url, ca2, token_file, 60);
        assert_daemon_fails(f, fixture_spawn_daemon(f, NULL, env), 30);
        log = fixture_daemon_log(f);
        lower = g_ascii_strdown(log + log_start, -1);
        g_test_message("wrong CA: %s", log + log_start);
        g_assert_nonnull(strstr(lower, "certificate"));
}

static char *write_seed(Fixture *f)
{
        g_autofree char *one =
            pv_json("late-0", "late-0", FIXTURE_DRIVER, "node-l", "2026-05-06T07:08:09.000123Z");
        g_autofree char *two =
            pv_json("late-1", "late-1", FIXTURE_DRIVER, "node-m", "2026-05-06T07:08:10.000456Z");
        g_autofree char *body = g_strdup_printf("[%s,%s]", one, two);

        return fixture_write_file(f, "late-seed.json", body);
}

static void test_api_late(void)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        guint port = free_port();
        g_autofree char *server = g_strdup_printf("http://127.0.0.1:%u", port);
        g_autofree char *token_file = set_token(f, "late-secret");
        g_autofree char *seed = write_seed(f);
        g_autofree char *log = NULL;
        gint64 until;

        write_config(f, "attachment.conf", server, "", token_file, 30);
        f->daemon_pid = fixture_spawn_daemon(f, NULL, NULL);
        /* The scenario itself: the API server comes up 3 s after the daemon. */
        until = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;
        while (g_get_monotonic_time() < until) {
                g_assert_true(waitpid(f->daemon_pid, NULL, WNOHANG) == 0);
                g_assert_false(fixture_name_has_owner(f));
                g_usleep(100 * 1000);
        }
        start_emulator(f, port, NULL, seed);
        g_assert_true(fixture_wait_for(name_owned, f, FIXTURE_WAIT_SEC));
        g_assert_cmpuint(fixture_attachment_count(f), ==, 2);
        fixture_assert_consistent(f, f, NULL);
        log = fixture_daemon_log(f);
        g_assert_nonnull(strstr(log, "retrying"));
}

static void test_api_never(void)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autofree char *server = g_strdup_printf("http://127.0.0.1:%u", free_port());
        g_autofree char *token_file = set_token(f, "never-secret");
        g_autofree char *log = NULL;

        write_config(f, "attachment.conf", server, "", token_file, 3);
        assert_daemon_fails(f, fixture_spawn_daemon(f, NULL, NULL), FIXTURE_WAIT_SEC);
        log = fixture_daemon_log(f);
        g_test_message("API never up: %s", log);
        g_assert_nonnull(strstr(log, "Connection refused"));
}

static void test_token_rotation(void)
{
        FixtureOptions opts = {.kubernetes = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autoptr(GError) error = NULL;
        g_autofree char *token_path = g_build_filename(f->tmpdir, "token", NULL);
        g_autofree char *temp_path = g_build_filename(f->tmpdir, "token.new", NULL);
        g_autofree char *node = NULL;

        fixture_emulator_generate(f, "tok-", 2, 0, FIXTURE_DRIVER, "unused");
        fixture_track_ok(f, "tok-000000", "node-1");
        fixture_emulator_ok(f, "POST", "/_emulator/token", "{\"token\":\"rotated-token-b\"}");
        g_free(f->emulator_token);
        f->emulator_token = g_strdup("rotated-token-b");
        /* As the kubelet rotates a projected token: a new file renamed over the old one. */
        g_file_set_contents(temp_path, "rotated-token-b", -1, &error);
        g_assert_no_error(error);
        g_assert_cmpint(g_rename(temp_path, token_path), ==, 0);
        fixture_track_ok(f, "tok-000001", "node-1");
        node = fixture_emulator_annotation(f, "tok-000001", FIXTURE_ANNOTATION_NODE);
        g_assert_cmpstr(node, ==, "node-1");
        g_test_message("401 answers seen by the emulator: %u", emulator_count(f, "unauthorized"));
        fixture_assert_consistent(f, f, NULL);
}

/* A second bus and daemon on `emu`'s emulator. */
static Fixture *fixture_sharing(Fixture *emu)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        Fixture *f = fixture_new(&opts);
        g_autofree char *token = fixture_write_secret(f, "token", emu->emulator_token);

        write_config(f, "attachment.conf", emu->emulator_url, "", token, 60);
        fixture_start_daemon(f);
        return f;
}

/* One volume after the race: exactly one winner, and everybody agrees on it. */
static void check_race(Fixture *fa, Fixture *fb, FixtureCall *a, FixtureCall *b)
{
        gboolean a_won = a->error == NULL;
        FixtureCall *loser = a_won ? b : a;
        Fixture *fw = a_won ? fa : fb, *fl = a_won ? fb : fa;
        const char *winner = a_won ? a->node : b->node;
        g_autofree char *annotation =
            fixture_emulator_annotation(fa, a->volume, FIXTURE_ANNOTATION_NODE);
        g_autofree char *message = NULL;
        g_autofree char *node = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true((a->error == NULL) != (b->error == NULL));
        fixture_assert_dbus_error(loser->error, BUS_ERROR_ALREADY_ATTACHED);
        message = fixture_error_message(loser->error);
        g_assert_true(g_str_has_suffix(message, winner));
        g_assert_cmpstr(annotation, ==, winner);
        node = fixture_get(fw, a->volume, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(node, ==, winner);
        g_clear_pointer(&node, g_free);
        /* The loser's daemon read the holder when its write was refused: its table, a cache of
         * the API server, names the winner too. */
        node = fixture_get(fl, a->volume, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(node, ==, winner);
}

static void test_two_daemons_race(void)
{
        enum { N = 50 };
        FixtureOptions opts = {.kubernetes = TRUE};
        g_autoptr(Fixture) fa = fixture_new(&opts);
        g_autoptr(Fixture) fb = fixture_sharing(fa);
        FixtureCall a[N] = {0}, b[N] = {0};
        guint a_wins = 0;

        fixture_emulator_generate(fa, "race-", N, 0, FIXTURE_DRIVER, "unused");
        for (guint i = 0; i < N; i++) {
                g_snprintf(a[i].volume, sizeof(a[i].volume), "race-%06u", i);
                g_strlcpy(b[i].volume, a[i].volume, sizeof(b[i].volume));
                g_strlcpy(a[i].node, "node-a", sizeof(a[i].node));
                g_strlcpy(b[i].node, "node-b", sizeof(b[i].node));
                /* Alternate who sends first so that both daemons win some. */
                fixture_track_async(i % 2 ? fb : fa, i % 2 ? &b[i] : &a[i]);
                fixture_track_async(i % 2 ? fa : fb, i % 2 ? &a[i] : &b[i]);
        }
        g_assert_true(fixture_wait_calls(a, N, N, 2 * FIXTURE_WAIT_SEC));
        g_assert_true(fixture_wait_calls(b, N, N, 2 * FIXTURE_WAIT_SEC));
        for (guint i = 0; i < N; i++) {
                check_race(fa, fb, &a[i], &b[i]);
                a_wins += a[i].error == NULL ? 1 : 0;
        }
        g_test_message("node-a won %u, node-b won %u of %d volumes", a_wins, N - a_wins, N);
        fixture_assert_consistent(fa, fa, NULL);
        fixture_assert_consistent(fb, fa, NULL);
        /* Restarted, a daemon rebuilds every attachment: the other daemon's wins too. */
        g_assert_cmpint(fixture_stop_daemon(fb), ==, 0);
        fixture_start_daemon(fb);
        fixture_assert_consistent(fb, fa, NULL);
        g_assert_cmpuint(fixture_attachment_count(fb), ==, N);
        fixture_calls_clear(a, N);
        fixture_calls_clear(b, N);
}

int main(int argc, char **argv)
{
        int status;

        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator is not built");
                return g_test_run();
        }
        g_test_add_func("/persistence/restart-sigkill", test_restart_sigkill);
        g_test_add_func("/persistence/rebuild-1200", test_rebuild_1200);
        g_test_add_func("/persistence/tls", test_tls);
        g_test_add_func("/persistence/api-late", test_api_late);
        g_test_add_func("/persistence/api-never", test_api_never);
        g_test_add_func("/persistence/token-rotation", test_token_rotation);
        g_test_add_func("/persistence/two-daemons-race", test_two_daemons_race);
        status = g_test_run();
        /* /persistence/tls ran glib-networking's TLS threads in this process too: skip the
         * atexit leak check that would crash (see asan_no_leaks()). */
        fflush(stdout);
        _exit(status);
}
