/* SPDX-License-Identifier: MIT */
#include "fixture-private.h"
#include "tests/emulator-launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* ---- paths ---- */

static const char *build_root(void)
{
        const char *root = g_getenv("SRVLAB_BUILD_ROOT");

        g_assert_nonnull(root);
        return root;
}

char *fixture_daemon_path(void)
{
        return g_build_filename(build_root(), "service", "srvlab-attachmentd", NULL);
}

char *fixture_emulator_path(void)
{
        return emulator_launch_binary();
}

char *fixture_source_path(const char *relative)
{
        const char *root = g_getenv("SRVLAB_SOURCE_ROOT");

        g_assert_nonnull(root);
        return g_build_filename(root, relative, NULL);
}

gboolean fixture_have_emulator(void)
{
        g_autofree char *path = fixture_emulator_path();

        return g_file_test(path, G_FILE_TEST_IS_EXECUTABLE);
}

static char *write_file_mode(Fixture *f, const char *name, const char *contents, mode_t mode)
{
        g_autoptr(GError) error = NULL;
        char *path = g_build_filename(f->tmpdir, name, NULL);
        g_autofree char *dir = g_path_get_dirname(path);

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_file_set_contents(path, contents, -1, &error);
        g_assert_no_error(error);
        g_assert_cmpint(chmod(path, mode), ==, 0);
        return path;
}

char *fixture_write_file(Fixture *f, const char *name, const char *contents)
{
        return write_file_mode(f, name, contents, 0644);
}

/* A token: the owner's only, or the daemon warns that others can read it. */
char *fixture_write_secret(Fixture *f, const char *name, const char *contents)
{
        return write_file_mode(f, name, contents, 0600);
}

char **fixture_priv_environ(Fixture *f)
{
        char **env = g_get_environ();

        /* A test run from a systemd unit must not have the daemon notify that unit. */
        env = g_environ_unsetenv(env, "NOTIFY_SOCKET");
        env = g_environ_unsetenv(env, "WATCHDOG_USEC");
        env = g_environ_unsetenv(env, "WATCHDOG_PID");
        env = g_environ_unsetenv(env, "DBUS_SESSION_BUS_ADDRESS");
        if (f->bus_address != NULL)
                env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", f->bus_address, TRUE);
        return env;
}

/* ---- the bus ---- */

static const char bus_open_policy[] = "  <policy context=\"default\">\n"
                                      "    <allow user=\"*\"/>\n"
                                      "    <allow own=\"*\"/>\n"
                                      "    <allow send_type=\"method_call\"/>\n"
                                      "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                                      "    <allow receive_sender=\"*\"/>\n"
                                      "  </policy>\n";

/* The defaults of /usr/share/dbus-1/system.conf: the project's policy file must punch every
 * hole the service needs, exactly as on a real system bus. */
static const char bus_system_policy[] =
    "  <policy context=\"default\">\n"
    "    <allow user=\"*\"/>\n"
    "    <deny own=\"*\"/>\n"
    "    <deny send_type=\"method_call\"/>\n"
    "    <allow send_type=\"signal\"/>\n"
    "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
    "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
    "    <allow receive_type=\"method_call\"/>\n"
    "    <allow receive_type=\"method_return\"/>\n"
    "    <allow receive_type=\"error\"/>\n"
    "    <allow receive_type=\"signal\"/>\n"
    "    <allow send_destination=\"org.freedesktop.DBus\"\n"
    "           send_interface=\"org.freedesktop.DBus\"/>\n"
    "    <allow send_destination=\"org.freedesktop.DBus\"\n"
    "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
    "  </policy>\n";

