/* SPDX-License-Identifier: MIT */
/* The streaming PV list scanner against the json-glib reference decoder. */
#include "service/pv.h"

#include <string.h>

#define DRIVER "rds.csi.srvlab.io"

/* Every field of every item, NULL kept, for comparing the scanner with the json-glib path. */
static gboolean record(const PvInfo *pv, gpointer user_data, GError **error)
{
        GPtrArray *fields = user_data;

        g_ptr_array_add(fields, g_strdup(pv->name));
        g_ptr_array_add(fields, g_strdup(pv->resource_version));
        g_ptr_array_add(fields, g_strdup(pv->csi_driver));
        g_ptr_array_add(fields, g_strdup(pv->volume_handle));
        g_ptr_array_add(fields, g_strdup(pv->attached_node));
        g_ptr_array_add(fields, g_strdup(pv->attached_at));
        g_ptr_array_add(fields, g_strdup(pv->claim_namespace));
        g_ptr_array_add(fields, g_strdup(pv->claim_name));
        g_ptr_array_add(fields, g_strdup(pv->claim_uid));
        g_ptr_array_add(fields, g_strdup(pv->uid));
        return TRUE;
}

/* Decodes with both; whenever the scanner accepts, json-glib must accept and agree on every
 * field. Returns the scanner's fields (NULL when it rejected the page). */
static GPtrArray *decode_both(const char *json, gsize len, char **cont)
{
        g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) ref = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *c = NULL, *rv = NULL, *ref_c = NULL, *ref_rv = NULL;

        if (!pv_list_decode(json, len, DRIVER, record, fields, &c, &rv, NULL)) {
                g_assert_cmpuint(fields->len, ==, 0);
                return NULL;
        }
        g_assert_true(
            pv_list_decode_reference(json, len, DRIVER, record, ref, &ref_c, &ref_rv, NULL));
        g_assert_cmpuint(fields->len, ==, ref->len);
        for (guint i = 0; i < fields->len; i++)
                g_assert_cmpstr(fields->pdata[i], ==, ref->pdata[i]);
        g_assert_cmpstr(c, ==, ref_c);
        g_assert_cmpstr(rv, ==, ref_rv);
        if (cont != NULL)
                *cont = g_steal_pointer(&c);
        return g_steal_pointer(&fields);
}

static void test_scan_escapes(void)
{
        const char *json =
            "{\"metadata\":{\"continue\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"},\"items\":[{"
            "\"metadata\":{\"name\":\"pv-\\u00e9\\u4E2D\\ud83d\\ude00\",\"resourceVersion\":"
            "\"x\\u0000y\",\"annotations\":{\"rds.csi.srvlab.io\\/attached-node\":\"n\\u006fde\","
            "\"rds.csi.srvlab.io/attached-\\u0061t\":\"\\u0000\"}},\"sp\\u0065c\":{\"csi\":{"
            "\"driver\":\"rds.csi.srvlab.io\",\"volumeHandle\":\"h\xc3\xa9\xf0\x9f\x98\x80\"}}}]}";
        g_autofree char *cont = NULL;
        g_autoptr(GPtrArray) f = decode_both(json, strlen(json), &cont);

        g_assert_nonnull(f);
        g_assert_cmpstr(cont, ==, "a\"b\\c/d\be\ff\ng\rh\ti");
        g_assert_cmpstr(f->pdata[0], ==, "pv-\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
        g_assert_cmpstr(f->pdata[1], ==, "x"); /* like json-glib: up to the first U+0000 */
        g_assert_cmpstr(f->pdata[2], ==, DRIVER);
        g_assert_cmpstr(f->pdata[3], ==, "h\xc3\xa9\xf0\x9f\x98\x80");
        g_assert_cmpstr(f->pdata[4], ==, "node");
        g_assert_cmpstr(f->pdata[5], ==, "");
}

/* Wanted names in the wrong place are not picked up; everything else is skipped whole. */
static void test_scan_skips_nested(void)
{
        const char *json =
            "{\"items\":[{\"kind\":\"PersistentVolume\",\"x\":{\"metadata\":{\"name\":\"no\"}},"
            "\"status\":[{\"spec\":{\"csi\":{\"driver\":\"no\"}}},[[[]]],{}],\"n\":-1.5e+3,"
            "\"t\":[true,false,null,0,\"s\\\"]}\"],\"metadata\":{\"labels\":{\"name\":\"no\"},"
            "\"managedFields\":[{\"f:metadata\":{\"f:name\":{},\".\":{}}}],\"name\":\"yes\","
            "\"spec\":{\"csi\":{\"driver\":\"no\"}}},\"spec\":{\"annotations\":{\"" DRIVER
            "/attached-node\":\"no\"},\"csi\":{\"nested\":{\"volumeHandle\":\"no\"},"
            "\"volumeHandle\":\"yes\"}}}],\"kind\":{\"items\":[{}]}}";
        g_autoptr(GPtrArray) f = decode_both(json, strlen(json), NULL);

        g_assert_nonnull(f);
        g_assert_cmpuint(f->len, ==, 10);
        g_assert_cmpstr(f->pdata[0], ==, "yes");
        g_assert_null(f->pdata[2]);
        g_assert_cmpstr(f->pdata[3], ==, "yes");
        g_assert_null(f->pdata[4]);
}

