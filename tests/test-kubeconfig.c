/* SPDX-License-Identifier: MIT */
/* The kubeconfig decoder (service/kubeconfig.c): what a good file gives, and every refusal
 * naming its field. Pure: no file is read, nothing connects. */
#include <string.h>

#include "service/kube-client.h"
#include "service/kubeconfig.h"

#define PATH "/etc/srvlab/kube/config"

/* A kubeconfig with one cluster "c", one user "u" and the current context "ctx" joining them;
 * `cluster` and `user` are extra lines (indented four spaces) of their mappings. */
static char *kubeconfig_text(const char *cluster, const char *user)
{
        return g_strdup_printf("apiVersion: v1\n"
                               "kind: Config\n"
                               "preferences: {}\n"
                               "current-context: ctx\n"
                               "clusters:\n"
                               "- name: c\n"
                               "  cluster:\n"
                               "    server: https://127.0.0.1:6443\n"
                               "%s"
                               "contexts:\n"
                               "- name: ctx\n"
                               "  context:\n"
                               "    cluster: c\n"
                               "    user: u\n"
                               "    namespace: default\n"
                               "users:\n"
                               "- name: u\n"
                               "  user:\n"
                               "%s",
                               cluster, user[0] != '\0' ? user : "    {}\n");
}

static void parse_ok(Kubeconfig *kc, const char *text, const char *context)
{
        g_autoptr(GError) error = NULL;

        g_assert_true(kubeconfig_parse(kc, text, strlen(text), PATH, context, &error));
        g_assert_no_error(error);
}

static void assert_bytes(GBytes *bytes, const char *text)
{
        gsize len = 0;
        const char *data;

        g_assert_nonnull(bytes);
        data = g_bytes_get_data(bytes, &len);
        g_assert_cmpmem(data, len, text, strlen(text));
}

static void test_token_and_ca_data(void)
{
        g_autofree char *ca = g_base64_encode((const guchar *)"PEM CA\n", 7);
        g_autofree char *cluster = g_strdup_printf("    certificate-authority-data: %s\n", ca);
        g_autofree char *text = kubeconfig_text(cluster, "    token: abc.def-123\n");
        g_auto(Kubeconfig) kc = {0};

        parse_ok(&kc, text, NULL);
        g_assert_cmpstr(kc.context, ==, "ctx");
        g_assert_cmpstr(kc.server, ==, "https://127.0.0.1:6443");
        g_assert_cmpstr(kc.token, ==, "abc.def-123");
        assert_bytes(kc.ca_data, "PEM CA\n");
        g_assert_null(kc.ca_file);
        g_assert_null(kc.token_file);
        g_assert_null(kc.cert_file);
        g_assert_null(kc.cert_data);
        g_assert_cmpstr(kc.user_prefix, ==, "kubeconfig " PATH ": users[u].user");
        g_assert_cmpstr(kc.cluster_prefix, ==, "kubeconfig " PATH ": clusters[c].cluster");
}

/* Relative paths resolve against the kubeconfig's directory, as kubectl does. */
static void test_relative_paths(void)
{
        g_autofree char *text = kubeconfig_text("    certificate-authority: ca.crt\n"
                                                "    insecure-skip-tls-verify: false\n",
                                                "    tokenFile: ./token\n"
                                                "    client-certificate: ../pki/client.crt\n"
                                                "    client-key: /var/lib/k/client.key\n");
        g_auto(Kubeconfig) kc = {0};

        parse_ok(&kc, text, NULL);
        g_assert_cmpstr(kc.ca_file, ==, "/etc/srvlab/kube/ca.crt");
        g_assert_cmpstr(kc.token_file, ==, "/etc/srvlab/kube/token");
        g_assert_cmpstr(kc.cert_file, ==, "/etc/srvlab/pki/client.crt");
        g_assert_cmpstr(kc.key_file, ==, "/var/lib/k/client.key");
        g_assert_null(kc.token);
}

static void test_client_cert_data(void)
{
        g_autofree char *cert = g_base64_encode((const guchar *)"CERT", 4);
        g_autofree char *key = g_base64_encode((const guchar *)"KEY!", 4);
        g_autofree char *user = g_strdup_printf("    client-certificate-data: %s\n"
                                                "    client-key-data: %s\n",
                                                cert, key);
        g_autofree char *text = kubeconfig_text("", user);
        g_auto(Kubeconfig) kc = {0};

        parse_ok(&kc, text, NULL);
        assert_bytes(kc.cert_data, "CERT");
        assert_bytes(kc.key_data, "KEY!");
        g_assert_null(kc.token);
}

