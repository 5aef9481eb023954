/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "metrics-server.h"

#define GROUP_ATTACHMENT "Attachment"
#define GROUP_KUBERNETES "Kubernetes"

void config_init(Config *self)
{
        *self = (Config){
            .store = STORE_KIND_KUBERNETES,
            .driver = g_strdup("rds.csi.srvlab.io"),
            .workers = 16,
            .queue_limit = 4096,
            .allowed_group = g_strdup("srvlab-attachment"),
            .metrics_address = g_strdup(""),
            .kube_server = g_strdup(""),
            .kube_token_file = g_strdup("/var/run/secrets/kubernetes.io/serviceaccount/token"),
            .kube_ca_file = g_strdup("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
            .kube_kubeconfig = g_strdup(""),
            .kube_context = g_strdup(""),
            .request_timeout_sec = 10,
            .start_timeout_sec = 90,
            .watch_timeout_sec = 60,
            .reconcile = TRUE,
            .events = TRUE,
        };
}

void config_clear(Config *self)
{
        g_clear_pointer(&self->driver, g_free);
        g_clear_pointer(&self->allowed_group, g_free);
        g_clear_pointer(&self->metrics_address, g_free);
        g_clear_pointer(&self->kube_server, g_free);
        g_clear_pointer(&self->kube_token_file, g_free);
        g_clear_pointer(&self->kube_ca_file, g_free);
        g_clear_pointer(&self->kube_kubeconfig, g_free);
        g_clear_pointer(&self->kube_context, g_free);
        for (guint i = 0; i < CONFIG_N_TRACKED_KEYS; i++)
                g_clear_pointer(&self->set_in[i], g_free);
}

static gboolean fail_value(const char *origin, const char *group, const char *key,
                           const char *value, const char *allowed, GError **error)
{
        g_autofree char *shown = g_strescape(value, NULL);

        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "%s: [%s] %s=%s is invalid: %s", origin, group, key, shown, allowed);
        return FALSE;
}

static gboolean parse_uint(const char *origin, const char *group, const char *key,
                           const char *value, guint min, guint max, guint *out, GError **error)
{
        guint64 v = 0;

        if (!g_ascii_string_to_unsigned(value, 10, min, max, &v, NULL)) {
                g_autofree char *allowed =
                    g_strdup_printf("expected an integer from %u to %u", min, max);
                return fail_value(origin, group, key, value, allowed, error);
        }
        *out = (guint)v;
        return TRUE;
}

static gboolean parse_bool(const char *origin, const char *group, const char *key,
                           const char *value, gboolean *out, GError **error)
{
        if (g_str_equal(value, "yes") || g_str_equal(value, "true") || g_str_equal(value, "1")) {
                *out = TRUE;
        } else if (g_str_equal(value, "no") || g_str_equal(value, "false") ||
                   g_str_equal(value, "0")) {
                *out = FALSE;
        } else {
                return fail_value(origin, group, key, value, "expected \"yes\" or \"no\"", error);
        }
        return TRUE;
}

/* A CSI driver name is a DNS-1123 subdomain of at most 63 bytes (the CSI spec): it becomes
 * the prefix of the annotation keys, so it must be a valid annotation key prefix too. */
static gboolean driver_name_ok(const char *s)
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

/* Checked here, so that a bad value stops the daemon naming the file and the key; a port
 * already taken fails later, when the server binds it. */
static gboolean apply_metrics_address(Config *self, const char *origin, const char *value,
                                      GError **error)
{
        g_autoptr(GSocketAddress) address = NULL;
        g_autoptr(GError) local = NULL;

        if (value[0] != '\0') {
                address = metrics_address_parse(value, &local);
                if (address == NULL)
                        return fail_value(origin, GROUP_ATTACHMENT, "MetricsAddress", value,
                                          local->message, error);
        }
        g_free(self->metrics_address);
        self->metrics_address = g_strdup(value);
        return TRUE;
}

static gboolean apply_attachment(Config *self, const char *origin, const char *key,
                                 const char *value, GError **error)
{
        const char *g = GROUP_ATTACHMENT;

        if (g_str_equal(key, "Store")) {
                if (g_str_equal(value, "kubernetes"))
                        self->store = STORE_KIND_KUBERNETES;
                else if (g_str_equal(value, "none"))
                        self->store = STORE_KIND_NONE;
                else
                        return fail_value(origin, g, key, value,
                                          "expected \"kubernetes\" or \"none\"", error);
        } else if (g_str_equal(key, "Driver")) {
                if (!driver_name_ok(value))
                        return fail_value(origin, g, key, value,
                                          "expected a DNS subdomain of 1..63 lowercase "
                                          "alphanumerics, '-' and '.'",
                                          error);
                g_free(self->driver);
                self->driver = g_strdup(value);
        } else if (g_str_equal(key, "Workers")) {
                return parse_uint(origin, g, key, value, 1, 256, &self->workers, error);
        } else if (g_str_equal(key, "QueueLimit")) {
                return parse_uint(origin, g, key, value, 1, 1048576, &self->queue_limit, error);
        } else if (g_str_equal(key, "Reconcile")) {
                return parse_bool(origin, g, key, value, &self->reconcile, error);
        } else if (g_str_equal(key, "Events")) {
                return parse_bool(origin, g, key, value, &self->events, error);
        } else if (g_str_equal(key, "AllowedGroup")) {
                g_free(self->allowed_group);
                self->allowed_group = g_strdup(value);
        } else if (g_str_equal(key, "MetricsAddress")) {
                return apply_metrics_address(self, origin, value, error);
        } else {
                g_warning("%s: unknown key [%s] %s ignored", origin, g, key);
        }
        return TRUE;
}

