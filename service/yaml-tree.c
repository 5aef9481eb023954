/* SPDX-License-Identifier: MIT */
#include "yaml-tree.h"

#include <string.h>
#include <yaml.h>

typedef struct {
        YamlTree *node;
        GHashTable *keys; /* MAPPING: the keys seen so far (borrowed strings) */
        char *anchor;     /* registered when the collection closes */
} Frame;

typedef struct {
        yaml_parser_t parser;
        GArray *stack;       /* Frame: the open collections */
        GHashTable *anchors; /* name -> completed YamlTree (borrowed from the tree) */
        YamlTree *root;
        guint nodes;
        guint aliases;
        gboolean done;
} Builder;

static gboolean fail(GError **error, guint line, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean fail(GError **error, guint line, const char *format, ...)
{
        g_autofree char *what = NULL;
        va_list ap;

        va_start(ap, format);
        what = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE, "line %u: %s", line, what);
        return FALSE;
}

void yaml_tree_free(YamlTree *self)
{
        if (self == NULL)
                return;
        /* Scalars may be credentials (a kubeconfig's token or client-key-data). */
        if (self->text != NULL)
                memset(self->text, 0, strlen(self->text));
        g_free(self->text);
        if (self->kids != NULL)
                g_ptr_array_unref(self->kids);
        g_free(self);
}

static YamlTree *node_new(Builder *b, YamlTreeKind kind, guint line, GError **error)
{
        YamlTree *node;

        if (++b->nodes > YAML_TREE_MAX_NODES) {
                fail(error, line, "more than %u nodes", YAML_TREE_MAX_NODES);
                return NULL;
        }
        node = g_new0(YamlTree, 1);
        node->kind = kind;
        node->line = line;
        if (kind != YAML_TREE_SCALAR)
                node->kids = g_ptr_array_new_with_free_func((GDestroyNotify)yaml_tree_free);
        return node;
}

/* An alias becomes a copy: every copied node counts, so expansion stays within the budget. */
static YamlTree *node_copy(Builder *b, const YamlTree *src, guint line, GError **error)
{
        g_autoptr(YamlTree) copy = node_new(b, src->kind, line, error);

        if (copy == NULL)
                return NULL;
        copy->text = g_strdup(src->text);
        copy->plain = src->plain;
        for (guint i = 0; src->kids != NULL && i < src->kids->len; i++) {
                YamlTree *kid = node_copy(b, src->kids->pdata[i], line, error);

                if (kid == NULL)
                        return NULL;
                g_ptr_array_add(copy->kids, kid);
        }
        return g_steal_pointer(&copy);
}

/* Hands `node` (owned) to the open collection, or makes it the root. */
static gboolean attach(Builder *b, YamlTree *node, GError **error)
{
        Frame *top;

        if (b->stack->len == 0) {
                b->root = node;
                return TRUE;
        }
        top = &g_array_index(b->stack, Frame, b->stack->len - 1);
        if (top->node->kind == YAML_TREE_MAPPING && top->node->kids->len % 2 == 0) {
                if (node->kind != YAML_TREE_SCALAR) {
                        yaml_tree_free(node);
                        return fail(error, top->node->line, "a mapping key must be a scalar");
                }
                if (!g_hash_table_add(top->keys, node->text)) {
                        gboolean ok = fail(error, node->line, "duplicate key \"%s\"", node->text);

                        yaml_tree_free(node);
                        return ok;
                }
        }
        g_ptr_array_add(top->node->kids, node);
        return TRUE;
}

static gboolean remember(Builder *b, const yaml_char_t *anchor, YamlTree *node)
{
        if (anchor != NULL)
                g_hash_table_replace(b->anchors, g_strdup((const char *)anchor), node);
        return TRUE;
}

static gboolean open_collection(Builder *b, YamlTreeKind kind, const yaml_char_t *anchor,
                                guint line, GError **error)
{
        YamlTree *node;
        Frame frame = {0};

        if (b->stack->len >= YAML_TREE_MAX_DEPTH)
                return fail(error, line, "nested deeper than %u levels", YAML_TREE_MAX_DEPTH);
        node = node_new(b, kind, line, error);
        if (node == NULL || !attach(b, node, error))
                return FALSE;
        frame.node = node;
        if (kind == YAML_TREE_MAPPING)
                frame.keys = g_hash_table_new(g_str_hash, g_str_equal);
        /* Registered only once complete: an alias inside its own anchor is "unknown". */
        if (anchor != NULL) {
                frame.anchor = g_strdup((const char *)anchor);
                g_hash_table_remove(b->anchors, anchor);
        }
        g_array_append_val(b->stack, frame);
        return TRUE;
}

