#ifndef LIAUTO_ERRBUF_H
#define LIAUTO_ERRBUF_H

#include <stddef.h>

/* Formats a message into a caller's error buffer (always NUL-terminated). */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
