/* SPDX-License-Identifier: MIT */
/* The Events sender (service/events.c) against a tiny libsoup server on loopback, served on a
 * thread of its own: what is created, how repeats are raised (one Event, count 10), a PV
 * without a claim, an Event the server lost (404: created afresh), a server refusing Events
 * (403: counted, one warning), and a full queue (dropped and counted, never blocking). */
#include <libsoup/soup.h>
#include <string.h>

#include "kube-emulator-helper.h"
#include "log-capture.h"
#include "service/events.h"

typedef struct {
        GMutex lock;
        GCond cond;
        GPtrArray *requests; /* "METHOD PATH BODY" */
        guint post_status;   /* answers to POST */
        guint patch_status;  /* answers to PATCH */
        gboolean gate;       /* hold every request until the gate opens */
        guint arrived;
        GMainContext *context;
        GMainLoop *loop;
        SoupServer *server;
        GThread *thread;
        char *url;
        KubeClient *client;
} Server;

static void handle(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                   gpointer user_data)
{
        Server *s = user_data;
        const char *method = soup_server_message_get_method(msg);
        SoupMessageBody *body = soup_server_message_get_request_body(msg);
        g_autoptr(GBytes) bytes = soup_message_body_flatten(body);
        const char *answer;
        guint status;

        g_mutex_lock(&s->lock);
        g_ptr_array_add(s->requests,
                        g_strdup_printf("%s %s %.*s", method, path, (int)g_bytes_get_size(bytes),
                                        (const char *)g_bytes_get_data(bytes, NULL)));
        s->arrived++;
        g_cond_broadcast(&s->cond);
        while (s->gate)
                g_cond_wait(&s->cond, &s->lock);
        status = strcmp(method, "POST") == 0 ? s->post_status : s->patch_status;
        g_mutex_unlock(&s->lock);
        soup_server_message_set_status(msg, status, NULL);
        answer = status < 300 ? "{\"kind\":\"Event\"}" : "{\"kind\":\"Status\",\"message\":\"no\"}";
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, answer,
                                         strlen(answer));
}

static gpointer serve(gpointer data)
{
        Server *s = data;

        g_main_context_push_thread_default(s->context);
        g_main_loop_run(s->loop);
        g_main_context_pop_thread_default(s->context);
        return NULL;
}

