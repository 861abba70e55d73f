
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_EXPORT_H_INCLUDED_
#define _NGX_LIAUTO_EXPORT_H_INCLUDED_


#include "ngx_liauto_module.h"


/*
 * Runs sql (the route's api.* call, its values set in ctx->query) in
 * single-row mode and streams the rows as a chunked text/csv response;
 * returns what ngx_liauto_query() returns.
 */
ngx_int_t ngx_liauto_export_csv(ngx_liauto_ctx_t *ctx, const char *sql);


#endif /* _NGX_LIAUTO_EXPORT_H_INCLUDED_ */
