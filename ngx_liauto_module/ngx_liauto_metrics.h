
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_METRICS_H_INCLUDED_
#define _NGX_LIAUTO_METRICS_H_INCLUDED_


#include "ngx_liauto_module.h"


ngx_int_t ngx_liauto_metrics_init(ngx_conf_t *cf);
void ngx_liauto_metrics_query(ngx_int_t rc, PGresult *res);
ngx_int_t ngx_liauto_metrics_handler(ngx_liauto_ctx_t *ctx);


#endif /* _NGX_LIAUTO_METRICS_H_INCLUDED_ */
