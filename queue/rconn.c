#include "queue/rconn.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/lua.h"
#include "queue/sentinel.h"

#define RCONN_BACKOFF_MIN_MS 100
#define RCONN_BACKOFF_MAX_MS 2000
#define RCONN_TICK_MS 250
/* Readiness: the last real exchange with Redis must be this recent. An idle connection sends
 * a write probe after RCONN_PROBE_IDLE_MS, so a healthy one never looks stale. */
#define RCONN_READY_WITHIN_MS 1000
#define RCONN_PROBE_IDLE_MS 300

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
    /* Where to connect: redis.url's address, or the master the sentinels named. */
    char host[SENTINEL_HOST_MAX];
    int port;
    struct sentinel_query *sq;
    size_t sentinel_next;       /* the sentinel to ask first next time */
    int64_t connect_started_ms; /* a connect (and ROLE check) must finish within timeout_ms */
    struct event *drop_ev;      /* drops the connection outside hiredis' callbacks */
    struct event *ha_ev;        /* re-checks the replicas and the eviction policy */
    char ha_problem[160];       /* why Redis cannot keep a 202, "" when it can */
    /* rconn_wait(): callers of this loop pass share one WAIT; one WAIT in flight at a time. */
    struct waiter *waiters;
    size_t n_waiters, cap_waiters;
    int wait_in_flight;
    struct event *wait_ev;
    /* health, for rconn_unready_reason() */
    int64_t last_ok_ms;        /* last reply that showed Redis serving us */
    int auth_failed;           /* AUTH refused, or NOAUTH/WRONGPASS answers */
    const char *write_refusal; /* OOM or READONLY seen since the last accepted write */
    int probing;               /* a health probe is outstanding */
};

struct waiter {
    rconn_wait_cb cb;
    void *arg;
};

/* The waiters one WAIT answers. */
struct wait_batch {
    struct rconn *rc;
    struct waiter *w;
    size_t n;
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
        rc->sentinel_next++; /* that sentinel's answer did not work: ask another first */
        schedule_reconnect(rc);
        return;
    }
    rc->last_progress_ms = util_mono_ms();
    if (rc->cfg->n_sentinels > 0)
        return; /* connected once ROLE says master (on_role) */
    rc->connected = 1;
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->last_ok_ms = rc->last_progress_ms;
    LOG_INFO("redis connected", "host", rc->host, NULL);
    event_active(rc->ha_ev, EV_TIMEOUT, 0);
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
    rc->probing = 0;
    schedule_reconnect(rc);
}

/* What a reply says about Redis' health. Error texts are Redis' own and hold no secret. */
static void note_reply(struct rconn *rc, const redisReply *reply, int is_write)
{
    if (reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        const char *e = reply->str;
        if (strncmp(e, "NOAUTH", 6) == 0 || strncmp(e, "WRONGPASS", 9) == 0) {
            rc->auth_failed = 1;
            return;
        }
        if (strncmp(e, "OOM", 3) == 0 || strstr(e, "OOM command not allowed")) {
            rc->write_refusal = "redis refuses writes: out of memory (OOM)";
        } else if (strncmp(e, "READONLY", 8) == 0 || strstr(e, "READONLY You can't write")) {
            rc->write_refusal = "redis refuses writes: it is a read-only replica (READONLY)";
        } else if (strncmp(e, "LOADING", 7) == 0 || strncmp(e, "BUSY", 4) == 0 ||
                   strncmp(e, "MASTERDOWN", 10) == 0) {
            return; /* not serving: leaves last_ok_ms to age */
        }
        rc->last_ok_ms = util_mono_ms();
        return;
    }
    rc->last_ok_ms = util_mono_ms();
    if (is_write)
        rc->write_refusal = NULL;
}

static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("redis setup command failed", "error", reply->str, NULL);
        if (rc && rc->ac == ac && strncmp(reply->str, "ERR SELECT", 10) != 0)
            rc->auth_failed = 1;
    } else if (reply && rc && rc->ac == ac) {
        rc->auth_failed = 0;
    }
}

