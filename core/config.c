#include "core/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "core/addr.h"
#include "core/jconf.h"
#include "core/redis_url.h"

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

/* The start every sources.* and targets.* entry shares: its path into p (JCONF_PATH_MAX), its
 * name copied, checked, an object with only known keys and its required key. Returns 0 when
 * the entry's fields can be read, -1 when it is not an object. */
static int entry_begin(struct jconf *c, const char *section, const char *name, const json_t *v,
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

/* ---- sources ---- */

static const char *const kind_names[] = {"encorastream", "movida", NULL};
static const char *const scheme_names[] = {"hmac-sha256-hex", "stripe", "standard-webhooks", NULL};

static void parse_signature(struct jconf *c, const json_t *src, const char *path, struct source *s)
{
    static const char *const keys[] = {"scheme", "header", "secrets", "tolerance_s", NULL};
    char p[JCONF_PATH_MAX], sp[JCONF_PATH_MAX];
    const json_t *sig = jconf_object(c, src, path, "signature", 1);
    if (!sig)
        return;
    jconf_path(p, sizeof(p), path, "signature");
    jconf_keys(c, sig, p, keys);

    int sch = jconf_enum(c, sig, p, "scheme", scheme_names, (int)s->scheme);
    if (sch >= 0)
        s->scheme = (enum sig_scheme)sch;

    const char *hdr = jconf_str(c, sig, p, "header", 0);
    jconf_path(sp, sizeof(sp), p, "header");
    if (hdr && sch >= 0 && s->scheme != SIG_HMAC_SHA256_HEX)
        jconf_err(c, sp, "only used with scheme hmac-sha256-hex");
    else if (hdr && !jconf_is_header_name(hdr))
        jconf_err(c, sp, "is not a valid header name");
    /* stripe and standard-webhooks fix their header names; recorded for messages only. */
    const char *h = hdr                                  ? hdr
                    : s->scheme == SIG_STRIPE            ? "Stripe-Signature"
                    : s->scheme == SIG_STANDARD_WEBHOOKS ? "webhook-signature"
                                                         : "X-Encora-Signature-256";
    s->sig_header = jconf_strdup(c, h);

    jconf_int(c, sig, p, "tolerance_s", 1, &s->tolerance_s);

    const json_t *arr = json_object_get(sig, "secrets");
    jconf_path(sp, sizeof(sp), p, "secrets");
    if (!arr) {
        jconf_err(c, sp, "missing");
        return;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        jconf_err(c, sp, "must be a non-empty array of secrets");
        return;
    }
    s->secrets = calloc(json_array_size(arr), sizeof(*s->secrets));
    if (!s->secrets) {
        jconf_err(c, sp, "out of memory");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char ip[JCONF_PATH_MAX];
        jconf_path_index(ip, sizeof(ip), sp, i);
        if (secret_resolve(c, ip, v, &s->secrets[s->n_secrets]) == 0)
            s->n_secrets++;
    }
}

static void parse_api(struct jconf *c, const json_t *src, const char *path, struct source *s)
{
    static const char *const keys[] = {"base_url",      "auth",       "timeout_ms",
                                       "max_in_flight", "rate_per_s", NULL};
    char p[JCONF_PATH_MAX];
    const json_t *api = jconf_object(c, src, path, "api", 1);
    if (!api)
        return;
    jconf_path(p, sizeof(p), path, "api");
    jconf_keys(c, api, p, keys);
    jconf_url(c, api, p, "base_url", 1, NULL, &s->api_base_url);
    if (s->api_base_url) {
        /* Fetch URLs are built as base_url + "/admin/..."; and a movida self_link is checked
         * to lie under base_url, which a query or fragment would make meaningless. */
        if (strpbrk(s->api_base_url, "?#{}")) {
            jconf_err_at(c, p, "base_url", "must not hold a query, fragment or placeholder");
        }
        size_t n = strlen(s->api_base_url);
        while (n > 0 && s->api_base_url[n - 1] == '/')
            s->api_base_url[--n] = '\0';
    }
    auth_parse(c, api, p, "auth", 0, AUTH_ANY, &s->api_auth);
    jconf_int(c, api, p, "timeout_ms", 1, &s->api_timeout_ms);
    /* Bounds on the CMS requests of all workers together (queue/srclimit). */
    s->api_max_in_flight = 8;
    jconf_int(c, api, p, "max_in_flight", 1, &s->api_max_in_flight);
    char rp[JCONF_PATH_MAX];
    const json_t *r = jconf_get(c, api, p, "rate_per_s", 0, rp);
    if (r && (!json_is_number(r) || json_number_value(r) < 0 || json_number_value(r) > 1e6))
        jconf_err(c, rp, "must be a number between 0 (no limit) and 1000000");
    else if (r)
        s->api_rate_per_s = json_number_value(r);
}

static const char *const ctype_names[] = {"movie", "show", "season", "episode", NULL};

/* sources.*.web_url: one template for every type, or an object by content type. The
 * per-type form only admits the placeholders a title of that type can fill, so a {show_id}
 * in a movie template is caught at load time rather than rendered empty. */
static void parse_web_url(struct jconf *c, const json_t *src, const char *path, struct source *s)
{
    static const char *const all_ph[] = {"id",        "slug",          "type",           "show_id",
                                         "show_slug", "season_number", "episode_number", NULL};
    static const char *const movie_ph[] = {"id", "slug", "type", NULL};
    static const char *const show_ph[] = {"id", "slug", "type", "show_id", "show_slug", NULL};
    static const char *const season_ph[] = {"id",        "slug",          "type", "show_id",
                                            "show_slug", "season_number", NULL};
    static const char *const *const type_ph[CONTENT_TYPE_COUNT] = {movie_ph, show_ph, season_ph,
                                                                   all_ph};
    char p[JCONF_PATH_MAX];
    const json_t *v = json_object_get(src, "web_url");
    if (!v)
        return;
    jconf_path(p, sizeof(p), path, "web_url");
    if (json_is_string(v)) {
        jconf_url(c, src, path, "web_url", 0, all_ph, &s->web_url);
        for (int i = 0; s->web_url && i < CONTENT_TYPE_COUNT; i++)
            s->web_urls[i] = jconf_strdup(c, s->web_url);
        return;
    }
    if (!json_is_object(v)) {
        jconf_err(c, p,
                  "must be a URL template or an object by content type "
                  "(movie, show, season, episode)");
        return;
    }
    if (json_object_size(v) == 0) {
        jconf_err(c, p,
                  "must name at least one of movie, show, season, episode (omit it for none)");
        return;
    }
    jconf_keys(c, v, p, ctype_names);
    for (int i = 0; i < CONTENT_TYPE_COUNT; i++)
        jconf_url(c, v, p, ctype_names[i], 0, type_ph[i], &s->web_urls[i]);
}

/* sources.*.sync (catalog sync, handlers/sync_run.c). */
static void parse_sync(struct jconf *c, const json_t *src, const char *path, struct source *s)
{
    static const char *const keys[] = {"every_s", "remove_missing", "max_remove_fraction", NULL};
    char p[JCONF_PATH_MAX], kp[JCONF_PATH_MAX];
    const json_t *sy = jconf_object(c, src, path, "sync", 0);
    if (!sy)
        return;
    jconf_path(p, sizeof(p), path, "sync");
    jconf_keys(c, sy, p, keys);
    jconf_int(c, sy, p, "every_s", 0, &s->sync.every_s);
    const json_t *rm = json_object_get(sy, "remove_missing");
    jconf_path(kp, sizeof(kp), p, "remove_missing");
    if (rm && !json_is_boolean(rm))
        jconf_err(c, kp, "must be true or false");
    else if (rm)
        s->sync.remove_missing = json_is_true(rm);
    const json_t *fr = json_object_get(sy, "max_remove_fraction");
    jconf_path(kp, sizeof(kp), p, "max_remove_fraction");
    if (fr && (!json_is_number(fr) || json_number_value(fr) < 0 || json_number_value(fr) > 1))
        jconf_err(c, kp, "must be a number between 0 and 1");
    else if (fr)
        s->sync.max_remove_fraction = json_number_value(fr);
}

static void parse_source(struct jconf *c, const char *name, const json_t *src, struct source *s)
{
    static const char *const keys[] = {"kind", "web_url",       "signature", "api",
                                       "sync", "alert_after_s", NULL};
    char p[JCONF_PATH_MAX];
    s->tolerance_s = 300;
    s->api_timeout_ms = 10000;
    s->sync.remove_missing = 1;
    s->sync.max_remove_fraction = 0.2;
    if (entry_begin(c, "sources", name, src, keys, "kind", p, &s->name) != 0)
        return;
    int k = jconf_enum(c, src, p, "kind", kind_names, SOURCE_ENCORASTREAM);
    if (k >= 0)
        s->kind = (enum source_kind)k;
    /* Each CMS signs its webhooks one way; the default follows the kind. */
    s->scheme = s->kind == SOURCE_MOVIDA ? SIG_STANDARD_WEBHOOKS : SIG_HMAC_SHA256_HEX;
    parse_web_url(c, src, p, s);
    jconf_int(c, src, p, "alert_after_s", 1, &s->alert_after_s);
    parse_signature(c, src, p, s);
    parse_api(c, src, p, s);
    parse_sync(c, src, p, s);
}

static void source_clear(struct source *s)
{
    free(s->name);
    free(s->web_url);
    for (int i = 0; i < CONTENT_TYPE_COUNT; i++)
        free(s->web_urls[i]);
    free(s->sig_header);
    for (size_t i = 0; i < s->n_secrets; i++)
        secret_clear(&s->secrets[i]);
    free(s->secrets);
    free(s->api_base_url);
    auth_clear(&s->api_auth);
}

/* ---- targets ---- */

static const char *const format_names[] = {"canonical", "gwi_json_1.1", "titanos", NULL};
static const char *const unpublish_names[] = {"tombstone", "delete", NULL};
static const char *const method_names[] = {"POST", "PUT", "PATCH", NULL};
/* Reads an optional non-empty array of strings; check(i, s) validates each. */
static int get_str_array(struct jconf *c, const json_t *obj, const char *path, const char *key,
                         char ***out, size_t *n_out, const struct config *cfg, int is_sources)
{
    char p[JCONF_PATH_MAX];
    const json_t *arr = json_object_get(obj, key);
    if (!arr)
        return 0;
    jconf_path(p, sizeof(p), path, key);
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        jconf_err(c, p, "must be a non-empty array of strings (omit it to take all)");
        return -1;
    }
    *out = calloc(json_array_size(arr), sizeof(char *));
    if (!*out) {
        jconf_err(c, p, "out of memory");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char ip[JCONF_PATH_MAX];
        jconf_path_index(ip, sizeof(ip), p, i);
        if (!json_is_string(v)) {
            jconf_err(c, ip, "must be a string");
            continue;
        }
        const char *s = json_string_value(v);
        if (is_sources) {
            if (!config_source(cfg, s)) {
                jconf_err(c, ip, "names no configured source");
                continue;
            }
        } else {
            int ok = 0;
            for (int k = 0; ctype_names[k]; k++)
                if (strcmp(ctype_names[k], s) == 0)
                    ok = 1;
            if (!ok) {
                jconf_err(c, ip, "must be one of movie, show, season, episode");
                continue;
            }
        }
        (*out)[*n_out] = jconf_strdup(c, s);
        if ((*out)[*n_out])
            (*n_out)++;
    }
    return 0;
}

