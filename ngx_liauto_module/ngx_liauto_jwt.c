
/*
 * Copyright (C) liauto
 *
 * Access tokens: configuration of the signing key, verification of
 * "Authorization: Bearer" tokens (once per request, cached in the ctx,
 * and accepted tokens remembered per worker until they expire), the
 * $liauto_jwt_* variables and signing for the login route.
 *
 * libjwt 1.10 verifies with whatever algorithm the token names and
 * validates no claim, so the allow-list (one algorithm per key, RFC 8725
 * §3.1) and every time and identity check are done here.
 */


#include "ngx_liauto_module.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>


#define NGX_LIAUTO_JWT_MAX_TOKEN      8192
#define NGX_LIAUTO_JWT_MIN_SECRET     32
#define NGX_LIAUTO_JWT_MIN_RSA_BITS   2048
#define NGX_LIAUTO_JWT_DEFAULT_TTL    900
#define NGX_LIAUTO_JWT_DEFAULT_LEEWAY 30

/* accepted tokens remembered per worker: slots (a power of two), size */
#define NGX_LIAUTO_JWT_CACHE_SLOTS    256
#define NGX_LIAUTO_JWT_CACHE_MAX      2048


/*
 * A token this worker verified and accepted, with its claims: while it
 * has not expired, the same bytes under the same configuration are
 * accepted again without libjwt, OpenSSL and jansson (three quarters of
 * the instructions nginx spent on GET /leads/{id}).  Direct-mapped by
 * the token's signature; a collision replaces the older entry.
 */
typedef struct {
    ngx_liauto_jwt_conf_t     *jcf;
    u_char                    *token;     /* the token, then the claims */
    size_t                     len;
    ngx_liauto_claims_t        claims;
} ngx_liauto_jwt_cached_t;


static ngx_liauto_jwt_cached_t
    ngx_liauto_jwt_cache[NGX_LIAUTO_JWT_CACHE_SLOTS];


