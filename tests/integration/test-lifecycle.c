/* SPDX-License-Identifier: MIT */
/* The daemon's life: D-Bus activation, start-up errors, the name already taken, readiness and
 * watchdog notifications, and a SIGTERM while calls are in flight. */
#include "fixture.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHUTTING_DOWN BUS_ERROR_SHUTTING_DOWN

static gboolean need_emulator(void)
{
        if (fixture_have_emulator())
                return TRUE;
        g_test_skip("kube-emulator is not built");
        return FALSE;
}

static void assert_exit_status(int status, int want)
{
        if (!WIFEXITED(status))
                g_test_message("daemon killed by signal %d", WTERMSIG(status));
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, want);
}

/* ---- activation ---- */

static void test_activation(void)
{
        FixtureOptions opts = {.activation = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) l = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GVariant) store = NULL;

        g_assert_false(fixture_name_has_owner(f));
        l = fixture_call(f, "List", NULL, G_VARIANT_TYPE("(a(sst))"), &error);
        g_assert_no_error(error);
        g_assert_true(fixture_name_has_owner(f));
        r = fixture_call(f, "Track", g_variant_new("(ss)", "vol-a", "node-1"), G_VARIANT_TYPE_UNIT,
                         &error);
        g_assert_no_error(error);
        /* The built-in default is Store=kubernetes: "none" shows that --config was read. */
        store = fixture_get_property(f, "Store", &error);
        g_assert_no_error(error);
        g_assert_cmpstr(g_variant_get_string(store, NULL), ==, "none");
}

/* ---- command line and configuration errors ---- */

static char *run_daemon_sync(const char *arg, int *status)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *daemon = fixture_daemon_path();
        char *argv[] = {daemon, (char *)arg, NULL};
        char *out = NULL;

        g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, status,
                     &error);
        g_assert_no_error(error);
        return out;
}

static void test_version_help(void)
{
        int status = 0;
        g_autofree char *version = run_daemon_sync("--version", &status);
        g_autofree char *help = NULL;

        assert_exit_status(status, 0);
        g_assert_nonnull(strstr(version, PROJECT_VERSION));
        help = run_daemon_sync("--help", &status);
        assert_exit_status(status, 0);
        g_assert_nonnull(strstr(help, "--config"));
}

typedef struct {
        const char *main;   /* attachment.conf */
        const char *dropin; /* attachment.conf.d/50-test.conf, or NULL */
        const char *key;    /* must be named in the message */
        gboolean in_dropin; /* the message names the drop-in, not the main file */
} BadConfig;

static void expect_start_failure(Fixture *f, const BadConfig *c, guint i)
{
        g_autofree char *name = g_strdup_printf("bad-%u.conf", i);
        g_autofree char *path = fixture_write_file(f, name, c->main);
        g_autofree char *dropin = NULL;
        g_autofree char *log = NULL;
        GPid pid;
        int status = 0;

        if (c->dropin != NULL) {
                g_autofree char *dname = g_strdup_printf("bad-%u.conf.d/50-test.conf", i);

                dropin = fixture_write_file(f, dname, c->dropin);
        }
        g_free(fixture_write_file(f, "daemon.log", ""));
        pid = fixture_spawn_daemon(f, path, NULL);
        g_assert_true(fixture_wait_pid(pid, FIXTURE_WAIT_SEC, &status));
        log = fixture_daemon_log(f);
        g_test_message("case %u: status 0x%x, log:\n%s", i, status, log);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), !=, 0);
        g_assert_nonnull(strstr(log, c->in_dropin ? dropin : path));
        if (c->key != NULL)
                g_assert_nonnull(strstr(log, c->key));
        g_assert_false(fixture_name_has_owner(f));
}

