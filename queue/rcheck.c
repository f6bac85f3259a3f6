#include "queue/rcheck.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "queue/rsync.h"
#include "queue/sentinel.h"

#define RCHECK_TIMEOUT_MS 2000

int rcheck_run(const struct config *cfg, FILE *out)
{
    const char *key = cfg->n_sentinels > 0 ? "redis.sentinel" : "redis.url";
    int problems = 0;
    struct rsync *rs = rsync_new(cfg, RCHECK_TIMEOUT_MS);
    redisReply *r = NULL;

    if (rs == NULL) {
        fprintf(out, "%s: out of memory\n", key);
        return 1;
    }
    /* rsync verifies ROLE itself when it found the address through the sentinels. */
    r = rsync_commandf(rs, "ROLE");
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(out, "%s: %s\n", key, r ? r->str : rsync_error(rs));
        problems++;
        goto out;
    }
    if (!sentinel_role_is_master(r)) {
        fprintf(out, "%s: Redis is a read-only replica, not a master\n", key);
        problems++;
    }
    freeReplyObject(r);
    r = rsync_commandf(rs, "CONFIG GET maxmemory-policy");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        if (strcmp(r->element[1]->str, "noeviction") != 0) {
            fprintf(out,
                    "%s: Redis maxmemory-policy is %s; it must be noeviction or Redis may evict "
                    "queued events\n",
                    key, r->element[1]->str);
            problems++;
        }
    } else {
        fprintf(out,
                "%s: cannot read maxmemory-policy (CONFIG GET refused); check it is "
                "noeviction\n",
                key);
    }
    if (cfg->redis_min_replicas > 0) {
        if (r)
            freeReplyObject(r);
        r = rsync_commandf(rs, "INFO replication");
        long n = r && r->type == REDIS_REPLY_STRING ? sentinel_online_replicas(r->str) : 0;
        if (n < cfg->redis_min_replicas) {
            fprintf(out,
                    "redis.min_replicas: Redis has %ld online replicas, fewer than %lld: "
                    "webhooks would get 503\n",
                    n, (long long)cfg->redis_min_replicas);
            problems++;
        }
    }
out:
    if (r)
        freeReplyObject(r);
    rsync_free(rs);
    return problems;
}
