/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "manager.h"

/* The List method's replies (bus thread only): built in slices at low priority when the
 * table is large, so that readers cannot starve Track and Untrack. */
typedef struct _ListReplies ListReplies;

ListReplies *list_replies_new(sd_event *event, Manager *manager, GError **error);
/* Completes every List still being built. */
void list_replies_free(ListReplies *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ListReplies, list_replies_free)

/* Answers `call` (List): at once when the table fits one slice, else over several loop
 * iterations. `may_mutate`: the caller may Track/Untrack; others have a bound on pending
 * Lists. Returns 1 when answered or under way, 0 with `error` set (LIMITS_EXCEEDED) for the
 * caller to reply with, or a negative errno. */
int list_replies_answer(ListReplies *self, sd_bus_message *call, gboolean may_mutate,
                        GError **error);
