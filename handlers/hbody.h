#ifndef RELAY_HBODY_H
#define RELAY_HBODY_H

#include <stddef.h>

/* An answer's body as both HTTP paths (curl's in hclient.c, hplain.c's) keep it: grown
 * geometrically, never past cap bytes plus the NUL, so that no request pays for the whole
 * max_body (16 MiB for CMS fetches) up front; what comes past cap is counted as truncated
 * and dropped, and the caller reads on so the connection stays reusable. */
struct hbody {
    char *buf; /* NUL-terminated */
    size_t len, alloc, cap;
    int truncated;
};

/* Returns 0, or -1 out of memory (b is then empty, safe to free). */
int hbody_init(struct hbody *b, size_t cap);
/* Keeps what fits of p[0..n). Returns 0, or -1 out of memory. */
int hbody_append(struct hbody *b, const char *p, size_t n);
void hbody_free(struct hbody *b);

#endif
