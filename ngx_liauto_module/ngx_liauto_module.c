
/*
 * Copyright (C) liauto
 *
 * Directives, configuration, the content handler of liauto_api locations
 * and the glue between a request and its database query.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_csv.h"
#include "ngx_liauto_router.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_webhook.h"
#include "ngx_liauto_stream.h"
#include "ngx_liauto_metrics.h"


#define NGX_LIAUTO_DEFAULT_POOL_SIZE        8
#define NGX_LIAUTO_DEFAULT_CONNECT_TIMEOUT  5000
#define NGX_LIAUTO_DEFAULT_QUERY_TIMEOUT    30000
#define NGX_LIAUTO_MAX_KEY_FILE             65536
#define NGX_LIAUTO_DEFAULT_STREAM_HEARTBEAT  15000
#define NGX_LIAUTO_DEFAULT_STREAM_MAX_BUFFER (256 * 1024)
#define NGX_LIAUTO_DEFAULT_STREAM_MAX_SUBS   10000


static ngx_int_t ngx_liauto_handler(ngx_http_request_t *r);
static void ngx_liauto_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_liauto_read_csv_body(ngx_http_request_t *r,
    ngx_liauto_ctx_t *ctx);
static void ngx_liauto_csv_body_handler(ngx_http_request_t *r);
static void ngx_liauto_run_route(ngx_http_request_t *r);
static void ngx_liauto_cleanup(void *data);

static char *ngx_liauto_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_liauto_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_liauto_pg_pool_t *ngx_liauto_create_pool(ngx_conf_t *cf,
    ngx_liauto_srv_conf_t *scf);
static void ngx_liauto_init_srv_defaults(ngx_liauto_srv_conf_t *scf);

static ngx_int_t ngx_liauto_postconfiguration(ngx_conf_t *cf);
static void *ngx_liauto_create_main_conf(ngx_conf_t *cf);
static void *ngx_liauto_create_srv_conf(ngx_conf_t *cf);
static char *ngx_liauto_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_liauto_create_loc_conf(ngx_conf_t *cf);
static char *ngx_liauto_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_liauto_init_process(ngx_cycle_t *cycle);
static void ngx_liauto_exit_process(ngx_cycle_t *cycle);


static char *ngx_liauto_check_pool_size(ngx_conf_t *cf, void *post,
    void *data);

static ngx_conf_post_t  ngx_liauto_pool_size_post = {
    ngx_liauto_check_pool_size
};


static ngx_command_t  ngx_liauto_commands[] = {

    { ngx_string("liauto_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_liauto_postgres,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("liauto_postgres_pool_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, pool_size),
      &ngx_liauto_pool_size_post },

    { ngx_string("liauto_postgres_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, connect_timeout),
      NULL },

    { ngx_string("liauto_postgres_query_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, query_timeout),
      NULL },

    { ngx_string("liauto_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_liauto_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("liauto_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_liauto_jwt_set_secret,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, jwt.secret),
      NULL },

    { ngx_string("liauto_jwt_private_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_liauto_jwt_set_pem,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, jwt.private_key),
      NULL },

    { ngx_string("liauto_jwt_public_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_liauto_jwt_set_pem,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, jwt.public_key),
      NULL },

    { ngx_string("liauto_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, jwt.issuer),
      NULL },

    { ngx_string("liauto_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, jwt.audience),
      NULL },

    { ngx_string("liauto_jwt_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, jwt.ttl),
      &ngx_liauto_jwt_ttl_bounds },

    { ngx_string("liauto_webhook_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_liauto_webhook_set_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("liauto_webhook_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_liauto_webhook_set_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("liauto_webhook_signing_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_liauto_webhook_set_signing_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("liauto_webhook_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_liauto_webhook_set_tolerance,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("liauto_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, jwt.leeway),
      &ngx_liauto_jwt_leeway_bounds },

    { ngx_string("liauto_stream_heartbeat"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, stream_heartbeat),
      NULL },

    { ngx_string("liauto_stream_max_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, stream_max_buffer),
      NULL },

    { ngx_string("liauto_stream_max_subscribers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_liauto_srv_conf_t, stream_max_subscribers),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_liauto_module_ctx = {
    ngx_liauto_jwt_add_variables,          /* preconfiguration */
    ngx_liauto_postconfiguration,          /* postconfiguration */

    ngx_liauto_create_main_conf,           /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_liauto_create_srv_conf,            /* create server configuration */
    ngx_liauto_merge_srv_conf,             /* merge server configuration */

    ngx_liauto_create_loc_conf,            /* create location configuration */
    ngx_liauto_merge_loc_conf              /* merge location configuration */
};


