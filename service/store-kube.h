/* SPDX-License-Identifier: MIT */
#pragma once

#include "config.h"
#include "metrics.h"
#include "store.h"

/* Store=kubernetes: each attachment lives in two annotations of the volume's
 * PersistentVolume, "<Driver>/attached-node" and "<Driver>/attached-at" (DESIGN §5).
 *
 * Construction validates Server= (kube_server_url_check), reads CAFile= and TokenFile= and
 * fails at once on a bad value; it sends no request.
 *
 * load() retries by itself: the daemon calls it exactly once at start, and an API server that
 * is not up yet (connection refused, timeout, 429, 5xx, a bad body) is retried with backoff
 * until Config.start_timeout_sec has passed, then load fails with the last cause. Permanent
 * errors (certificate rejected, 401/403 after re-reading the token, another 4xx) fail at once.
 * The callback runs only after the whole paginated LIST succeeded, so it never sees an item
 * of an aborted pass (410 Gone restarts the list) nor the same volume twice.
 *
 * put/remove send one request in steady state (a merge patch conditional on the
 * resourceVersion remembered from the LIST or the last write) and re-read the PV on 409. */
Store *store_kube_new(const Config *config, GError **error);
/* Counts the store's requests, conflicts and watch in `metrics` (see kube_client_set_metrics);
 * before load(). */
void store_kube_set_metrics(Store *store, Metrics *metrics);
