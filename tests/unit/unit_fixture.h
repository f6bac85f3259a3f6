/* Shared by the unit tests that read JSON documents from tests/fixtures (FIXTURES_DIR, set by
 * tests/CMakeLists): the parsed document, or the test fails naming the file and the error.
 * Include after <cmocka.h>. */
#ifndef TESTS_UNIT_UNIT_FIXTURE_H
#define TESTS_UNIT_UNIT_FIXTURE_H

#include <jansson.h>
#include <stdio.h>

static inline json_t *fixture_load(const char *rel)
{
    char path[512];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, rel);
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

#endif
