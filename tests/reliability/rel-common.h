/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers shared by the reliability tests, on top of tests/integration/fixture.h: the invariant
 * check (the daemon's List equals the emulator's annotations), fault injection, the daemon's
 * RSS, extra daemons sharing one emulator, and asynchronous calls from many connections. */
#include "fixture.h"

/* SRVLAB_LONG_TESTS=1 selects the long variants. */
gboolean rel_long_tests(void);

/* volume -> node, from the daemon's List on `conn` (NULL: f->conn). */
GHashTable *rel_daemon_list(Fixture *f, GDBusConnection *conn);
/* PV name -> attached-node, for every PV carrying the annotation (a plain API LIST). */
GHashTable *rel_emulator_annotations(Fixture *f);
/* Describes every difference between two volume -> node maps; NULL when equal. */
char *rel_diff(GHashTable *daemon, GHashTable *store, const char *only_node);
/* Asserts List == annotations (restricted to annotations naming `only_node` when non-NULL,
 * for one of several daemons sharing the emulator), printing the differences. */
void rel_assert_consistent(Fixture *f, GDBusConnection *conn, Fixture *emulator,
                           const char *only_node);
/* Asserts that every row of f's List (one per volume and node, both nodes of a migration) is
 * an annotated node of f's emulator with the same time, and the other way round. */
void rel_assert_rows_consistent(Fixture *f);

/* The emulator's control endpoint. */
void rel_fault(Fixture *f, const char *json_fault);
void rel_clear_faults(Fixture *f);
void rel_latency(Fixture *f, guint ms);
/* Seeds `n` PVs named PREFIX0.. through /_emulator/generate. */
void rel_generate(Fixture *f, const char *prefix, guint n);

/* Sends `method` with `body` on a connection of its own, raw, after replacing the first
 * "QQQQ" of the serialized message by bytes that are never valid UTF-8 (GDBus and sd-bus both
 * refuse to build such a message). Asserts that the bus closes the connection; returns how
 * many bytes it answered first. */
gsize rel_send_invalid_utf8(Fixture *f, const char *method, GVariant *body);

/* The daemon process is alive (not exited) and owns the bus name. */
gboolean rel_daemon_up(Fixture *f);
/* VmRSS of `pid` in KiB (0 when unreadable). */
guint64 rel_rss_kib(GPid pid);

/* A second daemon (and bus) using `emu`'s emulator; its fixture has no emulator of its own. */
Fixture *rel_fixture_sharing(Fixture *emu, const char *extra_config);

/* An asynchronous call; `done` runs on the default main context with the reply or error. */
typedef void (*RelReplyFunc)(GVariant *reply, GError *error, gpointer user_data);
void rel_call_async(GDBusConnection *conn, const char *method, GVariant *params, RelReplyFunc done,
                    gpointer user_data);
/* The remote D-Bus error name of `error` ("" when it is not a remote error). */
char *rel_error_name(const GError *error);
/* Iterates the default main context while *counter > 0 (FALSE on timeout). */
gboolean rel_wait_zero(const guint *counter, guint timeout_sec);
