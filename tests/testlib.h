/* SPDX-License-Identifier: MIT */
#pragma once

/* Functions only tests call, kept out of the daemon: accessors to the core's insides and the
 * json-glib reference decoders the fast decoders are compared against. Linked by the tests
 * only (testlib_dep in tests/meson.build). */
#include <json-glib/json-glib.h>

#include "service/kube-client.h"
#include "service/manager.h"
#include "service/pv.h"
#include "service/volume-lock.h"

/* The manager's lock registry. */
VolumeLocks *manager_get_locks(Manager *self);
/* A sorted (by volume) copy of the whole table: GPtrArray of Attachment*, free func set. */
GPtrArray *manager_list(Manager *self); /* one row per (volume, node), by volume then time */
/* Number of live entries of the registry (volumes with a holder or waiter). */
guint volume_locks_count(VolumeLocks *self);

/* The base URL requests go to, without a trailing slash. */
const char *kube_client_get_server(KubeClient *self);
/* kube_client_send() for a single object (KUBE_CLIENT_MAX_OBJECT_BYTES), parsed; a body that
 * is not a JSON object fails with KUBE_CLIENT_ERROR_INVALID_RESPONSE
 * "invalid JSON from the API server". */
JsonNode *kube_client_send_json(KubeClient *self, const char *method, const char *path,
                                const char *content_type, const char *body, guint *status,
                                GError **error);

/* pv_list_decode through a json-glib tree, ~30x slower. json-glib 1.6 also accepts input that
 * is not RFC 8259 JSON (comments, single quotes, hex numbers, raw control characters, lone
 * surrogates, data after the object), which pv_list_decode rejects; on everything else both
 * agree, item by item and field by field. */
gboolean pv_list_decode_reference(const char *data, gsize length, const char *driver,
                                  PvListItemFunc func, gpointer user_data, char **continue_token,
                                  char **resource_version, GError **error);
/* pv_event_decode through a json-glib tree. */
gboolean pv_event_decode_reference(const char *data, gsize length, const char *driver, PvEvent *out,
                                   GError **error);

/* Every field of a PvInfo in a fixed order, NULL kept ("ReadWriteMany" or NULL for the flag),
 * appended to `out` (free func g_free): what the decoders are compared on. */
void pv_info_fields(const PvInfo *pv, GPtrArray *out);
#define PV_INFO_N_FIELDS (PV_INFO_N_STRINGS + 1)
