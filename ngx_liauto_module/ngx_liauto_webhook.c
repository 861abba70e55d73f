
/*
 * Copyright (C) liauto
 *
 * Webhook deliveries (POST /api/v1/webhooks/unipile/...): authenticated by
 * a shared secret header (Unipile sends the static header registered with
 * the webhook) or, when a signing key is configured, by a Standard
 * Webhooks signature (HMAC-SHA256 over "id.timestamp.body"); the body is
 * JSON whatever its Content-Type says; api.ingest_webhook stores it once
 * per delivery key.  Nothing is stored unless all of that holds.
 */


#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <jansson.h>

#include "ngx_liauto_module.h"
#include "ngx_liauto_router.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_api.h"
#include "ngx_liauto_webhook.h"


#define NGX_LIAUTO_WEBHOOK_TOLERANCE  300
/* base64 of a SHA-256 MAC */
#define NGX_LIAUTO_WEBHOOK_SIG_LEN    44
#define NGX_LIAUTO_WEBHOOK_DIGEST_LEN 32


typedef struct {
    const char  *name;
    size_t       offset;
} ngx_liauto_webhook_kept_t;


static ngx_liauto_webhook_conf_t *ngx_liauto_webhook_conf(
    ngx_http_request_t *r);
static ngx_int_t ngx_liauto_webhook_secret_ok(ngx_http_request_t *r,
    ngx_liauto_webhook_conf_t *wcf);
static ngx_str_t *ngx_liauto_webhook_value(ngx_http_request_t *r,
    const char *lowcase_name);
static ngx_int_t ngx_liauto_webhook_verify(ngx_liauto_webhook_conf_t *wcf,
    ngx_liauto_webhook_delivery_t *d, ngx_liauto_webhook_verdict_t *v);
static ngx_int_t ngx_liauto_webhook_mac(EVP_PKEY *key, ngx_str_t *id,
    ngx_str_t *ts, ngx_str_t *body, u_char *out);
static ngx_int_t ngx_liauto_webhook_sig_matches(ngx_str_t *header,
    u_char *expected);
static ngx_int_t ngx_liauto_webhook_object(ngx_pool_t *pool,
    ngx_str_t *body, ngx_liauto_webhook_verdict_t *v);
static ngx_int_t ngx_liauto_webhook_headers(ngx_pool_t *pool,
    ngx_liauto_webhook_conf_t *wcf, ngx_liauto_webhook_delivery_t *d,
    const char *auth, ngx_str_t *out);
static ngx_int_t ngx_liauto_webhook_refuse(ngx_liauto_ctx_t *ctx,
    ngx_uint_t status, const char *message, const char *why);
static void ngx_liauto_webhook_free_key(void *data);


/* what is kept of a delivery's headers, besides how it was authenticated */

static ngx_liauto_webhook_kept_t  ngx_liauto_webhook_kept_headers[] = {
    { "content-type",
      offsetof(ngx_liauto_webhook_delivery_t, content_type) },
    { "user-agent", offsetof(ngx_liauto_webhook_delivery_t, user_agent) },
    { "webhook-id", offsetof(ngx_liauto_webhook_delivery_t, id) },
    { "webhook-timestamp",
      offsetof(ngx_liauto_webhook_delivery_t, timestamp) },
    { NULL, 0 }
};


