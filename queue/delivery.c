#include "queue/delivery.h"

/* The low-level SHA-256 calls are deprecated in OpenSSL 3 in favour of EVP, whose context is
 * allocated on the heap: the delivery id must not depend on an allocation (an id computed
 * after a failed malloc used to hand every delivery the same id). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queue/lua.h"
#include "queue/qargv.h"

#define CHUNK_BYTES 4096
#define NUM_BYTES 24

/* Argument bytes the command owns (numbers, ids, key names), in chunks that never move, so
 * argv can point into them while the list grows. */
struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
};

struct dlv_cmd {
    const struct config *cfg;
    const char *script;
    struct qargv av; /* borrowed strings, or bytes in chunks */
    struct chunk *chunks;
    int failed;    /* an allocation failed since the last reset */
    int count_at;  /* argv index of the group count the end call fills in */
    size_t groups; /* entries / outcomes added */
    char count[NUM_BYTES];
};

/* ---- the delivery id ------------------------------------------------------------------------ */

void dlv_id(const char *source, const char *event_id, const char *target, char out[DLV_ID_SIZE])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[SHA256_DIGEST_LENGTH * 2 + 1];
    SHA256_CTX ctx;

    SHA256_Init(&ctx);
    SHA256_Update(&ctx, source, strlen(source) + 1);
    SHA256_Update(&ctx, event_id, strlen(event_id) + 1);
    SHA256_Update(&ctx, target, strlen(target));
    SHA256_Final(md, &ctx);
    util_hex(md, sizeof(md), hex);
    memcpy(out, "dlv_", 4);
    memcpy(out + 4, hex, 24);
    out[28] = '\0';
}

/* ---- commands ------------------------------------------------------------------------------- */

struct dlv_cmd *dlv_cmd_new(void)
{
    return calloc(1, sizeof(struct dlv_cmd));
}

void dlv_cmd_free(struct dlv_cmd *c)
{
    if (c == NULL)
        return;
    while (c->chunks) {
        struct chunk *k = c->chunks;
        c->chunks = k->next;
        free(k);
    }
    qargv_free(&c->av);
    free(c);
}

void dlv_cmd_reset(struct dlv_cmd *c)
{
    /* keep the first chunk (the newest): most commands fit in one */
    if (c->chunks) {
        struct chunk *k = c->chunks->next;
        while (k) {
            struct chunk *next = k->next;
            free(k);
            k = next;
        }
        c->chunks->next = NULL;
        c->chunks->used = 0;
    }
    c->cfg = NULL;
    c->script = NULL;
    c->av.argc = 0;
    c->failed = 0;
    c->count_at = -1;
    c->groups = 0;
}

void dlv_cmd_get(const struct dlv_cmd *c, const char **script, int *argc, const char ***argv,
                 const size_t **argvlen)
{
    *script = c->script;
    *argc = c->av.argc;
    *argv = c->av.argv;
    *argvlen = c->av.argvlen;
}

/* Appends a borrowed argument. */
static void ref(struct dlv_cmd *c, const char *s, size_t len)
{
    if (!c->failed && qargv_push(&c->av, s, len) != 0)
        c->failed = 1;
}

static void str(struct dlv_cmd *c, const char *s)
{
    s = s ? s : "";
    ref(c, s, strlen(s));
}

/* Room for len bytes owned by the command. */
static char *own(struct dlv_cmd *c, size_t len)
{
    struct chunk *k = c->chunks;
    if (c->failed)
        return NULL;
    if (k == NULL || k->cap - k->used < len) {
        size_t cap = len > CHUNK_BYTES ? len : CHUNK_BYTES;
        k = malloc(sizeof(*k) + cap);
        if (k == NULL) {
            c->failed = 1;
            return NULL;
        }
        k->used = 0;
        k->cap = cap;
        k->next = c->chunks;
        c->chunks = k;
    }
    char *p = k->data + k->used;
    k->used += len;
    return p;
}

