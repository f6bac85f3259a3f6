#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/config.h"
#include "core/redis_url.h"

/* JSON in C literals is unreadable with \" everywhere, so the tests write it with single
 * quotes and swap them here (no value below holds an apostrophe). */
static char *J(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static struct config *parse(const char *sq_json, enum config_role role, char **errors)
{
    char *j = J(sq_json);
    struct config *cfg = config_parse(j, strlen(j), "test.json", role, errors);
    free(j);
    return cfg;
}

static char tmpdir[] = "/tmp/test_config_XXXXXX";
static char cert_path[256], key_path[256];

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    assert_non_null(mkdtemp(tmpdir));
    snprintf(cert_path, sizeof(cert_path), "%s/tls.crt", tmpdir);
    snprintf(key_path, sizeof(key_path), "%s/tls.key", tmpdir);
    write_file(cert_path, "cert\n");
    write_file(key_path, "key\n");
    setenv("RELAY_ADMIN_TOKEN", "admin-tok", 1);
    setenv("ENCORA_WEBHOOK_SECRET", "enc-hook", 1);
    setenv("ENCORA_API_TOKEN", "enc-api", 1);
    setenv("MOVIDA_WEBHOOK_SECRET", "whsec_bW92aWRh", 1);
    setenv("MOVIDA_PASSWORD", "mov-pw", 1);
    setenv("GWI_API_KEY", "gwi-key", 1);
    setenv("TITANOS_PASSWORD", "tit-pw", 1);
    setenv("TITANOS_SIGNING_SECRET", "tit-sign", 1);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The documented example configuration verbatim, but with TLS files that exist. */
static const char *example_fmt =
    "{\n"
    "  'listen': '127.0.0.1:8080',\n"
    "  'tls': { 'cert_file': '%s', 'key_file': '%s' },\n"
    "  'redis': { 'url': 'redis://127.0.0.1:6379/0', 'prefix': 'relay' },\n"
    "  'limits': { 'max_body_bytes': 1048576, 'request_timeout_ms': 10000, "
    "'max_connections': 10000 },\n"
    "  'dedupe_ttl_s': 86400,\n"
    "  'retention_s': 604800,\n"
    "  'admin': { 'token': 'env:RELAY_ADMIN_TOKEN' },\n"
    "  'log': { 'level': 'info' },\n"
    "  'sources': {\n"
    "    'encora': {\n"
    "      'kind': 'encorastream',\n"
    "      'web_url': 'https://watch.example.com/{type}s/{slug}',\n"
    "      'signature': { 'scheme': 'hmac-sha256-hex', 'header': 'X-Encora-Signature-256',\n"
    "                     'secrets': ['env:ENCORA_WEBHOOK_SECRET'] },\n"
    "      'api': { 'base_url': 'https://cms.example.com/v2',\n"
    "               'auth': { 'type': 'bearer', 'token': 'env:ENCORA_API_TOKEN' }, "
    "'timeout_ms': 5000 }\n"
    "    },\n"
    "    'movida': {\n"
    "      'kind': 'movida',\n"
    "      'signature': { 'scheme': 'standard-webhooks', 'secrets': "
    "['env:MOVIDA_WEBHOOK_SECRET'],\n"
    "                     'tolerance_s': 300 },\n"
    "      'api': { 'base_url': 'https://movida.example.com/api',\n"
    "               'auth': { 'type': 'digest', 'username': 'robot_user', 'password': "
    "'env:MOVIDA_PASSWORD' } }\n"
    "    }\n"
    "  },\n"
    "  'targets': {\n"
    "    'gowatchit': {\n"
    "      'format': 'gwi_json_1.1',\n"
    "      'url': 'https://partner.example.com/ingest',\n"
    "      'method': 'POST',\n"
    "      'unpublish': 'tombstone',\n"
    "      'auth': { 'type': 'api_key', 'in': 'query', 'name': 'api_key', 'value': "
    "'env:GWI_API_KEY' },\n"
    "      'sources': ['encora', 'movida'],\n"
    "      'content_types': ['movie', 'show', 'season', 'episode'],\n"
    "      'catalog': { 'provider': 'Example Media', 'name': 'example-vod', 'locale': 'en_US' }\n"
    "    },\n"
    "    'titanos': {\n"
    "      'format': 'titanos',\n"
    "      'url': 'https://ingest.example.tv/titles/{id}',\n"
    "      'method': 'PUT',\n"
    "      'unpublish': 'delete',\n"
    "      'auth': { 'type': 'basic', 'username': 'relay', 'password': 'env:TITANOS_PASSWORD' },\n"
    "      'signing_secret': 'env:TITANOS_SIGNING_SECRET',\n"
    "      'max_in_flight': 8,\n"
    "      'rate_per_s': 50\n"
    "    }\n"
    "  },\n"
    "  'retry': { 'max_attempts': 15, 'base_delay_ms': 5000, 'max_delay_ms': 36000000 },\n"
    "  'worker': { 'concurrency': 32, 'visibility_timeout_ms': 30000 }\n"
    "}\n";

static void assert_secret(const struct secret *s, const char *want)
{
    assert_non_null(s->value);
    assert_string_equal(s->value, want);
    assert_int_equal(s->len, strlen(want));
}

static void test_contract_example(void **state)
{
    char buf[8192];
    char *errors = NULL;
    snprintf(buf, sizeof(buf), example_fmt, cert_path, key_path);
    struct config *cfg = parse(buf, CONFIG_ROLE_WORKER, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_null(errors);

    assert_string_equal(cfg->path, "test.json");
    assert_string_equal(cfg->listen_host, "127.0.0.1");
    assert_int_equal(cfg->listen_port, 8080);
    assert_string_equal(cfg->tls_cert_file, cert_path);
    assert_string_equal(cfg->tls_key_file, key_path);
    assert_string_equal(cfg->redis_host, "127.0.0.1");
    assert_int_equal(cfg->redis_port, 6379);
    assert_int_equal(cfg->redis_db, 0);
    assert_null(cfg->redis_password.value);
    assert_string_equal(cfg->redis_prefix, "relay");
    assert_int_equal(cfg->max_body_bytes, 1048576);
    assert_int_equal(cfg->request_timeout_ms, 10000);
    assert_int_equal(cfg->max_connections, 10000);
    assert_int_equal(cfg->dedupe_ttl_s, 86400);
    assert_int_equal(cfg->retention_s, 604800);
    assert_secret(&cfg->admin_token, "admin-tok");
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->retry_max_attempts, 15);
    assert_int_equal(cfg->retry_base_delay_ms, 5000);
    assert_int_equal(cfg->retry_max_delay_ms, 36000000);
    assert_int_equal(cfg->worker_concurrency, 32);
    assert_int_equal(cfg->worker_visibility_timeout_ms, 30000);

    assert_int_equal(cfg->n_sources, 2);
    const struct source *e = &cfg->sources[0], *m = &cfg->sources[1];
    assert_string_equal(e->name, "encora");
    assert_ptr_equal(config_source(cfg, "encora"), e);
    assert_int_equal(e->kind, SOURCE_ENCORASTREAM);
    assert_string_equal(e->web_url, "https://watch.example.com/{type}s/{slug}");
    assert_int_equal(e->scheme, SIG_HMAC_SHA256_HEX);
    assert_string_equal(e->sig_header, "X-Encora-Signature-256");
    assert_int_equal(e->n_secrets, 1);
    assert_secret(&e->secrets[0], "enc-hook");
    assert_int_equal(e->tolerance_s, 300);
    assert_string_equal(e->api_base_url, "https://cms.example.com/v2");
    assert_int_equal(e->api_auth.type, AUTH_BEARER);
    assert_secret(&e->api_auth.token, "enc-api");
    assert_int_equal(e->api_timeout_ms, 5000);

    assert_string_equal(m->name, "movida");
    assert_int_equal(m->kind, SOURCE_MOVIDA);
    assert_null(m->web_url);
    assert_int_equal(m->scheme, SIG_STANDARD_WEBHOOKS);
    assert_secret(&m->secrets[0], "whsec_bW92aWRh");
    assert_string_equal(m->api_base_url, "https://movida.example.com/api");
    assert_int_equal(m->api_auth.type, AUTH_DIGEST);
    assert_string_equal(m->api_auth.username, "robot_user");
    assert_secret(&m->api_auth.password, "mov-pw");
    assert_int_equal(m->api_timeout_ms, 10000);

    assert_int_equal(cfg->n_targets, 2);
    const struct target *g = &cfg->targets[0], *t = &cfg->targets[1];
    assert_string_equal(g->name, "gowatchit");
    assert_ptr_equal(config_target(cfg, "gowatchit"), g);
    assert_ptr_equal(config_target(cfg, "titanos"), t);
    assert_null(config_target(cfg, "nope"));
    assert_null(config_source(cfg, "nope"));
    assert_int_equal(g->format, FORMAT_GWI_JSON_1_1);
    assert_string_equal(g->url, "https://partner.example.com/ingest");
    assert_string_equal(g->method, "POST");
    assert_int_equal(g->unpublish, UNPUBLISH_TOMBSTONE);
    assert_int_equal(g->auth.type, AUTH_API_KEY);
    assert_int_equal(g->auth.in_query, 1);
    assert_string_equal(g->auth.name, "api_key");
    assert_secret(&g->auth.value, "gwi-key");
    assert_null(g->signing_secret.value);
    assert_int_equal(g->n_sources, 2);
    assert_string_equal(g->sources[1], "movida");
    assert_int_equal(g->n_content_types, 4);
    assert_string_equal(g->content_types[2], "season");
    assert_string_equal(g->catalog_provider, "Example Media");
    assert_string_equal(g->catalog_name, "example-vod");
    assert_string_equal(g->catalog_locale, "en_US");
    assert_int_equal(g->max_in_flight, 8);
    assert_true(g->rate_per_s == 0);
    assert_int_equal(g->timeout_ms, 10000);

    assert_int_equal(t->format, FORMAT_TITANOS);
    assert_string_equal(t->url, "https://ingest.example.tv/titles/{id}");
    assert_string_equal(t->method, "PUT");
    assert_int_equal(t->unpublish, UNPUBLISH_DELETE);
    assert_int_equal(t->auth.type, AUTH_BASIC);
    assert_string_equal(t->auth.username, "relay");
    assert_secret(&t->auth.password, "tit-pw");
    assert_secret(&t->signing_secret, "tit-sign");
    assert_null(t->sources);
    assert_null(t->content_types);
    assert_true(t->rate_per_s == 50);

    assert_true(config_target_matches(g, "encora", "movie"));
    assert_true(config_target_matches(t, "anything", "show"));
    config_free(cfg);
}

static const char *minimal = "{'listen': '[::1]:9000', 'redis': {'url': 'redis://localhost'},"
                             " 'sources': {'s': {'kind': 'encorastream',"
                             "   'signature': {'secrets': ['lit']},"
                             "   'api': {'base_url': 'http://cms.test/v1///'}}}}";

static void test_defaults(void **state)
{
    char *errors = NULL;
    struct config *cfg = parse(minimal, CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_string_equal(cfg->listen_host, "::1");
    assert_int_equal(cfg->listen_port, 9000);
    assert_null(cfg->tls_cert_file);
    assert_null(cfg->tls_key_file);
    assert_string_equal(cfg->redis_host, "localhost");
    assert_int_equal(cfg->redis_port, 6379);
    assert_int_equal(cfg->redis_db, 0);
    assert_string_equal(cfg->redis_prefix, "relay");
    assert_int_equal(cfg->max_body_bytes, 1048576);
    assert_int_equal(cfg->request_timeout_ms, 10000);
    assert_int_equal(cfg->max_connections, 10000);
    assert_int_equal(cfg->dedupe_ttl_s, 86400);
    assert_int_equal(cfg->retention_s, 604800);
    assert_null(cfg->admin_token.value);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->retry_max_attempts, 15);
    assert_int_equal(cfg->retry_base_delay_ms, 5000);
    assert_int_equal(cfg->retry_max_delay_ms, 36000000);
    assert_int_equal(cfg->worker_concurrency, 32);
    assert_int_equal(cfg->worker_visibility_timeout_ms, 30000);
    assert_int_equal(cfg->n_targets, 0);
    const struct source *s = config_source(cfg, "s");
    assert_non_null(s);
    assert_int_equal(s->scheme, SIG_HMAC_SHA256_HEX);
    assert_string_equal(s->sig_header, "X-Encora-Signature-256");
    assert_int_equal(s->tolerance_s, 300);
    assert_secret(&s->secrets[0], "lit");
    assert_string_equal(s->api_base_url, "http://cms.test/v1");
    assert_int_equal(s->api_auth.type, AUTH_NONE);
    assert_int_equal(s->api_timeout_ms, 10000);
    config_free(cfg);

    /* Target defaults, and the per-scheme signature headers. */
    cfg =
        parse("{'listen': 'h:1', 'redis': {'url': 'redis://:p%40ss@[::1]:7000/3'},"
              " 'sources': {'a': {'kind': 'movida', 'signature': {'secrets': ['x']},"
              "                   'api': {'base_url': 'https://m.test'}},"
              "             'b': {'kind': 'encorastream', 'signature': {'scheme': 'stripe',"
              "                   'secrets': ['x', 'y']}, 'api': {'base_url': 'https://e.test'}}},"
              " 'targets': {'g': {'format': 'gwi_json_1.1', 'url': 'http://p.test/{source}'},"
              "             'c': {'format': 'canonical', 'url': 'http://c.test/',"
              "                   'sources': ['b'], 'content_types': ['movie'],"
              "                   'rate_per_s': 0.5, 'timeout_ms': 2500}}}",
              CONFIG_ROLE_WORKER, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_string_equal(cfg->redis_host, "::1");
    assert_int_equal(cfg->redis_port, 7000);
    assert_int_equal(cfg->redis_db, 3);
    assert_secret(&cfg->redis_password, "p@ss");
    assert_int_equal(cfg->sources[0].scheme, SIG_STANDARD_WEBHOOKS);
    assert_int_equal(cfg->sources[1].scheme, SIG_STRIPE);
    assert_string_equal(cfg->sources[1].sig_header, "Stripe-Signature");
    assert_int_equal(cfg->sources[1].n_secrets, 2);
    const struct target *g = config_target(cfg, "g"), *c = config_target(cfg, "c");
    assert_ptr_equal(g, &cfg->targets[0]);
    assert_string_equal(g->method, "POST");
    assert_int_equal(g->unpublish, UNPUBLISH_TOMBSTONE);
    assert_int_equal(g->auth.type, AUTH_NONE);
    assert_int_equal(g->max_in_flight, 8);
    assert_true(g->rate_per_s == 0);
    assert_int_equal(g->timeout_ms, 10000);
    assert_string_equal(g->catalog_provider, "g");
    assert_string_equal(g->catalog_name, "g");
    assert_string_equal(g->catalog_locale, "en_US");
    assert_null(c->catalog_provider);
    assert_true(c->rate_per_s == 0.5);
    assert_int_equal(c->timeout_ms, 2500);
    assert_true(config_target_matches(c, "b", "movie"));
    assert_true(config_target_matches(c, "b", NULL)); /* type not known yet */
    assert_false(config_target_matches(c, "b", "show"));
    assert_false(config_target_matches(c, "a", "movie"));
    assert_true(config_target_matches(g, "a", "episode"));
    config_free(cfg);
    config_free(NULL);
}

static void test_file_and_env_secrets(void **state)
{
    char path[300], path2[300], json[1024], *errors = NULL;
    snprintf(path, sizeof(path), "%s/secret", tmpdir);
    snprintf(path2, sizeof(path2), "%s/secret_crlf", tmpdir);
    write_file(path, "from-file\n\n");
    write_file(path2, "crlf-secret\r\n");
    setenv("TEST_CFG_TOKEN", "from-env", 1);
    snprintf(json, sizeof(json),
             "{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'admin': {'token': 'file:%s'},"
             " 'sources': {'s': {'kind': 'encorastream',"
             "   'signature': {'secrets': ['env:TEST_CFG_TOKEN', 'file:%s', 'plain']},"
             "   'api': {'base_url': 'http://c.test'}}}}",
             path, path2);
    struct config *cfg = parse(json, CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_secret(&cfg->admin_token, "from-file");
    assert_int_equal(cfg->sources[0].n_secrets, 3);
    assert_secret(&cfg->sources[0].secrets[0], "from-env");
    assert_secret(&cfg->sources[0].secrets[1], "crlf-secret");
    assert_secret(&cfg->sources[0].secrets[2], "plain");
    config_free(cfg);
}

/* Parses and asserts failure with a line equal to want among the errors. */
static void expect_error(const char *sq_json, enum config_role role, const char *want)
{
    char *errors = NULL;
    struct config *cfg = parse(sq_json, role, &errors);
    assert_null(cfg);
    assert_non_null(errors);
    int found = 0;
    for (char *line = strtok(errors, "\n"); line; line = strtok(NULL, "\n"))
        if (strcmp(line, want) == 0)
            found = 1;
    if (!found)
        fail_msg("expected \"%s\" in errors", want);
    free(errors);
}

#define SRC                                                                                        \
    "'sources': {'s': {'kind': 'encorastream', 'signature': {'secrets': ['x']},"                   \
    " 'api': {'base_url': 'http://c.test'}}}"
#define BASE "'listen': 'h:1', 'redis': {'url': 'redis://r'}, " SRC

static void test_errors_name_paths(void **state)
{
    expect_error("{" SRC ", 'redis': {'url': 'redis://r'}}", CONFIG_ROLE_RELAY, "listen: missing");
    expect_error("{'listen': 'h:1', " SRC "}", CONFIG_ROLE_RELAY, "redis: missing");
    expect_error("{'listen': 'h:1', 'redis': {}, " SRC "}", CONFIG_ROLE_RELAY,
                 "redis.url: missing");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'r'}}", CONFIG_ROLE_RELAY, "sources: missing");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {}}",
                 CONFIG_ROLE_RELAY, "sources: at least one source is required");
    expect_error("{'listen': 'h', 'redis': {'url': 'redis://r'}, " SRC "}", CONFIG_ROLE_RELAY,
                 "listen: missing port (expected host:port)");
    expect_error("{'listen': 'h:99999', 'redis': {'url': 'redis://r'}, " SRC "}", CONFIG_ROLE_RELAY,
                 "listen: port must be a number between 1 and 65535");
    expect_error("{'listen': '::1:80', 'redis': {'url': 'redis://r'}, " SRC "}", CONFIG_ROLE_RELAY,
                 "listen: an IPv6 address must be written in brackets, e.g. [::1]:8080");
    expect_error("{'listen': 8080, 'redis': {'url': 'redis://r'}, " SRC "}", CONFIG_ROLE_RELAY,
                 "listen: must be a string");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'http://r'}, " SRC "}", CONFIG_ROLE_RELAY,
                 "redis.url: must be redis://[:password@]host[:port][/db]");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r/x'}, " SRC "}", CONFIG_ROLE_RELAY,
                 "redis.url: database must be a non-negative number");
    expect_error("{" BASE ", 'limits': {'max_body_bytes': 0}}", CONFIG_ROLE_RELAY,
                 "limits.max_body_bytes: must be between 1 and 2147483647");
    expect_error("{" BASE ", 'dedupe_ttl_s': '86400'}", CONFIG_ROLE_RELAY,
                 "dedupe_ttl_s: must be an integer");
    expect_error("{" BASE ", 'retry': {'max_attempts': 1.5}}", CONFIG_ROLE_RELAY,
                 "retry.max_attempts: must be an integer");
    expect_error("{" BASE ", 'retry': {'base_delay_ms': 10, 'max_delay_ms': 5}}", CONFIG_ROLE_RELAY,
                 "retry.max_delay_ms: must not be less than retry.base_delay_ms");
    expect_error("{" BASE ", 'worker': {'concurrency': -1}}", CONFIG_ROLE_RELAY,
                 "worker.concurrency: must be between 1 and 2147483647");
    expect_error("{" BASE ", 'log': {'level': 'verbose'}}", CONFIG_ROLE_RELAY,
                 "log.level: must be one of debug, info, warn, error");
    expect_error("{" BASE ", 'admin': 'x'}", CONFIG_ROLE_RELAY, "admin: must be an object");
    expect_error("{" BASE ", 'tls': {'cert_file': '/nonexistent/c'}}", CONFIG_ROLE_RELAY,
                 "tls.key_file: missing");
    expect_error("{" BASE ", 'tls': {'cert_file': '/nonexistent/c', 'key_file': '/etc/hostname'}}",
                 CONFIG_ROLE_RELAY,
                 "tls.cert_file: cannot read /nonexistent/c: No such file or "
                 "directory");

    /* sources.* */
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'signature': {'secrets': ['x']}, 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY, "sources.s.kind: missing");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'wordpress', 'signature': {'secrets': ['x']},"
                 " 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY, "sources.s.kind: must be one of encorastream, movida");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'movida', 'signature': {'scheme': 'md5', 'secrets': ['x']},"
                 " 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY,
                 "sources.s.signature.scheme: must be one of hmac-sha256-hex, stripe, "
                 "standard-webhooks");
    expect_error(
        "{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
        "'kind': 'movida', 'signature': {'secrets': []}, 'api': {'base_url': 'http://c'}}}}",
        CONFIG_ROLE_RELAY,
        "sources.s.signature.secrets: must be a non-empty array of "
        "secrets");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'movida', 'signature': {'secrets': ['x', 7]},"
                 " 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY,
                 "sources.s.signature.secrets[1]: must be a string (a secret, env:NAME or "
                 "file:PATH)");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'movida', 'signature': {'secrets': ['x']}, 'api': {}}}}",
                 CONFIG_ROLE_RELAY, "sources.s.api.base_url: missing");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'movida', 'signature': {'secrets': ['x']},"
                 " 'api': {'base_url': 'ftp://c'}}}}",
                 CONFIG_ROLE_RELAY,
                 "sources.s.api.base_url: must be an http:// or https:// URL without spaces");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'encorastream', 'web_url': 'https://w/{ID}', 'signature': {'secrets':"
                 " ['x']}, 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY,
                 "sources.s.web_url: unknown placeholder {ID} (allowed: {id}, {slug}, {type}, "
                 "{show_id}, {show_slug}, {season_number}, {episode_number})");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'movida', 'signature': {'secrets': ['x'], 'tolerance_s': 0},"
                 " 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY,
                 "sources.s.signature.tolerance_s: must be between 1 and 2147483647");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'movida', 'signature': {'secrets': ['x']},"
                 " 'api': {'base_url': 'http://c', 'auth': {'type': 'bearer'}}}}}",
                 CONFIG_ROLE_RELAY, "sources.s.api.auth.token: missing");
    expect_error(
        "{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'bad name': {"
        "'kind': 'movida', 'signature': {'secrets': ['x']}, 'api': {'base_url': 'http://c'}}}}",
        CONFIG_ROLE_RELAY, "sources.bad name: name must be 1-64 characters of A-Z a-z 0-9 _ -");

    /* targets.* */
    expect_error("{" BASE ", 'targets': {'gowatchit': {'format': 'canonical'}}}", CONFIG_ROLE_RELAY,
                 "targets.gowatchit.url: missing");
    expect_error("{" BASE ", 'targets': {'t': {'url': 'http://p'}}}", CONFIG_ROLE_RELAY,
                 "targets.t.format: missing");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'xml', 'url': 'http://p'}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.format: must be one of canonical, gwi_json_1.1, titanos");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'method': 'GET'}}}",
                 CONFIG_ROLE_RELAY, "targets.t.method: must be one of POST, PUT, PATCH");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'unpublish': 'ignore'}}}",
                 CONFIG_ROLE_RELAY, "targets.t.unpublish: must be one of tombstone, delete");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'sources': ['s', 'nope']}}}",
                 CONFIG_ROLE_RELAY, "targets.t.sources[1]: names no configured source");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'content_types': ['film']}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.content_types[0]: must be one of movie, show, season, episode");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'max_in_flight': 0}}}",
                 CONFIG_ROLE_RELAY, "targets.t.max_in_flight: must be between 1 and 2147483647");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'rate_per_s': -1}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.rate_per_s: must be a number between 0 (no limit) and 1000000");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'auth': {'type': 'oauth'}}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.auth.type: must be one of none, bearer, basic, digest, api_key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'auth': {'type': 'api_key', 'in': 'body', 'name': 'k', 'value': 'v'}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.auth.in: must be one of header, query");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'auth': {'type': 'api_key', 'name': 'k', 'value': 'v'}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.auth.in: missing");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'auth': {'type': 'basic', 'password': 'v'}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.auth.username: missing");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'auth': {'type': 'bearer', 'token': 't', 'username': 'u'}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.auth.username: unknown key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'url': 'http://p',"
                 " 'catalog': {'provider': 'x'}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.catalog: only used with format gwi_json_1.1");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'gwi_json_1.1', 'url': 'http://p',"
                 " 'catalog': {'locale': 'english'}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.catalog.locale: must look like en_US");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p/{slug}'}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.url: unknown placeholder {slug} (allowed: {id}, {type}, {source})");
}

