#ifndef RELAY_HPLAIN_H
#define RELAY_HPLAIN_H

#include <stddef.h>

#include "handlers/hclient.h"

/* The worker's lean HTTP/1.1 client for plain http:// URLs to IP literals, on the caller's
 * libevent loop: keep-alive connections pooled per address, each request written with one
 * send, the response read by handlers/hresp.c. handlers/hclient.c sends what this takes
 * through it and everything else (https, host names, proxies, digest auth, unusual URLs)
 * through libcurl, and both answer alike: the same timeouts (connect and total), the same
 * error classes and texts as curl's, the same headers on the wire, no redirects followed. */

struct hplain;
struct hplain_call;

/* Returns a client on base, or NULL. Caller frees with hplain_free() (requests still running
 * are dropped without their callbacks). */
struct hplain *hplain_new(struct event_base *base);
void hplain_free(struct hplain *hp);

/* What hplain_start needs of a URL: filled by hplain_parse_url. */
struct hplain_target {
    char host[64];    /* for the Host header: "1.2.3.4" or "[::1]" */
    unsigned port;    /* 80 when absent */
    const char *path; /* the request target in the URL (points into it), "" for "/" */
    size_t path_len;
    unsigned char addr[28]; /* struct sockaddr_in or _in6 */
    unsigned addr_len;
};

/* 0 and t filled when url is one this client takes: "http://" an IPv4 or bracketed IPv6
 * literal, an optional port, then an origin-form path and query of plain visible ASCII with no
 * dot segments, no fragment and no user info. -1 for anything else (libcurl takes it). */
int hplain_parse_url(const char *url, struct hplain_target *t);

/* What the client offers in Accept-Encoding (it decodes both; curl offers br and zstd too). */
#define HPLAIN_ACCEPT_ENCODING "deflate, gzip"

/* The request's bytes as hplain_start sends them (handlers/hplain_req.c): into dst, or only
 * their count with dst NULL; *len gets the count. -1 when a header cannot go on the wire as it
 * is (a line break in it, no name). */
int hplain_request(char *dst, size_t *len, const struct hplain_target *t, const char *method,
                   const char *const *headers, const char *const *extra, size_t n_extra,
                   const char *body, size_t body_len);

/* Starts method on t with headers (NULL-terminated "Name: value" strings, curl's conventions:
 * "Name:" drops a header, "Name;" sends it empty) and body (sent when not NULL, with its
 * Content-Length). Everything is copied. cb runs once, from the loop, unless cancelled.
 * Returns NULL when the request could not be set up (cb is then not called). */
struct hplain_call *hplain_start(struct hplain *hp, const struct hplain_target *t,
                                 const char *method, const char *const *headers,
                                 const char *const *extra, size_t n_extra, const char *body,
                                 size_t body_len, long timeout_ms, long connect_timeout_ms,
                                 size_t max_body, hclient_cb cb, void *arg);
/* Drops a running request (its connection is closed); its callback is not called. */
void hplain_cancel(struct hplain *hp, struct hplain_call *c);

#endif
