#ifndef RELAY_CTLOUT_H
#define RELAY_CTLOUT_H

#include <stddef.h>

#include "core/config.h"
#include "ctl/table.h"
#include "queue/ops.h"
#include "queue/rsync.h"

/* relayctl's output: exit statuses of usage and operation errors, JSON and table printing,
 * and the one preamble of every reading command (read, then --json prints the document whole
 * or the command prints its table). Writes to stdout/stderr only. */

struct json_t;

/* "relayctl: <message>" and the --help hint on stderr. Returns 2 (the usage exit status). */
int ctlout_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints an operation's error (with what, a name, when given). Returns the exit status:
 * 2 for usage problems (400/422, a name not in the config), else 1. */
int ctlout_op_failed(const struct ops_error *err, const char *what);
void ctlout_print_json(const struct json_t *doc);
/* table_clean() for the CLI: out of memory ends the program (nothing is half-done then).
 * Caller frees. */
char *ctlout_clean(const char *s);
/* Prints and frees t. Returns 0, or 1 (the exit status) when it could not be built. */
int ctlout_table_done(struct table *t);
/* o's string at key, "" when absent or not a string; its integer (0 when absent). */
const char *ctlout_jstr(const struct json_t *o, const char *key);
long long ctlout_jint(const struct json_t *o, const char *key);
/* The integer at key followed by suffix, or "-" when it is absent or null, into out. */
const char *ctlout_int_or_dash(const struct json_t *o, const char *key, const char *suffix,
                               char *out, size_t cap);

/* Runs op (what: the name it is about, for its error). With json prints its document and
 * returns NULL with *rc 0; on failure returns NULL with *rc the exit status; else returns the
 * document for the table (caller decrefs). */
struct json_t *ctlout_run_op(struct rsync *rs, const struct config *cfg, enum ops_op op,
                             const struct ops_params *p, int json, const char *what, int *rc);
/* The same for a read of its own (sources, feeds): doc as read, NULL when it failed with err
 * saying why. */
struct json_t *ctlout_run_read(struct json_t *doc, const char *err, int json, int *rc);

#endif
