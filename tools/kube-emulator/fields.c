/* Field selectors as the API server takes them on LIST and WATCH: terms "label=value",
 * "label==value" or "label!=value" joined by commas, values escaped with '\' (fields.EscapeValue:
 * "\\", "\,", "\="), each label one the kind supports, else 400. */
#include "emulator.h"

#include <gio/gio.h>
#include <string.h>

typedef struct {
        char *label;
        char *value;
        gboolean negate;
} FieldTerm;

struct FieldSelector {
        GPtrArray *terms;      /* FieldTerm * */
        gboolean needs_object; /* a label other than metadata.name/namespace */
};

static void term_free(FieldTerm *term)
{
        g_free(term->label);
        g_free(term->value);
        g_free(term);
}

void field_selector_free(FieldSelector *sel)
{
        if (sel == NULL)
                return;
        g_ptr_array_unref(sel->terms);
        g_free(sel);
}

static gboolean label_supported(const ResourceKind *kind, const char *label)
{
        if (strcmp(label, "metadata.name") == 0)
                return TRUE;
        if (kind->namespaced && strcmp(label, "metadata.namespace") == 0)
                return TRUE;
        for (const char *const *l = kind->field_labels; l != NULL && *l != NULL; l++)
                if (strcmp(*l, label) == 0)
                        return TRUE;
        return FALSE;
}

/* Splits @text at unescaped @sep characters, keeping the escapes. */
static GPtrArray *split_unescaped(const char *text, char sep)
{
        GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
        GString *part = g_string_new(NULL);

        for (const char *c = text; *c != '\0'; c++) {
                if (*c == '\\' && c[1] != '\0') {
                        g_string_append_c(part, *c++);
                        g_string_append_c(part, *c);
                } else if (*c == sep) {
                        g_ptr_array_add(parts, g_string_free(part, FALSE));
                        part = g_string_new(NULL);
                } else {
                        g_string_append_c(part, *c);
                }
        }
        g_ptr_array_add(parts, g_string_free(part, FALSE));
        return parts;
}

static char *unescape(const char *text)
{
        GString *out = g_string_new(NULL);

        for (const char *c = text; *c != '\0'; c++) {
                if (*c == '\\' && c[1] != '\0')
                        c++;
                g_string_append_c(out, *c);
        }
        return g_string_free(out, FALSE);
}

static FieldTerm *parse_term(const char *text, GError **error)
{
        FieldTerm *term;
        const char *op = NULL;
        gsize op_len = 1;

        for (const char *c = text; *c != '\0' && op == NULL; c++) {
                if (*c == '\\' && c[1] != '\0')
                        c++;
                else if (c[0] == '!' && c[1] == '=')
                        op = c, op_len = 2;
                else if (c[0] == '=')
                        op = c, op_len = c[1] == '=' ? 2 : 1;
        }
        if (op == NULL || op == text) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            "invalid selector: '%s'; can't understand '%s'", text, text);
                return NULL;
        }
        term = g_new0(FieldTerm, 1);
        term->label = g_strndup(text, (gsize)(op - text));
        term->value = unescape(op + op_len);
        term->negate = op[0] == '!';
        return term;
}

FieldSelector *field_selector_parse(const ResourceKind *kind, const char *text, GError **error)
{
        g_autoptr(GPtrArray) parts = NULL;
        g_autoptr(FieldSelector) sel = NULL;

        if (text == NULL || *text == '\0')
                return NULL;
        sel = g_new0(FieldSelector, 1);
        sel->terms = g_ptr_array_new_with_free_func((GDestroyNotify)term_free);
        parts = split_unescaped(text, ',');
        for (guint i = 0; i < parts->len; i++) {
                FieldTerm *term = parse_term(parts->pdata[i], error);

                if (term == NULL)
                        return NULL;
                g_ptr_array_add(sel->terms, term);
                if (!label_supported(kind, term->label)) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                    "field label not supported: %s", term->label);
                        return NULL;
                }
                sel->needs_object =
                    sel->needs_object || (strcmp(term->label, "metadata.name") != 0 &&
                                          strcmp(term->label, "metadata.namespace") != 0);
        }
        return g_steal_pointer(&sel);
}

/* The member at a dotted path as the selector compares it: strings as they are, numbers and
 * booleans in their JSON form, anything missing as "". */
static char *member_at(JsonObject *root, const char *label)
{
        g_auto(GStrv) parts = g_strsplit(label, ".", -1);
        JsonNode *node = NULL;
        JsonObject *obj = root;

        for (guint i = 0; parts[i] != NULL; i++) {
                node = obj != NULL ? json_object_get_member(obj, parts[i]) : NULL;
                obj = node != NULL && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node)
                                                                   : NULL;
        }
        if (node == NULL || !JSON_NODE_HOLDS_VALUE(node))
                return g_strdup("");
        if (json_node_get_value_type(node) == G_TYPE_STRING)
                return g_strdup(json_node_get_string(node));
        return json_node_to_compact(node, NULL);
}

static char *key_value(StoredPv *pv, const char *label)
{
        if (strcmp(label, "metadata.name") == 0)
                return g_strdup(stored_name(pv));
        if (strcmp(label, "metadata.namespace") == 0 && strchr(pv->name, '/') != NULL)
                return g_strndup(pv->name, (gsize)(strchr(pv->name, '/') - pv->name));
        return NULL;
}

gboolean field_selector_matches(const FieldSelector *sel, const ResourceKind *kind, StoredPv *pv)
{
        g_autoptr(JsonNode) node = NULL;
        JsonObject *root = NULL;

        if (sel == NULL)
                return TRUE;
        if (sel->needs_object) {
                node = store_parse(pv);
                root = json_node_get_object(node);
        }
        for (guint i = 0; i < sel->terms->len; i++) {
                const FieldTerm *term = sel->terms->pdata[i];
                g_autofree char *value = key_value(pv, term->label);

                if (value == NULL && kind->field_value != NULL)
                        value = kind->field_value(root, term->label);
                if (value == NULL)
                        value = member_at(root, term->label);
                if ((strcmp(value, term->value) == 0) == term->negate)
                        return FALSE;
        }
        return TRUE;
}

gboolean field_selector_filter(StoredPv *pv, gpointer user_data)
{
        const FieldSelectorFilter *f = user_data;

        return field_selector_matches(f->sel, f->kind, pv);
}