static void test_unknown_keys(void **state)
{
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'encora': {"
                 "'kind': 'encorastream', 'signatur': {'secrets': ['x']},"
                 " 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY, "sources.encora.signatur: unknown key");
    expect_error("{" BASE ", 'listn': 'x'}", CONFIG_ROLE_RELAY, "listn: unknown key");
    expect_error("{" BASE ", 'limits': {'max_body': 1}}", CONFIG_ROLE_RELAY,
                 "limits.max_body: unknown key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'retries': 3}}}",
                 CONFIG_ROLE_RELAY, "targets.t.retries: unknown key");
    /* A repeated key would silently override the first one. */
    char *errors = NULL;
    assert_null(parse("{" BASE ", 'listen': 'h:2'}", CONFIG_ROLE_RELAY, &errors));
    assert_non_null(strstr(errors, "duplicate object key"));
    free(errors);
}

static void test_secret_errors_hide_values(void **state)
{
    char *errors = NULL;
    unsetenv("TEST_CFG_UNSET");
    expect_error("{" BASE ", 'admin': {'token': 'env:TEST_CFG_UNSET'}}", CONFIG_ROLE_RELAY,
                 "admin.token: environment variable TEST_CFG_UNSET is not set");
    setenv("TEST_CFG_EMPTY", "", 1);
    expect_error("{" BASE ", 'admin': {'token': 'env:TEST_CFG_EMPTY'}}", CONFIG_ROLE_RELAY,
                 "admin.token: environment variable TEST_CFG_EMPTY is empty");
    expect_error("{" BASE ", 'admin': {'token': 'file:/nonexistent/tok'}}", CONFIG_ROLE_RELAY,
                 "admin.token: cannot read file /nonexistent/tok: No such file or directory");

    /* Secrets that did resolve never show up, whatever else is wrong around them. */
    setenv("TEST_CFG_SET", "sup3r-s3cret-env", 1);
    struct config *cfg =
        parse("{'listen': 'h:1', 'redis': {'url': 'redis://:hunter2-pw@r/x'}, 'sources': {'s': {"
              "'kind': 'encorastream', 'signature': {'secrets': ['sup3r-literal', "
              "'env:TEST_CFG_SET'], 'bogus': 1}, 'api': {'base_url': 'http://c',"
              " 'auth': {'type': 'bearer', 'token': 'b34rer-literal', 'extra': 1}}}},"
              " 'admin': {'token': ['n0t-a-string']}}",
              CONFIG_ROLE_RELAY, &errors);
    assert_null(cfg);
    assert_non_null(errors);
    assert_null(strstr(errors, "sup3r"));
    assert_null(strstr(errors, "b34rer"));
    assert_null(strstr(errors, "hunter2"));
    assert_null(strstr(errors, "n0t-a"));
    assert_non_null(strstr(errors, "redis.url: database must be a non-negative number"));
    free(errors);

    /* Jansson quotes the token near a syntax error; that token may be a literal secret. */
    assert_null(parse("{'admin': {'token': 'sup3r-unterminated", CONFIG_ROLE_RELAY, &errors));
    assert_null(strstr(errors, "sup3r"));
    assert_non_null(strstr(errors, "invalid JSON at line 1"));
    free(errors);
}

static void test_multiple_errors(void **state)
{
    char *errors = NULL;
    struct config *cfg = parse("{'redis': {'url': 'redis://r', 'prefx': 'x'}, 'sources': {'s': {"
                               "'kind': 'encorastream', 'signature': {'secrets': ['x']},"
                               " 'api': {'base_url': 'http://c'}}},"
                               " 'targets': {'t': {'format': 'canonical'}},"
                               " 'log': {'level': 'loud'}}",
                               CONFIG_ROLE_WORKER, &errors);
    assert_null(cfg);
    assert_non_null(errors);
    assert_string_equal(errors, "listen: missing\n"
                                "redis.prefx: unknown key\n"
                                "log.level: must be one of debug, info, warn, error\n"
                                "targets.t.url: missing");
    free(errors);
}

static void test_worker_needs_target(void **state)
{
    char *errors = NULL;
    expect_error("{" BASE "}", CONFIG_ROLE_WORKER,
                 "targets: at least one target is required for relay-worker");
    expect_error("{" BASE ", 'targets': {}}", CONFIG_ROLE_WORKER,
                 "targets: at least one target is required for relay-worker");
    struct config *cfg = parse("{" BASE "}", CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    config_free(cfg);
    cfg = parse("{" BASE "}", CONFIG_ROLE_CTL, &errors);
    assert_non_null(cfg);
    config_free(cfg);
}

static void test_load_files(void **state)
{
    char path[300], *errors = NULL;
    snprintf(path, sizeof(path), "%s/broken.json", tmpdir);
    write_file(path, "{\n  \"listen\": \"h:1\",\n  \"redis\": { url: 1 }\n}\n");
    assert_null(config_load(path, CONFIG_ROLE_RELAY, &errors));
    assert_non_null(errors);
    assert_null(strchr(errors, '\n'));
    char want[400];
    snprintf(want, sizeof(want), "%s: invalid JSON at line 3, column 16: string or '}' expected",
             path);
    assert_string_equal(errors, want);
    free(errors);

    snprintf(path, sizeof(path), "%s/array.json", tmpdir);
    write_file(path, "[1]");
    assert_null(config_load(path, CONFIG_ROLE_RELAY, &errors));
    snprintf(want, sizeof(want), "%s: the top level must be a JSON object", path);
    assert_string_equal(errors, want);
    free(errors);

    snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
    assert_null(config_load(path, CONFIG_ROLE_RELAY, &errors));
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
    assert_string_equal(errors, want);
    free(errors);

    snprintf(path, sizeof(path), "%s/good.json", tmpdir);
    char *j = J(minimal);
    write_file(path, j);
    free(j);
    struct config *cfg = config_load(path, CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_null(errors);
    assert_string_equal(cfg->path, path);
    config_free(cfg);
}

static void test_default_path(void **state)
{
    unsetenv("RELAY_CONFIG");
    assert_string_equal(config_default_path(NULL), "./relay.json");
    assert_string_equal(config_default_path("/x.json"), "/x.json");
    setenv("RELAY_CONFIG", "/etc/relay.json", 1);
    assert_string_equal(config_default_path(NULL), "/etc/relay.json");
    assert_string_equal(config_default_path("/x.json"), "/x.json");
    unsetenv("RELAY_CONFIG");
}

static void test_order_follows_file(void **state)
{
    char *errors = NULL;
    struct config *cfg =
        parse("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {"
              "'zeta': {'kind': 'movida', 'signature': {'secrets': ['x']}, 'api': {'base_url': "
              "'http://c'}},"
              "'alpha': {'kind': 'movida', 'signature': {'secrets': ['x']}, 'api': {'base_url': "
              "'http://c'}},"
              "'mid': {'kind': 'movida', 'signature': {'secrets': ['x']}, 'api': {'base_url': "
              "'http://c'}}},"
              " 'targets': {'z': {'format': 'canonical', 'url': 'http://p'},"
              "             'a': {'format': 'canonical', 'url': 'http://p'}}}",
              CONFIG_ROLE_WORKER, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_string_equal(cfg->sources[0].name, "zeta");
    assert_string_equal(cfg->sources[1].name, "alpha");
    assert_string_equal(cfg->sources[2].name, "mid");
    assert_string_equal(cfg->targets[0].name, "z");
    assert_string_equal(cfg->targets[1].name, "a");
    config_free(cfg);
}

static void test_admin_listen(void **state)
{
    char *errors = NULL;
    struct config *cfg = parse("{" BASE "}", CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_null(cfg->admin_listen_host); /* absent: everything shares listen */
    config_free(cfg);

    cfg = parse("{" BASE ", 'admin': {'listen': '127.0.0.1:9090'}}", CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_string_equal(cfg->admin_listen_host, "127.0.0.1");
    assert_int_equal(cfg->admin_listen_port, 9090);
    assert_null(cfg->admin_token.value);
    config_free(cfg);

    cfg = parse("{" BASE ", 'admin': {'listen': '[::1]:9090', 'token': 't'}}", CONFIG_ROLE_RELAY,
                &errors);
    assert_non_null(cfg);
    assert_string_equal(cfg->admin_listen_host, "::1");
    config_free(cfg);

    expect_error("{" BASE ", 'admin': {'listen': '127.0.0.1'}}", CONFIG_ROLE_RELAY,
                 "admin.listen: missing port (expected host:port)");
    expect_error("{" BASE ", 'admin': {'listen': 9090}}", CONFIG_ROLE_RELAY,
                 "admin.listen: must be a string");
    expect_error("{" BASE ", 'admin': {'listen': 'h:1'}}", CONFIG_ROLE_RELAY,
                 "admin.listen: must differ from listen (omit it to share listen)");
    expect_error("{'listen': '0.0.0.0:8080', 'redis': {'url': 'redis://r'}, " SRC
                 ", 'admin': {'listen': '127.0.0.1:8080'}}",
                 CONFIG_ROLE_RELAY,
                 "admin.listen: must differ from listen (omit it to share listen)");
    expect_error("{'listen': '127.0.0.1:8080', 'redis': {'url': 'redis://r'}, " SRC
                 ", 'admin': {'listen': '[::]:8080'}}",
                 CONFIG_ROLE_RELAY,
                 "admin.listen: must differ from listen (omit it to share listen)");
    cfg = parse("{'listen': '0.0.0.0:8080', 'redis': {'url': 'redis://r'}, " SRC
                ", 'admin': {'listen': '127.0.0.1:9090'}}",
                CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    config_free(cfg);
    expect_error("{" BASE ", 'admin': {'listn': 'h:2'}}", CONFIG_ROLE_RELAY,
                 "admin.listn: unknown key");
}

static void test_redis_url_secret(void **state)
{
    char path[300], json[1024], *errors = NULL;
    struct config *cfg;

    setenv("TEST_REDIS_URL", "redis://:env-pw@10.0.0.9:6380/2", 1);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'env:TEST_REDIS_URL'}, " SRC "}",
                CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_string_equal(cfg->redis_host, "10.0.0.9");
    assert_int_equal(cfg->redis_port, 6380);
    assert_int_equal(cfg->redis_db, 2);
    assert_secret(&cfg->redis_password, "env-pw");
    config_free(cfg);

    snprintf(path, sizeof(path), "%s/redis_url", tmpdir);
    write_file(path, "redis://:file-pw@redis.internal\n");
    snprintf(json, sizeof(json), "{'listen': 'h:1', 'redis': {'url': 'file:%s'}, " SRC "}", path);
    cfg = parse(json, CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_string_equal(cfg->redis_host, "redis.internal");
    assert_int_equal(cfg->redis_port, 6379);
    assert_int_equal(cfg->redis_db, 0);
    assert_secret(&cfg->redis_password, "file-pw");
    config_free(cfg);

    /* A generated password often holds '/', '@', '?' or '#': as written, or percent-encoded. */
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://:a/b@c?d#e@r:7000/4'}, " SRC "}",
                CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_string_equal(cfg->redis_host, "r");
    assert_int_equal(cfg->redis_port, 7000);
    assert_int_equal(cfg->redis_db, 4);
    assert_secret(&cfg->redis_password, "a/b@c?d#e");
    config_free(cfg);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://:a%2Fb%40c@r'}, " SRC "}",
                CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_secret(&cfg->redis_password, "a/b@c");
    config_free(cfg);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://:pw/x@r/'}, " SRC "}",
                CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_secret(&cfg->redis_password, "pw/x");
    assert_string_equal(cfg->redis_host, "r");
    config_free(cfg);

    unsetenv("TEST_REDIS_UNSET");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'env:TEST_REDIS_UNSET'}, " SRC "}",
                 CONFIG_ROLE_RELAY, "redis.url: environment variable TEST_REDIS_UNSET is not set");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://user:pw@r'}, " SRC "}",
                 CONFIG_ROLE_RELAY,
                 "redis.url: a username is not supported; write redis://:password@host (a "
                 "password holding '@' or '/' may be percent-encoded: %40, %2F)");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://:pw@r?db=1'}, " SRC "}",
                 CONFIG_ROLE_RELAY, "redis.url: query and fragment are not supported");
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://:pw@'}, " SRC "}", CONFIG_ROLE_RELAY,
                 "redis.url: missing host");

    /* The password from a resolved URL never shows in an error. */
    setenv("TEST_REDIS_URL", "redis://:s3cr3t/pw@r/notadb", 1);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'env:TEST_REDIS_URL'}, " SRC "}",
                CONFIG_ROLE_RELAY, &errors);
    assert_null(cfg);
    assert_null(strstr(errors, "s3cr3t"));
    assert_string_equal(errors, "redis.url: database must be a non-negative number");
    free(errors);
}

