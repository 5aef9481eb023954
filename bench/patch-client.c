/* SPDX-License-Identifier: MIT */
/* srvlab-bench-patch: the API half of benchmark 3's floor (issue 15).
 *
 *   srvlab-bench-patch --server=URL --name=PV [--token-file=F] [--ca-file=F] [--count=N]
 *                      [--driver=D]
 *
 * The least client there is for the write a Track makes: one libsoup session, one connection
 * kept alive, and N merge PATCHes of PV NAME, each conditional on the resourceVersion the
 * previous answer carried (as the daemon's are), alternately setting and clearing the
 * attachment annotations. Times each PATCH from send to the parsed answer and prints one JSON
 * line with p50/p99 in µs. The first GET (for the resourceVersion) is not timed. */
#include <stdio.h>
#include <stdlib.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

typedef struct {
        SoupSession *session;
        char *url;
        char *auth;
} Client;

static SoupMessage *request(Client *c, const char *method, const char *body)
{
        SoupMessage *msg = soup_message_new(method, c->url);
        SoupMessageHeaders *h = soup_message_get_request_headers(msg);

        if (c->auth != NULL)
                soup_message_headers_replace(h, "Authorization", c->auth);
        soup_message_headers_replace(h, "Accept", "application/json");
        if (body != NULL) {
                g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

                soup_message_set_request_body_from_bytes(msg, "application/merge-patch+json",
                                                         bytes);
                /* As the daemon's: conditional, so a replay on a kept-alive connection is safe. */
                soup_message_add_flags(msg, SOUP_MESSAGE_IDEMPOTENT);
        }
        return msg;
}

/* Sends, checks for 200 and returns the object's metadata.resourceVersion. */
static char *send_for_rv(Client *c, const char *method, const char *body, GError **error)
{
        g_autoptr(SoupMessage) msg = request(c, method, body);
        g_autoptr(GBytes) answer = soup_session_send_and_read(c->session, msg, NULL, error);
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *meta;

        if (answer == NULL)
                return NULL;
        if (soup_message_get_status(msg) != SOUP_STATUS_OK) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s %s: HTTP %u", method, c->url,
                            soup_message_get_status(msg));
                return NULL;
        }
        if (!json_parser_load_from_data(parser, g_bytes_get_data(answer, NULL),
                                        (gssize)g_bytes_get_size(answer), error))
                return NULL;
        meta = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
                                             "metadata");
        return g_strdup(json_object_get_string_member(meta, "resourceVersion"));
}

static char *patch_body(const char *driver, const char *rv, gboolean set)
{
        if (!set)
                return g_strdup_printf("{\"metadata\":{\"resourceVersion\":\"%s\",\"annotations\":"
                                       "{\"%s/attached-node\":null,\"%s/attached-at\":null}}}",
                                       rv, driver, driver);
        return g_strdup_printf("{\"metadata\":{\"resourceVersion\":\"%s\",\"annotations\":"
                               "{\"%s/attached-node\":\"bench-node\",\"%s/attached-at\":"
                               "\"2026-03-04T05:06:07.123456Z\"}}}",
                               rv, driver, driver);
}

static SoupSession *session_new(const char *ca_file, GError **error)
{
        SoupSession *session = soup_session_new_with_options("max-conns-per-host", 1, "timeout", 60,
                                                             "proxy-resolver", NULL, NULL);

        if (ca_file != NULL) {
                g_autoptr(GTlsDatabase) db = g_tls_file_database_new(ca_file, error);

                if (db == NULL) {
                        g_object_unref(session);
                        return NULL;
                }
                soup_session_set_tls_database(session, db);
        }
        return session;
}

static int compare_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        g_autofree char *server = NULL, *name = NULL, *token_file = NULL, *ca_file = NULL;
        g_autofree char *driver = NULL, *rv = NULL, *token = NULL;
        gint64 count = 100;
        GOptionEntry entries[] = {
            {"server", 0, 0, G_OPTION_ARG_STRING, &server, "API server URL", "URL"},
            {"name", 0, 0, G_OPTION_ARG_STRING, &name, "PersistentVolume to patch", "PV"},
            {"token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file, "Bearer token", "FILE"},
            {"ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "CA of the server", "FILE"},
            {"count", 'n', 0, G_OPTION_ARG_INT64, &count, "PATCHes (default 100)", "N"},
            {"driver", 0, 0, G_OPTION_ARG_STRING, &driver, "Annotation prefix", "DRIVER"},
            G_OPTION_ENTRY_NULL,
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("");
        g_autoptr(GError) error = NULL;
        g_autofree double *us = NULL;
        Client c = {0};

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error) || server == NULL || name == NULL ||
            count < 1) {
                fprintf(stderr, "srvlab-bench-patch: %s (see --help)\n",
                        error != NULL ? error->message : "needs --server and --name");
                return 2;
        }
        if (token_file != NULL && !g_file_get_contents(token_file, &token, NULL, &error))
                goto fail;
        c.auth = token != NULL ? g_strdup_printf("Bearer %s", g_strstrip(token)) : NULL;
        c.url = g_strdup_printf("%s/api/v1/persistentvolumes/%s", server, name);
        c.session = session_new(ca_file, &error);
        if (c.session == NULL || (rv = send_for_rv(&c, "GET", NULL, &error)) == NULL)
                goto fail;
        us = g_new0(double, count);
        for (gint64 i = 0; i < count; i++) {
                g_autofree char *body =
                    patch_body(driver ? driver : "rds.csi.srvlab.io", rv, i % 2 == 0);
                gint64 t0 = g_get_monotonic_time();

                g_free(rv);
                rv = send_for_rv(&c, "PATCH", body, &error);
                if (rv == NULL)
                        goto fail;
                us[i] = (double)(g_get_monotonic_time() - t0);
        }
        qsort(us, count, sizeof(double), compare_double);
        printf("{\"mode\":\"patch\",\"calls\":%" G_GINT64_FORMAT
               ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
               count, us[(gint64)(0.5 * (double)(count - 1) + 0.5)],
               us[(gint64)(0.99 * (double)(count - 1) + 0.5)], us[count - 1]);
        return EXIT_SUCCESS;
fail:
        fprintf(stderr, "srvlab-bench-patch: %s\n", error->message);
        return EXIT_FAILURE;
}