static char *bus_config(Fixture *f, const FixtureOptions *opts)
{
        g_autoptr(GString) s = g_string_new(NULL);

        g_string_append_printf(s,
                               "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus "
                               "Configuration 1.0//EN\"\n"
                               " \"http://www.freedesktop.org/standards/dbus/1.0/"
                               "busconfig.dtd\">\n"
                               "<busconfig>\n"
                               "  <type>system</type>\n"
                               "  <listen>unix:path=%s/bus</listen>\n"
                               "  <auth>EXTERNAL</auth>\n",
                               f->tmpdir);
        if (opts->policy == FIXTURE_BUS_PROJECT_POLICY) {
                g_autofree char *project = fixture_source_path("data/org.srvlab.Attachment1.conf");

                g_assert_true(g_file_test(project, G_FILE_TEST_EXISTS));
                g_string_append(s, bus_system_policy);
                g_string_append_printf(s, "  <include>%s</include>\n", project);
        } else {
                g_string_append(s, bus_open_policy);
        }
        if (opts->activation)
                g_string_append_printf(s, "  <servicedir>%s/services</servicedir>\n", f->tmpdir);
        /* One test connection keeps hundreds of calls pending; system.conf's 128 would refuse
         * them at the bus before the daemon's own QueueLimit is reached. */
        g_string_append(s, "  <limit name=\"max_replies_per_connection\">50000</limit>\n"
                           "  <limit name=\"service_start_timeout\">120000</limit>\n"
                           "  <limit name=\"reply_timeout\">300000</limit>\n"
                           "</busconfig>\n");
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static char *read_line_fd(int fd, guint timeout_sec)
{
        g_autoptr(GString) line = g_string_new(NULL);
        gint64 deadline = g_get_monotonic_time() + timeout_sec * G_USEC_PER_SEC;

        while (g_get_monotonic_time() < deadline) {
                GPollFD pfd = {.fd = fd, .events = G_IO_IN};
                char c;

                if (g_poll(&pfd, 1, 100) <= 0)
                        continue;
                if (read(fd, &c, 1) != 1)
                        return NULL;
                if (c == '\n')
                        return g_string_free(g_steal_pointer(&line), FALSE);
                g_string_append_c(line, c);
        }
        return NULL;
}

static void start_bus(Fixture *f, const FixtureOptions *opts)
{
        g_autofree char *conf = bus_config(f, opts);
        g_autofree char *conf_path = fixture_write_file(f, "bus.conf", conf);
        g_autofree char *config_arg = g_strconcat("--config-file=", conf_path, NULL);
        g_autofree char *socket = g_build_filename(f->tmpdir, "bus", NULL);
        char *argv[] = {"dbus-daemon", config_arg, "--nofork", "--print-address=1", NULL};
        g_auto(GStrv) env = NULL;
        g_autofree char *address = NULL;
        int pipe_fds[2];

        g_assert_cmpint(pipe(pipe_fds), ==, 0);
        f->bus_address = g_strconcat("unix:path=", socket, NULL);
        /* An activated daemon inherits the bus's environment: that is how it finds the bus. */
        env = fixture_priv_environ(f);
        f->bus_log = g_build_filename(f->tmpdir, "bus.log", NULL);
        argv[0] = g_find_program_in_path("dbus-daemon");
        g_assert_nonnull(argv[0]);
        f->bus_pid = fixture_priv_spawn(argv, env, f->bus_log, pipe_fds[1]);
        g_free(argv[0]);
        close(pipe_fds[1]);
        address = read_line_fd(pipe_fds[0], FIXTURE_WAIT_SEC);
        close(pipe_fds[0]);
        if (address == NULL)
                fixture_dump_logs(f);
        g_assert_nonnull(address);
        /* Other uids (65534 in the access tests) must reach the socket. */
        g_assert_cmpint(chmod(socket, 0777), ==, 0);
}

GDBusConnection *fixture_connect(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        GDBusConnection *conn = g_dbus_connection_new_for_address_sync(
            f->bus_address,
            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
            NULL, NULL, &error);

        g_assert_no_error(error);
        g_dbus_connection_set_exit_on_close(conn, FALSE);
        return conn;
}

gboolean fixture_name_has_owner(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
            f->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "NameHasOwner", g_variant_new("(s)", BUS_NAME), G_VARIANT_TYPE("(b)"),
            G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, &error);
        gboolean owned = FALSE;

        g_assert_no_error(error);
        g_variant_get(r, "(b)", &owned);
        return owned;
}

/* ---- the daemon ---- */