/* Appends a copy of the formatted text (at most NUM_BYTES - 1 bytes). */
static void fmt(struct dlv_cmd *c, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void fmt(struct dlv_cmd *c, const char *f, ...)
{
    char *p = own(c, NUM_BYTES);
    if (p == NULL)
        return;
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(p, NUM_BYTES, f, ap);
    va_end(ap);
    ref(c, p, n < 0 ? 0 : (size_t)n < NUM_BYTES ? (size_t)n : NUM_BYTES - 1);
}

static void num(struct dlv_cmd *c, int64_t v)
{
    fmt(c, "%" PRId64, v);
}

/* Appends P:<suffix>. */
static void key(struct dlv_cmd *c, const char *suffix)
{
    const char *P = c->cfg->redis_prefix;
    size_t lp = strlen(P), ls = strlen(suffix);
    char *p = own(c, lp + ls + 2);
    if (p == NULL)
        return;
    memcpy(p, P, lp);
    p[lp] = ':';
    memcpy(p + lp + 1, suffix, ls + 1);
    ref(c, p, lp + ls + 1);
}

static void begin(struct dlv_cmd *c, const struct config *cfg, const char *script)
{
    dlv_cmd_reset(c);
    c->cfg = cfg;
    c->script = script;
}

static int done(const struct dlv_cmd *c)
{
    return c->failed ? -1 : 0;
}

/* ---- replies -------------------------------------------------------------------------------- */

const char *dlv_reply_error(const struct redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

static const char *rstr(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? r->str : "";
}

static long long rinteger(const redisReply *r, long long dflt)
{
    if (r == NULL)
        return dflt;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING && r->len > 0)
        return strtoll(r->str, NULL, 10);
    return dflt;
}

/* ---- the stream ----------------------------------------------------------------------------- */

int dlv_take(struct dlv_cmd *c, const struct config *cfg, const char *consumer, int count, int own)
{
    begin(c, cfg, NULL);
    str(c, "XREADGROUP");
    str(c, "GROUP");
    str(c, "workers");
    str(c, consumer);
    str(c, "COUNT");
    num(c, count);
    str(c, "STREAMS");
    key(c, "events");
    str(c, own ? "0" : ">");
    return done(c);
}

int dlv_autoclaim(struct dlv_cmd *c, const struct config *cfg, const char *consumer,
                  const char *cursor, int count)
{
    begin(c, cfg, NULL);
    str(c, "XAUTOCLAIM");
    key(c, "events");
    str(c, "workers");
    str(c, consumer);
    num(c, cfg->worker_visibility_timeout_ms);
    str(c, cursor && cursor[0] ? cursor : "0-0");
    str(c, "COUNT");
    num(c, count);
    return done(c);
}

int dlv_group_create(struct dlv_cmd *c, const struct config *cfg)
{
    begin(c, cfg, NULL);
    str(c, "XGROUP");
    str(c, "CREATE");
    key(c, "events");
    str(c, "workers");
    str(c, "0");
    str(c, "MKSTREAM");
    return done(c);
}

void dlv_stream_decode(const struct redisReply *r, int autoclaim, char *cursor, size_t cursor_len,
                       struct dlv_stream *out)
{
    memset(out, 0, sizeof(*out));
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        out->nogroup = strncmp(r->str, "NOGROUP", 7) == 0;
        out->error = r->str;
        return;
    }
    const redisReply *entries = NULL;
    if (autoclaim) {
        /* [cursor, entries, (Redis 7) deleted ids] */
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
            r->element[0]->type == REDIS_REPLY_STRING) {
            snprintf(cursor, cursor_len, "%s", r->element[0]->str);
            entries = r->element[1];
        } else {
            snprintf(cursor, cursor_len, "0-0");
        }
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
               r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 2) {
        /* [[stream, entries]] */
        entries = r->element[0]->element[1];
    }
    if (entries && entries->type == REDIS_REPLY_ARRAY && entries->elements > 0) {
        out->entries = entries;
        out->n = entries->elements;
    }
}

static int is_str(const redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && strcmp(r->str, s) == 0;
}

static const char *field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (is_str(fields->element[i], name))
            return rstr(fields->element[i + 1]);
    return "";
}

