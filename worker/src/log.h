#ifndef LIAUTO_LOG_H
#define LIAUTO_LOG_H

/*
 * Logging to stderr: one line per event, ISO-8601 UTC timestamp with
 * milliseconds, pid and level, so that journald, docker and a terminal all
 * show the same thing.
 */

typedef enum {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG
} log_level_t;

void log_set_level(log_level_t level);

/* Returns 0 and sets *level for "error", "warn", "info" or "debug". */
int log_parse_level(const char *name, log_level_t *level);
const char *log_level_name(log_level_t level);

void log_write(log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...)  log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)   log_write(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)   log_write(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)  log_write(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
