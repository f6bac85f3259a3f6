#ifndef RELAY_FUZZ_HARNESS_H
#define RELAY_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* One entry per parser that sees untrusted bytes. The libFuzzer targets (fuzz/fuzz_<name>.c)
 * and tests/unit/test_fuzz_regressions.c call exactly these, so a crashing input kept in
 * fuzz/regressions/<name>/ replays through the same code in the normal suite. Each returns 0;
 * a broken invariant aborts. Input layouts:
 *
 * sig:         byte 0 picks the scheme (% 3); then "Name: value\n" header lines up to an
 *              empty line; the rest is the body.
 * envelope:    byte 0: bit 0 = movida (else encorastream), bit 1 = a fallback id follows up
 *              to the first '\n'; the rest is the body.
 * config:      the whole input is the config file, parsed for each role.
 * cms:         byte 0 picks the reference (source kind and content type, % 8); the rest is
 *              the CMS responses separated by 0x1e (RFC 7464's record separator), fed in
 *              order to cms_next_url()/cms_normalize(), then rendered in every format.
 * retry_after: the whole input is the Retry-After value.
 * http:        the whole input is what a client sends on one connection: request heads go
 *              through http_parse_head(), bodies through the Content-Length or chunked
 *              framing, request after request while the connection would stay open.
 * hresp:       byte 0: bytes per read (1 + b % 64); the rest is what a server sends the
 *              worker's plain-http client on one connection (handlers/hresp.c), answer after
 *              answer while it would keep the connection; its first 256 bytes are also tried as
 *              a URL (hplain_parse_url). */

int fuzz_sig(const uint8_t *data, size_t size);
int fuzz_envelope(const uint8_t *data, size_t size);
int fuzz_config(const uint8_t *data, size_t size);
int fuzz_cms(const uint8_t *data, size_t size);
int fuzz_retry_after(const uint8_t *data, size_t size);
int fuzz_http(const uint8_t *data, size_t size);
int fuzz_hresp(const uint8_t *data, size_t size);

#endif
