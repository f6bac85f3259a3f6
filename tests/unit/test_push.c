/* Push URL expansion and headers (handlers/push.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hmac.h"
#include "handlers/push.h"

static void test_url(void **state)
{
    (void)state;
    struct target t = {.name = "x", .url = "https://p.example/{source}/{type}s/{id}?t={type}"};
    char *u = push_url(&t, "a b/c?d", "movie", "enc ora");
    assert_string_equal(u, "https://p.example/enc%20ora/movies/a%20b%2Fc%3Fd?t=movie");
    free(u);
    t.url = "http://h/ingest";
    u = push_url(&t, "1", "movie", "s");
    assert_string_equal(u, "http://h/ingest");
    free(u);
    t.url = "{id}{id}";
    u = push_url(&t, "\xc3\xa9", NULL, NULL);
    assert_string_equal(u, "%C3%A9%C3%A9");
    free(u);
}

static const char *find(const struct push_headers *h, const char *prefix)
{
    for (int i = 0; h->list[i]; i++)
        if (strncmp(h->list[i], prefix, strlen(prefix)) == 0)
            return h->list[i];
    return NULL;
}

static void test_headers(void **state)
{
    (void)state;
    struct target t = {.name = "x", .url = "http://h/"};
    struct push_meta m = {.delivery_id = "dlv_0123",
                          .event_id = "evt_1",
                          .event_type = "content.published",
                          .attempt = 3};
    struct push_headers h;
    assert_int_equal(push_headers_build(&h, &t, &m, "{}", 2), 0);
    assert_string_equal(find(&h, "Content-Type:"), "Content-Type: application/json; charset=utf-8");
    assert_string_equal(find(&h, "Idempotency-Key:"), "Idempotency-Key: dlv_0123");
    assert_string_equal(find(&h, "X-Relay-Event-Id:"), "X-Relay-Event-Id: evt_1");
    assert_string_equal(find(&h, "X-Relay-Event-Type:"), "X-Relay-Event-Type: content.published");
    assert_string_equal(find(&h, "X-Relay-Delivery-Attempt:"), "X-Relay-Delivery-Attempt: 3");
    assert_string_equal(find(&h, "User-Agent:"), "User-Agent: relay/" RELAY_VERSION);
    assert_null(find(&h, "X-Relay-Signature-256:"));
    push_headers_clear(&h);

    char secret[] = "s3cret";
    t.signing_secret.value = secret;
    t.signing_secret.len = 6;
    assert_int_equal(push_headers_build(&h, &t, &m, "{\"a\":1}", 7), 0);
    char hex[65], want[100];
    hmac_sha256_hex("s3cret", 6, "{\"a\":1}", 7, hex);
    strcpy(want, "X-Relay-Signature-256: sha256=");
    strcat(want, hex);
    assert_string_equal(find(&h, "X-Relay-Signature-256:"), want);
    push_headers_clear(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
