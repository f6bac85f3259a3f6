#include "handlers/push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmac.h"
#include "core/util.h"

#ifndef RELAY_VERSION
#define RELAY_VERSION "0.1.0"
#endif

char *push_url(const struct target *t, const char *id, const char *type, const char *source)
{
    static const char *const names[] = {"{id}", "{type}", "{source}"};
    char *enc[3] = {util_pct_encode(id ? id : ""), util_pct_encode(type ? type : ""),
                    util_pct_encode(source ? source : "")};
    char *out = NULL;
    size_t longest = 0;

    for (int i = 0; i < 3; i++) {
        if (enc[i] == NULL)
            goto out;
        if (strlen(enc[i]) > longest)
            longest = strlen(enc[i]);
    }
    /* Upper bound: every byte of the template could start a placeholder. */
    size_t cap = strlen(t->url) * (longest + 1) + 1;
    out = malloc(cap);
    if (out == NULL)
        goto out;
    size_t n = 0;
    for (const char *p = t->url; *p;) {
        int hit = -1;
        for (int i = 0; *p == '{' && i < 3 && hit < 0; i++)
            if (strncmp(p, names[i], strlen(names[i])) == 0)
                hit = i;
        if (hit >= 0) {
            size_t l = strlen(enc[hit]);
            memcpy(out + n, enc[hit], l);
            n += l;
            p += strlen(names[hit]);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
out:
    for (int i = 0; i < 3; i++)
        free(enc[i]);
    return out;
}

/* One header line: name, then the value's parts (NULL-terminated). */
struct hdr {
    const char *name;
    const char *parts[3];
};

int push_headers_build(struct push_headers *h, const struct target *t, const struct push_meta *m,
                       const char *body, size_t len)
{
    char attempt[24], hex[65];
    memset(h, 0, sizeof(*h));
    snprintf(attempt, sizeof(attempt), "%d", m->attempt);
    struct hdr hs[PUSH_MAX_HEADERS] = {
        {"Content-Type", {"application/json; charset=utf-8"}},
        {"Idempotency-Key", {m->delivery_id}},
        {"X-Relay-Event-Id", {m->event_id}},
        {"X-Relay-Event-Type", {m->event_type}},
        {"X-Relay-Delivery-Attempt", {attempt}},
        {"User-Agent", {"relay/" RELAY_VERSION}},
    };
    size_t n = 6;
    if (t->signing_secret.value) {
        /* Unsigned or mis-signed, the partner would reject it: better not to send it. */
        if (hmac_sha256_hex(t->signing_secret.value, t->signing_secret.len, body, body ? len : 0,
                            hex) != 0)
            return -1;
        hs[n++] = (struct hdr){"X-Relay-Signature-256", {"sha256=", hex}};
    }
    /* One allocation for all of them: built per push, several small ones were a visible
     * share of the worker's allocations. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += strlen(hs[i].name) + 3;
        for (const char *const *p = hs[i].parts; *p; p++)
            total += strlen(*p);
    }
    h->buf = malloc(total);
    if (h->buf == NULL)
        return -1;
    char *o = h->buf;
    for (size_t i = 0; i < n; i++) {
        h->list[i] = o;
        size_t l = strlen(hs[i].name);
        memcpy(o, hs[i].name, l);
        o += l;
        *o++ = ':';
        *o++ = ' ';
        for (const char *const *p = hs[i].parts; *p; p++) {
            l = strlen(*p);
            memcpy(o, *p, l);
            o += l;
        }
        *o++ = '\0';
    }
    h->list[n] = NULL;
    return 0;
}

void push_headers_clear(struct push_headers *h)
{
    free(h->buf);
    memset(h, 0, sizeof(*h));
}
