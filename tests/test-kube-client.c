/* SPDX-License-Identifier: MIT */
#include "testlib.h"
#include "service/kube-client.h"
#include "kube-emulator-helper.h"
#include "tls-certs.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

/* ---- fixtures ---- */

#define DRIVER "rds.csi.srvlab.io"

static KubeClient *client_for(const char *server, const char *token_file, guint timeout_sec)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;
        KubeClient *client;

        emulator_config(&config, server, token_file, timeout_sec, 5);
        client = kube_client_new(&config, &error);
        g_assert_no_error(error);
        return client;
}

static void seed_pv(Emulator *emu, const char *name)
{
        g_autofree char *body = g_strdup_printf(
            "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":"
            "\"%s\"},\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"csi\":{\"driver\":\"%s\","
            "\"volumeHandle\":\"%s\"}}}",
            name, DRIVER, name);

        emulator_post(emu, "/_emulator/pvs", body);
}

/* An emulator (test data: the token it wants, or NULL) with no PV; the test sets up the client
 * and the token file. All NULL (and the test skipped) when the emulator is not built. */
typedef struct {
        Emulator *emu;
        KubeClient *client;
        char *token_file;
} ClientFixture;

static void fixture_setup(ClientFixture *f, gconstpointer token)
{
        if (emulator_available())
                f->emu = emulator_start_full(token, 0, NULL, NULL);
}

static void fixture_teardown(ClientFixture *f, gconstpointer token)
{
        if (f->token_file != NULL)
                g_unlink(f->token_file);
        g_clear_pointer(&f->token_file, g_free);
        g_clear_pointer(&f->client, kube_client_free);
        g_clear_pointer(&f->emu, emulator_stop);
}

#define CLIENT_TEST(path, token, func)                                                             \
        g_test_add(path, ClientFixture, token, fixture_setup, func, fixture_teardown)

static char *write_token(const char *dir, const char *token)
{
        g_autofree char *path = g_build_filename(dir, "token", NULL);
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, token, -1, &error));
        return g_steal_pointer(&path);
}

/* A client reading `token` from f->token_file. */
static void client_with_token(ClientFixture *f, const char *token)
{
        f->token_file = write_token(f->emu->dir, token);
        f->client = client_for(f->emu->url, f->token_file, 10);
}

/* pv-1, `fault` queued, then a client with a budget of `timeout_sec` per request. */
static void prepare_fault(ClientFixture *f, const char *fault, guint timeout_sec)
{
        seed_pv(f->emu, "pv-1");
        emulator_add_fault(f->emu, fault);
        f->client = client_for(f->emu->url, NULL, timeout_sec);
}

static JsonNode *get_pv(ClientFixture *f, const char *name, guint *status, GError **error)
{
        g_autofree char *path = g_strconcat("/api/v1/persistentvolumes/", name, NULL);

        return kube_client_send_json(f->client, "GET", path, NULL, NULL, status, error);
}

/* ---- configuration checks (pure: never connects) ---- */

