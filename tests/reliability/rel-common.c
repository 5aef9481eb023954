/* SPDX-License-Identifier: MIT */
#include "rel-common.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

gboolean rel_long_tests(void)
{
        const char *v = g_getenv("SRVLAB_LONG_TESTS");

        return v != NULL && g_str_equal(v, "1");
}

GHashTable *rel_daemon_list(Fixture *f, GDBusConnection *conn)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
            conn != NULL ? conn : f->conn, BUS_NAME, BUS_PATH, BUS_INTERFACE, "List", NULL,
            G_VARIANT_TYPE("(a(sst))"), G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL,
            &error);
        GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GVariantIter) iter = NULL;
        const char *volume, *node;
        guint64 at;

        g_assert_no_error(error);
        g_variant_get(r, "(a(sst))", &iter);
        while (g_variant_iter_next(iter, "(&s&st)", &volume, &node, &at))
                g_hash_table_insert(map, g_strdup(volume), g_strdup(node));
        return map;
}

GHashTable *rel_emulator_annotations(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        guint status = 0;
        g_autofree char *body =
            fixture_emulator_request(f, "GET", "/api/v1/persistentvolumes", NULL, &status);
        g_autoptr(JsonNode) root = NULL;
        GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        JsonArray *items;

        g_assert_cmpuint(status, ==, 200);
        root = json_from_string(body, &error);
        g_assert_no_error(error);
        items = json_object_get_array_member(json_node_get_object(root), "items");
        for (guint i = 0; i < json_array_get_length(items); i++) {
                JsonObject *meta = json_object_get_object_member(
                    json_array_get_object_element(items, i), "metadata");
                JsonObject *ann = json_object_has_member(meta, "annotations")
                                      ? json_object_get_object_member(meta, "annotations")
                                      : NULL;

                if (ann == NULL || !json_object_has_member(ann, FIXTURE_ANNOTATION_NODE))
                        continue;
                g_hash_table_insert(
                    map, g_strdup(json_object_get_string_member(meta, "name")),
                    g_strdup(json_object_get_string_member(ann, FIXTURE_ANNOTATION_NODE)));
        }
        return map;
}

char *rel_diff(GHashTable *daemon, GHashTable *store, const char *only_node)
{
        g_autoptr(GString) s = g_string_new(NULL);
        GHashTableIter it;
        gpointer k, v;

        g_hash_table_iter_init(&it, daemon);
        while (g_hash_table_iter_next(&it, &k, &v)) {
                const char *stored = g_hash_table_lookup(store, k);

                if (g_strcmp0(stored, v) != 0)
                        g_string_append_printf(s, "  %s: daemon %s, annotation %s\n", (char *)k,
                                               (char *)v, stored ? stored : "(none)");
        }
        g_hash_table_iter_init(&it, store);
        while (g_hash_table_iter_next(&it, &k, &v)) {
                if (only_node != NULL && !g_str_equal(v, only_node))
                        continue;
                if (!g_hash_table_contains(daemon, k))
                        g_string_append_printf(s, "  %s: daemon (none), annotation %s\n", (char *)k,
                                               (char *)v);
        }
        return s->len > 0 ? g_string_free(g_steal_pointer(&s), FALSE) : NULL;
}

void rel_assert_consistent(Fixture *f, GDBusConnection *conn, Fixture *emulator,
                           const char *only_node)
{
        g_autoptr(GHashTable) daemon = rel_daemon_list(f, conn);
        g_autoptr(GHashTable) store = rel_emulator_annotations(emulator != NULL ? emulator : f);
        g_autofree char *diff = rel_diff(daemon, store, only_node);

        if (diff != NULL) {
                g_test_message("List != annotations (%u listed, %u annotated%s%s):\n%s",
                               g_hash_table_size(daemon), g_hash_table_size(store),
                               only_node ? " in all; node " : "", only_node ? only_node : "", diff);
                fixture_dump_logs(f);
        }
        g_assert_null(diff);
}

void rel_assert_rows_consistent(Fixture *f)
{
        g_autofree char *body = fixture_pv_list(f);
        g_autoptr(GHashTable) store = fixture_annotated_rows(body);
        g_autoptr(GHashTable) daemon = fixture_listed_rows(f);
        g_autofree char *diff = rel_diff(daemon, store, NULL);

        if (diff != NULL) {
                g_test_message("List rows != annotated nodes (%u listed, %u annotated):\n%s",
                               g_hash_table_size(daemon), g_hash_table_size(store), diff);
                fixture_dump_logs(f);
        }
        g_assert_null(diff);
}

void rel_fault(Fixture *f, const char *json_fault)
{
        fixture_emulator_ok(f, "POST", "/_emulator/faults", json_fault);
}

void rel_clear_faults(Fixture *f)
{
        fixture_emulator_ok(f, "DELETE", "/_emulator/faults", NULL);
}

void rel_latency(Fixture *f, guint ms)
{
        g_autofree char *body = g_strdup_printf("{\"ms\":%u}", ms);

        fixture_emulator_ok(f, "POST", "/_emulator/latency", body);
}

void rel_generate(Fixture *f, const char *prefix, guint n)
{
        g_autofree char *body = g_strdup_printf("{\"count\":%u,\"prefix\":\"%s\"}", n, prefix);

        fixture_emulator_ok(f, "POST", "/_emulator/generate", body);
}

static void write_all(GOutputStream *out, const void *data, gsize size)
{
        g_autoptr(GError) error = NULL;

        g_output_stream_write_all(out, data, size, NULL, NULL, &error);
        g_assert_no_error(error);
}

static guchar *message_blob(GDBusMessage *msg, guint32 serial, gsize *size)
{
        g_autoptr(GError) error = NULL;
        guchar *blob;

        g_dbus_message_set_serial(msg, serial);
        blob = g_dbus_message_to_blob(msg, size, G_DBUS_CAPABILITY_FLAGS_NONE, &error);
        g_assert_no_error(error);
        return blob;
}

