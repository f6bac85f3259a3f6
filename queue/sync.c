#include "queue/sync.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define SYNC_ARGS_MAX 1000000 /* a page of 200 titles needs ~1,500: a bound, not a target */

void sync_args_init(struct sync_args *a)
{
    memset(a, 0, sizeof(*a));
}

void sync_args_clear(struct sync_args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a->lens);
    sync_args_init(a);
}

void sync_args_addn(struct sync_args *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->argc == a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        if (cap > SYNC_ARGS_MAX)
            goto fail;
        char **argv = realloc(a->argv, (size_t)cap * sizeof(*argv));
        if (argv == NULL)
            goto fail;
        a->argv = argv;
        size_t *lens = realloc(a->lens, (size_t)cap * sizeof(*lens));
        if (lens == NULL)
            goto fail;
        a->lens = lens;
        a->cap = cap;
    }
    char *c = malloc(n + 1);
    if (c == NULL)
        goto fail;
    memcpy(c, s, n);
    c[n] = '\0';
    a->argv[a->argc] = c;
    a->lens[a->argc] = n;
    a->argc++;
    return;
fail:
    a->oom = 1;
}

void sync_args_add(struct sync_args *a, const char *s)
{
    s = s ? s : "";
    sync_args_addn(a, s, strlen(s));
}

void sync_args_addi(struct sync_args *a, int64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, v);
    sync_args_add(a, b);
}

void sync_new_id(char out[25])
{
    memcpy(out, "syn_", 4);
    util_random_hex(out + 4, 10);
}

/* ---- requests ---------------------------------------------------------------------------- */

static void set_err(struct sync_error *err, int status, const char *code, const char *fmt,
                    const char *arg)
{
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->message, sizeof(err->message), fmt, arg ? arg : "");
}

static int target_takes(const struct target *t, const char *source)
{
    if (t->sources == NULL)
        return 1;
    for (size_t i = 0; i < t->n_sources; i++)
        if (strcmp(t->sources[i], source) == 0)
            return 1;
    return 0;
}

static int append_name(char **out, size_t *len, const char *name)
{
    size_t n = strlen(name);
    char *p = realloc(*out, *len + n + 2);
    if (p == NULL)
        return -1;
    if (*len > 0)
        p[(*len)++] = ',';
    memcpy(p + *len, name, n + 1);
    *len += n;
    *out = p;
    return 0;
}

char *sync_request_targets(const struct config *cfg, const struct sync_request *req,
                           struct sync_error *err)
{
    char *out = NULL;
    size_t len = 0;

    if (req->source == NULL || config_source(cfg, req->source) == NULL) {
        set_err(err, 404, "unknown_source", "no source named %s", req->source);
        return NULL;
    }
    if (req->targets != NULL) {
        if (req->n_targets == 0) {
            set_err(err, 422, "invalid_request", "targets must name at least one target%s", NULL);
            goto fail;
        }
        for (size_t i = 0; i < req->n_targets; i++) {
            const struct target *t = config_target(cfg, req->targets[i]);
            if (t == NULL) {
                set_err(err, 422, "unknown_target", "no target named %s", req->targets[i]);
                goto fail;
            }
            if (!target_takes(t, req->source)) {
                set_err(err, 422, "invalid_request", "target %s does not take this source",
                        req->targets[i]);
                goto fail;
            }
            int dup = 0;
            for (size_t k = 0; k < i; k++)
                dup |= strcmp(req->targets[k], req->targets[i]) == 0;
            if (!dup && append_name(&out, &len, t->name) != 0)
                goto oom;
        }
    } else {
        for (size_t i = 0; i < cfg->n_targets; i++)
            if (target_takes(&cfg->targets[i], req->source) &&
                append_name(&out, &len, cfg->targets[i].name) != 0)
                goto oom;
        if (out == NULL) {
            set_err(err, 422, "invalid_request", "no target takes source %s", req->source);
            goto fail;
        }
    }
    return out;
oom:
    set_err(err, 500, "internal", "out of memory%s", NULL);
fail:
    free(out);
    return NULL;
}

