#include "relay/sig.h"

#include <openssl/crypto.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hmac.h"
#include "core/util.h"

/*
 * Verification policy, shared by the three schemes:
 *
 * - A header that is absent, or present but blank, is SIG_MISSING: the sender did not sign.
 *   A header with content that cannot be used (wrong prefix, bad hex or base64, no timestamp,
 *   no v1 entry, too long) is SIG_INVALID: the sender signed, but not in a way we accept.
 * - Timestamps are checked before any MAC is computed, as the Standard Webhooks reference
 *   libraries do: a stale request is reported as such whatever its signature, and costs no
 *   HMAC work.
 * - Bounded work: header values longer than SIG_MAX_HEADER are rejected unread, and at most
 *   SIG_MAX_SIGS well-formed signatures are taken from one header (the rest are ignored).
 *   One HMAC is computed per configured secret, then compared with every presented signature.
 * - Presented signatures are decoded to bytes, their length is checked, and only then are they
 *   compared with CRYPTO_memcmp. Every secret/signature pair is compared, so the time taken
 *   does not depend on which one matched.
 * - Empty secrets are skipped: an empty HMAC key is one an attacker knows.
 */

#define SIG_MAX_HEADER 4096
#define SIG_MAX_SIGS 16
#define SIG_MAX_ID 256
#define SIG_MAX_TS_DIGITS 12 /* far beyond any real Unix time; keeps the parse overflow-free */
#define SIG_MAC_LEN 32
#define SIG_DEFAULT_HEADER "X-Encora-Signature-256"

/* A read-only slice of a header value or of the body. */
struct span {
    const char *p;
    size_t n;
};

