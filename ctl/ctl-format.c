/* SPDX-License-Identifier: MIT */
#include "ctl-format.h"

#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <time.h>

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)
#define USEC_PER_WEEK (7 * USEC_PER_DAY)
/* systemd's calendar-free approximations, so that our "ago" reads like theirs. */
#define USEC_PER_MONTH (2629800 * USEC_PER_SEC)
#define USEC_PER_YEAR (31557600 * USEC_PER_SEC)

char *ctl_format_timestamp(uint64_t usec)
{
        time_t sec = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;
        char buf[128];

        if (localtime_r(&sec, &tm) == NULL)
                return g_strdup("n/a");
        if (strftime(buf, sizeof(buf), "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return g_strdup("n/a");
        return g_strdup(buf);
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
        return n == 1 ? one : many;
}

/* The distance as systemd's format_timestamp_relative() words it: two units down to an hour,
 * one unit where a second would be noise. */
static char *format_span(uint64_t d)
{
        if (d >= USEC_PER_YEAR)
                return g_strdup_printf(
                    "%" PRIu64 " %s %" PRIu64 " %s", d / USEC_PER_YEAR,
                    plural(d / USEC_PER_YEAR, "year", "years"), d % USEC_PER_YEAR / USEC_PER_MONTH,
                    plural(d % USEC_PER_YEAR / USEC_PER_MONTH, "month", "months"));
        if (d >= USEC_PER_MONTH)
                return g_strdup_printf("%" PRIu64 " %s %" PRIu64 " %s", d / USEC_PER_MONTH,
                                       plural(d / USEC_PER_MONTH, "month", "months"),
                                       d % USEC_PER_MONTH / USEC_PER_DAY,
                                       plural(d % USEC_PER_MONTH / USEC_PER_DAY, "day", "days"));
        if (d >= USEC_PER_WEEK)
                return g_strdup_printf("%" PRIu64 " %s %" PRIu64 " %s", d / USEC_PER_WEEK,
                                       plural(d / USEC_PER_WEEK, "week", "weeks"),
                                       d % USEC_PER_WEEK / USEC_PER_DAY,
                                       plural(d % USEC_PER_WEEK / USEC_PER_DAY, "day", "days"));
        if (d >= 2 * USEC_PER_DAY)
                return g_strdup_printf("%" PRIu64 " days", d / USEC_PER_DAY);
        if (d >= 25 * USEC_PER_HOUR)
                return g_strdup_printf("1 day %" PRIu64 "h", (d - USEC_PER_DAY) / USEC_PER_HOUR);
        if (d >= 6 * USEC_PER_HOUR)
                return g_strdup_printf("%" PRIu64 "h", d / USEC_PER_HOUR);
        if (d >= USEC_PER_HOUR)
                return g_strdup_printf("%" PRIu64 "h %" PRIu64 "min", d / USEC_PER_HOUR,
                                       d % USEC_PER_HOUR / USEC_PER_MINUTE);
        if (d >= 5 * USEC_PER_MINUTE)
                return g_strdup_printf("%" PRIu64 "min", d / USEC_PER_MINUTE);
        if (d >= USEC_PER_MINUTE)
                return g_strdup_printf("%" PRIu64 "min %" PRIu64 "s", d / USEC_PER_MINUTE,
                                       d % USEC_PER_MINUTE / USEC_PER_SEC);
        if (d >= USEC_PER_SEC)
                return g_strdup_printf("%" PRIu64 "s", d / USEC_PER_SEC);
        if (d >= USEC_PER_MSEC)
                return g_strdup_printf("%" PRIu64 "ms", d / USEC_PER_MSEC);
        return g_strdup_printf("%" PRIu64 "us", d);
}

char *ctl_format_timespan_relative(uint64_t usec, uint64_t now_usec)
{
        g_autofree char *span = NULL;

        if (usec == now_usec)
                return g_strdup("now");
        if (usec < now_usec) {
                span = format_span(now_usec - usec);
                return g_strconcat(span, " ago", NULL);
        }
        span = format_span(usec - now_usec);
        return g_strconcat(span, " left", NULL);
}

char *ctl_format_timestamp_full(uint64_t usec, uint64_t now_usec)
{
        g_autofree char *abs = ctl_format_timestamp(usec);
        g_autofree char *rel = ctl_format_timespan_relative(usec, now_usec);

        return g_strdup_printf("%s; %s", abs, rel);
}

char *ctl_format_rfc3339(uint64_t usec)
{
        time_t sec = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;
        char buf[64];

        if (gmtime_r(&sec, &tm) == NULL ||
            strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return g_strdup("");
        return g_strdup_printf("%s.%06" PRIu64 "Z", buf, usec % USEC_PER_SEC);
}

/* Column width in characters, not bytes: ids are ASCII, but the time zone name need not be. */
static size_t text_width(const char *s)
{
        return g_utf8_validate(s, -1, NULL) ? (size_t)g_utf8_strlen(s, -1) : strlen(s);
}

static void append_padded(GString *out, const char *s, size_t width)
{
        size_t w = text_width(s);

        g_string_append(out, s);
        for (; w < width; w++)
                g_string_append_c(out, ' ');
}

static void append_row(GString *out, const char *volume, const char *node, const char *attached,
                       const char *migration, size_t w_volume, size_t w_node)
{
        append_padded(out, volume, w_volume);
        g_string_append_c(out, ' ');
        append_padded(out, node, w_node);
        g_string_append_c(out, ' ');
        g_string_append(out, attached);
        if (migration != NULL)
                g_string_append_printf(out, "  [shared: %s]", migration);
        g_string_append_c(out, '\n');
}

void ctl_format_mark_migrations(CtlAttachment *rows, size_t n_rows)
{
        for (size_t i = 0; i + 1 < n_rows; i++) {
                if (!g_str_equal(rows[i].volume, rows[i + 1].volume))
                        continue;
                rows[i].migration = "source";
                rows[i + 1].migration = "target";
                i++;
        }
}

void ctl_format_table(GString *out, const CtlAttachment *rows, size_t n_rows, gboolean legend,
                      uint64_t now_usec)
{
        size_t w_volume = legend ? strlen("VOLUME") : 0;
        size_t w_node = legend ? strlen("NODE") : 0;
        size_t migrating = 0;

        if (n_rows == 0) {
                if (legend)
                        g_string_append(out, "No attachments.\n");
                return;
        }
        for (size_t i = 0; i < n_rows; i++) {
                w_volume = MAX(w_volume, text_width(rows[i].volume));
                w_node = MAX(w_node, text_width(rows[i].node));
        }
        if (legend)
                append_row(out, "VOLUME", "NODE", "ATTACHED", NULL, w_volume, w_node);
        for (size_t i = 0; i < n_rows; i++) {
                g_autofree char *attached =
                    ctl_format_timestamp_full(rows[i].attached_at_usec, now_usec);
                append_row(out, rows[i].volume, rows[i].node, attached, rows[i].migration, w_volume,
                           w_node);
                migrating += rows[i].migration != NULL;
        }
        if (!legend)
                return;
        g_string_append_printf(out, "\n%zu %s listed.\n", n_rows,
                               plural(n_rows, "attachment", "attachments"));
        if (migrating > 0)
                g_string_append(out, "[shared: source], [shared: target]: a volume attached to "
                                     "two nodes at once (a live migration from the first node "
                                     "to the second).\n");
}

static void add_string(JsonBuilder *b, const char *name, const char *value)
{
        json_builder_set_member_name(b, name);
        json_builder_add_string_value(b, value);
}

/* "<prefix>_usec" as a number and "<prefix>" as RFC 3339 UTC. JSON numbers are read as doubles
 * by many tools; microseconds until the year 2255 stay below 2^53, so they survive exactly. */
static void add_time(JsonBuilder *b, const char *prefix, uint64_t usec)
{
        g_autofree char *name = g_strconcat(prefix, "_usec", NULL);
        g_autofree char *rfc3339 = ctl_format_rfc3339(usec);

        json_builder_set_member_name(b, name);
        json_builder_add_int_value(b, (gint64)usec);
        add_string(b, prefix, rfc3339);
}

static void build_members(JsonBuilder *b, const CtlAttachment *row);

static void build_object(JsonBuilder *b, const CtlAttachment *row)
{
        json_builder_begin_object(b);
        build_members(b, row);
        json_builder_end_object(b);
}

/* The members of a row's object, without the braces. */
static void build_members(JsonBuilder *b, const CtlAttachment *row)
{
        add_string(b, "volume", row->volume);
        add_string(b, "node", row->node);
        add_time(b, "attached_at", row->attached_at_usec);
        if (row->migration != NULL)
                add_string(b, "migration", row->migration);
}

static char *generate(JsonBuilder *b, CtlJsonMode mode)
{
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autofree char *text = NULL;

        json_generator_set_pretty(gen, mode == CTL_JSON_PRETTY);
        json_generator_set_indent(gen, 2);
        json_generator_set_root(gen, root);
        text = json_generator_to_data(gen, NULL);
        return g_strconcat(text, "\n", NULL);
}

char *ctl_format_json_list(const CtlAttachment *rows, size_t n_rows, CtlJsonMode mode)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_array(b);
        for (size_t i = 0; i < n_rows; i++)
                build_object(b, &rows[i]);
        json_builder_end_array(b);
        return generate(b, mode);
}

char *ctl_format_json_one(const CtlAttachment *row, CtlJsonMode mode)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        build_object(b, row);
        return generate(b, mode);
}

char *ctl_format_json_get(const CtlAttachment *row, const CtlAttachment *target, CtlJsonMode mode)
{
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        build_members(b, row);
        if (target != NULL) {
                json_builder_set_member_name(b, "target");
                build_object(b, target);
        }
        json_builder_end_object(b);
        return generate(b, mode);
}

static gboolean local_tm(uint64_t usec, struct tm *tm)
{
        time_t sec = (time_t)(usec / USEC_PER_SEC);

        return localtime_r(&sec, tm) != NULL;
}

char *ctl_format_local_msec(uint64_t usec)
{
        struct tm tm;
        char buf[64];

        if (!local_tm(usec, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return g_strdup("n/a");
        return g_strdup_printf("%s.%03" PRIu64, buf, usec % USEC_PER_SEC / USEC_PER_MSEC);
}

char *ctl_format_rfc3339_local_msec(uint64_t usec)
{
        struct tm tm;
        char buf[64];
        long off;

        if (!local_tm(usec, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return g_strdup("");
        /* tm_gmtoff rather than %z: RFC 3339 wants "+01:00", strftime gives "+0100". */
        off = tm.tm_gmtoff / 60;
        return g_strdup_printf("%s.%03" PRIu64 "%c%02ld:%02ld", buf,
                               usec % USEC_PER_SEC / USEC_PER_MSEC, off < 0 ? '-' : '+',
                               labs(off) / 60, labs(off) % 60);
}

static const char *event_name(CtlEventKind kind)
{
        switch (kind) {
        case CTL_EVENT_ATTACHED:
                return "attached";
        case CTL_EVENT_DETACHED:
                return "detached";
        case CTL_EVENT_MIGRATION_OVERDUE:
                return "migration-overdue";
        case CTL_EVENT_WATCH:
                return "watch";
        }
        return "unknown";
}

char *ctl_format_event_line(const CtlEvent *e)
{
        g_autofree char *time = ctl_format_local_msec(e->time_usec);
        g_autofree char *started = NULL;

        switch (e->kind) {
        case CTL_EVENT_WATCH:
                return g_strdup_printf("%s  watch  %s\n", time, e->state);
        case CTL_EVENT_MIGRATION_OVERDUE:
                started = ctl_format_local_msec(e->at_usec);
                return g_strdup_printf("%s  migration-overdue  %s  %s  %s  started %s\n", time,
                                       e->volume, e->node, e->target_node, started);
        case CTL_EVENT_ATTACHED:
        case CTL_EVENT_DETACHED:
                break;
        }
        return g_strdup_printf("%s  %s  %s  %s\n", time, event_name(e->kind), e->volume, e->node);
}

char *ctl_format_event_json(const CtlEvent *e, CtlJsonMode mode)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *time = ctl_format_rfc3339_local_msec(e->time_usec);

        json_builder_begin_object(b);
        add_string(b, "time", time);
        add_string(b, "event", event_name(e->kind));
        if (e->kind == CTL_EVENT_WATCH) {
                add_string(b, "state", e->state);
                if (e->at_usec != 0)
                        add_time(b, "since", e->at_usec);
        } else {
                add_string(b, "volume", e->volume);
                add_string(b, "node", e->node);
        }
        if (e->kind == CTL_EVENT_ATTACHED)
                add_time(b, "attached_at", e->at_usec);
        if (e->kind == CTL_EVENT_MIGRATION_OVERDUE) {
                add_string(b, "target_node", e->target_node);
                add_time(b, "started_at", e->at_usec);
        }
        json_builder_end_object(b);
        return generate(b, mode);
}

void ctl_format_fields(GString *out, const char *const *pairs)
{
        size_t width = 0;

        for (size_t i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2)
                width = MAX(width, text_width(pairs[i]));
        for (size_t i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2) {
                for (size_t w = text_width(pairs[i]); w < width; w++)
                        g_string_append_c(out, ' ');
                g_string_append_printf(out, "%s: %s\n", pairs[i], pairs[i + 1]);
        }
}
