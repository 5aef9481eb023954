/* SPDX-License-Identifier: MIT */
/* The Kubernetes API emulator (tools/kube-emulator) for the store and client unit tests: one
 * per test, on a free loopback port, killed with the test if it aborts. */
#include "kube-emulator-helper.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/prctl.h>

char *emulator_binary(void)
{
        const char *root = g_getenv("SRVLAB_BUILD_ROOT");

        return root != NULL
                   ? g_build_filename(root, "tools", "kube-emulator", "kube-emulator", NULL)
                   : NULL;
}

gboolean emulator_available(void)
{
        g_autofree char *binary = emulator_binary();

        if (binary != NULL && g_file_test(binary, G_FILE_TEST_IS_EXECUTABLE))
                return TRUE;
        g_test_skip("kube-emulator not built (SRVLAB_BUILD_ROOT/tools/kube-emulator)");
        return FALSE;
}

static guint wait_port(const char *port_file, GSubprocess *process)
{
        for (guint i = 0; i < 3000; i++) {
                g_autofree char *text = NULL;
                guint64 port;

                if (g_file_get_contents(port_file, &text, NULL, NULL) &&
                    g_str_has_suffix(text, "\n") &&
                    g_ascii_string_to_unsigned(g_strchomp(text), 10, 1, 65535, &port, NULL))
                        return (guint)port;
                g_assert_nonnull(g_subprocess_get_identifier(process));
                g_usleep(10 * G_TIME_SPAN_MILLISECOND);
        }
        g_assert_not_reached();
}

/* A test that fails aborts: the emulator must not outlive it. */
static void die_with_parent(gpointer user_data)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *spawn(GError **error, gboolean tls, const char *const *argv)
{
        g_autoptr(GSubprocessLauncher) launcher =
            g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);

        g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
        if (tls)
                g_subprocess_launcher_setenv(launcher, "ASAN_OPTIONS", TLS_ASAN_OPTIONS, TRUE);
        return g_subprocess_launcher_spawnv(launcher, argv, error);
}

Emulator *emulator_start_full(const char *token, guint port, const char *seed, const char *tls_dir)
{
        Emulator *emu = g_new0(Emulator, 1);
        g_autofree char *binary = emulator_binary();
        g_autofree char *port_file = NULL, *port_arg = NULL, *port_file_arg = NULL;
        g_autofree char *token_arg = token != NULL ? g_strdup_printf("--token=%s", token) : NULL;
        g_autofree char *seed_arg = seed != NULL ? g_strdup_printf("--seed=%s", seed) : NULL;
        g_autofree char *cert_arg = NULL, *key_arg = NULL;
        g_autoptr(GError) error = NULL;

        emu->dir = g_dir_make_tmp("test-kube-XXXXXX", &error);
        g_assert_no_error(error);
        port_file = g_build_filename(emu->dir, "port", NULL);
        port_file_arg = g_strdup_printf("--port-file=%s", port_file);
        port_arg = g_strdup_printf("--port=%u", port);
        if (tls_dir != NULL) {
                cert_arg = g_strdup_printf("--tls-cert=%s/cert.pem", tls_dir);
                key_arg = g_strdup_printf("--tls-key=%s/key.pem", tls_dir);
        }
        const char *argv[] = {binary,
                              "--listen=127.0.0.1",
                              port_arg,
                              port_file_arg,
                              "--quiet",
                              token_arg != NULL ? token_arg : "--quiet",
                              seed_arg != NULL ? seed_arg : "--quiet",
                              cert_arg,
                              key_arg,
                              NULL};

        emu->process = spawn(&error, tls_dir != NULL, argv);
        g_assert_no_error(error);
        emu->url = g_strdup_printf("%s://127.0.0.1:%u", tls_dir != NULL ? "https" : "http",
                                   wait_port(port_file, emu->process));
        emu->control = soup_session_new();
        return emu;
}

void emulator_stop(Emulator *emu)
{
        g_autofree char *port_file = g_build_filename(emu->dir, "port", NULL);

        g_subprocess_send_signal(emu->process, SIGTERM);
        g_subprocess_wait(emu->process, NULL, NULL);
        g_object_unref(emu->process);
        g_object_unref(emu->control);
        g_unlink(port_file);
        g_rmdir(emu->dir);
        g_free(emu->dir);
        g_free(emu->url);
        g_free(emu);
}

/* A control request; returns the parsed answer (NULL for an empty one). */
JsonNode *emulator_call(Emulator *emu, const char *method, const char *path, const char *body)
{
        g_autofree char *url = g_strconcat(emu->url, path, NULL);
        g_autoptr(SoupMessage) msg = soup_message_new(method, url);
        g_autoptr(GBytes) answer = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        gsize len;
        const char *data;

        if (body != NULL) {
                g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

                soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
        }
        answer = soup_session_send_and_read(emu->control, msg, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(soup_message_get_status(msg), <, 300);
        data = g_bytes_get_data(answer, &len);
        if (len == 0 || !json_parser_load_from_data(parser, data, (gssize)len, NULL))
                return NULL;
        return json_node_copy(json_parser_get_root(parser));
}

void emulator_post(Emulator *emu, const char *path, const char *body)
{
        JsonNode *answer = emulator_call(emu, "POST", path, body);

        if (answer != NULL)
                json_node_unref(answer);
}

gint64 emulator_count(Emulator *emu, const char *verb)
{
        g_autoptr(JsonNode) counts = emulator_call(emu, "GET", "/_emulator/counts", NULL);

        g_assert_nonnull(counts);
        return json_object_get_int_member(json_node_get_object(counts), verb);
}

void emulator_config(Config *config, const char *server, const char *token_file,
                     guint request_timeout_sec, guint start_timeout_sec)
{
        config_init(config);
        g_free(config->kube_server);
        config->kube_server = g_strdup(server);
        g_free(config->kube_token_file);
        config->kube_token_file = g_strdup(token_file != NULL ? token_file : "");
        g_free(config->kube_ca_file);
        config->kube_ca_file = g_strdup("");
        config->workers = 8;
        config->request_timeout_sec = request_timeout_sec;
        config->start_timeout_sec = start_timeout_sec;
}

void emulator_add_fault(Emulator *emu, const char *json)
{
        emulator_post(emu, "/_emulator/faults", json);
}
