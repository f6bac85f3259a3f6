#include "queue/catalog.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queue/lua.h"
#include "queue/rsync.h"

#define MAC_BYTES 16 /* of HMAC-SHA256: 128 bits is plenty against forging a cursor */
#define NUM_MAX_DIGITS 15

/* ---- cursors ---------------------------------------------------------------------------- */

static void cursor_mac(const unsigned char key[CATALOG_KEY_BYTES], const char *target,
                       const char *nums, size_t nlen, unsigned char mac[MAC_BYTES])
{
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int flen = 0;
    size_t tlen = strlen(target);
    unsigned char *msg = malloc(tlen + 1 + nlen);

    memset(mac, 0, MAC_BYTES);
    if (msg == NULL)
        return; /* an all-zero MAC never matches a real one: the cursor is refused */
    memcpy(msg, target, tlen);
    msg[tlen] = '\n';
    memcpy(msg + tlen + 1, nums, nlen);
    if (HMAC(EVP_sha256(), key, CATALOG_KEY_BYTES, msg, tlen + 1 + nlen, full, &flen) != NULL &&
        flen >= MAC_BYTES)
        memcpy(mac, full, MAC_BYTES);
    free(msg);
}

void catalog_cursor_encode(const unsigned char key[CATALOG_KEY_BYTES], const char *target,
                           const struct catalog_cursor *c, char out[CATALOG_CURSOR_MAX])
{
    char nums[72]; /* "v." then four numbers of at most 15 digits: always fits */
    unsigned char mac[MAC_BYTES];
    char hex[2 * MAC_BYTES + 1];
    int n = c->base >= 0
                ? snprintf(nums, sizeof(nums), "2.%" PRId64 ".%" PRId64 ".%" PRId64 ".%" PRId64,
                           c->pos, c->hwm, c->base, c->issued_s)
                : snprintf(nums, sizeof(nums), "1.%" PRId64 ".%" PRId64 ".%" PRId64, c->pos, c->hwm,
                           c->issued_s);

    /* version 1's MAC covers the numbers only, as it always did */
    if (c->base >= 0)
        cursor_mac(key, target, nums, (size_t)n, mac);
    else
        cursor_mac(key, target, nums + 2, (size_t)n - 2, mac);
    util_hex(mac, MAC_BYTES, hex);
    if (snprintf(out, CATALOG_CURSOR_MAX, "%s.%s", nums, hex) >= CATALOG_CURSOR_MAX)
        out[0] = '\0'; /* not reached: numbers are below 10^15 */
}

/* A decimal without sign or leading zero, at most NUM_MAX_DIGITS digits. Returns the end of
 * the number, or NULL. */
static const char *parse_num(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n >= NUM_MAX_DIGITS)
            return NULL;
        v = v * 10 + (s[n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0'))
        return NULL;
    *out = v;
    return s + n;
}

int catalog_cursor_decode(const unsigned char key[CATALOG_KEY_BYTES], const char *target,
                          const char *text, struct catalog_cursor *out)
{
    struct catalog_cursor c;
    unsigned char want[MAC_BYTES], got[MAC_BYTES];

    if (text == NULL || (strncmp(text, "1.", 2) != 0 && strncmp(text, "2.", 2) != 0))
        return -1;
    int v2 = text[0] == '2';
    const char *nums = v2 ? text : text + 2, *p = text + 2;
    c.base = -1;
    if ((p = parse_num(p, &c.pos)) == NULL || *p++ != '.')
        return -1;
    if ((p = parse_num(p, &c.hwm)) == NULL || *p++ != '.')
        return -1;
    if (v2 && ((p = parse_num(p, &c.base)) == NULL || *p++ != '.'))
        return -1;
    if ((p = parse_num(p, &c.issued_s)) == NULL || *p != '.')
        return -1;
    size_t nlen = (size_t)(p - nums);
    p++;
    if (strlen(p) != 2 * MAC_BYTES)
        return -1;
    for (size_t i = 0; i < MAC_BYTES; i++) {
        int hi = util_hexval(p[2 * i]), lo = util_hexval(p[2 * i + 1]);
        /* upper-case hex is not what we write: refuse rather than accept two spellings */
        if (hi < 0 || lo < 0 || (p[2 * i] >= 'A' && p[2 * i] <= 'F') ||
            (p[2 * i + 1] >= 'A' && p[2 * i + 1] <= 'F'))
            return -1;
        got[i] = (unsigned char)(hi * 16 + lo);
    }
    cursor_mac(key, target, nums, nlen, want);
    if (CRYPTO_memcmp(want, got, MAC_BYTES) != 0)
        return -1;
    *out = c;
    return 0;
}

/* ---- feed query strings ----------------------------------------------------------------- */

/* Percent-decodes src[0..n) into out ('+' is a space). Returns the length, or -1 when it does
 * not fit or decodes to a NUL. */
static long decode(const char *src, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = util_hexval(src[i + 1]), lo = util_hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == '\0' || o + 1 >= cap)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return (long)o;
}

