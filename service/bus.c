/* SPDX-License-Identifier: MIT */
#include "bus.h"
#include "bus-callers.h"

#include <errno.h>
#include <gio/gio.h>
#include <unistd.h>

#include "bus-list.h"
#include "change-queue.h"
#include "common/names.h"
#include "config-build.h"
#include "dispatch.h"
#include "log-messages.h"
#include "log.h"
#include "overdue.h"
#include "validate.h"

/* How long PropertiesChanged(AttachmentCount) waits to gather a burst of changes. */
#define COUNT_CHANGED_DELAY_USEC (1 * 1000)

struct _Bus {
        sd_bus *bus;
        sd_event *event;
        sd_event_source *completions;
        sd_event_source *changes_source;
        ChangeQueue *changes;
        GThread *owner;                 /* the bus thread */
        sd_event_source *count_changed; /* oneshot: emits PropertiesChanged(AttachmentCount) */
        sd_bus_slot *object_slot;
        sd_bus_slot *owner_match;
        Overdue *overdue; /* MigrationTimeoutSec= */
        Manager *manager;
        const Config *config;
        Dispatcher *dispatcher;
        BusCallers *callers;
        ListReplies *lists; /* List answered in slices */
        gboolean shutting_down;
        BusCountFunc count_func;
        gpointer count_data;
        Metrics *metrics; /* NULL: none */
};

/* A mutating call in flight: the Operation is all a worker sees (the dispatcher's job is
 * &op); the message stays here, touched on the bus thread only. */
typedef struct {
        Operation op;
        sd_bus_message *message;
        gint64 started; /* monotonic, when the call arrived */
} BusCall;

