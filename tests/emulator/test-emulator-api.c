/* The emulator's Kubernetes API semantics: pagination, Status bodies, preconditions, patches,
 * resourceVersion, discovery, authentication. */
#include "emulator-helper.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#define PVS "/api/v1/persistentvolumes"
#define CSI_A "{\"csi\":{\"driver\":\"rds.csi.srvlab.io\",\"volumeHandle\":\"pv-a\"}}"

static const char pv_body[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"pv-a\","
    "\"annotations\":{\"keep\":\"1\"}},\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},"
    "\"csi\":{\"driver\":\"rds.csi.srvlab.io\",\"volumeHandle\":\"pv-a\"}},"
    "\"status\":{\"phase\":\"Available\"}}";

static char *current_rv(Emu *emu, const char *name)
{
        g_autofree char *path = g_strdup_printf(PVS "/%s", name);
        g_autoptr(Reply) r = emu_api(emu, "GET", path, NULL, NULL);

        g_assert_cmpuint(r->status, ==, 200);
        return g_strdup(reply_string(r, "metadata.resourceVersion"));
}

static void test_pagination(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autofree char *token = NULL;
        g_autofree char *previous = NULL;
        const guint expected_sizes[] = {500, 500, 200};
        const gint64 expected_remaining[] = {700, 200};
        guint pages = 0;

        emu_generate(emu, 1200, 0);
        do {
                g_autofree char *path = token == NULL
                                            ? g_strdup(PVS "?limit=500")
                                            : g_strdup_printf(PVS "?limit=500&continue=%s", token);
                g_autoptr(Reply) r = emu_api(emu, "GET", path, NULL, NULL);
                JsonArray *items;

                g_assert_cmpuint(r->status, ==, 200);
                g_assert_cmpstr(reply_string(r, "kind"), ==, "PersistentVolumeList");
                g_assert_nonnull(reply_string(r, "metadata.resourceVersion"));
                g_assert_cmpuint(pages, <, 3);
                items = json_object_get_array_member(reply_object(r), "items");
                g_assert_cmpuint(json_array_get_length(items), ==, expected_sizes[pages]);
                for (guint i = 0; i < json_array_get_length(items); i++) {
                        JsonObject *meta = json_object_get_object_member(
                            json_array_get_object_element(items, i), "metadata");
                        const char *name = json_object_get_string_member(meta, "name");

                        /* every name once, in order across pages */
                        g_assert_true(g_hash_table_add(seen, g_strdup(name)));
                        g_assert_true(previous == NULL || strcmp(previous, name) < 0);
                        g_free(previous);
                        previous = g_strdup(name);
                }
                g_free(token);
                token = g_strdup(reply_string(r, "metadata.continue"));
                if (pages < 2) {
                        g_assert_nonnull(token);
                        g_assert_cmpint(reply_int(r, "metadata.remainingItemCount"), ==,
                                        expected_remaining[pages]);
                } else {
                        g_assert_null(token);
                }
                pages++;
        } while (token != NULL);
        g_assert_cmpuint(pages, ==, 3);
        g_assert_cmpuint(g_hash_table_size(seen), ==, 1200);
        g_assert_true(g_hash_table_contains(seen, "pv-000000"));
        g_assert_true(g_hash_table_contains(seen, "pv-001199"));
        emu_stop(emu);
}

static void test_expired_continue(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) first = NULL;
        g_autoptr(Reply) gone = NULL;
        g_autoptr(Reply) again = NULL;
        g_autoptr(Reply) ctl = NULL;
        g_autoptr(Reply) bad = NULL;
        g_autofree char *path = NULL;

        emu_generate(emu, 10, 0);
        first = emu_api(emu, "GET", PVS "?limit=4", NULL, NULL);
        g_assert_cmpuint(first->status, ==, 200);
        path =
            g_strdup_printf(PVS "?limit=4&continue=%s", reply_string(first, "metadata.continue"));
        ctl = emu_control(emu, "POST", "/expire-continue", "{\"count\":1}");
        g_assert_cmpuint(ctl->status, ==, 200);
        gone = emu_api(emu, "GET", path, NULL, NULL);
        assert_status_body(gone, 410, "Expired");
        g_assert_true(g_str_has_prefix(reply_string(gone, "message"),
                                       "The provided continue parameter is too old"));
        /* only the next continue request expires */
        again = emu_api(emu, "GET", path, NULL, NULL);
        g_assert_cmpuint(again->status, ==, 200);
        g_assert_cmpint(reply_int(again, "metadata.remainingItemCount"), ==, 2);
        bad = emu_api(emu, "GET", PVS "?limit=4&continue=bm90LWEtdG9rZW4=", NULL, NULL);
        assert_status_body(bad, 400, "BadRequest");
        emu_stop(emu);
}