static char *ngx_liauto_jwt_check_bounds(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_liauto_jwt_resolve_keys(ngx_conf_t *cf,
    ngx_liauto_jwt_conf_t *jcf);
static jwt_alg_t ngx_liauto_jwt_key_pair_alg(ngx_conf_t *cf,
    ngx_liauto_jwt_conf_t *jcf);
static jwt_alg_t ngx_liauto_jwt_pkey_alg(ngx_conf_t *cf, EVP_PKEY *pkey);
static int ngx_liauto_jwt_no_passphrase(char *buf, int size, int rwflag,
    void *u);

static ngx_liauto_jwt_result_t *ngx_liauto_jwt_result(ngx_http_request_t *r);
static ngx_liauto_jwt_cached_t *ngx_liauto_jwt_cache_slot(
    ngx_str_t *authorization, ngx_str_t *token);
static ngx_int_t ngx_liauto_jwt_cache_get(ngx_pool_t *pool,
    ngx_liauto_jwt_conf_t *jcf, ngx_str_t *authorization,
    ngx_liauto_jwt_result_t *res);
static void ngx_liauto_jwt_cache_put(ngx_liauto_jwt_conf_t *jcf,
    ngx_str_t *authorization, ngx_liauto_claims_t *claims, ngx_log_t *log);
static void ngx_liauto_jwt_cache_clear(void);
static void ngx_liauto_jwt_claims_copy(ngx_liauto_claims_t *dst,
    ngx_liauto_claims_t *src, u_char *p);
static u_char *ngx_liauto_jwt_place_str(ngx_str_t *dst, ngx_str_t *src,
    u_char *p);
static const char *ngx_liauto_jwt_bearer(ngx_str_t *authorization,
    ngx_str_t *token);
static const char *ngx_liauto_jwt_check(ngx_liauto_jwt_conf_t *jcf,
    json_t *grants);
static const char *ngx_liauto_jwt_check_times(ngx_liauto_jwt_conf_t *jcf,
    json_t *grants);
static ngx_int_t ngx_liauto_jwt_get_time(json_t *grants, const char *name,
    time_t *t);
static ngx_int_t ngx_liauto_jwt_has_audience(json_t *aud,
    ngx_str_t *expected);
static ngx_int_t ngx_liauto_jwt_str_eq(json_t *s, ngx_str_t *v);
static ngx_int_t ngx_liauto_jwt_is_empty(json_t *s);
static ngx_liauto_claims_t *ngx_liauto_jwt_claims(ngx_pool_t *pool,
    json_t *grants);
static ngx_int_t ngx_liauto_jwt_copy_string(ngx_pool_t *pool,
    json_t *grants, const char *name, ngx_str_t *dst);

static ngx_int_t ngx_liauto_jwt_build(ngx_http_request_t *r,
    ngx_liauto_jwt_conf_t *jcf, jwt_t *jwt, ngx_str_t *sub,
    ngx_str_t *role, ngx_str_t *client_id);
static ngx_int_t ngx_liauto_jwt_add_grant(ngx_pool_t *pool, jwt_t *jwt,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_liauto_jwt_encode(ngx_http_request_t *r, jwt_t *jwt,
    ngx_str_t *token);

static ngx_int_t ngx_liauto_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_liauto_jwt_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


ngx_conf_num_bounds_t  ngx_liauto_jwt_ttl_bounds = {
    ngx_liauto_jwt_check_bounds, 1, 86400
};

/* RFC 7519 §4.1.4: "some small leeway, usually no more than a few minutes" */

ngx_conf_num_bounds_t  ngx_liauto_jwt_leeway_bounds = {
    ngx_liauto_jwt_check_bounds, 0, 300
};


static ngx_http_variable_t  ngx_liauto_jwt_vars[] = {

    { ngx_string("liauto_jwt_sub"), NULL,
      ngx_liauto_jwt_claim_variable,
      offsetof(ngx_liauto_claims_t, sub), 0, 0 },

    { ngx_string("liauto_jwt_role"), NULL,
      ngx_liauto_jwt_claim_variable,
      offsetof(ngx_liauto_claims_t, role), 0, 0 },

    { ngx_string("liauto_jwt_client_id"), NULL,
      ngx_liauto_jwt_claim_variable,
      offsetof(ngx_liauto_claims_t, client_id), 0, 0 },

    { ngx_string("liauto_jwt_error"), NULL,
      ngx_liauto_jwt_error_variable, 0, 0, 0 },

      ngx_http_null_variable
};


/* admin first: the only role that needs no client_id */

static ngx_str_t  ngx_liauto_jwt_roles[] = {
    ngx_string("admin"),
    ngx_string("agent"),
    ngx_string("viewer"),
    ngx_null_string
};


/* liauto_jwt_key_file: the HS256 secret, whitespace around it trimmed */

char *
ngx_liauto_jwt_set_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char       *rv;
    ngx_str_t  *secret, *value;

    secret = (ngx_str_t *) (p + cmd->offset);

    if (secret->data) {
        return "is duplicate";
    }

    rv = ngx_liauto_conf_read_file(cf, cmd, secret);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    while (secret->len && isspace(secret->data[secret->len - 1])) {
        secret->len--;
    }

    while (secret->len && isspace(secret->data[0])) {
        secret->data++;
        secret->len--;
    }

    /* RFC 7518 §3.2: an HS256 key has at least 256 bits */

    if (secret->len < NGX_LIAUTO_JWT_MIN_SECRET) {
        value = cf->args->elts;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\" holds a secret of %uz bytes, "
                           "HS256 needs at least %d",
                           &cmd->name, &value[1], secret->len,
                           NGX_LIAUTO_JWT_MIN_SECRET);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* liauto_jwt_private_key_file, liauto_jwt_public_key_file: checked in merge */

char *
ngx_liauto_jwt_set_pem(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *pem;

    pem = (ngx_str_t *) (p + cmd->offset);

    if (pem->data) {
        return "is duplicate";
    }

    return ngx_liauto_conf_read_file(cf, cmd, pem);
}


/* nginx's own bounds check does not name the directive; this one does */

static char *
ngx_liauto_jwt_check_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_conf_num_bounds_t  *bounds = post;
    time_t                 *sp = data;

    u_char  *msg;

    if (*sp >= bounds->low && *sp <= bounds->high) {
        return NGX_CONF_OK;
    }

    msg = ngx_pnalloc(cf->pool, sizeof("must be between  and  seconds")
                                + 2 * NGX_INT_T_LEN);
    if (msg == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(msg, "must be between %i and %i seconds%Z",
                bounds->low, bounds->high);

    return (char *) msg;
}


void
ngx_liauto_jwt_init_conf(ngx_liauto_jwt_conf_t *jcf)
{
    /*
     * set by ngx_pcalloc() of the server configuration:
     *
     *     jcf->secret = { 0, NULL };
     *     jcf->private_key = { 0, NULL };
     *     jcf->public_key = { 0, NULL };
     *     jcf->issuer = { 0, NULL };
     *     jcf->audience = { 0, NULL };
     */

    jcf->alg = JWT_ALG_INVAL;
    jcf->ttl = NGX_CONF_UNSET;
    jcf->leeway = NGX_CONF_UNSET;

    /*
     * a new configuration (a reload without a master process) may reuse a
     * remembered configuration's address with other keys: forget them all
     */
    ngx_liauto_jwt_cache_clear();
}


/*
 * The key material is inherited as a whole: a server that names any key
 * file does not mix it with the http level's keys.
 */

char *
ngx_liauto_jwt_merge_conf(ngx_conf_t *cf, ngx_liauto_jwt_conf_t *prev,
    ngx_liauto_jwt_conf_t *conf)
{
    if (conf->secret.data == NULL
        && conf->private_key.data == NULL
        && conf->public_key.data == NULL)
    {
        if (ngx_liauto_jwt_resolve_keys(cf, prev) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        conf->secret = prev->secret;
        conf->private_key = prev->private_key;
        conf->public_key = prev->public_key;
        conf->alg = prev->alg;

    } else if (ngx_liauto_jwt_resolve_keys(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_str_value(conf->audience, prev->audience, "");
    ngx_conf_merge_sec_value(conf->ttl, prev->ttl,
                             NGX_LIAUTO_JWT_DEFAULT_TTL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway,
                             NGX_LIAUTO_JWT_DEFAULT_LEEWAY);

    return NGX_CONF_OK;
}


/* sets jcf->alg from the key directives given, once */

static ngx_int_t
ngx_liauto_jwt_resolve_keys(ngx_conf_t *cf, ngx_liauto_jwt_conf_t *jcf)
{
    if (jcf->alg != JWT_ALG_INVAL) {
        return NGX_OK;
    }

    if (jcf->secret.data) {

        if (jcf->private_key.data || jcf->public_key.data) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"liauto_jwt_key_file\" (HS256) and "
                          "\"liauto_jwt_private_key_file\"/"
                          "\"liauto_jwt_public_key_file\" exclude each other");
            return NGX_ERROR;
        }

        jcf->alg = JWT_ALG_HS256;
        return NGX_OK;
    }

    if (jcf->private_key.data == NULL && jcf->public_key.data == NULL) {
        jcf->alg = JWT_ALG_NONE;
        return NGX_OK;
    }

    if (jcf->public_key.data == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"liauto_jwt_private_key_file\" needs "
                      "\"liauto_jwt_public_key_file\" at the same level");
        return NGX_ERROR;
    }

    if (jcf->private_key.data == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"liauto_jwt_public_key_file\" needs "
                      "\"liauto_jwt_private_key_file\" at the same level");
        return NGX_ERROR;
    }

    jcf->alg = ngx_liauto_jwt_key_pair_alg(cf, jcf);

    return jcf->alg == JWT_ALG_INVAL ? NGX_ERROR : NGX_OK;
}


/* RS256 or ES256 from the private key's type; the public key must match */

static jwt_alg_t
ngx_liauto_jwt_key_pair_alg(ngx_conf_t *cf, ngx_liauto_jwt_conf_t *jcf)
{
    BIO        *bio;
    EVP_PKEY   *private_key, *public_key;
    jwt_alg_t   alg;

    private_key = NULL;
    public_key = NULL;
    alg = JWT_ALG_INVAL;

    bio = BIO_new_mem_buf(jcf->private_key.data, jcf->private_key.len);
    if (bio == NULL) {
        goto done;
    }

    private_key = PEM_read_bio_PrivateKey(bio, NULL,
                                          ngx_liauto_jwt_no_passphrase, NULL);
    BIO_free(bio);

    if (private_key == NULL) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"liauto_jwt_private_key_file\" holds no unencrypted "
                      "PEM private key");
        goto done;
    }

    bio = BIO_new_mem_buf(jcf->public_key.data, jcf->public_key.len);
    if (bio == NULL) {
        goto done;
    }

    public_key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (public_key == NULL) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"liauto_jwt_public_key_file\" holds no PEM public "
                      "key (\"-----BEGIN PUBLIC KEY-----\")");
        goto done;
    }

    if (EVP_PKEY_eq(private_key, public_key) != 1) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"liauto_jwt_public_key_file\" is not the public key "
                      "of \"liauto_jwt_private_key_file\"");
        goto done;
    }

    alg = ngx_liauto_jwt_pkey_alg(cf, private_key);

