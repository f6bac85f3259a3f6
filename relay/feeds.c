#include "relay/feeds.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/catalog.h"
#include "queue/lua.h"
#include "queue/rconn.h"
#include "relay/http.h"

#define SCAN_MAX 5000     /* catalog entries one feed page looks at, at most */
#define STREAM_BATCH 512  /* items per Redis call while streaming watchables.json */
#define STREAM_INFLIGHT 6 /* Redis calls in flight per stream */
#define STREAM_HIGH_WATER                                                                          \
    (1u << 20)             /* unsent bytes above which the stream waits for the client             \
                            */
#define INFO_EVERY_MS 5000 /* the metrics' view of the catalogs is refreshed this often */
#define QUERY_LOG_MAX 512

static const int CODES[] = {200, 304, 400, 401, 404, 405, 410, 500, 503};
#define N_CODES (sizeof(CODES) / sizeof(CODES[0]))

struct tstat {
    uint64_t requests[N_CODES];
    int64_t live, removed, last_poll_ms; /* from Redis, INFO_EVERY_MS old at most */
    int known;
};

struct feeds {
    struct event_base *base;
    const struct config *cfg;
    struct rconn *rc;
    unsigned char key[CATALOG_KEY_BYTES];
    int have_key;
    struct tstat *ts; /* per target index */
    struct event *timer;
    int info_waiting;
};

/* One feed request, from its headers to its answer. */
struct freq {
    struct feeds *f;
    struct http_req *req;
    size_t ti;
    const struct target *t;
    int watchables;
    struct catalog_query q;
    struct catalog_cursor cur;
    int64_t started;
    int64_t limit;
    char etag[40];
    /* for the log line, taken at once: req is gone once answered */
    char rid[48];
    char query[QUERY_LOG_MAX];
    /* watchables.json stream */
    int streaming, first, finished, cut;
    int inflight;           /* ranges asked of Redis, not answered yet */
    int64_t pos, hwm, upto; /* next range starts after pos; the document ends at upto */
    int64_t width;          /* seqs per range */
    size_t items, bytes;
};

/* ---- small helpers ---------------------------------------------------------------------- */

struct out {
    char *p;
    size_t len, cap;
    int oom;
};

static void out_add(struct out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 16384;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->oom = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_add(o, s, strlen(s));
}

static int code_index(int status)
{
    for (size_t i = 0; i < N_CODES; i++)
        if (CODES[i] == status)
            return (int)i;
    return -1;
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* Constant-time equality of a presented credential and the configured one: both hashed first,
 * so neither the compare nor its length check says how much of a guess was right. */
static int secret_eq(const char *given, size_t glen, const char *want, size_t wlen)
{
    unsigned char a[32], b[32];
    if (given == NULL || want == NULL)
        return 0;
    sha256(given, glen, a);
    sha256(want, wlen, b);
    return CRYPTO_memcmp(a, b, 32) == 0;
}

static int authorized(const struct target *t, struct http_req *req)
{
    const struct auth *au = &t->feed.auth;
    const char *h = http_header(req, "Authorization");

    switch (au->type) {
    case AUTH_BEARER:
        if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
            return 0;
        return secret_eq(h + 7, strlen(h + 7), au->token.value, au->token.len);
    case AUTH_BASIC: {
        unsigned char dec[512];
        if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
            return 0;
        long n = util_b64_decode(h + 6, strlen(h + 6), dec, sizeof(dec) - 1);
        if (n < 0)
            return 0;
        dec[n] = '\0';
        char *colon = memchr(dec, ':', (size_t)n);
        if (colon == NULL || au->username == NULL)
            return 0;
        size_t ulen = (size_t)(colon - (char *)dec);
        int user_ok = secret_eq((char *)dec, ulen, au->username, strlen(au->username));
        int pass_ok =
            secret_eq(colon + 1, (size_t)n - ulen - 1, au->password.value, au->password.len);
        OPENSSL_cleanse(dec, sizeof(dec));
        return user_ok & pass_ok;
    }
    case AUTH_API_KEY: {
        if (au->name == NULL)
            return 0;
        if (!au->in_query) {
            const char *v = http_header(req, au->name);
            return v && secret_eq(v, strlen(v), au->value.value, au->value.len);
        }
        char v[512];
        long n = http_query_param(req, au->name, v, sizeof(v));
        int ok = n >= 0 && secret_eq(v, (size_t)n, au->value.value, au->value.len);
        OPENSSL_cleanse(v, sizeof(v));
        return ok;
    }
    default:
        return 0; /* config refuses a feed without credentials; never serve one openly */
    }
}

/* ---- answers ---------------------------------------------------------------------------- */

static void on_ignored(struct redisReply *reply, void *arg)
{
    (void)reply;
    (void)arg;
}

static void record_poll(struct feeds *f, const struct freq *r, int status)
{
    char key[256], at[24], st[8], pos[24];
    snprintf(key, sizeof(key), "%s:cat:%s:meta", f->cfg->redis_prefix, r->t->name);
    snprintf(at, sizeof(at), "%" PRId64, util_now_ms());
    snprintf(st, sizeof(st), "%d", status);
    snprintf(pos, sizeof(pos), "%" PRId64, r->cur.pos);
    const char *argv[] = {"HSET",        key, "last_poll_at", at, "last_poll_status", st,
                          "last_cursor", pos};
    /* fire and forget: a poll that Redis could not record is still answered */
    if (rconn_command(f->rc, on_ignored, NULL, 8, argv, NULL) != 0)
        return;
    f->ts[r->ti].last_poll_ms = util_now_ms();
}

/* Logs, counts and frees r once its answer has been sent. */
static void finish(struct freq *r, int status, size_t items, size_t bytes)
{
    struct feeds *f = r->f;

    int ci = code_index(status);
    if (ci >= 0)
        f->ts[r->ti].requests[ci]++;
    if (status != 401)
        record_poll(f, r, status);
    LOG_INFO("feed request", "request_id", r->rid, "target", r->t->name, LOG_INT("status", status),
             LOG_INT("items", (int64_t)items), LOG_INT("bytes", (int64_t)bytes),
             LOG_INT("duration_ms", util_mono_ms() - r->started), LOG_INT("cursor", r->cur.pos),
             LOG_STR("path", r->watchables ? "watchables.json" : "feed"), "query", r->query, NULL);
    free(r);
}

static void fail(struct freq *r, int status, const char *code, const char *message)
{
    http_reply_error(r->req, status, code, message);
    finish(r, status, 0, 0);
}

static void etag_of(const struct freq *r, int64_t top, int64_t dropped, char out[40])
{
    char buf[512];
    unsigned char d[32];
    int n =
        snprintf(buf, sizeof(buf),
                 "%s\n%" PRId64 "\n%" PRId64 "\n%d\n%" PRId64 "\n%" PRId64 "\n%" PRId64 "\n%s\n%s",
                 r->t->name, top, dropped, r->q.has_cursor, r->cur.pos, r->cur.hwm, r->limit,
                 r->q.types, r->q.market);
    sha256(buf, n > 0 ? (size_t)n : 0, d);
    char hex[25];
    util_hex(d, 12, hex);
    snprintf(out, 40, "\"%s\"", hex);
}

/* If-None-Match: a list of entity tags (weak ones compared weakly, as RFC 9110 says for
 * If-None-Match), or "*". */
static int etag_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = inm;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, elen) == 0 &&
            (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}

