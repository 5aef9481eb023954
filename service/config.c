/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "metrics-server.h"

#define GROUP_ATTACHMENT "Attachment"
#define GROUP_KUBERNETES "Kubernetes"
#define FIELD(f) G_STRUCT_OFFSET(Config, f)

static gboolean driver_name_ok(const char *s, GError **error);
static gboolean path_ok(const char *s, GError **error);
static gboolean metrics_address_ok(const char *s, GError **error);

static const char *const store_choices[] = {
    [STORE_KIND_KUBERNETES] = "kubernetes",
    [STORE_KIND_NONE] = "none",
    NULL,
};

#define PATH_ALLOWED "expected an absolute path or nothing"

static const ConfigKey keys[] = {
    {GROUP_ATTACHMENT, "Store", CONFIG_TYPE_CHOICE, FIELD(store), .choices = store_choices,
     .default_value = "kubernetes", .help = "where attachments are persisted"},
    {GROUP_ATTACHMENT, "Driver", CONFIG_TYPE_STRING, FIELD(driver), .check = driver_name_ok,
     .allowed = "expected a DNS subdomain of 1..63 lowercase alphanumerics, '-' and '.'",
     .default_value = "rds.csi.srvlab.io", .help = "the CSI driver name (annotation prefix)"},
    {GROUP_ATTACHMENT, "Workers", CONFIG_TYPE_UINT, FIELD(workers), 1, 256, .default_value = "16",
     .help = "worker threads doing API requests"},
    {GROUP_ATTACHMENT, "QueueLimit", CONFIG_TYPE_UINT, FIELD(queue_limit), 1, 1048576,
     .default_value = "4096", .help = "Track/Untrack operations that may wait at once"},
    {GROUP_ATTACHMENT, "AllowedGroup", CONFIG_TYPE_STRING, FIELD(allowed_group),
     .default_value = "srvlab-attachment", .help = "the group that may Track/Untrack besides root"},
    {GROUP_ATTACHMENT, "MigrationTimeoutSec", CONFIG_TYPE_UINT, FIELD(migration_timeout_sec), 30,
     3600, .default_value = "300",
     .help = "how long two nodes may hold a shared volume before MigrationOverdue"},
    {GROUP_ATTACHMENT, "Reconcile", CONFIG_TYPE_BOOLEAN, FIELD(reconcile), .default_value = "yes",
     .help = "clear the attachments of dead Nodes (Store=kubernetes)"},
    {GROUP_ATTACHMENT, "Events", CONFIG_TYPE_BOOLEAN, FIELD(events), .default_value = "yes",
     .help = "post Kubernetes Events about attachments (Store=kubernetes)"},
    {GROUP_ATTACHMENT, "MetricsAddress", CONFIG_TYPE_STRING, FIELD(metrics_address),
     .check = metrics_address_ok, .default_value = "",
     .help = "IPv4:PORT or [IPv6]:PORT to serve /metrics on; empty: no metrics"},
    {GROUP_KUBERNETES, "Server", CONFIG_TYPE_STRING, FIELD(kube_server), .default_value = "",
     .help = "the API server URL; empty: in-cluster"},
    {GROUP_KUBERNETES, "TokenFile", CONFIG_TYPE_STRING, FIELD(kube_token_file), .check = path_ok,
     .allowed = PATH_ALLOWED,
     .default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token",
     .help = "the bearer token file; empty: none"},
    {GROUP_KUBERNETES, "CAFile", CONFIG_TYPE_STRING, FIELD(kube_ca_file), .check = path_ok,
     .allowed = PATH_ALLOWED,
     .default_value = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
     .help = "the CA certificates of the API server; empty: the system trust store"},
    {GROUP_KUBERNETES, "Kubeconfig", CONFIG_TYPE_STRING, FIELD(kube_kubeconfig), .check = path_ok,
     .allowed = PATH_ALLOWED, .default_value = "",
     .help = "a kubeconfig giving server, CA and credentials; empty: not used"},
    {GROUP_KUBERNETES, "Context", CONFIG_TYPE_STRING, FIELD(kube_context), .default_value = "",
     .help = "the kubeconfig context; empty: its current-context"},
    {GROUP_KUBERNETES, "RequestTimeoutSec", CONFIG_TYPE_UINT, FIELD(request_timeout_sec), 1, 3600,
     .default_value = "10", .help = "seconds one API request may take"},
    {GROUP_KUBERNETES, "StartTimeoutSec", CONFIG_TYPE_UINT, FIELD(start_timeout_sec), 0, 86400,
     .default_value = "90", .help = "seconds the start retries an unreachable API server"},
    {GROUP_KUBERNETES, "WatchTimeoutSec", CONFIG_TYPE_UINT, FIELD(watch_timeout_sec), 2, 3600,
     .default_value = "60", .help = "seconds a watch asks the API server to keep its stream"},
};

