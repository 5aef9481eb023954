/* SPDX-License-Identifier: MIT */
#include "bus-callers.h"

#include <grp.h>

#include "errors.h"

struct _BusCallers {
        GHashTable *by_name; /* unique name -> Caller* */
        gboolean have_group;
        gid_t allowed_gid;
};

static void resolve_group(BusCallers *self, const char *name)
{
        struct group grp, *result = NULL;
        char buf[4096];

        if (name == NULL || name[0] == '\0')
                return;
        if (getgrnam_r(name, &grp, buf, sizeof(buf), &result) == 0 && result != NULL) {
                self->have_group = TRUE;
                self->allowed_gid = result->gr_gid;
        } else {
                g_warning("AllowedGroup=%s: no such group; only root may Track and Untrack", name);
        }
}

BusCallers *bus_callers_new(const char *allowed_group)
{
        BusCallers *self = g_new0(BusCallers, 1);

        self->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        resolve_group(self, allowed_group);
        return self;
}

void bus_callers_free(BusCallers *self)
{
        if (self != NULL)
                g_hash_table_unref(self->by_name);
        g_free(self);
}

void bus_callers_forget(BusCallers *self, const char *unique_name)
{
        g_hash_table_remove(self->by_name, unique_name);
}

static gboolean creds_allowed(BusCallers *self, sd_bus_creds *creds, uid_t uid)
{
        const gid_t *gids = NULL;
        gid_t egid;
        int n;

        if (uid == 0)
                return TRUE;
        if (!self->have_group)
                return FALSE;
        if ((sd_bus_creds_get_egid(creds, &egid) >= 0 || sd_bus_creds_get_gid(creds, &egid) >= 0) &&
            egid == self->allowed_gid)
                return TRUE;
        n = sd_bus_creds_get_supplementary_gids(creds, &gids);
        for (int i = 0; i < n; i++) {
                if (gids[i] == self->allowed_gid)
                        return TRUE;
        }
        return FALSE;
}

const Caller *bus_callers_lookup(BusCallers *self, sd_bus_message *m, GError **error)
{
        const char *sender = sd_bus_message_get_sender(m);
        __attribute__((cleanup(sd_bus_creds_unrefp))) sd_bus_creds *creds = NULL;
        Caller *caller;
        uid_t uid;
        int r;

        caller = g_hash_table_lookup(self->by_name, sender ? sender : "");
        if (caller != NULL)
                return caller;

        r = sd_bus_query_sender_creds(m,
                                      SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_EGID |
                                          SD_BUS_CREDS_GID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                          SD_BUS_CREDS_AUGMENT,
                                      &creds);
        if (r >= 0 && sd_bus_creds_get_euid(creds, &uid) < 0)
                r = sd_bus_creds_get_uid(creds, &uid);
        if (r < 0) {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_ACCESS_DENIED,
                            "cannot determine the caller's credentials: %s", g_strerror(-r));
                return NULL;
        }
        caller = g_new(Caller, 1);
        *caller = (Caller){.uid = uid, .allowed = creds_allowed(self, creds, uid)};
        /* A direct (busless) connection has one peer and no sender name: key it as "". */
        g_hash_table_replace(self->by_name, g_strdup(sender ? sender : ""), caller);
        return caller;
}
