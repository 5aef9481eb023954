/* SPDX-License-Identifier: MIT */
/* The bus API end to end, through GDBus (a different D-Bus implementation than the daemon's
 * sd-bus): every method, error, signal and property of org.srvlab.Attachment1. */
#include "fixture.h"

#include <string.h>

/* ---- helpers ---- */

static int compare_strings(gconstpointer a, gconstpointer b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- signals ---- */

typedef struct {
        GPtrArray *signals; /* (s member, v args) */
        guint id;
        GDBusConnection *conn;
} SignalLog;

static void on_signal(GDBusConnection *conn, const char *sender, const char *path,
                      const char *iface, const char *member, GVariant *args, gpointer data)
{
        SignalLog *log = data;

        g_ptr_array_add(log->signals, g_variant_ref_sink(g_variant_new("(sv)", member, args)));
}

static SignalLog *signal_log_new(Fixture *f)
{
        SignalLog *log = g_new0(SignalLog, 1);

        log->signals = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
        log->conn = g_object_ref(f->conn);
        log->id =
            g_dbus_connection_signal_subscribe(f->conn, NULL, BUS_INTERFACE, NULL, BUS_PATH, NULL,
                                               G_DBUS_SIGNAL_FLAGS_NONE, on_signal, log, NULL);
        return log;
}

static void signal_log_free(SignalLog *log)
{
        g_dbus_connection_signal_unsubscribe(log->conn, log->id);
        g_object_unref(log->conn);
        g_ptr_array_unref(log->signals);
        g_free(log);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SignalLog, signal_log_free)

typedef struct {
        SignalLog *log;
        const char *member;
        const char *volume;
} SignalWait;

static gboolean has_signal(gpointer data)
{
        SignalWait *w = data;

        for (guint i = 0; i < w->log->signals->len; i++) {
                g_autofree char *member = NULL;
                g_autoptr(GVariant) args = NULL;
                g_autofree char *volume = NULL;

                g_variant_get(w->log->signals->pdata[i], "(sv)", &member, &args);
                g_variant_get_child(args, 0, "s", &volume);
                if (g_str_equal(member, w->member) && g_str_equal(volume, w->volume))
                        return TRUE;
        }
        return FALSE;
}

static void wait_signal(SignalLog *log, const char *member, const char *volume)
{
        SignalWait w = {log, member, volume};

        g_assert_true(fixture_wait_for(has_signal, &w, FIXTURE_WAIT_SEC));
}

/* Signals from one sender arrive in order: once the signal of a later change is here, any
 * signal an earlier call emitted is here too. So "no signal" is checked by making a marker
 * change and asserting that its signal is the only one logged. */
static void assert_only_marker_signals(Fixture *f, SignalLog *log)
{
        fixture_track_ok(f, "marker", "marker-node");
        fixture_untrack_ok(f, "marker");
        wait_signal(log, "Detached", "marker");
        for (guint i = 0; i < log->signals->len; i++) {
                g_autofree char *text = g_variant_print(log->signals->pdata[i], FALSE);

                g_test_message("signal %u: %s", i, text);
        }
        g_assert_cmpuint(log->signals->len, ==, 2);
}

/* ---- tests ---- */

static void test_track_get_list_untrack(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        gint64 before = g_get_real_time();
        gint64 after;
        guint64 at = 0;
        g_autofree char *node = NULL;
        g_autoptr(GVariant) l = NULL;
        g_autoptr(GVariant) empty = NULL;

        g_assert_cmpuint(fixture_attachment_count(f), ==, 0);
        fixture_track_ok(f, "vol-a", "node-1");
        after = g_get_real_time();
        node = fixture_get(f, "vol-a", &at, NULL);
        g_assert_cmpstr(node, ==, "node-1");
        /* The daemon's clock and ours are the same clock; a second of slack for steps. */
        g_assert_cmpint((gint64)at, >=, before - G_USEC_PER_SEC);
        g_assert_cmpint((gint64)at, <=, after + G_USEC_PER_SEC);

        l = fixture_list(f);
        g_assert_cmpuint(g_variant_n_children(l), ==, 1);
        {
                const char *v, *n;
                guint64 t;

                g_variant_get_child(l, 0, "(&s&st)", &v, &n, &t);
                g_assert_cmpstr(v, ==, "vol-a");
                g_assert_cmpstr(n, ==, "node-1");
                g_assert_cmpuint(t, ==, at);
        }
        g_assert_cmpuint(fixture_attachment_count(f), ==, 1);

        fixture_untrack_ok(f, "vol-a");
        fixture_assert_not_attached(f, "vol-a");
        empty = fixture_list(f);
        g_assert_cmpuint(g_variant_n_children(empty), ==, 0);
        g_assert_cmpuint(fixture_attachment_count(f), ==, 0);
}

static void test_track_same_node(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autoptr(SignalLog) log = signal_log_new(f);
        guint64 at1 = 0, at2 = 0;
        g_autofree char *n1 = NULL;
        g_autofree char *n2 = NULL;

        fixture_track_ok(f, "vol-a", "node-1");
        wait_signal(log, "Attached", "vol-a");
        n1 = fixture_get(f, "vol-a", &at1, NULL);
        g_ptr_array_set_size(log->signals, 0);

        fixture_track_ok(f, "vol-a", "node-1");
        n2 = fixture_get(f, "vol-a", &at2, NULL);
        g_assert_cmpstr(n2, ==, "node-1");
        g_assert_cmpuint(at2, ==, at1); /* nothing changes, not even the time */
        g_assert_cmpuint(fixture_attachment_count(f), ==, 1);
        assert_only_marker_signals(f, log);
}

static void test_already_attached(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autoptr(SignalLog) log = signal_log_new(f);
        g_autoptr(GError) error = NULL;
        g_autofree char *message = NULL;
        g_autofree char *node = NULL;
        g_autoptr(GVariant) l = NULL;

        fixture_track_ok(f, "vol-a", "node-1");
        wait_signal(log, "Attached", "vol-a");
        g_ptr_array_set_size(log->signals, 0);

        g_assert_false(fixture_track(f, "vol-a", "node-2", &error));
        fixture_assert_dbus_error(error, BUS_ERROR_ALREADY_ATTACHED);
        message = fixture_error_message(error);
        g_assert_cmpstr(message, ==, "volume vol-a already attached to node node-1");

        node = fixture_get(f, "vol-a", NULL, NULL);
        g_assert_cmpstr(node, ==, "node-1");
        l = fixture_list(f);
        g_assert_cmpuint(g_variant_n_children(l), ==, 1);
        assert_only_marker_signals(f, log);
}

static void test_get_not_attached(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);

        fixture_assert_not_attached(f, "vol-never");
        fixture_track_ok(f, "vol-a", "node-1");
        fixture_untrack_ok(f, "vol-a");
        fixture_assert_not_attached(f, "vol-a");
}

