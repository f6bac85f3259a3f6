#include "queue/metrics_hash.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

int metrics_hash_command(const struct config *cfg, struct metrics_hash_cmd *c)
{
    int n = snprintf(c->key, sizeof(c->key), "%s:metrics", cfg->redis_prefix);
    if (n < 0 || (size_t)n >= sizeof(c->key))
        return -1;
    c->argv[0] = "HGETALL";
    c->argv[1] = c->key;
    return 0;
}

json_t *metrics_hash_decode(const struct redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0)
        return NULL;
    json_t *hash = json_object();
    for (size_t i = 0; hash && i + 1 < reply->elements; i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strlen(k->str) == k->len && strlen(v->str) == v->len)
            json_object_set_new(hash, k->str, json_stringn(v->str, v->len));
    }
    return hash;
}
