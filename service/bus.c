/* SPDX-License-Identifier: MIT */
#include "bus.h"

#include <errno.h>
#include <gio/gio.h>
#include <grp.h>
#include <unistd.h>

#include "bus-errors.h"
#include "bus-list.h"
#include "change-queue.h"
#include "config-build.h"
#include "dispatch.h"
#include "validate.h"

/* How long PropertiesChanged(AttachmentCount) waits to gather a burst of changes. */
#define COUNT_CHANGED_DELAY_USEC (1 * 1000)

/* What we know of a caller, cached per unique bus name: a unique name is never reused on a
 * bus and its uid and groups are fixed when the connection is made, so one credentials query
 * per client connection is enough (the query is a synchronous round trip to the bus driver). */
typedef struct {
        uid_t uid;
        gboolean allowed;
} Caller;

struct _Bus {
        sd_bus *bus;
        sd_event *event;
        sd_event_source *completions;
        sd_event_source *changes_source;
        ChangeQueue *changes;
        ListReplies *lists;
        GThread *owner;                 /* the bus thread */
        sd_event_source *count_changed; /* oneshot: emits PropertiesChanged(AttachmentCount) */
        sd_bus_slot *object_slot;
        sd_bus_slot *owner_match;
        Manager *manager;
        const Config *config;
        Dispatcher *dispatcher;
        GHashTable *callers; /* unique name -> Caller* */
        gboolean have_group;
        gid_t allowed_gid;
        gboolean shutting_down;
        Metrics *metrics; /* NULL: none */
};

typedef struct {
        Bus *bus;
        sd_bus_message *call;
        gboolean untrack;
        char *volume;
        char *node;
        uid_t uid;
        gint64 started; /* monotonic, when the call arrived */
        ManagerResult result;
        GError *error;
} Job;

static void job_free(Job *job)
{
        sd_bus_message_unref(job->call);
        g_free(job->volume);
        g_free(job->node);
        manager_result_clear(&job->result);
        g_clear_error(&job->error);
        g_free(job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Job, job_free)

/* The one place where GErrors become D-Bus errors. */
static int reply_error(sd_bus_message *call, const GError *error)
{
        const char *name = SD_BUS_ERROR_FAILED;

        if (error->domain == ATTACHMENT_ERROR) {
                switch ((AttachmentError)error->code) {
                case ATTACHMENT_ERROR_INVALID_ARGS:
                        name = SD_BUS_ERROR_INVALID_ARGS;
                        break;
                case ATTACHMENT_ERROR_ALREADY_ATTACHED:
                        name = BUS_ERROR_ALREADY_ATTACHED;
                        break;
                case ATTACHMENT_ERROR_NOT_ATTACHED:
                        name = BUS_ERROR_NOT_ATTACHED;
                        break;
                case ATTACHMENT_ERROR_NOT_FOUND:
                        name = BUS_ERROR_VOLUME_NOT_FOUND;
                        break;
                case ATTACHMENT_ERROR_FAILED:
                        name = BUS_ERROR_STORE_FAILED;
                        break;
                case ATTACHMENT_ERROR_ACCESS_DENIED:
                        name = SD_BUS_ERROR_ACCESS_DENIED;
                        break;
                case ATTACHMENT_ERROR_LIMITS_EXCEEDED:
                        name = SD_BUS_ERROR_LIMITS_EXCEEDED;
                        break;
                case ATTACHMENT_ERROR_SHUTTING_DOWN:
                        name = BUS_ERROR_SHUTTING_DOWN;
                        break;
                }
        }
        /* Messages can carry text from the API server: a D-Bus string must be UTF-8. */
        if (!g_utf8_validate(error->message, -1, NULL)) {
                g_autofree char *valid = g_utf8_make_valid(error->message, -1);
                return sd_bus_reply_method_errorf(call, name, "%s", valid);
        }
        return sd_bus_reply_method_errorf(call, name, "%s", error->message);
}

static void log_change(const char *what, const char *volume, const char *node, uid_t uid,
                       const GError *error)
{
        g_autofree char *uid_str = g_strdup_printf("%u", (unsigned)uid);

        if (error == NULL)
                g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "VOLUME", volume, "NODE",
                                 node ? node : "", "CALLER_UID", uid_str, "OUTCOME", "ok",
                                 "MESSAGE", "%s volume=%s node=%s uid=%s: ok", what, volume,
                                 node ? node : "-", uid_str);
        else
                g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "VOLUME", volume, "NODE",
                                 node ? node : "", "CALLER_UID", uid_str, "OUTCOME", "failed",
                                 "MESSAGE", "%s volume=%s node=%s uid=%s: %s", what, volume,
                                 node ? node : "-", uid_str, error->message);
}

