#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/config_internal.h"

/* alerts: an array of {url, format, min_interval_s, queue_oldest_s}. The URL is resolved like
 * any secret and never echoed in an error: a Slack webhook URL carries its token in the path. */
void config_parse_alerts(struct jconf *c, const json_t *root, struct config *cfg)
{
    static const char *const keys[] = {"url", "format", "min_interval_s", "queue_oldest_s", NULL};
    const json_t *arr = json_object_get(root, "alerts");
    if (!arr || json_is_null(arr))
        return;
    if (!json_is_array(arr)) {
        jconf_err(c, "alerts", "must be an array");
        return;
    }
    if (json_array_size(arr) == 0)
        return;
    cfg->alerts = calloc(json_array_size(arr), sizeof(*cfg->alerts));
    if (!cfg->alerts) {
        jconf_err(c, "alerts", "out of memory");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)arr, i, v)
    {
        char p[JCONF_PATH_MAX];
        jconf_path_index(p, sizeof(p), "alerts", i);
        struct alert_sink *a = &cfg->alerts[cfg->n_alerts++];
        a->format = ALERT_FORMAT_JSON;
        a->min_interval_s = 300;
        a->queue_oldest_s = 600;
        if (!json_is_object(v)) {
            jconf_err(c, p, "must be an object");
            continue;
        }
        jconf_keys(c, v, p, keys);
        secret_get(c, v, p, "url", 1, &a->url);
        if (a->url.value && strncasecmp(a->url.value, "http://", 7) != 0 &&
            strncasecmp(a->url.value, "https://", 8) != 0)
            jconf_err_at(c, p, "url", "must be an http or https URL");
        else if (a->url.value && (strlen(a->url.value) <= 8 || strchr(a->url.value, ' ')))
            jconf_err_at(c, p, "url", "must be an http or https URL");
        const json_t *f = json_object_get(v, "format");
        if (f && !json_is_null(f)) {
            const char *s = json_is_string(f) ? json_string_value(f) : NULL;
            if (s && strcmp(s, "slack") == 0)
                a->format = ALERT_FORMAT_SLACK;
            else if (!s || strcmp(s, "json") != 0)
                jconf_err_at(c, p, "format", "must be slack or json");
        }
        jconf_int(c, v, p, "min_interval_s", 1, &a->min_interval_s);
        jconf_int(c, v, p, "queue_oldest_s", 1, &a->queue_oldest_s);
    }
}
