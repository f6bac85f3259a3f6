#include "ctl/reltime.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

void reltime_format(int64_t ms, int64_t now, char *out, size_t cap)
{
    /* The difference of two int64 can overflow; any time that far away is shown in days. */
    int past = now >= ms;
    uint64_t d = past ? (uint64_t)now - (uint64_t)ms : (uint64_t)ms - (uint64_t)now;
    uint64_t s = d / 1000;
    char amount[32];
    if (s < 1) {
        snprintf(out, cap, "just now");
        return;
    }
    if (s < 60)
        snprintf(amount, sizeof(amount), "%llus", (unsigned long long)s);
    else if (s < 3600)
        snprintf(amount, sizeof(amount), "%llum", (unsigned long long)(s / 60));
    else if (s < 86400)
        snprintf(amount, sizeof(amount), "%lluh", (unsigned long long)(s / 3600));
    else
        snprintf(amount, sizeof(amount), "%llud", (unsigned long long)(s / 86400));
    size_t n = strlen(amount);
    if (cap < n + 5) {
        snprintf(out, cap, "-");
        return;
    }
    if (past) {
        memcpy(out, amount, n);
        memcpy(out + n, " ago", 5);
    } else {
        memcpy(out, "in ", 3);
        memcpy(out + 3, amount, n + 1);
    }
}

void reltime_rfc3339(const char *rfc, int64_t now, char *out, size_t cap)
{
    int64_t ms;
    if (rfc == NULL || rfc[0] == '\0' || util_parse_rfc3339(rfc, &ms) != 0) {
        snprintf(out, cap, "-");
        return;
    }
    reltime_format(ms, now, out, cap);
}