static void test_untrack_untracked(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autoptr(SignalLog) log = signal_log_new(f);

        fixture_untrack_ok(f, "vol-never");
        g_assert_cmpuint(fixture_attachment_count(f), ==, 0);
        assert_only_marker_signals(f, log);
}

static void test_list_sorted(void)
{
        static const char *const volumes[] = {"vol-b", "z",     "vol-10", "a.vol", "vol-2",
                                              "0-x",   "vol-a", "vol.a",  "vol-1"};
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autoptr(GVariant) l = NULL;
        g_autoptr(GPtrArray) expected = g_ptr_array_new();

        for (guint i = 0; i < G_N_ELEMENTS(volumes); i++) {
                g_autofree char *node = g_strdup_printf("node-%u", i);

                fixture_track_ok(f, volumes[i], node);
                g_ptr_array_add(expected, (gpointer)volumes[i]);
        }
        /* Byte order (strcmp): what a caller comparing ids as strings expects. */
        g_ptr_array_sort(expected, compare_strings);
        l = fixture_list(f);
        g_assert_cmpuint(g_variant_n_children(l), ==, G_N_ELEMENTS(volumes));
        for (guint i = 0; i < expected->len; i++) {
                const char *v, *n;
                guint64 t;
                g_autofree char *want_node = NULL;

                g_variant_get_child(l, i, "(&s&st)", &v, &n, &t);
                g_assert_cmpstr(v, ==, expected->pdata[i]);
                for (guint j = 0; j < G_N_ELEMENTS(volumes); j++)
                        if (g_str_equal(volumes[j], v))
                                want_node = g_strdup_printf("node-%u", j);
                g_assert_cmpstr(n, ==, want_node);
        }
}