static void set_bad(char *bad, size_t cap, const char *name, size_t len)
{
    if (cap == 0)
        return;
    if (len >= cap)
        len = cap - 1;
    memcpy(bad, name, len);
    bad[len] = '\0';
}

static int parse_types(const char *v, char *out, size_t cap)
{
    static const char *const names[] = {"movie", "show", "season", "episode"};
    int seen[4] = {0};
    const char *p = v;

    if (*v == '\0')
        return -1;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strlen(names[i]) == len && strncmp(names[i], p, len) == 0)
                found = i;
        if (found < 0)
            return -1;
        seen[found] = 1;
        if (comma == NULL)
            break;
        p = comma + 1;
        if (*p == '\0')
            return -1;
    }
    out[0] = '\0';
    for (int i = 0; i < 4; i++) {
        if (!seen[i])
            continue;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", len ? "," : "", names[i]);
    }
    return 0;
}

int catalog_query_parse(const char *query, enum catalog_query_kind kind, const char *skip_param,
                        struct catalog_query *q, char *bad, size_t badcap)
{
    char val[256];
    int got_limit = 0, got_cursor = 0, got_types = 0, got_market = 0, got_skip = 0;

    memset(q, 0, sizeof(*q));
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        const char *v = eq ? eq + 1 : p + len;
        size_t vlen = eq ? len - nlen - 1 : 0;
        char name[32];

        if (len == 0) { /* "a=1&&b=2" */
            p = amp ? amp + 1 : NULL;
            continue;
        }
        if (decode(p, nlen, name, sizeof(name)) < 0) {
            set_bad(bad, badcap, p, nlen);
            return -1;
        }
        if (skip_param && strcmp(name, skip_param) == 0) {
            if (got_skip++)
                goto bad_name;
            p = amp ? amp + 1 : NULL;
            continue;
        }
        long vl = decode(v, vlen, val, sizeof(val));
        if (kind == CATALOG_QUERY_FEED && strcmp(name, "limit") == 0) {
            int64_t n = 0;
            const char *end = vl > 0 ? parse_num(val, &n) : NULL;
            if (got_limit++ || end == NULL || *end != '\0' || n < 1 || n > CATALOG_LIMIT_MAX)
                goto bad_name;
            q->limit = n;
        } else if ((kind == CATALOG_QUERY_FEED && strcmp(name, "cursor") == 0) ||
                   (kind == CATALOG_QUERY_WATCHABLES && strcmp(name, "since") == 0)) {
            if (got_cursor++ || vl <= 0 || (size_t)vl >= sizeof(q->cursor))
                goto bad_name;
            memcpy(q->cursor, val, (size_t)vl + 1);
            q->has_cursor = 1;
        } else if (kind == CATALOG_QUERY_FEED && strcmp(name, "content_type") == 0) {
            if (got_types++ || vl <= 0 || parse_types(val, q->types, sizeof(q->types)) != 0)
                goto bad_name;
        } else if (kind == CATALOG_QUERY_FEED && strcmp(name, "market") == 0) {
            if (got_market++ || vl != 2 ||
                !((val[0] >= 'A' && val[0] <= 'Z') || (val[0] >= 'a' && val[0] <= 'z')) ||
                !((val[1] >= 'A' && val[1] <= 'Z') || (val[1] >= 'a' && val[1] <= 'z')))
                goto bad_name;
            /* ISO 3166-1 codes are upper case; the CMSes store them so */
            q->market[0] = (char)(val[0] & ~0x20);
            q->market[1] = (char)(val[1] & ~0x20);
            q->market[2] = '\0';
        } else {
            goto bad_name;
        }
        p = amp ? amp + 1 : NULL;
        continue;
    bad_name:
        set_bad(bad, badcap, name, strlen(name));
        return -1;
    }
    return 0;
}

