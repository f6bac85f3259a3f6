#ifndef RELAY_OPS_DOC_H
#define RELAY_OPS_DOC_H

#include <stdint.h>

#include "core/config.h"

/* The documents of queue/ops (internal to queue/): the JSON that the admin API and relayctl
 * print, made from what the operator scripts return (a record's fields are all strings, times
 * ms as text). Each builder returns a new reference (caller decrefs), or NULL when out of
 * memory. */

struct json_t;

#define OPS_DOC_NSTATUS 5
/* The delivery statuses, in the order the views list them. */
extern const char *const ops_doc_statuses[OPS_DOC_NSTATUS];

/* An integer from a JSON string or number; -1 when absent, empty or not a number. */
int64_t ops_doc_int(const struct json_t *v);

/* The delivery record (README, "Delivery") from the fields of P:d:{id}. */
struct json_t *ops_doc_record(const struct json_t *raw);
/* One attempt from its JSON text as the worker appended it. */
struct json_t *ops_doc_attempt(const char *text);

/* The circuit of t as the views show it: "open" only while t has a breaker and its state
 * (P:circuit:{target} state, NULL = never written) is open. */
const char *ops_doc_circuit(const struct target *t, const char *state);

/* One entry of GET /admin/targets from ops_targets.lua's object for t (NULL = nothing known). */
struct json_t *ops_doc_target(const struct target *t, const struct json_t *raw);

#endif