static char *daemon_config(Fixture *f, const FixtureOptions *opts)
{
        g_autoptr(GString) s = g_string_new("[Attachment]\n");

        gboolean kubernetes = opts->kubernetes || opts->share_emulator != NULL;

        g_string_append_printf(s, "Store=%s\n", kubernetes ? "kubernetes" : "none");
        g_string_append(s, "Driver=" FIXTURE_DRIVER "\n");
        if (opts->workers > 0)
                g_string_append_printf(s, "Workers=%u\n", opts->workers);
        if (opts->queue_limit > 0)
                g_string_append_printf(s, "QueueLimit=%u\n", opts->queue_limit);
        if (opts->allowed_group != NULL)
                g_string_append_printf(s, "AllowedGroup=%s\n", opts->allowed_group);
        if (kubernetes)
                g_string_append(s, "[Kubernetes]\nRequestTimeoutSec=60\nStartTimeoutSec=60\n");
        if (kubernetes && opts->kubeconfig) {
                g_autofree char *kubeconfig = fixture_priv_write_kubeconfig(f);

                g_string_append_printf(s, "Kubeconfig=%s\n", kubeconfig);
        } else if (kubernetes) {
                g_string_append_printf(s, "Server=%s\nTokenFile=%s/token\nCAFile=\n",
                                       f->emulator_url, f->tmpdir);
        }
        if (opts->extra_config != NULL)
                g_string_append(s, opts->extra_config);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void write_activation_file(Fixture *f)
{
        g_autofree char *daemon = fixture_daemon_path();
        g_autofree char *text = g_strdup_printf("[D-BUS Service]\n"
                                                "Name=" BUS_NAME "\n"
                                                "Exec=%s --config=%s\n"
                                                "User=root\n",
                                                daemon, f->config_path);

        g_free(fixture_write_file(f, "services/" BUS_NAME ".service", text));
}

GPid fixture_spawn_daemon(Fixture *f, const char *config, const char *const *env)
{
        g_autofree char *daemon = fixture_daemon_path();
        g_autofree char *config_arg =
            g_strconcat("--config=", config != NULL ? config : f->config_path, NULL);
        g_auto(GStrv) envp = fixture_priv_environ(f);
        gboolean own_watchdog_pid = FALSE;
        const char *daemon_tsan = g_getenv("SRVLAB_DAEMON_TSAN_OPTIONS");

        /* Under TSan the test clients (GDBus: GLib's own threads, uninstrumented locks) run
         * with reports off; the daemon, the code under test, gets its own options. */
        if (daemon_tsan != NULL)
                envp = g_environ_setenv(envp, "TSAN_OPTIONS", daemon_tsan, TRUE);

        for (guint i = 0; env != NULL && env[i] != NULL; i++) {
                g_auto(GStrv) kv = g_strsplit(env[i], "=", 2);

                g_assert_nonnull(kv[1]);
                /* WATCHDOG_PID must be the daemon's own pid, unknown before the fork. */
                if (g_str_equal(env[i], "WATCHDOG_PID=$$"))
                        own_watchdog_pid = TRUE;
                else
                        envp = g_environ_setenv(envp, kv[0], kv[1], TRUE);
        }
        if (own_watchdog_pid) {
                char *argv[] = {"/bin/sh", "-c",       "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
                                daemon,    config_arg, NULL};

                return fixture_priv_spawn(argv, envp, f->daemon_log, -1);
        } else {
                char *argv[] = {daemon, config_arg, NULL};

                return fixture_priv_spawn(argv, envp, f->daemon_log, -1);
        }
}

void fixture_start_daemon(Fixture *f)
{
        fixture_start_daemon_env(f, NULL);
}

void fixture_start_daemon_env(Fixture *f, const char *const *env)
{
        gint64 deadline = g_get_monotonic_time() + FIXTURE_WAIT_SEC * G_USEC_PER_SEC;

        g_assert_cmpint(f->daemon_pid, ==, 0);
        f->daemon_pid = fixture_spawn_daemon(f, NULL, env);
        while (!fixture_name_has_owner(f)) {
                int status = 0;

                if (fixture_wait_pid(f->daemon_pid, 0, &status)) {
                        f->daemon_pid = 0;
                        fixture_dump_logs(f);
                        g_test_message("daemon exited before owning the name: status 0x%x", status);
                        g_assert_not_reached();
                }
                if (g_get_monotonic_time() > deadline) {
                        fixture_dump_logs(f);
                        g_assert_not_reached();
                }
                g_usleep(20 * 1000);
        }
}

int fixture_stop_daemon(Fixture *f)
{
        int status;

        g_assert_cmpint(f->daemon_pid, >, 0);
        status = fixture_priv_terminate(f->daemon_pid, "srvlab-attachmentd");
        f->daemon_pid = 0;
        return status;
}

char *fixture_daemon_log(Fixture *f)
{
        char *text = NULL;

        if (!g_file_get_contents(f->daemon_log, &text, NULL, NULL))
                return g_strdup("");
        return text;
}

static void dump_file(const char *what, const char *path)
{
        g_autofree char *text = NULL;

        if (path == NULL || !g_file_get_contents(path, &text, NULL, NULL))
                return;
        g_printerr("\n---- %s (%s) ----\n%s---- end of %s ----\n", what, path, text, what);
}

void fixture_dump_logs(Fixture *f)
{
        dump_file("daemon log", f->daemon_log);
        dump_file("bus log (and activated daemon)", f->bus_log);
        dump_file("emulator log", f->emulator_log);
}

/* ---- set-up and tear-down ---- */

Fixture *fixture_new(const FixtureOptions *opts)
{
        static const FixtureOptions defaults = {0};
        g_autoptr(GError) error = NULL;
        Fixture *f = g_new0(Fixture, 1);

        fixture_priv_emergency_install();
        if (opts == NULL)
                opts = &defaults;
        f->tmpdir = g_dir_make_tmp("srvlab-it-XXXXXX", &error);
        g_assert_no_error(error);
        /* uid 65534 must reach the bus socket inside. */
        g_assert_cmpint(chmod(f->tmpdir, 0755), ==, 0);
        f->daemon_log = g_build_filename(f->tmpdir, "daemon.log", NULL);
        fixture_priv_emergency_log(f->daemon_log);
        if (opts->share_emulator != NULL)
                fixture_priv_share_emulator(f, opts->share_emulator);
        else if (opts->kubernetes)
                fixture_priv_start_emulator(f);
        {
                g_autofree char *config = daemon_config(f, opts);

                f->config_path = fixture_write_file(f, "attachment.conf", config);
        }
        f->activation = opts->activation;
        if (opts->activation)
                write_activation_file(f);
        start_bus(f, opts);
        f->conn = fixture_connect(f);
        if (!opts->no_daemon && !opts->activation)
                fixture_start_daemon(f);
        return f;
}

Fixture *fixture_new_sharing(Fixture *emu, const FixtureOptions *opts)
{
        FixtureOptions shared = {0};

        if (opts != NULL)
                shared = *opts;
        shared.share_emulator = emu;
        return fixture_new(&shared);
}

static void remove_tree(const char *path)
{
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        const char *name;

        while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
                g_autofree char *child = g_build_filename(path, name, NULL);

                if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
                    !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                        remove_tree(child);
                else
                        g_unlink(child);
        }
        g_rmdir(path);
}

