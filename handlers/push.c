#include "handlers/push.h"

#include <stdarg.h>
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
        for (int i = 0; i < 3 && hit < 0; i++)
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

static int add(struct push_headers *h, int *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0 || *n >= PUSH_MAX_HEADERS)
        return -1;
    char *s = malloc((size_t)len + 1);
    if (s == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    h->owned[*n] = s;
    h->list[*n] = s;
    (*n)++;
    h->list[*n] = NULL;
    return 0;
}

int push_headers_build(struct push_headers *h, const struct target *t, const struct push_meta *m,
                       const char *body, size_t len)
{
    int n = 0;
    memset(h, 0, sizeof(*h));
    if (add(h, &n, "Content-Type: application/json; charset=utf-8") ||
        add(h, &n, "Idempotency-Key: %s", m->delivery_id) ||
        add(h, &n, "X-Relay-Event-Id: %s", m->event_id) ||
        add(h, &n, "X-Relay-Event-Type: %s", m->event_type) ||
        add(h, &n, "X-Relay-Delivery-Attempt: %d", m->attempt) ||
        add(h, &n, "User-Agent: relay/%s", RELAY_VERSION))
        goto fail;
    if (t->signing_secret.value) {
        char hex[65];
        /* Unsigned or mis-signed, the partner would reject it: better not to send it. */
        if (hmac_sha256_hex(t->signing_secret.value, t->signing_secret.len, body, body ? len : 0,
                            hex) != 0 ||
            add(h, &n, "X-Relay-Signature-256: sha256=%s", hex))
            goto fail;
    }
    return 0;
fail:
    push_headers_clear(h);
    return -1;
}

void push_headers_clear(struct push_headers *h)
{
    for (int i = 0; i < PUSH_MAX_HEADERS; i++)
        free(h->owned[i]);
    memset(h, 0, sizeof(*h));
}
