#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/hmac.h"
#include "core/util.h"
#include "relay/sig.h"

/* A request's headers, looked up case-insensitively like HTTP does. */
struct hdrs {
    const char *name[8];
    const char *value[8];
    size_t n;
};

static const char *hdr_get(void *ctx, const char *name)
{
    struct hdrs *h = ctx;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    }
    return NULL;
}

static void hdr_set(struct hdrs *h, const char *name, const char *value)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->name[i], name) == 0) {
            h->value[i] = value;
            return;
        }
    }
    h->name[h->n] = name;
    h->value[h->n] = value;
    h->n++;
}

static void hdr_del(struct hdrs *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->name[i], name) == 0) {
            h->name[i] = h->name[h->n - 1];
            h->value[i] = h->value[h->n - 1];
            h->n--;
            return;
        }
    }
}

static struct secret mk_secret(const char *s)
{
    struct secret sec = {(char *)s, strlen(s)};
    return sec;
}

static struct source mk_source(enum sig_scheme scheme, const char *header, struct secret *secrets,
                               size_t n)
{
    struct source src;
    memset(&src, 0, sizeof(src));
    src.name = "test";
    src.scheme = scheme;
    src.sig_header = (char *)header;
    src.secrets = secrets;
    src.n_secrets = n;
    src.tolerance_s = 300;
    return src;
}

static enum sig_result verify_str(const struct source *src, struct hdrs *h, const char *body,
                                  int64_t now)
{
    return sig_verify(src, hdr_get, h, (const unsigned char *)body, strlen(body), now);
}

/* ---- sig_hmac_hex ---- */

static void test_hmac_hex_rfc4231(void **state)
{
    /* RFC 4231 "Identifiers and Test Vectors for HMAC-SHA-224, -256, -384, and -512",
     * test case 2. */
    char out[65];
    hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_hmac_hex_github(void **state)
{
    /* docs.github.com, "Validating webhook deliveries", section "Testing the webhook payload
     * validation": secret "It's a Secret to Everybody", payload "Hello, World!". */
    char out[65];
    const char *key = "It's a Secret to Everybody";
    hmac_sha256_hex(key, strlen(key), "Hello, World!", 13, out);
    assert_string_equal(out, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

/* ---- hmac-sha256-hex ---- */

/* docs.github.com, "Validating webhook deliveries" (X-Hub-Signature-256 test values). */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_PAYLOAD "Hello, World!"
#define GH_SIG "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static void test_hmac_github_vector(void **state)
{
    struct secret secs[] = {mk_secret(GH_SECRET)};
    struct source src = mk_source(SIG_HMAC_SHA256_HEX, "X-Hub-Signature-256", secs, 1);
    struct hdrs h = {.n = 0};
    hdr_set(&h, "x-hub-signature-256", GH_SIG);
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_OK);
    /* Tampered payload, and a different secret. */
    assert_int_equal(verify_str(&src, &h, "Hello, World?", 0), SIG_INVALID);
    struct secret other[] = {mk_secret("It's a Secret to Everybody!")};
    src.secrets = other;
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_INVALID);
}

static void test_hmac_either_case(void **state)
{
    struct secret secs[] = {mk_secret(GH_SECRET)};
    struct source src = mk_source(SIG_HMAC_SHA256_HEX, "X-Hub-Signature-256", secs, 1);
    struct hdrs h = {.n = 0};
    hdr_set(&h, "X-Hub-Signature-256",
            "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17");
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_OK);
    hdr_set(&h, "X-Hub-Signature-256",
            "sha256=757107Ea0eB2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043E17");
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_OK);
    /* Surrounding whitespace is not part of the value. */
    hdr_set(&h, "X-Hub-Signature-256", "  " GH_SIG " ");
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_OK);
}

static void test_hmac_default_header(void **state)
{
    struct secret secs[] = {mk_secret(GH_SECRET)};
    struct source src = mk_source(SIG_HMAC_SHA256_HEX, NULL, secs, 1);
    struct hdrs h = {.n = 0};
    hdr_set(&h, "X-Hub-Signature-256", GH_SIG);
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_MISSING);
    hdr_set(&h, "X-Encora-Signature-256", GH_SIG);
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_OK);
}

