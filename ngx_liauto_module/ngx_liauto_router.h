
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_ROUTER_H_INCLUDED_
#define _NGX_LIAUTO_ROUTER_H_INCLUDED_


#include "ngx_liauto_module.h"


/* the handler reads the request body before it runs */
#define NGX_LIAUTO_ROUTE_BODY     0x01
/* no access token needed (health, login, refresh) */
#define NGX_LIAUTO_ROUTE_PUBLIC   0x02
/* the SQL function's rows are a CSV export, streamed (ngx_liauto_export.c) */
#define NGX_LIAUTO_ROUTE_CSV_OUT  0x04
/* the SQL function vouched for a user: answer with signed tokens */
#define NGX_LIAUTO_ROUTE_TOKENS   0x08
/* the body is CSV, handed to SQL as {"header":[..],"rows":[[..],..]} */
#define NGX_LIAUTO_ROUTE_CSV_IN   0x10
/* a webhook delivery: ngx_liauto_webhook_admit() runs before the body */
#define NGX_LIAUTO_ROUTE_WEBHOOK  0x20
/* the SQL function's {"sheets": [..]} is sent as XLSX (ngx_liauto_xlsx.c) */
#define NGX_LIAUTO_ROUTE_XLSX_OUT 0x40

#define NGX_LIAUTO_ROUTE_READS_BODY                                          \
    (NGX_LIAUTO_ROUTE_BODY|NGX_LIAUTO_ROUTE_CSV_IN)

/* role floors, in increasing order of rights */
#define NGX_LIAUTO_ROLE_ANY       0
#define NGX_LIAUTO_ROLE_VIEWER    1
#define NGX_LIAUTO_ROLE_AGENT     2
#define NGX_LIAUTO_ROLE_ADMIN     3


typedef ngx_int_t (*ngx_liauto_route_handler_pt)(ngx_liauto_ctx_t *ctx);


struct ngx_liauto_route_s {
    ngx_uint_t                   methods;
    ngx_str_t                    path;
    ngx_liauto_route_handler_pt  handler;
    ngx_uint_t                   flags;
    ngx_uint_t                   role;
    char                        *function;     /* api.<name>, or NULL */
    char                        *sql;          /* the call of function */
};


/* the function of a resource route and the statement that calls it */
#define NGX_LIAUTO_SQL(fn)                                                    \
    fn, "SELECT status, body FROM " fn                                        \
        "($1::jsonb, $2::text[], $3::jsonb, $4::jsonb)"


ngx_int_t ngx_liauto_route(ngx_http_request_t *r, ngx_liauto_ctx_t *ctx);
ngx_liauto_route_t *ngx_liauto_route_table(void);
const char *ngx_liauto_route_method_name(ngx_uint_t methods);


#endif /* _NGX_LIAUTO_ROUTER_H_INCLUDED_ */
