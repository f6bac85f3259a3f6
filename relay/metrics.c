#include "relay/metrics.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/metrics_hash.h"
#include "queue/ops.h"
#include "queue/rconn.h"
#include "relay/http.h"

/* Label sets stay bounded whatever senders put in a URL: webhook paths name sources, and an
 * unknown name is counted under its own label only until UNKNOWN_SOURCES_MAX of them have
 * been seen; later ones share OTHER_LABEL. Codes per source are bounded the same way. */
#define UNKNOWN_SOURCES_MAX 100
#define CODES_MAX 32
#define LABEL_MAX 64
#define OTHER_LABEL "_other"
/* A scrape body never grows past this (it is a few kB for a normal config). */
#define BODY_MAX (8 * 1024 * 1024)

static const char *const outcomes[] = {"queued", "duplicate", "ignored", "rejected"};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

/* Rejection codes a configured source can get (README, "Endpoints"), shown at zero from the start.
 */
static const char *const known_codes[] = {
    "method_not_allowed", "payload_too_large",          "unsupported_media_type",
    "signature_missing",  "timestamp_out_of_tolerance", "signature_invalid",
    "invalid_json",       "invalid_envelope",           "queue_unavailable"};

static const char *const delivery_outcomes[] = {"delivered", "retried", "failed", "superseded"};
/* Histogram bucket bounds (seconds); the worker's complete.lua writes the same ones. */
static const char *const bounds[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                                     "1",     "2.5",  "5",     "10",   "30",  "60",   "300"};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct code_count {
    char *code;
    uint64_t n;
};

struct source_counts {
    char *name;
    uint64_t outcome[N_OUTCOMES];
    struct code_count codes[CODES_MAX + 1]; /* +1: OTHER_LABEL */
    size_t n_codes;
    int64_t last_received_ms; /* last request whose signature verified; 0 = none yet */
};

struct metrics {
    const struct config *cfg;
    struct rconn *rc;
    struct source_counts *src;
    size_t n_src, cap_src;
    size_t n_unknown;
    char *(*section)(void *arg); /* metrics_add_section */
    void *section_arg;
};

void metrics_add_section(struct metrics *m, char *(*text)(void *arg), void *arg)
{
    m->section = text;
    m->section_arg = arg;
}

/* ---- in-process counters --------------------------------------------------------------- */

static struct source_counts *add_source(struct metrics *m, const char *name)
{
    if (m->n_src == m->cap_src) {
        size_t cap = m->cap_src ? m->cap_src * 2 : 8;
        struct source_counts *s = realloc(m->src, sizeof(*s) * cap);
        if (s == NULL)
            return NULL;
        m->src = s;
        m->cap_src = cap;
    }
    struct source_counts *s = &m->src[m->n_src];
    memset(s, 0, sizeof(*s));
    s->name = strdup(name);
    if (s->name == NULL)
        return NULL;
    m->n_src++;
    return s;
}

static struct code_count *add_code(struct source_counts *s, const char *code)
{
    for (size_t i = 0; i < s->n_codes; i++)
        if (strcmp(s->codes[i].code, code) == 0)
            return &s->codes[i];
    if (s->n_codes >= CODES_MAX) {
        if (strcmp(code, OTHER_LABEL) == 0)
            return NULL;
        return add_code(s, OTHER_LABEL);
    }
    char *c = strdup(code);
    if (c == NULL)
        return NULL;
    s->codes[s->n_codes].code = c;
    s->codes[s->n_codes].n = 0;
    return &s->codes[s->n_codes++];
}

/* A label value safe to keep: at most LABEL_MAX bytes of valid UTF-8 (escaping happens when
 * the page is written). */
static void label_value(const char *in, char out[LABEL_MAX + 1])
{
    size_t n = strlen(in);
    if (n > LABEL_MAX)
        n = LABEL_MAX;
    memcpy(out, in, n);
    out[n] = '\0';
    if (!util_utf8_valid((const unsigned char *)out, n))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)out[i] >= 0x80)
                out[i] = '?';
}

