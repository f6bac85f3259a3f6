#include "handlers/cms.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/util.h"
#include "handlers/cms_internal.h"

char *cms_next_url(const struct source *src, const struct cms_ref *ref, json_t *const *bodies,
                   size_t n)
{
    if (src == NULL || ref == NULL || src->api_base_url == NULL)
        return NULL;
    switch (src->kind) {
    case SOURCE_ENCORASTREAM:
        return cms_encora_next_url(src, ref, bodies, n);
    case SOURCE_MOVIDA:
        return cms_movida_next_url(src, ref, bodies, n);
    }
    return NULL;
}

json_t *cms_normalize(const struct source *src, const struct cms_ref *ref, json_t *const *bodies,
                      size_t n, char *err, size_t errlen)
{
    if (src == NULL || ref == NULL) {
        snprintf(err, errlen, "no source or reference");
        return NULL;
    }
    switch (src->kind) {
    case SOURCE_ENCORASTREAM:
        return cms_encora_normalize(src, ref, bodies, n, err, errlen);
    case SOURCE_MOVIDA:
        return cms_movida_normalize(src, ref, bodies, n, err, errlen);
    }
    snprintf(err, errlen, "unknown source kind");
    return NULL;
}

json_t *cms_tombstone(const struct source *src, const struct cms_ref *ref)
{
    if (src == NULL || ref == NULL || ref->content_id == NULL || ref->content_id[0] == '\0')
        return NULL;
    /* A Movida unpublish names only the title id; its type stays null (docs/canonical.md)
     * rather than a guess that a partner would file the removal under. */
    return cms_title_new(src, ref->content_id, ref->content_type, "unpublished");
}

const char *cms_str(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    return s != NULL && s[0] != '\0' ? s : NULL;
}

json_t *cms_obj(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

json_t *cms_arr(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_array(v) ? v : NULL;
}

int cms_int(const json_t *obj, const char *key, long long lo, long long hi, long long *out)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    long long x;

    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Some CMSs serialize counts as 47.0; a real fraction is not a count. */
        if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
            return -1;
        x = (long long)d;
    } else {
        return -1;
    }
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

json_t *cms_title_new(const struct source *src, const char *id, const char *type,
                      const char *status)
{
    json_t *t = json_object();
    if (t == NULL)
        return NULL;
    json_object_set_new_nocheck(t, "id", json_string(id));
    json_object_set_new_nocheck(t, "source", json_string(src->name != NULL ? src->name : ""));
    json_object_set_new_nocheck(t, "type", type != NULL ? json_string(type) : json_null());
    json_object_set_new_nocheck(t, "status", json_string(status));
    return t;
}

void cms_set_str(json_t *dst, const char *key, const char *val)
{
    if (val == NULL || val[0] == '\0')
        return;
    /* json_string() refuses invalid UTF-8; the field is then dropped like any malformed one. */
    json_t *s = json_string(val);
    if (s != NULL)
        json_object_set_new_nocheck(dst, key, s);
}

void cms_copy_str(json_t *dst, const char *key, const json_t *obj, const char *field)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;
    /* The document's own string (valid UTF-8, as the reader keeps only such), shared rather
     * than copied and checked again. */
    if (json_is_string(v) && json_string_length(v) > 0)
        json_object_set_nocheck(dst, key, v);
}

void cms_set_int(json_t *dst, const char *key, long long val)
{
    json_object_set_new_nocheck(dst, key, json_integer(val));
}

static int is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int date_ok(const char *val)
{
    int64_t ms;
    char d[11];

    if (val == NULL || strlen(val) < 10)
        return 0;
    memcpy(d, val, 10);
    d[10] = '\0';
    return is_digits(d, 4) && d[4] == '-' && is_digits(d + 5, 2) && d[7] == '-' &&
           is_digits(d + 8, 2) && util_parse_rfc3339(d, &ms) == 0;
}

void cms_set_date(json_t *dst, const char *key, const char *val)
{
    if (!date_ok(val))
        return;
    json_object_set_new_nocheck(dst, key, json_stringn(val, 10));
}

int cms_time_ms(const char *val, long long *ms)
{
    int64_t v;
    if (val == NULL || util_parse_rfc3339(val, &v) != 0)
        return -1;
    *ms = v;
    return 0;
}

void cms_set_datetime(json_t *dst, const char *key, const char *val)
{
    long long ms;
    char out[32];

    /* One spelling for every source (Movida sends +00:00, Encora Z) so that partners and
     * the newest-wins comparison never see two forms of the same instant. */
    if (cms_time_ms(val, &ms) != 0 || util_rfc3339_secs(ms, out) != 0)
        return;
    json_object_set_new_nocheck(dst, key, json_stringn_nocheck(out, strlen(out)));
}