static void test_signals(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autoptr(SignalLog) log = signal_log_new(f);
        guint64 at = 0;
        g_autofree char *node = NULL;
        const char *member, *v, *n;
        g_autoptr(GVariant) args = NULL;
        g_autoptr(GVariant) args2 = NULL;
        guint64 t;

        fixture_track_ok(f, "vol-s", "node-7");
        node = fixture_get(f, "vol-s", &at, NULL);
        wait_signal(log, "Attached", "vol-s");
        g_assert_cmpuint(log->signals->len, ==, 1);
        g_variant_get(log->signals->pdata[0], "(&sv)", &member, &args);
        g_assert_cmpstr(member, ==, "Attached");
        g_assert_cmpstr(g_variant_get_type_string(args), ==, "(sst)");
        g_variant_get(args, "(&s&st)", &v, &n, &t);
        g_assert_cmpstr(v, ==, "vol-s");
        g_assert_cmpstr(n, ==, "node-7");
        g_assert_cmpuint(t, ==, at);

        fixture_untrack_ok(f, "vol-s");
        wait_signal(log, "Detached", "vol-s");
        g_assert_cmpuint(log->signals->len, ==, 2);
        g_variant_get(log->signals->pdata[1], "(&sv)", &member, &args2);
        g_assert_cmpstr(member, ==, "Detached");
        g_assert_cmpstr(g_variant_get_type_string(args2), ==, "(ss)");
        g_variant_get(args2, "(&s&s)", &v, &n);
        g_assert_cmpstr(v, ==, "vol-s");
        g_assert_cmpstr(n, ==, "node-7");
}

static void assert_string_property(Fixture *f, const char *name, const char *want)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) v = fixture_get_property(f, name, &error);

        g_assert_no_error(error);
        g_assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_STRING));
        g_assert_cmpstr(g_variant_get_string(v, NULL), ==, want);
}

static void test_properties(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) all = NULL;
        g_autoptr(GVariant) dict = NULL;
        g_autoptr(GVariant) set = NULL;

        assert_string_property(f, "Version", PROJECT_VERSION);
        assert_string_property(f, "Driver", FIXTURE_DRIVER);
        assert_string_property(f, "Store", "none");
        g_assert_cmpuint(fixture_attachment_count(f), ==, 0);

        all = g_dbus_connection_call_sync(
            f->conn, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
            g_variant_new("(s)", BUS_INTERFACE), G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
            FIXTURE_CALL_TIMEOUT_MSEC, NULL, &error);
        g_assert_no_error(error);
        dict = g_variant_get_child_value(all, 0);
        g_assert_cmpuint(g_variant_n_children(dict), ==, 6);
        {
                g_autoptr(GVariantDict) d = g_variant_dict_new(dict);
                const char *s;
                guint32 u;
                guint64 t;

                g_assert_true(g_variant_dict_lookup(d, "Version", "&s", &s));
                g_assert_cmpstr(s, ==, PROJECT_VERSION);
                g_assert_true(g_variant_dict_lookup(d, "Driver", "&s", &s));
                g_assert_true(g_variant_dict_lookup(d, "Store", "&s", &s));
                g_assert_true(g_variant_dict_lookup(d, "AttachmentCount", "u", &u));
                /* Store=none has no other writers to follow. */
                g_assert_true(g_variant_dict_lookup(d, "WatchState", "&s", &s));
                g_assert_cmpstr(s, ==, "off");
                g_assert_true(g_variant_dict_lookup(d, "WatchSince", "t", &t));
                g_assert_cmpuint(t, ==, 0);
        }

        /* Every property is read-only. */
        set = g_dbus_connection_call_sync(
            f->conn, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties", "Set",
            g_variant_new("(ssv)", BUS_INTERFACE, "AttachmentCount", g_variant_new_uint32(7)), NULL,
            G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, &error);
        g_assert_null(set);
        fixture_assert_dbus_error(error, "org.freedesktop.DBus.Error.PropertyReadOnly");
        g_assert_cmpuint(fixture_attachment_count(f), ==, 0);
}

typedef struct {
        GArray *counts; /* guint32 per PropertiesChanged; G_MAXUINT32 = invalidated */
} CountLog;

static void on_properties_changed(GDBusConnection *conn, const char *sender, const char *path,
                                  const char *iface, const char *member, GVariant *args,
                                  gpointer data)
{
        CountLog *log = data;
        const char *changed_iface;
        g_autoptr(GVariant) changed = NULL;
        g_autofree const char **invalidated = NULL;
        guint32 count;

        g_variant_get(args, "(&s@a{sv}^a&s)", &changed_iface, &changed, &invalidated);
        if (!g_str_equal(changed_iface, BUS_INTERFACE))
                return;
        if (g_variant_lookup(changed, "AttachmentCount", "u", &count)) {
                g_array_append_val(log->counts, count);
        } else if (g_strv_contains(invalidated, "AttachmentCount")) {
                count = G_MAXUINT32;
                g_array_append_val(log->counts, count);
        }
}

static gboolean counts_logged(gpointer data)
{
        CountLog *log = data;

        return log->counts->len > 0;
}