struct presented {
    unsigned char mac[SIG_MAX_SIGS][SIG_MAC_LEN];
    size_t n;
};

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static struct span trim(struct span s)
{
    while (s.n > 0 && is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

/* Fetches and trims a header. Returns SIG_OK, SIG_MISSING (absent or blank) or SIG_INVALID
 * (longer than cap). */
static enum sig_result get_header(sig_header_fn header, void *ctx, const char *name, size_t cap,
                                  struct span *out)
{
    const char *v = header(ctx, name);
    if (v == NULL)
        return SIG_MISSING;
    size_t n = strnlen(v, cap + 1);
    if (n > cap)
        return SIG_INVALID;
    *out = trim((struct span){v, n});
    return out->n == 0 ? SIG_MISSING : SIG_OK;
}

/* util_hexval, inlined: 64 calls per signature. */
static inline int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes exactly 2*SIG_MAC_LEN hex digits of either case. Returns 0, or -1. */
static int hex_mac(struct span s, unsigned char out[SIG_MAC_LEN])
{
    if (s.n != 2 * SIG_MAC_LEN)
        return -1;
    for (size_t i = 0; i < SIG_MAC_LEN; i++) {
        int hi = hexval(s.p[2 * i]), lo = hexval(s.p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Parses a Unix timestamp of plain decimal digits. Returns 0, or -1. */
static int parse_ts(struct span s, int64_t *out)
{
    int64_t v = 0;
    if (s.n == 0 || s.n > SIG_MAX_TS_DIGITS)
        return -1;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        v = v * 10 + (s.p[i] - '0');
    }
    *out = v;
    return 0;
}

static int within_tolerance(int64_t ts, int64_t now_s, int64_t tolerance_s)
{
    /* Both values are bounded (ts by SIG_MAX_TS_DIGITS), so the difference cannot overflow. */
    int64_t d = now_s > ts ? now_s - ts : ts - now_s;
    return d <= tolerance_s;
}

/* HMAC-SHA256 over the concatenation of parts. Returns 0, or -1 on an OpenSSL failure. */
static int hmac_parts(const unsigned char *key, size_t keylen, const struct span *parts,
                      size_t nparts, unsigned char out[SIG_MAC_LEN])
{
    struct hmac_part hp[8];
    if (nparts > sizeof(hp) / sizeof(hp[0]))
        return -1;
    for (size_t i = 0; i < nparts; i++)
        hp[i] = (struct hmac_part){parts[i].p, parts[i].n};
    return hmac_sha256(key, keylen, hp, nparts, out);
}

/* Standard Webhooks: "whsec_<base64>" is used decoded, anything else (including a whsec_
 * value that is not valid base64) as its raw bytes. Returns a key the caller frees with
 * free_key(), or NULL on allocation failure. */
static unsigned char *sw_key(const struct secret *s, size_t *keylen)
{
    static const char prefix[] = "whsec_";
    const size_t plen = sizeof(prefix) - 1;
    unsigned char *key = malloc(s->len + 1);
    if (key == NULL)
        return NULL;
    if (s->len > plen && memcmp(s->value, prefix, plen) == 0) {
        long n = util_b64_decode(s->value + plen, s->len - plen, key, s->len);
        if (n > 0) {
            *keylen = (size_t)n;
            return key;
        }
    }
    memcpy(key, s->value, s->len);
    *keylen = s->len;
    return key;
}

static void free_key(unsigned char *key, size_t keylen)
{
    if (key == NULL)
        return;
    OPENSSL_cleanse(key, keylen);
    free(key);
}

/* Computes the MAC of parts under every usable secret and compares it with every presented
 * signature. Returns SIG_OK on a match, else SIG_INVALID. */
static enum sig_result match_any(const struct source *src, int decode_whsec,
                                 const struct span *parts, size_t nparts,
                                 const struct presented *sigs)
{
    enum sig_result res = SIG_INVALID;
    int matched = 0;
    unsigned char mac[SIG_MAC_LEN];
    for (size_t i = 0; i < src->n_secrets; i++) {
        const struct secret *s = &src->secrets[i];
        if (s->value == NULL || s->len == 0)
            continue;
        size_t keylen = s->len;
        unsigned char *key = decode_whsec ? sw_key(s, &keylen) : NULL;
        if (decode_whsec && key == NULL)
            continue;
        int rc = hmac_parts(key != NULL ? key : (const unsigned char *)s->value, keylen, parts,
                            nparts, mac);
        free_key(key, keylen);
        if (rc != 0)
            continue;
        for (size_t j = 0; j < sigs->n; j++)
            matched |= CRYPTO_memcmp(mac, sigs->mac[j], SIG_MAC_LEN) == 0;
    }
    if (matched)
        res = SIG_OK;
    OPENSSL_cleanse(mac, sizeof(mac));
    return res;
}

static enum sig_result verify_hmac_hex(const struct source *src, sig_header_fn header, void *ctx,
                                       struct span body)
{
    static const char prefix[] = "sha256=";
    const size_t plen = sizeof(prefix) - 1;
    struct presented sigs = {.n = 0};
    struct span v;
    const char *name = src->sig_header != NULL ? src->sig_header : SIG_DEFAULT_HEADER;
    enum sig_result r = get_header(header, ctx, name, SIG_MAX_HEADER, &v);
    if (r != SIG_OK)
        return r;
    /* The prefix is only a label, so its case is not held against the sender. */
    if (v.n < plen || strncasecmp(v.p, prefix, plen) != 0)
        return SIG_INVALID;
    if (hex_mac((struct span){v.p + plen, v.n - plen}, sigs.mac[0]) != 0)
        return SIG_INVALID;
    sigs.n = 1;
    return match_any(src, 0, &body, 1, &sigs);
}

/* Stripe-Signature: "t=<unix>,v1=<hex>[,v1=<hex>...]", other schemes (v0, ...) ignored. A
 * second "t" is malformed: which one was signed would be ambiguous. */
static enum sig_result verify_stripe(const struct source *src, sig_header_fn header, void *ctx,
                                     struct span body, int64_t now_s)
{
    struct presented sigs = {.n = 0};
    struct span v, t = {NULL, 0};
    int64_t ts;
    enum sig_result r = get_header(header, ctx, "Stripe-Signature", SIG_MAX_HEADER, &v);
    if (r != SIG_OK)
        return r;
    const char *p = v.p, *end = v.p + v.n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma != NULL ? comma : end;
        struct span item = trim((struct span){p, (size_t)(stop - p)});
        p = stop + (comma != NULL);
        if (item.n >= 2 && item.p[0] == 't' && item.p[1] == '=') {
            if (t.p != NULL)
                return SIG_INVALID;
            t = (struct span){item.p + 2, item.n - 2};
        } else if (item.n >= 3 && memcmp(item.p, "v1=", 3) == 0 && sigs.n < SIG_MAX_SIGS) {
            if (hex_mac((struct span){item.p + 3, item.n - 3}, sigs.mac[sigs.n]) == 0)
                sigs.n++;
        }
    }
    if (t.p == NULL || parse_ts(t, &ts) != 0 || sigs.n == 0)
        return SIG_INVALID;
    if (!within_tolerance(ts, now_s, src->tolerance_s))
        return SIG_OUT_OF_TOLERANCE;
    /* The literal digits are what was signed, so they are used as presented. */
    struct span parts[] = {t, {".", 1}, body};
    return match_any(src, 0, parts, 3, &sigs);
}

/* webhook-signature: space-separated "<version>,<base64>"; only v1 (HMAC-SHA256) is ours, other
 * versions (v1a is Ed25519) and undecodable entries are skipped like the reference libraries
 * do, so a sender may list several. */
static enum sig_result verify_standard(const struct source *src, sig_header_fn header, void *ctx,
                                       struct span body, int64_t now_s)
{
    struct presented sigs = {.n = 0};
    struct span id, ts_s, v;
    int64_t ts;
    /* Svix-branded senders name the same three headers svix-*. One set is used whole: the
     * webhook-* one when any of it is present, so a request cannot mix the two. */
    static const char *const names[2][3] = {
        {"webhook-id", "webhook-timestamp", "webhook-signature"},
        {"svix-id", "svix-timestamp", "svix-signature"}};
    int set = header(ctx, names[0][0]) == NULL && header(ctx, names[0][1]) == NULL &&
              header(ctx, names[0][2]) == NULL;
    enum sig_result r_id = get_header(header, ctx, names[set][0], SIG_MAX_ID, &id);
    enum sig_result r_ts = get_header(header, ctx, names[set][1], SIG_MAX_ID, &ts_s);
    enum sig_result r_sig = get_header(header, ctx, names[set][2], SIG_MAX_HEADER, &v);
    if (r_id == SIG_MISSING || r_ts == SIG_MISSING || r_sig == SIG_MISSING)
        return SIG_MISSING;
    if (r_id != SIG_OK || r_ts != SIG_OK || r_sig != SIG_OK)
        return SIG_INVALID;
    if (parse_ts(ts_s, &ts) != 0)
        return SIG_INVALID;
    if (!within_tolerance(ts, now_s, src->tolerance_s))
        return SIG_OUT_OF_TOLERANCE;
    const char *p = v.p, *end = v.p + v.n;
    while (p < end && sigs.n < SIG_MAX_SIGS) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *stop = sp != NULL ? sp : end;
        size_t n = (size_t)(stop - p);
        if (n > 3 && memcmp(p, "v1,", 3) == 0) {
            unsigned char buf[SIG_MAC_LEN + 3];
            long got = util_b64_decode(p + 3, n - 3, buf, sizeof(buf));
            if (got == SIG_MAC_LEN)
                memcpy(sigs.mac[sigs.n++], buf, SIG_MAC_LEN);
        }
        p = stop + (sp != NULL);
    }
    if (sigs.n == 0)
        return SIG_INVALID;
    struct span parts[] = {id, {".", 1}, ts_s, {".", 1}, body};
    return match_any(src, 1, parts, 5, &sigs);
}

enum sig_result sig_verify(const struct source *src, sig_header_fn header, void *ctx,
                           const unsigned char *body, size_t len, int64_t now_s)
{
    struct span b = {(const char *)body, len};
    if (b.p == NULL)
        b = (struct span){"", 0};
    switch (src->scheme) {
    case SIG_HMAC_SHA256_HEX:
        return verify_hmac_hex(src, header, ctx, b);
    case SIG_STRIPE:
        return verify_stripe(src, header, ctx, b, now_s);
    case SIG_STANDARD_WEBHOOKS:
        return verify_standard(src, header, ctx, b, now_s);
    }
    return SIG_INVALID;
}
