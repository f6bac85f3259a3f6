/* The plain-http client's URL check and request bytes (handlers/hplain.h). */
#include "handlers/hplain.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- URLs ------------------------------------------------------------------------------- */

int hplain_parse_url(const char *url, struct hplain_target *t)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *a = url + 7, *p = a;
    while (*p && *p != '/' && *p != '?')
        p++;
    size_t alen = (size_t)(p - a);
    const char *port = NULL;
    char hostbuf[64];
    memset(t, 0, sizeof(*t));
    if (alen == 0 || memchr(a, '@', alen) || memchr(a, '#', alen))
        return -1;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (rb == NULL || (size_t)(rb - a - 1) >= sizeof(hostbuf))
            return -1;
        memcpy(hostbuf, a + 1, (size_t)(rb - a - 1));
        hostbuf[rb - a - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)t->addr;
        if (inet_pton(AF_INET6, hostbuf, &s6->sin6_addr) != 1)
            return -1;
        s6->sin6_family = AF_INET6;
        t->addr_len = sizeof(*s6);
        if (rb + 1 < p && rb[1] != ':')
            return -1;
        port = rb + 1 < p ? rb + 2 : NULL;
        memcpy(t->host, a, (size_t)(rb - a + 1));
    } else {
        const char *colon = memchr(a, ':', alen);
        size_t hl = colon ? (size_t)(colon - a) : alen;
        if (hl == 0 || hl >= 16)
            return -1;
        memcpy(hostbuf, a, hl);
        hostbuf[hl] = '\0';
        struct sockaddr_in *s4 = (struct sockaddr_in *)t->addr;
        if (inet_pton(AF_INET, hostbuf, &s4->sin_addr) != 1)
            return -1;
        s4->sin_family = AF_INET;
        t->addr_len = sizeof(*s4);
        port = colon ? colon + 1 : NULL;
        memcpy(t->host, hostbuf, hl + 1);
    }
    t->port = 80;
    if (port) {
        if (port == p || p - port > 5)
            return -1;
        unsigned v = 0;
        for (const char *q = port; q < p; q++) {
            if (*q < '0' || *q > '9')
                return -1;
            v = v * 10 + (unsigned)(*q - '0');
        }
        if (v == 0 || v > 65535)
            return -1;
        t->port = v;
    }
    if (t->addr_len == sizeof(struct sockaddr_in))
        ((struct sockaddr_in *)t->addr)->sin_port = htons((uint16_t)t->port);
    else
        ((struct sockaddr_in6 *)t->addr)->sin6_port = htons((uint16_t)t->port);
    /* The path and query go as they are: anything curl would rewrite is left to curl. */
    int in_path = 1;
    const char *seg = p;
    for (const char *q = p;; q++) {
        unsigned char ch = (unsigned char)*q;
        if (in_path && (ch == '/' || ch == '?' || ch == '\0')) {
            size_t sl = (size_t)(q - seg);
            if (q > p &&
                ((sl == 2 && seg[1] == '.') || (sl == 3 && seg[1] == '.' && seg[2] == '.')))
                return -1; /* "/." or "/.." */
            seg = q;
            if (ch == '?')
                in_path = 0;
        }
        if (ch == '\0')
            break;
        if (ch <= 0x20 || ch >= 0x7f || ch == '#' || ch == '\\')
            return -1;
    }
    t->path = p;
    t->path_len = strlen(p);
    return 0;
}

/* ---- the request's bytes ------------------------------------------------------------------ */

/* The length of a header's name, or 0 when it has none. */
static size_t header_name_len(const char *h)
{
    size_t n = strcspn(h, ":;");
    return h[n] ? n : 0;
}

static int custom_has(const char *const *headers, const char *const *extra, size_t n_extra,
                      const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (header_name_len(headers[i]) == nl && strncasecmp(headers[i], name, nl) == 0)
            return 1;
    for (size_t i = 0; i < n_extra; i++)
        if (header_name_len(extra[i]) == nl && strncasecmp(extra[i], name, nl) == 0)
            return 1;
    return 0;
}

struct out {
    char *p;
    size_t n;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->p)
        memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* v in decimal (snprintf twice per request per pass was a visible share of building it) */
static void put_uint(struct out *o, uint64_t v)
{
    char d[20];
    size_t n = 0;
    do {
        d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, d + sizeof(d) - n, n);
}

/* One custom header as curl sends it: "Name:" alone drops it, "Name;" sends it empty. Returns
 * -1 for one that cannot go on the wire as it is (a line break in it, no name). */
static int put_header(struct out *o, const char *h)
{
    size_t nl = header_name_len(h);
    if (nl == 0 || strpbrk(h, "\r\n") != NULL)
        return -1;
    const char *v = h + nl + 1;
    if (h[nl] == ';') {
        if (*v != '\0')
            return -1; /* curl's "Name;" form has nothing after the ';' */
        put(o, h, nl);
        puts_(o, ":\r\n");
        return 0;
    }
    const char *q = v;
    while (*q == ' ' || *q == '\t')
        q++;
    if (*q == '\0')
        return 0;
    puts_(o, h);
    puts_(o, "\r\n");
    return 0;
}

/* The whole request into o (o->p NULL: only its length). */
static int build(struct out *o, const struct hplain_target *t, const char *method,
                 const char *const *headers, const char *const *extra, size_t n_extra,
                 const char *body, size_t body_len)
{
    puts_(o, method);
    puts_(o, " ");
    if (t->path_len == 0 || t->path[0] != '/')
        puts_(o, "/");
    put(o, t->path, t->path_len);
    puts_(o, " HTTP/1.1\r\n");
    if (!custom_has(headers, extra, n_extra, "Host")) {
        puts_(o, "Host: ");
        puts_(o, t->host);
        if (t->port != 80) {
            puts_(o, ":");
            put_uint(o, t->port);
        }
        puts_(o, "\r\n");
    }
    if (!custom_has(headers, extra, n_extra, "Accept"))
        puts_(o, "Accept: */*\r\n");
    if (!custom_has(headers, extra, n_extra, "Accept-Encoding"))
        puts_(o, "Accept-Encoding: " HPLAIN_ACCEPT_ENCODING "\r\n");
    for (size_t i = 0; headers && headers[i]; i++)
        if (put_header(o, headers[i]) != 0)
            return -1;
    for (size_t i = 0; i < n_extra; i++)
        if (put_header(o, extra[i]) != 0)
            return -1;
    if (body) {
        puts_(o, "Content-Length: ");
        put_uint(o, body_len);
        puts_(o, "\r\n");
        if (!custom_has(headers, extra, n_extra, "Content-Type"))
            puts_(o, "Content-Type: application/x-www-form-urlencoded\r\n");
    }
    puts_(o, "\r\n");
    if (body)
        put(o, body, body_len);
    return 0;
}

int hplain_request(char *dst, size_t *len, const struct hplain_target *t, const char *method,
                   const char *const *headers, const char *const *extra, size_t n_extra,
                   const char *body, size_t body_len)
{
    struct out o = {.p = dst};
    if (build(&o, t, method, headers, extra, n_extra, body, body_len) != 0)
        return -1;
    *len = o.n;
    return 0;
}