/* Waits for one PropertiesChanged naming AttachmentCount and checks it against `want`. */
static void expect_count_change(Fixture *f, CountLog *log, guint32 want)
{
        guint32 got;

        g_assert_true(fixture_wait_for(counts_logged, log, FIXTURE_WAIT_SEC));
        got = g_array_index(log->counts, guint32, 0);
        if (got != G_MAXUINT32)
                g_assert_cmpuint(got, ==, want);
        g_assert_cmpuint(fixture_attachment_count(f), ==, want);
        g_array_set_size(log->counts, 0);
}

static void test_properties_changed(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        CountLog log = {g_array_new(FALSE, FALSE, sizeof(guint32))};
        guint id = g_dbus_connection_signal_subscribe(
            f->conn, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged", BUS_PATH, NULL,
            G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, &log, NULL);

        fixture_track_ok(f, "vol-a", "node-1");
        expect_count_change(f, &log, 1);
        fixture_track_ok(f, "vol-b", "node-1");
        expect_count_change(f, &log, 2);
        fixture_untrack_ok(f, "vol-a");
        expect_count_change(f, &log, 1);
        fixture_untrack_ok(f, "vol-b");
        expect_count_change(f, &log, 0);
        g_dbus_connection_signal_unsubscribe(f->conn, id);
        g_array_unref(log.counts);
}

/* ---- introspection ---- */

