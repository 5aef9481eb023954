/* Shared by the emulator's tests: spawn on --port=0, wait for the port file, HTTP helpers. */
#include "emulator-helper.h"

#include "tests/emulator-launch.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

char *emu_binary(void)
{
        return emulator_launch_binary();
}

Emu *emu_start(const char *first_arg, ...)
{
        Emu *emu = g_new0(Emu, 1);
        g_autoptr(GPtrArray) extra = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *port_file = NULL;
        gboolean https = FALSE;
        va_list args;

        emu->tmpdir = g_dir_make_tmp("kube-emu-XXXXXX", &error);
        g_assert_no_error(error);
        port_file = g_build_filename(emu->tmpdir, "port", NULL);
        va_start(args, first_arg);
        for (const char *a = first_arg; a != NULL; a = va_arg(args, const char *)) {
                g_ptr_array_add(extra, (gpointer)a);
                https = https || g_str_has_prefix(a, "--tls-cert");
        }
        va_end(args);
        g_ptr_array_add(extra, NULL);
        emu->proc = emulator_launch_spawn(
            &(EmulatorLaunch){.port_file = port_file, .extra = (const char *const *)extra->pdata},
            &error);
        g_assert_no_error(error);
        emu->port = emulator_launch_wait_port(port_file, emu->proc, 30);
        emu->base = g_strdup_printf("%s://127.0.0.1:%u", https ? "https" : "http", emu->port);
        /* More than libsoup's default 2 connections: tests keep several requests in flight. */
        emu->session = soup_session_new_with_options("timeout", 60, "max-conns-per-host", 16,
                                                     "max-conns", 32, "proxy-resolver", NULL, NULL);
        return emu;
}

static void remove_tree(const char *dir)
{
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
                g_autofree char *path = g_build_filename(dir, name, NULL);

                if (g_file_test(path, G_FILE_TEST_IS_DIR))
                        remove_tree(path);
                else
                        g_unlink(path);
        }
        g_rmdir(dir);
}

void emu_stop(Emu *emu)
{
        g_autoptr(GError) error = NULL;

        g_subprocess_send_signal(emu->proc, SIGTERM);
        g_subprocess_wait(emu->proc, NULL, &error);
        g_assert_no_error(error);
        g_assert_true(g_subprocess_get_if_exited(emu->proc));
        g_assert_cmpint(g_subprocess_get_exit_status(emu->proc), ==, 0);
        g_object_unref(emu->proc);
        g_object_unref(emu->session);
        remove_tree(emu->tmpdir);
        g_free(emu->tmpdir);
        g_free(emu->base);
        g_free(emu->token);
        g_free(emu);
}

void reply_free(Reply *reply)
{
        g_clear_pointer(&reply->body, g_bytes_unref);
        g_clear_pointer(&reply->headers, soup_message_headers_unref);
        g_clear_pointer(&reply->json, json_node_unref);
        g_clear_error(&reply->error);
        g_free(reply);
}

SoupMessage *emu_message(Emu *emu, const char *method, const char *path)
{
        g_autofree char *uri = g_strconcat(emu->base, path, NULL);
        SoupMessage *msg = soup_message_new(method, uri);
        g_autofree char *auth = NULL;

        g_assert_nonnull(msg);
        if (emu->token != NULL && !g_str_has_prefix(path, "/_emulator")) {
                auth = g_strconcat("Bearer ", emu->token, NULL);
                soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization",
                                             auth);
        }
        return msg;
}

Reply *emu_send(Emu *emu, SoupMessage *msg)
{
        Reply *reply = g_new0(Reply, 1);
        g_autoptr(JsonParser) parser = json_parser_new();
        gsize len = 0;
        const char *data;

        reply->body = soup_session_send_and_read(emu->session, msg, NULL, &reply->error);
        if (reply->body == NULL)
                return reply;
        reply->status = soup_message_get_status(msg);
        reply->headers = soup_message_headers_ref(soup_message_get_response_headers(msg));
        data = g_bytes_get_data(reply->body, &len);
        if (len > 0 && json_parser_load_from_data(parser, data, (gssize)len, NULL))
                reply->json = json_node_copy(json_parser_get_root(parser));
        return reply;
}

Reply *emu_api(Emu *emu, const char *method, const char *path, const char *content_type,
               const char *body)
{
        g_autoptr(SoupMessage) msg = emu_message(emu, method, path);
        g_autoptr(GBytes) bytes = NULL;

        if (body != NULL) {
                bytes = g_bytes_new(body, strlen(body));
                soup_message_set_request_body_from_bytes(
                    msg, content_type != NULL ? content_type : "application/json", bytes);
        }
        return emu_send(emu, msg);
}

Reply *emu_control(Emu *emu, const char *method, const char *path, const char *body)
{
        g_autofree char *full = g_strconcat("/_emulator", path, NULL);

        return emu_api(emu, method, full, "application/json", body);
}

JsonObject *reply_object(Reply *reply)
{
        g_assert_nonnull(reply->json);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(reply->json));
        return json_node_get_object(reply->json);
}

