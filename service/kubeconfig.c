/* SPDX-License-Identifier: MIT */
#include "kubeconfig.h"

#include <string.h>

#include "kube-client.h"
#include "yaml-tree.h"

/* What the parse is working on: the messages name the file and the field. */
typedef struct {
        const char *path;
        char *dir;
        GError **error;
} Parse;

/* Fields that change who the daemon is or how it reaches the server in ways it does not
 * implement: honouring them partially would be worse than refusing. */
typedef struct {
        const char *key;
        const char *why;
} Refused;

static const Refused refused_user_keys[] = {
    {"exec", "credential plugins are not supported; use a client certificate or tokenFile"},
    {"auth-provider", "auth provider plugins are not supported; use a client certificate or "
                      "tokenFile"},
    {"username", "basic authentication is not supported; use a client certificate or a token"},
    {"password", "basic authentication is not supported; use a client certificate or a token"},
    {"as", "impersonation is not supported"},
    {"as-uid", "impersonation is not supported"},
    {"as-groups", "impersonation is not supported"},
    {"as-user-extra", "impersonation is not supported"},
};

static const Refused refused_cluster_keys[] = {
    {"tls-server-name", "the server certificate is always checked against the server URL"},
    {"proxy-url", "the daemon never uses a proxy"},
};

void kubeconfig_clear(Kubeconfig *self)
{
        g_clear_pointer(&self->path, g_free);
        g_clear_pointer(&self->context, g_free);
        g_clear_pointer(&self->cluster_prefix, g_free);
        g_clear_pointer(&self->user_prefix, g_free);
        g_clear_pointer(&self->server, g_free);
        g_clear_pointer(&self->ca_file, g_free);
        g_clear_pointer(&self->ca_data, g_bytes_unref);
        if (self->token != NULL)
                memset(self->token, 0, strlen(self->token));
        g_clear_pointer(&self->token, g_free);
        g_clear_pointer(&self->token_file, g_free);
        g_clear_pointer(&self->cert_file, g_free);
        g_clear_pointer(&self->cert_data, g_bytes_unref);
        g_clear_pointer(&self->key_file, g_free);
        if (self->key_data != NULL && g_bytes_get_size(self->key_data) > 0)
                memset((void *)g_bytes_get_data(self->key_data, NULL), 0,
                       g_bytes_get_size(self->key_data));
        g_clear_pointer(&self->key_data, g_bytes_unref);
}

static gboolean fail(Parse *p, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean fail(Parse *p, const char *format, ...)
{
        g_autofree char *what = NULL;
        va_list ap;

        va_start(ap, format);
        what = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_set_error(p->error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG, "kubeconfig %s: %s",
                    p->path, what);
        return FALSE;
}

/* A string field: absent, null or "" leave *out NULL. */
static gboolean get_string(Parse *p, const YamlTree *map, const char *key, const char *label,
                           char **out)
{
        const YamlTree *v = yaml_tree_get(map, key);

        *out = NULL;
        if (v == NULL || yaml_tree_is_null(v))
                return TRUE;
        if (v->kind != YAML_TREE_SCALAR)
                return fail(p, "%s%s%s must be a string", label, *label != '\0' ? "." : "", key);
        if (v->text[0] != '\0')
                *out = g_strdup(v->text);
        return TRUE;
}

static gboolean get_path(Parse *p, const YamlTree *map, const char *key, const char *label,
                         char **out)
{
        g_autofree char *text = NULL;

        if (!get_string(p, map, key, label, &text))
                return FALSE;
        *out = text != NULL ? g_canonicalize_filename(text, p->dir) : NULL;
        return TRUE;
}

/* Standard base64 as Go's encoding/json decodes []byte: padding required, CR/LF skipped. */
static gboolean base64_ok(const char *s)
{
        gsize n = 0, pad = 0;

        for (const char *c = s; *c != '\0'; c++) {
                if (*c == '\r' || *c == '\n')
                        continue;
                if (*c == '=') {
                        pad++;
                } else if (pad > 0 || !(g_ascii_isalnum(*c) || *c == '+' || *c == '/')) {
                        return FALSE;
                }
                n++;
        }
        return n > 0 && n % 4 == 0 && pad <= 2;
}

static gboolean get_data(Parse *p, const YamlTree *map, const char *key, const char *label,
                         GBytes **out)
{
        g_autofree char *text = NULL;
        gsize len = 0;
        guchar *bytes;

        *out = NULL;
        if (!get_string(p, map, key, label, &text))
                return FALSE;
        if (text == NULL)
                return TRUE;
        if (!base64_ok(text))
                return fail(p, "%s.%s is not valid base64", label, key);
        bytes = g_base64_decode(text, &len);
        memset(text, 0, strlen(text));
        *out = g_bytes_new_take(bytes, len);
        return TRUE;
}

/* The entry of list `list` whose name is `name`, or NULL (an error set when malformed). */
static const YamlTree *find_named(Parse *p, const YamlTree *root, const char *list,
                                  const char *inner, const char *name)
{
        const YamlTree *items = yaml_tree_get(root, list);
        const YamlTree *found = NULL;

        if (items == NULL || yaml_tree_is_null(items))
                return NULL;
        if (items->kind != YAML_TREE_SEQUENCE) {
                fail(p, "%s must be a list", list);
                return NULL;
        }
        for (guint i = 0; i < items->kids->len; i++) {
                const YamlTree *entry = items->kids->pdata[i];
                const YamlTree *n = yaml_tree_get(entry, "name");

                if (n == NULL || n->kind != YAML_TREE_SCALAR || !g_str_equal(n->text, name))
                        continue;
                if (found != NULL) {
                        fail(p, "%s[%s] appears more than once", list, name);
                        return NULL;
                }
                found = yaml_tree_get(entry, inner);
                if (found == NULL || found->kind != YAML_TREE_MAPPING) {
                        fail(p, "%s[%s].%s is missing or not a mapping", list, name, inner);
                        return NULL;
                }
        }
        return found;
}

static gboolean refuse_keys(Parse *p, const YamlTree *map, const char *label, const Refused *table,
                            gsize n)
{
        for (gsize i = 0; i < n; i++) {
                const YamlTree *v = yaml_tree_get(map, table[i].key);

                if (v != NULL && !yaml_tree_is_null(v))
                        return fail(p, "%s.%s is not supported: %s", label, table[i].key,
                                    table[i].why);
        }
        return TRUE;
}

/* YAML 1.1 as kubectl reads it: anything but a false value turns verification off. */
static gboolean is_false(const YamlTree *v)
{
        static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO",
                                             "off",   "Off",   "OFF",   "n",  "N"};

        if (v == NULL || yaml_tree_is_null(v))
                return TRUE;
        if (v->kind != YAML_TREE_SCALAR || !v->plain)
                return FALSE;
        for (gsize i = 0; i < G_N_ELEMENTS(falses); i++)
                if (g_str_equal(v->text, falses[i]))
                        return TRUE;
        return FALSE;
}