ngx_int_t
ngx_liauto_webhook_admit(ngx_liauto_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_http_request_t         *r;
    ngx_liauto_webhook_conf_t  *wcf;

    r = ctx->request;
    wcf = ngx_liauto_webhook_conf(r);

    if (wcf->secret_digest.len == 0 && wcf->signing_key == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: webhook delivery to \"%V\" answered 503: "
                      "webhooks are not configured here (no "
                      "\"liauto_webhook_secret_file\" or "
                      "\"liauto_webhook_signing_key_file\")", &r->uri);

        return ngx_liauto_webhook_refuse(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "webhooks not configured", NULL);
    }

    rc = ngx_liauto_webhook_secret_ok(r, wcf);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* a signature can only be checked once the body is read */
    if (rc == NGX_OK
        || (wcf->signing_key
            && ngx_liauto_api_header(r, "webhook-signature") != NULL))
    {
        return NGX_OK;
    }

    return ngx_liauto_webhook_refuse(ctx, NGX_HTTP_UNAUTHORIZED,
                                     "webhook authentication failed",
                                     wcf->secret_digest.len
                                     ? "missing or wrong secret header"
                                     : "no webhook-signature header");
}


ngx_int_t
ngx_liauto_webhook_deliver(ngx_liauto_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_request_t             *r;
    ngx_liauto_webhook_kept_t      *kept;
    ngx_liauto_webhook_conf_t      *wcf;
    ngx_liauto_webhook_verdict_t    v;
    ngx_liauto_webhook_delivery_t   d;

    r = ctx->request;
    wcf = ngx_liauto_webhook_conf(r);

    if (ngx_liauto_api_read_body(r, &d.body) != NGX_OK) {
        return NGX_ERROR;
    }

    d.secret = wcf->secret_digest.len
               ? ngx_liauto_webhook_value(r, (char *) wcf->header.data)
               : NULL;
    d.signature = ngx_liauto_webhook_value(r, "webhook-signature");

    for (kept = ngx_liauto_webhook_kept_headers; kept->name; kept++) {
        *(ngx_str_t **) ((u_char *) &d + kept->offset) =
            ngx_liauto_webhook_value(r, kept->name);
    }

    rc = ngx_liauto_webhook_accept(r->pool, wcf, &d, &v);

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: webhook delivery to \"%V\": checking it "
                      "failed (SHA-256, HMAC or memory)", &r->uri);
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        rc = (v.status == NGX_HTTP_UNAUTHORIZED)
             ? ngx_liauto_webhook_refuse(ctx, v.status, v.message, v.why)
             : ngx_liauto_api_refuse(ctx, v.status, v.message, &v.details);

        return (rc == NGX_DONE) ? ctx->rc : rc;
    }

    ctx->query.values[0] = (char *) d.body.data;
    ctx->query.values[1] = (char *) v.headers.data;
    ctx->query.nparams = 2;

    return ngx_liauto_query(ctx, ctx->route->sql, ngx_liauto_api_done);
}


/*
 * A delivery's verdict from its bytes alone (no request: t/fuzz/
 * fuzz_webhook.c calls it): NGX_OK with v->headers, what is stored next
 * to the body; NGX_DECLINED with v->status 401 (v->why) or 400
 * (v->details); NGX_ERROR.
 */

ngx_int_t
ngx_liauto_webhook_accept(ngx_pool_t *pool, ngx_liauto_webhook_conf_t *wcf,
    ngx_liauto_webhook_delivery_t *d, ngx_liauto_webhook_verdict_t *v)
{
    ngx_int_t    rc;
    const char  *auth;

    ngx_memzero(v, sizeof(ngx_liauto_webhook_verdict_t));

    rc = ngx_liauto_webhook_secret_matches(wcf, d->secret);
    auth = "secret";

    if (rc == NGX_DECLINED) {
        rc = ngx_liauto_webhook_verify(wcf, d, v);
        auth = "signature";
    }

    if (rc == NGX_DECLINED) {
        v->status = NGX_HTTP_UNAUTHORIZED;
        v->message = "webhook authentication failed";
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_liauto_webhook_object(pool, &d->body, v);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_liauto_webhook_headers(pool, wcf, d, auth, &v->headers);
}


static ngx_liauto_webhook_conf_t *
ngx_liauto_webhook_conf(ngx_http_request_t *r)
{
    ngx_liauto_loc_conf_t  *llcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_liauto_module);

    return llcf->webhook;
}


