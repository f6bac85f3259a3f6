#include "queue/ops.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "queue/lua.h"
#include "queue/ops_doc.h"
#include "queue/qargv.h"
#include "queue/rsync.h"

/* Log entries one ops_list.lua call may look at, and how many calls one page may take: a page
 * with a rare filter scans at most LIST_BUDGET * LIST_MAX_CALLS entries and then returns what
 * it found with a cursor to go on. */
#define LIST_BUDGET 2000
#define LIST_MAX_CALLS 25
/* P:failed entries one bulk redelivery call handles. */
#define BULK_BATCH 500
/* Attempts shown per delivery (the newest). */
#define SHOW_MAX_ATTEMPTS 200
#define ID_MAX 64

struct ops_call {
    const struct config *cfg;
    enum ops_op op;
    const char *script;
    struct qargv av; /* of the next script call; every string is owned */
    /* parameters, copied and validated */
    char *id, *target, *status, *source;
    char since[24], until[24]; /* ms as text, "" = none */
    long limit;
    char *cur_score, *cur_id; /* list position to continue after */
    long offset;              /* bulk: rank in P:failed */
    /* progress */
    int calls;
    json_t *result;
    long redelivered;
    struct ops_error err;
};

static void set_err(struct ops_error *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(struct ops_error *e, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static int given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static char *dup_or_null(const char *s)
{
    return given(s) ? strdup(s) : NULL;
}

/* ---- argv ---------------------------------------------------------------------------- */

static void args_clear(struct ops_call *c)
{
    for (int i = 0; i < c->av.argc; i++)
        free((char *)c->av.argv[i]);
    c->av.argc = 0;
}

/* Appends a copy of s (NULL = ""). */
static int arg(struct ops_call *c, const char *s)
{
    char *d = strdup(s ? s : "");
    if (d == NULL || qargv_push(&c->av, d, strlen(d)) != 0) {
        free(d);
        return -1;
    }
    return 0;
}

static int arg_long(struct ops_call *c, long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", v);
    return arg(c, buf);
}

static int arg_targets(struct ops_call *c)
{
    for (size_t i = 0; i < c->cfg->n_targets; i++)
        if (arg(c, c->cfg->targets[i].name) != 0)
            return -1;
    return 0;
}

/* ops_targets.lua's pairs: each target's name and "1" when it serves a feed. */
static int arg_target_feeds(struct ops_call *c)
{
    for (size_t i = 0; i < c->cfg->n_targets; i++)
        if (arg(c, c->cfg->targets[i].name) != 0 ||
            arg(c, c->cfg->targets[i].feed.enabled ? "1" : "0") != 0)
            return -1;
    return 0;
}

/* Builds the argv of the next script call from the call's state. */
static int build(struct ops_call *c)
{
    int rc = 0;
    args_clear(c);
    rc |= arg(c, c->cfg->redis_prefix);
    switch (c->op) {
    case OPS_STATS:
        c->script = lua_stats;
        rc |= arg_targets(c);
        break;
    case OPS_LIST:
        c->script = lua_ops_list;
        rc |= arg_long(c, c->limit - (long)json_array_size(json_object_get(c->result, "data")));
        rc |= arg_long(c, LIST_BUDGET);
        rc |= arg(c, c->cur_score);
        rc |= arg(c, c->cur_id);
        rc |= arg(c, c->status);
        rc |= arg(c, c->target);
        rc |= arg(c, c->source);
        rc |= arg(c, c->since);
        rc |= arg(c, c->until);
        break;
    case OPS_SHOW:
        c->script = lua_ops_show;
        rc |= arg(c, c->id);
        rc |= arg_long(c, SHOW_MAX_ATTEMPTS);
        break;
    case OPS_REDELIVER:
        c->script = lua_ops_redeliver;
        rc |= arg_long(c, (long)c->cfg->retention_s);
        rc |= arg(c, "one");
        rc |= arg(c, c->id);
        rc |= arg_targets(c);
        break;
    case OPS_REDELIVER_BULK:
        c->script = lua_ops_redeliver;
        rc |= arg_long(c, (long)c->cfg->retention_s);
        rc |= arg(c, "bulk");
        rc |= arg_long(c, c->offset);
        rc |= arg_long(c, BULK_BATCH);
        rc |= arg(c, c->target);
        rc |= arg(c, c->source);
        rc |= arg(c, c->since);
        rc |= arg(c, c->until);
        rc |= arg_targets(c);
        break;
    case OPS_TARGETS:
        c->script = lua_ops_targets;
        rc |= arg_target_feeds(c);
        break;
    case OPS_PAUSE:
    case OPS_RESUME:
        c->script = lua_ops_target;
        rc |= arg(c, c->target);
        rc |= arg(c, c->op == OPS_PAUSE ? "1" : "0");
        break;
    }
    return rc ? -1 : 0;
}

/* ---- cursor: base64url("score:id"), opaque to clients -------------------------------- */

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int valid_score(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 24)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == 'e' ||
              s[i] == '+'))
            return 0;
    return 1;
}