/* The names of the joined values (queue/entry.h), as named entries and fanout.lua spell them. */
static const char *const EVENT_NAMES[ENTRY_VALUES] = {[ENTRY_SOURCE] = "source",
                                                      [ENTRY_EVENT_ID] = "event_id",
                                                      [ENTRY_TYPE] = "type",
                                                      [ENTRY_CONTENT_TYPE] = "content_type",
                                                      [ENTRY_CONTENT_ID] = "content_id",
                                                      [ENTRY_SHOW_ID] = "show_id",
                                                      [ENTRY_SEASON_NUMBER] = "season_number",
                                                      [ENTRY_EPISODE_NUMBER] = "episode_number",
                                                      [ENTRY_CREATED_AT] = "created_at",
                                                      [ENTRY_RECEIVED_AT] = "received_at",
                                                      [ENTRY_REQUEST_ID] = "request_id"};

/* Splits v's NUL-joined values into e: each NUL (and hiredis's after the last) ends a value
 * in place. Missing values are empty; values past the last known one are ignored (a later
 * build may append some). */
static void split_values(const redisReply *v, struct dlv_entry *e)
{
    const char *p = v->str, *end = v->str + v->len;
    for (size_t i = 0; i < ENTRY_VALUES; i++) {
        if (p > end) {
            e->value_[i] = "";
            e->len_[i] = 0;
            continue;
        }
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (z == NULL)
            z = end;
        e->value_[i] = p;
        e->len_[i] = (size_t)(z - p);
        p = z + 1;
    }
}

int dlv_stream_entry(const struct dlv_stream *s, size_t i, struct dlv_entry *e)
{
    memset(e, 0, sizeof(*e));
    if (s->entries == NULL || i >= s->n)
        return -1;
    const redisReply *x = s->entries->element[i];
    if (x->type != REDIS_REPLY_ARRAY || x->elements < 1 ||
        x->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    e->sid = x->element[0]->str;
    e->source = e->event_id = e->content_type = e->targets = "";
    if (x->elements < 2 || x->element[1]->type != REDIS_REPLY_ARRAY) {
        e->deleted = 1; /* [id, nil]: deleted while pending */
        return 0;
    }
    const redisReply *f = x->element[1];
    if (f->elements == 2 && is_str(f->element[0], ENTRY_FIELD) &&
        f->element[1]->type == REDIS_REPLY_STRING) {
        split_values(f->element[1], e);
        e->source = e->value_[ENTRY_SOURCE];
        e->event_id = e->value_[ENTRY_EVENT_ID];
        e->content_type = e->value_[ENTRY_CONTENT_TYPE];
        return 0;
    }
    e->fields_ = f;
    e->source = field(f, "source");
    e->event_id = field(f, "event_id");
    e->content_type = field(f, "content_type");
    e->targets = field(f, "targets");
    return 0;
}

/* ---- fanout --------------------------------------------------------------------------------- */

int dlv_fanout_begin(struct dlv_cmd *c, const struct config *cfg)
{
    begin(c, cfg, lua_fanout);
    str(c, cfg->redis_prefix);
    num(c, cfg->retention_s);
    c->count_at = c->av.argc;
    ref(c, c->count, 0); /* m, filled in by dlv_fanout_end */
    return done(c);
}

int dlv_fanout_add(struct dlv_cmd *c, const struct dlv_entry *e, const size_t *targets, size_t nt)
{
    const struct redisReply *f = e->deleted ? NULL : e->fields_;
    size_t nf = f ? f->elements : 0;
    int joined = !e->deleted && f == NULL && e->value_[0] != NULL;

    if (e->deleted)
        nt = 0;
    if (joined) /* named for the script, the empty ones left out (it reads them as empty) */
        for (size_t i = 0; i < ENTRY_VALUES; i++)
            nf += e->len_[i] > 0 ? 2 : 0;
    str(c, e->sid);
    num(c, (int64_t)nt);
    num(c, (int64_t)nf);
    for (size_t i = 0; i < nt; i++) {
        const char *name = c->cfg->targets[targets[i]].name;
        char *id = own(c, DLV_ID_SIZE);
        if (id == NULL)
            break;
        dlv_id(e->source, e->event_id, name, id);
        str(c, name);
        ref(c, id, DLV_ID_SIZE - 1);
    }
    for (size_t i = 0; joined && i < ENTRY_VALUES; i++) {
        if (e->len_[i] == 0)
            continue;
        ref(c, EVENT_NAMES[i], strlen(EVENT_NAMES[i]));
        ref(c, e->value_[i], e->len_[i]);
    }
    for (size_t i = 0; f != NULL && i < nf; i++) {
        const redisReply *v = f->element[i];
        if (v->type == REDIS_REPLY_STRING)
            ref(c, v->str, v->len);
        else
            ref(c, "", 0);
    }
    c->groups++;
    return done(c);
}

int dlv_fanout_end(struct dlv_cmd *c)
{
    if (c->failed || c->count_at < 0)
        return -1;
    int n = snprintf(c->count, sizeof(c->count), "%zu", c->groups);
    c->av.argvlen[c->count_at] = (size_t)n;
    return 0;
}

long dlv_fanout_room_left(const struct redisReply *r, size_t m, size_t k)
{
    const redisReply *l = dlv_fanout_leased(r, m + 1);
    return l && k < l->elements ? (long)rinteger(l->element[k], -1) : -1;
}

const struct redisReply *dlv_fanout_leased(const struct redisReply *r, size_t m)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || m >= r->elements ||
        r->element[m]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return r->element[m];
}