static void test_get_not_found(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) r = emu_api(emu, "GET", PVS "/missing", NULL, NULL);

        assert_status_body(r, 404, "NotFound");
        g_assert_cmpstr(reply_string(r, "message"), ==, "persistentvolumes \"missing\" not found");
        g_assert_cmpstr(reply_string(r, "details.name"), ==, "missing");
        g_assert_cmpstr(reply_string(r, "details.kind"), ==, "persistentvolumes");
        emu_stop(emu);
}

static void test_create(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) created = emu_api(emu, "POST", PVS, NULL, pv_body);
        g_autoptr(Reply) dup = emu_api(emu, "POST", PVS, NULL, pv_body);
        g_autoptr(Reply) stored = emu_control(emu, "GET", "/pvs/pv-a", NULL);

        g_assert_cmpuint(created->status, ==, 201);
        g_assert_nonnull(reply_string(created, "metadata.uid"));
        g_assert_nonnull(reply_string(created, "metadata.creationTimestamp"));
        g_assert_nonnull(reply_string(created, "metadata.resourceVersion"));
        g_assert_cmpstr(reply_string(created, "spec.csi.volumeHandle"), ==, "pv-a");
        g_assert_cmpstr(reply_string(created, "status.phase"), ==, "Available");
        assert_status_body(dup, 409, "AlreadyExists");
        g_assert_cmpstr(reply_string(dup, "message"), ==,
                        "persistentvolumes \"pv-a\" already exists");
        g_assert_cmpstr(reply_string(stored, "metadata.uid"), ==,
                        reply_string(created, "metadata.uid"));
        emu_stop(emu);
}

static void test_update_conflict(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) created = emu_api(emu, "POST", PVS, NULL, pv_body);
        const char *rv = reply_string(created, "metadata.resourceVersion");
        g_autofree char *fresh = g_strdup_printf(
            "{\"metadata\":{\"name\":\"pv-a\",\"resourceVersion\":\"%s\"},\"spec\":" CSI_A "}", rv);
        g_autoptr(Reply) ok = emu_api(emu, "PUT", PVS "/pv-a", NULL, fresh);
        g_autoptr(Reply) stale = emu_api(emu, "PUT", PVS "/pv-a", NULL, fresh);
        g_autoptr(Reply) blind = emu_api(emu, "PUT", PVS "/pv-a", NULL,
                                         "{\"metadata\":{\"name\":\"pv-a\"},\"spec\":" CSI_A "}");
        /* the same again changes nothing: no new resourceVersion, as the real server */
        g_autoptr(Reply) again = emu_api(emu, "PUT", PVS "/pv-a", NULL,
                                         "{\"metadata\":{\"name\":\"pv-a\"},\"spec\":" CSI_A "}");
        g_autoptr(Reply) moved =
            emu_api(emu, "PUT", PVS "/pv-a", NULL,
                    "{\"metadata\":{\"name\":\"pv-a\"},\"spec\":{\"csi\":{\"driver\":\"x\","
                    "\"volumeHandle\":\"pv-z\"}}}");
        g_autoptr(Reply) missing =
            emu_api(emu, "PUT", PVS "/pv-b", NULL, "{\"metadata\":{\"name\":\"pv-b\"}}");

        g_assert_cmpuint(ok->status, ==, 200);
        g_assert_cmpstr(reply_string(ok, "metadata.uid"), ==,
                        reply_string(created, "metadata.uid"));
        g_assert_cmpuint(g_ascii_strtoull(reply_string(ok, "metadata.resourceVersion"), NULL, 10),
                         >, g_ascii_strtoull(rv, NULL, 10));
        assert_status_body(stale, 409, "Conflict");
        g_assert_cmpstr(reply_string(stale, "message"), ==,
                        "Operation cannot be fulfilled on persistentvolumes \"pv-a\": the object "
                        "has been modified; please apply your changes to the latest version and "
                        "try again");
        g_assert_cmpstr(reply_string(stale, "details.name"), ==, "pv-a");
        g_assert_cmpuint(blind->status, ==, 200);
        g_assert_cmpuint(again->status, ==, 200);
        g_assert_cmpstr(reply_string(again, "metadata.resourceVersion"), ==,
                        reply_string(blind, "metadata.resourceVersion"));
        assert_status_body(moved, 422, "Invalid");
        g_assert_cmpstr(reply_string(moved, "message"), ==,
                        "PersistentVolume \"pv-a\" is invalid: spec.persistentvolumesource: "
                        "Forbidden: spec.persistentvolumesource is immutable after creation");
        assert_status_body(missing, 404, "NotFound");
        emu_stop(emu);
}

