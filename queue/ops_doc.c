#include "queue/ops_doc.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

const char *const ops_doc_statuses[OPS_DOC_NSTATUS] = {"pending", "retrying", "delivered", "failed",
                                                       "superseded"};

static int given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int64_t ops_doc_int(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (s[0] == '\0')
            return -1;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (errno || (*end != '\0' && *end != '.'))
            return -1;
        return n;
    }
    return -1;
}

static json_t *str_or_null(const json_t *raw, const char *key)
{
    const char *s = json_string_value(json_object_get(raw, key));
    return given(s) ? json_string(s) : json_null();
}

static json_t *int_or_null(const json_t *v)
{
    int64_t n = ops_doc_int(v);
    return n >= 0 ? json_integer(n) : json_null();
}

static json_t *time_or_null(const json_t *v)
{
    char buf[32];
    int64_t ms = ops_doc_int(v);
    if (ms <= 0)
        return json_null();
    util_rfc3339(ms, buf);
    return json_string(buf);
}

static json_t *error_obj(const char *code, const char *message)
{
    if (!given(code))
        return json_null();
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message ? message : "");
    /* json_pack refuses text that is not UTF-8 (a peer's error text may not be): keep the error
     * visible rather than let its key vanish from the record. */
    if (e == NULL)
        e = json_pack("{s:s,s:s}", "code", code, "message", "(not valid UTF-8)");
    if (e == NULL)
        e = json_pack("{s:s,s:s}", "code", "(not valid UTF-8)", "message", "(not valid UTF-8)");
    return e;
}

/* The delivery record (README, "Delivery") from P:d:{id}, whose fields are all strings. */
json_t *ops_doc_record(const json_t *raw)
{
    const char *status = json_string_value(json_object_get(raw, "status"));
    int waiting = status && (strcmp(status, "pending") == 0 || strcmp(status, "retrying") == 0);
    int64_t attempts = ops_doc_int(json_object_get(raw, "attempt_count"));
    json_t *r = json_object();
    if (r == NULL)
        return NULL;
    json_object_set_new(r, "id", str_or_null(raw, "id"));
    json_object_set_new(r, "event_id", str_or_null(raw, "event_id"));
    json_object_set_new(r, "source", str_or_null(raw, "source"));
    json_object_set_new(r, "target", str_or_null(raw, "target"));
    json_object_set_new(r, "event_type", str_or_null(raw, "event_type"));
    json_object_set_new(r, "content_type", str_or_null(raw, "content_type"));
    json_object_set_new(r, "content_id", str_or_null(raw, "content_id"));
    json_object_set_new(r, "status", str_or_null(raw, "status"));
    json_object_set_new(r, "attempt_count", json_integer(attempts > 0 ? attempts : 0));
    json_object_set_new(r, "http_status", int_or_null(json_object_get(raw, "http_status")));
    json_object_set_new(r, "error",
                        error_obj(json_string_value(json_object_get(raw, "error_code")),
                                  json_string_value(json_object_get(raw, "error_message"))));
    json_object_set_new(r, "response_snippet", str_or_null(raw, "response_snippet"));
    json_object_set_new(r, "next_retry_at",
                        waiting ? time_or_null(json_object_get(raw, "next_retry_at"))
                                : json_null());
    json_object_set_new(r, "created_at", time_or_null(json_object_get(raw, "created_at")));
    json_object_set_new(r, "updated_at", time_or_null(json_object_get(raw, "updated_at")));
    json_object_set_new(r, "delivered_at", time_or_null(json_object_get(raw, "delivered_at")));
    const char *sup = json_string_value(json_object_get(raw, "superseded_by"));
    if (given(sup))
        json_object_set_new(r, "superseded_by", json_string(sup));
    return r;
}

/* One attempt as the worker appended it: {"at","attempt","http_status","error","duration_ms"}.
 * error may be {code,message}, a string or null. */
