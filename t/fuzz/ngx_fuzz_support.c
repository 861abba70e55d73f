
/*
 * Copyright (C) liauto
 *
 * Fakes of the parts of nginx the harnessed module files link against but
 * never reach from a harness (configuration, variables, output), and the
 * few globals nginx's own ngx_string.c, ngx_palloc.c and ngx_alloc.c need.
 * A fake that is reached is a harness bug: it aborts.
 */


#include <jansson.h>

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_liauto_module.h"
#include "ngx_fuzz_support.h"


#define ngx_fuzz_unreachable()                                               \
    ngx_fuzz_fail(__FILE__, __LINE__, "a fake of nginx was called")


static ngx_log_t         ngx_fuzz_log;
static ngx_time_t        ngx_fuzz_time;

volatile ngx_time_t     *ngx_cached_time = &ngx_fuzz_time;
volatile ngx_cycle_t    *ngx_cycle;           /* ngx_sort(), not used */
ngx_module_t             ngx_liauto_module;


void
ngx_fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}


/* a pool for one input; the harness destroys it before returning */

ngx_pool_t *
ngx_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    if (ngx_fuzz_time.sec == 0) {
        ngx_fuzz_time.sec = time(NULL);
        ngx_fuzz_log.log_level = NGX_LOG_DEBUG_ALL | NGX_LOG_DEBUG;
        ngx_pagesize = getpagesize();
    }

    pool = ngx_create_pool(1024, &ngx_fuzz_log);

    if (pool == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }

    return pool;
}


ngx_int_t
ngx_fuzz_is_json_object(u_char *s, size_t len)
{
    json_t     *json;
    ngx_int_t   ok;

    json = json_loadb((char *) s, len, JSON_REJECT_DUPLICATES, NULL);
    ok = json_is_object(json);
    json_decref(json);

    return ok;
}


/* every message is formatted (a bad format argument shows), then dropped */

void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   buf[NGX_MAX_ERROR_STR];
    va_list  args;

    va_start(args, fmt);
    (void) ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);
}


/* not reached from a harness */

void
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    ngx_fuzz_unreachable();
}


void ngx_cdecl
ngx_ssl_error(ngx_uint_t level, ngx_log_t *log, ngx_err_t err, char *fmt, ...)
{
    ngx_fuzz_unreachable();
}


char *
ngx_liauto_conf_read_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *out)
{
    ngx_fuzz_unreachable();
    return NGX_CONF_ERROR;
}


ngx_http_variable_t *
ngx_http_add_variable(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t flags)
{
    ngx_fuzz_unreachable();
    return NULL;
}


ngx_liauto_ctx_t *
ngx_liauto_get_ctx(ngx_http_request_t *r)
{
    ngx_fuzz_unreachable();
    return NULL;
}


ngx_int_t
ngx_http_send_header(ngx_http_request_t *r)
{
    ngx_fuzz_unreachable();
    return NGX_ERROR;
}


ngx_int_t
ngx_http_output_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_fuzz_unreachable();
    return NGX_ERROR;
}


/* the request side of ngx_liauto_webhook.c, which fuzz_webhook.c skips */

ngx_table_elt_t *
ngx_liauto_api_header(ngx_http_request_t *r, const char *lowcase_name)
{
    ngx_fuzz_unreachable();
    return NULL;
}


ngx_int_t
ngx_liauto_api_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_fuzz_unreachable();
    return NGX_ERROR;
}


ngx_int_t
ngx_liauto_api_refuse(ngx_liauto_ctx_t *ctx, ngx_uint_t status,
    const char *message, ngx_str_t *details)
{
    ngx_fuzz_unreachable();
    return NGX_ERROR;
}


void
ngx_liauto_api_done(ngx_liauto_pg_query_t *q, PGresult *res)
{
    ngx_fuzz_unreachable();
}


ngx_int_t
ngx_liauto_query(ngx_liauto_ctx_t *ctx, const char *sql,
    ngx_liauto_pg_handler_pt handler)
{
    ngx_fuzz_unreachable();
    return NGX_ERROR;
}


ngx_int_t
ngx_http_discard_request_body(ngx_http_request_t *r)
{
    ngx_fuzz_unreachable();
    return NGX_ERROR;
}
