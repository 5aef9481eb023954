/* SPDX-License-Identifier: MIT */
#include "metrics-server.h"

#include <libsoup/soup.h>
#include <string.h>

#include "tsan.h"

#define METRICS_PATH "/metrics"

struct _MetricsServer {
        Metrics *metrics;
        GSocketAddress *address;
        GMainContext *context;
        GMainLoop *loop;
        GThread *thread;
        /* The start-up handshake: the thread binds, then reports. */
        GMutex lock;
        GCond started_cond;
        gboolean started;
        GError *start_error;
        /* The server thread's own. */
        SoupServer *server;
        GSocketService *service;
        GHashTable *connections; /* GSocketConnection* (weak) -> its deadline, a GSource* */
};

static GSocketAddress *parse_fail(GError **error)
{
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            "expected IPv4:PORT or [IPv6]:PORT with an IP address and a port "
                            "of 1..65535, e.g. 127.0.0.1:9471 or [::1]:9471");
        return NULL;
}

GSocketAddress *metrics_address_parse(const char *text, GError **error)
{
        g_autofree char *host = NULL;
        g_autoptr(GInetAddress) inet = NULL;
        const char *port_text;
        gboolean v6 = text[0] == '[';
        guint64 port;

        if (v6) {
                const char *end = strstr(text, "]:");

                if (end == NULL)
                        return parse_fail(error);
                host = g_strndup(text + 1, (gsize)(end - text - 1));
                port_text = end + 2;
        } else {
                const char *colon = strrchr(text, ':');

                if (colon == NULL)
                        return parse_fail(error);
                host = g_strndup(text, (gsize)(colon - text));
                port_text = colon + 1;
        }
        inet = g_inet_address_new_from_string(host);
        if (inet == NULL ||
            g_inet_address_get_family(inet) != (v6 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4) ||
            !g_ascii_string_to_unsigned(port_text, 10, 1, 65535, &port, NULL))
                return parse_fail(error);
        return g_inet_socket_address_new(inet, (guint16)port);
}

static void on_request(SoupServer *server, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer user_data)
{
        MetricsServer *self = user_data;
        GString *text;
        gsize len;

        if (soup_server_message_get_status(msg) != 0)
                return;
        text = metrics_render(self->metrics);
        len = text->len;
        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        soup_server_message_set_response(msg, METRICS_CONTENT_TYPE, SOUP_MEMORY_TAKE,
                                         g_string_free(text, FALSE), len);
}

static void reject(SoupServerMessage *msg, guint status, const char *text)
{
        soup_server_message_set_status(msg, status, NULL);
        soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC, text,
                                         strlen(text));
}

/* After the headers, before any body: decides everything but the exposition, so that no
 * request body is ever kept. */
static void on_early(SoupServer *server, SoupServerMessage *msg, const char *path,
                     GHashTable *query, gpointer user_data)
{
        const char *method = soup_server_message_get_method(msg);
        SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);

        soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
        soup_message_headers_replace(headers, "Connection", "close");
        if (!g_str_equal(path, METRICS_PATH)) {
                reject(msg, SOUP_STATUS_NOT_FOUND, "Not found: the only path is /metrics\n");
        } else if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
                soup_message_headers_replace(headers, "Allow", "GET, HEAD");
                reject(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Method not allowed: GET or HEAD\n");
        }
}

static void on_connection_gone(gpointer data, GObject *where_the_object_was)
{
        MetricsServer *self = data;

        g_hash_table_remove(self->connections, where_the_object_was);
}

static gboolean on_deadline(gpointer data)
{
        GSocketConnection *conn = data;

        /* Shut down, not closed: libsoup sees its next read or write fail and lets go. */
        g_socket_shutdown(g_socket_connection_get_socket(conn), TRUE, TRUE, NULL);
        return G_SOURCE_REMOVE;
}

/* The deadline goes with its connection (on_connection_gone): a timer outliving it would keep
 * its memory until it fired, DEADLINE_SEC's worth of connections under a stream of short
 * ones. */
static GSource *arm_deadline(MetricsServer *self, GSocketConnection *conn)
{
        GSource *source = g_timeout_source_new_seconds(METRICS_SERVER_DEADLINE_SEC);

        g_source_set_callback(source, on_deadline, conn, NULL);
        g_source_attach(source, self->context);
        return source;
}

static void deadline_cancel(gpointer source)
{
        g_source_destroy(source);
        g_source_unref(source);
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
                            gpointer user_data)
{
        MetricsServer *self = user_data;
        g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(conn, NULL);
        g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(conn, NULL);

        if (g_hash_table_size(self->connections) >= METRICS_SERVER_MAX_CONNECTIONS ||
            local == NULL || remote == NULL) {
                g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
                return TRUE;
        }
        g_socket_set_timeout(g_socket_connection_get_socket(conn), METRICS_SERVER_IO_TIMEOUT_SEC);
        g_hash_table_insert(self->connections, conn, arm_deadline(self, conn));
        g_object_weak_ref(G_OBJECT(conn), on_connection_gone, self);
        soup_server_accept_iostream(self->server, G_IO_STREAM(conn), local, remote, NULL);
        return TRUE;
}