static struct source_counts *find_source(struct metrics *m, const char *name)
{
    char label[LABEL_MAX + 1];
    label_value(name ? name : "", label);
    for (size_t i = 0; i < m->n_src; i++)
        if (strcmp(m->src[i].name, label) == 0)
            return &m->src[i];
    if (m->n_unknown >= UNKNOWN_SOURCES_MAX) {
        for (size_t i = 0; i < m->n_src; i++)
            if (strcmp(m->src[i].name, OTHER_LABEL) == 0)
                return &m->src[i];
        return add_source(m, OTHER_LABEL);
    }
    m->n_unknown++;
    return add_source(m, label);
}

struct metrics *metrics_new(const struct config *cfg, struct rconn *rc)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->cfg = cfg;
    m->rc = rc;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        struct source_counts *s = add_source(m, cfg->sources[i].name);
        if (s == NULL)
            goto fail;
        for (size_t k = 0; k < sizeof(known_codes) / sizeof(known_codes[0]); k++)
            if (add_code(s, known_codes[k]) == NULL)
                goto fail;
    }
    return m;
fail:
    metrics_free(m);
    return NULL;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_src; i++) {
        free(m->src[i].name);
        for (size_t k = 0; k < m->src[i].n_codes; k++)
            free(m->src[i].codes[k].code);
    }
    free(m->src);
    free(m);
}

void metrics_webhook(struct metrics *m, const char *source, const char *outcome)
{
    struct source_counts *s = find_source(m, source);
    if (s == NULL)
        return;
    for (size_t i = 0; i < N_OUTCOMES; i++)
        if (strcmp(outcome, outcomes[i]) == 0)
            s->outcome[i]++;
}

void metrics_verified(struct metrics *m, const char *source, int64_t now_ms)
{
    if (config_source(m->cfg, source) == NULL)
        return;
    struct source_counts *s = find_source(m, source);
    if (s && now_ms > s->last_received_ms)
        s->last_received_ms = now_ms;
}

void metrics_rejection(struct metrics *m, const char *source, const char *code)
{
    char label[LABEL_MAX + 1];
    struct source_counts *s = find_source(m, source);
    if (s == NULL)
        return;
    s->outcome[3]++;
    label_value(code ? code : "", label);
    struct code_count *c = add_code(s, label);
    if (c)
        c->n++;
}

/* ---- the page ------------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
    int toobig;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->toobig)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->toobig = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = cap <= BODY_MAX ? realloc(b->p, cap) : NULL;
        if (p == NULL) {
            b->toobig = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* Writes a label value with \\, \" and \n escaped (text format 0.0.4). */
static void blabel(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            bprintf(b, "\\\\");
        else if (*v == '"')
            bprintf(b, "\\\"");
        else if (*v == '\n')
            bprintf(b, "\\n");
        else
            bprintf(b, "%c", *v);
    }
}

