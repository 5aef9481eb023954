/* SPDX-License-Identifier: MIT */
/* A client with a CA of its own does not load the system trust store per connection.
 *
 * libsoup 3.2 builds each TLS connection with the TLS backend's default database and sets the
 * session's database afterwards; glib-networking before 2.80 gives every connection a trust
 * list of its own, populated from the database it was built with. Left at the system store,
 * every new connection parsed all of its CA certificates (~0.8 MB in small blocks) only to
 * drop them: after the reconnections of an API server restart the daemon's heap held tens of
 * MB it no longer used (issue 16, item 7). The executable exports a wrapper of
 * gnutls_x509_trust_list_add_system_trust (export_dynamic), which glib-networking's calls
 * bind to, and counts the loads. */
#include "testlib.h"
#include "service/kube-client.h"
#include "kube-emulator-helper.h"
#include "tls-certs.h"

#include <dlfcn.h>

#define CLIENTS 4

static gint system_trust_loads;

/* The signature of gnutls_x509_trust_list_add_system_trust (gnutls/x509.h); the list is an
 * opaque pointer here, so that the test needs no gnutls headers. */
int gnutls_x509_trust_list_add_system_trust(void *list, unsigned int tl_flags,
                                            unsigned int tl_vflags);

int gnutls_x509_trust_list_add_system_trust(void *list, unsigned int tl_flags,
                                            unsigned int tl_vflags)
{
        /* GIO loads glib-networking, and so gnutls, with local binding: RTLD_NEXT does not
         * see it, its handle does. */
        void *gnutls = dlopen("libgnutls.so.30", RTLD_NOW | RTLD_NOLOAD);
        int (*real)(void *, unsigned int, unsigned int) =
            gnutls != NULL ? (int (*)(void *, unsigned int, unsigned int))dlsym(
                                 gnutls, "gnutls_x509_trust_list_add_system_trust")
                           : NULL;

        g_atomic_int_inc(&system_trust_loads);
        return real != NULL ? real(list, tl_flags, tl_vflags) : -1;
}

/* One request on a new client, so on a new connection: the emulator answers 404 through TLS. */
static void request_on_new_client(const Config *config)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(KubeClient) client = kube_client_new(config, &error);

        g_assert_no_error(error);
        g_assert_null(kube_client_send_json(client, "GET", "/api/v1/persistentvolumes/pv-9", NULL,
                                            NULL, NULL, &error));
        g_assert_error(error, KUBE_CLIENT_ERROR, 404);
}

static void check_no_system_trust(void)
{
        g_autoptr(Emulator) emu = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("test-kube-trust-XXXXXX", &error);
        g_auto(Config) config = {0};
        gint before;

        g_assert_no_error(error);
        tls_certs_make(dir, NULL);
        emu = emulator_start_full(NULL, 0, NULL, dir);
        emulator_config(&config, emu->url, NULL, 10, 5);
        g_free(config.kube_ca_file);
        config.kube_ca_file = g_build_filename(dir, "ca.pem", NULL);
        /* The first connection may make the backend's own default database (one load). */
        request_on_new_client(&config);
        before = g_atomic_int_get(&system_trust_loads);
        for (guint i = 0; i < CLIENTS; i++)
                request_on_new_client(&config);
        g_test_message("system trust store loaded %d times at the first connection, %d for %u "
                       "more",
                       before, g_atomic_int_get(&system_trust_loads) - before, CLIENTS);
        g_assert_cmpint(g_atomic_int_get(&system_trust_loads), ==, before);
        tls_certs_remove(dir);
}

/* In a subprocess without leak detection under ASan: see TLS_ASAN_OPTIONS. */
static void test_ca_file_connections(void)
{
        /* Checked here, not in the child: a skipped child does not count as passed. */
        if (!emulator_available())
                return;
        if (g_test_subprocess()) {
                check_no_system_trust();
                return;
        }
        if (g_getenv("ASAN_OPTIONS") != NULL)
                g_setenv("ASAN_OPTIONS", TLS_ASAN_OPTIONS, TRUE);
        g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/kube-client/trust/ca-file-connections", test_ca_file_connections);
        return g_test_run();
}
