/* core/v1 Events: kube-apiserver's validation of them (pkg/apis/core/validation/events.go,
 * legacyValidateEvent: core/v1 requests get no more), their field selector labels
 * (pkg/registry/core/event/strategy.go ToSelectableFields) and the Table `kubectl get events`
 * prints (pkg/printers/internalversion printEvent). */
#include "emulator.h"

#include <string.h>

#define REASON_LIMIT 128
#define ACTION_LIMIT 128
#define INSTANCE_LIMIT 128
#define NOTE_LIMIT 1024

static const char *member_string(JsonObject *obj, const char *member)
{
        return json_get_string_member(obj, member) ?: "";
}

static gint64 member_int(JsonObject *obj, const char *member)
{
        JsonNode *node = obj != NULL ? json_object_get_member(obj, member) : NULL;

        if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
            json_node_get_value_type(node) != G_TYPE_INT64)
                return 0;
        return json_node_get_int(node);
}

static gboolean has_time(JsonObject *root, const char *member)
{
        return *member_string(root, member) != '\0';
}

#define QUALIFIED_NAME_REGEX_ERROR                                                                 \
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "   \
        "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "  \
        "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

static gboolean name_part_ok(const char *name)
{
        gsize len = strlen(name);

        if (len == 0 || !g_ascii_isalnum(name[0]) || !g_ascii_isalnum(name[len - 1]))
                return FALSE;
        for (const char *c = name; *c != '\0'; c++)
                if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
                        return FALSE;
        return TRUE;
}

/* ValidateQualifiedName: one Invalid error per message of IsQualifiedName ([prefix/]name,
 * the name 1-63 of [A-Za-z0-9_.-] starting and ending alphanumeric, the prefix a DNS
 * subdomain), in its order and words. */
static void check_qualified_name(GPtrArray *errors, const char *field, const char *text)
{
        const char *slash = strchr(text, '/');
        const char *name = slash != NULL ? slash + 1 : text;

        if (slash != NULL && strchr(name, '/') != NULL) {
                field_error_invalid(errors, field, text,
                                    "a qualified name " QUALIFIED_NAME_REGEX_ERROR
                                    " with an optional DNS subdomain prefix and '/' (e.g. "
                                    "'example.com/MyName')");
                return;
        }
        if (slash == text)
                field_error_invalid(errors, field, text, "prefix part must be non-empty");
        else if (slash != NULL && !dns1123_subdomain(text, (gsize)(slash - text)))
                field_error_invalid(errors, field, text, "prefix part " DNS1123_SUBDOMAIN_ERROR);
        if (*name == '\0')
                field_error_invalid(errors, field, text, "name part must be non-empty");
        else if (strlen(name) > 63)
                field_error_invalid(errors, field, text,
                                    "name part must be no more than 63 characters");
        if (!name_part_ok(name))
                field_error_invalid(errors, field, text, "name part " QUALIFIED_NAME_REGEX_ERROR);
}

static void check_length(GPtrArray *errors, JsonObject *root, const char *member, const char *field,
                         gsize limit, gboolean required)
{
        const char *value = member_string(root, member);
        g_autofree char *detail = NULL;

        if (required && *value == '\0')
                field_error_required(errors, field);
        if (strlen(value) > limit) {
                detail = g_strdup_printf("can have at most %" G_GSIZE_FORMAT " characters", limit);
                field_error_invalid(errors, field, "", detail);
        }
}

/* Events with eventTime are "new" ones: they need the reporting fields, reason and action. */
static void validate_new_event(JsonObject *root, GPtrArray *errors)
{
        const char *controller = member_string(root, "reportingComponent");

        /* core/v1 requests name the field as their member is named (reportingComponent); the
         * emptiness and the qualified-name checks both run. */
        if (*controller == '\0')
                field_error_required(errors, "reportingComponent");
        check_qualified_name(errors, "reportingComponent", controller);
        check_length(errors, root, "reportingInstance", "reportingInstance", INSTANCE_LIMIT, TRUE);
        check_length(errors, root, "action", "action", ACTION_LIMIT, TRUE);
        check_length(errors, root, "reason", "reason", REASON_LIMIT, TRUE);
        check_length(errors, root, "message", "message", NOTE_LIMIT, FALSE);
}

/* ValidateEventCreate and ValidateEventUpdate check the same (the legacy rules of core/v1). */
static void event_validate(JsonObject *root, G_GNUC_UNUSED JsonObject *old, GPtrArray *errors)
{
        const char *ns = member_string(json_get_object_member(root, "metadata"), "namespace");
        const char *involved_ns =
            member_string(json_get_object_member(root, "involvedObject"), "namespace");
        gboolean matches;

        /* The event's namespace must be its object's; a cluster-scoped object's events may
         * be in "default" (and, for new events, "kube-system"). */
        if (!has_time(root, "eventTime"))
                matches = *involved_ns == '\0' ? strcmp(ns, "default") == 0 || *ns == '\0'
                                               : strcmp(ns, involved_ns) == 0;
        else
                matches = *involved_ns != '\0' || strcmp(ns, "default") == 0 ||
                          strcmp(ns, "kube-system") == 0;
        if (!matches)
                field_error_invalid(errors, "involvedObject.namespace", involved_ns,
                                    "does not match event.namespace");
        if (has_time(root, "eventTime"))
                validate_new_event(root, errors);
}