const ConfigKey *config_keys(gsize *n_keys)
{
        *n_keys = G_N_ELEMENTS(keys);
        return keys;
}

static gpointer field_of(Config *self, const ConfigKey *k)
{
        return G_STRUCT_MEMBER_P(self, k->offset);
}

static gboolean fail_value(const char *origin, const ConfigKey *k, const char *value,
                           const char *allowed, GError **error)
{
        g_autofree char *shown = g_strescape(value, NULL);

        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "%s: [%s] %s=%s is invalid: %s", origin, k->group, k->key, shown, allowed);
        return FALSE;
}

/* "expected \"a\", \"b\" or \"c\"" */
static char *choices_allowed(const char *const *choices)
{
        GString *s = g_string_new("expected ");

        for (gsize i = 0; choices[i] != NULL; i++) {
                if (i > 0)
                        g_string_append(s, choices[i + 1] == NULL ? " or " : ", ");
                g_string_append_printf(s, "\"%s\"", choices[i]);
        }
        return g_string_free(s, FALSE);
}

static gboolean parse_choice(const ConfigKey *k, int *field, const char *origin, const char *value,
                             GError **error)
{
        g_autofree char *allowed = NULL;

        for (int i = 0; k->choices[i] != NULL; i++) {
                if (g_str_equal(value, k->choices[i])) {
                        *field = i;
                        return TRUE;
                }
        }
        allowed = choices_allowed(k->choices);
        return fail_value(origin, k, value, allowed, error);
}

static gboolean parse_uint(const ConfigKey *k, guint *field, const char *origin, const char *value,
                           GError **error)
{
        guint64 v = 0;

        if (!g_ascii_string_to_unsigned(value, 10, k->min, k->max, &v, NULL)) {
                g_autofree char *allowed =
                    g_strdup_printf("expected an integer from %u to %u", k->min, k->max);
                return fail_value(origin, k, value, allowed, error);
        }
        *field = (guint)v;
        return TRUE;
}

/* Sets one key from its text; `origin` names the file in a message. */
static gboolean parse_bool(const ConfigKey *k, gboolean *field, const char *origin,
                           const char *value, GError **error)
{
        static const char *const yes[] = {"yes", "true", "1", NULL};
        static const char *const no[] = {"no", "false", "0", NULL};

        if (g_strv_contains(yes, value))
                *field = TRUE;
        else if (g_strv_contains(no, value))
                *field = FALSE;
        else
                return fail_value(origin, k, value, "expected \"yes\" or \"no\"", error);
        return TRUE;
}

static gboolean parse_value(Config *self, const ConfigKey *k, const char *origin, const char *value,
                            GError **error)
{
        char **text = field_of(self, k);
        g_autoptr(GError) why = NULL;

        switch (k->type) {
        case CONFIG_TYPE_CHOICE:
                return parse_choice(k, field_of(self, k), origin, value, error);
        case CONFIG_TYPE_UINT:
                return parse_uint(k, field_of(self, k), origin, value, error);
        case CONFIG_TYPE_BOOLEAN:
                return parse_bool(k, field_of(self, k), origin, value, error);
        case CONFIG_TYPE_STRING:
                if (k->check != NULL && !k->check(value, &why))
                        return fail_value(origin, k, value, why != NULL ? why->message : k->allowed,
                                          error);
                g_free(*text);
                *text = g_strdup(value);
                return TRUE;
        }
        g_assert_not_reached();
}

void config_init(Config *self)
{
        *self = (Config){0};
        for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
                gboolean ok = parse_value(self, &keys[i], "defaults", keys[i].default_value, NULL);
                g_assert(ok);
        }
        self->set_in = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
}

void config_clear(Config *self)
{
        for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
                if (keys[i].type == CONFIG_TYPE_STRING)
                        g_clear_pointer((char **)field_of(self, &keys[i]), g_free);
        }
        g_clear_pointer(&self->set_in, g_hash_table_unref);
}

static const ConfigKey *find_key(const char *group, const char *key)
{
        for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
                if (g_str_equal(keys[i].group, group) && g_str_equal(keys[i].key, key))
                        return &keys[i];
        }
        return NULL;
}

static gboolean known_group(const char *group)
{
        for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
                if (g_str_equal(keys[i].group, group))
                        return TRUE;
        }
        return FALSE;
}

static gboolean apply(Config *self, const char *origin, const char *group, const char *key,
                      const char *value, GError **error)
{
        const ConfigKey *k = find_key(group, key);

        if (k == NULL) {
                g_warning("%s: unknown key [%s] %s ignored", origin, group, key);
                return TRUE;
        }
        if (!parse_value(self, k, origin, value, error))
                return FALSE;
        g_hash_table_replace(self->set_in, (gpointer)k->key, g_strdup(origin));
        return TRUE;
}

/* A CSI driver name is a DNS-1123 subdomain of at most 63 bytes (the CSI spec): it becomes
 * the prefix of the annotation keys, so it must be a valid annotation key prefix too. */
