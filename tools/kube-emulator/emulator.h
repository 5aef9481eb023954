/* kube-emulator: a small Kubernetes API server for PersistentVolumes, Nodes and Events (tests,
 * benchmarks, demo). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

/* ---- store.c: PVs kept as serialized JSON, sorted by name ---- */

typedef struct {
        int refs;   /* the tree and the history's events share objects */
        char *name; /* the key: NAME, or NAMESPACE/NAME for namespaced kinds (etcd's order) */
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
 * etcd revision for all kinds); @namespaced: keys are NAMESPACE/NAME. */
Store *store_new(guint history, const char *kind, guint64 *clock, gboolean namespaced);
/* The key of an object: @name, or @ns/@name when @ns is set. */
char *store_key(const char *ns, const char *name);
/* The name part of a stored object's key. */
const char *stored_name(const StoredPv *pv);
void store_free(Store *store);
guint64 store_rv(Store *store);
guint store_count(Store *store);
StoredPv *store_lookup(Store *store, const char *name);
JsonNode *store_parse(const StoredPv *pv);
/* Stamps resourceVersion (a fresh one), uid and creationTimestamp (kept from the previous
 * version, else new) on @obj, then stores it. @obj must carry metadata.name (and, in a
 * namespaced store, metadata.namespace). */
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
        gboolean filtered; /* by a selector: the rest is not counted, as etcd3's store */
        guint64 remaining;
        guint64 next_pos;
} StorePage;

typedef gboolean (*StoreFilter)(StoredPv *pv, gpointer user_data);

typedef struct {
        const char *prefix;      /* only keys with this prefix ("NS/"), or NULL */
        const char *start_after; /* NULL: from the first */
        guint limit;             /* 0: all */
        StoreFilter filter;      /* a field selector, or NULL */
        gpointer filter_data;
        const LabelSelector *labels; /* or NULL */
} StoreQuery;

/* Items of @q, at most @q->limit. @pos is the index of the first returned item when the
 * caller knows it and the store has not changed since (@pos_rv == current RV); it makes
 * remainingItemCount O(1) for unfiltered lists. With a filter or labels, as etcd's paging,
 * @page->more is whether any object of the prefix (matching or not) follows the last one. */
void store_page(Store *store, const StoreQuery *q, guint64 pos, guint64 pos_rv, StorePage *page);
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
/* Unix seconds of an RFC 3339 time, or -1. */
gint64 parse_rfc3339(const char *text);
/* kubectl's short human durations (k8s.io/apimachinery/pkg/util/duration). */
char *human_duration(gint64 seconds);
/* Drops metadata.annotations / metadata.labels when empty, as the API server's omitempty. */
void pv_drop_empty_maps(JsonNode *obj);

/* ---- kinds.c, events.c: what differs between resource kinds ---- */

/* A field.Error of the API server's validation, for 422 Invalid bodies. */
typedef struct {
        char *field;      /* "involvedObject.namespace" */
        const char *type; /* "FieldValueRequired", "FieldValueInvalid" */
        char *detail;     /* "Required value", "Invalid value: \"x\": does not match …" */
} FieldError;

void field_error_required(GPtrArray *errors, const char *field);
void field_error_invalid(GPtrArray *errors, const char *field, const char *value,
                         const char *detail);

typedef struct ResourceKind {
        const char *resource;      /* "persistentvolumes": the URL segment, Status details kind */
        const char *kind;          /* "PersistentVolume" */
        const char *list_kind;     /* "PersistentVolumeList" */
        gboolean namespaced;       /* served under /api/v1/namespaces/NS/RESOURCE */
        gboolean create_on_update; /* PUT of a missing object creates it (AllowCreateOnUpdate) */
        /* DELETE answers a Success Status rather than the deleted object (the registry's
         * ReturnDeletedObject is false: Nodes, Events; PersistentVolumes answer the object). */
        gboolean delete_answers_status;
        const char *columns; /* the Table's "columnDefinitions":[…], member */
        /* The Table cells before and after AGE, JSON strings joined by commas (@after: "" or
         * starting with a comma); cached per stored version. */
        void (*cells)(JsonObject *root, const char *name, char **before, char **after);
        /* Instead of @cells: every cell, computed at each request (times relative to now). */
        void (*row)(GString *out, JsonObject *root, gint64 now);
        /* The strategy's validation of an object to be created (@old NULL) or of @old's
         * update into @root (NULL: none); adds to @errors (FieldError *). The common
         * ObjectMeta checks of a create follow when it adds none. */
        void (*validate)(JsonObject *root, JsonObject *old, GPtrArray *errors);
        /* Field selector labels besides metadata.name (and metadata.namespace), NULL-ended. */
        const char *const *field_labels;
        /* A label's value when it is not the object's member at that dotted path (NULL). */
        char *(*field_value)(JsonObject *root, const char *label);
} ResourceKind;

