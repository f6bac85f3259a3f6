#include "queue/sentinel.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int sentinel_parse_addr(const struct redisReply *r, char *host, size_t hostlen, int *port)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        return -1;
    const redisReply *h = r->element[0], *p = r->element[1];
    if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_STRING)
        return -1;
    if (h->len == 0 || h->len >= hostlen || memchr(h->str, '\0', h->len) != NULL)
        return -1;
    long v = 0;
    if (p->len == 0 || p->len > 5)
        return -1;
    for (size_t i = 0; i < p->len; i++) {
        if (p->str[i] < '0' || p->str[i] > '9')
            return -1;
        v = v * 10 + (p->str[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    memcpy(host, h->str, h->len);
    host[h->len] = '\0';
    *port = (int)v;
    return 0;
}

long sentinel_online_replicas(const char *info)
{
    long n = 0;
    for (const char *p = info; p && (p = strstr(p, "\nslave")) != NULL; p++) {
        const char *eol = strchr(p + 1, '\n');
        const char *st = strstr(p, ",state=online,");
        if (st != NULL && (eol == NULL || st < eol))
            n++;
    }
    return n;
}

int sentinel_role_is_master(const struct redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return 0;
    const redisReply *e = r->element[0];
    return e->type == REDIS_REPLY_STRING && e->len == 6 && memcmp(e->str, "master", 6) == 0;
}

int sentinel_is_failover_error(const struct redisReply *r)
{
    static const char *const codes[] = {"READONLY", "LOADING", "MASTERDOWN", NULL};
    if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return 0;
    for (int i = 0; codes[i]; i++) {
        size_t n = strlen(codes[i]);
        if (strncmp(r->str, codes[i], n) == 0 && (r->str[n] == ' ' || r->str[n] == '\0'))
            return 1;
    }
    return 0;
}

static void describe(char *err, size_t errlen, const struct redis_sentinel *s, const char *why)
{
    snprintf(err, errlen, "sentinel %s:%d: %s", s->host, s->port, why);
}

/* ---- blocking ---- */

/* One sentinel: 0 with out filled, else -1 with err. */
static int ask_one(const struct config *cfg, size_t idx, long timeout_ms, struct sentinel_addr *out,
                   char *err, size_t errlen)
{
    const struct redis_sentinel *s = &cfg->sentinels[idx];
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisReply *r = NULL;
    int rv = -1;
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);

    if (c == NULL || c->err) {
        describe(err, errlen, s, c ? c->errstr : "cannot allocate context");
        goto out;
    }
    redisSetTimeout(c, tv);
    if (cfg->sentinel_password.value) {
        const char *argv[] = {"AUTH", cfg->sentinel_password.value};
        r = redisCommandArgv(c, 2, argv, NULL);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            describe(err, errlen, s, r ? "AUTH refused" : c->errstr);
            goto out;
        }
        freeReplyObject(r);
        r = NULL;
    }
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", cfg->sentinel_master};
    r = redisCommandArgv(c, 3, argv, NULL);
    if (r == NULL) {
        describe(err, errlen, s, c->errstr[0] ? c->errstr : "connection lost");
        goto out;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        describe(err, errlen, s, r->str);
        goto out;
    }
    if (sentinel_parse_addr(r, out->host, sizeof(out->host), &out->port) != 0) {
        describe(err, errlen, s, "does not know the master (check redis.sentinel.master)");
        goto out;
    }
    out->sentinel = idx;
    rv = 0;
out:
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return rv;
}

int sentinel_resolve(const struct config *cfg, size_t start, long timeout_ms,
                     struct sentinel_addr *out, char *err, size_t errlen)
{
    if (cfg->n_sentinels == 0) {
        snprintf(err, errlen, "no sentinels configured");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_sentinels; i++)
        if (ask_one(cfg, (start + i) % cfg->n_sentinels, timeout_ms, out, err, errlen) == 0)
            return 0;
    /* err holds the last sentinel's failure: the others failed the same way, or earlier. */
    return -1;
}

/* ---- asynchronous ---- */

struct sentinel_query {
    struct event_base *base;
    const struct config *cfg;
    size_t start, tried;
    long timeout_ms;
    sentinel_cb cb;
    void *arg;
    redisAsyncContext *ac;
    struct event *timer_ev; /* bounds the current sentinel */
    struct event *step_ev;  /* runs the next step outside hiredis' callbacks */
    int found;
    struct sentinel_addr addr;
    char err[256];
};

/* Forgets the current context. Its callbacks then see ac->data == NULL and do nothing, so
 * freeing it here, or letting hiredis free it, never reaches back into the query. free_it is
 * 0 when hiredis is already tearing the context down. Inside a hiredis callback
 * redisAsyncFree() is deferred by hiredis until the callback returns. */
static void detach(struct sentinel_query *q, int free_it)
{
    redisAsyncContext *ac = q->ac;
    q->ac = NULL;
    evtimer_del(q->timer_ev);
    if (ac == NULL)
        return;
    ac->data = NULL;
    if (free_it)
        redisAsyncFree(ac);
}

