/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-glib/json-glib.h>

#include "kube-emulator-helper.h"
#include "service/store-kube.h"

#define DRIVER "rds.csi.srvlab.io"
#define NODE_KEY DRIVER "/attached-node"
#define AT_KEY DRIVER "/attached-at"

#define T1 G_GINT64_CONSTANT(1795698423123456) /* 2026-11-26T13:07:03.123456Z */

/* What store_load() reported for one volume. */
typedef struct {
        char *volume;
        char *node;
        gint64 at;
} Loaded;

/* An emulator on a free port, no token, no seed, plain http. */
Emulator *emulator_start(void);
/* A Kubernetes store talking to `emu` (10 s request and start timeouts). */
Store *store_for(Emulator *emu);
/* A PersistentVolume; node NULL: not annotated (at is then ignored). */
char *pv_json(const char *name, const char *driver, const char *handle, const char *node,
              const char *at);
/* Creates a PV of our driver whose volume handle is its name. */
void seed(Emulator *emu, const char *name, const char *node, const char *at);
/* The stored object as the emulator holds it (not counted as a request): its annotations, or
 * NULL; *holder keeps the object alive. */
JsonObject *annotations_of(Emulator *emu, const char *name, JsonNode **holder);
void reset_counts(Emulator *emu);

/* A StoreLoadFunc filling a loaded_new() table (volume -> Loaded*); asserts that no volume
 * comes twice. */
void collect(const char *volume, const char *node, gint64 at, gpointer user_data);
GHashTable *loaded_new(void);
/* Loads the store, asserting that it succeeds. */
GHashTable *load_ok(Store *store);
