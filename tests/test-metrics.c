/* SPDX-License-Identifier: MIT */
/* The metrics registry and its exposition text (DESIGN §11), MetricsAddress= parsing, and the
 * /metrics server: paths, methods, the connection cap. The text is checked line by line here;
 * the integration test feeds a live daemon's to promtool. */
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "metrics-server.h"
#include "metrics.h"
#include "tests/free-port.h"

/* The value of the sample line `series` (name{labels}), -1 when absent. */
static gint64 sample(const char *text, const char *series)
{
        g_autofree char *needle = g_strconcat("\n", series, " ", NULL);
        const char *at = strstr(text, needle);

        if (at == NULL)
                return -1;
        return g_ascii_strtoll(at + strlen(needle), NULL, 10);
}

static char *render(Metrics *m)
{
        GString *text = metrics_render(m);

        /* Every sample line has a leading newline to match, the first one too. */
        g_string_prepend_c(text, '\n');
        return g_string_free(text, FALSE);
}

static void test_fresh(void)
{
        g_autoptr(Metrics) m = metrics_new("1.2.3");
        g_autofree char *text = render(m);

        g_assert_nonnull(strstr(text, "\n# HELP srvlab_attachment_operations_total "));
        g_assert_nonnull(strstr(text, "\n# TYPE srvlab_attachment_operations_total counter\n"));
        g_assert_nonnull(
            strstr(text, "\n# TYPE srvlab_attachment_operation_duration_seconds histogram\n"));
        g_assert_nonnull(strstr(text, "\n# TYPE srvlab_attachment_watch_connected gauge\n"));
        g_assert_cmpint(sample(text, "srvlab_attachment_build_info{version=\"1.2.3\"}"), ==, 1);
        /* Every method and outcome is there at zero, the issue 13 ones too. */
        g_assert_cmpint(
            sample(text, "srvlab_attachment_operations_total{method=\"Track\",outcome=\"ok\"}"), ==,
            0);
        g_assert_cmpint(sample(text, "srvlab_attachment_operations_total{method=\"UntrackNode\","
                                     "outcome=\"store_failed\"}"),
                        ==, 0);
        g_assert_cmpint(sample(text, "srvlab_attachment_migrations_overdue_total"), ==, 0);
        g_assert_cmpint(sample(text, "srvlab_attachment_events_dropped_total"), ==, 0);
        /* Sparse families show no series before their first event. */
        g_assert_null(strstr(text, "\nsrvlab_attachment_api_requests_total{"));
        g_assert_null(strstr(text, "\nsrvlab_attachment_watch_connected{"));
}

static void test_operations(void)
{
        g_autoptr(Metrics) m = metrics_new("1");
        g_autoptr(GError) conflict =
            g_error_new_literal(ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED, "x");
        g_autoptr(GError) foreign = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_FAILED, "x");
        g_autofree char *text = NULL;
        gint64 now = g_get_monotonic_time();

        metrics_operation(m, METRICS_OP_TRACK, NULL, now);
        metrics_operation(m, METRICS_OP_TRACK, NULL, now - 3000);         /* 3 ms */
        metrics_operation(m, METRICS_OP_TRACK, conflict, now - 20000000); /* 20 s */
        metrics_operation(m, METRICS_OP_UNTRACK, foreign, now);
        text = render(m);
        g_assert_cmpint(
            sample(text, "srvlab_attachment_operations_total{method=\"Track\",outcome=\"ok\"}"), ==,
            2);
        g_assert_cmpint(sample(text, "srvlab_attachment_operations_total{method=\"Track\","
                                     "outcome=\"already_attached\"}"),
                        ==, 1);
        g_assert_cmpint(sample(text, "srvlab_attachment_operations_total{method=\"Untrack\","
                                     "outcome=\"error\"}"),
                        ==, 1);
        /* Cumulative buckets: the 3 ms call is in le=0.005 but not le=0.0025. */
        g_assert_cmpint(sample(text, "srvlab_attachment_operation_duration_seconds_bucket{method="
                                     "\"Track\",le=\"0.0025\"}"),
                        ==, 1);
        g_assert_cmpint(sample(text, "srvlab_attachment_operation_duration_seconds_bucket{method="
                                     "\"Track\",le=\"0.005\"}"),
                        ==, 2);
        g_assert_cmpint(sample(text, "srvlab_attachment_operation_duration_seconds_bucket{method="
                                     "\"Track\",le=\"10\"}"),
                        ==, 2);
        g_assert_cmpint(sample(text, "srvlab_attachment_operation_duration_seconds_bucket{method="
                                     "\"Track\",le=\"+Inf\"}"),
                        ==, 3);
        g_assert_cmpint(sample(text, "srvlab_attachment_operation_duration_seconds_count{method="
                                     "\"Track\"}"),
                        ==, 3);
        g_assert_nonnull(strstr(
            text, "\nsrvlab_attachment_operation_duration_seconds_sum{method=\"Track\"} 20.00"));
}