static int on_count_changed(sd_event_source *s, uint64_t usec, void *userdata)
{
        Bus *self = userdata;

        (void)sd_bus_emit_properties_changed(self->bus, BUS_PATH, BUS_INTERFACE, "AttachmentCount",
                                             NULL);
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

/* The manager's change function: from any thread, to the bus thread. */
static void on_manager_change(const ManagerChange *change, gpointer user_data)
{
        Bus *self = user_data;

        change_queue_push(self->changes, change, g_thread_self() != self->owner);
}

static int on_changes(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Bus *self = userdata;

        change_queue_drain(self->changes, emit_change, self);
        return 0;
}

/* Signal, log and reply for a finished Track/Untrack, on the bus thread. The changes the
 * operation made are queued already: emitted first, so a caller sees the signal before the
 * reply. */
static int finish_operation(Bus *self, sd_bus_message *call, gboolean untrack, const char *volume,
                            const char *node, uid_t uid, gint64 started,
                            const ManagerResult *result, const GError *error)
{
        const char *what = untrack ? "Untrack" : "Track";

        metrics_operation(self->metrics, untrack ? METRICS_OP_UNTRACK : METRICS_OP_TRACK, error,
                          started);
        change_queue_drain(self->changes, emit_change, self);
        if (error != NULL) {
                /* A conflict known from memory is not news; a store failure is. */
                if (!g_error_matches(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ALREADY_ATTACHED))
                        log_change(what, volume, node, uid, error);
                return reply_error(call, error);
        }
        if (result->changed)
                log_change(what, volume, untrack ? result->node : node, uid, NULL);
        return sd_bus_reply_method_return(call, NULL);
}

static void job_work(gpointer data, gpointer user_data)
{
        Job *job = data;
        Manager *manager = job->bus->manager;

        if (job->untrack)
                manager_untrack(manager, job->volume, &job->result, &job->error);
        else
                manager_track(manager, job->volume, job->node, &job->result, &job->error);
}

static void job_done(gpointer data, gpointer user_data)
{
        g_autoptr(Job) job = data;
        Bus *self = user_data;

        finish_operation(self, job->call, job->untrack, job->volume, job->node, job->uid,
                         job->started, &job->result, job->error);
        if (self->shutting_down && dispatcher_pending(self->dispatcher) == 0)
                sd_event_exit(self->event, 0);
}

static int on_completions(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Bus *self = userdata;

        dispatcher_process(self->dispatcher);
        metrics_set(self->metrics, METRIC_OPERATIONS_QUEUED, 0, dispatcher_pending(self->dispatcher));
        return 0;
}

static gboolean creds_allowed(Bus *self, sd_bus_creds *creds, uid_t uid)
{
        const gid_t *gids = NULL;
        gid_t egid;
        int n;

        if (uid == 0)
                return TRUE;
        if (!self->have_group)
                return FALSE;
        if ((sd_bus_creds_get_egid(creds, &egid) >= 0 || sd_bus_creds_get_gid(creds, &egid) >= 0) &&
            egid == self->allowed_gid)
                return TRUE;
        n = sd_bus_creds_get_supplementary_gids(creds, &gids);
        for (int i = 0; i < n; i++) {
                if (gids[i] == self->allowed_gid)
                        return TRUE;
        }
        return FALSE;
}

static const Caller *lookup_caller(Bus *self, sd_bus_message *m, GError **error)
{
        const char *sender = sd_bus_message_get_sender(m);
        __attribute__((cleanup(sd_bus_creds_unrefp))) sd_bus_creds *creds = NULL;
        Caller *caller;
        uid_t uid;
        int r;

        caller = g_hash_table_lookup(self->callers, sender ? sender : "");
        if (caller != NULL)
                return caller;

        r = sd_bus_query_sender_creds(m,
                                      SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_EGID |
                                          SD_BUS_CREDS_GID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                          SD_BUS_CREDS_AUGMENT,
                                      &creds);
        if (r >= 0 && sd_bus_creds_get_euid(creds, &uid) < 0)
                r = sd_bus_creds_get_uid(creds, &uid);
        if (r < 0) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ACCESS_DENIED,
                            "cannot determine the caller's credentials: %s", g_strerror(-r));
                return NULL;
        }
        caller = g_new(Caller, 1);
        *caller = (Caller){.uid = uid, .allowed = creds_allowed(self, creds, uid)};
        /* A direct (busless) connection has one peer and no sender name: key it as "". */
        g_hash_table_replace(self->callers, g_strdup(sender ? sender : ""), caller);
        return caller;
}

/* read -> validate -> authorize, common to Track and Untrack. Returns FALSE with the error to
 * reply with. */
static gboolean check_mutation(Bus *self, sd_bus_message *m, gboolean untrack, const char *volume,
                               const char *node, uid_t *uid, GError **error)
{
        const Caller *caller;

        if (!validate_id("volume id", volume, error))
                return FALSE;
        if (node != NULL && !validate_id("node id", node, error))
                return FALSE;
        if (self->shutting_down) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_SHUTTING_DOWN,
                            "srvlab-attachmentd is shutting down; retry");
                return FALSE;
        }
        caller = lookup_caller(self, m, error);
        if (caller == NULL)
                return FALSE;
        *uid = caller->uid;
        if (!caller->allowed) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ACCESS_DENIED,
                            "uid %u may not change attachments: only root and members of "
                            "group '%s' may",
                            (unsigned)caller->uid, self->config->allowed_group);
                /* A refused caller is worth a line: the ids are valid by now, so the line is
                 * bounded, and journald rate-limits a flood. */
                log_change(untrack ? "Untrack" : "Track", volume, node, caller->uid, *error);
                return FALSE;
        }
        return TRUE;
}