/* Returns a malloc'd cursor, or NULL on allocation failure. */
static char *cursor_encode(const char *score, const char *id)
{
    char plain[ID_MAX + 32];
    char b64[((ID_MAX + 32) / 3 + 2) * 4 + 1];
    int n = snprintf(plain, sizeof(plain), "%s:%s", score, id);
    if (n < 0 || (size_t)n >= sizeof(plain))
        return NULL;
    util_b64_encode((const unsigned char *)plain, (size_t)n, b64);
    for (char *p = b64; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
        else if (*p == '=')
            *p = '\0';
    }
    return strdup(b64);
}

/* Splits a cursor into malloc'd score and id; -1 when it is not one of ours. */
static int cursor_decode(const char *cur, char **score, char **id)
{
    char b64[((ID_MAX + 32) / 3 + 2) * 4 + 1];
    unsigned char plain[ID_MAX + 32];
    size_t n = strlen(cur);
    if (n == 0 || n + 4 > sizeof(b64))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = cur[i];
        if (ch == '-')
            ch = '+';
        else if (ch == '_')
            ch = '/';
        else if (ch == '+' || ch == '/' || ch == '=')
            return -1;
        b64[i] = ch;
    }
    while (n % 4)
        b64[n++] = '=';
    b64[n] = '\0';
    long len = util_b64_decode(b64, n, plain, sizeof(plain) - 1);
    if (len <= 0)
        return -1;
    plain[len] = '\0';
    if (strlen((char *)plain) != (size_t)len)
        return -1;
    char *colon = strchr((char *)plain, ':');
    if (colon == NULL)
        return -1;
    *colon = '\0';
    if (!valid_score((char *)plain) || !valid_id(colon + 1))
        return -1;
    *score = strdup((char *)plain);
    *id = strdup(colon + 1);
    if (*score == NULL || *id == NULL) {
        free(*score);
        free(*id);
        return -1;
    }
    return 0;
}

/* ---- validation ---------------------------------------------------------------------- */

static int valid_status(const char *s)
{
    for (size_t i = 0; i < OPS_DOC_NSTATUS; i++)
        if (strcmp(s, ops_doc_statuses[i]) == 0)
            return 1;
    return 0;
}

static int check_filters(struct ops_call *c, const struct ops_params *p, struct ops_error *err)
{
    if (given(p->target) && config_target(c->cfg, p->target) == NULL) {
        set_err(err, 404, "unknown_target", "target %.100s is not configured", p->target);
        return -1;
    }
    if (given(p->source) && config_source(c->cfg, p->source) == NULL) {
        set_err(err, 404, "unknown_source", "source %.100s is not configured", p->source);
        return -1;
    }
    return 0;
}

/* status/code: 422 invalid_request for a JSON body field, 400 invalid_parameter for a query
 * parameter. The message repeats the bad value (operator input, never a secret). */
static int parse_time(const char *name, const char *s, char out[24], int status, const char *code,
                      struct ops_error *err)
{
    int64_t ms;
    out[0] = '\0';
    if (!given(s))
        return 0;
    if (util_parse_rfc3339(s, &ms) != 0) {
        set_err(err, status, code,
                "%s: \"%.60s\" is not an RFC 3339 time (e.g. 2026-11-20T10:00:00Z)", name, s);
        return -1;
    }
    snprintf(out, 24, "%lld", (long long)ms);
    return 0;
}