/* The activated daemon is the bus's child: find it by the name it owns. */
static void stop_activated(Fixture *f)
{
        g_autoptr(GVariant) r = NULL;
        guint32 pid = 0;
        gint64 deadline;

        if (f->conn == NULL || !fixture_name_has_owner(f))
                return;
        r = g_dbus_connection_call_sync(
            f->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "GetConnectionUnixProcessID", g_variant_new("(s)", BUS_NAME), G_VARIANT_TYPE("(u)"),
            G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, NULL);
        if (r == NULL)
                return;
        g_variant_get(r, "(u)", &pid);
        g_assert_cmpuint(pid, !=, (guint32)getpid());
        fixture_priv_emergency_add((GPid)pid);
        kill((pid_t)pid, SIGTERM);
        deadline = g_get_monotonic_time() + FIXTURE_WAIT_SEC * G_USEC_PER_SEC;
        while (fixture_name_has_owner(f) && g_get_monotonic_time() < deadline)
                g_usleep(20 * 1000);
        if (fixture_name_has_owner(f)) {
                g_test_message("activated daemon (pid %u) ignored SIGTERM: SIGKILL", pid);
                kill((pid_t)pid, SIGKILL);
                g_test_fail();
        }
        fixture_priv_emergency_remove((GPid)pid);
}

void fixture_free(Fixture *f)
{
        if (f == NULL)
                return;
        if (f->daemon_pid > 0) {
                int status = fixture_stop_daemon(f);

                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        g_test_message("daemon did not exit 0 on SIGTERM: wait status 0x%x",
                                       status);
                        g_test_fail();
                }
        }
        if (f->activation && f->bus_pid > 0)
                stop_activated(f);
        if (f->conn != NULL)
                g_dbus_connection_close_sync(f->conn, NULL, NULL);
        g_clear_object(&f->conn);
        if (f->emulator_pid > 0)
                fixture_priv_terminate(f->emulator_pid, "kube-emulator");
        if (f->bus_pid > 0)
                fixture_priv_terminate(f->bus_pid, "dbus-daemon");
        g_clear_object(&f->soup);
        if (g_test_failed()) {
                fixture_dump_logs(f);
                g_printerr("kept %s for inspection\n", f->tmpdir);
        } else {
                remove_tree(f->tmpdir);
        }
        fixture_priv_emergency_log(NULL);
        g_free(f->tmpdir);
        g_free(f->bus_address);
        g_free(f->bus_log);
        g_free(f->config_path);
        g_free(f->daemon_log);
        g_free(f->emulator_url);
        g_free(f->emulator_token);
        g_free(f->emulator_log);
        g_free(f);
}
