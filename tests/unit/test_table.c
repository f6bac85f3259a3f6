/* ctl/table: relayctl's aligned tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/table.h"

/* Prints t into a string the caller frees. */
static char *render(const struct table *t, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    *rc = table_print(t, f);
    fclose(f);
    return buf;
}

static void test_alignment(void **state)
{
    static const char *const heads[] = {"TARGET", "STATE", "COUNT", "ERROR"};
    struct table *t = table_new(4, heads, "llrl");
    assert_non_null(t);
    table_row(t, "gowatchit", "active", "12345", "http_5xx");
    table_row(t, "t", "paused", "7", "-");
    int rc;
    char *out = render(t, &rc);
    assert_int_equal(rc, 0);
    /* Left columns padded to their widest cell, right ones right-aligned, the last unpadded. */
    assert_string_equal(out, "TARGET     STATE   COUNT  ERROR\n"
                             "gowatchit  active  12345  http_5xx\n"
                             "t          paused      7  -\n");
    free(out);
    table_free(t);
}

static void test_header_only_and_null_cells(void **state)
{
    static const char *const heads[] = {"ID", "HTTP"};
    struct table *t = table_new(2, heads, "lr");
    int rc;
    char *out = render(t, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "ID  HTTP\n");
    free(out);
    table_row(t, NULL, NULL);
    out = render(t, &rc);
    assert_string_equal(out, "ID  HTTP\n"
                             "        \n");
    free(out);
    table_free(t);
    table_free(NULL);
    assert_null(table_new(0, heads, ""));
}

/* A partner's response can carry escape sequences: they never reach the terminal. */
static void test_control_bytes_cleaned(void **state)
{
    static const char *const heads[] = {"A", "B"};
    struct table *t = table_new(2, heads, "ll");
    table_row(t, "x\x1b[31mred", "line\nbreak\x7f");
    int rc;
    char *out = render(t, &rc);
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\x7f'));
    assert_string_equal(out, "A          B\n"
                             "x?[31mred  line?break?\n");
    free(out);
    table_free(t);
    char *c = table_clean("\t\x01ok");
    assert_string_equal(c, "??ok");
    free(c);
    c = table_clean(NULL);
    assert_string_equal(c, "");
    free(c);
}

/* Widths count code points, so accented titles line up. */
static void test_utf8_width(void **state)
{
    assert_int_equal(table_width("Amélie"), 6);
    assert_int_equal(table_width("東京"), 2);
    assert_int_equal(table_width(""), 0);
    static const char *const heads[] = {"TITLE", "N"};
    struct table *t = table_new(2, heads, "lr");
    table_row(t, "Amélie", "1");
    table_row(t, "Up", "10");
    int rc;
    char *out = render(t, &rc);
    assert_string_equal(out, "TITLE    N\n"
                             "Amélie   1\n"
                             "Up      10\n");
    free(out);
    table_free(t);
}

/* Many rows: the cell store grows. */
static void test_many_rows(void **state)
{
    static const char *const heads[] = {"N"};
    struct table *t = table_new(1, heads, "r");
    char n[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(n, sizeof(n), "%d", i);
        table_row(t, n);
    }
    int rc;
    char *out = render(t, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "  N\n  0\n  1\n"));
    assert_non_null(strstr(out, "\n999\n"));
    free(out);
    table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_header_only_and_null_cells),
        cmocka_unit_test(test_control_bytes_cleaned),
        cmocka_unit_test(test_utf8_width),
        cmocka_unit_test(test_many_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
