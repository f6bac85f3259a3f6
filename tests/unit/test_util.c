/* core/util: time, encodings, UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/util.h"

static void test_rfc3339_roundtrip(void **state)
{
    int64_t ms;
    char out[32];
    assert_int_equal(util_parse_rfc3339("2026-11-20T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795168800000LL);
    util_rfc3339(ms, out);
    assert_string_equal(out, "2026-11-20T10:00:00.000Z");
    assert_int_equal(util_parse_rfc3339("2026-11-20T11:00:00.250+01:00", &ms), 0);
    assert_int_equal(ms, 1795168800250LL);
    assert_int_equal(util_parse_rfc3339("2026-11-20", &ms), 0);
    assert_int_equal(ms, 1795132800000LL);
    assert_int_equal(util_parse_rfc3339("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
}

/* The formatted forms agree with gmtime_r/strftime over the whole range they write. */
static void test_rfc3339_matches_gmtime(void **state)
{
    const int64_t fixed[] = {0,
                             999,
                             86399999,
                             951782400000LL,    /* 2000-02-29 */
                             4107542399999LL,   /* 2100-02-28T23:59:59.999 */
                             253402300799999LL, /* 9999-12-31T23:59:59.999 */
                             253402300800000LL, /* year 10000 */
                             -1,
                             -86400000,
                             -62167219200000LL}; /* 0000-01-01 */
    uint64_t seed = 42;
    for (int i = 0; i < 200000; i++) {
        int64_t ms;
        if (i < (int)(sizeof(fixed) / sizeof(fixed[0]))) {
            ms = fixed[i];
        } else {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            ms = (int64_t)(seed >> 16) % 253402300800000LL;
        }
        char want[64], got[32];
        time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        struct tm tm;
        assert_non_null(gmtime_r(&sec, &tm));
        int year = tm.tm_year + 1900;
        if (ms >= 0) {
            char date[40];
            strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
            snprintf(want, sizeof(want), "%s.%03dZ", date, (int)(ms % 1000));
            util_rfc3339(ms, got);
            assert_string_equal(got, want);
        }
        if (year < 0 || year > 9999) {
            assert_int_equal(util_rfc3339_secs(ms, got), -1);
            continue;
        }
        char rest[40];
        strftime(rest, sizeof(rest), "%m-%dT%H:%M:%SZ", &tm);
        snprintf(want, sizeof(want), "%04d-%s", year, rest);
        assert_int_equal(util_rfc3339_secs(ms, got), 0);
        assert_string_equal(got, want);
    }
}

static void test_rfc3339_rejects(void **state)
{
    int64_t ms;
    const char *bad[] = {"",
                         "2026",
                         "2026-13-01",
                         "2026-11-20T25:00:00Z",
                         "2026-11-20T10:00:00",
                         "2026-11-20T10:00:00X",
                         "2026-11-20T10:00:00.Z",
                         "20261120T100000Z",
                         "2026-11-20T10:00:00Z trailing",
                         "2026-02-30T00:00:00Z",
                         "2026-04-31",
                         "2026-02-29",
                         "1900-02-29"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(util_parse_rfc3339(bad[i], &ms), -1);
    /* leap days are dates */
    assert_int_equal(util_parse_rfc3339("2028-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(util_parse_rfc3339("2000-02-29", &ms), 0);
    assert_int_equal(util_parse_rfc3339("2026-12-31T23:59:59Z", &ms), 0);
}

static void test_base64(void **state)
{
    unsigned char buf[16];
    char enc[32];
    assert_int_equal(util_b64_decode("aGVsbG8=", 8, buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    util_b64_encode((const unsigned char *)"hello", 5, enc);
    assert_string_equal(enc, "aGVsbG8=");
    assert_int_equal(util_b64_decode("aGVsbG8", 7, buf, sizeof(buf)), -1);  /* length */
    assert_int_equal(util_b64_decode("aGV$bG8=", 8, buf, sizeof(buf)), -1); /* alphabet */
    assert_int_equal(util_b64_decode("a=Vs", 4, buf, sizeof(buf)), -1);     /* padding */
    assert_int_equal(util_b64_decode("aGVsbG8=", 8, buf, 4), -1);           /* capacity */
}

static void test_hex_and_pct(void **state)
{
    char out[8];
    util_hex((const unsigned char *)"\x01\xab\xff", 3, out);
    assert_string_equal(out, "01abff");
    assert_int_equal(util_hexval('F'), 15);
    assert_int_equal(util_hexval('g'), -1);
    char *e = util_pct_encode("a b/ü?x=1&y");
    assert_string_equal(e, "a%20b%2F%C3%BC%3Fx%3D1%26y");
    free(e);
}

static void test_utf8(void **state)
{
    assert_true(util_utf8_valid((const unsigned char *)"plain", 5));
    assert_true(util_utf8_valid((const unsigned char *)"K\xc3\xb6ln \xf0\x9f\x8e\xac", 10));
    assert_false(util_utf8_valid((const unsigned char *)"\xc0\xaf", 2));         /* overlong */
    assert_false(util_utf8_valid((const unsigned char *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(util_utf8_valid((const unsigned char *)"\xe2\x82", 2));         /* truncated */
    assert_false(util_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    /* One sequence at a time, as the logger escapes them. */
    const unsigned char *u = (const unsigned char *)"a\xc3\xb6\xe6\x9d\xb1\xf0\x9f\x8e\xac";
    assert_int_equal(util_utf8_seq(u, 10), 1);
    assert_int_equal(util_utf8_seq(u + 1, 9), 2);
    assert_int_equal(util_utf8_seq(u + 3, 7), 3);
    assert_int_equal(util_utf8_seq(u + 6, 4), 4);
    assert_int_equal(util_utf8_seq(u + 6, 3), 0); /* cut short by n */
    assert_int_equal(util_utf8_seq(u, 0), 0);
    assert_int_equal(util_utf8_seq((const unsigned char *)"\x80", 1), 0);
    assert_int_equal(util_utf8_seq((const unsigned char *)"\xc3(", 2), 0);
    assert_int_equal(util_utf8_seq((const unsigned char *)"\xe0\x9f\xbf", 3), 0); /* overlong */
    assert_int_equal(util_utf8_seq((const unsigned char *)"\xef\xbf\xbf", 3), 3); /* U+FFFF */
    assert_int_equal(util_utf8_seq((const unsigned char *)"\xf4\x8f\xbf\xbf", 4), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_roundtrip),
        cmocka_unit_test(test_rfc3339_rejects),
        cmocka_unit_test(test_rfc3339_matches_gmtime),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_hex_and_pct),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
