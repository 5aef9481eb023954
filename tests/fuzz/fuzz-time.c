/* SPDX-License-Identifier: MIT */
/* RFC 3339 parsing. Property: whatever parses formats back (years 0000..9999) to a text that
 * parses to the same instant, and that text is exactly 27 bytes, UTC, microseconds. */
#include "fuzz.h"

#include <string.h>

#include "pv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autofree char *text = g_strndup((const char *)data, size);
        g_autofree char *formatted = NULL;
        gint64 usec = 0;
        gint64 again = 0;

        fuzz_quiet_logs();
        if (!pv_time_parse(text, &usec))
                return 0;
        formatted = pv_time_format(usec);
        if (formatted == NULL)
                return 0;
        FUZZ_CHECK(strlen(formatted) == strlen("2026-11-26T13:07:03.123456Z"));
        FUZZ_CHECK(formatted[strlen(formatted) - 1] == 'Z');
        FUZZ_CHECK(pv_time_parse(formatted, &again));
        FUZZ_CHECK(again == usec);
        return 0;
}
