#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/addr.h"
#include "core/config_internal.h"
#include "core/redis_url.h"

/* redis: the server (or Sentinel set), the key prefix and the replica WAIT. */

/* redis.sentinel, redis.min_replicas, redis.replica_timeout_ms (high availability). */
static void parse_redis_ha(struct jconf *c, const json_t *o, struct config *cfg)
{
    static const char *const sentinel_keys[] = {"addresses", "master", "password", NULL};
    const json_t *so = jconf_object(c, o, "redis", "sentinel", 0);
    if (so) {
        jconf_keys(c, so, "redis.sentinel", sentinel_keys);
        const json_t *arr = json_object_get(so, "addresses");
        if (!json_is_array(arr) || json_array_size(arr) == 0) {
            jconf_err(c, "redis.sentinel.addresses",
                      arr ? "must be a non-empty array of \"host:port\"" : "missing");
        } else {
            cfg->sentinels = calloc(json_array_size(arr), sizeof(*cfg->sentinels));
            if (!cfg->sentinels)
                jconf_err(c, "redis.sentinel.addresses", "out of memory");
            size_t i;
            json_t *v;
            json_array_foreach(arr, i, v)
            {
                char ip[JCONF_PATH_MAX];
                const char *why = NULL;
                struct redis_sentinel *sn =
                    cfg->sentinels ? &cfg->sentinels[cfg->n_sentinels] : NULL;
                jconf_path_index(ip, sizeof(ip), "redis.sentinel.addresses", i);
                if (!json_is_string(v))
                    jconf_err(c, ip, "must be a string \"host:port\"");
                else if (sn && addr_parse(json_string_value(v), json_string_length(v), 26379,
                                          &sn->host, &sn->port, &why) != 0)
                    jconf_err(c, ip, "%s", why);
                else if (sn)
                    cfg->n_sentinels++;
            }
        }
        const char *m = jconf_str(c, so, "redis.sentinel", "master", 1);
        if (m)
            cfg->sentinel_master = jconf_strdup(c, m);
        secret_get(c, so, "redis.sentinel", "password", 0, &cfg->sentinel_password);
    }
    jconf_int(c, o, "redis", "min_replicas", 0, &cfg->redis_min_replicas);
    jconf_int(c, o, "redis", "replica_timeout_ms", 1, &cfg->redis_replica_timeout_ms);
    /* The relay's Redis watchdog drops a connection that answers nothing for 2 s; a WAIT
     * must come back well before that. */
    if (cfg->redis_replica_timeout_ms > 1500)
        jconf_err(c, "redis.replica_timeout_ms", "must be between 1 and 1500");
}

void config_parse_redis(struct jconf *c, const json_t *root, struct config *cfg)
{
    static const char *const keys[] = {
        "url", "prefix", "sentinel", "min_replicas", "replica_timeout_ms", NULL};
    const json_t *o = jconf_object(c, root, "", "redis", 1);
    if (!o)
        return;
    jconf_keys(c, o, "redis", keys);
    /* A secret-valued string: the URL may carry the Redis password. */
    struct secret url = {0};
    secret_get(c, o, "redis", "url", 1, &url);
    struct redis_url ru;
    const char *why = NULL;
    if (url.value && redis_url_parse(url.value, &ru, &why) != 0) {
        jconf_err(c, "redis.url", "%s", why);
    } else if (url.value) {
        cfg->redis_host = ru.host;
        cfg->redis_port = ru.port;
        cfg->redis_db = ru.db;
        cfg->redis_password = ru.password;
    }
    secret_clear(&url);
    const char *s = jconf_str(c, o, "redis", "prefix", 0);
    if (s) {
        free(cfg->redis_prefix);
        cfg->redis_prefix = jconf_strdup(c, s);
    }
    parse_redis_ha(c, o, cfg);
}
