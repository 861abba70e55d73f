
/*
 * Copyright (C) liauto
 *
 * Streamed CSV exports.  The route's function answers in rows: the first
 * is (200, the header line) or a refusal (status, envelope), every later
 * one (NULL, CSV records).  The query runs in libpq's single-row mode;
 * each row is copied into fixed-size buffers handed to nginx's output
 * chain (chunked transfer encoding) as they fill.  When more than
 * NGX_LIAUTO_EXPORT_MAX_BUSY bytes wait for the client, the pool stops
 * reading the database socket, so Postgres waits for the client too and
 * a worker holds at most a few buffers of any export.
 *
 * A refusal or a failure before the headers is the usual JSON envelope.
 * A failure after them closes the connection without the last chunk: the
 * client sees a truncated transfer, never a complete-looking file.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_api.h"
#include "ngx_liauto_router.h"
#include "ngx_liauto_export.h"


#define NGX_LIAUTO_EXPORT_BUF_SIZE  16384
#define NGX_LIAUTO_EXPORT_MAX_BUSY  (4 * NGX_LIAUTO_EXPORT_BUF_SIZE)


typedef struct {
    ngx_liauto_ctx_t          *ctx;
    ngx_chain_t               *cur;       /* being filled, or NULL */
    ngx_chain_t               *free;
    ngx_chain_t               *busy;
    off_t                      bytes;     /* handed to nginx */
    ngx_int_t                  status;    /* of the first row; 0: none */
    ngx_str_t                  refusal;   /* its body when not 200 */
    unsigned                   started:1;
} ngx_liauto_export_t;