void cms_set_new(json_t *dst, const char *key, json_t *val)
{
    if (val == NULL)
        return;
    if ((json_is_array(val) && json_array_size(val) == 0) ||
        (json_is_object(val) && json_object_size(val) == 0)) {
        json_decref(val);
        return;
    }
    json_object_set_new_nocheck(dst, key, val);
}

void cms_push_unique(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;

    if (s == NULL || s[0] == '\0')
        return;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return;
    }
    json_t *e = json_string(s);
    if (e != NULL)
        json_array_append_new(arr, e);
}

int cms_year_of(const char *date)
{
    if (!date_ok(date))
        return -1;
    int y = (date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 + (date[3] - '0');
    /* The range release_year itself is read in: a year 0005 is a data error, and GoWatchIt's
     * release_year is four digits. */
    return y >= 1800 && y <= 2200 ? y : -1;
}

char *cms_path_id(const char *id)
{
    if (id == NULL || id[0] == '\0')
        return NULL;
    /* util_pct_encode keeps '.', and "/admin/movies/.." would be normalized away by HTTP
     * stacks into another resource. */
    if (strcmp(id, ".") == 0)
        return strdup("%2E");
    if (strcmp(id, "..") == 0)
        return strdup("%2E%2E");
    return util_pct_encode(id);
}

/* The template for one content type, whichever form the config used. A source built by hand
 * (tests, the fuzz harness) may set only the single-string web_url. */
static const char *web_url_template(const struct source *src, const char *type)
{
    const char *tpl = config_source_web_url(src, type);
    return tpl != NULL ? tpl : src->web_url;
}

char *cms_web_url(const struct source *src, const struct cms_link *link)
{
    static const char *const names[] = {
        "{id}",        "{slug}",          "{type}",          "{show_id}",
        "{show_slug}", "{season_number}", "{episode_number}"};
    enum { N_NAMES = sizeof(names) / sizeof(names[0]) };
    char season[24] = "", episode[24] = "";
    const char *slug = link->slug;
    char *out = NULL, *enc = NULL;
    size_t len = 0, cap;
    const char *p;

    if (link->type == NULL)
        return NULL;
    const char *tpl = web_url_template(src, link->type);
    if (tpl == NULL || tpl[0] == '\0')
        return NULL;
    /* A season or episode without a slug of its own is found under its show's: EncoraStream
     * episodes never have one, and "{type}s/{slug}" must still give them a link. */
    int child = strcmp(link->type, "season") == 0 || strcmp(link->type, "episode") == 0;
    if ((slug == NULL || slug[0] == '\0') && child)
        slug = link->show_slug;
    if (link->season_number >= 0)
        snprintf(season, sizeof(season), "%d", link->season_number);
    if (link->episode_number >= 0)
        snprintf(episode, sizeof(episode), "%d", link->episode_number);
    const char *vals[N_NAMES] = {link->id,        slug,   link->type, link->show_id,
                                 link->show_slug, season, episode};
    /* A show is its own show: {show_id}/{show_slug} in a shared template mean the show. */
    if (strcmp(link->type, "show") == 0) {
        vals[3] = link->id;
        vals[4] = link->slug;
    }
    /* Worst case every byte of every value is percent-encoded, once per occurrence; the
     * template is bounded by the config, so one upfront allocation is enough. */
    size_t longest = 0;
    for (int i = 0; i < N_NAMES; i++)
        if (vals[i] != NULL && strlen(vals[i]) > longest)
            longest = strlen(vals[i]);
    cap = strlen(tpl) + 1;
    for (p = tpl; *p != '\0'; p++)
        if (*p == '{')
            cap += longest * 3;
    out = malloc(cap);
    if (out == NULL)
        goto fail;
    for (p = tpl; *p != '\0';) {
        int hit = -1;
        for (int i = 0; *p == '{' && i < N_NAMES && hit < 0; i++)
            if (strncmp(p, names[i], strlen(names[i])) == 0)
                hit = i;
        if (hit < 0) {
            out[len++] = *p++;
            continue;
        }
        /* A link with a hole in it would send consumers to the wrong page: no url instead. */
        if (vals[hit] == NULL || vals[hit][0] == '\0')
            goto fail;
        enc = util_pct_encode(vals[hit]);
        if (enc == NULL)
            goto fail;
        memcpy(out + len, enc, strlen(enc));
        len += strlen(enc);
        free(enc);
        enc = NULL;
        p += strlen(names[hit]);
    }
    out[len] = '\0';
    return out;

fail:
    free(out);
    return NULL;
}

void cms_set_web_url(json_t *title, const struct source *src, struct cms_link *link)
{
    const json_t *ser = json_object_get(title, "series");
    long long num;

    link->show_id = cms_str(ser, "show_id");
    link->season_number = cms_int(ser, "season_number", 0, 100000, &num) == 0 ? (int)num : -1;
    link->episode_number = cms_int(ser, "episode_number", 0, 100000, &num) == 0 ? (int)num : -1;
    char *url = cms_web_url(src, link);
    cms_set_str(title, "url", url);
    free(url);
}
