
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_JWT_H_INCLUDED_
#define _NGX_LIAUTO_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jwt.h>


typedef struct {
    /* the HS256 secret, or the PEM private key for RS256/ES256 */
    ngx_str_t                  secret;
    ngx_str_t                  private_key;
    ngx_str_t                  public_key;
    /* JWT_ALG_NONE: no key configured; JWT_ALG_INVAL: not resolved yet */
    jwt_alg_t                  alg;
    ngx_str_t                  issuer;
    ngx_str_t                  audience;
    time_t                     ttl;
    time_t                     leeway;
} ngx_liauto_jwt_conf_t;


typedef struct {
    ngx_str_t                  sub;
    ngx_str_t                  role;
    ngx_str_t                  client_id;
    time_t                     exp;
} ngx_liauto_claims_t;


/* the outcome of a request's token, decoded once and kept in its ctx */
typedef struct {
    ngx_liauto_claims_t       *claims;    /* NULL when refused */
    const char                *reason;    /* why, when refused */
} ngx_liauto_jwt_result_t;


char *ngx_liauto_jwt_set_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_liauto_jwt_set_pem(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
extern ngx_conf_num_bounds_t  ngx_liauto_jwt_ttl_bounds;
extern ngx_conf_num_bounds_t  ngx_liauto_jwt_leeway_bounds;

void ngx_liauto_jwt_init_conf(ngx_liauto_jwt_conf_t *jcf);
char *ngx_liauto_jwt_merge_conf(ngx_conf_t *cf, ngx_liauto_jwt_conf_t *prev,
    ngx_liauto_jwt_conf_t *conf);
ngx_int_t ngx_liauto_jwt_add_variables(ngx_conf_t *cf);

/*
 * NGX_OK with *claims set; NGX_DECLINED with *reason (static text for the
 * 401 envelope); NGX_ERROR when memory runs out or the server has no key.
 */
ngx_int_t ngx_liauto_jwt_authenticate(ngx_http_request_t *r,
    ngx_liauto_claims_t **claims, const char **reason);

/*
 * The pure part of ngx_liauto_jwt_authenticate(): verifies the value of an
 * Authorization header (NULL: none) against jcf.  NGX_OK with res->claims
 * (from pool) or res->reason; NGX_ERROR when memory runs out.
 */
ngx_int_t ngx_liauto_jwt_verify(ngx_pool_t *pool, ngx_liauto_jwt_conf_t *jcf,
    ngx_str_t *authorization, ngx_liauto_jwt_result_t *res);

/*
 * Signs an access token for sub/role/client_id (client_id may be empty:
 * an admin without a client); NGX_ERROR is logged.
 */
ngx_int_t ngx_liauto_jwt_sign(ngx_http_request_t *r, ngx_str_t *sub,
    ngx_str_t *role, ngx_str_t *client_id, ngx_str_t *token,
    time_t *expires_in);


#endif /* _NGX_LIAUTO_JWT_H_INCLUDED_ */