static const char two_contexts[] = "current-context: a\n"
                                   "clusters:\n"
                                   "- name: one\n"
                                   "  cluster: {server: 'https://10.0.0.1:6443'}\n"
                                   "- name: two\n"
                                   "  cluster:\n"
                                   "    server: https://10.0.0.2:6443\n"
                                   "contexts:\n"
                                   "- {name: a, context: {cluster: one, user: x}}\n"
                                   "- name: b\n"
                                   "  context: {cluster: two, user: y}\n"
                                   "users:\n"
                                   "- name: x\n"
                                   "  user: {token: tx}\n"
                                   "- name: y\n"
                                   "  user: &y {token: ty}\n"
                                   "- name: z\n"
                                   "  user: *y\n";

static void test_context_selection(void)
{
        g_auto(Kubeconfig) current = {0}, chosen = {0};

        parse_ok(&current, two_contexts, "");
        g_assert_cmpstr(current.context, ==, "a");
        g_assert_cmpstr(current.server, ==, "https://10.0.0.1:6443");
        g_assert_cmpstr(current.token, ==, "tx");
        parse_ok(&chosen, two_contexts, "b");
        g_assert_cmpstr(chosen.context, ==, "b");
        g_assert_cmpstr(chosen.server, ==, "https://10.0.0.2:6443");
        g_assert_cmpstr(chosen.token, ==, "ty");
}

typedef struct {
        const char *cluster; /* extra lines, or a whole document when user is NULL */
        const char *user;
        const char *context; /* Context=, NULL: current-context */
        const char *expect;  /* substrings of the message, '|'-separated */
} BadCase;

static const BadCase bad_cases[] = {
    {"", "    exec:\n      command: aws\n", NULL, "users[u].user.exec is not supported"},
    {"", "    auth-provider: {name: gcp}\n", NULL, "users[u].user.auth-provider is not supported"},
    {"", "    username: admin\n", NULL, "users[u].user.username is not supported|basic"},
    {"", "    password: secret\n", NULL, "users[u].user.password is not supported"},
    {"", "    as: someone\n", NULL, "users[u].user.as is not supported|impersonation"},
    {"    insecure-skip-tls-verify: true\n", "", NULL,
     "clusters[c].cluster.insecure-skip-tls-verify is not supported"},
    {"    insecure-skip-tls-verify: yes\n", "", NULL, "insecure-skip-tls-verify is not supported"},
    {"    insecure-skip-tls-verify: \"false\"\n", "", NULL, "insecure-skip-tls-verify"},
    {"    tls-server-name: api\n", "", NULL, "clusters[c].cluster.tls-server-name is not supp"},
    {"    proxy-url: http://proxy:3128\n", "", NULL, "proxy-url is not supported"},
    {"    certificate-authority-data: '%%%'\n", "", NULL,
     "clusters[c].cluster.certificate-authority-data is not valid base64"},
    {"    certificate-authority-data: QUJD\n    certificate-authority: ca.crt\n", "", NULL,
     "certificate-authority and clusters[c].cluster.certificate-authority-data are both set"},
    {"    server: [a]\n", "", NULL, "duplicate key \"server\""},
    {"", "    token: a\n    tokenFile: /t\n", NULL,
     "users[u].user.token and users[u].user.tokenFile"},
    {"", "    client-certificate: c.pem\n", NULL,
     "users[u].user: a client certificate needs its key"},
    {"", "    client-key-data: QUJD\n", NULL, "needs its key"},
    {"", "    token: \"tok\\x01en\"\n", NULL, "users[u].user.token holds a byte"},
    {"", "    token: [a, b]\n", NULL, "users[u].user.token must be a string"},
    {"", "", "other", "Context= \"other\" names no entry in contexts"},
    {"current-context: ctx\n", NULL, NULL, "current-context \"ctx\" names no entry in contexts"},
    {"clusters: []\n", NULL, NULL, "current-context is not set and Context= is empty"},
    {"current-context: [x]\n", NULL, NULL, ": current-context must be a string"},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n", NULL, NULL,
     "contexts[x].context.cluster \"c\" names no entry in clusters"},
    {"current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", NULL, NULL,
     "contexts[x].context.cluster is missing"},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
     "clusters:\n- {name: c, cluster: {server: 'https://h'}}\n",
     NULL, NULL, "contexts[x].context.user is missing"},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
     "clusters:\n- {name: c, cluster: {server: 'https://h'}}\n",
     NULL, NULL, "contexts[x].context.user \"u\" names no entry in users"},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
     "clusters:\n- {name: c, cluster: {}}\nusers:\n- {name: u, user: {}}\n",
     NULL, NULL, "clusters[c].cluster.server is missing"},
    {"current-context: x\ncontexts:\n- {name: x, context: {cluster: c, user: u}}\n"
     "- {name: x, context: {cluster: c, user: u}}\n",
     NULL, NULL, "contexts[x] appears more than once"},
    {"current-context: x\ncontexts: {x: 1}\n", NULL, NULL, "contexts must be a list"},
    {"current-context: x\ncontexts:\n- {name: x, context: 3}\n", NULL, NULL,
     "contexts[x].context is missing or not a mapping"},
    {"- just\n- a list\n", NULL, NULL, "not a kubeconfig"},
    {"current-context: [\n", NULL, NULL, "kubeconfig " PATH ": line "},
    {"a: 1\na: 2\n", NULL, NULL, "line 2: duplicate key \"a\""},
    {"{[a]: 1}\n", NULL, NULL, "a mapping key must be a scalar"},
    {"a: *nothing\n", NULL, NULL, "alias *nothing names no complete anchor"},
    {"a: &x [1, *x]\n", NULL, NULL, "alias *x names no complete anchor"},
    {"a: \"\\xff\"\nb: \xff\n", NULL, NULL, "kubeconfig " PATH ": line"},
};

