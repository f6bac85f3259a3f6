/* relayctl: the operator CLI (README, "relayctl"). It talks to Redis directly and runs the same
 * operations as the admin API (queue/ops), then prints them as tables or as one JSON
 * document. Exit 0 ok, 1 runtime error (Redis unreachable, unknown delivery), 2 usage or
 * config error. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "ctl/ctlout.h"
#include "ctl/relayctl_sync.h"
#include "ctl/reltime.h"
#include "ctl/session.h"
#include "ctl/table.h"
#include "queue/catalog.h"
#include "queue/ops.h"
#include "queue/sources.h"
#include "queue/rsync.h"

static const char usage[] =
    "Usage: relayctl [--config PATH] COMMAND [OPTIONS]\n"
    "\n"
    "Operator CLI of the webhook relay: queue depth, delivery log, redelivery.\n"
    "Talks to Redis directly (no relay needed).\n"
    "\n"
    "Commands:\n"
    "  stats [--json]                         queue depth and per-target delivery counts\n"
    "  deliveries [--status S] [--target T] [--source S] [--since RFC3339] [--until RFC3339]\n"
    "             [--limit N] [--cursor C] [--json]\n"
    "                                         the delivery log, newest first (limit 1-500,\n"
    "                                         default 50; status: pending, retrying,\n"
    "                                         delivered, failed, superseded; since/until\n"
    "                                         apply to created_at, inclusive)\n"
    "  show DELIVERY_ID [--json]              one delivery with its attempts\n"
    "  redeliver DELIVERY_ID...               send deliveries again with a fresh attempt budget\n"
    "  redeliver --failed [--target T] [--source S] [--since RFC3339] [--until RFC3339]\n"
    "                                         redeliver every failed delivery that matches\n"
    "                                         (since/until apply to created_at)\n"
    "  sources [--json]                       per source: webhook path, scheme, header, number\n"
    "                                         of secrets, last verified request and ping,\n"
    "                                         accepted/rejected in 24 h, last rejection\n"
    "  pause TARGET                           keep TARGET's deliveries waiting\n"
    "  resume TARGET                          let them go out again (and close an open circuit)\n"
    "  targets [--json]                       per target: delivery mode, paused, circuit (open\n"
    "                                         since, next probe), counts, last delivered, last\n"
    "                                         error, a feed's last poll\n"
    "  feeds [--json]                         per feed target: live and removed titles, last\n"
    "                                         poll and its status, the partner's lag\n"
    "  catalog TARGET [--status live|removed] [--source S] [--limit N] [--cursor C] [--json]\n"
    "                                         the target's catalog, newest change first\n"
    "  sync SOURCE [--target T]... [--full] [--dry-run] [--detach] [--json]\n"
    "                                         list the CMS's catalog and bring the targets'\n"
    "                                         catalogs up to it; follows the run (exit 0 when\n"
    "                                         it ends done; Ctrl-C offers to cancel it),\n"
    "                                         --detach prints its id\n"
    "  sync cancel RUN_ID [--detach] [--json] cancel a running sync: it stops listing, removes\n"
    "                                         nothing; waits until it ended cancelled (exit 0)\n"
    "  syncs [--source S] [--limit N] [--json] the sync runs, newest first\n"
    "\n"
    "Options:\n"
    "  --config PATH   config file (else $RELAY_CONFIG, else ./relay.json)\n"
    "  --json          print one JSON document instead of a table\n"
    "  --help          this text\n"
    "  --version       the version\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error (e.g. Redis unreachable), 2 usage or config error.\n";

/* ---- options of a command ------------------------------------------------------------- */

struct opts {
    int json;
    int failed;
    const char *status, *target, *source, *limit, *cursor, *since, *until;
    const char *config_path;
    const char *args[64]; /* positional arguments */
    int nargs;
};

enum {
    OPT_STATUS = 1 << 0,
    OPT_TARGET = 1 << 1,
    OPT_SOURCE = 1 << 2,
    OPT_LIMIT = 1 << 3,
    OPT_CURSOR = 1 << 4,
    OPT_SINCE = 1 << 5,
    OPT_UNTIL = 1 << 6,
    OPT_FAILED = 1 << 7,
    OPT_JSON = 1 << 8,
};

