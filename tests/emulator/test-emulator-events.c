/* core/v1 Events in the emulator: create, repeat by PATCH (what client-go's recorder sends),
 * PUT, DELETE, 409/404, the real server's validation (422, 400), lists by namespace and of all
 * namespaces with pagination and field selectors, kubectl's Table, watch, the control
 * endpoint, counts and faults for "events". */
#include "emulator-helper.h"

#include <string.h>

#define EVENTS "/api/v1/namespaces/default/events"
#define TABLE "application/json;as=Table;v=v1;g=meta.k8s.io"

/* An event as our daemon and client-go's recorder send it: about PV @pv in "default", else
 * about the claim @pv in @ns (an event's namespace is its object's). */
static char *event_body(const char *ns, const char *name, const char *pv, const char *reason)
{
        gboolean in_default = strcmp(ns, "default") == 0;
        g_autofree char *object_ns =
            in_default ? g_strdup("") : g_strdup_printf("\"namespace\":\"%s\",", ns);

        return g_strdup_printf(
            "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},"
            "\"involvedObject\":{\"kind\":\"%s\",%s\"name\":\"%s\",\"uid\":\"u-%s\","
            "\"apiVersion\":\"v1\"},\"reason\":\"%s\",\"message\":\"  volume %s is busy \","
            "\"type\":\"Warning\",\"source\":{\"component\":\"srvlab-attachmentd\","
            "\"host\":\"host-1\"},\"count\":1,\"firstTimestamp\":\"2026-01-01T00:00:00Z\","
            "\"lastTimestamp\":\"2026-01-01T00:00:00Z\",\"eventTime\":null,"
            "\"reportingComponent\":\"srvlab-attachmentd\",\"reportingInstance\":\"host-1\"}",
            name, ns, in_default ? "PersistentVolume" : "PersistentVolumeClaim", object_ns, pv, pv,
            reason, pv);
}

static void create_event(Emu *emu, const char *ns, const char *name, const char *pv,
                         const char *reason)
{
        g_autofree char *path = g_strdup_printf("/api/v1/namespaces/%s/events", ns);
        g_autofree char *body = event_body(ns, name, pv, reason);
        g_autoptr(Reply) r = emu_api(emu, "POST", path, NULL, body);

        g_assert_cmpuint(r->status, ==, 201);
}

static guint items_of(Reply *r)
{
        return json_array_get_length(json_object_get_array_member(reply_object(r), "items"));
}

static const char *item_name(Reply *r, guint i)
{
        JsonArray *items = json_object_get_array_member(reply_object(r), "items");

        return json_name(json_array_get_object_element(items, i));
}

static const char *item_namespace(Reply *r, guint i)
{
        JsonArray *items = json_object_get_array_member(reply_object(r), "items");
        JsonObject *item = json_array_get_object_element(items, i);

        return json_object_get_string_member(json_object_get_object_member(item, "metadata"),
                                             "namespace");
}

