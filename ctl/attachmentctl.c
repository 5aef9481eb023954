/* SPDX-License-Identifier: MIT */
/* attachmentctl: the operator's client of org.srvlab.Attachment1. */
#include "common/names.h"
#include "config-build.h"
#include "ctl-format.h"
#include "ctl-monitor.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

typedef struct {
        const char *address; /* NULL: the system bus (sd_bus_open_system honours
                                DBUS_SYSTEM_BUS_ADDRESS) */
        gboolean ask_password;
        gboolean legend;
        CtlJsonMode json;
        const char *node; /* --node=: list and monitor show only this node's attachments;
                             untrack detaches only this node (UntrackNode) */
        gboolean shared;  /* --shared: track in shared mode (TrackShared) */
} CtlArgs;

typedef int (*VerbFunc)(sd_bus *bus, const CtlArgs *args, char **argv);

typedef struct {
        const char *name;
        int n_args; /* arguments after the verb, exactly */
        VerbFunc func;
        gboolean takes_node;   /* --node= applies */
        gboolean takes_shared; /* --shared applies */
} Verb;

static void help(void)
{
        printf(
            "%s [OPTIONS...] COMMAND ...\n\n"
            "Query or change the volume attachments recorded by srvlab-attachmentd.\n\n"
            "Commands:\n"
            "  status                 Show the service's version, store, driver, watch and count\n"
            "                         (default)\n"
            "  list                   List the attachments\n"
            "  get VOLUME             Show the node(s) VOLUME is attached to\n"
            "  track VOLUME NODE      Record that VOLUME is attached to NODE (with --shared:\n"
            "                         in shared mode, a second node of a live migration)\n"
            "  untrack VOLUME         Forget the attachment of VOLUME (every node; with\n"
            "                         --node=NODE: only NODE's)\n"
            "  monitor                Follow attachments, detachments, overdue migrations and\n"
            "                         the watch state as they happen\n\n"
            "Options:\n"
            "  -h --help              Show this help\n"
            "     --version           Show package version\n"
            "     --system            Connect to the system bus (default)\n"
            "     --address=ADDRESS   Connect to the bus at ADDRESS\n"
            "     --no-ask-password   Do not ask for authorization interactively\n"
            "     --no-legend         Do not show the headers and footers\n"
            "     --json[=MODE]       Print JSON from list, get and monitor: short (the\n"
            "                         default), pretty or off\n"
            "     --node=NODE         list, monitor: only the attachments of NODE; untrack:\n"
            "                         detach NODE only\n"
            "     --shared            track: attach in shared mode (ReadWriteMany Block\n"
            "                         volumes, at most two nodes)\n\n"
            "See the attachmentctl(1) man page for details.\n",
            g_get_prgname());
}

/* Prints why a call failed and picks the exit code: scripts tell a conflict from the rest. */
static int report_error(const char *what, const sd_bus_error *error, int r)
{
        if (sd_bus_error_is_set(error) && error->message != NULL)
                fprintf(stderr, "%s: %s\n", g_get_prgname(), error->message);
        else
                fprintf(stderr, "%s: %s: %s\n", g_get_prgname(), what, strerror(-r));
        if (sd_bus_error_has_name(error, BUS_ERROR_ALREADY_ATTACHED))
                return CTL_EXIT_CONFLICT;
        return EXIT_FAILURE;
}

G_GNUC_PRINTF(1, 2) static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", g_get_prgname());
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help' for more information.\n", g_get_prgname());
        return CTL_EXIT_USAGE;
}

static int parse_json_mode(const char *arg, CtlJsonMode *ret)
{
        if (g_str_equal(arg, "short"))
                *ret = CTL_JSON_SHORT;
        else if (g_str_equal(arg, "pretty"))
                *ret = CTL_JSON_PRETTY;
        else if (g_str_equal(arg, "off"))
                *ret = CTL_JSON_OFF;
        else
                return -EINVAL;
        return 0;
}