static void check_merge_patch(const char *content_type)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) created = emu_api(emu, "POST", PVS, NULL, pv_body);
        const char *rv = reply_string(created, "metadata.resourceVersion");
        g_autofree char *patch = g_strdup_printf(
            "{\"metadata\":{\"resourceVersion\":\"%s\",\"annotations\":{\"a/b\":\"x\"}}}", rv);
        g_autoptr(Reply) ok = emu_api(emu, "PATCH", PVS "/pv-a", content_type, patch);
        g_autoptr(Reply) stale = emu_api(emu, "PATCH", PVS "/pv-a", content_type, patch);
        g_autoptr(Reply) removed =
            emu_api(emu, "PATCH", PVS "/pv-a", content_type,
                    "{\"metadata\":{\"annotations\":{\"a/b\":null,\"keep\":null}}}");
        g_autoptr(Reply) stored = emu_control(emu, "GET", "/pvs/pv-a", NULL);

        g_assert_cmpuint(ok->status, ==, 200);
        g_assert_cmpstr(reply_string(ok, "metadata.annotations.a/b"), ==, "x");
        g_assert_cmpstr(reply_string(ok, "metadata.annotations.keep"), ==, "1");
        g_assert_cmpstr(reply_string(ok, "spec.csi.driver"), ==, "rds.csi.srvlab.io");
        g_assert_cmpstr(reply_string(ok, "metadata.resourceVersion"), !=, rv);
        assert_status_body(stale, 409, "Conflict");
        g_assert_cmpuint(removed->status, ==, 200);
        /* null removes; the then-empty annotations map is dropped like omitempty */
        g_assert_null(reply_string(stored, "metadata.annotations.keep"));
        g_assert_false(json_object_has_member(
            json_object_get_object_member(reply_object(stored), "metadata"), "annotations"));
        emu_stop(emu);
}

static void test_merge_patch(void)
{
        check_merge_patch("application/merge-patch+json");
}

static void test_strategic_merge_patch(void)
{
        check_merge_patch("application/strategic-merge-patch+json");
}

static void test_json_patch(void)
{
        Emu *emu = emu_start(NULL);
        const char *type = "application/json-patch+json";
        g_autoptr(Reply) created = emu_api(emu, "POST", PVS, NULL, pv_body);
        g_autoptr(Reply) add = emu_api(
            emu, "PATCH", PVS "/pv-a", type,
            "[{\"op\":\"test\",\"path\":\"/metadata/annotations/keep\",\"value\":\"1\"},"
            "{\"op\":\"add\",\"path\":\"/metadata/annotations/rds.csi.srvlab.io~1attached-node\","
            "\"value\":\"node-1\"},{\"op\":\"replace\",\"path\":\"/status/phase\","
            "\"value\":\"Bound\"}]");
        g_autofree char *rv = current_rv(emu, "pv-a");
        g_autoptr(Reply) failed = emu_api(
            emu, "PATCH", PVS "/pv-a", type,
            "[{\"op\":\"test\",\"path\":\"/metadata/annotations/rds.csi.srvlab.io~1attached-node\","
            "\"value\":\"node-2\"},{\"op\":\"remove\",\"path\":\"/metadata/annotations/keep\"}]");
        g_autofree char *rv_after_failure = current_rv(emu, "pv-a");
        g_autoptr(Reply) missing = emu_api(emu, "PATCH", PVS "/pv-a", type,
                                           "[{\"op\":\"remove\",\"path\":\"/metadata/nothere\"}]");
        g_autoptr(Reply) remove = emu_api(emu, "PATCH", PVS "/pv-a", type,
                                          "[{\"op\":\"remove\",\"path\":\"/metadata/annotations/"
                                          "rds.csi.srvlab.io~1attached-node\"}]");
        g_autoptr(Reply) wrong_type = emu_api(emu, "PATCH", PVS "/pv-a", "text/plain", "{}");

        g_assert_cmpuint(created->status, ==, 201);
        g_assert_cmpuint(add->status, ==, 200);
        /* reply_string() splits on '.', so the dotted key is looked up directly */
        g_assert_cmpstr(
            json_object_get_string_member(
                json_object_get_object_member(
                    json_object_get_object_member(reply_object(add), "metadata"), "annotations"),
                "rds.csi.srvlab.io/attached-node"),
            ==, "node-1");
        g_assert_cmpstr(reply_string(add, "status.phase"), ==, "Bound");
        assert_status_body(failed, 422, "Invalid");
        g_assert_cmpstr(rv, ==, rv_after_failure); /* nothing written */
        assert_status_body(missing, 422, "Invalid");
        g_assert_cmpuint(remove->status, ==, 200);
        g_assert_cmpstr(reply_string(remove, "metadata.annotations.keep"), ==, "1");
        g_assert_false(json_object_has_member(
            json_object_get_object_member(
                json_object_get_object_member(reply_object(remove), "metadata"), "annotations"),
            "rds.csi.srvlab.io/attached-node"));
        assert_status_body(wrong_type, 415, "UnsupportedMediaType");
        emu_stop(emu);
}

