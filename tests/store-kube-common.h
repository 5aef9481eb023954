/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-glib/json-glib.h>

#include "common/names.h"
#include "kube-emulator-helper.h"
#include "service/store-kube.h"

#define DRIVER "rds.csi.srvlab.io"
#define NODE_KEY DRIVER ANNOTATION_SUFFIX_NODE
#define AT_KEY DRIVER ANNOTATION_SUFFIX_AT

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

/* Asserts the node the stored PV `name` is annotated as attached to. */
void assert_stored_node(Emulator *emu, const char *name, const char *node);

/* An emulator with no PV and a Kubernetes store talking to it; both NULL (and the test skipped)
 * when the emulator is not built. */
typedef struct {
        Emulator *emu;
        Store *store;
        GHashTable *loaded; /* what load() reported, once the test loads */
} StoreFixture;

void store_fixture_setup(StoreFixture *f, gconstpointer data);
void store_fixture_teardown(StoreFixture *f, gconstpointer data);
/* Loads f->store into f->loaded, asserting that it succeeds. */
void store_fixture_load(StoreFixture *f);
#define STORE_TEST(path, func)                                                                     \
        g_test_add(path, StoreFixture, NULL, store_fixture_setup, func, store_fixture_teardown)

/* A StoreLoadFunc filling a loaded_new() table (volume -> Loaded*); asserts that no volume
 * comes twice. */
void collect(const char *volume, const Holding *holding, gpointer user_data);
GHashTable *loaded_new(void);
/* Loads the store, asserting that it succeeds. */
GHashTable *load_ok(Store *store);
