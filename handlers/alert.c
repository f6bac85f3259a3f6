#include "handlers/alert.h"

#include <event2/event.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "handlers/alert_msg.h"
#include "handlers/backoff.h"
#include "handlers/hclient.h"
#include "queue/alerts.h"
#include "queue/rconn.h"

#define TICK_MS 1000          /* conditions, the outbox and new messages: once a second */
#define REDIS_TIMEOUT_MS 2000 /* its own connection: a stalled Redis delays only alerts */
#define HOLD_MAX 4            /* messages of one receiver held in memory at once */
#define IN_FLIGHT_MAX 2       /* POSTs to one receiver at once */
#define ATTEMPTS 4            /* then the message is logged and dropped */
#define POST_TIMEOUT_MS 5000
#define BACKOFF_BASE_MS 1000 /* 1 s, 2 s, 4 s (with jitter) between attempts */
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_MS 20000 /* a receiver's Retry-After is honoured up to this */
/* Longer than a held message can take (it waits for at most one round of IN_FLIGHT_MAX others,
 * each ATTEMPTS * POST_TIMEOUT_MS plus the backoff): a lease that ends while its worker still
 * holds the message would let another worker send it too; a Retry-After adds at most
 * RETRY_AFTER_MAX_MS per attempt. */
#define LEASE_MS 180000
#define LEASE_MARGIN_MS 15000
#define MAX_RESPONSE 1024

struct held {
    struct alert *a;
    struct sink *sk;
    struct held *next;
    struct alerts_msg m;
    char *body;
    int attempts;
    int64_t next_at;  /* monotonic ms: not before */
    int64_t taken_at; /* monotonic ms: when its lease began */
    struct hclient_call *call;
};

struct sink {
    const struct alert_sink *cfg;
    char id[ALERTS_SINK_ID_LEN + 1];
    char host[128]; /* for logs: never the whole URL (a Slack path is a credential) */
    struct held *q;
    size_t n_held, n_flight;
};

struct ack {
    const char *sink;    /* a struct sink's id */
    const char *outcome; /* static: "sent" or "failed" */
    char *id;
};

struct alert {
    const struct config *cfg;
    struct event_base *base;
    struct hclient *hc;
    struct rconn *rc;
    struct event *timer;
    struct alert_redact *redact;
    struct sink *sinks;
    size_t n_sinks;
    struct ack *acks; /* finished messages not yet told to Redis */
    size_t n_acks, cap_acks;
    struct ack *sent_acks; /* those the script in flight carries */
    size_t n_sent_acks;
    int busy;    /* a tick's script is out */
    int closing; /* alert_free: callbacks do nothing */
};

/* ---- acks ----------------------------------------------------------------------------------- */

static void ack(struct alert *a, const struct sink *sk, const char *id, const char *outcome)
{
    if (a->n_acks == a->cap_acks) {
        size_t cap = a->cap_acks ? a->cap_acks * 2 : 16;
        struct ack *v = realloc(a->acks, sizeof(*v) * cap);
        if (v == NULL)
            return; /* its lease ends and it is sent again: a duplicate, not a loss */
        a->acks = v;
        a->cap_acks = cap;
    }
    char *c = strdup(id);
    if (c == NULL)
        return;
    a->acks[a->n_acks++] = (struct ack){sk->id, outcome, c};
}

static void free_acks(struct ack *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].id);
    free(v);
}

/* ---- sending -------------------------------------------------------------------------------- */

static void held_free(struct held *h)
{
    if (h == NULL)
        return;
    alerts_msg_clear(&h->m);
    free(h->body);
    free(h);
}

static void unlink_held(struct held *h)
{
    struct sink *sk = h->sk;
    for (struct held **p = &sk->q; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            sk->n_held--;
            return;
        }
}

static void pump(struct alert *a, struct sink *sk);

/* The message is done with (sent, or given up): Redis forgets it with the next tick. */
static void finish(struct held *h, const char *outcome)
{
    ack(h->a, h->sk, h->m.id, outcome);
    unlink_held(h);
    held_free(h);
}