static void next_cursor(const struct freq *r, int64_t pos, int64_t hwm,
                        char out[CATALOG_CURSOR_MAX])
{
    struct catalog_cursor c = {
        .pos = pos, .hwm = pos < hwm ? hwm : 0, .issued_s = util_now_ms() / 1000};
    catalog_cursor_encode(r->f->key, r->t->name, &c, out);
}

/* Appends one item (a removal rendered as the format's removal document). Returns 0, or -1
 * when a stored document is not JSON. */
static int item_add(const struct freq *r, struct out *o, const struct catalog_item *it)
{
    if (!it->removed) {
        out_add(o, it->doc, it->len);
        return 0;
    }
    json_t *doc = catalog_removal_doc(r->t->format, it->doc, it->len);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (s == NULL)
        return -1;
    out_str(o, s);
    free(s);
    return 0;
}

/* ---- GET /feeds/{target} ---------------------------------------------------------------- */

static void on_page(struct redisReply *reply, void *arg)
{
    struct freq *r = arg;
    struct catalog_page pg;
    struct out o = {0};
    char cursor[CATALOG_CURSOR_MAX];

    if (reply == NULL) {
        http_add_header(r->req, "Retry-After", "1");
        fail(r, 503, "queue_unavailable", "the catalog is unavailable; retry");
        return;
    }
    if (catalog_page_decode(reply, &pg) != 0) {
        LOG_ERROR("feed page: unexpected reply", "target", r->t->name, "error",
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "shape", NULL);
        fail(r, 500, "internal", "could not read the catalog");
        return;
    }
    if (pg.expired) {
        fail(r, 410, "cursor_expired",
             "removals after this cursor are no longer kept: take a full snapshot (no cursor)");
        return;
    }
    etag_of(r, pg.top, pg.dropped, r->etag);
    out_str(&o, "{\"data\":[");
    for (size_t i = 0; i < pg.n; i++) {
        if (i)
            out_str(&o, ",");
        if (item_add(r, &o, &pg.items[i]) != 0)
            o.oom = 1;
    }
    next_cursor(r, pg.pos, pg.hwm, cursor);
    out_str(&o, "],\"meta\":{\"next_cursor\":\"");
    out_str(&o, cursor);
    out_str(&o, pg.has_more ? "\",\"has_more\":true}}" : "\",\"has_more\":false}}");
    size_t n = pg.n;
    free(pg.items);
    if (o.oom) {
        free(o.p);
        fail(r, 500, "internal", "could not build the page");
        return;
    }
    http_add_header(r->req, "ETag", r->etag);
    http_add_header(r->req, "Cache-Control", "no-cache");
    http_reply(r->req, 200, "application/json", o.p, o.len);
    finish(r, 200, n, o.len);
    free(o.p);
}