extern const ResourceKind kind_pv;
extern const ResourceKind kind_node;
extern const ResourceKind kind_event;

/* ---- fields.c: field selectors (fieldSelector=a=b,c!=d) ---- */

typedef struct FieldSelector FieldSelector;

/* NULL (and no error) for an empty selector; an unsupported label is an error. */
FieldSelector *field_selector_parse(const ResourceKind *kind, const char *text, GError **error);
void field_selector_free(FieldSelector *sel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FieldSelector, field_selector_free)
gboolean field_selector_matches(const FieldSelector *sel, const ResourceKind *kind, StoredPv *pv);
/* A StoreFilter for store_page: @user_data is a FieldSelectorFilter. */
typedef struct {
        const FieldSelector *sel;
        const ResourceKind *kind;
} FieldSelectorFilter;
gboolean field_selector_filter(StoredPv *pv, gpointer user_data);

/* ---- validate.c ---- */

/* The kind's validation of @obj to be created (@old NULL) or to replace @old, then on create
 * the common ObjectMeta checks; answers the 422 Invalid Status itself and returns FALSE. */
gboolean validate_object(const ResourceKind *kind, SoupServerMessage *msg, JsonNode *obj,
                         JsonNode *old);
void validate_pv(JsonObject *root, JsonObject *old, GPtrArray *errors);
/* IsDNS1123Subdomain's rule (its length limit aside) and its message. */
gboolean dns1123_subdomain(const char *s, gsize len);
#define DNS1123_SUBDOMAIN_ERROR                                                                    \
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "  \
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "      \
        "regex used for validation is "                                                            \
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
void validate_node(JsonObject *root, JsonObject *old, GPtrArray *errors);

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
        ACTION_APPLY_LATER,
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
        gboolean answer_status; /* apply-later: answer with a Status (else drop) */
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
/* Answers @msg as the fault says (not for ACTION_DELAY or ACTION_TRUNCATED; apply-later:
 * only its answer). */
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

/* One kind of object served under /api/v1/RESOURCE (or /api/v1/namespaces/NS/RESOURCE). */
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
        Resource events;
        GPtrArray *later; /* Later *: writes the apply-later fault will apply */
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

/* One API call: from a request, or (msg NULL) a write the apply-later fault applies after its
 * answer, which nobody waits for. */
typedef struct {
        SoupServerMessage *msg;
        const char *ns; /* namespaced kinds; NULL for a list or watch of all namespaces */
        const char *name;
        GHashTable *query;
        const char *content_type;
        const char *body;
        gsize body_len;
} Call;

/* Fills @call from @msg (borrowing its body and headers). */
void call_init(Call *call, SoupServerMessage *msg, const char *ns, const char *name,
               GHashTable *query);
/* Serves @call as @verb (api-object.c). */
void api_call(Resource *res, Verb verb, Call *call);

/* api-object.c: the verbs on one named object */
void api_get(Resource *res, Call *call);
void api_create(Resource *res, Call *call);
void api_update(Resource *res, Call *call);
void api_patch(Resource *res, Call *call);
void api_delete(Resource *res, Call *call);
void send_not_found(SoupServerMessage *msg, const ResourceKind *kind, const char *name);
void send_conflict(SoupServerMessage *msg, const ResourceKind *kind, const char *name);

/* api-list.c */
/* The fieldSelector of @call (NULL: none); answers 400 itself and sets *@ok FALSE when bad. */
FieldSelector *call_field_selector(const ResourceKind *kind, Call *call, gboolean *ok);
void api_list(Resource *res, Call *call);
gboolean wants_table(SoupServerMessage *msg);
void send_table(SoupServerMessage *msg, const ResourceKind *kind, GPtrArray *items,
                const char *list_meta, gboolean full_object);
/* A meta.k8s.io/v1 Table of @n items; without @headers columnDefinitions is null (as in the
 * watch events after the first). */
void table_append(GString *out, const ResourceKind *kind, StoredPv *const *items, guint n,
                  const char *list_meta, gboolean full_object, gboolean headers);

/* watch.c */
void api_watch(Resource *res, Call *call);

/* later.c: the apply-later fault */
/* Keeps a copy of @call's write, applied to @res after @ms ms. */
void later_schedule(Emulator *emu, Resource *res, Verb verb, const Call *call, guint ms);
void later_free_all(Emulator *emu);

/* control.c */
void control_register(Emulator *emu);
/* Every kind, for what applies to all (compaction, watch faults, counts). */
/* clang-format off */
#define EMULATOR_RESOURCES(emu) {&(emu)->pvs, &(emu)->nodes, &(emu)->events}
/* clang-format on */
/* Seeds @res from an array, a List or one object (each needs metadata.name). */
gboolean control_load(Resource *res, JsonNode *root, guint *n, GError **error);

/* generate.c */
void control_generate(Emulator *emu, SoupServerMessage *msg);