done:

    ERR_clear_error();
    EVP_PKEY_free(private_key);
    EVP_PKEY_free(public_key);

    return alg;
}


static jwt_alg_t
ngx_liauto_jwt_pkey_alg(ngx_conf_t *cf, EVP_PKEY *pkey)
{
    int   bits;
    char  curve[64];

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_LIAUTO_JWT_MIN_RSA_BITS) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"liauto_jwt_private_key_file\" holds an RSA key "
                          "of %d bits, RS256 needs at least %d",
                          bits, NGX_LIAUTO_JWT_MIN_RSA_BITS);
            return JWT_ALG_INVAL;
        }

        return JWT_ALG_RS256;

    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(pkey, curve, sizeof(curve), NULL) != 1) {
            curve[0] = '\0';
        }

        if (ngx_strcmp(curve, SN_X9_62_prime256v1) != 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"liauto_jwt_private_key_file\" holds an EC key "
                          "on curve \"%s\", ES256 needs P-256 (%s)",
                          curve, SN_X9_62_prime256v1);
            return JWT_ALG_INVAL;
        }

        return JWT_ALG_ES256;

    default:
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"liauto_jwt_private_key_file\" holds neither an RSA "
                      "(RS256) nor a P-256 EC (ES256) key");
        return JWT_ALG_INVAL;
    }
}


