/* SPDX-License-Identifier: MIT */
/* The fault matrix (issue 7 item 1): every fault class the emulator can inject, on Track (the
 * PATCH of the PV), on Untrack (the PATCH that clears it) and at start-up (the rebuild's LIST).
 * Each cell checks the caller's answer (or the start-up outcome), that the daemon is still up,
 * and that List equals the PV annotations afterwards. All cells run, then the results are
 * written as a table (see write_doc) and the failures asserted.
 *
 * Regenerate docs/RELIABILITY.md's table:
 *   SRVLAB_RELIABILITY_DOC=$PWD/docs/RELIABILITY.md meson test -C build-rel reliability-faults */
#include "rel-common.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#define REQUEST_TIMEOUT_SEC 2
#define DELAY_MS 4000 /* beyond RequestTimeoutSec: a timeout */
#define HUGE_BYTES (64u * 1024 * 1024 + 4096)

/* Outcomes are "ok", an error's short name (StoreFailed), "ready" or "exit". Several allowed
 * outcomes are separated by '|'. */
typedef struct {
        const char *name;
        const char *action; /* the fault's JSON members besides "match" */
        const char *track;
        const char *untrack;
        const char *start;
} FaultCase;

static const FaultCase cases[] = {
    {"400 Bad Request", "\"action\":\"status\",\"code\":400", "StoreFailed", "StoreFailed", "exit"},
    {"401 Unauthorized (once)", "\"action\":\"status\",\"code\":401", "ok", "ok", "ready"},
    {"403 Forbidden", "\"action\":\"status\",\"code\":403", "StoreFailed", "StoreFailed", "exit"},
    {"404 Not Found", "\"action\":\"status\",\"code\":404", "VolumeNotFound", "ok", "exit"},
    {"409 Conflict x1", "\"action\":\"conflict\",\"count\":1", "ok", "ok", "exit"},
    {"409 Conflict x10", "\"action\":\"conflict\",\"count\":10", "StoreFailed", "StoreFailed",
     "exit"},
    {"422 Unprocessable", "\"action\":\"status\",\"code\":422", "StoreFailed", "StoreFailed",
     "exit"},
    {"429 + Retry-After: 1", "\"action\":\"status\",\"code\":429,\"retry_after\":1", "ok", "ok",
     "ready"},
    {"500 Internal Error", "\"action\":\"status\",\"code\":500", "StoreFailed", "StoreFailed",
     "ready"},
    {"503 Unavailable", "\"action\":\"status\",\"code\":503", "StoreFailed", "StoreFailed",
     "ready"},
    /* A write lost in transport is replayed once, conditional on the same resourceVersion:
     * a one-off loss is invisible to the caller, and memory still equals the PV. */
    {"timeout (4 s > RequestTimeoutSec=2)", "\"action\":\"delay\",\"ms\":4000", "ok", "ok",
     "ready"},
    {"connection reset", "\"action\":\"drop\"", "ok", "ok", "ready"},
    {"connection reset x3 (the replay too)", "\"action\":\"drop\",\"count\":3", "StoreFailed",
     "StoreFailed", "ready"},
    {"malformed JSON", "\"action\":\"malformed\"", "StoreFailed", "StoreFailed", "ready"},
    {"truncated body", "\"action\":\"truncated\"", "ok", "ok", "ready"},
    {"64 MiB body", "\"action\":\"huge\",\"bytes\":67112960", "ok", "ok", "ready"},
};

typedef struct {
        char *got[3]; /* track, untrack, start */
        gboolean consistent[3];
        gboolean up[3];
        char *detail[3];
} CaseResult;

static gboolean outcome_allowed(const char *allowed, const char *got)
{
        g_auto(GStrv) alts = g_strsplit(allowed, "|", -1);

        return g_strv_contains((const char *const *)alts, got);
}

static char *short_outcome(const GError *error)
{
        g_autofree char *name = rel_error_name(error);
        const char *dot;

        if (error == NULL)
                return g_strdup("ok");
        dot = strrchr(name, '.');
        return g_strdup(dot != NULL ? dot + 1 : error->message);
}

static void inject(Fixture *f, const char *verb, const char *pv, const FaultCase *c)
{
        g_autofree char *json = NULL;

        if (pv != NULL)
                json = g_strdup_printf("{\"match\":{\"verb\":\"%s\",\"name\":\"%s\"},%s}", verb, pv,
                                       c->action);
        else
                json = g_strdup_printf("{\"match\":{\"verb\":\"%s\"},%s}", verb, c->action);
        rel_fault(f, json);
}

/* After a delay fault the delayed request may still be served: wait it out before checking,
 * so the check sees the final state, not a transient one. */
static void settle(const FaultCase *c, gint64 started)
{
        gint64 until = started + (DELAY_MS + 1000) * G_TIME_SPAN_MILLISECOND;

        if (strstr(c->action, "delay") == NULL)
                return;
        while (g_get_monotonic_time() < until)
                g_usleep(50 * 1000);
}

