#include "queue/rconn.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/lua.h"

#define RCONN_BACKOFF_MIN_MS 100
#define RCONN_BACKOFF_MAX_MS 2000
#define RCONN_TICK_MS 250
#define RCONN_PING_IDLE_MS 1000

struct rconn {
    struct event_base *base;
    const struct config *cfg;
    redisAsyncContext *ac;
    int connected;
    long timeout_ms;
    long backoff_ms;
    struct event *reconnect_ev;
    struct event *tick_ev;
    unsigned outstanding;
    int64_t last_progress_ms;
};

/* One queued command. For scripts it keeps a copy of the arguments so a NOSCRIPT answer
 * (Redis restarted or flushed its script cache) can be retried with EVAL. The struct, the
 * argument vectors and the argument bytes are one allocation: a worker's fanout call carries
 * thousands of arguments. */
struct pending {
    struct rconn *rc;
    rconn_cb cb;
    void *arg;
    const char *script;
    int argc;
    char **argv;
    size_t *argvlen;
};

static void connect_now(struct rconn *rc);

static void pending_free(struct pending *p)
{
    free(p);
}

static void schedule_reconnect(struct rconn *rc)
{
    struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
    evtimer_add(rc->reconnect_ev, &tv);
    rc->backoff_ms *= 2;
    if (rc->backoff_ms > RCONN_BACKOFF_MAX_MS)
        rc->backoff_ms = RCONN_BACKOFF_MAX_MS;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (rc == NULL || rc->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context itself after a failed connect. */
        if (rc->connected || rc->backoff_ms == RCONN_BACKOFF_MIN_MS)
            LOG_WARN("redis connect failed", "error", ac->errstr, NULL);
        rc->ac = NULL;
        rc->connected = 0;
        schedule_reconnect(rc);
        return;
    }
    rc->connected = 1;
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->last_progress_ms = util_mono_ms();
    LOG_INFO("redis connected", "host", rc->cfg->redis_host, NULL);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (rc == NULL || rc->ac != ac)
        return;
    LOG_WARN("redis disconnected", "error", status == REDIS_OK ? NULL : ac->errstr, NULL);
    rc->ac = NULL;
    rc->connected = 0;
    rc->outstanding = 0;
    schedule_reconnect(rc);
}

static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        LOG_ERROR("redis setup command failed", "error", reply->str, NULL);
}

static void connect_now(struct rconn *rc)
{
    redisAsyncContext *ac = redisAsyncConnect(rc->cfg->redis_host, rc->cfg->redis_port);
    if (ac == NULL) {
        schedule_reconnect(rc);
        return;
    }
    if (ac->err) {
        redisAsyncFree(ac);
        schedule_reconnect(rc);
        return;
    }
    ac->data = rc;
    rc->ac = ac;
    redisLibeventAttach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued before any user command, so they run first once connected. */
    if (rc->cfg->redis_password.value) {
        const char *argv[] = {"AUTH", rc->cfg->redis_password.value};
        redisAsyncCommandArgv(ac, on_setup_reply, NULL, 2, argv, NULL);
    }
    if (rc->cfg->redis_db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rc->cfg->redis_db);
        const char *argv[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, on_setup_reply, NULL, 2, argv, NULL);
    }
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    if (rc->ac == NULL)
        connect_now(rc);
}

static void on_ping(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    if (rc->ac == ac && rc->outstanding > 0)
        rc->outstanding--;
    if (r != NULL)
        rc->last_progress_ms = util_mono_ms();
}