/* an encrypted key fails to load instead of prompting on the terminal */

static int
ngx_liauto_jwt_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}


ngx_int_t
ngx_liauto_jwt_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_liauto_jwt_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_liauto_jwt_authenticate(ngx_http_request_t *r,
    ngx_liauto_claims_t **claims, const char **reason)
{
    ngx_liauto_srv_conf_t    *lscf;
    ngx_liauto_jwt_result_t  *res;

    lscf = ngx_http_get_module_srv_conf(r, ngx_liauto_module);

    if (lscf->jwt.alg == JWT_ALG_NONE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto jwt: cannot verify tokens, the server has "
                      "no \"liauto_jwt_key_file\" or "
                      "\"liauto_jwt_public_key_file\"");
        return NGX_ERROR;
    }

    res = ngx_liauto_jwt_result(r);
    if (res == NULL) {
        return NGX_ERROR;
    }

    if (res->claims == NULL) {
        *reason = res->reason;
        return NGX_DECLINED;
    }

    *claims = res->claims;

    return NGX_OK;
}


/*
 * The token is decoded at most once per request: by whichever of a variable
 * (rewrite, preaccess and log phases) or the API dispatcher asks first.
 */

static ngx_liauto_jwt_result_t *
ngx_liauto_jwt_result(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                *value;
    ngx_table_elt_t          *h;
    ngx_liauto_ctx_t         *ctx;
    ngx_liauto_srv_conf_t    *lscf;
    ngx_liauto_jwt_result_t  *res;

    ctx = ngx_liauto_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->jwt) {
        return ctx->jwt;
    }

    res = ngx_pcalloc(r->pool, sizeof(ngx_liauto_jwt_result_t));
    if (res == NULL) {
        return NULL;
    }

    lscf = ngx_http_get_module_srv_conf(r, ngx_liauto_module);
    h = r->headers_in.authorization;
    value = h ? &h->value : NULL;

    rc = ngx_liauto_jwt_cache_get(r->pool, &lscf->jwt, value, res);

    if (rc == NGX_ERROR) {
        return NULL;
    }

    if (rc == NGX_DECLINED) {
        if (ngx_liauto_jwt_verify(r->pool, &lscf->jwt, value, res) != NGX_OK)
        {
            return NULL;
        }

        if (res->claims) {
            ngx_liauto_jwt_cache_put(&lscf->jwt, value, res->claims,
                                     r->connection->log);
        }
    }

    if (res->claims) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "liauto jwt: token accepted%s, sub \"%V\" role \"%V\"",
                       rc == NGX_OK ? " (cached)" : "",
                       &res->claims->sub, &res->claims->role);

    } else {
        /* a client's mistake or an attack, not a server error */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "liauto jwt: token refused: %s", res->reason);
    }

    ctx->jwt = res;

    return res;
}


/*
 * The slot of the token in an Authorization value, or NULL when there is
 * no well-formed Bearer token of a cacheable size.
 */

