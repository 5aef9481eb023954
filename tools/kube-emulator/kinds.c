/* What differs between the resource kinds the emulator serves: names, and the Table that
 * `kubectl get` prints (the columns and cells of kube-apiserver's printers). */
#include "emulator.h"

#include <string.h>

static const char *abbreviate_mode(const char *mode)
{
        static const char *const modes[][2] = {
            {"ReadWriteOnce", "RWO"},
            {"ReadOnlyMany", "ROX"},
            {"ReadWriteMany", "RWX"},
            {"ReadWriteOncePod", "RWOP"},
        };

        for (gsize i = 0; i < G_N_ELEMENTS(modes); i++)
                if (strcmp(mode, modes[i][0]) == 0)
                        return modes[i][1];
        return mode;
}

static char *access_modes(JsonObject *spec)
{
        JsonNode *node = spec != NULL ? json_object_get_member(spec, "accessModes") : NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        JsonArray *arr;

        if (node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
                return g_strdup("");
        arr = json_node_get_array(node);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
                const char *mode = json_array_get_string_element(arr, i);

                if (mode == NULL)
                        continue;
                if (out->len > 0)
                        g_string_append_c(out, ',');
                g_string_append(out, abbreviate_mode(mode));
        }
        return g_string_free(g_steal_pointer(&out), FALSE);
}

static void append_cell(GString *out, const char *value)
{
        g_string_append_c(out, ',');
        json_append_escaped(out, value != NULL ? value : "");
}

static void pv_cells(JsonObject *root, const char *name, char **before, char **after)
{
        JsonObject *spec = json_get_object_member(root, "spec");
        JsonObject *status = json_get_object_member(root, "status");
        JsonObject *claim = json_get_object_member(spec, "claimRef");
        g_autofree char *modes = access_modes(spec);
        g_autofree char *claim_text = NULL;
        GString *cells = g_string_new(NULL);

        if (claim != NULL)
                claim_text =
                    g_strdup_printf("%s/%s", json_get_string_member(claim, "namespace") ?: "",
                                    json_get_string_member(claim, "name") ?: "");
        json_append_escaped(cells, name);
        append_cell(cells,
                    json_get_string_member(json_get_object_member(spec, "capacity"), "storage"));
        append_cell(cells, modes);
        append_cell(cells, json_get_string_member(spec, "persistentVolumeReclaimPolicy"));
        append_cell(cells, json_get_string_member(status, "phase"));
        append_cell(cells, claim_text);
        append_cell(cells, json_get_string_member(spec, "storageClassName"));
        append_cell(cells, json_get_string_member(spec, "volumeAttributesClassName") ?: "<unset>");
        append_cell(cells, json_get_string_member(status, "reason"));
        *before = g_string_free(cells, FALSE);
        *after = g_strdup("");
}

static const char pv_columns[] =
    "\"columnDefinitions\":["
    "{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\",\"description\":\"Name must "
    "be unique within a namespace.\",\"priority\":0},"
    "{\"name\":\"Capacity\",\"type\":\"string\",\"format\":\"\",\"description\":\"capacity "
    "is the description of the persistent volume's resources and capacity.\",\"priority\":0},"
    "{\"name\":\"Access Modes\",\"type\":\"string\",\"format\":\"\",\"description\":"
    "\"accessModes contains all ways the volume can be mounted.\",\"priority\":0},"
    "{\"name\":\"Reclaim Policy\",\"type\":\"string\",\"format\":\"\",\"description\":"
    "\"persistentVolumeReclaimPolicy defines what happens to a persistent volume when "
    "released from its claim.\",\"priority\":0},"
    "{\"name\":\"Status\",\"type\":\"string\",\"format\":\"\",\"description\":\"phase "
    "indicates if a volume is available, bound to a claim, or released by a claim.\","
    "\"priority\":0},"
    "{\"name\":\"Claim\",\"type\":\"string\",\"format\":\"\",\"description\":\"claimRef is "
    "part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."
    "\",\"priority\":0},"
    "{\"name\":\"StorageClass\",\"type\":\"string\",\"format\":\"\",\"description\":"
    "\"storageClassName is the name of StorageClass to which this persistent volume "
    "belongs.\",\"priority\":0},"
    "{\"name\":\"VolumeAttributesClass\",\"type\":\"string\",\"format\":\"\","
    "\"description\":\"Name of VolumeAttributesClass to which this persistent volume "
    "belongs.\",\"priority\":0},"
    "{\"name\":\"Reason\",\"type\":\"string\",\"format\":\"\",\"description\":\"reason is "
    "a brief CamelCase string that describes any failure.\",\"priority\":0},"
    "{\"name\":\"Age\",\"type\":\"string\",\"format\":\"\",\"description\":"
    "\"CreationTimestamp is a timestamp representing the server time when this object was "
    "created.\",\"priority\":0}],";