static void parse_catalog(struct jconf *c, const json_t *tj, const char *path, struct target *t)
{
    static const char *const keys[] = {"provider", "name", "locale", NULL};
    char p[JCONF_PATH_MAX];
    const json_t *cat = jconf_object(c, tj, path, "catalog", 0);
    jconf_path(p, sizeof(p), path, "catalog");
    if (json_object_get(tj, "catalog") && t->format != FORMAT_GWI_JSON_1_1) {
        jconf_err(c, p, "only used with format gwi_json_1.1");
        return;
    }
    const char *prov = NULL, *name = NULL, *loc = NULL;
    if (cat) {
        jconf_keys(c, cat, p, keys);
        prov = jconf_str(c, cat, p, "provider", 0);
        name = jconf_str(c, cat, p, "name", 0);
        loc = jconf_str(c, cat, p, "locale", 0);
        /* GoWatchIt wants ll_CC (e.g. en_US). */
        if (loc && !(strlen(loc) == 5 && loc[0] >= 'a' && loc[0] <= 'z' && loc[1] >= 'a' &&
                     loc[1] <= 'z' && loc[2] == '_' && loc[3] >= 'A' && loc[3] <= 'Z' &&
                     loc[4] >= 'A' && loc[4] <= 'Z')) {
            jconf_err_at(c, p, "locale", "must look like en_US");
            loc = NULL;
        }
    }
    if (t->format != FORMAT_GWI_JSON_1_1)
        return;
    t->catalog_provider = jconf_strdup(c, prov ? prov : t->name ? t->name : "");
    t->catalog_name = jconf_strdup(c, name ? name : t->name ? t->name : "");
    t->catalog_locale = jconf_strdup(c, loc ? loc : "en_US");
}