/* The ROLE check of a sentinel-discovered address: only a master is used. */
static void on_role(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = ac->data;
    char port[8];
    if (rc == NULL || rc->ac != ac || r == NULL)
        return;
    snprintf(port, sizeof(port), "%d", rc->port);
    if (!sentinel_role_is_master(r)) {
        LOG_WARN("redis named by the sentinels is not a master, asking the next sentinel", "host",
                 rc->host, "port", port, NULL);
        rc->sentinel_next++;
        event_active(rc->drop_ev, EV_TIMEOUT, 0);
        return;
    }
    rc->connected = 1;
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->last_progress_ms = util_mono_ms();
    rc->last_ok_ms = rc->last_progress_ms;
    LOG_INFO("redis connected", "host", rc->host, "port", port, "via", "sentinel", NULL);
    event_active(rc->ha_ev, EV_TIMEOUT, 0);
}

static void open_conn(struct rconn *rc);

static void on_resolved(const struct sentinel_addr *addr, const char *err, void *arg)
{
    struct rconn *rc = arg;
    rc->sq = NULL;
    if (addr == NULL) {
        if (rc->backoff_ms == RCONN_BACKOFF_MIN_MS)
            LOG_WARN("no sentinel named the redis master", "error", err, NULL);
        schedule_reconnect(rc);
        return;
    }
    snprintf(rc->host, sizeof(rc->host), "%s", addr->host);
    rc->port = addr->port;
    rc->sentinel_next = addr->sentinel;
    open_conn(rc);
}

/* With sentinels, every (re)connect asks them first: after a failover the old address is a
 * replica, or gone. */
static void connect_now(struct rconn *rc)
{
    if (rc->cfg->n_sentinels == 0) {
        open_conn(rc);
        return;
    }
    if (rc->sq != NULL)
        return;
    rc->sq = sentinel_query_start(rc->base, rc->cfg, rc->sentinel_next, rc->timeout_ms / 2,
                                  on_resolved, rc);
    if (rc->sq == NULL)
        schedule_reconnect(rc);
}

/* hiredis 0.14's libevent adapter arms a one-shot read event and reads 16 KB per wake-up: two
 * epoll_ctl calls and a loop pass per 16 KB of replies, most of the relay's own cost when it
 * streams a feed snapshot (135 MB: 17,000 epoll_ctl). The read event is made persistent
 * (hiredis's addRead then finds it pending: no call) and, once connected, each wake-up reads
 * up to RCONN_READ_BYTES into the reader itself; EOF and errors are left to hiredis's own
 * read, which meets them again and disconnects as usual. */
#define RCONN_READ_BYTES (256 * 1024)
void redisProcessCallbacks(redisAsyncContext *ac); /* in libhiredis; 0.14's async.h omits it */

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    static char buf[RCONN_READ_BYTES]; /* one event loop per process: not reentered */
    redisLibeventEvents *e = arg;
    redisAsyncContext *ac = e->context;
    (void)what;
    if (!(ac->c.flags & REDIS_CONNECTED)) {
        redisAsyncHandleRead(ac);
        return;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0 || redisReaderFeed(ac->c.reader, buf, (size_t)n) != REDIS_OK) {
        redisAsyncHandleRead(ac);
        return;
    }
    redisProcessCallbacks(ac);
}

static void attach(struct rconn *rc, redisAsyncContext *ac)
{
    redisLibeventAttach(ac, rc->base);
    redisLibeventEvents *e = ac->ev.data;
    struct event *rev = event_new(rc->base, ac->c.fd, EV_READ | EV_PERSIST, on_readable, e);
    if (rev == NULL)
        return; /* the adapter's own one-shot event stays */
    event_free(e->rev);
    e->rev = rev;
    event_add(e->rev, NULL);
}

static void open_conn(struct rconn *rc)
{
    rc->connect_started_ms = util_mono_ms();
    redisAsyncContext *ac = redisAsyncConnect(rc->host, rc->port);
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
    rc->auth_failed = 0;
    rc->probing = 0;
    attach(rc, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued before any user command, so they run first once connected. */
    if (rc->cfg->redis_password.value) {
        const char *argv[] = {"AUTH", rc->cfg->redis_password.value};
        redisAsyncCommandArgv(ac, on_setup_reply, rc, 2, argv, NULL);
    }
    if (rc->cfg->redis_db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rc->cfg->redis_db);
        const char *argv[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, on_setup_reply, NULL, 2, argv, NULL);
    }
    if (rc->cfg->n_sentinels > 0)
        redisAsyncCommand(ac, on_role, NULL, "ROLE");
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    if (rc->ac == NULL)
        connect_now(rc);
}