long dlv_fanout_created(const struct redisReply *r, size_t k)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || k >= r->elements)
        return -1;
    return (long)rinteger(r->element[k], -1);
}

long dlv_fanout_total(const struct redisReply *r)
{
    long total = 0;
    for (size_t k = 0; r && r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
        long n = dlv_fanout_created(r, k);
        total += n > 0 ? n : 0;
    }
    return total;
}

/* ---- claim ---------------------------------------------------------------------------------- */

/* targets.*.max_in_flight when the config leaves it 0 (the worker's own default too). */
#define DLV_MAX_IN_FLIGHT_DEFAULT 8

/* A push target with targets.*.breaker set: claim.lua and complete.lua keep its circuit. */
static int breaker_on(const struct target *t)
{
    return t->delivery == DELIVERY_PUSH && t->breaker_failures > 0 && t->breaker_probe_s > 0;
}

/* Positions of the values in each record claim.lua returns (its FIELDS list, first_seen,
 * order_ts), one string of them joined by NUL bytes: none holds a NUL (the relay refuses ids
 * with control bytes), so each value is a C string in place in the reply. One string, not an
 * array of 15: Redis turned each array element of a script's reply into a reply of its own
 * (one string instead: fanout.lua 250k -> 239k instructions per delivery, bench/scripts
 * --instructions) and hiredis gave each its own allocation. */
enum claim_field {
    CF_ID,
    CF_EVENT_ID,
    CF_REQUEST_ID,
    CF_EVENT_TYPE,
    CF_SOURCE,
    CF_CONTENT_TYPE,
    CF_CONTENT_ID,
    CF_SHOW_ID,
    CF_LEASE,
    CF_SEASON,
    CF_EPISODE,
    CF_ATTEMPT_COUNT,
    CF_STATUS,
    CF_FIRST_SEEN,
    CF_ORDER_TS,
    CF_COUNT
};

/* nt, then per target what claim.lua (and a fanout's lease) take: name, room, rate_per_s,
 * probe_ms, max_in_flight. */
static void target_groups(struct dlv_cmd *c, const struct config *cfg, const size_t *room)
{
    num(c, (int64_t)cfg->n_targets);
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target *t = &cfg->targets[i];
        str(c, t->name);
        num(c, (int64_t)room[i]);
        if (t->rate_per_s > 0)
            fmt(c, "%.6f", t->rate_per_s);
        else
            str(c, "0");
        num(c, breaker_on(t) ? t->breaker_probe_s * 1000 : 0);
        num(c, t->max_in_flight > 0 ? t->max_in_flight : DLV_MAX_IN_FLIGHT_DEFAULT);
    }
}