static ngx_liauto_jwt_cached_t *
ngx_liauto_jwt_cache_slot(ngx_str_t *authorization, ngx_str_t *token)
{
    u_char      *p, *sig;
    ngx_uint_t   key;

    if (ngx_liauto_jwt_bearer(authorization, token) != NULL
        || token->len > NGX_LIAUTO_JWT_CACHE_MAX)
    {
        return NULL;
    }

    /* the signature part: what tells two tokens of one user apart */
    sig = token->data;

    for (p = token->data; p < token->data + token->len; p++) {
        if (*p == '.') {
            sig = p + 1;
        }
    }

    key = 0;

    for (p = sig; p < token->data + token->len; p++) {
        key = ngx_hash(key, *p);
    }

    return &ngx_liauto_jwt_cache[key & (NGX_LIAUTO_JWT_CACHE_SLOTS - 1)];
}


/*
 * NGX_OK: the very token was accepted under jcf and has not expired since
 * (nbf and iat only ever pass later), res->claims copied to pool;
 * NGX_DECLINED: not remembered, verify it.
 */

static ngx_int_t
ngx_liauto_jwt_cache_get(ngx_pool_t *pool, ngx_liauto_jwt_conf_t *jcf,
    ngx_str_t *authorization, ngx_liauto_jwt_result_t *res)
{
    u_char                   *p;
    ngx_str_t                 token;
    ngx_liauto_jwt_cached_t  *slot;

    slot = ngx_liauto_jwt_cache_slot(authorization, &token);

    /* in constant time: the slot holds another caller's valid token */
    if (slot == NULL || slot->jcf != jcf || slot->len != token.len
        || CRYPTO_memcmp(slot->token, token.data, token.len) != 0)
    {
        return NGX_DECLINED;
    }

    /* the test of ngx_liauto_jwt_check_times(), which refuses it now */
    if (slot->claims.exp < ngx_time() - jcf->leeway) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(pool, slot->claims.sub.len + slot->claims.role.len
                          + slot->claims.client_id.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    res->claims = ngx_palloc(pool, sizeof(ngx_liauto_claims_t));
    if (res->claims == NULL) {
        return NGX_ERROR;
    }

    ngx_liauto_jwt_claims_copy(res->claims, &slot->claims, p);

    return NGX_OK;
}


/* remembers an accepted token; without memory it is just not remembered */

static void
ngx_liauto_jwt_cache_put(ngx_liauto_jwt_conf_t *jcf, ngx_str_t *authorization,
    ngx_liauto_claims_t *claims, ngx_log_t *log)
{
    u_char                   *p;
    ngx_str_t                 token;
    ngx_liauto_jwt_cached_t  *slot;

    slot = ngx_liauto_jwt_cache_slot(authorization, &token);
    if (slot == NULL) {
        return;
    }

    if (slot->token) {
        ngx_free(slot->token);
        slot->token = NULL;
        slot->len = 0;
    }

    p = ngx_alloc(token.len + claims->sub.len + claims->role.len
                  + claims->client_id.len, log);
    if (p == NULL) {
        return;
    }

    slot->jcf = jcf;
    slot->token = p;
    slot->len = token.len;

    ngx_liauto_jwt_claims_copy(&slot->claims, claims,
                               ngx_cpymem(p, token.data, token.len));
}


static void
ngx_liauto_jwt_cache_clear(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_LIAUTO_JWT_CACHE_SLOTS; i++) {
        if (ngx_liauto_jwt_cache[i].token) {
            ngx_free(ngx_liauto_jwt_cache[i].token);
        }
    }

    ngx_memzero(ngx_liauto_jwt_cache, sizeof(ngx_liauto_jwt_cache));
}


/* dst becomes src with its strings copied to p on (room for them all) */

static void
ngx_liauto_jwt_claims_copy(ngx_liauto_claims_t *dst,
    ngx_liauto_claims_t *src, u_char *p)
{
    dst->exp = src->exp;
    p = ngx_liauto_jwt_place_str(&dst->sub, &src->sub, p);
    p = ngx_liauto_jwt_place_str(&dst->role, &src->role, p);
    (void) ngx_liauto_jwt_place_str(&dst->client_id, &src->client_id, p);
}


/* an absent claim has no memory at all: never memcpy() from it */

static u_char *
ngx_liauto_jwt_place_str(ngx_str_t *dst, ngx_str_t *src, u_char *p)
{
    dst->len = src->len;
    dst->data = p;

    return src->len ? ngx_cpymem(p, src->data, src->len) : p;
}


/*
 * Needs no request (t/fuzz/fuzz_jwt.c calls it with bytes): the claims are
 * allocated from pool, authorization is the header's value or NULL.
 */