static const char *const delivery_names[] = {"push", "feed", NULL};

static void parse_feed(struct jconf *c, const json_t *tj, const char *path, struct target *t)
{
    static const char *const keys[] = {"auth", "page_size", "tombstone_retention_s",
                                       "alert_after_s", NULL};
    char p[JCONF_PATH_MAX];
    struct feed *f = &t->feed;
    const json_t *fj = jconf_object(c, tj, path, "feed", t->delivery == DELIVERY_FEED);
    if (!fj)
        return;
    jconf_path(p, sizeof(p), path, "feed");
    jconf_keys(c, fj, p, keys);
    f->enabled = 1;
    f->page_size = 500;
    f->tombstone_retention_s = 2592000;
    auth_parse(c, fj, p, "auth", 1, AUTH_FEED, &f->auth);
    jconf_int(c, fj, p, "page_size", 1, &f->page_size);
    if (f->page_size > 1000) {
        jconf_err_at(c, p, "page_size", "must be between 1 and 1000");
    }
    jconf_int(c, fj, p, "tombstone_retention_s", 1, &f->tombstone_retention_s);
    jconf_int(c, fj, p, "alert_after_s", 1, &f->alert_after_s);
}

/* A feed target is never pushed to: a push setting on it means the operator expects pushes
 * that would silently not happen. */