static ngx_int_t
ngx_liauto_webhook_secret_ok(ngx_http_request_t *r,
    ngx_liauto_webhook_conf_t *wcf)
{
    if (wcf->secret_digest.len == 0) {
        return NGX_DECLINED;
    }

    return ngx_liauto_webhook_secret_matches(wcf,
               ngx_liauto_webhook_value(r, (char *) wcf->header.data));
}


static ngx_str_t *
ngx_liauto_webhook_value(ngx_http_request_t *r, const char *lowcase_name)
{
    ngx_table_elt_t  *h;

    h = ngx_liauto_api_header(r, lowcase_name);

    return h ? &h->value : NULL;
}


/*
 * NGX_OK: value (the secret header's, NULL when absent) is the secret.
 * Digests of equal length are compared in constant time, so neither the
 * secret's bytes nor its length show in the timing.
 */

ngx_int_t
ngx_liauto_webhook_secret_matches(ngx_liauto_webhook_conf_t *wcf,
    ngx_str_t *value)
{
    u_char  md[EVP_MAX_MD_SIZE];

    if (wcf->secret_digest.len == 0 || value == NULL) {
        return NGX_DECLINED;
    }

    if (EVP_Digest(value->data, value->len, md, NULL, EVP_sha256(), NULL)
        != 1)
    {
        return NGX_ERROR;
    }

    return CRYPTO_memcmp(md, wcf->secret_digest.data,
                         NGX_LIAUTO_WEBHOOK_DIGEST_LEN) == 0
           ? NGX_OK : NGX_DECLINED;
}


/* Standard Webhooks: NGX_OK, NGX_DECLINED with v->why, or NGX_ERROR */

