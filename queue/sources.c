#include "queue/sources.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "queue/lua.h"
#include "queue/rsync.h"

#define MS_PER_HOUR 3600000LL
#define MAX_CODES 16 /* distinct rejection codes per source and flush; the ingest has ~12 */
#define CODE_MAX 40

struct code_count {
    char field[CODE_MAX + 4]; /* "rej:<code>" */
    long n;
};

struct source_tally {
    const char *name; /* cfg's */
    int64_t last_received_ms, last_ping_ms, last_rejection_ms;
    char last_rejection_code[CODE_MAX];
    long accepted;
    struct code_count codes[MAX_CODES];
    size_t n_codes;
    int dirty;
};

struct sources_tally {
    const struct config *cfg;
    struct source_tally *src;
    size_t n;
};

struct sources_args {
    int argc;
    const char **argv;
    char *text; /* formatted numbers and copied strings argv points into */
};

struct sources_tally *sources_tally_new(const struct config *cfg)
{
    struct sources_tally *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->cfg = cfg;
    t->n = cfg->n_sources;
    t->src = calloc(t->n ? t->n : 1, sizeof(*t->src));
    if (t->src == NULL) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++)
        t->src[i].name = cfg->sources[i].name;
    return t;
}

void sources_tally_free(struct sources_tally *t)
{
    if (t == NULL)
        return;
    free(t->src);
    free(t);
}

static struct source_tally *find(struct sources_tally *t, const char *name)
{
    if (t == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->src[i].name, name) == 0)
            return &t->src[i];
    return NULL;
}

void sources_tally_verified(struct sources_tally *t, const char *source, int64_t now_ms)
{
    struct source_tally *s = find(t, source);
    if (s && now_ms > s->last_received_ms) {
        s->last_received_ms = now_ms;
        s->dirty = 1;
    }
}

void sources_tally_ping(struct sources_tally *t, const char *source, int64_t now_ms)
{
    struct source_tally *s = find(t, source);
    if (s && now_ms > s->last_ping_ms) {
        s->last_ping_ms = now_ms;
        s->dirty = 1;
    }
}

void sources_tally_accepted(struct sources_tally *t, const char *source)
{
    struct source_tally *s = find(t, source);
    if (s) {
        s->accepted++;
        s->dirty = 1;
    }
}

void sources_tally_rejected(struct sources_tally *t, const char *source, const char *code,
                            int64_t now_ms)
{
    struct source_tally *s = find(t, source);
    if (s == NULL || code == NULL || strlen(code) >= CODE_MAX)
        return;
    s->dirty = 1;
    if (now_ms >= s->last_rejection_ms) {
        s->last_rejection_ms = now_ms;
        snprintf(s->last_rejection_code, sizeof(s->last_rejection_code), "%s", code);
    }
    char field[CODE_MAX + 4];
    snprintf(field, sizeof(field), "rej:%s", code);
    for (size_t i = 0; i < s->n_codes; i++) {
        if (strcmp(s->codes[i].field, field) == 0) {
            s->codes[i].n++;
            return;
        }
    }
    if (s->n_codes < MAX_CODES) {
        memcpy(s->codes[s->n_codes].field, field, sizeof(field));
        s->codes[s->n_codes].n = 1;
        s->n_codes++;
    }
}

int sources_tally_dirty(const struct sources_tally *t)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (t->src[i].dirty)
            return 1;
    return 0;
}

/* Argument builder: every string goes into one text area sized beforehand. */
struct builder {
    struct sources_args *a;
    char *p, *end;
};

static void add(struct builder *b, const char *s)
{
    size_t n = strlen(s) + 1;
    if (b->p + n > b->end) { /* cannot happen with the sizes computed below */
        b->a->argv[b->a->argc++] = "";
        return;
    }
    memcpy(b->p, s, n);
    b->a->argv[b->a->argc++] = b->p;
    b->p += n;
}

static void add_num(struct builder *b, long long v)
{
    char num[24] = "";
    if (v > 0)
        snprintf(num, sizeof(num), "%lld", v);
    add(b, num);
}

static struct sources_args *args_new(size_t argc, size_t text, struct builder *b)
{
    struct sources_args *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->argv = malloc(sizeof(*a->argv) * (argc ? argc : 1));
    a->text = malloc(text + 1);
    if (a->argv == NULL || a->text == NULL) {
        sources_args_free(a);
        return NULL;
    }
    *b = (struct builder){a, a->text, a->text + text + 1};
    return a;
}

struct sources_args *sources_note_args(struct sources_tally *t, const char *prefix, int64_t now_ms)
{
    struct builder b;
    size_t argc = 2, text = strlen(prefix) + 1 + 24;
    for (size_t i = 0; i < t->n; i++) {
        struct source_tally *s = &t->src[i];
        if (!s->dirty)
            continue;
        argc += 6 + 2 * (1 + s->n_codes);
        text += strlen(s->name) + 1 + 4 * 24 + CODE_MAX + (1 + s->n_codes) * (CODE_MAX + 4 + 24);
    }
    struct sources_args *a = args_new(argc, text, &b);
    if (a == NULL)
        return NULL;
    add(&b, prefix);
    add_num(&b, now_ms / MS_PER_HOUR);
    for (size_t i = 0; i < t->n; i++) {
        struct source_tally *s = &t->src[i];
        if (!s->dirty)
            continue;
        add(&b, s->name);
        add_num(&b, s->last_received_ms);
        add_num(&b, s->last_ping_ms);
        add_num(&b, s->last_rejection_ms);
        add(&b, s->last_rejection_ms ? s->last_rejection_code : "");
        add_num(&b, (long long)(s->n_codes + (s->accepted > 0)));
        if (s->accepted > 0) {
            add(&b, "accepted");
            add_num(&b, s->accepted);
        }
        for (size_t k = 0; k < s->n_codes; k++) {
            add(&b, s->codes[k].field);
            add_num(&b, s->codes[k].n);
        }
        /* Handed over: clear it. The last_* times are only sent when they change. */
        memset(s, 0, sizeof(*s));
        s->name = t->cfg->sources[i].name;
    }
    return a;
}