static void test_config_errors(void)
{
        static const BadConfig cases[] = {
            {"[Attachment]\nStore=none\nWorkers=0\n", NULL, "Workers", FALSE},
            {"[Attachment]\nStore=foo\n", NULL, "Store", FALSE},
            {"[Attachment]\nStore=none\nQueueLimit=many\n", NULL, "QueueLimit", FALSE},
            {"[Attachment]\nStore=none\nWorkers=-3\n", NULL, "Workers", FALSE},
            {"[Attachment]\nStore=none\n", "[Attachment]\nWorkers=100000\n", "Workers", TRUE},
            {"[Attachment]\nStore=none\n", "[Attachment]\nQueueLimit=0\n", "QueueLimit", TRUE},
            {"[Attachment\nStore=none\n", NULL, NULL, FALSE},
            {"[Kubernetes]\nServer=https://10.0.0.1:6443\n", "[Kubernetes]\nKubeconfig=/etc/k\n",
             "Kubeconfig= cannot be combined with Server=", TRUE},
        };
        FixtureOptions opts = {.no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
                expect_start_failure(f, &cases[i], i);
}

static void test_name_taken(void)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autoptr(GDBusConnection) squatter = fixture_connect(f);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GVariant) owner = NULL;
        g_autofree char *log = NULL;
        guint32 result = 0;
        const char *owner_name;
        GPid pid;
        int status = 0;

        r = g_dbus_connection_call_sync(
            squatter, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "RequestName", g_variant_new("(su)", BUS_NAME, 4u), G_VARIANT_TYPE("(u)"),
            G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, &error);
        g_assert_no_error(error);
        g_variant_get(r, "(u)", &result);
        g_assert_cmpuint(result, ==, 1); /* DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER */

        pid = fixture_spawn_daemon(f, NULL, NULL);
        g_assert_true(fixture_wait_pid(pid, FIXTURE_WAIT_SEC, &status));
        log = fixture_daemon_log(f);
        g_test_message("status 0x%x, log:\n%s", status, log);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), !=, 0);
        g_assert_nonnull(strstr(log, BUS_NAME));

        owner = g_dbus_connection_call_sync(
            f->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetNameOwner", g_variant_new("(s)", BUS_NAME), G_VARIANT_TYPE("(s)"),
            G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, &error);
        g_assert_no_error(error);
        g_variant_get(owner, "(&s)", &owner_name);
        g_assert_cmpstr(owner_name, ==, g_dbus_connection_get_unique_name(squatter));
}

static void test_sigint(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        int status = 0;

        kill(f->daemon_pid, SIGINT);
        g_assert_true(fixture_wait_pid(f->daemon_pid, FIXTURE_WAIT_SEC, &status));
        f->daemon_pid = 0;
        assert_exit_status(status, 0);
}

/* ---- sd_notify and the watchdog ---- */

typedef struct {
        gboolean ready;
        char *status;
        guint watchdog;
        gboolean owned_when_ready;
} Notifications;

static int bind_notify_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
        return fd;
}

static void parse_notification(Fixture *f, Notifications *n, const char *text)
{
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

        for (guint i = 0; lines[i] != NULL; i++) {
                if (g_str_equal(lines[i], "READY=1")) {
                        n->ready = TRUE;
                        n->owned_when_ready = fixture_name_has_owner(f);
                } else if (g_str_has_prefix(lines[i], "STATUS=")) {
                        g_free(n->status);
                        n->status = g_strdup(lines[i] + strlen("STATUS="));
                } else if (g_str_equal(lines[i], "WATCHDOG=1")) {
                        n->watchdog++;
                }
        }
}

static void test_notify_watchdog(void)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autofree char *path = g_build_filename(f->tmpdir, "notify", NULL);
        g_autofree char *notify_env = g_strconcat("NOTIFY_SOCKET=", path, NULL);
        const char *env[] = {notify_env, "WATCHDOG_USEC=1000000", "WATCHDOG_PID=$$", NULL};
        Notifications n = {0};
        gint64 deadline = g_get_monotonic_time() + FIXTURE_WAIT_SEC * G_USEC_PER_SEC;
        int fd = bind_notify_socket(path);

        f->daemon_pid = fixture_spawn_daemon(f, NULL, env);
        while (!(n.ready && n.status != NULL && n.watchdog >= 3) &&
               g_get_monotonic_time() < deadline) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                char buf[4096];
                ssize_t len;

                if (poll(&pfd, 1, 200) <= 0)
                        continue;
                len = recv(fd, buf, sizeof(buf) - 1, 0);
                if (len < 0 || (gsize)len >= sizeof(buf))
                        continue;
                buf[len] = '\0';
                g_test_message("notify: %s", buf);
                parse_notification(f, &n, buf);
        }
        close(fd);
        g_assert_true(n.ready);
        /* Ready means serving: a caller that trusts READY=1 must find the name. */
        g_assert_true(n.owned_when_ready);
        g_assert_nonnull(n.status);
        g_assert_cmpstr(n.status, !=, "");
        g_assert_cmpuint(n.watchdog, >=, 3);
        g_free(n.status);
}

/* ---- SIGTERM with calls in flight ---- */

typedef struct {
        int fd;
        gboolean stopping;
} StopWatch;

