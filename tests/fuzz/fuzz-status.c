/* SPDX-License-Identifier: MIT */
/* metav1 Status decoding: any body (HTML from a proxy, garbage) is either a Status or not;
 * when it is not, the output stays empty. */
#include "fuzz.h"

#include "pv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_auto(PvStatus) status = {0};
        gboolean ok;

        fuzz_quiet_logs();
        ok = pv_status_decode((const char *)data, size, &status);
        if (!ok) {
                FUZZ_CHECK(status.code == 0);
                FUZZ_CHECK(status.reason == NULL);
                FUZZ_CHECK(status.message == NULL);
        }
        return 0;
}
