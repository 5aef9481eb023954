/* SPDX-License-Identifier: MIT */
/* Who may change state: uid 0 and members of AllowedGroup may Track and Untrack, everyone may
 * read. First the daemon's own check (a bus that lets everyone through), then the project's
 * bus policy file in front of it. Unprivileged clients are real processes: gdbus run under
 * setpriv as uid 65534. Needs root. */
#include "fixture.h"

#include <grp.h>
#include <string.h>
#include <unistd.h>

#define NOBODY "65534"

typedef struct {
        gboolean ok;
        char *out;
        char *err;
} Client;

static void client_clear(Client *c)
{
        g_free(c->out);
        g_free(c->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Client, client_clear)

/* Runs `gdbus call` as uid/gid 65534 with supplementary `groups` ("" = none) and primary
 * `gid`; `args` are the method and its arguments. */
static void run_as_nobody(Fixture *f, const char *gid, const char *groups, Client *c,
                          const char *method, ...)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_auto(GStrv) env = g_get_environ();
        int status = 0;
        va_list ap;

        g_ptr_array_add(argv, g_strdup("setpriv"));
        g_ptr_array_add(argv, g_strdup("--reuid=" NOBODY));
        g_ptr_array_add(argv, g_strconcat("--regid=", gid, NULL));
        g_ptr_array_add(argv, groups[0] == '\0' ? g_strdup("--clear-groups")
                                                : g_strconcat("--groups=", groups, NULL));
        g_ptr_array_add(argv, g_strdup("gdbus"));
        g_ptr_array_add(argv, g_strdup("call"));
        g_ptr_array_add(argv, g_strdup("--address"));
        g_ptr_array_add(argv, g_strdup(f->bus_address));
        g_ptr_array_add(argv, g_strdup("--timeout=120"));
        g_ptr_array_add(argv, g_strdup("--dest=" BUS_NAME));
        g_ptr_array_add(argv, g_strdup("--object-path=" BUS_PATH));
        g_ptr_array_add(argv, g_strconcat("--method=", method, NULL));
        va_start(ap, method);
        for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, g_strdup(a));
        va_end(ap);
        g_ptr_array_add(argv, NULL);
        env = g_environ_setenv(env, "HOME", "/", TRUE);
        env = g_environ_unsetenv(env, "DBUS_SESSION_BUS_ADDRESS");
        env = g_environ_unsetenv(env, "G_DEBUG");
        g_spawn_sync(NULL, (char **)argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL, &c->out,
                     &c->err, &status, &error);
        g_assert_no_error(error);
        c->ok = g_spawn_check_wait_status(status, NULL);
        g_test_message("as %s (gid %s, groups '%s'): %s -> %.200s", NOBODY, gid, groups, method,
                       c->ok ? c->out : c->err);
}

#define AS_NOBODY(f, groups, c, method, ...)                                                       \
        run_as_nobody(f, NOBODY, groups, c, method, __VA_ARGS__, NULL)

static void expect_denied(const Client *c, gboolean by_bus)
{
        g_assert_false(c->ok);
        g_assert_nonnull(strstr(c->err, DBUS_ERROR_ACCESS_DENIED));
        /* dbus-daemon's own refusal says "Rejected send message"; the daemon's does not. */
        if (by_bus)
                g_assert_nonnull(strstr(c->err, "Rejected send message"));
        else
                g_assert_null(strstr(c->err, "Rejected send message"));
}

static char *list_text(Fixture *f)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) l = fixture_call(f, "List", NULL, G_VARIANT_TYPE("(a(sst))"), &error);

        g_assert_no_error(error);
        return g_variant_print(l, FALSE);
}

static void track_as_root(Fixture *f, const char *volume, const char *node)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = fixture_call(f, "Track", g_variant_new("(ss)", volume, node),
                                             G_VARIANT_TYPE_UNIT, &error);

        g_assert_no_error(error);
        g_assert_nonnull(r);
}

/* Reading is open to everyone. */
static void expect_reads_allowed(Fixture *f)
{
        g_auto(Client) list = {0};
        g_auto(Client) get = {0};
        g_auto(Client) prop = {0};
        g_auto(Client) all = {0};
        g_auto(Client) intro = {0};

        AS_NOBODY(f, "", &list, BUS_INTERFACE ".List", "--");
        g_assert_true(list.ok);
        g_assert_nonnull(strstr(list.out, "'vol-a', 'node-1'"));
        AS_NOBODY(f, "", &get, BUS_INTERFACE ".Get", "vol-a");
        g_assert_true(get.ok);
        g_assert_nonnull(strstr(get.out, "'node-1'"));
        AS_NOBODY(f, "", &prop, "org.freedesktop.DBus.Properties.Get", BUS_INTERFACE,
                  "AttachmentCount");
        g_assert_true(prop.ok);
        g_assert_nonnull(strstr(prop.out, "<uint32 1>"));
        AS_NOBODY(f, "", &all, "org.freedesktop.DBus.Properties.GetAll", BUS_INTERFACE);
        g_assert_true(all.ok);
        g_assert_nonnull(strstr(all.out, "'Version'"));
        AS_NOBODY(f, "", &intro, "org.freedesktop.DBus.Introspectable.Introspect", "--");
        g_assert_true(intro.ok);
        g_assert_nonnull(strstr(intro.out, BUS_INTERFACE));
}

