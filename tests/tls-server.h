/* SPDX-License-Identifier: MIT */
#pragma once

#include <libsoup/soup.h>

/* An HTTPS server on loopback, on a thread of its own, that requires a client certificate
 * signed by dir/ca.pem and records every handshake. */
typedef struct {
        char *dir; /* the certificates */
        GMainContext *context;
        GMainLoop *loop;
        GThread *thread;
        SoupServer *server;
        guint port;
        GMutex lock;
        GCond ready;
        GPtrArray *handshakes; /* "CN=alice", or "refused CN=rogue", in order */
} TlsServer;

/* dir holds the certificates (tls-certs.h). */
TlsServer *tls_server_start(const char *dir);
void tls_server_stop(TlsServer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TlsServer, tls_server_stop)
/* The handshakes so far, joined with ','. */
char *tls_server_handshakes(TlsServer *s);
