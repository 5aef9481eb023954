/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "config.h"
#include "kubeconfig.h"

/* How the client proves who it is and whom it trusts: a bearer token (inline or from a file),
 * a client certificate for mutual TLS (files or inline PEM), and the CA that verifies the API
 * server. Token and certificate files are stat()ed before each request and re-read when they
 * changed, so a rotated credential is used on the next request; a failed re-read keeps the
 * previous one (a rotation in progress must not break running requests). Thread-safe.
 * Errors are KUBE_CLIENT_ERROR_CONFIG and name the key or kubeconfig field, never a secret. */
typedef struct _KubeAuth KubeAuth;

/* From the kubeconfig when `kubeconfig` is not NULL, else from TokenFile= and CAFile=. Reads
 * every file once, so that a bad one stops the daemon at start. */
KubeAuth *kube_auth_new(const Config *config, const Kubeconfig *kubeconfig, GError **error);
void kube_auth_free(KubeAuth *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KubeAuth, kube_auth_free)

/* The CA database (a new reference), NULL for the system trust store. */
GTlsDatabase *kube_auth_get_database(KubeAuth *self);
/* TRUE when the token comes from a file (worth re-reading after a 401). */
gboolean kube_auth_has_token_file(KubeAuth *self);
/* A copy of the token (NULL: none), re-read first when `force` or when the file changed. The
 * caller zeroes it when done. */
char *kube_auth_get_token(KubeAuth *self, gboolean force);
/* The client certificate (a new reference; NULL: none), re-read first when its files changed.
 * *generation (if not NULL) grows each time the certificate is replaced. */
GTlsCertificate *kube_auth_get_certificate(KubeAuth *self, guint *generation);

/* A GTlsDatabase trusting the CA certificates in `pem` (one or more, PEM), for
 * certificate-authority-data; `what` names the source in messages. */
GTlsDatabase *kube_pem_database_new(GBytes *pem, const char *what, GError **error);
