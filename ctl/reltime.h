#ifndef RELAY_RELTIME_H
#define RELAY_RELTIME_H

#include <stddef.h>
#include <stdint.h>

/* Times as an operator reads them at a glance: "3m ago", "in 2h", "just now"; one unit
 * (s, m, h, d), rounded down. */

/* Writes ms (Unix milliseconds) relative to now into out; "-" when cap (at least 2) is too
 * small for the text. Room for 32 bytes always suffices. */
void reltime_format(int64_t ms, int64_t now, char *out, size_t cap);
/* The same for an RFC 3339 time; "-" when rfc is NULL, empty or malformed. */
void reltime_rfc3339(const char *rfc, int64_t now, char *out, size_t cap);

#endif