ngx_int_t
ngx_liauto_jwt_verify(ngx_pool_t *pool, ngx_liauto_jwt_conf_t *jcf,
    ngx_str_t *authorization, ngx_liauto_jwt_result_t *res)
{
    int         rc;
    jwt_t      *jwt;
    char       *json;
    u_char     *buf;
    json_t     *grants;
    jwt_alg_t   alg;
    ngx_str_t   token, *key;

    if (jcf->alg == JWT_ALG_NONE) {
        res->reason = "token verification is not configured";
        return NGX_OK;
    }

    res->reason = ngx_liauto_jwt_bearer(authorization, &token);
    if (res->reason) {
        return NGX_OK;
    }

    /* libjwt wants a C string */
    buf = ngx_pnalloc(pool, token.len + 1);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(buf, token.data, token.len + 1);

    /* never a NULL key: libjwt would then skip the signature check */
    key = jcf->secret.data ? &jcf->secret : &jcf->public_key;

    rc = jwt_decode(&jwt, (char *) buf, key->data, key->len);

    if (rc != 0) {
        res->reason = "token is malformed or its signature is invalid";
        return NGX_OK;
    }

    /*
     * libjwt verified with the token's own alg: pin ours (no none, no HS
     * with the public key as secret); its claim getters cannot tell a
     * string from a number, so the claims are read with jansson
     */
    alg = jwt_get_alg(jwt);
    json = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);

    if (alg != jcf->alg) {
        free(json);
        res->reason = "token algorithm is not allowed";
        return NGX_OK;
    }

    if (json == NULL) {
        return NGX_ERROR;
    }

    grants = json_loads(json, 0, NULL);
    free(json);

    if (grants == NULL) {
        return NGX_ERROR;
    }

    res->reason = ngx_liauto_jwt_check(jcf, grants);

    if (res->reason == NULL) {
        res->claims = ngx_liauto_jwt_claims(pool, grants);
    }

    json_decref(grants);

    return (res->reason || res->claims) ? NGX_OK : NGX_ERROR;
}


/* RFC 6750 §2.1: "Bearer" (any case, RFC 7235 §2.1), spaces, the token */

static const char *
ngx_liauto_jwt_bearer(ngx_str_t *authorization, ngx_str_t *token)
{
    u_char  *p, *last;

    if (authorization == NULL) {
        return "missing Authorization header";
    }

    p = authorization->data;
    last = p + authorization->len;

    if (authorization->len < sizeof("Bearer") - 1
        || ngx_strncasecmp(p, (u_char *) "Bearer", sizeof("Bearer") - 1) != 0)
    {
        return "Authorization header is not a Bearer token";
    }

    p += sizeof("Bearer") - 1;

    if (p < last && *p != ' ') {
        return "Authorization header is not a Bearer token";
    }

    while (p < last && *p == ' ') {
        p++;
    }

    if (p == last) {
        return "Bearer token is empty";
    }

    if (last - p > NGX_LIAUTO_JWT_MAX_TOKEN) {
        return "Bearer token is longer than 8192 bytes";
    }

    token->data = p;
    token->len = last - p;

    return NULL;
}


/* NULL when the claims of a verified token are acceptable, else why not */

static const char *
ngx_liauto_jwt_check(ngx_liauto_jwt_conf_t *jcf, json_t *grants)
{
    json_t      *role;
    ngx_str_t   *name;
    const char  *reason;

    reason = ngx_liauto_jwt_check_times(jcf, grants);
    if (reason) {
        return reason;
    }

    if (jcf->issuer.len
        && !ngx_liauto_jwt_str_eq(json_object_get(grants, "iss"),
                                  &jcf->issuer))
    {
        return "token issuer is not accepted";
    }

    if (jcf->audience.len
        && !ngx_liauto_jwt_has_audience(json_object_get(grants, "aud"),
                                        &jcf->audience))
    {
        return "token audience is not accepted";
    }

    if (ngx_liauto_jwt_is_empty(json_object_get(grants, "sub"))) {
        return "token has no sub claim";
    }

    role = json_object_get(grants, "role");

    for (name = ngx_liauto_jwt_roles; name->len; name++) {
        if (ngx_liauto_jwt_str_eq(role, name)) {
            break;
        }
    }

    if (name->len == 0) {
        return "token role is not admin, agent or viewer";
    }

    /* an admin may work without a client; agents and viewers never */
    if (name != &ngx_liauto_jwt_roles[0]
        && ngx_liauto_jwt_is_empty(json_object_get(grants, "client_id")))
    {
        return "token of an agent or viewer has no client_id claim";
    }

    return NULL;
}


