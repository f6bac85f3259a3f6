#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Structured logging: one JSON object per line on stderr.
 *
 *   LOG_INFO("webhook accepted", "request_id", rid, "event_id", eid,
 *            LOG_INT("bytes", len), LOG_BOOL("duplicate", dup), NULL);
 *
 * Arguments after the message are fields, ended by NULL. A field is either a plain pair of
 * strings ("key", value; a NULL value skips the pair) or one of the typed forms below, which
 * the logger formats itself: nothing is formatted unless the level is enabled (the macros
 * check it before evaluating any argument).
 *
 * Every line is valid JSON whatever the values hold: a value longer than LOG_VALUE_MAX bytes is
 * cut at a character boundary and ends in "...", control characters are escaped, and a byte
 * that is not part of valid UTF-8 is written as the four characters \xHH. A line that would
 * pass LOG_LINE_MAX drops the fields that do not fit and gets "truncated": true.
 * Secrets are never passed here: struct secret values have no printer. */

#define LOG_VALUE_MAX 1024
#define LOG_LINE_MAX 8192

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Markers that introduce a typed field; only their addresses matter. */
extern const char log_tag_int[], log_tag_double[], log_tag_bool[], log_tag_str[], log_tag_strn[];

/* "key": <integer> */
#define LOG_INT(key, v) log_tag_int, (const char *)(key), (int64_t)(v)
/* "key": <number>; NaN and infinities are written as null. */
#define LOG_DOUBLE(key, v) log_tag_double, (const char *)(key), (double)(v)
/* "key": true | false */
#define LOG_BOOL(key, v) log_tag_bool, (const char *)(key), (int)((v) != 0)
/* "key": "<string>"; NULL skips the field (like a plain pair). */
#define LOG_STR(key, v) log_tag_str, (const char *)(key), (const char *)(v)
/* "key": "<the n bytes at p>", for text that is not NUL-terminated; NULL skips it. */
#define LOG_STRN(key, p, n) log_tag_strn, (const char *)(key), (const char *)(p), (size_t)(n)

extern enum log_level log_threshold;

/* Returns 0, or -1 when name is not debug/info/warn/error. */
int log_level_parse(const char *name, enum log_level *out);
void log_set_level(enum log_level level);
/* Sets the "program" field written on each line. The string must outlive the logger. */
void log_set_program(const char *program);
/* Where lines go (default stderr; NULL restores it). For tests. */
void log_set_stream(FILE *stream);
/* Routes libevent's internal messages into this logger. */
void log_capture_libevent(void);

/* Buffered mode, for a daemon that logs a line per unit of work: lines below warn are held
 * (up to LOG_BUFFER_BYTES of whole lines) and written together by log_flush(), or first when
 * the next line would not fit; a warn or error line is written at once, after what is held.
 * Every write is of whole lines and at most PIPE_BUF bytes, so the lines of processes sharing
 * a pipe or an O_APPEND file never interleave. on_held (may be NULL) is called when a line is
 * held in an empty buffer: an event loop makes it activate an event that calls log_flush(),
 * so what one pass of the loop logged goes out in one write at the end of that pass. Lines
 * still held at exit are written by an atexit handler; a crash loses what is held (info lines
 * of the current pass only). log_set_buffered(0, NULL, NULL) writes what is held and ends it. */
#define LOG_BUFFER_BYTES 4096
void log_set_buffered(int on, void (*on_held)(void *arg), void *arg);
void log_flush(void);

void log_write(enum log_level level, const char *msg, ...) __attribute__((sentinel));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) >= log_threshold)                                                                \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
