#include "queue/enqueue.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/lua.h"

/* enqueue.lua reads each event as these values in this order; the field names are the
 * script's (each argument costs Redis two string objects, so names are not sent). */
#define ARGS_PER_EVENT 11
#define NUM_LEN 24

struct enqueue_args {
    int argc;
    const char **argv;
    char *nums; /* the formatted numbers argv points into */
};

const char *enqueue_script(void)
{
    return lua_enqueue;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Formats v into the next NUM_LEN slot, or "" when negative. */
static const char *num(char **slot, int64_t v)
{
    char *p = *slot;
    *slot += NUM_LEN;
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

struct enqueue_args *enqueue_batch_args(const char *prefix, int64_t dedupe_ttl_s,
                                        const struct enqueue_event *ev, size_t n)
{
    struct enqueue_args *a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto fail;
    a->argv = malloc(sizeof(*a->argv) * (2 + n * ARGS_PER_EVENT));
    a->nums = malloc(NUM_LEN * (1 + 4 * n) + 4);
    if (a->argv == NULL || a->nums == NULL)
        goto fail;
    char *slot = a->nums;
    const char **v = a->argv;
    *v++ = prefix;
    *v++ = num(&slot, dedupe_ttl_s);
    for (size_t i = 0; i < n; i++) {
        const struct enqueue_event *e = &ev[i];
        *v++ = e->source;
        *v++ = e->event_id;
        *v++ = e->type;
        *v++ = or_empty(e->content_type);
        *v++ = or_empty(e->content_id);
        *v++ = or_empty(e->show_id);
        *v++ = num(&slot, e->season_number);
        *v++ = num(&slot, e->episode_number);
        *v++ = num(&slot, e->created_at_ms);
        *v++ = num(&slot, e->received_at_ms);
        *v++ = or_empty(e->request_id);
    }
    a->argc = (int)(v - a->argv);
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
    free(a->nums);
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
