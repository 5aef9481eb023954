/* SPDX-License-Identifier: MIT */
/* Configuration: defaults, every key, drop-in order, and bad values that must stop the daemon
 * with a message naming the file, the key and what is allowed. */
#include <glib/gstdio.h>

#include "config.h"
#include "log-capture.h"

static void test_defaults(void)
{
        g_auto(Config) c = {0};

        config_init(&c);
        g_assert_cmpint(c.store, ==, STORE_KIND_KUBERNETES);
        g_assert_cmpstr(c.driver, ==, "rds.csi.srvlab.io");
        g_assert_cmpuint(c.workers, ==, 16);
        g_assert_cmpuint(c.queue_limit, ==, 4096);
        g_assert_cmpstr(c.allowed_group, ==, "srvlab-attachment");
        g_assert_cmpstr(c.kube_server, ==, "");
        g_assert_cmpstr(c.kube_token_file, ==,
                        "/var/run/secrets/kubernetes.io/serviceaccount/token");
        g_assert_cmpuint(c.request_timeout_sec, ==, 10);
        g_assert_cmpuint(c.start_timeout_sec, ==, 90);
}

static void test_all_keys(void)
{
        const char *text = "[Attachment]\n"
                           "Store=none\n"
                           "Driver=other.csi.example.com\n"
                           "Workers=4\n"
                           "QueueLimit=10\n"
                           "AllowedGroup=wheel\n"
                           "[Kubernetes]\n"
                           "Server=https://127.0.0.1:6443\n"
                           "TokenFile=/run/token\n"
                           "CAFile=\n"
                           "RequestTimeoutSec=3\n"
                           "StartTimeoutSec=0\n";
        g_auto(Config) c = {0};
        g_autoptr(GError) error = NULL;

        config_init(&c);
        g_assert_true(config_load_data(&c, text, -1, "test.conf", &error));
        g_assert_no_error(error);
        g_assert_cmpint(c.store, ==, STORE_KIND_NONE);
        g_assert_cmpstr(c.driver, ==, "other.csi.example.com");
        g_assert_cmpuint(c.workers, ==, 4);
        g_assert_cmpuint(c.queue_limit, ==, 10);
        g_assert_cmpstr(c.allowed_group, ==, "wheel");
        g_assert_cmpstr(c.kube_server, ==, "https://127.0.0.1:6443");
        g_assert_cmpstr(c.kube_token_file, ==, "/run/token");
        g_assert_cmpstr(c.kube_ca_file, ==, "");
        g_assert_cmpuint(c.request_timeout_sec, ==, 3);
        g_assert_cmpuint(c.start_timeout_sec, ==, 0);
}

typedef struct {
        const char *text;
        const char *expect; /* substrings of the message, '|'-separated */
} BadCase;

static const BadCase bad_cases[] = {
    {"[Attachment]\nStore=etcd\n", "bad.conf|Store=etcd|\"kubernetes\" or \"none\""},
    {"[Attachment]\nWorkers=0\n", "bad.conf|[Attachment] Workers=0|from 1 to 256"},
    {"[Attachment]\nWorkers=257\n", "Workers=257|from 1 to 256"},
    {"[Attachment]\nWorkers=four\n", "Workers=four|integer"},
    {"[Attachment]\nWorkers=-1\n", "Workers=-1|integer"},
    {"[Attachment]\nQueueLimit=0\n", "QueueLimit=0|from 1 to 1048576"},
    {"[Attachment]\nDriver=Bad_Driver\n", "Driver=Bad_Driver|DNS subdomain"},
    {"[Attachment]\nDriver=\n", "Driver=|DNS subdomain"},
    {"[Kubernetes]\nRequestTimeoutSec=0\n", "[Kubernetes] RequestTimeoutSec=0|from 1"},
    {"[Kubernetes]\nStartTimeoutSec=1e3\n", "StartTimeoutSec=1e3|integer"},
    {"[Kubernetes]\nTokenFile=relative/token\n", "TokenFile=relative/token|absolute"},
    {"[Kubernetes]\nCAFile=ca.crt\n", "CAFile=ca.crt|absolute"},
    {"[Kubernetes]\nKubeconfig=~/.kube/config\n", "Kubeconfig=~/.kube/config|absolute"},
    {"this is not a key file\n", "bad.conf"},
};