/* Parses argv[from..] for command cmd, which accepts the options in allowed. Returns -1 on
 * success, else the exit status. */
static int parse_opts(int argc, char **argv, int from, const char *cmd, unsigned allowed,
                      struct opts *o)
{
    static const struct {
        const char *name;
        unsigned flag;
        size_t off;
    } valued[] = {
        {"--status", OPT_STATUS, offsetof(struct opts, status)},
        {"--target", OPT_TARGET, offsetof(struct opts, target)},
        {"--source", OPT_SOURCE, offsetof(struct opts, source)},
        {"--limit", OPT_LIMIT, offsetof(struct opts, limit)},
        {"--cursor", OPT_CURSOR, offsetof(struct opts, cursor)},
        {"--since", OPT_SINCE, offsetof(struct opts, since)},
        {"--until", OPT_UNTIL, offsetof(struct opts, until)},
        {"--config", ~0u, offsetof(struct opts, config_path)},
    };
    int only_args = 0;
    for (int i = from; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || a[1] == '\0') {
            if (o->nargs == (int)(sizeof(o->args) / sizeof(o->args[0])))
                return ctlout_usage_error("%s: too many arguments", cmd);
            o->args[o->nargs++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0 && (allowed & OPT_JSON)) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--failed") == 0 && (allowed & OPT_FAILED)) {
            o->failed = 1;
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
            size_t n = strlen(valued[k].name);
            if (strncmp(a, valued[k].name, n) != 0 || (a[n] != '\0' && a[n] != '='))
                continue;
            if (!(allowed & valued[k].flag))
                return ctlout_usage_error("%s: unknown option %s", cmd, valued[k].name);
            const char *v;
            if (a[n] == '=') {
                v = a + n + 1;
            } else if (i + 1 < argc) {
                v = argv[++i];
            } else {
                return ctlout_usage_error("%s: %s needs a value", cmd, valued[k].name);
            }
            *(const char **)((char *)o + valued[k].off) = v;
            break;
        }
        if (k == sizeof(valued) / sizeof(valued[0]))
            return ctlout_usage_error("%s: unknown option %s", cmd, a);
    }
    return -1;
}

/* ---- commands ------------------------------------------------------------------------- */

static int cmd_stats(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    int rc;
    if (o->nargs)
        return ctlout_usage_error("stats: unexpected argument %s", o->args[0]);
    json_t *doc = ctlout_run_op(rs, cfg, OPS_STATS, NULL, o->json, NULL, &rc);
    if (doc == NULL)
        return rc;
    json_t *q = json_object_get(doc, "queues");
    static const char *const qheads[] = {"QUEUE", "DEPTH"};
    struct table *qt = table_new(2, qheads, "lr");
    static const char *const states[] = {"ready", "inflight", "scheduled", "failed"};
    for (size_t i = 0; i < 4; i++) {
        char n[32];
        snprintf(n, sizeof(n), "%lld", ctlout_jint(q, states[i]));
        table_row(qt, states[i], n);
    }
    if (ctlout_table_done(qt) != 0) {
        json_decref(doc);
        return 1;
    }
    double oldest = json_number_value(json_object_get(doc, "oldest_seconds"));
    if (oldest > 0) {
        char rel[32];
        int64_t now = util_now_ms();
        reltime_format(now - (int64_t)(oldest * 1000), now, rel, sizeof(rel));
        printf("oldest waiting item: ready since %s\n", rel);
    } else {
        printf("oldest waiting item: none\n");
    }

    static const char *const theads[] = {"TARGET",   "STATE",     "CIRCUIT", "PENDING",
                                         "RETRYING", "DELIVERED", "FAILED",  "SUPERSEDED"};
    struct table *tt = table_new(8, theads, "lllrrrrr");
    const char *name;
    json_t *t;
    json_object_foreach(json_object_get(doc, "targets"), name, t)
    {
        char c[5][32];
        static const char *const keys[] = {"pending", "retrying", "delivered", "failed",
                                           "superseded"};
        for (int i = 0; i < 5; i++)
            snprintf(c[i], sizeof(c[i]), "%lld", ctlout_jint(t, keys[i]));
        table_row(tt, name, json_is_true(json_object_get(t, "paused")) ? "paused" : "active",
                  ctlout_jstr(t, "circuit"), c[0], c[1], c[2], c[3], c[4]);
    }
    putchar('\n');
    json_decref(doc);
    return ctlout_table_done(tt);
}

