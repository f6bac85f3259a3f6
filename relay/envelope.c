#include "relay/envelope.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jread.h"
#include "core/util.h"

/*
 * Everything taken from an envelope ends up in Redis keys, in URLs the worker fetches and in
 * log lines, so each field is held to a shape rather than merely to a type:
 * - event ids and types: at most 256 / 128 bytes, no control characters;
 * - content ids (and show ids): [A-Za-z0-9._-], at most 128 bytes, and not made of dots
 *   only, so that an id can never become "." or ".." in a fetch URL path;
 * - movida title ids: a positive decimal integer, normalised to its digits.
 * Error messages carry field paths and fixed words only, never bytes from the body.
 */

#define ENV_MAX_ID 256
#define ENV_MAX_TYPE 128
#define ENV_MAX_CONTENT_ID 128
#define ENV_MAX_TITLE_DIGITS 18 /* keeps the value inside int64 */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void envelope_free(struct envelope *env)
{
    if (env == NULL)
        return;
    free(env->id);
    free(env->type);
    free(env->content_type);
    free(env->content_id);
    free(env->show_id);
    free(env);
}

int envelope_is_content(const struct envelope *env)
{
    return env != NULL && env->type != NULL &&
           (strcmp(env->type, "content.published") == 0 ||
            strcmp(env->type, "content.unpublished") == 0);
}

static int has_control(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            return 1;
    }
    return 0;
}

/* Checks a free-form text id. Returns NULL when fine, else the reason. */
static const char *text_problem(const char *s, size_t max)
{
    if (strlen(s) > max)
        return "too long";
    if (has_control(s))
        return "contains control characters";
    return NULL;
}

/* Checks a content id that the worker puts into a fetch URL. Returns NULL when fine. */
static const char *content_id_problem(const char *s)
{
    size_t n = strlen(s);
    int only_dots = 1;
    if (n == 0)
        return "missing";
    if (n > ENV_MAX_CONTENT_ID)
        return "too long";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        if (!ok)
            return "not a valid id (letters, digits, '-', '_', '.')";
        if (c != '.')
            only_dots = 0;
    }
    return only_dots ? "not a valid id (letters, digits, '-', '_', '.')" : NULL;
}

/* Parses a positive decimal integer of digits only (no sign, no spaces) into its canonical
 * digit string. Returns a malloc'd string, or NULL when s is not one. */
static char *positive_digits(const char *s, size_t n)
{
    while (n > 0 && *s == '0') {
        s++;
        n--;
    }
    if (n == 0 || n > ENV_MAX_TITLE_DIGITS)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NULL;
    }
    return strndup(s, n);
}

/* Reads an optional member: NULL when absent or JSON null. */
static json_t *opt_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* data.<key> as a string that passes content_id_problem(). Returns 0, or -1 with err set. */
static int take_content_id(json_t *data, const char *key, char **out, char *err, size_t errlen)
{
    json_t *v = opt_member(data, key);
    const char *problem;
    if (v == NULL) {
        set_err(err, errlen, "data.%s: missing", key);
        return -1;
    }
    if (!json_is_string(v)) {
        set_err(err, errlen, "data.%s: not a string", key);
        return -1;
    }
    problem = content_id_problem(json_string_value(v));
    if (problem != NULL) {
        set_err(err, errlen, "data.%s: %s", key, problem);
        return -1;
    }
    *out = strdup(json_string_value(v));
    if (*out == NULL) {
        set_err(err, errlen, "data.%s: out of memory", key);
        return -1;
    }
    return 0;
}