static void test_api_and_watch(void)
{
        g_autoptr(Metrics) m = metrics_new("1");
        g_autofree char *text = NULL;
        gint64 now = g_get_monotonic_time();

        metrics_api_request(m, "PATCH", 200, now);
        metrics_api_request(m, "PATCH", 409, now);
        metrics_api_request(m, "GET", 418, now);
        metrics_api_request(m, "GET", 0, now);
        metrics_api_request(m, "BREW", 599, now);
        metrics_conflict_retried(m);
        metrics_watch_connected(m, "/api/v1/persistentvolumes", TRUE);
        metrics_watch_restart(m, "/api/v1/persistentvolumes", FALSE);
        metrics_watch_restart(m, "/api/v1/persistentvolumes", TRUE);
        metrics_watch_relist(m, "/api/v1/nodes");
        metrics_watch_connected(m, "/apis/example/v1/widgets", FALSE);
        text = render(m);
        g_assert_cmpint(
            sample(text, "srvlab_attachment_api_requests_total{method=\"PATCH\",code=\"200\"}"), ==,
            1);
        g_assert_cmpint(
            sample(text, "srvlab_attachment_api_requests_total{method=\"PATCH\",code=\"409\"}"), ==,
            1);
        g_assert_cmpint(
            sample(text, "srvlab_attachment_api_requests_total{method=\"GET\",code=\"4xx\"}"), ==,
            1);
        g_assert_cmpint(
            sample(text, "srvlab_attachment_api_requests_total{method=\"GET\",code=\"none\"}"), ==,
            1);
        g_assert_cmpint(
            sample(text, "srvlab_attachment_api_requests_total{method=\"other\",code=\"5xx\"}"), ==,
            1);
        /* Only what happened: no zero rows for the other codes. */
        g_assert_cmpint(
            sample(text, "srvlab_attachment_api_requests_total{method=\"PUT\",code=\"200\"}"), ==,
            -1);
        g_assert_cmpint(sample(text, "srvlab_attachment_api_request_duration_seconds_count{method="
                                     "\"PATCH\"}"),
                        ==, 2);
        g_assert_cmpint(sample(text, "srvlab_attachment_conflicts_retried_total"), ==, 1);
        g_assert_cmpint(
            sample(text, "srvlab_attachment_watch_connected{resource=\"persistentvolumes\"}"), ==,
            1);
        g_assert_cmpint(sample(text, "srvlab_attachment_watch_restarts_total{resource="
                                     "\"persistentvolumes\",cause=\"ended\"}"),
                        ==, 1);
        g_assert_cmpint(sample(text, "srvlab_attachment_watch_restarts_total{resource="
                                     "\"persistentvolumes\",cause=\"failed\"}"),
                        ==, 1);
        g_assert_cmpint(sample(text, "srvlab_attachment_watch_relists_total{resource=\"nodes\"}"),
                        ==, 1);
        g_assert_cmpint(sample(text, "srvlab_attachment_watch_connected{resource=\"other\"}"), ==,
                        0);
}

static void collect(Metrics *m, gpointer user_data)
{
        metrics_set(m, METRIC_ATTACHMENTS, 0, GPOINTER_TO_INT(user_data));
}

