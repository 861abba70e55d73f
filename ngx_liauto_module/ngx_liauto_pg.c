
/*
 * Copyright (C) liauto
 *
 * A per-worker pool of non-blocking libpq connections driven by nginx's
 * event loop.  The libpq socket is wrapped in an ngx_connection_t and
 * registered level-triggered: libpq reads and writes the socket itself, so
 * nginx never sees EAGAIN and edge-triggered readiness would be lost.
 *
 * Query texts are constants of the module, so each connection prepares a
 * text the first time it runs it and then only executes the statement:
 * Postgres no longer parses, analyses and plans the same call for every
 * request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_liauto_pg.h"
#include "ngx_liauto_metrics.h"


#define NGX_LIAUTO_PG_BACKOFF         500
#define NGX_LIAUTO_PG_TIMEOUT_MARGIN  1000

/* prepared statements per connection: slots (a power of two), most used */
#define NGX_LIAUTO_PG_STATEMENTS      256
#define NGX_LIAUTO_PG_STATEMENTS_MAX  192


typedef enum {
    ngx_liauto_pg_connecting = 0,
    ngx_liauto_pg_setup,
    ngx_liauto_pg_idle,
    ngx_liauto_pg_sending,
    ngx_liauto_pg_reading,
    ngx_liauto_pg_listening      /* out of the pool, see q->listen */
} ngx_liauto_pg_state_e;


struct ngx_liauto_pg_conn_s {
    ngx_queue_t                queue;
    ngx_liauto_pg_pool_t      *pool;
    PGconn                    *pgconn;
    ngx_connection_t          *c;
    ngx_liauto_pg_query_t     *query;
    PGresult                  *result;
    ngx_event_t                timer;
    ngx_liauto_pg_state_e      state;
    ngx_liauto_pg_listen_pt    listen;
    void                      *listen_data;

    /* the query texts prepared on this connection, open addressing */
    const char                *prepared[NGX_LIAUTO_PG_STATEMENTS];
    ngx_uint_t                 nprepared;
    /* the text being prepared, the query (if still there) to run after */
    const char                *preparing;

    unsigned                   want_write:1;
    /* a streamed query's consumer asked to stop reading (row() NGX_AGAIN) */
    unsigned                   paused:1;
    /* ngx_liauto_pg_release() from inside listen(): closed afterwards */
    unsigned                   delivering:1;
    unsigned                   released:1;
};