static const char *
ngx_liauto_jwt_check_times(ngx_liauto_jwt_conf_t *jcf, json_t *grants)
{
    time_t     now, exp, nbf, iat;
    ngx_int_t  rc;

    now = ngx_time();

    if (ngx_liauto_jwt_get_time(grants, "exp", &exp) != NGX_OK) {
        return "token has no numeric exp claim";
    }

    /* exp < now - leeway, unlike exp + leeway < now, cannot overflow */
    if (exp < now - jcf->leeway) {
        return "token has expired";
    }

    rc = ngx_liauto_jwt_get_time(grants, "nbf", &nbf);

    if (rc == NGX_ERROR) {
        return "token nbf claim is not a number";
    }

    if (rc == NGX_OK && nbf > now + jcf->leeway) {
        return "token is not valid yet";
    }

    rc = ngx_liauto_jwt_get_time(grants, "iat", &iat);

    if (rc == NGX_ERROR) {
        return "token iat claim is not a number";
    }

    if (rc == NGX_OK && iat > now + jcf->leeway) {
        return "token was issued in the future";
    }

    return NULL;
}


/* NGX_DECLINED: absent; NGX_ERROR: present but not a NumericDate */

static ngx_int_t
ngx_liauto_jwt_get_time(json_t *grants, const char *name, time_t *t)
{
    json_t  *value;

    value = json_object_get(grants, name);

    if (value == NULL) {
        return NGX_DECLINED;
    }

    if (json_is_integer(value)) {
        *t = (time_t) json_integer_value(value);
        return NGX_OK;
    }

    /* a fractional NumericDate; out of time_t's range it is malformed */
    if (json_is_real(value)
        && json_real_value(value) > -1e15
        && json_real_value(value) < 1e15)
    {
        *t = (time_t) json_real_value(value);
        return NGX_OK;
    }

    return NGX_ERROR;
}


/* RFC 7519 §4.1.3: aud is one string or an array of strings */

static ngx_int_t
ngx_liauto_jwt_has_audience(json_t *aud, ngx_str_t *expected)
{
    size_t   i;
    json_t  *item;

    if (ngx_liauto_jwt_str_eq(aud, expected)) {
        return 1;
    }

    json_array_foreach(aud, i, item) {
        if (ngx_liauto_jwt_str_eq(item, expected)) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_liauto_jwt_str_eq(json_t *s, ngx_str_t *v)
{
    return json_is_string(s)
           && json_string_length(s) == v->len
           && ngx_memcmp(json_string_value(s), v->data, v->len) == 0;
}


/* an absent claim, or one that is not a string, counts as empty */

static ngx_int_t
ngx_liauto_jwt_is_empty(json_t *s)
{
    return !json_is_string(s) || json_string_length(s) == 0;
}


static ngx_liauto_claims_t *
ngx_liauto_jwt_claims(ngx_pool_t *pool, json_t *grants)
{
    time_t                exp;
    ngx_liauto_claims_t  *claims;

    claims = ngx_pcalloc(pool, sizeof(ngx_liauto_claims_t));
    if (claims == NULL) {
        return NULL;
    }

    if (ngx_liauto_jwt_copy_string(pool, grants, "sub", &claims->sub)
        != NGX_OK
        || ngx_liauto_jwt_copy_string(pool, grants, "role", &claims->role)
           != NGX_OK
        || ngx_liauto_jwt_copy_string(pool, grants, "client_id",
                                      &claims->client_id)
           != NGX_OK)
    {
        return NULL;
    }

    /* present: checked by ngx_liauto_jwt_check_times() */
    exp = 0;
    (void) ngx_liauto_jwt_get_time(grants, "exp", &exp);
    claims->exp = exp;

    return claims;
}


/* a claim that is absent or not a string is left empty */

static ngx_int_t
ngx_liauto_jwt_copy_string(ngx_pool_t *pool, json_t *grants,
    const char *name, ngx_str_t *dst)
{
    json_t  *value;

    value = json_object_get(grants, name);

    if (!json_is_string(value)) {
        return NGX_OK;
    }

    dst->len = json_string_length(value);

    dst->data = ngx_pnalloc(pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, json_string_value(value), dst->len);

    return NGX_OK;
}


ngx_int_t
ngx_liauto_jwt_sign(ngx_http_request_t *r, ngx_str_t *sub, ngx_str_t *role,
    ngx_str_t *client_id, ngx_str_t *token, time_t *expires_in)
{
    int                     err;
    jwt_t                  *jwt;
    ngx_int_t               rc;
    ngx_liauto_srv_conf_t  *lscf;

    lscf = ngx_http_get_module_srv_conf(r, ngx_liauto_module);

    if (lscf->jwt.alg == JWT_ALG_NONE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto jwt: cannot sign a token, the server has no "
                      "\"liauto_jwt_key_file\" or "
                      "\"liauto_jwt_private_key_file\"");
        return NGX_ERROR;
    }

    err = jwt_new(&jwt);

    if (err != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "liauto jwt: jwt_new() failed");
        return NGX_ERROR;
    }

    rc = ngx_liauto_jwt_build(r, &lscf->jwt, jwt, sub, role, client_id);

    if (rc == NGX_OK) {
        rc = ngx_liauto_jwt_encode(r, jwt, token);
    }

    jwt_free(jwt);

    *expires_in = lscf->jwt.ttl;

    return rc;
}


