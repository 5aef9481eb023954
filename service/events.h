/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "kube-client.h"

/* Kubernetes Events (DESIGN §10): core/v1 Events in the namespace of the PV's claim (else
 * "default") about the claim (else the PV), source component srvlab-attachmentd and the host.
 * Posting queues and returns at once: a bounded queue and one sender thread, so an Event
 * never delays or fails an operation; a full queue drops the Event and counts it.
 *
 * Repeats are aggregated as client-go's EventCorrelator does (tools/record/events_cache.go,
 * eventLogger): Events with the same key — source component and host, the involved object's
 * kind, namespace, name, uid and apiVersion, type, reason and message — within
 * EVENTS_REPEAT_WINDOW_SEC of the last one raise the first Event's count and lastTimestamp
 * with a PATCH instead of creating another; the cache of keys is bounded (client-go: an LRU
 * of 4096). An Event the server no longer has (404: its TTL passed) is created afresh. */
typedef struct _Events Events;

#define EVENTS_QUEUE_LIMIT 1024
#define EVENTS_REPEAT_WINDOW_SEC 600
#define EVENTS_COMPONENT "srvlab-attachmentd"

#define EVENT_REASON_CONFLICT "AttachmentConflict"
#define EVENT_REASON_STALE_CLEARED "StaleAttachmentCleared"
#define EVENT_REASON_MIGRATION_OVERDUE "MigrationOverdue"
#define EVENT_TYPE_NORMAL "Normal"
#define EVENT_TYPE_WARNING "Warning"

typedef struct {
        guint64 posted;  /* created or raised (the API server accepted it) */
        guint64 dropped; /* the queue was full (or the daemon was stopping) */
        guint64 failed;  /* refused (403: no RBAC for events) or unreachable */
} EventsCounters;

/* What an Event is about: the PV, and its claim when it is bound (any field may be NULL). */
typedef struct {
        const char *pv_name;
        const char *pv_uid;
        const char *claim_namespace;
        const char *claim_name;
        const char *claim_uid;
} EventsObject;

/* `client` must outlive the Events; `host` is the source host (the node's name). */
Events *events_new(KubeClient *client, const char *host, guint queue_limit);
/* Stops the sender (what is still queued is dropped and counted) and joins it. */
void events_free(Events *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Events, events_free)

/* Never blocks, never fails; `self` NULL (Events=no) does nothing. From any thread. */
void events_post(Events *self, const char *reason, const char *type, const EventsObject *object,
                 const char *message);
void events_get_counters(Events *self, EventsCounters *out);

/* The Event's JSON body (pure: the tests check it). `name` is the Event's metadata.name,
 * timestamps are µs since the epoch. */
char *events_build_body(const char *name, const char *host, const char *reason, const char *type,
                        const EventsObject *object, const char *message, guint count,
                        gint64 first_usec, gint64 last_usec);
/* The aggregation key of an Event (pure). */
char *events_key(const char *host, const char *reason, const char *type, const EventsObject *object,
                 const char *message);
