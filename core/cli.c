#include "core/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

int cli_parse(int argc, char **argv, const char *program, const char *usage, int flags,
              struct cli_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    log_set_program(program);
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", program, RELAY_VERSION);
            return 0;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --config needs a path\n", program);
                return 2;
            }
            opts->config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            opts->config_path = a + 9;
        } else if ((flags & CLI_CHECK_CONFIG) && strcmp(a, "--check-config") == 0) {
            opts->check_config = 1;
        } else if (a[0] == '-' && a[1] == '-' && a[2] == '\0') {
            i++;
            break;
        } else if (a[0] == '-') {
            fprintf(stderr, "%s: unknown option %s\n%s", program, a, usage);
            return 2;
        } else if (flags & CLI_COMMANDS) {
            break; /* relayctl: the command and its own options follow */
        } else {
            fprintf(stderr, "%s: unexpected argument %s\n%s", program, a, usage);
            return 2;
        }
    }
    opts->first_arg = i;
    return -1;
}

struct config *cli_load_config(const struct cli_opts *opts, enum config_role role)
{
    char *errors = NULL;
    const char *path = config_default_path(opts->config_path);
    struct config *cfg = config_load(path, role, &errors);
    if (cfg == NULL) {
        fputs(errors ? errors : "config: cannot load", stderr);
        if (errors && errors[0] && errors[strlen(errors) - 1] != '\n')
            fputc('\n', stderr);
        free(errors);
        return NULL;
    }
    free(errors);
    enum log_level level;
    if (cfg->log_level && log_level_parse(cfg->log_level, &level) == 0)
        log_set_level(level);
    return cfg;
}
