#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/addr.h"
#include "core/config_internal.h"
#include "core/jconf.h"

/* The top level of the config (listen, tls, limits, admin, log, retry, worker), the load/parse/
 * free life cycle, and the prologue every sources.* and targets.* entry shares. Each other
 * section has its own file: config_sources.c, config_targets.c, config_redis.c,
 * config_alerts.c; the start warnings are config_warnings.c. */

/* A config file larger than this is a mistake (a wrong path), not something to load. */
#define CONFIG_MAX_FILE_BYTES (16 * 1024 * 1024)
#define NAME_MAX_LEN 64

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int config_entry_begin(struct jconf *c, const char *section, const char *name, const json_t *v,
                       const char *const *keys, const char *required, char *p, char **name_out)
{
    jconf_path(p, JCONF_PATH_MAX, section, name);
    *name_out = jconf_strdup(c, name);
    if (!name_ok(name))
        jconf_err(c, p, "name must be 1-%d characters of A-Z a-z 0-9 _ -", NAME_MAX_LEN);
    if (!json_is_object(v)) {
        jconf_err(c, p, "must be an object");
        return -1;
    }
    jconf_keys(c, v, p, keys);
    jconf_require(c, v, p, required);
    return 0;
}

/* ---- top level ---- */

static void check_readable(struct jconf *c, const char *p, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        jconf_err(c, p, "cannot read %s: %s", file, strerror(errno));
        return;
    }
    fclose(f);
}

static int is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static void parse_tls(struct jconf *c, const json_t *root, struct config *cfg)
{
    static const char *const keys[] = {"cert_file", "key_file", NULL};
    const json_t *tls = jconf_object(c, root, "", "tls", 0);
    if (!tls)
        return;
    jconf_keys(c, tls, "tls", keys);
    const char *cert = jconf_str(c, tls, "tls", "cert_file", 1);
    const char *key = jconf_str(c, tls, "tls", "key_file", 1);
    if (cert)
        check_readable(c, "tls.cert_file", cert);
    if (key)
        check_readable(c, "tls.key_file", key);
    if (cert && key) {
        cfg->tls_cert_file = jconf_strdup(c, cert);
        cfg->tls_key_file = jconf_strdup(c, key);
    }
}

static void parse_root(struct jconf *c, const json_t *root, struct config *cfg,
                       enum config_role role)
{
    static const char *const keys[] = {"listen",      "tls",    "redis",  "limits",  "dedupe_ttl_s",
                                       "retention_s", "admin",  "log",    "sources", "targets",
                                       "retry",       "worker", "alerts", NULL};
    static const char *const limit_keys[] = {"max_body_bytes", "request_timeout_ms",
                                             "max_connections", NULL};
    static const char *const admin_keys[] = {"token", "listen", NULL};
    static const char *const log_keys[] = {"level", NULL};
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    static const char *const retry_keys[] = {"max_attempts", "base_delay_ms", "max_delay_ms", NULL};
    static const char *const worker_keys[] = {"concurrency", "visibility_timeout_ms", NULL};
    const json_t *o;
    const char *s;

    jconf_keys(c, root, "", keys);

    s = jconf_str(c, root, "", "listen", 1);
    if (s) {
        const char *why = NULL;
        if (addr_parse(s, strlen(s), 0, &cfg->listen_host, &cfg->listen_port, &why) != 0)
            jconf_err(c, "listen", "%s", why);
    }

    parse_tls(c, root, cfg);

    config_parse_redis(c, root, cfg);

    o = jconf_object(c, root, "", "limits", 0);
    if (o) {
        jconf_keys(c, o, "limits", limit_keys);
        jconf_int(c, o, "limits", "max_body_bytes", 1, &cfg->max_body_bytes);
        jconf_int(c, o, "limits", "request_timeout_ms", 1, &cfg->request_timeout_ms);
        jconf_int(c, o, "limits", "max_connections", 1, &cfg->max_connections);
    }
    jconf_int(c, root, "", "dedupe_ttl_s", 1, &cfg->dedupe_ttl_s);
    jconf_int(c, root, "", "retention_s", 1, &cfg->retention_s);

    o = jconf_object(c, root, "", "admin", 0);
    if (o) {
        jconf_keys(c, o, "admin", admin_keys);
        secret_get(c, o, "admin", "token", 0, &cfg->admin_token);
        s = jconf_str(c, o, "admin", "listen", 0);
        if (s) {
            const char *why = NULL;
            if (addr_parse(s, strlen(s), 0, &cfg->admin_listen_host, &cfg->admin_listen_port,
                           &why) != 0)
                jconf_err(c, "admin.listen", "%s", why);
            else if (cfg->listen_host && cfg->admin_listen_port == cfg->listen_port &&
                     (strcmp(cfg->admin_listen_host, cfg->listen_host) == 0 ||
                      is_wildcard(cfg->admin_listen_host) || is_wildcard(cfg->listen_host)))
                /* A wildcard address takes the port on every interface: the two would clash. */
                jconf_err(c, "admin.listen", "must differ from listen (omit it to share listen)");
        }
    }

    o = jconf_object(c, root, "", "log", 0);
    if (o) {
        jconf_keys(c, o, "log", log_keys);
        int l = jconf_enum(c, o, "log", "level", levels, 1);
        if (l >= 0) {
            free(cfg->log_level);
            cfg->log_level = jconf_strdup(c, levels[l]);
        }
    }

