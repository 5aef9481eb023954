/* SPDX-License-Identifier: MIT */
#pragma once

/* MESSAGE_ID= of every kind of message worth finding in the journal (`journalctl
 * MESSAGE_ID=...`), as in systemd's sd-messages.h: 128-bit ids, written once, never reused.
 * A journal catalog (issue 14) is keyed by these. */

/* Track, Untrack: the outcome of a call that changed state or failed. */
#define LOG_MESSAGE_TRACK_OK "bf230380c989434686c34e48c00bacf9"
#define LOG_MESSAGE_TRACK_FAILED "f1460baeac9640e9819632617e329fc3"
#define LOG_MESSAGE_UNTRACK_OK "c4315a5ec0e949738f3598843f919d9b"
#define LOG_MESSAGE_UNTRACK_FAILED "8486f940ca224c84bbcb23eca88631e5"
/* A caller that may not change attachments was refused. */
#define LOG_MESSAGE_REFUSED "862b056ef2ca45a885f07d2b55ea4979"
/* An attachment to a node that is gone was cleared (issue 13). */
#define LOG_MESSAGE_STALE_CLEARED "6a1fbb2e2ba04dc689ae0ac5c448ec1c"
/* The watch could not resume and the store was listed afresh (and reconciled). */
#define LOG_MESSAGE_WATCH_RELISTED "1dda891c3dee48d6b7f40337e9e19edc"
/* The watch ended and is resumed after a backoff. */
#define LOG_MESSAGE_WATCH_RESTARTED "8916d0cd86244b15b977fa9a72e86700"
/* The API server could not be reached (a list retried). */
#define LOG_MESSAGE_API_UNREACHABLE "dbb0b2d788c148b1b547233770a7a2cd"
/* A shared attachment's migration outlived MigrationTimeoutSec= (issue 13). */
#define LOG_MESSAGE_MIGRATION_OVERDUE "b336cdcd2fdd4bbeb832781f4168d2d3"
/* A Track answered with an error whose write landed anyway was undone (or undoing failed). */
#define LOG_MESSAGE_WRITE_UNDONE "b34ce3d6678b4389896c351185e95934"
/* A Track failed with its last write's answer lost: watched for, to undo it if it lands. */
#define LOG_MESSAGE_WRITE_IN_DOUBT "0b91ca4e9d58485e939304ee9d7711e5"
/* A write whose answer was lost turned out applied. */
#define LOG_MESSAGE_WRITE_LOST_APPLIED "50df9b757c5a4ada96e9fa3d6b841618"
/* A PV's annotation could not be read (e.g. attached-at; now is used). */
#define LOG_MESSAGE_BAD_ANNOTATION "30de1c48664842d787dadc8839d07f30"
/* Two PVs of the driver name the same volume: one is ignored. */
#define LOG_MESSAGE_VOLUME_CONFLICT "fb8d1898a84847b58fbe2b806562851d"