static void test_hmac_rotation(void **state)
{
    struct secret secs[] = {mk_secret("the-new-secret"), mk_secret(GH_SECRET)};
    struct source src = mk_source(SIG_HMAC_SHA256_HEX, "X-Hub-Signature-256", secs, 2);
    struct hdrs h = {.n = 0};
    hdr_set(&h, "X-Hub-Signature-256", GH_SIG);
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_OK);
    /* Only the first secret configured: the old signature no longer passes. */
    src.n_secrets = 1;
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_INVALID);
}

static void test_hmac_empty_secret_never_matches(void **state)
{
    /* A body signed with an empty key must not pass just because a secret resolved empty. */
    char hex[65], header[80];
    struct secret secs[] = {{"", 0}, {NULL, 0}};
    struct source src = mk_source(SIG_HMAC_SHA256_HEX, "X-Sig", secs, 2);
    struct hdrs h = {.n = 0};
    hmac_sha256_hex("", 0, "{}", 2, hex);
    snprintf(header, sizeof(header), "sha256=%s", hex);
    hdr_set(&h, "X-Sig", header);
    assert_int_equal(verify_str(&src, &h, "{}", 0), SIG_INVALID);
}

static void test_hmac_missing_and_garbage(void **state)
{
    struct secret secs[] = {mk_secret(GH_SECRET)};
    struct source src = mk_source(SIG_HMAC_SHA256_HEX, "X-Hub-Signature-256", secs, 1);
    struct hdrs h = {.n = 0};
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_MISSING);
    hdr_set(&h, "X-Hub-Signature-256", "");
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_MISSING);
    hdr_set(&h, "X-Hub-Signature-256", "   ");
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_MISSING);

    static const char *const garbage[] = {
        "garbage",
        "sha256=",
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        /* one digit short, one digit long, a non-hex digit */
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e170",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
        "sha256=757107ea0eb2509f",
        "sha256= 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        hdr_set(&h, "X-Hub-Signature-256", garbage[i]);
        assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_INVALID);
    }

    /* A header far over the cap is refused without being parsed. */
    static char big[8192];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "sha256=", 7);
    hdr_set(&h, "X-Hub-Signature-256", big);
    assert_int_equal(verify_str(&src, &h, GH_PAYLOAD, 0), SIG_INVALID);
}

static void test_hmac_binary_body(void **state)
{
    /* The raw bytes are signed, NULs included. */
    static const unsigned char body[] = {'{', 0, 0xff, '}'};
    char hex[65], header[80];
    struct secret secs[] = {mk_secret("k")};
    struct source src = mk_source(SIG_HMAC_SHA256_HEX, "X-Sig", secs, 1);
    struct hdrs h = {.n = 0};
    hmac_sha256_hex("k", 1, body, sizeof(body), hex);
    snprintf(header, sizeof(header), "sha256=%s", hex);
    hdr_set(&h, "X-Sig", header);
    assert_int_equal(sig_verify(&src, hdr_get, &h, body, sizeof(body), 0), SIG_OK);
    assert_int_equal(sig_verify(&src, hdr_get, &h, body, 1, 0), SIG_INVALID);
}

/* ---- standard-webhooks ---- */

/* github.com/standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py
 * (test_sign_function; test_invalid_signature_raises_error for the wrong signature). */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS 1614265330
#define SW_TS_S "1614265330"
#define SW_PAYLOAD "{\"test\": 2432232314}"
#define SW_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define SW_WRONG_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="

static void sw_headers(struct hdrs *h, const char *sig)
{
    h->n = 0;
    hdr_set(h, "webhook-id", SW_ID);
    hdr_set(h, "webhook-timestamp", SW_TS_S);
    hdr_set(h, "webhook-signature", sig);
}

