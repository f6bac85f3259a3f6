#include "handlers/alert_msg.h"

#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct alert_redact {
    const char **secrets; /* borrowed from the config */
    size_t *lens;
    size_t n, cap;
    char **owned; /* the alert URLs' paths, cut out of the URL */
    size_t n_owned;
};

static int push(struct alert_redact *r, const char *s, size_t len)
{
    if (s == NULL || len < ALERT_REDACT_MIN)
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        const char **v = realloc(r->secrets, sizeof(*v) * cap);
        if (v == NULL)
            return -1;
        r->secrets = v;
        size_t *l = realloc(r->lens, sizeof(*l) * cap);
        if (l == NULL)
            return -1;
        r->lens = l;
        r->cap = cap;
    }
    r->secrets[r->n] = s;
    r->lens[r->n] = len;
    r->n++;
    return 0;
}

static int push_secret(struct alert_redact *r, const struct secret *s)
{
    return push(r, s->value, s->value ? strlen(s->value) : 0);
}

static int push_auth(struct alert_redact *r, const struct auth *a)
{
    return push_secret(r, &a->token) | push_secret(r, &a->password) | push_secret(r, &a->value);
}

/* The part of an alert URL after its host: a Slack webhook's path is the credential, and a
 * text could hold it without the host in front. */
static int push_url_path(struct alert_redact *r, const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (p == NULL)
        return 0;
    p = strchr(p + 3, '/');
    if (p == NULL || strlen(p) < ALERT_REDACT_MIN)
        return 0;
    char **v = realloc(r->owned, sizeof(*v) * (r->n_owned + 1));
    if (v == NULL)
        return -1;
    r->owned = v;
    char *c = strdup(p);
    if (c == NULL)
        return -1;
    r->owned[r->n_owned++] = c;
    return push(r, c, strlen(c));
}

struct alert_redact *alert_redact_new(const struct config *cfg)
{
    struct alert_redact *r = calloc(1, sizeof(*r));
    int err = 0;
    if (r == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct source *s = &cfg->sources[i];
        for (size_t k = 0; k < s->n_secrets; k++)
            err |= push_secret(r, &s->secrets[k]);
        err |= push_auth(r, &s->api_auth);
    }
    for (size_t i = 0; i < cfg->n_targets; i++) {
        const struct target *t = &cfg->targets[i];
        err |= push_auth(r, &t->auth);
        err |= push_secret(r, &t->signing_secret);
        err |= push_auth(r, &t->feed.auth);
    }
    err |= push_secret(r, &cfg->redis_password);
    err |= push_secret(r, &cfg->sentinel_password);
    err |= push_secret(r, &cfg->admin_token);
    for (size_t i = 0; i < cfg->n_alerts; i++) {
        err |= push_secret(r, &cfg->alerts[i].url);
        err |= push_url_path(r, cfg->alerts[i].url.value);
    }
    if (err) {
        alert_redact_free(r);
        return NULL;
    }
    return r;
}

void alert_redact_free(struct alert_redact *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_owned; i++)
        free(r->owned[i]);
    free(r->owned);
    free(r->secrets);
    free(r->lens);
    free(r);
}

/* The first occurrence of any secret in s, or NULL; *len gets its length. Longest match
 * first at a position, so a secret that contains another is masked whole. */
static const char *find_secret(const struct alert_redact *r, const char *s, size_t *len)
{
    const char *best = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const char *p = strstr(s, r->secrets[i]);
        if (p && (best == NULL || p < best || (p == best && r->lens[i] > *len))) {
            best = p;
            *len = r->lens[i];
        }
    }
    return best;
}