static void check_bad(guint i, const char *text, gsize len, const char *context, const char *expect)
{
        g_auto(Kubeconfig) kc = {0};
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) parts = g_strsplit(expect, "|", -1);

        if (kubeconfig_parse(&kc, text, len, PATH, context, &error))
                g_error("case %u: accepted:\n%s", i, text);
        g_test_message("%s", error->message);
        g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
        g_assert_true(g_str_has_prefix(error->message, "kubeconfig " PATH ": "));
        for (char **p = parts; *p != NULL; p++)
                if (strstr(error->message, *p) == NULL)
                        g_error("case %u: '%s' not in '%s'", i, *p, error->message);
        /* Nothing half-filled is left behind. */
        g_assert_null(kc.server);
        g_assert_null(kc.token);
}

static void test_refused(void)
{
        for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
                const BadCase *c = &bad_cases[i];
                g_autofree char *text =
                    c->user != NULL ? kubeconfig_text(c->cluster, c->user) : g_strdup(c->cluster);

                check_bad(i, text, strlen(text), c->context, c->expect);
        }
}

/* The message never shows a token, even one that cannot be sent. */
static void test_bad_token_not_shown(void)
{
        g_autofree char *text = kubeconfig_text("", "    token: \"s3cr3t\\ttoken\"\n");
        g_auto(Kubeconfig) kc = {0};
        g_autoptr(GError) error = NULL;

        g_assert_false(kubeconfig_parse(&kc, text, strlen(text), PATH, NULL, &error));
        g_assert_null(strstr(error->message, "s3cr3t"));
}

/* "Billion laughs": each level doubles; the alias bound stops it long before memory does. */
static void test_alias_bomb(void)
{
        g_autoptr(GString) text = g_string_new("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");

        for (guint i = 1; i < 30; i++)
                g_string_append_printf(text, "a%u: &a%u [*a%u, *a%u, *a%u, *a%u]\n", i, i, i - 1,
                                       i - 1, i - 1, i - 1);
        check_bad(0, text->str, text->len, NULL, "more than 16 aliases");
}

/* Within the alias bound, copies still count against the node budget. */
static void test_alias_node_budget(void)
{
        g_autoptr(GString) text = g_string_new("big: &big [");

        for (guint i = 0; i < 20000; i++)
                g_string_append(text, "x,");
        g_string_append(text, "x]\ncopies: [");
        for (guint i = 0; i < 12; i++)
                g_string_append(text, "*big,");
        g_string_append(text, "*big]\n");
        check_bad(0, text->str, text->len, NULL, "more than 200000 nodes");
}

static void test_limits(void)
{
        g_autoptr(GString) deep = g_string_new("a: ");
        gsize big_len = KUBECONFIG_MAX_BYTES + 1;
        g_autofree char *big = g_malloc(big_len);

        for (guint i = 0; i < 40; i++)
                g_string_append_c(deep, '[');
        check_bad(0, deep->str, deep->len, NULL, "nested deeper than 32 levels");
        memset(big, '#', big_len);
        check_bad(1, big, big_len, NULL, "larger than 1048576 bytes");
        check_bad(2, "", 0, NULL, "current-context is not set");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/kubeconfig/token-and-ca-data", test_token_and_ca_data);
        g_test_add_func("/kubeconfig/relative-paths", test_relative_paths);
        g_test_add_func("/kubeconfig/client-cert-data", test_client_cert_data);
        g_test_add_func("/kubeconfig/context-selection", test_context_selection);
        g_test_add_func("/kubeconfig/refused", test_refused);
        g_test_add_func("/kubeconfig/bad-token-not-shown", test_bad_token_not_shown);
        g_test_add_func("/kubeconfig/alias-bomb", test_alias_bomb);
        g_test_add_func("/kubeconfig/alias-node-budget", test_alias_node_budget);
        g_test_add_func("/kubeconfig/limits", test_limits);
        return g_test_run();
}
