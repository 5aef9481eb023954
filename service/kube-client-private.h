/* SPDX-License-Identifier: MIT */
#pragma once

/* The client's insides: kube-client.c and the test library (tests/testlib.c) only. */
#include <libsoup/soup.h>

#include "kube-auth.h"
#include "kube-client.h"

/* One SoupSession and the client certificate generation its connections present. */
typedef struct {
        guint conns;
        guint timeout_sec; /* socket I/O timeout */
        SoupSession *session;
        guint generation;
} SessionSlot;

struct _KubeClient {
        KubeAuth *auth;
        GTlsDatabase *database; /* NULL: the system trust store */
        char *server;
        guint timeout_sec;
        GMutex session_lock; /* guards the slots' sessions */
        SessionSlot requests;
        /* Watches: long-lived streams that may be silent (no event, no bookmark) until the
         * server ends them at timeoutSeconds; silence past that, plus a request's time, means
         * a dead connection. */
        SessionSlot watches;
        Metrics *metrics;
};
