/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* A standard kubeconfig (DESIGN §12), reduced to what the daemon uses: the server of one
 * context's cluster, how to trust it, and how to authenticate to it. What the daemon cannot
 * honour safely is refused, naming the field: exec and auth-provider plugins, basic auth,
 * impersonation, insecure-skip-tls-verify, tls-server-name, proxy-url. Relative file paths
 * are resolved against the kubeconfig's directory, as kubectl does. */
typedef struct {
        char *path;           /* the kubeconfig, for messages */
        char *context;        /* the context used: Context= or current-context */
        char *cluster_prefix; /* "kubeconfig PATH: clusters[NAME].cluster", for messages */
        char *user_prefix;    /* "kubeconfig PATH: users[NAME].user", for messages */
        char *server;         /* clusters[].cluster.server: checked by the client */
        char *ca_file;        /* certificate-authority, absolute; NULL: none */
        GBytes *ca_data;      /* certificate-authority-data, decoded PEM; NULL: none */
        char *token;          /* token; NULL: none */
        char *token_file;     /* tokenFile, absolute; NULL: none */
        char *cert_file;      /* client-certificate, absolute */
        GBytes *cert_data;    /* client-certificate-data, decoded PEM */
        char *key_file;       /* client-key, absolute */
        GBytes *key_data;     /* client-key-data, decoded PEM (zeroed when cleared) */
} Kubeconfig;

/* Larger files are refused: a kubeconfig with embedded certificates is a few KiB. */
#define KUBECONFIG_MAX_BYTES (1024u * 1024)

void kubeconfig_clear(Kubeconfig *self);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Kubeconfig, kubeconfig_clear)

/* Decodes `data`, the text of the kubeconfig `path` (absolute: relative paths inside resolve
 * against its directory). `context` NULL or "": current-context. Pure (reads no file): used by
 * tests and fuzzing. Fails with KUBE_CLIENT_ERROR_CONFIG "kubeconfig PATH: WHAT", e.g.
 * "kubeconfig /etc/k.yaml: users[admin].user.exec is not supported: ...". */
gboolean kubeconfig_parse(Kubeconfig *self, const char *data, gsize length, const char *path,
                          const char *context, GError **error);
/* Reads `path` and decodes it. */
gboolean kubeconfig_load(Kubeconfig *self, const char *path, const char *context, GError **error);
