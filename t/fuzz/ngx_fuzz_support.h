
/*
 * Copyright (C) liauto
 *
 * What the module's harnesses share: a pool per input (nginx's own
 * ngx_palloc.c built with NGX_DEBUG_PALLOC, so that every allocation is a
 * malloc() of its own and AddressSanitizer sees its bounds), a log that
 * formats every message and throws it away, and a check that crashes, so
 * that libFuzzer keeps the input.
 */


#ifndef _NGX_FUZZ_SUPPORT_H_INCLUDED_
#define _NGX_FUZZ_SUPPORT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define ngx_fuzz_check(cond, what)                                           \
    if (!(cond)) {                                                           \
        ngx_fuzz_fail(__FILE__, __LINE__, what);                             \
    }


ngx_pool_t *ngx_fuzz_pool(void);
void ngx_fuzz_fail(const char *file, int line, const char *what);

/* is s (len bytes) one JSON object jansson accepts as UTF-8? */
ngx_int_t ngx_fuzz_is_json_object(u_char *s, size_t len);


#endif /* _NGX_FUZZ_SUPPORT_H_INCLUDED_ */