static void test_web_url_by_type(void **state)
{
    char *errors = NULL;
    /* One template: every type has it, the old field keeps it. */
    struct config *cfg =
        parse("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
              "'kind': 'encorastream', 'web_url': 'https://w.test/{type}s/{slug}',"
              " 'signature': {'secrets': ['x']}, 'api': {'base_url': 'http://c'}}}}",
              CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    const struct source *s = &cfg->sources[0];
    assert_string_equal(s->web_url, "https://w.test/{type}s/{slug}");
    for (int i = 0; i < CONTENT_TYPE_COUNT; i++)
        assert_string_equal(s->web_urls[i], "https://w.test/{type}s/{slug}");
    assert_string_equal(config_source_web_url(s, "episode"), "https://w.test/{type}s/{slug}");
    assert_null(config_source_web_url(s, "film"));
    assert_null(config_source_web_url(s, NULL));
    config_free(cfg);

    /* By type: a type without an entry has no url. */
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                "'kind': 'encorastream', 'web_url': {"
                "  'movie': 'https://w.test/movies/{slug}',"
                "  'episode': 'https://w.test/shows/{show_slug}/s{season_number}e{episode_number}'"
                "}, 'signature': {'secrets': ['x']}, 'api': {'base_url': 'http://c'}}}}",
                CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    s = &cfg->sources[0];
    assert_null(s->web_url);
    assert_string_equal(config_source_web_url(s, "movie"), "https://w.test/movies/{slug}");
    assert_null(config_source_web_url(s, "show"));
    assert_null(config_source_web_url(s, "season"));
    assert_string_equal(s->web_urls[CONTENT_EPISODE],
                        "https://w.test/shows/{show_slug}/s{season_number}e{episode_number}");
    assert_int_equal(config_content_type("season"), CONTENT_SEASON);
    assert_int_equal(config_content_type("tv_show"), -1);
    config_free(cfg);

#define WEB(w)                                                                                     \
    "{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {'kind': 'encorastream',"   \
    " 'web_url': " w ", 'signature': {'secrets': ['x']}, 'api': {'base_url': 'http://c'}}}}"
    expect_error(WEB("{'film': 'https://w/{id}'}"), CONFIG_ROLE_RELAY,
                 "sources.s.web_url.film: unknown key");
    expect_error(WEB("{'movie': 'https://w/{show_id}'}"), CONFIG_ROLE_RELAY,
                 "sources.s.web_url.movie: unknown placeholder {show_id} (allowed: {id}, {slug}, "
                 "{type})");
    expect_error(WEB("{'season': 'https://w/{episode_number}'}"), CONFIG_ROLE_RELAY,
                 "sources.s.web_url.season: unknown placeholder {episode_number} (allowed: {id}, "
                 "{slug}, {type}, {show_id}, {show_slug}, {season_number})");
    expect_error(WEB("{'show': 'ftp://w/{id}'}"), CONFIG_ROLE_RELAY,
                 "sources.s.web_url.show: must be an http:// or https:// URL without spaces");
    expect_error(WEB("{'show': 7}"), CONFIG_ROLE_RELAY, "sources.s.web_url.show: must be a string");
    expect_error(WEB("{}"), CONFIG_ROLE_RELAY,
                 "sources.s.web_url: must name at least one of movie, show, season, episode "
                 "(omit it for none)");
    expect_error(WEB("['https://w/{id}']"), CONFIG_ROLE_RELAY,
                 "sources.s.web_url: must be a URL template or an object by content type (movie, "
                 "show, season, episode)");
#undef WEB
}

static void test_source_alert_after(void **state)
{
    char *errors = NULL;
    struct config *cfg = parse("{" BASE "}", CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->sources[0].alert_after_s, 0);
    config_free(cfg);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                "'kind': 'encorastream', 'alert_after_s': 3600, 'signature': {'secrets': ['x']},"
                " 'api': {'base_url': 'http://c'}}}}",
                CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_int_equal(cfg->sources[0].alert_after_s, 3600);
    config_free(cfg);
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {"
                 "'kind': 'encorastream', 'alert_after_s': 0, 'signature': {'secrets': ['x']},"
                 " 'api': {'base_url': 'http://c'}}}}",
                 CONFIG_ROLE_RELAY, "sources.s.alert_after_s: must be between 1 and 2147483647");
}

static void test_feed_targets(void **state)
{
    char *errors = NULL;
    setenv("TEST_FEED_PW", "feed-pw", 1);
    struct config *cfg =
        parse("{" BASE ", 'targets': {"
              " 'tf': {'format': 'titanos', 'delivery': 'feed',"
              "        'feed': {'auth': {'type': 'basic', 'username': 'titanos',"
              "                          'password': 'env:TEST_FEED_PW'},"
              "                 'page_size': 200, 'tombstone_retention_s': 86400, 'alert_after_s': "
              "172800}},"
              " 'gw': {'format': 'gwi_json_1.1', 'url': 'https://p.test/ingest',"
              "        'feed': {'auth': {'type': 'api_key', 'in': 'query', 'name': 'api_key',"
              "                          'value': 'k3y'}}},"
              " 'plain': {'format': 'canonical', 'url': 'https://p.test/c'}}}",
              CONFIG_ROLE_WORKER, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    const struct target *tf = config_target(cfg, "tf"), *gw = config_target(cfg, "gw"),
                        *pl = config_target(cfg, "plain");
    assert_int_equal(tf->delivery, DELIVERY_FEED);
    assert_null(tf->url);
    assert_int_equal(tf->auth.type, AUTH_NONE);
    assert_true(tf->feed.enabled);
    assert_int_equal(tf->feed.auth.type, AUTH_BASIC);
    assert_string_equal(tf->feed.auth.username, "titanos");
    assert_secret(&tf->feed.auth.password, "feed-pw");
    assert_int_equal(tf->feed.page_size, 200);
    assert_int_equal(tf->feed.tombstone_retention_s, 86400);
    assert_int_equal(tf->feed.alert_after_s, 172800);
    /* A push target may serve a feed too; defaults. */
    assert_int_equal(gw->delivery, DELIVERY_PUSH);
    assert_string_equal(gw->url, "https://p.test/ingest");
    assert_true(gw->feed.enabled);
    assert_int_equal(gw->feed.auth.type, AUTH_API_KEY);
    assert_int_equal(gw->feed.auth.in_query, 1);
    assert_secret(&gw->feed.auth.value, "k3y");
    assert_int_equal(gw->feed.page_size, 500);
    assert_int_equal(gw->feed.tombstone_retention_s, 2592000);
    assert_int_equal(gw->feed.alert_after_s, 0);
    assert_int_equal(pl->delivery, DELIVERY_PUSH);
    assert_false(pl->feed.enabled);
    config_free(cfg);

#define FEEDAUTH "'feed': {'auth': {'type': 'bearer', 'token': 't'}}"
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'url': 'http://p', " FEEDAUTH "}}}",
                 CONFIG_ROLE_RELAY, "targets.t.url: not used with delivery feed");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'method': 'PUT', " FEEDAUTH "}}}",
                 CONFIG_ROLE_RELAY, "targets.t.method: not used with delivery feed");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'auth': {'type': 'none'}, " FEEDAUTH "}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.auth: not used with delivery feed (the partner's credentials go in "
                 "feed.auth)");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed'}}}",
                 CONFIG_ROLE_RELAY, "targets.t.feed: missing");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.feed.auth: missing");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', " FEEDAUTH "}}}",
                 CONFIG_ROLE_RELAY, "targets.t.url: missing");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'pull',"
                 " " FEEDAUTH "}}}",
                 CONFIG_ROLE_RELAY, "targets.t.delivery: must be one of push, feed");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'none'}}}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.feed.auth.type: must be one of bearer, basic, api_key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'digest', 'username': 'u', 'password': 'p'}}}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.feed.auth.type: must be one of bearer, basic, api_key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'oauth'}}}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.feed.auth.type: must be one of bearer, basic, api_key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'api_key', 'in': 'query', 'name': 'k'}}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.feed.auth.value: missing");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'bearer', 'token': 't'}, 'page_size': 1001}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.feed.page_size: must be between 1 and 1000");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'bearer', 'token': 't'}, 'page_size': 0}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.feed.page_size: must be between 1 and 2147483647");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'bearer', 'token': 't'}, 'pagesize': 10}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.feed.pagesize: unknown key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': {'auth': {'type': 'bearer', 'token': 't'},"
                 " 'tombstone_retention_s': -5}}}}",
                 CONFIG_ROLE_RELAY,
                 "targets.t.feed.tombstone_retention_s: must be between 1 and 2147483647");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
                 " 'feed': 'yes'}}}",
                 CONFIG_ROLE_RELAY, "targets.t.feed: must be an object");