static void reject_push_keys(struct jconf *c, const json_t *tj, const char *path)
{
    static const char *const push_only[] = {"url",     "method", "auth", "signing_secret",
                                            "breaker", NULL};
    for (const char *const *k = push_only; *k; k++) {
        if (!json_object_get(tj, *k))
            continue;
        jconf_err_at(c, path, *k, "not used with delivery feed%s",
                     strcmp(*k, "auth") == 0 ? " (the partner's credentials go in feed.auth)" : "");
    }
}

/* targets.*.breaker: on by default for push targets, "breaker": null turns it off. */
static void parse_breaker(struct jconf *c, const json_t *tj, const char *path, struct target *t)
{
    static const char *const keys[] = {"failures", "probe_s", NULL};
    char p[JCONF_PATH_MAX];
    const json_t *b = json_object_get(tj, "breaker");
    t->breaker_failures = 20;
    t->breaker_probe_s = 60;
    if (b == NULL)
        return;
    if (json_is_null(b)) {
        t->breaker_failures = 0;
        return;
    }
    if (jconf_object(c, tj, path, "breaker", 0) == NULL)
        return;
    jconf_path(p, sizeof(p), path, "breaker");
    jconf_keys(c, b, p, keys);
    jconf_int(c, b, p, "failures", 1, &t->breaker_failures);
    jconf_int(c, b, p, "probe_s", 1, &t->breaker_probe_s);
}

