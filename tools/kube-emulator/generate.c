/* POST /_emulator/generate: many CSI PVs shaped like a real API server's, written straight
 * as JSON text so that 100,000 take a few seconds. */
#include "emulator.h"

#include <string.h>

typedef struct {
        guint64 count;
        guint64 start;
        guint64 annotated;
        gboolean realistic;
        char *prefix;
        char *driver; /* JSON-escaped, without quotes */
        char *node;   /* JSON-escaped, without quotes */
        char *now;
        char *now_micro;
} GenOptions;

static void gen_options_clear(GenOptions *o)
{
        g_free(o->prefix);
        g_free(o->driver);
        g_free(o->node);
        g_free(o->now);
        g_free(o->now_micro);
}

/* A JSON string's escaped content, without the surrounding quotes. */
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(GenOptions, gen_options_clear)

static char *escaped(const char *s)
{
        GString *out = g_string_new(NULL);

        json_append_escaped(out, s);
        g_string_truncate(out, out->len - 1);
        g_string_erase(out, 0, 1);
        return g_string_free(out, FALSE);
}

static gint64 opt_int(JsonObject *obj, const char *member, gint64 fallback)
{
        JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

        return node != NULL && JSON_NODE_HOLDS_VALUE(node) ? json_node_get_int(node) : fallback;
}

static void parse_options(JsonObject *obj, GenOptions *o)
{
        JsonNode *realistic = obj != NULL ? json_object_get_member(obj, "realistic") : NULL;

        o->count = (guint64)CLAMP(opt_int(obj, "count", 1), 0, 10000000);
        o->start = (guint64)MAX(opt_int(obj, "start", 0), 0);
        o->annotated = (guint64)MAX(opt_int(obj, "annotated", 0), 0);
        o->realistic = realistic == NULL || !JSON_NODE_HOLDS_VALUE(realistic) ||
                       json_node_get_boolean(realistic);
        o->prefix = g_strdup(json_get_string_member(obj, "prefix") ?: "pv-");
        o->driver = escaped(json_get_string_member(obj, "driver") ?: "rds.csi.srvlab.io");
        o->node = escaped(json_get_string_member(obj, "node") ?: "node-1");
        o->now = rfc3339_now(FALSE);
        o->now_micro = rfc3339_now(TRUE);
}

static void append_annotations(GString *out, const GenOptions *o, gboolean attached)
{
        gboolean first = TRUE;

        if (!o->realistic && !attached)
                return;
        g_string_append(out, "\"annotations\":{");
        if (attached) {
                g_string_append_printf(out, "\"%s/attached-at\":\"%s\",\"%s/attached-node\":\"%s\"",
                                       o->driver, o->now_micro, o->driver, o->node);
                first = FALSE;
        }
        if (o->realistic)
                g_string_append_printf(
                    out,
                    "%s\"pv.kubernetes.io/provisioned-by\":\"%s\","
                    "\"volume.kubernetes.io/provisioner-deletion-secret-name\":\"\","
                    "\"volume.kubernetes.io/provisioner-deletion-secret-namespace\":\"\"",
                    first ? "" : ",", o->driver);
        g_string_append(out, "},");
}

/* A format: two %s for the managers' timestamps. */
#define MANAGED_FIELDS_FORMAT                                                                      \
        "\"managedFields\":[{\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"     \
        "\"f:metadata\":{\"f:annotations\":{\".\":{},\"f:pv.kubernetes.io/provisioned-by\":{},"    \
        "\"f:volume.kubernetes.io/provisioner-deletion-secret-name\":{},"                          \
        "\"f:volume.kubernetes.io/provisioner-deletion-secret-namespace\":{}},"                    \
        "\"f:finalizers\":{\".\":{},"                                                              \
        "\"v:\\\"external-provisioner.volume.kubernetes.io/finalizer\\\"\":{}}},"                  \
        "\"f:spec\":{\"f:accessModes\":{},\"f:capacity\":{\".\":{},\"f:storage\":{}},"             \
        "\"f:claimRef\":{\".\":{},\"f:apiVersion\":{},\"f:kind\":{},\"f:name\":{},"                \
        "\"f:namespace\":{},\"f:resourceVersion\":{},\"f:uid\":{}},\"f:csi\":{\".\":{},"           \
        "\"f:driver\":{},\"f:fsType\":{},\"f:volumeAttributes\":{\".\":{},"                        \
        "\"f:storage.kubernetes.io/csiProvisionerIdentity\":{}},\"f:volumeHandle\":{}},"           \
        "\"f:persistentVolumeReclaimPolicy\":{},\"f:storageClassName\":{},"                        \
        "\"f:volumeMode\":{}}},\"manager\":\"csi-provisioner\",\"operation\":\"Update\","          \
        "\"time\":\"%s\"},{\"apiVersion\":\"v1\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"       \
        "\"f:status\":{\"f:phase\":{}}},\"manager\":\"kube-controller-manager\","                  \
        "\"operation\":\"Update\",\"subresource\":\"status\",\"time\":\"%s\"}],"