static void test_sw_vector(void **state)
{
    struct secret secs[] = {mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h;
    sw_headers(&h, SW_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_OK);
}

static void test_sw_vector_negative(void **state)
{
    struct secret secs[] = {mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h;
    sw_headers(&h, SW_WRONG_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
    sw_headers(&h, SW_SIG);
    assert_int_equal(verify_str(&src, &h, "{\"test\": 2432232315}", SW_TS), SIG_INVALID);
    /* The id and the timestamp are signed too. */
    hdr_set(&h, "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJel");
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
    sw_headers(&h, SW_SIG);
    hdr_set(&h, "webhook-timestamp", "1614265331");
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
}

/* Svix-branded senders send the same headers named svix-*; one set is used whole. */
static void test_sw_svix_headers(void **state)
{
    struct secret secs[] = {mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h = {.n = 0};
    hdr_set(&h, "svix-id", SW_ID);
    hdr_set(&h, "svix-timestamp", SW_TS_S);
    hdr_set(&h, "svix-signature", SW_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_OK);
    hdr_set(&h, "svix-signature", SW_WRONG_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
    /* A webhook-* header present means the webhook-* set, complete or missing. */
    hdr_set(&h, "svix-signature", SW_SIG);
    hdr_set(&h, "webhook-id", SW_ID);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_MISSING);
    h.n = 0;
    hdr_set(&h, "svix-id", SW_ID);
    hdr_set(&h, "svix-timestamp", SW_TS_S);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_MISSING);
}

static void test_sw_raw_secret(void **state)
{
    /* Without the whsec_ prefix a secret is used as its raw bytes, not decoded. */
    struct secret secs[] = {mk_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h;
    sw_headers(&h, SW_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);

    const char *key = "a-plain-secret";
    const char *content = SW_ID "." SW_TS_S "." SW_PAYLOAD;
    unsigned char mac[32];
    unsigned int maclen = 0;
    char b64[48], sig[64];
    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)content,
                         strlen(content), mac, &maclen));
    util_b64_encode(mac, maclen, b64);
    snprintf(sig, sizeof(sig), "v1,%s", b64);
    secs[0] = mk_secret(key);
    sw_headers(&h, sig);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_OK);
}

static void test_sw_rotation_and_multi_sig(void **state)
{
    struct secret secs[] = {mk_secret("whsec_dGhlLW5ldy1zZWNyZXQtdmFsdWU="), mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 2);
    struct hdrs h;
    /* Entries of the reference library's multi-signature test: other versions and
     * non-matching v1 entries around the valid one. */
    sw_headers(&h, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
                   "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " SW_SIG
                   " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=");
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_OK);
    /* Undecodable and Ed25519 (v1a) entries are skipped, not fatal. */
    sw_headers(&h, "v1,!!!! v1a,AAAA v1,bm9wZQ== " SW_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_OK);
    src.n_secrets = 1;
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
}

static void test_sw_tolerance(void **state)
{
    struct secret secs[] = {mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h;
    sw_headers(&h, SW_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS + 300), SIG_OK);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS - 300), SIG_OK);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS + 301), SIG_OUT_OF_TOLERANCE);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS - 301), SIG_OUT_OF_TOLERANCE);
    /* The timestamp is judged first, whatever the signature. */
    sw_headers(&h, SW_WRONG_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS + 3600), SIG_OUT_OF_TOLERANCE);
    src.tolerance_s = 10;
    sw_headers(&h, SW_SIG);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS + 11), SIG_OUT_OF_TOLERANCE);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS + 10), SIG_OK);
}

static void test_sw_missing_headers(void **state)
{
    static const char *const names[] = {"webhook-id", "webhook-timestamp", "webhook-signature"};
    struct secret secs[] = {mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h;
    for (size_t i = 0; i < 3; i++) {
        sw_headers(&h, SW_SIG);
        hdr_del(&h, names[i]);
        assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_MISSING);
        sw_headers(&h, SW_SIG);
        hdr_set(&h, names[i], "");
        assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_MISSING);
    }
    h.n = 0;
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_MISSING);
}

