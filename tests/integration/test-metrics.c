/* SPDX-License-Identifier: MIT */
/* Metrics end to end (issue 14, DESIGN §11): a daemon with MetricsAddress= on loopback in
 * front of the kube-emulator; Track/Untrack, a conflict, a dropped and an expired watch must
 * move the values a scrape shows; the text must satisfy a real parser (promtool check
 * metrics, from Debian's prometheus package); other paths 404, other methods 405; a bad or
 * taken address stops the daemon at start. */
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "tests/free-port.h"

#define CONVERGE_SEC 30

static gboolean need_emulator(void)
{
        if (fixture_have_emulator())
                return TRUE;
        g_test_skip("kube-emulator is not built");
        return FALSE;
}

typedef struct {
        Fixture *f;
        SoupSession *session;
        char *url; /* http://127.0.0.1:PORT */
} Scraper;

static guint http(Scraper *s, const char *method, const char *path, char **body)
{
        g_autofree char *url = g_strconcat(s->url, path, NULL);
        g_autoptr(SoupMessage) msg = soup_message_new(method, url);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = soup_session_send_and_read(s->session, msg, NULL, &error);
        gsize len = 0;
        const char *text;

        g_assert_no_error(error);
        text = g_bytes_get_data(data, &len);
        if (body != NULL)
                *body = g_strndup(text != NULL ? text : "", len);
        if (g_str_equal(path, "/metrics") && soup_message_get_status(msg) == 200)
                g_assert_cmpstr(soup_message_headers_get_content_type(
                                    soup_message_get_response_headers(msg), NULL),
                                ==, "text/plain");
        return soup_message_get_status(msg);
}

static char *scrape(Scraper *s)
{
        char *body = NULL;

        g_assert_cmpuint(http(s, "GET", "/metrics", &body), ==, 200);
        return body;
}

/* The value of sample `series` (name{labels}) in the exposition, -1 when absent. */
static gint64 value_of(const char *text, const char *series)
{
        g_autofree char *needle = g_strconcat("\n", series, " ", NULL);
        const char *at = strstr(text, needle);

        if (at == NULL)
                return -1;
        return g_ascii_strtoll(at + strlen(needle), NULL, 10);
}

static gint64 scrape_value(Scraper *s, const char *series)
{
        g_autofree char *text = scrape(s);

        return value_of(text, series);
}

typedef struct {
        Scraper *s;
        const char *series[2]; /* summed; the second may be NULL */
        gint64 at_least;
} Wait;

static gint64 wait_sum(Wait *w)
{
        g_autofree char *text = scrape(w->s);
        gint64 sum = 0;

        for (guint i = 0; i < 2 && w->series[i] != NULL; i++)
                sum += MAX(value_of(text, w->series[i]), 0);
        return sum;
}

static gboolean reached(gpointer data)
{
        return wait_sum(data) >= ((Wait *)data)->at_least;
}

/* Until series (+ also, when not NULL) reaches at_least. */
static void wait_value2(Scraper *s, const char *series, const char *also, gint64 at_least)
{
        Wait w = {s, {series, also}, at_least};

        if (!fixture_wait_for(reached, &w, CONVERGE_SEC))
                fixture_dump_logs(s->f);
        g_assert_cmpint(wait_sum(&w), >=, at_least);
}

static void wait_value(Scraper *s, const char *series, gint64 at_least)
{
        wait_value2(s, series, NULL, at_least);
}

/* promtool check metrics: the text parser of Prometheus itself, plus its lint rules (counter
 * names end in _total, units in names, ...). Exit 0 and no output means clean. */
static void promtool_check(const char *text)
{
        g_autofree char *promtool = g_find_program_in_path("promtool");
        g_autoptr(GSubprocess) p = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL;
        g_autofree char *err = NULL;

        if (promtool == NULL) {
                g_test_skip("promtool is not installed (Debian package prometheus)");
                return;
        }
        p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                 G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             &error, promtool, "check", "metrics", NULL);
        g_assert_no_error(error);
        g_assert_true(g_subprocess_communicate_utf8(p, text, NULL, &out, &err, &error));
        g_assert_no_error(error);
        g_test_message("promtool check metrics: exit %d, stdout \"%s\", stderr \"%s\"",
                       g_subprocess_get_exit_status(p), out, err);
        g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 0);
        g_assert_cmpstr(g_strstrip(out), ==, "");
        g_assert_cmpstr(g_strstrip(err), ==, "");
}

#define OPS "srvlab_attachment_operations_total"
#define PV_RESOURCE "{resource=\"persistentvolumes\"}"
#define RESTARTS "srvlab_attachment_watch_restarts_total{resource=\"persistentvolumes\","

