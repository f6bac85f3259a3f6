#include "core/hmac.h"

#include <pthread.h>
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

int hmac_sha256(const void *key, size_t keylen, const struct hmac_part *parts, size_t nparts,
                unsigned char out[HMAC_SHA256_LEN])
{
    /* EVP_MAC_init() reads a NULL key as "keep the previous key"; an empty one must mean an
     * empty key. */
    static const unsigned char empty = 0;
    int rc = -1;
    size_t outlen = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *mctx = NULL;

    if (pthread_once(&hmac_once, hmac_fetch) != 0 || hmac_alg == NULL)
        goto out;
    mctx = EVP_MAC_CTX_new(hmac_alg);
    if (mctx == NULL)
        goto out;
    if (!EVP_MAC_init(mctx, key != NULL && keylen > 0 ? key : &empty, keylen, params))
        goto out;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].n > 0 && !EVP_MAC_update(mctx, parts[i].p, parts[i].n))
            goto out;
    }
    if (!EVP_MAC_final(mctx, out, &outlen, HMAC_SHA256_LEN) || outlen != HMAC_SHA256_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(mctx);
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