static void test_create_and_repeat(void)
{
        Emu *emu = emu_start(NULL);
        g_autofree char *body = event_body("default", "pv-a.1", "pv-a", "AttachmentConflict");
        g_autoptr(Reply) created = emu_api(emu, "POST", EVENTS, NULL, body);
        g_autoptr(Reply) again = emu_api(emu, "POST", EVENTS, NULL, body);
        g_autoptr(Reply) patched = emu_api(
            emu, "PATCH", EVENTS "/pv-a.1", "application/strategic-merge-patch+json",
            "{\"count\":2,\"lastTimestamp\":\"2026-01-01T00:05:00Z\",\"message\":\"again\"}");
        g_autoptr(Reply) got = emu_api(emu, "GET", EVENTS "/pv-a.1", NULL, NULL);
        g_autoptr(Reply) missing = emu_api(emu, "GET", EVENTS "/nope", NULL, NULL);
        g_autoptr(Reply) patch_missing =
            emu_api(emu, "PATCH", EVENTS "/nope", "application/merge-patch+json", "{\"count\":2}");
        g_autofree char *put_body = event_body("default", "pv-a.2", "pv-a", "Other");
        g_autoptr(Reply) put_created = emu_api(emu, "PUT", EVENTS "/pv-a.2", NULL, put_body);
        g_autoptr(Reply) deleted = emu_api(emu, "DELETE", EVENTS "/pv-a.2", NULL, NULL);
        g_autoptr(Reply) gone = emu_api(emu, "GET", EVENTS "/pv-a.2", NULL, NULL);

        g_assert_cmpuint(created->status, ==, 201);
        g_assert_cmpstr(reply_string(created, "kind"), ==, "Event");
        g_assert_cmpstr(reply_string(created, "metadata.namespace"), ==, "default");
        g_assert_nonnull(reply_string(created, "metadata.uid"));
        assert_status_body(again, 409, "AlreadyExists");
        g_assert_cmpstr(reply_string(again, "message"), ==, "events \"pv-a.1\" already exists");
        g_assert_cmpstr(reply_string(again, "details.kind"), ==, "events");
        g_assert_cmpuint(patched->status, ==, 200);
        g_assert_cmpint(reply_int(got, "count"), ==, 2);
        g_assert_cmpstr(reply_string(got, "message"), ==, "again");
        g_assert_cmpstr(reply_string(got, "lastTimestamp"), ==, "2026-01-01T00:05:00Z");
        g_assert_cmpstr(reply_string(got, "firstTimestamp"), ==, "2026-01-01T00:00:00Z");
        g_assert_cmpstr(reply_string(got, "metadata.uid"), ==,
                        reply_string(created, "metadata.uid"));
        assert_status_body(missing, 404, "NotFound");
        g_assert_cmpstr(reply_string(missing, "message"), ==, "events \"nope\" not found");
        assert_status_body(patch_missing, 404, "NotFound");
        /* AllowCreateOnUpdate: a PUT of a missing event creates it */
        g_assert_cmpuint(put_created->status, ==, 201);
        /* the Event registry answers a Success Status, not the deleted object */
        g_assert_cmpuint(deleted->status, ==, 200);
        g_assert_cmpstr(reply_string(deleted, "kind"), ==, "Status");
        g_assert_cmpstr(reply_string(deleted, "status"), ==, "Success");
        g_assert_cmpstr(reply_string(deleted, "details.name"), ==, "pv-a.2");
        g_assert_cmpstr(reply_string(deleted, "details.kind"), ==, "events");
        assert_status_body(gone, 404, "NotFound");
        emu_stop(emu);
}

static const char *cause_field(Reply *r, guint i)
{
        JsonArray *causes = json_object_get_array_member(
            json_object_get_object_member(reply_object(r), "details"), "causes");

        return json_object_get_string_member(json_array_get_object_element(causes, i), "field");
}

