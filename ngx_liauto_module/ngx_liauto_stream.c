
/*
 * Copyright (C) liauto
 *
 * GET /api/v1/inbox/stream: Server-Sent Events of inbox changes.
 *
 * Each nginx worker has one hub per database pool.  The hub holds ONE
 * connection that LISTENs on liauto_inbox (taken out of the pool once the
 * first subscriber arrives) and fans every notification out to the
 * worker's subscribers of that pool, filtered by tenant and assignee.
 * Subscribers cost no database connection of their own.
 *
 * Event ids follow commit order (sql 0021), so "what came after id N" is
 * exact, and both gaps are closed by reading liauto.inbox_events by id
 * through the pool:
 *   - a subscriber with Last-Event-ID replays what it missed; live events
 *     arriving meanwhile are held and sent after the replay, minus those
 *     the replay already had;
 *   - a hub whose LISTEN connection dropped reconnects with backoff, then
 *     catches up from the last id it saw (the subscribers stay connected
 *     and are told with a comment); notifications arriving meanwhile are
 *     held likewise.
 *
 * Output: each subscriber has one buffer in nginx's hands and one filling
 * up; what is not yet sent may not exceed liauto_stream_max_buffer, or the
 * subscriber is closed.  Nothing here ever waits on a client.
 */


#include <jansson.h>

#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_api.h"
#include "ngx_liauto_stream.h"


/* rows per replay or catch-up query */
#define NGX_LIAUTO_STREAM_PAGE         500
#define NGX_LIAUTO_STREAM_PAGE_STR     "500"

/* notifications a syncing hub keeps; beyond, it reads them from the table */
#define NGX_LIAUTO_STREAM_HELD_MAX     1000

#define NGX_LIAUTO_STREAM_RETRY_MIN    100
#define NGX_LIAUTO_STREAM_RETRY_MAX    5000

/* the reconnection delay a client's EventSource should use, in ms */
#define NGX_LIAUTO_STREAM_HELLO        "retry: 2000\n\n"
#define NGX_LIAUTO_STREAM_LIVE         ": connected\n\n"
#define NGX_LIAUTO_STREAM_PING         ": ping\n\n"
#define NGX_LIAUTO_STREAM_LOST         ": reconnecting to the database\n\n"

#define NGX_LIAUTO_STREAM_LISTEN_SQL                                         \
    "SET application_name = 'liauto-stream'; LISTEN liauto_inbox"

#define NGX_LIAUTO_STREAM_START_SQL                                          \
    "SELECT liauto.inbox_last_event_id()"

#define NGX_LIAUTO_STREAM_AFTER_SQL                                          \
    "SELECT id, client_id, assignee_id, type, event"                         \
    " FROM liauto.inbox_events_after($1::bigint, $2::uuid, $3::uuid,"        \
    " $4::integer)"

#define NGX_LIAUTO_UUID_LEN            36


typedef enum {
    ngx_liauto_hub_idle = 0,      /* nothing under way */
    ngx_liauto_hub_listening,     /* the LISTEN query runs */
    ngx_liauto_hub_syncing,       /* listening; finding where we stand */
    ngx_liauto_hub_ready,
    ngx_liauto_hub_waiting        /* lost; the retry timer runs */
} ngx_liauto_hub_state_e;


typedef enum {
    ngx_liauto_sub_waiting = 0,   /* for the hub to be ready */
    ngx_liauto_sub_replaying,
    ngx_liauto_sub_live
} ngx_liauto_sub_state_e;


typedef struct {
    ngx_queue_t                queue;
    int64_t                    id;
    ngx_str_t                  client_id;
    ngx_str_t                  assignee_id;     /* empty: unassigned */
    ngx_str_t                  frame;           /* "id: ..\n\n" */
    /* only the id is known: the listeners read the event from the table */
    unsigned                   truncated:1;
} ngx_liauto_stream_event_t;


typedef struct {
    ngx_queue_t                queue;           /* in ngx_liauto_hubs */
    ngx_liauto_pg_pool_t      *pool;
    ngx_log_t                 *log;
    ngx_liauto_pg_conn_t      *conn;            /* the LISTEN connection */
    ngx_liauto_pg_query_t      query;
    ngx_liauto_hub_state_e     state;
    int64_t                    last_id;         /* newest event fanned out */
    ngx_queue_t                subscribers;
    ngx_queue_t                held;            /* while syncing */
    ngx_uint_t                 nheld;
    ngx_event_t                retry;
    ngx_msec_t                 backoff;
    char                       after[NGX_INT64_LEN + 1];
    unsigned                   started:1;       /* last_id is known */
    /* notifications were dropped while syncing: sync once more */
    unsigned                   overflow:1;
} ngx_liauto_hub_t;


typedef struct {
    ngx_queue_t                queue;           /* in hub->subscribers */
    ngx_liauto_hub_t          *hub;
    ngx_liauto_ctx_t          *ctx;
    ngx_liauto_sub_state_e     state;
    int64_t                    last_id;         /* newest event sent */
    ngx_str_t                  client_id;       /* empty: every client */
    ngx_str_t                  assignee_id;     /* set: agents */
    ngx_queue_t                held;            /* while replaying */
    size_t                     held_size;

    /* out->buf is in nginx's hands; pending fills up meanwhile */
    ngx_chain_t                out;
    size_t                     flight_size;
    u_char                    *pending;
    size_t                     pending_len;
    size_t                     pending_size;
    size_t                     max_buffer;

    ngx_event_t                ping;
    ngx_msec_t                 heartbeat;
    time_t                     expires;         /* the access token's exp */
    unsigned                   replay:1;
} ngx_liauto_sub_t;


static ngx_int_t ngx_liauto_stream_args(ngx_liauto_ctx_t *ctx,
    ngx_liauto_claims_t *claims, ngx_liauto_sub_t *sub);
static ngx_int_t ngx_liauto_stream_uuid(ngx_pool_t *pool, ngx_str_t *uuid,
    ngx_str_t *out);
static ngx_int_t ngx_liauto_stream_last_event_id(ngx_liauto_ctx_t *ctx,
    ngx_str_t *value, ngx_liauto_sub_t *sub);