char *alert_redact(const struct alert_redact *r, const char *s)
{
    if (s == NULL)
        s = "";
    if (r == NULL || r->n == 0)
        return strdup(s);
    /* "***" is never longer than a secret (ALERT_REDACT_MIN > 3): the result fits in s's size */
    char *out = malloc(strlen(s) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (;;) {
        size_t len = 0;
        const char *p = find_secret(r, s, &len);
        if (p == NULL)
            break;
        memcpy(o, s, (size_t)(p - s));
        o += p - s;
        memcpy(o, "***", 3);
        o += 3;
        s = p + len;
    }
    strcpy(o, s);
    return out;
}

static char *fmt_alloc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_alloc(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : out;
}

char *alert_msg_text(const struct alerts_msg *m, const struct alert_redact *r)
{
    char *line = NULL;
    const char *summary = m->summary ? m->summary : "";
    if (strcmp(m->state, "grouped") == 0) {
        if (strcmp(m->type, "delivery.failed") == 0)
            line = fmt_alloc(
                "%" PRId64 " more deliver%s to %s failed in the last %" PRId64 " s (last: %s)",
                m->count, m->count == 1 ? "y" : "ies", m->subject, m->window_s, summary);
        else
            line = fmt_alloc("%s %s: %" PRId64 " more in the last %" PRId64 " s (last: %s)",
                             m->type, m->subject, m->count, m->window_s, summary);
    } else if (strcmp(m->state, "resolved") == 0) {
        line = fmt_alloc("resolved: %s", summary);
    } else if (strcmp(m->state, "firing") == 0 &&
               json_is_integer(json_object_get(m->details, "firing_for_s"))) {
        line = fmt_alloc("%s (still, for %" JSON_INTEGER_FORMAT " s)", summary,
                         json_integer_value(json_object_get(m->details, "firing_for_s")));
    } else {
        line = strdup(summary);
    }
    if (line == NULL)
        return NULL;
    char *safe = alert_redact(r, line);
    free(line);
    return safe;
}

/* A copy of a details value fit for a receiver: strings redacted, a number under a key ending
 * in "_at" (ms since the epoch, as the scripts write times) as RFC 3339. */
static json_t *safe_value(const char *key, const json_t *v, const struct alert_redact *r);

static json_t *safe_object(const json_t *o, const struct alert_redact *r)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    if (out == NULL)
        return NULL;
    json_object_foreach((json_t *)o, k, v)
    {
        json_t *c = safe_value(k, v, r);
        char *kk = alert_redact(r, k);
        if (c == NULL || kk == NULL || json_object_set_new(out, kk, c) != 0) {
            free(kk);
            json_decref(out);
            return NULL;
        }
        free(kk);
    }
    return out;
}

static json_t *safe_value(const char *key, const json_t *v, const struct alert_redact *r)
{
    size_t kl = key ? strlen(key) : 0;
    if (json_is_string(v)) {
        char *s = alert_redact(r, json_string_value(v));
        json_t *out = s ? json_string(s) : NULL;
        free(s);
        return out;
    }
    if (json_is_number(v) && kl > 3 && strcmp(key + kl - 3, "_at") == 0) {
        char ts[32];
        util_rfc3339((int64_t)json_number_value(v), ts);
        return json_string(ts);
    }
    if (json_is_object(v))
        return safe_object(v, r);
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach((json_t *)v, i, e)
        {
            if (out == NULL || json_array_append_new(out, safe_value(NULL, e, r)) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_deep_copy(v);
}

char *alert_msg_body(enum alert_format fmt, const struct alerts_msg *m,
                     const struct alert_redact *r)
{
    char *line = alert_msg_text(m, r), *subject = alert_redact(r, m->subject), *out = NULL;
    json_t *o = json_object(), *d = NULL;
    char at[32];

    if (line == NULL || subject == NULL || o == NULL)
        goto done;
    if (fmt == ALERT_FORMAT_SLACK) {
        char *text = fmt_alloc("[relay] %s %s: %s", m->type, subject, line);
        if (text == NULL || json_object_set_new(o, "text", json_string(text)) != 0) {
            free(text);
            goto done;
        }
        free(text);
    } else {
        util_rfc3339(m->at_ms, at);
        /* the message's id in Redis: the same on every attempt and every worker that sends
         * it (at-least-once: a receiver dedupes on it) */
        int err = json_object_set_new(o, "id", json_string(m->id));
        err |= json_object_set_new(o, "type", json_string(m->type));
        err |= json_object_set_new(o, "at", json_string(at));
        err |= json_object_set_new(o, "summary", json_string(line));
        err |= json_object_set_new(o, "subject", json_string(subject));
        if (m->state[0])
            err |= json_object_set_new(o, "state", json_string(m->state));
        if (strcmp(m->state, "grouped") == 0) {
            err |= json_object_set_new(o, "count", json_integer(m->count));
            err |= json_object_set_new(o, "window_s", json_integer(m->window_s));
        }
        d = safe_object(m->details, r);
        if (err || d == NULL)
            goto done;
        /* details never override the fixed fields */
        if (json_object_update_missing(o, d) != 0)
            goto done;
    }
    out = json_dumps(o, JSON_COMPACT);
done:
    json_decref(d);
    json_decref(o);
    free(line);
    free(subject);
    return out;
}

void alert_msg_url_host(const char *url, char *out, size_t cap)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (cap == 0)
        return;
    snprintf(out, cap, "?");
    if (p == NULL)
        return;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* user info: a credential */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n == 0)
        return;
    snprintf(out, cap, "%.*s", (int)n, p);
}
