#ifndef RELAY_SESSION_H
#define RELAY_SESSION_H

#include "core/cli.h"
#include "core/config.h"

struct rsync;

/* What one relayctl command runs with: the loaded config and a blocking Redis connection. */
struct session {
    struct config *cfg;
    struct rsync *rs;
};

/* Loads the config (config_path overrides the one cli names, when set) and opens Redis with
 * relayctl's timeout; logs are kept to errors, since relayctl prints its own. Returns 0, 2 for a
 * config error (already printed), or 1 when out of memory. */
int session_open(const struct cli_opts *cli, const char *config_path, struct session *s);
/* Flushes stdout and frees what session_open() made; a zeroed session is a no-op. */
void session_close(struct session *s);

#endif