static void check_operations(Scraper *s)
{
        g_autofree char *text = scrape(s);

        g_test_message("after the operations:\n%s", text);
        g_assert_cmpint(value_of(text, OPS "{method=\"Track\",outcome=\"ok\"}"), ==, 2);
        g_assert_cmpint(value_of(text, OPS "{method=\"Track\",outcome=\"already_attached\"}"), ==,
                        1);
        g_assert_cmpint(value_of(text, OPS "{method=\"Track\",outcome=\"volume_not_found\"}"), ==,
                        1);
        g_assert_cmpint(value_of(text, OPS "{method=\"Track\",outcome=\"invalid_args\"}"), ==, 1);
        g_assert_cmpint(value_of(text, OPS "{method=\"Untrack\",outcome=\"ok\"}"), ==, 1);
        g_assert_cmpint(value_of(text, OPS "{method=\"TrackShared\",outcome=\"ok\"}"), ==, 0);
        g_assert_cmpint(value_of(text, "srvlab_attachment_operation_duration_seconds_count{"
                                       "method=\"Track\"}"),
                        ==, 5);
        g_assert_cmpint(value_of(text, "srvlab_attachment_attachments"), ==, 1);
        g_assert_cmpint(value_of(text, "srvlab_attachment_operations_queued"), ==, 0);
        g_assert_cmpint(value_of(text, "srvlab_attachment_conflicts_retried_total"), ==, 1);
        g_assert_cmpint(value_of(text, "srvlab_attachment_api_requests_total{method=\"PATCH\","
                                       "code=\"409\"}"),
                        ==, 1);
        g_assert_cmpint(value_of(text, "srvlab_attachment_api_requests_total{method=\"PATCH\","
                                       "code=\"200\"}"),
                        >=, 3);
        g_assert_cmpint(value_of(text, "srvlab_attachment_api_requests_total{method=\"GET\","
                                       "code=\"200\"}"),
                        >=, 1);
        g_assert_cmpint(value_of(text, "srvlab_attachment_watch_connected" PV_RESOURCE), ==, 1);
        promtool_check(text);
}

static void test_scrape(void)
{
        guint port = test_free_port();
        g_autofree char *extra =
            g_strdup_printf("[Attachment]\nMetricsAddress=127.0.0.1:%u\n", port);
        FixtureOptions opts = {.kubernetes = TRUE, .extra_config = extra};
        g_autoptr(Fixture) f = NULL;
        g_autoptr(SoupSession) session = soup_session_new();
        g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u", port);
        Scraper s = {NULL, session, url};
        g_autoptr(GError) error = NULL;
        g_autofree char *head = NULL;

        if (!need_emulator())
                return;
        f = fixture_new(&opts);
        s.f = f;
        fixture_emulator_add_pvs(f, "vol-m", 2);
        wait_value(&s, "srvlab_attachment_watch_connected" PV_RESOURCE, 1);
        g_assert_cmpint(scrape_value(&s, OPS "{method=\"Track\",outcome=\"ok\"}"), ==, 0);

        fixture_track_ok(f, "vol-m0", "node-1");
        g_assert_false(fixture_track(f, "vol-m0", "node-2", &error));
        fixture_assert_dbus_error(error, BUS_ERROR_ALREADY_ATTACHED);
        g_clear_error(&error);
        g_assert_false(fixture_track(f, "vol-missing", "node-1", &error));
        fixture_assert_dbus_error(error, BUS_ERROR_VOLUME_NOT_FOUND);
        g_clear_error(&error);
        g_assert_false(fixture_track(f, "Not_An_Id", "node-1", &error));
        g_clear_error(&error);
        fixture_untrack_ok(f, "vol-m0");
        /* One conflict on the next write: re-read and retried, the Track succeeds. */
        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"verb\":\"patch\"},\"count\":1,\"action\":\"conflict\"}");
        fixture_track_ok(f, "vol-m1", "node-1");
        check_operations(&s);

        /* A dropped stream is resumed (the drop may read as an end or as a failure); an
         * expired one relisted. */
        fixture_emulator_ok(f, "POST", "/_emulator/watch/drop", NULL);
        wait_value2(&s, RESTARTS "cause=\"ended\"}", RESTARTS "cause=\"failed\"}", 1);
        fixture_emulator_ok(f, "POST", "/_emulator/faults",
                            "{\"match\":{\"verb\":\"watch\"},\"count\":1,\"action\":\"gone\"}");
        fixture_emulator_ok(f, "POST", "/_emulator/watch/drop", NULL);
        wait_value(&s, "srvlab_attachment_watch_relists_total" PV_RESOURCE, 1);
        wait_value(&s, "srvlab_attachment_watch_connected" PV_RESOURCE, 1);

        g_assert_cmpuint(http(&s, "GET", "/", NULL), ==, 404);
        g_assert_cmpuint(http(&s, "GET", "/metricsx", NULL), ==, 404);
        g_assert_cmpuint(http(&s, "POST", "/metrics", NULL), ==, 405);
        g_assert_cmpuint(http(&s, "DELETE", "/metrics", NULL), ==, 405);
        g_assert_cmpuint(http(&s, "HEAD", "/metrics", &head), ==, 200);
        g_assert_cmpstr(head, ==, "");
        g_assert_true(fixture_name_has_owner(f));
}

