
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_API_H_INCLUDED_
#define _NGX_LIAUTO_API_H_INCLUDED_


#include "ngx_liauto_module.h"


ngx_int_t ngx_liauto_api_call(ngx_liauto_ctx_t *ctx);

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
ngx_table_elt_t *ngx_liauto_api_header(ngx_http_request_t *r,
    const char *lowcase_name);


#endif /* _NGX_LIAUTO_API_H_INCLUDED_ */