/* The last of duplicate members wins, as in json-glib, even when it has the wrong type. */
static void test_scan_duplicates(void)
{
        const char *json =
            "{\"metadata\":{\"continue\":\"old\"},\"items\":[{\"metadata\":{\"name\":\"old\"}}],"
            "\"items\":[{\"metadata\":{\"name\":\"a\",\"name\":\"b\",\"annotations\":{\"" DRIVER
            "/attached-node\":\"n\"},\"annotations\":{}},\"spec\":{\"csi\":{\"driver\":\"d\"}},"
            "\"spec\":{\"csi\":{\"volumeHandle\":\"h\"}}},{\"metadata\":{\"name\":\"s\","
            "\"name\":5}}],\"metadata\":{\"resourceVersion\":\"2\"}}";
        g_autofree char *cont = NULL;
        g_autoptr(GPtrArray) f = decode_both(json, strlen(json), &cont);

        g_assert_nonnull(f);
        g_assert_null(cont);
        g_assert_cmpuint(f->len, ==, 20);
        g_assert_cmpstr(f->pdata[0], ==, "b");
        g_assert_null(f->pdata[2]);
        g_assert_cmpstr(f->pdata[3], ==, "h");
        g_assert_null(f->pdata[4]);
        g_assert_null(f->pdata[10]);
}

/* Strict JSON the scanner must accept, each agreeing with json-glib. */
static void test_scan_valid(void)
{
        const char *cases[] = {
            " \t\r\n{ \"items\" : [ { \"metadata\" : { \"name\" : \"w\" } } ] } \n",
            ("{\"items\":[{\"x\":[0,-0,1,-1,0.5,-0.0e0,1E5,1e-5,1.5E+10,1e999,"
             "123456789012345678901234567890]}]}"),
            "{\"\":1,\"items\":[{\"\":{\"\":[]}}]}",
            "{\"items\":[{\"metadata\":{\"name\":\"\\uFFFF\\uD800\\uDC00\\uDBFF\\uDFFF\"}}]}",
            "{\"items\":[],\"items\":null}",
            "{\"items\":7,\"items\":[]}",
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GPtrArray) f = decode_both(cases[i], strlen(cases[i]), NULL);

                g_assert_nonnull(f);
        }
}

static char *nested(guint depth)
{
        g_autofree char *open = g_strnfill(depth - 1, '[');
        g_autofree char *close = g_strnfill(depth - 1, ']');

        return g_strdup_printf("{\"x\":%s%s}", open, close);
}

/* Not strict JSON: rejected, no item handed out (some of these json-glib 1.6 accepts). */
static void test_scan_malformed(void)
{
        g_autofree char *deep = nested(129), *deepest_ok = nested(128);
        const char *cases[] = {
            "{\"items\":[{},]}",
            "{\"items\":[{}],}",
            "{/* c */\"items\":[]}",
            "{'items':[]}",
            "{\"a\":0x1F}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":+1}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\uZZZZ\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\ud800\\u0041\"}",
            "{\"a\":\"\\ud800x\"}",
            "{\"a\":\"\xc0\x80\"}",
            "{\"a\":\"\xed\xa0\x80\"}",
            "{\"a\":\"\xf5\x80\x80\x80\"}",
            "{\"a\":\"\xe4\xb8\"}",
            "{\"a\":\"\xff\"}",
            "{\"a\":\"x\ty\"}",
            "{\"a\":\"x\ny\"}",
            "{}{}",
            "{} x",
            "\xef\xbb\xbf{}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":truex}",
            "{\"a\" 1}",
            "{\"a\":1 \"b\":2}",
            "{\"a\":\"x",
            "{\"a\"",
            "{",
            "[]",
            "\"s\"",
            "",
            " ",
            "{\"a\":[1 2]}",
            "{\"a\":{]}",
            "{,}",
            "{\"a\":}",
            "\f{}",
            "{\"items\":[{}]}\v",
            deep,
        };
        char with_nul[] = "{\"a\":\"x\0y\"}";

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;

                g_assert_null(decode_both(cases[i], strlen(cases[i]), NULL));
                g_assert_false(pv_list_decode(cases[i], strlen(cases[i]), DRIVER, record, NULL,
                                              NULL, NULL, &error));
                g_assert_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_FAILED);
        }
        g_assert_null(decode_both(with_nul, sizeof(with_nul) - 1, NULL));
        g_assert_true(
            pv_list_decode(deepest_ok, strlen(deepest_ok), DRIVER, record, NULL, NULL, NULL, NULL));
}

