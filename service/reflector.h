/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "kube-client.h"

/* LIST then WATCH of one kind of cluster-scoped object (client-go calls this a reflector):
 * a paginated LIST (restarted when its continue token expires), then a watch from the list's
 * resourceVersion with bookmarks, on a thread of its own. A stream that ends is resumed from
 * the last resourceVersion seen (event or bookmark); the API server away means jittered
 * backoff; 410 Expired, as the watch's HTTP status or as an ERROR event inside the stream,
 * means a fresh LIST that the consumer reconciles its state against. The decoding of pages
 * and events is the consumer's (pure, fuzzable code), so one mechanism serves every kind. */
typedef struct _Reflector Reflector;

typedef enum {
        REFLECTOR_STARTING,     /* the start-up LIST; no watch yet */
        REFLECTOR_WATCHING,     /* a stream is open */
        REFLECTOR_RECONNECTING, /* the stream ended or failed; resuming (with backoff) */
        REFLECTOR_RELISTING,    /* 410: listing afresh */
        REFLECTOR_STOPPED,
} ReflectorState;

const char *reflector_state_name(ReflectorState state);

typedef struct {
        /* A LIST starts afresh (a restarted list starts again from here). */
        void (*list_begin)(gpointer user_data);
        /* One page's body: decode and keep its items; *continue_token receives
         * metadata.continue and *resource_version metadata.resourceVersion (NULL: absent). */
        gboolean (*list_page)(gpointer user_data, const char *data, gsize length,
                              char **continue_token, char **resource_version, GError **error);
        /* The whole list succeeded, as of `resource_version`. `relist`: FALSE for the
         * start-up list (reflector_list), TRUE for one the watch needed. */
        void (*list_end)(gpointer user_data, const char *resource_version, gboolean relist);
        /* One line of the stream. *resource_version receives the version to resume from
         * (NULL: unchanged); for an ERROR event *error_code receives its Status code. A line
         * that cannot be decoded fails (the stream is then reopened). */
        gboolean (*event)(gpointer user_data, const char *data, gsize length,
                          char **resource_version, guint *error_code, GError **error);
        /* The state changed, at `since_usec` (real time). On the watch thread. */
        void (*state)(gpointer user_data, ReflectorState state, gint64 since_usec);
} ReflectorClass;

/* `path`: the collection, e.g. "/api/v1/persistentvolumes"; `what`: its name in messages,
 * e.g. "PersistentVolumes". The client must outlive the reflector. */
Reflector *reflector_new(KubeClient *client, const char *path, const char *what, guint page_size,
                         guint watch_timeout_sec, const ReflectorClass *klass, gpointer user_data);
/* Stops and joins the watch thread. */
void reflector_free(Reflector *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Reflector, reflector_free)

/* The start-up LIST, on the caller's thread: one paginated pass (restarted on 410 a few
 * times). The consumer's list_end is called with relist FALSE. */
gboolean reflector_list(Reflector *self, GError **error);
/* Starts the watch thread from the last list's resourceVersion; without a list yet, the
 * thread lists first (retried with backoff; the consumer's list_end gets relist TRUE). */
void reflector_start(Reflector *self);
ReflectorState reflector_get_state(Reflector *self, gint64 *since_usec);
