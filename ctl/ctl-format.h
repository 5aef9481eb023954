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
} CtlAttachment;

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
 * footer. Appends to `out`. */
void ctl_format_table(GString *out, const CtlAttachment *rows, size_t n_rows, gboolean legend,
                      uint64_t now_usec);
/* A JSON array of {"volume", "node", "attached_at_usec", "attached_at"} objects, one line for
 * CTL_JSON_SHORT, indented for CTL_JSON_PRETTY; ends with a newline. */
char *ctl_format_json_list(const CtlAttachment *rows, size_t n_rows, CtlJsonMode mode);
/* One such object. */
char *ctl_format_json_one(const CtlAttachment *row, CtlJsonMode mode);
/* "label: value" lines with right-aligned labels, as hostnamectl prints them: `pairs` is a
 * NULL-terminated list of label, value, label, value... Appends to `out`. */
void ctl_format_fields(GString *out, const char *const *pairs);
