/* SPDX-License-Identifier: MIT */
#include "kube-auth.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube-client.h"
#include "tsan.h"

/* One half of the client certificate: a file (re-read when it changes) or inline PEM. */
typedef struct {
        const char *field; /* "client-certificate" or "client-key" */
        char *path;        /* NULL: inline */
        GBytes *data;
        struct stat st;
} Source;

struct _KubeAuth {
        GTlsDatabase *database;
        GMutex lock;       /* guards everything below */
        char *token_label; /* "TokenFile=PATH" or the kubeconfig field and PATH */
        char *token_file;  /* NULL: the token is inline or absent */
        char *token;
        struct stat token_stat;
        char *user_prefix; /* "kubeconfig PATH: users[NAME].user", for messages */
        Source cert, key;  /* cert.path == NULL && cert.data == NULL: no client certificate */
        GTlsCertificate *certificate;
        guint generation;
};

static void wipe_bytes(GBytes *bytes)
{
        gsize len = 0;
        gpointer data = bytes != NULL ? (gpointer)g_bytes_get_data(bytes, &len) : NULL;

        if (data != NULL && len > 0)
                memset(data, 0, len);
}

static gboolean same_file(const struct stat *a, const struct stat *b)
{
        return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
               a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static char *read_token(const char *path, const char *label, struct stat *st, GError **error)
{
        g_autofree char *text = NULL;
        g_autoptr(GError) local = NULL;

        if (stat(path, st) < 0 || !g_file_get_contents(path, &text, NULL, &local)) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                            "%s: cannot read: %s", label,
                            local != NULL ? local->message : g_strerror(errno));
                return NULL;
        }
        g_strchomp(text);
        for (const char *p = text; *p != '\0'; p++) {
                if (g_ascii_iscntrl(*p) || (guchar)*p >= 0x80) {
                        /* Never show the token itself, not even a part of it. */
                        g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                                    "%s: the token holds a byte that cannot go in an HTTP "
                                    "header",
                                    label);
                        memset(text, 0, strlen(text));
                        return NULL;
                }
        }
        return g_steal_pointer(&text);
}

char *kube_auth_get_token(KubeAuth *self, gboolean force)
{
        struct stat st;
        char *token;

        tsan_mutex_lock(&self->lock);
        if (self->token_file != NULL &&
            (force || stat(self->token_file, &st) < 0 || !same_file(&st, &self->token_stat))) {
                g_autoptr(GError) error = NULL;
                char *fresh = read_token(self->token_file, self->token_label, &st, &error);

                if (fresh != NULL) {
                        if (self->token != NULL)
                                memset(self->token, 0, strlen(self->token));
                        g_free(self->token);
                        self->token = fresh;
                        self->token_stat = st;
                } else {
                        g_warning("%s; keeping the previous token", error->message);
                }
        }
        token = g_strdup(self->token);
        tsan_mutex_unlock(&self->lock);
        return token;
}

gboolean kube_auth_has_token_file(KubeAuth *self)
{
        return self->token_file != NULL;
}

/* The PEM of one half: the file's bytes (and its stat) or the inline data. */
static GBytes *source_read(KubeAuth *self, Source *s, struct stat *st, GError **error)
{
        g_autoptr(GError) local = NULL;
        char *text = NULL;
        gsize len = 0;

        if (s->path == NULL)
                return g_bytes_ref(s->data);
        if (stat(s->path, st) < 0 || !g_file_get_contents(s->path, &text, &len, &local)) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                            "%s.%s %s: cannot read: %s", self->user_prefix, s->field, s->path,
                            local != NULL ? local->message : g_strerror(errno));
                return NULL;
        }
        return g_bytes_new_take(text, len);
}

static gboolean source_changed(const Source *s)
{
        struct stat st;

        return s->path != NULL && (stat(s->path, &st) < 0 || !same_file(&st, &s->st));
}

/* GIO builds a certificate without its key when the key text holds none; the handshake would
 * then fail with nothing to say why. (Whether the key matches is seen only there.) */
static gboolean has_private_key(GTlsCertificate *certificate)
{
        g_autoptr(GByteArray) der = NULL;

        g_object_get(certificate, "private-key", &der, NULL);
        if (der == NULL)
                return FALSE;
        memset(der->data, 0, der->len);
        return TRUE;
}

/* Certificate and key in one PEM text: kubelet-style files hold both, and are read once. */
static GTlsCertificate *certificate_build(KubeAuth *self, GBytes *cert, GBytes *key, GError **error)
{
        g_autoptr(GByteArray) pem = g_byte_array_new();
        g_autoptr(GError) local = NULL;
        GTlsCertificate *certificate;
        gsize len;
        const guint8 *data = g_bytes_get_data(cert, &len);

        g_byte_array_append(pem, data, (guint)len);
        if (self->key.path == NULL || self->cert.path == NULL ||
            !g_str_equal(self->key.path, self->cert.path)) {
                g_byte_array_append(pem, (const guint8 *)"\n", 1);
                data = g_bytes_get_data(key, &len);
                g_byte_array_append(pem, data, (guint)len);
        }
        certificate = g_tls_certificate_new_from_pem((const char *)pem->data, pem->len, &local);
        memset(pem->data, 0, pem->len);
        if (certificate == NULL) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                            "%s: the client certificate and key do not load: %s", self->user_prefix,
                            local->message);
                return NULL;
        }
        if (!has_private_key(certificate)) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                            "%s: client-key holds no private key", self->user_prefix);
                g_object_unref(certificate);
                return NULL;
        }
        return certificate;
}