static void parse_target(struct jconf *c, const struct config *cfg, const char *name,
                         const json_t *tj, struct target *t)
{
    /* timeout_ms bounds one push (connect + transfer), default 10000, like
     * sources.*.api.timeout_ms (documented in the README). */
    static const char *const keys[] = {
        "format",     "delivery",       "url",           "method",
        "unpublish",  "auth",           "sources",       "content_types",
        "catalog",    "signing_secret", "max_in_flight", "rate_per_s",
        "timeout_ms", "feed",           "breaker",       NULL};
    static const char *const url_ph[] = {"id", "type", "source", NULL};
    char p[JCONF_PATH_MAX];
    t->max_in_flight = 8;
    t->timeout_ms = 10000;
    if (entry_begin(c, "targets", name, tj, keys, "format", p, &t->name) != 0)
        return;
    int f = jconf_enum(c, tj, p, "format", format_names, FORMAT_CANONICAL);
    if (f >= 0)
        t->format = (enum target_format)f;
    int d = jconf_enum(c, tj, p, "delivery", delivery_names, DELIVERY_PUSH);
    if (d >= 0)
        t->delivery = (enum delivery_mode)d;
    if (t->delivery == DELIVERY_FEED) {
        reject_push_keys(c, tj, p);
        t->method = jconf_strdup(c, method_names[0]);
    } else if (d >= 0) {
        jconf_url(c, tj, p, "url", 1, url_ph, &t->url);
        int m = jconf_enum(c, tj, p, "method", method_names, 0);
        t->method = jconf_strdup(c, method_names[m >= 0 ? m : 0]);
        auth_parse(c, tj, p, "auth", 0, AUTH_ANY, &t->auth);
        secret_get(c, tj, p, "signing_secret", 0, &t->signing_secret);
        parse_breaker(c, tj, p, t);
    }
    int u = jconf_enum(c, tj, p, "unpublish", unpublish_names, UNPUBLISH_TOMBSTONE);
    if (u >= 0)
        t->unpublish = (enum unpublish_mode)u;
    get_str_array(c, tj, p, "sources", &t->sources, &t->n_sources, cfg, 1);
    get_str_array(c, tj, p, "content_types", &t->content_types, &t->n_content_types, cfg, 0);
    if (f >= 0)
        parse_catalog(c, tj, p, t);
    jconf_int(c, tj, p, "max_in_flight", 1, &t->max_in_flight);
    jconf_int(c, tj, p, "timeout_ms", 1, &t->timeout_ms);
    char rp[JCONF_PATH_MAX];
    const json_t *r = jconf_get(c, tj, p, "rate_per_s", 0, rp);
    if (r) {
        if (!json_is_number(r) || json_number_value(r) < 0 || json_number_value(r) > 1e6)
            jconf_err(c, rp, "must be a number between 0 (no limit) and 1000000");
        else
            t->rate_per_s = json_number_value(r);
    }
    if (d >= 0)
        parse_feed(c, tj, p, t);
}