static gboolean exclusive(Parse *p, const char *label, const char *a, gconstpointer va,
                          const char *b, gconstpointer vb)
{
        if (va != NULL && vb != NULL)
                return fail(p, "%s.%s and %s.%s are both set; keep one", label, a, label, b);
        return TRUE;
}

static gboolean read_cluster(Parse *p, Kubeconfig *self, const YamlTree *cluster, const char *l)
{
        if (!refuse_keys(p, cluster, l, refused_cluster_keys, G_N_ELEMENTS(refused_cluster_keys)))
                return FALSE;
        if (!is_false(yaml_tree_get(cluster, "insecure-skip-tls-verify")))
                return fail(p,
                            "%s.insecure-skip-tls-verify is not supported: the server's "
                            "certificate is always verified",
                            l);
        if (!get_string(p, cluster, "server", l, &self->server) ||
            !get_path(p, cluster, "certificate-authority", l, &self->ca_file) ||
            !get_data(p, cluster, "certificate-authority-data", l, &self->ca_data))
                return FALSE;
        if (self->server == NULL)
                return fail(p, "%s.server is missing", l);
        return exclusive(p, l, "certificate-authority", self->ca_file, "certificate-authority-data",
                         self->ca_data);
}

static gboolean token_ok(const char *token)
{
        for (const char *c = token; *c != '\0'; c++)
                if (g_ascii_iscntrl(*c) || (guchar)*c >= 0x80)
                        return FALSE;
        return TRUE;
}

static gboolean read_user(Parse *p, Kubeconfig *self, const YamlTree *user, const char *l)
{
        if (!refuse_keys(p, user, l, refused_user_keys, G_N_ELEMENTS(refused_user_keys)))
                return FALSE;
        if (!get_string(p, user, "token", l, &self->token) ||
            !get_path(p, user, "tokenFile", l, &self->token_file) ||
            !get_path(p, user, "client-certificate", l, &self->cert_file) ||
            !get_data(p, user, "client-certificate-data", l, &self->cert_data) ||
            !get_path(p, user, "client-key", l, &self->key_file) ||
            !get_data(p, user, "client-key-data", l, &self->key_data))
                return FALSE;
        /* Never show the token itself, not even a part of it. */
        if (self->token != NULL && !token_ok(self->token))
                return fail(p, "%s.token holds a byte that cannot go in an HTTP header", l);
        if (!exclusive(p, l, "token", self->token, "tokenFile", self->token_file) ||
            !exclusive(p, l, "client-certificate", self->cert_file, "client-certificate-data",
                       self->cert_data) ||
            !exclusive(p, l, "client-key", self->key_file, "client-key-data", self->key_data))
                return FALSE;
        if ((self->cert_file != NULL || self->cert_data != NULL) !=
            (self->key_file != NULL || self->key_data != NULL))
                return fail(p,
                            "%s: a client certificate needs its key and a key its certificate "
                            "(client-certificate and client-key, or their -data forms)",
                            l);
        return TRUE;
}

