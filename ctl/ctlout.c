#include "ctl/ctlout.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctlout_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("relayctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'relayctl --help'.\n", stderr);
    return 2;
}

/* Usage problems (400/422) exit 2; the rest (404, 409, 503, 500) are runtime errors. */
int ctlout_op_failed(const struct ops_error *err, const char *what)
{
    if (what)
        fprintf(stderr, "relayctl: %s: %s\n", what, err->message);
    else
        fprintf(stderr, "relayctl: %s\n", err->message);
    if (strcmp(err->code, "unknown_target") == 0 || strcmp(err->code, "unknown_source") == 0)
        return err->status == 404 ? 2 : 1; /* a name not in the config */
    return (err->status == 400 || err->status == 422) ? 2 : 1;
}

void ctlout_print_json(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2));
    if (s) {
        puts(s);
        free(s);
    }
}

char *ctlout_clean(const char *s)
{
    char *out = table_clean(s);
    if (out == NULL) {
        fputs("relayctl: out of memory\n", stderr);
        exit(1);
    }
    return out;
}

int ctlout_table_done(struct table *t)
{
    int rc = table_print(t, stdout);
    table_free(t);
    if (rc != 0) {
        fputs("relayctl: out of memory\n", stderr);
        return 1;
    }
    return 0;
}

const char *ctlout_jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

long long ctlout_jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

const char *ctlout_int_or_dash(const json_t *o, const char *key, const char *suffix, char *out,
                               size_t cap)
{
    if (json_is_integer(json_object_get(o, key)))
        snprintf(out, cap, "%lld%s", ctlout_jint(o, key), suffix);
    else
        snprintf(out, cap, "-");
    return out;
}

/* The one preamble of the reading commands: doc as read (NULL: the read failed, *rc already
 * says how), printed whole with --json. Returns doc for the caller to print as a table, or NULL
 * with *rc the command's exit status (0 when the JSON was printed). */
static json_t *table_doc(json_t *doc, int json, int *rc)
{
    if (doc == NULL)
        return NULL;
    *rc = 0;
    if (json) {
        ctlout_print_json(doc);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *ctlout_run_op(struct rsync *rs, const struct config *cfg, enum ops_op op,
                      const struct ops_params *p, int json, const char *what, int *rc)
{
    struct ops_error err;
    json_t *doc = ops_run(rs, cfg, op, p, &err);
    if (doc == NULL)
        *rc = ctlout_op_failed(&err, what);
    return table_doc(doc, json, rc);
}

json_t *ctlout_run_read(json_t *doc, const char *err, int json, int *rc)
{
    if (doc == NULL) {
        fprintf(stderr, "relayctl: %s\n", err);
        *rc = 1;
    }
    return table_doc(doc, json, rc);
}