static gboolean consistent(Fixture *f, char **detail)
{
        g_autoptr(GHashTable) daemon = rel_daemon_list(f, NULL);
        g_autoptr(GHashTable) store = rel_emulator_annotations(f);

        *detail = rel_diff(daemon, store, NULL);
        return *detail == NULL;
}

static char *call_outcome(Fixture *f, const char *method, GVariant *params, char **message)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, method, params, NULL, &error);

        (void)r; /* only the error matters */

        *message = error != NULL ? fixture_error_message(error) : NULL;
        return short_outcome(error);
}

static void run_track(Fixture *f, guint i, const FaultCase *c, CaseResult *res)
{
        g_autofree char *pv = g_strdup_printf("fm-%u-t", i);
        g_autofree char *msg = NULL;
        gint64 started = g_get_monotonic_time();

        inject(f, "patch", pv, c);
        res->got[0] = call_outcome(f, "Track", g_variant_new("(ss)", pv, "node-a"), &msg);
        rel_clear_faults(f);
        settle(c, started);
        res->up[0] = rel_daemon_up(f);
        res->consistent[0] = res->up[0] && consistent(f, &res->detail[0]);
        g_test_message("Track   / %-36s -> %s %s", c->name, res->got[0], msg ? msg : "");
}

static void run_untrack(Fixture *f, guint i, const FaultCase *c, CaseResult *res)
{
        g_autofree char *pv = g_strdup_printf("fm-%u-u", i);
        g_autofree char *path = g_strconcat("/_emulator/pvs/", pv, NULL);
        g_autofree char *msg = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r =
            fixture_call(f, "Track", g_variant_new("(ss)", pv, "node-a"), NULL, &error);
        gint64 started = g_get_monotonic_time();

        g_assert_no_error(error);
        g_assert_nonnull(r);
        /* A 404 on the clear means the PV is gone; injecting a 404 for a PV that still carries
         * the annotation would be a lie no API server tells, so delete the PV for real. */
        if (strstr(c->action, "\"code\":404") != NULL)
                fixture_emulator_ok(f, "DELETE", path, NULL);
        else
                inject(f, "patch", pv, c);
        res->got[1] = call_outcome(f, "Untrack", g_variant_new("(s)", pv), &msg);
        rel_clear_faults(f);
        settle(c, started);
        res->up[1] = rel_daemon_up(f);
        res->consistent[1] = res->up[1] && consistent(f, &res->detail[1]);
        g_test_message("Untrack / %-36s -> %s %s", c->name, res->got[1], msg ? msg : "");
}

/* Waits until the daemon owns the name ("ready") or exits ("exit"). */
static char *start_outcome(Fixture *f, GPid pid)
{
        gint64 deadline = g_get_monotonic_time() + 90 * G_TIME_SPAN_SECOND;
        int status = 0;

        while (g_get_monotonic_time() < deadline) {
                if (fixture_wait_pid(pid, 0, &status)) {
                        f->daemon_pid = 0;
                        return g_strdup_printf(
                            WIFEXITED(status) && WEXITSTATUS(status) != 0 ? "exit" : "exit-0x%x",
                            status);
                }
                if (fixture_name_has_owner(f)) {
                        f->daemon_pid = pid;
                        return g_strdup("ready");
                }
                g_usleep(20 * 1000);
        }
        kill(pid, SIGKILL);
        fixture_wait_pid(pid, FIXTURE_WAIT_SEC, NULL);
        f->daemon_pid = 0;
        return g_strdup("hang");
}

static void run_start(Fixture *f, const FaultCase *c, CaseResult *res)
{
        gint64 started;

        if (f->daemon_pid > 0)
                fixture_stop_daemon(f);
        inject(f, "list", NULL, c);
        started = g_get_monotonic_time();
        res->got[2] = start_outcome(f, fixture_spawn_daemon(f, NULL, NULL));
        rel_clear_faults(f);
        settle(c, started);
        res->up[2] = f->daemon_pid > 0 ? rel_daemon_up(f) : TRUE;
        res->consistent[2] = f->daemon_pid == 0 || consistent(f, &res->detail[2]);
        g_test_message("Start   / %-36s -> %s", c->name, res->got[2]);
        if (f->daemon_pid == 0)
                fixture_start_daemon(f);
}

static gboolean cell_ok(const char *expected, const CaseResult *res, guint k)
{
        /* A start-up that ends in a clean exit leaves no daemon to be "up": that is the
         * expected outcome, not a crash. */
        return res->got[k] != NULL && outcome_allowed(expected, res->got[k]) && res->up[k] &&
               res->consistent[k];
}

static const char *expected_of(const FaultCase *c, guint k)
{
        return k == 0 ? c->track : k == 1 ? c->untrack : c->start;
}

static void append_cell(GString *s, const FaultCase *c, const CaseResult *res, guint k)
{
        g_string_append_printf(s, " %s%s |", res->got[k],
                               cell_ok(expected_of(c, k), res, k) ? "" : " **FAIL**");
}