/* legacyValidateEvent: what the real server checks of a core/v1 Event, and no more. */
static void test_validation(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) no_name = emu_api(emu, "POST", EVENTS, NULL, "{\"reason\":\"R\"}");
        g_autoptr(Reply) other_ns = emu_api(
            emu, "POST", EVENTS, NULL, "{\"metadata\":{\"name\":\"e\",\"namespace\":\"other\"}}");
        /* a PV's event (involvedObject without a namespace) belongs in "default" */
        g_autoptr(Reply) wrong_ns = emu_api(
            emu, "POST", "/api/v1/namespaces/kube-system/events", NULL,
            "{\"metadata\":{\"name\":\"e\"},\"involvedObject\":{\"kind\":\"PersistentVolume\","
            "\"name\":\"pv-a\"},\"reason\":\"R\"}");
        /* events with eventTime need reason, action and the reporting fields */
        g_autoptr(Reply) new_event =
            emu_api(emu, "POST", EVENTS, NULL,
                    "{\"metadata\":{\"name\":\"e\"},\"eventTime\":\"2026-01-01T00:00:00.000000Z\","
                    "\"reportingComponent\":\"srvlab-attachmentd\",\"reportingInstance\":\"h\","
                    "\"action\":\"Track\"}");
        /* without eventTime the real server takes an event without reason or object */
        g_autoptr(Reply) bare =
            emu_api(emu, "POST", EVENTS, NULL, "{\"metadata\":{\"name\":\"b\"}}");
        g_autoptr(Reply) patch_ns =
            emu_api(emu, "PATCH", EVENTS "/b", "application/merge-patch+json",
                    "{\"involvedObject\":{\"namespace\":\"other\"}}");
        /* core/v1 names the field reportingComponent: required, then IsQualifiedName's two
         * messages for an empty name (the real server's three causes) */
        g_autoptr(Reply) no_controller =
            emu_api(emu, "POST", EVENTS, NULL,
                    "{\"metadata\":{\"name\":\"c\"},\"eventTime\":\"2026-01-01T00:00:00.000000Z\","
                    "\"reportingInstance\":\"h\",\"action\":\"Track\",\"reason\":\"R\"}");
        g_autoptr(Reply) bad_name =
            emu_api(emu, "POST", EVENTS, NULL, "{\"metadata\":{\"name\":\"a%b\"}}");
        g_autoptr(Reply) generated =
            emu_api(emu, "POST", "/api/v1/namespaces/team-a/events", NULL,
                    "{\"metadata\":{\"generateName\":\"pvc-\"},\"involvedObject\":{\"kind\":"
                    "\"PersistentVolumeClaim\",\"namespace\":\"team-a\",\"name\":\"data\"}}");

        assert_status_body(no_name, 422, "Invalid");
        g_assert_cmpstr(reply_string(no_name, "message"), ==,
                        "Event \"\" is invalid: metadata.name: Required value: name or "
                        "generateName is required");
        assert_status_body(other_ns, 400, "BadRequest");
        assert_status_body(wrong_ns, 422, "Invalid");
        g_assert_cmpstr(reply_string(wrong_ns, "message"), ==,
                        "Event \"e\" is invalid: involvedObject.namespace: Invalid value: \"\": "
                        "does not match event.namespace");
        g_assert_cmpstr(reply_string(wrong_ns, "details.kind"), ==, "Event");
        g_assert_cmpstr(cause_field(wrong_ns, 0), ==, "involvedObject.namespace");
        assert_status_body(new_event, 422, "Invalid");
        g_assert_cmpstr(cause_field(new_event, 0), ==, "reason");
        assert_status_body(no_controller, 422, "Invalid");
        g_assert_cmpstr(cause_field(no_controller, 0), ==, "reportingComponent");
        g_assert_cmpstr(cause_field(no_controller, 2), ==, "reportingComponent");
        g_assert_true(
            g_str_has_prefix(reply_string(no_controller, "message"),
                             "Event \"c\" is invalid: [reportingComponent: Required "
                             "value, reportingComponent: Invalid value: \"\": name part "
                             "must be non-empty, reportingComponent: Invalid value: \"\": "
                             "name part must consist of"));
        assert_status_body(bad_name, 422, "Invalid");
        g_assert_cmpstr(reply_string(bad_name, "message"), ==,
                        "Event \"a%b\" is invalid: metadata.name: Invalid value: \"a%b\": may "
                        "not contain '%'");
        g_assert_cmpuint(bare->status, ==, 201);
        assert_status_body(patch_ns, 422, "Invalid");
        g_assert_cmpuint(generated->status, ==, 201);
        g_assert_true(g_str_has_prefix(reply_string(generated, "metadata.name"), "pvc-"));
        g_assert_cmpuint(strlen(reply_string(generated, "metadata.name")), ==, 9);
        emu_stop(emu);
}

static void test_lists_and_selectors(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(Reply) all = NULL, in_default = NULL, page1 = NULL, page2 = NULL;
        g_autoptr(Reply) by_object = NULL, negated = NULL, bad_label = NULL, by_source = NULL;
        g_autofree char *next = NULL;

        create_event(emu, "default", "pv-b.1", "pv-b", "AttachmentConflict");
        create_event(emu, "default", "pv-a.1", "pv-a", "AttachmentConflict");
        create_event(emu, "default-2", "pv-a.1", "pv-a", "StaleAttachmentCleared");
        create_event(emu, "kube-system", "pv-c.1", "pv-c", "MigrationOverdue");
        all = emu_api(emu, "GET", "/api/v1/events", NULL, NULL);
        g_assert_cmpstr(reply_string(all, "kind"), ==, "EventList");
        g_assert_cmpuint(items_of(all), ==, 4);
        /* etcd's key order, /registry/events/NAMESPACE/NAME: "default-2/" before "default/" */
        g_assert_cmpstr(item_namespace(all, 0), ==, "default-2");
        g_assert_cmpstr(item_namespace(all, 1), ==, "default");
        g_assert_cmpstr(item_name(all, 1), ==, "pv-a.1");
        g_assert_cmpstr(item_name(all, 2), ==, "pv-b.1");
        g_assert_cmpstr(item_namespace(all, 3), ==, "kube-system");
        in_default = emu_api(emu, "GET", EVENTS, NULL, NULL);
        g_assert_cmpuint(items_of(in_default), ==, 2);
        page1 = emu_api(emu, "GET", EVENTS "?limit=1", NULL, NULL);
        g_assert_cmpuint(items_of(page1), ==, 1);
        g_assert_cmpint(reply_int(page1, "metadata.remainingItemCount"), ==, 1);
        next = g_strdup_printf(EVENTS "?limit=1&continue=%s",
                               reply_string(page1, "metadata.continue"));
        page2 = emu_api(emu, "GET", next, NULL, NULL);
        g_assert_cmpuint(items_of(page2), ==, 1);
        g_assert_cmpstr(item_name(page2, 0), ==, "pv-b.1");
        g_assert_null(reply_string(page2, "metadata.continue"));
        /* what kubectl describe pv sends: every term, the namespace empty */
        by_object = emu_api(emu, "GET",
                            "/api/v1/events?fieldSelector=involvedObject.name%3Dpv-a%2C"
                            "involvedObject.namespace%3D%2CinvolvedObject.kind%3DPersistentVolume"
                            "%2CinvolvedObject.uid%3Du-pv-a&limit=500",
                            NULL, NULL);
        g_assert_cmpuint(items_of(by_object), ==, 1);
        negated =
            emu_api(emu, "GET", EVENTS "?fieldSelector=reason!%3DAttachmentConflict", NULL, NULL);
        g_assert_cmpuint(items_of(negated), ==, 0);
        by_source = emu_api(emu, "GET",
                            "/api/v1/events?fieldSelector=source%3Dsrvlab-attachmentd,"
                            "metadata.namespace%3Dkube-system",
                            NULL, NULL);
        g_assert_cmpuint(items_of(by_source), ==, 1);
        bad_label = emu_api(emu, "GET", EVENTS "?fieldSelector=spec.x%3Dy", NULL, NULL);
        assert_status_body(bad_label, 400, "BadRequest");
        g_assert_cmpstr(reply_string(bad_label, "message"), ==,
                        "field label not supported: spec.x");
        emu_stop(emu);
}

