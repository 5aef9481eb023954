/* The emulator's control endpoint: every fault action, probability faults, counts, delays
 * served concurrently. */
#include "emulator-helper.h"

#include <string.h>

#define PVS "/api/v1/persistentvolumes"

/* On a new connection, so that libsoup cannot retry a dropped request on a reused one. */
static Reply *get_fresh(Emu *emu, const char *path)
{
        g_autoptr(SoupMessage) msg = emu_message(emu, "GET", path);

        soup_message_add_flags(msg, SOUP_MESSAGE_NEW_CONNECTION);
        return emu_send(emu, msg);
}

static void test_status_fault(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) faulted = NULL;
        g_autoptr(Reply) next = NULL;
        g_autoptr(Reply) other = NULL;
        g_autoptr(Reply) named = NULL;

        emu_generate(emu, 2, 0);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"get\",\"name\":\"pv-000001\"},\"count\":1,"
                           "\"action\":\"status\",\"code\":503,\"message\":\"try later\","
                           "\"retry_after\":7}");
        /* the name does not match: served normally, fault kept */
        other = emu_api(emu, "GET", PVS "/pv-000000", NULL, NULL);
        g_assert_cmpuint(other->status, ==, 200);
        faulted = emu_api(emu, "GET", PVS "/pv-000001", NULL, NULL);
        assert_status_body(faulted, 503, "ServiceUnavailable");
        g_assert_cmpstr(reply_string(faulted, "message"), ==, "try later");
        g_assert_cmpstr(soup_message_headers_get_one(faulted->headers, "Retry-After"), ==, "7");
        next = emu_api(emu, "GET", PVS "/pv-000001", NULL, NULL);
        g_assert_cmpuint(next->status, ==, 200);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"list\"},\"action\":\"status\",\"code\":429}");
        named = emu_api(emu, "GET", PVS, NULL, NULL);
        assert_status_body(named, 429, "TooManyRequests");
        g_assert_null(soup_message_headers_get_one(named->headers, "Retry-After"));
        emu_stop(emu);
}

static void test_conflict_and_gone(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) conflict = NULL;
        g_autoptr(Reply) stored = NULL;
        g_autoptr(Reply) gone = NULL;
        g_autoptr(Reply) ok = NULL;
        const char *patch = "{\"metadata\":{\"annotations\":{\"x\":\"y\"}}}";

        emu_generate(emu, 1, 0);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"patch\"},\"count\":1,\"action\":\"conflict\"}");
        emu_add_fault(emu, "{\"match\":{\"verb\":\"list\"},\"count\":1,\"action\":\"gone\"}");
        conflict = emu_api(emu, "PATCH", PVS "/pv-000000", "application/merge-patch+json", patch);
        assert_status_body(conflict, 409, "Conflict");
        g_assert_cmpstr(reply_string(conflict, "message"), ==,
                        "Operation cannot be fulfilled on persistentvolumes \"pv-000000\": the "
                        "object has been modified; please apply your changes to the latest "
                        "version and try again");
        stored = emu_control(emu, "GET", "/pvs/pv-000000", NULL);
        g_assert_null(reply_string(stored, "metadata.annotations.x"));
        gone = emu_api(emu, "GET", PVS "?limit=1", NULL, NULL);
        assert_status_body(gone, 410, "Expired");
        ok = emu_api(emu, "PATCH", PVS "/pv-000000", "application/merge-patch+json", patch);
        g_assert_cmpuint(ok->status, ==, 200);
        emu_stop(emu);
}

typedef struct {
        GMainLoop *loop;
        guint delayed_done;
        guint pending;
        gint third_saw_delayed_done; /* -1 until the third request completes */
        guint statuses_ok;
} DelayState;

static void on_delayed(GObject *source, GAsyncResult *result, gpointer user_data)
{
        DelayState *s = user_data;
        g_autoptr(GBytes) body =
            soup_session_send_and_read_finish(SOUP_SESSION(source), result, NULL);

        if (body != NULL && soup_message_get_status(soup_session_get_async_result_message(
                                SOUP_SESSION(source), result)) == 200)
                s->statuses_ok++;
        s->delayed_done++;
        if (--s->pending == 0)
                g_main_loop_quit(s->loop);
}