/* "failed (5 attempts)", "retrying (next in 2m)": the status as words. */
static void status_words(const json_t *r, int64_t now, char *out, size_t cap)
{
    const char *st = ctlout_jstr(r, "status");
    long long n = ctlout_jint(r, "attempt_count");
    if (strcmp(st, "retrying") == 0 || strcmp(st, "pending") == 0) {
        char rel[32];
        reltime_rfc3339(ctlout_jstr(r, "next_retry_at"), now, rel, sizeof(rel));
        if (strcmp(rel, "-") != 0 && strncmp(rel, "in ", 3) == 0)
            snprintf(out, cap, "%s (next %s)", st, rel);
        else
            snprintf(out, cap, "%s (due now)", st);
    } else if (strcmp(st, "failed") == 0 || strcmp(st, "delivered") == 0) {
        snprintf(out, cap, "%s (%lld attempt%s)", st, n, n == 1 ? "" : "s");
    } else {
        snprintf(out, cap, "%s", st);
    }
}

static int cmd_deliveries(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    struct ops_params p = {.status = o->status,
                           .target = o->target,
                           .source = o->source,
                           .limit = o->limit,
                           .cursor = o->cursor,
                           .since = o->since,
                           .until = o->until};
    if (o->nargs)
        return ctlout_usage_error("deliveries: unexpected argument %s", o->args[0]);
    int rc;
    json_t *doc = ctlout_run_op(rs, cfg, OPS_LIST, &p, o->json, NULL, &rc);
    if (doc == NULL)
        return rc;
    json_t *data = json_object_get(doc, "data");
    const char *next =
        json_string_value(json_object_get(json_object_get(doc, "meta"), "next_cursor"));
    if (json_array_size(data) == 0) {
        printf("no deliveries%s\n", next ? " on this page" : "");
    } else {
        static const char *const heads[] = {"ID",    "STATUS",  "TARGET",   "SOURCE",
                                            "EVENT", "CONTENT", "ATTEMPTS", "HTTP",
                                            "ERROR", "CREATED", "UPDATED"};
        struct table *t = table_new(11, heads, "llllllrrlll");
        int64_t now = util_now_ms();
        size_t i;
        json_t *r;
        json_array_foreach(data, i, r)
        {
            char st[64], att[24], http[16], created[32], updated[32], content[96];
            const char *etype = ctlout_jstr(r, "event_type");
            if (strncmp(etype, "content.", 8) == 0)
                etype += 8;
            status_words(r, now, st, sizeof(st));
            char *space = strchr(st, ' ');
            if (space && strcmp(ctlout_jstr(r, "status"), "retrying") != 0)
                *space = '\0'; /* the ATTEMPTS column says it */
            snprintf(att, sizeof(att), "%lld", ctlout_jint(r, "attempt_count"));
            ctlout_int_or_dash(r, "http_status", "", http, sizeof(http));
            snprintf(content, sizeof(content), "%s%s%.60s", ctlout_jstr(r, "content_type"),
                     ctlout_jstr(r, "content_type")[0] ? " " : "", ctlout_jstr(r, "content_id"));
            reltime_rfc3339(ctlout_jstr(r, "created_at"), now, created, sizeof(created));
            reltime_rfc3339(ctlout_jstr(r, "updated_at"), now, updated, sizeof(updated));
            const char *ecode = ctlout_jstr(json_object_get(r, "error"), "code");
            table_row(t, ctlout_jstr(r, "id"), st, ctlout_jstr(r, "target"),
                      ctlout_jstr(r, "source"), etype, content, att, http, ecode[0] ? ecode : "-",
                      created, updated);
        }
        if (ctlout_table_done(t) != 0) {
            json_decref(doc);
            return 1;
        }
    }
    if (next) {
        char *c = ctlout_clean(next);
        printf("more: relayctl deliveries ... --cursor %s\n", c);
        free(c);
    }
    json_decref(doc);
    return 0;
}