/* Returns -1 to go on with a verb, or the exit code (after --help, --version, a usage error). */
static int parse_argv(int argc, char **argv, CtlArgs *args)
{
        enum {
                ARG_VERSION = 0x100,
                ARG_SYSTEM,
                ARG_ADDRESS,
                ARG_NO_ASK,
                ARG_NO_LEGEND,
                ARG_JSON,
                ARG_NODE,
                ARG_SHARED,
        };
        static const struct option options[] = {
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, ARG_VERSION},
            {"system", no_argument, NULL, ARG_SYSTEM},
            {"address", required_argument, NULL, ARG_ADDRESS},
            {"no-ask-password", no_argument, NULL, ARG_NO_ASK},
            {"no-legend", no_argument, NULL, ARG_NO_LEGEND},
            {"json", optional_argument, NULL, ARG_JSON},
            {"node", required_argument, NULL, ARG_NODE},
            {"shared", no_argument, NULL, ARG_SHARED},
            {},
        };
        int c;

        /* Options may follow the verb ("list --no-legend"); "--" ends them. */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return EXIT_SUCCESS;
                case ARG_VERSION:
                        printf("attachmentctl %s\n", PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                case ARG_SYSTEM:
                        args->address = NULL;
                        break;
                case ARG_ADDRESS:
                        args->address = optarg;
                        break;
                case ARG_NO_ASK:
                        args->ask_password = FALSE;
                        break;
                case ARG_NO_LEGEND:
                        args->legend = FALSE;
                        break;
                case ARG_JSON:
                        if (optarg == NULL)
                                args->json = CTL_JSON_SHORT;
                        else if (parse_json_mode(optarg, &args->json) < 0)
                                return usage_error("Unknown JSON mode '%s' (short, pretty, off).",
                                                   optarg);
                        break;
                case ARG_NODE:
                        args->node = optarg;
                        break;
                case ARG_SHARED:
                        args->shared = TRUE;
                        break;
                default: /* getopt_long has said what is wrong */
                        fprintf(stderr, "Try '%s --help' for more information.\n", g_get_prgname());
                        return CTL_EXIT_USAGE;
                }
        }
        return -1;
}

static int connect_bus(const CtlArgs *args, sd_bus **ret)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (args->address == NULL) {
                r = sd_bus_open_system(&bus);
        } else {
                r = sd_bus_new(&bus);
                if (r >= 0)
                        r = sd_bus_set_address(bus, args->address);
                if (r >= 0)
                        r = sd_bus_set_bus_client(bus, 1);
                if (r >= 0)
                        r = sd_bus_start(bus);
        }
        if (r < 0)
                return r;
        /* Only matters under polkit-style policies; the daemon itself never prompts. */
        r = sd_bus_set_allow_interactive_authorization(bus, args->ask_password);
        if (r < 0)
                return r;
        *ret = bus;
        bus = NULL;
        return 0;
}

/* Reads one "sv" dict entry of GetAll into the status fields we show. */
static int read_property(sd_bus_message *m, const char **strs, const char *const *names,
                         uint32_t *count, uint64_t *since)
{
        const char *name;
        int r = sd_bus_message_read(m, "s", &name);

        if (r < 0)
                return r;
        if (g_str_equal(name, "AttachmentCount"))
                return sd_bus_message_read(m, "v", "u", count);
        if (g_str_equal(name, "WatchSince"))
                return sd_bus_message_read(m, "v", "t", since);
        for (size_t i = 0; names[i] != NULL; i++)
                if (g_str_equal(name, names[i]))
                        return sd_bus_message_read(m, "v", "s", &strs[i]);
        /* A property a newer daemon added: not ours to show. */
        return sd_bus_message_skip(m, "v");
}

/* "watching since 2026-12-01 20:40:01 (for 3 min)"; a daemon without a watch: its state. */
static char *watch_text(const char *state, uint64_t since_usec)
{
        g_autoptr(GDateTime) t = NULL;
        g_autofree char *when = NULL;
        gint64 age;

        if (since_usec == 0)
                return g_strdup(state);
        t = g_date_time_new_from_unix_local((gint64)(since_usec / G_USEC_PER_SEC));
        if (t == NULL)
                return g_strdup(state);
        when = g_date_time_format(t, "%Y-%m-%d %H:%M:%S");
        age = MAX(g_get_real_time() - (gint64)since_usec, 0) / G_USEC_PER_SEC;
        if (age < 120)
                return g_strdup_printf("%s since %s (%" G_GINT64_FORMAT " s)", state, when, age);
        return g_strdup_printf("%s since %s (%" G_GINT64_FORMAT " min)", state, when, age / 60);
}

