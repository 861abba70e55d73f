
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_API_H_INCLUDED_
#define _NGX_LIAUTO_API_H_INCLUDED_


#include <jansson.h>

#include "ngx_liauto_module.h"


ngx_int_t ngx_liauto_api_call(ngx_liauto_ctx_t *ctx);

/* the pieces other route handlers share with resource routes */
ngx_int_t ngx_liauto_api_read_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_liauto_api_parse_json(ngx_liauto_ctx_t *ctx, ngx_str_t *body,
    size_t flags, json_t **out);
ngx_int_t ngx_liauto_api_refuse(ngx_liauto_ctx_t *ctx, ngx_uint_t status,
    const char *message, ngx_str_t *details);
ngx_table_elt_t *ngx_liauto_api_header(ngx_http_request_t *r,
    const char *lowcase_name);
/* sends the (status, body) row of an api.* function */
void ngx_liauto_api_done(ngx_liauto_pg_query_t *q, PGresult *res);
/* answers a query that failed or raised (503/504, its envelope, 500) */
ngx_int_t ngx_liauto_api_sql_error(ngx_liauto_ctx_t *ctx,
    ngx_liauto_pg_query_t *q, PGresult *res);

/*
 * The checks of ngx_liauto_api_call(), for routes with their own handler:
 * NGX_OK passes; NGX_DONE has answered the request (with the envelope),
 * the sending's outcome in ctx->rc.
 */
ngx_int_t ngx_liauto_api_authorize(ngx_liauto_ctx_t *ctx,
    ngx_liauto_claims_t **claims);
ngx_int_t ngx_liauto_api_bad_request(ngx_liauto_ctx_t *ctx,
    const char *message, const char *field, const char *reason);

/* NGX_OK for a UUID in its 36-character text form, else NGX_DECLINED */
ngx_int_t ngx_liauto_api_is_uuid(ngx_str_t *s);


#endif /* _NGX_LIAUTO_API_H_INCLUDED_ */
