/* core/hmac: HMAC-SHA256 shared by webhook verification and push signing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>

#include "core/hmac.h"
#include "core/util.h"

/* RFC 4231 ("Identifiers and Test Vectors for HMAC-SHA-224, -256, -384, and -512"), test
 * cases 1, 2 and 6 (a key longer than the block size), HMAC-SHA-256 rows. */
static void test_rfc4231(void **state)
{
    unsigned char key1[20], key6[131];
    char out[65];
    memset(key1, 0x0b, sizeof(key1));
    memset(key6, 0xaa, sizeof(key6));
    assert_int_equal(hmac_sha256_hex(key1, sizeof(key1), "Hi There", 8, out), 0);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_int_equal(hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_int_equal(hmac_sha256_hex(key6, sizeof(key6), d6, strlen(d6), out), 0);
    assert_string_equal(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* The MAC of parts is the MAC of their concatenation, however the bytes are split. */
static void test_parts_concatenate(void **state)
{
    const char *whole = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W.1674087231.{\"type\":\"ping\"}";
    unsigned char a[HMAC_SHA256_LEN], b[HMAC_SHA256_LEN];
    struct hmac_part one = {whole, strlen(whole)};
    assert_int_equal(hmac_sha256("k3y", 3, &one, 1, a), 0);
    for (size_t cut1 = 0; cut1 <= 10; cut1++) {
        size_t cut2 = cut1 + 20;
        struct hmac_part three[] = {
            {whole, cut1}, {whole + cut1, cut2 - cut1}, {whole + cut2, strlen(whole) - cut2}};
        assert_int_equal(hmac_sha256("k3y", 3, three, 3, b), 0);
        assert_memory_equal(a, b, HMAC_SHA256_LEN);
    }
    char hex[65];
    assert_int_equal(hmac_sha256_hex("k3y", 3, whole, strlen(whole), hex), 0);
    char want[65];
    util_hex(a, HMAC_SHA256_LEN, want);
    assert_string_equal(hex, want);
}

/* An empty key and empty or absent data are well defined (checked with Python's hmac). */
static void test_empty(void **state)
{
    char out[65];
    assert_int_equal(hmac_sha256_hex("", 0, "", 0, out), 0);
    assert_string_equal(out, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    assert_int_equal(hmac_sha256_hex(NULL, 0, NULL, 0, out), 0);
    assert_string_equal(out, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    unsigned char mac[HMAC_SHA256_LEN];
    assert_int_equal(hmac_sha256("", 0, NULL, 0, mac), 0);
    util_hex(mac, HMAC_SHA256_LEN, out);
    assert_string_equal(out, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* Different keys give different MACs (a cached keyed context is found by the key's bytes). */
static void test_key_changes(void **state)
{
    char a[65], b[65];
    assert_int_equal(hmac_sha256_hex("one", 3, "body", 4, a), 0);
    assert_int_equal(hmac_sha256_hex("two", 3, "body", 4, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(hmac_sha256_hex("one", 3, "body", 4, b), 0);
    assert_string_equal(a, b);
}

/* More keys than the cache holds, cycled, including keys that differ only in their last byte
 * or their length: every MAC matches OpenSSL's one-shot HMAC(). */
static void test_many_keys(void **state)
{
    const char *body = "{\"id\":\"evt_1\",\"type\":\"content.published\"}";
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++) {
            char key[64];
            int klen = snprintf(key, sizeof(key), "secret-%d", i % 20);
            if (i >= 20)
                klen--; /* "secret-1" is a prefix of "secret-10" */
            unsigned char got[HMAC_SHA256_LEN], want[HMAC_SHA256_LEN];
            unsigned int wlen = 0;
            struct hmac_part part = {body, strlen(body)};
            assert_int_equal(hmac_sha256(key, (size_t)klen, &part, 1, got), 0);
            assert_non_null(HMAC(EVP_sha256(), key, klen, (const unsigned char *)body, strlen(body),
                                 want, &wlen));
            assert_int_equal(wlen, HMAC_SHA256_LEN);
            assert_memory_equal(got, want, HMAC_SHA256_LEN);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),   cmocka_unit_test(test_parts_concatenate),
        cmocka_unit_test(test_empty),     cmocka_unit_test(test_key_changes),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
