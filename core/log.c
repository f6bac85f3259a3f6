#include "core/log.h"

#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

enum log_level log_threshold = LOG_LEVEL_INFO;
static const char *log_program = "relay";
static FILE *log_stream;

const char log_tag_int[] = "<int>", log_tag_double[] = "<double>", log_tag_bool[] = "<bool>",
           log_tag_str[] = "<str>", log_tag_strn[] = "<strn>";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

#if defined(PIPE_BUF) && PIPE_BUF < LOG_BUFFER_BYTES
#error "LOG_BUFFER_BYTES must not pass PIPE_BUF: a larger write to a pipe may interleave"
#endif

/* Buffered mode (log_set_buffered): whole lines waiting for log_flush(). */
static int log_buffered;
static char log_held[LOG_BUFFER_BYTES];
static size_t log_held_len;
static void (*log_on_held)(void *);
static void *log_on_held_arg;

/* What the closing of a line needs: ',"truncated":true}' + "\n" + NUL. */
#define LINE_TAIL 24

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

void log_set_stream(FILE *stream)
{
    log_flush();
    log_stream = stream;
}

static void emit(const char *buf, size_t len)
{
    FILE *f = log_stream ? log_stream : stderr;
    fwrite(buf, 1, len, f);
    fflush(f);
}

void log_flush(void)
{
    if (log_held_len == 0)
        return;
    emit(log_held, log_held_len);
    log_held_len = 0;
}

void log_set_buffered(int on, void (*on_held)(void *arg), void *arg)
{
    static int registered;
    if (on && !registered && atexit(log_flush) == 0)
        registered = 1;
    if (!on || !registered)
        log_flush();
    log_buffered = on && registered;
    log_on_held = log_buffered ? on_held : NULL;
    log_on_held_arg = log_buffered ? arg : NULL;
}

/* "YYYY-MM-DDTHH:MM:SS." of the current second, formatted once per second rather than once
 * per line. */
static const char *second_prefix(time_t sec)
{
    static time_t cached = (time_t)-1;
    static char text[64];
    if (sec != cached) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached = sec;
    }
    return text;
}

/* A line under construction. Writes past cap set full instead; the caller then rolls the
 * field back, so what is in buf is always whole fields. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t pos, cap;
    int full;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->full || n > l->cap - l->pos) {
        l->full = 1;
        return;
    }
    memcpy(l->buf + l->pos, s, n);
    l->pos += n;
}

static void put_s(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Writes the n bytes at s as a JSON string (with quotes), at most max bytes of escaped text
 * before "...". */
static void put_json_str(struct line *l, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t used = 0;
    put(l, "\"", 1);
    while (p < end && !l->full) {
        /* Fast path: a run of printable ASCII goes in with one copy. */
        const unsigned char *q = p;
        size_t room = max - used;
        while (q < end && (size_t)(q - p) < room && *q >= 0x20 && *q < 0x7f && *q != '"' &&
               *q != '\\')
            q++;
        if (q > p) {
            put(l, (const char *)p, (size_t)(q - p));
            used += (size_t)(q - p);
            p = q;
            continue;
        }
        char esc[8];
        const char *out = esc;
        size_t k, take = 1;
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            k = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        } else if (c < 0x80) {
            out = (const char *)p;
            k = 1;
        } else if ((take = util_utf8_seq(p, (size_t)(end - p))) > 0) {
            out = (const char *)p;
            k = take;
        } else {
            /* Not UTF-8: the byte's value as text, so the line stays valid JSON. */
            memcpy(esc, "\\\\x", 3);
            esc[3] = hex[c >> 4];
            esc[4] = hex[c & 15];
            k = 5;
            take = 1;
        }
        if (used + k > max) {
            put(l, "...", 3);
            break;
        }
        put(l, out, k);
        used += k;
        p += take;
    }
    put(l, "\"", 1);
}

static void put_key(struct line *l, const char *key)
{
    put(l, ",", 1);
    put_json_str(l, key ? key : "", key ? strlen(key) : 0, 64);
    put(l, ":", 1);
}

void log_write(enum log_level level, const char *msg, ...)
{
    struct line l;
    struct timespec ts;
    char num[64];
    int truncated = 0;

    l.pos = 0;
    l.cap = sizeof(l.buf) - LINE_TAIL;
    l.full = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ms = ts.tv_nsec / 1000000;
    char msz[5] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z',
                   '\0'};

    put_s(&l, "{\"ts\":\"");
    put_s(&l, second_prefix(ts.tv_sec));
    put_s(&l, msz);
    put_s(&l, "\",\"level\":\"");
    put_s(&l, level_names[level]);
    put_s(&l, "\",\"program\":");
    put_json_str(&l, log_program, strlen(log_program), 64);
    put_s(&l, ",\"msg\":");
    put_json_str(&l, msg ? msg : "", msg ? strlen(msg) : 0, LOG_VALUE_MAX);

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        size_t start = l.pos;
        if (key == log_tag_int) {
            key = va_arg(ap, const char *);
            int64_t v = va_arg(ap, int64_t);
            snprintf(num, sizeof(num), "%" PRId64, v);
            put_key(&l, key);
            put_s(&l, num);
        } else if (key == log_tag_double) {
            key = va_arg(ap, const char *);
            double v = va_arg(ap, double);
            if (isfinite(v))
                snprintf(num, sizeof(num), "%.15g", v);
            else
                snprintf(num, sizeof(num), "null");
            put_key(&l, key);
            put_s(&l, num);
        } else if (key == log_tag_bool) {
            key = va_arg(ap, const char *);
            int v = va_arg(ap, int);
            put_key(&l, key);
            put_s(&l, v ? "true" : "false");
        } else if (key == log_tag_strn) {
            key = va_arg(ap, const char *);
            const char *v = va_arg(ap, const char *);
            size_t n = va_arg(ap, size_t);
            if (v == NULL)
                continue;
            put_key(&l, key);
            put_json_str(&l, v, n, LOG_VALUE_MAX);
        } else {
            if (key == log_tag_str)
                key = va_arg(ap, const char *);
            const char *v = va_arg(ap, const char *);
            if (v == NULL)
                continue;
            put_key(&l, key);
            put_json_str(&l, v, strlen(v), LOG_VALUE_MAX);
        }
        if (l.full) {
            /* Drop the whole field; later, shorter ones may still fit. */
            l.pos = start;
            l.full = 0;
            truncated = 1;
        }
    }
    va_end(ap);
    /* The tail was reserved, so these always fit. */
    l.cap = sizeof(l.buf);
    if (truncated)
        put_s(&l, ",\"truncated\":true");
    put(&l, "}\n", 2);
    /* Whole lines per write, so lines from concurrent processes never interleave. */
    if (log_buffered && level < LOG_LEVEL_WARN && l.pos <= sizeof(log_held)) {
        if (log_held_len + l.pos > sizeof(log_held))
            log_flush();
        memcpy(log_held + log_held_len, l.buf, l.pos);
        log_held_len += l.pos;
        if (log_held_len == l.pos && log_on_held)
            log_on_held(log_on_held_arg);
        return;
    }
    log_flush();
    emit(l.buf, l.pos);
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