static void test_bad_values(void)
{
        for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
                g_auto(Config) c = {0};
                g_autoptr(GError) error = NULL;
                g_auto(GStrv) parts = g_strsplit(bad_cases[i].expect, "|", -1);

                config_init(&c);
                g_assert_false(config_load_data(&c, bad_cases[i].text, -1, "bad.conf", &error));
                g_assert_nonnull(error);
                g_assert_true(error->domain == G_KEY_FILE_ERROR);
                for (char **p = parts; *p != NULL; p++) {
                        if (strstr(error->message, *p) == NULL)
                                g_error("case %u: '%s' not in '%s'", i, *p, error->message);
                }
        }
}

static void test_kubeconfig_keys(void)
{
        const char *text = "[Kubernetes]\nKubeconfig=/etc/srvlab/kubeconfig\nContext=prod\n";
        g_auto(Config) c = {0};
        g_autoptr(GError) error = NULL;

        config_init(&c);
        g_assert_cmpstr(c.kube_kubeconfig, ==, "");
        g_assert_cmpstr(c.kube_context, ==, "");
        g_assert_true(config_load_data(&c, text, -1, "k.conf", &error));
        g_assert_cmpstr(c.kube_kubeconfig, ==, "/etc/srvlab/kubeconfig");
        g_assert_cmpstr(c.kube_context, ==, "prod");
        /* The defaults of TokenFile= and CAFile= were not set by anyone: no conflict. */
        g_assert_true(config_check(&c, &error));
        g_assert_no_error(error);
}

/* Kubeconfig= with Server=, TokenFile= or CAFile= set explicitly (even empty), and Context=
 * alone, fail naming both keys. */
static void test_kubeconfig_combinations(void)
{
        static const struct {
                const char *text;
                const char *expect;
        } cases[] = {
            {"Kubeconfig=/k\nServer=https://10.0.0.1:6443\n",
             "c.conf: [Kubernetes] Kubeconfig= cannot be combined with Server= (set in c.conf)"},
            {"TokenFile=/t\nKubeconfig=/k\n", "Kubeconfig= cannot be combined with TokenFile="},
            {"Kubeconfig=/k\nCAFile=\n", "Kubeconfig= cannot be combined with CAFile="},
            {"Context=prod\n", "c.conf: [Kubernetes] Context= needs Kubeconfig="},
            {"Kubeconfig=/k\nContext=x\nKubeconfig=\n", "Context= needs Kubeconfig="},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *text = g_strconcat("[Kubernetes]\n", cases[i].text, NULL);
                g_auto(Config) c = {0};
                g_autoptr(GError) error = NULL;

                config_init(&c);
                g_assert_true(config_load_data(&c, text, -1, "c.conf", &error));
                g_assert_false(config_check(&c, &error));
                g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
                if (strstr(error->message, cases[i].expect) == NULL)
                        g_error("case %" G_GSIZE_FORMAT ": '%s' not in '%s'", i, cases[i].expect,
                                error->message);
        }
}

static void test_unknown_keys_warn(void)
{
        g_auto(Config) c = {0};

        config_init(&c);
        log_capture_expect("w.conf: unknown key [Attachment] Wrkers ignored");
        log_capture_expect("w.conf: unknown section [Attachmnt] ignored");
        g_assert_true(
            config_load_data(&c, "[Attachment]\nWrkers=3\n[Attachmnt]\nX=1\n", -1, "w.conf", NULL));
        log_capture_assert_all_seen();
        g_assert_cmpuint(c.workers, ==, 16);
}