static void kv(const char *key, const char *value)
{
    char *v = ctlout_clean(value && value[0] ? value : "-");
    printf("%-12s %s\n", key, v);
    free(v);
}

static void kv_time(const char *key, const char *rfc, int64_t now)
{
    char rel[32], line[96];
    if (rfc == NULL || rfc[0] == '\0') {
        kv(key, "-");
        return;
    }
    reltime_rfc3339(rfc, now, rel, sizeof(rel));
    snprintf(line, sizeof(line), "%s (%s)", rfc, rel);
    kv(key, line);
}

static int cmd_show(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    if (o->nargs != 1)
        return ctlout_usage_error("show: needs exactly one DELIVERY_ID");
    struct ops_params p = {.id = o->args[0]};
    int rc;
    json_t *r = ctlout_run_op(rs, cfg, OPS_SHOW, &p, o->json, o->args[0], &rc);
    if (r == NULL)
        return rc;
    int64_t now = util_now_ms();
    char buf[512];
    status_words(r, now, buf, sizeof(buf));
    if (json_is_true(json_object_get(r, "in_flight")))
        strncat(buf, ", attempt in flight", sizeof(buf) - strlen(buf) - 1);
    kv("Delivery", ctlout_jstr(r, "id"));
    kv("Status", buf);
    kv("Target", ctlout_jstr(r, "target"));
    kv("Source", ctlout_jstr(r, "source"));
    snprintf(buf, sizeof(buf), "%s (%s)", ctlout_jstr(r, "event_id"), ctlout_jstr(r, "event_type"));
    kv("Event", ctlout_jstr(r, "event_id")[0] ? buf : "-");
    snprintf(buf, sizeof(buf), "%s%s%s", ctlout_jstr(r, "content_type"),
             ctlout_jstr(r, "content_type")[0] ? " " : "", ctlout_jstr(r, "content_id"));
    kv("Content", buf);
    kv("Attempts", (snprintf(buf, sizeof(buf), "%lld", ctlout_jint(r, "attempt_count")), buf));
    kv("HTTP status", ctlout_int_or_dash(r, "http_status", "", buf, sizeof(buf)));
    json_t *e = json_object_get(r, "error");
    if (json_is_object(e))
        snprintf(buf, sizeof(buf), "%s: %s", ctlout_jstr(e, "code"), ctlout_jstr(e, "message"));
    else
        snprintf(buf, sizeof(buf), "-");
    kv("Error", buf);
    kv_time("Next retry", json_string_value(json_object_get(r, "next_retry_at")), now);
    kv_time("Created", json_string_value(json_object_get(r, "created_at")), now);
    kv_time("Updated", json_string_value(json_object_get(r, "updated_at")), now);
    kv_time("Delivered", json_string_value(json_object_get(r, "delivered_at")), now);
    if (json_string_value(json_object_get(r, "superseded_by")))
        kv("Superseded by", ctlout_jstr(r, "superseded_by"));
    kv("Response", ctlout_jstr(r, "response_snippet"));

    json_t *attempts = json_object_get(r, "attempts");
    putchar('\n');
    if (json_array_size(attempts) == 0) {
        printf("no attempts yet\n");
    } else {
        static const char *const heads[] = {"#", "AT", "WHEN", "HTTP", "DURATION", "ERROR"};
        struct table *t = table_new(6, heads, "rllrrl");
        size_t i;
        json_t *a;
        json_array_foreach(attempts, i, a)
        {
            char n[24], when[32], http[16], dur[32], error[320];
            ctlout_int_or_dash(a, "attempt", "", n, sizeof(n));
            reltime_rfc3339(ctlout_jstr(a, "at"), now, when, sizeof(when));
            ctlout_int_or_dash(a, "http_status", "", http, sizeof(http));
            ctlout_int_or_dash(a, "duration_ms", "ms", dur, sizeof(dur));
            json_t *ae = json_object_get(a, "error");
            if (json_is_object(ae) && ctlout_jstr(ae, "message")[0])
                snprintf(error, sizeof(error), "%s: %.250s", ctlout_jstr(ae, "code"),
                         ctlout_jstr(ae, "message"));
            else if (json_is_object(ae))
                snprintf(error, sizeof(error), "%s", ctlout_jstr(ae, "code"));
            else
                snprintf(error, sizeof(error), "-");
            table_row(t, n, ctlout_jstr(a, "at")[0] ? ctlout_jstr(a, "at") : "-", when, http, dur,
                      error);
        }
        if (ctlout_table_done(t) != 0) {
            json_decref(r);
            return 1;
        }
        long long total = ctlout_jint(r, "attempts_total");
        if (total > (long long)json_array_size(attempts))
            printf("(%lld older attempts not shown)\n",
                   total - (long long)json_array_size(attempts));
    }
    json_decref(r);
    return 0;
}

