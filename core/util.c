#include "core/util.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* y-m-d of the day z days after 1970-01-01 (Howard Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static char *put2(char *o, int v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
    return o + 2;
}

/* "YYYY-MM-DDTHH:MM:SS" of sec >= 0 before the year 10000, without gmtime_r/strftime (a
 * worker writes several per delivery); returns the end of what it wrote, NULL out of range. */
static char *put_datetime(char *o, int64_t sec)
{
    if (sec < 0 || sec >= INT64_C(253402300800))
        return NULL;
    int64_t y;
    int m, d, s = (int)(sec % 86400);
    civil_from_days(sec / 86400, &y, &m, &d);
    o = put2(o, (int)(y / 100));
    o = put2(o, (int)(y % 100));
    *o++ = '-';
    o = put2(o, m);
    *o++ = '-';
    o = put2(o, d);
    *o++ = 'T';
    o = put2(o, s / 3600);
    *o++ = ':';
    o = put2(o, s / 60 % 60);
    *o++ = ':';
    return put2(o, s % 60);
}

void util_rfc3339(int64_t ms, char out[32])
{
    char *o = ms >= 0 ? put_datetime(out, ms / 1000) : NULL;
    if (o != NULL) {
        int f = (int)(ms % 1000);
        o[0] = '.';
        o[1] = (char)('0' + f / 100);
        put2(o + 2, f % 100);
        o[4] = 'Z';
        o[5] = '\0';
        return;
    }
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    /* strftime keeps the compiler's truncation analysis quiet: every field is bounded. */
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

int util_rfc3339_secs(int64_t ms, char out[32])
{
    struct tm tm;
    time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    char *o = put_datetime(out, (int64_t)sec);
    if (o != NULL) {
        o[0] = 'Z';
        o[1] = '\0';
        return 0;
    }
    /* Partners' RFC 3339 needs exactly four year digits, which %Y does not promise. */
    if (gmtime_r(&sec, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return -1;
    /* The year is bounded above; strftime keeps the compiler's truncation analysis quiet. */
    int n = snprintf(out, 32, "%04d-", tm.tm_year + 1900);
    strftime(out + n, (size_t)(32 - n), "%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Howard Hinnant's algorithm. */
int64_t util_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int util_parse_rfc3339(const char *s, int64_t *ms_out)
{
    int y, mo, d, h = 0, mi = 0, se = 0, frac_ms = 0;
    int64_t offset_s = 0;
    size_t len = strlen(s);

    if (len < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    /* 2026-02-30 is a typo to refuse, not a date to roll over into March. */
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return -1;
    const char *p = s + 10;
    if (*p != '\0') {
        if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9)
            return -1;
        if (digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &mi) || p[6] != ':' ||
            digits(p + 7, 2, &se))
            return -1;
        if (h > 23 || mi > 59 || se > 60)
            return -1;
        p += 9;
        if (*p == '.') {
            int scale = 100, n = 0;
            p++;
            while (*p >= '0' && *p <= '9') {
                frac_ms += (*p - '0') * scale;
                scale /= 10;
                p++;
                n++;
            }
            if (n == 0)
                return -1;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (strlen(p) < 6 || digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
                return -1;
            offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
            p += 6;
        } else {
            return -1;
        }
        if (*p != '\0')
            return -1;
    }
    int64_t secs = util_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset_s;
    *ms_out = secs * 1000 + frac_ms;
    return 0;
}

int util_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void util_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[in[i] >> 4];
        out[2 * i + 1] = hexd[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long util_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    size_t o = 0;
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad) {
                return -1;
            } else if ((v[k] = b64_val(c)) < 0) {
                return -1;
            }
        }
        unsigned long triple = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
                               ((unsigned long)v[2] << 6) | (unsigned long)v[3];
        int nbytes = 3 - pad;
        if (o + (size_t)nbytes > cap)
            return -1;
        out[o++] = (unsigned char)(triple >> 16);
        if (nbytes > 1)
            out[o++] = (unsigned char)(triple >> 8);
        if (nbytes > 2)
            out[o++] = (unsigned char)triple;
    }
    return (long)o;
}

void util_b64_encode(const unsigned char *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long t = (unsigned long)in[i] << 16;
        if (i + 1 < n)
            t |= (unsigned long)in[i + 1] << 8;
        if (i + 2 < n)
            t |= in[i + 2];
        out[o++] = tbl[(t >> 18) & 63];
        out[o++] = tbl[(t >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(t >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[t & 63] : '=';
    }
    out[o] = '\0';
}

void util_random_hex(char *out, size_t n)
{
    unsigned char raw[64];
    if (n > sizeof(raw))
        n = sizeof(raw);
    if (RAND_bytes(raw, (int)n) != 1) {
        /* getrandom cannot fail for small sizes once the pool is ready; this keeps ids
         * unique even if OpenSSL's generator is unavailable. */
        if (getrandom(raw, n, 0) != (ssize_t)n)
            memset(raw, 0, n);
    }
    util_hex(raw, n, out);
}

char *util_pct_encode(const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hexd[c >> 4];
            out[o++] = hexd[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

size_t util_utf8_seq(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    size_t len;
    unsigned int cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Runs of ASCII pass 8 bytes at a time: webhook bodies and CMS text are almost all ASCII, and a
 * call of util_utf8_seq per byte was ~2% of the relay's CPU per webhook. */
int util_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t w;
        if (n - i >= sizeof(w)) {
            memcpy(&w, s + i, sizeof(w));
            if ((w & 0x8080808080808080ULL) == 0) {
                i += sizeof(w);
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = util_utf8_seq(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}
