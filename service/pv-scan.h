/* SPDX-License-Identifier: MIT */
#pragma once

/* The pieces of pv.c's forward-only walk over PersistentVolume objects (a LIST page's items,
 * a watch event's object) that pv-watch.c shares. Internal to the pv decoders. */

#include "json-scan.h"
#include "pv.h"

/* metadata's fields first, then spec's (the ranges pv_scan_forget clears). */
enum {
        F_NAME,
        F_RV,
        F_UID,
        F_NODE,
        F_AT,
        F_DRIVER,
        F_HANDLE,
        F_CLAIM_NS,
        F_CLAIM_NAME,
        F_CLAIM_UID,
        N_FIELDS
};

typedef struct {
        JsonSpan field[N_FIELDS];
} ItemSpans;

typedef enum { ITEMS_ABSENT, ITEMS_NULL, ITEMS_ARRAY, ITEMS_OTHER } ItemsKind;

typedef struct {
        const char *node_key, *at_key;
        gsize node_key_length, at_key_length;
        ItemSpans item; /* the item being read */
        GArray *items;  /* ItemSpans */
        ItemsKind items_kind;
        JsonSpan continue_token, resource_version;
} ListWalk;

#define KEY_IS(key, literal) json_span_equal((key), (literal), sizeof(literal) - 1)

/* A member holding fields [first, last] starts them afresh: the last duplicate wins whole. */
void pv_scan_forget(ListWalk *walk, guint first, guint last);
/* Walks one member of a PV object into walk->item. */
gboolean pv_scan_item_member(JsonScan *s, const JsonSpan *key, gpointer data, GError **error);
/* The item's strings, decoded into `buf` (reused): `out` points into it. */
void pv_scan_item_info(const JsonSpan field[N_FIELDS], GString *buf, PvInfo *out);
