/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "metrics.h"

/* MetricsAddress=: "IPv4:PORT" or "[IPv6]:PORT", an IP literal (no name lookup at start) and a
 * port of 1..65535. Pure. Fails with G_IO_ERROR_INVALID_ARGUMENT saying what is expected. */
GSocketAddress *metrics_address_parse(const char *text, GError **error);

/* The /metrics endpoint: libsoup's SoupServer on a thread and GMainContext of its own, so a
 * scrape never waits for the bus thread or a worker, nor they for it (an exposition reads the
 * registry's atomics only). It answers GET and HEAD of /metrics (Prometheus text format
 * 0.0.4), 404 for any other path, 405 for any other method, and closes the connection after
 * each answer.
 *
 * What bounds what (a scraper is trusted with nothing):
 * - request headers: libsoup's limit of 64 KiB (more is refused); request bodies are read and
 *   discarded, never kept;
 * - connections: at most METRICS_SERVER_MAX_CONNECTIONS at once, a new one beyond is closed
 *   at once; listen backlog METRICS_SERVER_MAX_CONNECTIONS;
 * - idle or slow peers: a read or write that makes no progress for
 *   METRICS_SERVER_IO_TIMEOUT_SEC fails, and every connection is shut down
 *   METRICS_SERVER_DEADLINE_SEC after it was accepted, whatever it is doing (a peer that
 *   trickles a header a byte at a time, or reads the answer as slowly).
 * The answer is built in memory (~30 KiB) per request. */
#define METRICS_SERVER_MAX_CONNECTIONS 8
#define METRICS_SERVER_IO_TIMEOUT_SEC 10
#define METRICS_SERVER_DEADLINE_SEC 30

typedef struct _MetricsServer MetricsServer;

/* Binds `address` (metrics_address_parse) and starts serving `metrics`, which must outlive
 * the server. Fails (nothing started) when the address is invalid or cannot be bound. */
MetricsServer *metrics_server_new(Metrics *metrics, const char *address, GError **error);
/* Stops serving, closes every connection and joins the thread. */
void metrics_server_free(MetricsServer *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MetricsServer, metrics_server_free)
