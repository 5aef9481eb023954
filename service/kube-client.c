/* SPDX-License-Identifier: MIT */
#include "kube-client-private.h"

#include <libsoup/soup.h>
#include <string.h>

#include "config-build.h"
#include "kube-auth.h"
#include "kubeconfig.h"
#include "pv.h"
#include "tsan.h"

/* An error body is read only to find the Status message; more than this is not a Status. */
#define MAX_ERROR_BODY_BYTES (1024u * 1024)
#define READ_CHUNK_BYTES (64u * 1024)
/* A Retry-After of 0 must not turn into a busy loop against a server in trouble. */
#define MIN_RETRY_WAIT_USEC (100 * G_TIME_SPAN_MILLISECOND)

/* Not G_DEFINE_QUARK: its name argument is pasted tokens, which a formatter rewrites; and
 * g_quark_from_static_string takes its lock, so workers may call this concurrently. */
GQuark kube_client_error_quark(void)
{
        return g_quark_from_static_string("kube-client-error-quark");
}

gboolean kube_client_error_is_permanent(const GError *error)
{
        if (error == NULL || error->domain != KUBE_CLIENT_ERROR)
                return FALSE;
        switch (error->code) {
        case KUBE_CLIENT_ERROR_UNREACHABLE:
        case KUBE_CLIENT_ERROR_INVALID_RESPONSE:
                return FALSE;
        case KUBE_CLIENT_ERROR_TLS:
        case KUBE_CLIENT_ERROR_CONFIG:
                return TRUE;
        default:
                return error->code != 408 && error->code != 429 && error->code < 500;
        }
}

static gboolean url_fail(GError **error, const char *url, const char *why)
{
        g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG, "Server=%s: %s", url, why);
        return FALSE;
}

/* kube_server_url_check() for a kubeconfig's server: the message names its field. */
static gboolean kubeconfig_url_check(const Kubeconfig *kc, GError **error)
{
        g_autoptr(GError) local = NULL;

        if (kube_server_url_check(kc->server, &local))
                return TRUE;
        g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG, "%s.server: %s",
                    kc->cluster_prefix, local->message + strlen("Server="));
        return FALSE;
}

/* GUri takes "exa mple" as a host; a DNS name or an IP literal never holds such bytes. */
static gboolean host_is_plausible(const char *host)
{
        for (const char *p = host; *p != '\0'; p++)
                if (!g_ascii_isalnum(*p) && strchr("-._:", *p) == NULL)
                        return FALSE;
        return TRUE;
}

static gboolean host_is_loopback(const char *host)
{
        g_autoptr(GInetAddress) address = NULL;

        if (g_ascii_strcasecmp(host, "localhost") == 0)
                return TRUE;
        address = g_inet_address_new_from_string(host);
        return address != NULL && g_inet_address_get_is_loopback(address);
}

gboolean kube_server_url_check(const char *url, GError **error)
{
        g_autoptr(GUri) uri = NULL;
        const char *scheme, *host;

        if (url == NULL || *url == '\0')
                return url_fail(error, "", "empty URL");
        uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
        if (uri == NULL)
                return url_fail(error, url, "not a valid URL; expected https://HOST[:PORT]");
        scheme = g_uri_get_scheme(uri);
        host = g_uri_get_host(uri);
        if (g_ascii_strcasecmp(scheme, "https") != 0 && g_ascii_strcasecmp(scheme, "http") != 0)
                return url_fail(error, url, "unsupported scheme; use https://");
        if (host == NULL || *host == '\0')
                return url_fail(error, url, "no host");
        if (!host_is_plausible(host))
                return url_fail(error, url, "not a valid URL; expected https://HOST[:PORT]");
        if (g_uri_get_userinfo(uri) != NULL)
                return url_fail(error, url,
                                "credentials in the URL are not allowed; use "
                                "TokenFile=");
        if (g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL)
                return url_fail(error, url, "a query or fragment is not allowed");
        if (g_ascii_strcasecmp(scheme, "http") == 0 && !host_is_loopback(host))
                return url_fail(error, url,
                                "plain http is only allowed to a loopback host; "
                                "use https://");
        return TRUE;
}

static char *in_cluster_server(GError **error)
{
        const char *host = g_getenv("KUBERNETES_SERVICE_HOST");
        const char *port = g_getenv("KUBERNETES_SERVICE_PORT");

        if (host == NULL || *host == '\0') {
                g_set_error_literal(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                                    "Server= is empty and KUBERNETES_SERVICE_HOST is not set: "
                                    "not running in a cluster? Set Server=");
                return NULL;
        }
        if (port == NULL || *port == '\0')
                port = "443";
        if (strchr(host, ':') != NULL)
                return g_strdup_printf("https://[%s]:%s", host, port);
        return g_strdup_printf("https://%s:%s", host, port);
}

