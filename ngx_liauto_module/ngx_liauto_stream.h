
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_STREAM_H_INCLUDED_
#define _NGX_LIAUTO_STREAM_H_INCLUDED_


#include "ngx_liauto_module.h"


/* GET /api/v1/inbox/stream */
ngx_int_t ngx_liauto_stream_subscribe(ngx_liauto_ctx_t *ctx);

/* ends this worker's streams and their listening connections */
void ngx_liauto_stream_exit(void);


#endif /* _NGX_LIAUTO_STREAM_H_INCLUDED_ */