static void run_page(struct freq *r)
{
    char buf[CATALOG_PAGE_ARGC][24];
    const char *argv[CATALOG_PAGE_ARGC];
    struct catalog_page_req pr = {
        .prefix = r->f->cfg->redis_prefix,
        .target = r->t->name,
        .after = r->q.has_cursor ? r->cur.pos : 0,
        .hwm = r->q.has_cursor ? r->cur.hwm : -1,
        .upto = -1,
        .limit = r->limit,
        .scan_max = SCAN_MAX,
        .types = r->q.types,
        .market = r->q.market,
        .retention_s = r->t->feed.tombstone_retention_s,
    };
    catalog_page_args(&pr, buf, argv);
    if (rconn_script(r->f->rc, lua_catalog_page, on_page, r, 0, CATALOG_PAGE_ARGC, argv, NULL) !=
        0) {
        http_add_header(r->req, "Retry-After", "1");
        fail(r, 503, "queue_unavailable", "the catalog is unavailable; retry");
    }
}

static int meta_ints(const redisReply *reply, int64_t *seq, int64_t *dropped)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        return -1;
    *seq = reply->element[0]->type == REDIS_REPLY_STRING ? strtoll(reply->element[0]->str, NULL, 10)
                                                         : 0;
    *dropped = reply->element[1]->type == REDIS_REPLY_STRING
                   ? strtoll(reply->element[1]->str, NULL, 10)
                   : 0;
    return 0;
}

static void stream_start(struct freq *r, int64_t top);

/* The catalog's last change and drop: enough to answer If-None-Match without reading a page,
 * and to fix where a watchables.json stream ends. */
static void on_meta(struct redisReply *reply, void *arg)
{
    struct freq *r = arg;
    int64_t top = 0, dropped = 0;

    if (meta_ints(reply, &top, &dropped) != 0) {
        http_add_header(r->req, "Retry-After", "1");
        fail(r, 503, "queue_unavailable", "the catalog is unavailable; retry");
        return;
    }
    int64_t seen = r->cur.pos > r->cur.hwm ? r->cur.pos : r->cur.hwm;
    if (r->q.has_cursor && dropped > seen) {
        fail(r, 410, "cursor_expired",
             "removals after this cursor are no longer kept: take a full snapshot (no cursor)");
        return;
    }
    if (r->watchables) {
        stream_start(r, top);
        return;
    }
    etag_of(r, top, dropped, r->etag);
    const char *inm = http_header(r->req, "If-None-Match");
    if (inm && etag_matches(inm, r->etag)) {
        http_add_header(r->req, "ETag", r->etag);
        http_reply(r->req, 304, NULL, NULL, 0);
        finish(r, 304, 0, 0);
        return;
    }
    run_page(r);
}

static void read_meta(struct freq *r)
{
    char key[256];
    snprintf(key, sizeof(key), "%s:cat:%s:meta", r->f->cfg->redis_prefix, r->t->name);
    const char *argv[] = {"HMGET", key, "seq", "dropped"};
    if (rconn_command(r->f->rc, on_meta, r, 4, argv, NULL) != 0) {
        http_add_header(r->req, "Retry-After", "1");
        fail(r, 503, "queue_unavailable", "the catalog is unavailable; retry");
    }
}

/* The key is known: check the cursor, then answer. */
static void proceed(struct freq *r)
{
    if (r->q.has_cursor) {
        if (catalog_cursor_decode(r->f->key, r->t->name, r->q.cursor, &r->cur) != 0) {
            fail(r, 400, "invalid_cursor",
                 r->watchables ? "since: not a cursor this feed gave out"
                               : "cursor: not a cursor this feed gave out");
            return;
        }
        int64_t age = util_now_ms() / 1000 - r->cur.issued_s;
        if (age > r->t->feed.tombstone_retention_s) {
            fail(r, 410, "cursor_expired",
                 "the cursor is older than the tombstone retention: take a full snapshot");
            return;
        }
    }
    if (r->watchables || http_header(r->req, "If-None-Match") != NULL)
        read_meta(r);
    else
        run_page(r);
}

