#ifndef RELAY_HCLIENT_H
#define RELAY_HCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Outbound HTTP client for the worker, on a libevent loop: plain http:// to an IP literal
 * without a proxy goes through handlers/hplain.c (a lean HTTP/1.1 client), everything else
 * through libcurl's multi interface (one event per socket plus one timer). Both pool and reuse
 * connections; every request has its own timeout and a cap on the response body it keeps.
 * RELAY_HTTP_CURL_ONLY set in the environment sends everything through curl (A/B checks). */

struct hclient;
struct event_base;

struct hclient_request {
    const char *method;         /* GET, POST, PUT, PATCH, DELETE */
    const char *url;            /* http or https only */
    const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
    const char *body;           /* may be NULL (no body) */
    size_t body_len;
    const struct auth *auth; /* may be NULL (none) */
    long timeout_ms;         /* whole request */
    size_t max_body;         /* response bytes kept; the rest is read and dropped */
};

struct hclient_response {
    long status;            /* final HTTP status; 0 when the request failed below HTTP */
    int error;              /* 0, or one of enum hclient_error */
    const char *error_text; /* human text for error (no URL, no secret) */
    const char *body;       /* first max_body bytes, NUL-terminated; never NULL */
    size_t body_len;
    int truncated;           /* the body was longer than max_body */
    const char *retry_after; /* the final response's Retry-After header, or NULL */
    int64_t duration_ms;
};

enum hclient_error {
    HCLIENT_OK = 0,
    HCLIENT_TIMEOUT,
    HCLIENT_DNS,
    HCLIENT_CONNECT,
    HCLIENT_TRANSPORT /* TLS, protocol, reset, ... */
};

/* Called once per started request, from the event loop. res lives only during the call. */
typedef void (*hclient_cb)(const struct hclient_response *res, void *arg);

/* Returns a client on base, or NULL on failure. Caller frees with hclient_free(), which
 * aborts requests still running without calling their callbacks. curl_global_init() must
 * have run. */
struct hclient *hclient_new(struct event_base *base);
void hclient_free(struct hclient *hc);

/* Starts a request; everything in req is copied. Returns a handle (valid until cb runs or
 * hclient_cancel()), or NULL when the request could not be set up (cb is then not called). */
struct hclient_call *hclient_start(struct hclient *hc, const struct hclient_request *req,
                                   hclient_cb cb, void *arg);
/* Aborts a running request; its callback is not called. */
void hclient_cancel(struct hclient *hc, struct hclient_call *call);

/* Requests currently running. */
size_t hclient_active(const struct hclient *hc);

/* Short name of an error ("timeout", "dns_error", "connection_error", "transport_error"). */
const char *hclient_error_code(int error);

#endif