/* Drops the connection (failing every pending callback) and reconnects, re-resolving through
 * the sentinels when they are configured. */
static void drop_conn(struct rconn *rc)
{
    redisAsyncContext *ac = rc->ac;
    if (ac == NULL)
        return;
    rc->ac = NULL;
    rc->connected = 0;
    rc->outstanding = 0;
    redisAsyncFree(ac);
    schedule_reconnect(rc);
}

static void on_drop(evutil_socket_t fd, short what, void *arg)
{
    drop_conn(arg);
}

static void on_policy(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = ac->data;
    redisReply *reply = r;
    if (rc == NULL || rc->ac != ac || reply == NULL)
        return;
    /* CONFIG may be renamed away on a managed Redis: then the policy cannot be checked. */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *policy = reply->element[1]->str;
    if (strcmp(policy, "noeviction") != 0) {
        if (strstr(rc->ha_problem, "maxmemory-policy") == NULL)
            LOG_ERROR("redis maxmemory-policy is not noeviction: Redis may evict queued events "
                      "when it fills up; set maxmemory-policy noeviction",
                      "maxmemory_policy", policy, NULL);
        snprintf(rc->ha_problem, sizeof(rc->ha_problem),
                 "redis maxmemory-policy is %.40s, not noeviction: events may be evicted", policy);
    } else if (strstr(rc->ha_problem, "maxmemory-policy") != NULL) {
        rc->ha_problem[0] = '\0';
    }
}

static void on_replication(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = ac->data;
    redisReply *reply = r;
    if (rc == NULL || rc->ac != ac || reply == NULL || reply->type != REDIS_REPLY_STRING)
        return;
    long n = sentinel_online_replicas(reply->str);
    int short_of = n < rc->cfg->redis_min_replicas;
    int was = strstr(rc->ha_problem, "replicas") != NULL;
    if (short_of) {
        char have[24], want[24];
        snprintf(have, sizeof(have), "%ld", n);
        snprintf(want, sizeof(want), "%lld", (long long)rc->cfg->redis_min_replicas);
        if (!was)
            LOG_ERROR("redis has fewer online replicas than redis.min_replicas: the relay answers "
                      "webhooks with 503 until enough replicas are back",
                      "connected_replicas", have, "min_replicas", want, NULL);
        snprintf(rc->ha_problem, sizeof(rc->ha_problem),
                 "redis has %ld online replicas, fewer than redis.min_replicas (%lld)", n,
                 (long long)rc->cfg->redis_min_replicas);
    } else if (was) {
        LOG_INFO("redis has enough connected replicas again", NULL);
        rc->ha_problem[0] = '\0';
    }
}

/* The eviction policy and, with min_replicas, the replica count: at connect and every few
 * seconds (a replica may drop away while the master stays up). */
static void on_ha_check(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    struct timeval again = {2, 0};
    evtimer_add(rc->ha_ev, &again);
    if (!rconn_ready(rc))
        return;
    redisAsyncCommand(rc->ac, on_policy, NULL, "CONFIG GET maxmemory-policy");
    if (rc->cfg->redis_min_replicas > 0)
        redisAsyncCommand(rc->ac, on_replication, NULL, "INFO replication");
}

/* The health probe is a small write (SET with a short expiry on one key per prefix), since
 * only a write shows that Redis accepts writes (not OOM, not a read-only replica). */
static void on_probe(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    if (rc->ac != ac)
        return;
    if (rc->outstanding > 0)
        rc->outstanding--;
    rc->probing = 0;
    if (r != NULL)
        rc->last_progress_ms = util_mono_ms();
    note_reply(rc, r, 1);
}

static void send_probe(struct rconn *rc)
{
    char key[256];
    snprintf(key, sizeof(key), "%s:probe", rc->cfg->redis_prefix ? rc->cfg->redis_prefix : "relay");
    const char *argv[] = {"SET", key, "1", "PX", "5000"};
    if (redisAsyncCommandArgv(rc->ac, on_probe, rc, 5, argv, NULL) == REDIS_OK) {
        if (rc->outstanding++ == 0)
            rc->last_progress_ms = util_mono_ms();
        rc->probing = 1;
    }
}