static int cmd_redeliver(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    struct ops_error err;
    if (o->failed) {
        if (o->nargs)
            return ctlout_usage_error("redeliver: give delivery ids or --failed, not both");
        struct ops_params p = {.status = "failed",
                               .target = o->target,
                               .source = o->source,
                               .since = o->since,
                               .until = o->until};
        int rc;
        json_t *doc = ctlout_run_op(rs, cfg, OPS_REDELIVER_BULK, &p, o->json, NULL, &rc);
        if (doc == NULL)
            return rc;
        long long n = ctlout_jint(doc, "redelivered");
        printf("redelivered %lld failed deliver%s\n", n, n == 1 ? "y" : "ies");
        json_decref(doc);
        return 0;
    }
    if (o->target || o->source || o->since || o->until)
        return ctlout_usage_error(
            "redeliver: --target, --source, --since and --until need --failed");
    if (o->nargs == 0)
        return ctlout_usage_error("redeliver: needs DELIVERY_ID... or --failed");

    int rc = 0;
    json_t *ok = json_array(), *errors = json_array();
    for (int i = 0; i < o->nargs; i++) {
        struct ops_params p = {.id = o->args[i]};
        json_t *r = ops_run(rs, cfg, OPS_REDELIVER, &p, &err);
        if (r == NULL) {
            int e = ctlout_op_failed(&err, o->args[i]);
            if (e > rc)
                rc = e;
            json_array_append_new(errors, json_pack("{s:s,s:s,s:s}", "id", o->args[i], "code",
                                                    err.code, "message", err.message));
            if (err.status == 503)
                break; /* Redis is gone: the others would fail the same way */
            continue;
        }
        if (!o->json) {
            char *id = ctlout_clean(o->args[i]);
            printf("%s: redelivered, now %s\n", id, ctlout_jstr(r, "status"));
            free(id);
        }
        json_array_append_new(ok, r);
    }
    if (o->json) {
        json_t *doc = json_pack("{s:o,s:o}", "redelivered", ok, "errors", errors);
        ctlout_print_json(doc);
        json_decref(doc);
    } else {
        json_decref(ok);
        json_decref(errors);
    }
    return rc;
}

static int cmd_target(struct rsync *rs, const struct config *cfg, const struct opts *o, int pause)
{
    const char *cmd = pause ? "pause" : "resume";
    if (o->nargs != 1)
        return ctlout_usage_error("%s: needs exactly one TARGET", cmd);
    struct ops_params p = {.target = o->args[0]};
    int rc;
    json_t *doc = ctlout_run_op(rs, cfg, pause ? OPS_PAUSE : OPS_RESUME, &p, o->json, cmd, &rc);
    if (doc == NULL)
        return rc;
    char *t = ctlout_clean(o->args[0]);
    printf("target %s %s%s (%lld pending, %lld retrying)\n", t,
           pause ? "paused: its deliveries wait until resumed" : "resumed",
           json_is_true(json_object_get(doc, "circuit_closed")) ? "; its open circuit is closed"
                                                                : "",
           ctlout_jint(doc, "pending"), ctlout_jint(doc, "retrying"));
    free(t);
    json_decref(doc);
    return 0;
}

