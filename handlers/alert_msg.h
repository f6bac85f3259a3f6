#ifndef RELAY_ALERT_MSG_H
#define RELAY_ALERT_MSG_H

#include "core/config.h"
#include "queue/alerts.h"

/* What an alert receiver gets (README "Alerts"): the human line, the Slack-compatible
 * {"text": …} body or the plain JSON {"type", "at", "summary", "subject", …details} body of one
 * message. Every text that reaches a body passes through the redactor first, which replaces
 * any configured secret value it contains with "***": the Lua scripts put no secret in an
 * alert, and this makes sure an echo (a partner's or CMS's text that repeats a credential)
 * cannot leak one either. Pure functions: no I/O. */

struct alert_redact;

/* Collects every secret value of cfg (signature secrets, API and target credentials, signing
 * secrets, feed credentials, Redis and Sentinel passwords, the admin token, the alert URLs and
 * their paths) that is at least ALERT_REDACT_MIN bytes long (shorter ones would blank out
 * ordinary words). Returns NULL when out of memory. Free with alert_redact_free(); it
 * borrows cfg's strings, so cfg must outlive it. */
#define ALERT_REDACT_MIN 6
struct alert_redact *alert_redact_new(const struct config *cfg);
void alert_redact_free(struct alert_redact *r);
/* s with every secret replaced by "***"; r may be NULL (a copy). Returns a malloc'd string
 * (caller frees), or NULL when out of memory. */
char *alert_redact(const struct alert_redact *r, const char *s);

/* The message's one-line summary: the event's own for a single event or a condition, "N more
 * …" for a grouped one, "resolved: …" when a condition cleared. Redacted. Caller frees; NULL
 * when out of memory. */
char *alert_msg_text(const struct alerts_msg *m, const struct alert_redact *r);

/* The POST body for a receiver of format fmt, NUL-terminated JSON. Caller frees; NULL when
 * out of memory. */
char *alert_msg_body(enum alert_format fmt, const struct alerts_msg *m,
                     const struct alert_redact *r);

/* The host[:port] of an alert URL, for logs: the rest of it (path, query, user info) may be a
 * credential. Writes "?" when the URL has no recognisable host. */
void alert_msg_url_host(const char *url, char *out, size_t cap);

#endif