static void ngx_liauto_pg_open(ngx_liauto_pg_pool_t *pool);
static ngx_int_t ngx_liauto_pg_attach(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_detach(ngx_liauto_pg_conn_t *pgc);
static ngx_int_t ngx_liauto_pg_want_write(ngx_liauto_pg_conn_t *pgc,
    ngx_uint_t on);
static void ngx_liauto_pg_event_handler(ngx_event_t *ev);
static void ngx_liauto_pg_timeout_handler(ngx_event_t *ev);
static void ngx_liauto_pg_wait_timeout_handler(ngx_event_t *ev);
static void ngx_liauto_pg_connect(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_send(ngx_liauto_pg_conn_t *pgc,
    ngx_liauto_pg_query_t *q);
static int ngx_liauto_pg_send_statement(ngx_liauto_pg_conn_t *pgc,
    ngx_liauto_pg_query_t *q);
static const char **ngx_liauto_pg_statement(ngx_liauto_pg_conn_t *pgc,
    const char *sql);
static ngx_int_t ngx_liauto_pg_prepared(ngx_liauto_pg_conn_t *pgc,
    PGresult **res);
static void ngx_liauto_pg_flush(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_read(ngx_liauto_pg_conn_t *pgc);
static ngx_int_t ngx_liauto_pg_row(ngx_liauto_pg_conn_t *pgc,
    PGresult *res);
static void ngx_liauto_pg_complete(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_make_idle(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_idle_event(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_take(ngx_liauto_pg_conn_t *pgc,
    ngx_liauto_pg_query_t *q);
static void ngx_liauto_pg_listen_event(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_fail(ngx_liauto_pg_conn_t *pgc, ngx_int_t rc,
    const char *reason);
static void ngx_liauto_pg_close(ngx_liauto_pg_conn_t *pgc);
static void ngx_liauto_pg_dispatch(ngx_liauto_pg_pool_t *pool);
static void ngx_liauto_pg_fail_waiting(ngx_liauto_pg_pool_t *pool,
    const char *reason);
static void ngx_liauto_pg_deliver(ngx_liauto_pg_query_t *q, ngx_int_t rc,
    PGresult *res, const char *reason);
static void ngx_liauto_pg_notice(void *arg, const char *message);
static ngx_uint_t ngx_liauto_pg_nconnecting(ngx_liauto_pg_pool_t *pool);


ngx_int_t
ngx_liauto_pg_check_conninfo(ngx_conf_t *cf, ngx_str_t *conninfo)
{
    char               *err;
    PQconninfoOption   *opts;

    err = NULL;
    opts = PQconninfoParse((char *) conninfo->data, &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "liauto_postgres: invalid connection string "
                           "\"%V\": %s", conninfo,
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }
        return NGX_ERROR;
    }

    PQconninfoFree(opts);

    return NGX_OK;
}


void
ngx_liauto_pg_pool_init(ngx_liauto_pg_pool_t *pool, ngx_log_t *log)
{
    pool->log = log;
    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->active);
    ngx_queue_init(&pool->waiting);
}


void
ngx_liauto_pg_pool_close(ngx_liauto_pg_pool_t *pool)
{
    ngx_queue_t  *qu;

    if (pool->log == NULL) {
        return;
    }

    pool->closing = 1;

    ngx_liauto_pg_fail_waiting(pool, "nginx worker is exiting");

    while (!ngx_queue_empty(&pool->active)) {
        qu = ngx_queue_head(&pool->active);
        ngx_liauto_pg_fail(ngx_queue_data(qu, ngx_liauto_pg_conn_t, queue),
                           NGX_ERROR, "nginx worker is exiting");
    }

    while (!ngx_queue_empty(&pool->idle)) {
        qu = ngx_queue_head(&pool->idle);
        ngx_liauto_pg_close(ngx_queue_data(qu, ngx_liauto_pg_conn_t, queue));
    }
}


void
ngx_liauto_pg_run(ngx_liauto_pg_pool_t *pool, ngx_liauto_pg_query_t *q)
{
    ngx_queue_t           *qu;
    ngx_liauto_pg_conn_t  *pgc;

    q->pool = pool;
    q->conn = NULL;
    q->rc = NGX_OK;
    q->error = NULL;
    pool->queries++;

    if (!ngx_queue_empty(&pool->idle)) {
        qu = ngx_queue_head(&pool->idle);
        pgc = ngx_queue_data(qu, ngx_liauto_pg_conn_t, queue);
        ngx_liauto_pg_send(pgc, q);
        return;
    }

    if (pool->nconns == 0
        && (ngx_msec_int_t) (pool->backoff_until - ngx_current_msec) > 0)
    {
        ngx_liauto_pg_deliver(q, NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                              (char *) pool->last_error);
        return;
    }

    ngx_memzero(&q->wait, sizeof(ngx_event_t));
    q->wait.handler = ngx_liauto_pg_wait_timeout_handler;
    q->wait.data = q;
    q->wait.log = q->log;
    ngx_add_timer(&q->wait, pool->connect_timeout);

    ngx_queue_insert_tail(&pool->waiting, &q->queue);
    q->queued = 1;
    pool->nwaiting++;

    ngx_liauto_pg_dispatch(pool);
}


void
ngx_liauto_pg_abandon(ngx_liauto_pg_query_t *q)
{
    ngx_liauto_pg_conn_t  *pgc;
    ngx_liauto_pg_pool_t  *pool;

    if (q->queued) {
        ngx_queue_remove(&q->queue);
        q->queued = 0;
        q->pool->nwaiting--;

        if (q->wait.timer_set) {
            ngx_del_timer(&q->wait);
        }
    }

    if (q->conn == NULL) {
        return;
    }

    pgc = q->conn;
    pgc->query = NULL;
    q->conn = NULL;

    if (q->row) {
        /*
         * the rest of a stream may be large: the connection goes, and the
         * server ends the session (client_connection_check_interval)
         */
        ngx_log_error(NGX_LOG_INFO, q->log, 0,
                      "liauto: closing the postgres connection of a "
                      "streamed query given up before its end");
        pool = pgc->pool;
        ngx_liauto_pg_close(pgc);
        ngx_liauto_pg_dispatch(pool);
    }

    /* else the result is drained and dropped; the connection is reused */
}


void
ngx_liauto_pg_resume(ngx_liauto_pg_query_t *q)
{
    ngx_liauto_pg_conn_t  *pgc;

    pgc = q->conn;

    if (pgc == NULL || !pgc->paused) {
        return;
    }

    pgc->paused = 0;

    if (ngx_add_event(pgc->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
        != NGX_OK)
    {
        ngx_liauto_pg_fail(pgc, NGX_ERROR, "could not register the socket");
        return;
    }

    /* rows libpq read before the pause get no event */
    ngx_liauto_pg_read(pgc);
}


void
ngx_liauto_pg_release(ngx_liauto_pg_conn_t *pgc)
{
    if (pgc->delivering) {
        pgc->released = 1;
        return;
    }

    ngx_liauto_pg_close(pgc);
}


static ngx_uint_t
ngx_liauto_pg_nconnecting(ngx_liauto_pg_pool_t *pool)
{
    ngx_uint_t             n;
    ngx_queue_t           *qu;
    ngx_liauto_pg_conn_t  *pgc;

    n = 0;

    for (qu = ngx_queue_head(&pool->active);
         qu != ngx_queue_sentinel(&pool->active);
         qu = ngx_queue_next(qu))
    {
        pgc = ngx_queue_data(qu, ngx_liauto_pg_conn_t, queue);

        if (pgc->state == ngx_liauto_pg_connecting
            || pgc->state == ngx_liauto_pg_setup)
        {
            n++;
        }
    }

    return n;
}


static void
ngx_liauto_pg_dispatch(ngx_liauto_pg_pool_t *pool)
{
    ngx_queue_t            *qu;
    ngx_liauto_pg_conn_t   *pgc;
    ngx_liauto_pg_query_t  *q;

    while (!ngx_queue_empty(&pool->waiting) && !ngx_queue_empty(&pool->idle)) {
        qu = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qu, ngx_liauto_pg_query_t, queue);

        ngx_queue_remove(qu);
        q->queued = 0;
        pool->nwaiting--;

        if (q->wait.timer_set) {
            ngx_del_timer(&q->wait);
        }

        qu = ngx_queue_head(&pool->idle);
        pgc = ngx_queue_data(qu, ngx_liauto_pg_conn_t, queue);

        ngx_liauto_pg_send(pgc, q);
    }

    /* open connections for waiters that no connection attempt covers */

    while (pool->nwaiting > ngx_liauto_pg_nconnecting(pool)
           && pool->nconns < pool->size
           && !pool->closing
           && (ngx_msec_int_t) (pool->backoff_until - ngx_current_msec) <= 0)
    {
        ngx_liauto_pg_open(pool);
    }
}


static void
ngx_liauto_pg_open(ngx_liauto_pg_pool_t *pool)
{
    ngx_liauto_pg_conn_t  *pgc;

    static const char *const  keywords[] = {
        "dbname", "fallback_application_name", NULL
    };

    const char *values[] = { pool->conninfo, "liauto-nginx", NULL };

    pgc = ngx_calloc(sizeof(ngx_liauto_pg_conn_t), pool->log);
    if (pgc == NULL) {
        ngx_liauto_pg_fail_waiting(pool, "out of memory");
        return;
    }

    pgc->pool = pool;
    pgc->state = ngx_liauto_pg_connecting;
    pgc->timer.handler = ngx_liauto_pg_timeout_handler;
    pgc->timer.data = pgc;
    pgc->timer.log = pool->log;

    ngx_queue_insert_tail(&pool->active, &pgc->queue);
    pool->nconns++;
    pool->connects++;

    /* expand_dbname: the directive's value is a full conninfo or URI */
    pgc->pgconn = PQconnectStartParams(keywords, values, 1);

    if (pgc->pgconn == NULL
        || PQstatus(pgc->pgconn) == CONNECTION_BAD
        || PQsetnonblocking(pgc->pgconn, 1) == -1)
    {
        ngx_liauto_pg_fail(pgc, NGX_HTTP_SERVICE_UNAVAILABLE,
                           pgc->pgconn ? PQerrorMessage(pgc->pgconn)
                                       : "could not start a connection");
        return;
    }

    PQsetNoticeProcessor(pgc->pgconn, ngx_liauto_pg_notice, pool);

    if (ngx_liauto_pg_attach(pgc) != NGX_OK) {
        ngx_liauto_pg_fail(pgc, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "could not register the connection");
        return;
    }

    ngx_add_timer(&pgc->timer, pool->connect_timeout);

    /* libpq: start as if PQconnectPoll() had asked for write readiness */
    if (ngx_liauto_pg_want_write(pgc, 1) != NGX_OK) {
        ngx_liauto_pg_fail(pgc, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "could not register the connection");
    }
}


static ngx_int_t
ngx_liauto_pg_attach(ngx_liauto_pg_conn_t *pgc)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(pgc->pgconn);
    if (fd == -1) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pgc->pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pgc;
    c->read->handler = ngx_liauto_pg_event_handler;
    c->write->handler = ngx_liauto_pg_event_handler;
    c->read->log = pgc->pool->log;
    c->write->log = pgc->pool->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    pgc->c = c;
    pgc->want_write = 0;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_liauto_pg_detach(pgc);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* forget the ngx_connection_t; the socket itself belongs to libpq */

static void
ngx_liauto_pg_detach(ngx_liauto_pg_conn_t *pgc)
{
    ngx_connection_t  *c;

    c = pgc->c;
    if (c == NULL) {
        return;
    }

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
    pgc->c = NULL;
}


static ngx_int_t
ngx_liauto_pg_want_write(ngx_liauto_pg_conn_t *pgc, ngx_uint_t on)
{
    ngx_event_t  *wev;

    if (pgc->want_write == on) {
        return NGX_OK;
    }

    wev = pgc->c->write;
    pgc->want_write = on;

    if (on) {
        return ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }

    return ngx_del_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
}


static void
ngx_liauto_pg_event_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_liauto_pg_conn_t  *pgc;

    c = ev->data;
    pgc = c->data;

    switch (pgc->state) {

    case ngx_liauto_pg_connecting:
        ngx_liauto_pg_connect(pgc);
        break;

    case ngx_liauto_pg_sending:
        if (!ev->write && PQconsumeInput(pgc->pgconn) == 0) {
            ngx_liauto_pg_fail(pgc, NGX_ERROR, "connection lost");
            break;
        }

        ngx_liauto_pg_flush(pgc);
        break;

    case ngx_liauto_pg_setup:
    case ngx_liauto_pg_reading:
        if (!ev->write) {
            ngx_liauto_pg_read(pgc);
        }
        break;

    case ngx_liauto_pg_idle:
        if (!ev->write) {
            ngx_liauto_pg_idle_event(pgc);
        }
        break;

    case ngx_liauto_pg_listening:
        if (!ev->write) {
            ngx_liauto_pg_listen_event(pgc);
        }
        break;
    }
}


static void
ngx_liauto_pg_connect(ngx_liauto_pg_conn_t *pgc)
{
    char                     sql[160];
    ConnStatusType           before;
    PostgresPollingStatusType  rc;

    for ( ;; ) {
        before = PQstatus(pgc->pgconn);
        rc = PQconnectPoll(pgc->pgconn);

        /* libpq may switch sockets (e.g. SSL fallback, several hosts) */
        if (rc != PGRES_POLLING_FAILED
            && PQsocket(pgc->pgconn) != pgc->c->fd)
        {
            ngx_liauto_pg_detach(pgc);

            if (ngx_liauto_pg_attach(pgc) != NGX_OK) {
                ngx_liauto_pg_fail(pgc, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "could not register the connection");
                return;
            }
        }

        switch (rc) {

        case PGRES_POLLING_READING:
            if (ngx_liauto_pg_want_write(pgc, 0) != NGX_OK) {
                goto failed;
            }
            return;

        case PGRES_POLLING_WRITING:
            /*
             * a step that made no socket I/O (e.g. CONNECTION_MADE) asks
             * for write readiness the socket already has: poll again
             */
            if (PQstatus(pgc->pgconn) != before) {
                continue;
            }

            if (ngx_liauto_pg_want_write(pgc, 1) != NGX_OK) {
                goto failed;
            }
            return;

        case PGRES_POLLING_OK:
            goto connected;

        default:
            goto failed;
        }
    }

connected:

    if (ngx_liauto_pg_want_write(pgc, 0) != NGX_OK) {
        goto failed;
    }

    /*
     * the server stops work the module has given up waiting for: a query
     * past the module's own timeout (plus a margin, so the module answers
     * first) and a query whose connection the module closed
     */
    ngx_snprintf((u_char *) sql, sizeof(sql),
                 "SET statement_timeout = %M;"
                 "SET client_connection_check_interval = 1000%Z",
                 pgc->pool->query_timeout + NGX_LIAUTO_PG_TIMEOUT_MARGIN);

    if (!PQsendQuery(pgc->pgconn, sql)) {
        goto failed;
    }

    pgc->state = ngx_liauto_pg_setup;
    ngx_liauto_pg_flush(pgc);
    return;

failed:

    ngx_liauto_pg_fail(pgc, NGX_HTTP_SERVICE_UNAVAILABLE,
                       PQerrorMessage(pgc->pgconn));
}


static void
ngx_liauto_pg_send(ngx_liauto_pg_conn_t *pgc, ngx_liauto_pg_query_t *q)
{
    ngx_queue_remove(&pgc->queue);
    ngx_queue_insert_tail(&pgc->pool->active, &pgc->queue);
    pgc->c->idle = 0;

    pgc->query = q;
    q->conn = pgc;

    if (!(q->listen ? PQsendQuery(pgc->pgconn, q->sql)
                    : ngx_liauto_pg_send_statement(pgc, q)))
    {
        ngx_liauto_pg_fail(pgc, NGX_ERROR, PQerrorMessage(pgc->pgconn));
        return;
    }

    pgc->state = ngx_liauto_pg_sending;
    ngx_add_timer(&pgc->timer, pgc->pool->query_timeout);

    ngx_liauto_pg_flush(pgc);
}


/*
 * Executes the statement of q->sql, or prepares it first (its result is
 * taken by ngx_liauto_pg_prepared()); with every slot taken the text is
 * sent as it is.  Returns what libpq's PQsend* returned.
 */

static int
ngx_liauto_pg_send_statement(ngx_liauto_pg_conn_t *pgc,
    ngx_liauto_pg_query_t *q)
{
    int           sent;
    u_char        name[NGX_PTR_SIZE * 2 + 4];
    const char  **slot;

    slot = ngx_liauto_pg_statement(pgc, q->sql);

    /* the text's address names it: texts are constants of the module */
    ngx_sprintf(name, "l%p%Z", q->sql);

    if (slot == NULL) {
        sent = PQsendQueryParams(pgc->pgconn, q->sql, q->nparams, NULL,
                                 q->values, NULL, NULL, 0);

    } else if (*slot == q->sql) {
        sent = PQsendQueryPrepared(pgc->pgconn, (char *) name, q->nparams,
                                   q->values, NULL, NULL, 0);

    } else {
        pgc->preparing = q->sql;

        return PQsendPrepare(pgc->pgconn, (char *) name, q->sql,
                             q->nparams, NULL);
    }

    /* rows one at a time (an export): libpq takes it right after a send */
    return sent && (!q->row || PQsetSingleRowMode(pgc->pgconn));
}


/* the slot of sql: where it is, or the free one it would take; NULL: full */

static const char **
ngx_liauto_pg_statement(ngx_liauto_pg_conn_t *pgc, const char *sql)
{
    ngx_uint_t  i;

    i = ((uintptr_t) sql >> 3) & (NGX_LIAUTO_PG_STATEMENTS - 1);

    while (pgc->prepared[i] != NULL && pgc->prepared[i] != sql) {
        i = (i + 1) & (NGX_LIAUTO_PG_STATEMENTS - 1);
    }

    if (pgc->prepared[i] == NULL
        && pgc->nprepared >= NGX_LIAUTO_PG_STATEMENTS_MAX)
    {
        return NULL;
    }

    return &pgc->prepared[i];
}


/*
 * The result of a Prepare: NGX_OK when the statement was prepared and its
 * execution sent (the query stays on the connection, under the same
 * timer); NGX_DECLINED when the query is done: *res is its result (the
 * error preparing the text met, as running it would have) or NULL (it
 * was abandoned meanwhile); NGX_ERROR when the connection failed (and
 * was closed).
 */

static ngx_int_t
ngx_liauto_pg_prepared(ngx_liauto_pg_conn_t *pgc, PGresult **res)
{
    const char  *sql;

    sql = pgc->preparing;
    pgc->preparing = NULL;

    if (*res == NULL || PQresultStatus(*res) != PGRES_COMMAND_OK) {
        return NGX_DECLINED;
    }

    *ngx_liauto_pg_statement(pgc, sql) = sql;
    pgc->nprepared++;

    PQclear(*res);
    *res = NULL;

    /* abandoned meanwhile: the statement is kept for the next one */
    if (pgc->query == NULL) {
        return NGX_DECLINED;
    }

    if (!ngx_liauto_pg_send_statement(pgc, pgc->query)) {
        ngx_liauto_pg_fail(pgc, NGX_ERROR, PQerrorMessage(pgc->pgconn));
        return NGX_ERROR;
    }

    pgc->state = ngx_liauto_pg_sending;
    ngx_liauto_pg_flush(pgc);

    return NGX_OK;
}


static void
ngx_liauto_pg_flush(ngx_liauto_pg_conn_t *pgc)
{
    int  rc;

    rc = PQflush(pgc->pgconn);

    if (rc == -1) {
        ngx_liauto_pg_fail(pgc, NGX_ERROR, PQerrorMessage(pgc->pgconn));
        return;
    }

    if (ngx_liauto_pg_want_write(pgc, rc == 1) != NGX_OK) {
        ngx_liauto_pg_fail(pgc, NGX_ERROR, "could not register the socket");
        return;
    }

    if (rc == 1) {
        return;
    }

    if (pgc->state == ngx_liauto_pg_sending) {
        pgc->state = ngx_liauto_pg_reading;
    }

    /* a fast answer may already be buffered inside libpq */
    ngx_liauto_pg_read(pgc);
}


static void
ngx_liauto_pg_read(ngx_liauto_pg_conn_t *pgc)
{
    PGresult  *res;

    /* a read event posted before a pause */
    if (pgc->paused) {
        return;
    }

    if (PQconsumeInput(pgc->pgconn) == 0) {
        ngx_liauto_pg_fail(pgc, pgc->state == ngx_liauto_pg_setup
                                ? NGX_HTTP_SERVICE_UNAVAILABLE : NGX_ERROR,
                           PQerrorMessage(pgc->pgconn));
        return;
    }

    /* drain everything libpq holds: no further event will say it is there */

    while (!PQisBusy(pgc->pgconn)) {
        res = PQgetResult(pgc->pgconn);

        if (res == NULL) {
            ngx_liauto_pg_complete(pgc);
            return;
        }

        if (PQresultStatus(res) == PGRES_SINGLE_TUPLE) {
            if (ngx_liauto_pg_row(pgc, res) != NGX_OK) {
                return;
            }

            continue;
        }

        /* keep the first result, or the first error after it */
        if (pgc->result == NULL
            || (PQresultStatus(pgc->result) != PGRES_FATAL_ERROR
                && PQresultStatus(res) == PGRES_FATAL_ERROR))
        {
            if (pgc->result) {
                PQclear(pgc->result);
            }
            pgc->result = res;

        } else {
            PQclear(res);
        }
    }
}


/*
 * Hands one row of a streamed query to its consumer.  NGX_OK: read on;
 * anything else: stop, the connection is paused or gone.
 */

static ngx_int_t
ngx_liauto_pg_row(ngx_liauto_pg_conn_t *pgc, PGresult *res)
{
    ngx_int_t               rc;
    ngx_liauto_pg_query_t  *q;

    q = pgc->query;

    if (q == NULL || q->row == NULL) {
        PQclear(res);
        return NGX_OK;
    }

    rc = q->row(q, res);
    PQclear(res);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (rc == NGX_AGAIN) {
        /*
         * the server blocks on its full socket meanwhile: the client's
         * pace reaches Postgres, nothing piles up here
         */
        pgc->paused = 1;

        if (ngx_del_event(pgc->c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            ngx_liauto_pg_fail(pgc, NGX_ERROR,
                               "could not unregister the socket");
        }

        return NGX_AGAIN;
    }

    ngx_liauto_pg_fail(pgc, NGX_ERROR,
                       "the consumer of a streamed query gave it up");
    return NGX_ERROR;
}


static void
ngx_liauto_pg_complete(ngx_liauto_pg_conn_t *pgc)
{
    PGresult               *res;
    ngx_liauto_pg_pool_t   *pool;
    ngx_liauto_pg_query_t  *q;

    pool = pgc->pool;
    res = pgc->result;
    pgc->result = NULL;

    if (pgc->preparing && ngx_liauto_pg_prepared(pgc, &res) != NGX_DECLINED)
    {
        return;
    }

    if (pgc->timer.timer_set) {
        ngx_del_timer(&pgc->timer);
    }

    if (pgc->state == ngx_liauto_pg_setup) {
        if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
            ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                          "liauto: postgres session setup failed: %s",
                          res ? PQresultErrorMessage(res) : "no result");
            PQclear(res);
            ngx_liauto_pg_fail(pgc, NGX_HTTP_SERVICE_UNAVAILABLE,
                               "session setup failed");
            return;
        }

        PQclear(res);
        ngx_liauto_pg_make_idle(pgc);
        ngx_liauto_pg_dispatch(pool);
        return;
    }

    q = pgc->query;
    pgc->query = NULL;

    if (q && q->listen && res && PQresultStatus(res) == PGRES_COMMAND_OK
        && PQtransactionStatus(pgc->pgconn) == PQTRANS_IDLE)
    {
        ngx_liauto_pg_take(pgc, q);

        pgc->delivering = 1;
        ngx_liauto_pg_deliver(q, NGX_OK, res, NULL);
        pgc->delivering = 0;
        PQclear(res);

        if (pgc->released) {
            ngx_liauto_pg_close(pgc);

        } else {
            /* notifications read along with the answer get no event */
            ngx_liauto_pg_listen_event(pgc);
        }

        /* the pool has one connection less: waiters may need a new one */
        ngx_liauto_pg_dispatch(pool);
        return;
    }

    if (PQtransactionStatus(pgc->pgconn) == PQTRANS_IDLE) {
        ngx_liauto_pg_make_idle(pgc);

    } else {
        /* never hand a connection stuck in a transaction to another query */
        ngx_log_error(NGX_LOG_WARN, pool->log, 0,
                      "liauto: closing a postgres connection left inside "
                      "a transaction");
        ngx_liauto_pg_close(pgc);
    }

    if (q) {
        q->conn = NULL;
        ngx_liauto_pg_deliver(q, NGX_OK, res, NULL);
    }

    PQclear(res);

    ngx_liauto_pg_dispatch(pool);
}


static void
ngx_liauto_pg_make_idle(ngx_liauto_pg_conn_t *pgc)
{
    pgc->state = ngx_liauto_pg_idle;
    pgc->c->idle = 1;
    pgc->c->log = pgc->pool->log;

    ngx_queue_remove(&pgc->queue);
    ngx_queue_insert_head(&pgc->pool->idle, &pgc->queue);
}


static void
ngx_liauto_pg_idle_event(ngx_liauto_pg_conn_t *pgc)
{
    PGresult  *res;
    PGnotify  *notify;

    /* set by ngx_close_idle_connections() on graceful shutdown */
    if (pgc->c->close) {
        ngx_liauto_pg_close(pgc);
        return;
    }

    if (PQconsumeInput(pgc->pgconn) == 0) {
        ngx_log_error(NGX_LOG_INFO, pgc->pool->log, 0,
                      "liauto: idle postgres connection closed: %s",
                      PQerrorMessage(pgc->pgconn));
        ngx_liauto_pg_close(pgc);
        return;
    }

    while ((notify = PQnotifies(pgc->pgconn)) != NULL) {
        PQfreemem(notify);
    }

    if (!PQisBusy(pgc->pgconn)) {
        res = PQgetResult(pgc->pgconn);

        if (res != NULL) {
            /* e.g. the server terminating the session: do not reuse it */
            ngx_log_error(NGX_LOG_WARN, pgc->pool->log, 0,
                          "liauto: unexpected message on an idle postgres "
                          "connection: %s", PQresultErrorMessage(res));
            PQclear(res);
            ngx_liauto_pg_close(pgc);
        }
    }
}


/* a LISTEN succeeded: its connection now belongs to the query's owner */

static void
ngx_liauto_pg_take(ngx_liauto_pg_conn_t *pgc, ngx_liauto_pg_query_t *q)
{
    ngx_queue_remove(&pgc->queue);
    pgc->pool->nconns--;

    pgc->state = ngx_liauto_pg_listening;
    pgc->listen = q->listen;
    pgc->listen_data = q->data;
    q->conn = pgc;
}


static void
ngx_liauto_pg_listen_event(ngx_liauto_pg_conn_t *pgc)
{
    void                     *data;
    u_char                    msg[512];
    PGresult                 *res;
    PGnotify                 *notify;
    const char               *lost;
    ngx_liauto_pg_listen_pt   listen;

    lost = NULL;

    if (PQconsumeInput(pgc->pgconn) == 0) {
        lost = PQerrorMessage(pgc->pgconn);

    } else {
        pgc->delivering = 1;

        while (!pgc->released
               && (notify = PQnotifies(pgc->pgconn)) != NULL)
        {
            pgc->listen(pgc->listen_data, notify);
            PQfreemem(notify);
        }

        pgc->delivering = 0;

        if (pgc->released) {
            ngx_liauto_pg_close(pgc);
            return;
        }

        /* e.g. the server terminating the session before it closes it */
        if (!PQisBusy(pgc->pgconn)) {
            res = PQgetResult(pgc->pgconn);

            if (res != NULL) {
                ngx_cpystrn(msg, (u_char *) PQresultErrorMessage(res),
                            sizeof(msg));
                PQclear(res);
                lost = (char *) msg;
            }
        }
    }

    if (lost == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, pgc->pool->log, 0,
                  "liauto: listening postgres connection lost: %s", lost);

    listen = pgc->listen;
    data = pgc->listen_data;

    ngx_liauto_pg_close(pgc);

    listen(data, NULL);
}


static void
ngx_liauto_pg_timeout_handler(ngx_event_t *ev)
{
    ngx_liauto_pg_conn_t  *pgc;

    pgc = ev->data;

    if (pgc->state == ngx_liauto_pg_connecting
        || pgc->state == ngx_liauto_pg_setup)
    {
        ngx_liauto_pg_fail(pgc, NGX_HTTP_SERVICE_UNAVAILABLE,
                           "timed out connecting to postgres");
        return;
    }

    ngx_liauto_pg_fail(pgc, NGX_HTTP_GATEWAY_TIME_OUT,
                       "postgres query timed out");
}


static void
ngx_liauto_pg_wait_timeout_handler(ngx_event_t *ev)
{
    ngx_liauto_pg_query_t  *q;

    q = ev->data;

    ngx_queue_remove(&q->queue);
    q->queued = 0;
    q->pool->nwaiting--;

    ngx_liauto_pg_deliver(q, NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                          "no postgres connection became available in time");
}


/*
 * Closes a connection that cannot go on and tells its query, if any.
 * A connection that never got ready takes the waiting queries down with it
 * when no other connection is left to serve them: a database that refuses
 * connections is answered at once, not after the wait timeout.
 */

static void
ngx_liauto_pg_fail(ngx_liauto_pg_conn_t *pgc, ngx_int_t rc,
    const char *reason)
{
    u_char                  msg[512], *last;
    ngx_liauto_pg_pool_t   *pool;
    ngx_liauto_pg_query_t  *q;

    pool = pgc->pool;
    q = pgc->query;
    pgc->query = NULL;
    pool->failures++;

    /* the reason may live inside the PGconn that is about to be freed */
    last = ngx_cpystrn(msg, (u_char *) (reason ? reason : "unknown error"),
                       sizeof(msg));

    while (last > msg && (last[-1] == '\n' || last[-1] == ' ')) {
        *--last = '\0';
    }

    ngx_log_error(NGX_LOG_ERR, pool->log, 0, "liauto: postgres: %s", msg);

    ngx_liauto_pg_close(pgc);

    if (q) {
        q->conn = NULL;
        ngx_liauto_pg_deliver(q, rc, NULL, (char *) msg);
    }

    if (rc == NGX_HTTP_SERVICE_UNAVAILABLE) {
        /* a connection that never became ready: back off for a moment */
        pool->backoff_until = ngx_current_msec + NGX_LIAUTO_PG_BACKOFF;
        ngx_cpystrn(pool->last_error, msg, sizeof(pool->last_error));

        if (pool->nconns == 0) {
            ngx_liauto_pg_fail_waiting(pool, (char *) msg);
        }
    }

    ngx_liauto_pg_dispatch(pool);
}


static void
ngx_liauto_pg_fail_waiting(ngx_liauto_pg_pool_t *pool, const char *reason)
{
    ngx_queue_t            *qu;
    ngx_liauto_pg_query_t  *q;

    while (!ngx_queue_empty(&pool->waiting)) {
        qu = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qu, ngx_liauto_pg_query_t, queue);

        ngx_queue_remove(qu);
        q->queued = 0;
        pool->nwaiting--;

        if (q->wait.timer_set) {
            ngx_del_timer(&q->wait);
        }

        ngx_liauto_pg_deliver(q, NGX_HTTP_SERVICE_UNAVAILABLE, NULL, reason);
    }
}


static void
ngx_liauto_pg_deliver(ngx_liauto_pg_query_t *q, ngx_int_t rc, PGresult *res,
    const char *reason)
{
    size_t   len;
    u_char  *p;

    q->rc = rc;

    ngx_liauto_metrics_query(rc, res);

    if (reason) {
        len = ngx_strlen(reason) + 1;
        p = ngx_alloc(len, q->log);

        /* the copy lives until the handler returns */
        if (p) {
            ngx_memcpy(p, reason, len);
        }

        q->error = p;
        q->handler(q, res);
        ngx_free(p);
        return;
    }

    q->handler(q, res);
}


static void
ngx_liauto_pg_close(ngx_liauto_pg_conn_t *pgc)
{
    if (pgc->timer.timer_set) {
        ngx_del_timer(&pgc->timer);
    }

    /* a listening connection left the pool's lists and count already */
    if (pgc->state != ngx_liauto_pg_listening) {
        ngx_queue_remove(&pgc->queue);
        pgc->pool->nconns--;
    }

    if (pgc->result) {
        PQclear(pgc->result);
    }

    ngx_liauto_pg_detach(pgc);

    if (pgc->pgconn) {
        PQfinish(pgc->pgconn);
    }

    ngx_free(pgc);
}


static void
ngx_liauto_pg_notice(void *arg, const char *message)
{
    ngx_liauto_pg_pool_t  *pool = arg;

    ngx_log_error(NGX_LOG_NOTICE, pool->log, 0, "liauto: postgres: %s",
                  message);
}