json_t *ops_doc_attempt(const char *text)
{
    json_t *a = json_loads(text, 0, NULL);
    json_t *out = json_object();
    if (out == NULL)
        goto out;
    if (!json_is_object(a)) {
        json_object_set_new(out, "raw", json_string(text));
        goto out;
    }
    json_t *e = json_object_get(a, "error");
    json_t *err;
    if (json_is_object(e))
        err = error_obj(json_string_value(json_object_get(e, "code")),
                        json_string_value(json_object_get(e, "message")));
    else if (json_is_string(e))
        err = error_obj(json_string_value(e), "");
    else
        err = json_null();
    int64_t n = ops_doc_int(json_object_get(a, "attempt"));
    int64_t d = ops_doc_int(json_object_get(a, "duration_ms"));
    json_object_set_new(out, "attempt", n >= 0 ? json_integer(n) : json_null());
    json_object_set_new(out, "at", time_or_null(json_object_get(a, "at")));
    json_object_set_new(out, "http_status", int_or_null(json_object_get(a, "http_status")));
    json_object_set_new(out, "error", err);
    json_object_set_new(out, "duration_ms", d >= 0 ? json_integer(d) : json_null());
out:
    json_decref(a);
    return out;
}

/* ---- targets (GET /admin/targets, relayctl targets) --------------------------------------- */

static int has_breaker(const struct target *t)
{
    return t->delivery == DELIVERY_PUSH && t->breaker_failures > 0;
}

const char *ops_doc_circuit(const struct target *t, const char *state)
{
    return has_breaker(t) && state && strcmp(state, "open") == 0 ? "open" : "closed";
}

/* Sets key to v (a new reference, stolen); a NULL v (out of memory) fails the whole entry. */
static int set(json_t *e, const char *key, json_t *v)
{
    return v == NULL ? -1 : json_object_set_new(e, key, v);
}

static json_t *last_error(const json_t *cj)
{
    const char *code = json_string_value(json_object_get(cj, "last_err_code"));
    if (!given(code))
        return json_null();
    json_t *le = error_obj(code, json_string_value(json_object_get(cj, "last_err_msg")));
    if (le == NULL || set(le, "at", time_or_null(json_object_get(cj, "last_err_at"))) != 0 ||
        set(le, "http_status", int_or_null(json_object_get(cj, "last_err_http"))) != 0) {
        json_decref(le);
        return NULL;
    }
    return le;
}

static json_t *feed_poll(const struct target *t, const json_t *raw)
{
    if (!t->feed.enabled)
        return json_null();
    const json_t *f = json_object_get(raw, "feed");
    return json_pack("{s:o,s:o}", "last_poll_at", time_or_null(json_object_get(f, "last_poll_at")),
                     "last_poll_status", int_or_null(json_object_get(f, "last_poll_status")));
}

json_t *ops_doc_target(const struct target *t, const json_t *raw)
{
    const json_t *cj = json_object_get(raw, "circuit");
    const char *circuit = ops_doc_circuit(t, json_string_value(json_object_get(cj, "state")));
    int open = strcmp(circuit, "open") == 0;
    int64_t fails = ops_doc_int(json_object_get(cj, "fails"));
    json_t *e = json_object();
    int rc = e == NULL ? -1 : 0;

    rc |= set(e, "name", json_string(t->name));
    rc |= set(e, "delivery", json_string(t->delivery == DELIVERY_FEED ? "feed" : "push"));
    rc |= set(e, "paused", json_boolean(json_is_true(json_object_get(raw, "paused"))));
    rc |= set(e, "circuit", json_string(circuit));
    rc |= set(e, "breaker",
              has_breaker(t) ? json_pack("{s:I,s:I}", "failures", (json_int_t)t->breaker_failures,
                                         "probe_s", (json_int_t)t->breaker_probe_s)
                             : json_null());
    rc |= set(e, "consecutive_failures", json_integer(has_breaker(t) && fails > 0 ? fails : 0));
    rc |= set(e, "circuit_opened_at",
              open ? time_or_null(json_object_get(cj, "opened_at")) : json_null());
    rc |=
        set(e, "next_probe_at", open ? time_or_null(json_object_get(cj, "probe_at")) : json_null());
    for (size_t k = 0; k < OPS_DOC_NSTATUS; k++) {
        int64_t n = ops_doc_int(json_object_get(raw, ops_doc_statuses[k]));
        rc |= set(e, ops_doc_statuses[k], json_integer(n > 0 ? n : 0));
    }
    rc |= set(e, "last_delivered_at", time_or_null(json_object_get(cj, "last_ok_at")));
    rc |= set(e, "last_error", last_error(cj));
    rc |= set(e, "feed", feed_poll(t, raw));
    if (rc != 0) {
        json_decref(e);
        return NULL;
    }
    return e;
}