static ngx_int_t ngx_liauto_stream_start_response(ngx_liauto_sub_t *sub);
static ngx_liauto_hub_t *ngx_liauto_hub_get(ngx_liauto_pg_pool_t *pool,
    ngx_log_t *log);
static void ngx_liauto_hub_listen(ngx_liauto_hub_t *hub);
static void ngx_liauto_hub_listened(ngx_liauto_pg_query_t *q,
    PGresult *res);
static void ngx_liauto_hub_sync(ngx_liauto_hub_t *hub);
static void ngx_liauto_hub_started(ngx_liauto_pg_query_t *q,
    PGresult *res);
static void ngx_liauto_hub_caught_up(ngx_liauto_pg_query_t *q,
    PGresult *res);
static void ngx_liauto_hub_synced(ngx_liauto_hub_t *hub);
static const char *ngx_liauto_stream_failed(ngx_liauto_pg_query_t *q,
    PGresult *res, ExecStatusType expect);
static void ngx_liauto_hub_notify(void *data, PGnotify *notify);
static void ngx_liauto_hub_lost(ngx_liauto_hub_t *hub, const char *why);
static void ngx_liauto_hub_hold(ngx_liauto_hub_t *hub,
    ngx_liauto_stream_event_t *ev);
static void ngx_liauto_hub_drop_held(ngx_liauto_hub_t *hub);
static void ngx_liauto_hub_retry(ngx_event_t *ev);
static void ngx_liauto_hub_fanout(ngx_liauto_hub_t *hub,
    ngx_liauto_stream_event_t *ev);
static void ngx_liauto_hub_tell(ngx_liauto_hub_t *hub, const char *text);
static ngx_liauto_stream_event_t *ngx_liauto_event_new(ngx_log_t *log,
    int64_t id, ngx_str_t *client_id, ngx_str_t *assignee_id,
    ngx_str_t *type, ngx_str_t *json);
static ngx_liauto_stream_event_t *ngx_liauto_event_copy(ngx_log_t *log,
    ngx_liauto_stream_event_t *ev);
static ngx_liauto_stream_event_t *ngx_liauto_event_alloc(ngx_log_t *log,
    int64_t id, ngx_str_t *client_id, ngx_str_t *assignee_id, size_t size);
static ngx_liauto_stream_event_t *ngx_liauto_event_from_notify(
    ngx_log_t *log, PGnotify *notify);
static ngx_liauto_stream_event_t *ngx_liauto_event_from_row(ngx_log_t *log,
    PGresult *res, int row);
static void ngx_liauto_events_free(ngx_queue_t *events);
static void ngx_liauto_sub_begin(ngx_event_t *ev);
static void ngx_liauto_sub_start(ngx_liauto_sub_t *sub);
static ngx_int_t ngx_liauto_sub_replay(ngx_liauto_sub_t *sub);
static void ngx_liauto_sub_replayed(ngx_liauto_pg_query_t *q,
    PGresult *res);
static ngx_int_t ngx_liauto_sub_wants(ngx_liauto_sub_t *sub,
    ngx_liauto_stream_event_t *ev);
static ngx_int_t ngx_liauto_sub_hold(ngx_liauto_sub_t *sub,
    ngx_liauto_stream_event_t *ev);
static ngx_int_t ngx_liauto_sub_send_event(ngx_liauto_sub_t *sub,
    ngx_liauto_stream_event_t *ev);
static ngx_int_t ngx_liauto_sub_write(ngx_liauto_sub_t *sub, u_char *data,
    size_t len);
static ngx_int_t ngx_liauto_sub_flush(ngx_liauto_sub_t *sub);
static void ngx_liauto_sub_writer(ngx_http_request_t *r);
static void ngx_liauto_sub_ping(ngx_event_t *ev);
static void ngx_liauto_sub_close(ngx_liauto_sub_t *sub, ngx_int_t rc);
static void ngx_liauto_sub_cleanup(void *data);


static ngx_queue_t  ngx_liauto_hubs;
static ngx_uint_t   ngx_liauto_nsubscribers;


ngx_int_t
ngx_liauto_stream_subscribe(ngx_liauto_ctx_t *ctx)
{
    ngx_int_t               rc;
    ngx_http_request_t     *r;
    ngx_http_cleanup_t     *cln;
    ngx_liauto_sub_t       *sub;
    ngx_liauto_hub_t       *hub;
    ngx_liauto_claims_t    *claims;
    ngx_liauto_srv_conf_t  *lscf;

    r = ctx->request;
    lscf = ngx_http_get_module_srv_conf(r, ngx_liauto_module);

    rc = ngx_liauto_api_authorize(ctx, &claims);

    if (rc != NGX_OK) {
        return (rc == NGX_DONE) ? ctx->rc : rc;
    }

    sub = ngx_pcalloc(r->pool, sizeof(ngx_liauto_sub_t));
    if (sub == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_liauto_stream_args(ctx, claims, sub);

    if (rc != NGX_OK) {
        return (rc == NGX_DONE) ? ctx->rc : rc;
    }

    if (ngx_liauto_nsubscribers >= lscf->stream_max_subscribers) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "liauto: stream refused: %ui subscribers in this "
                      "worker already (liauto_stream_max_subscribers)",
                      ngx_liauto_nsubscribers);
        return ngx_liauto_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, NULL,
                                     "too many stream subscribers; "
                                     "retry later", NULL);
    }

    hub = ngx_liauto_hub_get(lscf->pool, ngx_cycle->log);
    if (hub == NULL) {
        return NGX_ERROR;
    }

    sub->hub = hub;
    sub->ctx = ctx;
    sub->expires = claims->exp;
    sub->max_buffer = lscf->stream_max_buffer;
    sub->heartbeat = lscf->stream_heartbeat;
    ngx_queue_init(&sub->held);
    ctx->data = sub;

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_liauto_sub_cleanup;
    cln->data = sub;

    rc = ngx_liauto_stream_start_response(sub);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ngx_queue_insert_tail(&hub->subscribers, &sub->queue);
    ngx_liauto_nsubscribers++;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "liauto: stream subscriber joined (%ui in this worker)",
                  ngx_liauto_nsubscribers);

    /* nginx's graceful shutdown closes the stream like an idle keepalive */
    r->connection->idle = 1;

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_liauto_sub_writer;

    /*
     * The rest may close the request, which must not happen under the
     * content handler that is still running: it goes after it.
     */
    sub->ping.handler = ngx_liauto_sub_begin;
    sub->ping.data = sub;
    sub->ping.log = r->connection->log;
    sub->ping.cancelable = 1;
    ngx_post_event(&sub->ping, &ngx_posted_events);

    return NGX_DONE;
}


