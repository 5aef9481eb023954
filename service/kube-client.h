/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "config.h"
#include "metrics.h"

/* An HTTP client for the Kubernetes API server, shared by all worker threads: one SoupSession
 * (libsoup >= 3.2 allows concurrent synchronous sends from several threads) with max-conns and
 * max-conns-per-host raised to Workers. Every call below is thread-safe.
 *
 * Errors are in KUBE_CLIENT_ERROR. An HTTP error status is the error code itself (100..599),
 * so a caller branches with g_error_matches(e, KUBE_CLIENT_ERROR, 409); the message reads
 * "HTTP 500: etcdserver: request timed out" (the Status message when the body has one). The
 * other codes are below 100. The store turns all of them into ATTACHMENT_ERROR_FAILED. */
#define KUBE_CLIENT_ERROR (kube_client_error_quark())

typedef enum {
        KUBE_CLIENT_ERROR_UNREACHABLE = 1,  /* connection refused/dropped, DNS, timeout */
        KUBE_CLIENT_ERROR_TLS,              /* certificate rejected, handshake failed */
        KUBE_CLIENT_ERROR_INVALID_RESPONSE, /* malformed, truncated or oversized body */
        KUBE_CLIENT_ERROR_CONFIG,           /* bad Server=, unreadable CAFile=/TokenFile= */
} KubeClientError;

GQuark kube_client_error_quark(void);

/* Permanent: retrying cannot help (bad configuration, certificate rejected, 401/403 even
 * after re-reading the token, any other 4xx but 408/429). Transient: connection errors,
 * timeouts, 408, 429, 5xx, bad bodies (a proxy in trouble). Errors of other domains: FALSE. */
gboolean kube_client_error_is_permanent(const GError *error);

/* https:// to any host; http:// only to a loopback host (127.0.0.0/8, ::1, localhost), so the
 * bearer token never crosses a network in clear. Rejects other schemes, userinfo, queries,
 * fragments and an empty host. Pure. Fails with KUBE_CLIENT_ERROR_CONFIG. */
gboolean kube_server_url_check(const char *url, GError **error);

typedef struct _KubeClient KubeClient;

/* Validates Server= (empty: in-cluster from KUBERNETES_SERVICE_HOST/PORT), loads CAFile= and
 * reads TokenFile= once; sends nothing. */
KubeClient *kube_client_new(const Config *config, GError **error);
void kube_client_free(KubeClient *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KubeClient, kube_client_free)

/* Every request is counted in `metrics` (NULL: none), which must outlive the client. Set
 * before the first request; the store, the reflectors and the event poster that share the
 * client find it with kube_client_get_metrics(). */
void kube_client_set_metrics(KubeClient *self, Metrics *metrics);
Metrics *kube_client_get_metrics(KubeClient *self);

/* The base URL requests go to, without a trailing slash. */
const char *kube_client_get_server(KubeClient *self);

/* Response bodies larger than this fail with KUBE_CLIENT_ERROR_INVALID_RESPONSE. */
#define KUBE_CLIENT_MAX_OBJECT_BYTES (32u * 1024 * 1024)
#define KUBE_CLIENT_MAX_LIST_BYTES (64u * 1024 * 1024)

/* Sends `method` to server + `path` (path includes any query, already escaped), with `body`
 * (NULL: none) of `content_type`, and returns the body of a 2xx response, at most `max_bytes`.
 * *status (may be NULL) receives the HTTP status, 0 when no response arrived.
 *
 * The bearer token is re-read when TokenFile= changed (stat before each request) and once
 * more, with one retry, after a 401. 429 and 503 with a Retry-After of whole seconds are
 * waited out and retried while the total stays within RequestTimeoutSec. */
GBytes *kube_client_send(KubeClient *self, const char *method, const char *path,
                         const char *content_type, const char *body, gsize max_bytes, guint *status,
                         GError **error);

/* kube_client_send() for a single object (KUBE_CLIENT_MAX_OBJECT_BYTES), parsed; a body that
 * is not a JSON object fails with KUBE_CLIENT_ERROR_INVALID_RESPONSE
 * "invalid JSON from the API server". */
JsonNode *kube_client_send_json(KubeClient *self, const char *method, const char *path,
                                const char *content_type, const char *body, guint *status,
                                GError **error);

/* Opens a long-lived GET (a watch) on a session of its own, whose I/O timeout is
 * WatchTimeoutSec + RequestTimeoutSec: a read that gets nothing for that long fails. Returns
 * the body stream of a 2xx answer; any other status fails with that status as the code (the
 * Status message in the text); cancelling fails with G_IO_ERROR_CANCELLED. */
GInputStream *kube_client_open_stream(KubeClient *self, const char *path, GCancellable *cancellable,
                                      GError **error);
