#include "queue/rsync.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queue/lua.h"
#include "queue/sentinel.h"

struct rsync {
    const struct config *cfg;
    redisContext *ctx;
    struct timeval timeout;
    long timeout_ms;
    char host[SENTINEL_HOST_MAX]; /* redis.url's host, or the master the sentinels named */
    int port;
    size_t sentinel_next; /* the sentinel to ask first next time */
    char err[640];
};

struct rsync *rsync_new(const struct config *cfg, long timeout_ms)
{
    struct rsync *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    rs->cfg = cfg;
    rs->timeout.tv_sec = timeout_ms / 1000;
    rs->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    rs->timeout_ms = timeout_ms;
    snprintf(rs->host, sizeof(rs->host), "%s", cfg->redis_host);
    rs->port = cfg->redis_port;
    return rs;
}

void rsync_free(struct rsync *rs)
{
    if (rs == NULL)
        return;
    if (rs->ctx)
        redisFree(rs->ctx);
    free(rs);
}

const char *rsync_error(const struct rsync *rs)
{
    return rs->err;
}

static void drop(struct rsync *rs, const char *why)
{
    snprintf(rs->err, sizeof(rs->err), "redis %.255s:%d: %.300s", rs->host, rs->port, why);
    if (rs->ctx) {
        redisFree(rs->ctx);
        rs->ctx = NULL;
    }
}

/* Runs one setup command right after connecting; 0 when Redis answered OK. */
static int setup(struct rsync *rs, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(rs->ctx, argc, argv, NULL);
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* 0 when connected, -1 after a failed connect, -2 when no sentinel answered. */
static int connect_once(struct rsync *rs)
{
    if (rs->cfg->n_sentinels > 0) {
        /* Every (re)connect asks the sentinels: after a failover the old master is a replica,
         * or gone. */
        struct sentinel_addr a;
        char why[256];
        /* A sentinel answers from memory: a slow one is as good as dead, try the next. */
        long per_sentinel = rs->timeout_ms < 1000 ? rs->timeout_ms : 1000;
        if (sentinel_resolve(rs->cfg, rs->sentinel_next, per_sentinel, &a, why, sizeof(why)) != 0) {
            snprintf(rs->err, sizeof(rs->err), "no sentinel named the redis master: %.255s", why);
            return -2; /* every sentinel was asked already */
        }
        snprintf(rs->host, sizeof(rs->host), "%s", a.host);
        rs->port = a.port;
        rs->sentinel_next = a.sentinel;
    }
    rs->ctx = redisConnectWithTimeout(rs->host, rs->port, rs->timeout);
    if (rs->ctx == NULL || rs->ctx->err) {
        rs->sentinel_next++; /* that sentinel's answer did not work: ask another first */
        drop(rs, rs->ctx ? rs->ctx->errstr : "cannot allocate context");
        return -1;
    }
    redisSetTimeout(rs->ctx, rs->timeout);
    /* Keep the reply buffer between calls: by default hiredis frees it whenever it grew past
     * 16 KiB, and regrowing it for every large script reply showed up as a few percent of a
     * busy worker's CPU (realloc + malloc_consolidate). */
    rs->ctx->reader->maxbuf = 0;
    if (rs->cfg->redis_password.value) {
        const char *argv[] = {"AUTH", rs->cfg->redis_password.value};
        if (setup(rs, 2, argv) != 0) {
            drop(rs, "AUTH failed");
            return -1;
        }
    }
    if (rs->cfg->n_sentinels > 0) {
        /* A sentinel's answer is only a candidate: it may not have seen the failover yet. */
        redisReply *r = redisCommand(rs->ctx, "ROLE");
        int master = sentinel_role_is_master(r);
        if (r)
            freeReplyObject(r);
        if (!master) {
            rs->sentinel_next++;
            drop(rs, "named by the sentinels but not a master");
            return -1;
        }
    }
    if (rs->cfg->redis_db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rs->cfg->redis_db);
        const char *argv[] = {"SELECT", db};
        if (setup(rs, 2, argv) != 0) {
            drop(rs, "SELECT failed");
            return -1;
        }
    }
    return 0;
}

/* With sentinels, a bad answer (a dead address, a replica) moves on to the next sentinel
 * within the same call, so a one-shot relayctl does not fail on one stale sentinel. */
static int ensure(struct rsync *rs)
{
    if (rs->ctx)
        return 0;
    size_t tries = rs->cfg->n_sentinels > 0 ? rs->cfg->n_sentinels : 1;
    for (size_t i = 0; i < tries; i++) {
        int rv = connect_once(rs);
        if (rv == 0)
            return 0;
        if (rv == -2)
            break;
    }
    return -1;
}

/* A demoted master answers READONLY (LOADING while it resyncs): the reply goes back to the
 * caller as an error, and the next call finds the new master. */
static void check_failover(struct rsync *rs, const redisReply *r)
{
    if (rs->cfg->n_sentinels > 0 && sentinel_is_failover_error(r))
        drop(rs, r->str);
}

struct redisReply *rsync_command(struct rsync *rs, int argc, const char **argv,
                                 const size_t *argvlen)
{
    if (ensure(rs) != 0)
        return NULL;
    redisReply *r = redisCommandArgv(rs->ctx, argc, argv, argvlen);
    if (r == NULL)
        drop(rs, rs->ctx->errstr[0] ? rs->ctx->errstr : "connection lost");
    else
        check_failover(rs, r);
    return r;
}

struct redisReply *rsync_commandf(struct rsync *rs, const char *fmt, ...)
{
    if (ensure(rs) != 0)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(rs->ctx, fmt, ap);
    va_end(ap);
    if (r == NULL)
        drop(rs, rs->ctx->errstr[0] ? rs->ctx->errstr : "connection lost");
    else
        check_failover(rs, r);
    return r;
}

struct redisReply *rsync_script(struct rsync *rs, const char *script, int nkeys, int argc,
                                const char **argv, const size_t *argvlen)
{
    char nk[16];
    const char **av = malloc(sizeof(*av) * (size_t)(argc + 3));
    size_t *al = malloc(sizeof(*al) * (size_t)(argc + 3));
    redisReply *r = NULL;

    if (av == NULL || al == NULL)
        goto out;
    const char *sha = lua_sha(script);
    snprintf(nk, sizeof(nk), "%d", nkeys);
    av[0] = sha ? "EVALSHA" : "EVAL";
    al[0] = strlen(av[0]);
    av[1] = sha ? sha : script;
    al[1] = strlen(av[1]);
    av[2] = nk;
    al[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        al[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
    }
    r = rsync_command(rs, argc + 3, av, al);
    if (sha && r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* Redis restarted (or was flushed) and lost its script cache: send the body. */
        freeReplyObject(r);
        av[0] = "EVAL";
        al[0] = 4;
        av[1] = script;
        al[1] = strlen(script);
        r = rsync_command(rs, argc + 3, av, al);
    }
out:
    free(av);
    free(al);
    return r;
}

void rsync_reply_free(struct redisReply *r)
{
    if (r)
        freeReplyObject(r);
}