static void
ngx_liauto_sub_begin(ngx_event_t *ev)
{
    ngx_liauto_sub_t  *sub = ev->data;
    ngx_liauto_hub_t  *hub;

    hub = sub->hub;

    sub->ping.handler = ngx_liauto_sub_ping;
    ngx_add_timer(&sub->ping, sub->heartbeat);

    if (ngx_liauto_sub_write(sub, (u_char *) NGX_LIAUTO_STREAM_HELLO,
                             sizeof(NGX_LIAUTO_STREAM_HELLO) - 1)
        != NGX_OK)
    {
        return;
    }

    switch (hub->state) {

    case ngx_liauto_hub_ready:
        ngx_liauto_sub_start(sub);
        break;

    case ngx_liauto_hub_idle:
        ngx_liauto_hub_listen(hub);
        break;

    default:
        /* started once the hub is ready */
        break;
    }
}


/*
 * Who sees what: an admin every client, or the one of ?client_id=; others
 * their own client (?client_id= may only name it), agents only what is
 * assigned to them or to nobody.  Where to resume: Last-Event-ID, else
 * ?last_event_id= (an EventSource reconnecting sends the header with the
 * URL it first used, so the header wins).
 */

static ngx_int_t
ngx_liauto_stream_args(ngx_liauto_ctx_t *ctx, ngx_liauto_claims_t *claims,
    ngx_liauto_sub_t *sub)
{
    u_char              *p, *last, *amp, *eq;
    ngx_str_t            key, value, client, last_id;
    ngx_uint_t           admin;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = ctx->request;

    ngx_str_null(&client);
    ngx_str_null(&last_id);

    p = r->args.data;
    last = p + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');

        key.data = p;
        key.len = (eq ? eq : amp) - p;
        value.data = eq ? eq + 1 : amp;
        value.len = amp - value.data;

        if (key.len == sizeof("client_id") - 1
            && ngx_strncmp(key.data, "client_id", key.len) == 0)
        {
            client = value;

        } else if (key.len == sizeof("last_event_id") - 1
                   && ngx_strncmp(key.data, "last_event_id", key.len) == 0)
        {
            last_id = value;

        } else if (key.len) {
            return ngx_liauto_api_bad_request(ctx, "unknown query parameter",
                                              "query",
                                              "only client_id and "
                                              "last_event_id are known");
        }
    }

    admin = (claims->role.len == sizeof("admin") - 1
             && ngx_strncmp(claims->role.data, "admin", claims->role.len)
                == 0);

    if (client.data && ngx_liauto_api_is_uuid(&client) != NGX_OK) {
        return ngx_liauto_api_bad_request(ctx, "a query parameter is "
                                          "invalid", "client_id",
                                          "must be a UUID");
    }

    if (!admin) {
        if (ngx_liauto_api_is_uuid(&claims->client_id) != NGX_OK) {
            ctx->rc = ngx_liauto_send_error(r, NGX_HTTP_UNAUTHORIZED, NULL,
                                            "the access token names no "
                                            "client", NULL);
            return NGX_DONE;
        }

        /* another tenant is a 404, as everywhere */
        if (client.data
            && ngx_strncasecmp(client.data, claims->client_id.data,
                               NGX_LIAUTO_UUID_LEN) != 0)
        {
            ctx->rc = ngx_liauto_send_error(r, NGX_HTTP_NOT_FOUND, NULL,
                                            "no such client", NULL);
            return NGX_DONE;
        }

        client = claims->client_id;

        if (claims->role.len == sizeof("agent") - 1
            && ngx_strncmp(claims->role.data, "agent", claims->role.len) == 0)
        {
            if (ngx_liauto_api_is_uuid(&claims->sub) != NGX_OK) {
                ctx->rc = ngx_liauto_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                NULL, "the access token's "
                                                "subject is not a user id",
                                                NULL);
                return NGX_DONE;
            }

            if (ngx_liauto_stream_uuid(r->pool, &claims->sub,
                                       &sub->assignee_id)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (client.data
        && ngx_liauto_stream_uuid(r->pool, &client, &sub->client_id)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ngx_liauto_api_header(r, "last-event-id");

    if (h) {
        return ngx_liauto_stream_last_event_id(ctx, &h->value, sub);
    }

    if (last_id.data) {
        return ngx_liauto_stream_last_event_id(ctx, &last_id, sub);
    }

    return NGX_OK;
}


/* NUL-terminated: it is a parameter of the replay query too */

static ngx_int_t
ngx_liauto_stream_uuid(ngx_pool_t *pool, ngx_str_t *uuid, ngx_str_t *out)
{
    out->data = ngx_pnalloc(pool, NGX_LIAUTO_UUID_LEN + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(out->data, uuid->data, NGX_LIAUTO_UUID_LEN + 1);
    out->len = NGX_LIAUTO_UUID_LEN;

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_stream_last_event_id(ngx_liauto_ctx_t *ctx, ngx_str_t *value,
    ngx_liauto_sub_t *sub)
{
    off_t  id;

    id = (value->len && value->len < NGX_INT64_LEN)
         ? ngx_atoof(value->data, value->len) : NGX_ERROR;

    if (id == NGX_ERROR) {
        return ngx_liauto_api_bad_request(ctx, "the event id to resume "
                                          "from is invalid", "last_event_id",
                                          "must be an event id (digits)");
    }

    sub->last_id = id;
    sub->replay = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_stream_start_response(ngx_liauto_sub_t *sub)
{
    ngx_buf_t           *b;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    static ngx_str_t  type = ngx_string("text/event-stream");

    r = sub->ctx->request;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    sub->out.buf = b;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    /* for a proxy of nginx in front of this one */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Accel-Buffering");
    ngx_str_set(&h->value, "no");

    sub->ctx->responded = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->keepalive = 0;

    return ngx_http_send_header(r);
}


/* ----------------------------------------------------------------- hub */


static ngx_liauto_hub_t *
ngx_liauto_hub_get(ngx_liauto_pg_pool_t *pool, ngx_log_t *log)
{
    ngx_queue_t       *qu;
    ngx_liauto_hub_t  *hub;

    if (ngx_liauto_hubs.next == NULL) {
        ngx_queue_init(&ngx_liauto_hubs);
    }

    for (qu = ngx_queue_head(&ngx_liauto_hubs);
         qu != ngx_queue_sentinel(&ngx_liauto_hubs);
         qu = ngx_queue_next(qu))
    {
        hub = ngx_queue_data(qu, ngx_liauto_hub_t, queue);

        if (hub->pool == pool) {
            return hub;
        }
    }

    hub = ngx_calloc(sizeof(ngx_liauto_hub_t), log);
    if (hub == NULL) {
        return NULL;
    }

    hub->pool = pool;
    hub->log = log;
    hub->backoff = NGX_LIAUTO_STREAM_RETRY_MIN;
    ngx_queue_init(&hub->subscribers);
    ngx_queue_init(&hub->held);

    hub->retry.handler = ngx_liauto_hub_retry;
    hub->retry.data = hub;
    hub->retry.log = log;
    hub->retry.cancelable = 1;

    hub->query.data = hub;
    hub->query.log = log;

    ngx_queue_insert_tail(&ngx_liauto_hubs, &hub->queue);

    return hub;
}


static void
ngx_liauto_hub_listen(ngx_liauto_hub_t *hub)
{
    hub->state = ngx_liauto_hub_listening;

    hub->query.sql = NGX_LIAUTO_STREAM_LISTEN_SQL;
    hub->query.nparams = 0;
    hub->query.handler = ngx_liauto_hub_listened;
    hub->query.listen = ngx_liauto_hub_notify;

    ngx_liauto_pg_run(hub->pool, &hub->query);
}


static void
ngx_liauto_hub_listened(ngx_liauto_pg_query_t *q, PGresult *res)
{
    const char        *failed;
    ngx_liauto_hub_t  *hub = q->data;

    q->listen = NULL;

    failed = ngx_liauto_stream_failed(q, res, PGRES_COMMAND_OK);

    if (failed) {
        ngx_liauto_hub_lost(hub, failed);
        return;
    }

    hub->conn = q->conn;

    ngx_liauto_hub_sync(hub);
}


/*
 * Listening now: find the newest event (first time), or read what came
 * while the hub was not listening; notifications are held meanwhile.
 */

static void
ngx_liauto_hub_sync(ngx_liauto_hub_t *hub)
{
    ngx_liauto_pg_query_t  *q;

    hub->state = ngx_liauto_hub_syncing;
    q = &hub->query;

    if (!hub->started) {
        q->sql = NGX_LIAUTO_STREAM_START_SQL;
        q->nparams = 0;
        q->handler = ngx_liauto_hub_started;

    } else {
        ngx_sprintf((u_char *) hub->after, "%L%Z", hub->last_id);

        q->sql = NGX_LIAUTO_STREAM_AFTER_SQL;
        q->values[0] = hub->after;
        q->values[1] = NULL;
        q->values[2] = NULL;
        q->values[3] = NGX_LIAUTO_STREAM_PAGE_STR;
        q->nparams = 4;
        q->handler = ngx_liauto_hub_caught_up;
    }

    ngx_liauto_pg_run(hub->pool, q);
}


static void
ngx_liauto_hub_started(ngx_liauto_pg_query_t *q, PGresult *res)
{
    off_t              id;
    const char        *failed;
    ngx_liauto_hub_t  *hub = q->data;

    failed = ngx_liauto_stream_failed(q, res, PGRES_TUPLES_OK);

    if (failed == NULL && PQntuples(res) != 1) {
        failed = "no newest event id";
    }

    if (failed) {
        ngx_liauto_hub_lost(hub, failed);
        return;
    }

    id = ngx_atoof((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));

    if (id > hub->last_id) {
        hub->last_id = id;
    }

    hub->started = 1;

    ngx_liauto_hub_synced(hub);
}


static void
ngx_liauto_hub_caught_up(ngx_liauto_pg_query_t *q, PGresult *res)
{
    int                         i, n;
    const char                 *failed;
    ngx_liauto_hub_t           *hub = q->data;
    ngx_liauto_stream_event_t  *ev;

    failed = ngx_liauto_stream_failed(q, res, PGRES_TUPLES_OK);

    if (failed) {
        ngx_liauto_hub_lost(hub, failed);
        return;
    }

    n = PQntuples(res);

    if (n) {
        ngx_log_error(NGX_LOG_INFO, hub->log, 0,
                      "liauto: stream: caught up %d events after id %L",
                      n, hub->last_id);
    }

    for (i = 0; i < n; i++) {
        ev = ngx_liauto_event_from_row(hub->log, res, i);
        if (ev == NULL) {
            continue;
        }

        if (ev->id > hub->last_id) {
            hub->last_id = ev->id;
            ngx_liauto_hub_fanout(hub, ev);
        }

        ngx_free(ev);
    }

    if (n == NGX_LIAUTO_STREAM_PAGE) {
        ngx_liauto_hub_sync(hub);
        return;
    }

    ngx_liauto_hub_synced(hub);
}


/* sends what was held, then starts the subscribers that waited */

static void
ngx_liauto_hub_synced(ngx_liauto_hub_t *hub)
{
    ngx_queue_t                *qu, *next;
    ngx_liauto_sub_t           *sub;
    ngx_liauto_stream_event_t  *ev;

    if (hub->overflow) {
        /* what was dropped is in the table */
        hub->overflow = 0;
        ngx_liauto_hub_sync(hub);
        return;
    }

    while (!ngx_queue_empty(&hub->held)) {
        qu = ngx_queue_head(&hub->held);
        ev = ngx_queue_data(qu, ngx_liauto_stream_event_t, queue);

        if (ev->id > hub->last_id && ev->truncated) {
            /* the table has it in full: read it, the rest stays held */
            ngx_liauto_hub_sync(hub);
            return;
        }

        ngx_queue_remove(qu);
        hub->nheld--;

        if (ev->id > hub->last_id) {
            hub->last_id = ev->id;
            ngx_liauto_hub_fanout(hub, ev);
        }

        ngx_free(ev);
    }

    if (hub->state != ngx_liauto_hub_ready) {
        ngx_log_error(NGX_LOG_INFO, hub->log, 0,
                      "liauto: stream: listening for inbox events after "
                      "id %L", hub->last_id);
    }

    hub->state = ngx_liauto_hub_ready;
    hub->backoff = NGX_LIAUTO_STREAM_RETRY_MIN;

    for (qu = ngx_queue_head(&hub->subscribers);
         qu != ngx_queue_sentinel(&hub->subscribers);
         qu = next)
    {
        /* a subscriber may be closed, and leave the list, as it starts */
        next = ngx_queue_next(qu);
        sub = ngx_queue_data(qu, ngx_liauto_sub_t, queue);

        if (sub->state == ngx_liauto_sub_waiting) {
            ngx_liauto_sub_start(sub);
        }
    }
}


/* why a query of the stream failed, or NULL */

static const char *
ngx_liauto_stream_failed(ngx_liauto_pg_query_t *q, PGresult *res,
    ExecStatusType expect)
{
    if (q->rc != NGX_OK) {
        return q->error ? (char *) q->error : "database error";
    }

    if (PQresultStatus(res) != expect) {
        return PQresultErrorMessage(res);
    }

    return NULL;
}



static void
ngx_liauto_hub_notify(void *data, PGnotify *notify)
{
    ngx_liauto_hub_t           *hub = data;
    ngx_liauto_stream_event_t  *ev;

    if (notify == NULL) {
        hub->conn = NULL;
        ngx_liauto_hub_lost(hub, "the listening connection was lost");
        return;
    }

    ev = ngx_liauto_event_from_notify(hub->log, notify);
    if (ev == NULL) {
        return;
    }

    if (hub->state != ngx_liauto_hub_ready) {
        if (hub->nheld == NGX_LIAUTO_STREAM_HELD_MAX) {
            ngx_liauto_hub_drop_held(hub);
            hub->overflow = 1;
        }

        ngx_liauto_hub_hold(hub, ev);
        return;
    }

    if (ev->id <= hub->last_id) {
        ngx_free(ev);
        return;
    }

    if (ev->truncated) {
        ngx_liauto_hub_hold(hub, ev);
        ngx_liauto_hub_sync(hub);
        return;
    }

    hub->last_id = ev->id;
    ngx_liauto_hub_fanout(hub, ev);
    ngx_free(ev);
}


/*
 * Whatever failed (LISTEN, the connection, a catch-up query), the hub
 * starts over after a growing delay; subscribers stay and are told.
 */

static void
ngx_liauto_hub_lost(ngx_liauto_hub_t *hub, const char *why)
{
    if (hub->state == ngx_liauto_hub_syncing) {
        ngx_liauto_pg_abandon(&hub->query);
    }

    if (hub->conn) {
        ngx_liauto_pg_release(hub->conn);
        hub->conn = NULL;
    }

    ngx_liauto_hub_drop_held(hub);
    hub->overflow = 0;

    ngx_log_error(NGX_LOG_WARN, hub->log, 0,
                  "liauto: stream: not listening (%s); retrying in %M ms",
                  why ? why : "database error", hub->backoff);

    hub->state = ngx_liauto_hub_waiting;
    ngx_add_timer(&hub->retry, hub->backoff);

    hub->backoff = ngx_min(hub->backoff * 2, NGX_LIAUTO_STREAM_RETRY_MAX);

    ngx_liauto_hub_tell(hub, NGX_LIAUTO_STREAM_LOST);
}


static void
ngx_liauto_hub_hold(ngx_liauto_hub_t *hub, ngx_liauto_stream_event_t *ev)
{
    ngx_queue_insert_tail(&hub->held, &ev->queue);
    hub->nheld++;
}


static void
ngx_liauto_hub_drop_held(ngx_liauto_hub_t *hub)
{
    ngx_liauto_events_free(&hub->held);
    hub->nheld = 0;
}


static void
ngx_liauto_hub_retry(ngx_event_t *ev)
{
    ngx_liauto_hub_listen(ev->data);
}


static void
ngx_liauto_hub_fanout(ngx_liauto_hub_t *hub, ngx_liauto_stream_event_t *ev)
{
    ngx_queue_t       *qu, *next;
    ngx_liauto_sub_t  *sub;

    for (qu = ngx_queue_head(&hub->subscribers);
         qu != ngx_queue_sentinel(&hub->subscribers);
         qu = next)
    {
        /* a slow subscriber is closed on the way, and leaves the list */
        next = ngx_queue_next(qu);
        sub = ngx_queue_data(qu, ngx_liauto_sub_t, queue);

        if (!ngx_liauto_sub_wants(sub, ev)) {
            continue;
        }

        switch (sub->state) {

        case ngx_liauto_sub_replaying:
            (void) ngx_liauto_sub_hold(sub, ev);
            break;

        case ngx_liauto_sub_live:
            (void) ngx_liauto_sub_send_event(sub, ev);
            break;

        default:
            /* it starts after this event (or replays it) */
            break;
        }
    }
}


static void
ngx_liauto_hub_tell(ngx_liauto_hub_t *hub, const char *text)
{
    ngx_queue_t       *qu, *next;
    ngx_liauto_sub_t  *sub;

    for (qu = ngx_queue_head(&hub->subscribers);
         qu != ngx_queue_sentinel(&hub->subscribers);
         qu = next)
    {
        next = ngx_queue_next(qu);
        sub = ngx_queue_data(qu, ngx_liauto_sub_t, queue);

        (void) ngx_liauto_sub_write(sub, (u_char *) text, ngx_strlen(text));
    }
}


/* -------------------------------------------------------------- events */


static ngx_liauto_stream_event_t *
ngx_liauto_event_new(ngx_log_t *log, int64_t id, ngx_str_t *client_id,
    ngx_str_t *assignee_id, ngx_str_t *type, ngx_str_t *json)
{
    ngx_str_t                   frame;
    ngx_liauto_stream_event_t  *ev;

    /* one SSE field per line: a line break would end or forge one */
    if (ngx_strlchr(type->data, type->data + type->len, '\n')
        || ngx_strlchr(type->data, type->data + type->len, '\r')
        || ngx_strlchr(json->data, json->data + json->len, '\n')
        || ngx_strlchr(json->data, json->data + json->len, '\r')
        || client_id->len != NGX_LIAUTO_UUID_LEN
        || (assignee_id->len && assignee_id->len != NGX_LIAUTO_UUID_LEN))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "liauto: stream: event %L is malformed, not sent", id);
        return NULL;
    }

    frame.len = sizeof("id: \nevent: \ndata: \n\n") - 1 + NGX_INT64_LEN
                + type->len + json->len;

    ev = ngx_liauto_event_alloc(log, id, client_id, assignee_id, frame.len);
    if (ev == NULL) {
        return NULL;
    }

    ev->frame.len = ngx_sprintf(ev->frame.data,
                                "id: %L\nevent: %V\ndata: %V\n\n",
                                id, type, json)
                    - ev->frame.data;

    return ev;
}


static ngx_liauto_stream_event_t *
ngx_liauto_event_copy(ngx_log_t *log, ngx_liauto_stream_event_t *ev)
{
    ngx_liauto_stream_event_t  *copy;

    copy = ngx_liauto_event_alloc(log, ev->id, &ev->client_id,
                                  &ev->assignee_id, ev->frame.len);
    if (copy == NULL) {
        return NULL;
    }

    copy->frame.len = ev->frame.len;
    ngx_memcpy(copy->frame.data, ev->frame.data, ev->frame.len);

    return copy;
}


/* one allocation: the event, its ids, then room for a frame of size */

static ngx_liauto_stream_event_t *
ngx_liauto_event_alloc(ngx_log_t *log, int64_t id, ngx_str_t *client_id,
    ngx_str_t *assignee_id, size_t size)
{
    u_char                     *p;
    ngx_liauto_stream_event_t  *ev;

    ev = ngx_alloc(sizeof(ngx_liauto_stream_event_t)
                   + 2 * NGX_LIAUTO_UUID_LEN + size, log);
    if (ev == NULL) {
        return NULL;
    }

    p = (u_char *) (ev + 1);

    ev->id = id;
    ev->truncated = 0;

    ev->client_id.data = p;
    ev->client_id.len = client_id->len;
    p = ngx_cpymem(p, client_id->data, client_id->len);

    ev->assignee_id.data = p;
    ev->assignee_id.len = assignee_id->len;
    p = ngx_cpymem(p, assignee_id->data, assignee_id->len);

    ev->frame.data = p;
    ev->frame.len = 0;

    return ev;
}


/* {"id":..,"client_id":..,"type":..,"assignee_id":..|null,...} */

static ngx_liauto_stream_event_t *
ngx_liauto_event_from_notify(ngx_log_t *log, PGnotify *notify)
{
    json_t                     *json, *v;
    ngx_str_t                   client, assignee, type, text;
    json_error_t                err;
    ngx_liauto_stream_event_t  *ev;

    json = json_loads(notify->extra, 0, &err);
    v = json ? json_object_get(json, "assignee_id") : NULL;

    if (json == NULL
        || !json_is_integer(json_object_get(json, "id"))
        || !json_is_string(json_object_get(json, "client_id"))
        || !json_is_string(json_object_get(json, "type"))
        || !(v == NULL || json_is_null(v) || json_is_string(v)))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "liauto: stream: not an inbox event on %s, ignored: "
                      "\"%s\"", notify->relname, notify->extra);
        json_decref(json);
        return NULL;
    }

    client.data = (u_char *) json_string_value(json_object_get(json,
                                                               "client_id"));
    client.len = ngx_strlen(client.data);
    type.data = (u_char *) json_string_value(json_object_get(json, "type"));
    type.len = ngx_strlen(type.data);
    assignee.data = (u_char *) (json_is_string(v) ? json_string_value(v)
                                                  : "");
    assignee.len = ngx_strlen(assignee.data);
    text.data = (u_char *) notify->extra;
    text.len = ngx_strlen(notify->extra);

    ev = ngx_liauto_event_new(log,
                              json_integer_value(json_object_get(json, "id")),
                              &client, &assignee, &type, &text);

    if (ev && json_is_true(json_object_get(json, "truncated"))) {
        ev->truncated = 1;
    }

    json_decref(json);

    return ev;
}


/* a row of liauto.inbox_events_after(): id, client_id, assignee_id, type,
 * event */

static ngx_liauto_stream_event_t *
ngx_liauto_event_from_row(ngx_log_t *log, PGresult *res, int row)
{
    off_t      id;
    ngx_str_t  client, assignee, type, text;

    id = ngx_atoof((u_char *) PQgetvalue(res, row, 0),
                   PQgetlength(res, row, 0));

    client.data = (u_char *) PQgetvalue(res, row, 1);
    client.len = PQgetlength(res, row, 1);
    assignee.data = (u_char *) PQgetvalue(res, row, 2);
    assignee.len = PQgetlength(res, row, 2);    /* "" when NULL */
    type.data = (u_char *) PQgetvalue(res, row, 3);
    type.len = PQgetlength(res, row, 3);
    text.data = (u_char *) PQgetvalue(res, row, 4);
    text.len = PQgetlength(res, row, 4);

    return ngx_liauto_event_new(log, id, &client, &assignee, &type, &text);
}


static void
ngx_liauto_events_free(ngx_queue_t *events)
{
    ngx_queue_t  *qu;

    while (!ngx_queue_empty(events)) {
        qu = ngx_queue_head(events);
        ngx_queue_remove(qu);
        ngx_free(ngx_queue_data(qu, ngx_liauto_stream_event_t, queue));
    }
}


/* --------------------------------------------------------- subscribers */


static void
ngx_liauto_sub_start(ngx_liauto_sub_t *sub)
{
    if (sub->replay) {
        /*
         * The id is taken as it is, even past the hub's newest: another
         * worker may have sent the client an event this one has not read
         * from its socket yet.
         */
        sub->state = ngx_liauto_sub_replaying;

        if (ngx_liauto_sub_replay(sub) != NGX_DONE) {
            ngx_liauto_sub_close(sub, NGX_ERROR);
        }

        return;
    }

    sub->state = ngx_liauto_sub_live;
    sub->last_id = sub->hub->last_id;

    (void) ngx_liauto_sub_write(sub, (u_char *) NGX_LIAUTO_STREAM_LIVE,
                                sizeof(NGX_LIAUTO_STREAM_LIVE) - 1);
}


static ngx_int_t
ngx_liauto_sub_replay(ngx_liauto_sub_t *sub)
{
    u_char                 *after;
    ngx_liauto_ctx_t       *ctx;
    ngx_liauto_pg_query_t  *q;

    ctx = sub->ctx;
    q = &ctx->query;

    after = ngx_pnalloc(ctx->request->pool, NGX_INT64_LEN + 1);
    if (after == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(after, "%L%Z", sub->last_id);

    q->values[0] = (char *) after;
    q->values[1] = (char *) sub->client_id.data;       /* NULL: all */
    q->values[2] = (char *) sub->assignee_id.data;
    q->values[3] = NGX_LIAUTO_STREAM_PAGE_STR;
    q->nparams = 4;

    return ngx_liauto_query(ctx, NGX_LIAUTO_STREAM_AFTER_SQL,
                            ngx_liauto_sub_replayed);
}


static void
ngx_liauto_sub_replayed(ngx_liauto_pg_query_t *q, PGresult *res)
{
    int                         i, n;
    const char                 *failed;
    ngx_queue_t                *qu;
    ngx_liauto_sub_t           *sub;
    ngx_liauto_ctx_t           *ctx;
    ngx_http_request_t         *r;
    ngx_liauto_stream_event_t  *ev;

    ctx = q->data;
    sub = ctx->data;
    r = ctx->request;

    failed = ngx_liauto_stream_failed(q, res, PGRES_TUPLES_OK);

    if (failed) {
        /* the client reconnects with its Last-Event-ID */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: stream: replay after id %L failed: %s",
                      sub->last_id, failed);
        ngx_liauto_sub_close(sub, NGX_ERROR);
        return;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        ev = ngx_liauto_event_from_row(r->connection->log, res, i);
        if (ev == NULL) {
            continue;
        }

        if (ngx_liauto_sub_send_event(sub, ev) != NGX_OK) {
            ngx_free(ev);
            return;
        }

        ngx_free(ev);
    }

    if (n == NGX_LIAUTO_STREAM_PAGE) {
        if (ngx_liauto_sub_replay(sub) != NGX_DONE) {
            ngx_liauto_sub_close(sub, NGX_ERROR);
        }

        return;
    }

    /* live from here: what came meanwhile, minus what the replay had */

    sub->state = ngx_liauto_sub_live;

    while (!ngx_queue_empty(&sub->held)) {
        qu = ngx_queue_head(&sub->held);
        ngx_queue_remove(qu);
        ev = ngx_queue_data(qu, ngx_liauto_stream_event_t, queue);
        sub->held_size -= ev->frame.len;

        if (ngx_liauto_sub_send_event(sub, ev) != NGX_OK) {
            ngx_free(ev);
            return;
        }

        ngx_free(ev);
    }

    (void) ngx_liauto_sub_write(sub, (u_char *) NGX_LIAUTO_STREAM_LIVE,
                                sizeof(NGX_LIAUTO_STREAM_LIVE) - 1);
}


static ngx_int_t
ngx_liauto_sub_wants(ngx_liauto_sub_t *sub, ngx_liauto_stream_event_t *ev)
{
    if (sub->client_id.len
        && ngx_strncasecmp(sub->client_id.data, ev->client_id.data,
                           NGX_LIAUTO_UUID_LEN) != 0)
    {
        return 0;
    }

    if (sub->assignee_id.len && ev->assignee_id.len
        && ngx_strncasecmp(sub->assignee_id.data, ev->assignee_id.data,
                           NGX_LIAUTO_UUID_LEN) != 0)
    {
        return 0;
    }

    return 1;
}


/* a live event during the replay: kept, counted against the buffer cap */

static ngx_int_t
ngx_liauto_sub_hold(ngx_liauto_sub_t *sub, ngx_liauto_stream_event_t *ev)
{
    ngx_log_t                  *log;
    ngx_liauto_stream_event_t  *copy;

    log = sub->ctx->request->connection->log;

    if (sub->held_size + ev->frame.len > sub->max_buffer) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "liauto: stream subscriber closed: %uz bytes of "
                      "events held during its replay, over "
                      "liauto_stream_max_buffer", sub->held_size);
        ngx_liauto_sub_close(sub, NGX_ERROR);
        return NGX_ERROR;
    }

    copy = ngx_liauto_event_copy(log, ev);
    if (copy == NULL) {
        ngx_liauto_sub_close(sub, NGX_ERROR);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&sub->held, &copy->queue);
    sub->held_size += copy->frame.len;

    return NGX_OK;
}


