
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_CSV_H_INCLUDED_
#define _NGX_LIAUTO_CSV_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct ngx_liauto_csv_s  ngx_liauto_csv_t;


ngx_liauto_csv_t *ngx_liauto_csv_create(ngx_pool_t *pool);
ngx_int_t ngx_liauto_csv_feed(ngx_liauto_csv_t *csv, u_char *p, size_t len);
ngx_int_t ngx_liauto_csv_finish(ngx_liauto_csv_t *csv, ngx_str_t *json,
    ngx_str_t *error);
size_t ngx_liauto_csv_received(ngx_liauto_csv_t *csv);
ngx_int_t ngx_liauto_csv_to_json(ngx_pool_t *pool, ngx_str_t *csv,
    ngx_str_t *json, ngx_str_t *error);


#endif /* _NGX_LIAUTO_CSV_H_INCLUDED_ */
