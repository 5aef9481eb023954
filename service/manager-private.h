/* SPDX-License-Identifier: MIT */
#pragma once

/* The manager's insides: manager.c and the test library (tests/testlib.c) only. */
#include "manager.h"

/* Memory per tracked volume matters (100,000 volumes must fit in ~200 bytes each), so an entry
 * is one allocation holding the volume inline, the hash table is a set keyed by that inline
 * string, and node names — few, shared by many volumes — are interned and refcounted. */

typedef struct {
        guint refs; /* volumes naming this node; changed under the table's write lock */
        char name[];
} NodeName;

/* Only a volume held in shared mode has one (a few of them): a second node, and whether its
 * migration's MigrationOverdue went out. */
typedef struct {
        const char *target; /* NodeName.name; NULL: shared with one node */
        gint64 target_at;
        gboolean overdue_reported;
} Shared;

typedef struct {
        gint64 attached_at;
        const char *node;     /* NodeName.name, owned by the table's node set */
        Shared *shared;       /* NULL: exclusive */
        GSequenceIter *order; /* in Table.order */
        char volume[];
} Entry;

#define ENTRY_OF(key) ((Entry *)(gpointer)((char *)(key)-G_STRUCT_OFFSET(Entry, volume)))
#define NODE_OF(key) ((NodeName *)(gpointer)((char *)(key)-G_STRUCT_OFFSET(NodeName, name)))

/* The entries sorted by volume, beside the hash table, so that List needs no sort and can be
 * answered in slices, each resuming after the last volume it sent (the table may change in
 * between). */
typedef struct {
        GHashTable *volumes;   /* set of Entry.volume */
        GSequence *order;      /* Entry*, by volume */
        GHashTable *nodes;     /* set of NodeName.name */
        GHashTable *migrating; /* set of Entry.volume of entries with a second node */
        guint rows;            /* (volume, node) pairs: AttachmentCount */
} Table;

struct _Manager {
        Store *store;
        VolumeLocks *locks;
        GRWLock lock; /* guards table; never held across store I/O */
        Table table;
        ManagerChangeFunc change_func;
        gpointer change_data;
};