    o = jconf_object(c, root, "", "retry", 0);
    if (o) {
        jconf_keys(c, o, "retry", retry_keys);
        jconf_int(c, o, "retry", "max_attempts", 1, &cfg->retry_max_attempts);
        jconf_int(c, o, "retry", "base_delay_ms", 1, &cfg->retry_base_delay_ms);
        jconf_int(c, o, "retry", "max_delay_ms", 1, &cfg->retry_max_delay_ms);
        if (cfg->retry_max_delay_ms < cfg->retry_base_delay_ms)
            jconf_err(c, "retry.max_delay_ms", "must not be less than retry.base_delay_ms");
    }

    o = jconf_object(c, root, "", "worker", 0);
    if (o) {
        jconf_keys(c, o, "worker", worker_keys);
        jconf_int(c, o, "worker", "concurrency", 1, &cfg->worker_concurrency);
        jconf_int(c, o, "worker", "visibility_timeout_ms", 1, &cfg->worker_visibility_timeout_ms);
    }

    config_parse_alerts(c, root, cfg);
    config_parse_sources(c, root, cfg);
    /* Targets name sources (targets.*.sources), so they are read second. */
    config_parse_targets(c, root, cfg, role);
}

static struct config *config_defaults(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->redis_port = 6379;
    cfg->redis_prefix = strdup("relay");
    cfg->redis_replica_timeout_ms = 500;
    cfg->log_level = strdup("info");
    cfg->max_body_bytes = 1048576;
    cfg->request_timeout_ms = 10000;
    cfg->max_connections = 10000;
    cfg->dedupe_ttl_s = 86400;
    cfg->retention_s = 604800;
    cfg->retry_max_attempts = 15;
    cfg->retry_base_delay_ms = 5000;
    cfg->retry_max_delay_ms = 36000000;
    cfg->worker_concurrency = 32;
    cfg->worker_visibility_timeout_ms = 30000;
    if (!cfg->redis_prefix || !cfg->log_level) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Jansson's error text ends in " near '<token>'", which may quote a secret literal that sits
 * next to a syntax error; only the description before it is kept. */
static void json_error_line(struct jconf *c, const char *path, const json_error_t *je)
{
    char text[JSON_ERROR_TEXT_LENGTH];
    snprintf(text, sizeof(text), "%s", je->text);
    char *near = strstr(text, " near '");
    if (near)
        *near = '\0';
    jconf_err(c, path, "invalid JSON at line %d, column %d: %s", je->line, je->column, text);
}

struct config *config_parse(const char *json, size_t len, const char *path, enum config_role role,
                            char **errors)
{
    struct jconf c = {0};
    struct config *cfg = NULL;
    json_t *root = NULL;
    json_error_t je;
    const char *where = path ? path : "<config>";

    if (errors)
        *errors = NULL;
    cfg = config_defaults();
    if (!cfg) {
        jconf_err(&c, where, "out of memory");
        goto out;
    }
    if (path) {
        cfg->path = jconf_strdup(&c, path);
    }
    /* A key given twice would let the second silently override the first. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        json_error_line(&c, where, &je);
        goto out;
    }
    if (!json_is_object(root)) {
        jconf_err(&c, where, "the top level must be a JSON object");
        goto out;
    }
    parse_root(&c, root, cfg, role);
    if (c.n_errors == 0 && config_collect_warnings(cfg) != 0)
        jconf_err(&c, where, "out of memory");

out:
    json_decref(root);
    if (c.n_errors > 0) {
        config_free(cfg);
        cfg = NULL;
        if (errors && !c.oom) {
            *errors = c.errs;
            c.errs = NULL;
        } else if (errors) {
            *errors = strdup("config: out of memory");
        }
    }
    free(c.errs);
    return cfg;
}

struct config *config_load(const char *path, enum config_role role, char **errors)
{
    struct config *cfg = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    char line[JCONF_PATH_MAX + 128];

    if (errors)
        *errors = NULL;
    f = fopen(path, "rb");
    if (!f) {
        snprintf(line, sizeof(line), "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
    if (!buf) {
        snprintf(line, sizeof(line), "%s: out of memory", path);
        goto fail;
    }
    len = fread(buf, 1, CONFIG_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        snprintf(line, sizeof(line), "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (len > CONFIG_MAX_FILE_BYTES) {
        snprintf(line, sizeof(line), "%s: larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
        goto fail;
    }
    cfg = config_parse(buf, len, path, role, errors);
    goto out;

fail:
    if (errors)
        *errors = strdup(line);
out:
    if (buf) {
        /* The text may hold literal secrets. */
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    if (f)
        fclose(f);
    return cfg;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->listen_host);
    free(cfg->admin_listen_host);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->redis_host);
    secret_clear(&cfg->redis_password);
    free(cfg->redis_prefix);
    for (size_t i = 0; i < cfg->n_sentinels; i++)
        free(cfg->sentinels[i].host);
    free(cfg->sentinels);
    free(cfg->sentinel_master);
    secret_clear(&cfg->sentinel_password);
    secret_clear(&cfg->admin_token);
    free(cfg->log_level);
    for (size_t i = 0; i < cfg->n_sources; i++)
        config_source_clear(&cfg->sources[i]);
    free(cfg->sources);
    for (size_t i = 0; i < cfg->n_targets; i++)
        config_target_clear(&cfg->targets[i]);
    free(cfg->targets);
    for (size_t i = 0; i < cfg->n_alerts; i++)
        secret_clear(&cfg->alerts[i].url);
    free(cfg->alerts);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

const char *config_default_path(const char *arg)
{
    if (arg && *arg)
        return arg;
    const char *env = getenv("RELAY_CONFIG");
    if (env && *env)
        return env;
    return "./relay.json";
}
