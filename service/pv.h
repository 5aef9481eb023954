/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "errors.h"

/* Pure decoding and encoding of the PersistentVolume JSON the store reads and writes. No I/O,
 * no global state; every input may be arbitrary bytes (these functions are fuzzed): bad input
 * fails with ATTACHMENT_ERROR_FAILED, never crashes, aborts or logs a critical. */

/* The parts of a PV the store uses. Every field may be NULL when the PV lacks it or holds a
 * value of the wrong type; an empty string is kept as "" (the caller decides what it means). */
typedef struct {
        char *name;             /* metadata.name */
        char *resource_version; /* metadata.resourceVersion */
        char *csi_driver;       /* spec.csi.driver */
        char *volume_handle;    /* spec.csi.volumeHandle */
        char *attached_node;    /* annotation <driver>/attached-node */
        char *attached_at;      /* annotation <driver>/attached-at, unparsed */
        char *claim_namespace;  /* spec.claimRef.namespace (where its Events go) */
        char *claim_name;       /* spec.claimRef.name */
        char *claim_uid;        /* spec.claimRef.uid (kubectl describe matches Events by it) */
        char *uid;              /* metadata.uid */
} PvInfo;

void pv_info_clear(PvInfo *self);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PvInfo, pv_info_clear)

/* Parses untrusted text that must hold one JSON object (UTF-8, bounded nesting). Fails with
 * ATTACHMENT_ERROR_FAILED "invalid JSON from the API server: ...". */
JsonNode *pv_parse_object(const char *data, gsize length, GError **error);

/* Members of an untrusted json-glib object, type-checked first (the accessors log criticals
 * on a mismatch): NULL when absent or of another type. */
JsonObject *pv_json_object_member(JsonObject *object, const char *name);
const char *pv_json_string_member(JsonObject *object, const char *name);

/* `driver` is the annotation prefix: keys "<driver>/attached-node" and "<driver>/attached-at".
 * Fails only when the input is not a JSON object. */
gboolean pv_decode_node(JsonNode *node, const char *driver, PvInfo *out, GError **error);
gboolean pv_decode(const char *data, gsize length, const char *driver, PvInfo *out, GError **error);

/* Called once per item of a list page, in order. Returning FALSE (with the error set) stops
 * the walk and pv_list_decode fails with that error. `pv` is only valid during the call. */
typedef gboolean (*PvListItemFunc)(const PvInfo *pv, gpointer user_data, GError **error);

/* Decodes one PersistentVolumeList page without building a tree (strict RFC 8259, see
 * json-scan.h), so a caller walking page by page never holds more than one page. The whole
 * page is validated before the first call of func: a malformed page reaches no callback.
 * Items that are not objects are skipped. *continue_token / *resource_version (either may be
 * NULL) receive metadata.continue / metadata.resourceVersion, NULL when absent or empty; they
 * are left untouched on failure. */
gboolean pv_list_decode(const char *data, gsize length, const char *driver, PvListItemFunc func,
                        gpointer user_data, char **continue_token, char **resource_version,
                        GError **error);
/* The same through a json-glib tree, ~30x slower: not used by the daemon, kept as the
 * reference that the tests and the fuzz target compare pv_list_decode against. json-glib 1.6
 * also accepts input that is not RFC 8259 JSON (comments, single quotes, hex numbers, raw
 * control characters, lone surrogates, data after the object), which pv_list_decode rejects;
 * on everything else both agree, item by item and field by field. */
gboolean pv_list_decode_reference(const char *data, gsize length, const char *driver,
                                  PvListItemFunc func, gpointer user_data, char **continue_token,
                                  char **resource_version, GError **error);

/* A metav1 Status. */
typedef struct {
        guint code;    /* 0 when absent */
        char *reason;  /* e.g. "Conflict"; NULL when absent */
        char *message; /* NULL when absent */
} PvStatus;

void pv_status_clear(PvStatus *self);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PvStatus, pv_status_clear)

/* FALSE when the body is not a JSON object with "kind":"Status" or at least one of the
 * fields; `out` is then left empty. Never sets an error: a non-Status error body is normal
 * (proxies answer with HTML). */
gboolean pv_status_decode(const char *data, gsize length, PvStatus *out);

/* RFC 3339 in UTC with microseconds, exactly as the Go driver writes it:
 * "2026-11-26T13:07:03.123456Z". Years outside 0000..9999 cannot be written (NULL). */
char *pv_time_format(gint64 usec);
/* Accepts "YYYY-MM-DDTHH:MM:SS", an optional fraction of 1..9 digits (truncated to µs) and
 * 'Z' or a numeric offset (+02:00); rejects anything else, including out-of-range fields. */
gboolean pv_time_parse(const char *text, gint64 *usec);

/* JSON merge-patch bodies (application/merge-patch+json). A non-NULL resource_version makes
 * the API server apply the patch only to that version (409 Conflict otherwise). */
char *pv_patch_put(const char *driver, const char *resource_version, const char *node,
                   gint64 attached_at_usec);
char *pv_patch_remove(const char *driver, const char *resource_version);

/* "<driver>/attached-node" and "<driver>/attached-at". */
char *pv_annotation_node_key(const char *driver);
char *pv_annotation_at_key(const char *driver);

/* One line of a watch stream: {"type":"ADDED","object":{...}}. */
typedef enum {
        PV_EVENT_ADDED,
        PV_EVENT_MODIFIED,
        PV_EVENT_DELETED,
        PV_EVENT_BOOKMARK,
        PV_EVENT_ERROR,
} PvEventType;

typedef struct {
        PvEventType type;
        PvInfo pv;       /* ADDED/MODIFIED/DELETED: the object; BOOKMARK: resource_version */
        PvStatus status; /* ERROR: the metav1 Status the object carries */
} PvEvent;

void pv_event_clear(PvEvent *self);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PvEvent, pv_event_clear)

/* Decodes one watch event line with the same scanner as pv_list_decode (strict RFC 8259,
 * nothing built). Fails with ATTACHMENT_ERROR_FAILED on malformed JSON, a missing or unknown
 * type, or an object that is not a JSON object; `out` is then left empty. */
gboolean pv_event_decode(const char *data, gsize length, const char *driver, PvEvent *out,
                         GError **error);
/* The same through a json-glib tree: the reference the tests and the fuzz target compare
 * pv_event_decode against (not used by the daemon). */
gboolean pv_event_decode_reference(const char *data, gsize length, const char *driver, PvEvent *out,
                                   GError **error);