static void test_new_rejects_bad_server(void)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;

        emulator_config(&config, "http://192.0.2.1:6443", NULL, 5, 5);
        g_assert_null(kube_client_new(&config, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
}

static void test_new_missing_token_file(void)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;

        emulator_config(&config, "http://127.0.0.1:1", "/nonexistent/token", 5, 5);
        g_assert_null(kube_client_new(&config, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
        g_assert_nonnull(strstr(error->message, "TokenFile=/nonexistent/token"));
}

static void test_new_bad_ca_file(void)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;

        emulator_config(&config, "https://127.0.0.1:1", NULL, 5, 5);
        g_free(config.kube_ca_file);
        config.kube_ca_file = g_strdup("/nonexistent/ca.crt");
        g_assert_null(kube_client_new(&config, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
        g_assert_nonnull(strstr(error->message, "CAFile=/nonexistent/ca.crt"));
}

static void test_in_cluster_url(void)
{
        g_auto(Config) config = {0};
        g_autoptr(KubeClient) v4 = NULL, v6 = NULL;
        g_autoptr(GError) error = NULL;

        emulator_config(&config, "", NULL, 5, 5);
        g_setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", TRUE);
        g_setenv("KUBERNETES_SERVICE_PORT", "443", TRUE);
        v4 = kube_client_new(&config, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(kube_client_get_server(v4), ==, "https://10.96.0.1:443");
        g_setenv("KUBERNETES_SERVICE_HOST", "fd00::1", TRUE);
        v6 = kube_client_new(&config, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(kube_client_get_server(v6), ==, "https://[fd00::1]:443");
        g_unsetenv("KUBERNETES_SERVICE_HOST");
        g_assert_null(kube_client_new(&config, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
}

static void test_permanence(void)
{
        const struct {
                gint code;
                gboolean permanent;
        } cases[] = {
            {KUBE_CLIENT_ERROR_UNREACHABLE, FALSE},
            {KUBE_CLIENT_ERROR_INVALID_RESPONSE, FALSE},
            {KUBE_CLIENT_ERROR_TLS, TRUE},
            {KUBE_CLIENT_ERROR_CONFIG, TRUE},
            {401, TRUE},
            {403, TRUE},
            {404, TRUE},
            {422, TRUE},
            {408, FALSE},
            {429, FALSE},
            {500, FALSE},
            {503, FALSE},
            {504, FALSE},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error =
                    g_error_new_literal(KUBE_CLIENT_ERROR, cases[i].code, "x");

                g_assert_cmpint(kube_client_error_is_permanent(error), ==, cases[i].permanent);
        }
        g_assert_false(kube_client_error_is_permanent(NULL));
}

/* ---- against the emulator ---- */

static void test_connection_refused(void)
{
        g_autoptr(GSocket) socket = NULL;
        g_autoptr(GSocketAddress) bound = NULL;
        g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
        g_autofree char *url = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = NULL;
        guint status = 99;

        /* A port that was just free and has no listener: bound, never listened on. */
        socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, 0, &error);
        g_assert_no_error(error);
        g_assert_true(g_socket_bind(socket, any, FALSE, &error));
        bound = g_socket_get_local_address(socket, &error);
        url = g_strdup_printf("http://127.0.0.1:%u",
                              g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
        client = client_for(url, NULL, 5);
        data = kube_client_send(client, "GET", "/api/v1/persistentvolumes", NULL, NULL, 1024,
                                &status, &error);
        g_assert_null(data);
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_UNREACHABLE);
        g_assert_true(g_str_has_prefix(error->message, "cannot reach http://127.0.0.1:"));
        g_assert_cmpuint(status, ==, 0);
        g_assert_false(kube_client_error_is_permanent(error));
}

static void test_get_and_404_status(ClientFixture *f, gconstpointer data)
{
        g_autoptr(JsonNode) pv = NULL;
        g_autoptr(GError) error = NULL;
        guint status = 0;

        RETURN_IF_NO_EMULATOR(f);
        seed_pv(f->emu, "pv-1");
        f->client = client_for(f->emu->url, NULL, 10);
        pv = get_pv(f, "pv-1", &status, &error);
        g_assert_no_error(error);
        g_assert_nonnull(pv);
        g_assert_cmpuint(status, ==, 200);
        g_assert_null(get_pv(f, "pv-9", &status, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, 404);
        g_assert_cmpuint(status, ==, 404);
        g_assert_cmpstr(error->message, ==, "HTTP 404: persistentvolumes \"pv-9\" not found");
}

static void test_status_500_message(ClientFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        RETURN_IF_NO_EMULATOR(f);
        prepare_fault(f,
                      "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"status\","
                      "\"code\":500,\"message\":\"etcdserver: request timed out\"}",
                      10);
        g_assert_null(get_pv(f, "pv-1", NULL, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, 500);
        g_assert_cmpstr(error->message, ==, "HTTP 500: etcdserver: request timed out");
        g_assert_false(kube_client_error_is_permanent(error));
}

/* The token changes in place, same size, same mtime: stat cannot see it; only the 401 can. */
static void overwrite_keeping_stat(const char *path, const char *token)
{
        struct stat before;
        struct timespec times[2];
        int fd;

        g_assert_cmpint(stat(path, &before), ==, 0);
        fd = open(path, O_WRONLY);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, token, strlen(token)), ==, (gssize)strlen(token));
        times[0] = before.st_atim;
        times[1] = before.st_mtim;
        g_assert_cmpint(futimens(fd, times), ==, 0);
        close(fd);
}

/* Test data: the emulator's first token, "token-aaaa". */
static void test_token_rotated_after_401(ClientFixture *f, gconstpointer data)
{
        g_autoptr(JsonNode) pv = NULL;
        g_autoptr(GError) error = NULL;

        RETURN_IF_NO_EMULATOR(f);
        seed_pv(f->emu, "pv-1");
        client_with_token(f, "token-aaaa\n");
        emulator_post(f->emu, "/_emulator/token", "{\"token\":\"token-bbbb\"}");
        overwrite_keeping_stat(f->token_file, "token-bbbb\n");
        pv = get_pv(f, "pv-1", NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpint(emulator_count(f->emu, "unauthorized"), ==, 1);
}

/* Test data: the emulator's first token, "token-aaaa". */
static void test_token_file_replaced(ClientFixture *f, gconstpointer data)
{
        g_autoptr(JsonNode) pv = NULL;
        g_autoptr(GError) error = NULL;

        RETURN_IF_NO_EMULATOR(f);
        seed_pv(f->emu, "pv-1");
        client_with_token(f, "token-aaaa");
        emulator_post(f->emu, "/_emulator/token", "{\"token\":\"token-cccccc\"}");
        /* Atomic replacement (a new inode), as the kubelet rotates projected tokens. */
        g_free(write_token(f->emu->dir, "token-cccccc  \n"));
        pv = get_pv(f, "pv-1", NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpint(emulator_count(f->emu, "unauthorized"), ==, 0);
}

/* Test data: the emulator's token, "right". */
static void test_wrong_token_permanent(ClientFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;
        guint status = 0;

        RETURN_IF_NO_EMULATOR(f);
        client_with_token(f, "wrong");
        g_assert_null(get_pv(f, "pv-1", &status, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, 401);
        g_assert_cmpuint(status, ==, 401);
        g_assert_true(kube_client_error_is_permanent(error));
        g_assert_null(strstr(error->message, "wrong"));
        /* Sent once, re-read, sent once more: never a loop. */
        g_assert_cmpint(emulator_count(f->emu, "unauthorized"), ==, 2);
}

static void test_retry_after_honoured(ClientFixture *f, gconstpointer data)
{
        g_autoptr(JsonNode) pv = NULL;
        g_autoptr(GError) error = NULL;
        gint64 start;

        RETURN_IF_NO_EMULATOR(f);
        prepare_fault(f,
                      "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"status\","
                      "\"code\":429,\"message\":\"slow down\",\"retry_after\":1}",
                      30);
        start = g_get_monotonic_time();
        pv = get_pv(f, "pv-1", NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpint(emulator_count(f->emu, "get"), ==, 2);
        /* A lower bound only: the client must have waited what the server asked. */
        g_assert_cmpint(g_get_monotonic_time() - start, >=, G_TIME_SPAN_SECOND * 9 / 10);
}

static void test_retry_after_beyond_budget(ClientFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        RETURN_IF_NO_EMULATOR(f);
        prepare_fault(f,
                      "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"status\","
                      "\"code\":503,\"message\":\"busy\",\"retry_after\":60}",
                      2);
        g_assert_null(get_pv(f, "pv-1", NULL, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, 503);
        g_assert_cmpstr(error->message, ==, "HTTP 503: busy");
        g_assert_cmpint(emulator_count(f->emu, "get"), ==, 1);
}

static void test_timeout(ClientFixture *f, gconstpointer data)
{
        g_autoptr(GError) error = NULL;

        RETURN_IF_NO_EMULATOR(f);
        prepare_fault(
            f, "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"delay\",\"ms\":4000}", 1);
        g_assert_null(get_pv(f, "pv-1", NULL, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_UNREACHABLE);
        g_assert_false(kube_client_error_is_permanent(error));
}

/* A bad answer of each kind fails the request with a transient error, nothing worse. */
static void check_bad_answer(ClientFixture *f, const char *fault, gint code,
                             const char *message_part)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) pv = NULL;

        RETURN_IF_NO_EMULATOR(f);
        prepare_fault(f, fault, 10);
        g_assert_null(get_pv(f, "pv-1", NULL, &error));
        g_assert_nonnull(error);
        g_test_message("%s", error->message);
        if (code != 0)
                g_assert_error(error, KUBE_CLIENT_ERROR, code);
        g_assert_nonnull(strstr(error->message, message_part));
        g_assert_false(kube_client_error_is_permanent(error));
        /* The client is fine afterwards. */
        g_clear_error(&error);
        pv = get_pv(f, "pv-1", NULL, &error);
        g_assert_no_error(error);
}

static void test_dropped_connection(ClientFixture *f, gconstpointer data)
{
        check_bad_answer(f, "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"drop\"}",
                         KUBE_CLIENT_ERROR_UNREACHABLE, "cannot reach");
}

static void test_malformed_body(ClientFixture *f, gconstpointer data)
{
        check_bad_answer(f, "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"malformed\"}",
                         KUBE_CLIENT_ERROR_INVALID_RESPONSE, "invalid JSON from the API server");
}

static void test_truncated_body(ClientFixture *f, gconstpointer data)
{
        check_bad_answer(f, "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"truncated\"}",
                         0, "");
}

static void test_huge_body(ClientFixture *f, gconstpointer data)
{
        check_bad_answer(f,
                         "{\"match\":{\"verb\":\"get\"},\"count\":1,\"action\":\"huge\","
                         "\"bytes\":40000000}",
                         KUBE_CLIENT_ERROR_INVALID_RESPONSE, "larger than");
}

static void check_tls(gboolean trust)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = NULL, *ca = NULL;
        g_auto(Config) config = {0};

        dir = g_dir_make_tmp("test-kube-tls-XXXXXX", &error);
        g_assert_no_error(error);
        tls_certs_make(dir, NULL);
        emu = emulator_start_full(NULL, 0, NULL, dir);
        emulator_config(&config, emu->url, NULL, 10, 5);
        g_free(config.kube_ca_file);
        ca = g_build_filename(dir, "ca.pem", NULL);
        config.kube_ca_file = g_strdup(trust ? ca : "");
        client = kube_client_new(&config, &error);
        g_assert_no_error(error);
        g_assert_null(kube_client_send_json(client, "GET", "/api/v1/persistentvolumes/pv-9", NULL,
                                            NULL, NULL, &error));
        g_test_message("%s", error->message);
        if (trust) {
                /* An HTTP answer came back through TLS. */
                g_assert_error(error, KUBE_CLIENT_ERROR, 404);
        } else {
                g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_TLS);
                g_assert_true(kube_client_error_is_permanent(error));
        }
        tls_certs_remove(dir);
}

/* In a subprocess without leak detection under ASan: see TLS_ASAN_OPTIONS. */
static void run_tls_case(gboolean trust)
{
        /* Checked here, not in the child: a skipped child does not count as passed. */
        if (!emulator_available())
                return;
        if (g_test_subprocess()) {
                check_tls(trust);
                return;
        }
        if (g_getenv("ASAN_OPTIONS") != NULL)
                g_setenv("ASAN_OPTIONS", TLS_ASAN_OPTIONS, TRUE);
        g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_test_trap_assert_passed();
}

static void test_tls_trusted_ca(void)
{
        run_tls_case(TRUE);
}

static void test_tls_unknown_ca(void)
{
        run_tls_case(FALSE);
}

typedef struct {
        KubeClient *client;
        guint index;
        gint failures;
} Worker;

static gpointer worker_run(gpointer user_data)
{
        Worker *w = user_data;

        for (guint i = 0; i < 20; i++) {
                g_autofree char *path =
                    g_strdup_printf("/api/v1/persistentvolumes/pv-%u", w->index);
                g_autofree char *body =
                    g_strdup_printf("{\"metadata\":{\"annotations\":{\"n\":\"%u\"}}}", i);
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonNode) pv = kube_client_send_json(
                    w->client, "PATCH", path, "application/merge-patch+json", body, NULL, &error);

                if (pv == NULL)
                        g_atomic_int_inc(&w->failures);
        }
        return NULL;
}

static void test_concurrent_workers(ClientFixture *f, gconstpointer data)
{
        Worker workers[8];
        GThread *threads[8];

        RETURN_IF_NO_EMULATOR(f);
        f->client = client_for(f->emu->url, NULL, 30);
        for (guint i = 0; i < G_N_ELEMENTS(threads); i++) {
                g_autofree char *name = g_strdup_printf("pv-%u", i);

                seed_pv(f->emu, name);
        }
        for (guint i = 0; i < G_N_ELEMENTS(threads); i++) {
                workers[i] = (Worker){f->client, i, 0};
                threads[i] = g_thread_new("worker", worker_run, &workers[i]);
        }
        for (guint i = 0; i < G_N_ELEMENTS(threads); i++) {
                g_thread_join(threads[i]);
                g_assert_cmpint(workers[i].failures, ==, 0);
        }
        g_assert_cmpint(emulator_count(f->emu, "patch"), ==, 8 * 20);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        umask(077); /* token files the owner's only: a readable one warns */
        g_test_add_func("/kube-client/new/bad-server", test_new_rejects_bad_server);
        g_test_add_func("/kube-client/new/missing-token-file", test_new_missing_token_file);
        g_test_add_func("/kube-client/new/bad-ca-file", test_new_bad_ca_file);
        g_test_add_func("/kube-client/new/in-cluster", test_in_cluster_url);
        g_test_add_func("/kube-client/error/permanence", test_permanence);
        g_test_add_func("/kube-client/connection-refused", test_connection_refused);
        CLIENT_TEST("/kube-client/get-and-404", NULL, test_get_and_404_status);
        CLIENT_TEST("/kube-client/status-500", NULL, test_status_500_message);
        CLIENT_TEST("/kube-client/token/rotated-after-401", "token-aaaa",
                    test_token_rotated_after_401);
        CLIENT_TEST("/kube-client/token/file-replaced", "token-aaaa", test_token_file_replaced);
        CLIENT_TEST("/kube-client/token/wrong-is-permanent", "right", test_wrong_token_permanent);
        CLIENT_TEST("/kube-client/retry-after/honoured", NULL, test_retry_after_honoured);
        CLIENT_TEST("/kube-client/retry-after/beyond-budget", NULL, test_retry_after_beyond_budget);
        CLIENT_TEST("/kube-client/timeout", NULL, test_timeout);
        CLIENT_TEST("/kube-client/bad-answer/dropped", NULL, test_dropped_connection);
        CLIENT_TEST("/kube-client/bad-answer/malformed", NULL, test_malformed_body);
        CLIENT_TEST("/kube-client/bad-answer/truncated", NULL, test_truncated_body);
        CLIENT_TEST("/kube-client/bad-answer/huge", NULL, test_huge_body);
        CLIENT_TEST("/kube-client/concurrent-workers", NULL, test_concurrent_workers);
        g_test_add_func("/kube-client/tls/trusted-ca", test_tls_trusted_ca);
        g_test_add_func("/kube-client/tls/unknown-ca", test_tls_unknown_ca);
        return g_test_run();
}