static int validate(struct ops_call *c, const struct ops_params *p, struct ops_error *err)
{
    switch (c->op) {
    case OPS_STATS:
    case OPS_TARGETS:
        return 0;
    case OPS_LIST:
        if (given(p->status) && !valid_status(p->status)) {
            set_err(err, 400, "invalid_parameter",
                    "status: must be one of pending, retrying, delivered, failed, superseded");
            return -1;
        }
        if (check_filters(c, p, err) != 0)
            return -1;
        c->limit = OPS_LIMIT_DEFAULT;
        if (given(p->limit)) {
            char *end;
            errno = 0;
            long v = strtol(p->limit, &end, 10);
            if (errno || *end != '\0' || end == p->limit || v < 1 || v > OPS_LIMIT_MAX) {
                set_err(err, 400, "invalid_parameter", "limit: must be an integer from 1 to %d",
                        OPS_LIMIT_MAX);
                return -1;
            }
            c->limit = v;
        }
        if (parse_time("since", p->since, c->since, 400, "invalid_parameter", err) != 0 ||
            parse_time("until", p->until, c->until, 400, "invalid_parameter", err) != 0)
            return -1;
        if (c->since[0] && c->until[0] &&
            strtoll(c->since, NULL, 10) > strtoll(c->until, NULL, 10)) {
            set_err(err, 400, "invalid_parameter", "since: later than until");
            return -1;
        }
        if (given(p->cursor) && cursor_decode(p->cursor, &c->cur_score, &c->cur_id) != 0) {
            set_err(err, 400, "invalid_cursor",
                    "cursor: not a cursor from meta.next_cursor of a previous page");
            return -1;
        }
        return 0;
    case OPS_SHOW:
    case OPS_REDELIVER:
        if (!given(p->id)) {
            set_err(err, 400, "invalid_parameter", "a delivery id is required");
            return -1;
        }
        if (!valid_id(p->id)) {
            set_err(err, 404, "not_found", "no delivery with that id");
            return -1;
        }
        return 0;
    case OPS_REDELIVER_BULK:
        if (!given(p->status)) {
            set_err(err, 422, "invalid_request", "status: required (\"failed\")");
            return -1;
        }
        if (strcmp(p->status, "failed") != 0) {
            set_err(err, 422, "invalid_request",
                    "status: only \"failed\" deliveries can be redelivered in bulk");
            return -1;
        }
        if (check_filters(c, p, err) != 0)
            return -1;
        if (parse_time("since", p->since, c->since, 422, "invalid_request", err) != 0 ||
            parse_time("until", p->until, c->until, 422, "invalid_request", err) != 0)
            return -1;
        if (c->since[0] && c->until[0] &&
            strtoll(c->since, NULL, 10) > strtoll(c->until, NULL, 10)) {
            set_err(err, 422, "invalid_request", "since: later than until");
            return -1;
        }
        return 0;
    case OPS_PAUSE:
    case OPS_RESUME:
        if (!given(p->target) || config_target(c->cfg, p->target) == NULL) {
            set_err(err, 404, "unknown_target", "target %.100s is not configured",
                    given(p->target) ? p->target : "(none)");
            return -1;
        }
        return 0;
    }
    set_err(err, 500, "internal", "unknown operation");
    return -1;
}

struct ops_call *ops_call_new(const struct config *cfg, enum ops_op op, const struct ops_params *p,
                              struct ops_error *err)
{
    static const struct ops_params none;
    struct ops_call *c = calloc(1, sizeof(*c));
    if (p == NULL)
        p = &none;
    if (c == NULL)
        goto oom;
    c->cfg = cfg;
    c->op = op;
    if (validate(c, p, err) != 0)
        goto invalid;
    c->id = dup_or_null(p->id);
    c->target = dup_or_null(p->target);
    c->status = dup_or_null(p->status);
    c->source = dup_or_null(p->source);
    if ((given(p->id) && !c->id) || (given(p->target) && !c->target) ||
        (given(p->status) && !c->status) || (given(p->source) && !c->source))
        goto oom_free;
    if (op == OPS_LIST) {
        c->result = json_pack("{s:[],s:{s:n}}", "data", "meta", "next_cursor");
        if (c->result == NULL)
            goto oom_free;
    }
    if (build(c) != 0)
        goto oom_free;
    return c;

oom_free:
    ops_call_free(c);
oom:
    set_err(err, 500, "internal", "out of memory");
    return NULL;
invalid:
    ops_call_free(c);
    return NULL;
}

