/* SPDX-License-Identifier: MIT */
#include "fixture-private.h"
#include "tests/emulator-launch.h"

#include <string.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>

#include <libsoup/soup.h>

static char *emulator_send(Fixture *f, const char *method, const char *path,
                           const char *content_type, const char *body, guint *status,
                           GError **error)
{
        g_autofree char *uri = g_strconcat(f->emulator_url, path, NULL);
        g_autofree char *bearer = g_strconcat("Bearer ", f->emulator_token, NULL);
        g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
        g_autoptr(GBytes) reply = NULL;

        g_assert_nonnull(msg);
        soup_message_headers_append(soup_message_get_request_headers(msg), "Authorization", bearer);
        if (body != NULL) {
                g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));

                soup_message_set_request_body_from_bytes(msg, content_type, bytes);
        }
        reply = soup_session_send_and_read(f->soup, msg, NULL, error);
        if (reply == NULL)
                return NULL;
        if (status != NULL)
                *status = soup_message_get_status(msg);
        return g_strndup(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply));
}

char *fixture_emulator_request(Fixture *f, const char *method, const char *path, const char *body,
                               guint *status)
{
        g_autoptr(GError) error = NULL;
        char *reply = emulator_send(f, method, path, "application/json", body, status, &error);

        g_assert_no_error(error);
        return reply;
}

void fixture_emulator_merge_patch(Fixture *f, const char *pv, const char *patch)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *path = g_strconcat("/api/v1/persistentvolumes/", pv, NULL);
        guint status = 0;
        g_autofree char *reply =
            emulator_send(f, "PATCH", path, "application/merge-patch+json", patch, &status, &error);

        g_assert_no_error(error);
        if (status != 200)
                g_test_message("PATCH %s: %u %s", path, status, reply);
        g_assert_cmpuint(status, ==, 200);
}

void fixture_emulator_ok(Fixture *f, const char *method, const char *path, const char *body)
{
        guint status = 0;
        g_autofree char *reply = fixture_emulator_request(f, method, path, body, &status);

        if (status < 200 || status >= 300)
                g_test_message("emulator %s %s: %u %s", method, path, status, reply);
        g_assert_cmpuint(status, >=, 200);
        g_assert_cmpuint(status, <, 300);
}

static void add_string_array(JsonBuilder *b, const char *member, const char *value)
{
        json_builder_set_member_name(b, member);
        json_builder_begin_array(b);
        json_builder_add_string_value(b, value);
        json_builder_end_array(b);
}

/* `shared`: ReadWriteMany with volumeMode Block, which TrackShared needs (DESIGN §9). */
static void pv_json(JsonBuilder *b, const char *name, const char *node, const char *at,
                    gboolean shared)
{
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "apiVersion");
        json_builder_add_string_value(b, "v1");
        json_builder_set_member_name(b, "kind");
        json_builder_add_string_value(b, "PersistentVolume");
        json_builder_set_member_name(b, "metadata");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, name);
        if (node != NULL) {
                json_builder_set_member_name(b, "annotations");
                json_builder_begin_object(b);
                json_builder_set_member_name(b, FIXTURE_ANNOTATION_NODE);
                json_builder_add_string_value(b, node);
                json_builder_set_member_name(b, FIXTURE_ANNOTATION_AT);
                json_builder_add_string_value(b, at);
                json_builder_end_object(b);
        }
        json_builder_end_object(b);
        json_builder_set_member_name(b, "spec");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "capacity");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "storage");
        json_builder_add_string_value(b, "1Gi");
        json_builder_end_object(b);
        if (shared) {
                add_string_array(b, "accessModes", "ReadWriteMany");
                json_builder_set_member_name(b, "volumeMode");
                json_builder_add_string_value(b, "Block");
        }
        json_builder_set_member_name(b, "csi");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "driver");
        json_builder_add_string_value(b, FIXTURE_DRIVER);
        json_builder_set_member_name(b, "volumeHandle");
        json_builder_add_string_value(b, name);
        json_builder_end_object(b);
        json_builder_end_object(b);
        json_builder_end_object(b);
}

static void post_pvs(Fixture *f, JsonBuilder *b)
{
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *body = json_to_string(root, FALSE);

        fixture_emulator_ok(f, "POST", "/_emulator/pvs", body);
}

static void add_pvs(Fixture *f, const char *prefix, guint n, gboolean shared)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_array(b);
        for (guint i = 0; i < n; i++) {
                g_autofree char *name = g_strdup_printf("%s%u", prefix, i);

                pv_json(b, name, NULL, NULL, shared);
        }
        json_builder_end_array(b);
        post_pvs(f, b);
}

void fixture_emulator_add_pvs(Fixture *f, const char *prefix, guint n)
{
        add_pvs(f, prefix, n, FALSE);
}

void fixture_emulator_add_shared_pvs(Fixture *f, const char *prefix, guint n)
{
        add_pvs(f, prefix, n, TRUE);
}

void fixture_emulator_add_pv(Fixture *f, const char *name, const char *node, const char *at)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_array(b);
        pv_json(b, name, node, at, FALSE);
        json_builder_end_array(b);
        post_pvs(f, b);
}

