#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* The parsed configuration: built once by config_load(), then only read, through a
 * `const struct config *` handed down to every module. Field names mirror the JSON
 * (CONTRACT §2). Secret values are resolved at load time and kept in struct secret, which
 * nothing ever prints. */

struct secret {
    char *value; /* resolved bytes, NUL-terminated; NULL when not configured */
    size_t len;
};

enum auth_type { AUTH_NONE = 0, AUTH_BEARER, AUTH_BASIC, AUTH_DIGEST, AUTH_API_KEY };

struct auth {
    enum auth_type type;
    struct secret token;    /* bearer */
    char *username;         /* basic, digest */
    struct secret password; /* basic, digest */
    int in_query;           /* api_key: 1 = query parameter, 0 = header */
    char *name;             /* api_key: header or parameter name */
    struct secret value;    /* api_key */
};

enum sig_scheme { SIG_HMAC_SHA256_HEX = 0, SIG_STRIPE, SIG_STANDARD_WEBHOOKS };
enum source_kind { SOURCE_ENCORASTREAM = 0, SOURCE_MOVIDA };

/* sources.*.sync: the catalog sync (handlers/sync.c). */
struct source_sync {
    int64_t every_s;            /* 0 = no schedule */
    int remove_missing;         /* default 1 */
    double max_remove_fraction; /* default 0.2 */
};

struct source {
    char *name;
    enum source_kind kind;
    char *web_url; /* may be NULL */
    enum sig_scheme scheme;
    char *sig_header; /* hmac-sha256-hex: header name; default X-Encora-Signature-256 */
    struct secret *secrets;
    size_t n_secrets;
    int64_t tolerance_s;
    char *api_base_url; /* without trailing slash */
    struct auth api_auth;
    int64_t api_timeout_ms;
    struct source_sync sync;
};

enum unpublish_mode { UNPUBLISH_TOMBSTONE = 0, UNPUBLISH_DELETE };
enum target_format { FORMAT_CANONICAL = 0, FORMAT_GWI_JSON_1_1, FORMAT_TITANOS };

struct target {
    char *name;
    enum target_format format;
    char *url;    /* may hold {id}, {type}, {source} */
    char *method; /* POST, PUT or PATCH */
    enum unpublish_mode unpublish;
    struct auth auth;
    struct secret signing_secret;
    char **sources; /* NULL = all */
    size_t n_sources;
    char **content_types; /* NULL = all */
    size_t n_content_types;
    char *catalog_provider, *catalog_name, *catalog_locale;
    int64_t max_in_flight;
    double rate_per_s; /* 0 = unlimited */
    int64_t timeout_ms;
};

struct config {
    char *path;
    char *listen_host;
    int listen_port;
    char *tls_cert_file, *tls_key_file; /* NULL = plain HTTP */
    char *redis_host;
    int redis_port;
    int redis_db;
    struct secret redis_password;
    char *redis_prefix;
    int64_t max_body_bytes;
    int64_t request_timeout_ms;
    int64_t max_connections;
    int64_t dedupe_ttl_s;
    int64_t retention_s;
    struct secret admin_token; /* value NULL = admin API disabled */
    char *log_level;
    struct source *sources;
    size_t n_sources;
    struct target *targets;
    size_t n_targets;
    int64_t retry_max_attempts, retry_base_delay_ms, retry_max_delay_ms;
    int64_t worker_concurrency, worker_visibility_timeout_ms;
};

/* Which program is loading: the worker additionally requires at least one target. */
enum config_role { CONFIG_ROLE_RELAY = 0, CONFIG_ROLE_WORKER, CONFIG_ROLE_CTL };

/* Loads and validates path. On success returns a config the caller frees with config_free().
 * On failure returns NULL and writes one line per problem to errors (malloc'd, caller frees),
 * each naming a JSON path, e.g. "targets.gowatchit.url: missing". */
struct config *config_load(const char *path, enum config_role role, char **errors);
/* Same, from a JSON text already in memory (tests, fuzzing). */
struct config *config_parse(const char *json, size_t len, const char *path, enum config_role role,
                            char **errors);
void config_free(struct config *cfg);

/* Looks a source or target up by name; NULL when absent. */
const struct source *config_source(const struct config *cfg, const char *name);
const struct target *config_target(const struct config *cfg, const char *name);
/* True when target t takes events of this source and content type. */
int config_target_matches(const struct target *t, const char *source, const char *content_type);

/* Picks the config path: explicit argument, else $RELAY_CONFIG, else ./relay.json. */
const char *config_default_path(const char *arg);

#endif
