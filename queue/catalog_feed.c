#include "queue/catalog_feed.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queue/lua.h"

const char *catalog_feed_reply_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

static void cmd_init(struct catalog_feed_cmd *c, const char *prefix, const char *target,
                     const char *what)
{
    memset(c, 0, sizeof(*c));
    if (target)
        snprintf(c->key, sizeof(c->key), "%s:cat:%s:%s", prefix, target, what);
    else
        snprintf(c->key, sizeof(c->key), "%s:cat:%s", prefix, what);
}

static int64_t str_int(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : 0;
}

void catalog_feed_meta(struct catalog_feed_cmd *c, const char *prefix, const char *target)
{
    cmd_init(c, prefix, target, "meta");
    const char *argv[] = {"HMGET", c->key, "seq", "dropped"};
    memcpy(c->argv, argv, sizeof(argv));
    c->argc = 4;
}

int catalog_feed_meta_decode(const redisReply *r, int64_t *seq, int64_t *dropped)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return -1;
    *seq = str_int(r->element[0]);
    *dropped = str_int(r->element[1]);
    return 0;
}

void catalog_feed_key(struct catalog_feed_cmd *c, const char *prefix, const char *fresh)
{
    cmd_init(c, prefix, NULL, "key");
    c->script = lua_catalog_key;
    c->nkeys = 1;
    c->argv[0] = c->key;
    c->argv[1] = fresh;
    c->argc = 2;
}

int catalog_feed_key_decode(const redisReply *r, unsigned char key[CATALOG_KEY_BYTES])
{
    unsigned char k[CATALOG_KEY_BYTES];
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 2 * CATALOG_KEY_BYTES)
        return -1;
    for (size_t i = 0; i < CATALOG_KEY_BYTES; i++) {
        int hi = util_hexval(r->str[2 * i]), lo = util_hexval(r->str[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        k[i] = (unsigned char)(hi * 16 + lo);
    }
    memcpy(key, k, sizeof(k));
    return 0;
}

void catalog_feed_docs(struct catalog_feed_cmd *c, const char *prefix, const char *target,
                       int64_t lo, int64_t hi, int count)
{
    cmd_init(c, prefix, target, "docs");
    snprintf(c->v[0], sizeof(c->v[0]), "(%" PRId64, lo);
    snprintf(c->v[1], sizeof(c->v[1]), "%" PRId64, hi);
    snprintf(c->v[2], sizeof(c->v[2]), "%d", count);
    const char *argv[] = {"ZRANGEBYSCORE", c->key, c->v[0], c->v[1], "LIMIT", "0", c->v[2]};
    memcpy(c->argv, argv, sizeof(argv));
    c->argc = 7;
}

long catalog_feed_docs_count(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY ? (long)r->elements : -1;
}

const char *catalog_feed_docs_get(const redisReply *r, size_t i, size_t *len)
{
    const redisReply *d = r->element[i];
    if (d->type != REDIS_REPLY_STRING)
        return NULL;
    *len = d->len;
    return d->str;
}

void catalog_feed_poll(struct catalog_feed_cmd *c, const char *prefix, const char *target,
                       int64_t at_ms, int status, int64_t cursor)
{
    cmd_init(c, prefix, target, "meta");
    snprintf(c->v[0], sizeof(c->v[0]), "%" PRId64, at_ms);
    snprintf(c->v[1], sizeof(c->v[1]), "%d", status);
    snprintf(c->v[2], sizeof(c->v[2]), "%" PRId64, cursor);
    const char *argv[] = {"HSET",  c->key,        "last_poll_at", c->v[0], "last_poll_status",
                          c->v[1], "last_cursor", c->v[2]};
    memcpy(c->argv, argv, sizeof(argv));
    c->argc = 8;
}

int catalog_feed_migrate_args(const struct config *cfg, int batch, char buf[24], const char **argv)
{
    int argc = 0;
    snprintf(buf, 24, "%d", batch);
    argv[argc++] = cfg->redis_prefix;
    argv[argc++] = buf;
    for (size_t i = 0; i < cfg->n_targets; i++)
        if (catalog_has_feed(&cfg->targets[i]))
            argv[argc++] = cfg->targets[i].name;
    return argc;
}

long long catalog_feed_migrate_left(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0 ? r->integer : -1;
}

/* catalog_info.lua: 7 values per feed target, in catalog_info_args order: live, removed, seq,
 * last_poll_at, last_poll_status, lag, dropped (catalog_info_json reads them all). */
int catalog_feed_info_get(const redisReply *r, size_t k, int64_t *live, int64_t *removed,
                          int64_t *last_poll_ms)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || 7 * k + 6 >= r->elements)
        return -1;
    redisReply **e = r->element + 7 * k;
    if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING ||
        e[3]->type != REDIS_REPLY_STRING)
        return 1;
    *live = strtoll(e[0]->str, NULL, 10);
    *removed = strtoll(e[1]->str, NULL, 10);
    *last_poll_ms = strtoll(e[3]->str, NULL, 10);
    return 0;
}