static SoupSession *session_new(KubeClient *self, const SessionSlot *slot)
{
        g_autofree char *user_agent = g_strdup_printf("srvlab-attachment/%s", PACKAGE_VERSION);
        SoupSession *session = soup_session_new_with_options(
            "max-conns", slot->conns, "max-conns-per-host", slot->conns, "timeout",
            slot->timeout_sec, "user-agent", user_agent,
            /* Straight to the API server: no proxy lookup (glib-networking's libproxy
             * resolver would run on every new connection; it also breaks ASan). */
            "proxy-resolver", NULL, NULL);

        /* Without a CA the session uses the system trust store; verification is never
         * turned off. */
        if (self->database != NULL)
                soup_session_set_tls_database(session, self->database);
        return session;
}

/* The session to send on (a new reference) and the client certificate to present (NULL:
 * none). Kept-alive connections go on presenting the certificate of their handshake, so a
 * replaced certificate gets a new session: the next request opens a new connection with it,
 * and the old session goes when its last request ends. */
static SoupSession *session_acquire(KubeClient *self, SessionSlot *slot,
                                    GTlsCertificate **certificate)
{
        guint generation = 0;
        SoupSession *session;

        tsan_mutex_lock(&self->session_lock);
        *certificate = kube_auth_get_certificate(self->auth, &generation);
        if (slot->session == NULL || generation != slot->generation) {
                g_clear_object(&slot->session);
                slot->session = session_new(self, slot);
                slot->generation = generation;
        }
        session = g_object_ref(slot->session);
        tsan_mutex_unlock(&self->session_lock);
        return session;
}

/* libsoup 3.2 builds each TLS connection with the TLS backend's default database and gives it
 * the session's only then; glib-networking before 2.80 makes each connection a trust list of
 * its own from the database it was built with. Left at the system store, every new connection
 * parsed all of its CA certificates (~0.8 MB in small blocks) to drop them at once, and after
 * the reconnections of an API server restart the heap kept tens of MB it no longer used (issue
 * 16). So the client's CA is the default. It is the process's: the last client made sets it
 * (the daemon makes one); NULL, the system store, puts the backend's own back. */
static void set_default_database(GTlsDatabase *database)
{
        g_tls_backend_set_default_database(g_tls_backend_get_default(), database);
}

/* The server URL: the kubeconfig's, Server=, or in-cluster. */
static char *server_from(const Config *config, const Kubeconfig *kc, GError **error)
{
        g_autofree char *server = NULL;

        if (kc != NULL) {
                if (!kubeconfig_url_check(kc, error))
                        return NULL;
                server = g_strdup(kc->server);
        } else {
                if (config->kube_server != NULL && *config->kube_server != '\0')
                        server = g_strdup(config->kube_server);
                else
                        server = in_cluster_server(error);
                if (server == NULL || !kube_server_url_check(server, error))
                        return NULL;
        }
        while (g_str_has_suffix(server, "/"))
                server[strlen(server) - 1] = '\0';
        return g_steal_pointer(&server);
}

KubeClient *kube_client_new(const Config *config, GError **error)
{
        g_auto(Kubeconfig) kc = {0};
        gboolean use_kubeconfig = config->kube_kubeconfig != NULL && *config->kube_kubeconfig;
        g_autoptr(KubeClient) self = g_new0(KubeClient, 1);
        GTlsCertificate *unused = NULL;

        g_mutex_init(&self->session_lock);
        if (use_kubeconfig &&
            !kubeconfig_load(&kc, config->kube_kubeconfig, config->kube_context, error))
                return NULL;
        self->server = server_from(config, use_kubeconfig ? &kc : NULL, error);
        if (self->server == NULL)
                return NULL;
        self->timeout_sec = MAX(config->request_timeout_sec, 1);
        self->requests =
            (SessionSlot){.conns = MAX(config->workers + 2, 10), .timeout_sec = self->timeout_sec};
        self->watches =
            (SessionSlot){.conns = 4, .timeout_sec = config->watch_timeout_sec + self->timeout_sec};
        self->auth = kube_auth_new(config, use_kubeconfig ? &kc : NULL, error);
        if (self->auth == NULL)
                return NULL;
        self->database = kube_auth_get_database(self->auth);
        set_default_database(self->database);
        g_object_unref(session_acquire(self, &self->requests, &unused));
        g_clear_object(&unused);
        return g_steal_pointer(&self);
}