const ResourceKind kind_pv = {
    .resource = "persistentvolumes",
    .kind = "PersistentVolume",
    .list_kind = "PersistentVolumeList",
    .columns = pv_columns,
    .cells = pv_cells,
    .validate = validate_pv,
};

/* printNode: Ready / NotReady from the Ready condition (Unknown without one), then
 * SchedulingDisabled when cordoned. */
static char *node_status(JsonObject *root)
{
        JsonObject *status = json_get_object_member(root, "status");
        JsonNode *conditions = status != NULL ? json_object_get_member(status, "conditions") : NULL;
        JsonObject *spec = json_get_object_member(root, "spec");
        JsonNode *unschedulable =
            spec != NULL ? json_object_get_member(spec, "unschedulable") : NULL;
        const char *ready = "Unknown";

        for (guint i = 0; conditions != NULL && JSON_NODE_HOLDS_ARRAY(conditions) &&
                          i < json_array_get_length(json_node_get_array(conditions));
             i++) {
                JsonNode *c = json_array_get_element(json_node_get_array(conditions), i);
                JsonObject *cond = JSON_NODE_HOLDS_OBJECT(c) ? json_node_get_object(c) : NULL;

                if (g_strcmp0(json_get_string_member(cond, "type"), "Ready") == 0)
                        ready = g_strcmp0(json_get_string_member(cond, "status"), "True") == 0
                                    ? "Ready"
                                    : "NotReady";
        }
        if (unschedulable != NULL && JSON_NODE_HOLDS_VALUE(unschedulable) &&
            json_node_get_value_type(unschedulable) == G_TYPE_BOOLEAN &&
            json_node_get_boolean(unschedulable))
                return g_strconcat(ready, ",SchedulingDisabled", NULL);
        return g_strdup(ready);
}

static int compare_strings(gconstpointer a, gconstpointer b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* findNodeRoles: node-role.kubernetes.io/ROLE labels and kubernetes.io/role, sorted. */
static char *node_roles(JsonObject *root)
{
        JsonObject *labels =
            json_get_object_member(json_get_object_member(root, "metadata"), "labels");
        g_autoptr(GList) keys = labels != NULL ? json_object_get_members(labels) : NULL;
        g_autoptr(GPtrArray) roles = g_ptr_array_new();
        g_autoptr(GString) out = g_string_new(NULL);
        static const char prefix[] = "node-role.kubernetes.io/";

        for (GList *l = keys; l != NULL; l = l->next) {
                const char *key = l->data;

                if (g_str_has_prefix(key, prefix) && key[strlen(prefix)] != '\0')
                        g_ptr_array_add(roles, (char *)key + strlen(prefix));
                else if (strcmp(key, "kubernetes.io/role") == 0 &&
                         json_get_string_member(labels, key) != NULL)
                        g_ptr_array_add(roles, (char *)json_get_string_member(labels, key));
        }
        g_ptr_array_sort(roles, compare_strings);
        for (guint i = 0; i < roles->len; i++) {
                if (i > 0 && strcmp(roles->pdata[i], roles->pdata[i - 1]) == 0)
                        continue;
                if (out->len > 0)
                        g_string_append_c(out, ',');
                g_string_append(out, roles->pdata[i]);
        }
        return out->len > 0 ? g_string_free(g_steal_pointer(&out), FALSE) : g_strdup("<none>");
}

static const char *node_address(JsonObject *status, const char *type)
{
        JsonNode *addresses = status != NULL ? json_object_get_member(status, "addresses") : NULL;
        JsonArray *arr;

        if (addresses == NULL || !JSON_NODE_HOLDS_ARRAY(addresses))
                return "<none>";
        arr = json_node_get_array(addresses);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
                JsonNode *a = json_array_get_element(arr, i);
                JsonObject *addr = JSON_NODE_HOLDS_OBJECT(a) ? json_node_get_object(a) : NULL;

                if (g_strcmp0(json_get_string_member(addr, "type"), type) == 0)
                        return json_get_string_member(addr, "address") ?: "<none>";
        }
        return "<none>";
}