static void target_clear(struct target *t)
{
    free(t->name);
    free(t->url);
    free(t->method);
    auth_clear(&t->auth);
    secret_clear(&t->signing_secret);
    for (size_t i = 0; i < t->n_sources; i++)
        free(t->sources[i]);
    free(t->sources);
    for (size_t i = 0; i < t->n_content_types; i++)
        free(t->content_types[i]);
    free(t->content_types);
    free(t->catalog_provider);
    free(t->catalog_name);
    free(t->catalog_locale);
    auth_clear(&t->feed.auth);
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

/* redis.sentinel, redis.min_replicas, redis.replica_timeout_ms (high availability). */
static void parse_redis_ha(struct jconf *c, const json_t *o, struct config *cfg)
{
    static const char *const sentinel_keys[] = {"addresses", "master", "password", NULL};
    const json_t *so = jconf_object(c, o, "redis", "sentinel", 0);
    if (so) {
        jconf_keys(c, so, "redis.sentinel", sentinel_keys);
        const json_t *arr = json_object_get(so, "addresses");
        if (!json_is_array(arr) || json_array_size(arr) == 0) {
            jconf_err(c, "redis.sentinel.addresses",
                      arr ? "must be a non-empty array of \"host:port\"" : "missing");
        } else {
            cfg->sentinels = calloc(json_array_size(arr), sizeof(*cfg->sentinels));
            if (!cfg->sentinels)
                jconf_err(c, "redis.sentinel.addresses", "out of memory");
            size_t i;
            json_t *v;
            json_array_foreach(arr, i, v)
            {
                char ip[JCONF_PATH_MAX];
                const char *why = NULL;
                struct redis_sentinel *sn =
                    cfg->sentinels ? &cfg->sentinels[cfg->n_sentinels] : NULL;
                jconf_path_index(ip, sizeof(ip), "redis.sentinel.addresses", i);
                if (!json_is_string(v))
                    jconf_err(c, ip, "must be a string \"host:port\"");
                else if (sn && addr_parse(json_string_value(v), json_string_length(v), 26379,
                                          &sn->host, &sn->port, &why) != 0)
                    jconf_err(c, ip, "%s", why);
                else if (sn)
                    cfg->n_sentinels++;
            }
        }
        const char *m = jconf_str(c, so, "redis.sentinel", "master", 1);
        if (m)
            cfg->sentinel_master = jconf_strdup(c, m);
        secret_get(c, so, "redis.sentinel", "password", 0, &cfg->sentinel_password);
    }
    jconf_int(c, o, "redis", "min_replicas", 0, &cfg->redis_min_replicas);
    jconf_int(c, o, "redis", "replica_timeout_ms", 1, &cfg->redis_replica_timeout_ms);
    /* The relay's Redis watchdog drops a connection that answers nothing for 2 s; a WAIT
     * must come back well before that. */
    if (cfg->redis_replica_timeout_ms > 1500)
        jconf_err(c, "redis.replica_timeout_ms", "must be between 1 and 1500");
}

/* alerts: an array of {url, format, min_interval_s, queue_oldest_s}. The URL is resolved like
 * any secret and never echoed in an error: a Slack webhook URL carries its token in the path. */
static void parse_alerts(struct jconf *c, const json_t *root, struct config *cfg)
{
    static const char *const keys[] = {"url", "format", "min_interval_s", "queue_oldest_s", NULL};
    const json_t *arr = json_object_get(root, "alerts");
    if (!arr || json_is_null(arr))
        return;
    if (!json_is_array(arr)) {
        jconf_err(c, "alerts", "must be an array");
        return;
    }
    if (json_array_size(arr) == 0)
        return;
    cfg->alerts = calloc(json_array_size(arr), sizeof(*cfg->alerts));
    if (!cfg->alerts) {
        jconf_err(c, "alerts", "out of memory");
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)arr, i, v)
    {
        char p[JCONF_PATH_MAX];
        jconf_path_index(p, sizeof(p), "alerts", i);
        struct alert_sink *a = &cfg->alerts[cfg->n_alerts++];
        a->format = ALERT_FORMAT_JSON;
        a->min_interval_s = 300;
        a->queue_oldest_s = 600;
        if (!json_is_object(v)) {
            jconf_err(c, p, "must be an object");
            continue;
        }
        jconf_keys(c, v, p, keys);
        secret_get(c, v, p, "url", 1, &a->url);
        if (a->url.value && strncasecmp(a->url.value, "http://", 7) != 0 &&
            strncasecmp(a->url.value, "https://", 8) != 0)
            jconf_err_at(c, p, "url", "must be an http or https URL");
        else if (a->url.value && (strlen(a->url.value) <= 8 || strchr(a->url.value, ' ')))
            jconf_err_at(c, p, "url", "must be an http or https URL");
        const json_t *f = json_object_get(v, "format");
        if (f && !json_is_null(f)) {
            const char *s = json_is_string(f) ? json_string_value(f) : NULL;
            if (s && strcmp(s, "slack") == 0)
                a->format = ALERT_FORMAT_SLACK;
            else if (!s || strcmp(s, "json") != 0)
                jconf_err_at(c, p, "format", "must be slack or json");
        }
        jconf_int(c, v, p, "min_interval_s", 1, &a->min_interval_s);
        jconf_int(c, v, p, "queue_oldest_s", 1, &a->queue_oldest_s);
    }
}

static void parse_root(struct jconf *c, const json_t *root, struct config *cfg,
                       enum config_role role)
{
    static const char *const keys[] = {"listen",      "tls",    "redis",  "limits",  "dedupe_ttl_s",
                                       "retention_s", "admin",  "log",    "sources", "targets",
                                       "retry",       "worker", "alerts", NULL};
    static const char *const redis_keys[] = {
        "url", "prefix", "sentinel", "min_replicas", "replica_timeout_ms", NULL};
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

    o = jconf_object(c, root, "", "redis", 1);
    if (o) {
        jconf_keys(c, o, "redis", redis_keys);
        /* A secret-valued string: the URL may carry the Redis password. */
        struct secret url = {0};
        secret_get(c, o, "redis", "url", 1, &url);
        struct redis_url ru;
        const char *why = NULL;
        if (url.value && redis_url_parse(url.value, &ru, &why) != 0) {
            jconf_err(c, "redis.url", "%s", why);
        } else if (url.value) {
            cfg->redis_host = ru.host;
            cfg->redis_port = ru.port;
            cfg->redis_db = ru.db;
            cfg->redis_password = ru.password;
        }
        secret_clear(&url);
        s = jconf_str(c, o, "redis", "prefix", 0);
        if (s) {
            free(cfg->redis_prefix);
            cfg->redis_prefix = jconf_strdup(c, s);
        }
        parse_redis_ha(c, o, cfg);
    }

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

