
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_PG_H_INCLUDED_
#define _NGX_LIAUTO_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <libpq-fe.h>


#define NGX_LIAUTO_PG_MAX_PARAMS  16


typedef struct ngx_liauto_pg_pool_s   ngx_liauto_pg_pool_t;
typedef struct ngx_liauto_pg_conn_s   ngx_liauto_pg_conn_t;
typedef struct ngx_liauto_pg_query_s  ngx_liauto_pg_query_t;

typedef void (*ngx_liauto_pg_handler_pt)(ngx_liauto_pg_query_t *q,
    PGresult *res);

/*
 * One row of a streamed query: NGX_OK for the next one, NGX_AGAIN to stop
 * reading until ngx_liauto_pg_resume(), NGX_ERROR to give the query up
 * (its connection is closed and the handler gets NGX_ERROR).
 */
typedef ngx_int_t (*ngx_liauto_pg_row_pt)(ngx_liauto_pg_query_t *q,
    PGresult *res);

/* a NOTIFY on a listening connection; NULL: the connection is gone */
typedef void (*ngx_liauto_pg_listen_pt)(void *data, PGnotify *notify);


/*
 * A query waits in the pool's queue until a connection is free, runs on
 * exactly one connection and ends with exactly one call of its handler:
 *   rc == NGX_OK                          res holds the (possibly failed)
 *                                         result, freed after the handler
 *   rc == NGX_HTTP_SERVICE_UNAVAILABLE    no connection could be had in time
 *   rc == NGX_HTTP_GATEWAY_TIME_OUT       the query did not finish in time
 *   rc == NGX_ERROR                       the connection broke mid-query
 *
 * With row set, the query runs in libpq's single-row mode: every row goes
 * to row() as it arrives, and the handler gets the final (empty or failed)
 * result.  Abandoning such a query closes its connection instead of
 * draining what the server still has to send.
 *
 * With listen set, sql is a LISTEN (sent with the simple protocol, so it
 * may hold several statements and takes no parameters).  When it succeeds
 * its connection leaves the pool for good: the handler finds it in
 * q->conn, and every notification arriving on it goes to
 * listen(data, notify) until ngx_liauto_pg_release() or its loss, which is
 * reported as listen(data, NULL) once the connection is freed.
 */
struct ngx_liauto_pg_query_s {
    const char                *sql;
    int                        nparams;
    const char                *values[NGX_LIAUTO_PG_MAX_PARAMS];

    ngx_liauto_pg_handler_pt   handler;
    ngx_liauto_pg_row_pt       row;
    ngx_liauto_pg_listen_pt    listen;
    void                      *data;
    ngx_log_t                 *log;

    ngx_int_t                  rc;
    u_char                    *error;      /* NUL-terminated, or NULL */

    /* private */
    ngx_liauto_pg_pool_t      *pool;
    ngx_liauto_pg_conn_t      *conn;
    ngx_queue_t                queue;
    ngx_event_t                wait;
    unsigned                   queued:1;
};


struct ngx_liauto_pg_pool_s {
    char                      *conninfo;
    ngx_uint_t                 size;
    ngx_msec_t                 connect_timeout;
    ngx_msec_t                 query_timeout;
    ngx_log_t                 *log;

    ngx_queue_t                idle;       /* of ngx_liauto_pg_conn_t */
    ngx_queue_t                active;     /* connecting or running */
    ngx_queue_t                waiting;    /* of ngx_liauto_pg_query_t */
    ngx_uint_t                 nconns;
    ngx_uint_t                 nwaiting;

    /* after a failed connect, fail fast instead of hammering the server */
    ngx_msec_t                 backoff_until;
    u_char                     last_error[256];
    unsigned                   closing:1;

    /* counters for /metrics */
    ngx_uint_t                 queries;
    ngx_uint_t                 failures;
    ngx_uint_t                 connects;
};


ngx_int_t ngx_liauto_pg_check_conninfo(ngx_conf_t *cf, ngx_str_t *conninfo);
void ngx_liauto_pg_pool_init(ngx_liauto_pg_pool_t *pool, ngx_log_t *log);
void ngx_liauto_pg_pool_close(ngx_liauto_pg_pool_t *pool);
void ngx_liauto_pg_run(ngx_liauto_pg_pool_t *pool, ngx_liauto_pg_query_t *q);
void ngx_liauto_pg_abandon(ngx_liauto_pg_query_t *q);
void ngx_liauto_pg_release(ngx_liauto_pg_conn_t *pgc);
void ngx_liauto_pg_resume(ngx_liauto_pg_query_t *q);


#endif /* _NGX_LIAUTO_PG_H_INCLUDED_ */