static void test_sw_garbage_headers(void **state)
{
    struct secret secs[] = {mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h;
    static const char *const bad_ts[] = {"hello", "-1614265330", "1614265330.5", "0x60372f32",
                                         "16142653300000000000"};
    for (size_t i = 0; i < sizeof(bad_ts) / sizeof(bad_ts[0]); i++) {
        sw_headers(&h, SW_SIG);
        hdr_set(&h, "webhook-timestamp", bad_ts[i]);
        assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
    }
    static const char *const bad_sig[] = {
        "garbage",
        "v1,",
        "v1",
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", /* padding dropped */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=AAAA",
        "v1,bm9wZQ=="};
    for (size_t i = 0; i < sizeof(bad_sig) / sizeof(bad_sig[0]); i++) {
        sw_headers(&h, bad_sig[i]);
        assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
    }
    static char long_id[1024];
    memset(long_id, 'm', sizeof(long_id) - 1);
    sw_headers(&h, SW_SIG);
    hdr_set(&h, "webhook-id", long_id);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
}

static void test_sw_signature_count_bounded(void **state)
{
    /* Only the first 16 well-formed v1 entries are considered: a valid one hidden behind 16
     * decoys is not looked at. */
    static char header[4096];
    struct secret secs[] = {mk_secret(SW_SECRET)};
    struct source src = mk_source(SIG_STANDARD_WEBHOOKS, NULL, secs, 1);
    struct hdrs h;
    header[0] = '\0';
    for (int i = 0; i < 15; i++)
        strcat(header, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ");
    strcat(header, SW_SIG);
    sw_headers(&h, header);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_OK);
    header[0] = '\0';
    for (int i = 0; i < 16; i++)
        strcat(header, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ");
    strcat(header, SW_SIG);
    sw_headers(&h, header);
    assert_int_equal(verify_str(&src, &h, SW_PAYLOAD, SW_TS), SIG_INVALID);
}

/* ---- stripe ---- */

#define ST_SECRET "whsec_stripe_test_secret_value"
#define ST_BODY "{\"id\":\"evt_1\",\"type\":\"ping\"}"
#define ST_TS 1700000000

/* Builds the v1 hex for t and body under key, with an independent HMAC call. */
static void stripe_v1(const char *key, const char *t, const char *body, char hex[65])
{
    char content[256];
    unsigned char mac[32];
    unsigned int maclen = 0;
    snprintf(content, sizeof(content), "%s.%s", t, body);
    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)content,
                         strlen(content), mac, &maclen));
    util_hex(mac, maclen, hex);
}

static void test_stripe_valid(void **state)
{
    char v1[65], header[256];
    struct secret secs[] = {mk_secret(ST_SECRET)};
    struct source src = mk_source(SIG_STRIPE, NULL, secs, 1);
    struct hdrs h = {.n = 0};
    stripe_v1(ST_SECRET, "1700000000", ST_BODY, v1);
    snprintf(header, sizeof(header), "t=1700000000,v1=%s", v1);
    hdr_set(&h, "Stripe-Signature", header);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_OK);
    assert_int_equal(verify_str(&src, &h, ST_BODY "x", ST_TS), SIG_INVALID);

    /* Several v1 entries (Stripe sends one per active secret) and a v0 one; order free. */
    snprintf(header, sizeof(header),
             "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,"
             "v1=%064d,t=1700000000, v1=%s",
             0, v1);
    hdr_set(&h, "Stripe-Signature", header);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_OK);

    /* The key is the whole secret string: the whsec_ prefix is not stripped or decoded. */
    stripe_v1("stripe_test_secret_value", "1700000000", ST_BODY, v1);
    snprintf(header, sizeof(header), "t=1700000000,v1=%s", v1);
    hdr_set(&h, "Stripe-Signature", header);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_INVALID);
}

static void test_stripe_rotation(void **state)
{
    char v1[65], header[256];
    struct secret secs[] = {mk_secret("whsec_newer"), mk_secret(ST_SECRET)};
    struct source src = mk_source(SIG_STRIPE, NULL, secs, 2);
    struct hdrs h = {.n = 0};
    stripe_v1(ST_SECRET, "1700000000", ST_BODY, v1);
    snprintf(header, sizeof(header), "t=1700000000,v1=%s", v1);
    hdr_set(&h, "stripe-signature", header);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_OK);
    src.n_secrets = 1;
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_INVALID);
}

