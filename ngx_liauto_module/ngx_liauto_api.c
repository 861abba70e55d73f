
/*
 * Copyright (C) liauto
 *
 * Resource routes: each one is a call of one SQL function
 *
 *     api.<name>(p_caller jsonb, p_path text[], p_query jsonb, p_body jsonb)
 *         RETURNS TABLE (status integer, body text)
 *
 * The module authenticates the caller, enforces the route's role floor,
 * checks what it can check without the database (ids, JSON syntax), and
 * sends the function's status and body back.  Tenant scoping, validation
 * and rendering happen in SQL, in one round trip.
 */


#include <openssl/evp.h>
#include <jansson.h>

#include "ngx_liauto_module.h"
#include "ngx_liauto_router.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_jwt.h"
#include "ngx_liauto_csv.h"
#include "ngx_liauto_api.h"
#include "ngx_liauto_export.h"
#include "ngx_liauto_xlsx.h"


#define NGX_LIAUTO_IDEMPOTENCY_SQL                                           \
    "SELECT status, body FROM api.dispatch_idempotent($1, $2::jsonb, "      \
    "$3::text[], $4::jsonb, $5::jsonb, $6, decode($7, 'hex'))"


static ngx_int_t ngx_liauto_api_check_ids(ngx_liauto_ctx_t *ctx);
static ngx_int_t ngx_liauto_api_caller(ngx_liauto_ctx_t *ctx,
    ngx_liauto_claims_t *claims, ngx_str_t *out);
static ngx_int_t ngx_liauto_api_path(ngx_liauto_ctx_t *ctx, ngx_str_t *out);
static ngx_int_t ngx_liauto_api_query(ngx_liauto_ctx_t *ctx,
    ngx_str_t *out);
static ngx_int_t ngx_liauto_api_json_body(ngx_liauto_ctx_t *ctx,
    ngx_str_t *body);
static ngx_int_t ngx_liauto_api_csv_body(ngx_liauto_ctx_t *ctx,
    ngx_str_t *body);
static ngx_int_t ngx_liauto_api_fingerprint(ngx_liauto_ctx_t *ctx,
    ngx_str_t *body, ngx_str_t *out);
static ngx_int_t ngx_liauto_api_tokens(ngx_liauto_ctx_t *ctx,
    ngx_str_t *body);
static u_char *ngx_liauto_api_cstr(ngx_pool_t *pool, ngx_str_t *s);


static ngx_str_t  ngx_liauto_role_names[] = {
    ngx_null_string,
    ngx_string("viewer"),
    ngx_string("agent"),
    ngx_string("admin")
};


