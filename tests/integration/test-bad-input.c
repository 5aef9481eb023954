/* SPDX-License-Identifier: MIT */
/* Malformed input over the bus: bad ids, huge strings, wrong signatures. Each is refused with
 * InvalidArgs (or the bus's own error for a call that cannot be routed), the daemon stays up
 * and nothing changes. */
#include "fixture.h"

#include <string.h>
#include <sys/wait.h>

/* The observable state, as one string: List and AttachmentCount. */
static char *snapshot(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) l = fixture_call(f, "List", NULL, G_VARIANT_TYPE("(a(sst))"), &error);
        g_autoptr(GVariant) count = NULL;
        g_autofree char *text = NULL;

        g_assert_no_error(error);
        count = fixture_get_property(f, "AttachmentCount", &error);
        g_assert_no_error(error);
        text = g_variant_print(l, TRUE);
        return g_strdup_printf("%s count=%u", text, g_variant_get_uint32(count));
}

static Fixture *fixture_with_state(void)
{
        Fixture *f = fixture_new(NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, "Track", g_variant_new("(ss)", "vol-a", "node-1"),
                                             G_VARIANT_TYPE_UNIT, &error);

        g_assert_no_error(error);
        g_assert_nonnull(r);
        return f;
}

static void assert_daemon_alive(Fixture *f)
{
        g_assert_cmpint(waitpid(f->daemon_pid, NULL, WNOHANG), ==, 0);
        g_assert_true(fixture_name_has_owner(f));
}

/* Calls `method` with `params` and asserts the error `want` and an unchanged state. */
static void expect_refused(Fixture *f, const char *method, GVariant *params, const char *want)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *before = snapshot(f);
        g_autofree char *after = NULL;
        g_autofree char *shown = NULL;
        g_autoptr(GVariant) r = NULL;

        g_variant_ref_sink(params);
        shown = g_variant_print(params, FALSE);
        if (strlen(shown) > 120)
                strcpy(shown + 100, "...");
        g_test_message("%s%s", method, shown);
        r = fixture_call(f, method, params, NULL, &error);
        g_variant_unref(params);
        g_assert_null(r);
        fixture_assert_dbus_error(error, want);
        after = snapshot(f);
        g_assert_cmpstr(after, ==, before);
        assert_daemon_alive(f);
}

static char *repeat(char c, gsize n)
{
        char *s = g_malloc(n + 1);

        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* Four labels of 63, 63, 63 and `last` bytes: 192 + last bytes in all. */
static char *long_id(gsize last)
{
        g_autofree char *l63 = repeat('a', 63);
        g_autofree char *tail = repeat('b', last);

        return g_strjoin(".", l63, l63, l63, tail, NULL);
}

static void test_bad_ids(void)
{
        g_autoptr(Fixture) f = fixture_with_state();
        g_autofree char *len254 = long_id(62);
        g_autofree char *label64 = repeat('c', 64);
        g_autofree char *mib = repeat('d', 1024 * 1024);
        const char *const bad[] = {
            "",     len254,   label64, "Vol-a", "vol-A",      "vol_a", "-vol", "vol-",    ".vol",
            "vol.", "vol..a", "vol a", "vol/a", "v\xc3\xb6l", "vol\n", mib,    "vol-a\t",
        };

        for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
                expect_refused(f, "Track", g_variant_new("(ss)", bad[i], "node-1"),
                               DBUS_ERROR_INVALID_ARGS);
                expect_refused(f, "Track", g_variant_new("(ss)", "vol-b", bad[i]),
                               DBUS_ERROR_INVALID_ARGS);
                /* vol-a is tracked: a bad node must not pass as "same node again" either. */
                expect_refused(f, "Track", g_variant_new("(ss)", "vol-a", bad[i]),
                               DBUS_ERROR_INVALID_ARGS);
                expect_refused(f, "Untrack", g_variant_new("(s)", bad[i]), DBUS_ERROR_INVALID_ARGS);
                expect_refused(f, "Get", g_variant_new("(s)", bad[i]), DBUS_ERROR_INVALID_ARGS);
        }
}

/* The limits themselves are valid: 253 bytes, 63-byte labels, one character, digits. */
static void test_edge_ids_accepted(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autofree char *len253 = long_id(61);
        g_autofree char *label63 = repeat('e', 63);
        const char *const good[] = {len253, label63, "0", "a", "1.2-3", "a-b.c-d"};

        g_assert_cmpuint(strlen(len253), ==, 253);
        for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) r = NULL;
                g_autoptr(GVariant) got = NULL;
                const char *node;

                r = fixture_call(f, "Track", g_variant_new("(ss)", good[i], good[i]),
                                 G_VARIANT_TYPE_UNIT, &error);
                g_assert_no_error(error);
                got = fixture_call(f, "Get", g_variant_new("(s)", good[i]), G_VARIANT_TYPE("(st)"),
                                   &error);
                g_assert_no_error(error);
                g_variant_get(got, "(&st)", &node, NULL);
                g_assert_cmpstr(node, ==, good[i]);
        }
}

static void test_wrong_signatures(void)
{
        g_autoptr(Fixture) f = fixture_with_state();

        expect_refused(f, "Track", g_variant_new("(s)", "vol-b"), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Track", g_variant_new("(i)", 42), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Track", g_variant_new("(si)", "vol-b", 42), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Track", g_variant_new("(sss)", "vol-b", "node-1", "x"),
                       DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Track", g_variant_new("()"), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Track", g_variant_new("(ay)", NULL), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Untrack", g_variant_new("(ss)", "vol-a", "node-1"),
                       DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Untrack", g_variant_new("(u)", 1), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Get", g_variant_new("()"), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Get", g_variant_new("(o)", "/vol_a"), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "List", g_variant_new("(s)", "vol-a"), DBUS_ERROR_INVALID_ARGS);
        expect_refused(f, "Detach", g_variant_new("(s)", "vol-a"),
                       "org.freedesktop.DBus.Error.UnknownMethod");
}

static void test_wrong_object(void)
{
        g_autoptr(Fixture) f = fixture_with_state();
        g_autofree char *before = snapshot(f);
        g_autofree char *after = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
            f->conn, BUS_NAME, "/org/srvlab/Attachment1/x", BUS_INTERFACE, "Track",
            g_variant_new("(ss)", "vol-b", "node-1"), NULL, G_DBUS_CALL_FLAGS_NONE,
            FIXTURE_CALL_TIMEOUT_MSEC, NULL, &error);
        g_autofree char *remote = NULL;

        g_assert_null(r);
        remote = g_dbus_error_get_remote_error(error);
        g_test_message("wrong object path: %s", error->message);
        g_assert_true(g_strcmp0(remote, "org.freedesktop.DBus.Error.UnknownObject") == 0 ||
                      g_strcmp0(remote, "org.freedesktop.DBus.Error.UnknownMethod") == 0);
        after = snapshot(f);
        g_assert_cmpstr(after, ==, before);
        assert_daemon_alive(f);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/bad-input/ids", test_bad_ids);
        g_test_add_func("/bad-input/edge-ids-accepted", test_edge_ids_accepted);
        g_test_add_func("/bad-input/wrong-signatures", test_wrong_signatures);
        g_test_add_func("/bad-input/wrong-object", test_wrong_object);
        return g_test_run();
}
