#ifndef RELAY_APP_H
#define RELAY_APP_H

#include "core/config.h"

/* The relay process: server, routes, Redis, metrics, admin. */

struct app;
struct event_base;

/* Returns NULL with a message in err (e.g. the port is taken). */
struct app *app_new(struct event_base *base, const struct config *cfg, char *err, size_t errlen);
/* Starts the graceful stop (README, "What it is"); the loop exits when it is done. */
void app_shutdown(struct app *a);
void app_free(struct app *a);

#endif