static void next_step(struct sentinel_query *q)
{
    event_active(q->step_ev, EV_TIMEOUT, 0);
}

static void attempt_failed(struct sentinel_query *q, const char *why, int free_it)
{
    const struct redis_sentinel *s =
        &q->cfg->sentinels[(q->start + q->tried - 1) % q->cfg->n_sentinels];
    describe(q->err, sizeof(q->err), s, why);
    detach(q, free_it);
    next_step(q);
}

static struct sentinel_query *query_of(const redisAsyncContext *ac)
{
    struct sentinel_query *q = ac->data;
    return q != NULL && q->ac == ac ? q : NULL;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct sentinel_query *q = query_of(ac);
    if (q != NULL && status != REDIS_OK)
        attempt_failed(q, ac->errstr[0] ? ac->errstr : "connect failed", 0); /* hiredis frees */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sentinel_query *q = query_of(ac);
    if (q != NULL)
        attempt_failed(q, ac->errstr[0] ? ac->errstr : "connection closed", 0);
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    struct sentinel_query *q = query_of(ac);
    redisReply *reply = r;
    if (q == NULL)
        return;
    if (reply == NULL)
        attempt_failed(q, "connection lost", 0);
    else if (reply->type == REDIS_REPLY_ERROR)
        attempt_failed(q, "AUTH refused", 1);
}

static void on_addr(redisAsyncContext *ac, void *r, void *privdata)
{
    struct sentinel_query *q = query_of(ac);
    redisReply *reply = r;
    if (q == NULL)
        return;
    if (reply == NULL) {
        attempt_failed(q, "connection lost", 0);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        attempt_failed(q, reply->str, 1);
    } else if (sentinel_parse_addr(reply, q->addr.host, sizeof(q->addr.host), &q->addr.port) != 0) {
        attempt_failed(q, "does not know the master (check redis.sentinel.master)", 1);
    } else {
        q->addr.sentinel = (q->start + q->tried - 1) % q->cfg->n_sentinels;
        q->found = 1;
        detach(q, 1);
        next_step(q);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_query *q = arg;
    attempt_failed(q, "timed out", 1);
}

static void try_next(struct sentinel_query *q)
{
    const struct redis_sentinel *s =
        &q->cfg->sentinels[(q->start + q->tried) % q->cfg->n_sentinels];
    struct timeval tv = {q->timeout_ms / 1000, (q->timeout_ms % 1000) * 1000};
    q->tried++;
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (ac == NULL || ac->err) {
        describe(q->err, sizeof(q->err), s, ac ? ac->errstr : "cannot allocate context");
        if (ac)
            redisAsyncFree(ac);
        next_step(q);
        return;
    }
    ac->data = q;
    q->ac = ac;
    redisLibeventAttach(ac, q->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (q->cfg->sentinel_password.value) {
        const char *argv[] = {"AUTH", q->cfg->sentinel_password.value};
        redisAsyncCommandArgv(ac, on_auth, NULL, 2, argv, NULL);
    }
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", q->cfg->sentinel_master};
    redisAsyncCommandArgv(ac, on_addr, NULL, 3, argv, NULL);
    evtimer_add(q->timer_ev, &tv);
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_query *q = arg;
    if (q->ac != NULL)
        return; /* an attempt is under way */
    if (q->found) {
        struct sentinel_addr addr = q->addr;
        sentinel_cb cb = q->cb;
        void *cbarg = q->arg;
        sentinel_query_free(q);
        cb(&addr, NULL, cbarg);
    } else if (q->tried >= q->cfg->n_sentinels) {
        char err[sizeof(q->err)];
        sentinel_cb cb = q->cb;
        void *cbarg = q->arg;
        memcpy(err, q->err, sizeof(err));
        sentinel_query_free(q);
        cb(NULL, err, cbarg);
    } else {
        try_next(q);
    }
}

struct sentinel_query *sentinel_query_start(struct event_base *base, const struct config *cfg,
                                            size_t start, long timeout_ms, sentinel_cb cb,
                                            void *arg)
{
    struct sentinel_query *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->base = base;
    q->cfg = cfg;
    q->start = cfg->n_sentinels ? start % cfg->n_sentinels : 0;
    q->timeout_ms = timeout_ms;
    q->cb = cb;
    q->arg = arg;
    snprintf(q->err, sizeof(q->err), "no sentinels configured");
    q->timer_ev = evtimer_new(base, on_timeout, q);
    q->step_ev = event_new(base, -1, 0, on_step, q);
    if (q->timer_ev == NULL || q->step_ev == NULL) {
        sentinel_query_free(q);
        return NULL;
    }
    next_step(q);
    return q;
}

void sentinel_query_free(struct sentinel_query *q)
{
    if (q == NULL)
        return;
    if (q->timer_ev)
        detach(q, 1);
    if (q->timer_ev)
        event_free(q->timer_ev);
    if (q->step_ev)
        event_free(q->step_ev);
    free(q);
}