/* sends an event newer than what the subscriber has; NGX_ERROR: closed */

static ngx_int_t
ngx_liauto_sub_send_event(ngx_liauto_sub_t *sub,
    ngx_liauto_stream_event_t *ev)
{
    if (ev->id <= sub->last_id) {
        return NGX_OK;
    }

    sub->last_id = ev->id;

    return ngx_liauto_sub_write(sub, ev->frame.data, ev->frame.len);
}


/* queues output and pushes it; NGX_ERROR: the subscriber was closed */

static ngx_int_t
ngx_liauto_sub_write(ngx_liauto_sub_t *sub, u_char *data, size_t len)
{
    size_t               unsent, size;
    u_char              *p;
    ngx_http_request_t  *r;

    r = sub->ctx->request;
    unsent = sub->pending_len + ngx_buf_size(sub->out.buf);

    if (unsent + len > sub->max_buffer) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "liauto: stream subscriber too slow: %uz bytes not "
                      "sent yet, over liauto_stream_max_buffer %uz; "
                      "closing it", unsent + len, sub->max_buffer);
        ngx_liauto_sub_close(sub, NGX_ERROR);
        return NGX_ERROR;
    }

    if (sub->pending_len + len > sub->pending_size) {
        size = ngx_max(ngx_max(sub->pending_size * 2, 4096),
                       sub->pending_len + len);

        p = ngx_alloc(size, r->connection->log);
        if (p == NULL) {
            ngx_liauto_sub_close(sub, NGX_ERROR);
            return NGX_ERROR;
        }

        /* the first buffer grows from none (pending NULL) */
        if (sub->pending_len) {
            ngx_memcpy(p, sub->pending, sub->pending_len);
        }
        ngx_free(sub->pending);

        sub->pending = p;
        sub->pending_size = size;
    }

    ngx_memcpy(sub->pending + sub->pending_len, data, len);
    sub->pending_len += len;

    return ngx_liauto_sub_flush(sub);
}


