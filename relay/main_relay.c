/* relay: receives signed webhooks, verifies them and queues them in Redis. */
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "queue/rcheck.h"
#include "relay/app.h"

static const char usage[] =
    "usage: relay [--config PATH] [--check-config [--check-redis]]\n"
    "\n"
    "Receives signed webhooks on POST /webhooks/{source}, verifies them and queues them in\n"
    "Redis. Also serves /healthz, /readyz, /metrics and the admin API (on admin.listen\n"
    "when it is set, and then not on listen).\n"
    "\n"
    "  --config PATH    configuration file (else $RELAY_CONFIG, else ./relay.json)\n"
    "  --check-config   validate the configuration and its secrets, then exit 0 or 2\n"
    "  --check-redis    with --check-config: also check the live Redis (reachable, a master,\n"
    "                   maxmemory-policy noeviction, redis.min_replicas replicas connected)\n"
    "  --help           this text\n"
    "  --version        print the version\n";

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    static int stopping;
    if (stopping++)
        return;
    app_shutdown(arg);
}

int main(int argc, char **argv)
{
    struct cli_opts opts;
    int check_redis = 0;
    /* --check-redis is the relay's own option: taken out before the shared parser runs. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--check-redis") == 0) {
            check_redis = 1;
            memmove(&argv[i], &argv[i + 1], sizeof(*argv) * (size_t)(argc - i));
            argc--;
            break;
        }
    int rc = cli_parse(argc, argv, "relay", usage, CLI_CHECK_CONFIG, &opts);
    if (rc >= 0)
        return rc;

    struct config *cfg = cli_load_config(&opts, CONFIG_ROLE_RELAY);
    if (cfg == NULL)
        return 2;
    if (check_redis && !opts.check_config) {
        fprintf(stderr, "relay: --check-redis goes with --check-config\n%s", usage);
        config_free(cfg);
        return 2;
    }
    if (opts.check_config) {
        if (check_redis && rcheck_run(cfg, stderr) > 0) {
            config_free(cfg);
            return 2;
        }
        printf("%s: ok\n", cfg->path);
        config_free(cfg);
        return 0;
    }

    int status = 1;
    struct event_base *base = NULL;
    struct app *app = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    char err[256] = "";

    for (const char *const *w = config_warnings(cfg); *w; w++)
        LOG_WARN("configuration warning", "warning", *w, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* With the changelist, interest changes made during a loop pass reach epoll once, at its
     * end, net: hiredis adds and removes its write interest around every command (four
     * epoll_ctl calls per enqueue without it). The relay never dup()s a watched descriptor,
     * the case libevent warns about. */
    struct event_config *ecfg = event_config_new();
    if (ecfg == NULL)
        goto out;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (base == NULL)
        goto out;
    app = app_new(base, cfg, err, sizeof(err));
    if (app == NULL) {
        LOG_ERROR("cannot start", "error", err, NULL);
        goto out;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, app);
    sigint = evsignal_new(base, SIGINT, on_signal, app);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    LOG_INFO("relay listening", "listen", cfg->listen_host, "admin_listen", cfg->admin_listen_host,
             "tls", cfg->tls_cert_file ? "on" : "off", "version", RELAY_VERSION, NULL);
    event_base_dispatch(base);
    LOG_INFO("relay stopped", NULL);
    status = 0;
out:
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    app_free(app);
    if (base)
        event_base_free(base);
    config_free(cfg);
    return status;
}
