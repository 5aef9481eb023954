/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Pure output formatting for attachmentctl: no bus, no clock, no environment except the local
 * time zone (TZ), so that tests can check every byte. */

typedef struct {
        const char *volume;
        const char *node;
        uint64_t attached_at_usec; /* microseconds since the Unix epoch (UTC) */
        const char *migration;     /* "source" or "target" of a volume two nodes hold; NULL */
} CtlAttachment;

/* Marks the rows of each volume that two nodes hold (adjacent in List's order, oldest first)
 * as its migration's "source" and "target". */
void ctl_format_mark_migrations(CtlAttachment *rows, size_t n_rows);

typedef enum {
        CTL_JSON_OFF,
        CTL_JSON_SHORT,
        CTL_JSON_PRETTY,
} CtlJsonMode;

/* "Thu 2026-11-26 13:07:03 UTC" in local time, as systemd prints timestamps. */
char *ctl_format_timestamp(uint64_t usec);
/* "2min 3s ago", "1h 5min left", "now": the distance between `usec` and `now_usec`. */
char *ctl_format_timespan_relative(uint64_t usec, uint64_t now_usec);
/* "Thu 2026-11-26 13:07:03 UTC; 2min 3s ago", as systemctl status prints "since". */
char *ctl_format_timestamp_full(uint64_t usec, uint64_t now_usec);
/* "2026-11-26T13:07:03.123456Z": RFC 3339 in UTC with microseconds. */
char *ctl_format_rfc3339(uint64_t usec);

/* The VOLUME NODE ATTACHED table; `legend` adds the header and the "N attachments listed."
 * footer. A migrating row ends in "[shared: source]" or "[shared: target]", explained by a
 * line of the footer. Appends to `out`. */
void ctl_format_table(GString *out, const CtlAttachment *rows, size_t n_rows, gboolean legend,
                      uint64_t now_usec);
/* A JSON array of {"volume", "node", "attached_at_usec", "attached_at"} objects, one line for
 * CTL_JSON_SHORT, indented for CTL_JSON_PRETTY; ends with a newline. */
char *ctl_format_json_list(const CtlAttachment *rows, size_t n_rows, CtlJsonMode mode);
/* One such object; a row of a migrating volume also has "migration": "source"/"target". */
char *ctl_format_json_one(const CtlAttachment *row, CtlJsonMode mode);
/* get: the first node's object; with a second node (`target`, may be NULL) also "target":
 * that node's object. */
char *ctl_format_json_get(const CtlAttachment *row, const CtlAttachment *target, CtlJsonMode mode);
/* What `attachmentctl monitor` shows: one signal or watch-state change of the daemon. */
typedef enum {
        CTL_EVENT_ATTACHED,
        CTL_EVENT_DETACHED,
        CTL_EVENT_MIGRATION_OVERDUE,
        CTL_EVENT_WATCH,
} CtlEventKind;

typedef struct {
        CtlEventKind kind;
        uint64_t time_usec;      /* when attachmentctl received it */
        const char *volume;      /* all but CTL_EVENT_WATCH */
        const char *node;        /* the node; MIGRATION_OVERDUE: the source node */
        const char *target_node; /* MIGRATION_OVERDUE */
        const char *state;       /* WATCH: the new WatchState */
        uint64_t at_usec;        /* ATTACHED: attached at; MIGRATION_OVERDUE: started;
                                    WATCH: WatchSince (0: unknown) */
} CtlEvent;

/* "2026-12-01 20:41:07.123": local time with milliseconds. */
char *ctl_format_local_msec(uint64_t usec);
/* "2026-12-01T20:41:07.123+01:00": RFC 3339 in local time with milliseconds. */
char *ctl_format_rfc3339_local_msec(uint64_t usec);
/* "2026-12-01 20:41:07.123  attached  pv-1  node-1\n": the monitor's line for `e`. */
char *ctl_format_event_line(const CtlEvent *e);
/* The monitor's JSON object for `e`: "time" (RFC 3339 local, ms), "event" ("attached",
 * "detached", "migration-overdue", "watch") and the event's own members; ends with a
 * newline, one line unless `mode` is CTL_JSON_PRETTY. */
char *ctl_format_event_json(const CtlEvent *e, CtlJsonMode mode);

/* "label: value" lines with right-aligned labels, as hostnamectl prints them: `pairs` is a
 * NULL-terminated list of label, value, label, value... Appends to `out`. */
void ctl_format_fields(GString *out, const char *const *pairs);