void ops_call_free(struct ops_call *c)
{
    if (c == NULL)
        return;
    args_clear(c);
    qargv_free(&c->av);
    free(c->id);
    free(c->target);
    free(c->status);
    free(c->source);
    free(c->cur_score);
    free(c->cur_id);
    json_decref(c->result);
    free(c);
}

void ops_call_script(const struct ops_call *c, const char **script, int *argc, const char ***argv,
                     const size_t **argvlen)
{
    *script = c->script;
    *argc = c->av.argc;
    *argv = c->av.argv;
    *argvlen = c->av.argvlen;
}

/* ---- replies ------------------------------------------------------------------------- */

static enum ops_status call_fail(struct ops_call *c, int status, const char *code, const char *msg)
{
    set_err(&c->err, status, code, "%s", msg);
    return OPS_FAILED;
}

static enum ops_status done(struct ops_call *c, json_t *result)
{
    if (result == NULL)
        return call_fail(c, 500, "internal", "out of memory");
    if (c->result != result) {
        json_decref(c->result);
        c->result = result;
    }
    return OPS_DONE;
}

static enum ops_status again(struct ops_call *c)
{
    if (build(c) != 0)
        return call_fail(c, 500, "internal", "out of memory");
    return OPS_AGAIN;
}

static enum ops_status feed_stats(struct ops_call *c, json_t *raw)
{
    json_t *q = json_object_get(raw, "queues");
    json_t *targets = json_object_get(raw, "targets");
    json_t *out = json_object();
    json_t *tout = json_object();
    if (out == NULL || tout == NULL || !json_is_object(q)) {
        json_decref(out);
        json_decref(tout);
        return call_fail(c, 500, "internal", "unexpected stats reply");
    }
    json_t *queues = json_pack("{s:I,s:I,s:I,s:I}", "ready",
                               (json_int_t)ops_doc_int(json_object_get(q, "ready")), "inflight",
                               (json_int_t)ops_doc_int(json_object_get(q, "inflight")), "scheduled",
                               (json_int_t)ops_doc_int(json_object_get(q, "scheduled")), "failed",
                               (json_int_t)ops_doc_int(json_object_get(q, "failed")));
    /* set_new steals even on failure; a missing part must fail the call, not vanish. */
    if (json_object_set_new(out, "queues", queues) != 0) {
        json_decref(out);
        json_decref(tout);
        return call_fail(c, 500, "internal", "out of memory");
    }
    int64_t oldest = ops_doc_int(json_object_get(raw, "oldest_ms"));
    json_object_set_new(out, "oldest_seconds", json_real(oldest > 0 ? (double)oldest / 1000 : 0));
    /* Configuration order, so that tables and dashboards are stable. */
    for (size_t i = 0; i < c->cfg->n_targets; i++) {
        const char *name = c->cfg->targets[i].name;
        json_t *t = json_object_get(targets, name);
        json_t *e = json_object();
        if (e == NULL) {
            json_decref(out);
            json_decref(tout);
            return call_fail(c, 500, "internal", "out of memory");
        }
        for (size_t k = 0; k < OPS_DOC_NSTATUS; k++) {
            int64_t n = ops_doc_int(json_object_get(t, ops_doc_statuses[k]));
            json_object_set_new(e, ops_doc_statuses[k], json_integer(n > 0 ? n : 0));
        }
        json_object_set_new(e, "paused", json_boolean(json_is_true(json_object_get(t, "paused"))));
        json_object_set_new(
            e, "circuit",
            json_string(ops_doc_circuit(&c->cfg->targets[i],
                                        json_string_value(json_object_get(t, "circuit")))));
        json_object_set_new(tout, name, e);
    }
    json_object_set_new(out, "targets", tout);
    return done(c, out);
}

static enum ops_status feed_list(struct ops_call *c, json_t *raw)
{
    json_t *data = json_object_get(c->result, "data");
    json_t *items = json_object_get(raw, "items");
    json_t *next = json_object_get(raw, "next");
    size_t i;
    json_t *it;

