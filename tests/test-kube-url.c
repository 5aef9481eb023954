/* SPDX-License-Identifier: MIT */
/* Server= checks: pure, they never connect. */
#include "service/kube-client.h"

#include <string.h>

static void test_url_check_accepts(void)
{
        const char *urls[] = {
            "https://10.0.0.1:6443", "https://example.com",
            "https://[fe80::1]:443", "https://api.example.com/prefix",
            "http://127.0.0.1:8080", "http://127.8.9.10",
            "http://[::1]:6443",     "http://localhost:8001",
            "HTTP://LOCALHOST",      "https://kubernetes.default.svc/",
        };

        for (gsize i = 0; i < G_N_ELEMENTS(urls); i++) {
                g_autoptr(GError) error = NULL;

                g_test_message("%s", urls[i]);
                g_assert_true(kube_server_url_check(urls[i], &error));
                g_assert_no_error(error);
        }
}

static void test_url_check_rejects(void)
{
        const struct {
                const char *url;
                const char *why;
        } cases[] = {
            {"http://10.0.0.1:6443", "plain http is only allowed to a loopback host"},
            {"http://example.com", "plain http is only allowed to a loopback host"},
            {"http://[fe80::1]", "plain http is only allowed to a loopback host"},
            {"http://[::ffff:10.0.0.1]", "plain http is only allowed to a loopback host"},
            {"http://127.0.0.1.example.com", "plain http is only allowed"},
            {"http://localhost.example.com", "plain http is only allowed"},
            {"ftp://127.0.0.1", "unsupported scheme"},
            {"unix:///run/k8s.sock", "unsupported scheme"},
            {"garbage", "not a valid URL"},
            {"http://", "no host"},
            {"https://", "no host"},
            {"", "empty URL"},
            {"https://user:secret@example.com", "credentials in the URL"},
            {"http://user@127.0.0.1", "credentials in the URL"},
            {"https://example.com/?a=b", "query or fragment"},
            {"https://example.com/#x", "query or fragment"},
            {"https://exa mple.com", "not a valid URL"},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;

                g_test_message("%s", cases[i].url);
                g_assert_false(kube_server_url_check(cases[i].url, &error));
                g_assert_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG);
                g_assert_true(g_str_has_prefix(error->message, "Server="));
                g_assert_nonnull(strstr(error->message, cases[i].why));
                g_assert_true(kube_client_error_is_permanent(error));
        }
}

static void test_url_check_message(void)
{
        g_autoptr(GError) error = NULL;

        g_assert_false(kube_server_url_check("http://10.0.0.1:6443", &error));
        g_assert_cmpstr(error->message, ==,
                        "Server=http://10.0.0.1:6443: plain http is only allowed to a loopback "
                        "host; use https://");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/kube-client/url/accepts", test_url_check_accepts);
        g_test_add_func("/kube-client/url/rejects", test_url_check_rejects);
        g_test_add_func("/kube-client/url/message", test_url_check_message);
        return g_test_run();
}
