#include "queue/enqueue.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/lua.h"

/* enqueue.lua takes three arguments per event: source and event_id (its duplicate check) and the
 * stream entry's one value, the event's values joined by NUL bytes in the order of
 * docs/redis.md. One value instead of eleven name/value pairs: every argument costs Redis a
 * string object on the way in and a Lua string on the way to the script, and every field the
 * XADD stores and logs to the AOF; the worker splits the value where it lies in its reply
 * (queue/delivery.c). The strings come from C strings, so none holds a NUL. */
#define ARGS_PER_EVENT 3
#define VALUES_PER_EVENT 11
#define NUM_LEN 24

struct enqueue_args {
    int argc;
    const char **argv;
    size_t *argvlen;
    char *packed; /* the events' joined values, which argv points into */
};

const char *enqueue_script(void)
{
    return lua_enqueue;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Appends v in decimal at p (nothing when negative: an empty value); returns the end. */
static char *put_num(char *p, int64_t v)
{
    if (v < 0)
        return p;
    /* by hand: four of these per event, and snprintf's format parsing shows in a profile */
    char tmp[NUM_LEN];
    size_t k = 0;
    uint64_t u = (uint64_t)v;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    for (size_t j = 0; j < k; j++)
        p[j] = tmp[k - 1 - j];
    return p + k;
}

static char *put_str(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

/* The longest joined value e can give: its strings, four numbers and ten separators. */
static size_t pack_room(const struct enqueue_event *e)
{
    return strlen(e->source) + strlen(e->event_id) + strlen(e->type) +
           strlen(or_empty(e->content_type)) + strlen(or_empty(e->content_id)) +
           strlen(or_empty(e->show_id)) + strlen(or_empty(e->request_id)) + 4 * NUM_LEN +
           VALUES_PER_EVENT - 1;
}

/* The joined values of e written at p, without a terminating NUL; returns the end. */
static char *pack(char *p, const struct enqueue_event *e)
{
    const char *s[] = {e->source,
                       e->event_id,
                       e->type,
                       or_empty(e->content_type),
                       or_empty(e->content_id),
                       or_empty(e->show_id)};
    const int64_t nums[] = {e->season_number, e->episode_number, e->created_at_ms,
                            e->received_at_ms};
    for (size_t i = 0; i < sizeof(s) / sizeof(*s); i++) {
        p = put_str(p, s[i], strlen(s[i]));
        *p++ = '\0';
    }
    for (size_t i = 0; i < sizeof(nums) / sizeof(*nums); i++) {
        p = put_num(p, nums[i]);
        *p++ = '\0';
    }
    return put_str(p, or_empty(e->request_id), strlen(or_empty(e->request_id)));
}

struct enqueue_args *enqueue_batch_args(const char *prefix, int64_t dedupe_ttl_s,
                                        const struct enqueue_event *ev, size_t n)
{
    struct enqueue_args *a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto fail;
    size_t room = NUM_LEN;
    for (size_t i = 0; i < n; i++)
        room += pack_room(&ev[i]) + 1;
    size_t argc = 2 + n * ARGS_PER_EVENT;
    a->argv = malloc(sizeof(*a->argv) * argc);
    a->argvlen = malloc(sizeof(*a->argvlen) * argc);
    a->packed = malloc(room);
    if (a->argv == NULL || a->argvlen == NULL || a->packed == NULL)
        goto fail;
    char *p = a->packed;
    size_t k = 0;
    a->argv[k] = prefix;
    a->argvlen[k++] = strlen(prefix);
    a->argv[k] = p;
    p = put_num(p, dedupe_ttl_s < 0 ? 0 : dedupe_ttl_s);
    a->argvlen[k] = (size_t)(p - a->argv[k]);
    *p++ = '\0'; /* each value also ends in a NUL, not counted: readable as a C string */
    k++;
    for (size_t i = 0; i < n; i++) {
        const struct enqueue_event *e = &ev[i];
        a->argv[k] = e->source;
        a->argvlen[k++] = strlen(e->source);
        a->argv[k] = e->event_id;
        a->argvlen[k++] = strlen(e->event_id);
        a->argv[k] = p;
        p = pack(p, e);
        a->argvlen[k] = (size_t)(p - a->argv[k]);
        *p++ = '\0';
        k++;
    }
    a->argc = (int)k;
    return a;
fail:
    enqueue_args_free(a);
    return NULL;
}

void enqueue_args_free(struct enqueue_args *a)
{
    if (a == NULL)
        return;
    free(a->argv);
    free(a->argvlen);
    free(a->packed);
    free(a);
}

int enqueue_args_count(const struct enqueue_args *a)
{
    return a->argc;
}

const char **enqueue_args_argv(const struct enqueue_args *a)
{
    return a->argv;
}

const size_t *enqueue_args_argvlen(const struct enqueue_args *a)
{
    return a->argvlen;
}

enum enqueue_outcome enqueue_reply(const struct redisReply *reply, size_t n, size_t i,
                                   const char **stream_id)
{
    if (stream_id)
        *stream_id = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 * n || i >= n)
        return ENQUEUE_FAILED;
    const redisReply *flag = reply->element[2 * i], *id = reply->element[2 * i + 1];
    if (flag->type != REDIS_REPLY_INTEGER)
        return ENQUEUE_FAILED;
    if (flag->integer == 0)
        return ENQUEUE_DUPLICATE;
    if (id->type != REDIS_REPLY_STRING)
        return ENQUEUE_FAILED;
    if (stream_id)
        *stream_id = id->str;
    return ENQUEUE_QUEUED;
}

const char *enqueue_reply_error(const struct redisReply *reply)
{
    if (reply == NULL)
        return "no answer";
    if (reply->type == REDIS_REPLY_ERROR)
        return reply->str;
    return "malformed answer";
}