struct sources_args *sources_read_args(const struct config *cfg, int64_t now_ms)
{
    struct builder b;
    size_t text = strlen(cfg->redis_prefix) + 1 + 24;
    for (size_t i = 0; i < cfg->n_sources; i++)
        text += strlen(cfg->sources[i].name) + 1;
    struct sources_args *a = args_new(2 + cfg->n_sources, text, &b);
    if (a == NULL)
        return NULL;
    add(&b, cfg->redis_prefix);
    add_num(&b, now_ms / MS_PER_HOUR);
    for (size_t i = 0; i < cfg->n_sources; i++)
        add(&b, cfg->sources[i].name);
    return a;
}

void sources_args_free(struct sources_args *a)
{
    if (a == NULL)
        return;
    free(a->argv);
    free(a->text);
    free(a);
}

int sources_args_count(const struct sources_args *a)
{
    return a->argc;
}

const char **sources_args_argv(const struct sources_args *a)
{
    return a->argv;
}

const char *sources_note_script(void)
{
    return lua_sources_note;
}

const char *sources_read_script(void)
{
    return lua_sources_read;
}

static const char *scheme_name(enum sig_scheme s)
{
    switch (s) {
    case SIG_HMAC_SHA256_HEX:
        return "hmac-sha256-hex";
    case SIG_STRIPE:
        return "stripe";
    case SIG_STANDARD_WEBHOOKS:
        return "standard-webhooks";
    }
    return "unknown";
}

static const char *kind_name(enum source_kind k)
{
    return k == SOURCE_MOVIDA ? "movida" : "encorastream";
}

static const char *header_of(const struct source *src)
{
    switch (src->scheme) {
    case SIG_HMAC_SHA256_HEX:
        return src->sig_header ? src->sig_header : "X-Encora-Signature-256";
    case SIG_STRIPE:
        return "Stripe-Signature";
    case SIG_STANDARD_WEBHOOKS:
        return "webhook-signature";
    }
    return "";
}

/* A reply string of ms digits as RFC 3339, or JSON null when empty. */
static json_t *time_of(const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0)
        return json_null();
    char stamp[32];
    util_rfc3339(strtoll(r->str, NULL, 10), stamp);
    return json_string(stamp);
}

json_t *sources_decode(const struct config *cfg, const redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != cfg->n_sources)
        return NULL;
    json_t *data = json_array();
    for (size_t i = 0; data && i < cfg->n_sources; i++) {
        const struct source *src = &cfg->sources[i];
        const redisReply *r = reply->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
            r->element[4]->type != REDIS_REPLY_ARRAY)
            goto bad;
        for (size_t k = 0; k < 4; k++)
            if (r->element[k]->type != REDIS_REPLY_STRING)
                goto bad;
        char path[160];
        snprintf(path, sizeof(path), "/webhooks/%s", src->name);
        json_int_t accepted = 0;
        json_t *rejected = json_object();
        const redisReply *counts = r->element[4];
        for (size_t k = 0; k + 1 < counts->elements; k += 2) {
            const redisReply *f = counts->element[k], *n = counts->element[k + 1];
            if (f->type != REDIS_REPLY_STRING || n->type != REDIS_REPLY_STRING)
                continue;
            json_int_t v = strtoll(n->str, NULL, 10);
            if (strcmp(f->str, "accepted") == 0)
                accepted = v;
            else if (strncmp(f->str, "rej:", 4) == 0)
                json_object_set_new(rejected, f->str + 4, json_integer(v));
        }
        json_t *last_rej = json_null();
        if (r->element[2]->len > 0)
            last_rej =
                json_pack("{s:o, s:s}", "at", time_of(r->element[2]), "code", r->element[3]->str);
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:I, s:o, s:o}", "name", src->name, "kind",
            kind_name(src->kind), "path", path, "scheme", scheme_name(src->scheme), "header",
            header_of(src), "secrets", (json_int_t)src->n_secrets, "last_received_at",
            time_of(r->element[0]), "last_ping_at", time_of(r->element[1]), "accepted_24h",
            accepted, "rejected_24h", rejected ? rejected : json_object(), "last_rejection",
            last_rej ? last_rej : json_null());
        if (o == NULL || json_array_append_new(data, o) != 0)
            goto bad;
    }
    return json_pack("{s:o}", "data", data);
bad:
    json_decref(data);
    return NULL;
}

json_t *sources_read(struct rsync *rs, const struct config *cfg, int64_t now_ms, char *err,
                     size_t errlen)
{
    struct sources_args *a = sources_read_args(cfg, now_ms);
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    redisReply *reply = rsync_script(rs, lua_sources_read, 0, a->argc, a->argv, NULL);
    sources_args_free(a);
    json_t *doc = sources_decode(cfg, reply);
    if (doc == NULL)
        snprintf(err, errlen, "redis: %s",
                 reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                 : reply                                   ? "malformed answer"
                                                           : rsync_error(rs));
    if (reply)
        freeReplyObject(reply);
    return doc;
}
