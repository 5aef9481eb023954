/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "emulator-launch.h"
#include "service/config.h"

typedef struct {
        GSubprocess *process;
        char *dir;
        char *url;
        SoupSession *control;
} Emulator;

/* FALSE (and the test skipped) when the emulator is not built. */
gboolean emulator_available(void);
/* A fixture's setup leaves `emu` NULL when the emulator is not built: the test is then marked
 * skipped, but GLib still runs its body, which must return at once. */
#define RETURN_IF_NO_EMULATOR(f)                                                                   \
        do {                                                                                       \
                if ((f)->emu == NULL)                                                              \
                        return;                                                                    \
        } while (0)
/* token, seed (a --seed file) and tls_dir (holding cert.pem and key.pem: https) may be NULL;
 * port 0 picks a free one. */
Emulator *emulator_start_full(const char *token, guint port, const char *seed, const char *tls_dir);
void emulator_stop(Emulator *emu);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Emulator, emulator_stop)
/* A control request; returns the parsed answer (NULL for an empty one). */
JsonNode *emulator_call(Emulator *emu, const char *method, const char *path, const char *body);
void emulator_post(Emulator *emu, const char *path, const char *body);
gint64 emulator_count(Emulator *emu, const char *verb);

/* A Config for talking to `server` (the emulator): no CA, the token file or none, 8 workers. */
void emulator_config(Config *config, const char *server, const char *token_file,
                     guint request_timeout_sec, guint start_timeout_sec);
/* Queues a fault (the JSON body of POST /_emulator/faults). */
void emulator_add_fault(Emulator *emu, const char *json);