static gboolean driver_name_ok(const char *s, GError **error)
{
        size_t n = strlen(s);

        if (n == 0 || n > 63 || !g_ascii_isalnum(s[0]) || !g_ascii_isalnum(s[n - 1]))
                return FALSE;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!(g_ascii_islower(c) || g_ascii_isdigit(c) || c == '-' || c == '.'))
                        return FALSE;
                if (c == '.' && s[i + 1] == '.')
                        return FALSE;
        }
        return TRUE;
}

static gboolean path_ok(const char *s, GError **error)
{
        return s[0] == '\0' || g_path_is_absolute(s);
}

/* Checked here, so that a bad value stops the daemon naming the file and the key; a port
 * already taken fails later, when the server binds it. */
static gboolean metrics_address_ok(const char *s, GError **error)
{
        g_autoptr(GSocketAddress) address = NULL;

        if (s[0] == '\0')
                return TRUE;
        address = metrics_address_parse(s, error);
        return address != NULL;
}

gboolean config_load_data(Config *self, const char *data, gsize length, const char *origin,
                          GError **error)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_auto(GStrv) groups = NULL;
        g_autoptr(GError) local = NULL;

        if (!g_key_file_load_from_data(kf, data, length, G_KEY_FILE_NONE, &local)) {
                g_set_error(error, G_KEY_FILE_ERROR, local->code, "%s: %s", origin, local->message);
                return FALSE;
        }
        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g != NULL; g++) {
                g_auto(GStrv) names = NULL;

                if (!known_group(*g)) {
                        g_warning("%s: unknown section [%s] ignored", origin, *g);
                        continue;
                }
                names = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = names; k != NULL && *k != NULL; k++) {
                        /* get_value: raw text, no escape processing surprises for paths. */
                        g_autofree char *raw = g_key_file_get_value(kf, *g, *k, NULL);
                        g_autofree char *value = g_strstrip(g_strdup(raw ? raw : ""));

                        if (!apply(self, origin, *g, *k, value, error))
                                return FALSE;
                }
        }
        return TRUE;
}

static gboolean load_file(Config *self, const char *path, gboolean missing_ok, GError **error)
{
        g_autofree char *data = NULL;
        gsize length = 0;
        g_autoptr(GError) local = NULL;

        if (!g_file_get_contents(path, &data, &length, &local)) {
                if (missing_ok && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return TRUE;
                g_propagate_error(error, g_steal_pointer(&local));
                return FALSE;
        }
        return config_load_data(self, data, length, path, error);
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

gboolean config_load(Config *self, const char *path, GError **error)
{
        g_autofree char *dropin_dir = g_strconcat(path, ".d", NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GDir) dir = NULL;
        g_autoptr(GError) local = NULL;
        const char *name;

        if (!load_file(self, path, TRUE, error))
                return FALSE;

        dir = g_dir_open(dropin_dir, 0, &local);
        if (dir == NULL) {
                if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return config_check(self, error);
                g_propagate_error(error, g_steal_pointer(&local));
                return FALSE;
        }
        while ((name = g_dir_read_name(dir)) != NULL) {
                if (g_str_has_suffix(name, ".conf") && name[0] != '.')
                        g_ptr_array_add(names, g_strdup(name));
        }
        g_ptr_array_sort(names, compare_strings);
        for (guint i = 0; i < names->len; i++) {
                g_autofree char *file = g_build_filename(dropin_dir, names->pdata[i], NULL);
                if (!load_file(self, file, FALSE, error))
                        return FALSE;
        }
        return config_check(self, error);
}

static const char *set_in(const Config *self, const char *key)
{
        return self->set_in != NULL ? g_hash_table_lookup(self->set_in, key) : NULL;
}

static gboolean fail_combined(const Config *self, const char *other, GError **error)
{
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "%s: [%s] Kubeconfig= cannot be combined with %s= (set in %s): the "
                    "kubeconfig gives the server, the CA and the credentials; remove one of them",
                    set_in(self, "Kubeconfig"), GROUP_KUBERNETES, other, set_in(self, other));
        return FALSE;
}

gboolean config_check(const Config *self, GError **error)
{
        static const char *const excluded[] = {"Server", "TokenFile", "CAFile"};
        gboolean kubeconfig = self->kube_kubeconfig != NULL && *self->kube_kubeconfig != '\0';

        for (gsize i = 0; kubeconfig && i < G_N_ELEMENTS(excluded); i++)
                if (set_in(self, excluded[i]) != NULL)
                        return fail_combined(self, excluded[i], error);
        if (!kubeconfig && self->kube_context != NULL && *self->kube_context != '\0') {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                            "%s: [%s] Context= needs Kubeconfig=: it selects a context of the "
                            "kubeconfig",
                            set_in(self, "Context"), GROUP_KUBERNETES);
                return FALSE;
        }
        return TRUE;
}