static gboolean need_root(void)
{
        g_autofree char *setpriv = g_find_program_in_path("setpriv");
        g_autofree char *gdbus = g_find_program_in_path("gdbus");

        if (getuid() != 0) {
                g_test_skip("needs root (setpriv to uid 65534)");
                return FALSE;
        }
        g_assert_nonnull(setpriv);
        g_assert_nonnull(gdbus);
        return TRUE;
}

/* The gid of `name`, created (groupadd -f -r) if missing. */
static char *ensure_group(const char *name)
{
        struct group *gr = getgrnam(name);

        if (gr == NULL) {
                g_autoptr(GError) error = NULL;
                const char *argv[] = {"groupadd", "-f", "-r", name, NULL};
                int status = 0;

                g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                             &status, &error);
                g_assert_no_error(error);
                g_assert_true(g_spawn_check_wait_status(status, NULL));
                gr = getgrnam(name);
        }
        if (gr == NULL)
                g_error("group %s missing after groupadd", name);
        return g_strdup_printf("%u", (unsigned)gr->gr_gid);
}

static void test_daemon_check(void)
{
        FixtureOptions opts = {.allowed_group = "srvlab-it"};
        g_autoptr(Fixture) f = NULL;
        g_autofree char *gid = NULL;
        g_autofree char *before = NULL;
        g_autofree char *after = NULL;
        g_auto(Client) t1 = {0};
        g_auto(Client) t2 = {0};
        g_auto(Client) u1 = {0};
        g_auto(Client) u2 = {0};
        g_auto(Client) ok_track = {0};
        g_auto(Client) ok_untrack = {0};
        g_auto(Client) primary = {0};

        if (!need_root())
                return;
        gid = ensure_group("srvlab-it");
        f = fixture_new(&opts);
        track_as_root(f, "vol-a", "node-1");
        before = list_text(f);

        AS_NOBODY(f, "", &t1, BUS_INTERFACE ".Track", "vol-b", "node-2");
        expect_denied(&t1, FALSE);
        /* Even a Track that would change nothing is refused: authorization comes first. */
        AS_NOBODY(f, "", &t2, BUS_INTERFACE ".Track", "vol-a", "node-1");
        expect_denied(&t2, FALSE);
        AS_NOBODY(f, "", &u1, BUS_INTERFACE ".Untrack", "vol-a");
        expect_denied(&u1, FALSE);
        AS_NOBODY(f, "", &u2, BUS_INTERFACE ".Untrack", "vol-never");
        expect_denied(&u2, FALSE);
        after = list_text(f);
        g_assert_cmpstr(after, ==, before);
        expect_reads_allowed(f);
        {
                /* Each refusal is logged with the volume and the caller's uid. */
                g_autofree char *log = fixture_daemon_log(f);

                g_assert_nonnull(strstr(log, "Track volume=vol-b node=node-2 uid=65534: uid 65534 "
                                             "may not change attachments"));
                g_assert_nonnull(strstr(log, "Untrack volume=vol-never node=- uid=65534"));
        }

        /* A member of AllowedGroup may, as a supplementary group... */
        AS_NOBODY(f, gid, &ok_track, BUS_INTERFACE ".Track", "vol-b", "node-2");
        g_assert_true(ok_track.ok);
        AS_NOBODY(f, gid, &ok_untrack, BUS_INTERFACE ".Untrack", "vol-b");
        g_assert_true(ok_untrack.ok);
        /* ...and as the primary group. */
        run_as_nobody(f, gid, "", &primary, BUS_INTERFACE ".Track", "vol-c", "node-3", NULL);
        g_assert_true(primary.ok);
        g_free(after);
        after = list_text(f);
        g_assert_nonnull(strstr(after, "'vol-a', 'node-1'"));
        g_assert_null(strstr(after, "vol-b"));
        g_assert_nonnull(strstr(after, "'vol-c', 'node-3'"));
}

static void test_project_policy(void)
{
        FixtureOptions opts = {.policy = FIXTURE_BUS_PROJECT_POLICY};
        g_autoptr(Fixture) f = NULL;
        g_autofree char *gid = NULL;
        g_autofree char *before = NULL;
        g_autofree char *after = NULL;
        g_auto(Client) t = {0};
        g_auto(Client) u = {0};
        g_auto(Client) member = {0};

        if (!need_root())
                return;
        /* The policy names the group srvlab-attachment, and so does the daemon's default
         * AllowedGroup; the package's sysusers file creates it on a real system. */
        gid = ensure_group("srvlab-attachment");
        f = fixture_new(&opts); /* the daemon runs as root: root may own the name */
        track_as_root(f, "vol-a", "node-1");
        before = list_text(f);

        AS_NOBODY(f, "", &t, BUS_INTERFACE ".Track", "vol-b", "node-2");
        expect_denied(&t, TRUE);
        AS_NOBODY(f, "", &u, BUS_INTERFACE ".Untrack", "vol-a");
        expect_denied(&u, TRUE);
        after = list_text(f);
        g_assert_cmpstr(after, ==, before);
        expect_reads_allowed(f);
        {
                /* The bus refused: the calls never reached the daemon. */
                g_autofree char *log = fixture_daemon_log(f);

                g_assert_null(strstr(log, "uid=65534"));
        }

        AS_NOBODY(f, gid, &member, BUS_INTERFACE ".Track", "vol-b", "node-2");
        g_assert_true(member.ok);
        g_free(after);
        after = list_text(f);
        g_assert_nonnull(strstr(after, "'vol-b', 'node-2'"));
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/access/daemon-check", test_daemon_check);
        g_test_add_func("/access/project-policy", test_project_policy);
        return g_test_run();
}