/* Called with the lock held. */
static gboolean certificate_load(KubeAuth *self, GError **error)
{
        struct stat cert_st = self->cert.st, key_st = self->key.st;
        g_autoptr(GBytes) cert = source_read(self, &self->cert, &cert_st, error);
        g_autoptr(GBytes) key = cert != NULL ? source_read(self, &self->key, &key_st, error) : NULL;
        GTlsCertificate *fresh;

        if (key == NULL)
                return FALSE;
        fresh = certificate_build(self, cert, key, error);
        if (self->key.path != NULL)
                wipe_bytes(key);
        if (fresh == NULL)
                return FALSE;
        g_clear_object(&self->certificate);
        self->certificate = fresh;
        self->cert.st = cert_st;
        self->key.st = key_st;
        self->generation++;
        return TRUE;
}

GTlsCertificate *kube_auth_get_certificate(KubeAuth *self, guint *generation)
{
        GTlsCertificate *certificate;

        tsan_mutex_lock(&self->lock);
        if (self->certificate != NULL &&
            (source_changed(&self->cert) || source_changed(&self->key))) {
                g_autoptr(GError) error = NULL;

                if (!certificate_load(self, &error))
                        g_warning("%s; keeping the previous client certificate", error->message);
        }
        certificate = self->certificate != NULL ? g_object_ref(self->certificate) : NULL;
        if (generation != NULL)
                *generation = self->generation;
        tsan_mutex_unlock(&self->lock);
        return certificate;
}

GTlsDatabase *kube_auth_get_database(KubeAuth *self)
{
        return self->database != NULL ? g_object_ref(self->database) : NULL;
}

static GTlsDatabase *file_database(const char *path, const char *label, GError **error)
{
        g_autoptr(GError) local = NULL;
        GTlsDatabase *database = g_tls_file_database_new(path, &local);

        if (database == NULL)
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG, "%s%s: %s", label,
                            path, local->message);
        return database;
}

static gboolean from_config(KubeAuth *self, const Config *config, GError **error)
{
        if (config->kube_ca_file != NULL && *config->kube_ca_file != '\0') {
                self->database = file_database(config->kube_ca_file, "CAFile=", error);
                if (self->database == NULL)
                        return FALSE;
        }
        if (config->kube_token_file != NULL && *config->kube_token_file != '\0') {
                self->token_file = g_strdup(config->kube_token_file);
                self->token_label = g_strconcat("TokenFile=", self->token_file, NULL);
        }
        return TRUE;
}

/* Our own copy: the kubeconfig wipes its key when it is cleared. */
static GBytes *copy_bytes(GBytes *bytes)
{
        gsize len = 0;
        const void *data = bytes != NULL ? g_bytes_get_data(bytes, &len) : NULL;

        return bytes != NULL ? g_bytes_new(data, len) : NULL;
}

static gboolean from_kubeconfig(KubeAuth *self, const Kubeconfig *kc, GError **error)
{
        g_autofree char *ca_label = g_strconcat(kc->cluster_prefix, ".certificate-authority", NULL);

        if (kc->ca_file != NULL) {
                g_autofree char *label = g_strconcat(ca_label, " ", NULL);

                self->database = file_database(kc->ca_file, label, error);
        } else if (kc->ca_data != NULL) {
                g_autofree char *label = g_strconcat(ca_label, "-data", NULL);

                self->database = kube_pem_database_new(kc->ca_data, label, error);
        }
        if ((kc->ca_file != NULL || kc->ca_data != NULL) && self->database == NULL)
                return FALSE;
        self->token = g_strdup(kc->token);
        if (kc->token_file != NULL) {
                self->token_file = g_strdup(kc->token_file);
                self->token_label =
                    g_strdup_printf("%s.tokenFile %s", kc->user_prefix, kc->token_file);
        }
        self->user_prefix = g_strdup(kc->user_prefix);
        self->cert.path = g_strdup(kc->cert_file);
        self->cert.data = copy_bytes(kc->cert_data);
        self->key.path = g_strdup(kc->key_file);
        self->key.data = copy_bytes(kc->key_data);
        if (self->cert.path == NULL && self->cert.data == NULL)
                return TRUE;
        return certificate_load(self, error);
}

/* A credential others may read is as good as theirs: said once, at start (a rotated file is
 * not re-checked). Group-readable is fine when the group is the daemon's own (0640
 * root:srvlab-attachment, docs/SECURITY.md §2). */
static void warn_if_readable(const char *label, const struct stat *st)
{
        if ((st->st_mode & S_IROTH) != 0 ||
            ((st->st_mode & S_IRGRP) != 0 && st->st_gid != getegid()))
                g_warning("%s: readable by users other than its owner (mode %04o); "
                          "chmod 0600 it",
                          label, (unsigned)(st->st_mode & 07777));
}

