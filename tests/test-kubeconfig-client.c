/* SPDX-License-Identifier: MIT */
/* The client configured by Kubeconfig=: mutual TLS against a local SoupServer that requires a
 * client certificate (sent, a wrong one refused, a rotated one picked up), the CA from
 * certificate-authority-data, and the store talking to the emulator with the kubeconfig's
 * token. Everything on loopback. */
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>

#include "service/kube-client.h"
#include "log-capture.h"
#include "store-kube-common.h"
#include "tls-certs.h"
#include "tls-server.h"

/* ---- kubeconfig files and clients ---- */

static char *file_in(const char *dir, const char *name)
{
        return g_build_filename(dir, name, NULL);
}

static void write_in(const char *dir, const char *name, const char *text)
{
        g_autofree char *path = file_in(dir, name);
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, -1, &error));
}

/* `user` and `cluster` are the mappings' bodies in flow style, e.g. "token: abc". */
static char *write_kubeconfig(const char *dir, const char *server, const char *cluster,
                              const char *user)
{
        g_autofree char *text =
            g_strdup_printf("apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                            "clusters:\n- name: local\n  cluster: {server: '%s'%s%s}\n"
                            "contexts:\n- name: test\n  context: {cluster: local, user: daemon}\n"
                            "users:\n- name: daemon\n  user: {%s}\n",
                            server, cluster[0] != '\0' ? ", " : "", cluster, user);

        write_in(dir, "kubeconfig", text);
        return file_in(dir, "kubeconfig");
}

static char *base64_of(const char *dir, const char *name)
{
        g_autofree char *path = file_in(dir, name);
        g_autofree char *data = NULL;
        gsize len = 0;

        g_assert_true(g_file_get_contents(path, &data, &len, NULL));
        return g_base64_encode((const guchar *)data, len);
}

/* Replaces dir/to by a copy of dir/from, atomically (a new inode), as rotation tools do. */
static void install_copy(const char *dir, const char *from, const char *to)
{
        g_autofree char *src = file_in(dir, from);
        g_autofree char *dst = file_in(dir, to);
        g_autofree char *data = NULL;
        gsize len = 0;

        g_assert_true(g_file_get_contents(src, &data, &len, NULL));
        g_assert_true(g_file_set_contents(dst, data, (gssize)len, NULL));
}

static KubeClient *client_from(const char *kubeconfig, GError **error)
{
        g_auto(Config) config = {0};

        config_init(&config);
        g_free(config.kube_kubeconfig);
        config.kube_kubeconfig = g_strdup(kubeconfig);
        config.workers = 2;
        config.request_timeout_sec = 10;
        return kube_client_new(&config, error);
}

static KubeClient *client_ok(const char *kubeconfig)
{
        g_autoptr(GError) error = NULL;
        KubeClient *client = client_from(kubeconfig, &error);

        g_assert_no_error(error);
        return client;
}

static guint get_version(KubeClient *client, GError **error)
{
        guint status = 0;
        g_autoptr(GBytes) body =
            kube_client_send(client, "GET", "/version", NULL, NULL, 1024, &status, error);

        return status;
}

/* A TLS server and its certificates: alice and bob (signed by the CA), rogue (not). */
typedef struct {
        char *dir;
        TlsServer *server;
        char *url;
} Mtls;

static void mtls_setup(Mtls *m)
{
        const char *clients[] = {"alice", "bob", NULL};

        m->dir = g_dir_make_tmp("test-kubeconfig-mtls-XXXXXX", NULL);
        tls_certs_make(m->dir, clients);
        m->server = tls_server_start(m->dir);
        m->url = g_strdup_printf("https://127.0.0.1:%u", m->server->port);
}

static void mtls_teardown(Mtls *m)
{
        g_clear_pointer(&m->server, tls_server_stop);
        tls_certs_remove(m->dir);
        g_free(m->dir);
        g_free(m->url);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Mtls, mtls_teardown)

