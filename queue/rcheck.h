#ifndef RELAY_RCHECK_H
#define RELAY_RCHECK_H

#include <stdio.h>

#include "core/config.h"

/* relay --check-config --check-redis: connects to the configured Redis (through the sentinels
 * when redis.sentinel is set) and checks what the relay needs to keep a 202: reachable,
 * authenticated, a writable master, maxmemory-policy noeviction, and at least
 * redis.min_replicas connected replicas. Writes one line per problem to out, each naming the
 * config key it concerns (never a secret). Returns the number of problems. */
int rcheck_run(const struct config *cfg, FILE *out);

#endif