/* The context's cluster or user name, required. */
static char *context_ref(Parse *p, const YamlTree *context, const char *ctx, const char *key)
{
        g_autofree char *label = g_strdup_printf("contexts[%s].context", ctx);
        char *value = NULL;

        if (!get_string(p, context, key, label, &value))
                return NULL;
        if (value == NULL)
                fail(p, "%s.%s is missing", label, key);
        return value;
}

static const YamlTree *lookup(Parse *p, const YamlTree *root, const char *list, const char *inner,
                              const char *name, const char *referrer)
{
        const YamlTree *found = find_named(p, root, list, inner, name);

        if (found == NULL && (p->error == NULL || *p->error == NULL))
                fail(p, "%s \"%s\" names no entry in %s", referrer, name, list);
        return found;
}

static gboolean read_config(Parse *p, Kubeconfig *self, const YamlTree *root, const char *context)
{
        const YamlTree *ctx, *cluster, *user;
        g_autofree char *cluster_name = NULL, *user_name = NULL, *referrer = NULL;
        g_autofree char *cluster_label = NULL, *user_label = NULL;

        if (root->kind != YAML_TREE_MAPPING)
                return fail(p, "not a kubeconfig: expected a mapping at the top");
        if (context != NULL && *context != '\0')
                self->context = g_strdup(context);
        else if (!get_string(p, root, "current-context", "", &self->context))
                return FALSE;
        if (self->context == NULL)
                return fail(p, "current-context is not set and Context= is empty");
        referrer = g_strdup(context != NULL && *context != '\0' ? "Context=" : "current-context");
        ctx = lookup(p, root, "contexts", "context", self->context, referrer);
        if (ctx == NULL)
                return FALSE;
        cluster_name = context_ref(p, ctx, self->context, "cluster");
        user_name = cluster_name != NULL ? context_ref(p, ctx, self->context, "user") : NULL;
        if (user_name == NULL)
                return FALSE;
        g_free(referrer);
        referrer = g_strdup_printf("contexts[%s].context.cluster", self->context);
        cluster = lookup(p, root, "clusters", "cluster", cluster_name, referrer);
        if (cluster == NULL)
                return FALSE;
        g_free(referrer);
        referrer = g_strdup_printf("contexts[%s].context.user", self->context);
        user = lookup(p, root, "users", "user", user_name, referrer);
        if (user == NULL)
                return FALSE;
        cluster_label = g_strdup_printf("clusters[%s].cluster", cluster_name);
        user_label = g_strdup_printf("users[%s].user", user_name);
        self->cluster_prefix = g_strdup_printf("kubeconfig %s: %s", p->path, cluster_label);
        self->user_prefix = g_strdup_printf("kubeconfig %s: %s", p->path, user_label);
        return read_cluster(p, self, cluster, cluster_label) &&
               read_user(p, self, user, user_label);
}

gboolean kubeconfig_parse(Kubeconfig *self, const char *data, gsize length, const char *path,
                          const char *context, GError **error)
{
        g_autofree char *dir = g_path_get_dirname(path);
        Parse p = {path, dir, error};
        g_autoptr(YamlTree) root = NULL;
        g_autoptr(GError) local = NULL;

        kubeconfig_clear(self);
        self->path = g_strdup(path);
        if (length > KUBECONFIG_MAX_BYTES)
                return fail(&p, "larger than %u bytes", KUBECONFIG_MAX_BYTES);
        root = yaml_tree_parse(data, length, &local);
        if (root == NULL)
                return fail(&p, "%s", local->message);
        if (!read_config(&p, self, root, context)) {
                kubeconfig_clear(self);
                return FALSE;
        }
        return TRUE;
}

gboolean kubeconfig_load(Kubeconfig *self, const char *path, const char *context, GError **error)
{
        g_autofree char *data = NULL;
        gsize length = 0;
        g_autoptr(GError) local = NULL;
        gboolean ok;

        if (!g_file_get_contents(path, &data, &length, &local)) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG, "Kubeconfig=%s: %s",
                            path, local->message);
                return FALSE;
        }
        ok = kubeconfig_parse(self, data, length, path, context, error);
        /* It may hold a token or a client key. */
        memset(data, 0, length);
        return ok;
}
