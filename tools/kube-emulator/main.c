/* kube-emulator: options, loopback-only listening, port file, signals. */
#include "emulator.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
        char *listen;
        int port;
        char *port_file;
        char *token;
        char *tls_cert;
        char *tls_key;
        char *seed;
        int latency_ms;
        int watch_history;
        int bookmark_ms;
        gint64 start_rv;
        gboolean quiet;
} Options;

static void options_clear(Options *o)
{
        g_free(o->listen);
        g_free(o->port_file);
        g_free(o->token);
        g_free(o->tls_cert);
        g_free(o->tls_key);
        g_free(o->seed);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static gboolean parse_options(int *argc, char ***argv, Options *o, GError **error)
{
        const GOptionEntry entries[] = {
            {"listen", 0, 0, G_OPTION_ARG_STRING, &o->listen,
             "Loopback address to listen on (default 127.0.0.1)", "ADDR"},
            {"port", 0, 0, G_OPTION_ARG_INT, &o->port, "Port (default 0: a free one)", "N"},
            {"port-file", 0, 0, G_OPTION_ARG_FILENAME, &o->port_file,
             "Write the port here once listening", "PATH"},
            {"token", 0, 0, G_OPTION_ARG_STRING, &o->token, "Require this bearer token", "TOKEN"},
            {"tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_cert, "Serve HTTPS: certificate",
             "FILE"},
            {"tls-key", 0, 0, G_OPTION_ARG_FILENAME, &o->tls_key, "Serve HTTPS: private key",
             "FILE"},
            {"seed", 0, 0, G_OPTION_ARG_FILENAME, &o->seed,
             "JSON array (or v1 List) of PVs to load", "FILE"},
            {"latency-ms", 0, 0, G_OPTION_ARG_INT, &o->latency_ms,
             "Add this delay to every API request", "N"},
            {"watch-history", 0, 0, G_OPTION_ARG_INT, &o->watch_history,
             "Events kept for watches that resume from an RV (default 10000)", "N"},
            {"bookmark-interval-ms", 0, 0, G_OPTION_ARG_INT, &o->bookmark_ms,
             "BOOKMARK events this often on watches that allow them (default 1000, 0: none)", "MS"},
            {"start-resource-version", 0, 0, G_OPTION_ARG_INT64, &o->start_rv,
             "The resourceVersion before the first write (default 1000)", "RV"},
            {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "Do not log requests", NULL},
            {NULL},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- Kubernetes API emulator");

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, argc, argv, error))
                return FALSE;
        if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
                g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                    "--tls-cert and --tls-key go together");
                return FALSE;
        }
        if (o->port < 0 || o->port > 65535 || o->latency_ms < 0 || o->watch_history < 0 ||
            o->bookmark_ms < 0 || o->start_rv < 1) {
                g_set_error_literal(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                                    "--port, --latency-ms, --watch-history, "
                                    "--bookmark-interval-ms or --start-resource-version out "
                                    "of range");
                return FALSE;
        }
        return TRUE;
}

/* Only loopback: the emulator has no business on a real network. */
static GInetAddress *loopback_address(const char *text, GError **error)
{
        g_autoptr(GInetAddress) addr = NULL;

        if (text == NULL || strcmp(text, "localhost") == 0)
                text = "127.0.0.1";
        addr = g_inet_address_new_from_string(text);
        if (addr == NULL || !g_inet_address_get_is_loopback(addr)) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "refusing to listen on \"%s\": only loopback addresses "
                            "(127.0.0.0/8, ::1, localhost) are allowed",
                            text);
                return NULL;
        }
        return g_steal_pointer(&addr);
}

static gboolean load_seed(Emulator *emu, const char *path, GError **error)
{
        g_autofree char *data = NULL;
        g_autoptr(JsonNode) root = NULL;
        gsize len = 0;
        guint n = 0;

        if (!g_file_get_contents(path, &data, &len, error))
                return FALSE;
        root = json_parse_text(data, len, error);
        if (root == NULL)
                return FALSE;
        return control_load(&emu->pvs, root, &n, error);
}

static guint16 bound_port(SoupServer *server)
{
        GSList *listeners = soup_server_get_listeners(server);
        g_autoptr(GSocketAddress) local = NULL;
        guint16 port = 0;

        if (listeners != NULL)
                local = g_socket_get_local_address(listeners->data, NULL);
        if (local != NULL && G_IS_INET_SOCKET_ADDRESS(local))
                port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
        g_slist_free(listeners);
        return port;
}

/* GLib's default listen backlog is 10: a burst of new connections (16 daemon workers at once,
 * several daemons) would overflow it and each dropped SYN costs the client a second. */
static GSocket *listen_socket(GInetAddress *addr, guint16 port, GError **error)
{
        g_autoptr(GSocketAddress) sockaddr = g_inet_socket_address_new(addr, port);
        g_autoptr(GSocket) sock = g_socket_new(g_inet_address_get_family(addr),
                                               G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, error);

        if (sock == NULL)
                return NULL;
        g_socket_set_listen_backlog(sock, 1024);
        if (!g_socket_bind(sock, sockaddr, TRUE, error) || !g_socket_listen(sock, error))
                return NULL;
        return g_steal_pointer(&sock);
}

