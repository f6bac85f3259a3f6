#include "queue/srclimit.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "queue/rsync.h"

#define POLL_MS 20 /* slots taken by others: ask again this often (they are not announced) */
#define REDIS_RETRY_MS 200 /* Redis did not answer an ask: again after this */
#define ASK_MAX 64         /* tokens asked for per call */
#define TOKEN_SIZE 128
#define LEASE_MARGIN_MS 5000     /* a slot outlives its request's timeout by this much at most */
#define DEFAULT_TIMEOUT_MS 10000 /* the longest default request timeout (sync listings) */
#define RELEASE_TIMEOUT_MS 500   /* the blocking hand-back at exit */

enum slot_state {
    SLOT_QUEUED,  /* waiting here */
    SLOT_ASKING,  /* its token is in the ask in flight */
    SLOT_GRANTED, /* granted, its callback not yet run */
    SLOT_HELD,    /* its request runs */
    SLOT_EXPIRED, /* its wait ran out, its callback not yet run */
};

struct srclimit_slot {
    struct sl_src *s;
    enum slot_state state;
    int dropped; /* dropped while asking or granted: freed by the reply's handler */
    srclimit_cb cb;
    void *arg;
    int64_t deadline;                  /* mono ms; 0 = none */
    struct srclimit_slot *prev, *next; /* the queue, while SLOT_QUEUED */
    char token[TOKEN_SIZE];
};

/* One srclimit.lua call in flight: the tokens it released and the slots it asks for. */
struct sl_ask {
    struct sl_src *s; /* NULL once the limiter is freed: the reply only frees this */
    struct sl_ask *prev, *next;
    size_t n_ask, n_rel;
    struct srclimit_slot *ask[ASK_MAX];
    char (*rel)[TOKEN_SIZE];
};

/* One source's waiting requests and releases not yet sent. */
struct sl_src {
    struct srclimit *sl;
    const struct source *src;
    struct srclimit_slot *head, *tail;
    size_t n_queued, n_held;
    char (*rel)[TOKEN_SIZE];
    size_t n_rel, cap_rel;
    /* Calls in flight. An ask goes out at once even while others are out (its request waits
     * one round trip, not two); releases alone wait to ride on the next call. */
    struct sl_ask *out;
    size_t n_out;
    int64_t ask_after; /* mono ms: no ask before this (rate window, poll, Redis down) */
};

struct srclimit {
    struct event_base *base;
    struct rconn *rc;
    const struct config *cfg;
    char owner[96];
    uint64_t seq;
    struct sl_src *srcs;
    size_t n_srcs;
    struct event *kick, *timer;
    int timer_on;
};

static void flush_all(struct srclimit *sl);

/* ---- bookkeeping ---------------------------------------------------------------------------- */

static void queue_unlink(struct sl_src *s, struct srclimit_slot *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        s->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        s->tail = x->prev;
    x->prev = x->next = NULL;
    s->n_queued--;
}

static void queue_push(struct sl_src *s, struct srclimit_slot *x)
{
    x->state = SLOT_QUEUED;
    x->next = NULL;
    x->prev = s->tail;
    if (s->tail)
        s->tail->next = x;
    else
        s->head = x;
    s->tail = x;
    s->n_queued++;
}

static void queue_push_front(struct sl_src *s, struct srclimit_slot *x)
{
    x->state = SLOT_QUEUED;
    x->prev = NULL;
    x->next = s->head;
    if (s->head)
        s->head->prev = x;
    else
        s->tail = x;
    s->head = x;
    s->n_queued++;
}

/* Keeps token to be released with the next call. Out of memory: it lapses with its lease. */
static void rel_add(struct sl_src *s, const char *token)
{
    if (s->n_rel == s->cap_rel) {
        size_t cap = s->cap_rel ? s->cap_rel * 2 : 16;
        char(*r)[TOKEN_SIZE] = realloc(s->rel, cap * TOKEN_SIZE);
        if (r == NULL)
            return;
        s->rel = r;
        s->cap_rel = cap;
    }
    memcpy(s->rel[s->n_rel++], token, TOKEN_SIZE);
}

