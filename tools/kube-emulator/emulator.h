/* kube-emulator: a small Kubernetes API server for PersistentVolumes and Nodes (tests,
 * benchmarks, demo). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

/* ---- store.c: PVs kept as serialized JSON, sorted by name ---- */

typedef struct {
        int refs; /* the tree and the history's events share objects */
        char *name;
        char *json; /* compact serialization of the whole object */
        gsize len;
        guint64 rv;
        gint64 created;    /* unix seconds, for the Table AGE column */
        char *cells;       /* cached Table cells before AGE; NULL until a Table asks */
        char *cells_after; /* and after AGE: "" or ",\"…\"…" */
        char *partial;     /* cached PartialObjectMetadata of the Table row */
} StoredPv;

StoredPv *stored_pv_ref(StoredPv *pv);
void stored_pv_unref(StoredPv *pv);

typedef enum {
        EVENT_ADDED,
        EVENT_MODIFIED,
        EVENT_DELETED,
} EventType;

typedef struct {
        EventType type;
        guint64 rv;
        StoredPv *pv;     /* DELETED: the last stored version */
        StoredPv *prev;   /* MODIFIED: the version it replaced (for label-selected watches) */
        StoredPv *object; /* DELETED: that version with the event's RV, built lazily */
} StoreEvent;

typedef struct Store Store;
typedef void (*StoreObserver)(StoreEvent *event, gpointer user_data);
typedef void (*StoreEventFunc)(StoreEvent *event, gpointer user_data);

/* @history: how many events are kept for watches that resume from an RV; @kind: the default
 * "kind" of written objects; @clock: the resourceVersion counter, shared by every store (one
 * etcd revision for all kinds). */
Store *store_new(guint history, const char *kind, guint64 *clock);
void store_free(Store *store);
guint64 store_rv(Store *store);
guint store_count(Store *store);
StoredPv *store_lookup(Store *store, const char *name);
JsonNode *store_parse(const StoredPv *pv);
/* Stamps resourceVersion (a fresh one), uid and creationTimestamp (kept from the previous
 * version, else new) on @obj, then stores it. @obj must carry metadata.name. */
const StoredPv *store_write(Store *store, JsonNode *obj);
/* store_write, unless that would change nothing but the resourceVersion: then the stored
 * object is answered as it is (no new RV, no event), as kube-apiserver's GuaranteedUpdate. */
const StoredPv *store_update(Store *store, JsonNode *obj);
/* Fast path for the generator: @json is taken and already carries @rv. */
void store_insert_raw(Store *store, const char *name, char *json, guint64 rv, gint64 created);
guint64 store_next_rv(Store *store);
gboolean store_remove(Store *store, const char *name);
void store_clear(Store *store);
/* Called for every write, after the store changed and before the history keeps it. */
void store_set_observer(Store *store, StoreObserver observer, gpointer user_data);
/* The object an event carries (DELETED: the last version with the deletion's RV). */
StoredPv *store_event_object(StoreEvent *event);
/* Every event with an RV above it is in the history; a watch from an older RV is too old. */
guint64 store_oldest_rv(Store *store);
guint64 store_compacted_rv(Store *store);
void store_compact(Store *store, guint64 rv);
/* Calls @func for each event after @after in RV order; FALSE (and no call) if too old. */
gboolean store_events_since(Store *store, guint64 after, StoreEventFunc func, gpointer user_data);

typedef struct LabelSelector LabelSelector;

typedef struct {
        GPtrArray *items; /* StoredPv *, borrowed */
        gboolean more;
        gboolean filtered; /* by a label selector: remaining is unknown, as the API server's */
        guint64 remaining;
        guint64 next_pos;
} StorePage;

/* Items after @start_after (NULL: from the first), at most @limit (0: all). @pos is the index
 * of the first returned item when the caller knows it and the store has not changed since
 * (@pos_rv == current RV); it makes remainingItemCount O(1). */
void store_page(Store *store, const char *start_after, guint limit, guint64 pos, guint64 pos_rv,
                StorePage *page);
/* The same with @sel: the items that match it. As etcd's paging, @page->more is whether any
 * object (matching or not) follows the last returned one. */
void store_page_selected(Store *store, const char *start_after, guint limit,
                         const LabelSelector *sel, StorePage *page);
void store_page_clear(StorePage *page);

/* ---- selector.c: labelSelector ---- */

/* NULL with a G_IO_ERROR_INVALID_ARGUMENT error when @text does not parse. */
LabelSelector *label_selector_parse(const char *text, GError **error);
void label_selector_free(LabelSelector *sel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LabelSelector, label_selector_free)
/* TRUE for a NULL @sel. */
gboolean label_selector_matches(const LabelSelector *sel, const StoredPv *pv);
/* The request's labelSelector (NULL without one); answers 400 itself and returns FALSE when
 * it does not parse. */