/* relayctl sources: what an operator needs to register each source in its CMS and to see
 * that the CMS's deliveries arrive (queue/sources, the same view as GET /admin/sources). */
static int cmd_sources(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    if (o->nargs)
        return ctlout_usage_error("sources: unexpected argument %s", o->args[0]);
    char err[256];
    int rc;
    json_t *doc =
        ctlout_run_read(sources_read(rs, cfg, util_now_ms(), err, sizeof(err)), err, o->json, &rc);
    if (doc == NULL)
        return rc;
    static const char *const heads[] = {
        "SOURCE",        "PATH",      "SCHEME",       "HEADER",       "SECRETS",
        "LAST RECEIVED", "LAST PING", "ACCEPTED 24H", "REJECTED 24H", "LAST REJECTION"};
    struct table *t = table_new(10, heads, "llllrllrll");
    int64_t now = util_now_ms();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "data"), i, s)
    {
        char secrets[16], acc[24], rej[256] = "", last_rej[96] = "-", recv[32], ping[32];
        snprintf(secrets, sizeof(secrets), "%lld", ctlout_jint(s, "secrets"));
        snprintf(acc, sizeof(acc), "%lld", ctlout_jint(s, "accepted_24h"));
        reltime_rfc3339(ctlout_jstr(s, "last_received_at"), now, recv, sizeof(recv));
        reltime_rfc3339(ctlout_jstr(s, "last_ping_at"), now, ping, sizeof(ping));
        const char *code;
        json_t *n;
        size_t used = 0;
        json_object_foreach(json_object_get(s, "rejected_24h"), code, n)
        {
            int w = snprintf(rej + used, sizeof(rej) - used, "%s%s %lld", used ? ", " : "", code,
                             (long long)json_integer_value(n));
            if (w < 0 || (size_t)w >= sizeof(rej) - used)
                break;
            used += (size_t)w;
        }
        json_t *lr = json_object_get(s, "last_rejection");
        if (json_is_object(lr)) {
            char rel[32];
            reltime_rfc3339(ctlout_jstr(lr, "at"), now, rel, sizeof(rel));
            snprintf(last_rej, sizeof(last_rej), "%s (%s)", ctlout_jstr(lr, "code"), rel);
        }
        table_row(t, ctlout_jstr(s, "name"), ctlout_jstr(s, "path"), ctlout_jstr(s, "scheme"),
                  ctlout_jstr(s, "header"), secrets, recv, ping, acc, used ? rej : "0", last_rej);
    }
    json_decref(doc);
    return ctlout_table_done(t);
}

static int cmd_pause(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    return cmd_target(rs, cfg, o, 1);
}

static int cmd_resume(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    return cmd_target(rs, cfg, o, 0);
}

/* relayctl targets (GET /admin/targets): per target its mode, state, circuit, counts, last
 * delivery and error, and a feed's last poll. */