static void node_cells(JsonObject *root, const char *name, char **before, char **after)
{
        JsonObject *status = json_get_object_member(root, "status");
        JsonObject *info = json_get_object_member(status, "nodeInfo");
        g_autofree char *state = node_status(root);
        g_autofree char *roles = node_roles(root);
        GString *cells = g_string_new(NULL);
        GString *rest = g_string_new(NULL);

        json_append_escaped(cells, name);
        append_cell(cells, state);
        append_cell(cells, roles);
        append_cell(rest, json_get_string_member(info, "kubeletVersion"));
        append_cell(rest, node_address(status, "InternalIP"));
        append_cell(rest, node_address(status, "ExternalIP"));
        append_cell(rest, json_get_string_member(info, "osImage") ?: "<unknown>");
        append_cell(rest, json_get_string_member(info, "kernelVersion") ?: "<unknown>");
        append_cell(rest, json_get_string_member(info, "containerRuntimeVersion") ?: "<unknown>");
        *before = g_string_free(cells, FALSE);
        *after = g_string_free(rest, FALSE);
}

/* printers.go nodeColumnDefinitions; priority 1 is for -o wide. */
#define NODE_COLUMN(name, priority, description)                                                   \
        ",{\"name\":\"" name                                                                       \
        "\",\"type\":\"string\",\"format\":\"\",\"description\":\"" description                    \
        "\",\"priority\":" #priority "}"

/* clang-format off */
static const char node_columns[] =
    "\"columnDefinitions\":["
    "{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\",\"description\":\"Name must "
    "be unique within a namespace.\",\"priority\":0}"
    NODE_COLUMN("Status", 0, "The status of the node")
    NODE_COLUMN("Roles", 0, "The roles of the node")
    NODE_COLUMN("Age", 0, "CreationTimestamp is a timestamp representing the server time "
                          "when this object was created.")
    NODE_COLUMN("Version", 0, "Kubelet Version reported by the node.")
    NODE_COLUMN("Internal-IP", 1, "List of addresses reachable to the node.")
    NODE_COLUMN("External-IP", 1, "List of addresses reachable to the node.")
    NODE_COLUMN("OS-Image", 1, "OS Image reported by the node from /etc/os-release (e.g. "
                               "Debian GNU/Linux 7 (wheezy)).")
    NODE_COLUMN("Kernel-Version", 1, "Kernel Version reported by the node from 'uname -r' "
                                     "(e.g. 3.16.0-0.bpo.4-amd64).")
    NODE_COLUMN("Container-Runtime", 1, "ContainerRuntime Version reported by the node "
                                        "through runtime remote API (e.g. "
                                        "containerd://1.4.2).")
    "],";
/* clang-format on */

const ResourceKind kind_node = {
    .resource = "nodes",
    .kind = "Node",
    .list_kind = "NodeList",
    .columns = node_columns,
    .cells = node_cells,
    .validate = validate_node,
    .delete_answers_status = TRUE,
};