static ngx_int_t ngx_liauto_export_row(ngx_liauto_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_liauto_export_first(ngx_liauto_export_t *ex,
    PGresult *res);
static ngx_int_t ngx_liauto_export_start(ngx_liauto_export_t *ex);
static ngx_int_t ngx_liauto_export_append(ngx_liauto_export_t *ex,
    u_char *data, size_t len);
static ngx_int_t ngx_liauto_export_send(ngx_liauto_export_t *ex,
    ngx_uint_t last);
static ngx_int_t ngx_liauto_export_wait(ngx_liauto_export_t *ex);
static size_t ngx_liauto_export_busy(ngx_liauto_export_t *ex);
static void ngx_liauto_export_writer(ngx_http_request_t *r);
static void ngx_liauto_export_done(ngx_liauto_pg_query_t *q,
    PGresult *res);


ngx_int_t
ngx_liauto_export_csv(ngx_liauto_ctx_t *ctx, const char *sql)
{
    ngx_liauto_export_t  *ex;

    ex = ngx_pcalloc(ctx->request->pool, sizeof(ngx_liauto_export_t));
    if (ex == NULL) {
        return NGX_ERROR;
    }

    ex->ctx = ctx;
    ctx->data = ex;
    ctx->query.row = ngx_liauto_export_row;

    return ngx_liauto_query(ctx, sql, ngx_liauto_export_done);
}


static ngx_int_t
ngx_liauto_export_row(ngx_liauto_pg_query_t *q, PGresult *res)
{
    ngx_liauto_ctx_t     *ctx;
    ngx_liauto_export_t  *ex;

    ctx = q->data;
    ex = ctx->data;

    if (PQnfields(res) != 2) {
        ngx_log_error(NGX_LOG_ERR, q->log, 0,
                      "liauto: %s returned %d columns, not (status, body)",
                      ctx->route->function, PQnfields(res));
        return NGX_ERROR;
    }

    if (ex->status == 0 && ngx_liauto_export_first(ex, res) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a refusal is sent whole at the end; a HEAD request wants no body */
    if (ex->status != NGX_HTTP_OK || ctx->request->header_only) {
        return NGX_OK;
    }

    if (ngx_liauto_export_append(ex, (u_char *) PQgetvalue(res, 0, 1),
                                 PQgetlength(res, 0, 1))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return (ngx_liauto_export_busy(ex) > NGX_LIAUTO_EXPORT_MAX_BUSY)
           ? NGX_AGAIN : NGX_OK;
}


static ngx_int_t
ngx_liauto_export_first(ngx_liauto_export_t *ex, PGresult *res)
{
    ngx_http_request_t  *r;

    r = ex->ctx->request;

    ex->status = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                          PQgetlength(res, 0, 0));

    if (ex->status < NGX_HTTP_OK || ex->status > 599) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: %s began with status \"%s\", not a status",
                      ex->ctx->route->function, PQgetvalue(res, 0, 0));
        return NGX_ERROR;
    }

    if (ex->status == NGX_HTTP_OK) {
        return ngx_liauto_export_start(ex);
    }

    /* the row dies with this callback; the envelope goes out at the end */
    ex->refusal.len = PQgetlength(res, 0, 1);
    ex->refusal.data = ngx_pnalloc(r->pool, ex->refusal.len);
    if (ex->refusal.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ex->refusal.data, PQgetvalue(res, 0, 1), ex->refusal.len);

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_export_start(ngx_liauto_export_t *ex)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    static ngx_str_t  csv = ngx_string("text/csv; charset=utf-8");

    r = ex->ctx->request;

    ex->ctx->responded = 1;

    /* no length: chunked on HTTP/1.1, the end of the connection before */
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    r->headers_out.content_type = csv;
    r->headers_out.content_type_len = csv.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    ex->started = 1;

    /* the client's pace resumes the stream; its going away ends it */
    r->write_event_handler = ngx_liauto_export_writer;
    r->read_event_handler = ngx_http_test_reading;

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_export_append(ngx_liauto_export_t *ex, u_char *data, size_t len)
{
    size_t               n;
    ngx_buf_t           *b;
    ngx_http_request_t  *r;

    r = ex->ctx->request;

    while (len) {
        if (ex->cur && ex->cur->buf->last == ex->cur->buf->end
            && ngx_liauto_export_send(ex, 0) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ex->cur == NULL) {
            ex->cur = ngx_chain_get_free_buf(r->pool, &ex->free);
            if (ex->cur == NULL) {
                return NGX_ERROR;
            }

            b = ex->cur->buf;

            if (b->start == NULL) {
                b->start = ngx_palloc(r->pool, NGX_LIAUTO_EXPORT_BUF_SIZE);
                if (b->start == NULL) {
                    return NGX_ERROR;
                }

                b->end = b->start + NGX_LIAUTO_EXPORT_BUF_SIZE;
                b->tag = (ngx_buf_tag_t) &ngx_liauto_module;
                b->temporary = 1;
            }

            b->pos = b->start;
            b->last = b->start;
        }

        b = ex->cur->buf;
        n = ngx_min(len, (size_t) (b->end - b->last));

        b->last = ngx_cpymem(b->last, data, n);
        data += n;
        len -= n;
    }

    return NGX_OK;
}


/* hands the buffer being filled (and with last, the end) to nginx */

static ngx_int_t
ngx_liauto_export_send(ngx_liauto_export_t *ex, ngx_uint_t last)
{
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t         *out;
    ngx_http_request_t  *r;

    r = ex->ctx->request;

    if (ex->cur == NULL) {
        /* an empty buffer that only says "the end" */
        ex->cur = ngx_chain_get_free_buf(r->pool, &ex->free);
        if (ex->cur == NULL) {
            return NGX_ERROR;
        }

        ex->cur->buf->tag = (ngx_buf_tag_t) &ngx_liauto_module;
        ex->cur->buf->pos = ex->cur->buf->start;
        ex->cur->buf->last = ex->cur->buf->start;
    }

    out = ex->cur;
    out->next = NULL;
    ex->cur = NULL;

    b = out->buf;
    b->flush = 1;
    b->last_buf = last;
    b->last_in_chain = 1;
    ex->bytes += b->last - b->pos;

    rc = ngx_http_output_filter(r, out);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_chain_update_chains(r->pool, &ex->free, &ex->busy, &out,
                            (ngx_buf_tag_t) &ngx_liauto_module);

    return ngx_liauto_export_wait(ex);
}


/* send_timeout runs while the client holds bytes back */

static ngx_int_t
ngx_liauto_export_wait(ngx_liauto_export_t *ex)
{
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = ex->ctx->request;
    c = r->connection;
    wev = c->write;

    if (!c->buffered) {
        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!wev->timer_set && !wev->delayed) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static size_t
ngx_liauto_export_busy(ngx_liauto_export_t *ex)
{
    size_t        size;
    ngx_chain_t  *cl;

    size = 0;

    for (cl = ex->busy; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    return size;
}


static void
ngx_liauto_export_writer(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_chain_t          *out;
    ngx_liauto_ctx_t     *ctx;
    ngx_liauto_export_t  *ex;

    ctx = ngx_http_get_module_ctx(r, ngx_liauto_module);
    ex = ctx->data;

    if (r->connection->write->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "liauto: export client timed out after %O bytes",
                      ex->bytes);
        r->connection->timedout = 1;
        ngx_liauto_finalize(ctx, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = ngx_http_output_filter(r, NULL);

    out = NULL;
    ngx_chain_update_chains(r->pool, &ex->free, &ex->busy, &out,
                            (ngx_buf_tag_t) &ngx_liauto_module);

    if (rc == NGX_ERROR || ngx_liauto_export_wait(ex) != NGX_OK) {
        ngx_liauto_finalize(ctx, NGX_ERROR);
        return;
    }

    if (ngx_liauto_export_busy(ex) <= NGX_LIAUTO_EXPORT_MAX_BUSY) {
        /* may deliver the last rows and end the request */
        ngx_liauto_pg_resume(&ctx->query);
    }
}


static void
ngx_liauto_export_done(ngx_liauto_pg_query_t *q, PGresult *res)
{
    ngx_int_t             rc;
    ngx_liauto_ctx_t     *ctx;
    ngx_liauto_export_t  *ex;
    ngx_http_request_t   *r;

    ctx = q->data;
    ex = ctx->data;
    r = ctx->request;

    if (q->rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK) {
        if (!ex->started) {
            ngx_liauto_finalize(ctx, ngx_liauto_api_sql_error(ctx, q, res));
            return;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: %s failed after %O bytes of its export: %s; "
                      "the connection is closed without the last chunk",
                      ctx->route->function, ex->bytes,
                      q->error ? (char *) q->error
                               : PQresultErrorMessage(res));
        ngx_liauto_finalize(ctx, NGX_ERROR);
        return;
    }

    if (ex->status == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: %s returned no row", ctx->route->function);
        ngx_liauto_finalize(ctx, ngx_liauto_send_error(r,
                                NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                "internal error; it has been logged", NULL));
        return;
    }

    if (ex->status != NGX_HTTP_OK) {
        ngx_liauto_finalize(ctx, ngx_liauto_send_json(r, ex->status,
                                                      &ex->refusal));
        return;
    }

    if (r->header_only) {
        ngx_liauto_finalize(ctx, NGX_OK);
        return;
    }

    rc = ngx_liauto_export_send(ex, 1);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "liauto: export of %O bytes complete", ex->bytes);

    ngx_liauto_finalize(ctx, rc);
}
