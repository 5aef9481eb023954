/* SPDX-License-Identifier: MIT */
/* Configuration parsing: any file text either applies (every value within its documented
 * range) or fails with a message; nothing crashes or leaks. */
#include "fuzz.h"

#include "config.h"

static void check_ranges(const Config *c)
{
        FUZZ_CHECK(c->store == STORE_KIND_KUBERNETES || c->store == STORE_KIND_NONE);
        FUZZ_CHECK(c->driver != NULL);
        FUZZ_CHECK(c->workers >= 1 && c->workers <= 256);
        FUZZ_CHECK(c->queue_limit >= 1 && c->queue_limit <= 1048576);
        FUZZ_CHECK(c->allowed_group != NULL);
        FUZZ_CHECK(c->kube_server != NULL);
        FUZZ_CHECK(c->kube_token_file != NULL);
        FUZZ_CHECK(c->kube_ca_file != NULL);
        FUZZ_CHECK(c->kube_kubeconfig != NULL && c->kube_context != NULL);
        FUZZ_CHECK(c->kube_kubeconfig[0] == '\0' || c->kube_kubeconfig[0] == '/');
        FUZZ_CHECK(c->request_timeout_sec >= 1 && c->request_timeout_sec <= 3600);
        FUZZ_CHECK(c->start_timeout_sec <= 86400);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_auto(Config) config = {0};
        g_autoptr(GError) error = NULL;
        gboolean ok;

        fuzz_quiet_logs();
        config_init(&config);
        ok = config_load_data(&config, (const char *)data, size, "fuzz.conf", &error);
        FUZZ_CHECK(ok == (error == NULL));
        if (!ok) {
                FUZZ_CHECK(error->message != NULL && error->message[0] != '\0');
                return 0;
        }
        check_ranges(&config);
        {
                g_autoptr(GError) check_error = NULL;
                gboolean consistent = config_check(&config, &check_error);

                FUZZ_CHECK(consistent == (check_error == NULL));
        }
        return 0;
}