static void bus_call_free(BusCall *call)
{
        sd_bus_message_unref(call->message);
        operation_clear(&call->op);
        g_free(call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BusCall, bus_call_free)

/* The D-Bus error name of every AttachmentError code. */
static const char *const error_names[] = {
    [ATTACHMENT_ERROR_INVALID_ARGS] = SD_BUS_ERROR_INVALID_ARGS,
    [ATTACHMENT_ERROR_ALREADY_ATTACHED] = BUS_ERROR_ALREADY_ATTACHED,
    [ATTACHMENT_ERROR_NOT_ATTACHED] = BUS_ERROR_NOT_ATTACHED,
    [ATTACHMENT_ERROR_NOT_FOUND] = BUS_ERROR_VOLUME_NOT_FOUND,
    [ATTACHMENT_ERROR_FAILED] = BUS_ERROR_STORE_FAILED,
    [ATTACHMENT_ERROR_ACCESS_DENIED] = SD_BUS_ERROR_ACCESS_DENIED,
    [ATTACHMENT_ERROR_LIMITS_EXCEEDED] = SD_BUS_ERROR_LIMITS_EXCEEDED,
    [ATTACHMENT_ERROR_SHUTTING_DOWN] = BUS_ERROR_SHUTTING_DOWN,
    [ATTACHMENT_ERROR_NOT_SHAREABLE] = BUS_ERROR_NOT_SHAREABLE,
};
G_STATIC_ASSERT(G_N_ELEMENTS(error_names) == ATTACHMENT_N_ERRORS);

/* The one place where GErrors become D-Bus errors. */
static int reply_error(sd_bus_message *call, const GError *error)
{
        const char *name = SD_BUS_ERROR_FAILED;

        if (error->domain == ATTACHMENT_ERROR && error->code >= 0 &&
            error->code < ATTACHMENT_N_ERRORS && error_names[error->code] != NULL)
                name = error_names[error->code];
        /* Messages can carry text from the API server: a D-Bus string must be UTF-8. */
        if (!g_utf8_validate(error->message, -1, NULL)) {
                g_autofree char *valid = g_utf8_make_valid(error->message, -1);
                return sd_bus_reply_method_errorf(call, name, "%s", valid);
        }
        return sd_bus_reply_method_errorf(call, name, "%s", error->message);
}

/* The line of a finished or refused operation: journalctl VOLUME=, NODE=, CALLER_UID=,
 * OUTCOME= and MESSAGE_ID= find it. */
static void log_operation(const Operation *op, const char *node, const char *message_id,
                          const GError *error)
{
        char uid[16];
        const GLogField extra[] = {
            {"CALLER_UID", uid, -1},
            {"OUTCOME", error == NULL ? "ok" : "failed", -1},
        };

        g_snprintf(uid, sizeof(uid), "%u", (unsigned)op->uid);
        log_fields(G_LOG_LEVEL_MESSAGE, message_id, op->volume, node != NULL ? node : "", extra,
                   G_N_ELEMENTS(extra), "%s volume=%s node=%s uid=%s: %s",
                   operation_kind_name(op->kind), op->volume, node != NULL ? node : "-", uid,
                   error != NULL ? error->message : "ok");
}

/* A finished operation: ok or failed. */
static void log_change(const Operation *op, const char *node)
{
        log_operation(op, node, operation_kind_message_id(op->kind, op->error == NULL), op->error);
}

static int on_count_changed(sd_event_source *s, uint64_t usec, void *userdata)
{
        Bus *self = userdata;

        (void)sd_bus_emit_properties_changed(self->bus, BUS_PATH, BUS_INTERFACE, "AttachmentCount",
                                             NULL);
        if (self->count_func != NULL)
                self->count_func(manager_count(self->manager), self->count_data);
        return 0;
}

/* Attached/Detached go out with every change of the table, whoever made it (this daemon, or
 * another writer seen through the watch). PropertiesChanged(AttachmentCount) is coalesced:
 * emitted COUNT_CHANGED_DELAY_USEC after the first change of a burst, with the count of then —
 * one message per burst instead of one per operation (a fifth of the bus traffic per Track
 * under load), and a watcher still sees every settled value. */
static void emit_change(const ManagerChange *change, gpointer user_data)
{
        Bus *self = user_data;
        int enabled = SD_EVENT_OFF;

        switch (change->kind) {
        case MANAGER_CHANGE_WATCH:
                (void)sd_bus_emit_properties_changed(self->bus, BUS_PATH, BUS_INTERFACE,
                                                     "WatchState", "WatchSince", NULL);
                return;
        case MANAGER_CHANGE_DETACHED:
                (void)sd_bus_emit_signal(self->bus, BUS_PATH, BUS_INTERFACE, "Detached", "ss",
                                         change->volume, change->node);
                break;
        case MANAGER_CHANGE_ATTACHED:
                (void)sd_bus_emit_signal(self->bus, BUS_PATH, BUS_INTERFACE, "Attached", "sst",
                                         change->volume, change->node,
                                         (uint64_t)change->attached_at);
                break;
        }
        (void)sd_event_source_get_enabled(self->count_changed, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        if (sd_event_source_set_time_relative(self->count_changed, COUNT_CHANGED_DELAY_USEC) < 0 ||
            sd_event_source_set_enabled(self->count_changed, SD_EVENT_ONESHOT) < 0)
                on_count_changed(self->count_changed, 0, self);
}

/* The manager's change function: from any thread, to the bus thread. A worker's change needs
 * no wake-up: finish_call() drains the queue when that job completes, and waking the bus
 * thread for it too cost every Track a second wake-up (and the worker its CPU) before the
 * completion's. The watch thread's changes wake it. */
static void on_manager_change(const ManagerChange *change, gpointer user_data)
{
        Bus *self = user_data;
        gboolean wake = g_thread_self() != self->owner &&
                        !(self->dispatcher != NULL && dispatcher_on_worker(self->dispatcher));

        change_queue_push(self->changes, change, wake);
}

static int on_changes(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Bus *self = userdata;

        change_queue_dispatch(self->changes, emit_change, self);
        return 0;
}

/* The metrics' name of each kind. */
static const MetricsOperation metrics_ops[] = {
    [OPERATION_TRACK] = METRICS_OP_TRACK,
    [OPERATION_UNTRACK] = METRICS_OP_UNTRACK,
    [OPERATION_TRACK_SHARED] = METRICS_OP_TRACK_SHARED,
    [OPERATION_UNTRACK_NODE] = METRICS_OP_UNTRACK_NODE,
};
G_STATIC_ASSERT(G_N_ELEMENTS(metrics_ops) == OPERATION_N_KINDS);

static void count_operation(Bus *self, OperationKind kind, gint64 started, const GError *error)
{
        metrics_operation(self->metrics, metrics_ops[kind], error, started);
}

/* Signal, log and reply for a finished operation, on the bus thread. The changes the
 * operation made are queued already: emitted first, so a caller sees the signal before the
 * reply. */
static int finish_call(Bus *self, BusCall *call)
{
        const Operation *op = &call->op;

        count_operation(self, op->kind, call->started, op->error);
        change_queue_drain(self->changes, emit_change, self);
        if (op->error != NULL) {
                /* A conflict or a volume that cannot be shared is the caller's news; a store
                 * failure is ours. */
                if (!g_error_matches(op->error, ATTACHMENT_ERROR,
                                     ATTACHMENT_ERROR_ALREADY_ATTACHED) &&
                    !g_error_matches(op->error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_NOT_SHAREABLE))
                        log_change(op, op->node);
                return reply_error(call->message, op->error);
        }
        /* result.node: the node now holding the volume, or the one an untrack cleared. */
        if (op->result.changed)
                log_change(op, op->result.node);
        return sd_bus_reply_method_return(call->message, NULL);
}

/* A worker: the Operation and the Manager, nothing of the bus. */
static void call_work(gpointer job, gpointer manager)
{
        Operation *op = job;

        log_volume_debug(op->volume, "%s %s: started on a worker", operation_kind_name(op->kind),
                         op->volume);
        manager_run(manager, op);
}

static void call_done(gpointer job, gpointer user_data)
{
        g_autoptr(BusCall) call = G_STRUCT_MEMBER_P(job, -G_STRUCT_OFFSET(BusCall, op));
        Bus *self = user_data;

        finish_call(self, call);
        if (self->shutting_down && dispatcher_pending(self->dispatcher) == 0)
                sd_event_exit(self->event, 0);
}

static int on_completions(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Bus *self = userdata;

        dispatcher_process(self->dispatcher);
        metrics_set(self->metrics, METRIC_OPERATIONS_QUEUED, 0,
                    dispatcher_pending(self->dispatcher));
        return 0;
}

/* validate -> authorize, common to every mutating call. Returns FALSE with the error to reply
 * with; sets op->uid. */
static gboolean check_mutation(Bus *self, sd_bus_message *m, Operation *op, GError **error)
{
        const Caller *caller;

        if (!validate_id("volume id", op->volume, error))
                return FALSE;
        if (op->node != NULL && !validate_id("node id", op->node, error))
                return FALSE;
        if (self->shutting_down) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_SHUTTING_DOWN,
                            "srvlab-attachmentd is shutting down; retry");
                return FALSE;
        }
        caller = bus_callers_lookup(self->callers, m, error);
        if (caller == NULL)
                return FALSE;
        op->uid = caller->uid;
        if (!caller->allowed) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ACCESS_DENIED,
                            "uid %u may not change attachments: only root and members of "
                            "group '%s' may",
                            (unsigned)caller->uid, self->config->allowed_group);
                /* A refused caller is worth a line: the ids are valid by now, so the line is
                 * bounded, and journald rate-limits a flood. */
                log_operation(op, op->node, LOG_MESSAGE_REFUSED, *error);
                return FALSE;
        }
        return TRUE;
}