static void test_collector_and_null(void)
{
        g_autoptr(Metrics) m = metrics_new("1");
        g_autofree char *text = NULL;
        GString *empty;

        metrics_set_collector(m, collect, GINT_TO_POINTER(42));
        text = render(m);
        g_assert_cmpint(sample(text, "srvlab_attachment_attachments"), ==, 42);
        /* Out of range and NULL: ignored. */
        metrics_add(m, METRIC_OPERATIONS, 100000, 1);
        metrics_observe_usec(m, METRIC_ATTACHMENTS, 0, 5);
        g_assert_cmpint(metrics_get(m, METRIC_ATTACHMENTS, 0), ==, 42);
        metrics_operation(NULL, METRICS_OP_TRACK, NULL, 0);
        metrics_api_request(NULL, "GET", 200, 0);
        metrics_watch_connected(NULL, "/x", TRUE);
        empty = metrics_render(NULL);
        g_assert_cmpuint(empty->len, ==, 0);
        g_string_free(empty, TRUE);
}

#define N_THREADS 4
#define N_PER_THREAD 20000

static gpointer hammer(gpointer data)
{
        Metrics *m = data;

        for (guint i = 0; i < N_PER_THREAD; i++) {
                metrics_operation(m, METRICS_OP_UNTRACK, NULL, g_get_monotonic_time());
                metrics_api_request(m, "GET", 200, g_get_monotonic_time());
        }
        return NULL;
}

/* Wait-free updates lose nothing, and a histogram's count always equals its +Inf bucket. */
static void test_threads(void)
{
        g_autoptr(Metrics) m = metrics_new("1");
        GThread *threads[N_THREADS];
        guint series = METRICS_OP_UNTRACK * 10; /* outcome "ok" of Untrack (10 outcomes) */

        for (guint i = 0; i < N_THREADS; i++)
                threads[i] = g_thread_new("hammer", hammer, m);
        for (guint i = 0; i < 20; i++) {
                g_autofree char *text = render(m);
                gint64 inf = sample(text, "srvlab_attachment_operation_duration_seconds_bucket{"
                                          "method=\"Untrack\",le=\"+Inf\"}");
                g_assert_cmpint(inf, ==,
                                sample(text, "srvlab_attachment_operation_duration_seconds_count{"
                                             "method=\"Untrack\"}"));
        }
        for (guint i = 0; i < N_THREADS; i++)
                g_thread_join(threads[i]);
        g_assert_cmpint(metrics_get(m, METRIC_OPERATIONS, series), ==, N_THREADS * N_PER_THREAD);
        g_assert_cmpint(metrics_get(m, METRIC_OPERATION_DURATION, METRICS_OP_UNTRACK), ==,
                        N_THREADS * N_PER_THREAD);
}

static void test_address(void)
{
        static const char *const good[] = {"127.0.0.1:9471", "[::1]:9471", "0.0.0.0:1",
                                           "[::]:65535", "10.1.2.3:80"};
        static const char *const bad[] = {
            "",         "127.0.0.1",    "127.0.0.1:0",      "127.0.0.1:65536",
            "::1:9471", "[::1]9471",    "[127.0.0.1]:9471", "localhost:9471",
            "1.2.3:80", "127.0.0.1:-1", "127.0.0.1:http",   "[::1]:"};

        for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GSocketAddress) a = metrics_address_parse(good[i], &error);

                g_assert_no_error(error);
                g_assert_nonnull(a);
        }
        for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GSocketAddress) a = metrics_address_parse(bad[i], &error);

                g_assert_null(a);
                g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
        }
}

static void test_config(void)
{
        g_auto(Config) c = {0};
        g_autoptr(GError) error = NULL;
        const char *good = "[Attachment]\nMetricsAddress=[::1]:9471\n";
        const char *bad = "[Attachment]\nMetricsAddress=localhost:9471\n";

        config_init(&c);
        g_assert_cmpstr(c.metrics_address, ==, "");
        g_assert_true(config_load_data(&c, good, strlen(good), "a.conf", &error));
        g_assert_no_error(error);
        g_assert_cmpstr(c.metrics_address, ==, "[::1]:9471");
        g_assert_false(config_load_data(&c, bad, strlen(bad), "b.conf", &error));
        g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
        g_assert_nonnull(strstr(error->message, "b.conf: [Attachment] MetricsAddress=localhost"));
        g_assert_nonnull(strstr(error->message, "expected IPv4:PORT or [IPv6]:PORT"));
}

