/* relay-worker: takes events from Redis and delivers them to the downstream targets. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>

#include "core/cli.h"
#include "core/jread.h"
#include "core/config.h"
#include "core/log.h"
#include "handlers/worker.h"

#define DRAIN_MS 10000 /* SIGTERM: what is in flight gets this long, then is handed back */

static const char usage[] =
    "usage: relay-worker [--config PATH]\n"
    "\n"
    "Takes webhook events from Redis, fetches each title from its source CMS and delivers\n"
    "it to every matching target, with retry and backoff.\n"
    "\n"
    "  --config PATH  configuration file (default: $RELAY_CONFIG, else ./relay.json)\n"
    "  --help         show this help and exit\n"
    "  --version      show the version and exit\n"
    "\n"
    "SIGTERM/SIGINT: stop taking work, finish or hand back what is held, exit 0.\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.\n";

int main(int argc, char **argv)
{
    /* before any Jansson value exists: the worker's render pipeline allocates in arenas */
    jread_alloc_install();
    struct cli_opts opts;
    int rc = cli_parse(argc, argv, "relay-worker", usage, 0, &opts);
    if (rc >= 0)
        return rc;
    struct config *cfg = cli_load_config(&opts, CONFIG_ROLE_WORKER);
    if (cfg == NULL)
        return 2;
    log_capture_libevent();
    for (const char *const *warning = config_warnings(cfg); *warning; warning++)
        LOG_WARN("configuration warning", "warning", *warning, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        LOG_ERROR("curl_global_init failed", NULL);
        goto out_config;
    }
    struct worker *w = worker_new(cfg);
    if (w == NULL) {
        LOG_ERROR("cannot start the worker", NULL);
        goto out_curl;
    }
    rc = worker_run(w, DRAIN_MS) == 0 ? 0 : 1;
    worker_free(w);
out_curl:
    curl_global_cleanup();
out_config:
    config_free(cfg);
    return rc;
}
