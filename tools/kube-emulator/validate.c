/* The API server's validation that clients meet (the rest of an object is stored as sent):
 * object names, the immutable source of a PersistentVolume, and the 422 Invalid Status that
 * reports them (k8s.io/apimachinery's field.ErrorList: "KIND \"NAME\" is invalid: FIELD:
 * DETAIL", details.kind the Kind, one cause per field). */
#include "emulator.h"

#include <string.h>

static void send_invalid_causes(SoupServerMessage *msg, const ResourceKind *kind, const char *name,
                                const char *field, const char *cause, const char *detail,
                                guint n_causes)
{
        GString *out = g_string_sized_new(512);
        g_autofree char *message =
            g_strdup_printf("%s \"%s\" is invalid: %s: %s", kind->kind, name, field, detail);

        g_string_append(out, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                             "\"status\":\"Failure\",\"message\":");
        json_append_escaped(out, message);
        g_string_append(out, ",\"reason\":\"Invalid\",\"details\":{");
        if (*name != '\0') {
                g_string_append(out, "\"name\":");
                json_append_escaped(out, name);
                g_string_append_c(out, ',');
        }
        g_string_append_printf(out, "\"kind\":\"%s\",\"causes\":[", kind->kind);
        for (guint i = 0; i < n_causes; i++) {
                g_string_append(out, i > 0 ? ",{\"reason\":" : "{\"reason\":");
                json_append_escaped(out, cause);
                g_string_append(out, ",\"message\":");
                json_append_escaped(out, detail);
                g_string_append(out, ",\"field\":");
                json_append_escaped(out, field);
                g_string_append_c(out, '}');
        }
        g_string_append(out, "]},\"code\":422}");
        send_json_take(msg, 422, out->str, out->len);
        g_string_free(out, FALSE);
}

void send_invalid(SoupServerMessage *msg, const ResourceKind *kind, const char *name,
                  const char *field, const char *cause, const char *detail)
{
        send_invalid_causes(msg, kind, name, field, cause, detail, 1);
}

/* One DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static gboolean dns_label(const char *s, gsize len)
{
        if (len == 0 || !g_ascii_isalnum(s[0]) || !g_ascii_isalnum(s[len - 1]))
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                if (!(g_ascii_islower(s[i]) || g_ascii_isdigit(s[i]) || s[i] == '-'))
                        return FALSE;
        }
        return TRUE;
}

/* PersistentVolume and Node names are DNS-1123 subdomains (ValidateNameFunc). */
gboolean validate_name(SoupServerMessage *msg, const ResourceKind *kind, const char *name)
{
        g_autofree char *detail = NULL;
        const char *start = name;

        if (name == NULL || *name == '\0') {
                send_invalid(msg, kind, "", "metadata.name", "FieldValueRequired",
                             "Required value: name or generateName is required");
                return FALSE;
        }
        for (const char *dot;; start = dot + 1) {
                dot = strchr(start, '.');
                if (!dns_label(start, dot != NULL ? (gsize)(dot - start) : strlen(start)))
                        break;
                if (dot == NULL) {
                        if (strlen(name) <= 253)
                                return TRUE;
                        detail = g_strdup_printf("Invalid value: \"%s\": must be no more than "
                                                 "253 characters",
                                                 name);
                        break;
                }
        }
        if (detail == NULL)
                detail = g_strdup_printf(
                    "Invalid value: \"%s\": a lowercase RFC 1123 subdomain must consist of lower "
                    "case alphanumeric characters, '-' or '.', and must start and end with an "
                    "alphanumeric character (e.g. 'example.com', regex used for validation is "
                    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                    name);
        send_invalid(msg, kind, name, "metadata.name", "FieldValueInvalid", detail);
        return FALSE;
}

/* The members of a PersistentVolumeSource, inlined in a PV's spec. */
static const char *const pv_sources[] = {
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
};

static JsonNode *spec_member(JsonNode *obj, const char *member)
{
        JsonObject *spec = json_get_object_member(json_node_get_object(obj), "spec");

        return spec != NULL ? json_object_get_member(spec, member) : NULL;
}

/* ValidatePersistentVolumeUpdate: the volume source may not change after creation. */
gboolean validate_pv_update(SoupServerMessage *msg, const ResourceKind *kind, JsonNode *old,
                            JsonNode *new)
{
        for (gsize i = 0; i < G_N_ELEMENTS(pv_sources); i++) {
                JsonNode *a = spec_member(old, pv_sources[i]);
                JsonNode *b = spec_member(new, pv_sources[i]);

                if ((a == NULL) != (b == NULL) || (a != NULL && !json_node_equal(a, b))) {
                        send_invalid(msg, kind, pv_name(old), "spec.persistentvolumesource",
                                     "FieldValueForbidden",
                                     "Forbidden: spec.persistentvolumesource is immutable after "
                                     "creation");
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean taint_effect_known(const char *effect)
{
        return g_strcmp0(effect, "NoSchedule") == 0 || g_strcmp0(effect, "PreferNoSchedule") == 0 ||
               g_strcmp0(effect, "NoExecute") == 0;
}

/* ValidateNodeUpdate's check of spec.taints[].effect, the one field of a Node that kubectl
 * taint writes. kube-apiserver v1.33 names the field metadata.taints and reports it twice
 * (ValidateNode runs within ValidateNodeUpdate); so do we. */
gboolean validate_node_update(SoupServerMessage *msg, const ResourceKind *kind, JsonNode *old,
                              JsonNode *new)
{
        JsonNode *taints = spec_member(new, "taints");
        JsonArray *arr;

        if (taints == NULL || !JSON_NODE_HOLDS_ARRAY(taints))
                return TRUE;
        arr = json_node_get_array(taints);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
                JsonNode *t = json_array_get_element(arr, i);
                const char *effect = JSON_NODE_HOLDS_OBJECT(t)
                                         ? json_get_string_member(json_node_get_object(t), "effect")
                                         : NULL;
                g_autofree char *field = NULL, *detail = NULL;

                if (taint_effect_known(effect))
                        continue;
                field = g_strdup_printf("metadata.taints[%u].effect", i);
                detail = g_strdup_printf("Unsupported value: \"%s\": supported values: "
                                         "\"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                                         effect != NULL ? effect : "");
                send_invalid_causes(msg, kind, pv_name(old), field, "FieldValueNotSupported",
                                    detail, 2);
                return FALSE;
        }
        return TRUE;
}