/* A call refused before it reached the manager (invalid, denied, shutting down, queue full):
 * counted, answered, not logged again. */
static int finish_refused(Bus *self, sd_bus_message *m, const BusCall *call, const GError *error)
{
        count_operation(self, call->op.kind, call->started, error);
        return reply_error(m, error);
}

/* Every mutating method: read -> validate -> authorize -> act. The member names the kind;
 * the arguments are the volume id and, for kinds that take one, the node id. Answers at once
 * when no I/O is needed and nothing else is queued on the volume (so the order of operations
 * on one volume is kept); otherwise hands the Operation to the pool. */
static int method_mutate(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Bus *self = userdata;
        g_autoptr(BusCall) call = g_new0(BusCall, 1);
        g_autoptr(GError) error = NULL;
        const char *volume, *node = NULL;
        OperationKind kind;
        int r;

        if (!operation_kind_from_name(sd_bus_message_get_member(m), &kind))
                return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_METHOD, "unknown method");
        call->started = g_get_monotonic_time();
        r = sd_bus_message_read(m, "s", &volume);
        if (r >= 0 && operation_kind_takes_node(kind))
                r = sd_bus_message_read(m, "s", &node);
        if (r < 0)
                return r;
        operation_init(&call->op, kind, volume, node);
        call->message = sd_bus_message_ref(m);
        if (!check_mutation(self, m, &call->op, &error))
                return finish_refused(self, m, call, error);

        if (!dispatcher_key_busy(self->dispatcher, volume) &&
            manager_try_run(self->manager, &call->op) != MANAGER_TRY_NEEDS_IO)
                return finish_call(self, call);
        if (!dispatcher_submit(self->dispatcher, volume, &call->op, &error))
                return finish_refused(self, m, call, error);
        metrics_set(self->metrics, METRIC_OPERATIONS_QUEUED, 0,
                    dispatcher_pending(self->dispatcher));
        log_volume_debug(volume, "%s %s: submitted to the workers (%u pending)",
                         operation_kind_name(kind), volume, dispatcher_pending(self->dispatcher));
        g_steal_pointer(&call);
        return 1;
}