#undef FEEDAUTH
    /* A feed target alone satisfies relay-worker's "at least one target". */
    cfg = parse("{" BASE ", 'targets': {'t': {'format': 'canonical', 'delivery': 'feed',"
                " 'feed': {'auth': {'type': 'bearer', 'token': 't'}}}}}",
                CONFIG_ROLE_WORKER, &errors);
    assert_non_null(cfg);
    config_free(cfg);
}

static void test_breaker(void **state)
{
    char *errors = NULL;
    struct config *cfg =
        parse("{" BASE ", 'targets': {"
              " 'dflt': {'format': 'canonical', 'url': 'https://p.test/a'},"
              " 'set': {'format': 'canonical', 'url': 'https://p.test/b',"
              "         'breaker': {'failures': 5, 'probe_s': 10}},"
              " 'half': {'format': 'canonical', 'url': 'https://p.test/b',"
              "         'breaker': {'probe_s': 30}},"
              " 'off': {'format': 'canonical', 'url': 'https://p.test/c', 'breaker': null},"
              " 'feed': {'format': 'titanos', 'delivery': 'feed',"
              "          'feed': {'auth': {'type': 'bearer', 'token': 't'}}}}}",
              CONFIG_ROLE_WORKER, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_int_equal(config_target(cfg, "dflt")->breaker_failures, 20);
    assert_int_equal(config_target(cfg, "dflt")->breaker_probe_s, 60);
    assert_int_equal(config_target(cfg, "set")->breaker_failures, 5);
    assert_int_equal(config_target(cfg, "set")->breaker_probe_s, 10);
    assert_int_equal(config_target(cfg, "half")->breaker_failures, 20);
    assert_int_equal(config_target(cfg, "half")->breaker_probe_s, 30);
    assert_int_equal(config_target(cfg, "off")->breaker_failures, 0);
    assert_int_equal(config_target(cfg, "feed")->breaker_failures, 0);
    config_free(cfg);
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'breaker': {'failures': 0}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.breaker.failures: must be between 1 and 2147483647");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'breaker': {'failure': 3}}}}",
                 CONFIG_ROLE_RELAY, "targets.t.breaker.failure: unknown key");
    expect_error("{" BASE ", 'targets': {'t': {'format': 'canonical', 'url': 'http://p',"
                 " 'breaker': 20}}}",
                 CONFIG_ROLE_RELAY, "targets.t.breaker: must be an object");
    expect_error(
        "{" BASE ", 'targets': {'t': {'format': 'titanos', 'delivery': 'feed',"
        " 'breaker': {'failures': 3}, 'feed': {'auth': {'type': 'bearer', 'token': 't'}}}}}",
        CONFIG_ROLE_RELAY, "targets.t.breaker: not used with delivery feed");
}