static void arm_timer(struct srclimit *sl)
{
    if (sl->timer_on)
        return;
    struct timeval tv = {.tv_sec = 0, .tv_usec = POLL_MS * 1000};
    if (evtimer_add(sl->timer, &tv) == 0)
        sl->timer_on = 1;
}

static void kick(struct srclimit *sl)
{
    event_active(sl->kick, EV_TIMEOUT, 1);
}

static int64_t lease_ms(const struct source *src)
{
    int64_t t = src->api_timeout_ms > DEFAULT_TIMEOUT_MS ? src->api_timeout_ms : DEFAULT_TIMEOUT_MS;
    return t + LEASE_MARGIN_MS;
}

/* ---- the call ------------------------------------------------------------------------------- */

static void on_reply(redisReply *r, void *arg)
{
    struct sl_ask *a = arg;
    struct sl_src *s = a->s;
    struct srclimit_slot *granted[ASK_MAX];
    size_t n_granted = 0;

    if (s == NULL) { /* the limiter is gone */
        free(a->rel);
        free(a);
        return;
    }
    if (a->prev)
        a->prev->next = a->next;
    else
        s->out = a->next;
    if (a->next)
        a->next->prev = a->prev;
    s->n_out--;
    int64_t now = util_mono_ms();
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        /* Redis may or may not have run it: the releases are sent again (a second ZREM is
         * harmless) and so is every ask, with the same tokens (a second ZADD only moves the
         * expiry); an abandoned token is released too */
        if (r && r->type == REDIS_REPLY_ERROR)
            LOG_ERROR("redis script failed", "op", "srclimit", "error", r->str, NULL);
        for (size_t i = 0; i < a->n_rel; i++)
            rel_add(s, a->rel[i]);
        for (size_t i = a->n_ask; i-- > 0;) {
            struct srclimit_slot *x = a->ask[i];
            if (x->dropped) {
                rel_add(s, x->token);
                free(x);
            } else {
                queue_push_front(s, x);
            }
        }
        s->ask_after = now + REDIS_RETRY_MS;
        free(a->rel);
        free(a);
        arm_timer(s->sl);
        return;
    }
    long long n = r->element[0]->integer;
    long long retry = r->element[1]->type == REDIS_REPLY_INTEGER ? r->element[1]->integer : 0;
    for (size_t i = a->n_ask; i-- > 0;) {
        struct srclimit_slot *x = a->ask[i];
        if ((long long)i < n && x->dropped) {
            rel_add(s, x->token); /* granted to a request that stopped waiting */
            free(x);
        } else if ((long long)i < n) {
            x->state = SLOT_GRANTED;
            s->n_held++;
            granted[n_granted++] = x;
        } else if (x->dropped) {
            free(x);
        } else {
            queue_push_front(s, x);
        }
    }
    if ((long long)a->n_ask > n)
        s->ask_after = now + (retry > 0 ? retry : POLL_MS);
    free(a->rel);
    free(a);
    /* oldest first; a callback may drop any slot, granted ones included */
    for (size_t i = n_granted; i-- > 0;) {
        struct srclimit_slot *x = granted[i];
        if (x->dropped) {
            free(x);
            continue;
        }
        x->state = SLOT_HELD;
        x->cb(x, x->arg);
    }
    if (s->n_queued > 0 || s->n_rel > 0)
        kick(s->sl);
}

/* Drops the queued waits whose deadline passed (their callbacks get NULL). */
static void expire(struct sl_src *s, int64_t now)
{
    struct srclimit_slot *gone = NULL;
    for (struct srclimit_slot *x = s->head, *next; x; x = next) {
        next = x->next;
        if (x->deadline > 0 && x->deadline <= now) {
            queue_unlink(s, x);
            x->state = SLOT_EXPIRED;
            x->next = gone;
            gone = x;
        }
    }
    while (gone) {
        struct srclimit_slot *x = gone;
        gone = x->next;
        if (!x->dropped) /* a callback before may have dropped it */
            x->cb(NULL, x->arg);
        free(x);
    }
}

