#ifndef RELAY_CLI_H
#define RELAY_CLI_H

#include "core/config.h"

/* The options all three programs share (README, "What it is"). */
struct cli_opts {
    const char *config_path; /* as given, or NULL */
    int check_config;
    int first_arg; /* index of the first argument not consumed (relayctl's command) */
};

enum { CLI_CHECK_CONFIG = 1, CLI_COMMANDS = 2 };

/* Parses --config PATH / --config=PATH, --help, --version (and --check-config with
 * CLI_CHECK_CONFIG). With CLI_COMMANDS it stops at the first non-option argument (relayctl's
 * command), otherwise any argument left is a usage error. Returns -1 to go on, or the exit
 * status to return right away (0 after --help/--version, 2 on a usage error). */
int cli_parse(int argc, char **argv, const char *program, const char *usage, int flags,
              struct cli_opts *opts);

/* Loads the config chosen by opts (then $RELAY_CONFIG, then ./relay.json), printing every
 * problem to stderr; sets the log level from it. NULL on failure (exit 2). */
struct config *cli_load_config(const struct cli_opts *opts, enum config_role role);

#endif