static char *free_address(void)
{
        return g_strdup_printf("127.0.0.1:%u", test_free_port());
}

static guint request(SoupSession *session, const char *method, const char *url, char **body,
                     char **allow)
{
        g_autoptr(SoupMessage) msg = soup_message_new(method, url);
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) data = soup_session_send_and_read(session, msg, NULL, &error);

        g_assert_no_error(error);
        if (body != NULL) {
                gsize len = 0;
                const char *text = g_bytes_get_data(data, &len);

                *body = g_strndup(text != NULL ? text : "", len);
        }
        if (allow != NULL)
                *allow = g_strdup(
                    soup_message_headers_get_one(soup_message_get_response_headers(msg), "Allow"));
        return soup_message_get_status(msg);
}

static void test_server(void)
{
        g_autoptr(Metrics) m = metrics_new("1");
        g_autofree char *address = free_address();
        g_autofree char *base = g_strdup_printf("http://%s", address);
        g_autofree char *url = g_strconcat(base, "/metrics", NULL);
        g_autofree char *other = g_strconcat(base, "/metrics/x", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(MetricsServer) server = metrics_server_new(m, address, &error);
        g_autoptr(MetricsServer) second = NULL;
        g_autoptr(SoupSession) session = soup_session_new();
        g_autofree char *body = NULL;
        g_autofree char *head = NULL;
        g_autofree char *allow = NULL;

        g_assert_no_error(error);
        metrics_conflict_retried(m);
        g_assert_cmpuint(request(session, "GET", url, &body, NULL), ==, 200);
        g_assert_nonnull(strstr(body, "\nsrvlab_attachment_conflicts_retried_total 1\n"));
        g_assert_cmpuint(request(session, "HEAD", url, &head, NULL), ==, 200);
        g_assert_cmpstr(head, ==, "");
        g_assert_cmpuint(request(session, "GET", base, NULL, NULL), ==, 404);
        g_assert_cmpuint(request(session, "GET", other, NULL, NULL), ==, 404);
        g_assert_cmpuint(request(session, "POST", url, NULL, &allow), ==, 405);
        g_assert_cmpstr(allow, ==, "GET, HEAD");
        /* The port is taken: a second server fails, naming the key. */
        second = metrics_server_new(m, address, &error);
        g_assert_null(second);
        g_assert_nonnull(error);
        g_assert_nonnull(strstr(error->message, "MetricsAddress="));
}

static GSocketConnection *connect_to(const char *address)
{
        g_autoptr(GSocketClient) client = g_socket_client_new();
        g_autoptr(GError) error = NULL;
        GSocketConnection *conn = g_socket_client_connect_to_host(client, address, 0, NULL, &error);

        g_assert_no_error(error);
        return conn;
}

/* Whether the server closed `conn` (EOF) within `timeout_sec`, rather than keeping it. */
static gboolean closed_by_server(GSocketConnection *conn, guint timeout_sec)
{
        GSocket *socket = g_socket_connection_get_socket(conn);
        char byte;

        g_socket_set_timeout(socket, timeout_sec);
        return g_socket_receive(socket, &byte, 1, NULL, NULL) == 0;
}

/* Idle connections beyond the cap are closed at once; once they go, scrapes work again. */
static void test_connection_cap(void)
{
        g_autoptr(Metrics) m = metrics_new("1");
        g_autofree char *address = free_address();
        g_autofree char *url = g_strdup_printf("http://%s/metrics", address);
        g_autoptr(GError) error = NULL;
        g_autoptr(MetricsServer) server = metrics_server_new(m, address, &error);
        g_autoptr(GPtrArray) idle = g_ptr_array_new_with_free_func(g_object_unref);
        g_autoptr(GSocketConnection) extra = NULL;
        g_autoptr(SoupSession) session = soup_session_new();

        g_assert_no_error(error);
        for (guint i = 0; i < METRICS_SERVER_MAX_CONNECTIONS; i++)
                g_ptr_array_add(idle, connect_to(address));
        /* Accepted in order: the one beyond the cap is closed, the ones before are kept. */
        extra = connect_to(address);
        g_assert_true(closed_by_server(extra, 30));
        g_assert_false(closed_by_server(idle->pdata[0], 1));
        g_ptr_array_set_size(idle, 0);
        /* The server notices the closed ones as it reads them. */
        for (guint i = 0; i < 100; i++) {
                g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
                g_autoptr(GBytes) data = soup_session_send_and_read(session, msg, NULL, NULL);

                if (soup_message_get_status(msg) == 200)
                        return;
                g_usleep(50000);
        }
        g_assert_not_reached();
}

/* Sends `request` on a fresh connection and reads the answer until the server closes. */
static char *raw_exchange(const char *address, const char *request, gsize length)
{
        g_autoptr(GSocketConnection) conn = connect_to(address);
        GSocket *socket = g_socket_connection_get_socket(conn);
        g_autoptr(GString) answer = g_string_new(NULL);
        char buf[4096];
        gssize n;

        g_socket_set_timeout(socket, 30);
        /* The server may answer and close before it has read everything. */
        g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), request, length,
                                  NULL, NULL, NULL);
        while ((n = g_socket_receive(socket, buf, sizeof(buf), NULL, NULL)) > 0)
                g_string_append_len(answer, buf, n);
        return g_string_free(g_steal_pointer(&answer), FALSE);
}