static int method_get(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Bus *self = userdata;
        g_autofree char *node = NULL;
        g_autoptr(GError) error = NULL;
        const char *volume;
        gint64 at = 0;
        int r = sd_bus_message_read(m, "s", &volume);

        if (r < 0)
                return r;
        if (!validate_id("volume id", volume, &error) ||
            !manager_get(self->manager, volume, &node, &at, &error))
                return reply_error(m, error);
        return sd_bus_reply_method_return(m, "st", node, (uint64_t)at);
}

static int method_get_nodes(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Bus *self = userdata;
        __attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *reply = NULL;
        g_auto(Holding) h = {0};
        g_autoptr(GError) error = NULL;
        const char *volume;
        int r = sd_bus_message_read(m, "s", &volume);

        if (r < 0)
                return r;
        if (!validate_id("volume id", volume, &error) ||
            !manager_get_nodes(self->manager, volume, &h, &error))
                return reply_error(m, error);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(st)");
        if (r >= 0)
                r = sd_bus_message_append(reply, "(st)", h.node, (uint64_t)h.attached_at);
        if (r >= 0 && h.target != NULL)
                r = sd_bus_message_append(reply, "(st)", h.target, (uint64_t)h.target_at);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Bus *self = userdata;
        g_autoptr(GError) error = NULL;
        const Caller *caller = bus_callers_lookup(self->callers, m, &error);
        int r;

        if (caller == NULL)
                return reply_error(m, error);
        r = list_replies_answer(self->lists, m, caller->allowed, &error);
        if (r == 0)
                return reply_error(m, error);
        return r;
}

static int property_get(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        Bus *self = userdata;

        if (g_str_equal(property, "AttachmentCount"))
                return sd_bus_message_append(reply, "u", manager_count(self->manager));
        if (g_str_equal(property, "Version"))
                return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
        if (g_str_equal(property, "Driver"))
                return sd_bus_message_append(reply, "s", self->config->driver);
        if (g_str_equal(property, "WatchState"))
                return sd_bus_message_append(reply, "s",
                                             manager_get_watch_state(self->manager, NULL));
        if (g_str_equal(property, "WatchSince")) {
                gint64 since = 0;

                manager_get_watch_state(self->manager, &since);
                return sd_bus_message_append(reply, "t", (uint64_t)since);
        }
        return sd_bus_message_append(reply, "s", store_name(manager_get_store(self->manager)));
}