void sync_request_clear(struct sync_request *req)
{
    free(req->names);
    json_decref(req->doc);
    req->names = NULL;
    req->doc = NULL;
    req->targets = NULL;
    req->n_targets = 0;
}

int sync_request_parse(const char *body, size_t len, struct sync_request *req,
                       struct sync_error *err)
{
    static const char *const allowed[] = {"targets", "full", "dry_run", NULL};
    json_error_t je;
    const char *key;
    json_t *v;

    req->doc = NULL;
    req->names = NULL;
    req->targets = NULL;
    req->n_targets = 0;
    req->full = req->dry_run = 0;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
        i++;
    if (i == len)
        return 0;
    json_t *d = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (d == NULL) {
        set_err(err, 400, "invalid_json", "the body is not valid JSON%s", NULL);
        return -1;
    }
    if (!json_is_object(d)) {
        set_err(err, 422, "invalid_request", "the body must be a JSON object%s", NULL);
        goto fail;
    }
    json_object_foreach(d, key, v)
    {
        int ok = 0;
        for (size_t k = 0; allowed[k]; k++)
            ok |= strcmp(allowed[k], key) == 0;
        if (!ok) {
            set_err(err, 422, "invalid_request", "unknown field %s", key);
            goto fail;
        }
    }
    v = json_object_get(d, "full");
    if (v && !json_is_boolean(v)) {
        set_err(err, 422, "invalid_request", "full must be true or false%s", NULL);
        goto fail;
    }
    req->full = json_is_true(v);
    v = json_object_get(d, "dry_run");
    if (v && !json_is_boolean(v)) {
        set_err(err, 422, "invalid_request", "dry_run must be true or false%s", NULL);
        goto fail;
    }
    req->dry_run = json_is_true(v);
    v = json_object_get(d, "targets");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) > 256) {
            set_err(err, 422, "invalid_request", "targets must be an array of target names%s",
                    NULL);
            goto fail;
        }
        const char **names = calloc(json_array_size(v) + 1, sizeof(*names));
        if (names == NULL) {
            set_err(err, 500, "internal", "out of memory%s", NULL);
            goto fail;
        }
        for (size_t k = 0; k < json_array_size(v); k++) {
            names[k] = json_string_value(json_array_get(v, k));
            if (names[k] == NULL) {
                free(names);
                set_err(err, 422, "invalid_request", "targets must be an array of target names%s",
                        NULL);
                goto fail;
            }
        }
        req->names = names;
        req->targets = names;
        req->n_targets = json_array_size(v);
    }
    req->doc = d;
    return 0;
fail:
    req->doc = d;
    return -1;
}

/* ---- script arguments -------------------------------------------------------------------- */

void sync_args_start(struct sync_args *a, const struct config *cfg, const char *id,
                     const char *source, const char *targets, int full, int dry_run, int64_t due_ms)
{
    sync_args_add(a, cfg->redis_prefix);
    sync_args_add(a, id);
    sync_args_add(a, source);
    sync_args_add(a, targets);
    sync_args_add(a, full ? "1" : "0");
    sync_args_add(a, dry_run ? "1" : "0");
    sync_args_addi(a, due_ms);
    sync_args_addi(a, cfg->retention_s);
}

int sync_start_result(const redisReply *r, char *other, size_t other_len)
{
    if (other_len > 0)
        other[0] = '\0';
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING)
        return -1;
    if (other_len > 0)
        snprintf(other, other_len, "%s", r->element[1]->str);
    long long v = r->element[0]->integer;
    return v == 0 || v == 1 || v == 2 ? (int)v : -1;
}

/* The lease holder's first four arguments: prefix, id, owner token, lease_ms. */
static void lease_args(struct sync_args *a, const struct config *cfg, const char *id,
                       const char *token, int64_t lease_ms)
{
    sync_args_add(a, cfg->redis_prefix);
    sync_args_add(a, id);
    sync_args_add(a, token);
    sync_args_addi(a, lease_ms);
}

void sync_args_claim(struct sync_args *a, const struct config *cfg, const char *id,
                     const char *token, int64_t lease_ms)
{
    lease_args(a, cfg, id, token, lease_ms);
    sync_args_addi(a, cfg->retention_s);
}