/* Headers beyond libsoup's 64 KiB: refused; a body on a request: read and thrown away, the
 * answer as for any other request; the connection closed after each, the server unharmed. */
static void test_oversized(void)
{
        g_autoptr(Metrics) m = metrics_new("1");
        g_autofree char *address = free_address();
        g_autoptr(GError) error = NULL;
        g_autoptr(MetricsServer) server = metrics_server_new(m, address, &error);
        g_autoptr(GString) huge = g_string_new("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");
        g_autoptr(GString) post = g_string_new(NULL);
        g_autofree char *answer = NULL;
        g_autofree char *posted = NULL;
        g_autofree char *plain = NULL;

        g_assert_no_error(error);
        for (guint i = 0; i < 70 * 1024; i++)
                g_string_append_c(huge, 'a');
        g_string_append(huge, "\r\n\r\n");
        answer = raw_exchange(address, huge->str, huge->len);
        /* libsoup drops the connection (the unread rest of the request may turn the close into
         * a reset that swallows any answer): never a 200. */
        g_test_message("answer to 70 KiB of headers: \"%.40s\"", answer);
        g_assert_false(g_str_has_prefix(answer, "HTTP/1.1 200 "));

        g_string_append_printf(
            post, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %u\r\n\r\n", 256 * 1024);
        for (guint i = 0; i < 256 * 1024; i++)
                g_string_append_c(post, 'b');
        posted = raw_exchange(address, post->str, post->len);
        g_assert_true(g_str_has_prefix(posted, "HTTP/1.1 405 "));

        plain = raw_exchange(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        g_assert_true(g_str_has_prefix(plain, "HTTP/1.1 200 "));
        g_assert_nonnull(strstr(plain, "\r\nConnection: close\r\n"));
        g_assert_nonnull(strstr(plain, "\nsrvlab_attachment_build_info{version=\"1\"} 1\n"));
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/metrics/fresh", test_fresh);
        g_test_add_func("/metrics/operations", test_operations);
        g_test_add_func("/metrics/api-and-watch", test_api_and_watch);
        g_test_add_func("/metrics/collector-and-null", test_collector_and_null);
        g_test_add_func("/metrics/threads", test_threads);
        g_test_add_func("/metrics/address", test_address);
        g_test_add_func("/metrics/config", test_config);
        g_test_add_func("/metrics/server", test_server);
        g_test_add_func("/metrics/connection-cap", test_connection_cap);
        g_test_add_func("/metrics/oversized", test_oversized);
        return g_test_run();
}