KubeAuth *kube_auth_new(const Config *config, const Kubeconfig *kubeconfig, GError **error)
{
        g_autoptr(KubeAuth) self = g_new0(KubeAuth, 1);

        g_mutex_init(&self->lock);
        self->cert.field = "client-certificate";
        self->key.field = "client-key";
        if (!(kubeconfig != NULL ? from_kubeconfig(self, kubeconfig, error)
                                 : from_config(self, config, error)))
                return NULL;
        if (self->token_file != NULL) {
                self->token =
                    read_token(self->token_file, self->token_label, &self->token_stat, error);
                if (self->token == NULL)
                        return NULL;
                warn_if_readable(self->token_label, &self->token_stat);
        }
        if (self->key.path != NULL) {
                g_autofree char *label =
                    g_strdup_printf("%s.client-key %s", self->user_prefix, self->key.path);

                warn_if_readable(label, &self->key.st);
        }
        return g_steal_pointer(&self);
}

void kube_auth_free(KubeAuth *self)
{
        if (self == NULL)
                return;
        g_clear_object(&self->database);
        g_free(self->token_label);
        g_free(self->token_file);
        if (self->token != NULL)
                memset(self->token, 0, strlen(self->token));
        g_free(self->token);
        g_free(self->user_prefix);
        g_free(self->cert.path);
        g_clear_pointer(&self->cert.data, g_bytes_unref);
        g_free(self->key.path);
        wipe_bytes(self->key.data);
        g_clear_pointer(&self->key.data, g_bytes_unref);
        g_clear_object(&self->certificate);
        g_mutex_clear(&self->lock);
        g_free(self);
}

/* certificate-authority-data: GIO has a file database only, so this one verifies the chain
 * against each CA with g_tls_certificate_verify(), which also checks the validity period and,
 * given an identity, the server name. */
typedef struct {
        GTlsDatabase parent;
        GPtrArray *cas; /* GTlsCertificate */
} KubePemDatabase;

typedef GTlsDatabaseClass KubePemDatabaseClass;

static GType kube_pem_database_get_type(void);

G_DEFINE_TYPE(KubePemDatabase, kube_pem_database, G_TYPE_TLS_DATABASE)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KubePemDatabase, g_object_unref)

static GTlsCertificateFlags pem_verify_chain(GTlsDatabase *database, GTlsCertificate *chain,
                                             const gchar *purpose, GSocketConnectable *identity,
                                             GTlsInteraction *interaction,
                                             GTlsDatabaseVerifyFlags flags,
                                             GCancellable *cancellable, GError **error)
{
        KubePemDatabase *self = (KubePemDatabase *)database;
        GTlsCertificateFlags best = G_TLS_CERTIFICATE_UNKNOWN_CA;

        for (guint i = 0; i < self->cas->len; i++) {
                GTlsCertificateFlags f =
                    g_tls_certificate_verify(chain, identity, self->cas->pdata[i]);

                if (f == 0)
                        return 0;
                /* The CA that signed it explains best what else is wrong. */
                if ((f & G_TLS_CERTIFICATE_UNKNOWN_CA) == 0)
                        best = f;
        }
        return best;
}

static void kube_pem_database_finalize(GObject *object)
{
        g_ptr_array_unref(((KubePemDatabase *)object)->cas);
        G_OBJECT_CLASS(kube_pem_database_parent_class)->finalize(object);
}

static void kube_pem_database_init(KubePemDatabase *self)
{
        self->cas = g_ptr_array_new_with_free_func(g_object_unref);
}

static void kube_pem_database_class_init(KubePemDatabaseClass *klass)
{
        G_OBJECT_CLASS(klass)->finalize = kube_pem_database_finalize;
        klass->verify_chain = pem_verify_chain;
}

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

GTlsDatabase *kube_pem_database_new(GBytes *pem, const char *what, GError **error)
{
        g_autoptr(KubePemDatabase) self = g_object_new(kube_pem_database_get_type(), NULL);
        gsize len = 0;
        const char *data = g_bytes_get_data(pem, &len);
        g_autofree char *text = g_strndup(data != NULL ? data : "", len);

        for (const char *p = strstr(text, PEM_BEGIN); p != NULL; p = strstr(p, PEM_BEGIN)) {
                const char *end = strstr(p, PEM_END);
                g_autoptr(GError) local = NULL;
                GTlsCertificate *ca;

                if (end == NULL)
                        break;
                end += strlen(PEM_END);
                ca = g_tls_certificate_new_from_pem(p, end - p, &local);
                if (ca == NULL) {
                        g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                                    "%s: certificate %u: %s", what, self->cas->len + 1,
                                    local->message);
                        return NULL;
                }
                g_ptr_array_add(self->cas, ca);
                p = end;
        }
        if (self->cas->len == 0) {
                g_set_error(error, KUBE_CLIENT_ERROR, KUBE_CLIENT_ERROR_CONFIG,
                            "%s: holds no PEM certificate", what);
                return NULL;
        }
        return G_TLS_DATABASE(g_steal_pointer(&self));
}
