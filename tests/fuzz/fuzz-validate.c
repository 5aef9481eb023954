/* SPDX-License-Identifier: MIT */
/* Id validation, checked against an independent, obvious implementation of DNS-1123. */
#include "fuzz.h"

#include <string.h>

#include "validate.h"

static gboolean label_ok(const char *s, gsize len)
{
        if (len == 0 || len > VALIDATE_LABEL_MAX)
                return FALSE;
        if (!g_ascii_islower(s[0]) && !g_ascii_isdigit(s[0]))
                return FALSE;
        if (!g_ascii_islower(s[len - 1]) && !g_ascii_isdigit(s[len - 1]))
                return FALSE;
        for (gsize i = 0; i < len; i++)
                if (!g_ascii_islower(s[i]) && !g_ascii_isdigit(s[i]) && s[i] != '-')
                        return FALSE;
        return TRUE;
}

static gboolean reference_ok(const char *id)
{
        gsize len = strlen(id);
        const char *start = id;

        if (len == 0 || len > VALIDATE_ID_MAX)
                return FALSE;
        for (const char *p = id;; p++) {
                if (*p == '.' || *p == '\0') {
                        if (!label_ok(start, (gsize)(p - start)))
                                return FALSE;
                        if (*p == '\0')
                                return TRUE;
                        start = p + 1;
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autofree char *id = g_strndup((const char *)data, size);
        g_autoptr(GError) error = NULL;
        gboolean ok;

        fuzz_quiet_logs();
        ok = validate_id("volume id", id, &error);
        FUZZ_CHECK(ok == (error == NULL));
        FUZZ_CHECK(ok == reference_ok(id));
        if (!ok) {
                FUZZ_CHECK(g_error_matches(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_INVALID_ARGS));
                /* Long hostile ids are shortened in the message, which goes to logs and callers. */
                FUZZ_CHECK(strlen(error->message) < 4 * VALIDATE_ID_MAX + 256);
                /* A D-Bus error message must be UTF-8: an id that is UTF-8 (the bus guarantees
                 * it) must not be cut inside a character. */
                if (g_utf8_validate(id, -1, NULL))
                        FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
        }
        return 0;
}