/* A page like the API server's (managedFields and all), several drivers, some annotated. */
static GString *realistic_page(guint n)
{
        GString *page = g_string_new("{\"kind\":\"PersistentVolumeList\",\"apiVersion\":\"v1\","
                                     "\"metadata\":{\"resourceVersion\":\"5000\",\"continue\":"
                                     "\"eyJ2IjoibWV0YSJ9\",\"remainingItemCount\":12},\"items\":[");

        for (guint i = 0; i < n; i++) {
                const char *driver = i % 3 == 0 ? "other.csi.io" : DRIVER;

                g_string_append_printf(
                    page,
                    "%s{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{"
                    "\"annotations\":{\"%s/attached-at\":\"2026-11-26T15:13:57.%06uZ\","
                    "\"%s/attached-node\":\"node-%u\",\"pv.kubernetes.io/provisioned-by\":\"%s\"},"
                    "\"finalizers\":[\"kubernetes.io/pv-protection\"],\"labels\":{\"a\":\"b\"},"
                    "\"managedFields\":[{\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\","
                    "\"fieldsV1\":{\"f:metadata\":{\"f:annotations\":{\".\":{},\"f:x\":{}},"
                    "\"f:finalizers\":{\".\":{},\"v:\\\"kubernetes.io/pv-protection\\\"\":{}}}},"
                    "\"manager\":\"csi-provisioner\",\"operation\":\"Update\",\"time\":"
                    "\"2026-11-26T15:13:57Z\"}],\"name\":\"pv-%06u\",\"resourceVersion\":\"%u\","
                    "\"uid\":\"9d7f1477-d9e0-407a-8d72-3a3268be4033\"},\"spec\":{\"accessModes\":"
                    "[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"10Gi\"},\"csi\":{\"driver\":"
                    "\"%s\",\"fsType\":\"ext4\",\"volumeAttributes\":{\"k\":\"v\"},"
                    "\"volumeHandle\":\"vol-%u\"},\"persistentVolumeReclaimPolicy\":\"Delete\"},"
                    "\"status\":{\"phase\":\"Bound\"}}",
                    i == 0 ? "" : ",", i % 4 == 0 ? "x.io" : DRIVER, i, DRIVER, i % 7, driver, i,
                    1000 + i, driver, i);
        }
        g_string_append(page, "]}");
        return page;
}

/* Equivalence on a realistic page, and every truncation of one is rejected before any item
 * is handed out. */
static void test_scan_realistic(void)
{
        g_autoptr(GString) page = realistic_page(40);
        g_autoptr(GString) small = realistic_page(2);
        g_autofree char *cont = NULL;
        g_autoptr(GPtrArray) f = decode_both(page->str, page->len, &cont);

        g_assert_nonnull(f);
        g_assert_cmpuint(f->len, ==, 40 * 10);
        g_assert_cmpstr(cont, ==, "eyJ2IjoibWV0YSJ9");
        g_assert_cmpstr(f->pdata[10 * 5 + 0], ==, "pv-000005");
        g_assert_cmpstr(f->pdata[10 * 5 + 4], ==, "node-5");
        for (gsize cut = 0; cut < small->len; cut++)
                g_assert_null(decode_both(small->str, cut, NULL));
}

static gboolean accept_all(const PvInfo *pv, gpointer user_data, GError **error)
{
        return TRUE;
}

/* Cheap in-test fuzzing: random mutations of a valid PV must never crash or critical. */
static void test_random_mutations(void)
{
        const char *seed = "{\"metadata\":{\"name\":\"pv-1\",\"resourceVersion\":\"42\","
                           "\"annotations\":{\"rds.csi.srvlab.io/attached-node\":\"n\"}},"
                           "\"spec\":{\"csi\":{\"driver\":\"d\",\"volumeHandle\":\"v\"}},"
                           "\"items\":[{}],\"code\":1}";
        gsize len = strlen(seed);
        GRand *rand = g_rand_new_with_seed(1234);
        g_autoptr(GPtrArray) fields = NULL;

        for (guint i = 0; i < 20000; i++) {
                g_autofree char *buf = g_strndup(seed, len);
                gsize cut = (gsize)g_rand_int_range(rand, 0, (gint32)len + 1);
                g_auto(PvInfo) pv = {0};
                g_auto(PvStatus) status = {0};

                for (guint k = 0; k < 3; k++)
                        buf[g_rand_int_range(rand, 0, (gint32)len)] =
                            (char)g_rand_int_range(rand, 0, 256);
                (void)pv_decode(buf, cut, DRIVER, &pv, NULL);
                (void)pv_status_decode(buf, cut, &status);
                (void)pv_list_decode(buf, cut, DRIVER, accept_all, NULL, NULL, NULL, NULL);
                g_clear_pointer(&fields, g_ptr_array_unref);
                fields = decode_both(buf, cut, NULL);
        }
        g_rand_free(rand);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/pv/list/scan/escapes", test_scan_escapes);
        g_test_add_func("/pv/list/scan/skips-nested", test_scan_skips_nested);
        g_test_add_func("/pv/list/scan/duplicates", test_scan_duplicates);
        g_test_add_func("/pv/list/scan/valid", test_scan_valid);
        g_test_add_func("/pv/list/scan/malformed", test_scan_malformed);
        g_test_add_func("/pv/list/scan/realistic", test_scan_realistic);
        g_test_add_func("/pv/random-mutations", test_random_mutations);
        return g_test_run();
}