/*
 * Hands the pending bytes to nginx once the previous buffer is sent (the
 * two swap), and lets nginx send what it holds.  A buffer stays with the
 * request while nginx's filters may look at it, so only its memory is
 * swapped, never the ngx_buf_t.
 */

static ngx_int_t
ngx_liauto_sub_flush(ngx_liauto_sub_t *sub)
{
    u_char                    *p;
    size_t                     size;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = sub->ctx->request;
    c = r->connection;
    wev = c->write;
    b = sub->out.buf;

    for ( ;; ) {
        if (sub->pending_len && ngx_buf_size(b) == 0) {
            p = b->start;
            size = sub->flight_size;

            b->start = sub->pending;
            b->pos = b->start;
            b->last = b->start + sub->pending_len;
            b->end = b->start + sub->pending_size;
            b->memory = 1;
            b->flush = 1;

            sub->flight_size = sub->pending_size;
            sub->pending = p;
            sub->pending_size = size;
            sub->pending_len = 0;

            sub->out.next = NULL;
            rc = ngx_http_output_filter(r, &sub->out);

        } else if (c->buffered) {
            rc = ngx_http_output_filter(r, NULL);

        } else {
            /* all sent */
            if (wev->timer_set) {
                ngx_del_timer(wev);
            }

            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            ngx_liauto_sub_close(sub, NGX_ERROR);
            return NGX_ERROR;
        }

        if (c->buffered) {
            break;
        }
    }

    /* the client is not reading: send_timeout counts from the first wait */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!wev->timer_set && !wev->delayed) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        ngx_liauto_sub_close(sub, NGX_ERROR);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_liauto_sub_writer(ngx_http_request_t *r)
{
    ngx_event_t       *wev;
    ngx_liauto_ctx_t  *ctx;

    wev = r->connection->write;
    ctx = ngx_http_get_module_ctx(r, ngx_liauto_module);

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "liauto: stream subscriber timed out (send_timeout)");
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    /* the client reads again: send_timeout starts over */
    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    (void) ngx_liauto_sub_flush(ctx->data);
}