void catalog_query_mask(const char *query, const char *param, char *out, size_t cap)
{
    size_t o = 0;
    size_t plen = param ? strlen(param) : 0;

    if (cap == 0)
        return;
    out[0] = '\0';
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        /* compare the name decoded, so that "api%5Fkey=" is masked as well */
        char name[64];
        int secret = param && decode(p, nlen, name, sizeof(name)) >= 0 && strlen(name) == plen &&
                     strcmp(name, param) == 0;
        int n = secret ? snprintf(out + o, cap - o, "%s%.*s=***", o ? "&" : "", (int)nlen, p)
                       : snprintf(out + o, cap - o, "%s%.*s", o ? "&" : "", (int)len, p);
        if (n < 0 || (size_t)n >= cap - o) {
            out[o] = '\0';
            return;
        }
        o += (size_t)n;
        p = amp ? amp + 1 : NULL;
    }
}

/* ---- catalog_page.lua ------------------------------------------------------------------- */

void catalog_page_args(const struct catalog_page_req *r, char buf[CATALOG_PAGE_ARGC][24],
                       const char *argv[CATALOG_PAGE_ARGC])
{
    argv[0] = r->prefix;
    argv[1] = r->target;
    snprintf(buf[2], 24, "%" PRId64, r->after);
    buf[3][0] = '\0';
    if (r->hwm >= 0)
        snprintf(buf[3], 24, "%" PRId64, r->hwm);
    buf[4][0] = '\0';
    if (r->upto >= 0)
        snprintf(buf[4], 24, "%" PRId64, r->upto);
    snprintf(buf[5], 24, "%" PRId64, r->limit);
    snprintf(buf[6], 24, "%" PRId64, r->scan_max);
    snprintf(buf[9], 24, "%" PRId64, r->retention_s);
    buf[10][0] = '\0';
    if (r->base >= 0)
        snprintf(buf[10], 24, "%" PRId64, r->base);
    argv[2] = buf[2];
    argv[3] = buf[3];
    argv[4] = buf[4];
    argv[5] = buf[5];
    argv[6] = buf[6];
    argv[7] = r->types ? r->types : "";
    argv[8] = r->market ? r->market : "";
    argv[9] = buf[9];
    argv[10] = buf[10];
}

static int reply_int(const redisReply *r, int64_t *out)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    if (r->type == REDIS_REPLY_STRING && r->len > 0) {
        char *end;
        long long v = strtoll(r->str, &end, 10);
        if (*end != '\0')
            return -1;
        *out = v;
        return 0;
    }
    return -1;
}