    parse_alerts(c, root, cfg);

    o = jconf_object(c, root, "", "sources", 1);
    if (o && json_object_size(o) == 0)
        jconf_err(c, "sources", "at least one source is required");
    if (o && json_object_size(o) > 0) {
        cfg->sources = calloc(json_object_size(o), sizeof(*cfg->sources));
        if (!cfg->sources) {
            jconf_err(c, "sources", "out of memory");
            return;
        }
        const char *name;
        json_t *v;
        /* Jansson (>= 2.8) iterates objects in insertion order, i.e. the file's order. */
        json_object_foreach((json_t *)o, name, v)
        {
            parse_source(c, name, v, &cfg->sources[cfg->n_sources++]);
        }
    }

    o = jconf_object(c, root, "", "targets", 0);
    if (o && json_object_size(o) > 0) {
        cfg->targets = calloc(json_object_size(o), sizeof(*cfg->targets));
        if (!cfg->targets) {
            jconf_err(c, "targets", "out of memory");
            return;
        }
        const char *name;
        json_t *v;
        json_object_foreach((json_t *)o, name, v)
        {
            parse_target(c, cfg, name, v, &cfg->targets[cfg->n_targets++]);
        }
    }
    if (role == CONFIG_ROLE_WORKER && cfg->n_targets == 0 &&
        !(json_object_get(root, "targets") && !o))
        jconf_err(c, "targets", "at least one target is required for relay-worker");
}

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
static int collect_warnings(struct config *cfg)
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
    /* Accepted so that a config written for the full feature set loads, but said at every
     * start: an operator must not believe alerts go out while none do. */
    if (cfg->n_alerts > 0 &&
        warn_add(cfg, "alerts",
                 "%zu alert URL(s) configured, but this version sends no alerts yet: use "
                 "deploy/prometheus/alerts.yml for the same conditions",
                 cfg->n_alerts) != 0)
        return -1;
    return 0;
}

const char *const *config_warnings(const struct config *cfg)
{
    static const char *const none[] = {NULL};
    if (!cfg || !cfg->warnings)
        return none;
    return (const char *const *)cfg->warnings;
}

int config_content_type(const char *name)
{
    for (int i = 0; name && ctype_names[i]; i++)
        if (strcmp(ctype_names[i], name) == 0)
            return i;
    return -1;
}

const char *config_source_web_url(const struct source *src, const char *content_type)
{
    int i = config_content_type(content_type);
    if (!src || i < 0)
        return NULL;
    return src->web_urls[i];
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
    if (c.n_errors == 0 && collect_warnings(cfg) != 0)
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
        source_clear(&cfg->sources[i]);
    free(cfg->sources);
    for (size_t i = 0; i < cfg->n_targets; i++)
        target_clear(&cfg->targets[i]);
    free(cfg->targets);
    for (size_t i = 0; i < cfg->n_alerts; i++)
        secret_clear(&cfg->alerts[i].url);
    free(cfg->alerts);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

const struct source *config_source(const struct config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (cfg->sources[i].name && strcmp(cfg->sources[i].name, name) == 0)
            return &cfg->sources[i];
    return NULL;
}

const struct target *config_target(const struct config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_targets; i++)
        if (cfg->targets[i].name && strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}

int config_target_matches(const struct target *t, const char *source, const char *content_type)
{
    if (!t)
        return 0;
    if (t->sources) {
        int ok = 0;
        for (size_t i = 0; i < t->n_sources && !ok; i++)
            ok = source && strcmp(t->sources[i], source) == 0;
        if (!ok)
            return 0;
    }
    /* An unknown type (NULL or "": a movida event before its fetch) is not filtered out
     * here; callers check again once the type is known. */
    if (t->content_types && content_type && *content_type) {
        for (size_t i = 0; i < t->n_content_types; i++)
            if (strcmp(t->content_types[i], content_type) == 0)
                return 1;
        return 0;
    }
    return 1;
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
