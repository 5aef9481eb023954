/* SPDX-License-Identifier: MIT */
#include "fixture-private.h"

GVariant *fixture_call(Fixture *f, const char *method, GVariant *params,
                       const GVariantType *reply_type, GError **error)
{
        return g_dbus_connection_call_sync(
            f->conn, ATTACHMENT_NAME, ATTACHMENT_PATH, ATTACHMENT_IFACE, method, params, reply_type,
            G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, error);
}

GVariant *fixture_get_property(Fixture *f, const char *name, GError **error)
{
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(
            f->conn, ATTACHMENT_NAME, ATTACHMENT_PATH, "org.freedesktop.DBus.Properties", "Get",
            g_variant_new("(ss)", ATTACHMENT_IFACE, name), G_VARIANT_TYPE("(v)"),
            G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, error);
        GVariant *value = NULL;

        if (r == NULL)
                return NULL;
        g_variant_get(r, "(v)", &value);
        return value;
}

void fixture_assert_dbus_error(const GError *error, const char *name)
{
        g_autofree char *remote = NULL;

        g_assert_nonnull(error);
        remote = g_dbus_error_get_remote_error(error);
        if (g_strcmp0(remote, name) != 0)
                g_test_message("expected %s, got %s: %s", name, remote, error->message);
        g_assert_cmpstr(remote, ==, name);
}

char *fixture_error_message(const GError *error)
{
        g_autoptr(GError) copy = g_error_copy(error);

        g_dbus_error_strip_remote_error(copy);
        return g_strdup(copy->message);
}

static gboolean tick(gpointer data)
{
        return G_SOURCE_CONTINUE;
}

gboolean fixture_wait_for(gboolean (*cond)(gpointer data), gpointer data, guint timeout_sec)
{
        gint64 deadline = g_get_monotonic_time() + timeout_sec * G_USEC_PER_SEC;
        guint id = g_timeout_add(20, tick, NULL);
        gboolean ok;

        while (!(ok = cond(data)) && g_get_monotonic_time() < deadline)
                g_main_context_iteration(NULL, TRUE);
        g_source_remove(id);
        return ok;
}

static void track_done(GObject *source, GAsyncResult *result, gpointer data)
{
        FixtureCall *call = data;
        g_autoptr(GVariant) reply =
            g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &call->error);

        g_assert_true((reply == NULL) != (call->error == NULL));
        call->done = TRUE;
}

void fixture_track_async(Fixture *f, FixtureCall *call)
{
        call->done = FALSE;
        g_clear_error(&call->error);
        g_dbus_connection_call(f->conn, ATTACHMENT_NAME, ATTACHMENT_PATH, ATTACHMENT_IFACE, "Track",
                               g_variant_new("(ss)", call->volume, call->node), G_VARIANT_TYPE_UNIT,
                               G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, track_done,
                               call);
}

typedef struct {
        FixtureCall *calls;
        guint n;
        guint min_done;
} CallsWait;

static gboolean calls_done(gpointer data)
{
        CallsWait *w = data;
        guint done = 0;

        for (guint i = 0; i < w->n; i++)
                done += w->calls[i].done ? 1 : 0;
        return done >= w->min_done;
}

gboolean fixture_wait_calls(FixtureCall *calls, guint n, guint min_done, guint timeout_sec)
{
        CallsWait w = {calls, n, min_done};

        return fixture_wait_for(calls_done, &w, timeout_sec);
}

void fixture_calls_clear(FixtureCall *calls, guint n)
{
        for (guint i = 0; i < n; i++)
                g_clear_error(&calls[i].error);
}

gboolean fixture_track(Fixture *f, const char *volume, const char *node, GError **error)
{
        g_autoptr(GVariant) r = fixture_call(f, "Track", g_variant_new("(ss)", volume, node),
                                             G_VARIANT_TYPE_UNIT, error);

        return r != NULL;
}

gboolean fixture_untrack(Fixture *f, const char *volume, GError **error)
{
        g_autoptr(GVariant) r =
            fixture_call(f, "Untrack", g_variant_new("(s)", volume), G_VARIANT_TYPE_UNIT, error);

        return r != NULL;
}

char *fixture_get(Fixture *f, const char *volume, guint64 *attached_at_usec, GError **error)
{
        g_autoptr(GVariant) r =
            fixture_call(f, "Get", g_variant_new("(s)", volume), G_VARIANT_TYPE("(st)"), error);
        char *node = NULL;
        guint64 usec = 0;

        if (r == NULL)
                return NULL;
        g_variant_get(r, "(st)", &node, &usec);
        if (attached_at_usec != NULL)
                *attached_at_usec = usec;
        return node;
}

GVariant *fixture_list(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, "List", NULL, G_VARIANT_TYPE("(a(sst))"), &error);

        g_assert_no_error(error);
        return g_variant_get_child_value(r, 0);
}

guint32 fixture_attachment_count(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) v = fixture_get_property(f, "AttachmentCount", &error);

        g_assert_no_error(error);
        g_assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32));
        return g_variant_get_uint32(v);
}

void fixture_track_ok(Fixture *f, const char *volume, const char *node)
{
        g_autoptr(GError) error = NULL;

        fixture_track(f, volume, node, &error);
        g_assert_no_error(error);
}

void fixture_untrack_ok(Fixture *f, const char *volume)
{
        g_autoptr(GError) error = NULL;

        fixture_untrack(f, volume, &error);
        g_assert_no_error(error);
}

void fixture_assert_not_attached(Fixture *f, const char *volume)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *node = fixture_get(f, volume, NULL, &error);

        g_assert_null(node);
        fixture_assert_dbus_error(error, ATTACHMENT_ERROR_PREFIX "NotAttached");
}

/* ---- the signals one daemon emits ---- */

static void on_signal(GDBusConnection *c, const char *sender, const char *path, const char *iface,
                      const char *member, GVariant *params, gpointer data)
{
        FixtureSignals *s = data;
        const char *volume, *node;

        g_variant_get_child(params, 0, "&s", &volume);
        g_variant_get_child(params, 1, "&s", &node);
        g_string_append_printf(s->seen, "%s %s %s;", member, volume, node);
}

void fixture_signals_watch(FixtureSignals *s, Fixture *f)
{
        s->seen = g_string_new(NULL);
        s->conn = g_object_ref(f->conn);
        s->id = g_dbus_connection_signal_subscribe(f->conn, NULL, ATTACHMENT_IFACE, NULL,
                                                   ATTACHMENT_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                   on_signal, s, NULL);
}

void fixture_signals_clear(FixtureSignals *s)
{
        g_dbus_connection_signal_unsubscribe(s->conn, s->id);
        g_clear_object(&s->conn);
        g_string_free(s->seen, TRUE);
}

typedef struct {
        FixtureSignals *s;
        const char *text;
} SignalWait;

static gboolean signal_seen(gpointer data)
{
        const SignalWait *w = data;

        return strstr(w->s->seen->str, w->text) != NULL;
}

void fixture_wait_signal(FixtureSignals *s, const char *text, guint timeout_sec)
{
        SignalWait w = {s, text};

        if (!fixture_wait_for(signal_seen, &w, timeout_sec))
                g_test_message("signals seen: %s; expected %s", s->seen->str, text);
        g_assert_nonnull(strstr(s->seen->str, text));
}
