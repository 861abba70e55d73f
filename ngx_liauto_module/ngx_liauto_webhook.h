
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_WEBHOOK_H_INCLUDED_
#define _NGX_LIAUTO_WEBHOOK_H_INCLUDED_


#include <openssl/evp.h>

#include "ngx_liauto_module.h"


struct ngx_liauto_webhook_conf_s {
    /* SHA-256 of the shared secret: compared without leaking its length */
    ngx_str_t                  secret_digest;
    /* the header that carries it, lower case */
    ngx_str_t                  header;
    /* Standard Webhooks HMAC-SHA256 key, NULL when not configured */
    EVP_PKEY                  *signing_key;
    time_t                     tolerance;
};


/* a webhook route's function and the statement that calls it */
#define NGX_LIAUTO_WEBHOOK_SQL(source)                                        \
    "api.ingest_webhook", "SELECT status, body FROM api.ingest_webhook('"     \
        source "', $1, $2::jsonb)"


char *ngx_liauto_webhook_set_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_liauto_webhook_set_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_liauto_webhook_set_signing_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_liauto_webhook_set_tolerance(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_liauto_webhook_conf_t *ngx_liauto_webhook_create_conf(ngx_conf_t *cf);
void ngx_liauto_webhook_merge_conf(ngx_liauto_webhook_conf_t *prev,
    ngx_liauto_webhook_conf_t *conf);

/*
 * Before the body is read: NGX_OK when the delivery may go on, NGX_DONE
 * when it was answered (503 not configured, 401), ctx->rc the send's result.
 */
ngx_int_t ngx_liauto_webhook_admit(ngx_liauto_ctx_t *ctx);
/* the route handler: verify, check the body, store it */
ngx_int_t ngx_liauto_webhook_deliver(ngx_liauto_ctx_t *ctx);


#endif /* _NGX_LIAUTO_WEBHOOK_H_INCLUDED_ */