/* A client presenting alice's certificate from dir/client.crt and dir/client.key, named by
 * relative paths (resolved against the kubeconfig's directory). */
static KubeClient *alice_client(Mtls *m)
{
        g_autofree char *kc = NULL;

        install_copy(m->dir, "alice.pem", "client.crt");
        install_copy(m->dir, "alice.key", "client.key");
        kc = write_kubeconfig(m->dir, m->url, "certificate-authority: ca.pem",
                              "client-certificate: client.crt, client-key: ./client.key");
        return client_ok(kc);
}

/* ---- mutual TLS cases (each in a subprocess: see TLS_ASAN_OPTIONS) ---- */

static void case_cert_files(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *seen = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;

        mtls_setup(&m);
        client = alice_client(&m);
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        g_assert_no_error(error);
        seen = tls_server_handshakes(m.server);
        g_assert_cmpstr(seen, ==, "CN=alice");
}

static void case_cert_data(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *ca = NULL, *cert = NULL, *key = NULL, *cluster = NULL, *user = NULL;
        g_autofree char *kc = NULL, *seen = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;

        mtls_setup(&m);
        ca = base64_of(m.dir, "ca.pem");
        cert = base64_of(m.dir, "bob.pem");
        key = base64_of(m.dir, "bob.key");
        cluster = g_strdup_printf("certificate-authority-data: %s", ca);
        user = g_strdup_printf("client-certificate-data: %s, client-key-data: %s", cert, key);
        kc = write_kubeconfig(m.dir, m.url, cluster, user);
        client = client_ok(kc);
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        g_assert_no_error(error);
        seen = tls_server_handshakes(m.server);
        g_assert_cmpstr(seen, ==, "CN=bob");
}

