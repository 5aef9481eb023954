/* SPDX-License-Identifier: MIT */
#include "emulator-launch.h"

#include <signal.h>
#include <sys/prctl.h>

char *emulator_launch_binary(void)
{
        const char *path = g_getenv("KUBE_EMULATOR");
        const char *root = g_getenv("SRVLAB_BUILD_ROOT");

        if (path != NULL)
                return g_strdup(path);
        return g_build_filename(root != NULL ? root : ".", "tools", "kube-emulator",
                                "kube-emulator", NULL);
}

GStrv emulator_launch_argv(const EmulatorLaunch *l)
{
        GPtrArray *argv = g_ptr_array_new();

        g_ptr_array_add(argv, emulator_launch_binary());
        g_ptr_array_add(argv, g_strdup("--listen=127.0.0.1"));
        g_ptr_array_add(argv, g_strdup_printf("--port=%u", l->port));
        g_ptr_array_add(argv, g_strconcat("--port-file=", l->port_file, NULL));
        g_ptr_array_add(argv, g_strdup("--quiet"));
        if (l->token != NULL)
                g_ptr_array_add(argv, g_strconcat("--token=", l->token, NULL));
        if (l->seed != NULL)
                g_ptr_array_add(argv, g_strconcat("--seed=", l->seed, NULL));
        if (l->tls_cert != NULL)
                g_ptr_array_add(argv, g_strconcat("--tls-cert=", l->tls_cert, NULL));
        if (l->tls_key != NULL)
                g_ptr_array_add(argv, g_strconcat("--tls-key=", l->tls_key, NULL));
        if (l->start_resource_version > 0)
                g_ptr_array_add(argv, g_strdup_printf("--start-resource-version=%" G_GUINT64_FORMAT,
                                                      l->start_resource_version));
        for (gsize i = 0; l->extra != NULL && l->extra[i] != NULL; i++)
                g_ptr_array_add(argv, g_strdup(l->extra[i]));
        g_ptr_array_add(argv, NULL);
        return (GStrv)g_ptr_array_free(argv, FALSE);
}

/* A test that fails aborts: the emulator must not outlive it. */
static void die_with_parent(gpointer user_data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean uses_tls(const EmulatorLaunch *l)
{
        for (gsize i = 0; l->extra != NULL && l->extra[i] != NULL; i++) {
                if (g_str_has_prefix(l->extra[i], "--tls-cert"))
                        return TRUE;
        }
        return l->tls_cert != NULL;
}

GSubprocess *emulator_launch_spawn(const EmulatorLaunch *l, GError **error)
{
        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
        g_auto(GStrv) argv = emulator_launch_argv(l);

        g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
        if (uses_tls(l)) {
                const char *asan = g_getenv("ASAN_OPTIONS");
                g_autofree char *options =
                    g_strconcat(asan != NULL ? asan : "", ":", TLS_ASAN_OPTIONS, NULL);

                g_subprocess_launcher_setenv(launcher, "ASAN_OPTIONS", options, TRUE);
        }
        return g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, error);
}

guint emulator_launch_read_port(const char *port_file)
{
        g_autofree char *text = NULL;
        guint64 port = 0;

        /* The newline ends a complete write. */
        if (!g_file_get_contents(port_file, &text, NULL, NULL) || !g_str_has_suffix(text, "\n") ||
            !g_ascii_string_to_unsigned(g_strchomp(text), 10, 1, 65535, &port, NULL))
                return 0;
        return (guint)port;
}

guint emulator_launch_wait_port(const char *port_file, GSubprocess *process, guint timeout_sec)
{
        /* Generous: the machine may be loaded; we poll, never sleep a fixed time. */
        gint64 deadline = g_get_monotonic_time() + timeout_sec * G_USEC_PER_SEC;

        while (g_get_monotonic_time() < deadline) {
                guint port = emulator_launch_read_port(port_file);

                if (port != 0)
                        return port;
                g_assert_nonnull(g_subprocess_get_identifier(process)); /* still running */
                g_usleep(10 * G_TIME_SPAN_MILLISECOND);
        }
        g_assert_not_reached();
}