static const char *column_name(JsonObject *table, guint i)
{
        JsonArray *columns = json_object_get_array_member(table, "columnDefinitions");

        return json_object_get_string_member(json_array_get_object_element(columns, i), "name");
}

/* printEvent: LAST SEEN TYPE REASON OBJECT MESSAGE, and SUBOBJECT SOURCE FIRST SEEN COUNT NAME
 * for -o wide. */
static void test_table(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(SoupMessage) msg = NULL;
        g_autoptr(Reply) patched = NULL;
        g_autoptr(Reply) table = NULL;
        JsonArray *rows, *cells;

        create_event(emu, "default", "pv-a.1", "pv-a", "AttachmentConflict");
        patched = emu_api(emu, "PATCH", EVENTS "/pv-a.1", "application/strategic-merge-patch+json",
                          "{\"count\":3}");
        g_assert_cmpuint(patched->status, ==, 200);
        msg = emu_message(emu, "GET", EVENTS);
        soup_message_headers_replace(soup_message_get_request_headers(msg), "Accept", TABLE);
        table = emu_send(emu, msg);
        g_assert_cmpuint(table->status, ==, 200);
        g_assert_cmpstr(reply_string(table, "kind"), ==, "Table");
        g_assert_cmpstr(column_name(reply_object(table), 0), ==, "Last Seen");
        g_assert_cmpstr(column_name(reply_object(table), 3), ==, "Object");
        g_assert_cmpstr(column_name(reply_object(table), 6), ==, "Message");
        rows = json_object_get_array_member(reply_object(table), "rows");
        g_assert_cmpuint(json_array_get_length(rows), ==, 1);
        cells = json_object_get_array_member(json_array_get_object_element(rows, 0), "cells");
        g_assert_cmpuint(json_array_get_length(cells), ==, 10);
        g_assert_cmpstr(json_array_get_string_element(cells, 1), ==, "Warning");
        g_assert_cmpstr(json_array_get_string_element(cells, 2), ==, "AttachmentConflict");
        g_assert_cmpstr(json_array_get_string_element(cells, 3), ==, "persistentvolume/pv-a");
        g_assert_cmpstr(json_array_get_string_element(cells, 5), ==, "srvlab-attachmentd, host-1");
        g_assert_cmpstr(json_array_get_string_element(cells, 6), ==, "volume pv-a is busy");
        g_assert_cmpint(json_array_get_int_element(cells, 8), ==, 3);
        g_assert_cmpstr(json_array_get_string_element(cells, 9), ==, "pv-a.1");
        emu_stop(emu);
}

