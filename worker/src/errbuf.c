#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"


void
errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}