void kube_client_free(KubeClient *self)
{
        if (self == NULL)
                return;
        g_clear_object(&self->requests.session);
        g_clear_object(&self->watches.session);
        g_clear_object(&self->database);
        g_clear_pointer(&self->auth, kube_auth_free);
        g_free(self->server);
        g_mutex_clear(&self->session_lock);
        g_free(self);
}

static void set_transport_error(KubeClient *self, const GError *cause, GError **error)
{
        if (cause->domain == G_TLS_ERROR)
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_TLS,
                            "TLS with %s failed: %s", self->server, cause->message);
        else
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_UNREACHABLE,
                            "cannot reach %s: %s", self->server, cause->message);
}

static gboolean too_large(KubeClient *self, gsize max_bytes, GError **error)
{
        g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_INVALID_RESPONSE,
                    "response from %s larger than %" G_GSIZE_FORMAT " bytes", self->server,
                    max_bytes);
        return FALSE;
}

/* Reads the whole body, failing as soon as it passes `max_bytes`: a huge or endless body must
 * not take the daemon's memory. */
static GBytes *read_body(KubeClient *self, SoupMessage *msg, GInputStream *stream, gsize max_bytes,
                         GError **error)
{
        goffset declared =
            soup_message_headers_get_content_length(soup_message_get_response_headers(msg));
        g_autoptr(GByteArray) data = g_byte_array_new();
        g_autoptr(GError) local = NULL;

        if (declared > 0 && (guint64)declared > max_bytes) {
                too_large(self, max_bytes, error);
                return NULL;
        }
        for (;;) {
                gsize old = data->len;
                gssize n;

                g_byte_array_set_size(data, old + READ_CHUNK_BYTES);
                n = g_input_stream_read(stream, data->data + old, READ_CHUNK_BYTES, NULL, &local);
                g_byte_array_set_size(data, old + (n > 0 ? (gsize)n : 0));
                if (n < 0) {
                        g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_UNREACHABLE,
                                    "cannot read the response from %s: %s", self->server,
                                    local->message);
                        return NULL;
                }
                if (n == 0)
                        break;
                if (data->len > max_bytes) {
                        too_large(self, max_bytes, error);
                        return NULL;
                }
        }
        return g_byte_array_free_to_bytes(g_steal_pointer(&data));
}

static void set_http_error(SoupMessage *msg, GBytes *body, GError **error)
{
        guint status = soup_message_get_status(msg);
        g_auto(PvStatus) decoded = {0};
        const char *text = NULL;

        if (body != NULL) {
                gsize len;
                const char *data = g_bytes_get_data(body, &len);

                if (pv_status_decode(data != NULL ? data : "", len, &decoded))
                        text = decoded.message != NULL ? decoded.message : decoded.reason;
        }
        if (text == NULL)
                text = soup_message_get_reason_phrase(msg);
        if (text == NULL || *text == '\0')
                text = soup_status_get_phrase(status);
        g_set_error(error, KUBE_CLIENT_ERROR, (gint)status, "HTTP %u: %s", status,
                    text != NULL ? text : "");
}

/* Whole seconds only; an HTTP-date or garbage is ignored (-1). */
static gint64 retry_after_usec(SoupMessage *msg)
{
        const char *value =
            soup_message_headers_get_one(soup_message_get_response_headers(msg), "Retry-After");
        guint64 seconds;

        if (value == NULL || !g_ascii_string_to_unsigned(value, 10, 0, 3600, &seconds, NULL))
                return -1;
        return MAX((gint64)seconds * G_TIME_SPAN_SECOND, MIN_RETRY_WAIT_USEC);
}

/* Before the handshake of each new connection for a message (libsoup hands the TLS connection
 * it created to this signal before its handshake):
 * - ALPN http/1.1 only, never h2. The API server ends an HTTP/2 connection with GOAWAY after
 *   every 401 (its UnauthenticatedHTTP2DOSMitigation sets "Connection: close"), at random with
 *   --goaway-chance (load balancing in HA clusters) and on a graceful shutdown; libsoup before
 *   3.7.1 then fails the requests it already answered with "HTTP/2 Error: NO_ERROR" and no
 *   status (GNOME/libsoup #514), so a 401 is never seen (no token re-read) and a restart fails
 *   in-flight writes. Over HTTP/1.1 those are an ordinary response and a closed connection.
 *   libsoup 3.2 has no public switch for the version.
 * - The client certificate, on the TLS connection itself. Otherwise GnuTLS asks libsoup's
 *   TLS interaction for it during the handshake; that interaction is async only, so from a
 *   worker thread GLib runs it on the global default main context, which nothing in the daemon
 *   iterates: a handshake that finds the context owned by another one's request waits on it.
 *   k8s-race once saw two Tracks hang in their handshake for minutes, past the socket timeout
 *   (so not waiting for the server), until the API server went away. Given the certificate,
 *   GnuTLS never asks. */