static gboolean stopping_seen(gpointer data)
{
        StopWatch *w = data;
        char buf[4096];
        ssize_t len;

        while ((len = recv(w->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
                buf[MIN((gsize)len, sizeof(buf) - 1)] = '\0';
                g_test_message("notify: %s", buf);
                if (strstr(buf, "STOPPING=1") != NULL)
                        w->stopping = TRUE;
        }
        return w->stopping;
}

/* Every caller gets an answer; the store agrees with each. */
static guint check_replies(Fixture *f, FixtureCall *calls, guint n, gboolean late)
{
        guint ok = 0;

        for (guint i = 0; i < n; i++) {
                g_autofree char *node =
                    fixture_emulator_annotation(f, calls[i].volume, FIXTURE_ANNOTATION_NODE);

                if (calls[i].error == NULL) {
                        ok++;
                        g_assert_false(late);
                        g_assert_cmpstr(node, ==, calls[i].node);
                } else {
                        /* Never NoReply or a timeout: a reply for every caller. */
                        fixture_assert_dbus_error(calls[i].error, SHUTTING_DOWN);
                        g_assert_null(node);
                }
        }
        return ok;
}

static void fire(Fixture *f, FixtureCall *calls, guint first, guint n)
{
        for (guint i = 0; i < n; i++) {
                g_snprintf(calls[i].volume, sizeof(calls[i].volume), "vol-t%u", first + i);
                g_snprintf(calls[i].node, sizeof(calls[i].node), "node-%u", i % 3);
                fixture_track_async(f, &calls[i]);
        }
}

static void test_shutdown_in_flight(void)
{
        enum { N = 50, LATE = 10 };
        FixtureOptions opts = {.kubernetes = TRUE, .no_daemon = TRUE};
        g_autoptr(Fixture) f = NULL;
        g_autofree char *path = NULL;
        g_autofree char *notify_env = NULL;
        FixtureCall calls[N] = {0};
        FixtureCall late[LATE] = {0};
        StopWatch w = {-1, FALSE};
        guint ok, late_ok;
        int status = 0;
        g_autoptr(GVariant) l = NULL;
        g_autoptr(GError) error = NULL;

        if (!need_emulator())
                return;
        f = fixture_new(&opts);
        path = g_build_filename(f->tmpdir, "notify", NULL);
        notify_env = g_strconcat("NOTIFY_SOCKET=", path, NULL);
        w.fd = bind_notify_socket(path);
        {
                const char *env[] = {notify_env, NULL};

                fixture_start_daemon_env(f, env);
        }
        fixture_emulator_add_pvs(f, "vol-t", N + LATE);
        /* Slow enough that the batch takes seconds to drain after SIGTERM. */
        fixture_emulator_ok(f, "POST", "/_emulator/latency", "{\"ms\":1000}");
        fire(f, calls, 0, N);
        /* One reply: the daemon is working through the batch; the rest are in flight. */
        g_assert_true(fixture_wait_calls(calls, N, 1, 2 * FIXTURE_WAIT_SEC));
        kill(f->daemon_pid, SIGTERM);
        /* STOPPING=1: the daemon has seen SIGTERM; what it receives from now on is new. */
        g_assert_true(fixture_wait_for(stopping_seen, &w, FIXTURE_WAIT_SEC));
        fire(f, late, N, LATE);
        g_assert_true(fixture_wait_calls(calls, N, N, 3 * FIXTURE_WAIT_SEC));
        g_assert_true(fixture_wait_calls(late, LATE, LATE, 3 * FIXTURE_WAIT_SEC));
        g_assert_true(fixture_wait_pid(f->daemon_pid, FIXTURE_WAIT_SEC, &status));
        f->daemon_pid = 0;
        close(w.fd);
        assert_exit_status(status, 0);

        fixture_emulator_ok(f, "POST", "/_emulator/latency", "{\"ms\":0}");
        ok = check_replies(f, calls, N, FALSE);
        late_ok = check_replies(f, late, LATE, TRUE);
        g_test_message("SIGTERM with %d Tracks in flight: %u succeeded, %u ShuttingDown; "
                       "%d sent after STOPPING=1: all ShuttingDown",
                       N, ok, N - ok, LATE);
        g_assert_cmpuint(ok, >=, 1);
        g_assert_cmpuint(late_ok, ==, 0);

        /* Started again, the daemon rebuilds exactly what the callers were told. */
        fixture_start_daemon(f);
        l = fixture_call(f, "List", NULL, G_VARIANT_TYPE("(a(sst))"), &error);
        g_assert_no_error(error);
        {
                g_autoptr(GVariant) items = g_variant_get_child_value(l, 0);

                g_assert_cmpuint(g_variant_n_children(items), ==, ok);
        }
        fixture_calls_clear(calls, N);
        fixture_calls_clear(late, LATE);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/lifecycle/activation", test_activation);
        g_test_add_func("/lifecycle/version-help", test_version_help);
        g_test_add_func("/lifecycle/config-errors", test_config_errors);
        g_test_add_func("/lifecycle/name-taken", test_name_taken);
        g_test_add_func("/lifecycle/sigint", test_sigint);
        g_test_add_func("/lifecycle/notify-watchdog", test_notify_watchdog);
        g_test_add_func("/lifecycle/shutdown-in-flight", test_shutdown_in_flight);
        return g_test_run();
}