static void attempt_failed(struct held *h, long status, const char *retry_after, const char *error)
{
    struct sink *sk = h->sk;
    int retry = status == 0 || backoff_classify(status) == BACKOFF_RETRY;
    if (retry && h->attempts < ATTEMPTS) {
        uint32_t rnd = 0;
        int64_t min_ms = 0;
        /* Slack answers 429 with a Retry-After: honoured up to a bound that keeps the whole
         * life of a message well inside its lease */
        if (retry_after && backoff_honours_retry_after(status) &&
            backoff_parse_retry_after(retry_after, util_now_ms(), &min_ms) == 0 &&
            min_ms > RETRY_AFTER_MAX_MS)
            min_ms = RETRY_AFTER_MAX_MS;
        (void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
        int64_t delay = backoff_delay_ms(BACKOFF_BASE_MS, BACKOFF_MAX_MS, h->attempts, min_ms, rnd);
        h->next_at = util_mono_ms() + delay;
        LOG_WARN("alert not taken, retrying", "alert_type", h->m.type, "subject", h->m.subject,
                 "receiver", sk->host, LOG_INT("attempt", h->attempts),
                 LOG_INT("http_status", status), "error", error, LOG_INT("retry_in_ms", delay),
                 NULL);
        return;
    }
    /* relay_alerts_total{outcome="failed"} in log form */
    LOG_ERROR("alert dropped", "alert_type", h->m.type, "subject", h->m.subject, "receiver",
              sk->host, LOG_INT("attempts", h->attempts), LOG_INT("http_status", status), "error",
              error, "outcome", "failed", NULL);
    finish(h, "failed");
}

static void on_posted(const struct hclient_response *res, void *arg)
{
    struct held *h = arg;
    struct alert *a = h->a;
    struct sink *sk = h->sk;

    h->call = NULL;
    sk->n_flight--;
    if (res->error == HCLIENT_OK && res->status >= 200 && res->status < 300) {
        LOG_INFO("alert sent", "alert_type", h->m.type, "subject", h->m.subject, "state",
                 h->m.state, LOG_INT("count", h->m.count), "receiver", sk->host,
                 LOG_INT("attempt", h->attempts), LOG_INT("http_status", res->status), "outcome",
                 "sent", NULL);
        finish(h, "sent");
    } else {
        attempt_failed(h, res->status, res->retry_after,
                       res->error != HCLIENT_OK ? hclient_error_code(res->error) : NULL);
    }
    pump(a, sk);
}

static void pump(struct alert *a, struct sink *sk)
{
    static const char *const headers[] = {"Content-Type: application/json",
                                          "User-Agent: relay/" RELAY_VERSION, NULL};
    int64_t now = util_mono_ms();
    struct held *next;

    for (struct held *h = sk->q; h && sk->n_flight < IN_FLIGHT_MAX && !a->closing; h = next) {
        next = h->next;
        if (h->call || h->next_at > now)
            continue;
        if (now - h->taken_at > LEASE_MS - LEASE_MARGIN_MS) {
            /* its lease is (nearly) over: another worker takes it, this one lets go unacked
             * rather than risk sending it twice */
            LOG_WARN("alert lease ending, left to another worker", "alert_type", h->m.type,
                     "subject", h->m.subject, "receiver", sk->host, NULL);
            unlink_held(h);
            held_free(h);
            continue;
        }
        struct hclient_request req = {.method = "POST",
                                      .url = sk->cfg->url.value,
                                      .headers = headers,
                                      .body = h->body,
                                      .body_len = strlen(h->body),
                                      .timeout_ms = POST_TIMEOUT_MS,
                                      .max_body = MAX_RESPONSE};
        h->attempts++;
        h->call = hclient_start(a->hc, &req, on_posted, h);
        if (h->call == NULL) {
            attempt_failed(h, 0, NULL, "request not started");
            continue;
        }
        sk->n_flight++;
    }
}

/* ---- the tick ------------------------------------------------------------------------------- */

static struct sink *find_sink(struct alert *a, const char *id)
{
    for (size_t i = 0; i < a->n_sinks; i++)
        if (strcmp(a->sinks[i].id, id) == 0)
            return &a->sinks[i];
    return NULL;
}

/* Takes one leased message into its receiver's queue, or acknowledges and drops it. */
static void take(struct alert *a, struct alerts_msg *m)
{
    struct sink *sk = find_sink(a, m->sink);
    if (sk == NULL)
        return; /* never: the script gives only messages of the receivers this worker named */
    if (!m->ok) {
        LOG_ERROR("alert malformed in redis, dropped", "receiver", sk->host, NULL);
        ack(a, sk, m->id, "failed");
        return;
    }
    struct held *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return; /* its lease ends and a worker takes it again */
    h->a = a;
    h->sk = sk;
    h->taken_at = util_mono_ms();
    h->m = *m;
    memset(m, 0, sizeof(*m));
    h->body = alert_msg_body(sk->cfg->format, &h->m, a->redact);
    if (h->body == NULL) {
        held_free(h);
        return;
    }
    struct held **p = &sk->q;
    while (*p)
        p = &(*p)->next;
    *p = h;
    sk->n_held++;
}

/* The acks the failed script carried go again with the next tick. */
static void restore_acks(struct alert *a)
{
    for (size_t i = 0; i < a->n_sent_acks; i++) {
        struct ack *x = &a->sent_acks[i];
        struct sink *sk = find_sink(a, x->sink);
        if (sk)
            ack(a, sk, x->id, x->outcome);
    }
    free_acks(a->sent_acks, a->n_sent_acks);
    a->sent_acks = NULL;
    a->n_sent_acks = 0;
}

static void on_tick_reply(struct redisReply *r, void *arg)
{
    struct alert *a = arg;
    struct alerts_msg *msgs = NULL;
    size_t n = 0;
    long long dropped = 0;

    if (a->closing)
        return;
    a->busy = 0;
    const char *err = alerts_reply_error(r);
    if (r == NULL || err || alerts_tick_decode(r, &msgs, &n, &dropped) != 0) {
        if (err)
            LOG_ERROR("alerts: redis script failed", "error", err, NULL);
        else if (r)
            LOG_ERROR("alerts: unexpected answer from redis", NULL);
        restore_acks(a);
        return;
    }
    free_acks(a->sent_acks, a->n_sent_acks);
    a->sent_acks = NULL;
    a->n_sent_acks = 0;
    if (dropped > 0)
        LOG_WARN("alerts dropped unsent: too many waiting for a receiver",
                 LOG_INT("dropped", dropped), "outcome", "failed", NULL);
    for (size_t i = 0; i < n; i++)
        take(a, &msgs[i]);
    alerts_msgs_free(msgs, n);
    for (size_t i = 0; i < a->n_sinks; i++)
        pump(a, &a->sinks[i]);
}

static void tick(struct alert *a)
{
    const char *ids[a->n_sinks ? a->n_sinks : 1];
    size_t room[a->n_sinks ? a->n_sinks : 1];
    struct alerts_ack acks[a->n_acks ? a->n_acks : 1];

    for (size_t i = 0; i < a->n_sinks; i++) {
        struct sink *sk = &a->sinks[i];
        ids[i] = sk->id;
        room[i] = sk->n_held < HOLD_MAX ? HOLD_MAX - sk->n_held : 0;
        pump(a, sk); /* retries whose backoff ended */
    }
    if (a->busy || !rconn_ready(a->rc))
        return;
    for (size_t i = 0; i < a->n_acks; i++)
        acks[i] = (struct alerts_ack){a->acks[i].sink, a->acks[i].id, a->acks[i].outcome};
    struct alerts_args *args = alerts_tick_args(a->cfg, ids, room, LEASE_MS, acks, a->n_acks);
    if (args == NULL)
        return;
    if (rconn_script(a->rc, alerts_tick_script(), on_tick_reply, a, 0, alerts_args_count(args),
                     alerts_args_argv(args), NULL) == 0) {
        a->busy = 1;
        /* the acks now ride with the script; back to a->acks if it fails */
        a->sent_acks = a->acks;
        a->n_sent_acks = a->n_acks;
        a->acks = NULL;
        a->n_acks = a->cap_acks = 0;
    }
    alerts_args_free(args);
}

static void on_timer(evutil_socket_t fd, short kind, void *arg)
{
    tick(arg);
}

/* ---- life cycle ----------------------------------------------------------------------------- */

struct alert *alert_new(const struct config *cfg, struct event_base *base)
{
    struct alert *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->cfg = cfg;
    a->base = base;
    if (cfg->n_alerts == 0)
        return a;
    a->sinks = calloc(cfg->n_alerts, sizeof(*a->sinks));
    a->redact = alert_redact_new(cfg);
    a->hc = hclient_new(base);
    a->rc = rconn_new(base, cfg, REDIS_TIMEOUT_MS);
    a->timer = event_new(base, -1, EV_PERSIST, on_timer, a);
    if (a->sinks == NULL || a->redact == NULL || a->hc == NULL || a->rc == NULL ||
        a->timer == NULL) {
        alert_free(a);
        return NULL;
    }
    a->n_sinks = cfg->n_alerts;
    for (size_t i = 0; i < cfg->n_alerts; i++) {
        struct sink *sk = &a->sinks[i];
        sk->cfg = &cfg->alerts[i];
        alerts_sink_id(sk->cfg, sk->id);
        alert_msg_url_host(sk->cfg->url.value, sk->host, sizeof(sk->host));
    }
    return a;
}

int alert_start(struct alert *a)
{
    if (a->timer == NULL)
        return 0;
    struct timeval tv = {.tv_sec = TICK_MS / 1000, .tv_usec = (TICK_MS % 1000) * 1000};
    if (event_add(a->timer, &tv) != 0)
        return -1;
    for (size_t i = 0; i < a->n_sinks; i++)
        LOG_INFO("alerts: sending to a receiver", "receiver", a->sinks[i].host, "format",
                 a->sinks[i].cfg->format == ALERT_FORMAT_SLACK ? "slack" : "json",
                 LOG_INT("min_interval_s", a->sinks[i].cfg->min_interval_s), NULL);
    return 0;
}

void alert_free(struct alert *a)
{
    if (a == NULL)
        return;
    a->closing = 1;
    rconn_free(a->rc); /* runs the reply callback, with NULL, while closing */
    for (size_t i = 0; i < a->n_sinks; i++) {
        struct sink *sk = &a->sinks[i];
        while (sk->q) {
            struct held *h = sk->q;
            sk->q = h->next;
            if (h->call)
                hclient_cancel(a->hc, h->call);
            held_free(h);
        }
    }
    hclient_free(a->hc);
    if (a->timer)
        event_free(a->timer);
    alert_redact_free(a->redact);
    free_acks(a->acks, a->n_acks);
    free_acks(a->sent_acks, a->n_sent_acks);
    free(a->sinks);
    free(a);
}