/* A certificate the server's CA did not sign is refused; so is no certificate at all. */
static void case_wrong_cert(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *kc = NULL, *seen = NULL;
        g_autoptr(KubeClient) rogue = NULL, none = NULL;
        g_autoptr(GError) error = NULL;

        mtls_setup(&m);
        kc = write_kubeconfig(m.dir, m.url, "certificate-authority: ca.pem",
                              "client-certificate: rogue.pem, client-key: rogue.key");
        rogue = client_ok(kc);
        g_assert_cmpuint(get_version(rogue, &error), ==, 0);
        g_assert_nonnull(error);
        g_test_message("rogue: %s", error->message);
        g_clear_error(&error);
        seen = tls_server_handshakes(m.server);
        g_assert_cmpstr(seen, ==, "refused CN=rogue");

        /* A "key" file holding a certificate only is refused when the client is made. */
        g_free(kc);
        kc = write_kubeconfig(m.dir, m.url, "certificate-authority: ca.pem",
                              "client-certificate: alice.pem, client-key: bob.pem");
        g_assert_null(client_from(kc, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
        g_assert_nonnull(strstr(error->message, "users[daemon].user: client-key holds no private"));
        g_clear_error(&error);

        g_free(kc);
        kc = write_kubeconfig(m.dir, m.url, "certificate-authority: ca.pem", "token: t");
        none = client_ok(kc);
        g_assert_cmpuint(get_version(none, &error), ==, 0);
        g_assert_nonnull(error);
        g_test_message("no certificate: %s", error->message);
}

/* The files are replaced while the client runs: the next request presents the new
 * certificate on a new connection; an unchanged certificate keeps its connection. */
static void case_rotated(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *first = NULL, *second = NULL, *third = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;

        mtls_setup(&m);
        client = alice_client(&m);
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        first = tls_server_handshakes(m.server);
        g_assert_cmpstr(first, ==, "CN=alice");

        install_copy(m.dir, "bob.key", "client.key");
        install_copy(m.dir, "bob.pem", "client.crt");
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        g_assert_no_error(error);
        second = tls_server_handshakes(m.server);
        g_assert_cmpstr(second, ==, "CN=alice,CN=bob");
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        third = tls_server_handshakes(m.server);
        g_assert_cmpstr(third, ==, "CN=alice,CN=bob");
}

typedef struct {
        KubeClient *client;
        gint stop;
        gint requests;
        gint failures;
} Worker;

/* Sends until told to stop. */
static gpointer worker_run(gpointer user_data)
{
        Worker *w = user_data;

        while (!g_atomic_int_get(&w->stop)) {
                g_autoptr(GError) error = NULL;

                if (get_version(w->client, &error) != 200)
                        g_atomic_int_inc(&w->failures);
                g_atomic_int_inc(&w->requests);
        }
        return NULL;
}

/* dir/NAME.both: the certificate and the key of NAME in one file, as kubelet writes them. */
static void write_both(const char *dir, const char *name)
{
        g_autofree char *pem = g_strdup_printf("%s/%s.pem", dir, name);
        g_autofree char *key = g_strdup_printf("%s/%s.key", dir, name);
        g_autofree char *both = g_strdup_printf("%s.both", name);
        g_autofree char *a = NULL, *b = NULL, *joined = NULL;

        g_assert_true(g_file_get_contents(pem, &a, NULL, NULL));
        g_assert_true(g_file_get_contents(key, &b, NULL, NULL));
        joined = g_strconcat(a, b, NULL);
        write_in(dir, both, joined);
}

/* Workers send while the certificate rotates under them (one file holding certificate and
 * key, replaced atomically): no request fails, both identities reach the server. */
static void case_rotated_concurrently(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *kc = NULL, *seen = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;
        Worker worker = {0};
        GThread *threads[4];

        mtls_setup(&m);
        write_both(m.dir, "alice");
        write_both(m.dir, "bob");
        install_copy(m.dir, "alice.both", "client.pem");
        kc = write_kubeconfig(m.dir, m.url, "certificate-authority: ca.pem",
                              "client-certificate: client.pem, client-key: client.pem");
        client = client_ok(kc);
        worker.client = client;
        for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
                threads[i] = g_thread_new("worker", worker_run, &worker);
        for (guint i = 0; i < 6; i++) {
                g_usleep(100 * G_TIME_SPAN_MILLISECOND);
                install_copy(m.dir, i % 2 == 0 ? "bob.both" : "alice.both", "client.pem");
        }
        g_atomic_int_set(&worker.stop, TRUE);
        for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
                g_thread_join(threads[i]);
        g_test_message("%d requests", worker.requests);
        g_assert_cmpint(worker.failures, ==, 0);
        install_copy(m.dir, "bob.both", "client.pem");
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        seen = tls_server_handshakes(m.server);
        g_test_message("handshakes: %s", seen);
        g_assert_true(g_str_has_prefix(seen, "CN=alice"));
        g_assert_true(g_str_has_suffix(seen, "CN=bob"));
        g_assert_null(strstr(seen, "refused"));
}

/* A rotation that leaves the files unreadable keeps the previous certificate. */
static void case_rotation_broken(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *key = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;

        mtls_setup(&m);
        client = alice_client(&m);
        key = file_in(m.dir, "client.key");
        g_assert_cmpint(g_unlink(key), ==, 0);
        log_capture_expect("*users[daemon].user.client-key*cannot read*keeping the previous*");
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        g_assert_no_error(error);
        log_capture_assert_all_seen();
}

/* certificate-authority-data that did not sign the server's certificate, and a server name
 * the certificate does not carry, are both refused by the in-memory CA database. */
static void case_ca_data_checked(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *rogue = NULL, *ca = NULL, *cluster = NULL, *kc = NULL, *other = NULL;
        g_autoptr(KubeClient) wrong = NULL, renamed = NULL;
        g_autoptr(GError) error = NULL;
        const char *user = "client-certificate: alice.pem, client-key: alice.key";

        mtls_setup(&m);
        rogue = base64_of(m.dir, "rogue.pem");
        cluster = g_strdup_printf("certificate-authority-data: %s", rogue);
        kc = write_kubeconfig(m.dir, m.url, cluster, user);
        wrong = client_ok(kc);
        g_assert_cmpuint(get_version(wrong, &error), ==, 0);
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_TLS);
        g_clear_error(&error);

        ca = base64_of(m.dir, "ca.pem");
        g_free(cluster);
        cluster = g_strdup_printf("certificate-authority-data: %s", ca);
        other = g_strdup_printf("https://localhost:%u", m.server->port);
        g_free(kc);
        kc = write_kubeconfig(m.dir, other, cluster, user);
        renamed = client_ok(kc);
        g_assert_cmpuint(get_version(renamed, &error), ==, 0);
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_TLS);
}