static gboolean apply_path(char **field, const char *origin, const char *key, const char *value,
                           GError **error)
{
        if (value[0] != '\0' && !g_path_is_absolute(value))
                return fail_value(origin, GROUP_KUBERNETES, key, value,
                                  "expected an absolute path or nothing", error);
        g_free(*field);
        *field = g_strdup(value);
        return TRUE;
}

static const char *const tracked_names[CONFIG_N_TRACKED_KEYS] = {
    [CONFIG_KEY_SERVER] = "Server",   [CONFIG_KEY_TOKEN_FILE] = "TokenFile",
    [CONFIG_KEY_CA_FILE] = "CAFile",  [CONFIG_KEY_KUBECONFIG] = "Kubeconfig",
    [CONFIG_KEY_CONTEXT] = "Context",
};

static char **tracked_field(Config *self, ConfigTrackedKey k)
{
        char **fields[CONFIG_N_TRACKED_KEYS] = {
            [CONFIG_KEY_SERVER] = &self->kube_server,
            [CONFIG_KEY_TOKEN_FILE] = &self->kube_token_file,
            [CONFIG_KEY_CA_FILE] = &self->kube_ca_file,
            [CONFIG_KEY_KUBECONFIG] = &self->kube_kubeconfig,
            [CONFIG_KEY_CONTEXT] = &self->kube_context,
        };

        return fields[k];
}

/* Server= and Context= take any text (the URL is checked by the client when the store is
 * created, before any request); the others are paths. */
static gboolean apply_tracked(Config *self, ConfigTrackedKey k, const char *origin,
                              const char *value, GError **error)
{
        char **field = tracked_field(self, k);

        if (k == CONFIG_KEY_SERVER || k == CONFIG_KEY_CONTEXT) {
                g_free(*field);
                *field = g_strdup(value);
        } else if (!apply_path(field, origin, tracked_names[k], value, error)) {
                return FALSE;
        }
        g_free(self->set_in[k]);
        self->set_in[k] = g_strdup(origin);
        return TRUE;
}

static gboolean apply_kubernetes(Config *self, const char *origin, const char *key,
                                 const char *value, GError **error)
{
        const char *g = GROUP_KUBERNETES;

        for (guint k = 0; k < CONFIG_N_TRACKED_KEYS; k++)
                if (g_str_equal(key, tracked_names[k]))
                        return apply_tracked(self, k, origin, value, error);
        if (g_str_equal(key, "RequestTimeoutSec")) {
                return parse_uint(origin, g, key, value, 1, 3600, &self->request_timeout_sec,
                                  error);
        } else if (g_str_equal(key, "StartTimeoutSec")) {
                return parse_uint(origin, g, key, value, 0, 86400, &self->start_timeout_sec, error);
        } else if (g_str_equal(key, "WatchTimeoutSec")) {
                return parse_uint(origin, g, key, value, 2, 3600, &self->watch_timeout_sec, error);
        } else {
                g_warning("%s: unknown key [%s] %s ignored", origin, g, key);
        }
        return TRUE;
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
                gboolean attachment = g_str_equal(*g, GROUP_ATTACHMENT);
                g_auto(GStrv) keys = NULL;

                if (!attachment && !g_str_equal(*g, GROUP_KUBERNETES)) {
                        g_warning("%s: unknown section [%s] ignored", origin, *g);
                        continue;
                }
                keys = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = keys; k != NULL && *k != NULL; k++) {
                        /* get_value: raw text, no escape processing surprises for paths. */
                        g_autofree char *raw = g_key_file_get_value(kf, *g, *k, NULL);
                        g_autofree char *value = g_strstrip(g_strdup(raw ? raw : ""));
                        gboolean ok = attachment ? apply_attachment(self, origin, *k, value, error)
                                                 : apply_kubernetes(self, origin, *k, value, error);
                        if (!ok)
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

static gboolean fail_combined(const Config *self, ConfigTrackedKey other, GError **error)
{
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                    "%s: [%s] Kubeconfig= cannot be combined with %s= (set in %s): the "
                    "kubeconfig gives the server, the CA and the credentials; remove one of them",
                    self->set_in[CONFIG_KEY_KUBECONFIG], GROUP_KUBERNETES, tracked_names[other],
                    self->set_in[other]);
        return FALSE;
}

gboolean config_check(const Config *self, GError **error)
{
        static const ConfigTrackedKey excluded[] = {CONFIG_KEY_SERVER, CONFIG_KEY_TOKEN_FILE,
                                                    CONFIG_KEY_CA_FILE};
        gboolean kubeconfig = self->kube_kubeconfig != NULL && *self->kube_kubeconfig != '\0';

        for (gsize i = 0; kubeconfig && i < G_N_ELEMENTS(excluded); i++)
                if (self->set_in[excluded[i]] != NULL)
                        return fail_combined(self, excluded[i], error);
        if (!kubeconfig && self->kube_context != NULL && *self->kube_context != '\0') {
                g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                            "%s: [%s] Context= needs Kubeconfig=: it selects a context of the "
                            "kubeconfig",
                            self->set_in[CONFIG_KEY_CONTEXT], GROUP_KUBERNETES);
                return FALSE;
        }
        return TRUE;
}
