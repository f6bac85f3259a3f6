/* relayctl sync / syncs: start a catalog sync run and follow it, cancel one, list the runs.
 * Runs are started and cancelled in Redis exactly as POST /admin/sources/{name}/sync and
 * POST /admin/syncs/{id}/cancel do (queue/sync); a relay-worker lists them. */
#include "ctl/relayctl_sync.h"
#include "ctl/session.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "queue/lua.h"
#include "queue/rsync.h"
#include "queue/sync.h"

#define POLL_MS 200
#define MAX_TARGETS 64
#define BAR_WIDTH 24

struct sopts {
    const char *targets[MAX_TARGETS];
    size_t n_targets;
    const char *source, *limit, *config_path;
    const char *arg;
    const char *run_id; /* sync cancel RUN_ID */
    int full, dry_run, detach, json;
};

static int usage_error(const char *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "relayctl: %s: %s%s%s\nTry 'relayctl --help'.\n", cmd, what, arg ? " " : "",
            arg ? arg : "");
    return 2;
}

static int parse(int argc, char **argv, int first, int is_sync, struct sopts *o)
{
    const char *cmd = argv[first];
    for (int i = first + 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        const char *name = NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (is_sync && strcmp(a, "--full") == 0) {
            o->full = 1;
            continue;
        }
        if (is_sync && strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
            continue;
        }
        if (is_sync && strcmp(a, "--detach") == 0) {
            o->detach = 1;
            continue;
        }
        if (a[0] != '-') {
            /* "sync SOURCE", or "sync cancel RUN_ID": a source is never followed by another
             * word, so a source named cancel still syncs with "sync cancel" alone */
            if (is_sync && o->arg && !o->run_id && strcmp(o->arg, "cancel") == 0)
                o->run_id = a;
            else if (!is_sync || o->arg)
                return usage_error(cmd, "unexpected argument", a);
            else
                o->arg = a;
            continue;
        }
        if (is_sync && strncmp(a, "--target", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
            if (o->n_targets == MAX_TARGETS)
                return usage_error(cmd, "too many --target", NULL);
            dst = &o->targets[o->n_targets++];
            name = "--target";
        } else if (!is_sync && strncmp(a, "--source", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
            dst = &o->source;
            name = "--source";
        } else if (!is_sync && strncmp(a, "--limit", 7) == 0 && (a[7] == '\0' || a[7] == '=')) {
            dst = &o->limit;
            name = "--limit";
        } else if (strncmp(a, "--config", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
            dst = &o->config_path;
            name = "--config";
        } else {
            return usage_error(cmd, "unknown option", a);
        }
        size_t n = strlen(name);
        if (a[n] == '=')
            *dst = a + n + 1;
        else if (i + 1 < argc)
            *dst = argv[++i];
        else
            return usage_error(cmd, "option needs a value:", name);
    }
    if (is_sync && o->arg == NULL)
        return usage_error(cmd, "SOURCE is required", NULL);
    if (o->run_id && (o->n_targets || o->full || o->dry_run))
        return usage_error("sync cancel", "takes only RUN_ID, --detach, --json and --config", NULL);
    return -1;
}

static struct redisReply *script(struct rsync *rs, const char *lua, const struct sync_args *a)
{
    if (a->oom)
        return NULL;
    struct redisReply *r = rsync_script(rs, lua, 0, a->argc, (const char **)a->argv, a->lens);
    if (r == NULL) {
        fprintf(stderr, "relayctl: Redis unavailable: %s\n", rsync_error(rs));
        return NULL;
    }
    if (sync_reply_error(r)) {
        fprintf(stderr, "relayctl: Redis error: %s\n", sync_reply_error(r));
        rsync_reply_free(r);
        return NULL;
    }
    return r;
}

static json_t *fetch_record(struct rsync *rs, const struct config *cfg, const char *id)
{
    struct sync_args a;
    sync_args_init(&a);
    sync_args_records(&a, cfg, id, "", 1);
    struct redisReply *r = script(rs, lua_sync_records, &a);
    sync_args_clear(&a);
    if (r == NULL)
        return NULL;
    json_t *arr = sync_records_json(r);
    rsync_reply_free(r);
    json_t *rec = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return rec;
}

static long long jint(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Seconds between started_at and now (or finished_at). */
static double elapsed_s(const json_t *rec)
{
    int64_t st = 0, fin = 0;
    if (util_parse_rfc3339(jstr(rec, "started_at"), &st) != 0)
        return 0;
    if (util_parse_rfc3339(jstr(rec, "finished_at"), &fin) != 0)
        fin = util_now_ms();
    return fin > st ? (double)(fin - st) / 1000.0 : 0;
}

static void counts(const json_t *rec, char *out, size_t cap)
{
    double el = elapsed_s(rec);
    double rate = el > 0 ? (double)jint(rec, "seen") / el : 0;
    snprintf(out, cap,
             "pages %lld  seen %lld  queued %lld  skipped %lld  removed %lld  errors %lld  "
             "%.0f titles/s",
             jint(rec, "pages"), jint(rec, "seen"), jint(rec, "queued"), jint(rec, "skipped"),
             jint(rec, "removed"), jint(rec, "errors"), rate);
}

/* The terminal line: a bar and an ETA when the CMS said how many titles it holds. */
static void draw_bar(const json_t *rec)
{
    char c[200], bar[BAR_WIDTH + 1], eta[32] = "";
    counts(rec, c, sizeof(c));
    const json_t *tot = json_object_get(rec, "total");
    long long seen = jint(rec, "seen");
    if (json_is_integer(tot) && json_integer_value(tot) > 0) {
        long long total = json_integer_value(tot);
        double f = (double)seen / (double)total;
        if (f > 1)
            f = 1;
        int fill = (int)(f * BAR_WIDTH);
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
        double el = elapsed_s(rec), rate = el > 0 ? (double)seen / el : 0;
        if (rate > 0 && seen < total)
            snprintf(eta, sizeof(eta), "  ETA %.0fs", (double)(total - seen) / rate);
        printf("\r\033[K[%s] %3.0f%%  %s%s", bar, f * 100, c, eta);
    } else {
        static const char spin[] = "|/-\\";
        static unsigned k;
        printf("\r\033[K[%c] %s", spin[k++ % 4], c);
    }
    fflush(stdout);
}

static void print_final(const json_t *rec, int json)
{
    if (json) {
        char *s = json_dumps(rec, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
        return;
    }
    char c[200];
    counts(rec, c, sizeof(c));
    const char *err = jstr(rec, "error");
    printf("sync %s %s: %s%s%s%s%s\n", jstr(rec, "id"), jstr(rec, "state"), c,
           err[0] ? "  error " : "", err, err[0] ? ": " : "", jstr(rec, "error_message"));
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Asks sync_cancel.lua to cancel run id. Returns its verdict (the run's record into *rec,
 * caller decrefs, when there is one), or SYNC_CANCEL_ERROR (printed). */
static enum sync_cancel_verdict request_cancel(struct rsync *rs, const struct config *cfg,
                                               const char *id, json_t **rec)
{
    struct sync_args a;
    const struct redisReply *flat;
    *rec = NULL;
    sync_args_init(&a);
    sync_args_cancel(&a, cfg, id);
    struct redisReply *r = script(rs, lua_sync_cancel, &a);
    sync_args_clear(&a);
    if (r == NULL)
        return SYNC_CANCEL_ERROR;
    enum sync_cancel_verdict v = sync_cancel_result(r, &flat);
    *rec = flat ? sync_record_json(flat) : NULL;
    rsync_reply_free(r);
    if (v == SYNC_CANCEL_ERROR || (v != SYNC_CANCEL_UNKNOWN && *rec == NULL)) {
        fputs("relayctl: sync cancel: unexpected reply from Redis\n", stderr);
        json_decref(*rec);
        *rec = NULL;
        return SYNC_CANCEL_ERROR;
    }
    return v;
}

/* Ctrl-C while following a run that relayctl started: on a terminal, offer to cancel it;
 * else (or when declined) stop following and leave it running. Returns 1 to go on following
 * (cancel requested), 0 to stop. */
static int offer_cancel(struct rsync *rs, const struct config *cfg, const char *id)
{
    char line[16] = "";
    json_t *rec = NULL;
    interrupted = 0;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends relayctl at once */
    if (isatty(STDIN_FILENO)) {
        fprintf(stderr,
                "\nCancel sync %s? It stops listing, removes nothing, keeps what it "
                "queued. [y/N] ",
                id);
        fflush(stderr);
        if (fgets(line, sizeof(line), stdin) != NULL && (line[0] == 'y' || line[0] == 'Y')) {
            enum sync_cancel_verdict v = request_cancel(rs, cfg, id, &rec);
            json_decref(rec);
            if (v == SYNC_CANCELLED || v == SYNC_CANCELLING || v == SYNC_CANCEL_ENDED) {
                fprintf(stderr, "cancelling sync %s\n", id);
                return 1;
            }
        }
    }
    fprintf(stderr,
            "\nrelayctl: stopped following sync %s; it goes on (relayctl syncs; relayctl sync "
            "cancel %s)\n",
            id, id);
    return 0;
}

/* The run's record; once its cancel was asked for, by asking again (sync_cancel.lua is
 * idempotent), so that a run whose worker died ends as soon as its lease has expired. */
static json_t *poll_record(struct rsync *rs, const struct config *cfg, const char *id, int cancel)
{
    json_t *rec = NULL;
    if (!cancel)
        return fetch_record(rs, cfg, id);
    (void)request_cancel(rs, cfg, id, &rec);
    return rec;
}

/* Follows run id until it ends. cancel 0: a run relayctl started (exit status 0 when it ends
 * done; Ctrl-C offers to cancel it); 1: a run whose cancel relayctl asked for (0 when it ends
 * cancelled). */
static int follow(struct rsync *rs, const struct config *cfg, const char *id, int json, int cancel)
{
    /* relayctl sync cancel waits for the end quietly: the progress is the run starter's */
    int quiet = json || cancel;
    int tty = isatty(STDOUT_FILENO) && !quiet;
    int64_t next_line = 0;
    const char *want = cancel ? "cancelled" : "done";
    if (!cancel) {
        struct sigaction sa = {.sa_handler = on_sigint}; /* no SA_RESTART: the sleep wakes */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
    }
    for (;;) {
        if (interrupted) {
            if (!offer_cancel(rs, cfg, id))
                return 130;
            cancel = 1;
        }
        json_t *rec = poll_record(rs, cfg, id, cancel);
        if (rec == NULL) {
            fprintf(stderr, "relayctl: sync %s: record not found\n", id);
            return 1;
        }
        const char *state = jstr(rec, "state");
        int running = strcmp(state, "running") == 0;
        if (tty) {
            draw_bar(rec);
            if (!running)
                fputc('\n', stdout);
        } else if (!quiet && running && util_mono_ms() >= next_line) {
            char c[200];
            counts(rec, c, sizeof(c));
            printf("sync %s running: %s\n", id, c);
            fflush(stdout);
            next_line = util_mono_ms() + 1000;
        }
        if (!running) {
            int ok = strcmp(state, want) == 0;
            print_final(rec, json);
            json_decref(rec);
            return ok ? 0 : 1;
        }
        json_decref(rec);
        struct timespec ts = {0, POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int cmd_sync(struct rsync *rs, const struct config *cfg, const struct sopts *o)
{
    struct sync_request req = {.source = o->arg,
                               .targets = o->n_targets ? o->targets : NULL,
                               .n_targets = o->n_targets,
                               .full = o->full,
                               .dry_run = o->dry_run};
    struct sync_error err;
    char id[25], other[64];
    int rc = 1;

    char *targets = sync_request_targets(cfg, &req, &err);
    if (targets == NULL) {
        fprintf(stderr, "relayctl: sync: %s\n", err.message);
        return strcmp(err.code, "internal") == 0 ? 1 : 2;
    }
    struct sync_args a;
    sync_new_id(id);
    sync_args_init(&a);
    sync_args_start(&a, cfg, id, o->arg, targets, o->full, o->dry_run, 0);
    struct redisReply *r = script(rs, lua_sync_start, &a);
    sync_args_clear(&a);
    free(targets);
    if (r == NULL)
        return 1;
    int st = sync_start_result(r, other, sizeof(other));
    rsync_reply_free(r);
    if (st == 0) {
        fprintf(stderr, "relayctl: sync: sync %s is already running for source %s\n", other,
                o->arg);
        return 1;
    }
    if (st != 1) {
        fputs("relayctl: sync: unexpected reply from Redis\n", stderr);
        return 1;
    }
    if (o->detach) {
        if (o->json)
            printf("{\"sync_id\": \"%s\"}\n", id);
        else
            printf("%s\n", id);
        return 0;
    }
    if (!o->json)
        fprintf(stderr, "sync %s started for source %s\n", id, o->arg);
    rc = follow(rs, cfg, id, o->json, 0);
    return rc;
}

/* relayctl sync cancel RUN_ID: exit 0 once the run ended cancelled (at once with --detach
 * when its worker has yet to notice), 1 when it had ended or ends otherwise, or is unknown. */
static int cmd_cancel(struct rsync *rs, const struct config *cfg, const struct sopts *o)
{
    json_t *rec = NULL;
    int rc = 1;
    enum sync_cancel_verdict v = request_cancel(rs, cfg, o->run_id, &rec);
    switch (v) {
    case SYNC_CANCEL_ERROR:
        break;
    case SYNC_CANCEL_UNKNOWN:
        fprintf(stderr, "relayctl: sync cancel: no sync run %s\n", o->run_id);
        break;
    case SYNC_CANCEL_ENDED:
        fprintf(stderr, "relayctl: sync cancel: sync %s already ended %s\n", o->run_id,
                jstr(rec, "state"));
        break;
    case SYNC_CANCELLED:
        print_final(rec, o->json);
        rc = 0;
        break;
    case SYNC_CANCELLING:
        if (o->detach) {
            if (o->json)
                print_final(rec, 1);
            else
                printf("sync %s cancelling: its worker stops at its next page\n", o->run_id);
            rc = 0;
        } else {
            if (!o->json)
                fprintf(stderr, "sync %s cancelling: waiting for its worker\n", o->run_id);
            rc = follow(rs, cfg, o->run_id, o->json, 1);
        }
        break;
    }
    json_decref(rec);
    return rc;
}

static int cmd_syncs(struct rsync *rs, const struct config *cfg, const struct sopts *o)
{
    long limit = 20;
    if (o->source && config_source(cfg, o->source) == NULL) {
        fprintf(stderr, "relayctl: syncs: no source named %s\n", o->source);
        return 2;
    }
    if (o->limit) {
        char *end;
        limit = strtol(o->limit, &end, 10);
        if (*end != '\0' || limit < 1 || limit > 500)
            return usage_error("syncs", "--limit must be from 1 to 500, not", o->limit);
    }
    struct sync_args a;
    sync_args_init(&a);
    sync_args_records(&a, cfg, "", o->source ? o->source : "", (int)limit);
    struct redisReply *r = script(rs, lua_sync_records, &a);
    sync_args_clear(&a);
    if (r == NULL)
        return 1;
    json_t *arr = sync_records_json(r);
    rsync_reply_free(r);
    if (arr == NULL) {
        fputs("relayctl: syncs: unexpected reply from Redis\n", stderr);
        return 1;
    }
    if (o->json) {
        json_t *doc = json_pack("{s:o}", "data", arr);
        char *s = json_dumps(doc, JSON_INDENT(2));
        if (s)
            puts(s);
        free(s);
        json_decref(doc);
        return 0;
    }
    printf("%-24s %-10s %-10s %-20s %6s %7s %7s %7s %7s %6s  %s\n", "ID", "SOURCE", "STATE",
           "STARTED", "PAGES", "SEEN", "QUEUED", "SKIPPED", "REMOVED", "ERRORS", "ERROR");
    size_t i;
    json_t *rec;
    json_array_foreach(arr, i, rec)
    {
        /* a running run whose cancel its worker has yet to see shows as cancelling */
        const char *state = jstr(rec, "state");
        if (strcmp(state, "running") == 0 &&
            json_is_string(json_object_get(rec, "cancel_requested_at")))
            state = "cancelling";
        printf("%-24s %-10s %-10s %-20.20s %6lld %7lld %7lld %7lld %7lld %6lld  %s\n",
               jstr(rec, "id"), jstr(rec, "source"), state, jstr(rec, "started_at"),
               jint(rec, "pages"), jint(rec, "seen"), jint(rec, "queued"), jint(rec, "skipped"),
               jint(rec, "removed"), jint(rec, "errors"),
               jstr(rec, "error")[0] ? jstr(rec, "error") : "-");
    }
    json_decref(arr);
    return 0;
}

int relayctl_sync_main(const struct cli_opts *cli_in, int argc, char **argv, int first)
{
    struct sopts o = {0};
    int is_sync = strcmp(argv[first], "sync") == 0;
    int rc = parse(argc, argv, first, is_sync, &o);
    if (rc >= 0)
        return rc;
    struct session ses;
    rc = session_open(cli_in, o.config_path, &ses);
    if (rc != 0)
        return rc;
    if (!is_sync)
        rc = cmd_syncs(ses.rs, ses.cfg, &o);
    else if (o.run_id)
        rc = cmd_cancel(ses.rs, ses.cfg, &o);
    else if (strcmp(o.arg, "cancel") == 0 && config_source(ses.cfg, "cancel") == NULL)
        rc = usage_error("sync cancel", "RUN_ID is required", NULL);
    else
        rc = cmd_sync(ses.rs, ses.cfg, &o);
    session_close(&ses);
    return rc;
}