char *fixture_emulator_annotation(Fixture *f, const char *pv, const char *key)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *path = g_strconcat("/_emulator/pvs/", pv, NULL);
        guint status = 0;
        g_autofree char *body = fixture_emulator_request(f, "GET", path, NULL, &status);
        g_autoptr(JsonNode) root = NULL;
        JsonObject *meta, *annotations;

        g_assert_cmpuint(status, ==, 200);
        root = json_from_string(body, &error);
        g_assert_no_error(error);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
        meta = json_object_get_object_member(json_node_get_object(root), "metadata");
        g_assert_nonnull(meta);
        if (!json_object_has_member(meta, "annotations"))
                return NULL;
        annotations = json_object_get_object_member(meta, "annotations");
        if (annotations == NULL || !json_object_has_member(annotations, key))
                return NULL;
        return g_strdup(json_object_get_string_member(annotations, key));
}

typedef struct {
        Fixture *f;
        const char *port_file, *scheme;
} Starting;

static gboolean emulator_answers(gpointer data)
{
        const Starting *st = data;
        Fixture *f = st->f;
        guint port, status = 0;
        g_autofree char *reply = NULL;

        g_assert_true(waitpid(f->emulator_pid, NULL, WNOHANG) == 0);
        port = emulator_launch_read_port(st->port_file);
        if (port == 0)
                return FALSE;
        g_free(f->emulator_url);
        f->emulator_url = g_strdup_printf("%s://127.0.0.1:%u", st->scheme, port);
        reply = emulator_send(f, "GET", "/_emulator/counts", NULL, NULL, &status, NULL);
        return reply != NULL && status == 200;
}

void fixture_priv_share_emulator(Fixture *f, Fixture *emu)
{
        f->emulator_url = g_strdup(emu->emulator_url);
        f->emulator_token = g_strdup(emu->emulator_token);
        g_free(fixture_write_secret(f, "token", f->emulator_token));
        f->soup = soup_session_new_with_options("timeout", 60, "proxy-resolver", NULL, NULL);
}

/* Spawns the emulator on `port` (0: any) with the PVs of `seed` (may be NULL), its
 * resourceVersions starting after `start_rv` (0: the emulator's default). */
void fixture_spawn_emulator(Fixture *f, guint port, const char *seed, guint64 start_rv,
                            const char *tls_dir)
{
        g_autofree char *port_file = g_build_filename(f->tmpdir, "emulator.port", NULL);
        g_autofree char *cert =
            tls_dir != NULL ? g_build_filename(tls_dir, "server.pem", NULL) : NULL;
        g_autofree char *key =
            tls_dir != NULL ? g_build_filename(tls_dir, "server.key", NULL) : NULL;
        g_auto(GStrv) argv =
            emulator_launch_argv(&(EmulatorLaunch){.port = port,
                                                   .port_file = port_file,
                                                   .token = f->emulator_token,
                                                   .seed = seed,
                                                   .tls_cert = cert,
                                                   .tls_key = key,
                                                   .start_resource_version = start_rv});
        g_auto(GStrv) env = fixture_priv_environ(f);
        Starting st = {f, port_file, tls_dir != NULL ? "https" : "http"};

        g_unlink(port_file);
        f->emulator_pid = fixture_priv_spawn(argv, env, f->emulator_log, -1);
        if (!fixture_wait_for(emulator_answers, &st, FIXTURE_WAIT_SEC))
                fixture_dump_logs(f);
        g_assert_nonnull(f->emulator_url);
}

void fixture_priv_start_emulator(Fixture *f)
{
        f->emulator_token = g_strdup_printf("it-token-%08x", g_random_int());
        g_free(fixture_write_secret(f, "token", f->emulator_token));
        f->emulator_log = g_build_filename(f->tmpdir, "emulator.log", NULL);
        /* No proxy: a proxy from the environment must never carry loopback traffic elsewhere. */
        f->soup = soup_session_new_with_options("timeout", 60, "proxy-resolver", NULL, NULL);
        fixture_spawn_emulator(f, 0, NULL, 1000, NULL);
}

void fixture_restart_emulator(Fixture *f)
{
        g_autofree char *pvs = fixture_pv_list(f);
        g_autofree char *seed = fixture_write_file(f, "emulator-seed.json", pvs);
        guint64 port = g_ascii_strtoull(strrchr(f->emulator_url, ':') + 1, NULL, 10);
        g_autoptr(JsonNode) list = json_from_string(pvs, NULL);
        const char *rv = json_object_get_string_member(
            json_object_get_object_member(json_node_get_object(list), "metadata"),
            "resourceVersion");
        int status = 0;

        g_assert_cmpint(kill(f->emulator_pid, SIGKILL), ==, 0);
        g_assert_true(fixture_wait_pid(f->emulator_pid, FIXTURE_WAIT_SEC, &status));
        f->emulator_pid = 0;
        /* etcd keeps its revision across a restart; the API server's watch cache starts
         * afresh from it: resuming from an earlier resourceVersion is "too old". */
        guint64 start_rv = g_ascii_strtoull(rv, NULL, 10);
        fixture_spawn_emulator(f, (guint)port, seed, start_rv > 0 ? start_rv : 1000, NULL);
}

char *fixture_priv_write_kubeconfig(Fixture *f)
{
        g_autofree char *text =
            g_strdup_printf("apiVersion: v1\nkind: Config\ncurrent-context: it\n"
                            "clusters:\n- name: emulator\n  cluster:\n    server: %s\n"
                            "contexts:\n- name: it\n  context: {cluster: emulator, user: daemon}\n"
                            "users:\n- name: daemon\n  user:\n    tokenFile: token\n",
                            f->emulator_url);

        return fixture_write_file(f, "kubeconfig", text);
}
