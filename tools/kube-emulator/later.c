/* The apply-later fault: a write answered at once (a dropped connection, an error Status) and
 * applied some milliseconds later, as by an API server that had it queued when the client gave
 * up. Its precondition (a resourceVersion in the body) is checked when it lands. */
#include "emulator.h"

typedef struct {
        Emulator *emu;
        Resource *res;
        Verb verb;
        char *ns;
        char *name;
        char *content_type;
        GBytes *body;
        guint source_id;
} Later;

static void later_free(Later *later)
{
        g_clear_handle_id(&later->source_id, g_source_remove);
        g_free(later->ns);
        g_free(later->name);
        g_free(later->content_type);
        g_bytes_unref(later->body);
        g_free(later);
}

static gboolean on_apply(gpointer user_data)
{
        Later *later = user_data;
        Call call = {
            .ns = later->ns,
            .name = later->name,
            .content_type = later->content_type,
        };
        gsize len = 0;

        call.body = g_bytes_get_data(later->body, &len);
        call.body_len = len;
        later->source_id = 0;
        /* No message: the write's answer goes nowhere, its watch event to every stream. */
        api_call(later->res, later->verb, &call);
        g_ptr_array_remove_fast(later->emu->later, later);
        return G_SOURCE_REMOVE;
}

void later_schedule(Emulator *emu, Resource *res, Verb verb, const Call *call, guint ms)
{
        Later *later = g_new0(Later, 1);

        later->emu = emu;
        later->res = res;
        later->verb = verb;
        later->ns = g_strdup(call->ns);
        later->name = g_strdup(call->name);
        later->content_type = g_strdup(call->content_type);
        later->body = g_bytes_new(call->body, call->body_len);
        later->source_id = g_timeout_add(ms, on_apply, later);
        if (emu->later == NULL)
                emu->later = g_ptr_array_new_with_free_func((GDestroyNotify)later_free);
        g_ptr_array_add(emu->later, later);
}

/* Writes still pending at exit never land. */
void later_free_all(Emulator *emu)
{
        g_clear_pointer(&emu->later, g_ptr_array_unref);
}