static gboolean server_setup(MetricsServer *self, GError **error)
{
        g_autoptr(GSocketAddress) effective = NULL;

        self->server = soup_server_new(NULL, NULL);
        /* A request goes to the handler of the longest matching path, and only its early
         * callback runs: both paths get it. */
        soup_server_add_early_handler(self->server, NULL, on_early, self, NULL);
        soup_server_add_early_handler(self->server, METRICS_PATH, on_early, self, NULL);
        soup_server_add_handler(self->server, METRICS_PATH, on_request, self, NULL);
        self->service = g_socket_service_new();
        g_socket_listener_set_backlog(G_SOCKET_LISTENER(self->service),
                                      METRICS_SERVER_MAX_CONNECTIONS);
        g_signal_connect(self->service, "incoming", G_CALLBACK(on_incoming), self);
        if (!g_socket_listener_add_address(G_SOCKET_LISTENER(self->service), self->address,
                                           G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                           &effective, error))
                return FALSE;
        g_socket_service_start(self->service);
        return TRUE;
}

static void server_teardown(MetricsServer *self)
{
        GHashTableIter iter;
        gpointer conn;

        if (self->service != NULL) {
                g_socket_service_stop(self->service);
                g_socket_listener_close(G_SOCKET_LISTENER(self->service));
        }
        if (self->server != NULL)
                soup_server_disconnect(self->server);
        /* What the disconnection released is freed as the context runs. */
        for (guint i = 0; i < 100 && g_main_context_iteration(self->context, FALSE); i++)
                ;
        g_clear_object(&self->server);
        g_clear_object(&self->service);
        g_hash_table_iter_init(&iter, self->connections);
        while (g_hash_table_iter_next(&iter, &conn, NULL))
                g_object_weak_unref(conn, on_connection_gone, self);
        g_hash_table_remove_all(self->connections);
}

static gpointer server_thread(gpointer data)
{
        MetricsServer *self = data;
        g_autoptr(GError) error = NULL;
        gboolean ok;

        g_main_context_push_thread_default(self->context);
        ok = server_setup(self, &error);
        tsan_mutex_lock(&self->lock);
        self->started = TRUE;
        self->start_error = g_steal_pointer(&error);
        g_cond_signal(&self->started_cond);
        tsan_mutex_unlock(&self->lock);
        if (ok)
                g_main_loop_run(self->loop);
        server_teardown(self);
        g_main_context_pop_thread_default(self->context);
        return NULL;
}

static gboolean quit_loop(gpointer data)
{
        g_main_loop_quit(data);
        return G_SOURCE_REMOVE;
}

void metrics_server_free(MetricsServer *self)
{
        if (self == NULL)
                return;
        if (self->thread != NULL) {
                /* Through the loop's own context: a quit before g_main_loop_run would be lost. */
                g_autoptr(GSource) idle = g_idle_source_new();

                g_source_set_callback(idle, quit_loop, self->loop, NULL);
                g_source_attach(idle, self->context);
                g_thread_join(self->thread);
        }
        g_clear_error(&self->start_error);
        g_hash_table_unref(self->connections);
        g_main_loop_unref(self->loop);
        g_main_context_unref(self->context);
        g_object_unref(self->address);
        g_cond_clear(&self->started_cond);
        g_mutex_clear(&self->lock);
        g_free(self);
}

MetricsServer *metrics_server_new(Metrics *metrics, const char *address, GError **error)
{
        g_autoptr(MetricsServer) self = NULL;
        g_autoptr(GSocketAddress) parsed = metrics_address_parse(address, error);
        gboolean failed;

        if (parsed == NULL)
                return NULL;
        self = g_new0(MetricsServer, 1);
        self->metrics = metrics;
        self->address = g_steal_pointer(&parsed);
        self->context = g_main_context_new();
        self->loop = g_main_loop_new(self->context, FALSE);
        self->connections = g_hash_table_new_full(NULL, NULL, NULL, deadline_cancel);
        g_mutex_init(&self->lock);
        g_cond_init(&self->started_cond);
        self->thread = g_thread_new("metrics", server_thread, self);
        tsan_mutex_lock(&self->lock);
        while (!self->started)
                tsan_cond_wait(&self->started_cond, &self->lock);
        failed = self->start_error != NULL;
        tsan_mutex_unlock(&self->lock);
        if (failed) {
                g_propagate_prefixed_error(error, g_steal_pointer(&self->start_error),
                                           "MetricsAddress=%s: ", address);
                return NULL;
        }
        return g_steal_pointer(&self);
}
