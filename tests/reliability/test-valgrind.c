/* SPDX-License-Identifier: MIT */
/* The daemon under valgrind (issue 7 item 4) for one integration run with Store=kubernetes:
 * Tracks, Untracks, a conflict, a store failure, Get/List, then SIGTERM. valgrind runs with
 * --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1, so any memory error
 * or any byte definitely lost makes the daemon exit 1; the log must also say 0 bytes
 * definitely lost. Skipped when valgrind is not installed. */
#include "rel-common.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static GPid spawn_valgrind(Fixture *f, const char *valgrind, const char *log)
{
        g_autofree char *daemon = fixture_daemon_path();
        g_autofree char *log_arg = g_strconcat("--log-file=", log, NULL);
        g_autofree char *config_arg = g_strconcat("--config=", f->config_path, NULL);
        g_autofree char *supp = fixture_source_path("tests/reliability/valgrind.supp");
        g_autofree char *supp_arg = g_strconcat("--suppressions=", supp, NULL);
        const char *argv[] = {valgrind,
                              "--leak-check=full",
                              "--errors-for-leak-kinds=definite",
                              "--error-exitcode=1",
                              "--num-callers=30",
                              supp_arg,
                              log_arg,
                              daemon,
                              config_arg,
                              NULL};
        g_auto(GStrv) env = g_get_environ();
        g_autoptr(GError) error = NULL;
        GPid pid = 0;

        env = g_environ_unsetenv(env, "NOTIFY_SOCKET");
        env = g_environ_unsetenv(env, "WATCHDOG_USEC");
        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", f->bus_address, TRUE);
        env = g_environ_setenv(env, "G_SLICE", "always-malloc", TRUE);
        g_spawn_async(NULL, (char **)argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                      &error);
        g_assert_no_error(error);
        return pid;
}

static void call_expect(Fixture *f, const char *method, GVariant *params, const char *error_name)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, method, params, NULL, &error);

        (void)r; /* only the error matters */

        if (error_name == NULL)
                g_assert_no_error(error);
        else
                fixture_assert_dbus_error(error, error_name);
}

static void workload(Fixture *f)
{
        for (guint i = 0; i < 8; i++) {
                g_autofree char *v = g_strdup_printf("vg-%u", i);

                call_expect(f, "Track", g_variant_new("(ss)", v, "node-a"), NULL);
        }
        call_expect(f, "Track", g_variant_new("(ss)", "vg-0", "node-b"),
                    BUS_ERROR_ALREADY_ATTACHED);
        call_expect(f, "Track", g_variant_new("(ss)", "vg-missing", "node-a"),
                    BUS_ERROR_VOLUME_NOT_FOUND);
        rel_fault(f, "{\"match\":{\"verb\":\"patch\",\"name\":\"vg-8\"},\"action\":\"status\","
                     "\"code\":500}");
        call_expect(f, "Track", g_variant_new("(ss)", "vg-8", "node-a"), BUS_ERROR_STORE_FAILED);
        rel_fault(f, "{\"match\":{\"verb\":\"patch\",\"name\":\"vg-1\"},\"action\":\"conflict\"}");
        call_expect(f, "Untrack", g_variant_new("(s)", "vg-1"), NULL);
        for (guint i = 2; i < 5; i++) {
                g_autofree char *v = g_strdup_printf("vg-%u", i);

                call_expect(f, "Untrack", g_variant_new("(s)", v), NULL);
        }
        call_expect(f, "Get", g_variant_new("(s)", "vg-5"), NULL);
        rel_assert_consistent(f, NULL, NULL, NULL);
}

static void test_valgrind(void)
{
        FixtureOptions opts = {.kubernetes = TRUE, .no_daemon = TRUE, .workers = 4};
        g_autofree char *valgrind = g_find_program_in_path("valgrind");
        g_autoptr(Fixture) f = NULL;
        g_autofree char *log = NULL;
        g_autofree char *text = NULL;
        gint64 deadline;
        int status = 0;
        GPid pid;

        if (valgrind == NULL) {
                g_test_skip("valgrind not installed");
                return;
        }
        f = fixture_new(&opts);
        fixture_emulator_add_pvs(f, "vg-", 9);
        log = g_build_filename(f->tmpdir, "valgrind.log", NULL);
        pid = spawn_valgrind(f, valgrind, log);
        deadline = g_get_monotonic_time() + 5 * FIXTURE_WAIT_SEC * G_TIME_SPAN_SECOND;
        while (!fixture_name_has_owner(f)) {
                g_assert_false(fixture_wait_pid(pid, 0, &status));
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(100 * 1000);
        }
        workload(f);
        kill(pid, SIGTERM);
        g_assert_true(fixture_wait_pid(pid, 5 * FIXTURE_WAIT_SEC, &status));
        g_file_get_contents(log, &text, NULL, NULL);
        g_assert_nonnull(text);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            (strstr(text, "definitely lost: 0 bytes") == NULL &&
             strstr(text, "All heap blocks were freed") == NULL))
                g_test_message("valgrind log:\n%s", text);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        g_assert_true(strstr(text, "definitely lost: 0 bytes") != NULL ||
                      strstr(text, "All heap blocks were freed") != NULL);
        g_test_message("%s", strstr(text, "LEAK SUMMARY") ? strstr(text, "LEAK SUMMARY")
                                                          : "no leaks possible");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return g_test_run();
        }
        g_test_add_func("/valgrind/daemon-kubernetes", test_valgrind);
        return g_test_run();
}
