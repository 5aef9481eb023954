/* SPDX-License-Identifier: MIT */
#include "common/names.h"
#include "service/pv.h"

#include <string.h>

#define DRIVER "rds.csi.srvlab.io"

static gboolean decode(const char *json, PvInfo *pv, GError **error)
{
        return pv_decode(json, strlen(json), DRIVER, pv, error);
}

/* A bad \u escape or a lone surrogate cannot be written as UTF-8 (json-glib let them through
 * as such bytes, found by fuzz-pv): such a PV is refused, not read as "no node". */
static void test_decode_not_utf8(void)
{
        const char *texts[] = {
            "{\"metadata\":{\"name\":\"pv-1\",\"annotations\":{"
            "\"rds.csi.srvlab.io/attached-node\":\"n\\ud800x\"}}}",
            "{\"metadata\":{\"name\":\"pv-1\",\"annotations\":{"
            "\"rds.csi.srvlab.io/attached-node\":\"n\\u\\615not\"}}}",
        };

        for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
                g_auto(PvInfo) pv = {0};
                g_autoptr(GError) error = NULL;

                g_assert_false(pv_decode(texts[i], strlen(texts[i]), DRIVER, &pv, &error));
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
                g_assert_true(g_str_has_prefix(error->message, "invalid JSON from the API server"));
                g_assert_null(pv.attached_node);
        }
}

static void test_status_not_utf8(void)
{
        const char *text = "{\"kind\":\"Status\",\"code\":500,\"reason\":\"Internal\\u\\615Error\","
                           "\"message\":\"etcd \\ud800 broken\"}";
        g_auto(PvStatus) status = {0};

        g_assert_true(pv_status_decode(text, strlen(text), &status));
        g_assert_cmpuint(status.code, ==, 500);
        g_assert_true(g_utf8_validate(status.message, -1, NULL));
        g_assert_true(g_utf8_validate(status.reason, -1, NULL));
        g_assert_true(g_str_has_prefix(status.message, "etcd "));
        g_assert_true(g_str_has_suffix(status.message, "broken"));
}