static void on_third(GObject *source, GAsyncResult *result, gpointer user_data)
{
        DelayState *s = user_data;
        g_autoptr(GBytes) body =
            soup_session_send_and_read_finish(SOUP_SESSION(source), result, NULL);

        g_assert_nonnull(body);
        s->third_saw_delayed_done = (gint)s->delayed_done;
        if (--s->pending == 0)
                g_main_loop_quit(s->loop);
}

static void send_async(Emu *emu, const char *path, GAsyncReadyCallback cb, DelayState *s)
{
        g_autoptr(SoupMessage) msg = emu_message(emu, "GET", path);

        s->pending++;
        soup_session_send_and_read_async(emu->session, msg, G_PRIORITY_DEFAULT, NULL, cb, s);
}

static gboolean on_start_third(gpointer user_data)
{
        gpointer *args = user_data;

        send_async(args[0], PVS "/pv-000001", on_third, args[1]);
        return G_SOURCE_REMOVE;
}

static void test_delay_concurrent(void)
{
        Emu *emu = emu_start(NULL);
        DelayState s = {.third_saw_delayed_done = -1};
        gpointer args[] = {emu, &s};

        emu_generate(emu, 2, 0);
        /* Long enough that a quick request always fits inside it, even on a loaded machine. */
        emu_add_fault(emu, "{\"match\":{\"verb\":\"get\",\"name\":\"pv-000000\"},\"count\":2,"
                           "\"action\":\"delay\",\"ms\":4000}");
        s.loop = g_main_loop_new(NULL, FALSE);
        send_async(emu, PVS "/pv-000000", on_delayed, &s);
        send_async(emu, PVS "/pv-000000", on_delayed, &s);
        g_idle_add(on_start_third, args);
        g_main_loop_run(s.loop);
        g_main_loop_unref(s.loop);
        /* both delayed requests were served normally, the third while they were pending */
        g_assert_cmpuint(s.delayed_done, ==, 2);
        g_assert_cmpuint(s.statuses_ok, ==, 2);
        g_assert_cmpint(s.third_saw_delayed_done, ==, 0);
        g_assert_cmpuint(emu_count(emu, "get"), ==, 3);
        emu_stop(emu);
}

static void test_drop_malformed_truncated(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) full = NULL;
        g_autoptr(Reply) dropped = NULL;
        g_autoptr(Reply) malformed = NULL;
        g_autoptr(Reply) truncated = NULL;
        g_autoptr(Reply) after = NULL;

        emu_generate(emu, 1, 0);
        full = emu_api(emu, "GET", PVS "/pv-000000", NULL, NULL);
        g_assert_cmpuint(full->status, ==, 200);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"get\"},\"action\":\"drop\"}");
        dropped = get_fresh(emu, PVS "/pv-000000");
        g_assert_nonnull(dropped->error);
        g_assert_cmpuint(dropped->status, ==, 0);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"get\"},\"action\":\"malformed\"}");
        malformed = get_fresh(emu, PVS "/pv-000000");
        g_assert_cmpuint(malformed->status, ==, 200);
        g_assert_null(malformed->json);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"get\"},\"action\":\"truncated\"}");
        truncated = get_fresh(emu, PVS "/pv-000000");
        /* libsoup reports the short body as an error, or hands back the half it got */
        if (truncated->error == NULL) {
                g_assert_cmpuint(g_bytes_get_size(truncated->body), <,
                                 g_bytes_get_size(full->body));
                g_assert_null(truncated->json);
        }
        after = get_fresh(emu, PVS "/pv-000000");
        g_assert_cmpuint(after->status, ==, 200);
        g_assert_nonnull(after->json);
        emu_stop(emu);
}

static void test_huge(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) r = NULL;

        emu_add_fault(emu, "{\"match\":{\"verb\":\"list\"},\"action\":\"huge\",\"bytes\":1048576}");
        r = emu_api(emu, "GET", PVS, NULL, NULL);
        g_assert_cmpuint(r->status, ==, 200);
        g_assert_cmpuint(g_bytes_get_size(r->body), ==, 1048576);
        g_assert_nonnull(r->json); /* valid JSON */
        emu_stop(emu);
}

