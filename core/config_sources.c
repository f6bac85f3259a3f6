#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config_internal.h"

/* sources.*: one CMS each (its kind, signature, API and sync settings). */

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
    if (config_entry_begin(c, "sources", name, src, keys, "kind", p, &s->name) != 0)
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

void config_source_clear(struct source *s)
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

void config_parse_sources(struct jconf *c, const json_t *root, struct config *cfg)
{
    const json_t *o = jconf_object(c, root, "", "sources", 1);
    if (o && json_object_size(o) == 0)
        jconf_err(c, "sources", "at least one source is required");
    if (!o || json_object_size(o) == 0)
        return;
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

const struct source *config_source(const struct config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (cfg->sources[i].name && strcmp(cfg->sources[i].name, name) == 0)
            return &cfg->sources[i];
    return NULL;
}
