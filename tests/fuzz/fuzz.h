/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

/* Every target defines the libFuzzer entry point; the replay driver (replay.c) calls the same
 * function on each corpus file, so the corpora run as regression tests in every build. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property violated by the code under test: abort so that libFuzzer and the replay driver
 * both report the input. g_assert would be compiled out with G_DISABLE_ASSERT. */
#define FUZZ_CHECK(expr)                                                                           \
        do {                                                                                       \
                if (G_UNLIKELY(!(expr))) {                                                         \
                        g_printerr("fuzz property failed: %s (%s:%d)\n", #expr, __FILE__,          \
                                   __LINE__);                                                      \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* Warnings from the code under test (unknown config keys) would flood the fuzzer's output;
 * criticals and errors still abort, because a critical is a bug the fuzzer must report. */
void fuzz_quiet_logs(void);

/* A strict RFC 8259 validator written independently of service/json-scan.c (recursive
 * descent over indices, nesting bounded like the scanner's): the differential targets check
 * the scanner against it. */
gboolean fuzz_strict_json(const uint8_t *data, size_t size);