static void test_decode_full(void)
{
        const char *json = "{\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"pv-1\","
                           "\"resourceVersion\":\"42\",\"annotations\":{"
                           "\"rds.csi.srvlab.io/attached-node\":\"node-1\","
                           "\"rds.csi.srvlab.io/attached-at\":\"2026-11-26T13:07:03.123456Z\","
                           "\"other.io/attached-node\":\"node-9\"}},"
                           "\"spec\":{\"csi\":{\"driver\":\"rds.csi.srvlab.io\","
                           "\"volumeHandle\":\"vol-1\"}}}";
        g_auto(PvInfo) pv = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(decode(json, &pv, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(pv.name, ==, "pv-1");
        g_assert_cmpstr(pv.resource_version, ==, "42");
        g_assert_cmpstr(pv.csi_driver, ==, DRIVER);
        g_assert_cmpstr(pv.volume_handle, ==, "vol-1");
        g_assert_cmpstr(pv.attached_node, ==, "node-1");
        g_assert_cmpstr(pv.attached_at, ==, "2026-11-26T13:07:03.123456Z");
}

static void test_decode_missing_fields(void)
{
        g_auto(PvInfo) pv = {0};
        g_autoptr(GError) error = NULL;

        g_assert_true(decode("{}", &pv, &error));
        g_assert_no_error(error);
        g_assert_null(pv.name);
        g_assert_null(pv.resource_version);
        g_assert_null(pv.csi_driver);
        g_assert_null(pv.volume_handle);
        g_assert_null(pv.attached_node);
        g_assert_null(pv.attached_at);
}

/* Wrong types anywhere must read as absent, without a critical (G_DEBUG=fatal-criticals). */
static void test_decode_wrong_types(void)
{
        const char *cases[] = {
            "{\"metadata\":[],\"spec\":7}",
            "{\"metadata\":{\"name\":5,\"resourceVersion\":null,\"annotations\":\"x\"}}",
            "{\"metadata\":{\"annotations\":{\"rds.csi.srvlab.io/attached-node\":{}}}}",
            "{\"metadata\":{\"annotations\":{\"rds.csi.srvlab.io/attached-node\":true}}}",
            "{\"spec\":{\"csi\":{\"driver\":[\"a\"],\"volumeHandle\":1.5}}}",
            "{\"spec\":{\"csi\":null}}",
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(PvInfo) pv = {0};
                g_autoptr(GError) error = NULL;

                g_assert_true(decode(cases[i], &pv, &error));
                g_assert_no_error(error);
                g_assert_null(pv.name);
                g_assert_null(pv.resource_version);
                g_assert_null(pv.csi_driver);
                g_assert_null(pv.volume_handle);
                g_assert_null(pv.attached_node);
        }
}

static void test_decode_empty_strings_kept(void)
{
        g_auto(PvInfo) pv = {0};

        g_assert_true(decode("{\"spec\":{\"csi\":{\"volumeHandle\":\"\"}},\"metadata\":{"
                             "\"annotations\":{\"rds.csi.srvlab.io/attached-node\":\"\"}}}",
                             &pv, NULL));
        g_assert_cmpstr(pv.volume_handle, ==, "");
        g_assert_cmpstr(pv.attached_node, ==, "");
}

static void test_decode_invalid(void)
{
        const char *cases[] = {"",  "[]",       "null", "\"pv\"",
                               "{", "{\"a\":}", "42",   "{\"metadata\":{\"name\":\"\xff\"}}"};

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(PvInfo) pv = {0};
                g_autoptr(GError) error = NULL;

                g_assert_false(decode(cases[i], &pv, &error));
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
                g_assert_true(g_str_has_prefix(error->message, "invalid"));
                g_assert_null(pv.name);
        }
}

static void test_decode_deep_nesting(void)
{
        g_autoptr(GString) json = g_string_new("{\"a\":");
        g_auto(PvInfo) pv = {0};
        g_autoptr(GError) error = NULL;

        for (guint i = 0; i < 100000; i++)
                g_string_append_c(json, '[');
        g_assert_false(pv_decode(json->str, json->len, DRIVER, &pv, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
}

/* Embedded NUL bytes: the length, not the terminator, bounds the input. */
static void test_decode_embedded_nul(void)
{
        const char json[] = "{\"metadata\":{\"name\":\"a\0b\"}}";
        g_auto(PvInfo) pv = {0};
        g_autoptr(GError) error = NULL;

        g_assert_false(pv_decode(json, sizeof(json) - 1, DRIVER, &pv, &error));
        g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
}

typedef struct {
        GPtrArray *names;
        guint stop_after;
} Collect;

static gboolean collect(const PvInfo *pv, gpointer user_data, GError **error)
{
        Collect *c = user_data;

        g_ptr_array_add(c->names, g_strdup(pv->name != NULL ? pv->name : "(null)"));
        if (c->stop_after != 0 && c->names->len >= c->stop_after) {
                g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "stop");
                return FALSE;
        }
        return TRUE;
}

static void test_list_page(void)
{
        const char *json = "{\"kind\":\"PersistentVolumeList\",\"metadata\":{"
                           "\"resourceVersion\":\"900\",\"continue\":\"tok-1\"},\"items\":["
                           "{\"metadata\":{\"name\":\"a\"}},7,null,\"x\","
                           "{\"metadata\":{\"name\":\"b\"}}]}";
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        Collect c = {names, 0};
        g_autofree char *cont = NULL, *rv = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(pv_list_decode(json, strlen(json), DRIVER, collect, &c, &cont, &rv, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(names->len, ==, 2);
        g_assert_cmpstr(names->pdata[0], ==, "a");
        g_assert_cmpstr(names->pdata[1], ==, "b");
        g_assert_cmpstr(cont, ==, "tok-1");
        g_assert_cmpstr(rv, ==, "900");
}

static void test_list_last_page(void)
{
        const char *cases[] = {
            "{\"metadata\":{\"continue\":\"\"},\"items\":[]}",
            "{\"metadata\":{},\"items\":null}",
            "{}",
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
                Collect c = {names, 0};
                g_autofree char *cont = NULL, *rv = NULL;

                g_assert_true(pv_list_decode(cases[i], strlen(cases[i]), DRIVER, collect, &c, &cont,
                                             &rv, NULL));
                g_assert_cmpuint(names->len, ==, 0);
                g_assert_null(cont);
                g_assert_null(rv);
        }
}

static void test_list_invalid(void)
{
        const char *cases[] = {"{\"items\":{}}", "{\"items\":\"a\"}", "[]", "{\"items\":[", ""};

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
                Collect c = {names, 0};
                g_autoptr(GError) error = NULL;

                g_assert_false(pv_list_decode(cases[i], strlen(cases[i]), DRIVER, collect, &c, NULL,
                                              NULL, &error));
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        }
}

static void test_list_callback_stops(void)
{
        const char *json = "{\"items\":[{},{},{},{}]}";
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        Collect c = {names, 2};
        g_autoptr(GError) error = NULL;

        g_assert_false(pv_list_decode(json, strlen(json), DRIVER, collect, &c, NULL, NULL, &error));
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_cmpuint(names->len, ==, 2);
}

static void test_status(void)
{
        const char *json = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                           "\"message\":\"persistentvolumes \\\"pv-9\\\" not found\","
                           "\"reason\":\"NotFound\",\"code\":404}";
        g_auto(PvStatus) status = {0};

        g_assert_true(pv_status_decode(json, strlen(json), &status));
        g_assert_cmpuint(status.code, ==, 404);
        g_assert_cmpstr(status.reason, ==, "NotFound");
        g_assert_cmpstr(status.message, ==, "persistentvolumes \"pv-9\" not found");
}

static void test_status_odd(void)
{
        const char *not_status[] = {"<html>502 Bad Gateway</html>", "", "{}", "[]",
                                    "{\"kind\":\"PersistentVolume\"}"};
        g_auto(PvStatus) partial = {0};
        const char *json = "{\"message\":\"etcdserver: request timed out\",\"code\":\"500\"}";

        for (gsize i = 0; i < G_N_ELEMENTS(not_status); i++) {
                g_auto(PvStatus) status = {0};

                g_assert_false(pv_status_decode(not_status[i], strlen(not_status[i]), &status));
                g_assert_cmpuint(status.code, ==, 0);
                g_assert_null(status.message);
        }
        /* A code of the wrong type is ignored, the message still counts. */
        g_assert_true(pv_status_decode(json, strlen(json), &partial));
        g_assert_cmpuint(partial.code, ==, 0);
        g_assert_cmpstr(partial.message, ==, "etcdserver: request timed out");
}

static void test_time_format(void)
{
        g_autofree char *epoch = pv_time_format(0);
        g_autofree char *t = pv_time_format(G_GINT64_CONSTANT(1795698423123456));
        g_autofree char *before_epoch = pv_time_format(-1);
        g_autofree char *whole = pv_time_format(G_GINT64_CONSTANT(1795698423000000));

        g_assert_cmpstr(epoch, ==, "1970-01-01T00:00:00.000000Z");
        g_assert_cmpstr(t, ==, "2026-11-26T13:07:03.123456Z");
        g_assert_cmpstr(before_epoch, ==, "1969-12-31T23:59:59.999999Z");
        g_assert_cmpstr(whole, ==, "2026-11-26T13:07:03.000000Z");
        g_assert_null(pv_time_format(G_MAXINT64));
        g_assert_null(pv_time_format(G_MININT64));
}

static void test_time_round_trip(void)
{
        const gint64 samples[] = {0,
                                  1,
                                  -1,
                                  G_GINT64_CONSTANT(951782400000000), /* 2000-02-29 */
                                  G_GINT64_CONSTANT(1795698423123456),
                                  G_GINT64_CONSTANT(253402300799999999),  /* 9999-12-31 */
                                  G_GINT64_CONSTANT(-62167219200000000)}; /* 0000-01-01 */

        for (gsize i = 0; i < G_N_ELEMENTS(samples); i++) {
                g_autofree char *text = pv_time_format(samples[i]);
                gint64 back = 0;

                g_assert_nonnull(text);
                g_assert_true(pv_time_parse(text, &back));
                g_assert_cmpint(back, ==, samples[i]);
        }
        for (gint64 t = -G_GINT64_CONSTANT(400) * 366 * 86400 * 1000000;
             t < G_GINT64_CONSTANT(400) * 366 * 86400 * 1000000;
             t += G_GINT64_CONSTANT(86399) * 1000000 * 7 + 123457) {
                g_autofree char *text = pv_time_format(t);
                gint64 back = 0;

                g_assert_true(pv_time_parse(text, &back));
                g_assert_cmpint(back, ==, t);
        }
}

static void test_time_parse_valid(void)
{
        const struct {
                const char *text;
                gint64 usec;
        } cases[] = {
            {"2026-11-26T13:07:03.123456Z", G_GINT64_CONSTANT(1795698423123456)},
            {"2026-11-26T13:07:03Z", G_GINT64_CONSTANT(1795698423000000)},
            {"2026-11-26T13:07:03.1Z", G_GINT64_CONSTANT(1795698423100000)},
            {"2026-11-26T13:07:03.123456789Z", G_GINT64_CONSTANT(1795698423123456)},
            {"2026-11-26T15:07:03.123456+02:00", G_GINT64_CONSTANT(1795698423123456)},
            {"2026-11-26T08:37:03.123456-04:30", G_GINT64_CONSTANT(1795698423123456)},
            {"2026-11-26T13:07:03+00:00", G_GINT64_CONSTANT(1795698423000000)},
            {"2024-02-29T00:00:00Z", G_GINT64_CONSTANT(1709164800000000)},
            {"1970-01-01T00:00:00Z", 0},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                gint64 usec = -42;

                g_test_message("%s", cases[i].text);
                g_assert_true(pv_time_parse(cases[i].text, &usec));
                g_assert_cmpint(usec, ==, cases[i].usec);
        }
}

static void test_time_parse_invalid(void)
{
        const char *cases[] = {
            "",
            "garbage",
            "2026-11-26",
            "2026-11-26T13:07:03",             /* no zone */
            "2026-11-26 13:07:03Z",            /* space */
            "2026-11-26t13:07:03Z",            /* lowercase */
            "2026-11-26T13:07:03.Z",           /* empty fraction */
            "2026-11-26T13:07:03.1234567890Z", /* 10 digits */
            "2026-13-26T13:07:03Z",            /* month */
            "2026-00-26T13:07:03Z",            /* month */
            "2026-02-29T13:07:03Z",            /* not a leap year */
            "1900-02-29T13:07:03Z",            /* not a leap year */
            "2026-04-31T13:07:03Z",            /* day */
            "2026-11-00T13:07:03Z",            /* day */
            "2026-11-26T24:00:00Z",            /* hour */
            "2026-11-26T13:60:00Z",            /* minute */
            "2026-11-26T13:07:60Z",            /* leap second */
            "2026-11-26T13:07:03+0200",        /* offset without colon */
            "2026-11-26T13:07:03+24:00",       /* offset hour */
            "2026-11-26T13:07:03+02:60",       /* offset minute */
            "2026-11-26T13:07:03Zjunk",        /* trailing */
            "2026-11-26T13:07:03.123456Z ",    /* trailing space */
            " 2026-11-26T13:07:03Z",           /* leading space */
            "+2026-11-26T13:07:03Z",           /* sign */
            "20261-11-26T13:07:03Z",           /* 5-digit year */
            "2026-1-26T13:07:03Z",             /* short month */
            "2026-11-26T13:07:03.12a456Z",     /* letter in fraction */
            "2026-11-26T13:07:03.123456\xffZ", /* byte */
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *shown = g_strescape(cases[i], NULL);
                gint64 usec = -42;

                g_test_message("%s", shown);
                g_assert_false(pv_time_parse(cases[i], &usec));
        }
        g_assert_false(pv_time_parse(NULL, NULL));
}

static JsonNode *parse_node(const char *json)
{
        g_autoptr(JsonParser) parser = json_parser_new();

        g_assert_true(json_parser_load_from_data(parser, json, -1, NULL));
        return json_node_copy(json_parser_get_root(parser));
}

static void test_patch_put(void)
{
        g_autofree char *body =
            pv_patch_put(DRIVER, "17", "node-\"1\"", G_GINT64_CONSTANT(1795698423123456));
        g_autoptr(JsonNode) root = parse_node(body);
        JsonObject *metadata =
            json_object_get_object_member(json_node_get_object(root), "metadata");
        JsonObject *annotations = json_object_get_object_member(metadata, "annotations");

        g_assert_cmpstr(json_object_get_string_member(metadata, "resourceVersion"), ==, "17");
        /* All five keys: the three of shared mode removed (null). */
        g_assert_cmpuint(json_object_get_size(annotations), ==, 5);
        g_assert_true(json_object_get_null_member(annotations, DRIVER ANNOTATION_SUFFIX_MODE));
        g_assert_true(json_object_get_null_member(annotations, DRIVER ANNOTATION_SUFFIX_TARGET));
        g_assert_true(json_object_get_null_member(annotations, DRIVER ANNOTATION_SUFFIX_TARGET_AT));
        g_assert_cmpstr(json_object_get_string_member(annotations, DRIVER ANNOTATION_SUFFIX_NODE),
                        ==, "node-\"1\"");
        g_assert_cmpstr(json_object_get_string_member(annotations, DRIVER ANNOTATION_SUFFIX_AT), ==,
                        "2026-11-26T13:07:03.123456Z");
}

static void test_patch_remove(void)
{
        g_autofree char *body = pv_patch_remove(DRIVER, "18");
        g_autofree char *unconditional = pv_patch_remove(DRIVER, NULL);
        g_autoptr(JsonNode) root = parse_node(body);
        g_autoptr(JsonNode) root2 = parse_node(unconditional);
        JsonObject *metadata =
            json_object_get_object_member(json_node_get_object(root), "metadata");
        JsonObject *annotations = json_object_get_object_member(metadata, "annotations");

        g_assert_cmpstr(json_object_get_string_member(metadata, "resourceVersion"), ==, "18");
        g_assert_true(json_object_get_null_member(annotations, DRIVER ANNOTATION_SUFFIX_NODE));
        g_assert_true(json_object_get_null_member(annotations, DRIVER ANNOTATION_SUFFIX_AT));
        g_assert_false(json_object_has_member(
            json_object_get_object_member(json_node_get_object(root2), "metadata"),
            "resourceVersion"));
}

/* A patch built by us decodes back through pv_decode into the same annotations. */
static void test_patch_decodes(void)
{
        g_autofree char *body = pv_patch_put("x.io", NULL, "n", 0);
        g_auto(PvInfo) pv = {0};

        g_assert_true(pv_decode(body, strlen(body), "x.io", &pv, NULL));
        g_assert_cmpstr(pv.attached_node, ==, "n");
        g_assert_cmpstr(pv.attached_at, ==, "1970-01-01T00:00:00.000000Z");
        g_assert_null(pv.resource_version);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/pv/decode/full", test_decode_full);
        g_test_add_func("/pv/decode/missing-fields", test_decode_missing_fields);
        g_test_add_func("/pv/decode/wrong-types", test_decode_wrong_types);
        g_test_add_func("/pv/decode/empty-strings", test_decode_empty_strings_kept);
        g_test_add_func("/pv/decode/invalid", test_decode_invalid);
        g_test_add_func("/pv/decode/not-utf8", test_decode_not_utf8);
        g_test_add_func("/pv/status/not-utf8", test_status_not_utf8);
        g_test_add_func("/pv/decode/deep-nesting", test_decode_deep_nesting);
        g_test_add_func("/pv/decode/embedded-nul", test_decode_embedded_nul);
        g_test_add_func("/pv/list/page", test_list_page);
        g_test_add_func("/pv/list/last-page", test_list_last_page);
        g_test_add_func("/pv/list/invalid", test_list_invalid);
        g_test_add_func("/pv/list/callback-stops", test_list_callback_stops);
        g_test_add_func("/pv/status/decode", test_status);
        g_test_add_func("/pv/status/odd", test_status_odd);
        g_test_add_func("/pv/time/format", test_time_format);
        g_test_add_func("/pv/time/round-trip", test_time_round_trip);
        g_test_add_func("/pv/time/parse-valid", test_time_parse_valid);
        g_test_add_func("/pv/time/parse-invalid", test_time_parse_invalid);
        g_test_add_func("/pv/patch/put", test_patch_put);
        g_test_add_func("/pv/patch/remove", test_patch_remove);
        g_test_add_func("/pv/patch/decodes", test_patch_decodes);
        return g_test_run();
}
