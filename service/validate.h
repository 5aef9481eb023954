/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "errors.h"

#define VALIDATE_ID_MAX 253
#define VALIDATE_LABEL_MAX 63

/* Checks that `id` is a DNS-1123 subdomain: 1..253 bytes of lowercase alphanumerics, '-' and
 * '.', starting and ending alphanumeric, every dot-separated label 1..63 bytes.
 * `what` names the argument in the message ("volume id", "node id"). On failure sets
 * ATTACHMENT_ERROR_INVALID_ARGS with a message that says what is wrong, e.g.
 * "node id 'Node_1': character '_' not allowed". Long ids are shortened in the message. */
gboolean validate_id(const char *what, const char *id, GError **error);