static void flush(struct sl_src *s)
{
    struct srclimit *sl = s->sl;
    const struct config *cfg = sl->cfg;
    int64_t now = util_mono_ms();

    expire(s, now);
    size_t n_ask = now >= s->ask_after ? s->n_queued : 0;
    if (n_ask > ASK_MAX)
        n_ask = ASK_MAX;
    if (n_ask == 0 && (s->n_rel == 0 || s->n_out > 0))
        return; /* releases alone: with the next call (a reply flushes again) */
    struct sl_ask *a = calloc(1, sizeof(*a));
    size_t argc = 6 + s->n_rel + n_ask;
    const char **argv = malloc(argc * sizeof(*argv));
    if (a == NULL || argv == NULL) {
        free(a);
        free(argv);
        s->ask_after = now + REDIS_RETRY_MS;
        return;
    }
    char max[24], rate[32], lease[24], nrel[24];
    snprintf(max, sizeof(max), "%" PRId64, s->src->api_max_in_flight);
    snprintf(rate, sizeof(rate), "%.6f", s->src->api_rate_per_s);
    snprintf(lease, sizeof(lease), "%" PRId64, lease_ms(s->src));
    snprintf(nrel, sizeof(nrel), "%zu", s->n_rel);
    argv[0] = cfg->redis_prefix;
    argv[1] = s->src->name;
    argv[2] = max;
    argv[3] = rate;
    argv[4] = lease;
    argv[5] = nrel;
    for (size_t i = 0; i < s->n_rel; i++)
        argv[6 + i] = s->rel[i];
    struct srclimit_slot *x = s->head;
    for (size_t i = 0; i < n_ask; i++, x = x->next)
        argv[6 + s->n_rel + i] = x->token;
    a->s = s;
    if (rconn_script(sl->rc, lua_srclimit, on_reply, a, 0, (int)argc, argv, NULL) != 0) {
        free(a);
        free(argv);
        s->ask_after = now + REDIS_RETRY_MS;
        arm_timer(sl);
        return;
    }
    free(argv);
    /* sent (the connection copied the arguments): the call owns the releases and the asks */
    a->rel = s->rel;
    a->n_rel = s->n_rel;
    s->rel = NULL;
    s->n_rel = s->cap_rel = 0;
    for (size_t i = 0; i < n_ask; i++) {
        struct srclimit_slot *y = s->head;
        queue_unlink(s, y);
        y->state = SLOT_ASKING;
        a->ask[a->n_ask++] = y;
    }
    a->next = s->out;
    if (s->out)
        s->out->prev = a;
    s->out = a;
    s->n_out++;
}

