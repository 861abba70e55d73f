
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_CSV_H_INCLUDED_
#define _NGX_LIAUTO_CSV_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_liauto_csv_to_json(ngx_pool_t *pool, ngx_str_t *csv,
    ngx_str_t *json, ngx_str_t *error);


#endif /* _NGX_LIAUTO_CSV_H_INCLUDED_ */