ngx_module_t  ngx_liauto_module = {
    NGX_MODULE_V1,
    &ngx_liauto_module_ctx,                /* module context */
    ngx_liauto_commands,                   /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_liauto_init_process,               /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_liauto_exit_process,               /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_liauto_ctx_t *
ngx_liauto_get_ctx(ngx_http_request_t *r)
{
    ngx_liauto_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_liauto_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_liauto_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->request = r;
        ngx_http_set_ctx(r, ctx, ngx_liauto_module);
    }

    return ctx;
}


static ngx_int_t
ngx_liauto_handler(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_liauto_ctx_t  *ctx;

    ctx = ngx_liauto_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_liauto_route(r, ctx);

    if (ctx->route == NULL) {
        ngx_http_discard_request_body(r);
        return rc;
    }

    if (ctx->route->flags & NGX_LIAUTO_ROUTE_WEBHOOK) {
        /* a delivery without the secret is refused before its body */
        rc = ngx_liauto_webhook_admit(ctx);

        if (rc == NGX_DONE) {
            return ctx->rc;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->route->flags & NGX_LIAUTO_ROUTE_CSV_IN) {
        return ngx_liauto_read_csv_body(r, ctx);
    }

    if (ctx->route->flags & NGX_LIAUTO_ROUTE_BODY) {
        /* the body is read whole, in memory or a temp file */
        rc = ngx_http_read_client_request_body(r, ngx_liauto_body_handler);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* balanced by the ngx_http_finalize_request() that ends the route */
    r->main->count++;

    ngx_liauto_run_route(r);

    return NGX_DONE;
}


static void
ngx_liauto_body_handler(ngx_http_request_t *r)
{
    ngx_liauto_run_route(r);
}


/*
 * A CSV import is parsed as its bytes arrive (unbuffered reading): a file
 * of 50,000 rows never goes to a temp file to be read back, blocking, and
 * only libcsv's current field and the JSON being built are kept.  Another
 * Content-Type is read and dropped; the route refuses it.
 */

static ngx_int_t
ngx_liauto_read_csv_body(ngx_http_request_t *r, ngx_liauto_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *ct;

    ct = r->headers_in.content_type;

    if (ct && ngx_strlcasestrn(ct->value.data,
                               ct->value.data + ct->value.len,
                               (u_char *) "csv", 3 - 1)
              != NULL)
    {
        ctx->data = ngx_liauto_csv_create(r->pool);
        if (ctx->data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->request_body_no_buffering = 1;

    rc = ngx_http_read_client_request_body(r, ngx_liauto_csv_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* called when the first bytes are read, then on each read event */

static void
ngx_liauto_csv_body_handler(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_chain_t       *cl, *ln;
    ngx_liauto_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_liauto_module);

    for ( ;; ) {
        for (cl = r->request_body->bufs; cl; /* void */) {
            if (ctx->data
                && ngx_liauto_csv_feed(ctx->data, cl->buf->pos,
                                       cl->buf->last - cl->buf->pos)
                   != NGX_OK)
            {
                ngx_http_finalize_request(r,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            /* consumed: nginx reuses the buffer for the next read */
            cl->buf->pos = cl->buf->last;

            ln = cl;
            cl = cl->next;
            ngx_free_chain(r->pool, ln);
        }

        r->request_body->bufs = NULL;

        if (!r->reading_body) {
            break;
        }

        rc = ngx_http_read_unbuffered_request_body(r);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            ngx_http_finalize_request(r, rc);
            return;
        }

        if (r->request_body->bufs == NULL) {
            /* the rest has not arrived yet */
            r->read_event_handler = ngx_liauto_csv_body_handler;
            return;
        }
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_liauto_run_route(r);
}


static void
ngx_liauto_run_route(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_liauto_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_liauto_module);

    rc = ctx->route->handler(ctx);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * Starts ctx->query (whose values/nparams the caller has set) and returns
 * NGX_DONE; the handler ends the request with ngx_liauto_finalize().
 */

ngx_int_t
ngx_liauto_query(ngx_liauto_ctx_t *ctx, const char *sql,
    ngx_liauto_pg_handler_pt handler)
{
    ngx_http_cleanup_t     *cln;
    ngx_http_request_t     *r;
    ngx_liauto_pg_query_t  *q;

    r = ctx->request;
    q = &ctx->query;

    if (q->pool == NULL) {
        /* a client that goes away must not leave its query pointing here */
        cln = ngx_http_cleanup_add(r, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_liauto_cleanup;
        cln->data = ctx;
    }

    q->sql = sql;
    q->handler = handler;
    q->data = ctx;
    q->log = r->connection->log;

    ngx_liauto_pg_run(ngx_liauto_get_pool(r), q);

    return NGX_DONE;
}


void
ngx_liauto_finalize(ngx_liauto_ctx_t *ctx, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = ctx->request->connection;

    ngx_http_finalize_request(ctx->request, rc);

    /* we may run from a database socket's event, not the client's */
    ngx_http_run_posted_requests(c);
}


static void
ngx_liauto_cleanup(void *data)
{
    ngx_liauto_ctx_t  *ctx = data;

    ngx_liauto_pg_abandon(&ctx->query);
}


ngx_liauto_pg_pool_t *
ngx_liauto_get_pool(ngx_http_request_t *r)
{
    ngx_liauto_srv_conf_t  *lscf;

    lscf = ngx_http_get_module_srv_conf(r, ngx_liauto_module);

    return lscf->pool;
}


static char *
ngx_liauto_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_liauto_srv_conf_t  *lscf = conf;

    ngx_str_t  *value;

    if (lscf->conninfo.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a libpq connection string, not an empty value";
    }

    /* NUL-terminated for libpq */
    lscf->conninfo.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (lscf->conninfo.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(lscf->conninfo.data, value[1].data, value[1].len + 1);
    lscf->conninfo.len = value[1].len;

    if (ngx_liauto_pg_check_conninfo(cf, &lscf->conninfo) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_liauto_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_liauto_loc_conf_t  *llcf = conf;

    ngx_liauto_srv_conf_t     *lscf;
    ngx_http_core_loc_conf_t  *clcf;

    if (llcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    llcf->api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_liauto_handler;

    /* checked once the server's configuration is merged */
    lscf = ngx_http_conf_get_module_srv_conf(cf, ngx_liauto_module);
    lscf->api_file = cf->conf_file->file.name;
    lscf->api_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * The file named by a directive's argument, whole and NUL-terminated, read
 * at configuration time (keys and secrets: never on the request path).
 */

char *
ngx_liauto_conf_read_file(ngx_conf_t *cf, ngx_command_t *cmd, ngx_str_t *out)
{
    char             *rv;
    size_t            size;
    ssize_t           n;
    ngx_str_t        *value, name;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" cannot open \"%s\"", &cmd->name, name.data);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", name.data);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_LIAUTO_MAX_KEY_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" is larger than %d bytes, "
                           "not a key", &cmd->name, name.data,
                           NGX_LIAUTO_MAX_KEY_FILE);
        goto done;
    }

    /* NUL-terminated for OpenSSL's and libjwt's string APIs */
    out->data = ngx_pnalloc(cf->pool, size + 1);
    if (out->data == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, out->data, size, 0);

    if (n == NGX_ERROR) {
        goto done;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" read only %z of %uz bytes from \"%s\"",
                           &cmd->name, n, size, name.data);
        goto done;
    }

    out->data[size] = '\0';
    out->len = size;

    rv = NGX_CONF_OK;

done:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", name.data);
    }

    return rv;
}


/* nginx's own bounds check does not name the directive; this one does */

static char *
ngx_liauto_check_pool_size(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *np = data;

    if (*np < 1 || *np > 1024) {
        return "must be between 1 and 1024";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_liauto_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_liauto_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_liauto_filter_init(cf);
}


static void *
ngx_liauto_create_main_conf(ngx_conf_t *cf)
{
    ngx_liauto_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_liauto_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&lmcf->pools, cf->pool, 1,
                       sizeof(ngx_liauto_pg_pool_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return lmcf;
}


static void *
ngx_liauto_create_srv_conf(ngx_conf_t *cf)
{
    ngx_liauto_srv_conf_t  *lscf;

    lscf = ngx_pcalloc(cf->pool, sizeof(ngx_liauto_srv_conf_t));
    if (lscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lscf->conninfo = { 0, NULL };
     *     lscf->pool = NULL;
     *     lscf->api_file = { 0, NULL };
     */

    lscf->pool_size = NGX_CONF_UNSET_UINT;
    lscf->connect_timeout = NGX_CONF_UNSET_MSEC;
    lscf->query_timeout = NGX_CONF_UNSET_MSEC;
    lscf->stream_heartbeat = NGX_CONF_UNSET_MSEC;
    lscf->stream_max_buffer = NGX_CONF_UNSET_SIZE;
    lscf->stream_max_subscribers = NGX_CONF_UNSET_UINT;

    ngx_liauto_jwt_init_conf(&lscf->jwt);

    return lscf;
}


static void
ngx_liauto_init_srv_defaults(ngx_liauto_srv_conf_t *scf)
{
    ngx_conf_init_uint_value(scf->pool_size, NGX_LIAUTO_DEFAULT_POOL_SIZE);
    ngx_conf_init_msec_value(scf->connect_timeout,
                             NGX_LIAUTO_DEFAULT_CONNECT_TIMEOUT);
    ngx_conf_init_msec_value(scf->query_timeout,
                             NGX_LIAUTO_DEFAULT_QUERY_TIMEOUT);
}


/*
 * A server that inherits the http-level database settings unchanged shares
 * the http level's pool; one that changes any of them gets its own.
 */

static char *
ngx_liauto_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_liauto_srv_conf_t *prev = parent;
    ngx_liauto_srv_conf_t *conf = child;

    ngx_liauto_init_srv_defaults(prev);

    if (ngx_liauto_jwt_merge_conf(cf, &prev->jwt, &conf->jwt)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->conninfo, prev->conninfo, "");
    ngx_conf_merge_uint_value(conf->pool_size, prev->pool_size,
                              NGX_LIAUTO_DEFAULT_POOL_SIZE);
    ngx_conf_merge_msec_value(conf->connect_timeout, prev->connect_timeout,
                              NGX_LIAUTO_DEFAULT_CONNECT_TIMEOUT);
    ngx_conf_merge_msec_value(conf->query_timeout, prev->query_timeout,
                              NGX_LIAUTO_DEFAULT_QUERY_TIMEOUT);
    ngx_conf_merge_msec_value(conf->stream_heartbeat, prev->stream_heartbeat,
                              NGX_LIAUTO_DEFAULT_STREAM_HEARTBEAT);
    ngx_conf_merge_size_value(conf->stream_max_buffer,
                              prev->stream_max_buffer,
                              NGX_LIAUTO_DEFAULT_STREAM_MAX_BUFFER);
    ngx_conf_merge_uint_value(conf->stream_max_subscribers,
                              prev->stream_max_subscribers,
                              NGX_LIAUTO_DEFAULT_STREAM_MAX_SUBS);

    if (conf->stream_heartbeat == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"liauto_stream_heartbeat\" must be positive");
        return NGX_CONF_ERROR;
    }

    if (conf->conninfo.len == 0) {
        if (conf->api_file.len) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"liauto_api\" in %V:%ui needs \"liauto_postgres\" "
                          "in its server or http block",
                          &conf->api_file, conf->api_line);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (prev->conninfo.data == conf->conninfo.data
        && prev->pool_size == conf->pool_size
        && prev->connect_timeout == conf->connect_timeout
        && prev->query_timeout == conf->query_timeout)
    {
        if (prev->pool == NULL) {
            prev->pool = ngx_liauto_create_pool(cf, prev);
            if (prev->pool == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        conf->pool = prev->pool;
        return NGX_CONF_OK;
    }

    conf->pool = ngx_liauto_create_pool(cf, conf);
    if (conf->pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_liauto_pg_pool_t *
ngx_liauto_create_pool(ngx_conf_t *cf, ngx_liauto_srv_conf_t *scf)
{
    ngx_liauto_pg_pool_t    *pool, **pp;
    ngx_liauto_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_liauto_module);

    pool = ngx_pcalloc(cf->pool, sizeof(ngx_liauto_pg_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->conninfo = (char *) scf->conninfo.data;
    pool->size = scf->pool_size;
    pool->connect_timeout = scf->connect_timeout;
    pool->query_timeout = scf->query_timeout;

    pp = ngx_array_push(&lmcf->pools);
    if (pp == NULL) {
        return NULL;
    }

    *pp = pool;

    return pool;
}


static void *
ngx_liauto_create_loc_conf(ngx_conf_t *cf)
{
    ngx_liauto_loc_conf_t  *llcf;

    llcf = ngx_pcalloc(cf->pool, sizeof(ngx_liauto_loc_conf_t));
    if (llcf == NULL) {
        return NULL;
    }

    llcf->api = NGX_CONF_UNSET;

    llcf->webhook = ngx_liauto_webhook_create_conf(cf);
    if (llcf->webhook == NULL) {
        return NULL;
    }

    return llcf;
}


static char *
ngx_liauto_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_liauto_loc_conf_t *prev = parent;
    ngx_liauto_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->api, prev->api, 0);
    ngx_liauto_webhook_merge_conf(prev->webhook, conf->webhook);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_liauto_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_liauto_pg_pool_t   **pools;
    ngx_liauto_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_liauto_module);
    if (lmcf == NULL) {
        return NGX_OK;
    }

    pools = lmcf->pools.elts;

    for (i = 0; i < lmcf->pools.nelts; i++) {
        ngx_liauto_pg_pool_init(pools[i], cycle->log);
    }

    return NGX_OK;
}


static void
ngx_liauto_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_liauto_pg_pool_t   **pools;
    ngx_liauto_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_liauto_module);
    if (lmcf == NULL) {
        return;
    }

    /* streams first: they hold listening connections and pool queries */
    ngx_liauto_stream_exit();

    pools = lmcf->pools.elts;

    for (i = 0; i < lmcf->pools.nelts; i++) {
        ngx_liauto_pg_pool_close(pools[i]);
    }
}
