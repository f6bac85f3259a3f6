#include "ctl/session.h"

#include <stdio.h>

#include "core/log.h"
#include "queue/rsync.h"

#define REDIS_TIMEOUT_MS 5000

int session_open(const struct cli_opts *cli_in, const char *config_path, struct session *s)
{
    struct cli_opts cli = *cli_in;
    s->cfg = NULL;
    s->rs = NULL;
    if (config_path)
        cli.config_path = config_path;
    /* Logs would only clutter the operator's terminal; errors are printed by hand. Set before
     * and after the load, which applies the config's own log level. */
    log_set_level(LOG_LEVEL_ERROR);
    s->cfg = cli_load_config(&cli, CONFIG_ROLE_CTL);
    if (s->cfg == NULL)
        return 2;
    log_set_level(LOG_LEVEL_ERROR);
    s->rs = rsync_new(s->cfg, REDIS_TIMEOUT_MS);
    if (s->rs == NULL) {
        fputs("relayctl: out of memory\n", stderr);
        config_free(s->cfg);
        s->cfg = NULL;
        return 1;
    }
    return 0;
}

void session_close(struct session *s)
{
    fflush(stdout);
    rsync_free(s->rs);
    config_free(s->cfg);
    s->rs = NULL;
    s->cfg = NULL;
}