/* Watchdog: hiredis 0.14 has no command timeouts, so a Redis that stops answering would hold
 * requests forever. Replies come in order, so no progress for timeout_ms while something is
 * outstanding means the connection is stuck: drop it, which fails every pending callback. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    int64_t now = util_mono_ms();
    if (rc->ac == NULL || !rc->connected)
        return;
    if (rc->outstanding > 0 && now - rc->last_progress_ms > rc->timeout_ms) {
        LOG_WARN("redis not answering, reconnecting", NULL);
        redisAsyncContext *ac = rc->ac;
        rc->ac = NULL;
        rc->connected = 0;
        rc->outstanding = 0;
        redisAsyncFree(ac);
        schedule_reconnect(rc);
        return;
    }
    if (rc->outstanding == 0 && now - rc->last_progress_ms > RCONN_PING_IDLE_MS) {
        rc->last_progress_ms = now;
        if (redisAsyncCommand(rc->ac, on_ping, rc, "PING") == REDIS_OK)
            rc->outstanding++;
    }
}

struct rconn *rconn_new(struct event_base *base, const struct config *cfg, long timeout_ms)
{
    struct rconn *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return NULL;
    rc->base = base;
    rc->cfg = cfg;
    rc->timeout_ms = timeout_ms;
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->reconnect_ev = evtimer_new(base, on_reconnect_timer, rc);
    rc->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, rc);
    if (rc->reconnect_ev == NULL || rc->tick_ev == NULL) {
        rconn_free(rc);
        return NULL;
    }
    struct timeval tick = {0, RCONN_TICK_MS * 1000};
    event_add(rc->tick_ev, &tick);
    connect_now(rc);
    return rc;
}

void rconn_free(struct rconn *rc)
{
    if (rc == NULL)
        return;
    if (rc->ac) {
        redisAsyncContext *ac = rc->ac;
        rc->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (rc->reconnect_ev)
        event_free(rc->reconnect_ev);
    if (rc->tick_ev)
        event_free(rc->tick_ev);
    free(rc);
}

int rconn_ready(const struct rconn *rc)
{
    return rc->ac != NULL && rc->connected;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

static int send_pending(struct rconn *rc, struct pending *p, const char *verb, const char *body)
{
    int n = p->argc + (p->script ? 3 : 0);
    const char **av = malloc(sizeof(*av) * (size_t)n);
    size_t *al = malloc(sizeof(*al) * (size_t)n);
    int rv = -1;
    int off = 0;
    if (av == NULL || al == NULL)
        goto out;
    if (p->script) {
        av[0] = verb;
        al[0] = strlen(verb);
        av[1] = body;
        al[1] = strlen(body);
        off = 2;
        n--; /* the numkeys argument is already argv[0] of the pending copy */
    }
    for (int i = 0; i < p->argc; i++) {
        av[off + i] = p->argv[i];
        al[off + i] = p->argvlen[i];
    }
    if (redisAsyncCommandArgv(rc->ac, on_reply, p, off + p->argc, av, al) == REDIS_OK) {
        if (rc->outstanding++ == 0)
            rc->last_progress_ms = util_mono_ms();
        rv = 0;
    }
out:
    free(av);
    free(al);
    return rv;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pending *p = privdata;
    struct rconn *rc = p->rc;
    redisReply *reply = r;
    if (rc->ac == ac && rc->outstanding > 0)
        rc->outstanding--;
    if (reply != NULL)
        rc->last_progress_ms = util_mono_ms();
    if (reply && p->script && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && rc->ac == ac && rc->connected) {
        const char *script = p->script;
        if (send_pending(rc, p, "EVAL", script) == 0)
            return;
    }
    p->cb(reply, p->arg);
    pending_free(p);
}

static struct pending *pending_new(struct rconn *rc, rconn_cb cb, void *arg, const char *script,
                                   int nkeys, int argc, const char **argv, const size_t *argvlen)
{
    char nk[16];
    int extra = script ? 1 : 0, n = argc + extra;
    size_t bytes = 0;

    snprintf(nk, sizeof(nk), "%d", nkeys);
    if (script)
        bytes += strlen(nk) + 1;
    for (int i = 0; i < argc; i++)
        bytes += (argvlen ? argvlen[i] : strlen(argv[i])) + 1;
    size_t head = sizeof(struct pending) + sizeof(char *) * (size_t)n + sizeof(size_t) * (size_t)n;
    struct pending *p = malloc(head + bytes);
    if (p == NULL)
        return NULL;
    p->rc = rc;
    p->cb = cb;
    p->arg = arg;
    p->script = script;
    p->argc = n;
    p->argvlen = (size_t *)(p + 1);
    p->argv = (char **)(p->argvlen + n);
    char *d = (char *)(p->argv + n);
    for (int i = 0; i < n; i++) {
        const char *src = script && i == 0 ? nk : argv[i - extra];
        size_t len = script && i == 0 ? strlen(nk)
                                      : (argvlen ? argvlen[i - extra] : strlen(argv[i - extra]));
        memcpy(d, src, len);
        d[len] = '\0';
        p->argv[i] = d;
        p->argvlen[i] = len;
        d += len + 1;
    }
    return p;
}

int rconn_command(struct rconn *rc, rconn_cb cb, void *arg, int argc, const char **argv,
                  const size_t *argvlen)
{
    if (!rconn_ready(rc))
        return -1;
    struct pending *p = pending_new(rc, cb, arg, NULL, 0, argc, argv, argvlen);
    if (p == NULL)
        return -1;
    if (send_pending(rc, p, NULL, NULL) != 0) {
        pending_free(p);
        return -1;
    }
    return 0;
}

int rconn_script(struct rconn *rc, const char *script, rconn_cb cb, void *arg, int nkeys, int argc,
                 const char **argv, const size_t *argvlen)
{
    if (!rconn_ready(rc))
        return -1;
    struct pending *p = pending_new(rc, cb, arg, script, nkeys, argc, argv, argvlen);
    if (p == NULL)
        return -1;
    const char *sha = lua_sha(script);
    if (send_pending(rc, p, sha ? "EVALSHA" : "EVAL", sha ? sha : script) != 0) {
        pending_free(p);
        return -1;
    }
    return 0;
}