int dlv_claim(struct dlv_cmd *c, const struct config *cfg, const char *consumer, const size_t *room,
              size_t max, size_t first)
{
    begin(c, cfg, lua_claim);
    str(c, cfg->redis_prefix);
    num(c, cfg->worker_visibility_timeout_ms);
    num(c, cfg->retention_s);
    str(c, consumer);
    num(c, (int64_t)max);
    num(c, (int64_t)(cfg->n_targets ? first % cfg->n_targets : 0));
    target_groups(c, cfg, room);
    return done(c);
}

int dlv_fanout_lease(struct dlv_cmd *c, const char *consumer, const size_t *room, size_t max)
{
    const struct config *cfg = c->cfg;
    str(c, consumer);
    num(c, cfg->worker_visibility_timeout_ms);
    num(c, (int64_t)max);
    target_groups(c, cfg, room);
    return done(c);
}

static const redisReply *claim_list(const redisReply *r, size_t k)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || k >= r->elements ||
        r->element[k]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return r->element[k];
}

size_t dlv_claim_count(const struct redisReply *r, size_t k)
{
    const redisReply *l = claim_list(r, k);
    return l ? l->elements : 0;
}

static int small_int(const char *s, int dflt)
{
    return s[0] ? atoi(s) : dflt;
}

/* Points f[0..n-1] at the n NUL-separated values of s (len bytes, NUL-terminated after them,
 * as hiredis keeps every string). Returns -1 when s holds fewer than n values. */
static int joined_split(const char *s, size_t len, const char **f, size_t n)
{
    const char *p = s, *end = s + len;
    for (size_t k = 0; k < n; k++) {
        f[k] = p;
        if (k + 1 == n)
            return 0; /* ends at the next NUL: at the end, or before values a later layout adds */
        const char *sep = memchr(p, '\0', (size_t)(end - p));
        if (sep == NULL)
            return -1; /* fewer than n values */
        p = sep + 1;
    }
    return -1;
}

int dlv_claim_get(const struct redisReply *r, size_t k, size_t i, struct dlv_claimed *d)
{
    const redisReply *l = claim_list(r, k);
    memset(d, 0, sizeof(*d));
    if (l == NULL || i >= l->elements)
        return -1;
    const redisReply *rec = l->element[i];
    const char *f[CF_COUNT];
    if (rec->type != REDIS_REPLY_STRING || joined_split(rec->str, rec->len, f, CF_COUNT) != 0)
        return -1;
    d->id = f[CF_ID];
    d->event_id = f[CF_EVENT_ID];
    d->request_id = f[CF_REQUEST_ID];
    d->event_type = f[CF_EVENT_TYPE];
    d->source = f[CF_SOURCE];
    d->content_type = f[CF_CONTENT_TYPE];
    d->content_id = f[CF_CONTENT_ID];
    d->show_id = f[CF_SHOW_ID];
    d->lease = f[CF_LEASE];
    d->season = small_int(f[CF_SEASON], -1);
    d->episode = small_int(f[CF_EPISODE], -1);
    d->attempt_count = small_int(f[CF_ATTEMPT_COUNT], 0);
    d->superseded = strcmp(f[CF_STATUS], "superseded") == 0;
    d->first_seen = f[CF_FIRST_SEEN];
    d->event_at = f[CF_ORDER_TS];
    if (d->id[0] == '\0' || (!d->superseded && d->lease[0] == '\0'))
        return -1;
    return 0;
}

/* ---- complete ------------------------------------------------------------------------------- */

const char *dlv_result_name(enum dlv_result r)
{
    switch (r) {
    case DLV_DELIVERED:
        return "delivered";
    case DLV_RETRY:
        return "retry";
    case DLV_FAILED:
        return "failed";
    case DLV_SUPERSEDED:
        return "superseded";
    case DLV_RELEASE:
        return "release";
    }
    return "failed";
}

