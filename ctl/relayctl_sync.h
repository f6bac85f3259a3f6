#ifndef RELAY_RELAYCTL_SYNC_H
#define RELAY_RELAYCTL_SYNC_H

#include "core/cli.h"

/* relayctl's catalog sync commands (README, Sync and backfill):
 *   relayctl sync SOURCE [--target T]... [--full] [--dry-run] [--detach] [--json]
 *   relayctl syncs [--source S] [--limit N] [--json]
 * argv[first] is the command name. Returns the exit status: 0 ok (sync: the run ended done),
 * 1 runtime error or a run that failed, 2 usage or config error. */
int relayctl_sync_main(const struct cli_opts *cli, int argc, char **argv, int first);

#endif
