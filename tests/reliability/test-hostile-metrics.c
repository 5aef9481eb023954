/* SPDX-License-Identifier: MIT */
/* Hostile clients of the metrics endpoint (issue 16 item 5), against a running daemon: many
 * idle connections, slow readers, oversized requests. What bounds them is in
 * service/metrics-server.h: METRICS_SERVER_MAX_CONNECTIONS at once (the rest closed at once),
 * a connection making no progress for METRICS_SERVER_IO_TIMEOUT_SEC or older than
 * METRICS_SERVER_DEADLINE_SEC is closed, 64 KiB of headers. Each test asserts, while the attack
 * lasts, that the daemon is up and answers Track, Get and Untrack, and that its connections on
 * the metrics port, its fds and its RSS stay within the cap; once the attack ends, that the
 * daemon let go of everything itself and that a normal scrape succeeds. A stream of 10,000
 * short scrapes must leave the daemon's RSS where it was.
 *
 * A slow reader costs the daemon no more than the write: on loopback its answer (~30 KiB) fits
 * the kernel's send buffer at once, and the daemon closes its end while the client has read
 * nothing. The test shows that rather than assuming it: the daemon's connections fall to 0
 * while the slow clients still hold theirs.
 *
 * The daemon's connections on the metrics port are counted from outside: its fds that are
 * sockets, matched by inode against /proc/PID/net/tcp (a socket the daemon closed with data
 * still unsent is the kernel's, with inode 0, and no longer counts). */
#include "rel-common.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "service/metrics-server.h"
#include "tests/free-port.h"

#define CAP METRICS_SERVER_MAX_CONNECTIONS
/* The daemon's other fds may move by a few while it works (a timerfd, an eventfd), and an
 * accepted connection beyond the cap lives until the metrics thread closes it. */
#define FD_SLACK 4
/* Waiting for the daemon's own timeouts: its deadline, and room for a loaded machine. */
#define DAEMON_CLOSES_SEC (METRICS_SERVER_DEADLINE_SEC + 15)
/* What the attacks may add to the daemon's RSS: the cap's worth of buffers is well below. */
#define RSS_SLACK_KIB (16 * 1024)
#define SCRAPE "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
#define TCP_LISTEN 0x0A

typedef struct {
        Fixture *f;
        guint port;
        guint base_fds;
        guint64 base_rss_kib;
} Target;

/* ---- the daemon seen from /proc ---- */

static guint count_fds(GPid pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/fd", pid);
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        guint n = 0;

        g_assert_nonnull(dir);
        while (g_dir_read_name(dir) != NULL)
                n++;
        return n;
}

/* The inodes of pid's sockets. */
static GHashTable *socket_inodes(GPid pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/fd", pid);
        g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
        GHashTable *inodes = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
        const char *name;

        g_assert_nonnull(dir);
        while ((name = g_dir_read_name(dir)) != NULL) {
                g_autofree char *fd = g_build_filename(path, name, NULL);
                g_autofree char *target = g_file_read_link(fd, NULL);
                gint64 inode;

                if (target != NULL && sscanf(target, "socket:[%" G_GINT64_FORMAT "]", &inode) == 1)
                        g_hash_table_add(inodes, g_memdup2(&inode, sizeof(inode)));
        }
        return inodes;
}

/* pid's TCP connections whose local port is `port` (its listening socket aside). */
static guint port_connections(GPid pid, guint port)
{
        g_autoptr(GHashTable) inodes = socket_inodes(pid);
        g_autofree char *path = g_strdup_printf("/proc/%d/net/tcp", pid);
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        guint n = 0;

        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 1; lines[i] != NULL; i++) {
                unsigned local_port, state;
                gint64 inode;

                /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
                if (sscanf(lines[i],
                           " %*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*s %*s %" G_GINT64_FORMAT,
                           &local_port, &state, &inode) == 3 &&
                    local_port == port && state != TCP_LISTEN &&
                    g_hash_table_contains(inodes, &inode))
                        n++;
        }
        return n;
}