static char *table(const CaseResult *results)
{
        GString *s = g_string_new("| Fault injected | Track | Untrack | Start-up (rebuild LIST) "
                                  "| List == annotations, daemon up |\n"
                                  "|---|---|---|---|---|\n");

        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                const CaseResult *r = &results[i];
                gboolean all = r->consistent[0] && r->consistent[1] && r->consistent[2] &&
                               r->up[0] && r->up[1] && r->up[2];

                g_string_append_printf(s, "| %s |", cases[i].name);
                for (guint k = 0; k < 3; k++)
                        append_cell(s, &cases[i], r, k);
                g_string_append_printf(s, " %s |\n", all ? "yes (3/3)" : "**NO**");
        }
        return g_string_free(s, FALSE);
}

#define BEGIN_MARK "<!-- fault-matrix:begin -->\n"
#define END_MARK "<!-- fault-matrix:end -->"

/* Replaces the text between the markers of the document named by SRVLAB_RELIABILITY_DOC. */
static void write_doc(const char *text)
{
        const char *path = g_getenv("SRVLAB_RELIABILITY_DOC");
        g_autoptr(GError) error = NULL;
        g_autofree char *doc = NULL;
        g_autofree char *out = NULL;
        char *begin, *end;

        if (path == NULL || *path == '\0')
                return;
        g_file_get_contents(path, &doc, NULL, &error);
        g_assert_no_error(error);
        begin = strstr(doc, BEGIN_MARK);
        end = begin != NULL ? strstr(begin, END_MARK) : NULL;
        g_assert_nonnull(end);
        *begin = '\0';
        out = g_strconcat(doc, BEGIN_MARK, text, end, NULL);
        g_file_set_contents(path, out, -1, &error);
        g_assert_no_error(error);
        g_test_message("wrote the fault matrix to %s", path);
}

static void write_config(Fixture *f)
{
        g_autofree char *config =
            g_strdup_printf("[Attachment]\nStore=kubernetes\nDriver=" FIXTURE_DRIVER "\nWorkers=4\n"
                            "[Kubernetes]\nServer=%s\nTokenFile=%s/token\nCAFile=\n"
                            "RequestTimeoutSec=%d\nStartTimeoutSec=60\n",
                            f->emulator_url, f->tmpdir, REQUEST_TIMEOUT_SEC);

        g_free(fixture_write_file(f, "attachment.conf", config));
}

static void test_fault_matrix(void)
{
        FixtureOptions opts = {.kubernetes = TRUE, .no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        CaseResult results[G_N_ELEMENTS(cases)] = {0};
        g_autofree char *text = NULL;
        guint failures = 0;

        write_config(f);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *t = g_strdup_printf("fm-%u-t", i);
                g_autofree char *u = g_strdup_printf("fm-%u-u", i);

                fixture_emulator_add_pv(f, t, NULL, NULL);
                fixture_emulator_add_pv(f, u, NULL, NULL);
        }
        /* The rebuild must bring these back after every start-up case. */
        fixture_emulator_add_pv(f, "fm-seed-1", "node-x", "2026-01-02T03:04:05.000006Z");
        fixture_emulator_add_pv(f, "fm-seed-2", "node-y", "2026-01-02T03:04:05.000007Z");
        fixture_start_daemon(f);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
                run_track(f, i, &cases[i], &results[i]);
                run_untrack(f, i, &cases[i], &results[i]);
                run_start(f, &cases[i], &results[i]);
        }
        text = table(results);
        g_test_message("fault matrix:\n%s", text);
        write_doc(text);
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
                for (guint k = 0; k < 3; k++) {
                        if (cell_ok(expected_of(&cases[i], k), &results[i], k))
                                continue;
                        failures++;
                        g_test_message("FAIL %s / %s: expected %s, got %s, up %d, List == "
                                       "annotations %d%s%s",
                                       cases[i].name,
                                       k == 0   ? "Track"
                                       : k == 1 ? "Untrack"
                                                : "start",
                                       expected_of(&cases[i], k), results[i].got[k],
                                       results[i].up[k], results[i].consistent[k],
                                       results[i].detail[k] ? ":\n" : "",
                                       results[i].detail[k] ? results[i].detail[k] : "");
                }
        {
                /* Every error path above (401 included) went through the logs: the bearer token
                 * must appear in none of them. */
                g_autofree char *log = fixture_daemon_log(f);

                g_assert_null(strstr(log, f->emulator_token));
        }
        for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
                for (guint k = 0; k < 3; k++) {
                        g_free(results[i].got[k]);
                        g_free(results[i].detail[k]);
                }
        g_assert_cmpuint(failures, ==, 0);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        if (!fixture_have_emulator()) {
                g_test_skip("kube-emulator not built");
                return g_test_run();
        }
        g_test_add_func("/reliability/fault-matrix", test_fault_matrix);
        return g_test_run();
}