gboolean label_selector_from_query(SoupServerMessage *msg, GHashTable *query, LabelSelector **sel);

/* ---- json-util.c ---- */

void json_append_escaped(GString *out, const char *s);
char *json_node_to_compact(JsonNode *node, gsize *len);
JsonNode *json_parse_text(const char *data, gsize len, GError **error);
JsonObject *json_get_object_member(JsonObject *obj, const char *member);
const char *json_get_string_member(JsonObject *obj, const char *member);
const char *pv_name(JsonNode *obj);
const char *pv_resource_version(JsonNode *obj);
char *rfc3339_now(gboolean micro);
/* Drops metadata.annotations / metadata.labels when empty, as the API server's omitempty. */
void pv_drop_empty_maps(JsonNode *obj);

/* ---- kinds.c: what differs between resource kinds ---- */

typedef struct ResourceKind {
        const char *resource;  /* "persistentvolumes": the URL segment, Status details kind */
        const char *kind;      /* "PersistentVolume" */
        const char *list_kind; /* "PersistentVolumeList" */
        const char *columns;   /* the Table's "columnDefinitions":[…], member */
        /* The Table cells before and after AGE, JSON strings joined by commas (@after: "" or
         * starting with a comma). */
        void (*cells)(JsonObject *root, const char *name, char **before, char **after);
        /* Checks an update or patch of @old into @new (NULL: anything goes); answers 422
         * itself and returns FALSE. */
        gboolean (*validate_update)(SoupServerMessage *msg, const struct ResourceKind *kind,
                                    JsonNode *old, JsonNode *new);
        /* DELETE answers a Success Status rather than the deleted object (the Node registry's
         * ReturnDeletedObject is false, the PV registry's true). */
        gboolean delete_answers_status;
} ResourceKind;

extern const ResourceKind kind_pv;
extern const ResourceKind kind_node;

/* ---- validate.c ---- */

/* The 422 Invalid Status for one field: "KIND \"NAME\" is invalid: FIELD: DETAIL". */
void send_invalid(SoupServerMessage *msg, const ResourceKind *kind, const char *name,
                  const char *field, const char *cause, const char *detail);
/* A DNS-1123 subdomain, else answers 422 and returns FALSE. */
gboolean validate_name(SoupServerMessage *msg, const ResourceKind *kind, const char *name);
gboolean validate_pv_update(SoupServerMessage *msg, const ResourceKind *kind, JsonNode *old,
                            JsonNode *new);
gboolean validate_node_update(SoupServerMessage *msg, const ResourceKind *kind, JsonNode *old,
                              JsonNode *new);

/* ---- patch.c ---- */

JsonNode *merge_patch(JsonNode *target, JsonNode *patch);
gboolean json_patch_apply(JsonNode **doc, JsonNode *ops, GError **error);

/* ---- faults.c ---- */

typedef enum {
        VERB_GET,
        VERB_LIST,
        VERB_CREATE,
        VERB_UPDATE,
        VERB_PATCH,
        VERB_DELETE,
        VERB_WATCH,
        N_VERBS,
} Verb;

const char *verb_name(Verb verb);

typedef enum {
        ACTION_STATUS,
        ACTION_CONFLICT,
        ACTION_DELAY,
        ACTION_DROP,
        ACTION_MALFORMED,
        ACTION_TRUNCATED,
        ACTION_HUGE,
        ACTION_GONE,
        ACTION_GONE_EVENT,
} FaultAction;

typedef struct {
        int verb;       /* Verb, or -1 for "*" */
        char *resource; /* "persistentvolumes" unless the match says; NULL: "*" */
        char *name;
        guint count; /* 0 with probability > 0: a standing fault */
        double probability;
        FaultAction action;
        guint code;
        char *message;
        int retry_after; /* -1: no header */
        guint ms;
        guint64 bytes;
        GRand *rand;
        JsonNode *spec; /* as posted, for GET /_emulator/faults */
} Fault;

typedef struct Faults Faults;

Faults *faults_new(void);
void faults_free(Faults *faults);
gboolean faults_add(Faults *faults, JsonNode *spec, GError **error);
void faults_clear(Faults *faults);
JsonNode *faults_to_json(Faults *faults);
/* The fault that applies to this request, consumed; a copy the caller frees, or NULL. */
Fault *faults_take(Faults *faults, const char *resource, Verb verb, const char *name);
void fault_free(Fault *fault);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fault, fault_free)
/* Answers @msg as the fault says (not for ACTION_DELAY or ACTION_TRUNCATED). */
void fault_perform(const Fault *fault, SoupServerMessage *msg, const ResourceKind *kind,
                   const char *name);
/* Sends the first half of the response already set on @msg, then closes the connection. */
void fault_truncate(SoupServerMessage *msg);
/* Takes the connection away from libsoup, writes @data (may be NULL) and closes it. */
void steal_and_write(SoupServerMessage *msg, GBytes *data);