static void write_file(const char *dir, const char *name, const char *text)
{
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void test_dropins(void)
{
        g_autofree char *dir = g_dir_make_tmp("config-XXXXXX", NULL);
        g_autofree char *main_path = g_build_filename(dir, "attachment.conf", NULL);
        g_autofree char *dropins = g_build_filename(dir, "attachment.conf.d", NULL);
        g_auto(Config) c = {0};
        g_autoptr(GError) error = NULL;

        write_file(dir, "attachment.conf", "[Attachment]\nWorkers=2\nQueueLimit=5\n");
        g_assert_cmpint(g_mkdir(dropins, 0755), ==, 0);
        /* Lexical order: 20 overrides 10; files not ending in .conf are ignored. */
        write_file(dropins, "20-b.conf", "[Attachment]\nWorkers=8\n");
        write_file(dropins, "10-a.conf", "[Attachment]\nWorkers=4\nStore=none\n");
        write_file(dropins, "30-c.conf.disabled", "[Attachment]\nWorkers=99\n");

        config_init(&c);
        g_assert_true(config_load(&c, main_path, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(c.workers, ==, 8);
        g_assert_cmpuint(c.queue_limit, ==, 5);
        g_assert_cmpint(c.store, ==, STORE_KIND_NONE);

        /* A bad drop-in names its own file. */
        write_file(dropins, "40-bad.conf", "[Attachment]\nQueueLimit=none\n");
        config_clear(&c);
        config_init(&c);
        g_assert_false(config_load(&c, main_path, &error));
        g_assert_nonnull(strstr(error->message, "40-bad.conf"));
        g_assert_nonnull(strstr(error->message, "QueueLimit=none"));
}

/* The conflict spans files: the message names the file of each key. */
static void test_kubeconfig_dropin_conflict(void)
{
        g_autofree char *dir = g_dir_make_tmp("config-XXXXXX", NULL);
        g_autofree char *main_path = g_build_filename(dir, "attachment.conf", NULL);
        g_autofree char *dropins = g_build_filename(dir, "attachment.conf.d", NULL);
        g_autofree char *dropin = g_build_filename(dropins, "50-k.conf", NULL);
        g_autofree char *expect = NULL;
        g_auto(Config) c = {0};
        g_autoptr(GError) error = NULL;

        write_file(dir, "attachment.conf", "[Kubernetes]\nServer=https://10.0.0.1:6443\n");
        g_assert_cmpint(g_mkdir(dropins, 0755), ==, 0);
        write_file(dropins, "50-k.conf", "[Kubernetes]\nKubeconfig=/etc/k\n");
        config_init(&c);
        g_assert_false(config_load(&c, main_path, &error));
        expect = g_strdup_printf("%s: [Kubernetes] Kubeconfig= cannot be combined with Server= "
                                 "(set in %s)",
                                 dropin, main_path);
        g_assert_cmpstr(strstr(error->message, expect), ==, error->message);
        g_unlink(dropin);
        g_rmdir(dropins);

        /* Without a drop-in directory too. */
        write_file(dir, "attachment.conf", "[Kubernetes]\nKubeconfig=/etc/k\nCAFile=/ca\n");
        config_clear(&c);
        config_init(&c);
        g_clear_error(&error);
        g_assert_false(config_load(&c, main_path, &error));
        g_assert_nonnull(strstr(error->message, "Kubeconfig= cannot be combined with CAFile="));
        g_unlink(main_path);
        g_rmdir(dir);
}

/* Reconcile= and Events= (issue 13): yes by default, yes/no, anything else refused. */
static void test_reconcile_events(void)
{
        g_auto(Config) c = {0};
        g_autoptr(GError) error = NULL;
        const char *off = "[Attachment]\nReconcile=no\nEvents=no\n";
        const char *bad = "[Attachment]\nReconcile=maybe\n";

        config_init(&c);
        g_assert_true(c.reconcile);
        g_assert_true(c.events);
        g_assert_true(config_load_data(&c, off, strlen(off), "a.conf", &error));
        g_assert_no_error(error);
        g_assert_false(c.reconcile);
        g_assert_false(c.events);
        g_assert_false(config_load_data(&c, bad, strlen(bad), "b.conf", &error));
        g_assert_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
        g_assert_nonnull(strstr(error->message, "b.conf: [Attachment] Reconcile=maybe"));
}

static void test_missing_main_file(void)
{
        g_auto(Config) c = {0};
        g_autoptr(GError) error = NULL;

        config_init(&c);
        g_assert_true(config_load(&c, "/nonexistent/srvlab/attachment.conf", &error));
        g_assert_no_error(error);
        g_assert_cmpuint(c.workers, ==, 16);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        log_capture_install();
        g_test_add_func("/config/defaults", test_defaults);
        g_test_add_func("/config/all-keys", test_all_keys);
        g_test_add_func("/config/bad-values", test_bad_values);
        g_test_add_func("/config/kubeconfig-keys", test_kubeconfig_keys);
        g_test_add_func("/config/kubeconfig-combinations", test_kubeconfig_combinations);
        g_test_add_func("/config/kubeconfig-dropin-conflict", test_kubeconfig_dropin_conflict);
        g_test_add_func("/config/unknown-keys-warn", test_unknown_keys_warn);
        g_test_add_func("/config/dropins", test_dropins);
        g_test_add_func("/config/missing-main-file", test_missing_main_file);
        g_test_add_func("/config/reconcile-events", test_reconcile_events);
        return g_test_run();
}
