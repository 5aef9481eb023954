/* Starting a kube-emulator on a free port and talking to it, for the emulator's tests. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

typedef struct {
        GSubprocess *proc;
        char *tmpdir;
        char *base; /* http://127.0.0.1:PORT or https://... */
        guint port;
        SoupSession *session;
        char *token; /* sent as Bearer on API requests when set */
} Emu;

/* Starts the emulator with extra NULL-terminated arguments; asserts on failure. */
Emu *emu_start(const char *first_arg, ...);
/* SIGTERM, asserts a clean exit 0, removes the temp dir. */
void emu_stop(Emu *emu);
char *emu_binary(void);

typedef struct {
        guint status;
        GBytes *body;
        SoupMessageHeaders *headers;
        JsonNode *json; /* NULL when the body is not JSON */
        GError *error;  /* transport error, status is 0 then */
} Reply;

void reply_free(Reply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Reply, reply_free)

/* An API request with the bearer token if emu->token is set. */
Reply *emu_api(Emu *emu, const char *method, const char *path, const char *content_type,
               const char *body);
/* A control request (no token). */
Reply *emu_control(Emu *emu, const char *method, const char *path, const char *body);
Reply *emu_send(Emu *emu, SoupMessage *msg);
/* Builds a SoupMessage for async use, with the token. */
SoupMessage *emu_message(Emu *emu, const char *method, const char *path);

JsonObject *reply_object(Reply *reply);
const char *reply_string(Reply *reply, const char *path); /* "a.b.c" */
gint64 reply_int(Reply *reply, const char *path);
void assert_status_body(Reply *reply, guint code, const char *reason);
void emu_generate(Emu *emu, guint count, guint annotated);
guint64 emu_count(Emu *emu, const char *verb);

/* A WATCH stream read line by line (the session's 60 s timeout bounds every read). */
typedef struct {
        SoupMessage *msg;
        GInputStream *body;
        GDataInputStream *lines;
        guint status;
} WatchStream;

/* GET /api/v1/persistentvolumes?watch=true&@query; @accept may be NULL. */
WatchStream *emu_watch(Emu *emu, const char *query, const char *accept);
/* The same for any path (with its query), e.g. /api/v1/nodes?watch=true. */
WatchStream *emu_watch_at(Emu *emu, const char *path, const char *accept);
/* The next event as JSON; NULL at the end of the stream (@error set if it ended badly). */
JsonNode *watch_next(WatchStream *w, GError **error);
/* The next event, asserting its type; returns its object. */
JsonObject *watch_expect(WatchStream *w, const char *type, JsonNode **owner);
/* Reads to the end, asserting the stream ended without an error. */
void watch_expect_end(WatchStream *w);
void watch_stream_free(WatchStream *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(WatchStream, watch_stream_free)
guint64 json_rv(JsonObject *object);
const char *json_name(JsonObject *object); /* metadata.name */
/* POST /_emulator/faults, asserting it was taken. */
void emu_add_fault(Emu *emu, const char *spec);
