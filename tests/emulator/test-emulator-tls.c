/* The emulator over HTTPS: a client that trusts the test CA gets through, one that does not
 * fails with a certificate error. */
#include "emulator-helper.h"

#include <stdio.h>
#include <unistd.h>

#define PVS "/api/v1/persistentvolumes"

static gboolean run_openssl(const char *dir, const char *script)
{
        const char *argv[] = {"/bin/sh", "-ec", script, NULL};
        int status = 0;

        return g_spawn_sync(dir, (char **)argv, NULL,
                            G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                            NULL, NULL, &status, NULL) &&
               g_spawn_check_wait_status(status, NULL);
}

static void test_tls(void)
{
        static const char script[] =
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
            "-subj /CN=emulator-test-ca\n"
            "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
            "-subj /CN=127.0.0.1\n"
            "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf\n"
            "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
            "-out server.pem -days 2 -extfile ext.cnf\n";
        g_autofree char *dir = g_dir_make_tmp("kube-emu-tls-XXXXXX", NULL);
        g_autofree char *cert = g_strdup_printf("--tls-cert=%s/server.pem", dir);
        g_autofree char *key = g_strdup_printf("--tls-key=%s/server.key", dir);
        g_autofree char *ca = g_build_filename(dir, "ca.pem", NULL);
        g_autoptr(GTlsDatabase) db = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(Reply) trusted = NULL;
        g_autoptr(Reply) untrusted = NULL;
        g_autofree char *rm = g_strdup_printf("rm -rf '%s'", dir);
        g_autofree char *openssl = g_find_program_in_path("openssl");
        Emu *emu;

        if (openssl == NULL || !run_openssl(dir, script)) {
                g_test_skip("openssl not available");
                return;
        }
        emu = emu_start(cert, key, "--token=t", NULL);
        emu->token = g_strdup("t");
        g_assert_true(g_str_has_prefix(emu->base, "https://"));
        /* the default session trusts only the system CAs: a certificate error */
        untrusted = emu_api(emu, "GET", PVS, NULL, NULL);
        g_assert_error(untrusted->error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
        db = g_tls_file_database_new(ca, &error);
        g_assert_no_error(error);
        g_object_unref(emu->session);
        emu->session = soup_session_new_with_options("tls-database", db, "timeout", 60,
                                                     "proxy-resolver", NULL, NULL);
        trusted = emu_api(emu, "GET", PVS, NULL, NULL);
        g_assert_no_error(trusted->error);
        g_assert_cmpuint(trusted->status, ==, 200);
        g_assert_cmpstr(reply_string(trusted, "kind"), ==, "PersistentVolumeList");
        emu_stop(emu);
        run_openssl("/", rm);
}

int main(int argc, char **argv)
{
        int status;

        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/tls", test_tls);
        status = g_test_run();
        /* LeakSanitizer's stop-the-world crashes at exit once glib-networking's TLS threads
         * have run in this process; skip the atexit leak check here only. */
        fflush(stdout);
        _exit(status);
}
