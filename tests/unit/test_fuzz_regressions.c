/* Replays every input a fuzzer ever crashed on (fuzz/regressions/<target>/) and the seed
 * corpora (fuzz/corpus/<target>/) through the same harness functions the libFuzzer targets
 * call (fuzz/harness.c), so a fixed bug stays fixed in the normal and sanitizer suites. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/harness.c"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "tests/fixtures"
#endif
#define FUZZ_DIR FIXTURES_DIR "/../../fuzz"

/* Runs fn over every regular file in FUZZ_DIR/<kind>/<target>; returns how many. A missing
 * directory counts as empty: a target without findings has no regressions yet. */
static size_t replay_dir(const char *kind, const char *target, int (*fn)(const uint8_t *, size_t))
{
    char path[1024];
    size_t count = 0;
    snprintf(path, sizeof(path), "%s/%s/%s", FUZZ_DIR, kind, target);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[2048];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        FILE *f = fopen(file, "rb");
        assert_non_null(f);
        uint8_t *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        /* An exact-size copy, as libFuzzer hands it over, so ASan sees over-reads. */
        uint8_t *in = malloc(n > 0 ? n : 1);
        assert_non_null(in);
        memcpy(in, buf, n);
        free(buf);
        assert_int_equal(fn(in, n), 0);
        free(in);
        count++;
    }
    closedir(d);
    return count;
}

static void replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    size_t regressions = replay_dir("regressions", target, fn);
    size_t seeds = replay_dir("corpus", target, fn);
    print_message("%s: %zu regression inputs, %zu seeds\n", target, regressions, seeds);
    assert_true(seeds > 0);
}

static void test_sig(void **state)
{
    replay("sig", fuzz_sig);
}

static void test_envelope(void **state)
{
    replay("envelope", fuzz_envelope);
}

static void test_config(void **state)
{
    replay("config", fuzz_config);
}

static void test_cms(void **state)
{
    replay("cms", fuzz_cms);
}

static void test_retry_after(void **state)
{
    replay("retry_after", fuzz_retry_after);
}

static void test_http(void **state)
{
    replay("http", fuzz_http);
}

static void test_hresp(void **state)
{
    replay("hresp", fuzz_hresp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig),         cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_config),      cmocka_unit_test(test_cms),
        cmocka_unit_test(test_retry_after), cmocka_unit_test(test_http),
        cmocka_unit_test(test_hresp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