int dlv_complete_begin(struct dlv_cmd *c, const struct config *cfg)
{
    begin(c, cfg, lua_complete);
    str(c, cfg->redis_prefix);
    num(c, cfg->retry_max_attempts);
    num(c, cfg->retention_s);
    c->count_at = c->av.argc;
    ref(c, c->count, 0); /* n, filled in by dlv_complete_end */
    size_t nb = 0;
    for (size_t i = 0; i < cfg->n_targets; i++)
        nb += (size_t)breaker_on(&cfg->targets[i]);
    num(c, (int64_t)nb);
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target *t = &cfg->targets[i];
        if (!breaker_on(t))
            continue;
        str(c, t->name);
        num(c, t->breaker_failures);
        num(c, t->breaker_probe_s * 1000);
    }
    return done(c);
}

/* complete.lua's 17 arguments per outcome, in its order. */
int dlv_complete_add(struct dlv_cmd *c, const struct dlv_outcome *o)
{
    if (c->groups >= DLV_COMPLETE_MAX)
        return -1;
    str(c, o->id);
    str(c, o->lease);
    str(c, dlv_result_name(o->result));
    if (o->http_status)
        num(c, o->http_status);
    else
        str(c, "");
    str(c, o->code);
    str(c, o->message);
    str(c, o->snippet);
    num(c, o->delay_ms);
    if (o->push_ms >= 0)
        num(c, o->push_ms);
    else
        str(c, "");
    num(c, o->duration_ms);
    str(c, o->count_attempt ? "1" : "0");
    str(c, o->cat_status);
    str(c, o->cat_doc);
    str(c, o->cat_updated_at);
    str(c, o->cat_content_type);
    str(c, o->cat_markets);
    if (o->cat_status)
        fmt(c, "%" PRId64 ":%d", o->cat_retention_s, o->cat_store);
    else
        str(c, "");
    c->groups++;
    return done(c);
}

int dlv_complete_end(struct dlv_cmd *c)
{
    return dlv_fanout_end(c);
}

int dlv_complete_result(const struct redisReply *r, size_t i, struct dlv_written *w)
{
    memset(w, 0, sizeof(*w));
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return -1;
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    if (strcmp(e->element[0]->str, "stale") == 0) {
        w->stale = 1;
        return 0;
    }
    w->status = e->element[0]->str;
    w->attempt_count = e->elements >= 2 ? (int)rinteger(e->element[1], 0) : 0;
    /* the circuit changed with this outcome: 'opened'|'closed', failures, code, message, http */
    if (e->elements >= 7) {
        const char *to = rstr(e->element[2]);
        w->circuit = strcmp(to, "opened") == 0   ? DLV_CIRCUIT_OPENED
                     : strcmp(to, "closed") == 0 ? DLV_CIRCUIT_CLOSED
                                                 : DLV_CIRCUIT_SAME;
        w->failures = (long)rinteger(e->element[3], 0);
        w->last_code = rstr(e->element[4]);
        w->last_message = rstr(e->element[5]);
        w->last_http = (long)rinteger(e->element[6], 0);
    }
    return 0;
}

/* ---- reclaim -------------------------------------------------------------------------------- */

int dlv_reclaim(struct dlv_cmd *c, const struct config *cfg, int limit)
{
    begin(c, cfg, lua_reclaim);
    str(c, cfg->redis_prefix);
    num(c, limit);
    num(c, cfg->retention_s);
    for (size_t i = 0; i < cfg->n_targets; i++)
        str(c, cfg->targets[i].name);
    return done(c);
}

int dlv_reclaim_decode(const struct redisReply *r, struct dlv_reclaimed *out)
{
    memset(out, 0, sizeof(*out));
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return -1;
    out->back = (long)rinteger(r->element[0], 0);
    out->superseded = (long)rinteger(r->element[1], 0);
    out->trimmed = (long)rinteger(r->element[2], 0);
    out->expired = r->elements >= 4 ? (long)rinteger(r->element[3], 0) : 0;
    return 0;
}