/* Watchdog: hiredis 0.14 has no command timeouts, so a Redis that stops answering would hold
 * requests forever. Replies come in order, so no progress for timeout_ms while something is
 * outstanding means the connection is stuck: drop it, which fails every pending callback. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    int64_t now = util_mono_ms();
    if (rc->ac != NULL && !rc->connected && now - rc->connect_started_ms > rc->timeout_ms) {
        /* hiredis 0.14 has no connect timeout: a blackholed address would hang for minutes. */
        LOG_WARN("redis connect timed out", "host", rc->host, NULL);
        rc->sentinel_next++;
        drop_conn(rc);
        return;
    }
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
    if (rc->outstanding == 0 && !rc->probing &&
        (now - rc->last_ok_ms > RCONN_PROBE_IDLE_MS || rc->write_refusal || rc->auth_failed))
        send_probe(rc);
}

static void on_wait_ev(evutil_socket_t fd, short what, void *arg);

static void on_wait_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct wait_batch *b = privdata;
    struct rconn *rc = b->rc;
    redisReply *reply = r;
    int ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
             reply->integer >= rc->cfg->redis_min_replicas;
    if (rc->ac == ac && rc->outstanding > 0)
        rc->outstanding--;
    if (reply != NULL)
        rc->last_progress_ms = util_mono_ms();
    if (reply != NULL && !ok) {
        char got[24];
        snprintf(got, sizeof(got), "%lld",
                 reply->type == REDIS_REPLY_INTEGER ? (long long)reply->integer : -1LL);
        LOG_WARN("redis replicas did not confirm the writes in time", "confirmed", got, NULL);
    }
    rc->wait_in_flight = 0;
    for (size_t i = 0; i < b->n; i++)
        b->w[i].cb(ok, b->w[i].arg);
    free(b->w);
    free(b);
    if (rc->n_waiters > 0)
        event_active(rc->wait_ev, EV_TIMEOUT, 0);
}

/* Runs once the replies read in this loop pass have been handled: one WAIT then covers every
 * write this connection made before it. */
static void on_wait_ev(evutil_socket_t fd, short what, void *arg)
{
    struct rconn *rc = arg;
    char n[24], ms[24];
    if (rc->wait_in_flight || rc->n_waiters == 0)
        return;
    struct wait_batch *b = malloc(sizeof(*b));
    if (b == NULL)
        goto fail;
    b->rc = rc;
    b->w = rc->waiters;
    b->n = rc->n_waiters;
    snprintf(n, sizeof(n), "%lld", (long long)rc->cfg->redis_min_replicas);
    snprintf(ms, sizeof(ms), "%lld", (long long)rc->cfg->redis_replica_timeout_ms);
    const char *argv[] = {"WAIT", n, ms};
    if (!rconn_ready(rc) ||
        redisAsyncCommandArgv(rc->ac, on_wait_reply, b, 3, argv, NULL) != REDIS_OK) {
        free(b);
        goto fail;
    }
    rc->waiters = NULL;
    rc->n_waiters = rc->cap_waiters = 0;
    rc->wait_in_flight = 1;
    if (rc->outstanding++ == 0)
        rc->last_progress_ms = util_mono_ms();
    return;
fail:;
    struct waiter *w = rc->waiters;
    size_t count = rc->n_waiters;
    rc->waiters = NULL;
    rc->n_waiters = rc->cap_waiters = 0;
    for (size_t i = 0; i < count; i++)
        w[i].cb(0, w[i].arg);
    free(w);
}

