/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* The daemon's configuration (DESIGN §4): /etc/srvlab/attachment.conf and, in lexical order,
 * attachment.conf.d/ *.conf beside it; a later file overrides an earlier one key by key. */
typedef enum {
        STORE_KIND_KUBERNETES,
        STORE_KIND_NONE,
} StoreKind;

/* The fields, one per key of the table in config.c (which holds each key's range, default and
 * help; data/attachment.conf and attachment.conf(5) describe the same keys, and the tests
 * check that they agree). */
typedef struct {
        StoreKind store;
        char *driver;        /* CSI driver name: annotation prefix, spec.csi.driver filter */
        guint workers;       /* GThreadPool size */
        guint queue_limit;   /* pending Track/Untrack operations */
        char *allowed_group; /* group allowed to Track/Untrack besides uid 0; "" = none */
        guint migration_timeout_sec; /* two nodes holding a volume longer: MigrationOverdue */
        char *metrics_address;       /* "" = no metrics; else IPv4:PORT or [IPv6]:PORT */
        char *kube_server;           /* "" = in-cluster from KUBERNETES_SERVICE_HOST/PORT */
        char *kube_token_file;       /* "" = no bearer token */
        char *kube_ca_file;          /* "" = system trust store */
        char *kube_kubeconfig;       /* "" = none; else server and credentials come from it */
        char *kube_context;          /* "" = the kubeconfig's current-context */
        guint request_timeout_sec;   /* one API request */
        guint start_timeout_sec;     /* retrying an unreachable API server at start */
        guint watch_timeout_sec;     /* a watch's timeoutSeconds */
        gboolean reconcile;          /* Store=kubernetes: clear attachments of dead Nodes */
        gboolean events;             /* Store=kubernetes: post core/v1 Events */
        GHashTable *set_in;          /* key -> the file that set it last; absent: default */
} Config;

typedef enum {
        CONFIG_TYPE_STRING,  /* any text, or what `check` accepts */
        CONFIG_TYPE_UINT,    /* guint from min to max */
        CONFIG_TYPE_CHOICE,  /* one of `choices`, stored as its index (an enum) */
        CONFIG_TYPE_BOOLEAN, /* gboolean: yes/true/1 or no/false/0 */
} ConfigType;

/* One key of the configuration: what drives the defaults, the parsing and the messages. */
typedef struct {
        const char *group;
        const char *key;
        ConfigType type;
        gsize offset; /* of the field in Config */
        guint min, max;
        const char *const *choices;                           /* CHOICE: NULL-terminated */
        gboolean (*check)(const char *value, GError **error); /* STRING: NULL accepts all */
        const char *allowed;       /* STRING with check: the message, unless check set an error */
        const char *default_value; /* as it would be written in the file */
        const char *help;          /* one line */
} ConfigKey;

/* Every key, in the order of data/attachment.conf. */
const ConfigKey *config_keys(gsize *n_keys);

void config_init(Config *self);
void config_clear(Config *self);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Config, config_clear)

/* Reads `path` (a missing main file is not an error: defaults apply) and then
 * `path`.d/ *.conf, then config_check(). A bad value fails with a message naming the file, the
 * key and what is allowed (G_KEY_FILE_ERROR_INVALID_VALUE); unknown groups and keys are warned
 * about. */
gboolean config_load(Config *self, const char *path, GError **error);
/* Applies one file's text; `origin` names it in messages. Pure: used by tests and fuzzing.
 * Combinations are not checked: a later file may complete them. */
gboolean config_load_data(Config *self, const char *data, gsize length, const char *origin,
                          GError **error);
/* The combinations, once every file is applied: Kubeconfig= with Server=, TokenFile= or
 * CAFile= set explicitly, or Context= without Kubeconfig=, fail naming both keys and the
 * files that set them (G_KEY_FILE_ERROR_INVALID_VALUE). */
gboolean config_check(const Config *self, GError **error);