static void flush_all(struct srclimit *sl)
{
    int pending = 0;
    for (size_t i = 0; i < sl->n_srcs; i++) {
        flush(&sl->srcs[i]);
        pending |= sl->srcs[i].n_queued > 0 || sl->srcs[i].n_rel > 0;
    }
    if (pending)
        arm_timer(sl);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    flush_all(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct srclimit *sl = arg;
    sl->timer_on = 0;
    flush_all(sl);
}

/* ---- the API -------------------------------------------------------------------------------- */

struct srclimit *srclimit_new(struct event_base *base, struct rconn *rc, const struct config *cfg,
                              const char *owner)
{
    struct srclimit *sl = calloc(1, sizeof(*sl));
    if (sl == NULL)
        return NULL;
    sl->base = base;
    sl->rc = rc;
    sl->cfg = cfg;
    snprintf(sl->owner, sizeof(sl->owner), "%s", owner);
    sl->n_srcs = cfg->n_sources;
    sl->srcs = calloc(cfg->n_sources + 1, sizeof(*sl->srcs));
    sl->kick = event_new(base, -1, 0, on_kick, sl);
    sl->timer = evtimer_new(base, on_timer, sl);
    if (sl->srcs == NULL || sl->kick == NULL || sl->timer == NULL) {
        srclimit_free(sl);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_sources; i++) {
        sl->srcs[i].sl = sl;
        sl->srcs[i].src = &cfg->sources[i];
    }
    return sl;
}

/* Hands back the tokens in toks (n) with one blocking call: at exit, so that the other
 * workers get the slots now rather than when they lapse. */
static void hand_back(struct srclimit *sl, const struct source *src, char (*toks)[TOKEN_SIZE],
                      size_t n)
{
    if (n == 0)
        return;
    const char **argv = malloc((6 + n) * sizeof(*argv));
    struct rsync *rs = argv ? rsync_new(sl->cfg, RELEASE_TIMEOUT_MS) : NULL;
    if (rs) {
        char nrel[24];
        snprintf(nrel, sizeof(nrel), "%zu", n);
        argv[0] = sl->cfg->redis_prefix;
        argv[1] = src->name;
        argv[2] = "1";
        argv[3] = "0";
        argv[4] = "1";
        argv[5] = nrel;
        for (size_t i = 0; i < n; i++)
            argv[6 + i] = toks[i];
        redisReply *r = rsync_script(rs, lua_srclimit, 0, (int)(6 + n), argv, NULL);
        if (r)
            freeReplyObject(r);
    }
    rsync_free(rs);
    free(argv);
}

void srclimit_free(struct srclimit *sl)
{
    if (sl == NULL)
        return;
    for (size_t i = 0; sl->srcs && i < sl->n_srcs; i++) {
        struct sl_src *s = &sl->srcs[i];
        while (s->head) {
            struct srclimit_slot *x = s->head;
            queue_unlink(s, x);
            free(x);
        }
        for (struct sl_ask *a = s->out; a; a = a->next) {
            /* its reply (if any) finds no limiter; what it asked for is handed back */
            for (size_t k = 0; k < a->n_ask; k++) {
                rel_add(s, a->ask[k]->token);
                free(a->ask[k]);
            }
            a->n_ask = 0;
            a->s = NULL;
        }
        hand_back(sl, s->src, s->rel, s->n_rel);
        free(s->rel);
    }
    if (sl->kick)
        event_free(sl->kick);
    if (sl->timer)
        event_free(sl->timer);
    free(sl->srcs);
    free(sl);
}

static struct sl_src *find_src(struct srclimit *sl, const struct source *src)
{
    for (size_t i = 0; i < sl->n_srcs; i++)
        if (sl->srcs[i].src == src || strcmp(sl->srcs[i].src->name, src->name) == 0)
            return &sl->srcs[i];
    return NULL;
}

struct srclimit_slot *srclimit_acquire(struct srclimit *sl, const struct source *src,
                                       int64_t wait_ms, int first, srclimit_cb cb, void *arg)
{
    struct sl_src *s = find_src(sl, src);
    if (s == NULL)
        return NULL;
    struct srclimit_slot *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return NULL;
    x->s = s;
    x->cb = cb;
    x->arg = arg;
    x->deadline = wait_ms > 0 ? util_mono_ms() + wait_ms : 0;
    snprintf(x->token, sizeof(x->token), "%s:%" PRIx64, sl->owner, ++sl->seq);
    if (first)
        queue_push_front(s, x);
    else
        queue_push(s, x);
    kick(sl);
    return x;
}

void srclimit_drop(struct srclimit_slot *x)
{
    if (x == NULL)
        return;
    struct sl_src *s = x->s;
    switch (x->state) {
    case SLOT_QUEUED:
        queue_unlink(s, x);
        free(x);
        return;
    case SLOT_ASKING:
    case SLOT_EXPIRED:
        x->dropped = 1; /* freed by the reply's (or the expiry's) handler */
        return;
    case SLOT_GRANTED:
    case SLOT_HELD:
        rel_add(s, x->token);
        s->n_held--;
        /* a slot of ours came free: the requests waiting here may ask at once */
        s->ask_after = 0;
        if (x->state == SLOT_GRANTED)
            x->dropped = 1; /* freed by the reply's handler */
        else
            free(x);
        kick(s->sl);
        return;
    }
}

void srclimit_counts(const struct srclimit *sl, size_t *waiting, size_t *held)
{
    *waiting = *held = 0;
    for (size_t i = 0; i < sl->n_srcs; i++) {
        *waiting += sl->srcs[i].n_queued;
        for (const struct sl_ask *a = sl->srcs[i].out; a; a = a->next)
            *waiting += a->n_ask;
        *held += sl->srcs[i].n_held;
    }
}