static gboolean start_server(Emulator *emu, const Options *o, GError **error)
{
        g_autoptr(GInetAddress) addr = loopback_address(o->listen, error);
        g_autoptr(GSocket) sock = NULL;
        g_autoptr(GTlsCertificate) cert = NULL;
        g_autofree char *addr_text = NULL;
        g_autofree char *port_text = NULL;
        guint16 port;

        if (addr == NULL)
                return FALSE;
        if (o->tls_cert != NULL) {
                cert = g_tls_certificate_new_from_files(o->tls_cert, o->tls_key, error);
                if (cert == NULL)
                        return FALSE;
        }
        emu->server =
            soup_server_new("server-header", "kube-emulator", "tls-certificate", cert, NULL);
        api_register(emu);
        control_register(emu);
        sock = listen_socket(addr, (guint16)o->port, error);
        if (sock == NULL ||
            !soup_server_listen_socket(emu->server, sock,
                                       cert != NULL ? SOUP_SERVER_LISTEN_HTTPS : 0, error))
                return FALSE;
        port = bound_port(emu->server);
        port_text = g_strdup_printf("%u\n", port);
        if (o->port_file != NULL &&
            !g_file_set_contents(o->port_file, port_text, (gssize)strlen(port_text), error))
                return FALSE;
        addr_text = g_inet_address_to_string(addr);
        printf("kube-emulator: listening on %s://%s%s%s:%u\n", cert != NULL ? "https" : "http",
               strchr(addr_text, ':') != NULL ? "[" : "", addr_text,
               strchr(addr_text, ':') != NULL ? "]" : "", port);
        fflush(stdout);
        return TRUE;
}

static gboolean on_signal(gpointer user_data)
{
        g_main_loop_quit(user_data);
        return G_SOURCE_CONTINUE;
}

static void resource_init(Resource *res, const ResourceKind *kind, const Options *o, guint64 *clock)
{
        res->kind = kind;
        res->store = store_new((guint)o->watch_history, kind->kind, clock, kind->namespaced);
        res->watches = watch_hub_new(res->store, kind, (guint)o->bookmark_ms);
        store_set_observer(res->store, watch_hub_dispatch, res->watches);
}

static void emulator_clear(Emulator *emu)
{
        Resource *all[] = EMULATOR_RESOURCES(emu);

        /* The streams first: they hold messages of the server. */
        for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
                g_clear_pointer(&all[i]->watches, watch_hub_free);
        later_free_all(emu);
        if (emu->server != NULL)
                soup_server_disconnect(emu->server);
        g_clear_object(&emu->server);
        g_clear_pointer(&emu->loop, g_main_loop_unref);
        for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
                g_clear_pointer(&all[i]->store, store_free);
        g_clear_pointer(&emu->faults, faults_free);
        g_clear_pointer(&emu->requests, request_log_free);
        g_clear_pointer(&emu->token, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Emulator, emulator_clear)

int main(int argc, char **argv)
{
        g_auto(Options) o = {.watch_history = 10000, .bookmark_ms = 1000, .start_rv = 1000};
        g_auto(Emulator) emu = {0};
        g_autoptr(GError) error = NULL;
        guint sigterm, sigint;

        setlocale(LC_ALL, "");
        if (!parse_options(&argc, &argv, &o, &error)) {
                g_printerr("kube-emulator: %s\n", error->message);
                return 2;
        }
        /* A fresh server does not start at 0; neither do we, so "0" is never a valid RV. */
        emu.rv = (guint64)o.start_rv;
        resource_init(&emu.pvs, &kind_pv, &o, &emu.rv);
        resource_init(&emu.nodes, &kind_node, &o, &emu.rv);
        resource_init(&emu.events, &kind_event, &o, &emu.rv);
        emu.faults = faults_new();
        emu.requests = request_log_new(1000);
        emu.token = o.token != NULL && *o.token != '\0' ? g_strdup(o.token) : NULL;
        emu.latency_ms = (guint)o.latency_ms;
        emu.quiet = o.quiet;
        emu.loop = g_main_loop_new(NULL, FALSE);
        if (o.seed != NULL && !load_seed(&emu, o.seed, &error)) {
                g_printerr("kube-emulator: --seed %s: %s\n", o.seed, error->message);
                return 2;
        }
        if (!start_server(&emu, &o, &error)) {
                g_printerr("kube-emulator: %s\n", error->message);
                return g_error_matches(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE) ? 2 : 1;
        }
        sigterm = g_unix_signal_add(SIGTERM, on_signal, emu.loop);
        sigint = g_unix_signal_add(SIGINT, on_signal, emu.loop);
        g_main_loop_run(emu.loop);
        g_source_remove(sigterm);
        g_source_remove(sigint);
        return EXIT_SUCCESS;
}
