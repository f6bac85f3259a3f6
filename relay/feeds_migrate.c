/* The catalog layout migration, once per relay: catalogs written by a build that kept a
 * string per title get their documents moved into C:docs (catalog_migrate.lua), a batch per
 * call, calls back to back until none is left; afterwards a catalog costs one HGET per relay
 * start. Started by the feeds' timer (relay/feeds.c), again on its next tick after a failure. */
#include "relay/feeds_internal.h"

#include <stdlib.h>

#include "queue/lua.h"
#include "queue/rconn.h"

#define MIGRATE_BATCH 1000

static void migrate_step(struct feeds *f);

static void on_migrate(struct redisReply *reply, void *arg)
{
    struct feeds *f = arg;
    f->migrating = 0;
    long long left = catalog_feed_migrate_left(reply);
    if (left < 0)
        return; /* again on the next tick */
    if (left == 0) {
        f->migrated = 1;
        return;
    }
    migrate_step(f);
}

static void migrate_step(struct feeds *f)
{
    const char **argv = calloc(f->cfg->n_targets + 2, sizeof(*argv));
    if (argv == NULL)
        return;
    char batch[24];
    int argc = catalog_feed_migrate_args(f->cfg, MIGRATE_BATCH, batch, argv);
    f->migrating =
        rconn_script(f->rc, lua_catalog_migrate, on_migrate, f, 0, argc, argv, NULL) == 0;
    free(argv);
}

void feeds_migrate(struct feeds *f)
{
    if (!f->migrated && !f->migrating)
        migrate_step(f);
}
