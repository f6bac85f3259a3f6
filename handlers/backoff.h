#ifndef RELAY_BACKOFF_H
#define RELAY_BACKOFF_H

#include <stdint.h>

/* Retry policy for pushes and source fetches (README, "Delivery"): which outcomes are retried and
 * how long the n-th retry waits. Pure functions, no I/O. */

enum backoff_class {
    BACKOFF_DONE = 0, /* 2xx: delivered / fetched */
    BACKOFF_RETRY,    /* transport error, timeout, 408, 425, 429, 5xx */
    BACKOFF_FAIL      /* any other status: fails at once */
};

/* Classifies one HTTP exchange. status is the final HTTP status, or 0 when the request failed
 * below HTTP (connection, DNS, timeout, TLS): those are always retried. */
enum backoff_class backoff_classify(long status);

/* True when a Retry-After header on this status is honoured (429 and 503). */
int backoff_honours_retry_after(long status);

/* Parses a Retry-After value: delay-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"), relative to now_ms. Returns 0 with the delay in ms
 * (0 for a date in the past), or -1 when the value is neither. */
int backoff_parse_retry_after(const char *value, int64_t now_ms, int64_t *delay_ms);

/* Delay before retry n (n >= 1, i.e. after the n-th failed attempt): a value in [d/2, d] with
 * d = min(max_ms, base_ms * 2^(n-1)), picked by rnd (any 32-bit value, uniform), and never
 * less than min_ms (a Retry-After; 0 = none). */
int64_t backoff_delay_ms(int64_t base_ms, int64_t max_ms, int n, int64_t min_ms, uint32_t rnd);

#endif