static void header(struct buf *b, const char *name, const char *type, const char *help)
{
    bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_ingest(struct metrics *m, struct buf *b)
{
    header(b, "relay_webhooks_total", "counter", "Webhooks received, by source and outcome.");
    for (size_t i = 0; i < m->n_src; i++)
        for (size_t k = 0; k < N_OUTCOMES; k++) {
            bprintf(b, "relay_webhooks_total{source=\"");
            blabel(b, m->src[i].name);
            bprintf(b, "\",outcome=\"%s\"} %llu\n", outcomes[k],
                    (unsigned long long)m->src[i].outcome[k]);
        }
    header(b, "relay_webhook_rejections_total", "counter",
           "Webhooks rejected, by source and error code.");
    for (size_t i = 0; i < m->n_src; i++)
        for (size_t k = 0; k < m->src[i].n_codes; k++) {
            bprintf(b, "relay_webhook_rejections_total{source=\"");
            blabel(b, m->src[i].name);
            bprintf(b, "\",code=\"");
            blabel(b, m->src[i].codes[k].code);
            bprintf(b, "\"} %llu\n", (unsigned long long)m->src[i].codes[k].n);
        }
    header(b, "relay_webhook_last_received_timestamp_seconds", "gauge",
           "Unix time of the last webhook whose signature verified, by source (this process; "
           "0 = none since start).");
    for (size_t i = 0; i < m->n_src; i++) {
        if (config_source(m->cfg, m->src[i].name) == NULL)
            continue;
        bprintf(b, "relay_webhook_last_received_timestamp_seconds{source=\"");
        blabel(b, m->src[i].name);
        bprintf(b, "\"} %.3f\n", (double)m->src[i].last_received_ms / 1000.0);
    }
}

/* A counter or bucket value from P:metrics: digits only, else 0. */
static const char *hash_int(const json_t *h, const char *field)
{
    const char *v = json_string_value(json_object_get(h, field));
    if (v == NULL || v[0] == '\0' || strspn(v, "0123456789") != strlen(v))
        return "0";
    return v;
}

/* metric{l1="name",l2="v"} for each v of vals, from the metrics hash's counter field
 * "<metric without relay_>|name|v" (queue/lua writes them so). */
static void hash_series(struct buf *b, const json_t *h, const char *metric, const char *l1,
                        const char *name, const char *l2, const char *const *vals, size_t n)
{
    char field[256];
    for (size_t k = 0; k < n; k++) {
        snprintf(field, sizeof(field), "%s|%s|%s", metric + strlen("relay_"), name, vals[k]);
        bprintf(b, "%s{%s=\"", metric, l1);
        blabel(b, name);
        bprintf(b, "\",%s=\"%s\"} %s\n", l2, vals[k], hash_int(h, field));
    }
}

static unsigned long long hash_count(const json_t *h, const char *field)
{
    return strtoull(hash_int(h, field), NULL, 10);
}

/* A float sum as earlier builds wrote it (HINCRBYFLOAT): a plain decimal number, else 0. */
static double hash_float(const json_t *h, const char *field)
{
    const char *v = json_string_value(json_object_get(h, field));
    char *end;
    if (v == NULL || v[0] == '\0' || strlen(v) > 40 || strspn(v, "0123456789.-e+") != strlen(v))
        return 0;
    double d = strtod(v, &end);
    return *end == '\0' ? d : 0;
}

/* A histogram sample's name and labels: name_part, then {target="…",le="…"} with those given. */
static void hist_sample(struct buf *b, const char *name, const char *part, const char *target,
                        const char *le)
{
    bprintf(b, "%s_%s", name, part);
    if (target == NULL && le == NULL)
        return;
    bprintf(b, "{");
    if (target) {
        bprintf(b, "target=\"");
        blabel(b, target);
        bprintf(b, "\"%s", le ? "," : "");
    }
    if (le)
        bprintf(b, "le=\"%s\"", le);
    bprintf(b, "}");
}

/* One histogram from P:metrics (docs/redis.md, "Metrics"): complete.lua adds each observation
 * to its own bucket (`_in`) and its ms to `_sum_ms`; the cumulative buckets, the count and the
 * sum in seconds are made here. The cumulative `_bucket`, `_count` and float `_sum` fields that
 * earlier builds wrote are added in, so an upgrade loses no history. */
static void histogram(struct buf *b, const char *name, const json_t *h, const char *target)
{
    char field[256];
    const char *sfx = target ? "|" : "";
    const char *t = target ? target : "";
    /* In P:metrics the names go without the "relay_" namespace. */
    const char *base = strncmp(name, "relay_", 6) == 0 ? name + 6 : name;
    unsigned long long cum = 0;
    for (size_t i = 0; i <= N_BOUNDS; i++) {
        const char *le = i < N_BOUNDS ? bounds[i] : "+Inf";
        snprintf(field, sizeof(field), "%s_in%s%s|%s", base, sfx, t, le);
        cum += hash_count(h, field);
        snprintf(field, sizeof(field), "%s_bucket%s%s|%s", base, sfx, t, le);
        hist_sample(b, name, "bucket", target, le);
        bprintf(b, " %llu\n", cum + hash_count(h, field));
    }
    snprintf(field, sizeof(field), "%s_sum_ms%s%s", base, sfx, t);
    double sum = (double)hash_count(h, field) / 1000.0;
    snprintf(field, sizeof(field), "%s_sum%s%s", base, sfx, t);
    sum += hash_float(h, field);
    hist_sample(b, name, "sum", target, NULL);
    bprintf(b, " %.15g\n", sum);
    snprintf(field, sizeof(field), "%s_count%s%s", base, sfx, t);
    hist_sample(b, name, "count", target, NULL);
    bprintf(b, " %llu\n", cum + hash_count(h, field));
}

/* Catalog sync (queue/lua/sync_*.lua write these fields of P:metrics). */
static void render_sync(const struct config *cfg, struct buf *b, const json_t *h)
{
    static const char *const states[] = {"done", "failed", "cancelled"};
    static const char *const sync_outcomes[] = {"queued", "skipped", "removed"};
    char field[256];
    header(b, "relay_sync_runs_total", "counter", "Catalog sync runs ended, by source and state.");
    for (size_t i = 0; i < cfg->n_sources; i++)
        hash_series(b, h, "relay_sync_runs_total", "source", cfg->sources[i].name, "state", states,
                    sizeof(states) / sizeof(*states));
    header(b, "relay_sync_titles_total", "counter",
           "Titles a catalog sync queued, skipped (unchanged) or removed, by source.");
    for (size_t i = 0; i < cfg->n_sources; i++)
        hash_series(b, h, "relay_sync_titles_total", "source", cfg->sources[i].name, "outcome",
                    sync_outcomes, sizeof(sync_outcomes) / sizeof(*sync_outcomes));
    header(b, "relay_sync_last_success_timestamp_seconds", "gauge",
           "When a catalog sync of the source last ended done (0: never).");
    for (size_t i = 0; i < cfg->n_sources; i++) {
        snprintf(field, sizeof(field), "sync_last_success_timestamp_seconds|%s",
                 cfg->sources[i].name);
        bprintf(b, "relay_sync_last_success_timestamp_seconds{source=\"");
        blabel(b, cfg->sources[i].name);
        bprintf(b, "\"} %s\n", hash_int(h, field));
    }
}

/* Alerts (relay-worker's handlers/alert.c; queue/lua/alert_tick.lua writes these fields). */
static void render_alerts(const struct config *cfg, struct buf *b, const json_t *h)
{
    static const char *const types[] = {
        "delivery.failed", "sync.failed",     "target.circuit_opened", "target.circuit_closed",
        "queue.stalled",   "feed.not_polled", "source.silent"};
    static const char *const alert_outcomes[] = {"sent", "failed", "suppressed"};
    char field[128];
    if (cfg->n_alerts == 0)
        return;
    header(b, "relay_alerts_total", "counter",
           "Alert messages by type and outcome: sent, failed (given up), suppressed (grouped).");
    for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
        for (size_t k = 0; k < 3; k++) {
            snprintf(field, sizeof(field), "alerts_total|%s|%s", types[i], alert_outcomes[k]);
            bprintf(b, "relay_alerts_total{type=\"%s\",outcome=\"%s\"} %s\n", types[i],
                    alert_outcomes[k], hash_int(h, field));
        }
}

static void render_redis(struct metrics *m, struct buf *b, const json_t *stats, const json_t *h)
{
    const struct config *cfg = m->cfg;
    if (stats) {
        const json_t *q = json_object_get(stats, "queues");
        static const char *const states[] = {"ready", "inflight", "scheduled", "failed"};
        header(b, "relay_queue_depth", "gauge",
               "Events and deliveries waiting, by state (docs/redis.md, Queue depth).");
        for (size_t i = 0; i < 4; i++)
            bprintf(b, "relay_queue_depth{state=\"%s\"} %lld\n", states[i],
                    (long long)json_integer_value(json_object_get(q, states[i])));
        header(b, "relay_queue_oldest_seconds", "gauge",
               "Age of the oldest event or delivery ready to be taken (0 when none).");
        bprintf(b, "relay_queue_oldest_seconds %.3f\n",
                json_number_value(json_object_get(stats, "oldest_seconds")));
        header(b, "relay_target_paused", "gauge", "1 while a target is paused.");
        for (size_t i = 0; i < cfg->n_targets; i++) {
            const json_t *t =
                json_object_get(json_object_get(stats, "targets"), cfg->targets[i].name);
            bprintf(b, "relay_target_paused{target=\"");
            blabel(b, cfg->targets[i].name);
            bprintf(b, "\"} %d\n", json_is_true(json_object_get(t, "paused")) ? 1 : 0);
        }
        header(b, "relay_target_circuit_open", "gauge",
               "1 while a push target's circuit breaker is open (its deliveries wait; one probe "
               "per breaker.probe_s).");
        for (size_t i = 0; i < cfg->n_targets; i++) {
            const struct target *tg = &cfg->targets[i];
            if (tg->delivery != DELIVERY_PUSH || tg->breaker_failures <= 0)
                continue;
            const json_t *t = json_object_get(json_object_get(stats, "targets"), tg->name);
            const char *state = json_string_value(json_object_get(t, "circuit"));
            bprintf(b, "relay_target_circuit_open{target=\"");
            blabel(b, tg->name);
            bprintf(b, "\"} %d\n", state && strcmp(state, "open") == 0 ? 1 : 0);
        }
    }
    if (h) {
        header(b, "relay_deliveries_total", "counter",
               "Delivery attempts' results, by target and outcome.");
        for (size_t i = 0; i < cfg->n_targets; i++)
            hash_series(b, h, "relay_deliveries_total", "target", cfg->targets[i].name, "outcome",
                        delivery_outcomes, sizeof(delivery_outcomes) / sizeof(*delivery_outcomes));
        header(b, "relay_delivery_duration_seconds", "histogram",
               "Duration of pushes to a target, by target.");
        for (size_t i = 0; i < cfg->n_targets; i++)
            histogram(b, "relay_delivery_duration_seconds", h, cfg->targets[i].name);
        header(b, "relay_event_to_delivery_seconds", "histogram",
               "Time from webhook accepted to delivered.");
        histogram(b, "relay_event_to_delivery_seconds", h, NULL);
        render_sync(cfg, b, h);
        render_alerts(cfg, b, h);
    }
}

/* ---- scrape --------------------------------------------------------------------------- */

/* One GET /metrics waiting for its two Redis replies. Holds struct metrics, which the relay
 * frees only after the Redis connection (whose teardown answers these with NULL). */
struct scrape {
    struct metrics *m;
    struct http_req *req;
    struct ops_call *call;
    json_t *stats;   /* NULL when Redis did not answer */
    json_t *hash;    /* P:metrics as an object, NULL when Redis did not answer */
    int outstanding; /* replies still expected */
};

static void scrape_finish(struct scrape *s)
{
    struct buf b = {0};
    int up = s->stats != NULL && s->hash != NULL;
    render_ingest(s->m, &b);
    header(&b, "relay_redis_up", "gauge", "1 when Redis answered this scrape.");
    bprintf(&b, "relay_redis_up %d\n", up);
    /* Without Redis the Redis-side series are left out rather than shown as 0: a counter
     * dropping to 0 would read as a reset. */
    render_redis(s->m, &b, s->stats, s->hash);
    if (s->m->section) {
        char *extra = s->m->section(s->m->section_arg);
        if (extra)
            bprintf(&b, "%s", extra);
        free(extra);
    }
    if (b.toobig) {
        http_reply_error(s->req, 500, "internal", "metrics page too large");
    } else {
        http_reply(s->req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.len);
    }
    free(b.p);
    json_decref(s->stats);
    json_decref(s->hash);
    ops_call_free(s->call);
    free(s);
}

static void scrape_done_one(struct scrape *s)
{
    if (--s->outstanding == 0)
        scrape_finish(s);
}

static void on_stats(struct redisReply *reply, void *arg)
{
    struct scrape *s = arg;
    if (ops_call_feed(s->call, reply) == OPS_DONE)
        s->stats = ops_call_take_result(s->call);
    scrape_done_one(s);
}

static void on_hash(struct redisReply *reply, void *arg)
{
    struct scrape *s = arg;
    s->hash = metrics_hash_decode(reply);
    scrape_done_one(s);
}

void metrics_handle(struct metrics *m, struct http_req *req)
{
    if (strcmp(http_method(req), "GET") != 0 && strcmp(http_method(req), "HEAD") != 0) {
        http_add_header(req, "Allow", "GET");
        http_reply_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    struct scrape *s = calloc(1, sizeof(*s));
    struct ops_error err;
    if (s == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    s->m = m;
    s->req = req;
    s->call = ops_call_new(m->cfg, OPS_STATS, NULL, &err);
    /* Held until both commands are queued, so that a reply arriving at once cannot finish
     * the scrape under our feet. */
    s->outstanding = 1;
    if (s->call) {
        const char *script;
        int argc;
        const char **argv;
        const size_t *argvlen;
        ops_call_script(s->call, &script, &argc, &argv, &argvlen);
        s->outstanding++;
        if (rconn_script(m->rc, script, on_stats, s, 0, argc, argv, argvlen) != 0)
            s->outstanding--;
    }
    struct metrics_hash_cmd cmd;
    if (metrics_hash_command(m->cfg, &cmd) == 0) {
        s->outstanding++;
        if (rconn_command(m->rc, on_hash, s, 2, cmd.argv, NULL) != 0)
            s->outstanding--;
    }
    scrape_done_one(s);
}