    /* cjson encodes an empty array as {}. */
    if (json_is_array(items)) {
        json_array_foreach(items, i, it)
        {
            if (json_array_append_new(data, ops_doc_record(it)) != 0)
                return call_fail(c, 500, "internal", "out of memory");
        }
    }
    c->calls++;
    if (!json_is_array(next) || json_array_size(next) != 2) {
        return done(c, c->result); /* end of the log: next_cursor stays null */
    }
    const char *score = json_string_value(json_array_get(next, 0));
    const char *id = json_string_value(json_array_get(next, 1));
    if (score == NULL || id == NULL || !valid_score(score) || !valid_id(id))
        return call_fail(c, 500, "internal", "unexpected list reply");
    if ((long)json_array_size(data) < c->limit && c->calls < LIST_MAX_CALLS) {
        free(c->cur_score);
        free(c->cur_id);
        c->cur_score = strdup(score);
        c->cur_id = strdup(id);
        if (c->cur_score == NULL || c->cur_id == NULL)
            return call_fail(c, 500, "internal", "out of memory");
        return again(c);
    }
    char *cur = cursor_encode(score, id);
    if (cur == NULL)
        return call_fail(c, 500, "internal", "out of memory");
    json_object_set_new(json_object_get(c->result, "meta"), "next_cursor", json_string(cur));
    free(cur);
    return done(c, c->result);
}

static enum ops_status feed_show(struct ops_call *c, json_t *raw)
{
    if (json_object_get(raw, "error"))
        return call_fail(c, 404, "not_found", "no delivery with that id");
    json_t *out = ops_doc_record(json_object_get(raw, "record"));
    json_t *list = json_array();
    json_t *attempts = json_object_get(raw, "attempts");
    size_t i;
    json_t *a;
    if (out == NULL || list == NULL) {
        json_decref(out);
        json_decref(list);
        return call_fail(c, 500, "internal", "out of memory");
    }
    if (json_is_array(attempts)) {
        json_array_foreach(attempts, i, a)
        {
            if (json_is_string(a))
                json_array_append_new(list, ops_doc_attempt(json_string_value(a)));
        }
    }
    json_object_set_new(out, "attempts", list);
    json_object_set_new(out, "attempts_total",
                        json_integer(ops_doc_int(json_object_get(raw, "attempts_total")) > 0
                                         ? ops_doc_int(json_object_get(raw, "attempts_total"))
                                         : 0));
    json_object_set_new(out, "in_flight",
                        json_boolean(json_is_true(json_object_get(raw, "leased"))));
    return done(c, out);
}

static enum ops_status feed_redeliver(struct ops_call *c, json_t *raw)
{
    const char *e = json_string_value(json_object_get(raw, "error"));
    if (e && strcmp(e, "not_found") == 0)
        return call_fail(c, 404, "not_found", "no delivery with that id");
    if (e && strcmp(e, "in_flight") == 0)
        return call_fail(c, 409, "delivery_in_flight",
                         "the delivery is in flight (a worker is attempting it right now); try "
                         "again in a moment");
    if (e && strcmp(e, "unknown_target") == 0)
        return call_fail(c, 409, "unknown_target",
                         "the delivery's target is no longer configured; it cannot be sent");
    if (e)
        return call_fail(c, 500, "internal", "unexpected redeliver reply");
    return done(c, ops_doc_record(json_object_get(raw, "record")));
}

static enum ops_status feed_bulk(struct ops_call *c, json_t *raw)
{
    c->redelivered += (long)ops_doc_int(json_object_get(raw, "redelivered"));
    json_t *next = json_object_get(raw, "next");
    c->calls++;
    if (json_is_integer(next) || json_is_real(next)) {
        c->offset = (long)ops_doc_int(next);
        /* A bound in case the set grows as fast as it is walked. */
        if (c->calls < 100000)
            return again(c);
    }
    return done(c, json_pack("{s:I}", "redelivered", (json_int_t)c->redelivered));
}