static void on_network_event(SoupMessage *msg, GSocketClientEvent event, GIOStream *connection,
                             gpointer certificate)
{
        static const char *const http1_only[] = {"http/1.1", NULL};

        (void)msg;
        if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CONNECTION(connection))
                return;
        g_tls_connection_set_advertised_protocols(G_TLS_CONNECTION(connection), http1_only);
        if (certificate != NULL)
                g_tls_connection_set_certificate(G_TLS_CONNECTION(connection), certificate);
}

static void certificate_unref(gpointer certificate, GClosure *closure)
{
        (void)closure;
        g_clear_object(&certificate);
}

/* The client certificate to present (NULL: none) and on_network_event() for `msg`. */
static void message_set_tls(SoupMessage *msg, GTlsCertificate *certificate)
{
        if (certificate != NULL)
                soup_message_set_tls_client_certificate(msg, certificate);
        g_signal_connect_data(msg, "network-event", G_CALLBACK(on_network_event),
                              certificate != NULL ? g_object_ref(certificate) : NULL,
                              certificate_unref, 0);
}

static SoupMessage *message_new(KubeClient *self, const char *method, const char *path,
                                const char *content_type, const char *body, const char *token,
                                GError **error)
{
        g_autofree char *url = g_strconcat(self->server, path, NULL);
        g_autoptr(SoupMessage) msg = soup_message_new(method, url);
        SoupMessageHeaders *headers;

        if (msg == NULL) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                            "cannot build a request for %s%s", self->server, path);
                return NULL;
        }
        /* A redirect could carry the token to another host. IDEMPOTENT lets writes reuse idle
         * connections (libsoup otherwise opens a new connection for every PATCH and PUT, and
         * Debian's libsoup 3.2 servers leak the closed ones): every write we send is
         * conditional on a resourceVersion, so a replay can only fail with 409, never apply
         * twice. */
        soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT | SOUP_MESSAGE_IDEMPOTENT);
        headers = soup_message_get_request_headers(msg);
        soup_message_headers_replace(headers, "Accept", "application/json");
        if (token != NULL && *token != '\0') {
                g_autofree char *value = g_strconcat("Bearer ", token, NULL);

                soup_message_headers_replace(headers, "Authorization", value);
                memset(value, 0, strlen(value));
        }
        if (body != NULL) {
                g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

                soup_message_set_request_body_from_bytes(msg, content_type, bytes);
        }
        return g_steal_pointer(&msg);
}

typedef struct {
        guint status;
        gint64 retry_after_usec;
} Attempt;

static GBytes *send_once(KubeClient *self, const char *method, const char *path,
                         const char *content_type, const char *body, const char *token,
                         gsize max_bytes, Attempt *attempt, GError **error)
{
        /* Released last: the session may be one a rotation replaced, gone with this ref. */
        g_autoptr(SoupSession) session = NULL;
        g_autoptr(GTlsCertificate) certificate = NULL;
        g_autoptr(SoupMessage) msg = NULL;
        g_autoptr(GInputStream) stream = NULL;
        g_autoptr(GBytes) data = NULL;
        g_autoptr(GError) local = NULL;

        attempt->status = 0;
        attempt->retry_after_usec = -1;
        msg = message_new(self, method, path, content_type, body, token, error);
        if (msg == NULL)
                return NULL;
        session = session_acquire(self, &self->requests, &certificate);
        /* Per message: libsoup 3.2 hands it to the handshake of a new connection. */
        message_set_tls(msg, certificate);
        stream = soup_session_send(session, msg, NULL, &local);
        if (stream == NULL) {
                set_transport_error(self, local, error);
                return NULL;
        }
        attempt->status = soup_message_get_status(msg);
        if (SOUP_STATUS_IS_SUCCESSFUL(attempt->status)) {
                data = read_body(self, msg, stream, max_bytes, error);
                g_input_stream_close(stream, NULL, NULL);
                return g_steal_pointer(&data);
        }
        /* The error body only adds the Status message: a bad one still gives the status. */
        data = read_body(self, msg, stream, MAX_ERROR_BODY_BYTES, NULL);
        g_input_stream_close(stream, NULL, NULL);
        attempt->retry_after_usec = retry_after_usec(msg);
        set_http_error(msg, data, error);
        return NULL;
}