static int cmd_targets(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    int rc;
    if (o->nargs)
        return ctlout_usage_error("targets: unexpected argument %s", o->args[0]);
    json_t *doc = ctlout_run_op(rs, cfg, OPS_TARGETS, NULL, o->json, NULL, &rc);
    if (doc == NULL)
        return rc;
    static const char *const heads[] = {"TARGET",     "MODE",           "STATE",      "CIRCUIT",
                                        "PENDING",    "RETRYING",       "DELIVERED",  "FAILED",
                                        "SUPERSEDED", "LAST DELIVERED", "LAST ERROR", "LAST POLL"};
    struct table *t = table_new(12, heads, "llllrrrrrlll");
    int64_t now = util_now_ms();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "data"), i, e)
    {
        static const char *const keys[] = {"pending", "retrying", "delivered", "failed",
                                           "superseded"};
        char c[5][32], circuit[96] = "off", last[32], lerr[320] = "-", poll[32] = "-";
        for (int k = 0; k < 5; k++)
            snprintf(c[k], sizeof(c[k]), "%lld", ctlout_jint(e, keys[k]));
        if (strcmp(ctlout_jstr(e, "circuit"), "open") == 0) {
            char since[32], probe[32];
            reltime_rfc3339(ctlout_jstr(e, "circuit_opened_at"), now, since, sizeof(since));
            reltime_rfc3339(ctlout_jstr(e, "next_probe_at"), now, probe, sizeof(probe));
            /* a time past: the probe is in flight, or goes with the next claim */
            snprintf(circuit, sizeof(circuit), "open (since %s, probe %s)", since,
                     strncmp(probe, "in ", 3) == 0 ? probe : "due");
        } else if (!json_is_null(json_object_get(e, "breaker"))) {
            snprintf(circuit, sizeof(circuit), "closed");
        }
        reltime_rfc3339(ctlout_jstr(e, "last_delivered_at"), now, last, sizeof(last));
        const json_t *le = json_object_get(e, "last_error");
        if (json_is_object(le)) {
            char at[32];
            reltime_rfc3339(ctlout_jstr(le, "at"), now, at, sizeof(at));
            snprintf(lerr, sizeof(lerr), "%s %.60s: %.200s", at, ctlout_jstr(le, "code"),
                     ctlout_jstr(le, "message"));
        }
        const json_t *f = json_object_get(e, "feed");
        if (json_is_object(f))
            reltime_rfc3339(ctlout_jstr(f, "last_poll_at"), now, poll, sizeof(poll));
        table_row(t, ctlout_jstr(e, "name"), ctlout_jstr(e, "delivery"),
                  json_is_true(json_object_get(e, "paused")) ? "paused" : "active", circuit, c[0],
                  c[1], c[2], c[3], c[4], last, lerr, json_is_object(f) ? poll : "-");
    }
    json_decref(doc);
    return ctlout_table_done(t);
}

/* ---- catalog and feeds ---------------------------------------------------------------- */

static int cmd_feeds(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    if (o->nargs)
        return ctlout_usage_error("feeds: unexpected argument %s", o->args[0]);
    char err[256];
    int rc;
    json_t *doc = ctlout_run_read(catalog_run_info(rs, cfg, err, sizeof(err)), err, o->json, &rc);
    if (doc == NULL)
        return rc;
    json_t *feeds = json_object_get(doc, "feeds");
    if (json_object_size(feeds) == 0) {
        printf("no target serves a feed\n");
        json_decref(doc);
        return 0;
    }
    static const char *const heads[] = {"TARGET",  "FORMAT",    "DELIVERY", "LIVE",
                                        "REMOVED", "LAST POLL", "STATUS",   "LAG"};
    struct table *t = table_new(8, heads, "lllrrlrr");
    int64_t now = util_now_ms();
    const char *name;
    json_t *f;
    json_object_foreach(feeds, name, f)
    {
        char live[24], removed[24], poll[32], st[16], lag[24];
        snprintf(live, sizeof(live), "%lld", ctlout_jint(f, "live"));
        snprintf(removed, sizeof(removed), "%lld", ctlout_jint(f, "removed"));
        reltime_rfc3339(ctlout_jstr(f, "last_poll_at"), now, poll, sizeof(poll));
        snprintf(st, sizeof(st), "-");
        if (json_is_integer(json_object_get(f, "last_poll_status")))
            snprintf(st, sizeof(st), "%lld", ctlout_jint(f, "last_poll_status"));
        snprintf(lag, sizeof(lag), "-");
        if (json_is_integer(json_object_get(f, "lag")))
            snprintf(lag, sizeof(lag), "%lld", ctlout_jint(f, "lag"));
        table_row(t, name, ctlout_jstr(f, "format"), ctlout_jstr(f, "delivery"), live, removed,
                  poll, st, lag);
    }
    json_decref(doc);
    return ctlout_table_done(t);
}

