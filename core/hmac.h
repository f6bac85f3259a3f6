#ifndef RELAY_HMAC_H
#define RELAY_HMAC_H

#include <stddef.h>

/* HMAC-SHA256, shared by both sides: the relay verifying a sender's webhook signature and the
 * worker signing what it pushes (X-Relay-Signature-256). */

#define HMAC_SHA256_LEN 32

/* One piece of the signed content; the MAC covers the pieces concatenated. */
struct hmac_part {
    const void *p;
    size_t n;
};

/* out = HMAC-SHA256(key, parts[0] || ... || parts[n-1]). An empty key is allowed (callers that
 * must refuse one check before). Returns 0, or -1 when OpenSSL fails (out is then zeroed).
 * The keyed contexts of the last few keys are kept for reuse, matched by the key's bytes. */
int hmac_sha256(const void *key, size_t keylen, const struct hmac_part *parts, size_t nparts,
                unsigned char out[HMAC_SHA256_LEN]);

/* out = lower-case hex of HMAC-SHA256(key, data), 65 bytes with the NUL. Returns 0, or -1 with
 * out set to "" (which matches no MAC, so a caller comparing it fails closed). */
int hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65]);

#endif