static void expect_start_failure(Fixture *f, const char *address, const char *expect)
{
        g_autofree char *text =
            g_strdup_printf("[Attachment]\nStore=none\nMetricsAddress=%s\n", address);
        g_autofree char *path = fixture_write_file(f, "metrics.conf", text);
        g_autofree char *log = NULL;
        int status = 0;
        GPid pid;

        g_free(fixture_write_file(f, "daemon.log", ""));
        pid = fixture_spawn_daemon(f, path, NULL);
        g_assert_true(fixture_wait_pid(pid, FIXTURE_WAIT_SEC, &status));
        log = fixture_daemon_log(f);
        g_test_message("MetricsAddress=%s: status 0x%x, log:\n%s", address, status, log);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), !=, 0);
        g_assert_nonnull(strstr(log, expect));
        g_assert_false(fixture_name_has_owner(f));
}

/* A malformed address names the file and the key; a port in use names the key and why. */
static void test_bad_address(void)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        g_autoptr(Fixture) f = fixture_new(&opts);
        g_autoptr(GSocket) taken =
            g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;
        g_autofree char *address = NULL;
        g_autofree char *expect = NULL;

        expect_start_failure(f, "localhost:9471", "metrics.conf: [Attachment] MetricsAddress=");
        expect_start_failure(f, "127.0.0.1:99999", "expected IPv4:PORT or [IPv6]:PORT");
        g_assert_true(g_socket_bind(taken, any, FALSE, NULL));
        g_assert_true(g_socket_listen(taken, NULL));
        bound = g_socket_get_local_address(taken, NULL);
        address = g_strdup_printf("127.0.0.1:%u",
                                  g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
        expect = g_strdup_printf("MetricsAddress=%s: ", address);
        expect_start_failure(f, address, expect);
}

/* The alerting rules of docs/OPERATIONS.md are valid Prometheus rules, and name metrics the
 * daemon exports. */
static void test_alert_rules(void)
{
        g_autofree char *promtool = g_find_program_in_path("promtool");
        g_autofree char *doc_path = fixture_source_path("docs/OPERATIONS.md");
        g_autofree char *doc = NULL;
        g_autofree char *rules_path = NULL;
        g_autofree char *rules = NULL;
        g_autofree char *out = NULL;
        g_autoptr(GError) error = NULL;
        const char *start, *end;
        int status = 0;
        int fd;

        g_assert_true(g_file_get_contents(doc_path, &doc, NULL, &error));
        start = strstr(doc, "```yaml\n");
        g_assert_nonnull(start);
        start += strlen("```yaml\n");
        end = strstr(start, "```\n");
        g_assert_nonnull(end);
        rules = g_strndup(start, (gsize)(end - start));
        for (guint i = 0; i < 3; i++) {
                static const char *const used[] = {"srvlab_attachment_api_requests_total",
                                                   "srvlab_attachment_watch_connected",
                                                   "srvlab_attachment_migrations_overdue_total"};
                g_assert_nonnull(strstr(rules, used[i]));
        }
        if (promtool == NULL) {
                g_test_skip("promtool is not installed (Debian package prometheus)");
                return;
        }
        fd = g_file_open_tmp("srvlab-rules-XXXXXX.yml", &rules_path, &error);
        g_assert_no_error(error);
        close(fd);
        g_assert_true(g_file_set_contents(rules_path, rules, -1, &error));
        {
                const char *argv[] = {promtool, "check", "rules", rules_path, NULL};

                g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL,
                                           NULL, NULL, &out, NULL, &status, &error));
        }
        g_unlink(rules_path);
        g_test_message("promtool check rules: %s", out);
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        g_assert_nonnull(strstr(out, "SUCCESS: 3 rules found"));
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/metrics/scrape", test_scrape);
        g_test_add_func("/metrics/bad-address", test_bad_address);
        g_test_add_func("/metrics/alert-rules", test_alert_rules);
        return g_test_run();
}
