
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_API_H_INCLUDED_
#define _NGX_LIAUTO_API_H_INCLUDED_


#include "ngx_liauto_module.h"


ngx_int_t ngx_liauto_api_call(ngx_liauto_ctx_t *ctx);


#endif /* _NGX_LIAUTO_API_H_INCLUDED_ */
