/* SPDX-License-Identifier: MIT */
#pragma once

/* Every name of org.srvlab.Attachment1 (dbus/org.srvlab.Attachment1.xml) and of the PV
 * annotations it writes (DESIGN §3, §5), in one place: the daemon, attachmentctl, the bench
 * driver and the tests include this header instead of retyping the strings. */

#define BUS_NAME "org.srvlab.Attachment1"
#define BUS_PATH "/org/srvlab/Attachment1"
#define BUS_INTERFACE "org.srvlab.Attachment1"

/* Error names: the daemon maps AttachmentError codes to them (service/bus.c). */
#define BUS_ERROR_PREFIX BUS_INTERFACE ".Error."
#define BUS_ERROR_ALREADY_ATTACHED BUS_ERROR_PREFIX "AlreadyAttached"
#define BUS_ERROR_NOT_ATTACHED BUS_ERROR_PREFIX "NotAttached"
#define BUS_ERROR_VOLUME_NOT_FOUND BUS_ERROR_PREFIX "VolumeNotFound"
#define BUS_ERROR_STORE_FAILED BUS_ERROR_PREFIX "StoreFailed"
#define BUS_ERROR_SHUTTING_DOWN BUS_ERROR_PREFIX "ShuttingDown"
#define BUS_ERROR_NOT_SHAREABLE BUS_ERROR_PREFIX "NotShareable"

/* The standard names the daemon answers with (the same strings as sd-bus's SD_BUS_ERROR_*,
 * for clients that do not include sd-bus). */
#define DBUS_ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
#define DBUS_ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define DBUS_ERROR_LIMITS_EXCEEDED "org.freedesktop.DBus.Error.LimitsExceeded"

/* Annotation keys on a PV: <Driver> followed by one of these suffixes. */
#define ANNOTATION_SUFFIX_NODE "/attached-node"
#define ANNOTATION_SUFFIX_AT "/attached-at"
/* Shared attachments (DESIGN §9): "shared" when held in shared mode (absent: exclusive), and
 * the second node with the time it attached. */
#define ANNOTATION_SUFFIX_MODE "/attach-mode"
#define ANNOTATION_MODE_SHARED "shared"
#define ANNOTATION_SUFFIX_TARGET "/migration-target-node"
#define ANNOTATION_SUFFIX_TARGET_AT "/migration-started-at"