/* data.<key> as a JSON integer in [min, INT_MAX]. Returns 0, or -1 with err set. */
static int take_int(json_t *data, const char *key, int min, int *out, char *err, size_t errlen)
{
    json_t *v = opt_member(data, key);
    if (v == NULL) {
        set_err(err, errlen, "data.%s: missing", key);
        return -1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > INT_MAX) {
        set_err(err, errlen, "data.%s: not an integer >= %d", key, min);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/*
 * EncoraStream: data.content_type is movie, show or episode (README, "Endpoints"; the CMS has no
 * season-level event). Episodes also carry show_id, season_number (>= 1) and episode_number
 * (>= 0: the CMS's own "Get Episode" route allows episode 0, e.g. a pilot or special).
 */
static int parse_encorastream(json_t *data, struct envelope *env, char *err, size_t errlen)
{
    static const char *const types[] = {"movie", "show", "episode"};
    json_t *ct = opt_member(data, "content_type");
    const char *ctype = NULL;
    if (ct == NULL) {
        set_err(err, errlen, "data.content_type: missing");
        return -1;
    }
    if (json_is_string(ct)) {
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
            if (strcmp(json_string_value(ct), types[i]) == 0)
                ctype = types[i];
        }
    }
    if (ctype == NULL) {
        set_err(err, errlen, "data.content_type: must be movie, show or episode");
        return -1;
    }
    env->content_type = strdup(ctype);
    if (env->content_type == NULL) {
        set_err(err, errlen, "data.content_type: out of memory");
        return -1;
    }
    if (take_content_id(data, "content_id", &env->content_id, err, errlen) != 0)
        return -1;
    if (strcmp(ctype, "episode") != 0)
        return 0;
    if (take_content_id(data, "show_id", &env->show_id, err, errlen) != 0)
        return -1;
    if (take_int(data, "season_number", 1, &env->season_number, err, errlen) != 0)
        return -1;
    if (take_int(data, "episode_number", 0, &env->episode_number, err, errlen) != 0)
        return -1;
    return 0;
}

/* The title id at the end of a self_link, which must be "<api_base_url>/titles/<digits>"
 * exactly: the relay fetches only URLs it builds from its own configuration. Returns a
 * malloc'd digit string, or NULL. */
static char *self_link_id(const struct source *src, const char *link)
{
    static const char titles[] = "/titles/";
    if (src->api_base_url == NULL || src->api_base_url[0] == '\0')
        return NULL;
    size_t blen = strlen(src->api_base_url);
    if (strncmp(link, src->api_base_url, blen) != 0)
        return NULL;
    link += blen;
    if (strncmp(link, titles, sizeof(titles) - 1) != 0)
        return NULL;
    link += sizeof(titles) - 1;
    return positive_digits(link, strlen(link));
}

static const char *movida_type(const char *t)
{
    static const struct {
        const char *from, *to;
    } map[] = {{"feature", "movie"}, {"film", "movie"}, {"movie", "movie"},  {"episode", "episode"},
               {"series", "show"},   {"show", "show"},  {"season", "season"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(t, map[i].from) == 0)
            return map[i].to;
    }
    return NULL;
}

/*
 * Movida: data.title_id (a positive integer, or its digits as a string) or data.self_link
 * under the source's api.base_url; when both are given they must name the same title.
 * data.title_type, when known, gives the content type ahead of the fetch; an unknown or
 * non-string one leaves it NULL (the fetch decides).
 */
static int parse_movida(const struct source *src, json_t *data, struct envelope *env, char *err,
                        size_t errlen)
{
    json_t *tid = opt_member(data, "title_id");
    json_t *link = opt_member(data, "self_link");
    json_t *tt = opt_member(data, "title_type");
    char *link_id = NULL;
    int rc = -1;

    if (tid == NULL && link == NULL) {
        set_err(err, errlen, "data.title_id: missing (or data.self_link)");
        goto out;
    }
    if (tid != NULL) {
        char num[32];
        if (json_is_integer(tid) && json_integer_value(tid) > 0) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(tid));
            env->content_id = strdup(num);
        } else if (json_is_string(tid)) {
            env->content_id = positive_digits(json_string_value(tid), json_string_length(tid));
        }
        if (env->content_id == NULL) {
            set_err(err, errlen, "data.title_id: not a positive integer");
            goto out;
        }
    }
    if (link != NULL) {
        if (!json_is_string(link)) {
            set_err(err, errlen, "data.self_link: not a string");
            goto out;
        }
        link_id = self_link_id(src, json_string_value(link));
        if (link_id == NULL) {
            set_err(err, errlen, "data.self_link: not under the source's api.base_url");
            goto out;
        }
        if (env->content_id == NULL) {
            env->content_id = link_id;
            link_id = NULL;
        } else if (strcmp(env->content_id, link_id) != 0) {
            set_err(err, errlen, "data.self_link: does not match data.title_id");
            goto out;
        }
    }
    if (json_is_string(tt)) {
        const char *mapped = movida_type(json_string_value(tt));
        if (mapped != NULL) {
            env->content_type = strdup(mapped);
            if (env->content_type == NULL) {
                set_err(err, errlen, "data.title_type: out of memory");
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(link_id);
    return rc;
}

/* Maps a Jansson load failure: malformed text is invalid_json; text that is JSON but that we
 * refuse (duplicate keys, a U+0000 escape, an integer beyond int64) is an invalid envelope. */
static enum envelope_result load_error(const json_error_t *jerr, char *err, size_t errlen)
{
    switch (json_error_code(jerr)) {
    case json_error_duplicate_key:
        set_err(err, errlen, "body: duplicate object key");
        return ENVELOPE_INVALID;
    case json_error_null_character:
        set_err(err, errlen, "body: string contains U+0000");
        return ENVELOPE_INVALID;
    case json_error_numeric_overflow:
        set_err(err, errlen, "body: number out of range");
        return ENVELOPE_INVALID;
    default:
        /* Jansson's own text may quote the input, so only the position is reported. */
        set_err(err, errlen, "body: not valid JSON (line %d, column %d)", jerr->line, jerr->column);
        return ENVELOPE_INVALID_JSON;
    }
}

enum envelope_result envelope_parse(const struct source *src, const char *body, size_t len,
                                    const char *fallback_id, struct envelope **out, char *err,
                                    size_t errlen)
{
    enum envelope_result res = ENVELOPE_INVALID;
    struct envelope *env = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    const char *id = NULL, *id_field = "id", *problem;

    *out = NULL;
    set_err(err, errlen, "%s", "");
    if (body == NULL && len == 0)
        body = "";
    if (body == NULL || !util_utf8_valid((const unsigned char *)body, len)) {
        set_err(err, errlen, "body: not valid UTF-8");
        res = ENVELOPE_INVALID_JSON;
        goto out;
    }
    /* JSON_DECODE_ANY so that a scalar document is reported as a wrong shape (422), not as
     * malformed JSON; duplicates are refused because two readers could pick different ones.
     * core/jread builds the same tree faster; what it refuses (a scalar document too) goes to
     * json_loadb, whose verdict and message stand. */
    root = jread_parse_flags(body, len, JREAD_REJECT_DUPLICATES);
    if (root == NULL)
        root = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        res = load_error(&jerr, err, errlen);
        goto out;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "body: not a JSON object");
        goto out;
    }

    env = calloc(1, sizeof(*env));
    if (env == NULL) {
        set_err(err, errlen, "body: out of memory");
        goto out;
    }
    env->created_at_ms = -1;
    env->season_number = -1;
    env->episode_number = -1;

    json_t *jid = opt_member(root, "id");
    if (jid != NULL && !json_is_string(jid)) {
        set_err(err, errlen, "id: not a string");
        goto out;
    }
    if (jid != NULL && json_string_length(jid) > 0) {
        id = json_string_value(jid);
    } else if (fallback_id != NULL && fallback_id[0] != '\0') {
        id = fallback_id;
        id_field = "webhook-id";
    } else {
        set_err(err, errlen, "id: missing");
        goto out;
    }
    problem = text_problem(id, ENV_MAX_ID);
    if (problem != NULL) {
        set_err(err, errlen, "%s: %s", id_field, problem);
        goto out;
    }

    json_t *jtype = opt_member(root, "type");
    if (jtype == NULL || (json_is_string(jtype) && json_string_length(jtype) == 0)) {
        set_err(err, errlen, "type: missing");
        goto out;
    }
    if (!json_is_string(jtype)) {
        set_err(err, errlen, "type: not a string");
        goto out;
    }
    problem = text_problem(json_string_value(jtype), ENV_MAX_TYPE);
    if (problem != NULL) {
        set_err(err, errlen, "type: %s", problem);
        goto out;
    }

    json_t *jcreated = opt_member(root, "created_at");
    if (jcreated != NULL) {
        int64_t ms;
        if (!json_is_string(jcreated) ||
            util_parse_rfc3339(json_string_value(jcreated), &ms) != 0) {
            set_err(err, errlen, "created_at: not an RFC 3339 time");
            goto out;
        }
        if (ms < 0) {
            /* -1 means "absent"; no CMS event predates the epoch. */
            set_err(err, errlen, "created_at: before 1970");
            goto out;
        }
        env->created_at_ms = ms;
    }

    env->id = strdup(id);
    env->type = strdup(json_string_value(jtype));
    if (env->id == NULL || env->type == NULL) {
        set_err(err, errlen, "body: out of memory");
        goto out;
    }

    if (envelope_is_content(env)) {
        json_t *data = opt_member(root, "data");
        if (data == NULL) {
            set_err(err, errlen, "data: missing");
            goto out;
        }
        if (!json_is_object(data)) {
            set_err(err, errlen, "data: not an object");
            goto out;
        }
        int rc = src->kind == SOURCE_MOVIDA ? parse_movida(src, data, env, err, errlen)
                                            : parse_encorastream(data, env, err, errlen);
        if (rc != 0)
            goto out;
    }

    *out = env;
    env = NULL;
    res = ENVELOPE_OK;
out:
    envelope_free(env);
    json_decref(root);
    return res;
}
