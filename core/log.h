#ifndef RELAY_LOG_H
#define RELAY_LOG_H

/* Structured logging: one JSON object per line on stderr.
 *
 *   LOG_INFO("webhook accepted", "request_id", rid, "event_id", eid, NULL);
 *
 * Arguments after the message are key/value pairs of strings, ended by NULL; a NULL value
 * skips its pair. The level is checked before anything is formatted. Secrets are never
 * passed here: config_secret values have no printer. */

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

extern enum log_level log_threshold;

/* Returns 0, or -1 when name is not debug/info/warn/error. */
int log_level_parse(const char *name, enum log_level *out);
void log_set_level(enum log_level level);
/* Sets the "program" field written on each line. The string must outlive the logger. */
void log_set_program(const char *program);
/* Routes libevent's internal messages into this logger. */
void log_capture_libevent(void);

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