static void test_delete(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) created = emu_api(emu, "POST", PVS, NULL, pv_body);
        g_autoptr(Reply) deleted = emu_api(emu, "DELETE", PVS "/pv-a", NULL, NULL);
        g_autoptr(Reply) gone = emu_api(emu, "GET", PVS "/pv-a", NULL, NULL);
        g_autoptr(Reply) again = emu_api(emu, "DELETE", PVS "/pv-a", NULL, NULL);

        g_assert_cmpuint(created->status, ==, 201);
        g_assert_cmpuint(deleted->status, ==, 200);
        g_assert_cmpstr(reply_string(deleted, "metadata.name"), ==, "pv-a");
        assert_status_body(gone, 404, "NotFound");
        assert_status_body(again, 404, "NotFound");
        emu_stop(emu);
}

static void test_rv_monotonic(void)
{
        Emu *emu = emu_start(NULL);
        guint64 last = 0;

        emu_generate(emu, 3, 0);
        for (guint i = 0; i < 20; i++) {
                g_autofree char *body =
                    g_strdup_printf("{\"metadata\":{\"annotations\":{\"n\":\"%u\"}}}", i);
                const char *name = i % 2 == 0 ? PVS "/pv-000000" : PVS "/pv-000002";
                g_autoptr(Reply) r =
                    emu_api(emu, "PATCH", name, "application/merge-patch+json", body);
                g_autoptr(Reply) list = emu_api(emu, "GET", PVS, NULL, NULL);
                guint64 rv =
                    g_ascii_strtoull(reply_string(r, "metadata.resourceVersion"), NULL, 10);

                g_assert_cmpuint(r->status, ==, 200);
                g_assert_cmpuint(rv, >, last);
                /* the list's version is the global one: the newest write */
                g_assert_cmpuint(
                    g_ascii_strtoull(reply_string(list, "metadata.resourceVersion"), NULL, 10), ==,
                    rv);
                last = rv;
        }
        emu_stop(emu);
}

static void test_discovery(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) version = emu_api(emu, "GET", "/version", NULL, NULL);
        g_autoptr(Reply) api = emu_api(emu, "GET", "/api", NULL, NULL);
        g_autoptr(Reply) v1 = emu_api(emu, "GET", "/api/v1", NULL, NULL);
        g_autoptr(Reply) apis = emu_api(emu, "GET", "/apis", NULL, NULL);
        g_autoptr(Reply) unknown = emu_api(emu, "GET", "/apis/apps/v1", NULL, NULL);
        JsonArray *resources;

        g_assert_cmpstr(reply_string(version, "gitVersion"), ==, "v1.32.0");
        g_assert_cmpstr(reply_string(api, "kind"), ==, "APIVersions");
        g_assert_cmpstr(reply_string(v1, "kind"), ==, "APIResourceList");
        resources = json_object_get_array_member(reply_object(v1), "resources");
        g_assert_cmpstr(
            json_object_get_string_member(json_array_get_object_element(resources, 0), "name"), ==,
            "persistentvolumes");
        g_assert_cmpstr(reply_string(apis, "kind"), ==, "APIGroupList");
        assert_status_body(unknown, 404, "NotFound");
        /* discovery is not an API request */
        g_assert_cmpuint(emu_count(emu, "total"), ==, 0);
        emu_stop(emu);
}