/* ---- clients ---- */

/* A TCP connection to the metrics port; rcvbuf > 0 sets SO_RCVBUF before the handshake. */
static GSocket *dial(guint port, int rcvbuf)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocket) s =
            g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) to = g_inet_socket_address_new(lo, (guint16)port);

        g_assert_no_error(error);
        if (rcvbuf > 0)
                g_assert_true(g_socket_set_option(s, SOL_SOCKET, SO_RCVBUF, rcvbuf, NULL));
        /* A full accept queue drops SYNs: the handshake is retried, never refused. */
        g_socket_set_timeout(s, FIXTURE_WAIT_SEC);
        g_socket_connect(s, to, NULL, &error);
        g_assert_no_error(error);
        return g_steal_pointer(&s);
}

/* Sends what the daemon takes; FALSE when it closed the connection first. */
static gboolean send_all(GSocket *s, const char *data, gsize len)
{
        while (len > 0) {
                gssize n = g_socket_send(s, data, len, NULL, NULL);

                if (n <= 0)
                        return FALSE;
                data += n;
                len -= (gsize)n;
        }
        return TRUE;
}

/* Whether the daemon ends the connection within timeout_usec: a read reaches the end or a
 * reset. What it sent before is appended to `answer` (may be NULL). */
static gboolean ended_by_daemon(GSocket *s, gint64 timeout_usec, GString *answer)
{
        gint64 end = g_get_monotonic_time() + timeout_usec;
        char buf[4096];

        for (;;) {
                g_autoptr(GError) error = NULL;
                gint64 left = MAX(end - g_get_monotonic_time(), 0);
                gssize n;

                if (!g_socket_condition_timed_wait(s, G_IO_IN | G_IO_HUP | G_IO_ERR, left, NULL,
                                                   NULL))
                        return FALSE;
                n = g_socket_receive_with_blocking(s, buf, sizeof(buf), FALSE, NULL, &error);
                if (n == 0)
                        return TRUE;
                if (n > 0 && answer != NULL)
                        g_string_append_len(answer, buf, n);
                if (n < 0 && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                        return TRUE;
        }
}

/* Sends `request` on a fresh connection and returns all the daemon answers. */
static char *exchange(guint port, const char *request, gsize len)
{
        g_autoptr(GSocket) s = dial(port, 0);
        g_autoptr(GString) answer = g_string_new(NULL);

        /* The daemon may answer and close before it has read everything. */
        send_all(s, request, len);
        g_assert_true(ended_by_daemon(s, DAEMON_CLOSES_SEC * G_USEC_PER_SEC, answer));
        return g_string_free(g_steal_pointer(&answer), FALSE);
}

/* A plain scrape succeeds. A connection the client closed frees its place once the metrics
 * thread reads the end: a scrape turned away (closed unanswered) in that moment is retried. */
static void assert_scrape(Target *t)
{
        for (guint i = 0;; i++) {
                g_autofree char *answer = exchange(t->port, SCRAPE, strlen(SCRAPE));

                if (g_str_has_prefix(answer, "HTTP/1.1 200 ")) {
                        g_assert_nonnull(strstr(answer, "\nsrvlab_attachment_build_info{"));
                        return;
                }
                g_assert_cmpstr(answer, ==, "");
                g_assert_cmpuint(i, <, 100);
                g_usleep(G_USEC_PER_SEC / 10);
        }
}

/* ---- the daemon under attack ---- */

static Target *target_new(void)
{
        Target *t = g_new0(Target, 1);
        g_autofree char *extra = NULL;
        FixtureOptions opts = {0};

        t->port = test_free_port();
        extra = g_strdup_printf("MetricsAddress=127.0.0.1:%u\n", t->port);
        opts.extra_config = extra;
        t->f = fixture_new(&opts);
        assert_scrape(t);
        t->base_fds = count_fds(t->f->daemon_pid);
        t->base_rss_kib = rel_rss_kib(t->f->daemon_pid);
        return t;
}

static void target_free(Target *t)
{
        fixture_free(t->f);
        g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Target, target_free)

/* Track, Get and Untrack of `volume` are answered as ever. */
static void assert_bus_serves(Target *t, const char *volume)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *node = NULL;

        fixture_track_ok(t->f, volume, "node-hostile");
        node = fixture_get(t->f, volume, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(node, ==, "node-hostile");
        fixture_untrack_ok(t->f, volume);
        fixture_assert_not_attached(t->f, volume);
}

/* Up, and holding no more than the cap allows. */
static void assert_bounded(Target *t, const char *when)
{
        GPid pid = t->f->daemon_pid;
        guint conns = port_connections(pid, t->port);
        guint fds = count_fds(pid);
        guint64 rss = rel_rss_kib(pid);

        g_test_message(
            "%s: %u connections on the metrics port, %u fds (%u before), RSS %" G_GUINT64_FORMAT
            " KiB (%" G_GUINT64_FORMAT " before)",
            when, conns, fds, t->base_fds, rss, t->base_rss_kib);
        g_assert_true(rel_daemon_up(t->f));
        g_assert_cmpuint(conns, <=, CAP);
        g_assert_cmpuint(fds, <=, t->base_fds + CAP + FD_SLACK);
        /* Not under ASan: its quarantine keeps freed memory resident. */
        if (g_strcmp0(g_getenv("SRVLAB_SANITIZE"), "none") == 0)
                g_assert_cmpuint(rss, <=, t->base_rss_kib + RSS_SLACK_KIB);
}

static gboolean let_go(gpointer data)
{
        Target *t = data;

        return port_connections(t->f->daemon_pid, t->port) == 0 &&
               count_fds(t->f->daemon_pid) <= t->base_fds + FD_SLACK;
}

/* The daemon closed every connection on the metrics port and is back to its fds, then a
 * scrape succeeds. */
static void assert_recovered(Target *t)
{
        g_assert_true(fixture_wait_for(let_go, t, DAEMON_CLOSES_SEC));
        assert_bounded(t, "after");
        assert_scrape(t);
}

static guint count_ended(GPtrArray *socks)
{
        guint n = 0;

        for (guint i = 0; i < socks->len; i++)
                n += ended_by_daemon(socks->pdata[i], 0, NULL);
        return n;
}

typedef struct {
        GPtrArray *socks;
        guint at_least;
} Ending;

static gboolean enough_ended(gpointer data)
{
        Ending *e = data;

        return count_ended(e->socks) >= e->at_least;
}

/* ---- many idle connections ---- */

#define MANY 64

static GPtrArray *dial_idle(Target *t)
{
        GPtrArray *socks = g_ptr_array_new_with_free_func(g_object_unref);

        for (guint i = 0; i < MANY; i++) {
                GSocket *s = dial(t->port, 0);

                /* Half send the start of a request line, then nothing more. */
                if (i % 2 == 1)
                        send_all(s, "GET /metr", 9);
                g_ptr_array_add(socks, s);
        }
        return socks;
}

/* 64 connections that send nothing or half a request line and never close: all but the cap's
 * worth are closed at once, the bus is served meanwhile, the daemon's own timeouts close the
 * ones it kept, and a scrape works again. */
static void test_idle(void)
{
        g_autoptr(Target) t = target_new();
        g_autoptr(GPtrArray) idle = dial_idle(t);
        Ending beyond_cap = {idle, MANY - CAP};
        Ending all = {idle, MANY};

        assert_bounded(t, "64 idle connections");
        assert_bus_serves(t, "hm-idle-0");
        g_assert_true(fixture_wait_for(enough_ended, &beyond_cap, DAEMON_CLOSES_SEC));
        assert_bounded(t, "the connections beyond the cap closed");
        assert_bus_serves(t, "hm-idle-1");
        g_assert_true(fixture_wait_for(enough_ended, &all, DAEMON_CLOSES_SEC));
        assert_recovered(t);
        assert_bus_serves(t, "hm-idle-2");
}

/* The same connections, closed by the client (half of them with a reset): the daemon lets go
 * of each as it reads the end. */
static void test_idle_client_gone(void)
{
        g_autoptr(Target) t = target_new();
        g_autoptr(GPtrArray) idle = dial_idle(t);

        assert_bounded(t, "64 idle connections");
        assert_bus_serves(t, "hm-gone-0");
        for (guint i = 0; i < idle->len; i++) {
                struct linger reset = {.l_onoff = 1, .l_linger = 0};

                if (i % 2 == 0)
                        g_assert_cmpint(setsockopt(g_socket_get_fd(idle->pdata[i]), SOL_SOCKET,
                                                   SO_LINGER, &reset, sizeof(reset)),
                                        ==, 0);
        }
        g_ptr_array_set_size(idle, 0);
        assert_recovered(t);
        assert_bus_serves(t, "hm-gone-1");
}

/* ---- slow readers ---- */

typedef struct {
        GPtrArray *socks;
        gint stop;
        guint64 bytes;
} Trickle;

/* One byte from each, every 100 ms. */
static gpointer trickle_thread(gpointer data)
{
        Trickle *tr = data;

        while (!g_atomic_int_get(&tr->stop)) {
                for (guint i = 0; i < tr->socks->len; i++) {
                        char byte;

                        if (g_socket_receive_with_blocking(tr->socks->pdata[i], &byte, 1, FALSE,
                                                           NULL, NULL) == 1)
                                tr->bytes++;
                }
                g_usleep(G_USEC_PER_SEC / 10);
        }
        return NULL;
}

static GSocket *dial_scrape(Target *t, const char *request, gsize len)
{
        GSocket *s = dial(t->port, 1024);

        send_all(s, request, len);
        return s;
}

static guint count_answers(const char *text)
{
        guint n = 0;

        for (const char *at = text; (at = strstr(at, "HTTP/1.1 ")) != NULL; at++)
                n++;
        return n;
}

/* Scrapes that never read their answer (SO_RCVBUF 1 KiB), that read it a byte per 100 ms, and
 * a thousand scrapes sent in one write and never read, beyond the cap too: the daemon keeps no
 * more than the cap's worth, serves the bus, and lets go of each connection itself while the
 * clients still hold theirs. */
static void test_slow_readers(void)
{
        g_autoptr(Target) t = target_new();
        g_autoptr(GPtrArray) mute = g_ptr_array_new_with_free_func(g_object_unref);
        g_autoptr(GString) pipelined = g_string_new(NULL);
        g_autoptr(GString) answer = g_string_new(NULL);
        g_autoptr(GSocket) piped = NULL;
        Trickle tr = {g_ptr_array_new_with_free_func(g_object_unref), 0, 0};
        GThread *thread;

        for (guint i = 0; i < 1000; i++)
                g_string_append(pipelined, SCRAPE);
        piped = dial_scrape(t, pipelined->str, pipelined->len);
        for (guint i = 0; i < CAP / 2; i++)
                g_ptr_array_add(tr.socks, dial_scrape(t, SCRAPE, strlen(SCRAPE)));
        for (guint i = 0; i < 2 * CAP; i++)
                g_ptr_array_add(mute, dial_scrape(t, SCRAPE, strlen(SCRAPE)));
        thread = g_thread_new("trickle", trickle_thread, &tr);
        for (guint round = 0; round < 6; round++) {
                g_autofree char *volume = g_strdup_printf("hm-slow-%u", round);

                assert_bounded(t, "slow readers");
                assert_bus_serves(t, volume);
                g_usleep(G_USEC_PER_SEC / 2);
        }
        assert_recovered(t);
        g_atomic_int_set(&tr.stop, 1);
        g_thread_join(thread);
        g_test_message("the trickling readers read %" G_GUINT64_FORMAT " bytes", tr.bytes);
        g_ptr_array_unref(tr.socks);
        /* One answer to the thousand requests, the connection closed after it. */
        g_assert_true(ended_by_daemon(piped, DAEMON_CLOSES_SEC * G_USEC_PER_SEC, answer));
        g_test_message("pipelined: %zu bytes, %u answers", answer->len, count_answers(answer->str));
        g_assert_cmpuint(count_answers(answer->str), <=, 1);
        assert_bus_serves(t, "hm-slow-end");
}

/* ---- trickled requests ---- */

/* The cap's worth of connections sending a request a byte every 500 ms, never ending it: each
 * read makes progress, so only the daemon's deadline can end them. Meanwhile the bus is
 * served; the daemon ends every one of them itself. */
static void test_trickled_requests(void)
{
        g_autoptr(Target) t = target_new();
        g_autoptr(GPtrArray) slow = g_ptr_array_new_with_free_func(g_object_unref);
        const char *start = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        gint64 begun = g_get_monotonic_time();
        Ending all = {slow, CAP};

        for (guint i = 0; i < CAP; i++)
                g_ptr_array_add(slow, dial(t->port, 0));
        for (guint sent = 0; count_ended(slow) < CAP; sent++) {
                gint64 waited = g_get_monotonic_time() - begun;

                g_assert_cmpint(waited, <, DAEMON_CLOSES_SEC * G_USEC_PER_SEC);
                for (guint i = 0; i < slow->len; i++)
                        g_socket_send(slow->pdata[i], sent < strlen(start) ? start + sent : "a", 1,
                                      NULL, NULL);
                if (sent % 10 == 0) {
                        g_autofree char *volume = g_strdup_printf("hm-trickle-%u", sent);

                        assert_bounded(t, "trickled requests");
                        assert_bus_serves(t, volume);
                }
                g_usleep(G_USEC_PER_SEC / 2);
        }
        g_test_message("the daemon ended the trickled requests after %" G_GINT64_FORMAT " ms",
                       (g_get_monotonic_time() - begun) / 1000);
        g_assert_true(enough_ended(&all));
        assert_recovered(t);
}

/* ---- oversized requests ---- */

/* Not a 200; a 4xx or nothing (the unread rest of the request may turn the daemon's close
 * into a reset that swallows an answer); the connection ended by the daemon. */
static void expect_refused(Target *t, const char *what, const GString *request)
{
        g_autofree char *answer = exchange(t->port, request->str, request->len);

        g_test_message("%s (%zu bytes): answered \"%.40s\"", what, request->len, answer);
        g_assert_false(g_str_has_prefix(answer, "HTTP/1.1 2"));
        if (answer[0] != '\0')
                g_assert_true(g_str_has_prefix(answer, "HTTP/1.1 4"));
        assert_bounded(t, what);
        assert_bus_serves(t, "hm-big");
}

static GString *big_request(const char *head, char fill, const char *tail)
{
        GString *s = g_string_new(head);

        while (s->len < 1024 * 1024)
                g_string_append_c(s, fill);
        g_string_append(s, tail);
        return s;
}

/* A 1 MiB header line, a 1 MiB request line, 1 MiB of short headers, and 16 1 MiB header
 * lines at once. */
static void test_oversized(void)
{
        g_autoptr(Target) t = target_new();
        g_autoptr(GString) line =
            big_request("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ", 'a', "\r\n\r\n");
        g_autoptr(GString) path = big_request("GET /metrics", 'a', " HTTP/1.1\r\nHost: x\r\n\r\n");
        g_autoptr(GString) many = g_string_new("GET /metrics HTTP/1.1\r\nHost: x\r\n");
        g_autoptr(GPtrArray) at_once = g_ptr_array_new_with_free_func(g_object_unref);

        while (many->len < 1024 * 1024)
                g_string_append_printf(many, "X-H%zu: %s\r\n", many->len, "0123456789abcdef");
        g_string_append(many, "\r\n");
        expect_refused(t, "a 1 MiB header line", line);
        expect_refused(t, "a 1 MiB request line", path);
        expect_refused(t, "1 MiB of short headers", many);
        for (guint i = 0; i < 2 * CAP; i++) {
                GSocket *s = dial(t->port, 0);

                send_all(s, line->str, line->len);
                g_ptr_array_add(at_once, s);
        }
        assert_bounded(t, "16 clients with a 1 MiB header line");
        for (guint i = 0; i < at_once->len; i++) {
                g_autoptr(GString) answer = g_string_new(NULL);

                g_assert_true(
                    ended_by_daemon(at_once->pdata[i], DAEMON_CLOSES_SEC * G_USEC_PER_SEC, answer));
                g_assert_false(g_str_has_prefix(answer->str, "HTTP/1.1 2"));
        }
        assert_recovered(t);
        assert_bus_serves(t, "hm-big-end");
}

/* ---- many short connections ---- */

/* A scrape read to the end, then reset by the client: neither end keeps a TIME-WAIT, so that
 * thousands of them use no ports up (nor run into the kernel's handling of a SYN that meets
 * one). */
static void scrape_and_reset(Target *t)
{
        g_autoptr(GSocket) s = dial(t->port, 0);
        g_autoptr(GString) answer = g_string_new(NULL);
        struct linger reset = {.l_onoff = 1, .l_linger = 0};

        send_all(s, SCRAPE, strlen(SCRAPE));
        g_assert_true(ended_by_daemon(s, DAEMON_CLOSES_SEC * G_USEC_PER_SEC, answer));
        g_assert_cmpint(
            setsockopt(g_socket_get_fd(s), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), ==, 0);
        /* Turned away when the daemon has not yet seen the end of the one before. */
        if (answer->len > 0)
                g_assert_true(g_str_has_prefix(answer->str, "HTTP/1.1 200 "));
}

#define CHURN 10000

/* 10,000 scrapes one after the other, as fast as they go: what each connection costs the
 * daemon ends with it, RSS and fds stay where they were after the first thousand. */
static void test_churn(void)
{
        g_autoptr(Target) t = target_new();
        guint64 warm_rss, end_rss;

        for (guint i = 0; i < CHURN / 10; i++)
                scrape_and_reset(t);
        warm_rss = rel_rss_kib(t->f->daemon_pid);
        for (guint i = 0; i < CHURN; i++)
                scrape_and_reset(t);
        end_rss = rel_rss_kib(t->f->daemon_pid);
        g_test_message("RSS %" G_GUINT64_FORMAT " KiB after 1,000 scrapes, %" G_GUINT64_FORMAT
                       " KiB after 10,000 more",
                       warm_rss, end_rss);
        assert_bounded(t, "10,000 scrapes");
        /* Less than 100 bytes a connection: nothing of one outlives it (a timer armed for
         * each one's deadline did, until it fired). */
        if (g_strcmp0(g_getenv("SRVLAB_SANITIZE"), "none") == 0)
                g_assert_cmpuint(end_rss, <, warm_rss + CHURN * 100 / 1024);
        assert_recovered(t);
        assert_bus_serves(t, "hm-churn");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/hostile-metrics/idle", test_idle);
        g_test_add_func("/hostile-metrics/idle-client-gone", test_idle_client_gone);
        g_test_add_func("/hostile-metrics/slow-readers", test_slow_readers);
        g_test_add_func("/hostile-metrics/trickled-requests", test_trickled_requests);
        g_test_add_func("/hostile-metrics/oversized", test_oversized);
        g_test_add_func("/hostile-metrics/churn", test_churn);
        return g_test_run();
}
