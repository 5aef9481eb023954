/* SPDX-License-Identifier: MIT */
#include "config-build.h"

#include "validate.h"

#include <string.h>

/* How much of an id a message shows: enough to recognise it, short enough for a log line. */
#define SHOWN_MAX 64

/* Ids come straight from callers and may hold any byte; messages go back over D-Bus, which
 * requires UTF-8, so everything but printable ASCII is shown as \xNN. */
static void append_byte(GString *out, guchar c)
{
        if (g_ascii_isprint(c))
                g_string_append_c(out, (char)c);
        else
                g_string_append_printf(out, "\\x%02x", c);
}

static char *shown(const char *s, gsize len)
{
        GString *out = g_string_new(NULL);

        for (gsize i = 0; i < len && i < SHOWN_MAX; i++)
                append_byte(out, (guchar)s[i]);
        if (len > SHOWN_MAX)
                g_string_append(out, "…");
        return g_string_free(out, FALSE);
}

static gboolean fail(GError **error, const char *what, const char *id, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean fail(GError **error, const char *what, const char *id, const char *fmt, ...)
{
        g_autofree char *id_shown = shown(id, strlen(id));
        g_autofree char *reason = NULL;
        va_list ap;

        va_start(ap, fmt);
        reason = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_INVALID_ARGS, "%s '%s': %s", what,
                    id_shown, reason);
        return FALSE;
}

static gboolean is_allowed(guchar c)
{
        return g_ascii_isalnum(c) || c == '-' || c == '.';
}

static gboolean check_characters(const char *what, const char *id, GError **error)
{
        for (const char *p = id; *p != '\0'; p++) {
                g_autoptr(GString) c = NULL;

                if (is_allowed((guchar)*p))
                        continue;
                c = g_string_new(NULL);
                append_byte(c, (guchar)*p);
                return fail(error, what, id, "character '%s' not allowed", c->str);
        }
        for (const char *p = id; *p != '\0'; p++) {
                if (g_ascii_isupper(*p))
                        return fail(error, what, id,
                                    "uppercase letter '%c' not allowed, use lowercase", *p);
        }
        return TRUE;
}

static gboolean check_labels(const char *what, const char *id, GError **error)
{
        const char *label = id;

        for (;;) {
                const char *dot = strchr(label, '.');
                gsize len = dot != NULL ? (gsize)(dot - label) : strlen(label);

                if (len == 0)
                        return fail(error, what, id, "empty label ('..') not allowed");
                if (len > VALIDATE_LABEL_MAX) {
                        g_autofree char *label_shown = shown(label, len);

                        return fail(error, what, id,
                                    "label '%s' is %zu bytes long, at most %d allowed", label_shown,
                                    len, VALIDATE_LABEL_MAX);
                }
                /* Kubernetes (IsDNS1123Subdomain) wants this of every label, not only the ends. */
                if (!g_ascii_isalnum(label[0]) || !g_ascii_isalnum(label[len - 1])) {
                        g_autofree char *label_shown = shown(label, len);

                        return fail(error, what, id,
                                    "label '%s' must start and end with a lowercase letter or "
                                    "a digit",
                                    label_shown);
                }
                if (dot == NULL)
                        return TRUE;
                label = dot + 1;
        }
}

gboolean validate_id(const char *what, const char *id, GError **error)
{
        gsize len;

        g_return_val_if_fail(what != NULL, FALSE);

        if (id == NULL || *id == '\0') {
                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_INVALID_ARGS, "%s is empty",
                            what);
                return FALSE;
        }
        len = strlen(id);
        if (len > VALIDATE_ID_MAX) {
                g_autofree char *id_shown = shown(id, len);

                g_set_error(error, ATTACHMENT_ERROR, ATTACHMENT_ERROR_INVALID_ARGS,
                            "%s '%s' is %zu bytes long, at most %d allowed", what, id_shown, len,
                            VALIDATE_ID_MAX);
                return FALSE;
        }
        if (!check_characters(what, id, error))
                return FALSE;
        if (!g_ascii_isalnum(id[0]))
                return fail(error, what, id, "must start with a lowercase letter or a digit");
        if (!g_ascii_isalnum(id[len - 1]))
                return fail(error, what, id, "must end with a lowercase letter or a digit");
        return check_labels(what, id, error);
}