static GSocketConnection *raw_connect(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketClient) client = g_socket_client_new();
        g_autofree char *path = g_build_filename(f->tmpdir, "bus", NULL);
        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
        GSocketConnection *conn =
            g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &error);
        g_autofree char *uid = g_strdup_printf("%u", getuid());
        g_autoptr(GString) auth = g_string_new(NULL);
        char reply[256] = {0};

        g_assert_no_error(error);
        g_socket_set_timeout(g_socket_connection_get_socket(conn), FIXTURE_WAIT_SEC);
        g_string_append_c(auth, '\0');
        g_string_append(auth, "AUTH EXTERNAL ");
        for (const char *p = uid; *p != '\0'; p++)
                g_string_append_printf(auth, "%02x", (guchar)*p);
        g_string_append(auth, "\r\n");
        write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), auth->str, auth->len);
        g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), reply,
                            sizeof(reply) - 1, NULL, &error);
        g_assert_no_error(error);
        g_assert_true(g_str_has_prefix(reply, "OK "));
        write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), "BEGIN\r\n", 7);
        return conn;
}

/* Replaces the first "QQQQ" of the message: never valid UTF-8, and an overlong NUL. */
static void mangle(guchar *blob, gsize size)
{
        for (gsize i = 0; i + 4 <= size; i++) {
                if (memcmp(blob + i, "QQQQ", 4) == 0) {
                        memcpy(blob + i, "\xff\xfe\xc0\x80", 4);
                        return;
                }
        }
        g_assert_not_reached();
}

gsize rel_send_invalid_utf8(Fixture *f, const char *method, GVariant *body)
{
        g_autoptr(GSocketConnection) conn = raw_connect(f);
        GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
        g_autoptr(GDBusMessage) hello = g_dbus_message_new_method_call(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello");
        g_autoptr(GDBusMessage) call =
            g_dbus_message_new_method_call(BUS_NAME, BUS_PATH, BUS_INTERFACE, method);
        g_autofree guchar *hello_blob = NULL;
        g_autofree guchar *call_blob = NULL;
        gsize hello_size = 0, call_size = 0, total = 0;
        char buf[4096];
        gssize n;

        g_dbus_message_set_body(call, body);
        hello_blob = message_blob(hello, 1, &hello_size);
        call_blob = message_blob(call, 2, &call_size);
        mangle(call_blob, call_size);
        write_all(out, hello_blob, hello_size);
        write_all(out, call_blob, call_size);
        /* The bus must drop us: read until EOF (or the error it may send first). */
        while ((n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf,
                                        sizeof(buf), NULL, NULL)) > 0)
                total += (gsize)n;
        g_assert_cmpint(n, ==, 0);
        return total;
}

gboolean rel_daemon_up(Fixture *f)
{
        if (f->daemon_pid <= 0 || waitpid(f->daemon_pid, NULL, WNOHANG) != 0)
                return FALSE;
        return fixture_name_has_owner(f);
}

guint64 rel_rss_kib(GPid pid)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/status", pid);
        g_autofree char *text = NULL;
        const char *line;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return 0;
        line = strstr(text, "\nVmRSS:");
        return line != NULL ? g_ascii_strtoull(line + strlen("\nVmRSS:"), NULL, 10) : 0;
}

Fixture *rel_fixture_sharing(Fixture *emu, const char *extra_config)
{
        FixtureOptions opts = {.no_daemon = TRUE};
        Fixture *f = fixture_new(&opts);
        g_autofree char *token = fixture_write_secret(f, "token", emu->emulator_token);
        g_autofree char *config =
            g_strdup_printf("[Attachment]\n"
                            "Store=kubernetes\n"
                            "Driver=" FIXTURE_DRIVER "\n"
                            "%s"
                            "[Kubernetes]\n"
                            "Server=%s\n"
                            "TokenFile=%s\n"
                            "CAFile=\n"
                            "RequestTimeoutSec=60\n"
                            "StartTimeoutSec=60\n",
                            extra_config != NULL ? extra_config : "", emu->emulator_url, token);

        g_free(fixture_write_file(f, "attachment.conf", config));
        fixture_start_daemon(f);
        return f;
}

typedef struct {
        RelReplyFunc done;
        gpointer user_data;
} RelCall;

static void call_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
        RelCall *call = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply =
            g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);

        call->done(reply, error, call->user_data);
        g_free(call);
}

void rel_call_async(GDBusConnection *conn, const char *method, GVariant *params, RelReplyFunc done,
                    gpointer user_data)
{
        RelCall *call = g_new0(RelCall, 1);

        call->done = done;
        call->user_data = user_data;
        g_dbus_connection_call(conn, BUS_NAME, BUS_PATH, BUS_INTERFACE, method, params, NULL,
                               G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, call_done,
                               call);
}

char *rel_error_name(const GError *error)
{
        char *name = error != NULL ? g_dbus_error_get_remote_error(error) : NULL;

        return name != NULL ? name : g_strdup("");
}

static gboolean tick(gpointer user_data)
{
        return G_SOURCE_CONTINUE;
}

gboolean rel_wait_zero(const guint *counter, guint timeout_sec)
{
        gint64 deadline = g_get_monotonic_time() + (gint64)timeout_sec * G_USEC_PER_SEC;
        /* Wakes the blocking iteration so that the deadline is seen without replies. */
        guint ticker = g_timeout_add(100, tick, NULL);

        while (*counter > 0 && g_get_monotonic_time() <= deadline)
                g_main_context_iteration(NULL, TRUE);
        g_source_remove(ticker);
        return *counter == 0;
}
