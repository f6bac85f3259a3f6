#include "core/hmac.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/util.h"

/* Fetching the algorithm costs a provider lookup; it is done once per process and shared
 * (an EVP_MAC is reference-counted and safe to use from several threads). It lives until the
 * process ends. */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/*
 * Keyed contexts, reused. Creating and keying an HMAC context costs about three times the MAC
 * of a webhook body in OpenSSL 3 (the digest is fetched by name and the key padded and hashed
 * each time), while re-initialising a keyed one with a NULL key only copies its inner state.
 * The few keys in use (a source's secrets, a target's signing secret) are kept here, matched
 * by their bytes (so a changed secret is simply another key), least recently used evicted;
 * an evicted key's copy is wiped. The comparison is of our own secrets with each other, so it
 * need not be constant-time. Process-wide and locked: callers may be on any thread.
 */
#define HMAC_CACHE 16

struct keyed {
    unsigned char *key; /* a copy, wiped when evicted */
    size_t keylen;
    EVP_MAC_CTX *ctx;
    unsigned long used; /* hmac_tick when last used */
};

static struct keyed hmac_cache[HMAC_CACHE];
static unsigned long hmac_tick;
static pthread_mutex_t hmac_lock = PTHREAD_MUTEX_INITIALIZER;

static void keyed_clear(struct keyed *k)
{
    EVP_MAC_CTX_free(k->ctx);
    if (k->key) {
        OPENSSL_cleanse(k->key, k->keylen);
        free(k->key);
    }
    memset(k, 0, sizeof(*k));
}

/* A fresh context keyed with key (an empty key allowed), or NULL. */
static EVP_MAC_CTX *keyed_new(const void *key, size_t keylen)
{
    /* EVP_MAC_init() reads a NULL key as "keep the previous key"; an empty one must mean an
     * empty key. */
    static const unsigned char empty = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *mctx = EVP_MAC_CTX_new(hmac_alg);
    if (mctx == NULL)
        return NULL;
    if (!EVP_MAC_init(mctx, key != NULL && keylen > 0 ? key : &empty, keylen, params)) {
        EVP_MAC_CTX_free(mctx);
        return NULL;
    }
    return mctx;
}

/* The cached context for key, keyed and ready for EVP_MAC_init(ctx, NULL, ...), or NULL when
 * out of memory. Called with hmac_lock held. */
static EVP_MAC_CTX *keyed_get(const void *key, size_t keylen)
{
    struct keyed *victim = &hmac_cache[0];
    for (size_t i = 0; i < HMAC_CACHE; i++) {
        struct keyed *k = &hmac_cache[i];
        if (k->ctx != NULL && k->keylen == keylen &&
            (keylen == 0 || memcmp(k->key, key, keylen) == 0)) {
            k->used = ++hmac_tick;
            return k->ctx;
        }
        if (k->ctx == NULL || (victim->ctx != NULL && k->used < victim->used))
            victim = k;
    }
    keyed_clear(victim);
    victim->key = malloc(keylen > 0 ? keylen : 1);
    victim->ctx = victim->key ? keyed_new(key, keylen) : NULL;
    if (victim->ctx == NULL) {
        keyed_clear(victim);
        return NULL;
    }
    if (keylen > 0)
        memcpy(victim->key, key, keylen);
    victim->keylen = keylen;
    victim->used = ++hmac_tick;
    return victim->ctx;
}

int hmac_sha256(const void *key, size_t keylen, const struct hmac_part *parts, size_t nparts,
                unsigned char out[HMAC_SHA256_LEN])
{
    int rc = -1;
    size_t outlen = 0;
    EVP_MAC_CTX *mctx = NULL;

    if (pthread_once(&hmac_once, hmac_fetch) != 0 || hmac_alg == NULL)
        goto fail;
    if (key == NULL && keylen > 0)
        goto fail;
    pthread_mutex_lock(&hmac_lock);
    mctx = keyed_get(key, keylen);
    if (mctx == NULL || !EVP_MAC_init(mctx, NULL, 0, NULL))
        goto out;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].n > 0 && !EVP_MAC_update(mctx, parts[i].p, parts[i].n))
            goto out;
    }
    if (!EVP_MAC_final(mctx, out, &outlen, HMAC_SHA256_LEN) || outlen != HMAC_SHA256_LEN)
        goto out;
    rc = 0;
out:
    pthread_mutex_unlock(&hmac_lock);
fail:
    if (rc != 0)
        memset(out, 0, HMAC_SHA256_LEN);
    return rc;
}

int hmac_sha256_hex(const void *key, size_t keylen, const void *data, size_t len, char out[65])
{
    unsigned char mac[HMAC_SHA256_LEN];
    struct hmac_part part = {data, data != NULL ? len : 0};
    if (hmac_sha256(key, keylen, &part, 1, mac) != 0) {
        out[0] = '\0';
        return -1;
    }
    util_hex(mac, HMAC_SHA256_LEN, out);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 0;
}