void sync_args_beat(struct sync_args *a, const struct config *cfg, const char *id,
                    const char *token, int64_t lease_ms, int errors, const char *last_error)
{
    lease_args(a, cfg, id, token, lease_ms);
    sync_args_addi(a, errors);
    sync_args_add(a, last_error);
    sync_args_addi(a, cfg->retention_s);
}

void sync_args_cancel(struct sync_args *a, const struct config *cfg, const char *id)
{
    sync_args_add(a, cfg->redis_prefix);
    sync_args_add(a, id);
    sync_args_addi(a, cfg->retention_s);
}

enum sync_cancel_verdict sync_cancel_result(const redisReply *r, const redisReply **record)
{
    static const char *const names[] = {"cancelled", "cancelling", "ended", "unknown"};
    static const enum sync_cancel_verdict verdicts[] = {SYNC_CANCELLED, SYNC_CANCELLING,
                                                        SYNC_CANCEL_ENDED, SYNC_CANCEL_UNKNOWN};
    *record = NULL;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
        return SYNC_CANCEL_ERROR;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(r->element[0]->str, names[i]) == 0) {
            if (verdicts[i] == SYNC_CANCEL_UNKNOWN)
                return SYNC_CANCEL_UNKNOWN;
            /* every other verdict comes with the run's record */
            if (r->element[1]->elements < 2)
                return SYNC_CANCEL_ERROR;
            *record = r->element[1];
            return verdicts[i];
        }
    return SYNC_CANCEL_ERROR;
}

void sync_args_release(struct sync_args *a, const struct config *cfg, const char *id,
                       const char *token)
{
    sync_args_add(a, cfg->redis_prefix);
    sync_args_add(a, id);
    sync_args_add(a, token);
}

void sync_args_finish(struct sync_args *a, const struct config *cfg, const struct source *src,
                      const char *id, const char *token, const char *outcome, const char *code,
                      const char *message)
{
    char frac[32];
    sync_args_release(a, cfg, id, token);
    sync_args_add(a, outcome);
    sync_args_add(a, code);
    sync_args_add(a, message);
    sync_args_addi(a, cfg->retention_s);
    sync_args_add(a, src->sync.remove_missing ? "1" : "0");
    snprintf(frac, sizeof(frac), "%.6f", src->sync.max_remove_fraction);
    sync_args_add(a, frac);
    sync_args_addi(a, cfg->dedupe_ttl_s);
}

void sync_args_records(struct sync_args *a, const struct config *cfg, const char *id,
                       const char *source, int limit)
{
    sync_args_add(a, cfg->redis_prefix);
    sync_args_add(a, id);
    sync_args_add(a, source);
    sync_args_addi(a, limit);
}

void sync_args_page(struct sync_args *a, const struct config *cfg, const char *id,
                    const char *token, const char *mode, const char *listed, const char *phase,
                    const char *cursor, int pop, long total, char *const *todo, size_t n_todo,
                    const struct sync_item *items, size_t n_items, char *const *digests)
{
    /* The lease outlives a page comfortably: a page is one request plus one script. */
    int64_t lease = cfg->worker_visibility_timeout_ms;
    lease_args(a, cfg, id, token, lease);
    sync_args_addi(a, cfg->dedupe_ttl_s);
    sync_args_addi(a, cfg->retention_s);
    sync_args_add(a, mode);
    sync_args_add(a, phase);
    sync_args_add(a, cursor);
    sync_args_add(a, pop ? "1" : "0");
    char tot[96] = "";
    if (total >= 0 && listed && listed[0])
        snprintf(tot, sizeof(tot), "%.60s=%ld", listed, total);
    sync_args_add(a, tot);
    sync_args_addi(a, (int64_t)n_todo);
    for (size_t i = 0; i < n_todo; i++)
        sync_args_add(a, todo[i]);
    sync_args_addi(a, (int64_t)n_items);
    for (size_t i = 0; i < n_items; i++) {
        const struct sync_item *it = &items[i];
        sync_args_add(a, it->content_id);
        sync_args_add(a, it->content_type);
        sync_args_add(a, it->show_id);
        if (it->season_number >= 0)
            sync_args_addi(a, it->season_number);
        else
            sync_args_add(a, "");
        if (it->episode_number >= 0)
            sync_args_addi(a, it->episode_number);
        else
            sync_args_add(a, "");
        sync_args_addi(a, it->order_ms);
        sync_args_add(a, digests ? digests[i] : "");
    }
}