static ngx_int_t
ngx_liauto_webhook_verify(ngx_liauto_webhook_conf_t *wcf,
    ngx_liauto_webhook_delivery_t *d, ngx_liauto_webhook_verdict_t *v)
{
    time_t  ts, now;
    u_char  expected[NGX_LIAUTO_WEBHOOK_SIG_LEN];

    if (wcf->signing_key == NULL) {
        v->why = "missing or wrong secret header";
        return NGX_DECLINED;
    }

    if (d->id == NULL || d->timestamp == NULL || d->signature == NULL) {
        v->why = "webhook-id, webhook-timestamp and webhook-signature are "
                 "all required";
        return NGX_DECLINED;
    }

    ts = ngx_atotm(d->timestamp->data, d->timestamp->len);

    if (ts == NGX_ERROR) {
        v->why = "webhook-timestamp is not a Unix time in seconds";
        return NGX_DECLINED;
    }

    /* both ways: a replay is late, a skewed clock may be early */
    now = ngx_time();

    if (ts < now - wcf->tolerance || ts > now + wcf->tolerance) {
        v->why = "webhook-timestamp is outside the tolerance";
        return NGX_DECLINED;
    }

    if (ngx_liauto_webhook_mac(wcf->signing_key, d->id, d->timestamp,
                               &d->body, expected)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_liauto_webhook_sig_matches(d->signature, expected) != NGX_OK) {
        v->why = "no valid webhook-signature";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* base64(HMAC-SHA256(key, id "." timestamp "." body)) into out */

static ngx_int_t
ngx_liauto_webhook_mac(EVP_PKEY *key, ngx_str_t *id, ngx_str_t *ts,
    ngx_str_t *body, u_char *out)
{
    u_char       md[EVP_MAX_MD_SIZE];
    size_t       len;
    ngx_int_t    rc;
    ngx_str_t    src, dst;
    EVP_MD_CTX  *md_ctx;

    md_ctx = EVP_MD_CTX_new();
    if (md_ctx == NULL) {
        return NGX_ERROR;
    }

    len = sizeof(md);

    rc = (EVP_DigestSignInit(md_ctx, NULL, EVP_sha256(), NULL, key) == 1
          && EVP_DigestSignUpdate(md_ctx, id->data, id->len) == 1
          && EVP_DigestSignUpdate(md_ctx, ".", 1) == 1
          && EVP_DigestSignUpdate(md_ctx, ts->data, ts->len) == 1
          && EVP_DigestSignUpdate(md_ctx, ".", 1) == 1
          && EVP_DigestSignUpdate(md_ctx, body->data, body->len) == 1
          && EVP_DigestSignFinal(md_ctx, md, &len) == 1
          && len == NGX_LIAUTO_WEBHOOK_DIGEST_LEN)
         ? NGX_OK : NGX_ERROR;

    EVP_MD_CTX_free(md_ctx);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    src.data = md;
    src.len = len;
    dst.data = out;

    ngx_encode_base64(&dst, &src);

    return NGX_OK;
}


/*
 * "v1,<base64> v1,<base64> v1a,<...>": several signatures while a key is
 * rotated; only v1 (HMAC-SHA256) entries are ours to check.
 */

static ngx_int_t
ngx_liauto_webhook_sig_matches(ngx_str_t *header, u_char *expected)
{
    u_char  *p, *last, *start;

    p = header->data;
    last = p + header->len;

    while (p < last) {

        while (p < last && *p == ' ') {
            p++;
        }

        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if (p - start == 3 + NGX_LIAUTO_WEBHOOK_SIG_LEN
            && ngx_strncmp(start, "v1,", 3) == 0
            && CRYPTO_memcmp(start + 3, expected,
                             NGX_LIAUTO_WEBHOOK_SIG_LEN) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* NGX_OK: the body is a JSON object; NGX_DECLINED: 400, v->details why */

static ngx_int_t
ngx_liauto_webhook_object(ngx_pool_t *pool, ngx_str_t *body,
    ngx_liauto_webhook_verdict_t *v)
{
    json_t     *json;
    ngx_int_t   rc, is_object;

    v->status = NGX_HTTP_BAD_REQUEST;

    if (body->len == 0) {
        v->message = "a JSON request body is required";
        ngx_str_set(&v->details, "{\"body\":\"missing\"}");
        return NGX_DECLINED;
    }

    if (ngx_liauto_json_scan_object(body) == NGX_OK) {
        return NGX_OK;
    }

    /* duplicate keys are the sender's business: not refused */
    rc = ngx_liauto_json_check(pool, body, 0, &json, &v->details);

    if (rc != NGX_OK) {
        v->message = "the request body is not valid JSON";
        return rc;
    }

    is_object = json_is_object(json);
    json_decref(json);

    if (!is_object) {
        v->message = "the request body must be a JSON object";
        ngx_str_set(&v->details, "{\"body\":\"must be an object\"}");
        return NGX_DECLINED;
    }

    v->status = 0;

    return NGX_OK;
}


/* {"content-type":..,"webhook-id":..,"liauto-auth":"secret"}, NUL-ended */

static ngx_int_t
ngx_liauto_webhook_headers(ngx_pool_t *pool, ngx_liauto_webhook_conf_t *wcf,
    ngx_liauto_webhook_delivery_t *d, const char *auth, ngx_str_t *out)
{
    char                       *dump;
    json_t                     *obj;
    ngx_str_t                  *value;
    ngx_liauto_webhook_kept_t  *kept;

    obj = json_object();
    if (obj == NULL) {
        return NGX_ERROR;
    }

    for (kept = ngx_liauto_webhook_kept_headers; kept->name; kept++) {

        /* the secret never reaches the database, whatever it is named */
        if (wcf->header.data
            && ngx_strcmp(kept->name, wcf->header.data) == 0)
        {
            continue;
        }

        value = *(ngx_str_t **) ((u_char *) d + kept->offset);

        /*
         * a value jsonb cannot hold is left out: not UTF-8 (set_new
         * fails) or with a NUL byte (nginx refuses those in headers, but
         * a \u0000 would make the delivery a 500 and lose it)
         */
        if (value
            && ngx_strlchr(value->data, value->data + value->len, '\0')
               == NULL)
        {
            (void) json_object_set_new(obj, kept->name,
                                       json_stringn((char *) value->data,
                                                    value->len));
        }
    }

    if (json_object_set_new(obj, "liauto-auth", json_string(auth)) != 0) {
        json_decref(obj);
        return NGX_ERROR;
    }

    dump = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);

    if (dump == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_strlen(dump);
    out->data = ngx_pnalloc(pool, out->len + 1);

    if (out->data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, dump, out->len + 1);
    free(dump);

    return NGX_OK;
}


/*
 * Answers an envelope (the body, if not read yet, is discarded first);
 * NGX_DONE with ctx->rc the send's result.  Refused deliveries are logged
 * with the reason, which the envelope also gives to the sender.
 */

static ngx_int_t
ngx_liauto_webhook_refuse(ngx_liauto_ctx_t *ctx, ngx_uint_t status,
    const char *message, const char *why)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_str_t            details;
    ngx_http_request_t  *r;

    r = ctx->request;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (why == NULL) {
        return ngx_liauto_api_refuse(ctx, status, message, NULL);
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "liauto: webhook delivery to \"%V\" answered %ui: %s",
                  &r->uri, status, why);

    /* the reasons are static text without characters to escape */
    p = ngx_pnalloc(r->pool, sizeof("{\"reason\":\"\"}") + ngx_strlen(why));
    if (p == NULL) {
        return NGX_ERROR;
    }

    details.data = p;
    details.len = ngx_sprintf(p, "{\"reason\":\"%s\"}", why) - p;

    return ngx_liauto_api_refuse(ctx, status, message, &details);
}


/* ---------------------------------------------------------- configuration */


ngx_liauto_webhook_conf_t *
ngx_liauto_webhook_create_conf(ngx_conf_t *cf)
{
    ngx_liauto_webhook_conf_t  *wcf;

    wcf = ngx_pcalloc(cf->pool, sizeof(ngx_liauto_webhook_conf_t));
    if (wcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     wcf->secret_digest = { 0, NULL };
     *     wcf->header = { 0, NULL };
     *     wcf->signing_key = NULL;
     */

    wcf->tolerance = NGX_CONF_UNSET;

    return wcf;
}


void
ngx_liauto_webhook_merge_conf(ngx_liauto_webhook_conf_t *prev,
    ngx_liauto_webhook_conf_t *conf)
{
    if (conf->secret_digest.data == NULL) {
        conf->secret_digest = prev->secret_digest;
    }

    if (conf->signing_key == NULL) {
        conf->signing_key = prev->signing_key;
    }

    ngx_conf_merge_str_value(conf->header, prev->header, "unipile-auth");
    ngx_conf_merge_sec_value(conf->tolerance, prev->tolerance,
                             NGX_LIAUTO_WEBHOOK_TOLERANCE);
}


/* liauto_webhook_secret_file: kept only as its SHA-256 */

char *
ngx_liauto_webhook_set_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_liauto_loc_conf_t  *llcf = conf;

    char                       *rv;
    ngx_str_t                   secret, *value;
    ngx_liauto_webhook_conf_t  *wcf;

    wcf = llcf->webhook;

    if (wcf->secret_digest.data) {
        return "is duplicate";
    }

    rv = ngx_liauto_conf_read_file(cf, cmd, &secret);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* "echo secret > file" adds a newline no sender sends */
    while (secret.len && (secret.data[secret.len - 1] == '\n'
                          || secret.data[secret.len - 1] == '\r'))
    {
        secret.len--;
    }

    if (secret.len == 0) {
        value = cf->args->elts;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\" is empty: it must hold the "
                           "shared secret", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    wcf->secret_digest.data = ngx_pnalloc(cf->pool, EVP_MAX_MD_SIZE);
    if (wcf->secret_digest.data == NULL) {
        return NGX_CONF_ERROR;
    }

    if (EVP_Digest(secret.data, secret.len, wcf->secret_digest.data, NULL,
                   EVP_sha256(), NULL)
        != 1)
    {
        return NGX_CONF_ERROR;
    }

    wcf->secret_digest.len = NGX_LIAUTO_WEBHOOK_DIGEST_LEN;
    ngx_explicit_memzero(secret.data, secret.len);

    return NGX_CONF_OK;
}


/* liauto_webhook_header: looked up by its lower-case name */

char *
ngx_liauto_webhook_set_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_liauto_loc_conf_t  *llcf = conf;

    u_char                     *p;
    ngx_uint_t                  i;
    ngx_str_t                  *value;
    ngx_liauto_webhook_conf_t  *wcf;

    wcf = llcf->webhook;
    value = cf->args->elts;

    if (wcf->header.data) {
        return "is duplicate";
    }

    if (value[1].len == 0) {
        return "takes a header name, not an empty value";
    }

    p = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!(isalnum(value[1].data[i]) || value[1].data[i] == '-'
              || value[1].data[i] == '_'))
        {
            return "takes a header name (letters, digits, '-' and '_')";
        }

        p[i] = ngx_tolower(value[1].data[i]);
    }

    p[i] = '\0';

    wcf->header.data = p;
    wcf->header.len = value[1].len;

    return NGX_CONF_OK;
}


/*
 * liauto_webhook_signing_key_file: a Standard Webhooks secret, base64 with
 * an optional "whsec_" prefix, as its libraries read it.
 */

char *
ngx_liauto_webhook_set_signing_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_liauto_loc_conf_t  *llcf = conf;

    char                       *rv;
    ngx_str_t                   text, key, *value;
    ngx_pool_cleanup_t         *cln;
    ngx_liauto_webhook_conf_t  *wcf;

    wcf = llcf->webhook;
    value = cf->args->elts;

    if (wcf->signing_key) {
        return "is duplicate";
    }

    rv = ngx_liauto_conf_read_file(cf, cmd, &text);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    while (text.len && isspace(text.data[text.len - 1])) {
        text.len--;
    }

    if (text.len > 6 && ngx_strncmp(text.data, "whsec_", 6) == 0) {
        text.data += 6;
        text.len -= 6;
    }

    key.data = ngx_pnalloc(cf->pool, ngx_base64_decoded_length(text.len));
    if (key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    if (text.len == 0 || ngx_decode_base64(&key, &text) != NGX_OK
        || key.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\" does not hold a base64 key "
                           "(\"whsec_\" prefix optional)",
                           &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    wcf->signing_key = EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, NULL,
                                                    key.data, key.len);
    ngx_explicit_memzero(key.data, key.len);
    ngx_explicit_memzero(text.data, text.len);

    if (wcf->signing_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": OpenSSL refused the HMAC key",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_liauto_webhook_free_key;
    cln->data = wcf->signing_key;

    return NGX_CONF_OK;
}


static void
ngx_liauto_webhook_free_key(void *data)
{
    EVP_PKEY_free(data);
}


/* liauto_webhook_tolerance: how far webhook-timestamp may be from now */

char *
ngx_liauto_webhook_set_tolerance(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_liauto_loc_conf_t  *llcf = conf;

    ngx_str_t                  *value;
    ngx_liauto_webhook_conf_t  *wcf;

    wcf = llcf->webhook;
    value = cf->args->elts;

    if (wcf->tolerance != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    wcf->tolerance = ngx_parse_time(&value[1], 1);

    if (wcf->tolerance == (time_t) NGX_ERROR || wcf->tolerance < 1) {
        return "takes a time of at least 1s (e.g. 5m)";
    }

    return NGX_CONF_OK;
}
