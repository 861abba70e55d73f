#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *level_names[] = { "error", "warn", "info", "debug" };
static const char *level_tags[] = { "ERROR", "WARN", "INFO", "DEBUG" };

static log_level_t current_level = LOG_LEVEL_INFO;


void
log_set_level(log_level_t level)
{
    current_level = level;
}


int
log_parse_level(const char *name, log_level_t *level)
{
    size_t  i;

    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (log_level_t) i;
            return 0;
        }
    }

    return -1;
}


const char *
log_level_name(log_level_t level)
{
    return level_names[level];
}


void
log_write(log_level_t level, const char *fmt, ...)
{
    char            line[4096], stamp[32];
    int             n, len;
    va_list         args;
    struct tm       tm;
    struct timeval  tv;

    if (level > current_level) {
        return;
    }

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    len = snprintf(line, sizeof(line), "%s.%03dZ [%d] %s: ", stamp,
                   (int) (tv.tv_usec / 1000), (int) getpid(),
                   level_tags[level]);

    va_start(args, fmt);
    n = vsnprintf(line + len, sizeof(line) - len, fmt, args);
    va_end(args);

    /* A truncated line still ends with a newline. */
    len = (n < 0 || len + n >= (int) sizeof(line) - 1)
          ? (int) sizeof(line) - 2 : len + n;
    line[len++] = '\n';

    /* One write() per line keeps lines whole when several processes share
     * the same stderr. */
    if (write(STDERR_FILENO, line, len) < 0) {
        return;
    }
}
