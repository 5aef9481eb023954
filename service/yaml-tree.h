/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* A YAML document as a small tree, built with libyaml's event parser under hard bounds, for
 * reading configuration written by other tools (kubeconfig). Aliases are expanded into copies
 * counted against the node budget, so a "billion laughs" document fails instead of growing;
 * duplicate mapping keys and non-scalar keys are refused, so every lookup has one answer. */
typedef enum {
        YAML_TREE_SCALAR,
        YAML_TREE_SEQUENCE,
        YAML_TREE_MAPPING,
} YamlTreeKind;

typedef struct _YamlTree YamlTree;
struct _YamlTree {
        YamlTreeKind kind;
        char *text;      /* SCALAR: the value, UTF-8 */
        gboolean plain;  /* SCALAR: unquoted (null, booleans are only plain) */
        GPtrArray *kids; /* SEQUENCE: items; MAPPING: key, value, key, value... */
        guint line;      /* 1-based, for messages */
};

#define YAML_TREE_MAX_BYTES (1024u * 1024)
#define YAML_TREE_MAX_NODES 200000u
#define YAML_TREE_MAX_DEPTH 32u
#define YAML_TREE_MAX_ALIASES 16u

/* Parses the first document of `data`. An empty stream gives an empty mapping. Errors say
 * what is wrong and where ("line 3: duplicate key \"users\""), in G_MARKUP_ERROR
 * (G_MARKUP_ERROR_PARSE); the caller prefixes the file name. */
YamlTree *yaml_tree_parse(const char *data, gsize length, GError **error);
void yaml_tree_free(YamlTree *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(YamlTree, yaml_tree_free)

/* MAPPING: the value of `key`, or NULL (also for other kinds). */
const YamlTree *yaml_tree_get(const YamlTree *map, const char *key);
/* A scalar that YAML 1.1 reads as null: "", "~", "null" (plain only). */
gboolean yaml_tree_is_null(const YamlTree *node);