ngx_int_t
ngx_liauto_api_call(ngx_liauto_ctx_t *ctx)
{
    ngx_int_t             rc;
    ngx_str_t             caller, path, query, body, fp;
    ngx_table_elt_t      *key;
    ngx_http_request_t   *r;
    ngx_liauto_route_t   *rt;
    ngx_liauto_claims_t  *claims;

    r = ctx->request;
    rt = (ngx_liauto_route_t *) ctx->route;
    claims = NULL;

    /*
     * each check either passes (NGX_OK) or has answered the request
     * (NGX_DONE, the sending's outcome in ctx->rc)
     */

    ngx_str_null(&body);

    rc = ngx_liauto_api_authorize(ctx, &claims);

    if (rc == NGX_OK) {
        rc = ngx_liauto_api_check_ids(ctx);
    }

    if (rc == NGX_OK && (rt->flags & NGX_LIAUTO_ROUTE_BODY)) {
        rc = ngx_liauto_api_json_body(ctx, &body);
    }

    if (rc == NGX_OK && (rt->flags & NGX_LIAUTO_ROUTE_CSV_IN)) {
        rc = ngx_liauto_api_csv_body(ctx, &body);
    }

    if (rc == NGX_OK) {
        rc = ngx_liauto_api_query(ctx, &query);
    }

    if (rc != NGX_OK) {
        return (rc == NGX_DONE) ? ctx->rc : rc;
    }

    if (ngx_liauto_api_caller(ctx, claims, &caller) != NGX_OK
        || ngx_liauto_api_path(ctx, &path) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->query.values[0] = (char *) caller.data;
    ctx->query.values[1] = (char *) path.data;
    ctx->query.values[2] = (char *) query.data;
    ctx->query.values[3] = (char *) body.data;   /* NULL: SQL NULL */
    ctx->query.nparams = 4;

    key = ngx_liauto_api_header(r, "idempotency-key");

    if (rt->flags & NGX_LIAUTO_ROUTE_CSV_OUT) {
        return ngx_liauto_export_csv(ctx, rt->sql);
    }

    if (rt->flags & NGX_LIAUTO_ROUTE_XLSX_OUT) {
        return ngx_liauto_query(ctx, rt->sql, ngx_liauto_xlsx_done);
    }

    if (key == NULL || (rt->flags & NGX_LIAUTO_ROUTE_PUBLIC)
        || r->method == NGX_HTTP_GET || r->method == NGX_HTTP_HEAD)
    {
        return ngx_liauto_query(ctx, rt->sql,
                                ngx_liauto_api_done);
    }

    if (ngx_liauto_api_fingerprint(ctx, &body, &fp) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the function name goes first; the rest shift by one */
    ctx->query.values[5] = (char *) ngx_liauto_api_cstr(r->pool,
                                                        &key->value);
    ctx->query.values[6] = (char *) fp.data;
    ctx->query.values[4] = ctx->query.values[3];
    ctx->query.values[3] = ctx->query.values[2];
    ctx->query.values[2] = ctx->query.values[1];
    ctx->query.values[1] = ctx->query.values[0];
    ctx->query.values[0] = rt->function;
    ctx->query.nparams = 7;

    if (ctx->query.values[5] == NULL) {
        return NGX_ERROR;
    }

    return ngx_liauto_query(ctx, NGX_LIAUTO_IDEMPOTENCY_SQL,
                            ngx_liauto_api_done);
}


ngx_int_t
ngx_liauto_api_authorize(ngx_liauto_ctx_t *ctx, ngx_liauto_claims_t **out)
{
    ngx_int_t             rc;
    ngx_uint_t            role;
    const char           *reason;
    ngx_table_elt_t      *h;
    ngx_http_request_t   *r;
    ngx_liauto_claims_t  *claims;

    r = ctx->request;

    if (ctx->route->flags & NGX_LIAUTO_ROUTE_PUBLIC) {
        return NGX_OK;
    }

    rc = ngx_liauto_jwt_authenticate(r, &claims, &reason);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Bearer");

        return ngx_liauto_api_refuse(ctx, NGX_HTTP_UNAUTHORIZED, reason,
                                     NULL);
    }

    *out = claims;

    for (role = NGX_LIAUTO_ROLE_VIEWER; role <= NGX_LIAUTO_ROLE_ADMIN; role++)
    {
        if (claims->role.len == ngx_liauto_role_names[role].len
            && ngx_strncmp(claims->role.data, ngx_liauto_role_names[role].data,
                           claims->role.len) == 0)
        {
            break;
        }
    }

    if (role > NGX_LIAUTO_ROLE_ADMIN || role < ctx->route->role) {
        return ngx_liauto_api_refuse(ctx, NGX_HTTP_FORBIDDEN,
                                     "your role may not do this", NULL);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_api_check_ids(ngx_liauto_ctx_t *ctx)
{
    u_char      *p, *last, name[32];
    ngx_uint_t   i;
    ngx_str_t   *pattern;

    pattern = (ngx_str_t *) &ctx->route->path;
    p = pattern->data;
    last = p + pattern->len;

    for (i = 0; i < ctx->nparams; i++) {

        /* the i-th "{name}" of the pattern names the parameter */
        p = ngx_strlchr(p, last, '{');
        if (p == NULL) {
            break;
        }

        p++;
        ngx_cpystrn(name, p, ngx_min((size_t) (ngx_strlchr(p, last, '}') - p)
                                     + 1, sizeof(name)));

        if (ngx_liauto_api_is_uuid(&ctx->params[i]) != NGX_OK) {
            return ngx_liauto_api_bad_request(ctx,
                                              "a path parameter is invalid",
                                              (char *) name,
                                              "must be a UUID");
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_liauto_api_is_uuid(ngx_str_t *s)
{
    ngx_uint_t  i;

    if (s->len != 36) {
        return NGX_DECLINED;
    }

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s->data[i] != '-') {
                return NGX_DECLINED;
            }
            continue;
        }

        if (ngx_hextoi(&s->data[i], 1) == NGX_ERROR) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_liauto_api_bad_request(ngx_liauto_ctx_t *ctx, const char *message,
    const char *field, const char *reason)
{
    ngx_str_t            details, f, e;
    ngx_http_request_t  *r;

    r = ctx->request;

    f.data = (u_char *) field;
    f.len = ngx_strlen(field);

    if (ngx_liauto_json_escape(r->pool, &f, &e) != NGX_OK) {
        return NGX_ERROR;
    }

    details.len = sizeof("{\"\":\"\"}") - 1 + e.len + ngx_strlen(reason);
    details.data = ngx_pnalloc(r->pool, details.len);
    if (details.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(details.data, "{\"%V\":\"%s\"}", &e, reason);

    return ngx_liauto_api_refuse(ctx, NGX_HTTP_BAD_REQUEST, message,
                                 &details);
}


/* answers the request from a check: NGX_DONE, ctx->rc the send's result */

ngx_int_t
ngx_liauto_api_refuse(ngx_liauto_ctx_t *ctx, ngx_uint_t status,
    const char *message, ngx_str_t *details)
{
    ctx->rc = ngx_liauto_send_error(ctx->request, status, NULL, message,
                                    details);

    return (ctx->rc == NGX_ERROR) ? NGX_ERROR : NGX_DONE;
}


/* {"sub":..,"role":..,"client_id":..,"ip":..,"method":..,"uri":..} */

static ngx_int_t
ngx_liauto_api_caller(ngx_liauto_ctx_t *ctx, ngx_liauto_claims_t *cl,
    ngx_str_t *out)
{
    size_t                len;
    u_char               *p;
    ngx_str_t             uri, sub, role, client;
    ngx_http_request_t   *r;

    r = ctx->request;

    if (ngx_liauto_json_escape(r->pool, &r->uri, &uri) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(&sub);
    ngx_str_null(&role);
    ngx_str_null(&client);

    if (cl) {
        if (ngx_liauto_json_escape(r->pool, &cl->sub, &sub) != NGX_OK
            || ngx_liauto_json_escape(r->pool, &cl->role, &role) != NGX_OK
            || ngx_liauto_json_escape(r->pool, &cl->client_id, &client)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* "client_id":null is the longest form of an empty client */
    len = sizeof("{\"sub\":\"\",\"role\":\"\",\"client_id\":null,"
                 "\"ip\":\"\",\"method\":\"\",\"uri\":\"\"}")
          + sub.len + role.len + client.len + r->connection->addr_text.len
          + r->method_name.len + uri.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    if (cl) {
        p = ngx_sprintf(p, "{\"sub\":\"%V\",\"role\":\"%V\",", &sub, &role);
        p = client.len ? ngx_sprintf(p, "\"client_id\":\"%V\",", &client)
                       : ngx_cpymem(p, "\"client_id\":null,",
                                    sizeof("\"client_id\":null,") - 1);

    } else {
        *p++ = '{';
    }

    p = ngx_sprintf(p, "\"ip\":\"%V\",\"method\":\"%V\",\"uri\":\"%V\"}%Z",
                    &r->connection->addr_text, &r->method_name, &uri);

    out->len = p - out->data - 1;

    return NGX_OK;
}


/* the path parameters as a Postgres array literal; they are UUIDs */

static ngx_int_t
ngx_liauto_api_path(ngx_liauto_ctx_t *ctx, ngx_str_t *out)
{
    u_char      *p;
    ngx_uint_t   i;

    p = ngx_pnalloc(ctx->request->pool, 3 + ctx->nparams * 37);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    *p++ = '{';

    for (i = 0; i < ctx->nparams; i++) {
        if (i) {
            *p++ = ',';
        }
        p = ngx_cpymem(p, ctx->params[i].data, ctx->params[i].len);
    }

    *p++ = '}';
    *p = '\0';
    out->len = p - out->data;

    return NGX_OK;
}


/* the query string as a JSON object; NGX_DONE: answered 400 */

static ngx_int_t
ngx_liauto_api_query(ngx_liauto_ctx_t *ctx, ngx_str_t *out)
{
    ngx_int_t                  rc;
    ngx_liauto_json_refusal_t  why;

    /* most requests have no query string: no JSON to build */
    if (ctx->request->args.len == 0) {
        ngx_str_set(out, "{}");
        return NGX_OK;
    }

    rc = ngx_liauto_json_query(ctx->request->pool, &ctx->request->args, out,
                               &why);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_liauto_api_bad_request(ctx, why.message, (char *) why.field,
                                      why.reason);
}


/* the whole request body, contiguous and NUL-terminated */

ngx_int_t
ngx_liauto_api_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            /* an empty buffer may have no memory at all (pos NULL) */
            if (b->last != b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }
            continue;
        }

        /* a body over client_body_buffer_size sits in a temp file */
        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    *p = '\0';
    body->len = p - body->data;

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_api_json_body(ngx_liauto_ctx_t *ctx, ngx_str_t *body)
{
    ngx_table_elt_t     *ct;
    ngx_http_request_t  *r;

    r = ctx->request;
    ct = r->headers_in.content_type;

    /* Unipile-style senders omit Content-Type; a wrong one is refused */
    if (ct && ct->value.len
        && ngx_strlcasestrn(ct->value.data, ct->value.data + ct->value.len,
                            (u_char *) "json", 4 - 1) == NULL)
    {
        return ngx_liauto_api_refuse(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "the request body must be JSON "
                                     "(Content-Type: application/json)",
                                     NULL);
    }

    if (ngx_liauto_api_read_body(r, body) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_liauto_api_parse_json(ctx, body, JSON_REJECT_DUPLICATES,
                                     NULL);
}


/*
 * NGX_OK: body is JSON (kept in *out when out is not NULL, for the caller
 * to json_decref); NGX_DONE: answered 400 saying where it is not.
 */

ngx_int_t
ngx_liauto_api_parse_json(ngx_liauto_ctx_t *ctx, ngx_str_t *body,
    size_t flags, json_t **out)
{
    ngx_int_t            rc;
    ngx_str_t            details;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (body->len == 0) {
        return ngx_liauto_api_bad_request(ctx, "a JSON request body is "
                                          "required", "body", "missing");
    }

    rc = ngx_liauto_json_check(r->pool, body, flags, out, &details);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_liauto_api_refuse(ctx, NGX_HTTP_BAD_REQUEST,
                                 "the request body is not valid JSON",
                                 &details);
}


static ngx_int_t
ngx_liauto_api_csv_body(ngx_liauto_ctx_t *ctx, ngx_str_t *body)
{
    ngx_int_t            rc;
    ngx_str_t            error;
    ngx_liauto_csv_t    *csv;
    ngx_http_request_t  *r;

    r = ctx->request;
    csv = ctx->data;      /* parsed while it arrived, when it was CSV */

    if (csv == NULL) {
        return ngx_liauto_api_refuse(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "the request body must be CSV "
                                     "(Content-Type: text/csv)", NULL);
    }

    if (ngx_liauto_csv_received(csv) == 0) {
        return ngx_liauto_api_bad_request(ctx, "a CSV request body is "
                                          "required", "body", "missing");
    }

    rc = ngx_liauto_csv_finish(csv, body, &error);

    if (rc == NGX_DECLINED) {
        return ngx_liauto_api_bad_request(ctx, (char *) ngx_liauto_api_cstr(
                                              r->pool, &error),
                                          "body", "not importable CSV");
    }

    return rc;
}


/* sha256 over what makes two requests "the same request" */

static ngx_int_t
ngx_liauto_api_fingerprint(ngx_liauto_ctx_t *ctx, ngx_str_t *body,
    ngx_str_t *out)
{
    u_char               md[EVP_MAX_MD_SIZE];
    unsigned int         mdlen;
    EVP_MD_CTX          *md_ctx;
    ngx_http_request_t  *r;

    r = ctx->request;

    md_ctx = EVP_MD_CTX_new();
    if (md_ctx == NULL) {
        return NGX_ERROR;
    }

    if (EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md_ctx, r->method_name.data,
                            r->method_name.len) != 1
        || EVP_DigestUpdate(md_ctx, "\n", 1) != 1
        || EVP_DigestUpdate(md_ctx, r->uri.data, r->uri.len) != 1
        || EVP_DigestUpdate(md_ctx, "\n", 1) != 1
        || EVP_DigestUpdate(md_ctx, r->args.data, r->args.len) != 1
        || EVP_DigestUpdate(md_ctx, "\n", 1) != 1
        || EVP_DigestUpdate(md_ctx, body->data, body->len) != 1
        || EVP_DigestFinal_ex(md_ctx, md, &mdlen) != 1)
    {
        EVP_MD_CTX_free(md_ctx);
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(md_ctx);

    out->data = ngx_pnalloc(r->pool, mdlen * 2 + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_hex_dump(out->data, md, mdlen) = '\0';
    out->len = mdlen * 2;

    return NGX_OK;
}


void
ngx_liauto_api_done(ngx_liauto_pg_query_t *q, PGresult *res)
{
    ngx_int_t            status;
    ngx_str_t            body;
    ngx_liauto_ctx_t    *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;

    if (q->rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || PQnfields(res) != 2)
    {
        ngx_liauto_finalize(ctx, ngx_liauto_api_sql_error(ctx, q, res));
        return;
    }

    status = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                      PQgetlength(res, 0, 0));

    body.len = PQgetlength(res, 0, 1);
    body.data = ngx_pnalloc(r->pool, body.len + 1);

    if (status < 200 || status > 599 || body.data == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: %s returned status \"%s\"",
                      ctx->route->function, PQgetvalue(res, 0, 0));
        ngx_liauto_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the result is freed when this handler returns */
    ngx_memcpy(body.data, PQgetvalue(res, 0, 1), body.len);
    body.data[body.len] = '\0';

    if (status == NGX_HTTP_NO_CONTENT) {
        r->header_only = 1;
        body.len = 0;
    }

    if (status == NGX_HTTP_OK
        && (ctx->route->flags & NGX_LIAUTO_ROUTE_TOKENS))
    {
        ngx_liauto_finalize(ctx, ngx_liauto_api_tokens(ctx, &body));
        return;
    }

    ngx_liauto_finalize(ctx, ngx_liauto_send_json(r, status, &body));
}


/*
 * A failed call: the database was not reachable in time (503/504), or the
 * function raised.  api.raise_error() raises SQLSTATE LIAPI with the whole
 * envelope (and its status) in DETAIL; functions normally catch it, and a
 * raise that escapes still becomes its envelope.  Anything else is a bug
 * on our side, logged in full and answered 500 without internals.
 */

ngx_int_t
ngx_liauto_api_sql_error(ngx_liauto_ctx_t *ctx, ngx_liauto_pg_query_t *q,
    PGresult *res)
{
    char                *state, *detail, *dump;
    json_t              *envelope;
    ngx_int_t            status, rc;
    const char          *code, *message;
    ngx_str_t            body;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (q->rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        return ngx_liauto_send_error(r, NGX_HTTP_GATEWAY_TIME_OUT, NULL,
                                     "the database did not answer in time",
                                     NULL);
    }

    if (q->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: %s: %s", ctx->route->function,
                      q->error ? (char *) q->error : "database error");
        return ngx_liauto_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                                     "the database is not available", NULL);
    }

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    if (state && detail && ngx_strcmp(state, "LIAPI") == 0) {
        envelope = json_loads(detail, 0, NULL);
        status = json_integer_value(json_object_get(envelope, "status"));
        code = json_string_value(json_object_get(envelope, "code"));
        message = json_string_value(json_object_get(envelope, "message"));

        if (status >= 400 && status <= 599 && code && message) {
            /* the envelope in the order every other answer has */
            dump = json_dumps(json_object_get(envelope, "details"),
                              JSON_COMPACT);

            body.data = (u_char *) dump;
            body.len = dump ? ngx_strlen(dump) : 0;

            rc = ngx_liauto_send_error(r, status, code, message, &body);

            free(dump);
            json_decref(envelope);

            return rc;
        }

        json_decref(envelope);
    }

    if (state && ngx_strcmp(state, "57014") == 0) {
        return ngx_liauto_send_error(r, NGX_HTTP_GATEWAY_TIME_OUT, NULL,
                                     "the database did not answer in time",
                                     NULL);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "liauto: %s failed: %s %s", ctx->route->function,
                  state ? state : "", PQresultErrorMessage(res));

    return ngx_liauto_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                 "internal error; it has been logged", NULL);
}


/*
 * Login and refresh: SQL checked the credentials and issued the refresh
 * token; the access token is signed here so SQL never sees the key.
 * In:  {"user":{"id","role","client_id",...},"refresh_token":"..",...}
 */

static ngx_int_t
ngx_liauto_api_tokens(ngx_liauto_ctx_t *ctx, ngx_str_t *body)
{
    u_char              *p;
    json_t              *json, *user, *v;
    time_t               expires_in;
    ngx_str_t            sub, role, client, token, refresh, out;
    ngx_http_request_t  *r;

    r = ctx->request;

    json = json_loadb((char *) body->data, body->len, 0, NULL);
    user = json ? json_object_get(json, "user") : NULL;

    if (user == NULL || !json_is_string(json_object_get(user, "id"))
        || !json_is_string(json_object_get(user, "role"))
        || !json_is_string(json_object_get(json, "refresh_token")))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: %s returned no user or refresh token",
                      ctx->route->function);
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sub.data = (u_char *) json_string_value(json_object_get(user, "id"));
    sub.len = ngx_strlen(sub.data);
    role.data = (u_char *) json_string_value(json_object_get(user, "role"));
    role.len = ngx_strlen(role.data);

    v = json_object_get(user, "client_id");
    client.data = (u_char *) (json_is_string(v) ? json_string_value(v) : "");
    client.len = ngx_strlen(client.data);

    v = json_object_get(json, "refresh_token");
    refresh.data = (u_char *) json_string_value(v);
    refresh.len = ngx_strlen(refresh.data);

    if (ngx_liauto_jwt_sign(r, &sub, &role, &client, &token, &expires_in)
        != NGX_OK)
    {
        json_decref(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* base64url tokens need no JSON escaping */
    p = ngx_pnalloc(r->pool, token.len + refresh.len + 128);
    if (p == NULL) {
        json_decref(json);
        return NGX_ERROR;
    }

    out.data = p;
    out.len = ngx_sprintf(p, "{\"access_token\":\"%V\",\"refresh_token\":"
                          "\"%V\",\"token_type\":\"Bearer\","
                          "\"expires_in\":%T}", &token, &refresh,
                          expires_in) - p;

    json_decref(json);

    return ngx_liauto_send_json(r, NGX_HTTP_OK, &out);
}


static u_char *
ngx_liauto_api_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}


ngx_table_elt_t *
ngx_liauto_api_header(ngx_http_request_t *r, const char *lowcase_name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(lowcase_name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncmp(h[i].lowcase_key, lowcase_name, len) == 0)
        {
            return &h[i];
        }
    }
}