/* A call refused before it reached the manager (invalid, denied, shutting down, queue full):
 * counted, answered, not logged again. */
static int finish_refused(Bus *self, sd_bus_message *m, gboolean untrack, gint64 started,
                          const GError *error)
{
        metrics_operation(self->metrics, untrack ? METRICS_OP_UNTRACK : METRICS_OP_TRACK, error,
                          started);
        return reply_error(m, error);
}

/* Answers at once when no I/O is needed and nothing else is queued on the volume (so the
 * order of operations on one volume is kept); otherwise hands the work to the pool. */
static int run_operation(Bus *self, sd_bus_message *m, gboolean untrack, const char *volume,
                         const char *node)
{
        g_auto(ManagerResult) result = {0};
        g_autoptr(GError) error = NULL;
        g_autoptr(Job) job = NULL;
        ManagerTry t = MANAGER_TRY_NEEDS_IO;
        gint64 started = g_get_monotonic_time();
        uid_t uid = 0;

        if (!check_mutation(self, m, untrack, volume, node, &uid, &error))
                return finish_refused(self, m, untrack, started, error);

        if (!dispatcher_key_busy(self->dispatcher, volume))
                t = untrack ? manager_try_untrack(self->manager, volume, &result, &error)
                            : manager_try_track(self->manager, volume, node, &result, &error);
        if (t != MANAGER_TRY_NEEDS_IO)
                return finish_operation(self, m, untrack, volume, node, uid, started, &result,
                                        error);

        job = g_new0(Job, 1);
        *job = (Job){.bus = self,
                     .call = sd_bus_message_ref(m),
                     .untrack = untrack,
                     .volume = g_strdup(volume),
                     .node = g_strdup(node),
                     .uid = uid,
                     .started = started};
        if (!dispatcher_submit(self->dispatcher, volume, job, &error))
                return finish_refused(self, m, untrack, started, error);
        metrics_set(self->metrics, METRIC_OPERATIONS_QUEUED, 0, dispatcher_pending(self->dispatcher));
        g_steal_pointer(&job);
        return 1;
}

static int method_track(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *volume, *node;
        int r = sd_bus_message_read(m, "ss", &volume, &node);

        if (r < 0)
                return r;
        return run_operation(userdata, m, FALSE, volume, node);
}

static int method_untrack(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *volume;
        int r = sd_bus_message_read(m, "s", &volume);

        if (r < 0)
                return r;
        return run_operation(userdata, m, TRUE, volume, NULL);
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

static int method_list(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        Bus *self = userdata;
        g_autoptr(GError) error = NULL;
        const Caller *caller = lookup_caller(self, m, &error);
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
                            method_track, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Untrack", SD_BUS_ARGS("s", volume_id), SD_BUS_NO_RESULT,
                            method_untrack, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Get", SD_BUS_ARGS("s", volume_id),
                            SD_BUS_RESULT("s", node_id, "t", attached_at_usec), method_get,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("List", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sst)", attachments),
                            method_list, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("Attached",
                            SD_BUS_ARGS("s", volume_id, "s", node_id, "t", attached_at_usec), 0),
    SD_BUS_SIGNAL_WITH_ARGS("Detached", SD_BUS_ARGS("s", volume_id, "s", node_id), 0),
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
                g_hash_table_remove(self->callers, name);
        return 0;
}

static void resolve_group(Bus *self)
{
        struct group grp, *result = NULL;
        char buf[4096];
        const char *name = self->config->allowed_group;

        if (name == NULL || name[0] == '\0')
                return;
        if (getgrnam_r(name, &grp, buf, sizeof(buf), &result) == 0 && result != NULL) {
                self->have_group = TRUE;
                self->allowed_gid = result->gr_gid;
        } else {
                g_warning("AllowedGroup=%s: no such group; only root may Track and Untrack", name);
        }
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
        self->callers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        self->owner = g_thread_self();
        self->changes = change_queue_new(error);
        if (self->changes == NULL)
                return NULL;
        manager_set_change_func(manager, on_manager_change, self);
        self->lists = list_replies_new(event, manager, error);
        if (self->lists == NULL)
                return NULL;
        resolve_group(self);
        self->dispatcher =
            dispatcher_new(config->workers, config->queue_limit, job_work, job_done, self, error);
        if (self->dispatcher == NULL || !bus_setup(self, error))
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
        sd_event_source_disable_unref(self->count_changed);
        sd_event_source_disable_unref(self->completions);
        sd_event_source_disable_unref(self->changes_source);
        change_queue_free(self->changes);
        sd_bus_slot_unref(self->owner_match);
        sd_bus_slot_unref(self->object_slot);
        if (self->bus != NULL)
                sd_bus_flush_close_unref(self->bus);
        sd_event_unref(self->event);
        g_hash_table_unref(self->callers);
        g_free(self);
}
