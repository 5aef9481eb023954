/* labelSelector of LIST and WATCH: the requirement syntax of k8s.io/apimachinery/pkg/labels
 * (key=v, key==v, key!=v, key, !key, key in (a,b), key notin (a,b), joined by commas). */
#include "emulator.h"

#include <gio/gio.h>
#include <string.h>

typedef enum {
        REQ_EQUALS,
        REQ_NOT_EQUALS,
        REQ_EXISTS,
        REQ_NOT_EXISTS,
        REQ_IN,
        REQ_NOT_IN,
} RequirementOp;

typedef struct {
        char *key;
        RequirementOp op;
        char **values; /* NULL-terminated; one for = and != */
} Requirement;

struct LabelSelector {
        GPtrArray *requirements; /* Requirement * */
};

static void requirement_free(gpointer data)
{
        Requirement *req = data;

        g_free(req->key);
        g_strfreev(req->values);
        g_free(req);
}

void label_selector_free(LabelSelector *sel)
{
        if (sel == NULL)
                return;
        g_ptr_array_unref(sel->requirements);
        g_free(sel);
}

/* The terms, split at commas outside parentheses. */
static GPtrArray *split_terms(const char *text)
{
        GPtrArray *terms = g_ptr_array_new_with_free_func(g_free);
        const char *start = text;
        int depth = 0;

        for (const char *p = text;; p++) {
                if (*p == '(')
                        depth++;
                else if (*p == ')')
                        depth--;
                if (*p == '\0' || (*p == ',' && depth == 0)) {
                        g_ptr_array_add(terms, g_strstrip(g_strndup(start, (gsize)(p - start))));
                        start = p + 1;
                }
                if (*p == '\0')
                        break;
        }
        return terms;
}

/* "key in (a, b)" / "key notin (a,b)"; FALSE if @term is not a set requirement. */
static gboolean parse_set(const char *term, Requirement *req)
{
        const char *open = strchr(term, '(');
        const char *close = strrchr(term, ')');
        g_auto(GStrv) words = NULL;
        g_autofree char *head = NULL, *inner = NULL;

        if (open == NULL || close == NULL || close < open || close[1] != '\0')
                return FALSE;
        head = g_strndup(term, (gsize)(open - term));
        words = g_strsplit_set(g_strstrip(head), " \t", -1);
        if (g_strv_length(words) != 2 ||
            (strcmp(words[1], "in") != 0 && strcmp(words[1], "notin") != 0))
                return FALSE;
        req->key = g_strdup(words[0]);
        req->op = strcmp(words[1], "in") == 0 ? REQ_IN : REQ_NOT_IN;
        inner = g_strndup(open + 1, (gsize)(close - open - 1));
        req->values = g_strsplit(inner, ",", -1);
        for (char **v = req->values; *v != NULL; v++)
                g_strstrip(*v);
        return TRUE;
}

static gboolean parse_term(const char *term, Requirement *req)
{
        const char *op;
        gsize skip = 1;

        if (parse_set(term, req))
                return TRUE;
        if ((op = strstr(term, "!=")) != NULL) {
                req->op = REQ_NOT_EQUALS;
                skip = 2;
        } else if ((op = strstr(term, "==")) != NULL) {
                req->op = REQ_EQUALS;
                skip = 2;
        } else if ((op = strchr(term, '=')) != NULL) {
                req->op = REQ_EQUALS;
        } else {
                req->op = term[0] == '!' ? REQ_NOT_EXISTS : REQ_EXISTS;
                req->key = g_strdup(term + (term[0] == '!'));
                g_strstrip(req->key);
                return *req->key != '\0' && strpbrk(req->key, " ()!") == NULL;
        }
        req->key = g_strstrip(g_strndup(term, (gsize)(op - term)));
        req->values = g_new0(char *, 2);
        req->values[0] = g_strstrip(g_strdup(op + skip));
        return *req->key != '\0' && strpbrk(req->key, " ()!=") == NULL &&
               strpbrk(req->values[0], " ()!=,") == NULL;
}

LabelSelector *label_selector_parse(const char *text, GError **error)
{
        g_autoptr(GPtrArray) terms = split_terms(text);
        LabelSelector *sel = g_new0(LabelSelector, 1);

        sel->requirements = g_ptr_array_new_with_free_func(requirement_free);
        for (guint i = 0; i < terms->len; i++) {
                Requirement *req = g_new0(Requirement, 1);
                const char *term = terms->pdata[i];

                g_ptr_array_add(sel->requirements, req);
                if (*term == '\0' && terms->len == 1)
                        break; /* "": everything */
                if (!parse_term(term, req)) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                    "unable to parse requirement: found '%s', expected: "
                                    "identifier",
                                    term);
                        label_selector_free(sel);
                        return NULL;
                }
        }
        return sel;
}

static gboolean requirement_matches(const Requirement *req, JsonObject *labels)
{
        const char *value = json_get_string_member(labels, req->key);

        switch (req->op) {
        case REQ_EXISTS:
                return value != NULL;
        case REQ_NOT_EXISTS:
                return value == NULL;
        case REQ_EQUALS:
        case REQ_IN:
                return value != NULL && g_strv_contains((const char *const *)req->values, value);
        case REQ_NOT_EQUALS:
        case REQ_NOT_IN:
                return value == NULL || !g_strv_contains((const char *const *)req->values, value);
        }
        return FALSE;
}

gboolean label_selector_matches(const LabelSelector *sel, const StoredPv *pv)
{
        g_autoptr(JsonNode) node = NULL;
        JsonObject *meta, *labels;

        if (sel == NULL)
                return TRUE;
        node = store_parse(pv);
        meta = json_get_object_member(json_node_get_object(node), "metadata");
        labels = json_get_object_member(meta, "labels");
        for (guint i = 0; i < sel->requirements->len; i++) {
                const Requirement *req = sel->requirements->pdata[i];

                if (req->key != NULL && !requirement_matches(req, labels))
                        return FALSE;
        }
        return TRUE;
}

gboolean label_selector_from_query(SoupServerMessage *msg, GHashTable *query, LabelSelector **sel)
{
        const char *text = query != NULL ? g_hash_table_lookup(query, "labelSelector") : NULL;
        g_autoptr(GError) error = NULL;

        *sel = NULL;
        if (text == NULL || *text == '\0')
                return TRUE;
        *sel = label_selector_parse(text, &error);
        if (*sel == NULL)
                send_status(msg, 400, "BadRequest", error->message, NULL);
        return *sel != NULL;
}