static void test_warnings(void **state)
{
    char *errors = NULL;
    struct config *cfg = parse("{" BASE "}", CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_null(config_warnings(cfg)[0]);
    config_free(cfg);
    assert_null(config_warnings(NULL)[0]);

    /* hmac-sha256-hex has no timestamp, so tolerance_s plays no part for it. */
    cfg = parse("{" BASE ", 'dedupe_ttl_s': 60}", CONFIG_ROLE_RELAY, &errors);
    assert_non_null(cfg);
    assert_null(config_warnings(cfg)[0]);
    config_free(cfg);

    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'dedupe_ttl_s': 60,"
                " 'sources': {"
                "  'm': {'kind': 'movida', 'signature': {'secrets': ['x']},"
                "        'api': {'base_url': 'http://c'}},"
                "  'st': {'kind': 'encorastream', 'signature': {'scheme': 'stripe',"
                "         'secrets': ['x'], 'tolerance_s': 30}, 'api': {'base_url': 'http://c'}},"
                "  'e': {'kind': 'encorastream', 'signature': {'secrets': ['x']},"
                "        'api': {'base_url': 'http://c'}}}}",
                CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    const char *const *w = config_warnings(cfg);
    assert_non_null(w[0]);
    assert_string_equal(w[0], "dedupe_ttl_s: 60 is shorter than sources.m.signature.tolerance_s "
                              "(300): a captured webhook could be replayed and accepted again "
                              "after its dedupe mark expires");
    assert_null(w[1]);
    config_free(cfg);
}

static void test_redis_url_parse(void **state)
{
    struct redis_url u;
    const char *why = NULL;
    assert_int_equal(redis_url_parse("redis://h", &u, &why), 0);
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_null(u.password.value);
    redis_url_clear(&u);
    assert_int_equal(redis_url_parse("redis://:p%3a%zz@[fe80::1]:1/15", &u, &why), 0);
    assert_string_equal(u.host, "fe80::1");
    assert_int_equal(u.port, 1);
    assert_int_equal(u.db, 15);
    assert_string_equal(u.password.value, "p:%zz"); /* a stray '%' is kept as written */
    redis_url_clear(&u);
    redis_url_clear(&u); /* twice is harmless */

    const struct {
        const char *url, *why;
    } bad[] = {
        {"rediss://h", "rediss:// (TLS) is not supported; use redis://"},
        {"h:6379", "must be redis://[:password@]host[:port][/db]"},
        {"redis://:@h", "empty password"},
        {"redis://:%00@h", "password must not contain a NUL byte"},
        {"redis://", "missing host"},
        {"redis://h:0", "port must be a number between 1 and 65535"},
        {"redis://h/-1", "database must be a non-negative number"},
        {"redis://h#x", "query and fragment are not supported"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        assert_int_equal(redis_url_parse(bad[i].url, &u, &why), -1);
        assert_null(u.host);
        assert_null(u.password.value);
        assert_non_null(why);
        if (strcmp(why, bad[i].why) != 0)
            fail_msg("%s: got \"%s\"", bad[i].url, why);
    }
}

static void test_addr_parse(void **state)
{
    char *host = NULL;
    int port = 0;
    const char *why = NULL;
    assert_int_equal(addr_parse("0.0.0.0:80", 10, 0, &host, &port, &why), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 80);
    free(host);
    /* n bounds what is read: the rest of the string is not looked at. */
    assert_int_equal(addr_parse("example.org/x", 11, 443, &host, &port, &why), 0);
    assert_string_equal(host, "example.org");
    assert_int_equal(port, 443);
    free(host);
    assert_int_equal(addr_parse("[::1", 4, 0, &host, &port, &why), -1);
    assert_string_equal(why, "unterminated '[' in IPv6 address");
    assert_int_equal(addr_parse("[::1]x", 6, 0, &host, &port, &why), -1);
    assert_string_equal(why, "expected ':' after ']'");
    assert_int_equal(addr_parse("h@x:1", 5, 0, &host, &port, &why), -1);
    assert_string_equal(why, "invalid character in host");
    assert_int_equal(addr_parse("h:", 2, 0, &host, &port, &why), -1);
    assert_string_equal(why, "missing port");
}

/* redis.sentinel, redis.min_replicas, redis.replica_timeout_ms. */
static void test_redis_ha(void **state)
{
    char *errors = NULL;
    struct config *cfg = parse(minimal, CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_int_equal(cfg->n_sentinels, 0);
    assert_null(cfg->sentinel_master);
    assert_null(cfg->sentinel_password.value);
    assert_int_equal(cfg->redis_min_replicas, 0);
    assert_int_equal(cfg->redis_replica_timeout_ms, 500);
    config_free(cfg);

    setenv("TEST_SENTINEL_PASSWORD", "sentinel-pw", 1);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://:pw@r/1', 'min_replicas': 1,"
                " 'replica_timeout_ms': 250, 'sentinel': {'addresses': ['10.0.0.5:26379',"
                " '[::1]:26380', 'sentinel.internal'], 'master': 'relay',"
                " 'password': 'env:TEST_SENTINEL_PASSWORD'}}, " SRC "}",
                CONFIG_ROLE_WORKER, &errors);
    assert_null(cfg); /* the worker needs a target */
    free(errors);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://:pw@r/1', 'min_replicas': 1,"
                " 'replica_timeout_ms': 250, 'sentinel': {'addresses': ['10.0.0.5:26379',"
                " '[::1]:26380', 'sentinel.internal'], 'master': 'relay',"
                " 'password': 'env:TEST_SENTINEL_PASSWORD'}}, " SRC "}",
                CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_int_equal(cfg->n_sentinels, 3);
    assert_string_equal(cfg->sentinels[0].host, "10.0.0.5");
    assert_int_equal(cfg->sentinels[0].port, 26379);
    assert_string_equal(cfg->sentinels[1].host, "::1");
    assert_int_equal(cfg->sentinels[1].port, 26380);
    assert_string_equal(cfg->sentinels[2].host, "sentinel.internal");
    assert_int_equal(cfg->sentinels[2].port, 26379); /* the sentinel default port */
    assert_string_equal(cfg->sentinel_master, "relay");
    assert_secret(&cfg->sentinel_password, "sentinel-pw");
    assert_secret(&cfg->redis_password, "pw");
    assert_int_equal(cfg->redis_db, 1);
    assert_int_equal(cfg->redis_min_replicas, 1);
    assert_int_equal(cfg->redis_replica_timeout_ms, 250);
    config_free(cfg);

#define R(x) "{'listen': 'h:1', 'redis': {'url': 'redis://r', " x "}, " SRC "}"
    expect_error(R("'sentinel': {'master': 'm'}"), CONFIG_ROLE_RELAY,
                 "redis.sentinel.addresses: missing");
    expect_error(R("'sentinel': {'addresses': [], 'master': 'm'}"), CONFIG_ROLE_RELAY,
                 "redis.sentinel.addresses: must be a non-empty array of \"host:port\"");
    expect_error(R("'sentinel': {'addresses': ['a:1', 7], 'master': 'm'}"), CONFIG_ROLE_RELAY,
                 "redis.sentinel.addresses[1]: must be a string \"host:port\"");
    expect_error(R("'sentinel': {'addresses': ['a:99999'], 'master': 'm'}"), CONFIG_ROLE_RELAY,
                 "redis.sentinel.addresses[0]: port must be a number between 1 and 65535");
    expect_error(R("'sentinel': {'addresses': ['a:1']}"), CONFIG_ROLE_RELAY,
                 "redis.sentinel.master: missing");
    expect_error(R("'sentinel': {'addresses': ['a:1'], 'master': 'm', 'pasword': 'x'}"),
                 CONFIG_ROLE_RELAY, "redis.sentinel.pasword: unknown key");
    expect_error(R("'sentinel': {'addresses': ['a:1'], 'master': 'm', 'password': 'env:NOPE_X'}"),
                 CONFIG_ROLE_RELAY,
                 "redis.sentinel.password: environment variable NOPE_X is not set");
    expect_error(R("'min_replicas': -1"), CONFIG_ROLE_RELAY,
                 "redis.min_replicas: must be between 0 and 2147483647");
    expect_error(R("'replica_timeout_ms': 0"), CONFIG_ROLE_RELAY,
                 "redis.replica_timeout_ms: must be between 1 and 2147483647");
    expect_error(R("'replica_timeout_ms': 5000"), CONFIG_ROLE_RELAY,
                 "redis.replica_timeout_ms: must be between 1 and 1500");
#undef R
}

/* sources.*.api.max_in_flight / rate_per_s: loaded with their defaults, checked, no warning. */
static void test_api_limits(void **state)
{
    char *errors = NULL;
    struct config *cfg =
        parse("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': "
              "{'kind': 'encorastream', 'signature': {'secrets': ['x']}, 'api': "
              "{'base_url': 'http://c.test', 'max_in_flight': 4, 'rate_per_s': 2.5}}}}",
              CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_int_equal(cfg->sources[0].api_max_in_flight, 4);
    assert_true(cfg->sources[0].api_rate_per_s == 2.5);
    assert_null(config_warnings(cfg)[0]);
    config_free(cfg);
    cfg = parse("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': "
                "{'kind': 'encorastream', 'signature': {'secrets': ['x']}, 'api': "
                "{'base_url': 'http://c.test'}}}}",
                CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_int_equal(cfg->sources[0].api_max_in_flight, 8);
    assert_true(cfg->sources[0].api_rate_per_s == 0);
    config_free(cfg);
    expect_error("{'listen': 'h:1', 'redis': {'url': 'redis://r'}, 'sources': {'s': {'kind': "
                 "'encorastream', 'signature': {'secrets': ['x']}, 'api': {'base_url': "
                 "'http://c.test', 'rate_per_s': -1}}}}",
                 CONFIG_ROLE_RELAY,
                 "sources.s.api.rate_per_s: must be a number between 0 (no limit) and 1000000");
}

static void test_alerts(void **state)
{
    char *errors = NULL;
    setenv("TEST_CFG_ALERT_URL", "https://hooks.slack.test/services/T0/B0/tok", 1);
    struct config *cfg =
        parse("{" BASE ", 'alerts': ["
              " {'url': 'env:TEST_CFG_ALERT_URL', 'format': 'slack', 'min_interval_s': 60,"
              "  'queue_oldest_s': 120},"
              " {'url': 'http://a.test/hook'}]}",
              CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_int_equal(cfg->n_alerts, 2);
    assert_secret(&cfg->alerts[0].url, "https://hooks.slack.test/services/T0/B0/tok");
    assert_int_equal(cfg->alerts[0].format, ALERT_FORMAT_SLACK);
    assert_int_equal(cfg->alerts[0].min_interval_s, 60);
    assert_int_equal(cfg->alerts[0].queue_oldest_s, 120);
    assert_secret(&cfg->alerts[1].url, "http://a.test/hook");
    assert_int_equal(cfg->alerts[1].format, ALERT_FORMAT_JSON);
    assert_int_equal(cfg->alerts[1].min_interval_s, 300);
    assert_int_equal(cfg->alerts[1].queue_oldest_s, 600);
    config_free(cfg);

    cfg = parse("{" BASE "}", CONFIG_ROLE_RELAY, &errors);
    if (!cfg)
        fail_msg("unexpected errors: %s", errors);
    assert_int_equal(cfg->n_alerts, 0);
    config_free(cfg);

    expect_error("{" BASE ", 'alerts': [{'url': 'http://a.test', 'format': 'teams'}]}",
                 CONFIG_ROLE_RELAY, "alerts[0].format: must be slack or json");
    expect_error("{" BASE ", 'alerts': [{'format': 'json'}]}", CONFIG_ROLE_RELAY,
                 "alerts[0].url: missing");
    expect_error("{" BASE ", 'alerts': [{'url': 'http://a.test'}, {'url': 'ftp://x.test/tok'}]}",
                 CONFIG_ROLE_RELAY, "alerts[1].url: must be an http or https URL");
    expect_error("{" BASE ", 'alerts': [{'url': 'http://a.test', 'min_interval_s': 0}]}",
                 CONFIG_ROLE_RELAY, "alerts[0].min_interval_s: must be between 1 and 2147483647");
    expect_error("{" BASE ", 'alerts': [{'url': 'http://a.test', 'queue_oldest': 5}]}",
                 CONFIG_ROLE_RELAY, "alerts[0].queue_oldest: unknown key");
    expect_error("{" BASE ", 'alerts': {'url': 'http://a.test'}}", CONFIG_ROLE_RELAY,
                 "alerts: must be an array");
    expect_error("{" BASE ", 'alerts': ['http://a.test']}", CONFIG_ROLE_RELAY,
                 "alerts[0]: must be an object");

    /* The URL may hold a token: no error line may echo it. */
    struct config *bad =
        parse("{" BASE ", 'alerts': [{'url': 'ftp://h/SECRETTOKEN'}]}", CONFIG_ROLE_RELAY, &errors);
    assert_null(bad);
    assert_non_null(errors);
    assert_null(strstr(errors, "SECRETTOKEN"));
    free(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_and_env_secrets),
        cmocka_unit_test(test_errors_name_paths),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_secret_errors_hide_values),
        cmocka_unit_test(test_multiple_errors),
        cmocka_unit_test(test_worker_needs_target),
        cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_order_follows_file),
        cmocka_unit_test(test_admin_listen),
        cmocka_unit_test(test_redis_url_secret),
        cmocka_unit_test(test_web_url_by_type),
        cmocka_unit_test(test_source_alert_after),
        cmocka_unit_test(test_feed_targets),
        cmocka_unit_test(test_breaker),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_redis_url_parse),
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_redis_ha),
        cmocka_unit_test(test_alerts),
        cmocka_unit_test(test_api_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
