/* SPDX-License-Identifier: MIT */
#include "tls-certs.h"

#include <glib/gstdio.h>

static const char make_script[] =
    "K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
    "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca\n"
    "openssl req -x509 $K -keyout rogue.key -out rogue.pem -days 2 -subj /CN=rogue\n"
    "openssl req $K -keyout key.pem -out server.csr -subj /CN=127.0.0.1\n"
    "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext\n"
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem "
    "-days 2 -extfile server.ext\n"
    "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
    "for c in \"$@\"; do\n"
    "  openssl req $K -keyout $c.key -out $c.csr -subj /CN=$c\n"
    "  openssl x509 -req -in $c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $c.pem "
    "-days 2 -extfile client.ext\n"
    "done\n"
    "rm -f ./*.csr ./*.ext ca.srl\n";

void tls_certs_make(const char *dir, const char *const *clients)
{
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autofree char *err = NULL;
        g_autoptr(GError) error = NULL;
        int status = 0;

        g_ptr_array_add(argv, (gpointer) "/bin/sh");
        g_ptr_array_add(argv, (gpointer) "-ec");
        g_ptr_array_add(argv, (gpointer)make_script);
        g_ptr_array_add(argv, (gpointer) "tls-certs");
        for (const char *const *c = clients; c != NULL && *c != NULL; c++)
                g_ptr_array_add(argv, (gpointer)*c);
        g_ptr_array_add(argv, NULL);
        g_assert_true(g_spawn_sync(dir, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                                   NULL, NULL, NULL, &err, &status, &error));
        g_assert_no_error(error);
        if (!g_spawn_check_wait_status(status, NULL))
                g_error("openssl failed: %s", err != NULL ? err : "");
}

void tls_certs_remove(const char *dir)
{
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
                g_autofree char *path = g_build_filename(dir, name, NULL);

                g_unlink(path);
        }
        g_rmdir(dir);
}