static guint count_conflicts(Emu *emu, guint n)
{
        guint conflicts = 0;

        for (guint i = 0; i < n; i++) {
                g_autoptr(Reply) r = emu_api(emu, "GET", PVS "/pv-000000", NULL, NULL);

                g_assert_true(r->status == 200 || r->status == 409);
                conflicts += r->status == 409;
        }
        return conflicts;
}

static void test_probability(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) listed = NULL;
        g_autoptr(Reply) cleared = NULL;
        guint conflicts;

        emu_generate(emu, 1, 0);
        emu_add_fault(emu, "{\"match\":{\"verb\":\"*\"},\"probability\":0.5,\"seed\":42,"
                           "\"action\":\"conflict\"}");
        conflicts = count_conflicts(emu, 100);
        /* a standing fault: some requests hit, some do not (all-or-none is 2^-99) */
        g_assert_cmpuint(conflicts, >, 0);
        g_assert_cmpuint(conflicts, <, 100);
        listed = emu_control(emu, "GET", "/faults", NULL);
        g_assert_true(JSON_NODE_HOLDS_ARRAY(listed->json));
        g_assert_cmpuint(json_array_get_length(json_node_get_array(listed->json)), ==, 1);
        cleared = emu_control(emu, "DELETE", "/faults", NULL);
        g_assert_cmpuint(cleared->status, ==, 200);
        g_assert_cmpuint(count_conflicts(emu, 20), ==, 0);
        emu_add_fault(emu,
                      "{\"match\":{\"verb\":\"get\"},\"probability\":1,\"action\":\"conflict\"}");
        g_assert_cmpuint(count_conflicts(emu, 20), ==, 20);
        emu_stop(emu);
}

static void expect(Emu *emu, const char *method, const char *path, const char *body, guint status)
{
        const char *type = strcmp(method, "PATCH") == 0 ? "application/merge-patch+json" : NULL;
        g_autoptr(Reply) r = emu_api(emu, method, path, type, body);

        g_assert_cmpuint(r->status, ==, status);
}

static void test_counts(void)
{
        Emu *emu = emu_start(NULL);
        const char *verbs[] = {"get", "list", "create", "update", "patch", "delete"};
        g_autoptr(Reply) reset = NULL;

        emu_generate(emu, 1, 0);
        expect(emu, "GET", PVS "/pv-000000", NULL, 200);
        expect(emu, "GET", PVS, NULL, 200);
        expect(emu, "POST", PVS, "{\"metadata\":{\"name\":\"n\"}}", 201);
        expect(emu, "PUT", PVS "/n", "{\"metadata\":{\"name\":\"n\"}}", 200);
        expect(emu, "PATCH", PVS "/n", "{}", 200);
        expect(emu, "DELETE", PVS "/n", NULL, 200);
        for (gsize i = 0; i < G_N_ELEMENTS(verbs); i++)
                g_assert_cmpuint(emu_count(emu, verbs[i]), ==, 1);
        g_assert_cmpuint(emu_count(emu, "total"), ==, 6);
        reset = emu_control(emu, "POST", "/counts/reset", NULL);
        g_assert_cmpuint(reset->status, ==, 200);
        g_assert_cmpuint(emu_count(emu, "total"), ==, 0);
        g_assert_cmpuint(emu_count(emu, "get"), ==, 0);
        emu_stop(emu);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/faults/status", test_status_fault);
        g_test_add_func("/emulator/faults/conflict-gone", test_conflict_and_gone);
        g_test_add_func("/emulator/faults/delay-concurrent", test_delay_concurrent);
        g_test_add_func("/emulator/faults/drop-malformed-truncated", test_drop_malformed_truncated);
        g_test_add_func("/emulator/faults/huge", test_huge);
        g_test_add_func("/emulator/faults/probability", test_probability);
        g_test_add_func("/emulator/counts", test_counts);
        return g_test_run();
}
