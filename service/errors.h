/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* The one error domain below the bus layer. bus.c maps each code to a D-Bus error name
 * (names in common/names.h); nothing under service/ except bus.c knows D-Bus error names. */
#define ATTACHMENT_ERROR (attachment_error_quark())

typedef enum {
        ATTACHMENT_ERROR_INVALID_ARGS,     /* an id or argument is malformed */
        ATTACHMENT_ERROR_ALREADY_ATTACHED, /* the volume is held by another node */
        ATTACHMENT_ERROR_NOT_ATTACHED,     /* Get of an untracked volume */
        ATTACHMENT_ERROR_NOT_FOUND,        /* the store has no object (PV) for the volume */
        ATTACHMENT_ERROR_FAILED,           /* the store failed (HTTP status + API message) */
        ATTACHMENT_ERROR_ACCESS_DENIED,    /* caller may not change state */
        ATTACHMENT_ERROR_LIMITS_EXCEEDED,  /* more pending operations than QueueLimit */
        ATTACHMENT_ERROR_SHUTTING_DOWN,    /* the daemon is stopping and takes no new work */
        ATTACHMENT_ERROR_NOT_SHAREABLE,    /* shared mode on a PV that is not RWX Block */
        ATTACHMENT_N_ERRORS,               /* not a code: the count (bus.c's name table) */
} AttachmentError;

GQuark attachment_error_quark(void);