int catalog_page_decode(const redisReply *reply, struct catalog_page *out)
{
    memset(out, 0, sizeof(*out));
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    const char *st = reply->element[0]->str;
    if (strcmp(st, "expired") == 0) {
        out->expired = 1;
        return reply_int(reply->element[1], &out->dropped);
    }
    if (strcmp(st, "ok") != 0 || reply->elements < 7)
        return -1;
    int64_t more = 0, n = 0;
    if (reply_int(reply->element[1], &out->pos) || reply_int(reply->element[2], &out->hwm) ||
        reply_int(reply->element[3], &more) || reply_int(reply->element[4], &out->top) ||
        reply_int(reply->element[5], &out->dropped) || reply_int(reply->element[6], &n) || n < 0 ||
        (size_t)n != reply->elements - 7)
        return -1;
    out->has_more = more != 0;
    out->n = (size_t)n;
    if (n == 0)
        return 0;
    out->items = calloc((size_t)n, sizeof(*out->items));
    if (out->items == NULL)
        return -1;
    for (size_t i = 0; i < out->n; i++) {
        const redisReply *d = reply->element[7 + i];
        int64_t seq;
        if (d->type != REDIS_REPLY_STRING ||
            catalog_stored_parse(d->str, d->len, &out->items[i], &seq) != 0) {
            free(out->items);
            out->items = NULL;
            return -1;
        }
    }
    return 0;
}

/* ---- documents -------------------------------------------------------------------------- */

