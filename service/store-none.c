/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "store.h"

/* Store=none: the table is the only copy, so every write succeeds at once and a restart starts
 * empty. */

static gboolean none_load(Store *self, StoreLoadFunc func, gpointer user_data, GError **error)
{
        return TRUE;
}

static gboolean none_put(Store *self, const char *volume, const char *node,
                         gint64 *attached_at_usec, char **holder, GError **error)
{
        return TRUE;
}

static gboolean none_remove(Store *self, const char *volume, const char *node, char **cleared,
                            GError **error)
{
        if (cleared != NULL)
                *cleared = g_strdup(node);
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
    .put = none_put,
    .remove = none_remove,
    .free = none_free,
};

Store *store_none_new(void)
{
        Store *self = g_new0(Store, 1);

        self->klass = &none_class;
        return self;
}