static JsonNode *reply_member(Reply *reply, const char *path)
{
        g_auto(GStrv) parts = g_strsplit(path, ".", -1);
        JsonNode *node = reply->json;

        for (char **p = parts; *p != NULL; p++) {
                if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
                        return NULL;
                node = json_object_get_member(json_node_get_object(node), *p);
        }
        return node;
}

const char *reply_string(Reply *reply, const char *path)
{
        JsonNode *node = reply_member(reply, path);

        if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(node);
}

gint64 reply_int(Reply *reply, const char *path)
{
        JsonNode *node = reply_member(reply, path);

        g_assert_nonnull(node);
        return json_node_get_int(node);
}

void assert_status_body(Reply *reply, guint code, const char *reason)
{
        g_assert_no_error(reply->error);
        g_assert_cmpuint(reply->status, ==, code);
        g_assert_cmpstr(reply_string(reply, "kind"), ==, "Status");
        g_assert_cmpstr(reply_string(reply, "apiVersion"), ==, "v1");
        g_assert_cmpstr(reply_string(reply, "status"), ==, "Failure");
        g_assert_cmpstr(reply_string(reply, "reason"), ==, reason);
        g_assert_cmpint(reply_int(reply, "code"), ==, code);
        g_assert_nonnull(reply_string(reply, "message"));
}

void emu_generate(Emu *emu, guint count, guint annotated)
{
        g_autofree char *body = g_strdup_printf(
            "{\"count\":%u,\"annotated\":%u,\"node\":\"node-1\"}", count, annotated);
        g_autoptr(Reply) r = emu_control(emu, "POST", "/generate", body);

        g_assert_cmpuint(r->status, ==, 200);
        g_assert_cmpint(reply_int(r, "created"), ==, count);
}

guint64 emu_count(Emu *emu, const char *verb)
{
        g_autoptr(Reply) r = emu_control(emu, "GET", "/counts", NULL);

        g_assert_cmpuint(r->status, ==, 200);
        return (guint64)reply_int(r, verb);
}

WatchStream *emu_watch(Emu *emu, const char *query, const char *accept)
{
        g_autofree char *path =
            g_strconcat("/api/v1/persistentvolumes?watch=true", query != NULL ? "&" : "",
                        query != NULL ? query : "", NULL);

        return emu_watch_at(emu, path, accept);
}

WatchStream *emu_watch_at(Emu *emu, const char *path, const char *accept)
{
        WatchStream *w = g_new0(WatchStream, 1);
        g_autoptr(GError) error = NULL;

        w->msg = emu_message(emu, "GET", path);
        if (accept != NULL)
                soup_message_headers_replace(soup_message_get_request_headers(w->msg), "Accept",
                                             accept);
        w->body = soup_session_send(emu->session, w->msg, NULL, &error);
        g_assert_no_error(error);
        w->status = soup_message_get_status(w->msg);
        w->lines = g_data_input_stream_new(w->body);
        return w;
}

JsonNode *watch_next(WatchStream *w, GError **error)
{
        g_autofree char *line = NULL;
        g_autoptr(JsonParser) parser = json_parser_new();
        gsize len = 0;

        line = g_data_input_stream_read_line_utf8(w->lines, &len, NULL, error);
        if (line == NULL)
                return NULL;
        if (!json_parser_load_from_data(parser, line, (gssize)len, error))
                return NULL;
        return json_node_copy(json_parser_get_root(parser));
}

JsonObject *watch_expect(WatchStream *w, const char *type, JsonNode **owner)
{
        g_autoptr(GError) error = NULL;
        JsonNode *node = watch_next(w, &error);
        JsonObject *event;

        g_assert_no_error(error);
        g_assert_nonnull(node);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(node));
        event = json_node_get_object(node);
        g_assert_cmpstr(json_object_get_string_member(event, "type"), ==, type);
        *owner = node;
        return json_object_get_object_member(event, "object");
}

void watch_expect_end(WatchStream *w)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = watch_next(w, &error);

        g_assert_no_error(error);
        g_assert_null(node);
}

void watch_stream_free(WatchStream *w)
{
        g_clear_object(&w->lines);
        if (w->body != NULL)
                g_input_stream_close(w->body, NULL, NULL);
        g_clear_object(&w->body);
        g_clear_object(&w->msg);
        g_free(w);
}

guint64 json_rv(JsonObject *object)
{
        JsonObject *meta = json_object_get_object_member(object, "metadata");

        return g_ascii_strtoull(json_object_get_string_member(meta, "resourceVersion"), NULL, 10);
}

const char *json_name(JsonObject *object)
{
        JsonObject *meta = json_object_get_object_member(object, "metadata");

        return json_object_get_string_member(meta, "name");
}

void emu_add_fault(Emu *emu, const char *spec)
{
        g_autoptr(Reply) r = emu_control(emu, "POST", "/faults", spec);

        g_assert_cmpuint(r->status, ==, 200);
}
