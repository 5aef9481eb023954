/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "common/names.h"

/* End-to-end fixture: a private system-type dbus-daemon in a temporary directory, the built
 * srvlab-attachmentd on it, and optionally a kube-emulator behind Store=kubernetes. Used by the
 * integration tests, the benchmarks and the reliability tests.
 *
 * Every child is killed when the test process dies (PR_SET_PDEATHSIG, and a SIGABRT/SIGTERM
 * handler that also prints the daemon's log), so a failed assertion leaves nothing running. */

#define FIXTURE_DRIVER "rds.csi.srvlab.io"
#define FIXTURE_ANNOTATION_NODE FIXTURE_DRIVER ANNOTATION_SUFFIX_NODE
#define FIXTURE_ANNOTATION_AT FIXTURE_DRIVER ANNOTATION_SUFFIX_AT
/* Generous: a loaded 2-core machine must never turn a slow answer into a failure. */
#define FIXTURE_CALL_TIMEOUT_MSEC 120000
#define FIXTURE_WAIT_SEC 60

typedef enum {
        FIXTURE_BUS_OPEN,           /* any user may connect, own names, send and receive */
        FIXTURE_BUS_PROJECT_POLICY, /* system.conf's defaults + data/org.srvlab.Attachment1.conf */
} FixtureBusPolicy;

typedef struct {
        FixtureBusPolicy policy;
        gboolean activation;       /* <servicedir> holding org.srvlab.Attachment1.service */
        gboolean kubernetes;       /* Store=kubernetes against a fresh kube-emulator */
        gboolean kubeconfig;       /* with kubernetes: reach it through Kubeconfig= */
        gboolean no_daemon;        /* write the configuration, start no daemon */
        guint workers;             /* 0: the daemon's default */
        guint queue_limit;         /* 0: the daemon's default */
        const char *allowed_group; /* NULL: the daemon's default */
        const char *extra_config;  /* appended verbatim to the configuration file */
        /* Store=kubernetes against this other fixture's emulator (a second host of one
         * cluster: its own bus and daemon, the same API server); implies kubernetes. */
        struct _Fixture *share_emulator;
} FixtureOptions;

typedef struct _Fixture {
        char *tmpdir;
        char *bus_address; /* unix:path=TMPDIR/bus */
        char *bus_log;
        char *config_path;  /* TMPDIR/attachment.conf */
        char *daemon_log;   /* the daemon's stdout and stderr */
        char *emulator_url; /* http://127.0.0.1:PORT, NULL without kubernetes */
        char *emulator_token;
        char *emulator_log;
        GPid bus_pid;
        GPid daemon_pid;    /* started by the fixture; 0 when not running */
        GPid activated_pid; /* started by the bus (activation); not our child */
        GPid emulator_pid;
        gboolean activation;   /* the bus may have started a daemon of its own */
        GDBusConnection *conn; /* the test's client connection (uid of the test) */
        gpointer soup;         /* SoupSession for the emulator's control endpoint */
} Fixture;

/* Paths of the built programs (from SRVLAB_BUILD_ROOT / SRVLAB_SOURCE_ROOT). */
char *fixture_daemon_path(void);
char *fixture_emulator_path(void);
char *fixture_source_path(const char *relative);
gboolean fixture_have_emulator(void);

/* Starts everything `opts` asks for (NULL: open bus, Store=none, daemon running and owning
 * the name). Asserts on failure, printing the logs. */
Fixture *fixture_new(const FixtureOptions *opts);
/* Another host of the same cluster: fixture_new() with share_emulator = emu (and `opts`'s
 * other fields, may be NULL). */
Fixture *fixture_new_sharing(Fixture *emu, const FixtureOptions *opts);
/* Stops everything; fails the test if the daemon it started did not exit 0 on SIGTERM. */
void fixture_free(Fixture *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fixture, fixture_free)

/* The daemon. fixture_spawn_daemon() starts it with `config` (NULL: f->config_path) and extra
 * environment ("VAR=value", may be NULL) without waiting; fixture_start_daemon() spawns it and
 * waits until it owns the name. A "WATCHDOG_PID=$$" entry in `env` becomes the daemon's own
 * pid. */
GPid fixture_spawn_daemon(Fixture *f, const char *config, const char *const *env);
void fixture_start_daemon(Fixture *f);
void fixture_start_daemon_env(Fixture *f, const char *const *env);
/* SIGTERM and wait (SIGKILL after FIXTURE_WAIT_SEC); returns the wait status. */
int fixture_stop_daemon(Fixture *f);
/* Waits for `pid` (our child) to exit; FALSE on timeout. */
gboolean fixture_wait_pid(GPid pid, guint timeout_sec, int *wait_status);
gboolean fixture_name_has_owner(Fixture *f);
char *fixture_daemon_log(Fixture *f);
void fixture_dump_logs(Fixture *f);

/* Writes `contents` to TMPDIR/`name` (parents created); returns the full path. */
char *fixture_write_file(Fixture *f, const char *name, const char *contents);
/* The same, mode 0600 (a token file). */
char *fixture_write_secret(Fixture *f, const char *name, const char *contents);
GDBusConnection *fixture_connect(Fixture *f);

/* Calls on f->conn with FIXTURE_CALL_TIMEOUT_MSEC. */
GVariant *fixture_call(Fixture *f, const char *method, GVariant *params,
                       const GVariantType *reply_type, GError **error);
