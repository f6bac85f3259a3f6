#include "handlers/backoff.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

enum backoff_class backoff_classify(long status)
{
    if (status >= 200 && status < 300)
        return BACKOFF_DONE;
    if (status == 0 || status == 408 || status == 425 || status == 429 || status >= 500)
        return BACKOFF_RETRY;
    /* 1xx/3xx as a final answer mean the partner did not take it; redirects are not followed
     * (a push must not wander to a URL nobody configured), so they fail like a 4xx. */
    return BACKOFF_FAIL;
}

int backoff_honours_retry_after(long status)
{
    return status == 429 || status == 503;
}

/* IMF-fixdate (RFC 9110 §5.6.7), the only form senders may generate:
 * "Sun, 06 Nov 1994 08:49:37 GMT". Returns 0 and the time in ms, or -1. */
static int parse_http_date(const char *s, int64_t *ms)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wday[4], mon[4], zone[4];
    int d, y, h, mi, se, n = 0;

    if (sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3s%n", wday, &d, mon, &y, &h, &mi,
               &se, zone, &n) != 8)
        return -1;
    while (s[n] == ' ' || s[n] == '\t')
        n++;
    if (s[n] != '\0' || strcmp(zone, "GMT") != 0)
        return -1;
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (strcasecmp(mon, months[i]) == 0)
            m = i + 1;
    if (m < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || y < 1970)
        return -1;
    *ms = ((util_days_from_civil(y, m, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000;
    return 0;
}

int backoff_parse_retry_after(const char *value, int64_t now_ms, int64_t *delay_ms)
{
    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        int64_t secs = 0;
        const char *p = value;
        for (; isdigit((unsigned char)*p); p++) {
            /* After this digit secs must still fit *1000 (fuzz/regressions/retry_after). */
            if (secs > (INT64_MAX / 1000 - 9) / 10)
                return -1;
            secs = secs * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return -1;
        *delay_ms = secs * 1000;
        return 0;
    }
    int64_t at;
    if (parse_http_date(value, &at) != 0)
        return -1;
    *delay_ms = at > now_ms ? at - now_ms : 0;
    return 0;
}

int64_t backoff_delay_ms(int64_t base_ms, int64_t max_ms, int n, int64_t min_ms, uint32_t rnd)
{
    int64_t d = base_ms > 0 ? base_ms : 0;
    if (n < 1)
        n = 1;
    for (int i = 1; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t lo = d / 2;
    int64_t delay = lo + (int64_t)((uint64_t)rnd % (uint64_t)(d - lo + 1));
    return delay < min_ms ? min_ms : delay;
}
