/* SPDX-License-Identifier: MIT */
#include "tls-server.h"

/* glib-networking's server connections accept no client certificate by themselves: this
 * handler is where the server's verification result becomes the decision. */
static gboolean on_accept_certificate(SoupServerMessage *msg, GTlsCertificate *peer,
                                      GTlsCertificateFlags errors, gpointer user_data)
{
        TlsServer *s = user_data;
        g_autofree char *subject = g_tls_certificate_get_subject_name(peer);

        g_mutex_lock(&s->lock);
        g_ptr_array_add(s->handshakes,
                        g_strdup_printf("%s%s", errors == 0 ? "" : "refused ", subject));
        g_mutex_unlock(&s->lock);
        return errors == 0;
}

static void on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
        g_signal_connect(msg, "accept-certificate", G_CALLBACK(on_accept_certificate), user_data);
}

static void on_request(SoupServer *server, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer user_data)
{
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_STATIC, "{}", 2);
}

static gpointer server_thread(gpointer user_data)
{
        TlsServer *s = user_data;
        g_autofree char *cert = g_build_filename(s->dir, "cert.pem", NULL);
        g_autofree char *key = g_build_filename(s->dir, "key.pem", NULL);
        g_autofree char *ca = g_build_filename(s->dir, "ca.pem", NULL);
        g_autoptr(GTlsCertificate) certificate = NULL;
        g_autoptr(GTlsDatabase) database = NULL;
        g_autoptr(GError) error = NULL;
        GSList *uris;

        g_main_context_push_thread_default(s->context);
        certificate = g_tls_certificate_new_from_files(cert, key, &error);
        g_assert_no_error(error);
        database = g_tls_file_database_new(ca, &error);
        g_assert_no_error(error);
        s->server = soup_server_new("tls-certificate", certificate, "tls-database", database,
                                    "tls-auth-mode", G_TLS_AUTHENTICATION_REQUIRED, NULL);
        g_signal_connect(s->server, "request-started", G_CALLBACK(on_request_started), s);
        soup_server_add_handler(s->server, NULL, on_request, s, NULL);
        g_assert_true(soup_server_listen_local(
            s->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY | SOUP_SERVER_LISTEN_HTTPS, &error));
        g_assert_no_error(error);
        uris = soup_server_get_uris(s->server);
        g_mutex_lock(&s->lock);
        s->port = (guint)g_uri_get_port(uris->data);
        g_cond_signal(&s->ready);
        g_mutex_unlock(&s->lock);
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
        g_main_loop_run(s->loop);
        g_clear_object(&s->server);
        g_main_context_pop_thread_default(s->context);
        return NULL;
}

TlsServer *tls_server_start(const char *dir)
{
        TlsServer *s = g_new0(TlsServer, 1);

        s->dir = g_strdup(dir);
        s->context = g_main_context_new();
        s->loop = g_main_loop_new(s->context, FALSE);
        s->handshakes = g_ptr_array_new_with_free_func(g_free);
        g_mutex_init(&s->lock);
        g_cond_init(&s->ready);
        s->thread = g_thread_new("tls-server", server_thread, s);
        g_mutex_lock(&s->lock);
        while (s->port == 0)
                g_cond_wait(&s->ready, &s->lock);
        g_mutex_unlock(&s->lock);
        return s;
}

static gboolean quit_loop(gpointer loop)
{
        g_main_loop_quit(loop);
        return G_SOURCE_REMOVE;
}

void tls_server_stop(TlsServer *s)
{
        g_main_context_invoke(s->context, quit_loop, s->loop);
        g_thread_join(s->thread);
        g_main_loop_unref(s->loop);
        g_main_context_unref(s->context);
        g_ptr_array_unref(s->handshakes);
        g_mutex_clear(&s->lock);
        g_cond_clear(&s->ready);
        g_free(s->dir);
        g_free(s);
}

/* The handshakes so far, joined with ',' */
char *tls_server_handshakes(TlsServer *s)
{
        g_autoptr(GString) all = g_string_new("");

        g_mutex_lock(&s->lock);
        for (guint i = 0; i < s->handshakes->len; i++)
                g_string_append_printf(all, "%s%s", i > 0 ? "," : "",
                                       (char *)s->handshakes->pdata[i]);
        g_mutex_unlock(&s->lock);
        return g_string_free(g_steal_pointer(&all), FALSE);
}