static int take_key(struct feeds *f, const redisReply *reply)
{
    unsigned char k[CATALOG_KEY_BYTES];
    if (reply == NULL || reply->type != REDIS_REPLY_STRING || reply->len != 2 * CATALOG_KEY_BYTES)
        return -1;
    for (size_t i = 0; i < CATALOG_KEY_BYTES; i++) {
        int hi = util_hexval(reply->str[2 * i]), lo = util_hexval(reply->str[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        k[i] = (unsigned char)(hi * 16 + lo);
    }
    memcpy(f->key, k, sizeof(k));
    f->have_key = 1;
    return 0;
}

static void on_key(struct redisReply *reply, void *arg)
{
    struct freq *r = arg;
    if (take_key(r->f, reply) != 0) {
        http_add_header(r->req, "Retry-After", "1");
        fail(r, 503, "queue_unavailable", "the catalog is unavailable; retry");
        return;
    }
    proceed(r);
}

static void with_key(struct freq *r)
{
    char key[256], fresh[2 * CATALOG_KEY_BYTES + 1];
    if (r->f->have_key) {
        proceed(r);
        return;
    }
    snprintf(key, sizeof(key), "%s:cat:key", r->f->cfg->redis_prefix);
    util_random_hex(fresh, CATALOG_KEY_BYTES);
    const char *argv[] = {key, fresh};
    if (rconn_script(r->f->rc, lua_catalog_key, on_key, r, 1, 2, argv, NULL) != 0) {
        http_add_header(r->req, "Retry-After", "1");
        fail(r, 503, "queue_unavailable", "the catalog is unavailable; retry");
    }
    OPENSSL_cleanse(fresh, sizeof(fresh));
}

/* ---- GET /feeds/{target}/watchables.json ------------------------------------------------ */

#ifdef HTTP_STREAM_LOW_WATER
static void stream_done(struct freq *r)
{
    struct http_req *req = r->req;
    r->finished = 1;
    finish(r, 200, r->items, r->bytes); /* frees r; req lives until http_stream_end */
    http_stream_end(req);
}

/* One range of the change sequence being read, (lo, hi]: first its members (ZRANGEBYSCORE),
 * then their documents (MGET). Plain commands rather than catalog_page.lua: moving 1.4 KB
 * documents through Lua strings cost Redis 7 us per title. Not atomic, and it need not be:
 * a title that changes between the two reads has moved past the document's end (upto), so
 * the next incremental brings it again, and a document read newer than its seq is only
 * early; a removal seen early is a removal of a title the partner is told about anyway. */
struct sfetch {
    struct freq *r;
    int64_t hi;
    size_t n;
    int64_t *seqs; /* of the members asked for with MGET */
};

static void stream_pump(struct freq *r);
static void stream_cut(struct freq *r, const char *why);

static void on_stream_members(struct redisReply *reply, void *arg);
static void on_stream_docs(struct redisReply *reply, void *arg);

static void sfetch_free(struct sfetch *sf)
{
    if (sf == NULL)
        return;
    free(sf->seqs);
    free(sf);
}

static int stream_issue(struct freq *r, int64_t lo, int64_t hi)
{
    char key[256], min[24], max[24], count[24];
    struct sfetch *sf = calloc(1, sizeof(*sf));
    if (sf == NULL)
        return -1;
    sf->r = r;
    sf->hi = hi;
    snprintf(key, sizeof(key), "%s:cat:%s:seq", r->f->cfg->redis_prefix, r->t->name);
    snprintf(min, sizeof(min), "(%" PRId64, lo);
    snprintf(max, sizeof(max), "%" PRId64, hi);
    snprintf(count, sizeof(count), "%d", STREAM_BATCH);
    const char *argv[] = {"ZRANGEBYSCORE", key, min, max, "WITHSCORES", "LIMIT", "0", count};
    if (rconn_command(r->f->rc, on_stream_members, sf, 8, argv, NULL) != 0) {
        free(sf);
        return -1;
    }
    r->inflight++;
    return 0;
}

static void on_stream_members(struct redisReply *reply, void *arg)
{
    struct sfetch *sf = arg;
    struct freq *r = sf->r;
    char prefix[256];

    if (r->cut || !http_stream_alive(r->req) || reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements % 2 != 0) {
        r->inflight--;
        sfetch_free(sf);
        stream_cut(r, r->cut || !http_stream_alive(r->req) ? NULL : "redis");
        return;
    }
    size_t n = reply->elements / 2;
    /* Sparse ranges (a catalog that changed a lot) are widened so that a stream never costs
     * one call per few titles; a range holding more than a batch is read on below. */
    if (n < STREAM_BATCH / 2 && r->width < ((int64_t)1 << 40))
        r->width *= 2;
    if (n == 0) {
        r->inflight--;
        sfetch_free(sf);
        stream_pump(r);
        return;
    }
    /* A full batch: the rest of the range is read on from its last member. */
    int64_t last = strtoll(reply->element[reply->elements - 1]->str, NULL, 10);
    if (n == STREAM_BATCH && last < sf->hi && stream_issue(r, last, sf->hi) != 0) {
        r->inflight--;
        sfetch_free(sf);
        stream_cut(r, "redis");
        return;
    }
    int plen =
        snprintf(prefix, sizeof(prefix), "%s:cat:%s:d:", r->f->cfg->redis_prefix, r->t->name);
    const char **argv = calloc(n + 1, sizeof(*argv));
    size_t *lens = calloc(n + 1, sizeof(*lens));
    char *keys = NULL;
    size_t total = 0;
    sf->seqs = calloc(n, sizeof(*sf->seqs));
    for (size_t i = 0; i < n; i++)
        total += (size_t)plen + reply->element[2 * i]->len;
    keys = malloc(total + 1);
    if (argv == NULL || lens == NULL || sf->seqs == NULL || keys == NULL) {
        free(argv);
        free(lens);
        free(keys);
        r->inflight--;
        sfetch_free(sf);
        stream_cut(r, "out of memory");
        return;
    }
    argv[0] = "MGET";
    lens[0] = 4;
    char *k = keys;
    for (size_t i = 0; i < n; i++) {
        const redisReply *m = reply->element[2 * i];
        memcpy(k, prefix, (size_t)plen);
        memcpy(k + plen, m->str, m->len);
        argv[i + 1] = k;
        lens[i + 1] = (size_t)plen + m->len;
        k += lens[i + 1];
        sf->seqs[i] = strtoll(reply->element[2 * i + 1]->str, NULL, 10);
    }
    sf->n = n;
    int rc = rconn_command(r->f->rc, on_stream_docs, sf, (int)n + 1, argv, lens);
    free(argv);
    free(lens);
    free(keys);
    if (rc != 0) {
        r->inflight--;
        sfetch_free(sf);
        stream_cut(r, "redis");
    }
}

static void on_stream_docs(struct redisReply *reply, void *arg)
{
    struct sfetch *sf = arg;
    struct freq *r = sf->r;

    r->inflight--;
    if (r->cut || !http_stream_alive(r->req)) {
        sfetch_free(sf);
        stream_cut(r, NULL);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != sf->n) {
        sfetch_free(sf);
        stream_cut(r, "redis");
        return;
    }
    struct out o = {0};
    size_t items = 0;
    for (size_t i = 0; i < sf->n; i++) {
        const redisReply *d = reply->element[i];
        /* gone (dropped by retention) or a removal from before the snapshot: left out */
        if (d->type != REDIS_REPLY_STRING || d->len < 1 ||
            (d->str[0] == 'R' && sf->seqs[i] <= r->hwm))
            continue;
        struct catalog_item it = {d->str[0] == 'R', d->str + 1, d->len - 1};
        if (!r->first)
            out_str(&o, ",");
        r->first = 0;
        if (item_add(r, &o, &it) != 0)
            o.oom = 1;
        items++;
    }
    sfetch_free(sf);
    r->items += items;
    if (o.oom) {
        free(o.p);
        stream_cut(r, "out of memory");
        return;
    }
    int bad = o.len > 0 && http_stream_write(r->req, o.p, o.len) != 0;
    r->bytes += o.len;
    free(o.p);
    if (bad) {
        stream_cut(r, NULL);
        return;
    }
    stream_pump(r);
}

static void stream_cut(struct freq *r, const char *why)
{
    if (!r->cut && why)
        /* The head is out: the only honest signal left is a cut body (no closing "]}"),
         * which no JSON parser takes for a whole document. */
        LOG_ERROR("watchables.json stream cut", "request_id", r->rid, "target", r->t->name,
                  LOG_STR("why", why), NULL);
    r->cut = 1;
    if (r->inflight == 0)
        stream_done(r);
}

/* Keeps up to STREAM_INFLIGHT ranges in flight while the client keeps up (fewer than
 * STREAM_HIGH_WATER bytes unsent): Redis and the socket work at once, memory stays flat, a
 * slow partner is paced by on_drain. The ranges are disjoint, so every title is written
 * once, whatever order the answers come in. Ends the document once all is read. */
static void stream_pump(struct freq *r)
{
    while (r->inflight < STREAM_INFLIGHT && r->pos < r->upto &&
           http_stream_pending(r->req) < STREAM_HIGH_WATER) {
        int64_t hi = r->pos + r->width < r->upto ? r->pos + r->width : r->upto;
        if (stream_issue(r, r->pos, hi) != 0) {
            stream_cut(r, "redis");
            return;
        }
        r->pos = hi;
    }
    if (r->inflight == 0 && r->pos >= r->upto) {
        if (http_stream_write(r->req, "]}", 2) == 0)
            r->bytes += 2;
        stream_done(r);
    }
}

static void on_drain(struct http_req *req, void *arg)
{
    struct freq *r = arg;
    (void)req;
    if (r->finished || r->cut)
        return;
    if (!http_stream_alive(r->req)) {
        stream_cut(r, NULL);
        return;
    }
    stream_pump(r);
}

/* The document's head: the spec's catalog fields, then the items array opened. */
static char *stream_head(const struct target *t, int full)
{
    static const char *const plural[] = {"movies", "shows", "seasons", "episodes"};
    static const char *const names[] = {"movie", "show", "season", "episode"};
    const char *provider = t->catalog_provider ? t->catalog_provider : t->name;
    json_t *types = json_array();
    for (size_t i = 0; i < 4; i++) {
        int take = t->content_types == NULL;
        for (size_t k = 0; k < t->n_content_types; k++)
            take |= strcmp(t->content_types[k], names[i]) == 0;
        if (take)
            json_array_append_new(types, json_string(plural[i]));
    }
    json_t *doc = json_pack("{s:s,s:s,s:o,s:s,s:s}", "catalog_provider", provider, "catalog_name",
                            t->catalog_name ? t->catalog_name : provider, "catalog_types", types,
                            "catalog_period", full ? "full" : "incremental", "_schema_version",
                            "gwi_json_1.1");
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n + 16);
    if (out) {
        memcpy(out, s, n - 1); /* without the closing brace */
        memcpy(out + n - 1, ",\"items\":[", 11);
    }
    free(s);
    return out;
}

static void stream_start(struct freq *r, int64_t top)
{
    char cursor[CATALOG_CURSOR_MAX];
    int full = !r->q.has_cursor;
    char *head = stream_head(r->t, full);

    if (head == NULL) {
        fail(r, 500, "internal", "out of memory");
        return;
    }
    /* The document ends at the catalog's last change now: what changes while it streams has a
     * later seq and comes with the next incremental from X-Relay-Next-Cursor. */
    r->upto = top;
    r->pos = full ? 0 : r->cur.pos;
    r->hwm = full ? top : r->cur.hwm;
    r->first = 1;
    r->width = STREAM_BATCH;
    next_cursor(r, top, top, cursor);
    http_add_header(r->req, "X-Relay-Next-Cursor", cursor);
    http_add_header(r->req, "Cache-Control", "no-cache");
    r->streaming = 1;
    if (http_stream_begin(r->req, 200, "application/json", on_drain, r) != 0 ||
        http_stream_write(r->req, head, strlen(head)) != 0) {
        free(head);
        stream_done(r);
        return;
    }
    r->bytes = strlen(head);
    free(head);
    if (strcmp(http_method(r->req), "HEAD") == 0) {
        stream_done(r);
        return;
    }
    stream_pump(r);
}
#else
/* Built without the streaming server (relay/http.h's http_stream_*): no watchables.json. */
static void stream_start(struct freq *r, int64_t top)
{
    (void)top;
    fail(r, 500, "internal", "watchables.json needs the streaming server");
}
#endif

/* ---- routing ---------------------------------------------------------------------------- */

void feeds_handle(struct feeds *f, struct http_req *req)
{
    const char *path = http_path(req) + strlen("/feeds/");
    const char *slash = strchr(path, '/');
    size_t nlen = slash ? (size_t)(slash - path) : strlen(path);
    char name[128];
    int watchables = 0;

    if (slash != NULL) {
        if (strcmp(slash, "/watchables.json") != 0)
            goto not_found;
        watchables = 1;
    }
    if (nlen == 0 || nlen >= sizeof(name))
        goto not_found;
    memcpy(name, path, nlen);
    name[nlen] = '\0';
    const struct target *t = config_target(f->cfg, name);
    if (t == NULL || !catalog_has_feed(t) || (watchables && t->format != FORMAT_GWI_JSON_1_1))
        goto not_found;

    struct freq *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    r->f = f;
    r->req = req;
    r->t = t;
    r->ti = (size_t)(t - f->cfg->targets);
    r->watchables = watchables;
    r->started = util_mono_ms();
    snprintf(r->rid, sizeof(r->rid), "%s", http_request_id(req));
    const struct auth *au = &t->feed.auth;
    catalog_query_mask(http_query(req), au->type == AUTH_API_KEY && au->in_query ? au->name : NULL,
                       r->query, sizeof(r->query));
    const char *m = http_method(req);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        http_add_header(req, "Allow", "GET, HEAD");
        fail(r, 405, "method_not_allowed", "use GET");
        return;
    }
    if (!authorized(t, req)) {
        if (t->feed.auth.type == AUTH_BASIC)
            http_add_header(req, "WWW-Authenticate", "Basic realm=\"relay-feed\"");
        else if (t->feed.auth.type == AUTH_BEARER)
            http_add_header(req, "WWW-Authenticate", "Bearer realm=\"relay-feed\"");
        fail(r, 401, "unauthorized", "valid feed credentials are required");
        return;
    }
    char bad[40], msg[96];
    if (catalog_query_parse(http_query(req),
                            watchables ? CATALOG_QUERY_WATCHABLES : CATALOG_QUERY_FEED,
                            au->type == AUTH_API_KEY && au->in_query ? au->name : NULL, &r->q, bad,
                            sizeof(bad)) != 0) {
        /* the name is echoed when it is a plain word (never raw request bytes otherwise) */
        int plain = bad[0] != '\0';
        for (const char *c = bad; *c; c++)
            plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.';
        snprintf(msg, sizeof(msg), "%s: unknown parameter or invalid value",
                 plain ? bad : "a parameter");
        fail(r, 400, "invalid_parameter", msg);
        return;
    }
    r->limit = r->q.limit ? r->q.limit : t->feed.page_size > 0 ? t->feed.page_size : 500;
    if (r->limit > CATALOG_LIMIT_MAX)
        r->limit = CATALOG_LIMIT_MAX;
    with_key(r);
    return;

not_found:
    http_reply_error(req, 404, "not_found", "no such feed");
}

