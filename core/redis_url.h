#ifndef RELAY_REDIS_URL_H
#define RELAY_REDIS_URL_H

#include "core/secret.h"

/* redis://[:password@]host[:port][/db], parsed (no I/O: queue/ does the talking). */
struct redis_url {
    char *host;             /* malloc'd */
    int port;               /* default 6379 */
    int db;                 /* default 0 */
    struct secret password; /* value NULL when the URL has none */
};

/* Parses url into *out (zeroed first). The password ends at the last '@', since a host or a
 * database number never holds one, so a password with '/', '@', '?' or '#' works as written;
 * %XX escapes in it are decoded. Returns 0, or -1 with why set to a static description that
 * never quotes the URL (it may hold the password); *out is then cleared. */
int redis_url_parse(const char *url, struct redis_url *out, const char **why);
/* Frees the host and wipes the password; safe on a zeroed struct. */
void redis_url_clear(struct redis_url *u);

#endif