static int print_status(sd_bus_message *reply)
{
        static const char *const names[] = {"Version", "Store", "Driver", "WatchState", NULL};
        const char *strs[G_N_ELEMENTS(names)] = {"n/a", "n/a", "n/a", "n/a", NULL};
        uint32_t count = 0;
        uint64_t since = 0;
        g_autofree char *count_str = NULL;
        g_autofree char *watch = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                r = read_property(reply, strs, names, &count, &since);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0)
                return r;
        count_str = g_strdup_printf("%" G_GUINT32_FORMAT, count);
        watch = watch_text(strs[3], since);
        const char *pairs[] = {"Version", strs[0], "Store",       strs[1],   "Driver", strs[2],
                               "Watch",   watch,   "Attachments", count_str, NULL};
        ctl_format_fields(out, pairs);
        fputs(out->str, stdout);
        return 0;
}

static int verb_status(sd_bus *bus, const CtlArgs *args, char **argv)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                               &error, &reply, "s", BUS_INTERFACE);
        if (r < 0)
                return report_error("Failed to read the properties", &error, r);
        r = print_status(reply);
        if (r < 0)
                return report_error("Failed to parse the properties", &error, r);
        return EXIT_SUCCESS;
}

/* Fills `rows` with pointers into `reply`, which must outlive them; `node`: only its rows. */
static int read_list(sd_bus_message *reply, GArray *rows, const char *node)
{
        CtlAttachment row;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(sst)");
        if (r < 0)
                return r;
        row.migration = NULL;
        while ((r = sd_bus_message_read(reply, "(sst)", &row.volume, &row.node,
                                        &row.attached_at_usec)) > 0)
                g_array_append_val(rows, row);
        if (r < 0)
                return r;
        /* Marked before --node= filters, so that one node's row still says it migrates. */
        ctl_format_mark_migrations((CtlAttachment *)(void *)rows->data, rows->len);
        for (guint i = rows->len; node != NULL && i-- > 0;) {
                if (!g_str_equal(g_array_index(rows, CtlAttachment, i).node, node))
                        g_array_remove_index(rows, i);
        }
        return sd_bus_message_exit_container(reply);
}

static void print_list(const CtlArgs *args, const GArray *rows)
{
        const CtlAttachment *data = (const CtlAttachment *)(void *)rows->data;
        g_autoptr(GString) out = g_string_new(NULL);

        if (args->json != CTL_JSON_OFF) {
                g_autofree char *json = ctl_format_json_list(data, rows->len, args->json);
                fputs(json, stdout);
                return;
        }
        ctl_format_table(out, data, rows->len, args->legend, (uint64_t)g_get_real_time());
        fputs(out->str, stdout);
}

static int verb_list(sd_bus *bus, const CtlArgs *args, char **argv)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GArray) rows = g_array_new(FALSE, FALSE, sizeof(CtlAttachment));
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, "List", &error, &reply,
                               NULL);
        if (r < 0)
                return report_error("Failed to list the attachments", &error, r);
        r = read_list(reply, rows, args->node);
        if (r < 0)
                return report_error("Failed to parse the list", &error, r);
        print_list(args, rows);
        return EXIT_SUCCESS;
}

/* `target`: the second node of a migrating volume, or NULL. */
static void print_one(const CtlArgs *args, const CtlAttachment *row, const CtlAttachment *target)
{
        g_autofree char *json = NULL;
        g_autofree char *attached = NULL;
        g_autofree char *started = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        uint64_t now = (uint64_t)g_get_real_time();

        if (args->json != CTL_JSON_OFF) {
                json = ctl_format_json_get(row, target, args->json);
                fputs(json, stdout);
                return;
        }
        attached = ctl_format_timestamp_full(row->attached_at_usec, now);
        if (target != NULL)
                started = ctl_format_timestamp_full(target->attached_at_usec, now);
        const char *pairs[] = {
            "Volume",          row->volume, "Node",   row->node,
            "Attached",        attached,    "Target", target ? target->node : NULL,
            "Migrating since", started,     NULL};
        ctl_format_fields(out, pairs);
        fputs(out->str, stdout);
}

