/* SPDX-License-Identifier: MIT */
/* The Kubernetes API emulator (tools/kube-emulator) for the store and client unit tests: one
 * per test, on a free loopback port, killed with the test if it aborts. */
#include "kube-emulator-helper.h"

#include <glib/gstdio.h>
#include <string.h>

gboolean emulator_available(void)
{
        g_autofree char *binary = emulator_launch_binary();

        if (g_file_test(binary, G_FILE_TEST_IS_EXECUTABLE))
                return TRUE;
        g_test_skip("kube-emulator not built (SRVLAB_BUILD_ROOT/tools/kube-emulator)");
        return FALSE;
}

Emulator *emulator_start_full(const char *token, guint port, const char *seed, const char *tls_dir)
{
        Emulator *emu = g_new0(Emulator, 1);
        g_autofree char *port_file = NULL;
        g_autofree char *cert =
            tls_dir != NULL ? g_build_filename(tls_dir, "cert.pem", NULL) : NULL;
        g_autofree char *key = tls_dir != NULL ? g_build_filename(tls_dir, "key.pem", NULL) : NULL;
        g_autoptr(GError) error = NULL;

        emu->dir = g_dir_make_tmp("test-kube-XXXXXX", &error);
        g_assert_no_error(error);
        port_file = g_build_filename(emu->dir, "port", NULL);
        emu->process = emulator_launch_spawn(&(EmulatorLaunch){.port = port,
                                                               .port_file = port_file,
                                                               .token = token,
                                                               .seed = seed,
                                                               .tls_cert = cert,
                                                               .tls_key = key},
                                             &error);
        g_assert_no_error(error);
        emu->url = g_strdup_printf("%s://127.0.0.1:%u", tls_dir != NULL ? "https" : "http",
                                   emulator_launch_wait_port(port_file, emu->process, 30));
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
