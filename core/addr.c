#include "core/addr.h"

#include <stdlib.h>
#include <string.h>

int addr_parse(const char *s, size_t n, int def_port, char **host, int *port, const char **why)
{
    const char *h, *colon;
    size_t hl;
    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) {
            *why = "unterminated '[' in IPv6 address";
            return -1;
        }
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1 < s + n ? rb + 1 : NULL;
        if (colon && *colon != ':') {
            *why = "expected ':' after ']'";
            return -1;
        }
    } else {
        h = s;
        colon = memchr(s, ':', n);
        hl = colon ? (size_t)(colon - s) : n;
        if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) {
            *why = "an IPv6 address must be written in brackets, e.g. [::1]:8080";
            return -1;
        }
    }
    if (hl == 0) {
        *why = "missing host";
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)h[i] <= 0x20 || h[i] == 0x7f || strchr("/@?#[]", h[i])) {
            *why = "invalid character in host";
            return -1;
        }
    long pv = def_port;
    if (colon) {
        const char *ps = colon + 1, *pe = s + n;
        if (ps == pe) {
            *why = "missing port";
            return -1;
        }
        pv = 0;
        for (const char *q = ps; q < pe; q++) {
            if (*q < '0' || *q > '9' || pv > 65535) {
                *why = "port must be a number between 1 and 65535";
                return -1;
            }
            pv = pv * 10 + (*q - '0');
        }
    } else if (def_port <= 0) {
        *why = "missing port (expected host:port)";
        return -1;
    }
    if (pv < 1 || pv > 65535) {
        *why = "port must be a number between 1 and 65535";
        return -1;
    }
    *host = strndup(h, hl);
    if (!*host) {
        *why = "out of memory";
        return -1;
    }
    *port = (int)pv;
    return 0;
}
