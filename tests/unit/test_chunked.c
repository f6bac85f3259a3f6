#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <string.h>

#include "relay/chunked.h"

/* Feeds wire in pieces of `step` bytes (0: all at once); returns the final result and the
 * decoded body in out (NUL-terminated), and what is left over in rest. */
static enum chunked_result decode(const char *wire, size_t step, size_t max_body, char *out,
                                  size_t out_size, char *rest, size_t rest_size)
{
    struct chunked ck;
    struct evbuffer *in = evbuffer_new(), *body = evbuffer_new();
    enum chunked_result rc = CHUNKED_MORE;
    size_t len = strlen(wire), off = 0;

    chunked_init(&ck);
    while (rc == CHUNKED_MORE && off < len) {
        size_t n = step == 0 || len - off < step ? len - off : step;
        evbuffer_add(in, wire + off, n);
        off += n;
        rc = chunked_feed(&ck, in, body, max_body, 256);
    }
    evbuffer_add(in, wire + off, len - off);
    size_t blen = evbuffer_get_length(body), rlen = evbuffer_get_length(in);
    assert_true(blen < out_size && rlen < rest_size);
    evbuffer_remove(body, out, blen);
    out[blen] = '\0';
    evbuffer_remove(in, rest, rlen);
    rest[rlen] = '\0';
    evbuffer_free(in);
    evbuffer_free(body);
    return rc;
}

static void test_whole_and_bytewise(void **state)
{
    const char *wire = "5;name=v\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    char out[64], rest[64];
    for (size_t step = 0; step <= 3; step++) {
        assert_int_equal(decode(wire, step, 1024, out, sizeof(out), rest, sizeof(rest)),
                         CHUNKED_DONE);
        assert_string_equal(out, "hello world!");
        assert_string_equal(rest, "NEXT"); /* the next pipelined request is left alone */
    }
}

static void test_incomplete_is_more(void **state)
{
    char out[64], rest[64];
    assert_int_equal(decode("5\r\nhel", 0, 1024, out, sizeof(out), rest, sizeof(rest)),
                     CHUNKED_MORE);
    assert_int_equal(decode("0\r\n", 0, 1024, out, sizeof(out), rest, sizeof(rest)),
                     CHUNKED_MORE); /* no end of trailers yet */
}

static void test_malformed(void **state)
{
    const char *bad[] = {
        "\r\n",                  /* empty size */
        "g\r\n",                 /* not hex */
        "-1\r\n",                /* sign */
        "5\nhello\r\n0\r\n\r\n", /* bare LF */
        "5\r\nhelloXY0\r\n\r\n", /* no CRLF after data */
        "1000000000000000\r\n",  /* 16 hex digits */
        "5 x\r\nhello\r\n",      /* junk after the size */
        "0\r\nTrailer: x\n\r\n", /* bare LF in a trailer */
    };
    char out[64], rest[64];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(decode(bad[i], 0, 1024, out, sizeof(out), rest, sizeof(rest)),
                         CHUNKED_BAD);
}

static void test_limits(void **state)
{
    char out[64], rest[64];
    /* the size line alone decides: nothing of a too-large chunk is read */
    assert_int_equal(
        decode("a\r\n0123456789\r\n0\r\n\r\n", 0, 9, out, sizeof(out), rest, sizeof(rest)),
        CHUNKED_TOO_LARGE);
    assert_int_equal(
        decode("5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", 0, 9, out, sizeof(out), rest, sizeof(rest)),
        CHUNKED_TOO_LARGE);
    assert_int_equal(
        decode("5\r\n01234\r\n4\r\n5678\r\n0\r\n\r\n", 0, 9, out, sizeof(out), rest, sizeof(rest)),
        CHUNKED_DONE);
    /* size lines and trailers together are bounded (max_meta 256 here) */
    char wire[600] = "0\r\n", big_rest[600];
    for (int i = 0; i < 30; i++)
        strcat(wire, "T: 0123456789\r\n"); /* 15 bytes each */
    strcat(wire, "\r\n");
    assert_int_equal(decode(wire, 0, 9, out, sizeof(out), big_rest, sizeof(big_rest)), CHUNKED_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_bytewise),
        cmocka_unit_test(test_incomplete_is_more),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
