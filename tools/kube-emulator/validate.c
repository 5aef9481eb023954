/* The API server's validation that clients meet (the rest of an object is stored as sent):
 * object names, the immutable source of a PersistentVolume, a Node's taint effects (an
 * Event's checks are in events.c), and the 422 Invalid Status that reports them
 * (k8s.io/apimachinery's field.ErrorList: "KIND \"NAME\" is invalid: FIELD: DETAIL", or
 * "[…, …]" for several, details.kind the Kind, one cause per error). */
#include "emulator.h"

#include <string.h>

static void field_error_add(GPtrArray *errors, const char *field, const char *type, char *detail)
{
        FieldError *e = g_new0(FieldError, 1);

        e->field = g_strdup(field);
        e->type = type;
        e->detail = detail;
        g_ptr_array_add(errors, e);
}

void field_error_required(GPtrArray *errors, const char *field)
{
        field_error_add(errors, field, "FieldValueRequired", g_strdup("Required value"));
}

void field_error_invalid(GPtrArray *errors, const char *field, const char *value,
                         const char *detail)
{
        g_autoptr(GString) quoted = g_string_new(NULL);

        json_append_escaped(quoted, value);
        field_error_add(errors, field, "FieldValueInvalid",
                        g_strdup_printf("Invalid value: %s: %s", quoted->str, detail));
}

static void field_error_free(FieldError *e)
{
        g_free(e->field);
        g_free(e->detail);
        g_free(e);
}

/* ErrorList.ToAggregate: each distinct "field: detail" once, "[a, b]" for several. */
static char *invalid_message(const ResourceKind *kind, const char *name, GPtrArray *errors)
{
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GPtrArray) parts = g_ptr_array_new_with_free_func(g_free);
        GString *text = g_string_new(NULL);

        for (guint i = 0; i < errors->len; i++) {
                const FieldError *e = errors->pdata[i];
                char *part = g_strdup_printf("%s: %s", e->field, e->detail);

                if (g_hash_table_contains(seen, part)) {
                        g_free(part);
                        continue;
                }
                g_hash_table_add(seen, part);
                g_ptr_array_add(parts, part);
        }
        g_string_printf(text, "%s \"%s\" is invalid: %s", kind->kind, name,
                        parts->len > 1 ? "[" : "");
        for (guint i = 0; i < parts->len; i++)
                g_string_append_printf(text, "%s%s", i > 0 ? ", " : "", (char *)parts->pdata[i]);
        g_string_append(text, parts->len > 1 ? "]" : "");
        return g_string_free(text, FALSE);
}

/* errors.NewInvalid: the causes in details, whose kind is the Kind, not the resource. */
static void send_invalid(SoupServerMessage *msg, const ResourceKind *kind, const char *name,
                         GPtrArray *errors)
{
        g_autofree char *message = invalid_message(kind, name, errors);
        GString *out = g_string_new("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                    "\"status\":\"Failure\",\"message\":");

        json_append_escaped(out, message);
        g_string_append(out, ",\"reason\":\"Invalid\",\"details\":{");
        if (*name != '\0') {
                g_string_append(out, "\"name\":");
                json_append_escaped(out, name);
                g_string_append_c(out, ',');
        }
        g_string_append_printf(out, "\"kind\":\"%s\",\"causes\":[", kind->kind);
        for (guint i = 0; i < errors->len; i++) {
                const FieldError *e = errors->pdata[i];

                g_string_append_printf(out, "%s{\"reason\":\"%s\",\"message\":", i > 0 ? "," : "",
                                       e->type);
                json_append_escaped(out, e->detail);
                g_string_append(out, ",\"field\":");
                json_append_escaped(out, e->field);
                g_string_append_c(out, '}');
        }
        g_string_append(out, "]},\"code\":422}");
        send_json_take(msg, 422, out->str, out->len);
        g_string_free(out, FALSE);
}

static void name_required(GPtrArray *errors)
{
        field_error_add(errors, "metadata.name", "FieldValueRequired",
                        g_strdup("Required value: name or generateName is required"));
}

/* rest.BeforeCreate's common ObjectMeta check (path.ValidatePathSegmentName), which runs
 * only when the strategy's validation passed. */
static void validate_path_segment_name(const char *name, GPtrArray *errors)
{
        if (name == NULL || *name == '\0') {
                name_required(errors);
                return;
        }
        /* IsValidPathSegmentName: one message, or one per illegal character. */
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                g_autofree char *detail = g_strdup_printf("may not be '%s'", name);

                field_error_invalid(errors, "metadata.name", name, detail);
                return;
        }
        if (strchr(name, '/') != NULL)
                field_error_invalid(errors, "metadata.name", name, "may not contain '/'");
        if (strchr(name, '%') != NULL)
                field_error_invalid(errors, "metadata.name", name, "may not contain '%'");
}