static int verb_get(sd_bus *bus, const CtlArgs *args, char **argv)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        CtlAttachment rows[3] = {{.volume = argv[0]}, {.volume = argv[0]}};
        size_t n = 0;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, "GetNodes", &error, &reply,
                               "s", argv[0]);
        if (r < 0)
                return report_error("Failed to get the attachment", &error, r);
        r = sd_bus_message_enter_container(reply, 'a', "(st)");
        while (r >= 0 && n < 2 &&
               (r = sd_bus_message_read(reply, "(st)", &rows[n].node, &rows[n].attached_at_usec)) >
                   0)
                n++;
        if (r < 0 || n == 0)
                return report_error("Failed to parse the reply", &error, r < 0 ? r : -EBADMSG);
        ctl_format_mark_migrations(rows, n);
        print_one(args, &rows[0], n > 1 ? &rows[1] : NULL);
        return EXIT_SUCCESS;
}

static int verb_track(sd_bus *bus, const CtlArgs *args, char **argv)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE,
                               args->shared ? "TrackShared" : "Track", &error, NULL, "ss", argv[0],
                               argv[1]);
        if (r < 0)
                return report_error("Failed to track the volume", &error, r);
        return EXIT_SUCCESS;
}

static int verb_untrack(sd_bus *bus, const CtlArgs *args, char **argv)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (args->node != NULL)
                r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, "UntrackNode",
                                       &error, NULL, "ss", argv[0], args->node);
        else
                r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_INTERFACE, "Untrack", &error,
                                       NULL, "s", argv[0]);
        if (r < 0)
                return report_error("Failed to untrack the volume", &error, r);
        return EXIT_SUCCESS;
}

static int verb_monitor(sd_bus *bus, const CtlArgs *args, char **argv)
{
        const CtlMonitorArgs monitor_args = {
            .json = args->json,
            .legend = args->legend,
            .node = args->node,
        };

        return ctl_monitor(bus, &monitor_args);
}

static const Verb verbs[] = {
    {"status", 0, verb_status},
    {"list", 0, verb_list, TRUE},
    {"get", 1, verb_get},
    {"track", 2, verb_track, FALSE, TRUE},
    {"untrack", 1, verb_untrack, TRUE},
    {"monitor", 0, verb_monitor, TRUE},
};

/* Checks the verb, its argument count and options before connecting, so usage errors need no
 * bus. */
static int find_verb(int argc, char **argv, const CtlArgs *args, const Verb **ret)
{
        const char *name = argc > 0 ? argv[0] : "status";

        for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++) {
                if (!g_str_equal(verbs[i].name, name))
                        continue;
                if (argc > 0 && argc - 1 < verbs[i].n_args)
                        return usage_error("Too few arguments for '%s'.", name);
                if (argc > 0 && argc - 1 > verbs[i].n_args)
                        return usage_error("Too many arguments for '%s'.", name);
                if (args->node != NULL && !verbs[i].takes_node)
                        return usage_error("--node= applies to list, monitor and untrack, not "
                                           "'%s'.",
                                           name);
                if (args->shared && !verbs[i].takes_shared)
                        return usage_error("--shared applies to track, not '%s'.", name);
                *ret = &verbs[i];
                return -1;
        }
        return usage_error("Unknown command verb '%s'.", name);
}

int main(int argc, char **argv)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        CtlArgs args = {.ask_password = TRUE, .legend = TRUE, .json = CTL_JSON_OFF};
        const Verb *verb = NULL;
        int r;

        g_set_prgname("attachmentctl");
        r = parse_argv(argc, argv, &args);
        if (r >= 0)
                return r;
        r = find_verb(argc - optind, argv + optind, &args, &verb);
        if (r >= 0)
                return r;
        r = connect_bus(&args, &bus);
        if (r < 0) {
                fprintf(stderr, "%s: Failed to connect to the bus: %s\n", g_get_prgname(),
                        strerror(-r));
                return EXIT_FAILURE;
        }
        /* argv + optind + 1: the verb's own arguments; "status" alone may be implied. */
        return verb->func(bus, &args, argv + optind + 1);
}
