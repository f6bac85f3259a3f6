/* ctl/reltime: "3m ago", "in 2h". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "ctl/reltime.h"

static void check(int64_t ms, int64_t now, const char *want)
{
    char out[32];
    reltime_format(ms, now, out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("%lld vs now %lld: got \"%s\", want \"%s\"", (long long)ms, (long long)now, out,
                 want);
}

static void test_units_round_down(void **state)
{
    const int64_t now = 1795168800000LL;
    check(now, now, "just now");
    check(now - 999, now, "just now");
    check(now + 999, now, "just now");
    check(now - 1000, now, "1s ago");
    check(now - 59999, now, "59s ago");
    check(now - 60000, now, "1m ago");
    check(now - 3599999, now, "59m ago");
    check(now - 3600000, now, "1h ago");
    check(now - 86399999, now, "23h ago");
    check(now - 86400000, now, "1d ago");
    check(now - 400LL * 86400000, now, "400d ago");
    check(now + 120000, now, "in 2m");
    check(now + 7200000, now, "in 2h");
    check(now + 3 * 86400000LL, now, "in 3d");
}

static void test_extremes_and_small_buffers(void **state)
{
    char out[32];
    /* Far-apart times do not overflow. */
    reltime_format(INT64_MIN, INT64_MAX, out, sizeof(out));
    assert_string_equal(out, "213503982334d ago");
    reltime_format(INT64_MAX, INT64_MIN, out, sizeof(out));
    assert_string_equal(out, "in 213503982334d");
    char small[8];
    reltime_format(0, 5LL * 86400000 * 1000, small, sizeof(small));
    assert_string_equal(small, "-"); /* "5000d ago" does not fit */
    reltime_format(0, 5000, small, sizeof(small));
    assert_string_equal(small, "5s ago");
}

static void test_rfc3339(void **state)
{
    char out[32];
    int64_t now;
    assert_int_equal(util_parse_rfc3339("2026-11-20T10:00:00Z", &now), 0);
    reltime_rfc3339("2026-11-20T09:57:00Z", now, out, sizeof(out));
    assert_string_equal(out, "3m ago");
    reltime_rfc3339("2026-11-20T12:00:00.000Z", now, out, sizeof(out));
    assert_string_equal(out, "in 2h");
    reltime_rfc3339(NULL, now, out, sizeof(out));
    assert_string_equal(out, "-");
    reltime_rfc3339("", now, out, sizeof(out));
    assert_string_equal(out, "-");
    reltime_rfc3339("yesterday", now, out, sizeof(out));
    assert_string_equal(out, "-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_round_down),
        cmocka_unit_test(test_extremes_and_small_buffers),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