static void
ngx_liauto_sub_ping(ngx_event_t *ev)
{
    ngx_liauto_sub_t  *sub = ev->data;

    /* the stream lives as long as the token it was opened with */
    if (sub->expires && ngx_time() >= sub->expires) {
        ngx_log_error(NGX_LOG_INFO, sub->ctx->request->connection->log, 0,
                      "liauto: stream closed: its access token expired");
        ngx_liauto_sub_close(sub, NGX_ERROR);
        return;
    }

    /* before writing: a write may close the subscriber */
    ngx_add_timer(&sub->ping, sub->heartbeat);

    (void) ngx_liauto_sub_write(sub, (u_char *) NGX_LIAUTO_STREAM_PING,
                                sizeof(NGX_LIAUTO_STREAM_PING) - 1);
}


/* ends the request; its cleanup takes the subscriber off its hub */

static void
ngx_liauto_sub_close(ngx_liauto_sub_t *sub, ngx_int_t rc)
{
    ngx_liauto_finalize(sub->ctx, rc);
}


static void
ngx_liauto_sub_cleanup(void *data)
{
    ngx_liauto_sub_t  *sub = data;

    if (sub->queue.next) {
        ngx_queue_remove(&sub->queue);
        sub->queue.next = NULL;
        ngx_liauto_nsubscribers--;

        ngx_log_error(NGX_LOG_INFO, sub->ctx->request->connection->log, 0,
                      "liauto: stream subscriber left (%ui remain in this "
                      "worker)", ngx_liauto_nsubscribers);
    }

    if (sub->ping.timer_set) {
        ngx_del_timer(&sub->ping);
    }

    if (sub->ping.posted) {
        ngx_delete_posted_event(&sub->ping);
    }

    ngx_liauto_events_free(&sub->held);

    /* nothing is sent after the cleanup: the buffers may go */
    ngx_free(sub->pending);
    sub->pending = NULL;

    if (sub->out.buf) {
        ngx_free(sub->out.buf->start);
        sub->out.buf->start = NULL;
        sub->out.buf->pos = NULL;
        sub->out.buf->last = NULL;
    }
}


void
ngx_liauto_stream_exit(void)
{
    ngx_queue_t       *qu;
    ngx_liauto_hub_t  *hub;
    ngx_liauto_sub_t  *sub;

    if (ngx_liauto_hubs.next == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_liauto_hubs)) {
        qu = ngx_queue_head(&ngx_liauto_hubs);
        hub = ngx_queue_data(qu, ngx_liauto_hub_t, queue);

        while (!ngx_queue_empty(&hub->subscribers)) {
            sub = ngx_queue_data(ngx_queue_head(&hub->subscribers),
                                 ngx_liauto_sub_t, queue);
            ngx_liauto_sub_close(sub, NGX_ERROR);
        }

        if (hub->state == ngx_liauto_hub_listening
            || hub->state == ngx_liauto_hub_syncing)
        {
            ngx_liauto_pg_abandon(&hub->query);
        }

        if (hub->conn) {
            ngx_liauto_pg_release(hub->conn);
        }

        if (hub->retry.timer_set) {
            ngx_del_timer(&hub->retry);
        }

        ngx_liauto_hub_drop_held(hub);

        ngx_queue_remove(qu);
        ngx_free(hub);
    }
}
