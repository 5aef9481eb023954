/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "errors.h"

/* Who holds a volume (DESIGN §9): nobody, one node exclusively, or one or two nodes in shared
 * mode (a live migration's source and target). The one decision every store and the table
 * make, kept pure so that the store's writes, the table and the tests agree. */
typedef struct {
        char *node;         /* the first node (oldest attachment); NULL: nobody */
        gint64 attached_at; /* µs since the epoch */
        char *target;       /* the second node (shared only); NULL: none */
        gint64 target_at;   /* when the second node attached (migration-started-at) */
        gboolean shared;    /* held in shared mode (attach-mode: shared) */
} Holding;

void holding_clear(Holding *h);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Holding, holding_clear)
void holding_copy(const Holding *from, Holding *to);
gboolean holding_equal(const Holding *a, const Holding *b);
/* Whether `node` is one of the holders; *at (may be NULL) receives its attached-at. */
gboolean holding_has(const Holding *h, const char *node, gint64 *at);
/* 0, 1 or 2. */
guint holding_count(const Holding *h);

typedef enum {
        HOLDING_TRACK,        /* exclusive attach of node */
        HOLDING_TRACK_SHARED, /* shared attach of node */
        HOLDING_UNTRACK_NODE, /* detach node only */
        HOLDING_UNTRACK,      /* detach every node */
} HoldingOp;

typedef struct {
        HoldingOp op;
        const char *node; /* NULL for HOLDING_UNTRACK */
        gint64 now;       /* the attached-at of a new attachment */
} HoldingRequest;

typedef enum {
        HOLDING_WRITE,   /* *after differs from the holding: persist it */
        HOLDING_SAME,    /* nothing changes (same node again, detach of a non-holder) */
        HOLDING_REFUSED, /* error set: ALREADY_ATTACHED or NOT_SHAREABLE */
} HoldingDecision;

/* Applies `req` to `h`. `shareable`: the volume allows shared mode (the PV is ReadWriteMany
 * and Block; Store=none: TRUE, the caller's word). *after is filled on HOLDING_WRITE only. */
HoldingDecision holding_decide(const char *volume, const Holding *h, gboolean shareable,
                               const HoldingRequest *req, Holding *after, GError **error);

/* ALREADY_ATTACHED "volume V already attached to node A" (or "to nodes A and B"). */
gboolean holding_set_already_attached(GError **error, const char *volume, const Holding *h);
