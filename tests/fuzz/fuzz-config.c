/* SPDX-License-Identifier: MIT */
/* Configuration parsing: any file text either applies (every value within its documented
 * range) or fails with a message; nothing crashes or leaks. */
#include "fuzz.h"

#include "config.h"

/* Every key of the table within what the table allows. */
static void check_ranges(const Config *c)
{
        gsize n = 0;
        const ConfigKey *keys = config_keys(&n);

        for (gsize i = 0; i < n; i++) {
                const ConfigKey *k = &keys[i];
                gconstpointer field = G_STRUCT_MEMBER_P(c, k->offset);

                if (k->type == CONFIG_TYPE_STRING) {
                        const char *text = *(char *const *)field;

                        FUZZ_CHECK(text != NULL);
                        FUZZ_CHECK(k->check == NULL || k->check(text, NULL));
                } else if (k->type == CONFIG_TYPE_UINT) {
                        guint value = *(const guint *)field;

                        FUZZ_CHECK(value >= k->min && value <= k->max);
                } else if (k->type == CONFIG_TYPE_BOOLEAN) {
                        gboolean value = *(const gboolean *)field;

                        FUZZ_CHECK(value == TRUE || value == FALSE);
                } else {
                        int choice = *(const int *)field;

                        FUZZ_CHECK(choice >= 0 && choice < (int)g_strv_length((char **)k->choices));
                }
        }
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
