#ifndef RELAY_CONFIG_H
#define RELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/auth.h"
#include "core/secret.h"

/* The parsed configuration: built once by config_load(), then only read, through a
 * `const struct config *` handed down to every module. Field names mirror the JSON
 * (README, "Configuration"). Secret values are resolved at load time and kept in struct secret,
 * which nothing ever prints. */

enum sig_scheme { SIG_HMAC_SHA256_HEX = 0, SIG_STRIPE, SIG_STANDARD_WEBHOOKS };
enum source_kind { SOURCE_ENCORASTREAM = 0, SOURCE_MOVIDA };

/* The content types a title can have, in the order of their JSON names. */
enum content_type { CONTENT_MOVIE = 0, CONTENT_SHOW, CONTENT_SEASON, CONTENT_EPISODE };
#define CONTENT_TYPE_COUNT 4

/* sources.*.sync: the catalog sync (handlers/sync_run.c). */
struct source_sync {
    int64_t every_s;            /* 0 = no schedule */
    int remove_missing;         /* default 1 */
    double max_remove_fraction; /* default 0.2 */
};

struct source {
    char *name;
    enum source_kind kind;
    /* sources.*.web_url given as one string: that template (else NULL). Kept for callers that
     * predate the per-type form; config_source_web_url() covers both forms. */
    char *web_url;
    /* The template for each content type (NULL = that type has no url). The single-string
     * form fills all four with copies. Placeholders: {id}, {slug}, {type}, {show_id},
     * {show_slug}, {season_number}, {episode_number}. In the per-type form a movie template
     * takes only the first three, a show's also {show_id} and {show_slug}, a season's all but
     * {episode_number}: load checks it. */
    char *web_urls[CONTENT_TYPE_COUNT];
    int64_t alert_after_s; /* 0 = no source.silent alert */
    enum sig_scheme scheme;
    char *sig_header; /* hmac-sha256-hex: header name; default X-Encora-Signature-256 */
    struct secret *secrets;
    size_t n_secrets;
    int64_t tolerance_s;
    char *api_base_url; /* without trailing slash */
    struct auth api_auth;
    int64_t api_timeout_ms;
    /* api.max_in_flight (default 8) and api.rate_per_s (0 = none): CMS requests of all workers
     * together, fetches and sync listings alike (queue/srclimit) */
    int64_t api_max_in_flight;
    double api_rate_per_s;
    struct source_sync sync;
};

enum unpublish_mode { UNPUBLISH_TOMBSTONE = 0, UNPUBLISH_DELETE };
enum target_format { FORMAT_CANONICAL = 0, FORMAT_GWI_JSON_1_1, FORMAT_TITANOS };
/* push: the worker sends each document to url. feed: the worker stores it in the target's
 * catalog, which partners pull from GET /feeds/{target}. */
enum delivery_mode { DELIVERY_PUSH = 0, DELIVERY_FEED };

/* targets.*.feed: present on every feed target, optional on a push target. */
struct feed {
    int enabled;                   /* 0 = the target serves no feed; the rest is unset */
    struct auth auth;              /* the partner's credentials: bearer, basic or api_key */
    int64_t page_size;             /* default limit of GET /feeds/{target}; 1..1000, default 500 */
    int64_t tombstone_retention_s; /* how long removals stay; default 2592000 */
    int64_t alert_after_s;         /* feed.not_polled after this long; 0 = off */
};

struct target {
    char *name;
    enum target_format format;
    enum delivery_mode delivery;
    char *url;    /* may hold {id}, {type}, {source}; NULL for a feed target */
    char *method; /* POST, PUT or PATCH (POST on a feed target, unused) */
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
    /* targets.*.breaker: the circuit opens after breaker_failures consecutive retryable push
     * failures and lets one probe through every breaker_probe_s; 0 failures = off (null, or a
     * feed target, which is never pushed to) */
    int64_t breaker_failures, breaker_probe_s;
    struct feed feed;
};

/* alerts[]: a URL the worker's alert evaluator notifies (handlers/alerts.c). */
enum alert_format { ALERT_FORMAT_JSON = 0, ALERT_FORMAT_SLACK };
struct alert_sink {
    struct secret url; /* secret-valued: a Slack webhook URL is its own credential */
    enum alert_format format;
    int64_t min_interval_s; /* at most one alert per type and subject this often; default 300 */
    int64_t queue_oldest_s; /* queue.stalled above this oldest-entry age; default 600 */
};

struct config {
    char *path;
    char *listen_host;
    int listen_port;
    char *admin_listen_host; /* admin.listen; NULL = the admin API and metrics share listen */
    int admin_listen_port;
    char *tls_cert_file, *tls_key_file; /* NULL = plain HTTP */
    char *redis_host;
    int redis_port;
    int redis_db;
    struct secret redis_password;
    char *redis_prefix;
    /* redis.sentinel: n_sentinels == 0 means off (redis.url names the server). With it,
     * redis.url's host:port is only the first guess; its password and db still apply. */
    struct redis_sentinel {
        char *host;
        int port;
    } * sentinels;
    size_t n_sentinels;
    char *sentinel_master;
    struct secret sentinel_password;
    int64_t redis_min_replicas;       /* 0 = do not WAIT */
    int64_t redis_replica_timeout_ms; /* WAIT timeout, default 500 */
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
    struct alert_sink *alerts;
    size_t n_alerts;
    char **warnings; /* NULL-terminated; see config_warnings() */
    size_t n_warnings;
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

/* Settings that load accepted but that an operator should hear about at start (e.g.
 * dedupe_ttl_s shorter than a source's tolerance_s), one "path: problem" line each, the same
 * shape as the errors. Returns a NULL-terminated array owned by cfg (never NULL itself);
 * programs log each entry at warn level when they start. */
const char *const *config_warnings(const struct config *cfg);

/* The web_url template for a content type name ("movie", "show", "season", "episode"), or
 * NULL when the source has none for it (or the type is unknown). Owned by src. */
const char *config_source_web_url(const struct source *src, const char *content_type);
/* The index of a content type name, or -1 when it is none of the four. */
int config_content_type(const char *name);

/* Looks a source or target up by name; NULL when absent. */
const struct source *config_source(const struct config *cfg, const char *name);
const struct target *config_target(const struct config *cfg, const char *name);
/* True when target t takes events of this source and content type. */
int config_target_matches(const struct target *t, const char *source, const char *content_type);

/* Picks the config path: explicit argument, else $RELAY_CONFIG, else ./relay.json. */
const char *config_default_path(const char *arg);

#endif
