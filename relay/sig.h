#ifndef RELAY_SIG_H
#define RELAY_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* Webhook signature verification over the raw body (README, "Endpoints"); the HMAC itself is
 * core/hmac. */

enum sig_result {
    SIG_OK = 0,
    SIG_MISSING,         /* a required signature header is absent -> 401 signature_missing */
    SIG_INVALID,         /* no configured secret matches -> 401 signature_invalid */
    SIG_OUT_OF_TOLERANCE /* timestamp too far from now -> 401 timestamp_out_of_tolerance */
};

/* Returns the value of request header `name` (case-insensitive), or NULL when absent. */
typedef const char *(*sig_header_fn)(void *ctx, const char *name);

/* Verifies body against src's scheme, trying every configured secret; comparisons are
 * constant-time. now_s is the current Unix time (for stripe and standard-webhooks).
 * Never logs and never copies a secret. */
enum sig_result sig_verify(const struct source *src, sig_header_fn header, void *ctx,
                           const unsigned char *body, size_t len, int64_t now_s);

#endif