static void test_token(void)
{
        Emu *emu = emu_start("--token=first", NULL);
        g_autoptr(Reply) anonymous = emu_api(emu, "GET", PVS, NULL, NULL);
        g_autoptr(Reply) version = emu_api(emu, "GET", "/version", NULL, NULL);
        g_autoptr(Reply) health = emu_control(emu, "GET", "/health", NULL);
        g_autoptr(Reply) ok = NULL;
        g_autoptr(Reply) rotate = NULL;
        g_autoptr(Reply) old = NULL;
        g_autoptr(Reply) fresh = NULL;

        assert_status_body(anonymous, 401, "Unauthorized");
        assert_status_body(version, 401, "Unauthorized");
        g_assert_cmpuint(health->status, ==, 200);
        emu->token = g_strdup("first");
        ok = emu_api(emu, "GET", PVS, NULL, NULL);
        g_assert_cmpuint(ok->status, ==, 200);
        rotate = emu_control(emu, "POST", "/token", "{\"token\":\"second\"}");
        g_assert_cmpuint(rotate->status, ==, 200);
        old = emu_api(emu, "GET", PVS, NULL, NULL);
        assert_status_body(old, 401, "Unauthorized");
        g_free(emu->token);
        emu->token = g_strdup("second");
        fresh = emu_api(emu, "GET", PVS, NULL, NULL);
        g_assert_cmpuint(fresh->status, ==, 200);
        g_assert_cmpuint(emu_count(emu, "unauthorized"), ==, 3);
        g_assert_cmpuint(emu_count(emu, "list"), ==, 2);
        emu_stop(emu);
}

static void test_seed_and_refuse(void)
{
        g_autofree char *dir = g_dir_make_tmp("kube-emu-seed-XXXXXX", NULL);
        g_autofree char *seed = g_build_filename(dir, "seed.json", NULL);
        g_autofree char *arg = g_strdup_printf("--seed=%s", seed);
        g_autofree char *binary = emu_binary();
        g_autoptr(GError) error = NULL;
        Emu *emu;
        int status = 0;

        g_assert_true(g_file_set_contents(
            seed, "{\"kind\":\"List\",\"items\":[{\"metadata\":{\"name\":\"seeded\"}}]}", -1,
            NULL));
        emu = emu_start(arg, NULL);
        {
                g_autoptr(Reply) r = emu_api(emu, "GET", PVS "/seeded", NULL, NULL);

                g_assert_cmpuint(r->status, ==, 200);
                g_assert_cmpstr(reply_string(r, "kind"), ==, "PersistentVolume");
        }
        emu_stop(emu);
        g_unlink(seed);
        g_rmdir(dir);
        /* a non-loopback address is refused before anything is bound */
        {
                const char *argv[] = {binary, "--listen=0.0.0.0", "--port=0", NULL};

                g_spawn_sync(NULL, (char **)argv, NULL,
                             G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                             NULL, NULL, &status, &error);
                g_assert_no_error(error);
                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 2);
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/list/pagination", test_pagination);
        g_test_add_func("/emulator/list/expired-continue", test_expired_continue);
        g_test_add_func("/emulator/get/not-found", test_get_not_found);
        g_test_add_func("/emulator/create/already-exists", test_create);
        g_test_add_func("/emulator/update/conflict", test_update_conflict);
        g_test_add_func("/emulator/patch/merge", test_merge_patch);
        g_test_add_func("/emulator/patch/strategic", test_strategic_merge_patch);
        g_test_add_func("/emulator/patch/json", test_json_patch);
        g_test_add_func("/emulator/delete", test_delete);
        g_test_add_func("/emulator/rv/monotonic", test_rv_monotonic);
        g_test_add_func("/emulator/discovery", test_discovery);
        g_test_add_func("/emulator/auth/token-rotation", test_token);
        g_test_add_func("/emulator/seed-and-refuse", test_seed_and_refuse);
        return g_test_run();
}
