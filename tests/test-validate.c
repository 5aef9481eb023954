/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include <string.h>

#include <glib.h>

#include "service/validate.h"

static char *repeat(char c, gsize n)
{
        char *s = g_malloc(n + 1);

        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_accepted(void)
{
        g_autofree char *label63 = repeat('b', VALIDATE_LABEL_MAX);
        g_autofree char *label61 = repeat('c', VALIDATE_LABEL_MAX - 2);
        /* 3 labels of 63, one of 61 and 3 dots: 253 bytes. */
        g_autofree char *max = g_strjoin(".", label63, label63, label63, label61, NULL);
        const char *ids[] = {
            "a",
            "0",
            "pvc-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "node-1",
            "worker.example.com",
            "a-b.c-d.e",
            "a--b",
            "1.2.3.4",
        };

        for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
                g_autoptr(GError) error = NULL;

                if (!validate_id("volume id", ids[i], &error))
                        g_error("'%s' rejected: %s", ids[i], error->message);
        }
        g_assert_cmpuint(strlen(max), ==, VALIDATE_ID_MAX);
        g_assert_true(validate_id("volume id", max, NULL));
        g_assert_true(validate_id("volume id", label63, NULL));
}

typedef struct {
        const char *id;
        const char *reason; /* substring the message must contain */
} Rejected;

static void check_rejected(const char *what, const char *id, const char *reason)
{
        g_autoptr(GError) error = NULL;

        if (validate_id(what, id, &error))
                g_error("'%s' accepted, expected: %s", id, reason);
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_INVALID_ARGS);
        if (strstr(error->message, reason) == NULL)
                g_error("'%s': message '%s' lacks '%s'", id, error->message, reason);
        /* The message travels over D-Bus: it must be UTF-8 whatever the id held. */
        g_assert_true(g_utf8_validate(error->message, -1, NULL));
        g_assert_true(g_str_has_prefix(error->message, what));
}

static void test_rejected(void)
{
        g_autofree char *label63 = repeat('b', VALIDATE_LABEL_MAX);
        g_autofree char *label62 = repeat('c', VALIDATE_LABEL_MAX - 1);
        /* Made of valid labels, so only the total length is wrong: 254 bytes. */
        g_autofree char *too_long = g_strjoin(".", label63, label63, label63, label62, NULL);
        g_autofree char *label64 = repeat('b', VALIDATE_LABEL_MAX + 1);
        g_autofree char *long_label = g_strconcat("a.", label64, ".c", NULL);
        const Rejected cases[] = {
            {"", "volume id is empty"},
            {"Node_1", "volume id 'Node_1': character '_' not allowed"},
            {"Node-1", "uppercase letter 'N' not allowed, use lowercase"},
            {"node-A", "uppercase letter 'A' not allowed"},
            {"-abc", "must start with a lowercase letter or a digit"},
            {".abc", "must start with"},
            {"abc-", "must end with a lowercase letter or a digit"},
            {"abc.", "must end with"},
            {"a..b", "empty label"},
            {"a.-b", "label '-b' must start and end"},
            {"a-.b", "label 'a-' must start and end"},
            {"has space", "character ' ' not allowed"},
            {"tab\there", "character '\\x09' not allowed"},
            {"caf\xc3\xa9", "character '\\xc3' not allowed"},
            {"bad\xff", "volume id 'bad\\xff': character '\\xff' not allowed"},
            {"slash/x", "character '/' not allowed"},
            {"under_score", "character '_' not allowed"},
            {too_long, "is 254 bytes long, at most 253 allowed"},
            {long_label, "is 64 bytes long, at most 63 allowed"},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
                check_rejected("volume id", cases[i].id, cases[i].reason);
        check_rejected("volume id", NULL, "volume id is empty");
        check_rejected("node id", "Node_1", "node id 'Node_1': character '_' not allowed");
}

static void test_long_id_shortened(void)
{
        g_autofree char *id = repeat('x', 300);
        g_autoptr(GError) error = NULL;

        g_assert_false(validate_id("volume id", id, &error));
        g_assert_true(
            g_str_has_suffix(error->message, "…' is 300 bytes long, at most 253 allowed"));
        g_assert_cmpuint(strlen(error->message), <, 120);
}

/* The same walk a fuzzer takes, in miniature: any bytes give a verdict and a UTF-8 message. */
static void test_random_bytes(void)
{
        g_autoptr(GRand) rand = g_rand_new_with_seed(1123);

        for (guint i = 0; i < 20000; i++) {
                char buf[300];
                gsize len = g_rand_int_range(rand, 0, sizeof(buf));
                g_autoptr(GError) error = NULL;

                for (gsize j = 0; j < len; j++)
                        buf[j] = (char)g_rand_int_range(rand, 1, 256);
                buf[len] = '\0';
                if (!validate_id("volume id", buf, &error))
                        g_assert_true(g_utf8_validate(error->message, -1, NULL));
                else
                        g_assert_no_error(error);
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/validate/accepted", test_accepted);
        g_test_add_func("/validate/rejected", test_rejected);
        g_test_add_func("/validate/long-id-shortened", test_long_id_shortened);
        g_test_add_func("/validate/random-bytes", test_random_bytes);
        return g_test_run();
}