static void run_in_subprocess(void (*func)(void))
{
        if (g_test_subprocess()) {
                func();
                return;
        }
        if (g_getenv("ASAN_OPTIONS") != NULL)
                g_setenv("ASAN_OPTIONS", TLS_ASAN_OPTIONS, TRUE);
        g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_test_trap_assert_passed();
}

/* A token or client key file readable by others draws one warning at start, naming it
 * (issue 16 item 7); the client still works. */
static void case_readable_credentials(void)
{
        g_auto(Mtls) m = {0};
        g_autofree char *kc = NULL, *token = NULL, *key = NULL;
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;

        mtls_setup(&m);
        install_copy(m.dir, "alice.pem", "client.crt");
        install_copy(m.dir, "alice.key", "client.key");
        write_in(m.dir, "token", "t\n");
        token = file_in(m.dir, "token");
        key = file_in(m.dir, "client.key");
        g_assert_cmpint(g_chmod(token, 0644), ==, 0);
        g_assert_cmpint(g_chmod(key, 0604), ==, 0);
        kc = write_kubeconfig(m.dir, m.url, "certificate-authority: ca.pem",
                              "client-certificate: client.crt, client-key: client.key, "
                              "tokenFile: token");
        log_capture_expect("*users[daemon].user.tokenFile*/token: readable by users other than "
                           "its owner (mode 0644)*");
        log_capture_expect("*users[daemon].user.client-key*/client.key: readable by users "
                           "other than its owner (mode 0604)*");
        client = client_ok(kc);
        log_capture_assert_all_seen();
        g_assert_cmpuint(get_version(client, &error), ==, 200);
        g_assert_no_error(error);
        g_unlink(token);
}

