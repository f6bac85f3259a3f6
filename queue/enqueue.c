#include "queue/enqueue.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/entry.h"
#include "queue/lua.h"

/* enqueue.lua takes three arguments per event: source and event_id (its duplicate check) and the
 * stream entry's one value (queue/entry.h). One value instead of eleven name/value pairs:
 * every argument costs Redis a string object on the way in and a Lua string on the way to the
 * script, and every field the XADD stores and logs to the AOF; the worker splits the value
 * where it lies in its reply (queue/delivery.c). The strings come from C strings, so none
 * holds a NUL. */
#define ARGS_PER_EVENT 3
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

/* v in decimal at p (NUL-terminated; empty when negative). Returns p. */
static const char *fmt_num(char p[NUM_LEN], int64_t v)
{
    if (v < 0) {
        p[0] = '\0';
        return p;
    }
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
    p[k] = '\0';
    return p;
}

/* The event's values, in the entry's order (numbers formatted into nums); returns the length
 * of their joined form. */
static size_t values(const struct enqueue_event *e, char nums[4][NUM_LEN],
                     const char *v[ENTRY_VALUES])
{
    v[ENTRY_SOURCE] = e->source;
    v[ENTRY_EVENT_ID] = e->event_id;
    v[ENTRY_TYPE] = e->type;
    v[ENTRY_CONTENT_TYPE] = or_empty(e->content_type);
    v[ENTRY_CONTENT_ID] = or_empty(e->content_id);
    v[ENTRY_SHOW_ID] = or_empty(e->show_id);
    v[ENTRY_SEASON_NUMBER] = fmt_num(nums[0], e->season_number);
    v[ENTRY_EPISODE_NUMBER] = fmt_num(nums[1], e->episode_number);
    v[ENTRY_CREATED_AT] = fmt_num(nums[2], e->created_at_ms);
    v[ENTRY_RECEIVED_AT] = fmt_num(nums[3], e->received_at_ms);
    v[ENTRY_REQUEST_ID] = or_empty(e->request_id);
    size_t len = ENTRY_VALUES - 1; /* the separators */
    for (size_t i = 0; i < ENTRY_VALUES; i++)
        len += strlen(v[i]);
    return len;
}

/* Writes the joined values of e at p, and a NUL after them (not part of the value: it makes
 * the argument readable as a C string too). Returns the value's length. */
static size_t pack(char *p, const struct enqueue_event *e)
{
    char nums[4][NUM_LEN];
    const char *v[ENTRY_VALUES];
    size_t len = values(e, nums, v);
    for (size_t i = 0; i < ENTRY_VALUES; i++) {
        size_t n = strlen(v[i]);
        memcpy(p, v[i], n);
        p += n;
        *p++ = '\0'; /* the separator, or after the last the C string's end */
    }
    return len;
}

struct enqueue_args *enqueue_batch_args(const char *prefix, int64_t dedupe_ttl_s,
                                        const struct enqueue_event *ev, size_t n)
{
    struct enqueue_args *a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto fail;
    size_t room = NUM_LEN;
    for (size_t i = 0; i < n; i++) {
        char nums[4][NUM_LEN];
        const char *v[ENTRY_VALUES];
        room += values(&ev[i], nums, v) + 1;
    }
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
    a->argv[k] = fmt_num(p, dedupe_ttl_s < 0 ? 0 : dedupe_ttl_s);
    a->argvlen[k] = strlen(p);
    p += a->argvlen[k++] + 1;
    for (size_t i = 0; i < n; i++) {
        const struct enqueue_event *e = &ev[i];
        a->argv[k] = e->source;
        a->argvlen[k++] = strlen(e->source);
        a->argv[k] = e->event_id;
        a->argvlen[k++] = strlen(e->event_id);
        a->argv[k] = p;
        a->argvlen[k] = pack(p, e);
        p += a->argvlen[k++] + 1;
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
