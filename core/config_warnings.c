#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_internal.h"

/* Appends one warning line to cfg; returns -1 when out of memory. */
__attribute__((format(printf, 3, 4))) static int warn_add(struct config *cfg, const char *path,
                                                          const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s: ", path);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    char **nw = realloc(cfg->warnings, (cfg->n_warnings + 2) * sizeof(*nw));
    if (!nw)
        return -1;
    cfg->warnings = nw;
    nw[cfg->n_warnings] = strdup(line);
    if (!nw[cfg->n_warnings])
        return -1;
    nw[++cfg->n_warnings] = NULL;
    return 0;
}

/* Settings that are valid but weaken a guarantee. */
int config_collect_warnings(struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_sources; i++) {
        const struct source *s = &cfg->sources[i];
        /* The timestamped schemes refuse a replay only while it is inside tolerance_s; past
         * that the dedupe mark is what refuses it, so it has to last at least as long. */
        if (s->scheme == SIG_HMAC_SHA256_HEX || cfg->dedupe_ttl_s >= s->tolerance_s)
            continue;
        if (warn_add(cfg, "dedupe_ttl_s",
                     "%lld is shorter than sources.%s.signature.tolerance_s (%lld): a captured "
                     "webhook could be replayed and accepted again after its dedupe mark expires",
                     (long long)cfg->dedupe_ttl_s, s->name, (long long)s->tolerance_s) != 0)
            return -1;
    }
    return 0;
}

const char *const *config_warnings(const struct config *cfg)
{
    static const char *const none[] = {NULL};
    if (!cfg || !cfg->warnings)
        return none;
    return (const char *const *)cfg->warnings;
}
