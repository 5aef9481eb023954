/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "service/manager.h"
#include "service/store.h"

/* A Store for tests: holds attachments in a thread-safe map (as the Kubernetes store holds
 * them in PVs), so tests can compare it with the manager's table; can be told to fail, to be
 * slow, and counts calls. Pass fake_store_base() to manager_new(); the manager then owns it
 * and the FakeStore pointer stays valid until manager_free(). */
typedef struct _FakeStore FakeStore;

/* needs_io: what store_needs_io() reports (TRUE behaves like Store=kubernetes). */
FakeStore *fake_store_new(gboolean needs_io);
Store *fake_store_base(FakeStore *self);

/* Makes every later put (remove, load) fail with `code` until cleared with code -1. For put
 * with ATTACHMENT_ERROR_ALREADY_ATTACHED, `holder` (may be NULL) is reported as the holder. */
void fake_store_fail_put(FakeStore *self, gint code, const char *holder);
void fake_store_fail_remove(FakeStore *self, gint code);
void fake_store_fail_load(FakeStore *self, gint code);
/* Sleeps this long inside every put, to widen races. */
void fake_store_set_put_delay(FakeStore *self, guint msec);

/* Puts an attachment into the store directly (seen by load, and by put as an existing one). */
void fake_store_seed(FakeStore *self, const char *volume, const char *node, gint64 attached_at);
/* Removes it from the store directly, as another daemon would. */
void fake_store_drop(FakeStore *self, const char *volume);
/* What the store holds. */
gboolean fake_store_lookup(FakeStore *self, const char *volume, char **node, gint64 *attached_at);
guint fake_store_count(FakeStore *self);

guint fake_store_puts(FakeStore *self);
guint fake_store_removes(FakeStore *self);
guint fake_store_loads(FakeStore *self);

/* The manager tests' fixture: a manager over a FakeStore (needs_io passed as the test data). */
typedef struct {
        FakeStore *store; /* owned by manager */
        Manager *manager;
} ManagerFixture;

void manager_fixture_setup(ManagerFixture *f, gconstpointer needs_io);
void manager_fixture_teardown(ManagerFixture *f, gconstpointer data);

#define ADD(path, func, needs_io)                                                                  \
        g_test_add(path, ManagerFixture, GINT_TO_POINTER(needs_io), manager_fixture_setup, func,   \
                   manager_fixture_teardown)

/* Tracks `volume` for `node`, asserting that it succeeds. */
void track_ok(Manager *m, const char *volume, const char *node);
/* The table says `node` holds `volume` (NULL: untracked), and so does the store. */
void assert_tracked(ManagerFixture *f, const char *volume, const char *node);
