/* SPDX-License-Identifier: MIT */
#pragma once

/* The one way the tests start tools/kube-emulator: its path, its command line, a launch that
 * dies with the test, and the port it picked. The unit tests (kube-emulator-helper.c), the
 * emulator's own tests (emulator/emulator-helper.c) and the integration fixture
 * (integration/fixture-emulator.c, which spawns through its own kill-on-abort list) use it. */
#include <gio/gio.h>

/* LeakSanitizer's tracer crashes (SIGSEGV) at exit in any process in which glib-networking's
 * GnuTLS ran, on these machines: processes that use TLS run without leak detection under
 * ASan (their memory errors are still caught). */
#define TLS_ASAN_OPTIONS "detect_leaks=0:abort_on_error=1"

typedef struct {
        guint port;                     /* 0: a free one */
        const char *port_file;          /* where it writes its port (required) */
        const char *token;              /* --token; NULL: none */
        const char *seed;               /* --seed file; NULL: none */
        const char *tls_cert, *tls_key; /* https when set */
        guint64 start_resource_version; /* 0: the emulator's default */
        const char *const *extra;       /* more arguments, NULL-terminated; may be NULL */
} EmulatorLaunch;

/* $KUBE_EMULATOR, else $SRVLAB_BUILD_ROOT/tools/kube-emulator/kube-emulator. */
char *emulator_launch_binary(void);
/* The command line (binary first), listening on 127.0.0.1, --quiet. */
GStrv emulator_launch_argv(const EmulatorLaunch *launch);
/* Starts it with stdout silenced; it is killed if the test process dies. */
GSubprocess *emulator_launch_spawn(const EmulatorLaunch *launch, GError **error);
/* The port once the emulator wrote it (it listens before it writes), 0 before. */
guint emulator_launch_read_port(const char *port_file);
/* Waits up to timeout_sec for the port of `process`, asserting it keeps running. */
guint emulator_launch_wait_port(const char *port_file, GSubprocess *process, guint timeout_sec);