static void test_stripe_tolerance(void **state)
{
    char v1[65], header[256];
    struct secret secs[] = {mk_secret(ST_SECRET)};
    struct source src = mk_source(SIG_STRIPE, NULL, secs, 1);
    struct hdrs h = {.n = 0};
    stripe_v1(ST_SECRET, "1700000000", ST_BODY, v1);
    snprintf(header, sizeof(header), "t=1700000000,v1=%s", v1);
    hdr_set(&h, "Stripe-Signature", header);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS + 300), SIG_OK);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS + 301), SIG_OUT_OF_TOLERANCE);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS - 301), SIG_OUT_OF_TOLERANCE);
}

static void test_stripe_missing_and_garbage(void **state)
{
    char v1[65], header[256];
    struct secret secs[] = {mk_secret(ST_SECRET)};
    struct source src = mk_source(SIG_STRIPE, NULL, secs, 1);
    struct hdrs h = {.n = 0};
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_MISSING);
    hdr_set(&h, "Stripe-Signature", " ");
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_MISSING);

    stripe_v1(ST_SECRET, "1700000000", ST_BODY, v1);
    /* "@" stands for the correct v1 hex, so each header fails for its own reason only. */
    static const char *const tmpl[] = {
        "garbage",
        ",,,",
        "v1=@",                          /* no t */
        "t=1700000000",                  /* no v1 */
        "t=1700000000,v0=@",             /* only another scheme */
        "t=,v1=@",                       /* empty t */
        "t=abc,v1=@",                    /* non-numeric t */
        "t=-1700000000,v1=@",            /* signed t */
        "t=1700000000,t=1700000000,v1=@" /* ambiguous t */
    };
    for (size_t i = 0; i < sizeof(tmpl) / sizeof(tmpl[0]); i++) {
        const char *at = strchr(tmpl[i], '@');
        if (at != NULL)
            snprintf(header, sizeof(header), "%.*s%s%s", (int)(at - tmpl[i]), tmpl[i], v1, at + 1);
        else
            snprintf(header, sizeof(header), "%s", tmpl[i]);
        hdr_set(&h, "Stripe-Signature", header);
        assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_INVALID);
    }
    /* A v1 that is not 64 hex digits never matches. */
    v1[63] = '\0';
    snprintf(header, sizeof(header), "t=1700000000,v1=%s", v1);
    hdr_set(&h, "Stripe-Signature", header);
    assert_int_equal(verify_str(&src, &h, ST_BODY, ST_TS), SIG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_hex_rfc4231),
        cmocka_unit_test(test_hmac_hex_github),
        cmocka_unit_test(test_hmac_github_vector),
        cmocka_unit_test(test_hmac_either_case),
        cmocka_unit_test(test_hmac_default_header),
        cmocka_unit_test(test_hmac_rotation),
        cmocka_unit_test(test_hmac_empty_secret_never_matches),
        cmocka_unit_test(test_hmac_missing_and_garbage),
        cmocka_unit_test(test_hmac_binary_body),
        cmocka_unit_test(test_sw_vector),
        cmocka_unit_test(test_sw_vector_negative),
        cmocka_unit_test(test_sw_raw_secret),
        cmocka_unit_test(test_sw_rotation_and_multi_sig),
        cmocka_unit_test(test_sw_tolerance),
        cmocka_unit_test(test_sw_missing_headers),
        cmocka_unit_test(test_sw_garbage_headers),
        cmocka_unit_test(test_sw_signature_count_bounded),
        cmocka_unit_test(test_sw_svix_headers),
        cmocka_unit_test(test_stripe_valid),
        cmocka_unit_test(test_stripe_rotation),
        cmocka_unit_test(test_stripe_tolerance),
        cmocka_unit_test(test_stripe_missing_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
