
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_MODULE_H_INCLUDED_
#define _NGX_LIAUTO_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_liauto_pg.h"
#include "ngx_liauto_jwt.h"


#define NGX_LIAUTO_VERSION        "0.1.0"
#define NGX_LIAUTO_MAX_PARAMS     4


typedef struct ngx_liauto_route_s  ngx_liauto_route_t;
typedef struct ngx_liauto_webhook_conf_s  ngx_liauto_webhook_conf_t;


typedef struct {
    ngx_array_t                pools;     /* of ngx_liauto_pg_pool_t * */
} ngx_liauto_main_conf_t;


typedef struct {
    ngx_str_t                  conninfo;
    ngx_uint_t                 pool_size;
    ngx_msec_t                 connect_timeout;
    ngx_msec_t                 query_timeout;
    ngx_liauto_pg_pool_t      *pool;
    ngx_liauto_jwt_conf_t      jwt;

    /* GET /api/v1/inbox/stream (ngx_liauto_stream.c) */
    ngx_msec_t                 stream_heartbeat;
    size_t                     stream_max_buffer;
    ngx_uint_t                 stream_max_subscribers;

    /* where liauto_api was used, to report a missing liauto_postgres */
    ngx_str_t                  api_file;
    ngx_uint_t                 api_line;
} ngx_liauto_srv_conf_t;


typedef struct {
    ngx_flag_t                  api;
    ngx_liauto_webhook_conf_t  *webhook;
} ngx_liauto_loc_conf_t;


typedef struct {
    ngx_http_request_t        *request;
    const ngx_liauto_route_t  *route;
    ngx_str_t                  params[NGX_LIAUTO_MAX_PARAMS];
    ngx_uint_t                 nparams;
    ngx_liauto_pg_query_t      query;
    ngx_str_t                  envelope;
    /* what sending an early answer returned, to finalize with */
    ngx_int_t                  rc;
    ngx_liauto_jwt_result_t   *jwt;
    /* the state of a route that outlives its first handler */
    void                      *data;

    /* the response was built by the module, not by nginx's error pages */
    unsigned                   responded:1;
    /* an nginx-generated error response is being replaced by an envelope */
    unsigned                   replace_body:1;
    unsigned                   body_sent:1;
} ngx_liauto_ctx_t;


ngx_liauto_ctx_t *ngx_liauto_get_ctx(ngx_http_request_t *r);
ngx_liauto_pg_pool_t *ngx_liauto_get_pool(ngx_http_request_t *r);
ngx_int_t ngx_liauto_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_liauto_query(ngx_liauto_ctx_t *ctx, const char *sql,
    ngx_liauto_pg_handler_pt handler);
void ngx_liauto_finalize(ngx_liauto_ctx_t *ctx, ngx_int_t rc);
char *ngx_liauto_conf_read_file(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *out);


extern ngx_module_t  ngx_liauto_module;


#endif /* _NGX_LIAUTO_MODULE_H_INCLUDED_ */