#define TLS_TEST(name)                                                                             \
        static void test_##name(void)                                                              \
        {                                                                                          \
                run_in_subprocess(case_##name);                                                    \
        }
TLS_TEST(cert_files)
TLS_TEST(cert_data)
TLS_TEST(wrong_cert)
TLS_TEST(rotated)
TLS_TEST(rotated_concurrently)
TLS_TEST(rotation_broken)
TLS_TEST(ca_data_checked)
TLS_TEST(readable_credentials)

/* ---- refused at start, before any request ---- */

static void check_refused(const char *server, const char *user, const char *expect)
{
        g_autofree char *dir = g_dir_make_tmp("test-kubeconfig-XXXXXX", NULL);
        g_autofree char *kc = write_kubeconfig(dir, server, "", user);
        g_autoptr(KubeClient) client = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *prefix = g_strdup_printf("kubeconfig %s: ", kc);

        client = client_from(kc, &error);
        g_assert_null(client);
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
        g_test_message("%s", error->message);
        g_assert_true(g_str_has_prefix(error->message, prefix));
        g_assert_nonnull(strstr(error->message, expect));
        g_unlink(kc);
        g_rmdir(dir);
}

static void test_refused_at_start(void)
{
        g_autoptr(GError) error = NULL;

        check_refused("https://127.0.0.1:1", "exec: {command: aws}", "users[daemon].user.exec");
        check_refused("http://192.0.2.1:6443", "token: t",
                      "clusters[local].cluster.server: http://192.0.2.1:6443: plain http");
        check_refused("https://127.0.0.1:1", "tokenFile: missing", "users[daemon].user.tokenFile ");
        check_refused("https://127.0.0.1:1", "client-certificate: c.pem, client-key: c.key",
                      "users[daemon].user.client-certificate ");
        g_assert_null(client_from("/nonexistent/kubeconfig", &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
        g_assert_true(g_str_has_prefix(error->message, "Kubeconfig=/nonexistent/kubeconfig: "));
}

/* ---- the store, through a kubeconfig, against the emulator ---- */

static Store *store_from(const char *kubeconfig)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;
        Store *store;

        config_init(&config);
        g_free(config.kube_kubeconfig);
        config.kube_kubeconfig = g_strdup(kubeconfig);
        config.workers = 2;
        config.start_timeout_sec = 5;
        store = store_kube_new(&config, &error);
        g_assert_no_error(error);
        return store;
}

static void track(Store *store, const char *volume, const char *node)
{
        gint64 at = T1;
        g_autoptr(GError) error = NULL;

        g_assert_true(store_put(store, volume, node, &at, NULL, &error));
        g_assert_no_error(error);
}

static void test_store_token(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GHashTable) loaded = NULL;
        g_autofree char *kc = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start_full("kubeconfig-token", 0, NULL, NULL);
        seed(emu, "pv-a", NULL, NULL);
        kc = write_kubeconfig(emu->dir, emu->url, "", "token: kubeconfig-token");
        store = store_from(kc);
        loaded = load_ok(store);
        track(store, "pv-a", "node-1");
        assert_stored_node(emu, "pv-a", "node-1");
        g_assert_cmpint(emulator_count(emu, "unauthorized"), ==, 0);
        g_unlink(kc);
}

/* tokenFile (relative) is re-read when it is replaced, as TokenFile= is. */
static void test_store_token_file_rotated(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(Store) store = NULL;
        g_autoptr(GHashTable) loaded = NULL;
        g_autofree char *kc = NULL, *token = NULL;

        if (!emulator_available())
                return;
        emu = emulator_start_full("first-token", 0, NULL, NULL);
        seed(emu, "pv-b", NULL, NULL);
        write_in(emu->dir, "token", "first-token\n");
        kc = write_kubeconfig(emu->dir, emu->url, "", "tokenFile: token");
        store = store_from(kc);
        loaded = load_ok(store);
        emulator_post(emu, "/_emulator/token", "{\"token\":\"second-token-longer\"}");
        write_in(emu->dir, "token", "second-token-longer\n");
        track(store, "pv-b", "node-2");
        assert_stored_node(emu, "pv-b", "node-2");
        g_assert_cmpint(emulator_count(emu, "unauthorized"), ==, 0);
        token = file_in(emu->dir, "token");
        g_unlink(token);
        g_unlink(kc);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        /* Credentials written by the cases are the owner's only (a readable one warns). */
        umask(077);
        log_capture_install();
        g_test_add_func("/kubeconfig-client/mtls/cert-files", test_cert_files);
        g_test_add_func("/kubeconfig-client/mtls/cert-data", test_cert_data);
        g_test_add_func("/kubeconfig-client/mtls/wrong-cert-refused", test_wrong_cert);
        g_test_add_func("/kubeconfig-client/mtls/rotated", test_rotated);
        g_test_add_func("/kubeconfig-client/mtls/rotated-concurrently", test_rotated_concurrently);
        g_test_add_func("/kubeconfig-client/mtls/rotation-broken", test_rotation_broken);
        g_test_add_func("/kubeconfig-client/tls/ca-data-checked", test_ca_data_checked);
        g_test_add_func("/kubeconfig-client/readable-credentials-warned",
                        test_readable_credentials);
        g_test_add_func("/kubeconfig-client/refused-at-start", test_refused_at_start);
        g_test_add_func("/kubeconfig-client/store/token", test_store_token);
        g_test_add_func("/kubeconfig-client/store/token-file-rotated",
                        test_store_token_file_rotated);
        return g_test_run();
}
