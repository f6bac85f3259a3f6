#include "queue/alerts.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* queue/lua/alert_tick.lua, embedded by queue/embed_lua.cmake */
extern const char lua_alert_tick[];

struct alerts_args {
    int argc, cap;
    char **argv;
    int failed;
};

void alerts_sink_id(const struct alert_sink *s, char out[ALERTS_SINK_ID_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    static const char hex[] = "0123456789abcdef";
    const char *url = s->url.value ? s->url.value : "";
    SHA256((const unsigned char *)url, strlen(url), md);
    for (size_t i = 0; i < ALERTS_SINK_ID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[ALERTS_SINK_ID_LEN] = '\0';
}

static void add(struct alerts_args *a, const char *s)
{
    if (a->failed)
        return;
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->argv, sizeof(*v) * (size_t)cap);
        if (v == NULL) {
            a->failed = 1;
            return;
        }
        a->argv = v;
        a->cap = cap;
    }
    char *c = strdup(s);
    if (c == NULL) {
        a->failed = 1;
        return;
    }
    a->argv[a->argc++] = c;
}

static void add_int(struct alerts_args *a, int64_t v)
{
    char num[24];
    snprintf(num, sizeof(num), "%" PRId64, v);
    add(a, num);
}

struct alerts_args *alerts_tick_args(const struct config *cfg, const char *const *sink_ids,
                                     const size_t *room, int64_t lease_ms,
                                     const struct alerts_ack *acks, size_t n_acks)
{
    struct alerts_args *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    add(a, cfg->redis_prefix);
    add_int(a, lease_ms);
    add_int(a, (int64_t)n_acks);
    for (size_t i = 0; i < n_acks; i++) {
        add(a, acks[i].sink);
        add(a, acks[i].id);
        add(a, acks[i].outcome ? acks[i].outcome : "");
    }
    add_int(a, (int64_t)cfg->n_alerts);
    for (size_t i = 0; i < cfg->n_alerts; i++) {
        add(a, sink_ids[i]);
        add_int(a, cfg->alerts[i].min_interval_s * 1000);
        add_int(a, cfg->alerts[i].queue_oldest_s * 1000);
        add_int(a, (int64_t)room[i]);
    }
    int64_t n = 0;
    for (size_t i = 0; i < cfg->n_targets; i++)
        n += cfg->targets[i].feed.enabled && cfg->targets[i].feed.alert_after_s > 0;
    add_int(a, n);
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target *t = &cfg->targets[i];
        if (t->feed.enabled && t->feed.alert_after_s > 0) {
            add(a, t->name);
            add_int(a, t->feed.alert_after_s * 1000);
        }
    }
    n = 0;
    for (size_t i = 0; i < cfg->n_sources; i++)
        n += cfg->sources[i].alert_after_s > 0;
    add_int(a, n);
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (cfg->sources[i].alert_after_s > 0) {
            add(a, cfg->sources[i].name);
            add_int(a, cfg->sources[i].alert_after_s * 1000);
        }
    add_int(a, (int64_t)cfg->n_targets);
    for (size_t i = 0; i < cfg->n_targets; i++)
        add(a, cfg->targets[i].name);
    if (a->failed) {
        alerts_args_free(a);
        return NULL;
    }
    return a;
}

void alerts_args_free(struct alerts_args *a)
{
    if (a == NULL)
        return;
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a);
}

int alerts_args_count(const struct alerts_args *a)
{
    return a->argc;
}

const char **alerts_args_argv(const struct alerts_args *a)
{
    return (const char **)a->argv;
}

const char *alerts_tick_script(void)
{
    return lua_alert_tick;
}

void alerts_msg_clear(struct alerts_msg *m)
{
    if (m == NULL)
        return;
    free(m->id);
    free(m->sink);
    free(m->type);
    free(m->subject);
    free(m->summary);
    free(m->state);
    json_decref(m->details);
    memset(m, 0, sizeof(*m));
}

void alerts_msgs_free(struct alerts_msg *msgs, size_t n)
{
    if (msgs == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        alerts_msg_clear(&msgs[i]);
    free(msgs);
}

static char *dup_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return strdup(json_is_string(v) ? json_string_value(v) : "");
}

static int64_t int_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (int64_t)json_number_value(v) : 0;
}

/* One message's JSON; returns 0, or -1 when out of memory (m holds what it got). */
static int decode_msg(const redisReply *rsink, const redisReply *rid, const redisReply *rmsg,
                      struct alerts_msg *m)
{
    m->sink = strndup(rsink->str, rsink->len);
    m->id = strndup(rid->str, rid->len);
    if (m->id == NULL || m->sink == NULL)
        return -1;
    json_t *o = json_loadb(rmsg->str, rmsg->len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    m->type = dup_field(o, "type");
    m->subject = dup_field(o, "subject");
    m->summary = dup_field(o, "summary");
    m->state = dup_field(o, "state");
    m->at_ms = int_field(o, "at");
    m->count = int_field(o, "count");
    m->window_s = int_field(o, "window_s");
    json_t *d = json_object_get(o, "details");
    /* cjson writes an empty table as {} but a Lua script could hand it an array */
    m->details = json_is_object(d) ? json_incref(d) : json_object();
    json_decref(o);
    if (m->type == NULL || m->subject == NULL || m->summary == NULL || m->state == NULL ||
        m->details == NULL)
        return -1;
    m->ok = m->type[0] != '\0' && m->sink[0] != '\0';
    if (m->count < 1)
        m->count = 1;
    return 0;
}

int alerts_tick_decode(const redisReply *r, struct alerts_msg **msgs, size_t *n, long long *dropped)
{
    *msgs = NULL;
    *n = 0;
    *dropped = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->elements % 3 != 1)
        return -1;
    for (size_t i = 1; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return -1;
    *dropped = r->element[0]->integer;
    size_t count = (r->elements - 1) / 3;
    if (count == 0)
        return 0;
    struct alerts_msg *out = calloc(count, sizeof(*out));
    if (out == NULL)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (decode_msg(r->element[1 + 3 * i], r->element[2 + 3 * i], r->element[3 + 3 * i],
                       &out[i]) != 0) {
            alerts_msgs_free(out, count);
            return -1;
        }
    *msgs = out;
    *n = count;
    return 0;
}

const char *alerts_reply_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}
