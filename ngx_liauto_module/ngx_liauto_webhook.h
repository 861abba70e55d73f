
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


/* a delivery's bytes: the headers' values (NULL when absent) and body */
typedef struct {
    ngx_str_t                 *secret;       /* the secret header's */
    ngx_str_t                 *signature;    /* webhook-signature */
    ngx_str_t                 *content_type;
    ngx_str_t                 *user_agent;
    ngx_str_t                 *id;           /* webhook-id */
    ngx_str_t                 *timestamp;    /* webhook-timestamp */
    ngx_str_t                  body;
} ngx_liauto_webhook_delivery_t;


/* what ngx_liauto_webhook_accept() decided */
typedef struct {
    ngx_uint_t                 status;       /* 401 or 400 when refused */
    const char                *message;
    const char                *why;          /* 401: the reason, logged */
    ngx_str_t                  details;      /* 400: JSON */
    ngx_str_t                  headers;      /* accepted: JSON, NUL-ended */
} ngx_liauto_webhook_verdict_t;


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
ngx_int_t ngx_liauto_webhook_accept(ngx_pool_t *pool,
    ngx_liauto_webhook_conf_t *wcf, ngx_liauto_webhook_delivery_t *d,
    ngx_liauto_webhook_verdict_t *v);
ngx_int_t ngx_liauto_webhook_secret_matches(ngx_liauto_webhook_conf_t *wcf,
    ngx_str_t *value);


#endif /* _NGX_LIAUTO_WEBHOOK_H_INCLUDED_ */