/* ---- watch.c: streamed WATCH responses ---- */

typedef struct WatchHub WatchHub;

WatchHub *watch_hub_new(Store *store, const ResourceKind *kind, guint bookmark_ms);
void watch_hub_free(WatchHub *hub);
/* The store's observer: delivers @event to every open, not stalled stream. */
void watch_hub_dispatch(StoreEvent *event, gpointer hub);
void watch_set_bookmark_interval(WatchHub *hub, guint ms);
guint watch_drop_all(WatchHub *hub);
guint watch_stall_all(WatchHub *hub);
guint watch_open(WatchHub *hub);
guint watch_stalled(WatchHub *hub);
/* "too old resource version: N (M)", M the oldest RV a watch can start from. */
char *watch_too_old_message(Store *store, GHashTable *query);
/* 200 and one ERROR event with the 410 Expired Status, then the end of the stream. */
void watch_send_gone_event(Store *store, SoupServerMessage *msg, GHashTable *query);
/* 200, the stream's headers and half an event line, then the connection closes. */
void watch_send_truncated(Store *store, SoupServerMessage *msg);

/* ---- requests.c: the log of the last API requests ---- */

typedef struct RequestLog RequestLog;

RequestLog *request_log_new(guint capacity);
void request_log_free(RequestLog *log);
/* Returns the entry's sequence number, for request_log_set_status once it is answered. */
guint64 request_log_add(RequestLog *log, Verb verb, SoupServerMessage *msg);
void request_log_set_status(RequestLog *log, guint64 seq, guint status);
void request_log_clear(RequestLog *log);
char *request_log_to_json(RequestLog *log);

/* ---- the emulator ---- */

/* One kind of object served under /api/v1/RESOURCE. */
typedef struct {
        const ResourceKind *kind;
        Store *store;
        WatchHub *watches;
        guint64 counts[N_VERBS];
        guint64 total;
} Resource;

typedef struct {
        SoupServer *server;
        GMainLoop *loop;
        guint64 rv; /* the clock of every store */
        Resource pvs;
        Resource nodes;
        Faults *faults;
        RequestLog *requests;
        char *token;
        guint latency_ms;
        guint expire_continue; /* next N continue requests answer 410 */
        gboolean quiet;
        guint64 unauthorized;
} Emulator;

/* api.c */
void api_register(Emulator *emu);
void send_status(SoupServerMessage *msg, guint code, const char *reason, const char *message,
                 const char *name);
/* With details {"name":@name,"kind":@kind's resource} when @name is set; @reason NULL: the
 * code's, "": none. */
void send_status_about(SoupServerMessage *msg, guint code, const char *reason, const char *message,
                       const ResourceKind *kind, const char *name);
void send_json_take(SoupServerMessage *msg, guint code, char *body, gsize len);
void send_json_node(SoupServerMessage *msg, guint code, JsonNode *node);
const char *reason_for_code(guint code);
void send_gone(SoupServerMessage *msg);
/* The 410 with metadata.continue: @token resumes the list without a consistent snapshot. */
void send_gone_with_continue(SoupServerMessage *msg, const char *token);
/* The 410 Expired for the list continued by @token (with the inconsistent continuation, as
 * the real server, when the token decodes). */
void send_list_gone(SoupServerMessage *msg, const char *token);

/* api-object.c: the verbs on one named object */
void api_get(Resource *res, SoupServerMessage *msg, const char *name, GHashTable *query);
void api_create(Resource *res, SoupServerMessage *msg);
void api_update(Resource *res, SoupServerMessage *msg, const char *name);
void api_patch(Resource *res, SoupServerMessage *msg, const char *name);
void api_delete(Resource *res, SoupServerMessage *msg, const char *name);
void send_not_found(SoupServerMessage *msg, const ResourceKind *kind, const char *name);
void send_conflict(SoupServerMessage *msg, const ResourceKind *kind, const char *name);

/* api-list.c */
void api_list(Resource *res, SoupServerMessage *msg, GHashTable *query);
gboolean wants_table(SoupServerMessage *msg);
void send_table(SoupServerMessage *msg, const ResourceKind *kind, GPtrArray *items,
                const char *list_meta, gboolean full_object);
/* A meta.k8s.io/v1 Table of @n items; without @headers columnDefinitions is null (as in the
 * watch events after the first). */
void table_append(GString *out, const ResourceKind *kind, StoredPv *const *items, guint n,
                  const char *list_meta, gboolean full_object, gboolean headers);

/* watch.c */
void api_watch(Resource *res, SoupServerMessage *msg, GHashTable *query);

/* control.c */
void control_register(Emulator *emu);
/* Seeds @res from an array, a List or one object (each needs metadata.name). */
gboolean control_load(Resource *res, JsonNode *root, guint *n, GError **error);

/* generate.c */
void control_generate(Emulator *emu, SoupServerMessage *msg);