/* The interface, in the order of dbus/org.srvlab.Attachment1.xml. Access is checked by us
 * (uid 0 or AllowedGroup), not by sd-bus's capability check: hence UNPRIVILEGED. */
static const sd_bus_vtable attachment_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Track", SD_BUS_ARGS("s", volume_id, "s", node_id), SD_BUS_NO_RESULT,
                            method_mutate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Untrack", SD_BUS_ARGS("s", volume_id), SD_BUS_NO_RESULT, method_mutate,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Get", SD_BUS_ARGS("s", volume_id),
                            SD_BUS_RESULT("s", node_id, "t", attached_at_usec), method_get,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("List", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sst)", attachments),
                            method_list, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("TrackShared", SD_BUS_ARGS("s", volume_id, "s", node_id),
                            SD_BUS_NO_RESULT, method_mutate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("UntrackNode", SD_BUS_ARGS("s", volume_id, "s", node_id),
                            SD_BUS_NO_RESULT, method_mutate, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetNodes", SD_BUS_ARGS("s", volume_id), SD_BUS_RESULT("a(st)", nodes),
                            method_get_nodes, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("Attached",
                            SD_BUS_ARGS("s", volume_id, "s", node_id, "t", attached_at_usec), 0),
    SD_BUS_SIGNAL_WITH_ARGS("Detached", SD_BUS_ARGS("s", volume_id, "s", node_id), 0),
    SD_BUS_SIGNAL_WITH_ARGS(
        "MigrationOverdue",
        SD_BUS_ARGS("s", volume_id, "s", source_node, "s", target_node, "t", started_usec), 0),
    SD_BUS_PROPERTY("Version", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Driver", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Store", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("AttachmentCount", "u", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("WatchState", "s", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("WatchSince", "t", property_get, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_VTABLE_END,
};

/* Drops the cached credentials of a connection that left the bus. */
static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Bus *self = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] == ':' && new_owner[0] == '\0')
                bus_callers_forget(self->callers, name);
        return 0;
}

static void on_overdue(const ManagerOverdue *o, gpointer user_data)
{
        Bus *self = user_data;

        (void)sd_bus_emit_signal(self->bus, BUS_PATH, BUS_INTERFACE, "MigrationOverdue", "ssst",
                                 o->volume, o->source, o->target, (uint64_t)o->started_at);
}

static gboolean fail_errno(GError **error, int r, const char *what)
{
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "%s: %s", what, g_strerror(-r));
        return FALSE;
}

static gboolean bus_setup(Bus *self, GError **error)
{
        int r = sd_bus_open_system(&self->bus);

        if (r < 0)
                return fail_errno(error, r, "cannot connect to the system bus");
        r = sd_bus_attach_event(self->bus, self->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return fail_errno(error, r, "cannot attach the bus to the event loop");
        r = sd_bus_add_object_vtable(self->bus, &self->object_slot, BUS_PATH, BUS_INTERFACE,
                                     attachment_vtable, self);
        if (r < 0)
                return fail_errno(error, r, "cannot export " BUS_PATH);
        r = sd_bus_match_signal(self->bus, &self->owner_match, "org.freedesktop.DBus",
                                "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged",
                                on_name_owner_changed, self);
        if (r < 0)
                return fail_errno(error, r, "cannot watch NameOwnerChanged");
        r = sd_event_add_io(self->event, &self->completions, dispatcher_get_fd(self->dispatcher),
                            EPOLLIN, on_completions, self);
        if (r < 0)
                return fail_errno(error, r, "cannot watch the completion queue");
        r = sd_event_add_io(self->event, &self->changes_source, change_queue_get_fd(self->changes),
                            EPOLLIN, on_changes, self);
        if (r < 0)
                return fail_errno(error, r, "cannot watch the change queue");
        r = sd_event_add_time_relative(self->event, &self->count_changed, CLOCK_MONOTONIC,
                                       COUNT_CHANGED_DELAY_USEC, 0, on_count_changed, self);
        if (r >= 0)
                r = sd_event_source_set_enabled(self->count_changed, SD_EVENT_OFF);
        if (r < 0)
                return fail_errno(error, r, "cannot set up the property change timer");
        return TRUE;
}

Bus *bus_new(sd_event *event, Manager *manager, const Config *config, GError **error)
{
        g_autoptr(Bus) self = g_new0(Bus, 1);

        self->event = sd_event_ref(event);
        self->manager = manager;
        self->config = config;
        self->callers = bus_callers_new(config->allowed_group);
        self->owner = g_thread_self();
        self->changes = change_queue_new(error);
        if (self->changes == NULL)
                return NULL;
        manager_set_change_func(manager, on_manager_change, self);
        self->lists = list_replies_new(event, manager, error);
        if (self->lists == NULL)
                return NULL;
        self->dispatcher = dispatcher_new(config->workers, config->queue_limit, call_work, manager,
                                          call_done, self, error);
        if (self->dispatcher == NULL || !bus_setup(self, error))
                return NULL;
        self->overdue =
            overdue_new(event, manager, config->migration_timeout_sec, on_overdue, self, error);
        if (self->overdue == NULL)
                return NULL;
        return g_steal_pointer(&self);
}

gboolean bus_request_name(Bus *self, GError **error)
{
        int r = sd_bus_request_name(self->bus, BUS_NAME, 0);

        if (r == -EEXIST || r == -EALREADY)
                return fail_errno(error, r, "cannot own " BUS_NAME ": another process owns it");
        if (r < 0)
                return fail_errno(error, r, "cannot own " BUS_NAME);
        return TRUE;
}

void bus_set_metrics(Bus *self, Metrics *metrics)
{
        self->metrics = metrics;
}

void bus_begin_shutdown(Bus *self)
{
        self->shutting_down = TRUE;
        if (dispatcher_pending(self->dispatcher) == 0)
                sd_event_exit(self->event, 0);
}

void bus_set_count_func(Bus *self, BusCountFunc func, gpointer user_data)
{
        self->count_func = func;
        self->count_data = user_data;
}

void bus_free(Bus *self)
{
        if (self == NULL)
                return;
        /* Completes (and answers) whatever is still pending before the bus goes away; the
         * completions still use self->dispatcher, so it is cleared only afterwards. */
        if (self->dispatcher != NULL)
                dispatcher_free(self->dispatcher);
        self->dispatcher = NULL;
        g_clear_pointer(&self->lists, list_replies_free);
        /* Nothing reports changes to a bus that is going away. */
        manager_set_change_func(self->manager, NULL, NULL);
        if (self->changes != NULL && self->bus != NULL)
                change_queue_drain(self->changes, emit_change, self);
        /* A change still waiting to be announced is announced now. */
        if (self->count_changed != NULL && self->bus != NULL) {
                int enabled = SD_EVENT_OFF;
                (void)sd_event_source_get_enabled(self->count_changed, &enabled);
                if (enabled != SD_EVENT_OFF)
                        on_count_changed(self->count_changed, 0, self);
        }
        overdue_free(self->overdue);
        sd_event_source_disable_unref(self->count_changed);
        sd_event_source_disable_unref(self->completions);
        sd_event_source_disable_unref(self->changes_source);
        change_queue_free(self->changes);
        sd_bus_slot_unref(self->owner_match);
        sd_bus_slot_unref(self->object_slot);
        if (self->bus != NULL)
                sd_bus_flush_close_unref(self->bus);
        sd_event_unref(self->event);
        bus_callers_free(self->callers);
        g_free(self);
}