/* ---- operators -------------------------------------------------------------------------- */

/* One admin request waiting for Redis. */
struct areq {
    struct http_req *req;
    const struct config *cfg;
    int list;
};

static void on_admin(struct redisReply *reply, void *arg)
{
    struct areq *a = arg;
    struct http_req *req = a->req;
    const struct config *cfg = a->cfg;
    int list = a->list;
    free(a);
    if (reply == NULL) {
        http_add_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "queue_unavailable", "redis is not reachable");
        return;
    }
    json_t *doc = list ? catalog_list_json(reply) : catalog_info_json(cfg, reply);
    if (doc == NULL) {
        LOG_ERROR("admin catalog: unexpected reply", "error",
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "shape", NULL);
        http_reply_error(req, 500, "internal", "could not read the catalog");
        return;
    }
    http_reply_json(req, 200, doc);
}

/* Runs script for an admin request; answers 503 when Redis cannot take it. */
static void admin_run(struct feeds *f, struct http_req *req, int list, const char *script, int argc,
                      const char **argv)
{
    struct areq *a = malloc(sizeof(*a));
    if (a == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    *a = (struct areq){req, f->cfg, list};
    if (rconn_script(f->rc, script, on_admin, a, 0, argc, argv, NULL) != 0) {
        free(a);
        http_add_header(req, "Retry-After", "1");
        http_reply_error(req, 503, "queue_unavailable", "redis is not reachable");
    }
}

static void admin_catalog(struct feeds *f, struct http_req *req, const char *name)
{
    char vals[4][128];
    static const char *const params[] = {"status", "source", "limit", "cursor"};
    static const char *const allowed[] = {"status", "source", "limit", "cursor", NULL};
    for (size_t i = 0; i < 4; i++)
        if (http_query_param(req, params[i], vals[i], sizeof(vals[i])) < 0)
            vals[i][0] = '\0';
    /* unknown parameters are refused, as everywhere in the admin API */
    for (const char *p = http_query(req); p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        int ok = nlen == 0;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strlen(allowed[i]) == nlen && strncmp(allowed[i], p, nlen) == 0;
        if (!ok) {
            http_reply_error(req, 400, "invalid_parameter",
                             "unknown parameter (allowed: status, source, limit, cursor)");
            return;
        }
        p = amp ? amp + 1 : NULL;
    }
    struct catalog_list_params lp = {name, vals[0], vals[1], vals[2], vals[3]};
    char buf[2][24], msg[128];
    const char *argv[CATALOG_LIST_ARGC], *code;
    int status;
    if (catalog_list_args(f->cfg, &lp, buf, argv, &status, &code, msg, sizeof(msg)) != 0) {
        http_reply_error(req, status, code, msg);
        return;
    }
    admin_run(f, req, 1, lua_catalog_list, CATALOG_LIST_ARGC, argv);
}

int feeds_admin_handle(struct feeds *f, struct http_req *req)
{
    static const char cprefix[] = "/admin/catalog/";
    const char *path = http_path(req);
    int info = strcmp(path, "/admin/feeds") == 0;
    int list = strncmp(path, cprefix, sizeof(cprefix) - 1) == 0;

    if (!info && !list)
        return 0;
    if (strcmp(http_method(req), "GET") != 0 && strcmp(http_method(req), "HEAD") != 0) {
        http_add_header(req, "Allow", "GET");
        http_reply_error(req, 405, "method_not_allowed", "use GET");
        return 1;
    }
    if (list) {
        const char *name = path + sizeof(cprefix) - 1;
        if (*name == '\0' || strchr(name, '/') != NULL) {
            http_reply_error(req, 404, "not_found", "no such endpoint");
            return 1;
        }
        admin_catalog(f, req, name);
        return 1;
    }
    const char **argv = calloc(f->cfg->n_targets + 1, sizeof(*argv));
    if (argv == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return 1;
    }
    int argc = catalog_info_args(f->cfg, argv);
    admin_run(f, req, 0, lua_catalog_info, argc, argv);
    free(argv);
    return 1;
}

/* ---- metrics ---------------------------------------------------------------------------- */

static void on_info(struct redisReply *reply, void *arg)
{
    struct feeds *f = arg;
    f->info_waiting = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    size_t k = 0;
    for (size_t i = 0; i < f->cfg->n_targets; i++) {
        if (!catalog_has_feed(&f->cfg->targets[i]))
            continue;
        if (7 * k + 6 >= reply->elements)
            return;
        redisReply **e = reply->element + 7 * k++;
        struct tstat *ts = &f->ts[i];
        if (e[0]->type != REDIS_REPLY_STRING || e[1]->type != REDIS_REPLY_STRING ||
            e[3]->type != REDIS_REPLY_STRING)
            continue;
        ts->live = strtoll(e[0]->str, NULL, 10);
        ts->removed = strtoll(e[1]->str, NULL, 10);
        int64_t at = strtoll(e[3]->str, NULL, 10);
        if (at > ts->last_poll_ms)
            ts->last_poll_ms = at;
        ts->known = 1;
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct feeds *f = arg;
    (void)fd;
    (void)what;
    if (f->info_waiting)
        return;
    const char **argv = calloc(f->cfg->n_targets + 1, sizeof(*argv));
    if (argv == NULL)
        return;
    int argc = catalog_info_args(f->cfg, argv);
    f->info_waiting =
        argc > 1 && rconn_script(f->rc, lua_catalog_info, on_info, f, 0, argc, argv, NULL) == 0;
    free(argv);
}

/* A label value with \\, \" and newlines escaped (text format 0.0.4), cut to fit out. */
static const char *label(const char *v, char out[160])
{
    size_t o = 0;
    for (; *v && o + 3 < 160; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[o++] = '\\';
            out[o++] = *v == '\n' ? 'n' : *v;
        } else {
            out[o++] = *v;
        }
    }
    out[o] = '\0';
    return out;
}

char *feeds_metrics_text(void *arg)
{
    struct feeds *f = arg;
    struct out o = {0};
    char line[512], lb[160];
    const struct config *cfg = f->cfg;

    out_str(&o, "# HELP relay_feed_requests_total Feed requests, by target and HTTP status.\n"
                "# TYPE relay_feed_requests_total counter\n");
    for (size_t i = 0; i < cfg->n_targets; i++) {
        if (!catalog_has_feed(&cfg->targets[i]))
            continue;
        for (size_t c = 0; c < N_CODES; c++) {
            snprintf(line, sizeof(line),
                     "relay_feed_requests_total{target=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                     label(cfg->targets[i].name, lb), CODES[c], f->ts[i].requests[c]);
            out_str(&o, line);
        }
    }
    out_str(&o, "# HELP relay_feed_items Titles in a feed target's catalog, by status.\n"
                "# TYPE relay_feed_items gauge\n");
    for (size_t i = 0; i < cfg->n_targets; i++) {
        if (!catalog_has_feed(&cfg->targets[i]) || !f->ts[i].known)
            continue;
        snprintf(line, sizeof(line),
                 "relay_feed_items{target=\"%s\",status=\"live\"} %" PRId64 "\n"
                 "relay_feed_items{target=\"%s\",status=\"removed\"} %" PRId64 "\n",
                 label(cfg->targets[i].name, lb), f->ts[i].live, lb, f->ts[i].removed);
        out_str(&o, line);
    }
    out_str(&o, "# HELP relay_feed_last_poll_timestamp_seconds When a partner last polled the "
                "feed (any relay).\n"
                "# TYPE relay_feed_last_poll_timestamp_seconds gauge\n");
    for (size_t i = 0; i < cfg->n_targets; i++) {
        if (!catalog_has_feed(&cfg->targets[i]) || f->ts[i].last_poll_ms <= 0)
            continue;
        snprintf(line, sizeof(line), "relay_feed_last_poll_timestamp_seconds{target=\"%s\"} %.3f\n",
                 label(cfg->targets[i].name, lb), (double)f->ts[i].last_poll_ms / 1000.0);
        out_str(&o, line);
    }
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    return o.p;
}

/* ---- lifetime --------------------------------------------------------------------------- */

struct feeds *feeds_new(struct event_base *base, const struct config *cfg, struct rconn *rc)
{
    struct feeds *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->base = base;
    f->cfg = cfg;
    f->rc = rc;
    f->ts = calloc(cfg->n_targets ? cfg->n_targets : 1, sizeof(*f->ts));
    f->timer = event_new(base, -1, EV_PERSIST, on_timer, f);
    if (f->ts == NULL || f->timer == NULL) {
        feeds_free(f);
        return NULL;
    }
    struct timeval tv = {INFO_EVERY_MS / 1000, (INFO_EVERY_MS % 1000) * 1000};
    event_add(f->timer, &tv);
    event_active(f->timer, EV_TIMEOUT, 1);
    return f;
}

void feeds_free(struct feeds *f)
{
    if (f == NULL)
        return;
    if (f->timer)
        event_free(f->timer);
    OPENSSL_cleanse(f->key, sizeof(f->key));
    free(f->ts);
    free(f);
}
