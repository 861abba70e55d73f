
/*
 * Copyright (C) liauto
 *
 * Errors that nginx itself produces inside a liauto_api location (413 for
 * a body over client_max_body_size, 500 when a handler fails, ...) leave as
 * the same JSON envelope as the module's own errors, not as HTML pages.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"


static ngx_int_t ngx_liauto_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_liauto_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_liauto_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_liauto_next_body_filter;


ngx_int_t
ngx_liauto_filter_init(ngx_conf_t *cf)
{
    ngx_liauto_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_liauto_header_filter;

    ngx_liauto_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_liauto_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_header_filter(ngx_http_request_t *r)
{
    ngx_str_t               msg, *envelope;
    ngx_liauto_ctx_t       *ctx;
    ngx_liauto_loc_conf_t  *llcf;

    static ngx_str_t  type = ngx_string("application/json");

    llcf = ngx_http_get_module_loc_conf(r, ngx_liauto_module);

    if (!llcf->api
        || r != r->main
        || r->headers_out.status < NGX_HTTP_BAD_REQUEST)
    {
        return ngx_liauto_next_header_filter(r);
    }

    ctx = ngx_liauto_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->responded) {
        return ngx_liauto_next_header_filter(r);
    }

    ngx_str_set(&msg, "the request could not be processed");

    if (r->headers_out.status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        ngx_str_set(&msg, "the request body is larger than allowed");
    }

    envelope = &ctx->envelope;

    if (ngx_liauto_envelope(r->pool, r->headers_out.status, NULL, &msg,
                            NULL, envelope)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->replace_body = 1;

    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = envelope->len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);
    ngx_http_clear_accept_ranges(r);

    return ngx_liauto_next_header_filter(r);
}


static ngx_int_t
ngx_liauto_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t         *b;
    ngx_chain_t       *cl, out;
    ngx_liauto_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_liauto_module);

    if (ctx == NULL || !ctx->replace_body) {
        return ngx_liauto_next_body_filter(r, in);
    }

    /* swallow nginx's HTML page */
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->body_sent) {
        return NGX_OK;
    }

    ctx->body_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->envelope.data;
    b->last = ctx->envelope.data + ctx->envelope.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_liauto_next_body_filter(r, &out);
}