gboolean validate_object(const ResourceKind *kind, SoupServerMessage *msg, JsonNode *obj,
                         JsonNode *old)
{
        g_autoptr(GPtrArray) errors =
            g_ptr_array_new_with_free_func((GDestroyNotify)field_error_free);
        const char *name = pv_name(old != NULL ? old : obj);

        if (kind->validate != NULL)
                kind->validate(json_node_get_object(obj),
                               old != NULL ? json_node_get_object(old) : NULL, errors);
        if (errors->len == 0 && old == NULL)
                validate_path_segment_name(name, errors);
        if (errors->len == 0)
                return TRUE;
        send_invalid(msg, kind, name != NULL ? name : "", errors);
        return FALSE;
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

gboolean dns1123_subdomain(const char *s, gsize len)
{
        gsize start = 0;

        for (gsize i = 0; i <= len; i++) {
                if (i < len && s[i] != '.')
                        continue;
                if (!dns_label(s + start, i - start))
                        return FALSE;
                start = i + 1;
        }
        return TRUE;
}

/* PersistentVolume and Node names are DNS-1123 subdomains (ValidateNameFunc). */
static void validate_dns_subdomain_name(const char *name, GPtrArray *errors)
{
        if (name == NULL || *name == '\0') {
                name_required(errors);
                return;
        }
        /* IsDNS1123Subdomain: the length, then the pattern, each its own error. */
        if (strlen(name) > 253)
                field_error_invalid(errors, "metadata.name", name,
                                    "must be no more than 253 characters");
        if (!dns1123_subdomain(name, strlen(name)))
                field_error_invalid(errors, "metadata.name", name, DNS1123_SUBDOMAIN_ERROR);
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

static JsonNode *spec_member(JsonObject *obj, const char *member)
{
        JsonObject *spec = json_get_object_member(obj, "spec");

        return spec != NULL ? json_object_get_member(spec, member) : NULL;
}

/* ValidatePersistentVolume's name check on create; ValidatePersistentVolumeUpdate: the
 * volume source may not change after creation. */
void validate_pv(JsonObject *root, JsonObject *old, GPtrArray *errors)
{
        if (old == NULL) {
                validate_dns_subdomain_name(
                    json_get_string_member(json_get_object_member(root, "metadata"), "name"),
                    errors);
                return;
        }
        for (gsize i = 0; i < G_N_ELEMENTS(pv_sources); i++) {
                JsonNode *a = spec_member(old, pv_sources[i]);
                JsonNode *b = spec_member(root, pv_sources[i]);

                if ((a == NULL) != (b == NULL) || (a != NULL && !json_node_equal(a, b))) {
                        field_error_add(errors, "spec.persistentvolumesource",
                                        "FieldValueForbidden",
                                        g_strdup("Forbidden: spec.persistentvolumesource is "
                                                 "immutable after creation"));
                        return;
                }
        }
}

static gboolean taint_effect_known(const char *effect)
{
        return g_strcmp0(effect, "NoSchedule") == 0 || g_strcmp0(effect, "PreferNoSchedule") == 0 ||
               g_strcmp0(effect, "NoExecute") == 0;
}

/* ValidateNode's check of spec.taints[].effect, the one field of a Node that kubectl taint
 * writes. kube-apiserver v1.33 names the field metadata.taints, and on update reports it
 * twice (ValidateNode runs within ValidateNodeUpdate); so do we. */
static void validate_taints(JsonObject *root, guint times, GPtrArray *errors)
{
        JsonNode *taints = spec_member(root, "taints");
        JsonArray *arr;

        if (taints == NULL || !JSON_NODE_HOLDS_ARRAY(taints))
                return;
        arr = json_node_get_array(taints);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
                JsonNode *t = json_array_get_element(arr, i);
                const char *effect = JSON_NODE_HOLDS_OBJECT(t)
                                         ? json_get_string_member(json_node_get_object(t), "effect")
                                         : NULL;
                g_autofree char *field = NULL;

                if (taint_effect_known(effect))
                        continue;
                field = g_strdup_printf("metadata.taints[%u].effect", i);
                for (guint n = 0; n < times; n++)
                        field_error_add(errors, field, "FieldValueNotSupported",
                                        g_strdup_printf("Unsupported value: \"%s\": supported "
                                                        "values: \"NoSchedule\", "
                                                        "\"PreferNoSchedule\", \"NoExecute\"",
                                                        effect != NULL ? effect : ""));
                return;
        }
}

void validate_node(JsonObject *root, JsonObject *old, GPtrArray *errors)
{
        if (old == NULL)
                validate_dns_subdomain_name(
                    json_get_string_member(json_get_object_member(root, "metadata"), "name"),
                    errors);
        validate_taints(root, old != NULL ? 2 : 1, errors);
}