static int cmd_catalog(struct rsync *rs, const struct config *cfg, const struct opts *o)
{
    if (o->nargs != 1)
        return ctlout_usage_error("catalog: give one TARGET");
    struct catalog_list_params p = {o->args[0], o->status, o->source, o->limit, o->cursor};
    char err[256];
    int status = 0;
    json_t *doc = catalog_run_list(rs, cfg, &p, &status, err, sizeof(err));
    if (doc == NULL) {
        fprintf(stderr, "relayctl: catalog: %s\n", err);
        return status == 400 ? 2 : 1;
    }
    if (o->json) {
        ctlout_print_json(doc);
        json_decref(doc);
        return 0;
    }
    json_t *data = json_object_get(doc, "data");
    const char *next =
        json_string_value(json_object_get(json_object_get(doc, "meta"), "next_cursor"));
    int rc = 0;
    if (json_array_size(data) == 0) {
        printf("no catalog entries%s\n", next ? " on this page" : "");
    } else {
        static const char *const heads[] = {"SOURCE",     "CONTENT_ID", "TYPE",       "STATUS",
                                            "UPDATED_AT", "DELIVERED",  "DELIVERY_ID"};
        struct table *t = table_new(7, heads, "lllllll");
        int64_t now = util_now_ms();
        size_t i;
        json_t *e;
        json_array_foreach(data, i, e)
        {
            char when[32];
            reltime_rfc3339(ctlout_jstr(e, "delivered_at"), now, when, sizeof(when));
            table_row(t, ctlout_jstr(e, "source"), ctlout_jstr(e, "content_id"),
                      ctlout_jstr(e, "content_type"), ctlout_jstr(e, "status"),
                      ctlout_jstr(e, "updated_at"), when, ctlout_jstr(e, "delivery_id"));
        }
        rc = ctlout_table_done(t);
    }
    if (next)
        printf("more: relayctl catalog %s ... --cursor %s\n", o->args[0], next);
    json_decref(doc);
    return rc;
}

/* ---- the command table ---------------------------------------------------------------- */

/* One entry per command: its name, the options it accepts and what runs it once the config
 * is loaded and Redis is set up. A new command is one row here and one line in usage. */
struct command {
    const char *name;
    unsigned opts;
    int (*run)(struct rsync *rs, const struct config *cfg, const struct opts *o);
};

static const struct command commands[] = {
    {"stats", OPT_JSON, cmd_stats},
    {"deliveries",
     OPT_JSON | OPT_STATUS | OPT_TARGET | OPT_SOURCE | OPT_LIMIT | OPT_CURSOR | OPT_SINCE |
         OPT_UNTIL,
     cmd_deliveries},
    {"show", OPT_JSON, cmd_show},
    {"redeliver", OPT_JSON | OPT_FAILED | OPT_TARGET | OPT_SOURCE | OPT_SINCE | OPT_UNTIL,
     cmd_redeliver},
    {"sources", OPT_JSON, cmd_sources},
    {"pause", OPT_JSON, cmd_pause},
    {"resume", OPT_JSON, cmd_resume},
    {"targets", OPT_JSON, cmd_targets},
    {"feeds", OPT_JSON, cmd_feeds},
    {"catalog", OPT_JSON | OPT_STATUS | OPT_SOURCE | OPT_LIMIT | OPT_CURSOR, cmd_catalog},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    struct cli_opts cli;
    int rc = cli_parse(argc, argv, "relayctl", usage, CLI_COMMANDS, &cli);
    if (rc >= 0)
        return rc;
    if (cli.first_arg >= argc)
        return ctlout_usage_error("no command given");

    const char *name = argv[cli.first_arg];
    /* sync and syncs take repeatable and flag options of their own (ctl/relayctl_sync.c) */
    if (strcmp(name, "sync") == 0 || strcmp(name, "syncs") == 0)
        return relayctl_sync_main(&cli, argc, argv, cli.first_arg);
    if (strcmp(name, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    const struct command *cmd = find_command(name);
    if (cmd == NULL)
        return ctlout_usage_error("unknown command %s", name);

    struct opts o = {0};
    rc = parse_opts(argc, argv, cli.first_arg + 1, cmd->name, cmd->opts, &o);
    if (rc >= 0)
        return rc;
    struct session ses;
    rc = session_open(&cli, o.config_path, &ses);
    if (rc != 0)
        return rc;
    rc = cmd->run(ses.rs, ses.cfg, &o);
    session_close(&ses);
    return rc;
}