static void close_collection(Builder *b, gboolean complete)
{
        Frame *top = &g_array_index(b->stack, Frame, b->stack->len - 1);

        if (top->keys != NULL)
                g_hash_table_unref(top->keys);
        if (complete)
                remember(b, (const yaml_char_t *)top->anchor, top->node);
        g_free(top->anchor);
        g_array_set_size(b->stack, b->stack->len - 1);
}

static gboolean on_scalar(Builder *b, const yaml_event_t *ev, guint line, GError **error)
{
        YamlTree *node = node_new(b, YAML_TREE_SCALAR, line, error);

        if (node == NULL)
                return FALSE;
        node->text = g_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        node->plain =
            ev->data.scalar.plain_implicit && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return attach(b, node, error) && remember(b, ev->data.scalar.anchor, node);
}

static gboolean on_alias(Builder *b, const yaml_event_t *ev, guint line, GError **error)
{
        const char *name = (const char *)ev->data.alias.anchor;
        const YamlTree *target = g_hash_table_lookup(b->anchors, name);
        YamlTree *copy;

        if (++b->aliases > YAML_TREE_MAX_ALIASES)
                return fail(error, line, "more than %u aliases", YAML_TREE_MAX_ALIASES);
        if (target == NULL)
                return fail(error, line, "alias *%s names no complete anchor", name);
        copy = node_copy(b, target, line, error);
        return copy != NULL && attach(b, copy, error);
}

static gboolean on_event(Builder *b, const yaml_event_t *ev, GError **error)
{
        guint line = (guint)ev->start_mark.line + 1;

        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                return on_scalar(b, ev, line, error);
        case YAML_ALIAS_EVENT:
                return on_alias(b, ev, line, error);
        case YAML_SEQUENCE_START_EVENT:
                return open_collection(b, YAML_TREE_SEQUENCE, ev->data.sequence_start.anchor, line,
                                       error);
        case YAML_MAPPING_START_EVENT:
                return open_collection(b, YAML_TREE_MAPPING, ev->data.mapping_start.anchor, line,
                                       error);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                close_collection(b, TRUE);
                return TRUE;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
                /* Only the first document counts, as for kubectl. */
                b->done = TRUE;
                return TRUE;
        default:
                return TRUE;
        }
}

static void builder_clear(Builder *b)
{
        while (b->stack->len > 0)
                close_collection(b, FALSE);
        g_array_unref(b->stack);
        g_hash_table_unref(b->anchors);
        yaml_parser_delete(&b->parser);
}

static gboolean run(Builder *b, GError **error)
{
        while (!b->done) {
                yaml_event_t ev;
                gboolean ok;

                if (!yaml_parser_parse(&b->parser, &ev))
                        return fail(error, (guint)b->parser.problem_mark.line + 1, "%s%s%s",
                                    b->parser.problem != NULL ? b->parser.problem : "invalid YAML",
                                    b->parser.context != NULL ? " " : "",
                                    b->parser.context != NULL ? b->parser.context : "");
                ok = on_event(b, &ev, error);
                yaml_event_delete(&ev);
                if (!ok)
                        return FALSE;
        }
        return TRUE;
}

YamlTree *yaml_tree_parse(const char *data, gsize length, GError **error)
{
        Builder b = {0};
        gboolean ok;

        if (length > YAML_TREE_MAX_BYTES) {
                fail(error, 1, "larger than %u bytes", YAML_TREE_MAX_BYTES);
                return NULL;
        }
        if (!yaml_parser_initialize(&b.parser)) {
                fail(error, 1, "out of memory");
                return NULL;
        }
        yaml_parser_set_input_string(&b.parser, (const unsigned char *)data, length);
        b.stack = g_array_new(FALSE, FALSE, sizeof(Frame));
        b.anchors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        ok = run(&b, error);
        builder_clear(&b);
        if (!ok) {
                yaml_tree_free(b.root);
                return NULL;
        }
        if (b.root == NULL) {
                b.root = g_new0(YamlTree, 1);
                b.root->kind = YAML_TREE_MAPPING;
                b.root->line = 1;
                b.root->kids = g_ptr_array_new_with_free_func((GDestroyNotify)yaml_tree_free);
        }
        return b.root;
}

const YamlTree *yaml_tree_get(const YamlTree *map, const char *key)
{
        if (map == NULL || map->kind != YAML_TREE_MAPPING)
                return NULL;
        for (guint i = 0; i + 1 < map->kids->len; i += 2) {
                const YamlTree *k = map->kids->pdata[i];

                if (g_str_equal(k->text, key))
                        return map->kids->pdata[i + 1];
        }
        return NULL;
}

gboolean yaml_tree_is_null(const YamlTree *node)
{
        return node != NULL && node->kind == YAML_TREE_SCALAR && node->plain &&
               (node->text[0] == '\0' || g_str_equal(node->text, "~") ||
                g_ascii_strcasecmp(node->text, "null") == 0);
}
