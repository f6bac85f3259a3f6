/* Retry classification, delays and Retry-After parsing (handlers/backoff.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handlers/backoff.h"

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(backoff_classify(200), BACKOFF_DONE);
    assert_int_equal(backoff_classify(201), BACKOFF_DONE);
    assert_int_equal(backoff_classify(204), BACKOFF_DONE);
    assert_int_equal(backoff_classify(0), BACKOFF_RETRY); /* connection, DNS, timeout */
    assert_int_equal(backoff_classify(408), BACKOFF_RETRY);
    assert_int_equal(backoff_classify(425), BACKOFF_RETRY);
    assert_int_equal(backoff_classify(429), BACKOFF_RETRY);
    assert_int_equal(backoff_classify(500), BACKOFF_RETRY);
    assert_int_equal(backoff_classify(502), BACKOFF_RETRY);
    assert_int_equal(backoff_classify(503), BACKOFF_RETRY);
    assert_int_equal(backoff_classify(599), BACKOFF_RETRY);
    assert_int_equal(backoff_classify(400), BACKOFF_FAIL);
    assert_int_equal(backoff_classify(401), BACKOFF_FAIL);
    assert_int_equal(backoff_classify(404), BACKOFF_FAIL);
    assert_int_equal(backoff_classify(409), BACKOFF_FAIL);
    assert_int_equal(backoff_classify(422), BACKOFF_FAIL);
    assert_int_equal(backoff_classify(301), BACKOFF_FAIL);
    assert_true(backoff_honours_retry_after(429));
    assert_true(backoff_honours_retry_after(503));
    assert_false(backoff_honours_retry_after(500));
    assert_false(backoff_honours_retry_after(502));
}

static void test_delay_bounds(void **state)
{
    (void)state;
    /* d = min(max, base * 2^(n-1)); the delay lies in [d/2, d] for any random value. */
    const uint32_t rnds[] = {0, 1, 7, 12345, 0x7fffffff, 0xffffffff};
    for (int n = 1; n <= 20; n++) {
        int64_t d = 1000;
        for (int i = 1; i < n; i++)
            d = d * 2 > 60000 ? 60000 : d * 2;
        for (size_t k = 0; k < sizeof(rnds) / sizeof(rnds[0]); k++) {
            int64_t v = backoff_delay_ms(1000, 60000, n, 0, rnds[k]);
            assert_true(v >= d / 2);
            assert_true(v <= d);
        }
    }
    assert_int_equal(backoff_delay_ms(1000, 60000, 1, 0, 0), 500);
    assert_int_equal(backoff_delay_ms(1000, 60000, 1, 0, 500), 1000);
    assert_int_equal(backoff_delay_ms(1000, 60000, 3, 0, 0), 2000);
    /* capped at max_delay_ms even for huge attempt numbers (no overflow) */
    assert_true(backoff_delay_ms(5000, 36000000, 200, 0, 0xffffffff) <= 36000000);
    assert_true(backoff_delay_ms(5000, 36000000, 200, 0, 0) >= 18000000);
}

static void test_retry_after_minimum(void **state)
{
    (void)state;
    assert_int_equal(backoff_delay_ms(50, 1000, 1, 2000, 0), 2000);
    /* a Retry-After shorter than the backoff does not shorten it */
    assert_true(backoff_delay_ms(1000, 60000, 1, 10, 0) >= 500);
}

static void test_parse_retry_after(void **state)
{
    (void)state;
    int64_t d = -1;
    const int64_t now = 1445412480000; /* Wed, 21 Oct 2015 07:28:00 GMT */

    assert_int_equal(backoff_parse_retry_after("120", now, &d), 0);
    assert_int_equal(d, 120000);
    assert_int_equal(backoff_parse_retry_after(" 0 ", now, &d), 0);
    assert_int_equal(d, 0);
    /* the HTTP-date example of RFC 9110 §10.2.3 */
    assert_int_equal(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now - 5000, &d), 0);
    assert_int_equal(d, 5000);
    assert_int_equal(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 1000, &d), 0);
    assert_int_equal(d, 0); /* in the past: no wait */
    assert_int_equal(
        backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 - 1000, &d), 0);
    assert_int_equal(d, 1000);
    assert_int_equal(backoff_parse_retry_after("soon", now, &d), -1);
    assert_int_equal(backoff_parse_retry_after("12s", now, &d), -1);
    assert_int_equal(backoff_parse_retry_after("-5", now, &d), -1);
    assert_int_equal(backoff_parse_retry_after("", now, &d), -1);
    assert_int_equal(backoff_parse_retry_after(NULL, now, &d), -1);
    assert_int_equal(backoff_parse_retry_after("Wed, 21 Oct 2015 07:28:00 PST", now, &d), -1);
    assert_int_equal(backoff_parse_retry_after("99999999999999999999999", now, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_delay_bounds),
        cmocka_unit_test(test_retry_after_minimum),
        cmocka_unit_test(test_parse_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
