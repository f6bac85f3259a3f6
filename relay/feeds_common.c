/* What the feed endpoints share: credentials, the answer's log line and counters, ETags,
 * cursors, item rendering. */
#include "relay/feeds_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/rconn.h"
#include "relay/http.h"

/* sized by its initializer, so that a count other than FEEDS_N_CODES does not compile */
const int FEEDS_CODES[] = {200, 304, 400, 401, 404, 405, 410, 500, 503};

void feeds_out_add(struct out *o, const char *s, size_t n)
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

void feeds_out_str(struct out *o, const char *s)
{
    feeds_out_add(o, s, strlen(s));
}

int feeds_code_index(int status)
{
    for (size_t i = 0; i < FEEDS_N_CODES; i++)
        if (FEEDS_CODES[i] == status)
            return (int)i;
    return -1;
}

void feeds_sha256(const void *p, size_t n, unsigned char out[32])
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
    feeds_sha256(given, glen, a);
    feeds_sha256(want, wlen, b);
    return CRYPTO_memcmp(a, b, 32) == 0;
}

int feeds_authorized(const struct target *t, struct http_req *req)
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
    struct catalog_feed_cmd c;
    catalog_feed_poll(&c, f->cfg->redis_prefix, r->t->name, util_now_ms(), status, r->cur.pos);
    /* fire and forget: a poll that Redis could not record is still answered */
    if (rconn_command(f->rc, on_ignored, NULL, c.argc, c.argv, NULL) != 0)
        return;
    f->ts[r->ti].last_poll_ms = util_now_ms();
}

void feeds_finish(struct freq *r, int status, size_t items, size_t bytes)
{
    struct feeds *f = r->f;

    int ci = feeds_code_index(status);
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

void feeds_fail(struct freq *r, int status, const char *code, const char *message)
{
    http_reply_error(r->req, status, code, message);
    feeds_finish(r, status, 0, 0);
}

void feeds_fail_unavailable(struct freq *r)
{
    http_add_header(r->req, "Retry-After", "1");
    feeds_fail(r, 503, "queue_unavailable", "the catalog is unavailable; retry");
}

void feeds_fail_dropped(struct freq *r)
{
    feeds_fail(r, 410, "cursor_expired",
               "removals after this cursor are no longer kept: take a full snapshot (no cursor)");
}

void feeds_etag_of(const struct freq *r, int64_t top, int64_t dropped, char out[40])
{
    char buf[512];
    unsigned char d[32];
    int n =
        snprintf(buf, sizeof(buf),
                 "%s\n%" PRId64 "\n%" PRId64 "\n%d\n%" PRId64 "\n%" PRId64 "\n%" PRId64 "\n%s\n%s",
                 r->t->name, top, dropped, r->q.has_cursor, r->cur.pos, r->cur.hwm, r->limit,
                 r->q.types, r->q.market);
    feeds_sha256(buf, n > 0 ? (size_t)n : 0, d);
    char hex[25];
    util_hex(d, 12, hex);
    snprintf(out, 40, "\"%s\"", hex);
}

/* If-None-Match: a list of entity tags (weak ones compared weakly, as RFC 9110 says for
 * If-None-Match), or "*". */
int feeds_etag_matches(const char *inm, const char *etag)
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

void feeds_next_cursor(const struct freq *r, int64_t pos, int64_t hwm, int64_t base,
                       char out[CATALOG_CURSOR_MAX])
{
    struct catalog_cursor c = {
        .pos = pos, .hwm = pos < hwm ? hwm : 0, .base = base, .issued_s = util_now_ms() / 1000};
    catalog_cursor_encode(r->f->key, r->t->name, &c, out);
}

int feeds_item_add(const struct freq *r, struct out *o, const struct catalog_item *it)
{
    if (!it->removed) {
        feeds_out_add(o, it->doc, it->len);
        return 0;
    }
    json_t *doc = catalog_removal_doc(r->t->format, it->doc, it->len);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (s == NULL)
        return -1;
    feeds_out_str(o, s);
    free(s);
    return 0;
}