void sync_args_peek(struct sync_args *a, const struct config *cfg, const char *source,
                    const char *targets, const struct sync_item *items, size_t n_items)
{
    sync_args_add(a, cfg->redis_prefix);
    sync_args_add(a, source);
    sync_args_add(a, targets);
    sync_args_addi(a, (int64_t)n_items);
    for (size_t i = 0; i < n_items; i++)
        sync_args_add(a, items[i].content_id);
}

/* ---- the runner's replies ---------------------------------------------------------------- */

const char *sync_reply_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

/* Element i of an array reply as a string ("" when absent or not a string). */
static const char *el_str(const redisReply *r, size_t i)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return "";
    const redisReply *e = r->element[i];
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS ? e->str : "";
}

static long long el_int(const redisReply *r, size_t i)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return 0;
    return r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
}

void sync_args_active(struct sync_args *a, const struct config *cfg)
{
    char key[160];
    snprintf(key, sizeof(key), "%s:sync:active", cfg->redis_prefix);
    sync_args_add(a, "SMEMBERS");
    sync_args_add(a, key);
}

int sync_active_ids(const redisReply *r, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return -1;
    char **out = calloc(r->elements + 1, sizeof(*out));
    if (out == NULL)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || e->len >= 32)
            continue;
        out[k] = strdup(e->str);
        if (out[k] == NULL) {
            for (size_t j = 0; j < k; j++)
                free(out[j]);
            free(out);
            return -1;
        }
        k++;
    }
    *ids = out;
    *n = k;
    return 0;
}

/* sync_claim.lua: {"ok", source, targets, full, dry_run, started_at, phase, cursor, head,
 * pages, taken over (0/1)} */
int sync_claim_result(const redisReply *r, struct sync_claimed *c)
{
    memset(c, 0, sizeof(*c));
    if (strcmp(el_str(r, 0), "ok") != 0 || r->elements < 11)
        return -1;
    c->source = el_str(r, 1);
    c->targets = el_str(r, 2);
    c->full = strcmp(el_str(r, 3), "1") == 0;
    c->started_ms = strtoll(el_str(r, 5), NULL, 10);
    c->phase = el_str(r, 6);
    c->cursor = el_str(r, 7);
    c->head = el_str(r, 8);
    c->pages = strtol(el_str(r, 9), NULL, 10);
    c->takeover = el_int(r, 10) == 1;
    return 0;
}

enum sync_beat_verdict sync_beat_result(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        return SYNC_BEAT_ERROR;
    return r->integer == 0 ? SYNC_BEAT_LOST : r->integer == 2 ? SYNC_BEAT_CANCELLED : SYNC_BEAT_OK;
}

/* sync_page.lua: {"ok", head, ...}, {"cancelled"} or {"lost"} */
enum sync_page_verdict sync_page_result(const redisReply *r, const char **head)
{
    const char *v = el_str(r, 0);
    *head = "";
    if (strcmp(v, "cancelled") == 0)
        return SYNC_PAGE_CANCELLED;
    if (strcmp(v, "ok") != 0)
        return SYNC_PAGE_LOST;
    *head = el_str(r, 1);
    return SYNC_PAGE_OK;
}

/* sync_finish.lua: {"ok", state, code, removed} or {"lost"} */
void sync_finish_result(const redisReply *r, struct sync_finished *f)
{
    f->ok = strcmp(el_str(r, 0), "ok") == 0;
    f->state = el_str(r, 1);
    f->code = el_str(r, 2);
    f->removed = el_int(r, 3);
}

/* sync_peek.lua: per item, per target, order_ts then first_seen */
int sync_peek_check(const redisReply *r, size_t n_items, size_t nt)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == n_items * nt * 2 ? 0 : -1;
}