int rconn_wait(struct rconn *rc, rconn_wait_cb cb, void *arg)
{
    if (!rconn_ready(rc))
        return -1;
    if (rc->n_waiters == rc->cap_waiters) {
        size_t cap = rc->cap_waiters ? rc->cap_waiters * 2 : 16;
        struct waiter *w = realloc(rc->waiters, cap * sizeof(*w));
        if (w == NULL)
            return -1;
        rc->waiters = w;
        rc->cap_waiters = cap;
    }
    rc->waiters[rc->n_waiters++] = (struct waiter){cb, arg};
    if (!rc->wait_in_flight)
        event_active(rc->wait_ev, EV_TIMEOUT, 0);
    return 0;
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
    snprintf(rc->host, sizeof(rc->host), "%s", cfg->redis_host);
    rc->port = cfg->redis_port;
    rc->reconnect_ev = evtimer_new(base, on_reconnect_timer, rc);
    rc->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, rc);
    rc->drop_ev = event_new(base, -1, 0, on_drop, rc);
    rc->ha_ev = evtimer_new(base, on_ha_check, rc);
    rc->wait_ev = event_new(base, -1, 0, on_wait_ev, rc);
    if (rc->reconnect_ev == NULL || rc->tick_ev == NULL || rc->drop_ev == NULL ||
        rc->ha_ev == NULL || rc->wait_ev == NULL) {
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
    if (rc->drop_ev)
        event_free(rc->drop_ev);
    if (rc->wait_ev)
        event_free(rc->wait_ev);
    /* Waiters not yet sent: their writes were never confirmed. */
    for (size_t i = 0; i < rc->n_waiters; i++)
        rc->waiters[i].cb(0, rc->waiters[i].arg);
    free(rc->waiters);
    if (rc->ha_ev)
        event_free(rc->ha_ev);
    sentinel_query_free(rc->sq);
    free(rc);
}

void rconn_flush(struct rconn *rc)
{
    if (rconn_ready(rc))
        redisAsyncHandleWrite(rc->ac);
}

int rconn_ready(const struct rconn *rc)
{
    return rc->ac != NULL && rc->connected;
}

const char *rconn_ha_problem(const struct rconn *rc)
{
    return rc->ha_problem[0] ? rc->ha_problem : NULL;
}

const char *rconn_unready_reason(const struct rconn *rc)
{
    if (!rconn_ready(rc))
        return "redis is not reachable";
    if (rc->auth_failed)
        return "redis refused authentication (check the password in redis.url)";
    if (rc->write_refusal)
        return rc->write_refusal;
    if (util_mono_ms() - rc->last_ok_ms > RCONN_READY_WITHIN_MS)
        return "redis is not answering";
    return NULL;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* Appends v in decimal. */
static char *put_len(char *o, size_t v)
{
    char tmp[24];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (k > 0)
        *o++ = tmp[--k];
    return o;
}

static char *put_arg(char *o, const char *s, size_t n)
{
    *o++ = '$';
    o = put_len(o, n);
    *o++ = '\r';
    *o++ = '\n';
    memcpy(o, s, n);
    o += n;
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

/* Queues p's command (for a script: verb and body first) in RESP, formatted here in one pass
 * with one allocation: hiredis's redisAsyncCommandArgv formats each argument through
 * sdscatfmt, which showed in the relay's profile for its batches of 2 + 11 per event. */
static int send_pending(struct rconn *rc, struct pending *p, const char *verb, const char *body)
{
    size_t vl = p->script ? strlen(verb) : 0, bl = p->script ? strlen(body) : 0;
    int argc = p->argc + (p->script ? 2 : 0);
    size_t size = 16 + (p->script ? vl + bl + 2 * 32 : 0);
    for (int i = 0; i < p->argc; i++)
        size += p->argvlen[i] + 32; /* "$<len>\r\n...\r\n" */
    char *cmd = malloc(size), *o = cmd;
    int rv = -1;
    if (cmd == NULL)
        return -1;
    *o++ = '*';
    o = put_len(o, (size_t)argc);
    *o++ = '\r';
    *o++ = '\n';
    if (p->script) {
        o = put_arg(o, verb, vl);
        o = put_arg(o, body, bl);
    }
    for (int i = 0; i < p->argc; i++)
        o = put_arg(o, p->argv[i], p->argvlen[i]);
    if (redisAsyncFormattedCommand(rc->ac, on_reply, p, cmd, (size_t)(o - cmd)) == REDIS_OK) {
        if (rc->outstanding++ == 0)
            rc->last_progress_ms = util_mono_ms();
        rv = 0;
    }
    free(cmd);
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
    /* A master demoted by a failover answers READONLY (or LOADING while it resyncs): find the
     * new one. This command still fails; the next ones go to the new master. */
    if (rc->cfg->n_sentinels > 0 && rc->ac == ac && sentinel_is_failover_error(reply))
        event_active(rc->drop_ev, EV_TIMEOUT, 0);
    if (rc->ac == ac)
        note_reply(rc, reply, p->script != NULL);
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
