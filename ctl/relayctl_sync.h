#ifndef RELAY_RELAYCTL_SYNC_H
#define RELAY_RELAYCTL_SYNC_H

#include "core/cli.h"

/* relayctl's catalog sync commands (README, Sync and backfill):
 *   relayctl sync SOURCE [--target T]... [--full] [--dry-run] [--detach] [--json]
 *   relayctl sync cancel RUN_ID [--detach] [--json]
 *   relayctl syncs [--source S] [--limit N] [--json]
 * argv[first] is the command name. Returns the exit status: 0 ok (sync: the run ended done;
 * sync cancel: it ended cancelled), 1 runtime error or a run that failed, was cancelled or
 * had ended, 2 usage or config error, 130 when Ctrl-C stopped following a run. */
int relayctl_sync_main(const struct cli_opts *cli, int argc, char **argv, int first);

#endif
