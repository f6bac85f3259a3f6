#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config_internal.h"

/* targets.*: where documents go (push URL or pull feed), in which format, for which events. */

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
            if (config_content_type(s) < 0) {
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
    if (config_entry_begin(c, "targets", name, tj, keys, "format", p, &t->name) != 0)
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

void config_target_clear(struct target *t)
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

void config_parse_targets(struct jconf *c, const json_t *root, struct config *cfg,
                          enum config_role role)
{
    const json_t *o = jconf_object(c, root, "", "targets", 0);
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
