/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

/* The daemon's configuration (DESIGN §4): /etc/srvlab/attachment.conf and, in lexical order,
 * attachment.conf.d/ *.conf beside it; a later file overrides an earlier one key by key. */
typedef enum {
        STORE_KIND_KUBERNETES,
        STORE_KIND_NONE,
} StoreKind;

/* Keys whose explicit setting matters beyond their value: Kubeconfig= excludes the others. */
typedef enum {
        CONFIG_KEY_SERVER,
        CONFIG_KEY_TOKEN_FILE,
        CONFIG_KEY_CA_FILE,
        CONFIG_KEY_KUBECONFIG,
        CONFIG_KEY_CONTEXT,
        CONFIG_N_TRACKED_KEYS,
} ConfigTrackedKey;

typedef struct {
        StoreKind store;
        char *driver;              /* CSI driver name: annotation prefix, spec.csi.driver filter */
        guint workers;             /* GThreadPool size, 1..256 */
        guint queue_limit;         /* pending Track/Untrack operations, 1..1048576 */
        char *allowed_group;       /* group allowed to Track/Untrack besides uid 0; "" = none */
        char *metrics_address;     /* "" = no metrics; else IPv4:PORT or [IPv6]:PORT */
        char *kube_server;         /* "" = in-cluster from KUBERNETES_SERVICE_HOST/PORT */
        char *kube_token_file;     /* "" = no bearer token */
        char *kube_ca_file;        /* "" = system trust store */
        char *kube_kubeconfig;     /* "" = none; else server and credentials come from it */
        char *kube_context;        /* "" = the kubeconfig's current-context */
        guint request_timeout_sec; /* 1..3600 */
        guint start_timeout_sec;   /* 0..86400 */
        guint watch_timeout_sec;   /* 2..3600: a watch's timeoutSeconds */
        gboolean reconcile;        /* Store=kubernetes: clear attachments of dead Nodes */
        gboolean events;           /* Store=kubernetes: post core/v1 Events */
        char *set_in[CONFIG_N_TRACKED_KEYS]; /* the file that set the key last; NULL: default */
} Config;

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
