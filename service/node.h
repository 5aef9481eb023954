/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "pv.h"

/* Pure decoding of the Node objects the reconciler watches (DESIGN §10): a Node's name, its
 * resourceVersion and whether it carries the out-of-service taint, from LIST pages and watch
 * event lines. No I/O, no global state; every input may be arbitrary bytes (fuzzed by
 * tests/fuzz/fuzz-node.c): bad input fails with ATTACHMENT_ERROR_FAILED, never crashes. */

/* The non-graceful node shutdown convention: an operator (or a tool) puts this taint on a
 * Node known to be down for good; whatever effect it has (NoExecute, typically). */
#define NODE_TAINT_OUT_OF_SERVICE "node.kubernetes.io/out-of-service"

typedef struct {
        char *name;              /* metadata.name; NULL when absent or not a string */
        char *resource_version;  /* metadata.resourceVersion; NULL when absent */
        gboolean out_of_service; /* spec.taints holds an entry with the key above */
} NodeInfo;

void node_info_clear(NodeInfo *self);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(NodeInfo, node_info_clear)

/* Called once per item of a page, in order (items that are not objects are skipped);
 * `node` is only valid during the call. FALSE (error set) stops the walk. */
typedef gboolean (*NodeListItemFunc)(const NodeInfo *node, gpointer user_data, GError **error);

/* One NodeList page. The whole page is parsed and checked before the first call of func.
 * *continue_token / *resource_version (either may be NULL) receive metadata.continue /
 * metadata.resourceVersion, NULL when absent or empty. */
gboolean node_list_decode(const char *data, gsize length, NodeListItemFunc func, gpointer user_data,
                          char **continue_token, char **resource_version, GError **error);

/* One watch event line; the types are the PV watch's. BOOKMARK: only resource_version is
 * meaningful; ERROR: `status`. */
typedef struct {
        PvEventType type;
        NodeInfo node;
        PvStatus status;
} NodeEvent;

void node_event_clear(NodeEvent *self);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(NodeEvent, node_event_clear)

/* Fails on a line that is not a JSON object, a missing or unknown type, or an object that is
 * not a JSON object; `out` is then left empty. */
gboolean node_event_decode(const char *data, gsize length, NodeEvent *out, GError **error);