json_t *catalog_removal_doc(enum target_format format, const char *doc, size_t len)
{
    json_t *o = json_loadb(doc, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    switch (format) {
    case FORMAT_GWI_JSON_1_1:
        json_object_set_new(o, "available_formats", json_array());
        break;
    case FORMAT_TITANOS: {
        json_object_set_new(o, "status", json_string("removed"));
        /* Every key stays (docs/titanos.md): an empty availability is nulls and empty lists. */
        json_t *av = json_pack("{s:n,s:n,s:[],s:n,s:[]}", "start", "end", "territories",
                               "territory_policy", "offers");
        json_object_set_new(o, "availability", av);
        break;
    }
    case FORMAT_CANONICAL:
        json_object_set_new(o, "status", json_string("unpublished"));
        break;
    }
    return o;
}

const json_t *catalog_title_doc(enum target_format format, const json_t *rendered)
{
    if (format == FORMAT_GWI_JSON_1_1)
        return json_array_get(json_object_get(rendered, "items"), 0);
    return rendered;
}

void catalog_markets(const json_t *title, char *out, size_t cap)
{
    const json_t *av = json_object_get(title, "availability");
    const json_t *terr = json_object_get(av, "territories");
    const char *policy = json_string_value(json_object_get(av, "territory_policy"));
    size_t o = 0, i;
    json_t *v;

    if (cap == 0)
        return;
    out[0] = '\0';
    if (json_array_size(terr) == 0 || cap < 4)
        return;
    out[o++] = policy && strcmp(policy, "block") == 0 ? '-' : '+';
    json_array_foreach(terr, i, v)
    {
        const char *code = json_string_value(v);
        if (code == NULL || strlen(code) != 2 || strchr(code, ',') != NULL)
            continue;
        if (o + (o > 1) + 2 + 1 > cap)
            break;
        if (o > 1)
            out[o++] = ',';
        out[o++] = (char)(code[0] & ~0x20);
        out[o++] = (char)(code[1] & ~0x20);
    }
    out[o] = '\0';
    if (o == 1)
        out[0] = '\0';
}

int catalog_stored_parse(const char *s, size_t len, struct catalog_item *it, int64_t *seq)
{
    int64_t v = 0;
    size_t i = 1;
    if (len < 3 || (s[0] != 'L' && s[0] != 'R'))
        return -1;
    for (; i < len && s[i] >= '0' && s[i] <= '9' && i <= NUM_MAX_DIGITS; i++)
        v = v * 10 + (s[i] - '0');
    if (i == 1 || i >= len || s[i] != ':')
        return -1;
    it->removed = s[0] == 'R';
    it->doc = s + i + 1;
    it->len = len - i - 1;
    *seq = v;
    return 0;
}

void catalog_doc_args(const char *prefix, const char *target, const char *source,
                      const char *content_id, const char *argv[CATALOG_DOC_ARGC])
{
    argv[0] = prefix;
    argv[1] = target;
    argv[2] = source;
    argv[3] = content_id;
}

enum catalog_doc_state catalog_doc_decode(const redisReply *reply, const char **doc, size_t *len)
{
    struct catalog_item it;
    int64_t seq;
    if (reply == NULL)
        return CATALOG_DOC_ERROR;
    if (reply->type == REDIS_REPLY_NIL)
        return CATALOG_DOC_ABSENT;
    if (reply->type != REDIS_REPLY_STRING ||
        catalog_stored_parse(reply->str, reply->len, &it, &seq) != 0)
        return CATALOG_DOC_ERROR;
    *doc = it.doc;
    *len = it.len;
    return it.removed ? CATALOG_DOC_REMOVED : CATALOG_DOC_LIVE;
}

/* ---- operators -------------------------------------------------------------------------- */

int catalog_has_feed(const struct target *t)
{
    return t->delivery == DELIVERY_FEED || t->feed.enabled;
}

int catalog_info_args(const struct config *cfg, const char **argv)
{
    int argc = 0;
    argv[argc++] = cfg->redis_prefix;
    for (size_t i = 0; i < cfg->n_targets; i++)
        if (catalog_has_feed(&cfg->targets[i]))
            argv[argc++] = cfg->targets[i].name;
    return argc;
}

static const char *format_name(enum target_format f)
{
    switch (f) {
    case FORMAT_GWI_JSON_1_1:
        return "gwi_json_1.1";
    case FORMAT_TITANOS:
        return "titanos";
    case FORMAT_CANONICAL:
        break;
    }
    return "canonical";
}

/* An RFC 3339 string of a ms reply field, or JSON null when empty. */
static json_t *time_of(const redisReply *r)
{
    int64_t ms = 0;
    char buf[32];
    if (reply_int(r, &ms) != 0 || ms <= 0)
        return json_null();
    util_rfc3339(ms, buf);
    return json_string(buf);
}

json_t *catalog_info_json(const struct config *cfg, const redisReply *reply)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_targets; i++)
        n += catalog_has_feed(&cfg->targets[i]) != 0;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 7 * n)
        return NULL;
    json_t *feeds = json_object();
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target *t = &cfg->targets[i];
        if (!catalog_has_feed(t))
            continue;
        redisReply **e = reply->element + 7 * k++;
        int64_t live = 0, removed = 0, lag = 0, seq = 0, st = 0;
        reply_int(e[0], &live);
        reply_int(e[1], &removed);
        reply_int(e[2], &seq);
        json_t *o =
            json_pack("{s:s,s:s,s:I,s:I,s:I}", "format", format_name(t->format), "delivery",
                      t->delivery == DELIVERY_FEED ? "feed" : "push", "live",
                      (json_int_t)(live > 0 ? live : 0), "removed",
                      (json_int_t)(removed > 0 ? removed : 0), "last_change", (json_int_t)seq);
        json_object_set_new(o, "last_poll_at", time_of(e[3]));
        json_object_set_new(o, "last_poll_status",
                            reply_int(e[4], &st) == 0 ? json_integer(st) : json_null());
        json_object_set_new(o, "lag", reply_int(e[5], &lag) == 0 ? json_integer(lag) : json_null());
        json_object_set_new(feeds, t->name, o);
    }
    return json_pack("{s:o}", "feeds", feeds);
}