static char *describe_args(GDBusArgInfo **args)
{
        g_autoptr(GString) s = g_string_new(NULL);

        for (guint i = 0; args != NULL && args[i] != NULL; i++)
                g_string_append_printf(s, "%s%s:%s", i > 0 ? "," : "", args[i]->name,
                                       args[i]->signature);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static const char *emits_changed(GDBusPropertyInfo *p)
{
        const char *v = g_dbus_annotation_info_lookup(
            p->annotations, "org.freedesktop.DBus.Property.EmitsChangedSignal");

        return v != NULL ? v : "true";
}

/* One line per member, sorted: comparing two interfaces is comparing two strings. */
static char *describe_interface(GDBusInterfaceInfo *iface)
{
        g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GString) s = g_string_new(NULL);

        for (guint i = 0; iface->methods != NULL && iface->methods[i] != NULL; i++) {
                GDBusMethodInfo *m = iface->methods[i];
                g_autofree char *in = describe_args(m->in_args);
                g_autofree char *out = describe_args(m->out_args);

                g_ptr_array_add(lines,
                                g_strdup_printf("method %s in(%s) out(%s)", m->name, in, out));
        }
        for (guint i = 0; iface->signals != NULL && iface->signals[i] != NULL; i++) {
                g_autofree char *args = describe_args(iface->signals[i]->args);

                g_ptr_array_add(lines,
                                g_strdup_printf("signal %s (%s)", iface->signals[i]->name, args));
        }
        for (guint i = 0; iface->properties != NULL && iface->properties[i] != NULL; i++) {
                GDBusPropertyInfo *p = iface->properties[i];

                g_ptr_array_add(
                    lines,
                    g_strdup_printf("property %s %s %s%s emits-changed=%s", p->name, p->signature,
                                    (p->flags & G_DBUS_PROPERTY_INFO_FLAGS_READABLE) ? "r" : "",
                                    (p->flags & G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE) ? "w" : "",
                                    emits_changed(p)));
        }
        g_ptr_array_sort(lines, compare_strings);
        for (guint i = 0; i < lines->len; i++)
                g_string_append_printf(s, "%s\n", (char *)lines->pdata[i]);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void test_introspection(void)
{
        g_autoptr(Fixture) f = fixture_new(NULL);
        g_autoptr(GError) error = NULL;
        g_autofree char *path = fixture_source_path("dbus/org.srvlab.Attachment1.xml");
        g_autofree char *file_xml = NULL;
        g_autoptr(GVariant) r = NULL;
        const char *live_xml;
        g_autoptr(GDBusNodeInfo) file_node = NULL;
        g_autoptr(GDBusNodeInfo) live_node = NULL;
        GDBusInterfaceInfo *file_iface, *live_iface;
        g_autofree char *want = NULL;
        g_autofree char *got = NULL;

        g_assert_true(g_file_get_contents(path, &file_xml, NULL, &error));
        file_node = g_dbus_node_info_new_for_xml(file_xml, &error);
        g_assert_no_error(error);
        r = g_dbus_connection_call_sync(
            f->conn, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Introspectable", "Introspect", NULL,
            G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, FIXTURE_CALL_TIMEOUT_MSEC, NULL, &error);
        g_assert_no_error(error);
        g_variant_get(r, "(&s)", &live_xml);
        live_node = g_dbus_node_info_new_for_xml(live_xml, &error);
        g_assert_no_error(error);

        file_iface = g_dbus_node_info_lookup_interface(file_node, BUS_INTERFACE);
        live_iface = g_dbus_node_info_lookup_interface(live_node, BUS_INTERFACE);
        g_assert_nonnull(file_iface);
        g_assert_nonnull(live_iface);
        want = describe_interface(file_iface);
        got = describe_interface(live_iface);
        g_assert_cmpstr(got, ==, want);
        /* The standard interfaces a client relies on. */
        g_assert_nonnull(
            g_dbus_node_info_lookup_interface(live_node, "org.freedesktop.DBus.Properties"));
        g_assert_nonnull(g_dbus_node_info_lookup_interface(live_node, "org.freedesktop.DBus.Peer"));
}

/* ---- concurrency ---- */

static void test_concurrent_same_volume(void)
{
        enum { N = 100 };
        g_autoptr(Fixture) f = fixture_new(NULL);
        FixtureCall calls[N] = {0};
        guint ok = 0, refused = 0;
        const char *winner = NULL;
        g_autofree char *holder = NULL;
        g_autofree char *want_message = NULL;

        for (guint i = 0; i < N; i++) {
                g_strlcpy(calls[i].volume, "vol-shared", sizeof(calls[i].volume));
                g_snprintf(calls[i].node, sizeof(calls[i].node), "node-%u", i);
                fixture_track_async(f, &calls[i]);
        }
        g_assert_true(fixture_wait_calls(calls, N, N, 3 * FIXTURE_WAIT_SEC));
        for (guint i = 0; i < N; i++)
                if (calls[i].error == NULL) {
                        ok++;
                        winner = calls[i].node;
                }
        g_assert_cmpuint(ok, ==, 1);
        want_message = g_strdup_printf("volume vol-shared already attached to node %s", winner);
        for (guint i = 0; i < N; i++) {
                g_autofree char *message = NULL;

                if (calls[i].error == NULL)
                        continue;
                fixture_assert_dbus_error(calls[i].error, BUS_ERROR_ALREADY_ATTACHED);
                message = fixture_error_message(calls[i].error);
                g_assert_cmpstr(message, ==, want_message);
                refused++;
        }
        g_assert_cmpuint(refused, ==, N - 1);
        holder = fixture_get(f, "vol-shared", NULL, NULL);
        g_assert_cmpstr(holder, ==, winner);
        g_assert_cmpuint(fixture_attachment_count(f), ==, 1);
        fixture_calls_clear(calls, N);
}

static void test_concurrent_distinct_volumes(void)
{
        enum { N = 200 };
        g_autoptr(Fixture) f = fixture_new(NULL);
        FixtureCall calls[N] = {0};
        g_autoptr(GVariant) l = NULL;

        for (guint i = 0; i < N; i++) {
                g_snprintf(calls[i].volume, sizeof(calls[i].volume), "vol-%03u", i);
                g_snprintf(calls[i].node, sizeof(calls[i].node), "node-%u", i % 7);
                fixture_track_async(f, &calls[i]);
        }
        g_assert_true(fixture_wait_calls(calls, N, N, 3 * FIXTURE_WAIT_SEC));
        for (guint i = 0; i < N; i++)
                g_assert_no_error(calls[i].error);
        l = fixture_list(f);
        g_assert_cmpuint(g_variant_n_children(l), ==, N);
        for (guint i = 0; i < N; i++) {
                const char *v, *n;
                guint64 t;

                g_variant_get_child(l, i, "(&s&st)", &v, &n, &t);
                g_assert_cmpstr(v, ==, calls[i].volume);
                g_assert_cmpstr(n, ==, calls[i].node);
        }
        g_assert_cmpuint(fixture_attachment_count(f), ==, N);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/bus-api/track-get-list-untrack", test_track_get_list_untrack);
        g_test_add_func("/bus-api/track-same-node", test_track_same_node);
        g_test_add_func("/bus-api/already-attached", test_already_attached);
        g_test_add_func("/bus-api/get-not-attached", test_get_not_attached);
        g_test_add_func("/bus-api/untrack-untracked", test_untrack_untracked);
        g_test_add_func("/bus-api/list-sorted", test_list_sorted);
        g_test_add_func("/bus-api/signals", test_signals);
        g_test_add_func("/bus-api/properties", test_properties);
        g_test_add_func("/bus-api/properties-changed", test_properties_changed);
        g_test_add_func("/bus-api/introspection", test_introspection);
        g_test_add_func("/bus-api/concurrent-same-volume", test_concurrent_same_volume);
        g_test_add_func("/bus-api/concurrent-distinct-volumes", test_concurrent_distinct_volumes);
        return g_test_run();
}