void kube_client_set_metrics(KubeClient *self, Metrics *metrics)
{
        self->metrics = metrics;
}

Metrics *kube_client_get_metrics(KubeClient *self)
{
        return self->metrics;
}

GBytes *kube_client_send(KubeClient *self, const char *method, const char *path,
                         const char *content_type, const char *body, gsize max_bytes, guint *status,
                         GError **error)
{
        gint64 deadline = g_get_monotonic_time() + self->timeout_sec * G_TIME_SPAN_SECOND;
        gboolean token_reread = FALSE;

        for (;;) {
                g_autofree char *token = kube_auth_get_token(self->auth, FALSE);
                g_autoptr(GError) local = NULL;
                Attempt attempt;
                gint64 started = g_get_monotonic_time();
                GBytes *data = send_once(self, method, path, content_type, body, token, max_bytes,
                                         &attempt, &local);

                metrics_api_request(self->metrics, method, attempt.status, started);
                if (token != NULL)
                        memset(token, 0, strlen(token));
                if (status != NULL)
                        *status = attempt.status;
                if (data != NULL)
                        return data;
                if (attempt.status == SOUP_STATUS_UNAUTHORIZED && !token_reread &&
                    kube_auth_has_token_file(self->auth)) {
                        /* The token may have rotated within the stat granularity. */
                        g_autofree char *fresh = kube_auth_get_token(self->auth, TRUE);

                        if (fresh != NULL)
                                memset(fresh, 0, strlen(fresh));
                        token_reread = TRUE;
                        continue;
                }
                if ((attempt.status == 429 || attempt.status == 503) &&
                    attempt.retry_after_usec >= 0 &&
                    g_get_monotonic_time() + attempt.retry_after_usec < deadline) {
                        g_usleep((gulong)attempt.retry_after_usec);
                        continue;
                }
                g_propagate_error(error, g_steal_pointer(&local));
                return NULL;
        }
}

GInputStream *kube_client_open_stream(KubeClient *self, const char *path, GCancellable *cancellable,
                                      GError **error)
{
        for (guint attempt = 0;; attempt++) {
                g_autofree char *token = kube_auth_get_token(self->auth, attempt > 0);
                g_autoptr(GTlsCertificate) certificate = NULL;
                g_autoptr(SoupSession) session =
                    session_acquire(self, &self->watches, &certificate);
                g_autoptr(SoupMessage) msg =
                    message_new(self, "GET", path, NULL, NULL, token, error);
                g_autoptr(GInputStream) stream = NULL;
                g_autoptr(GBytes) data = NULL;
                g_autoptr(GError) local = NULL;
                guint status;
                gint64 started = g_get_monotonic_time();

                if (token != NULL)
                        memset(token, 0, strlen(token));
                if (msg == NULL)
                        return NULL;
                message_set_tls(msg, certificate);
                stream = soup_session_send(session, msg, cancellable, &local);
                if (!g_cancellable_is_cancelled(cancellable))
                        metrics_api_request(self->metrics, "GET", soup_message_get_status(msg),
                                            started);
                if (stream == NULL) {
                        if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                                g_propagate_error(error, g_steal_pointer(&local));
                        else
                                set_transport_error(self, local, error);
                        return NULL;
                }
                status = soup_message_get_status(msg);
                if (SOUP_STATUS_IS_SUCCESSFUL(status)) {
                        /* The stream reads through the message's connection of this session
                         * (which a rotation may replace): keep both alive with it. */
                        g_object_set_data_full(G_OBJECT(stream), "kube-client-message",
                                               g_steal_pointer(&msg), g_object_unref);
                        g_object_set_data_full(G_OBJECT(stream), "kube-client-session",
                                               g_steal_pointer(&session), g_object_unref);
                        return g_steal_pointer(&stream);
                }
                data = read_body(self, msg, stream, MAX_ERROR_BODY_BYTES, NULL);
                g_input_stream_close(stream, NULL, NULL);
                /* The token may have rotated within the stat granularity: re-read it once. */
                if (status == SOUP_STATUS_UNAUTHORIZED && attempt == 0 &&
                    kube_auth_has_token_file(self->auth))
                        continue;
                set_http_error(msg, data, error);
                return NULL;
        }
}
