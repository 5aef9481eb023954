/* SPDX-License-Identifier: MIT */
/* The kubeconfig decoder (libyaml underneath): any bytes either give a usable kubeconfig or
 * fail with a message naming the file; nothing crashes, leaks or blows up (aliases, depth and
 * size are bounded). The first byte, when it is 'b', selects Context=b instead of
 * current-context, so both paths are explored. */
#include "fuzz.h"

#include <string.h>

#include "kubeconfig.h"

#define FUZZ_PATH "/fuzz/kube/config"

static gboolean absolute_or_null(const char *path)
{
        return path == NULL || g_str_has_prefix(path, "/");
}

static void check_result(const Kubeconfig *kc)
{
        FUZZ_CHECK(kc->context != NULL && kc->context[0] != '\0');
        FUZZ_CHECK(kc->server != NULL && kc->server[0] != '\0');
        FUZZ_CHECK(kc->cluster_prefix != NULL && kc->user_prefix != NULL);
        FUZZ_CHECK(absolute_or_null(kc->ca_file) && absolute_or_null(kc->token_file));
        FUZZ_CHECK(absolute_or_null(kc->cert_file) && absolute_or_null(kc->key_file));
        FUZZ_CHECK(kc->ca_file == NULL || kc->ca_data == NULL);
        FUZZ_CHECK(kc->token == NULL || kc->token_file == NULL);
        FUZZ_CHECK(kc->cert_file == NULL || kc->cert_data == NULL);
        FUZZ_CHECK(kc->key_file == NULL || kc->key_data == NULL);
        FUZZ_CHECK((kc->cert_file != NULL || kc->cert_data != NULL) ==
                   (kc->key_file != NULL || kc->key_data != NULL));
        for (const char *p = kc->token; p != NULL && *p != '\0'; p++)
                FUZZ_CHECK(!g_ascii_iscntrl(*p) && (guchar)*p < 0x80);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_auto(Kubeconfig) kc = {0};
        g_autoptr(GError) error = NULL;
        const char *context = size > 0 && data[0] == 'b' ? "b" : NULL;
        gboolean ok;

        fuzz_quiet_logs();
        ok = kubeconfig_parse(&kc, (const char *)data, size, FUZZ_PATH, context, &error);
        FUZZ_CHECK(ok == (error == NULL));
        if (!ok) {
                FUZZ_CHECK(g_str_has_prefix(error->message, "kubeconfig " FUZZ_PATH ": "));
                FUZZ_CHECK(kc.server == NULL && kc.token == NULL);
                return 0;
        }
        check_result(&kc);
        return 0;
}
