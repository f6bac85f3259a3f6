/* Shared by the unit tests that run against one parsed configuration: a cmocka group setup
 * that parses the test's JSON into *state (printing the parser's errors when it fails), and
 * the matching teardown. Include after <cmocka.h>. */
#ifndef TESTS_UNIT_UNIT_CONFIG_H
#define TESTS_UNIT_UNIT_CONFIG_H

#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"

static inline int unit_config_setup(void **state, const char *json, size_t len,
                                    enum config_role role)
{
    char *errors = NULL;
    struct config *cfg = config_parse(json, len, "test.json", role, &errors);
    if (cfg == NULL)
        fprintf(stderr, "%s\n", errors ? errors : "config");
    free(errors);
    *state = cfg;
    return cfg ? 0 : -1;
}

static inline int unit_config_teardown(void **state)
{
    config_free(*state);
    return 0;
}

#endif
