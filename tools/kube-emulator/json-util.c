/* Small JSON helpers shared by the store, the API and the control endpoint. */
#include "emulator.h"

#include <string.h>

void json_append_escaped(GString *out, const char *s)
{
        g_string_append_c(out, '"');
        for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
                switch (*p) {
                case '"':
                        g_string_append(out, "\\\"");
                        break;
                case '\\':
                        g_string_append(out, "\\\\");
                        break;
                case '\n':
                        g_string_append(out, "\\n");
                        break;
                case '\r':
                        g_string_append(out, "\\r");
                        break;
                case '\t':
                        g_string_append(out, "\\t");
                        break;
                default:
                        if (*p < 0x20)
                                g_string_append_printf(out, "\\u%04x", *p);
                        else
                                g_string_append_c(out, (char)*p);
                }
        }
        g_string_append_c(out, '"');
}

char *json_node_to_compact(JsonNode *node, gsize *len)
{
        g_autoptr(JsonGenerator) gen = json_generator_new();

        json_generator_set_root(gen, node);
        return json_generator_to_data(gen, len);
}

JsonNode *json_parse_text(const char *data, gsize len, GError **error)
{
        g_autoptr(JsonParser) parser = json_parser_new_immutable();

        if (data == NULL || len == 0) {
                g_set_error_literal(error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_PARSE,
                                    "empty body");
                return NULL;
        }
        if (!json_parser_load_from_data(parser, data, (gssize)len, error))
                return NULL;
        /* Immutable parsing is faster, but we edit the result: hand back a mutable copy. */
        return json_node_copy(json_parser_get_root(parser));
}

JsonObject *json_get_object_member(JsonObject *obj, const char *member)
{
        JsonNode *node;

        if (obj == NULL)
                return NULL;
        node = json_object_get_member(obj, member);
        if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
                return NULL;
        return json_node_get_object(node);
}

const char *json_get_string_member(JsonObject *obj, const char *member)
{
        JsonNode *node;

        if (obj == NULL)
                return NULL;
        node = json_object_get_member(obj, member);
        if (node == NULL || json_node_get_value_type(node) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(node);
}

static JsonObject *pv_metadata(JsonNode *obj)
{
        if (obj == NULL || !JSON_NODE_HOLDS_OBJECT(obj))
                return NULL;
        return json_get_object_member(json_node_get_object(obj), "metadata");
}

const char *pv_name(JsonNode *obj)
{
        return json_get_string_member(pv_metadata(obj), "name");
}

const char *pv_resource_version(JsonNode *obj)
{
        return json_get_string_member(pv_metadata(obj), "resourceVersion");
}

char *rfc3339_now(gboolean micro)
{
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();

        return g_date_time_format(now, micro ? "%Y-%m-%dT%H:%M:%S.%fZ" : "%Y-%m-%dT%H:%M:%SZ");
}

gint64 parse_rfc3339(const char *text)
{
        g_autoptr(GDateTime) dt = NULL;

        if (text == NULL || *text == '\0')
                return -1;
        dt = g_date_time_new_from_iso8601(text, NULL);
        return dt != NULL ? g_date_time_to_unix(dt) : -1;
}

char *human_duration(gint64 seconds)
{
        if (seconds < 0)
                seconds = 0;
        if (seconds < 120)
                return g_strdup_printf("%" G_GINT64_FORMAT "s", seconds);
        if (seconds < 600)
                return g_strdup_printf("%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s", seconds / 60,
                                       seconds % 60);
        if (seconds < 3 * 3600)
                return g_strdup_printf("%" G_GINT64_FORMAT "m", seconds / 60);
        if (seconds < 8 * 3600)
                return g_strdup_printf("%" G_GINT64_FORMAT "h%" G_GINT64_FORMAT "m", seconds / 3600,
                                       seconds % 3600 / 60);
        if (seconds < 48 * 3600)
                return g_strdup_printf("%" G_GINT64_FORMAT "h", seconds / 3600);
        if (seconds < 8 * 86400)
                return g_strdup_printf("%" G_GINT64_FORMAT "d%" G_GINT64_FORMAT "h",
                                       seconds / 86400, seconds % 86400 / 3600);
        return g_strdup_printf("%" G_GINT64_FORMAT "d", seconds / 86400);
}

void pv_drop_empty_maps(JsonNode *obj)
{
        static const char *const maps[] = {"annotations", "labels"};
        JsonObject *meta = pv_metadata(obj);

        if (meta == NULL)
                return;
        for (gsize i = 0; i < G_N_ELEMENTS(maps); i++) {
                JsonNode *node = json_object_get_member(meta, maps[i]);

                if (node == NULL)
                        continue;
                if (JSON_NODE_HOLDS_NULL(node) ||
                    (JSON_NODE_HOLDS_OBJECT(node) &&
                     json_object_get_size(json_node_get_object(node)) == 0))
                        json_object_remove_member(meta, maps[i]);
        }
}