static ngx_int_t
ngx_liauto_jwt_build(ngx_http_request_t *r, ngx_liauto_jwt_conf_t *jcf,
    jwt_t *jwt, ngx_str_t *sub, ngx_str_t *role, ngx_str_t *client_id)
{
    int         err;
    time_t      now;
    ngx_str_t  *key;

    key = jcf->secret.data ? &jcf->secret : &jcf->private_key;

    err = jwt_set_alg(jwt, jcf->alg, key->data, key->len);

    if (err != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, err,
                      "liauto jwt: jwt_set_alg() failed");
        return NGX_ERROR;
    }

    now = ngx_time();

    if (ngx_liauto_jwt_add_grant(r->pool, jwt, "sub", sub) != NGX_OK
        || ngx_liauto_jwt_add_grant(r->pool, jwt, "role", role) != NGX_OK
        || ngx_liauto_jwt_add_grant(r->pool, jwt, "client_id", client_id)
           != NGX_OK
        || ngx_liauto_jwt_add_grant(r->pool, jwt, "iss", &jcf->issuer)
           != NGX_OK
        || ngx_liauto_jwt_add_grant(r->pool, jwt, "aud", &jcf->audience)
           != NGX_OK
        || jwt_add_grant_int(jwt, "iat", now) != 0
        || jwt_add_grant_int(jwt, "exp", now + jcf->ttl) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto jwt: adding the claims failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* an empty value is left out of the token */

static ngx_int_t
ngx_liauto_jwt_add_grant(ngx_pool_t *pool, jwt_t *jwt, const char *name,
    ngx_str_t *value)
{
    u_char  *s;

    if (value->len == 0) {
        return NGX_OK;
    }

    s = ngx_pnalloc(pool, value->len + 1);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(s, value->data, value->len + 1);

    return jwt_add_grant(jwt, name, (char *) s) == 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_liauto_jwt_encode(ngx_http_request_t *r, jwt_t *jwt, ngx_str_t *token)
{
    char  *encoded;

    encoded = jwt_encode_str(jwt);

    if (encoded == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "liauto jwt: jwt_encode_str() failed");
        return NGX_ERROR;
    }

    token->len = ngx_strlen(encoded);
    token->data = ngx_pnalloc(r->pool, token->len);

    if (token->data) {
        ngx_memcpy(token->data, encoded, token->len);
    }

    free(encoded);

    return token->data ? NGX_OK : NGX_ERROR;
}


/* both variable getters: a value, or "" when the token gave none */

static void
ngx_liauto_jwt_set_variable(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->len = len;
    v->data = data ? data : (u_char *) "";
}


static ngx_int_t
ngx_liauto_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *claim;
    ngx_liauto_jwt_result_t  *res;

    res = ngx_liauto_jwt_result(r);
    if (res == NULL) {
        return NGX_ERROR;
    }

    if (res->claims == NULL) {
        ngx_liauto_jwt_set_variable(v, NULL, 0);
        return NGX_OK;
    }

    claim = (ngx_str_t *) ((char *) res->claims + data);
    ngx_liauto_jwt_set_variable(v, claim->data, claim->len);

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_jwt_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_liauto_jwt_result_t  *res;

    res = ngx_liauto_jwt_result(r);
    if (res == NULL) {
        return NGX_ERROR;
    }

    ngx_liauto_jwt_set_variable(v, (u_char *) res->reason,
                                res->reason ? ngx_strlen(res->reason) : 0);

    return NGX_OK;
}
