#include "core/log.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_threshold = LOG_LEVEL_INFO;
static const char *log_program = "relay";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

void log_set_program(const char *program)
{
    log_program = program;
}

/* Appends s as a JSON string body (without quotes), truncating at the end of the buffer. */
static size_t put_escaped(char *buf, size_t pos, size_t cap, const char *s)
{
    for (; *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c == '\n') {
            buf[pos++] = '\\';
            buf[pos++] = 'n';
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

static size_t put_raw(char *buf, size_t pos, size_t cap, const char *s)
{
    while (*s && pos + 1 < cap)
        buf[pos++] = *s++;
    return pos;
}

void log_write(enum log_level level, const char *msg, ...)
{
    char line[4096];
    size_t cap = sizeof(line) - 3; /* room for "}\n\0" */
    size_t pos = 0;
    struct timespec ts;
    struct tm tm;
    char when[64];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    pos = put_raw(line, pos, cap, "{\"ts\":\"");
    pos = put_raw(line, pos, cap, when);
    pos = put_raw(line, pos, cap, "\",\"level\":\"");
    pos = put_raw(line, pos, cap, level_names[level]);
    pos = put_raw(line, pos, cap, "\",\"program\":\"");
    pos = put_escaped(line, pos, cap, log_program);
    pos = put_raw(line, pos, cap, "\",\"msg\":\"");
    pos = put_escaped(line, pos, cap, msg);
    pos = put_raw(line, pos, cap, "\"");

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *val = va_arg(ap, const char *);
        if (val == NULL)
            continue;
        pos = put_raw(line, pos, cap, ",\"");
        pos = put_escaped(line, pos, cap, key);
        pos = put_raw(line, pos, cap, "\":\"");
        pos = put_escaped(line, pos, cap, val);
        pos = put_raw(line, pos, cap, "\"");
    }
    va_end(ap);
    line[pos++] = '}';
    line[pos++] = '\n';
    line[pos] = '\0';
    /* One write per line so lines from concurrent processes never interleave. */
    fwrite(line, 1, pos, stderr);
    fflush(stderr);
}

static void libevent_log(int severity, const char *msg)
{
    enum log_level level = LOG_LEVEL_DEBUG;
    if (severity == EVENT_LOG_WARN)
        level = LOG_LEVEL_WARN;
    else if (severity == EVENT_LOG_ERR)
        level = LOG_LEVEL_ERROR;
    else if (severity == EVENT_LOG_MSG)
        level = LOG_LEVEL_INFO;
    LOG_AT(level, msg, "component", "libevent", NULL);
}

void log_capture_libevent(void)
{
    event_set_log_callback(libevent_log);
}