static enum ops_status feed_targets(struct ops_call *c, json_t *raw)
{
    json_t *targets = json_object_get(raw, "targets");
    json_t *list = json_array();
    if (list == NULL)
        return call_fail(c, 500, "internal", "out of memory");
    for (size_t i = 0; i < c->cfg->n_targets; i++) {
        const struct target *t = &c->cfg->targets[i];
        json_t *e = ops_doc_target(t, json_object_get(targets, t->name));
        if (e == NULL || json_array_append_new(list, e) != 0) {
            json_decref(list);
            return call_fail(c, 500, "internal", "out of memory");
        }
    }
    return done(c, json_pack("{s:o}", "data", list));
}

static enum ops_status feed_target(struct ops_call *c, json_t *raw)
{
    json_t *out = json_object();
    if (out == NULL)
        return call_fail(c, 500, "internal", "out of memory");
    json_object_set_new(out, "target", json_string(c->target));
    json_object_set_new(out, "paused", json_boolean(json_is_true(json_object_get(raw, "paused"))));
    for (size_t k = 0; k < OPS_DOC_NSTATUS; k++) {
        int64_t n = ops_doc_int(json_object_get(raw, ops_doc_statuses[k]));
        json_object_set_new(out, ops_doc_statuses[k], json_integer(n > 0 ? n : 0));
    }
    /* resuming closes an open circuit (ops_target.lua) */
    json_object_set_new(
        out, "circuit",
        json_string(ops_doc_circuit(config_target(c->cfg, c->target),
                                    json_string_value(json_object_get(raw, "circuit")))));
    json_object_set_new(out, "circuit_closed",
                        json_boolean(json_is_true(json_object_get(raw, "circuit_closed"))));
    return done(c, out);
}

enum ops_status ops_call_feed(struct ops_call *c, const struct redisReply *reply)
{
    enum ops_status st;
    if (reply == NULL)
        return call_fail(c, 503, "queue_unavailable", "Redis is unreachable");
    if (reply->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("operator script failed", "error", reply->str, NULL);
        return call_fail(c, 503, "queue_unavailable", "Redis could not run the operation");
    }
    if (reply->type != REDIS_REPLY_STRING)
        return call_fail(c, 500, "internal", "unexpected reply from Redis");
    json_t *raw = json_loadb(reply->str, reply->len, 0, NULL);
    if (!json_is_object(raw)) {
        json_decref(raw);
        return call_fail(c, 500, "internal", "unexpected reply from Redis");
    }
    switch (c->op) {
    case OPS_STATS:
        st = feed_stats(c, raw);
        break;
    case OPS_LIST:
        st = feed_list(c, raw);
        break;
    case OPS_SHOW:
        st = feed_show(c, raw);
        break;
    case OPS_REDELIVER:
        st = feed_redeliver(c, raw);
        break;
    case OPS_REDELIVER_BULK:
        st = feed_bulk(c, raw);
        break;
    case OPS_PAUSE:
    case OPS_RESUME:
        st = feed_target(c, raw);
        break;
    case OPS_TARGETS:
        st = feed_targets(c, raw);
        break;
    default:
        st = call_fail(c, 500, "internal", "unknown operation");
    }
    json_decref(raw);
    return st;
}

json_t *ops_call_take_result(struct ops_call *c)
{
    json_t *r = c->result;
    c->result = NULL;
    return r;
}

int ops_call_http_status(const struct ops_call *c)
{
    return c->op == OPS_REDELIVER ? 202 : 200;
}

const struct ops_error *ops_call_error(const struct ops_call *c)
{
    return &c->err;
}

json_t *ops_run(struct rsync *rs, const struct config *cfg, enum ops_op op,
                const struct ops_params *p, struct ops_error *err)
{
    json_t *result = NULL;
    struct ops_call *c = ops_call_new(cfg, op, p, err);
    enum ops_status st;
    if (c == NULL)
        return NULL;
    do {
        const char *script;
        int argc;
        const char **argv;
        const size_t *argvlen;
        ops_call_script(c, &script, &argc, &argv, &argvlen);
        redisReply *r = rsync_script(rs, script, 0, argc, argv, argvlen);
        st = ops_call_feed(c, r);
        if (r == NULL)
            snprintf(c->err.message, sizeof(c->err.message), "Redis is unreachable (%.200s)",
                     rsync_error(rs));
        else
            freeReplyObject(r);
    } while (st == OPS_AGAIN);
    if (st == OPS_DONE)
        result = ops_call_take_result(c);
    else
        *err = c->err;
    ops_call_free(c);
    return result;
}
