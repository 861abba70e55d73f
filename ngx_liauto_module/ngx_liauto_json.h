
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_JSON_H_INCLUDED_
#define _NGX_LIAUTO_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>


/* why a query string is refused: a 400 saying field: reason */
typedef struct {
    const char  *message;
    u_char      *field;              /* NUL-terminated */
    const char  *reason;
} ngx_liauto_json_refusal_t;


/* ngx_liauto_json_scan_object(): deeper or longer is left to jansson */
#define NGX_LIAUTO_JSON_SCAN_DEPTH   64
#define NGX_LIAUTO_JSON_SCAN_NUMBER  15


size_t ngx_liauto_utf8_len(u_char *p, u_char *last);
ngx_int_t ngx_liauto_json_escape(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
ngx_int_t ngx_liauto_json_scan_object(ngx_str_t *text);
ngx_int_t ngx_liauto_json_check(ngx_pool_t *pool, ngx_str_t *text,
    size_t flags, json_t **out, ngx_str_t *details);
ngx_int_t ngx_liauto_json_query(ngx_pool_t *pool, ngx_str_t *args,
    ngx_str_t *out, ngx_liauto_json_refusal_t *why);
ngx_int_t ngx_liauto_envelope(ngx_pool_t *pool, ngx_uint_t status,
    const char *code, ngx_str_t *message, ngx_str_t *details,
    ngx_str_t *out);
const char *ngx_liauto_status_code(ngx_uint_t status);

ngx_int_t ngx_liauto_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body);
ngx_int_t ngx_liauto_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_liauto_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, ngx_str_t *details);


#endif /* _NGX_LIAUTO_JSON_H_INCLUDED_ */
