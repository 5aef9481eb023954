/* SPDX-License-Identifier: MIT */
#pragma once

/* The pieces of pv.c's forward-only walk over PersistentVolume objects (a LIST page's items,
 * a watch event's object) that pv-watch.c shares. Internal to the pv decoders. */

#include "json-scan.h"
#include "pv.h"

/* Ranges matter (pv_scan_forget): metadata's fields are F_NAME..F_TARGET_AT, the
 * annotations' F_NODE..F_TARGET_AT, spec's F_DRIVER..F_CLAIM_UID, spec.csi's
 * F_DRIVER..F_HANDLE, spec.claimRef's F_CLAIM_NS..F_CLAIM_UID. */
enum {
        F_NAME,
        F_RV,
        F_UID,
        F_NODE,
        F_AT,
        F_MODE,
        F_TARGET,
        F_TARGET_AT,
        F_DRIVER,
        F_HANDLE,
        F_VOLUME_MODE,
        F_CLAIM_NS,
        F_CLAIM_NAME,
        F_CLAIM_UID,
        N_FIELDS
};

typedef struct {
        JsonSpan field[N_FIELDS];
        gboolean read_write_many; /* spec.accessModes holds "ReadWriteMany" */
} ItemSpans;

/* The annotation keys of one driver, in the order F_NODE..F_TARGET_AT. */
enum { N_ANNOTATION_KEYS = F_TARGET_AT - F_NODE + 1 };
typedef struct {
        char *key[N_ANNOTATION_KEYS];
        gsize length[N_ANNOTATION_KEYS];
} PvKeys;

void pv_keys_init(PvKeys *keys, const char *driver);
void pv_keys_clear(PvKeys *keys);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PvKeys, pv_keys_clear)

typedef enum { ITEMS_ABSENT, ITEMS_NULL, ITEMS_ARRAY, ITEMS_OTHER } ItemsKind;

typedef struct {
        const PvKeys *keys;
        ItemSpans item; /* the item being read */
        GArray *items;  /* ItemSpans */
        ItemsKind items_kind;
        JsonSpan continue_token, resource_version;
} ListWalk;

#define KEY_IS(key, literal) json_span_equal((key), (literal), sizeof(literal) - 1)

/* A member holding fields [first, last] starts them afresh: the last duplicate wins whole. */
void pv_scan_forget(ListWalk *walk, guint first, guint last);
/* A new item: every field and flag forgotten. */
void pv_scan_forget_item(ListWalk *walk);
/* Walks one member of a PV object into walk->item. */
gboolean pv_scan_item_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error);
/* The item's strings, decoded into `buf` (reused): `out` points into it. */
void pv_scan_item_info(const ItemSpans *item, GString *buf, PvInfo *out);
/* `out` gets copies of the strings of `in` (which may point into a buffer). */
void pv_info_dup(const PvInfo *in, PvInfo *out);
