#ifndef RELAY_CONFIG_INTERNAL_H
#define RELAY_CONFIG_INTERNAL_H

/* Shared by the config_*.c files only: each parses one section of the file into struct config
 * (config.c the top level and the load/free life cycle). Problems go to struct jconf. */

#include <jansson.h>

#include "core/config.h"
#include "core/jconf.h"

/* The start every sources.* and targets.* entry shares: its path into p (JCONF_PATH_MAX), its
 * name copied, checked, an object with only known keys and its required key. Returns 0 when
 * the entry's fields can be read, -1 when it is not an object. */
int config_entry_begin(struct jconf *c, const char *section, const char *name, const json_t *v,
                       const char *const *keys, const char *required, char *p, char **name_out);

/* sources (config_sources.c): fills cfg->sources; at least one is required. */
void config_parse_sources(struct jconf *c, const json_t *root, struct config *cfg);
void config_source_clear(struct source *s);

/* targets (config_targets.c): fills cfg->targets; reads cfg->sources, so runs after them. */
void config_parse_targets(struct jconf *c, const json_t *root, struct config *cfg,
                          enum config_role role);
void config_target_clear(struct target *t);

/* redis (config_redis.c): url, prefix, sentinel, min_replicas, replica_timeout_ms. */
void config_parse_redis(struct jconf *c, const json_t *root, struct config *cfg);

/* alerts (config_alerts.c). */
void config_parse_alerts(struct jconf *c, const json_t *root, struct config *cfg);

/* Start warnings (config_warnings.c): settings that load but weaken a guarantee, appended to
 * cfg->warnings. Returns -1 when out of memory. */
int config_collect_warnings(struct config *cfg);

#endif