static Server *server_new(void)
{
        Server *s = g_new0(Server, 1);
        g_autoptr(GError) error = NULL;
        g_auto(Config) config = {0};
        GSList *uris;

        g_mutex_init(&s->lock);
        g_cond_init(&s->cond);
        s->requests = g_ptr_array_new_with_free_func(g_free);
        s->post_status = 201;
        s->patch_status = 200;
        s->context = g_main_context_new();
        s->loop = g_main_loop_new(s->context, FALSE);
        g_main_context_push_thread_default(s->context);
        s->server = soup_server_new(NULL, NULL);
        soup_server_add_handler(s->server, "/api", handle, s, NULL);
        g_assert_true(soup_server_listen_local(s->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
        g_assert_no_error(error);
        g_main_context_pop_thread_default(s->context);
        uris = soup_server_get_uris(s->server);
        s->url = g_strdup_printf("http://127.0.0.1:%d", g_uri_get_port(uris->data));
        g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
        s->thread = g_thread_new("server", serve, s);
        emulator_config(&config, s->url, NULL, 10, 5);
        s->client = kube_client_new(&config, &error);
        g_assert_no_error(error);
        return s;
}

static void server_open_gate(Server *s)
{
        g_mutex_lock(&s->lock);
        s->gate = FALSE;
        g_cond_broadcast(&s->cond);
        g_mutex_unlock(&s->lock);
}

static void server_free(Server *s)
{
        server_open_gate(s);
        kube_client_free(s->client);
        g_main_loop_quit(s->loop);
        g_thread_join(s->thread);
        g_object_unref(s->server);
        g_main_loop_unref(s->loop);
        g_main_context_unref(s->context);
        g_ptr_array_unref(s->requests);
        g_free(s->url);
        g_cond_clear(&s->cond);
        g_mutex_clear(&s->lock);
        g_free(s);
}

/* Waits (without a deadline that could fail a slow machine: 60 s) until the sender settled
 * `n` Events, posted or failed. */
static EventsCounters wait_settled(Events *events, guint64 n)
{
        EventsCounters c;

        for (guint i = 0; i < 6000; i++) {
                events_get_counters(events, &c);
                if (c.posted + c.failed >= n)
                        return c;
                g_usleep(10 * 1000);
        }
        g_assert_not_reached();
}

static const EventsObject claimed = {"pv-1", "pv-uid-1", "apps", "data-0", "pvc-uid-1"};
static const EventsObject unclaimed = {"pv-2", "pv-uid-2", NULL, NULL, NULL};

static void test_repeats_raise_one_event(void)
{
        Server *s = server_new();
        Events *events = events_new(s->client, "host-a", EVENTS_QUEUE_LIMIT);
        EventsCounters c;
        const char *last;

        for (guint i = 0; i < 10; i++)
                events_post(events, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, &claimed,
                            "Volume pv-1 is attached to node n1; node n2 was refused");
        c = wait_settled(events, 10);
        g_assert_cmpuint(c.posted, ==, 10);
        g_assert_cmpuint(c.failed, ==, 0);
        g_assert_cmpuint(s->requests->len, ==, 10);
        g_assert_true(
            g_str_has_prefix(s->requests->pdata[0], "POST /api/v1/namespaces/apps/events {"));
        g_assert_nonnull(strstr(s->requests->pdata[0],
                                "\"involvedObject\":{\"apiVersion\":\"v1\",\"kind\":"
                                "\"PersistentVolumeClaim\",\"namespace\":\"apps\",\"name\":"
                                "\"data-0\",\"uid\":\"pvc-uid-1\"}"));
        g_assert_nonnull(strstr(s->requests->pdata[0], "\"reason\":\"AttachmentConflict\""));
        g_assert_nonnull(strstr(s->requests->pdata[0],
                                "\"source\":{\"component\":\"srvlab-attachmentd\",\"host\":"
                                "\"host-a\"}"));
        g_assert_nonnull(strstr(s->requests->pdata[0], "\"count\":1"));
        for (guint i = 1; i < 10; i++)
                g_assert_true(g_str_has_prefix(s->requests->pdata[i],
                                               "PATCH /api/v1/namespaces/apps/events/data-0."));
        last = s->requests->pdata[9];
        g_assert_nonnull(strstr(last, "\"count\":10"));
        events_free(events);
        server_free(s);
}

static void test_distinct_and_unclaimed(void)
{
        Server *s = server_new();
        Events *events = events_new(s->client, "host-a", EVENTS_QUEUE_LIMIT);

        events_post(events, EVENT_REASON_STALE_CLEARED, EVENT_TYPE_NORMAL, &unclaimed, "one");
        events_post(events, EVENT_REASON_STALE_CLEARED, EVENT_TYPE_NORMAL, &unclaimed, "two");
        wait_settled(events, 2);
        g_assert_cmpuint(s->requests->len, ==, 2);
        for (guint i = 0; i < 2; i++) {
                g_assert_true(g_str_has_prefix(s->requests->pdata[i],
                                               "POST /api/v1/namespaces/default/events {"));
                g_assert_nonnull(strstr(s->requests->pdata[i],
                                        "\"involvedObject\":{\"apiVersion\":\"v1\",\"kind\":"
                                        "\"PersistentVolume\",\"name\":\"pv-2\",\"uid\":"
                                        "\"pv-uid-2\"}"));
        }
        events_free(events);
        server_free(s);
}

static void test_lost_event_created_afresh(void)
{
        Server *s = server_new();
        Events *events = events_new(s->client, "host-a", EVENTS_QUEUE_LIMIT);
        EventsCounters c;

        s->patch_status = 404;
        events_post(events, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, &claimed, "same");
        events_post(events, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, &claimed, "same");
        c = wait_settled(events, 2);
        g_assert_cmpuint(c.posted, ==, 2);
        g_assert_cmpuint(s->requests->len, ==, 3);
        g_assert_true(g_str_has_prefix(s->requests->pdata[1], "PATCH "));
        g_assert_true(g_str_has_prefix(s->requests->pdata[2], "POST "));
        events_free(events);
        server_free(s);
}

static void test_forbidden_counted_one_warning(void)
{
        Server *s = server_new();
        Events *events = events_new(s->client, "host-a", EVENTS_QUEUE_LIMIT);
        EventsCounters c;

        s->post_status = 403;
        log_capture_expect("Cannot post Kubernetes Events*403*");
        for (guint i = 0; i < 3; i++)
                events_post(events, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, &claimed, "x");
        c = wait_settled(events, 3);
        g_assert_cmpuint(c.failed, ==, 3);
        g_assert_cmpuint(c.posted, ==, 0);
        log_capture_assert_all_seen();
        events_free(events);
        server_free(s);
}

/* The sender is held inside its first request; the queue then takes two and drops the rest,
 * and posting never waits. */
static void test_full_queue_drops(void)
{
        Server *s = server_new();
        Events *events = events_new(s->client, "host-a", 2);
        EventsCounters c;

        s->gate = TRUE;
        events_post(events, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, &claimed, "first");
        g_mutex_lock(&s->lock);
        while (s->arrived == 0)
                g_cond_wait(&s->cond, &s->lock);
        g_mutex_unlock(&s->lock);
        for (guint i = 0; i < 10; i++) {
                g_autofree char *message = g_strdup_printf("m%u", i);

                events_post(events, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, &claimed, message);
        }
        events_get_counters(events, &c);
        g_assert_cmpuint(c.dropped, ==, 8);
        server_open_gate(s);
        c = wait_settled(events, 3);
        g_assert_cmpuint(c.posted, ==, 3);
        g_assert_cmpuint(c.dropped, ==, 8);
        events_free(events);
        server_free(s);
}

static void test_off(void)
{
        EventsCounters c = {1, 1, 1};

        events_post(NULL, EVENT_REASON_CONFLICT, EVENT_TYPE_WARNING, &claimed, "nothing");
        events_get_counters(NULL, &c);
        g_assert_cmpuint(c.posted + c.dropped + c.failed, ==, 0);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        log_capture_install();
        g_test_add_func("/events/repeats-raise-one-event", test_repeats_raise_one_event);
        g_test_add_func("/events/distinct-and-unclaimed", test_distinct_and_unclaimed);
        g_test_add_func("/events/lost-event-created-afresh", test_lost_event_created_afresh);
        g_test_add_func("/events/forbidden-counted-one-warning",
                        test_forbidden_counted_one_warning);
        g_test_add_func("/events/full-queue-drops", test_full_queue_drops);
        g_test_add_func("/events/off", test_off);
        return g_test_run();
}
