/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "store.h"

/* Store=none: the table is the only copy, so every write succeeds at once and a restart starts
 * empty. */

static gboolean none_load(Store *self, StoreLoadFunc func, gpointer user_data, GError **error)
{
        return TRUE;
}

/* The table holds the only copy and decides (the caller's word on shareability). */
static gboolean none_apply(Store *self, const char *volume, const HoldingRequest *req,
                           Holding *seen, GError **error)
{
        return TRUE;
}

static void none_free(Store *self)
{
        g_free(self);
}

static const StoreClass none_class = {
    .name = "none",
    .needs_io = FALSE,
    .load = none_load,
    .apply = none_apply,
    .free = none_free,
};

Store *store_none_new(void)
{
        Store *self = g_new0(Store, 1);

        self->klass = &none_class;
        return self;
}