/* "source" is source.component, else reportingComponent. */
static char *event_field_value(JsonObject *root, const char *label)
{
        const char *component;

        if (strcmp(label, "source") != 0)
                return NULL;
        component = member_string(json_get_object_member(root, "source"), "component");
        return g_strdup(*component != '\0' ? component : member_string(root, "reportingComponent"));
}

static const char *const event_field_labels[] = {
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    NULL,
};

/* translateTimestampSince: "<unknown>" for an unset time. */
static char *since(const char *timestamp, gint64 now)
{
        gint64 t = parse_rfc3339(timestamp);

        return t < 0 ? g_strdup("<unknown>") : human_duration(now - t);
}

static void append_cell(GString *out, const char *value)
{
        if (out->len > 0 && out->str[out->len - 1] != '[')
                g_string_append_c(out, ',');
        json_append_escaped(out, value != NULL ? value : "");
}

static char *event_target(JsonObject *involved)
{
        g_autofree char *kind = g_ascii_strdown(member_string(involved, "kind"), -1);
        const char *name = member_string(involved, "name");

        return *name != '\0' ? g_strdup_printf("%s/%s", kind, name) : g_steal_pointer(&kind);
}

static char *event_source(JsonObject *root)
{
        JsonObject *source = json_get_object_member(root, "source");
        const char *component = member_string(source, "component");
        const char *host = member_string(source, "host");

        if (*component == '\0')
                component = member_string(root, "reportingComponent");
        if (*host == '\0')
                host = member_string(root, "reportingInstance");
        return *host != '\0' ? g_strdup_printf("%s, %s", component, host) : g_strdup(component);
}

/* printEvent with Wide (the server always prints every column): LAST SEEN, TYPE, REASON,
 * OBJECT, SUBOBJECT, SOURCE, MESSAGE, FIRST SEEN, COUNT, NAME. */
static void event_row(GString *out, JsonObject *root, gint64 now)
{
        JsonObject *involved = json_get_object_member(root, "involvedObject");
        JsonObject *series = json_get_object_member(root, "series");
        g_autofree char *first = has_time(root, "firstTimestamp")
                                     ? since(member_string(root, "firstTimestamp"), now)
                                     : since(member_string(root, "eventTime"), now);
        g_autofree char *last = NULL;
        g_autofree char *target = event_target(involved);
        g_autofree char *source = event_source(root);
        g_autofree char *message = g_strstrip(g_strdup(member_string(root, "message")));
        gint64 count = member_int(root, "count");

        last = has_time(root, "lastTimestamp") ? since(member_string(root, "lastTimestamp"), now)
                                               : g_strdup(first);
        if (series != NULL) {
                g_free(last);
                last = since(member_string(series, "lastObservedTime"), now);
                count = member_int(series, "count");
        } else if (count == 0) {
                count = 1; /* singleton events of the new API have no count */
        }
        append_cell(out, last);
        append_cell(out, member_string(root, "type"));
        append_cell(out, member_string(root, "reason"));
        append_cell(out, target);
        append_cell(out, member_string(involved, "fieldPath"));
        append_cell(out, source);
        append_cell(out, message);
        append_cell(out, first);
        g_string_append_printf(out, ",%" G_GINT64_FORMAT, count);
        append_cell(out, member_string(json_get_object_member(root, "metadata"), "name"));
}

#define EVENT_COLUMN(name, priority, format, description)                                          \
        "{\"name\":\"" name "\",\"type\":\"string\",\"format\":\"" format                          \
        "\",\"description\":\"" description "\",\"priority\":" #priority "}"

/* clang-format off */
static const char event_columns[] =
    "\"columnDefinitions\":["
    EVENT_COLUMN("Last Seen", 0, "", "The time at which the most recent occurrence of this "
                                     "event was recorded.") ","
    EVENT_COLUMN("Type", 0, "", "Type of this event (Normal, Warning), new types could be "
                                "added in the future") ","
    EVENT_COLUMN("Reason", 0, "", "This should be a short, machine understandable string that "
                                  "gives the reason for the transition into the object's "
                                  "current status.") ","
    EVENT_COLUMN("Object", 0, "", "The object that this event is about.") ","
    EVENT_COLUMN("Subobject", 1, "", "If referring to a piece of an object instead of an "
                                     "entire object, this string should contain a valid "
                                     "JSON/Go field access statement.") ","
    EVENT_COLUMN("Source", 1, "", "The component reporting this event. Should be a short "
                                  "machine understandable string.") ","
    EVENT_COLUMN("Message", 0, "", "A human-readable description of the status of this "
                                   "operation.") ","
    EVENT_COLUMN("First Seen", 1, "", "The time at which the event was first recorded. (Time "
                                      "of server receipt is in TypeMeta.)") ","
    EVENT_COLUMN("Count", 1, "", "The number of times this event has occurred.") ","
    EVENT_COLUMN("Name", 1, "name", "Name must be unique within a namespace.")
    "],";
/* clang-format on */

const ResourceKind kind_event = {
    .resource = "events",
    .kind = "Event",
    .list_kind = "EventList",
    .namespaced = TRUE,
    .create_on_update = TRUE,
    .delete_answers_status = TRUE,
    .columns = event_columns,
    .row = event_row,
    .validate = event_validate,
    .field_labels = event_field_labels,
    .field_value = event_field_value,
};