void sync_peek_get(const redisReply *r, size_t nt, size_t i, size_t k, int64_t *order_ts,
                   int64_t *first_seen)
{
    *order_ts = strtoll(el_str(r, (i * nt + k) * 2), NULL, 10);
    *first_seen = strtoll(el_str(r, (i * nt + k) * 2 + 1), NULL, 10);
}

/* ---- records ----------------------------------------------------------------------------- */

static const char *flat_get(const redisReply *r, const char *field)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strcmp(k->str, field) == 0)
            return v->str;
    }
    return NULL;
}

static void set_time(json_t *o, const char *key, const char *ms)
{
    char buf[32];
    long long v = ms ? strtoll(ms, NULL, 10) : 0;
    if (v <= 0) {
        json_object_set_new(o, key, json_null());
        return;
    }
    util_rfc3339(v, buf);
    json_object_set_new(o, key, json_string(buf));
}

static void set_count(json_t *o, const char *key, const char *v)
{
    json_object_set_new(o, key, json_integer(v ? strtoll(v, NULL, 10) : 0));
}

json_t *sync_record_json(const redisReply *r)
{
    static const char *const counts[] = {"pages",   "seen",   "queued",    "skipped",
                                         "removed", "errors", "takeovers", NULL};
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return NULL;
    const char *id = flat_get(r, "id");
    if (id == NULL)
        return NULL;
    json_t *o = json_object();
    json_t *targets = json_array();
    if (o == NULL || targets == NULL) {
        json_decref(o);
        json_decref(targets);
        return NULL;
    }
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "source",
                        json_string(flat_get(r, "source") ? flat_get(r, "source") : ""));
    const char *tl = flat_get(r, "targets");
    for (const char *p = tl; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0)
            json_array_append_new(targets, json_stringn(p, n));
        p = e ? e + 1 : p + n;
    }
    json_object_set_new(o, "targets", targets);
    const char *state = flat_get(r, "state");
    json_object_set_new(o, "state", json_string(state ? state : "running"));
    json_object_set_new(o, "full",
                        json_boolean(flat_get(r, "full") && strcmp(flat_get(r, "full"), "1") == 0));
    json_object_set_new(
        o, "dry_run",
        json_boolean(flat_get(r, "dry_run") && strcmp(flat_get(r, "dry_run"), "1") == 0));
    const char *trig = flat_get(r, "trigger");
    json_object_set_new(o, "trigger", json_string(trig ? trig : "manual"));
    set_time(o, "started_at", flat_get(r, "started_at"));
    set_time(o, "finished_at", flat_get(r, "finished_at"));
    set_time(o, "updated_at", flat_get(r, "updated_at"));
    /* set from the cancel request until the run ends (cancelled, or done if it got there
     * first): state stays running meanwhile, as the run still is */
    set_time(o, "cancel_requested_at", flat_get(r, "cancel_requested_at"));
    for (size_t i = 0; counts[i]; i++)
        set_count(o, counts[i], flat_get(r, counts[i]));
    /* total: what the CMS said it holds, when it says (sum over the listing phases) */
    long long total = 0;
    int have_total = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            strncmp(k->str, "total_", 6) == 0) {
            total += strtoll(v->str, NULL, 10);
            have_total = 1;
        }
    }
    json_object_set_new(o, "total", have_total ? json_integer(total) : json_null());
    /* error: the code alone (too_many_removals, source_unavailable, ...), as operators
     * match on it; the sentence goes beside it. */
    const char *code = flat_get(r, "error_code");
    const char *msg = flat_get(r, "error_message");
    json_object_set_new(o, "error", code && code[0] ? json_string(code) : json_null());
    json_object_set_new(o, "error_message",
                        code && code[0] && msg ? json_string(msg) : json_null());
    const char *last = flat_get(r, "last_error");
    if (last && last[0])
        json_object_set_new(o, "last_error", json_string(last));
    return o;
}

json_t *sync_records_json(const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < r->elements; i++) {
        json_t *rec = sync_record_json(r->element[i]);
        if (rec)
            json_array_append_new(arr, rec);
    }
    return arr;
}