static void append_metadata(GString *out, const GenOptions *o, const char *name, guint64 index,
                            guint64 rv)
{
        g_autofree char *uid = g_uuid_string_random();

        g_string_append(out, "\"metadata\":{");
        append_annotations(out, o, index - o->start < o->annotated);
        g_string_append_printf(out, "\"creationTimestamp\":\"%s\",", o->now);
        if (o->realistic) {
                g_string_append(out, "\"finalizers\":[\"external-provisioner.volume.kubernetes."
                                     "io/finalizer\",\"kubernetes.io/pv-protection\"],");
                g_string_append_printf(out,
                                       "\"labels\":{\"app.kubernetes.io/managed-by\":\"srvlab\","
                                       "\"srvlab.io/pool\":\"nvme\","
                                       "\"topology.srvlab.io/rack\":\"rack-%" G_GUINT64_FORMAT
                                       "\"},",
                                       index % 8);
                g_string_append_printf(out, MANAGED_FIELDS_FORMAT, o->now, o->now);
        }
        g_string_append(out, "\"name\":");
        json_append_escaped(out, name);
        g_string_append_printf(
            out, ",\"resourceVersion\":\"%" G_GUINT64_FORMAT "\",\"uid\":\"%s\"},", rv, uid);
}

static void append_spec(GString *out, const GenOptions *o, const char *name)
{
        g_autofree char *claim_uid = g_uuid_string_random();
        g_autofree char *claim = g_strconcat("data-", name, NULL);

        g_string_append(out, "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
                             "\"capacity\":{\"storage\":\"10Gi\"},\"claimRef\":{"
                             "\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\","
                             "\"name\":");
        json_append_escaped(out, claim);
        g_string_append_printf(out,
                               ",\"namespace\":\"default\",\"resourceVersion\":\"1\","
                               "\"uid\":\"%s\"},\"csi\":{\"driver\":\"%s\","
                               "\"fsType\":\"ext4\",",
                               claim_uid, o->driver);
        if (o->realistic)
                g_string_append_printf(out,
                                       "\"volumeAttributes\":{\"storage.kubernetes.io/"
                                       "csiProvisionerIdentity\":\"1764162423000-8081-%s\"},",
                                       o->driver);
        g_string_append(out, "\"volumeHandle\":");
        json_append_escaped(out, name);
        g_string_append(out, "},\"persistentVolumeReclaimPolicy\":\"Delete\","
                             "\"storageClassName\":\"rds-nvme\",\"volumeMode\":\"Filesystem\"},");
}

static char *generate_one(const GenOptions *o, const char *name, guint64 index, guint64 rv)
{
        GString *out = g_string_sized_new(o->realistic ? 2600 : 800);

        g_string_append(out, "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",");
        append_metadata(out, o, name, index, rv);
        append_spec(out, o, name);
        g_string_append_printf(out,
                               "\"status\":{\"lastPhaseTransitionTime\":\"%s\","
                               "\"phase\":\"Bound\"}}",
                               o->now);
        return g_string_free(out, FALSE);
}

void control_generate(Emulator *emu, SoupServerMessage *msg)
{
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(JsonNode) root = NULL;
        g_auto(GenOptions) o = {0};
        gint64 created = g_get_real_time() / G_USEC_PER_SEC;
        g_autofree char *reply = NULL;

        if (body->length > 0)
                root = json_parse_text(body->data, (gsize)body->length, NULL);
        parse_options(
            root != NULL && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL, &o);
        for (guint64 i = o.start; i < o.start + o.count; i++) {
                g_autofree char *name = g_strdup_printf("%s%06" G_GUINT64_FORMAT, o.prefix, i);
                guint64 rv = store_next_rv(emu->pvs.store);

                store_insert_raw(emu->pvs.store, name, generate_one(&o, name, i, rv), rv, created);
        }
        reply = g_strdup_printf("{\"created\":%" G_GUINT64_FORMAT
                                ",\"resourceVersion\":\"%" G_GUINT64_FORMAT "\"}",
                                o.count, store_rv(emu->pvs.store));
        soup_server_message_set_status(msg, 200, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, reply,
                                         strlen(reply));
}