GVariant *fixture_get_property(Fixture *f, const char *name, GError **error);
/* The methods, plainly. fixture_list() returns the a(sst) and asserts success. */
gboolean fixture_track(Fixture *f, const char *volume, const char *node, GError **error);
gboolean fixture_untrack(Fixture *f, const char *volume, GError **error);
char *fixture_get(Fixture *f, const char *volume, guint64 *attached_at_usec, GError **error);
/* Assert that the call succeeds / that Get answers NotAttached. */
void fixture_track_ok(Fixture *f, const char *volume, const char *node);
void fixture_untrack_ok(Fixture *f, const char *volume);
void fixture_assert_not_attached(Fixture *f, const char *volume);
GVariant *fixture_list(Fixture *f);
guint32 fixture_attachment_count(Fixture *f);
/* Asserts that `error` is the remote D-Bus error `name`. */
void fixture_assert_dbus_error(const GError *error, const char *name);
/* The error's message without GDBus's "GDBus.Error:NAME: " prefix. */
char *fixture_error_message(const GError *error);

/* Iterates the default main context until `cond(data)` or the timeout; returns cond's result. */
gboolean fixture_wait_for(gboolean (*cond)(gpointer data), gpointer data, guint timeout_sec);

/* The emulator's control endpoint. Returns the body; `status` receives the HTTP status. */
char *fixture_emulator_request(Fixture *f, const char *method, const char *path, const char *body,
                               guint *status);
/* Like fixture_emulator_request, asserting a 2xx status. */
void fixture_emulator_ok(Fixture *f, const char *method, const char *path, const char *body);
/* Kills the emulator (SIGKILL) and starts a new one on the same port with the PVs the old one
 * held, its resourceVersions going on from the old one's: a restarted API server, whose
 * watch history starts afresh. */
void fixture_restart_emulator(Fixture *f);
/* Starts f's emulator (f->emulator_token, its log f->emulator_log) on `port` (0: any) with
 * the PVs of `seed` (NULL: none), resourceVersions from start_rv (0: the emulator's default),
 * https when tls_dir (holding server.pem and server.key) is set: f->soup must then trust its
 * CA. Waits until it answers; fixture_free() stops it. */
void fixture_spawn_emulator(Fixture *f, guint port, const char *seed, guint64 start_rv,
                            const char *tls_dir);
/* A merge patch of PV `pv` through the API, as another client (kubectl) would; asserts 200. */
void fixture_emulator_merge_patch(Fixture *f, const char *pv, const char *patch);
/* Seeds PVs named PREFIX0..PREFIX(n-1) for FIXTURE_DRIVER, volumeHandle = name. */
void fixture_emulator_add_pvs(Fixture *f, const char *prefix, guint n);
/* The same, ReadWriteMany with volumeMode Block: volumes TrackShared may attach to two nodes. */
void fixture_emulator_add_shared_pvs(Fixture *f, const char *prefix, guint n);
/* Seeds one PV; `node` (may be NULL) and `at` (RFC 3339) become the attachment annotations. */
void fixture_emulator_add_pv(Fixture *f, const char *name, const char *node, const char *at);
/* The PV's annotation `key`, NULL if the PV has none (asserts the PV exists). */
char *fixture_emulator_annotation(Fixture *f, const char *pv, const char *key);

/* Seeds `count` PVs PREFIX000000.. of `driver` through the emulator's generator, the first
 * `annotated` of them attached to `node`. */
void fixture_emulator_generate(Fixture *f, const char *prefix, guint count, guint annotated,
                               const char *driver, const char *node);
/* RFC 3339 -> µs since the epoch, -1 when unreadable. */
gint64 fixture_parse_time(const char *text);
/* volume -> "node@usec": what the PVs of a LIST body say is attached (PVs of FIXTURE_DRIVER,
 * keyed by volumeHandle; only those naming `only_node` when set) / what f's List says. */
GHashTable *fixture_annotated_volumes(const char *pv_list, const char *only_node);
GHashTable *fixture_listed_volumes(Fixture *f);
/* Every node of every volume, "volume node" -> "usec": the first node (attached-node,
 * attached-at) and a migration's second (migration-target-node, migration-started-at) of the
 * PVs of a LIST body / every row of f's List. The maps above keep one node per volume. */
GHashTable *fixture_annotated_rows(const char *pv_list);
GHashTable *fixture_listed_rows(Fixture *f);
/* Every PV, through the API of the fixture's emulator (the body of the LIST). */
char *fixture_pv_list(Fixture *emulator);
/* f's List (nodes and attached_at) against the annotations in `emulator`'s PVs (those naming
 * `only_node` when set): NULL when equal, else a description of the differences. */
char *fixture_list_diff(Fixture *f, Fixture *emulator, const char *only_node);
void fixture_assert_consistent(Fixture *f, Fixture *emulator, const char *only_node);
/* Waits until f's List equals the annotations (the watch converged); asserts on timeout. */
void fixture_wait_consistent(Fixture *f, Fixture *emulator, guint timeout_sec);

/* The Attached/Detached signals one daemon emits, as "Attached vol node;Detached vol node;" */
typedef struct {
        GString *seen;
        guint id;
        GDBusConnection *conn;
} FixtureSignals;

void fixture_signals_watch(FixtureSignals *s, Fixture *f);
void fixture_signals_clear(FixtureSignals *s);
/* Waits until `text` was seen; asserts on timeout (after printing what was seen). */
void fixture_wait_signal(FixtureSignals *s, const char *text, guint timeout_sec);

/* Concurrent Tracks: fire many with fixture_track_async (all on f->conn, no waiting), then
 * wait for replies with fixture_wait_calls. */
typedef struct {
        char volume[256];
        char node[256];
        gboolean done;
        GError *error; /* NULL: success */
} FixtureCall;

void fixture_track_async(Fixture *f, FixtureCall *call);
/* Waits until at least `min_done` of the `n` calls have a reply; FALSE on timeout. */
gboolean fixture_wait_calls(FixtureCall *calls, guint n, guint min_done, guint timeout_sec);
void fixture_calls_clear(FixtureCall *calls, guint n);
