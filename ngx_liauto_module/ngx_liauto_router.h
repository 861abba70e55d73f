
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_ROUTER_H_INCLUDED_
#define _NGX_LIAUTO_ROUTER_H_INCLUDED_


#include "ngx_liauto_module.h"


/* the handler reads the request body before it runs */
#define NGX_LIAUTO_ROUTE_BODY     0x01


typedef ngx_int_t (*ngx_liauto_route_handler_pt)(ngx_liauto_ctx_t *ctx);


struct ngx_liauto_route_s {
    ngx_uint_t                   methods;
    ngx_str_t                    path;
    ngx_liauto_route_handler_pt  handler;
    ngx_uint_t                   flags;
};


ngx_int_t ngx_liauto_route(ngx_http_request_t *r, ngx_liauto_ctx_t *ctx);


#endif /* _NGX_LIAUTO_ROUTER_H_INCLUDED_ */