int catalog_list_args(const struct config *cfg, const struct catalog_list_params *p,
                      char buf[2][24], const char *argv[CATALOG_LIST_ARGC], int *status,
                      const char **code, char *message, size_t msgcap)
{
    int64_t limit = CATALOG_LIST_DEFAULT, before = 0;

    *status = 400;
    *code = "invalid_parameter";
    if (p->target == NULL || config_target(cfg, p->target) == NULL) {
        *status = 404;
        *code = "unknown_target";
        snprintf(message, msgcap, "no such target");
        return -1;
    }
    if (p->status && *p->status && strcmp(p->status, "live") != 0 &&
        strcmp(p->status, "removed") != 0) {
        snprintf(message, msgcap, "status: must be live or removed");
        return -1;
    }
    if (p->source && *p->source && config_source(cfg, p->source) == NULL) {
        snprintf(message, msgcap, "source: not a configured source");
        return -1;
    }
    if (p->limit && *p->limit) {
        const char *end = parse_num(p->limit, &limit);
        if (end == NULL || *end != '\0' || limit < 1 || limit > CATALOG_LIST_MAX) {
            snprintf(message, msgcap, "limit: must be 1..%d", CATALOG_LIST_MAX);
            return -1;
        }
    }
    buf[0][0] = '\0';
    if (p->cursor && *p->cursor) {
        const char *end = parse_num(p->cursor, &before);
        if (end == NULL || *end != '\0') {
            *code = "invalid_cursor";
            snprintf(message, msgcap, "cursor: not one this API gave out");
            return -1;
        }
        snprintf(buf[0], 24, "%" PRId64, before);
    }
    snprintf(buf[1], 24, "%" PRId64, limit);
    argv[0] = cfg->redis_prefix;
    argv[1] = p->target;
    argv[2] = buf[0];
    argv[3] = buf[1];
    argv[4] = p->status ? p->status : "";
    argv[5] = p->source ? p->source : "";
    argv[6] = "5000";
    return 0;
}

json_t *catalog_list_json(const redisReply *reply)
{
    int64_t n = 0;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply_int(reply->element[1], &n) != 0 ||
        n < 0 || reply->elements != 2 + 8 * (size_t)n)
        return NULL;
    json_t *data = json_array();
    for (int64_t i = 0; i < n; i++) {
        redisReply **e = reply->element + 2 + 8 * i;
        for (int k = 0; k < 8; k++)
            if (e[k]->type != REDIS_REPLY_STRING) {
                json_decref(data);
                return NULL;
            }
        int64_t seq = 0;
        reply_int(e[3], &seq);
        json_t *o =
            json_pack("{s:s,s:s,s:s,s:s,s:s}", "source", e[0]->str, "content_id", e[1]->str,
                      "content_type", e[4]->str, "status", e[2]->str, "updated_at", e[5]->str);
        json_object_set_new(o, "delivered_at", time_of(e[6]));
        json_object_set_new(o, "delivery_id", json_string(e[7]->str));
        json_object_set_new(o, "seq", json_integer(seq));
        json_array_append_new(data, o);
    }
    const char *next = reply->element[0]->str;
    return json_pack("{s:o,s:{s:o}}", "data", data, "meta", "next_cursor",
                     *next ? json_string(next) : json_null());
}

json_t *catalog_run_info(struct rsync *rs, const struct config *cfg, char *err, size_t errcap)
{
    const char **argv = calloc(cfg->n_targets + 1, sizeof(*argv));
    if (argv == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    int argc = catalog_info_args(cfg, argv);
    redisReply *r = rsync_script(rs, lua_catalog_info, 0, argc, argv, NULL);
    free(argv);
    if (r == NULL) {
        snprintf(err, errcap, "redis: %s", rsync_error(rs));
        return NULL;
    }
    json_t *doc = catalog_info_json(cfg, r);
    if (doc == NULL)
        snprintf(err, errcap, "unexpected answer from redis");
    freeReplyObject(r);
    return doc;
}

json_t *catalog_run_list(struct rsync *rs, const struct config *cfg,
                         const struct catalog_list_params *p, int *status, char *err, size_t errcap)
{
    char buf[2][24];
    const char *argv[CATALOG_LIST_ARGC], *code;
    if (catalog_list_args(cfg, p, buf, argv, status, &code, err, errcap) != 0)
        return NULL;
    redisReply *r = rsync_script(rs, lua_catalog_list, 0, CATALOG_LIST_ARGC, argv, NULL);
    if (r == NULL) {
        *status = 503;
        snprintf(err, errcap, "redis: %s", rsync_error(rs));
        return NULL;
    }
    json_t *doc = catalog_list_json(r);
    if (doc == NULL) {
        *status = 500;
        snprintf(err, errcap, "unexpected answer from redis");
    }
    freeReplyObject(r);
    return doc;
}
