#ifndef RELAY_UTIL_H
#define RELAY_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Small helpers shared by every program. None of them allocate unless said. */

/* Wall-clock milliseconds since the Unix epoch. */
int64_t util_now_ms(void);
/* Monotonic milliseconds, for durations. */
int64_t util_mono_ms(void);

/* Writes ms as RFC 3339 UTC with milliseconds ("2026-11-20T10:00:00.000Z") into out
 * (at least 32 bytes). */
void util_rfc3339(int64_t ms, char out[32]);
/* The same instant as "YYYY-MM-DDTHH:MM:SSZ" (whole seconds, four-digit year). Returns 0, or -1
 * for a year outside 0000-9999. */
int util_rfc3339_secs(int64_t ms, char out[32]);
/* Parses RFC 3339 ("2026-11-20T10:00:00Z", optional fraction, "Z" or +hh:mm offset) or a
 * plain date ("2026-11-20", taken as midnight UTC). Returns 0, or -1 on malformed input. */
int util_parse_rfc3339(const char *s, int64_t *ms_out);

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; m 1-12), negative before 1970. */
int64_t util_days_from_civil(int y, int m, int d);

/* Value of one hex digit (either case), or -1. */
int util_hexval(int c);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* Decodes standard base64 (with padding, whitespace not allowed). Returns the decoded length,
 * or -1 on malformed input or when it would not fit in cap. */
long util_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Encodes n bytes as standard base64 into out (4*ceil(n/3)+1 bytes). */
void util_b64_encode(const unsigned char *in, size_t n, char *out);

/* Fills out with 2n random hex characters plus NUL, from the OS CSPRNG. */
void util_random_hex(char *out, size_t n);

/* Percent-encodes s (RFC 3986 unreserved kept). Returns a malloc'd string the caller frees,
 * or NULL on allocation failure. */
char *util_pct_encode(const char *s);

/* Length (1-4) of the valid UTF-8 sequence at s, n bytes available; 0 when it is not one
 * (overlong, surrogate, above U+10FFFF, cut short) or n is 0. */
size_t util_utf8_seq(const unsigned char *s, size_t n);
/* True when s is valid UTF-8 (no overlongs, no surrogates). */
int util_utf8_valid(const unsigned char *s, size_t n);

/* True when the 8 bytes at p are all plain JSON string text: printable ASCII (0x20-0x7f)
 * other than '"' and '\\', which a JSON reader or writer copies as they are. Lets the string
 * loops of core/jread.c and handlers/fmt_dump.c take most text a word at a time. */
static inline int util_json_plain8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t x;
    __builtin_memcpy(&x, p, 8);
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t special = ((x - ones * 0x20) & ~x) | x | ((q - ones) & ~q) | ((b - ones) & ~b);
    return (special & highs) == 0;
}

#endif