static void test_watch(void)
{
        Emu *emu = emu_start(NULL);
        g_autoptr(WatchStream) w = NULL, by_reason = NULL;
        g_autoptr(Reply) patched = NULL, renamed = NULL;
        g_autoptr(JsonNode) e1 = NULL, e2 = NULL, f1 = NULL, f2 = NULL, f3 = NULL;
        JsonObject *modified;

        w = emu_watch_at(emu, EVENTS "?watch=true&resourceVersion=1000", NULL);
        by_reason = emu_watch_at(
            emu, EVENTS "?watch=true&resourceVersion=1000&fieldSelector=reason%3DR", NULL);
        g_assert_cmpuint(w->status, ==, 200);
        create_event(emu, "other", "pv-x.1", "pv-x", "R"); /* another namespace: not seen */
        create_event(emu, "default", "pv-a.1", "pv-a", "R");
        g_assert_cmpstr(json_name(watch_expect(w, "ADDED", &e1)), ==, "pv-a.1");
        patched = emu_api(emu, "PATCH", EVENTS "/pv-a.1", "application/merge-patch+json",
                          "{\"count\":2}");
        modified = watch_expect(w, "MODIFIED", &e2);
        g_assert_cmpint(json_object_get_int_member(modified, "count"), ==, 2);
        /* a field-selected watch, as the real server's: an event that stops matching is
         * DELETED (carrying its new state), one that starts matching ADDED */
        renamed = emu_api(emu, "PATCH", EVENTS "/pv-a.1", "application/merge-patch+json",
                          "{\"reason\":\"Other\"}");
        g_assert_cmpuint(renamed->status, ==, 200);
        g_assert_cmpstr(json_name(watch_expect(by_reason, "ADDED", &f1)), ==, "pv-a.1");
        watch_expect(by_reason, "MODIFIED", &f2);
        g_assert_cmpstr(
            json_object_get_string_member(watch_expect(by_reason, "DELETED", &f3), "reason"), ==,
            "Other");
        emu_stop(emu);
}

/* The daemon's events must not matter to its operations: a 403 for every event request
 * leaves PVs served; counts and the control endpoint. */
static void test_faults_counts_control(void)
{
        Emu *emu = emu_start(NULL);
        g_autofree char *body = event_body("default", "pv-a.1", "pv-a", "R");
        g_autoptr(Reply) refused = NULL, pv_list = NULL, counts = NULL, listed = NULL;
        g_autoptr(Reply) cleared = NULL, after = NULL, refused_list = NULL;

        create_event(emu, "default", "pv-b.1", "pv-b", "R");
        emu_add_fault(emu, "{\"match\":{\"verb\":\"*\",\"resource\":\"events\"},"
                           "\"probability\":1,\"action\":\"status\",\"code\":403}");
        refused = emu_api(emu, "POST", EVENTS, NULL, body);
        assert_status_body(refused, 403, "Forbidden");
        refused_list = emu_api(emu, "GET", "/api/v1/events", NULL, NULL);
        assert_status_body(refused_list, 403, "Forbidden");
        pv_list = emu_api(emu, "GET", "/api/v1/persistentvolumes", NULL, NULL);
        g_assert_cmpuint(pv_list->status, ==, 200);
        counts = emu_control(emu, "GET", "/counts", NULL);
        g_assert_cmpint(reply_int(counts, "events.create"), ==, 2);
        g_assert_cmpint(reply_int(counts, "events.list"), ==, 1);
        g_assert_cmpint(reply_int(counts, "events.total"), ==, 3);
        g_assert_cmpint(reply_int(counts, "list"), ==, 1);
        g_assert_cmpint(reply_int(counts, "create"), ==, 0);
        listed = emu_control(emu, "GET", "/events", NULL);
        g_assert_true(JSON_NODE_HOLDS_ARRAY(listed->json));
        g_assert_cmpuint(json_array_get_length(json_node_get_array(listed->json)), ==, 1);
        cleared = emu_control(emu, "DELETE", "/events", NULL);
        g_assert_cmpuint(cleared->status, ==, 200);
        after = emu_control(emu, "GET", "/events", NULL);
        g_assert_cmpuint(json_array_get_length(json_node_get_array(after->json)), ==, 0);
        emu_stop(emu);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/emulator/events/create-and-repeat", test_create_and_repeat);
        g_test_add_func("/emulator/events/validation", test_validation);
        g_test_add_func("/emulator/events/lists-and-selectors", test_lists_and_selectors);
        g_test_add_func("/emulator/events/table", test_table);
        g_test_add_func("/emulator/events/watch", test_watch);
        g_test_add_func("/emulator/events/faults-counts-control", test_faults_counts_control);
        return g_test_run();
}
